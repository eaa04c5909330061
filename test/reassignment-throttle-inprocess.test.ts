/**
 * Replication throttles end to end on in-process brokers (real data planes
 * over ws, FakeQuorum controller). Goal: a throttled move still completes
 * with every record, and it never slows acks=all writes to a partition whose
 * followers are in sync. Method: broker 4 is an ISR follower of `steady`
 * (replicas 1,4) and is added to `moving` (led by 1) under a cluster-wide
 * leader and follower throttle set at run time through alterConfigs, so one
 * fetch from broker 4 to broker 1 carries both a throttled partition and an
 * unthrottled one. The throttle makes the move last seconds (1 MiB at
 * 256 KiB/s); acks=all writes to `steady` go on being acknowledged while it
 * is listed as in progress. No assertion on time: only on order and content.
 */
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

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline; attempt += 1) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const rateBytesPerSec = 256 * 1024;

describe('reassignment under a replication throttle', () => {
  it('a throttled move completes with every record, and acks=all writes to an in-sync partition keep being acknowledged meanwhile', { timeout: 90_000 }, async () => {
    cluster = await startTestCluster({ brokers: 4 });
    kactus = new Kactus({ brokers: [cluster.urls[0]!], clientId: 'throttle-test', requestTimeoutMs: 10_000 });
    const admin = kactus.admin();
    await admin.createTopics({
      topics: [
        { topic: 'moving', replicaAssignment: [{ partition: 0, replicas: [1, 2, 3] }] },
        { topic: 'steady', replicaAssignment: [{ partition: 0, replicas: [1, 4] }] },
      ],
    });
    const producer = kactus.producer({ acks: -1 });
    // 1 MiB in 128 records of 8 KiB: four times the throttle's one-second burst.
    const sent = Array.from({ length: 128 }, (_, i) => `${String(i).padStart(4, '0')}:${'x'.repeat(8 * 1024)}`);
    for (let i = 0; i < sent.length; i += 16) await producer.send({ topic: 'moving', messages: sent.slice(i, i + 16).map((value) => ({ value, partition: 0 })) });
    await producer.send({ topic: 'steady', messages: [{ value: 'before', partition: 0 }] });

    await admin.alterConfigs({
      resources: [{ type: 'broker', name: '', set: { 'leader.replication.throttled.rate': String(rateBytesPerSec), 'follower.replication.throttled.rate': String(rateBytesPerSec) } }],
    });
    // Dynamic: every broker takes the rates from its next image, without a restart.
    await until('every broker to apply the throttle', async () =>
      cluster!.planes.every((plane) => plane.registry.replicationQuotas.leader.rate === rateBytesPerSec && plane.registry.replicationQuotas.follower.rate === rateBytesPerSec) ? true : undefined,
    );

    const [result] = await admin.alterPartitionReassignments({ reassignments: [{ topic: 'moving', partition: 0, replicas: [4, 2, 3] }] });
    expect(result!.errorCode).toBe(0);
    const leaderView = cluster.planes[0]!.registry.get('moving', 0)!;
    await until('broker 4 to be throttled on both sides', async () => (leaderView.leaderThrottledReplicas.has(4) && cluster!.planes[3]!.registry.get('moving', 0)?.followerThrottled ? true : undefined));

    // While the move runs: acks=all writes to steady (ISR 1,4) are acknowledged, one after the other.
    let ackedDuringMove = 0;
    for (let i = 0; i < 1_000; i += 1) {
      if ((await admin.listPartitionReassignments()).length === 0) break;
      const [ack] = await producer.send({ topic: 'steady', messages: [{ value: `during-${i}`, partition: 0 }] });
      expect(ack!.offset).toBe(i + 1);
      ackedDuringMove += 1;
    }
    expect(ackedDuringMove).toBeGreaterThanOrEqual(3);

    await until('the move to complete', async () => ((await admin.listPartitionReassignments()).length === 0 ? true : undefined));
    const [described] = await admin.describeTopics({ topics: ['moving'] });
    expect(described!.partitions[0]!.replicas).toEqual([4, 2, 3]);
    // The completion ends the throttle on the new follower and on whoever leads now.
    await until('broker 4 to be out of the throttle', async () => (cluster!.planes[3]!.registry.get('moving', 0)?.followerThrottled === false && cluster!.planes[3]!.registry.get('moving', 0)!.leaderThrottledReplicas.size === 0 ? true : undefined));

    // Every record reached broker 4: it leads after a preferred election and serves them all.
    await admin.electLeaders({ electionType: 'PREFERRED', topicPartitions: [{ topic: 'moving', partitions: [0] }] });
    await until('broker 4 to lead moving-0', async () => ((await admin.describeTopics({ topics: ['moving'] }))[0]!.partitions[0]!.leader === 4 ? true : undefined));
    const values = (await readPartition(kactus, 'moving', 0)).map((r) => r.value);
    expect(values).toEqual(sent);
    const steady = (await readPartition(kactus, 'steady', 0)).map((r) => r.value);
    expect(steady).toHaveLength(1 + ackedDuringMove);
  });
});
