/**
 * The admin client's group operations (#22, item 4: listGroups,
 * describeGroups, fetchOffsets, setOffsets, resetOffsets, deleteOffsets, deleteGroups) on
 * three broker processes, against a real consumer group: what a user of
 * KafkaJS's admin does to inspect and move a group, and what is refused
 * (moving the offsets of a group with a live member, deleting a group that
 * does not exist, a bad group id).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus } from '../client/index.ts';
import { ErrorCode } from '../protocol/errors.ts';
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

const until = async (what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('admin group operations (3 broker processes)', () => {
  it('lists, describes, reads, moves and deletes a consumer group; refuses what Kafka refuses', async () => {
    cluster = await startTestCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
    kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'admin-groups-test', requestTimeoutMs: 10_000 });
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3, replicationFactor: 3 }] });
    await kactus.producer().send({ topic: 'orders', messages: Array.from({ length: 30 }, (_, i) => ({ value: `v${i}`, partition: i % 3 })) });

    const consumer = kactus.consumer({ groupId: 'billing', autoOffsetReset: 'earliest' }).subscribe('orders');
    let seen = 0;
    const subscription = consumer.messages$.subscribe((r) => {
      seen += 1;
      r.ack();
    });
    await until('the consumer to read the 30 records', async () => seen === 30);
    await consumer.commit();

    const { groups } = await admin.listGroups();
    expect(groups).toContainEqual({ groupId: 'billing', protocolType: 'consumer', state: 'Stable' });
    const [described] = (await admin.describeGroups(['billing'])).groups;
    expect(described).toMatchObject({ groupId: 'billing', errorCode: 0, state: 'Stable', protocolType: 'consumer' });
    expect(described!.members).toHaveLength(1);
    expect(described!.members[0]!.assignment.map((p) => p.partition).sort()).toEqual([0, 1, 2]);
    expect(described!.members[0]!.memberAssignment.length).toBeGreaterThan(0);

    expect(await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] })).toEqual([{ topic: 'orders', partitions: [0, 1, 2].map((partition) => ({ partition, offset: 10, metadata: '' })) }]);

    // A live member's commits would race an admin's: refused, as Kafka does.
    const whileActive = await admin.setOffsets({ groupId: 'billing', topic: 'orders', partitions: [{ partition: 0, offset: 3 }] }).catch((err: unknown) => err);
    expect(whileActive).toBeInstanceOf(Error);
    expect((whileActive as Error).message).toContain('setOffsets');

    subscription.unsubscribe();
    await consumer.close();
    await until('the group to empty', async () => (await admin.describeGroups(['billing'])).groups[0]!.members.length === 0);

    await admin.setOffsets({ groupId: 'billing', topic: 'orders', partitions: [{ partition: 0, offset: 3 }, { partition: 2, offset: '7' }] });
    expect((await admin.fetchOffsets({ groupId: 'billing' }))[0]!.partitions.map((p) => p.offset)).toEqual([3, 10, 7]);
    await admin.resetOffsets({ groupId: 'billing', topic: 'orders', earliest: true });
    expect((await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] }))[0]!.partitions.map((p) => p.offset)).toEqual([0, 0, 0]);
    await admin.resetOffsets({ groupId: 'billing', topic: 'orders' });
    expect((await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] }))[0]!.partitions.map((p) => p.offset)).toEqual([10, 10, 10]);

    // A topic the group never read: every partition, nothing committed.
    await admin.createTopics({ topics: [{ topic: 'unread', numPartitions: 2, replicationFactor: 1 }] });
    expect(await admin.fetchOffsets({ groupId: 'billing', topics: ['unread'] })).toEqual([{ topic: 'unread', partitions: [0, 1].map((partition) => ({ partition, offset: -1, metadata: '' })) }]);

    // Deleting the offsets of some partitions, then of the whole topic.
    expect(await admin.deleteOffsets({ groupId: 'billing', topic: 'orders', partitions: [1] })).toEqual([{ topic: 'orders', partition: 1, errorCode: 0 }]);
    expect((await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] }))[0]!.partitions.map((p) => p.offset)).toEqual([10, -1, 10]);
    await admin.deleteOffsets({ groupId: 'billing', topic: 'orders' });
    expect((await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] }))[0]!.partitions.map((p) => p.offset)).toEqual([-1, -1, -1]);
    await expect(admin.deleteOffsets({ groupId: 'billing', topic: 'orders', partitions: [-1] })).rejects.toMatchObject({ type: 'INVALID_REQUEST' });

    expect(await admin.deleteGroups(['billing'])).toEqual([{ groupId: 'billing', errorCode: 0 }]);
    expect((await admin.listGroups()).groups.map((g) => g.groupId)).not.toContain('billing');
    expect((await admin.describeGroups(['billing'])).groups[0]).toMatchObject({ state: 'Dead', errorCode: ErrorCode.GROUP_ID_NOT_FOUND, members: [] });
    await expect(admin.deleteGroups(['billing'])).rejects.toMatchObject({ type: 'GROUP_ID_NOT_FOUND' });
    await expect(admin.describeGroups([''])).rejects.toMatchObject({ type: 'INVALID_GROUP_ID' });
    await expect(admin.setOffsets({ groupId: 'billing', topic: 'orders', partitions: [{ partition: 0, offset: -5 }] })).rejects.toMatchObject({ type: 'INVALID_REQUEST' });
  }, 120_000);
});
