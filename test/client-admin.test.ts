/**
 * Admin operations against a real 3-broker cluster (in-process brokers over
 * ws, FakeQuorum controller): topics, partitions, configs, cluster, offsets,
 * and the errors a caller relies on. Method: one cluster and one Kactus
 * client per test; every call goes over the wire exactly as in production.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, Kactus, KactusError } from '../client/index.ts';
import { startTestCluster, type TestCluster } from './client-cluster.ts';

let cluster: TestCluster | undefined;
let kactus: Kactus | undefined;

afterEach(async () => {
  await kactus?.close();
  await cluster?.stop();
  kactus = undefined;
  cluster = undefined;
});

async function setup(): Promise<{ cluster: TestCluster; kactus: Kactus }> {
  cluster = await startTestCluster();
  kactus = new Kactus({ brokers: [cluster.urls[0]!], clientId: 'admin-test', requestTimeoutMs: 5_000 });
  return { cluster, kactus };
}

async function rejection(promise: Promise<unknown>): Promise<KactusError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(KactusError);
    return err as KactusError;
  }
  throw new Error('expected a rejection');
}

describe('admin against a 3-broker cluster', () => {
  it('creates, lists, describes and deletes topics; describes the cluster', async () => {
    const { kactus } = await setup();
    const admin = kactus.admin();
    const created = await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3, replicationFactor: 3 }, { topic: 'audit', numPartitions: 1, replicationFactor: 2, configs: { 'retention.ms': '60000' } }] });
    expect(created).toEqual([
      { topic: 'orders', topicId: expect.any(String), numPartitions: 3, replicationFactor: 3 },
      { topic: 'audit', topicId: expect.any(String), numPartitions: 1, replicationFactor: 2 },
    ]);
    expect((await admin.listTopics()).sort()).toEqual(['audit', 'orders']);

    const [orders] = await admin.describeTopics({ topics: ['orders'] });
    expect(orders!.partitions).toHaveLength(3);
    for (const p of orders!.partitions) {
      expect(p.replicas).toHaveLength(3);
      expect([...p.isr].sort()).toEqual([...p.replicas].sort());
      expect(p.replicas).toContain(p.leader);
      expect(p.leaderEpoch).toBe(0);
      expect(p.offlineReplicas).toEqual([]);
    }
    // Placement spreads leaders: partition p's preferred leader is (p mod 3) + 1.
    expect(new Set(orders!.partitions.map((p) => p.leader)).size).toBe(3);

    const clusterInfo = await admin.describeCluster();
    expect(clusterInfo.brokers.map((b) => b.brokerId).sort()).toEqual([1, 2, 3]);
    expect(clusterInfo.brokers[0]).toMatchObject({ host: '127.0.0.1', port: expect.any(Number) });
    expect(typeof clusterInfo.controllerId).toBe('number');

    await admin.deleteTopics({ topics: ['audit'] });
    expect(await admin.listTopics()).toEqual(['orders']);
    const missing = await rejection(admin.describeTopics({ topics: ['audit'] }));
    expect(missing.type).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    expect(missing.message).toContain('audit');
    // Looking did not create it (brokers auto-create topics a Metadata request names).
    expect(await admin.listTopics()).toEqual(['orders']);
  });

  it('answers TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, INVALID_PARTITIONS and INVALID_CONFIG with the topic named', async () => {
    const { kactus } = await setup();
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'dup', numPartitions: 1, replicationFactor: 1 }] });
    const dup = await rejection(admin.createTopics({ topics: [{ topic: 'dup', numPartitions: 1, replicationFactor: 1 }] }));
    expect(dup).toMatchObject({ code: ErrorCode.TOPIC_ALREADY_EXISTS, type: 'TOPIC_ALREADY_EXISTS', retriable: false });
    expect(dup.message).toContain('"dup"');

    const rf = await rejection(admin.createTopics({ topics: [{ topic: 'too-many', numPartitions: 1, replicationFactor: 4 }] }));
    expect(rf).toMatchObject({ type: 'INVALID_REPLICATION_FACTOR', retriable: false });
    expect(rf.message).toContain('too-many');

    const parts = await rejection(admin.createTopics({ topics: [{ topic: 'zero', numPartitions: 0, replicationFactor: 1 }] }));
    expect(parts.type).toBe('INVALID_PARTITIONS');

    const config = await rejection(admin.createTopics({ topics: [{ topic: 'badconf', numPartitions: 1, replicationFactor: 1, configs: { 'no.such.config': '1' } }] }));
    expect(config.type).toBe('INVALID_CONFIG');
    expect(config.message).toContain('no.such.config');

    // Client-side refusals: nothing is sent.
    const name = await rejection(admin.createTopics({ topics: [{ topic: 'bad name!', numPartitions: 1 }] }));
    expect(name.type).toBe('INVALID_TOPIC_EXCEPTION');
    expect(() => kactus.admin({ bogus: 1 } as never)).toThrow(/unknown admin option: bogus/);
  });

  it('grows partitions and describes and alters configs', async () => {
    const { kactus } = await setup();
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'grow', numPartitions: 2, replicationFactor: 2 }] });
    await admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 5 }] });
    const [grow] = await admin.describeTopics({ topics: ['grow'] });
    expect(grow!.partitions.map((p) => p.partition)).toEqual([0, 1, 2, 3, 4]);
    expect(grow!.partitions.every((p) => p.leader > 0 && p.replicas.length === 2)).toBe(true);
    expect((await rejection(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 3 }] }))).type).toBe('INVALID_PARTITIONS');

    await admin.alterConfigs({ resources: [{ type: 'topic', name: 'grow', set: { 'retention.ms': '1000', 'cleanup.policy': 'compact' } }] });
    let [described] = await admin.describeConfigs({ resources: [{ type: 'topic', name: 'grow', configNames: ['retention.ms', 'cleanup.policy', 'segment.bytes'] }] });
    const byName = (name: string) => described!.configs.find((c) => c.name === name);
    expect(byName('retention.ms')).toMatchObject({ value: '1000', source: 'TOPIC_CONFIG', isDefault: false });
    expect(byName('cleanup.policy')).toMatchObject({ value: 'compact', isDefault: false });
    expect(byName('segment.bytes')).toMatchObject({ isDefault: true, source: 'DEFAULT_CONFIG' });

    await admin.alterConfigs({ resources: [{ type: 'topic', name: 'grow', delete: ['retention.ms'] }] });
    [described] = await admin.describeConfigs({ resources: [{ type: 'topic', name: 'grow' }] });
    expect(byName('retention.ms')).toMatchObject({ value: '604800000', isDefault: true });
    expect(byName('cleanup.policy')).toMatchObject({ value: 'compact' });

    const badValue = await rejection(admin.alterConfigs({ resources: [{ type: 'topic', name: 'grow', set: { 'min.insync.replicas': 'zero' } }] }));
    expect(badValue.type).toBe('INVALID_CONFIG');
    expect((await rejection(admin.describeConfigs({ resources: [{ type: 'topic', name: 'nope' }] }))).type).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  });

  it('lists earliest, latest and by-timestamp offsets', async () => {
    const { kactus } = await setup();
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'offsets', numPartitions: 2, replicationFactor: 3 }] });
    expect(await admin.listOffsets({ topic: 'offsets', at: 'latest' })).toEqual([
      expect.objectContaining({ partition: 0, offset: 0 }),
      expect.objectContaining({ partition: 1, offset: 0 }),
    ]);
    const producer = kactus.producer({ idempotent: false });
    await producer.send({ topic: 'offsets', messages: [1, 2, 3].map((i) => ({ value: `a${i}`, partition: 0, timestamp: 1_000 * i })) });
    await producer.send({ topic: 'offsets', messages: [{ value: 'b', partition: 1, timestamp: 5_000 }] });
    expect((await admin.listOffsets({ topic: 'offsets', at: 'latest' })).map((o) => o.offset)).toEqual([3, 1]);
    expect((await admin.listOffsets({ topic: 'offsets', at: 'earliest' })).map((o) => o.offset)).toEqual([0, 0]);
    const byTime = await admin.listOffsets({ topic: 'offsets', partitions: [0], at: { timestamp: 1_500 } });
    expect(byTime).toEqual([expect.objectContaining({ partition: 0, offset: 1, timestamp: 2_000 })]);
    expect((await admin.listOffsets({ topic: 'offsets', partitions: [0], at: { timestamp: 9_000 } }))[0]!.offset).toBe(-1);
  });

  it('describes each broker\'s log dir: every replica it hosts, its bytes on disk and offsets (kafka-log-dirs)', async () => {
    const { kactus } = await setup();
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'sized', numPartitions: 2, replicationFactor: 3 }] });
    const producer = kactus.producer({ acks: 'all', idempotent: false });
    await producer.send({ topic: 'sized', messages: Array.from({ length: 20 }, (_, i) => ({ value: 'x'.repeat(100), partition: 0, key: `k${i}` })) });
    const dirs = await admin.describeLogDirs();
    expect(dirs.map((d) => d.brokerId).sort()).toEqual([1, 2, 3]);
    const [described] = await admin.describeTopics({ topics: ['sized'] });
    for (const dir of dirs) {
      const sized = dir.partitions.filter((p) => p.topic === 'sized');
      expect(sized.map((p) => p.partition)).toEqual([0, 1]);
      const p0 = sized[0]!;
      const leads = described!.partitions[0]!.leader === dir.brokerId;
      expect(p0.role).toBe(leads ? 'leader' : 'follower');
      // The leader has all 20 records; a follower may still be fetching the last of them.
      if (leads) expect(p0).toMatchObject({ logStartOffset: 0, logEndOffset: 20, highWatermark: 20 });
      expect(p0.sizeBytes).toBeGreaterThanOrEqual(p0.logEndOffset * 100);
      expect(sized[1]).toMatchObject({ sizeBytes: 0, logEndOffset: 0 });
    }
    const one = await admin.describeLogDirs({ brokerIds: [2] });
    expect(one.map((d) => d.brokerId)).toEqual([2]);
    expect((await rejection(admin.describeLogDirs({ brokerIds: [-1] }))).code).toBe(ErrorCode.INVALID_REQUEST);
  });

  it("describes a topic's defaults as the brokers enforce them: a static broker min.insync.replicas shows as STATIC_BROKER_CONFIG", async () => {
    cluster = await startTestCluster({ config: { minInsyncReplicas: 2 } });
    kactus = new Kactus({ brokers: [cluster.urls[0]!], clientId: 'admin-test', requestTimeoutMs: 5_000 });
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'strict', numPartitions: 1, replicationFactor: 3 }] });
    const [described] = await admin.describeConfigs({ resources: [{ type: 'topic', name: 'strict', configNames: ['min.insync.replicas', 'retention.ms'] }] });
    expect(described!.configs).toEqual([
      expect.objectContaining({ name: 'min.insync.replicas', value: '2', source: 'STATIC_BROKER_CONFIG', isDefault: false }),
      expect.objectContaining({ name: 'retention.ms', value: '604800000', source: 'DEFAULT_CONFIG', isDefault: true }),
    ]);
  });

  it('refuses bad client options with INVALID_CONFIG naming them', async () => {
    expect(() => new Kactus({ brokers: ['ws://127.0.0.1:1'], clientId: 'x', bogus: true, other: 1 } as never)).toThrow(/unknown Kactus options: bogus, other/);
    expect(() => new Kactus({ brokers: ['http://127.0.0.1:1'] })).toThrow(/ws:\/\/ URL/);
    expect(() => new Kactus({ brokers: [] })).toThrow(KactusError);
    const client = new Kactus({ brokers: ['ws://127.0.0.1:1'] });
    expect(() => client.producer({ linger: 5 } as never)).toThrow(/unknown producer option: linger/);
    expect(() => client.producer({ acks: 2 } as never)).toThrow(/acks must be 0, 1, -1 or 'all'/);
    expect(() => client.producer({ acks: 1, idempotent: true })).toThrow(/requires acks 'all'/);
    await client.close();
  });

  it('fails with NETWORK_EXCEPTION when no bootstrap broker answers', async () => {
    const client = new Kactus({ brokers: ['ws://127.0.0.1:1'], connectTimeoutMs: 1_000 });
    const err = await rejection(client.admin().listTopics());
    expect(err).toMatchObject({ type: 'NETWORK_EXCEPTION', retriable: true });
    expect(err.message).toContain('ws://127.0.0.1:1');
    await client.close();
  });
});
