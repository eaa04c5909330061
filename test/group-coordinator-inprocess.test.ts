/**
 * The group coordinator shell on three broker nodes in one process over real
 * ws sockets, the controller replaced by FakeQuorum (commits at once):
 * FindCoordinator creates `__consumer_offsets` and names the leader of the
 * group's partition; three members join and sync with the range assignor,
 * heartbeat, and one that stops heartbeating is evicted after its session
 * timeout while the others get REBALANCE_IN_PROGRESS and form a new
 * generation; offsets are committed, written to the offsets partition and
 * fetched back; bad input gets typed error codes. Method: a client node
 * sends the wire API exactly as the consumer library will
 * (test/group-coordinator-support.ts); group timeouts are shortened through
 * the data plane's groupConfig option.
 */
import { testClusterSecret } from './support/secret.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { Node } from '../runtime/node.ts';
import { startInProcessCluster, type InProcessCluster } from './support/inprocess-cluster.ts';
import { createLogger } from '../runtime/logger.ts';
import type { DataPlaneOptions } from '../actors/broker/data-plane.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { decodeBatches } from '../protocol/record-batch/index.ts';
import { topicByName } from '../actors/controller/metadata/index.ts';
import { coordinatorPartitionFor, decodeRecord } from '../actors/group-coordinator/offsets-records.ts';
import { encodeSubscription } from '../protocol/consumer/consumer-protocol.ts';
import { until } from './support/processes.ts';
import { askCoordinator, askGroups, findCoordinator, heartbeat, joinAndSync, sleep, type JoinedMember, type Reply } from './group-coordinator-support.ts';

type Cluster = InProcessCluster & { client: Node };
let cluster: Cluster | undefined;

afterEach(async () => {
  if (!cluster) return;
  await cluster.client.stop();
  await cluster.stop();
  cluster = undefined;
});

const brokerIds = [1, 2, 3];
const offsetsPartitions = 3;

async function startCluster(options: DataPlaneOptions = {}): Promise<Cluster> {
  const brokers = await startInProcessCluster({
    brokers: brokerIds.length,
    dirPrefix: 'kactus-groups-',
    config: { replicaFetchWaitMaxMs: 50, offsetsTopicNumPartitions: offsetsPartitions, groupInitialRebalanceDelayMs: 300 },
    dataPlane: { groupConfig: { sessionTimeoutMsMin: 200 }, ...options },
  });
  const client = await Node.start({ clusterSecret: testClusterSecret(), nodeId: 'client', logger: createLogger({ node: 'client' }, 'silent'), peers: Object.fromEntries(brokers.nodes.map((n) => [n.nodeId, n.url!])) });
  cluster = { ...brokers, client };
  return cluster;
}

function createTopic(c: Cluster, name: string, partitions: number): void {
  const reply = c.quorum.call({ type: 'CreateTopics', validateOnly: false, topics: [{ name, numPartitions: partitions, replicationFactor: 3, assignments: null, configs: [] }] }) as { topics: { errorCode: number }[] };
  expect(reply.topics[0]!.errorCode).toBe(0);
}

describe('group coordinator (three brokers in one process over ws)', () => {
  it('FindCoordinator creates __consumer_offsets (compacted, RF 3) once and names the leader of the group partition', async () => {
    const c = await startCluster();
    const first = await askGroups(c.client, 2, { type: 'FindCoordinator', key: 'payments', keyType: 0 });
    expect(first).toMatchObject({ type: 'FindCoordinatorReply', errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, nodeId: -1 });
    const found = await findCoordinator(c.client, 'payments', brokerIds);
    const topic = topicByName(c.quorum.image, '__consumer_offsets')!;
    expect(topic.partitions).toHaveLength(offsetsPartitions);
    expect(topic.partitions.every((p) => p.replicas.length === 3)).toBe(true);
    expect(topic.configs.get('cleanup.policy')).toBe('compact');
    expect(topic.configs.get('segment.bytes')).toBe(String(100 * 1024 * 1024));
    const partition = coordinatorPartitionFor('payments', offsetsPartitions);
    expect(found.nodeId).toBe(topic.partitions[partition]!.leader);
    expect(found.port).toBe(Number(new URL(c.nodes[found.nodeId - 1]!.url!).port));
    // Every broker gives the same answer.
    for (const via of brokerIds) expect(await askGroups(c.client, via, { type: 'FindCoordinator', key: 'payments', keyType: 0 })).toMatchObject({ errorCode: 0, nodeId: found.nodeId });
    // A broker that does not lead the group's partition says so.
    const other = brokerIds.find((id) => id !== found.nodeId)!;
    await until(() => c.planes[found.nodeId - 1]!.registry.get('__consumer_offsets', partition)?.role === 'leader', 5_000, 'the coordinator to lead its partition');
    expect(await askGroups(c.client, other, { type: 'DescribeGroup', groupId: 'payments' })).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
  });

  it('three members join and sync with range, heartbeat; one that stops heartbeating is evicted and the others rebalance into a new generation', async () => {
    const c = await startCluster();
    createTopic(c, 'orders', 6);
    const groupId = 'order-processors';
    const coordinator = (await findCoordinator(c.client, groupId, brokerIds)).nodeId;
    await until(() => c.planes[coordinator - 1]!.registry.get('__consumer_offsets', coordinatorPartitionFor(groupId, offsetsPartitions))?.role === 'leader', 5_000, 'leader');
    // Wait until the coordinator answers (it may still be loading).
    await askCoordinator(c.client, groupId, { type: 'DescribeGroup' }, brokerIds);
    const options = { topics: ['orders'], partitionCounts: new Map([['orders', 6]]), sessionTimeoutMs: 1_000, rebalanceTimeoutMs: 3_000 };
    const members = await Promise.all(['a', 'b', 'c'].map((clientId) => joinAndSync(c.client, coordinator, groupId, { ...options, clientId })));
    expect(new Set(members.map((m) => m.generationId)).size).toBe(1);
    expect(members.filter((m) => m.leader)).toHaveLength(1);
    const assigned = members.flatMap((m) => m.partitions.map((p) => `${p.topic}-${p.partition}`)).sort();
    expect(assigned).toEqual(['orders-0', 'orders-1', 'orders-2', 'orders-3', 'orders-4', 'orders-5']);
    expect(members.map((m) => m.partitions.length)).toEqual([2, 2, 2]);
    for (const m of members) expect(await heartbeat(c.client, coordinator, groupId, m)).toBe(ErrorCode.NONE);
    const described = await askGroups<Reply & { state: string; members: unknown[]; protocol: string }>(c.client, coordinator, { type: 'DescribeGroup', groupId });
    expect(described).toMatchObject({ errorCode: 0, state: 'Stable', protocol: 'range', protocolType: 'consumer' });
    expect(described.members).toHaveLength(3);

    // Member c stops heartbeating; a and b keep on until they are told to rebalance.
    const [a, b] = members as [JoinedMember, JoinedMember, JoinedMember];
    const codes = new Map<string, number>();
    const deadlineMs = Date.now() + 5_000;
    while (codes.size < 2 && Date.now() < deadlineMs) {
      for (const m of [a, b]) if (!codes.has(m.memberId)) {
        const code = await heartbeat(c.client, coordinator, groupId, m);
        if (code !== ErrorCode.NONE) codes.set(m.memberId, code);
      }
      await sleep(150);
    }
    expect([...codes.values()]).toEqual([ErrorCode.REBALANCE_IN_PROGRESS, ErrorCode.REBALANCE_IN_PROGRESS]);
    // They rejoin with their ids and split the six partitions between them.
    const next = await Promise.all([a, b].map((m, i) => joinAndSync(c.client, coordinator, groupId, { ...options, clientId: ['a', 'b'][i]!, memberId: m.memberId })));
    expect(next[0]!.generationId).toBeGreaterThan(a.generationId);
    expect(next.map((m) => m.partitions.length)).toEqual([3, 3]);
    const after = await askGroups<Reply & { members: { memberId: string }[] }>(c.client, coordinator, { type: 'DescribeGroup', groupId });
    expect(after.members.map((m) => m.memberId).sort()).toEqual([a.memberId, b.memberId].sort());
    // The evicted member is told so.
    expect(await heartbeat(c.client, coordinator, groupId, members[2]!)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);

    // A member's commit with its generation is accepted and read back.
    const commit = await askGroups<Reply & { results: { errorCode: number }[] }>(c.client, coordinator, {
      type: 'OffsetCommit', groupId, memberId: next[0]!.memberId, groupInstanceId: null, generationId: next[0]!.generationId,
      offsets: [{ topic: 'orders', partition: 0, offset: 42, leaderEpoch: -1, metadata: null }],
    });
    expect(commit.results).toEqual([{ topic: 'orders', partition: 0, errorCode: 0 }]);
    const list = await askGroups<Reply & { groups: unknown[] }>(c.client, coordinator, { type: 'ListGroups' });
    expect(list.groups).toContainEqual({ groupId, protocolType: 'consumer', state: 'Stable' });
  }, 30_000);

  it('OffsetCommit is written to the group partition of __consumer_offsets and OffsetFetch returns it', async () => {
    const c = await startCluster();
    createTopic(c, 'orders', 2);
    const groupId = 'auditors';
    const commit = await askCoordinator<Reply & { results: unknown[] }>(c.client, groupId, {
      type: 'OffsetCommit', memberId: '', groupInstanceId: null, generationId: -1,
      offsets: [
        { topic: 'orders', partition: 0, offset: 10, leaderEpoch: 0, metadata: 'm0' },
        { topic: 'orders', partition: 1, offset: 20, metadata: null },
      ],
    }, brokerIds);
    expect(commit.results).toEqual([{ topic: 'orders', partition: 0, errorCode: 0 }, { topic: 'orders', partition: 1, errorCode: 0 }]);
    const coordinator = (await findCoordinator(c.client, groupId, brokerIds)).nodeId;
    const fetched = await askGroups(c.client, coordinator, { type: 'OffsetFetch', groupId, partitions: null });
    expect(fetched).toMatchObject({
      errorCode: 0,
      offsets: [
        { topic: 'orders', partition: 0, offset: 10, leaderEpoch: 0, metadata: 'm0', errorCode: 0 },
        { topic: 'orders', partition: 1, offset: 20, leaderEpoch: -1, metadata: '', errorCode: 0 },
      ],
    });
    const some = await askGroups(c.client, coordinator, { type: 'OffsetFetch', groupId, partitions: [{ topic: 'orders', partition: 1 }, { topic: 'other', partition: 0 }] });
    expect(some).toMatchObject({ errorCode: 0, offsets: [{ partition: 1, offset: 20 }, { topic: 'other', offset: -1, errorCode: 0 }] });
    // The records are in the log of the group's partition, on every replica once replicated (acks=all).
    const partition = coordinatorPartitionFor(groupId, offsetsPartitions);
    for (const plane of c.planes) {
      const log = plane.registry.get('__consumer_offsets', partition)!.log;
      const decoded = decodeBatches(log.read(log.logStartOffset, 1 << 20));
      expect(decoded.ok).toBe(true);
      const records = decoded.ok ? decoded.value.flatMap((batch) => batch.records.map((r) => decodeRecord(r.key!, r.value))) : [];
      expect(records.filter((r) => r.ok && r.value.key.type === 'OffsetCommit' && r.value.key.group === groupId)).toHaveLength(2);
    }
  });

  it('a crash of /groups restarts it: it re-learns the partitions it leads from the registry and reloads them from the log', async () => {
    const c = await startCluster();
    const groupId = 'restarters';
    const offsets = [{ topic: 'orders', partition: 0, offset: 7, leaderEpoch: 0, metadata: 'x' }];
    const commit = await askCoordinator<Reply & { results: unknown[] }>(c.client, groupId, { type: 'OffsetCommit', memberId: '', groupInstanceId: null, generationId: -1, offsets }, brokerIds);
    expect(commit.results).toEqual([{ topic: 'orders', partition: 0, errorCode: 0 }]);
    const coordinator = (await findCoordinator(c.client, groupId, brokerIds)).nodeId;
    expect(c.nodes[coordinator - 1]!.crashActor('/groups')).toBe(true);
    await sleep(50);
    const fetched = await askCoordinator<Reply & { offsets: unknown[] }>(c.client, groupId, { type: 'OffsetFetch', partitions: null }, brokerIds);
    expect(fetched).toMatchObject({ errorCode: 0, offsets: [{ ...offsets[0], errorCode: 0 }] });
    expect(c.nodes[coordinator - 1]!.hasActor('/groups')).toBe(true);
  });

  it('losing the offsets partition answers parked requests NOT_COORDINATOR; the new leader loads the group and serves it', async () => {
    const c = await startCluster();
    const groupId = 'movers';
    const options = { topics: ['orders'], partitionCounts: new Map([['orders', 4]]), sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000 };
    await askCoordinator(c.client, groupId, { type: 'DescribeGroup' }, brokerIds);
    const coordinator = (await findCoordinator(c.client, groupId, brokerIds)).nodeId;
    const first = await joinAndSync(c.client, coordinator, groupId, { ...options, clientId: 'first' });
    // A second member's join parks: the group waits (up to the rebalance timeout) for the first to rejoin.
    const required = await askGroups<Reply & { memberId: string }>(c.client, coordinator, joinRequest(groupId, '', options));
    expect(required.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    const parked = askGroups<Reply>(c.client, coordinator, joinRequest(groupId, required.memberId, options), 15_000);
    const deadlineMs = Date.now() + 5_000;
    for (;;) {
      const d = await askGroups<Reply & { state: string }>(c.client, coordinator, { type: 'DescribeGroup', groupId });
      if (d.state === 'PreparingRebalance' || Date.now() > deadlineMs) break;
      await sleep(20);
    }
    // Fence the coordinator: the controller moves the partition's leadership to another replica.
    const epoch = c.quorum.image.brokers.get(coordinator)!.brokerEpoch;
    c.quorum.call({ type: 'FenceBroker', brokerId: coordinator, brokerEpoch: epoch });
    expect(await parked).toMatchObject({ type: 'JoinGroupReply', errorCode: ErrorCode.NOT_COORDINATOR });
    const moved = await findCoordinator(c.client, groupId, brokerIds);
    expect(moved.nodeId).not.toBe(coordinator);
    expect(await askGroups(c.client, coordinator, { type: 'Heartbeat', groupId, memberId: first.memberId, groupInstanceId: null, generationId: first.generationId })).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
    const described = await askCoordinator<Reply & { state: string; members: { memberId: string }[] }>(c.client, groupId, { type: 'DescribeGroup' }, brokerIds);
    expect(described).toMatchObject({ errorCode: 0, state: 'Stable' });
    expect(described.members.map((m) => m.memberId)).toEqual([first.memberId]);
    expect(await heartbeat(c.client, moved.nodeId, groupId, first)).toBe(ErrorCode.NONE);
  }, 30_000);

  it('offsets past their retention expire: OffsetFetch no longer returns them and a tombstone is written', async () => {
    const c = await startCluster({ offsetsRetention: { retentionMs: 300, checkIntervalMs: 200 } });
    const groupId = 'forgetful';
    const commit = await askCoordinator<Reply & { results: unknown[] }>(c.client, groupId, {
      type: 'OffsetCommit', memberId: '', groupInstanceId: null, generationId: -1, offsets: [{ topic: 'orders', partition: 0, offset: 5, metadata: null }],
    }, brokerIds);
    expect(commit.results).toEqual([{ topic: 'orders', partition: 0, errorCode: 0 }]);
    const coordinator = (await findCoordinator(c.client, groupId, brokerIds)).nodeId;
    const deadlineMs = Date.now() + 5_000;
    let offsets: unknown[] = [1];
    while (offsets.length > 0 && Date.now() < deadlineMs) {
      await sleep(100);
      offsets = (await askGroups<Reply & { offsets: unknown[] }>(c.client, coordinator, { type: 'OffsetFetch', groupId, partitions: null })).offsets;
    }
    expect(offsets).toEqual([]);
    const log = c.planes[coordinator - 1]!.registry.get('__consumer_offsets', coordinatorPartitionFor(groupId, offsetsPartitions))!.log;
    await until(() => log.highWatermark === log.logEndOffset, 5_000, 'the tombstone to be replicated');
    const decoded = decodeBatches(log.read(log.logStartOffset, 1 << 20));
    const records = decoded.ok ? decoded.value.flatMap((batch) => batch.records.map((r) => decodeRecord(r.key!, r.value))) : [];
    expect(records.some((r) => r.ok && r.value.key.type === 'OffsetCommit' && r.value.key.group === groupId && r.value.value === null)).toBe(true);
  });

  it('bad input gets typed error codes, never a crash', async () => {
    const c = await startCluster();
    createTopic(c, 'orders', 1);
    const groupId = 'checkers';
    const describe = await askCoordinator(c.client, 'nobody-here', { type: 'DescribeGroup' }, brokerIds);
    expect(describe).toMatchObject({ type: 'DescribeGroupReply', errorCode: ErrorCode.GROUP_ID_NOT_FOUND });
    const negative = await askCoordinator<Reply & { results: unknown[] }>(c.client, groupId, {
      type: 'OffsetCommit', memberId: '', groupInstanceId: null, generationId: -1,
      offsets: [{ topic: 'orders', partition: 0, offset: -5, leaderEpoch: -1, metadata: null }],
    }, brokerIds);
    expect(negative.results).toEqual([{ topic: 'orders', partition: 0, errorCode: ErrorCode.INVALID_COMMIT_OFFSET_SIZE }]);
    const coordinator = (await findCoordinator(c.client, groupId, brokerIds)).nodeId;
    // Wrong field types: INVALID_REQUEST in the reply type of the request.
    expect(await askGroups(c.client, coordinator, { type: 'Heartbeat', groupId, memberId: 7, groupInstanceId: null, generationId: 1 })).toMatchObject({ type: 'HeartbeatReply', errorCode: ErrorCode.INVALID_REQUEST });
    expect(await askGroups(c.client, coordinator, { type: 'OffsetFetch', groupId, partitions: 'all' })).toMatchObject({ type: 'OffsetFetchReply', errorCode: ErrorCode.INVALID_REQUEST });
    expect(await askGroups(c.client, coordinator, { type: 'FindCoordinator', key: groupId, keyType: 1 })).toMatchObject({ type: 'FindCoordinatorReply', errorCode: ErrorCode.INVALID_REQUEST });
    expect(await askGroups(c.client, coordinator, { type: 'JoinGroup', groupId, memberId: '', groupInstanceId: null, clientId: 'x', sessionTimeoutMs: 10, rebalanceTimeoutMs: 1_000, protocolType: 'consumer', protocols: [], reason: null }))
      .toMatchObject({ type: 'JoinGroupReply', errorCode: ErrorCode.INVALID_SESSION_TIMEOUT });
    expect(await askGroups(c.client, coordinator, { type: 'JoinGroup', groupId: '', memberId: '', groupInstanceId: null, clientId: 'x', sessionTimeoutMs: 1_000, rebalanceTimeoutMs: 1_000, protocolType: 'consumer', protocols: [], reason: null }))
      .toMatchObject({ type: 'JoinGroupReply', errorCode: ErrorCode.INVALID_GROUP_ID });
    expect(await askGroups(c.client, coordinator, { type: 'DeleteGroup', groupId: 'never-seen' })).toMatchObject({ type: 'DeleteGroupReply', errorCode: ErrorCode.GROUP_ID_NOT_FOUND });
    // Garbage and forged internal messages are refused without a reply; the coordinator still answers.
    c.client.tell(groupsRef(coordinator), { type: 'Nonsense' });
    c.client.tell(groupsRef(coordinator), { type: 'GroupsInternal', token: {}, message: { type: 'OffsetsPartitionResigned', partition: coordinatorPartitionFor(groupId, offsetsPartitions) } });
    c.client.tell(groupsRef(coordinator), { type: 'OffsetsPartitionResigned', partition: coordinatorPartitionFor(groupId, offsetsPartitions) });
    const fetched = await askGroups(c.client, coordinator, { type: 'OffsetFetch', groupId, partitions: null });
    expect(fetched).toMatchObject({ type: 'OffsetFetchReply', errorCode: 0 });
    // An Empty group with offsets is deleted (tombstones written), then it is unknown.
    const committed = await askGroups<Reply & { results: unknown[] }>(c.client, coordinator, {
      type: 'OffsetCommit', groupId, memberId: '', groupInstanceId: null, generationId: -1, offsets: [{ topic: 'orders', partition: 0, offset: 3, metadata: null }],
    });
    expect(committed.results).toEqual([{ topic: 'orders', partition: 0, errorCode: 0 }]);
    expect(await askGroups(c.client, coordinator, { type: 'DeleteGroup', groupId })).toMatchObject({ type: 'DeleteGroupReply', groupId, errorCode: 0 });
    expect(await askGroups(c.client, coordinator, { type: 'DeleteGroup', groupId })).toMatchObject({ errorCode: ErrorCode.GROUP_ID_NOT_FOUND });
    expect(await askGroups(c.client, coordinator, { type: 'OffsetFetch', groupId, partitions: null })).toMatchObject({ errorCode: 0, offsets: [] });
  });
});

const groupsRef = (brokerId: number): { node: string; path: string } => ({ node: String(brokerId), path: '/groups' });

function joinRequest(groupId: string, memberId: string, options: { topics: string[]; sessionTimeoutMs: number; rebalanceTimeoutMs: number }): Record<string, unknown> {
  return {
    type: 'JoinGroup', groupId, memberId, groupInstanceId: null, clientId: 'second', clientHost: '127.0.0.1',
    sessionTimeoutMs: options.sessionTimeoutMs, rebalanceTimeoutMs: options.rebalanceTimeoutMs, protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: encodeSubscription({ topics: options.topics, userData: null, ownedPartitions: [], generationId: -1, rackId: null }) }], reason: null,
  };
}
