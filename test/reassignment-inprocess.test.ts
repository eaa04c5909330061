/**
 * Partition reassignment end to end on in-process brokers (real data planes
 * over ws, FakeQuorum controller): the data really moves. A fourth broker
 * gets replicas of a topic that lives on 1..3, catches up through the
 * leader, joins the ISR; the move completes, the removed replicas' logs go,
 * and after a preferred election broker 4 leads and serves every record.
 * The multi-process tests (scaling-process.test.ts) do the same under load
 * and failover; this one is the quick check of the data path.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus } from '../client/index.ts';
import { startTestCluster, type TestCluster } from './client-cluster.ts';
import { readPartition } from './client-read.ts';

let cluster: TestCluster | undefined;
let kactus: Kactus | undefined;

afterEach(async () => {
  await kactus?.close();
  await cluster?.stop();
  kactus = undefined;
  cluster = undefined;
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt += 1) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('reassignment moves data', () => {
  it('moves replicas onto a new broker, completes, deletes the old copies, and the new broker leads', async () => {
    cluster = await startTestCluster({ brokers: 4 });
    kactus = new Kactus({ brokers: [cluster.urls[0]!], clientId: 'reassign-test', requestTimeoutMs: 5_000 });
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'moves', replicaAssignment: [{ partition: 0, replicas: [1, 2, 3] }, { partition: 1, replicas: [2, 3, 1] }] }] });
    const producer = kactus.producer({ acks: -1 });
    const sent: string[] = [];
    for (let i = 0; i < 200; i += 1) sent.push(`v${i}`);
    await producer.send({ topic: 'moves', messages: sent.map((value, i) => ({ value, partition: i % 2 })) });

    const results = await admin.alterPartitionReassignments({ reassignments: [{ topic: 'moves', partition: 0, replicas: [4, 2, 3] }, { topic: 'moves', partition: 1, replicas: [4, 3, 1] }] });
    expect(results.map((r) => r.errorCode)).toEqual([0, 0]);
    await until('the moves to complete', async () => ((await admin.listPartitionReassignments()).length === 0 ? true : undefined));
    const [described] = await admin.describeTopics({ topics: ['moves'] });
    expect(described!.partitions.map((p) => p.replicas)).toEqual([[4, 2, 3], [4, 3, 1]]);
    expect([...described!.partitions[0]!.isr].sort()).toEqual([2, 3, 4]);
    // The replica removed from partition 0 (broker 1) deleted its copy.
    await until('broker 1 to delete moves-0', async () => (existsSync(join(cluster!.dir, 'broker-1', 'partitions', 'moves-0')) ? undefined : true));
    expect(existsSync(join(cluster.dir, 'broker-4', 'partitions', 'moves-0'))).toBe(true);

    await admin.electLeaders({ electionType: 'PREFERRED', topicPartitions: [{ topic: 'moves', partitions: [0, 1] }] });
    await until('broker 4 to lead both partitions', async () => {
      const [topic] = await admin.describeTopics({ topics: ['moves'] });
      return topic!.partitions.every((p) => p.leader === 4) ? true : undefined;
    });
    const values = [...(await readPartition(kactus, 'moves', 0)), ...(await readPartition(kactus, 'moves', 1))].map((r) => r.value);
    expect(values.sort()).toEqual([...sent].sort());
    // Writes go on to the new leader.
    const [more] = await producer.send({ topic: 'moves', messages: [{ value: 'after', partition: 0 }] });
    expect(more!.offset).toBeGreaterThanOrEqual(100);
  });

  it('refuses what cannot be done, with Kafka error codes', async () => {
    cluster = await startTestCluster({ brokers: 3 });
    kactus = new Kactus({ brokers: [cluster.urls[0]!], clientId: 'reassign-test', requestTimeoutMs: 5_000 });
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'r', numPartitions: 2, replicationFactor: 2 }] });
    const results = await admin.alterPartitionReassignments({
      reassignments: [
        { topic: 'r', partition: 0, replicas: [1, 9] },
        { topic: 'r', partition: 5, replicas: [1, 2] },
        { topic: 'r', partition: 1, replicas: null },
      ],
    });
    expect(results.map((r) => r.errorCode)).toEqual([39, 3, 85]); // INVALID_REPLICA_ASSIGNMENT, UNKNOWN_TOPIC_OR_PARTITION, NO_REASSIGNMENT_IN_PROGRESS
    await expect(admin.unregisterBroker({ brokerId: 1 })).rejects.toMatchObject({ code: 42 });
  });
});
