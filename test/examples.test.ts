/**
 * The client examples run as a user runs them (`npx tsx examples/<name>.ts`
 * against a cluster named by KACTUS_BOOTSTRAP), each in its own process
 * against a 3-broker cluster: they exit 0 with nothing on stderr and print
 * what they promise. Each runs twice, so the second run shows that the
 * first committed what it processed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsumerTestCluster, type ConsumerTestCluster } from './fixtures/consumer-cluster.ts';
import { repoRoot } from './support/processes.ts';

let cluster: ConsumerTestCluster;
const running = new Set<ChildProcess>();
/** An example that has not finished by then has hung. */
const exampleTimeoutMs = 40_000;

beforeAll(async () => {
  cluster = await startConsumerTestCluster();
}, 30_000);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await cluster?.stop();
}, 30_000);

async function runExample(name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', name)], { cwd: repoRoot, env: { ...process.env, KACTUS_BOOTSTRAP: cluster.urls[0]!, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), exampleTimeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  running.delete(child);
  return { code, stdout, stderr };
}

describe('examples', () => {
  it('each-message.ts: run({ eachMessage }) processes the ten jobs it wrote, once each, and reports joining its group', async () => {
    for (let round = 0; round < 2; round += 1) {
      const { code, stdout, stderr } = await runExample('each-message.ts');
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      const jobs = [...stdout.matchAll(/: job-\d+ done \(job (\d+)\)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
      expect(jobs).toEqual(Array.from({ length: 10 }, (_, i) => i));
      expect(stdout).toMatch(/joined group workers as (leader|member): \{"jobs":\[/);
      expect(stdout).toMatch(/processed 10 jobs/);
    }
  }, 2 * exampleTimeoutMs + 10_000);

  it('json-orders.ts: typed JSON orders come back as objects, the cancelled one as a tombstone', async () => {
    const { code, stdout, stderr } = await runExample('json-orders.ts');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.trim().split('\n').map((l) => l.replace(/^[a-z0-9]+-/, '')).sort();
    expect(lines).toEqual(['1: customer-1, 2 lines, total 7.50', '2: cancelled (tombstone)', '2: customer-2, 2 lines, total 12.00', '3: customer-3, 2 lines, total 16.50']);
  }, exampleTimeoutMs + 10_000);
});
