/**
 * A real multi-process cluster for benchmarks and tests: N broker processes
 * (actors/broker-main.ts) on free 127.0.0.1 ports with data in a temp dir,
 * and a client node to talk to them. Every process is killed by pid on stop
 * or when this process exits.
 */
import { testClusterSecret } from '../../test/support/secret.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Node } from '../../runtime/node.ts';
import type { TlsSettings } from '../../runtime/tls.ts';
import { createLogger } from '../../runtime/logger.ts';
import { startScript } from './child.ts';
import { freePortOnLoopback } from './ports.ts';

export type ProcessCluster = {
  client: Node;
  /** `httpUrl`: the broker's HTTP listener from its ready line (settings with http.listener), else null. */
  brokers: { id: number; port: number; url: string; child: ChildProcess; httpUrl: string | null }[];
  dataDir: string;
  /** SIGKILLs broker `id` (by the pid this cluster started) and resolves once it has exited. */
  kill(id: number): Promise<void>;
  /** Starts broker `id` again on its port and data directory; resolves at its ready line. */
  restart(id: number): Promise<void>;
  admin<R>(command: Record<string, unknown>): Promise<R>;
  stop(): Promise<void>;
};

export async function startProcessCluster(count: number, settings: string[] = [], options: { /** wss:// brokers (their ssl.* in settings): the bench client's TLS. */ clientTls?: TlsSettings } = {}): Promise<ProcessCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kactus-cluster-'));
  // The brokers' shared secret, in this process's environment so the children inherit it; the bench client holds it too.
  const secret = testClusterSecret();
  const ports: number[] = [];
  for (let i = 0; i < count; i += 1) ports.push(await freePortOnLoopback());
  const quorum = ports.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',');
  const argsOf = (id: number): string[] => ['--node-id', String(id), '--listen', `127.0.0.1:${ports[id - 1]!}`, '--controller-quorum', quorum, '--data', join(dataDir, `broker-${id}`), ...settings.flatMap((s) => ['--set', s])];
  const startBroker = async (id: number): Promise<{ child: ChildProcess; httpUrl: string | null }> => {
    const { child, line } = await startScript('actors/broker-main.ts', argsOf(id), 'ready', 30_000, { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
    return { child, httpUrl: typeof line.http === 'string' ? line.http : null };
  };
  const brokers = await Promise.all(
    ports.map(async (port, i) => {
      const id = i + 1;
      const { child, httpUrl } = await startBroker(id);
      return { id, port, url: `${options.clientTls === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}`, child, httpUrl };
    }),
  );
  const client = await Node.start({ nodeId: `bench-client-${process.pid}`, clusterSecret: secret, ...(options.clientTls === undefined ? {} : { tls: options.clientTls }), logger: createLogger({ node: 'bench-client' }, 'warn', 2), peers: Object.fromEntries(brokers.map((b) => [String(b.id), b.url])) });
  const admin = async <R>(command: Record<string, unknown>): Promise<R> => {
    const deadlineMs = Date.now() + 30_000;
    for (;;) {
      const reply = await client.ask<unknown, R & { type: string; errorCode?: number }>({ node: '1', path: '/broker' }, (replyTo) => ({ type: 'Admin', command, replyTo }), { timeoutMs: 30_000 });
      if (reply.type !== 'ControllerCallFailed' || Date.now() > deadlineMs) return reply;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const readyDeadlineMs = Date.now() + 30_000;
  for (;;) {
    const answer = await metadata(client, null).catch(() => undefined);
    if (answer !== undefined && answer.brokers.length === count) break;
    if (Date.now() > readyDeadlineMs) throw new Error(`only ${answer?.brokers.length ?? 0} of ${count} brokers registered after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    client,
    brokers,
    dataDir,
    admin,
    async kill(id) {
      const broker = brokers[id - 1]!;
      if (broker.child.exitCode !== null || broker.child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => broker.child.once('exit', () => resolve()));
      broker.child.kill('SIGKILL');
      await exited;
    },
    async restart(id) {
      const { child, httpUrl } = await startBroker(id);
      brokers[id - 1]!.child = child;
      brokers[id - 1]!.httpUrl = httpUrl;
    },
    async stop() {
      await client.stop();
      await Promise.all(
        brokers.map(
          (b) =>
            new Promise<void>((resolve) => {
              if (b.child.exitCode !== null || b.child.signalCode !== null) return resolve();
              // Graceful first (logs closed cleanly, CPU profiles written), then by force.
              const timer = setTimeout(() => b.child.kill('SIGKILL'), 5_000);
              b.child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              b.child.kill('SIGTERM');
            }),
        ),
      );
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

type MetadataPartition = { partition: number; leader: number; leaderEpoch: number; isr: number[]; replicas: number[]; errorCode: number };
export type MetadataTopic = { name: string; errorCode: number; partitions: MetadataPartition[] };

export async function metadata(client: Node, topics: string[] | null, brokerId = 1): Promise<{ brokers: { brokerId: number }[]; topics: MetadataTopic[] }> {
  return client.ask({ node: String(brokerId), path: '/broker' }, (replyTo) => ({ type: 'Metadata', topics, replyTo }), { timeoutMs: 10_000 });
}

/** Waits until every partition of `topic` has a leader (and, optionally, a full ISR). */
export async function waitForLeaders(client: Node, topic: string, partitions: number, fullIsr = 0, timeoutMs = 30_000): Promise<MetadataTopic> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const answer = await metadata(client, [topic]).catch(() => undefined);
    const found = answer?.topics.find((t) => t.name === topic);
    if (found && found.errorCode === 0 && found.partitions.length === partitions && found.partitions.every((p) => p.leader >= 0 && p.isr.length >= fullIsr)) return found;
    if (Date.now() > deadlineMs) throw new Error(`topic ${topic} has no leaders after ${timeoutMs} ms: ${JSON.stringify(found)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
