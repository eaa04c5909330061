/**
 * The client against a real multi-process cluster: three broker processes
 * (actors/broker-main.ts, each a controller voter) on free ports, with the
 * real Raft metadata quorum. Goal: the admin API and an idempotent producer
 * work end to end across processes, errors included (duplicate topic ->
 * TOPIC_ALREADY_EXISTS, RF > brokers -> INVALID_REPLICATION_FACTOR). Method:
 * bootstrap from one broker URL only; everything else is learned from metadata.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus, KactusError } from '../client/index.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { killAllChildren } from './support/processes.ts';

let cluster: TestCluster | undefined;
let kactus: Kactus | undefined;

afterEach(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
  kactus = undefined;
  cluster = undefined;
});

describe('client against broker processes', () => {
  it('admin operations and an idempotent producer across processes', async () => {
    cluster = await startTestCluster(3);
    kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'multiprocess-test', requestTimeoutMs: 10_000 });
    const admin = kactus.admin();
    const clusterInfo = await admin.describeCluster();
    expect(clusterInfo.brokers.map((b) => b.brokerId).sort()).toEqual([1, 2, 3]);

    await admin.createTopics({ topics: [{ topic: 'mp', numPartitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
    const [mp] = await admin.describeTopics({ topics: ['mp'] });
    expect(mp!.partitions.map((p) => p.leader).sort()).toEqual([1, 2, 3]);
    expect(mp!.partitions.every((p) => p.isr.length === 3)).toBe(true);

    const dup = await admin.createTopics({ topics: [{ topic: 'mp', numPartitions: 1, replicationFactor: 1 }] }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(KactusError);
    expect(dup).toMatchObject({ type: 'TOPIC_ALREADY_EXISTS', retriable: false });
    const rf = await admin.createTopics({ topics: [{ topic: 'wide', numPartitions: 1, replicationFactor: 4 }] }).catch((e: unknown) => e);
    expect(rf).toMatchObject({ type: 'INVALID_REPLICATION_FACTOR' });
    expect((rf as Error).message).toContain('wide');

    const producer = kactus.producer();
    const results = await producer.send({ topic: 'mp', messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })) });
    expect(producer.producerId.producerId).toBeGreaterThanOrEqual(0);
    const latest = await admin.listOffsets({ topic: 'mp', at: 'latest' });
    const perPartition = [0, 1, 2].map((p) => results.filter((r) => r.partition === p).length);
    expect(latest.map((o) => o.offset)).toEqual(perPartition);

    await admin.alterConfigs({ resources: [{ type: 'topic', name: 'mp', set: { 'retention.ms': '3600000' } }] });
    const [configs] = await admin.describeConfigs({ resources: [{ type: 'topic', name: 'mp', configNames: ['retention.ms', 'min.insync.replicas'] }] });
    expect(configs!.configs.map((c) => [c.name, c.value])).toEqual(expect.arrayContaining([['retention.ms', '3600000'], ['min.insync.replicas', '2']]));
    await admin.deleteTopics({ topics: ['mp'] });
    expect(await admin.listTopics()).not.toContain('mp');
  }, 90_000);
});
