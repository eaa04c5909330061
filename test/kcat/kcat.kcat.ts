/**
 * The kcat tier (`npm run test:kcat`, run by .ci/run after `npm test`): kcat
 * (librdkafka 2.x) unmodified against a real 3-broker cluster through the
 * Kafka listener. Goal: the everyday kcat commands work: `-L` lists the three
 * brokers and the topic, `-P -K:` from stdin produces keyed records, `-C -o
 * beginning -e` reads them back in order, and `-G` consumes them in a group
 * (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit/Fetch,
 * LeaveGroup). The native client reads the produced records back too. Fails,
 * never skips, when kcat is missing: this tier exists to run it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { readPartition } from '../client-read.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { killKcats, requireKcat, runKcat } from '../support/kcat.ts';

const kcatTimeoutMs = 60_000;
let cluster: TestCluster;
let kactus: Kactus;
let bootstrap = '';
const topic = 'kcat-topic';


/** Runs kcat with `args` (stdin piped from `input`), resolves with stdout; rejects on a non-zero exit or the timeout. */
async function kcat(args: string[], input = ''): Promise<string> {
  const run = await runKcat(bootstrap, args, { input, timeoutMs: kcatTimeoutMs });
  if (run.code !== 0) throw new Error(`kcat ${args.join(' ')} exited ${run.code}; stderr: ${run.stderr.slice(-2_000)}`);
  return run.stdout;
}

beforeAll(async () => {
  requireKcat();
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0']);
  const metadata = (await cluster.metadata(null)) as unknown as { brokers: { brokerId: number; listeners: { name: string; port: number }[] }[] };
  bootstrap = metadata.brokers.map((b) => `127.0.0.1:${b.listeners.find((l) => l.name === 'PLAINTEXT')!.port}`).join(',');
  kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'kcat-tier', requestTimeoutMs: 10_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }] });
  await cluster.waitForLeaders(topic, 3, 3);
});

afterAll(async () => {
  killKcats();
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

const keyed = Array.from({ length: 30 }, (_, i) => `key${i % 7}:value-${i}`);

describe('kcat against a 3-broker cluster', () => {
  it('kcat -L lists three brokers and the topic with its partitions', async () => {
    const listing = JSON.parse(await kcat(['-L', '-J'])) as { brokers: { id: number }[]; topics: { topic: string; partitions: { partition: number; leader: number; replicas: unknown[] }[] }[] };
    expect(listing.brokers.map((b) => b.id).sort()).toEqual([1, 2, 3]);
    const t = listing.topics.find((x) => x.topic === topic);
    expect(t?.partitions.map((p) => p.partition).sort()).toEqual([0, 1, 2]);
    expect(t?.partitions.every((p) => p.replicas.length === 3 && p.leader > 0)).toBe(true);
  });

  it('kcat -P -K: produces keyed records from stdin; kcat -C -o beginning -e reads each back; the native client sees the same', async () => {
    await kcat(['-P', '-t', topic, '-K:', '-X', 'acks=all'], `${keyed.join('\n')}\n`);
    const out = await kcat(['-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%p %o %k %s\\n']);
    const lines = out.trim().split('\n').map((l) => l.split(' '));
    expect(lines).toHaveLength(keyed.length);
    const consumed = lines.map(([p, o, k, v]) => ({ partition: Number(p), offset: Number(o), key: k!, value: v! }));
    expect(consumed.map((r) => `${r.key}:${r.value}`).sort()).toEqual([...keyed].sort());
    // Same key, same partition (librdkafka's default partitioner is consistent_random: crc32 of the key); order kept per key.
    for (const key of new Set(consumed.map((r) => r.key))) {
      const ofKey = consumed.filter((r) => r.key === key);
      expect(new Set(ofKey.map((r) => r.partition)).size).toBe(1);
      expect(ofKey.map((r) => r.value)).toEqual(keyed.filter((l) => l.startsWith(`${key}:`)).map((l) => l.slice(key.length + 1)));
    }
    const native = (await Promise.all([0, 1, 2].map(async (p) => (await readPartition(kactus, topic, p)).map((r) => ({ partition: p, offset: r.offset, key: r.key!, value: r.value! }))))).flat();
    expect(native.sort((a, b) => a.partition - b.partition || a.offset - b.offset)).toEqual(consumed.sort((a, b) => a.partition - b.partition || a.offset - b.offset));
  });

  it('kcat -G consumes every record once in a group', async () => {
    const out = await kcat(['-G', 'kcat-group', '-X', 'auto.offset.reset=earliest', '-e', '-q', '-f', '%k:%s\\n', topic]);
    expect(out.trim().split('\n').sort()).toEqual([...keyed].sort());
  });
});
