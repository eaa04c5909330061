/**
 * The group APIs of the Kafka listener on 3 broker processes. Goal: a member
 * that joins through the Kafka listener and a native consumer are members of
 * one group, and offsets committed on either side are read on the other.
 * Method: a native consumer (range assignor) owns all 4 partitions of a
 * topic; a Kafka-protocol member speaking the project's codec over one
 * persistent connection finds the coordinator (FindCoordinator v4, at the
 * coordinator's Kafka-listener address), joins (JoinGroup v5, the
 * MEMBER_ID_REQUIRED round), syncs (assigning, if it is the leader, with the
 * same range assignor) and heartbeats; both must hold disjoint halves in the
 * same generation. The Kafka member commits (OffsetCommit v7) and the native
 * consumer reads those offsets; the native consumer commits and the Kafka
 * member reads them (OffsetFetch v5 and the v8 multi-group form).
 * DescribeGroups shows both members; after LeaveGroup v3 the native consumer
 * owns every partition again. Transaction keys: FindCoordinator (v4 batched,
 * v3 single) names the broker the native FindTxnCoordinator names, at its
 * Kafka-listener address, once __transaction_state (created on first use)
 * has leaders.
 * OffsetDelete: a Kafka member commits offsets of two topics; OffsetDelete
 * v0 through the Kafka listener while it is a member refuses the subscribed
 * topic's partitions (GROUP_SUBSCRIBED_TO_TOPIC, top-level NONE) and deletes
 * the other topic's; after LeaveGroup the subscribed topic's offsets are
 * deleted too (through the Kafka listener and the native
 * Admin.deleteConsumerGroupOffsets), and OffsetFetch (Kafka v5 and the
 * native Admin) shows -1 for them, also after the coordinator broker is
 * SIGKILLed and restarted (the tombstones are replayed by whichever broker
 * leads the offsets partition next).
 */
import type { Subscription as RxSubscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../client/index.ts';
import type { Consumer } from '../client/consumer/consumer.ts';
import { ErrorCode } from '../protocol/errors.ts';
import type { KafkaValue } from '../protocol/kafka/codec.ts';
import { decodeAssignment, encodeSubscription } from '../protocol/consumer/consumer-protocol.ts';
import { assignForSync, assignorsByName } from '../protocol/consumer/assignors/index.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { KafkaConnection } from './support/kafka-connection.ts';
import { kafkaRequest } from './support/kafka-wire.ts';
import { killAllChildren, until } from './support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
const topic = 'kg-orders';
const groupId = 'kg-group';
const partitions = 4;
let kafkaPorts: Map<number, number>;

beforeAll(async () => {
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'kg-native', requestTimeoutMs: 5_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3 }] });
  await cluster.waitForLeaders(topic, partitions);
  const metadata = (await cluster.metadata(null)) as unknown as { brokers: { brokerId: number; listeners: { name: string; port: number }[] }[] };
  kafkaPorts = new Map(metadata.brokers.map((b) => [b.brokerId, b.listeners.find((l) => l.name === 'PLAINTEXT')!.port]));
}, 60_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

type Tp = { topic: string; partition: number };
const sortTps = (tps: readonly Tp[]): Tp[] => [...tps].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);

/** FindCoordinator v4 through broker `via`'s Kafka listener, retried while the offsets topic is being created. */
async function findCoordinator(group = groupId, via = 1): Promise<KafkaValue> {
  const port = kafkaPorts.get(via)!;
  for (let attempt = 0; ; attempt++) {
    const response = await kafkaRequest('127.0.0.1', port, 'FindCoordinator', 4, { keyType: 0, coordinatorKeys: [group] });
    const answer = (response.coordinators as KafkaValue[])[0]!;
    if (answer.errorCode === ErrorCode.NONE) return answer;
    expect(answer.errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (attempt > 60) throw new Error(`no coordinator: ${JSON.stringify(answer)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('Kafka listener: consumer groups shared with native members', () => {
  it('FindCoordinator answers transaction keys (v4 batched, v3 and v0 single) with the native coordinator at its Kafka address', async () => {
    const port = kafkaPorts.get(2)!;
    const keys = ['kg-txn-a', 'kg-txn-b'];
    let answers: KafkaValue[] = [];
    for (let attempt = 0; attempt < 80; attempt++) {
      answers = (await kafkaRequest('127.0.0.1', port, 'FindCoordinator', 4, { keyType: 1, coordinatorKeys: keys })).coordinators as KafkaValue[];
      if (answers.every((a) => a.errorCode === ErrorCode.NONE)) break;
      // __transaction_state is created on the first FindCoordinator: not available until it has leaders.
      for (const a of answers) expect([ErrorCode.NONE, ErrorCode.COORDINATOR_NOT_AVAILABLE]).toContain(a.errorCode);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    for (const [i, key] of keys.entries()) {
      const native = await cluster.client.ask<unknown, { nodeId: number }>({ node: '1', path: '/transactions' }, (replyTo) => ({ type: 'FindTxnCoordinator', transactionalId: key, replyTo }), { timeoutMs: 5_000 });
      expect(answers[i]).toMatchObject({ key, errorCode: 0, nodeId: native.nodeId, host: '127.0.0.1', port: kafkaPorts.get(native.nodeId) });
      const v3 = await kafkaRequest('127.0.0.1', port, 'FindCoordinator', 3, { key, keyType: 1 });
      expect(v3).toMatchObject({ errorCode: 0, nodeId: native.nodeId, port: kafkaPorts.get(native.nodeId) });
    }
    const v0 = await kafkaRequest('127.0.0.1', port, 'FindCoordinator', 0, { key: groupId });
    expect([ErrorCode.NONE, ErrorCode.COORDINATOR_NOT_AVAILABLE]).toContain(v0.errorCode);
  }, 60_000);

  it('a Kafka-protocol member and a native consumer share a generation and each other\'s commits', async () => {
    // 1. The native consumer owns everything.
    const consumer: Consumer = kactus.consumer({ groupId, assignors: ['range'], sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, autoCommit: false, autoOffsetReset: 'earliest' }).subscribe(topic);
    const feed: RxSubscription = consumer.messages$.subscribe({ next: (r) => r.ack(), error: () => undefined });
    try {
      await until(() => consumer.assignment().length === partitions, 30_000, 'the native consumer owns every partition');

      // 2. The coordinator, at its Kafka address: the same broker the native client uses.
      const coordinator = await findCoordinator();
      const nativeLookup = await cluster.client.ask<unknown, { nodeId: number }>({ node: '1', path: '/groups' }, (replyTo) => ({ type: 'FindCoordinator', key: groupId, keyType: 0, replyTo }), { timeoutMs: 5_000 });
      expect(coordinator).toMatchObject({ key: groupId, nodeId: nativeLookup.nodeId, host: '127.0.0.1', port: kafkaPorts.get(nativeLookup.nodeId) });

      const conn = await KafkaConnection.open('127.0.0.1', coordinator.port as number, 'kg-kafka');
      try {
        // 3. Join: MEMBER_ID_REQUIRED first (v4+), then with the id handed out; the native member rejoins meanwhile.
        const subscription = Buffer.from(encodeSubscription({ topics: [topic], userData: null, ownedPartitions: [], generationId: -1, rackId: null }));
        const join = (memberId: string) =>
          conn.request('JoinGroup', 5, { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 30_000, memberId, groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: subscription }] }, 60_000);
        const first = await join('');
        expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
        const memberId = first.memberId as string;
        expect(memberId.startsWith('kg-kafka-')).toBe(true);
        const joined = await join(memberId);
        expect(joined).toMatchObject({ errorCode: 0, memberId, protocolName: 'range' });
        const generationId = joined.generationId as number;
        const members = joined.members as { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
        let assignments: { memberId: string; assignment: Uint8Array }[] = [];
        if (joined.leader === memberId) {
          expect(members).toHaveLength(2);
          assignments = assignForSync(assignorsByName.get('range')!, members, new Map([[topic, partitions]])).assignments;
        } else expect(members).toEqual([]);
        const synced = await conn.request('SyncGroup', 3, { groupId, generationId, memberId, groupInstanceId: null, assignments }, 60_000);
        expect(synced.errorCode).toBe(0);
        const decoded = decodeAssignment(synced.assignment as Uint8Array);
        if (!decoded.ok) throw new Error(decoded.message);
        const mine = sortTps(decoded.value.assignedPartitions);

        // Heartbeats keep the Kafka member in the group for the rest of the test.
        let heartbeats = true;
        const heartbeatErrors: number[] = [];
        const beating = (async () => {
          while (heartbeats) {
            const hb = await conn.request('Heartbeat', 3, { groupId, generationId, memberId, groupInstanceId: null }).catch(() => ({ errorCode: -1 }));
            if (hb.errorCode !== 0) heartbeatErrors.push(hb.errorCode as number);
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        })();

        // 4. One generation, two halves.
        await until(() => consumer.member()?.generationId === generationId && consumer.assignment().length === partitions - mine.length, 20_000, 'the native member synced into the same generation');
        const theirs = sortTps(consumer.assignment());
        expect(mine).toHaveLength(partitions / 2);
        expect(sortTps([...mine, ...theirs])).toEqual(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));

        // 5. Kafka commits, native reads.
        const commit = await conn.request('OffsetCommit', 7, {
          groupId,
          generationIdOrMemberEpoch: generationId,
          memberId,
          groupInstanceId: null,
          topics: [{ name: topic, partitions: mine.map((p) => ({ partitionIndex: p.partition, committedOffset: 10 + p.partition, committedLeaderEpoch: -1, committedMetadata: 'from-kafka' })) }],
        });
        expect(commit.topics).toEqual([{ name: topic, partitions: mine.map((p) => ({ partitionIndex: p.partition, errorCode: 0 })) }]);
        expect(await consumer.committed(mine)).toEqual(mine.map((p) => ({ ...p, offset: 10 + p.partition })));

        // 6. Native commits (records produced to its partitions, consumed and acked), Kafka reads.
        const producer = kactus.producer({ lingerMs: 1 });
        await producer.send({ topic, messages: theirs.flatMap((p) => Array.from({ length: 5 }, (_, i) => ({ value: `r${i}`, partition: p.partition }))) });
        await producer.close();
        const commitDeadlineMs = Date.now() + 20_000;
        for (;;) {
          await consumer.commit();
          if ((await consumer.committed(theirs)).every((x) => x.offset === 5)) break;
          if (Date.now() > commitDeadlineMs) throw new Error('the native consumer did not commit its records');
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        const all = [...mine, ...theirs].map((p) => p.partition).sort();
        const fetched = await conn.request('OffsetFetch', 5, { groupId, topics: [{ name: topic, partitionIndexes: all }] });
        expect(fetched.errorCode).toBe(0);
        const offsetOf = (topics: KafkaValue[]) => new Map((topics[0]!.partitions as KafkaValue[]).map((p) => [p.partitionIndex as number, [p.committedOffset, p.metadata, p.errorCode]]));
        const expected = new Map(all.map((p) => [p, mine.some((m) => m.partition === p) ? [10 + p, 'from-kafka', 0] : [5, expect.any(String), 0]]));
        expect(offsetOf(fetched.topics as KafkaValue[])).toEqual(expected);
        const multi = await conn.request('OffsetFetch', 8, { groups: [{ groupId, topics: null }, { groupId: 'kg-nobody', topics: null }], requireStable: false });
        const groups = multi.groups as KafkaValue[];
        expect(groups[0]!.errorCode).toBe(0);
        expect(offsetOf(groups[0]!.topics as KafkaValue[])).toEqual(expected);

        // 7. DescribeGroups names both members; the Kafka one with its client id and address.
        const described = (await conn.request('DescribeGroups', 5, { groups: [groupId], includeAuthorizedOperations: false })).groups as KafkaValue[];
        expect(described[0]).toMatchObject({ errorCode: 0, groupId, groupState: 'Stable', protocolType: 'consumer', protocolData: 'range' });
        const kafkaMember = (described[0]!.members as KafkaValue[]).find((m) => m.memberId === memberId);
        expect(kafkaMember).toMatchObject({ clientId: 'kg-kafka', clientHost: '/127.0.0.1' });
        expect(described[0]!.members).toHaveLength(2);
        const listed = await conn.request('ListGroups', 4, { statesFilter: ['Stable'] });
        expect(listed.groups).toContainEqual(expect.objectContaining({ groupId, protocolType: 'consumer', groupState: 'Stable' }));

        // 8. The Kafka member leaves; the native consumer owns everything again.
        heartbeats = false;
        await beating;
        expect(heartbeatErrors).toEqual([]);
        const left = await conn.request('LeaveGroup', 3, { groupId, members: [{ memberId, groupInstanceId: null }] });
        expect(left).toMatchObject({ errorCode: 0, members: [{ memberId, errorCode: 0 }] });
        await until(() => consumer.assignment().length === partitions && (consumer.member()?.generationId ?? 0) > generationId, 20_000, 'the native consumer owns every partition again');
      } finally {
        conn.close();
      }
    } finally {
      feed.unsubscribe();
      await consumer.close();
    }
  }, 120_000);

  it('OffsetDelete: refused for a subscribed topic while a member is active, then deleted, and still deleted after the coordinator restarts', async () => {
    const group = 'kg-offset-delete';
    const audit = 'kg-audit';
    await kactus.admin().createTopics({ topics: [{ topic: audit, numPartitions: 1, replicationFactor: 3 }] });
    await cluster.waitForLeaders(audit, 1);
    const coordinator = await findCoordinator(group);
    const coordinatorId = coordinator.nodeId as number;
    const conn = await KafkaConnection.open('127.0.0.1', coordinator.port as number, 'kg-offdel');
    try {
      // 1. One Kafka member subscribed to the orders topic (not to the audit one) commits offsets of both.
      const subscription = Buffer.from(encodeSubscription({ topics: [topic], userData: null, ownedPartitions: [], generationId: -1, rackId: null }));
      const join = (memberId: string) =>
        conn.request('JoinGroup', 5, { groupId: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId, groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: subscription }] }, 30_000);
      const memberId = (await join('')).memberId as string;
      const joined = await join(memberId);
      expect(joined).toMatchObject({ errorCode: 0, leader: memberId });
      const generationId = joined.generationId as number;
      const assignments = assignForSync(assignorsByName.get('range')!, joined.members as { memberId: string; groupInstanceId: string | null; metadata: Buffer }[], new Map([[topic, partitions]])).assignments;
      expect((await conn.request('SyncGroup', 3, { groupId: group, generationId, memberId, groupInstanceId: null, assignments })).errorCode).toBe(0);
      const committed = await conn.request('OffsetCommit', 7, {
        groupId: group,
        generationIdOrMemberEpoch: generationId,
        memberId,
        groupInstanceId: null,
        topics: [
          { name: topic, partitions: [0, 1, 2, 3].map((p) => ({ partitionIndex: p, committedOffset: 100 + p, committedLeaderEpoch: -1, committedMetadata: null })) },
          { name: audit, partitions: [{ partitionIndex: 0, committedOffset: 7, committedLeaderEpoch: -1, committedMetadata: null }] },
        ],
      });
      expect((committed.topics as KafkaValue[]).flatMap((t) => (t.partitions as KafkaValue[]).map((p) => p.errorCode))).toEqual([0, 0, 0, 0, 0]);

      // 2. While the member is subscribed: its topic is refused per partition, the other is deleted, an unknown topic is UNKNOWN_TOPIC_OR_PARTITION.
      const refused = await conn.request('OffsetDelete', 0, {
        groupId: group,
        topics: [{ name: topic, partitions: [{ partitionIndex: 0 }, { partitionIndex: 1 }] }, { name: audit, partitions: [{ partitionIndex: 0 }] }, { name: 'kg-no-such-topic', partitions: [{ partitionIndex: 0 }] }],
      });
      expect(refused).toEqual({
        errorCode: 0,
        throttleTimeMs: 0,
        topics: [
          { name: topic, partitions: [{ partitionIndex: 0, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }, { partitionIndex: 1, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }] },
          { name: audit, partitions: [{ partitionIndex: 0, errorCode: 0 }] },
          { name: 'kg-no-such-topic', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
        ],
      });

      // 3. The member leaves: now the subscribed topic's offsets go too.
      expect(await conn.request('LeaveGroup', 3, { groupId: group, members: [{ memberId, groupInstanceId: null }] })).toMatchObject({ errorCode: 0 });
      const deleted = await conn.request('OffsetDelete', 0, { groupId: group, topics: [{ name: topic, partitions: [{ partitionIndex: 0 }, { partitionIndex: 1 }] }] });
      expect(deleted).toEqual({ errorCode: 0, throttleTimeMs: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 1, errorCode: 0 }] }] });
      const unknownGroup = await conn.request('OffsetDelete', 0, { groupId: 'kg-never-seen', topics: [{ name: topic, partitions: [{ partitionIndex: 0 }] }] });
      expect([ErrorCode.GROUP_ID_NOT_FOUND, ErrorCode.NOT_COORDINATOR]).toContain(unknownGroup.errorCode); // the other group may live elsewhere
      expect(unknownGroup.topics).toEqual([]);
    } finally {
      conn.close();
    }

    // 4. The native Admin deletes partition 2's offset; an unknown group is GROUP_ID_NOT_FOUND.
    const admin = kactus.admin();
    await admin.deleteConsumerGroupOffsets({ groupId: group, partitions: [{ topic, partition: 2 }] });
    await expect(admin.deleteConsumerGroupOffsets({ groupId: 'kg-never-seen', partitions: [{ topic, partition: 0 }] })).rejects.toMatchObject({ code: ErrorCode.GROUP_ID_NOT_FOUND });

    // 5. OffsetFetch through both protocols: -1 where deleted, the rest kept.
    const expected = [
      { topic, partition: 0, offset: -1 },
      { topic, partition: 1, offset: -1 },
      { topic, partition: 2, offset: -1 },
      { topic, partition: 3, offset: 103 },
      { topic: audit, partition: 0, offset: -1 },
    ];
    const order = [topic, audit];
    const nativeOffsets = async () =>
      (await kactus.admin().fetchOffsets({ groupId: group, topics: order }))
        .flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset })))
        .sort((a, b) => order.indexOf(a.topic) - order.indexOf(b.topic) || a.partition - b.partition);
    const kafkaOffsets = async (port: number) => {
      const fetched = await kafkaRequest('127.0.0.1', port, 'OffsetFetch', 5, { groupId: group, topics: [{ name: topic, partitionIndexes: [0, 1, 2, 3] }, { name: audit, partitionIndexes: [0] }] });
      if (fetched.errorCode !== 0) return fetched.errorCode as number;
      return (fetched.topics as KafkaValue[]).flatMap((t) => (t.partitions as KafkaValue[]).map((p) => ({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset })));
    };
    expect(await nativeOffsets()).toEqual(expected);
    expect(await kafkaOffsets(coordinator.port as number)).toEqual(expected);

    // 6. The coordinator broker dies and comes back: whoever leads the offsets partition replays the tombstones.
    await cluster.killBroker(coordinatorId);
    await cluster.startBroker(coordinatorId);
    expect(await nativeOffsets()).toEqual(expected); // the Admin retries NOT_COORDINATOR / LOAD_IN_PROGRESS
    const via = coordinatorId === 1 ? 2 : 1;
    const deadlineMs = Date.now() + 20_000;
    let answer: Awaited<ReturnType<typeof kafkaOffsets>> | Error = new Error('not asked');
    // The restarted broker's Kafka port is a new one, which metadata learns on its registration; a coordinator still
    // loading answers COORDINATOR_LOAD_IN_PROGRESS (or NOT_COORDINATOR while leadership moves): look it up and ask again.
    while (Date.now() < deadlineMs) {
      const metadata = (await cluster.metadata(null, via)) as unknown as { brokers: { brokerId: number; listeners: { name: string; port: number }[] }[] };
      kafkaPorts = new Map(metadata.brokers.map((b) => [b.brokerId, b.listeners.find((l) => l.name === 'PLAINTEXT')!.port]));
      answer = await findCoordinator(group, via).then((c) => kafkaOffsets(c.port as number), (err: Error) => err).catch((err: Error) => err);
      if (Array.isArray(answer)) break;
      if (typeof answer === 'number') expect([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE]).toContain(answer);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(answer).toEqual(expected);
  }, 60_000);
});
