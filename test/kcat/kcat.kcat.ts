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
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { readPartition } from '../client-read.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';

const kcatTimeoutMs = 60_000;
let cluster: TestCluster;
let kactus: Kactus;
let bootstrap = '';
const topic = 'kcat-topic';

/** Runs kcat with `args` (stdin piped from `input`), resolves with stdout; rejects on a non-zero exit or the timeout. */
function kcat(args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', bootstrap, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kcat ${args.join(' ')}: no exit within ${kcatTimeoutMs} ms; stderr: ${stderr.slice(-2_000)}`));
    }, kcatTimeoutMs);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`kcat ${args.join(' ')} exited ${code}; stderr: ${stderr.slice(-2_000)}`));
    });
    child.stdin.end(input);
  });
}

beforeAll(async () => {
  const found = spawnSync('kcat', ['-V'], { encoding: 'utf8' });
  if (found.error !== undefined || found.status !== 0) throw new Error('kcat not found: install it (Debian: apt-get install -y kcat); this tier fails rather than skips without it');
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0']);
  const metadata = (await cluster.metadata(null)) as unknown as { brokers: { brokerId: number; listeners: { name: string; port: number }[] }[] };
  bootstrap = metadata.brokers.map((b) => `127.0.0.1:${b.listeners.find((l) => l.name === 'PLAINTEXT')!.port}`).join(',');
  kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'kcat-tier', requestTimeoutMs: 10_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }] });
  await cluster.waitForLeaders(topic, 3, 3);
});

afterAll(async () => {
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
