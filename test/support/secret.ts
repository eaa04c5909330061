/**
 * The cluster secret of test clusters: vitest.config.ts sets it for every test
 * process and the brokers they start; outside vitest (`npm run chaos`) a fresh
 * one is made and set in this process's environment, so children inherit it.
 * A test node given this secret is a peer (it may send what brokers send each
 * other); without it, a node is a client, like an app.
 */
import { randomBytes } from 'node:crypto';

export function testClusterSecret(): Buffer {
  const existing = process.env.KACTUS_CLUSTER_SECRET;
  if (existing !== undefined && existing.length >= 16) return Buffer.from(existing.trim(), 'utf8');
  const secret = randomBytes(24).toString('hex');
  process.env.KACTUS_CLUSTER_SECRET = secret;
  return Buffer.from(secret, 'utf8');
}
