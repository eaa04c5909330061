/**
 * A real cluster of broker processes for multi-process tests: brokers are
 * children started through processes.ts (so killAllChildren() in afterEach
 * kills them), each with its own data dir under a temp dir, free ports on
 * 127.0.0.1, plus a client node in the test process. A cluster can grow
 * (addBroker: one more broker process with the same quorum, as
 * `kactus broker` on a new machine) and lose brokers by SIGKILL (killBroker)
 * or gracefully (stopBroker: SIGTERM, a controlled shutdown). With
 * `{ http: true }` every broker also runs its HTTP listener on a free port
 * (http.listener=127.0.0.1:0), read back from its ready line into
 * `httpUrl` (a restarted broker gets a new one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { TlsSettings } from '../../runtime/tls.ts';
import { freePort, startChild, type Child } from './processes.ts';
import { testClusterSecret } from './secret.ts';

export type TestBroker = { id: number; port: number; url: string; child: Child | null; /** The HTTP listener's URL from the ready line (clusters started with `http: true`), else null. */ httpUrl?: string | null };

export type TestCluster = {
  client: Node;
  brokers: TestBroker[];
  dataDir: string;
  quorum: string;
  /** Starts (or restarts, same id, port and data dir) broker `id`. */
  startBroker(id: number): Promise<void>;
  /** SIGKILLs broker `id` and waits for it to exit. */
  killBroker(id: number): Promise<void>;
  /** SIGTERMs broker `id` (a graceful stop: controlled shutdown) and waits for it to exit; SIGKILL after `timeoutMs`. */
  stopBroker(id: number, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Starts one more broker (the next id, a free port, its own data dir) with the cluster's quorum and settings (not
   * a voter), and returns once it is registered and unfenced.
   */
  addBroker(): Promise<TestBroker>;
  admin<R>(command: Record<string, unknown>, viaBrokerId?: number): Promise<R>;
  metadata(topics: string[] | null, viaBrokerId?: number): Promise<{ brokers: { brokerId: number }[]; controllerId: number; topics: TestTopic[] }>;
  waitForLeaders(topic: string, partitions: number, isrSize?: number, timeoutMs?: number, excluding?: number[]): Promise<TestTopic>;
  cleanup(): Promise<void>;
};

export type TestTopic = { name: string; errorCode: number; partitions: { partition: number; leader: number; leaderEpoch: number; isr: number[]; replicas: number[]; errorCode: number }[] };

export async function startTestCluster(
  count: number,
  settings: string[] = [],
  options: { env?: Record<string, string>; voters?: number[]; /** The brokers serve wss:// (ssl.* in settings): the test client's TLS. */ clientTls?: TlsSettings; /** Every broker runs its HTTP listener on a free port (TestBroker.httpUrl). */ http?: boolean } = {},
): Promise<TestCluster> {
  const brokers: TestBroker[] = [];
  const scheme = options.clientTls === undefined ? 'ws' : 'wss';
  for (let i = 1; i <= count; i += 1) {
    const port = await freePort();
    brokers.push({ id: i, port, url: `${scheme}://127.0.0.1:${port}`, child: null, httpUrl: null });
  }
  return launchCluster({
    brokers,
    hostOf: () => '127.0.0.1',
    voters: options.voters,
    dataDir: mkdtempSync(join(tmpdir(), 'kactus-test-cluster-')),
    settings: options.http === true ? [...settings, 'http.listener=127.0.0.1:0'] : settings,
    env: options.env ?? {},
    clientNodeId: `test-client-${process.pid}-${Date.now()}`,
    ...(options.clientTls === undefined ? {} : { clientTls: options.clientTls }),
  });
}

export type ClusterSpec = {
  /** Ids, ports and URLs chosen; `child` null. */
  brokers: TestBroker[];
  /** The address broker `id` listens on and the quorum names it by. */
  hostOf: (id: number) => string;
  /** The controller voters (default: every broker). */
  voters?: readonly number[];
  /** Removed by cleanup(), and if the brokers do not start. */
  dataDir: string;
  settings: string[];
  env: Record<string, string>;
  /** A command broker `id` is started through (e.g. `ip netns exec NS`); none by default. */
  commandPrefixOf?: (id: number) => readonly string[];
  clientNodeId: string;
  /** TLS of the test's client node (brokers serving wss://). */
  clientTls?: TlsSettings;
};

/**
 * Starts the brokers of `spec` as children (processes.ts, so killAllChildren() kills them), a client node in
 * this process, and returns once every broker is registered: the part shared by startTestCluster and the
 * chaos harness's network-namespace cluster (test/chaos/netns.ts), which differ in addresses and launch.
 */
export async function launchCluster(spec: ClusterSpec): Promise<TestCluster> {
  const { brokers, dataDir, settings } = spec;
  // The brokers' shared secret, also in a file as a real deployment has it; the test client holds it too, so it is a peer.
  const secret = testClusterSecret();
  const env = { ...spec.env, KACTUS_CLUSTER_SECRET: secret.toString('utf8') };
  const count = brokers.length;
  const quorum = brokers
    .filter((b) => spec.voters === undefined || spec.voters.includes(b.id))
    .map((b) => `${b.id}@${spec.hostOf(b.id)}:${b.port}`)
    .join(',');
  const byId = (id: number): TestBroker => {
    const broker = brokers.find((b) => b.id === id);
    if (!broker) throw new Error(`no broker ${id}`);
    return broker;
  };
  const startBroker = async (id: number): Promise<void> => {
    const broker = byId(id);
    const args = ['--node-id', String(id), '--listen', `${spec.hostOf(id)}:${broker.port}`, '--controller-quorum', quorum, '--data', join(dataDir, `broker-${id}`), ...settings.flatMap((s) => ['--set', s])];
    broker.child = startChild('actors/broker-main.ts', args, env, { commandPrefix: spec.commandPrefixOf?.(id) });
    const ready = await broker.child.waitFor('ready', 30_000);
    broker.httpUrl = typeof ready.http === 'string' ? ready.http : null;
  };
  try {
    await Promise.all(brokers.map((b) => startBroker(b.id)));
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const client = await Node.start({ nodeId: spec.clientNodeId, clusterSecret: secret, ...(spec.clientTls === undefined ? {} : { tls: spec.clientTls }), logger: createLogger({ node: 'test-client' }, process.env.LOG_LEVEL ?? 'silent'), peers: Object.fromEntries(brokers.map((b) => [String(b.id), b.url])) });
  const live = (): TestBroker[] => brokers.filter((b) => b.child !== null);

  const cluster: TestCluster = {
    client,
    brokers,
    dataDir,
    quorum,
    startBroker,
    async killBroker(id) {
      const broker = byId(id);
      if (broker.child === null) return;
      broker.child.process.kill('SIGKILL');
      await broker.child.exited;
      broker.child = null;
    },
    async stopBroker(id, timeoutMs = 20_000) {
      const broker = byId(id);
      const child = broker.child;
      if (child === null) return { code: null, signal: null };
      child.process.kill('SIGTERM');
      const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
      const result = await child.exited;
      clearTimeout(timer);
      broker.child = null;
      return result;
    },
    async addBroker() {
      const id = Math.max(...brokers.map((b) => b.id)) + 1;
      const port = await freePort();
      const broker: TestBroker = { id, port, url: `${spec.clientTls === undefined ? 'ws' : 'wss'}://${spec.hostOf(id)}:${port}`, child: null, httpUrl: null };
      brokers.push(broker);
      client.addPeer(String(id), broker.url);
      await startBroker(id);
      const deadlineMs = Date.now() + 30_000;
      for (;;) {
        const answer = await cluster.metadata(null).catch(() => undefined);
        if (answer?.brokers.some((b) => b.brokerId === id)) return broker;
        if (Date.now() > deadlineMs) throw new Error(`broker ${id} did not register within 30 s; stderr: ${broker.child?.stderrTail().slice(-2_000) ?? ''}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async admin<R>(command: Record<string, unknown>, viaBrokerId?: number): Promise<R> {
      const deadlineMs = Date.now() + 30_000;
      for (;;) {
        const via = viaBrokerId ?? live()[0]!.id;
        const reply = await client.ask<unknown, R & { type: string }>({ node: String(via), path: '/broker' }, (replyTo) => ({ type: 'Admin', command, replyTo }), { timeoutMs: 30_000 }).catch((err: Error) => ({ type: 'ControllerCallFailed', err }) as unknown as R & { type: string });
        if (reply.type !== 'ControllerCallFailed' || Date.now() > deadlineMs) return reply;
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async metadata(topics, viaBrokerId) {
      const via = viaBrokerId ?? live()[0]!.id;
      return client.ask({ node: String(via), path: '/broker' }, (replyTo) => ({ type: 'Metadata', topics, replyTo }), { timeoutMs: 5_000 });
    },
    async waitForLeaders(topic, partitions, isrSize = 1, timeoutMs = 30_000, excluding = []) {
      const deadlineMs = Date.now() + timeoutMs;
      let last: TestTopic | undefined;
      for (;;) {
        const answer = await cluster.metadata([topic]).catch(() => undefined);
        last = answer?.topics.find((t) => t.name === topic);
        if (last && last.errorCode === 0 && last.partitions.length === partitions && last.partitions.every((p) => p.leader >= 0 && !excluding.includes(p.leader) && p.isr.length >= isrSize)) return last;
        if (Date.now() > deadlineMs) throw new Error(`topic ${topic}: no leaders after ${timeoutMs} ms: ${JSON.stringify(last)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async cleanup() {
      await client.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  // Ready when every broker is registered and unfenced (a topic with RF = count can be created).
  const readyDeadlineMs = Date.now() + 30_000;
  for (;;) {
    const answer = await cluster.metadata(null).catch(() => undefined);
    if (answer !== undefined && answer.brokers.length === count) break;
    if (Date.now() > readyDeadlineMs) {
      await client.stop().catch(() => undefined);
      throw new Error(`only ${answer?.brokers.length ?? 0} of ${count} brokers registered after 30 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return cluster;
}

/**
 * Each broker's Kafka-listener port (listener `PLAINTEXT`), by broker id, as the brokers registered
 * them (the listeners bind port 0); throws unless every broker of the cluster has one.
 */
export async function kafkaListenerPorts(cluster: TestCluster): Promise<Map<number, number>> {
  const metadata = await cluster.metadata(null);
  const ports = new Map<number, number>();
  for (const broker of metadata.brokers as { brokerId: number; listeners?: { name: string; port: number }[] }[]) {
    const port = broker.listeners?.find((l) => l.name === 'PLAINTEXT')?.port;
    if (port !== undefined) ports.set(broker.brokerId, port);
  }
  if (ports.size !== cluster.brokers.length) throw new Error(`expected ${cluster.brokers.length} Kafka listeners in metadata, got ${JSON.stringify(metadata.brokers)}`);
  return ports;
}

/** The `host:port` of every broker's Kafka listener (`PLAINTEXT`), as Metadata advertises it: a Kafka client's bootstrap list. */
export async function kafkaBootstrap(cluster: TestCluster, listenerName = 'PLAINTEXT'): Promise<string[]> {
  const metadata = (await cluster.metadata(null)) as unknown as { brokers: { listeners?: { name: string; host: string; port: number }[] }[] };
  return metadata.brokers.flatMap((b) => b.listeners?.filter((l) => l.name === listenerName).map((l) => `${l.host}:${l.port}`) ?? []);
}
