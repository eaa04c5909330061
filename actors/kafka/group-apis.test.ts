/**
 * The group APIs of the Kafka listener as translations: each Kafka request,
 * at every served version, is encoded and decoded with the project's codec,
 * handed to its handler with a fake node that records the native messages
 * asked and answers canned native replies, and the response body must encode
 * at that version. The rules per version (header of group-apis.ts) are
 * checked one by one.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import { apiKeys, apis, decodeRequest, encodeRequest, encodeResponse } from '../../protocol/kafka/messages.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { Node } from '../../runtime/node.ts';
import { groupApis, groupApiLimits, toKafkaListGroups } from './group-apis.ts';
import { validateWireRequest, wireLimits } from '../group-coordinator/actor-messages.ts';
import { isInvalid } from '../../protocol/validate.ts';
import type { KafkaRequest } from './listener.ts';
import type { HandlerDeps } from './served.ts';
import { seededRng } from '../../runtime/rng.ts';
import { randomRequestBody } from '../../test/fuzz/kafka-frames.ts';

type Asked = { path: string; message: Record<string, unknown>; timeoutMs: number | undefined };
type Answer = (path: string, message: Record<string, unknown>) => unknown;

function fakeDeps(answer: Answer): { deps: HandlerDeps; asked: Asked[] } {
  const asked: Asked[] = [];
  const node = {
    async askAsClient(path: string, make: (replyTo: unknown) => Record<string, unknown>, options: { timeoutMs?: number } = {}) {
      const message = make({ node: 'n', path: '/temp/1' });
      asked.push({ path, message, timeoutMs: options.timeoutMs });
      const reply = answer(path, message);
      if (reply instanceof Error) throw reply;
      return reply;
    },
  } as unknown as Node;
  return { deps: { node, listenerName: 'PLAINTEXT', sasl: false, caller: { principal: 'User:ANONYMOUS', host: '10.0.0.9' }, log: createLogger({}, 'silent') }, asked };
}

/** Encodes `body` as a request at `version`, decodes it as the listener does, runs the handler, encodes the answer. */
async function call(name: string, version: number, body: KafkaValue, answer: Answer): Promise<{ response: KafkaValue; asked: Asked[] }> {
  const api = apis.get(apiKeys[name]!)!;
  const decoded = decodeRequest(encodeRequest(api, version, { correlationId: 7, clientId: 'app-1' }, body).subarray(4));
  if (decoded.kind !== 'request') throw new Error(`${name} v${version}: ${decoded.kind}`);
  const request: KafkaRequest = { api, version, header: decoded.header, body: decoded.body, connection: { id: 1, remoteAddress: '10.0.0.9', localPort: 9092 }, principal: 'User:ANONYMOUS' };
  const { deps, asked } = fakeDeps(answer);
  const response = (await groupApis[name]!.handle(request, deps))!;
  encodeResponse(api, version, 7, response); // throws if a field cannot be written at this version
  return { response, asked };
}

const versions = (name: string): number[] => {
  const { minVersion, maxVersion } = groupApis[name]!;
  return Array.from({ length: maxVersion - minVersion + 1 }, (_, i) => minVersion + i);
};

const brokers = [
  { brokerId: 1, host: 'h1', port: 9191, rack: null, listeners: [{ name: 'PLAINTEXT', host: 'k1', port: 9092 }] },
  { brokerId: 2, host: 'h2', port: 9192, rack: null, listeners: [{ name: 'PLAINTEXT', host: 'k2', port: 9093 }] },
  { brokerId: 3, host: 'h3', port: 9193, rack: null, listeners: [] },
];
const metadataReply = { type: 'MetadataResponse', controllerId: 1, brokers, topics: [] };

describe('Kafka FindCoordinator', () => {
  const answer: Answer = (path, m) => {
    if (path === '/broker') return metadataReply;
    const key = (m.key ?? m.transactionalId) as string;
    const nodeId = key === 'on-2' ? 2 : key === 'on-3' ? 3 : key === 'none' ? -1 : 1;
    return { type: 'FindCoordinatorReply', errorCode: nodeId < 0 ? ErrorCode.COORDINATOR_NOT_AVAILABLE : 0, errorMessage: nodeId < 0 ? 'being created' : null, nodeId, host: 'native', port: 1 };
  };

  it('answers the coordinator at its address on the listener asked, at every version', async () => {
    for (const v of versions('FindCoordinator')) {
      const body = v >= 4 ? { keyType: 0, coordinatorKeys: ['on-2'] } : { key: 'on-2', keyType: 0 };
      const { response, asked } = await call('FindCoordinator', v, body, answer);
      expect(asked[0]).toMatchObject({ path: '/groups', message: { type: 'FindCoordinator', key: 'on-2', keyType: 0 } });
      const expected = { nodeId: 2, host: 'k2', port: 9093, errorCode: 0 };
      if (v >= 4) expect(response.coordinators).toEqual([{ key: 'on-2', errorMessage: null, ...expected }]);
      else expect(response).toMatchObject(expected);
    }
  });

  it('transaction keys go to /transactions; batched keys are answered each, in order', async () => {
    const { response, asked } = await call('FindCoordinator', 4, { keyType: 1, coordinatorKeys: ['t1', 'none', 'on-3'] }, answer);
    expect(asked.filter((a) => a.path === '/transactions').map((a) => a.message.transactionalId)).toEqual(['t1', 'none', 'on-3']);
    expect((response.coordinators as KafkaValue[]).map((c) => [c.key, c.errorCode, c.nodeId, c.host])).toEqual([
      ['t1', 0, 1, 'k1'],
      ['none', ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, ''],
      // Broker 3 has no Kafka listener: not a coordinator this client can reach.
      ['on-3', ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, ''],
    ]);
  });

  it('an unknown key type is INVALID_REQUEST and asks nothing; a failed ask is COORDINATOR_NOT_AVAILABLE', async () => {
    const unknown = await call('FindCoordinator', 6, { keyType: 2, coordinatorKeys: ['g'] }, answer);
    expect(unknown.asked).toEqual([]);
    expect((unknown.response.coordinators as KafkaValue[])[0]).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, nodeId: -1 });
    const down = await call('FindCoordinator', 2, { key: 'g', keyType: 0 }, () => new KactusError(ErrorCode.REQUEST_TIMED_OUT, 'no reply'));
    expect(down.response).toMatchObject({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, nodeId: -1, host: '', port: -1 });
  });

  it(`keys past groupsPerRequestMax (${groupApiLimits.groupsPerRequestMax}) are refused, not asked`, async () => {
    const keys = Array.from({ length: groupApiLimits.groupsPerRequestMax + 2 }, (_, i) => `g${i}`);
    const { response, asked } = await call('FindCoordinator', 4, { keyType: 0, coordinatorKeys: keys }, answer);
    expect(asked.filter((a) => a.path === '/groups')).toHaveLength(groupApiLimits.groupsPerRequestMax);
    expect((response.coordinators as KafkaValue[]).slice(-2).map((c) => c.errorCode)).toEqual([ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]);
  });
});

const joinReply = (over: Record<string, unknown> = {}) => ({
  type: 'JoinGroupReply',
  errorCode: 0,
  generationId: 3,
  protocolType: 'consumer',
  protocolName: 'range',
  leader: 'app-1-x',
  skipAssignment: false,
  memberId: 'app-1-x',
  members: [{ memberId: 'app-1-x', groupInstanceId: null, metadata: new Uint8Array([1, 2]) }],
  ...over,
});
const joinBody = { groupId: 'g', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 20_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: Buffer.from([1, 2]) }], reason: 'hi' };

describe('Kafka JoinGroup', () => {
  it('is the native JoinGroup at every version: v0 waits the session timeout, client id and host as Kafka records them', async () => {
    for (const v of versions('JoinGroup')) {
      const { response, asked } = await call('JoinGroup', v, { ...joinBody, memberId: 'app-1-x' }, () => joinReply());
      expect(asked).toHaveLength(1);
      expect(asked[0]!.message).toMatchObject({
        type: 'JoinGroup',
        groupId: 'g',
        memberId: 'app-1-x',
        clientId: 'app-1',
        clientHost: '/10.0.0.9',
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: v === 0 ? 10_000 : 20_000,
        protocolType: 'consumer',
        reason: v >= 8 ? 'hi' : null,
      });
      expect(Buffer.from((asked[0]!.message.protocols as { metadata: Uint8Array }[])[0]!.metadata)).toEqual(Buffer.from([1, 2]));
      expect(asked[0]!.timeoutMs).toBeGreaterThanOrEqual(v === 0 ? 10_000 : 20_000);
      expect(response).toMatchObject({ errorCode: 0, generationId: 3, protocolName: 'range', leader: 'app-1-x', memberId: 'app-1-x' });
    }
  });

  it('v4+ passes MEMBER_ID_REQUIRED through; before v4 the listener joins again with the id handed out', async () => {
    let n = 0;
    const answer: Answer = (_p, m) => (m.memberId === '' ? joinReply({ errorCode: ErrorCode.MEMBER_ID_REQUIRED, memberId: `fresh-${++n}`, generationId: -1, members: [] }) : joinReply({ memberId: m.memberId }));
    const v4 = await call('JoinGroup', 4, joinBody, answer);
    expect(v4.asked).toHaveLength(1);
    expect(v4.response).toMatchObject({ errorCode: ErrorCode.MEMBER_ID_REQUIRED, memberId: 'fresh-1' });
    const v3 = await call('JoinGroup', 3, joinBody, answer);
    expect(v3.asked.map((a) => a.message.memberId)).toEqual(['', 'fresh-2']);
    expect(v3.response).toMatchObject({ errorCode: 0, memberId: 'fresh-2' });
  });

  it('static members: groupInstanceId from v5; skipAssignment from v9, before it a skipping leader gets no members', async () => {
    const answer = () => joinReply({ skipAssignment: true });
    const v5 = await call('JoinGroup', 5, { ...joinBody, groupInstanceId: 'i-1' }, answer);
    expect(v5.asked[0]!.message.groupInstanceId).toBe('i-1');
    expect(v5.response.members).toEqual([]);
    const v4 = await call('JoinGroup', 4, { ...joinBody, groupInstanceId: 'i-1' }, answer);
    expect(v4.asked[0]!.message.groupInstanceId).toBeNull();
    const v9 = await call('JoinGroup', 9, { ...joinBody, groupInstanceId: 'i-1' }, answer);
    expect(v9.response).toMatchObject({ skipAssignment: true });
    expect(v9.response.members).toHaveLength(1);
  });

  it('an error reply (null protocol name) encodes at every version', async () => {
    for (const v of versions('JoinGroup')) {
      const { response } = await call('JoinGroup', v, joinBody, () => joinReply({ errorCode: ErrorCode.NOT_COORDINATOR, protocolType: null, protocolName: null, leader: '', members: [] }));
      expect(response.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
      expect(response.protocolName).toBe(v < 7 ? '' : null);
    }
  });
});

describe('Kafka SyncGroup, Heartbeat, LeaveGroup', () => {
  it('SyncGroup carries the assignment both ways, protocol checks from v5', async () => {
    for (const v of versions('SyncGroup')) {
      const body = { groupId: 'g', generationId: 3, memberId: 'm', groupInstanceId: 'i', protocolType: 'consumer', protocolName: 'range', assignments: [{ memberId: 'm', assignment: Buffer.from([9]) }] };
      const { response, asked } = await call('SyncGroup', v, body, () => ({ type: 'SyncGroupReply', errorCode: 0, protocolType: 'consumer', protocolName: 'range', assignment: new Uint8Array([7, 7]) }));
      expect(asked[0]!.message).toMatchObject({ type: 'SyncGroup', groupId: 'g', generationId: 3, memberId: 'm', groupInstanceId: v >= 3 ? 'i' : null, protocolType: v >= 5 ? 'consumer' : null });
      expect(Buffer.from(response.assignment as Uint8Array)).toEqual(Buffer.from([7, 7]));
    }
  });

  it('Heartbeat passes the coordinator code through', async () => {
    for (const v of versions('Heartbeat')) {
      const { response, asked } = await call('Heartbeat', v, { groupId: 'g', generationId: 3, memberId: 'm', groupInstanceId: null }, () => ({ type: 'HeartbeatReply', errorCode: ErrorCode.REBALANCE_IN_PROGRESS }));
      expect(asked[0]!.message).toMatchObject({ type: 'Heartbeat', groupId: 'g', memberId: 'm', generationId: 3 });
      expect(response.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    }
  });

  it('LeaveGroup: one member before v3 (its error is the response error), a batch from v3', async () => {
    const answer: Answer = (_p, m) => ({
      type: 'LeaveGroupReply',
      errorCode: 0,
      members: (m.members as { memberId: string; groupInstanceId: string | null }[]).map((x) => ({ ...x, errorCode: x.memberId === 'gone' ? ErrorCode.UNKNOWN_MEMBER_ID : 0 })),
    });
    const v2 = await call('LeaveGroup', 2, { groupId: 'g', memberId: 'gone' }, answer);
    expect(v2.asked[0]!.message.members).toEqual([{ memberId: 'gone', groupInstanceId: null, reason: null }]);
    expect(v2.response.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    const v5 = await call('LeaveGroup', 5, { groupId: 'g', members: [{ memberId: 'a', groupInstanceId: null, reason: 'bye' }, { memberId: 'gone', groupInstanceId: 'i', reason: null }] }, answer);
    expect(v5.asked[0]!.message.members).toEqual([{ memberId: 'a', groupInstanceId: null, reason: 'bye' }, { memberId: 'gone', groupInstanceId: 'i', reason: null }]);
    expect(v5.response).toMatchObject({ errorCode: 0, members: [{ memberId: 'a', errorCode: 0 }, { memberId: 'gone', errorCode: ErrorCode.UNKNOWN_MEMBER_ID }] });
    for (const v of versions('LeaveGroup')) await call('LeaveGroup', v, { groupId: 'g', memberId: 'a', members: [{ memberId: 'a' }] }, answer);
  });
});

describe('Kafka OffsetCommit and OffsetFetch', () => {
  const commitAnswer: Answer = (_p, m) => ({
    type: 'OffsetCommitReply',
    results: (m.offsets as { topic: string; partition: number }[]).map((o) => ({ topic: o.topic, partition: o.partition, errorCode: o.partition === 1 ? ErrorCode.ILLEGAL_GENERATION : 0 })),
  });

  it('OffsetCommit: member and generation from v1 (v0 standalone), leader epoch from v6, instance id from v7; answers in request order', async () => {
    for (const v of versions('OffsetCommit')) {
      const body = {
        groupId: 'g',
        generationIdOrMemberEpoch: 4,
        memberId: 'm',
        groupInstanceId: 'i',
        topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 5, committedMetadata: 'md' }, { partitionIndex: 1, committedOffset: 7, committedLeaderEpoch: -1, committedMetadata: null }] }],
      };
      const { response, asked } = await call('OffsetCommit', v, body, commitAnswer);
      expect(asked[0]!.message).toMatchObject({
        type: 'OffsetCommit',
        groupId: 'g',
        memberId: v >= 1 ? 'm' : '',
        generationId: v >= 1 ? 4 : -1,
        groupInstanceId: v >= 7 ? 'i' : null,
        offsets: [
          { topic: 't', partition: 0, offset: 42, leaderEpoch: v >= 6 ? 5 : -1, metadata: 'md' },
          { topic: 't', partition: 1, offset: 7, leaderEpoch: -1, metadata: null },
        ],
      });
      expect(response.topics).toEqual([{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 1, errorCode: ErrorCode.ILLEGAL_GENERATION }] }]);
    }
  });

  it('OffsetCommit: partitions the native validator would refuse the request for are answered here; a coordinator-level code goes to every partition', async () => {
    const body = {
      groupId: 'g',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      topics: [{ name: 't', partitions: [{ partitionIndex: -3, committedOffset: 1, committedMetadata: null }, { partitionIndex: 0, committedOffset: 1, committedMetadata: 'x'.repeat(70_000) }, { partitionIndex: 2, committedOffset: 1, committedMetadata: null }] }],
    };
    const { response, asked } = await call('OffsetCommit', 8, body, commitAnswer);
    expect((asked[0]!.message.offsets as unknown[]).length).toBe(1);
    expect((response.topics as KafkaValue[])[0]!.partitions).toEqual([
      { partitionIndex: -3, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
      { partitionIndex: 0, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE },
      { partitionIndex: 2, errorCode: 0 },
    ]);
    const refused = await call('OffsetCommit', 8, body, () => ({ type: 'OffsetCommitReply', errorCode: ErrorCode.NOT_COORDINATOR, errorMessage: 'elsewhere', results: [] }));
    expect((refused.response.topics as KafkaValue[])[0]!.partitions).toMatchObject([{ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }, { errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE }, { errorCode: ErrorCode.NOT_COORDINATOR }]);
  });

  const fetchAnswer: Answer = (_p, m) =>
    m.groupId === 'moved'
      ? { type: 'OffsetFetchReply', errorCode: ErrorCode.NOT_COORDINATOR, errorMessage: 'elsewhere', offsets: [] }
      : {
          type: 'OffsetFetchReply',
          errorCode: 0,
          offsets: ((m.partitions as { topic: string; partition: number }[] | null) ?? [{ topic: 't', partition: 0 }, { topic: 'u', partition: 3 }])
            .filter((p) => p.partition !== 9)
            .map((p) => ({ ...p, offset: 100 + p.partition, leaderEpoch: 2, metadata: 'md', errorCode: 0 })),
        };

  it('OffsetFetch v0-7: one group, partitions in request order (nothing committed: -1), null topics (v2+) for all', async () => {
    for (const v of versions('OffsetFetch').filter((x) => x < 8)) {
      const { response, asked } = await call('OffsetFetch', v, { groupId: 'g', topics: [{ name: 't', partitionIndexes: [1, 9] }], requireStable: true }, fetchAnswer);
      expect(asked[0]!.message).toMatchObject({ type: 'OffsetFetch', groupId: 'g', partitions: [{ topic: 't', partition: 1 }, { topic: 't', partition: 9 }], requireStable: v >= 7 });
      expect(response.topics).toEqual([
        {
          name: 't',
          partitions: [
            { partitionIndex: 1, committedOffset: 101, committedLeaderEpoch: 2, metadata: 'md', errorCode: 0 },
            { partitionIndex: 9, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
          ],
        },
      ]);
    }
    const all = await call('OffsetFetch', 7, { groupId: 'g', topics: null }, fetchAnswer);
    expect(all.asked[0]!.message.partitions).toBeNull();
    expect((all.response.topics as KafkaValue[]).map((t) => t.name)).toEqual(['t', 'u']);
  });

  it('OffsetFetch: a group error is top-level from v2, in every partition before', async () => {
    const v1 = await call('OffsetFetch', 1, { groupId: 'moved', topics: [{ name: 't', partitionIndexes: [0, 1] }] }, fetchAnswer);
    expect((v1.response.topics as KafkaValue[])[0]!.partitions).toMatchObject([{ errorCode: ErrorCode.NOT_COORDINATOR }, { errorCode: ErrorCode.NOT_COORDINATOR }]);
    const v5 = await call('OffsetFetch', 5, { groupId: 'moved', topics: [{ name: 't', partitionIndexes: [0, 1] }] }, fetchAnswer);
    expect(v5.response).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR, topics: [] });
  });

  it('OffsetFetch v8+: one native ask per group, answered per group', async () => {
    for (const v of [8, 9]) {
      const body = { groups: [{ groupId: 'g', memberId: 'm', memberEpoch: 3, topics: [{ name: 't', partitionIndexes: [0] }] }, { groupId: 'moved', topics: null }, { groupId: 'h', topics: null }], requireStable: false };
      const { response, asked } = await call('OffsetFetch', v, body, fetchAnswer);
      expect(asked.map((a) => a.message.groupId)).toEqual(['g', 'moved', 'h']);
      expect(response.groups).toMatchObject([
        { groupId: 'g', errorCode: 0, topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 100 }] }] },
        { groupId: 'moved', errorCode: ErrorCode.NOT_COORDINATOR, topics: [] },
        { groupId: 'h', errorCode: 0, topics: [{ name: 't' }, { name: 'u' }] },
      ]);
    }
  });
});

describe('Kafka DescribeGroups, ListGroups, DeleteGroups', () => {
  it('DescribeGroups asks per group and names the state, protocol and members', async () => {
    const answer: Answer = (_p, m) => ({
      type: 'DescribeGroupReply',
      errorCode: 0,
      groupId: m.groupId,
      state: 'Stable',
      protocolType: 'consumer',
      protocol: 'range',
      members: [{ memberId: 'm', groupInstanceId: 'i', clientId: 'c', clientHost: '/1.2.3.4', metadata: new Uint8Array([1]), assignment: new Uint8Array([2]) }],
    });
    for (const v of versions('DescribeGroups')) {
      const { response, asked } = await call('DescribeGroups', v, { groups: ['a', 'b'], includeAuthorizedOperations: true }, answer);
      expect(asked.map((a) => a.message)).toEqual([{ type: 'DescribeGroup', groupId: 'a', replyTo: expect.anything() }, { type: 'DescribeGroup', groupId: 'b', replyTo: expect.anything() }]);
      expect((response.groups as KafkaValue[])[1]).toMatchObject({ errorCode: 0, groupId: 'b', groupState: 'Stable', protocolType: 'consumer', protocolData: 'range', members: [{ memberId: 'm', clientHost: '/1.2.3.4' }] });
    }
  });

  it('ListGroups filters by state (v4, any case) and type (v5)', async () => {
    const reply = { type: 'ListGroupsReply' as const, errorCode: 0, groups: [{ groupId: 'a', protocolType: 'consumer', state: 'Stable' as const }, { groupId: 'b', protocolType: 'consumer', state: 'Empty' as const }] };
    for (const v of versions('ListGroups')) await call('ListGroups', v, { statesFilter: ['stable'], typesFilter: [] }, () => reply);
    expect((toKafkaListGroups(4, { statesFilter: ['stable'] }, reply).groups as KafkaValue[]).map((g) => g.groupId)).toEqual(['a']);
    expect((toKafkaListGroups(3, { statesFilter: ['stable'] }, reply).groups as KafkaValue[]).map((g) => g.groupId)).toEqual(['a', 'b']);
    expect(toKafkaListGroups(5, { statesFilter: [], typesFilter: ['consumer'] }, reply).groups).toEqual([]);
    expect((toKafkaListGroups(5, { statesFilter: [], typesFilter: ['Classic'] }, reply).groups as KafkaValue[])[0]).toEqual({ groupId: 'a', protocolType: 'consumer', groupState: 'Stable', groupType: 'classic' });
  });

  it('DeleteGroups asks per group', async () => {
    for (const v of versions('DeleteGroups')) {
      const { response } = await call('DeleteGroups', v, { groupsNames: ['a', 'b'] }, (_p, m) => ({ type: 'DeleteGroupReply', groupId: m.groupId, errorCode: m.groupId === 'b' ? ErrorCode.NON_EMPTY_GROUP : 0 }));
      expect(response.results).toEqual([{ groupId: 'a', errorCode: 0 }, { groupId: 'b', errorCode: ErrorCode.NON_EMPTY_GROUP }]);
    }
  });
});

describe('Kafka OffsetDelete', () => {
  const partition = (p: number) => ({ errorCode: 0, partition: p, leader: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [] });
  const topic = (name: string, count: number) => ({ errorCode: 0, errorMessage: null, name, topicId: `id-${name}`, isInternal: false, partitions: Array.from({ length: count }, (_, p) => partition(p)) });
  const withTopics = { ...metadataReply, topics: [topic('orders', 2), topic('audit', 1)] };
  const body = { groupId: 'g', topics: [{ name: 'orders', partitions: [{ partitionIndex: 0 }, { partitionIndex: 5 }] }, { name: 'gone', partitions: [{ partitionIndex: 0 }] }, { name: 'audit', partitions: [{ partitionIndex: 0 }] }] };
  /** The coordinator's answer: `orders` is subscribed. */
  const coordinator: Answer = (_path, m) => {
    if (m.type === 'Metadata') return withTopics;
    const partitions = m.partitions as { topic: string; partition: number }[];
    return { type: 'OffsetDeleteReply', errorCode: 0, results: partitions.map((p) => ({ ...p, errorCode: p.topic === 'orders' ? ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC : 0 })) };
  };

  it('is served at every version of the JSON; ApiVersions advertises it', () => {
    expect(versions('OffsetDelete')).toEqual([0]);
    expect(apis.get(apiKeys.OffsetDelete!)!.maxVersion).toBe(0);
  });

  it('asks the native OffsetDelete (a message its validator accepts) for the partitions the metadata has; unknown topics and partitions are UNKNOWN_TOPIC_OR_PARTITION here', async () => {
    for (const v of versions('OffsetDelete')) {
      const { response, asked } = await call('OffsetDelete', v, body, coordinator);
      expect(asked.map((a) => a.message.type)).toEqual(['Metadata', 'OffsetDelete']);
      const native = asked[1]!;
      expect(native.path).toBe('/groups');
      expect(native.message).toEqual({ type: 'OffsetDelete', groupId: 'g', partitions: [{ topic: 'orders', partition: 0 }, { topic: 'audit', partition: 0 }], replyTo: { node: 'n', path: '/temp/1' } });
      expect(isInvalid(validateWireRequest(native.message))).toBe(false);
      expect(response).toEqual({
        errorCode: 0,
        throttleTimeMs: 0,
        topics: [
          { name: 'orders', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }, { partitionIndex: 5, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
          { name: 'gone', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
          { name: 'audit', partitions: [{ partitionIndex: 0, errorCode: 0 }] },
        ],
      });
    }
  });

  it('a group-level code is the top-level code with no topics; the group is asked even when no partition is left', async () => {
    for (const code of [ErrorCode.GROUP_ID_NOT_FOUND, ErrorCode.NON_EMPTY_GROUP, ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]) {
      const { response, asked } = await call('OffsetDelete', 0, { groupId: 'g', topics: [{ name: 'gone', partitions: [{ partitionIndex: 0 }] }] }, (_p, m) =>
        m.type === 'Metadata' ? withTopics : { type: 'OffsetDeleteReply', errorCode: code, errorMessage: 'x', results: [] },
      );
      expect(asked[1]!.message.partitions).toEqual([]);
      expect(response).toEqual({ errorCode: code, throttleTimeMs: 0, topics: [] });
    }
    const timedOut = await call('OffsetDelete', 0, body, (_p, m) => (m.type === 'Metadata' ? withTopics : new KactusError(ErrorCode.REQUEST_TIMED_OUT, 'no reply')));
    expect(timedOut.response).toEqual({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, throttleTimeMs: 0, topics: [] });
  });

  it(`partitions past partitionsPerRequestMax (${wireLimits.partitionsPerRequestMax}) are INVALID_REQUEST, not asked`, async () => {
    const many = wireLimits.partitionsPerRequestMax + 2;
    const big = { ...metadataReply, topics: [topic('orders', many)] };
    const { response, asked } = await call('OffsetDelete', 0, { groupId: 'g', topics: [{ name: 'orders', partitions: Array.from({ length: many }, (_, i) => ({ partitionIndex: i })) }] }, (_p, m) =>
      m.type === 'Metadata' ? big : coordinator(_p, m),
    );
    expect((asked[1]!.message.partitions as unknown[]).length).toBe(wireLimits.partitionsPerRequestMax);
    const codes = ((response.topics as KafkaValue[])[0]!.partitions as KafkaValue[]).map((p) => p.errorCode);
    expect(codes.slice(-3)).toEqual([ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]);
  });

  it('the native validator bounds the partition list and checks every field', () => {
    const replyTo = { node: 'n', path: '/temp/1' };
    const ok = { type: 'OffsetDelete', groupId: 'g', partitions: [{ topic: 't', partition: 0 }], replyTo };
    expect(isInvalid(validateWireRequest(ok))).toBe(false);
    for (const bad of [
      { ...ok, partitions: Array.from({ length: wireLimits.partitionsPerRequestMax + 1 }, () => ({ topic: 't', partition: 0 })) },
      { ...ok, partitions: [{ topic: 't', partition: -1 }] },
      { ...ok, partitions: [{ topic: 'x'.repeat(wireLimits.topicCharsMax + 1), partition: 0 }] },
      { ...ok, partitions: null },
      { ...ok, groupId: 7 },
      { ...ok, replyTo: 'r' },
    ]) {
      expect(isInvalid(validateWireRequest(bad))).toBe(true);
    }
  });
});

describe('Kafka group APIs: odd but decodable requests', () => {
  /** A native reply of the right shape for whatever was asked (what the coordinator's replies look like), or a failed ask. */
  const plausible: Answer = (path, m) => {
    if (JSON.stringify(m.groupId ?? m.key ?? '').length % 7 === 3) return new KactusError(ErrorCode.REQUEST_TIMED_OUT, 'no reply');
    const list = <T>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : []);
    switch (m.type) {
      case 'Metadata':
        return metadataReply;
      case 'FindCoordinator':
      case 'FindTxnCoordinator':
        return { type: 'FindCoordinatorReply', errorCode: 0, errorMessage: null, nodeId: 2, host: 'h', port: 1 };
      case 'JoinGroup':
        return joinReply({ memberId: m.memberId || 'new-member', members: list<{ name: string; metadata: Uint8Array }>(m.protocols).map((p) => ({ memberId: p.name, groupInstanceId: null, metadata: p.metadata })) });
      case 'SyncGroup':
        return { type: 'SyncGroupReply', errorCode: 0, protocolType: m.protocolType, protocolName: m.protocolName, assignment: new Uint8Array([1]) };
      case 'Heartbeat':
        return { type: 'HeartbeatReply', errorCode: 0 };
      case 'LeaveGroup':
        return { type: 'LeaveGroupReply', errorCode: 0, members: list<{ memberId: string; groupInstanceId: string | null }>(m.members).map((x) => ({ memberId: x.memberId, groupInstanceId: x.groupInstanceId, errorCode: 0 })) };
      case 'OffsetCommit':
        return { type: 'OffsetCommitReply', results: list<{ topic: string; partition: number }>(m.offsets).map((o) => ({ topic: o.topic, partition: o.partition, errorCode: 0 })) };
      case 'OffsetFetch':
        return { type: 'OffsetFetchReply', errorCode: 0, offsets: (m.partitions === null ? [{ topic: 't', partition: 0 }] : list<{ topic: string; partition: number }>(m.partitions)).map((p) => ({ ...p, offset: 5, leaderEpoch: -1, metadata: '', errorCode: 0 })) };
      case 'DescribeGroup':
        return { type: 'DescribeGroupReply', errorCode: 0, groupId: m.groupId, state: 'Empty', protocolType: '', protocol: '', members: [] };
      case 'DeleteGroup':
        return { type: 'DeleteGroupReply', groupId: m.groupId, errorCode: 0 };
      case 'OffsetDelete':
        return { type: 'OffsetDeleteReply', errorCode: 0, results: list<{ topic: string; partition: number }>(m.partitions).map((p) => ({ ...p, errorCode: 0 })) };
      case 'ListGroups':
        return { type: 'ListGroupsReply', errorCode: 0, groups: [{ groupId: 'a', protocolType: 'consumer', state: 'Stable' }] };
      default:
        throw new Error(`unexpected native ask ${String(m.type)} to ${path}`);
    }
  };

  it('random requests of every served version (seeded) are answered with a response that encodes', async () => {
    const seed = Number(process.env.SEED ?? 18);
    const rng = seededRng(seed);
    for (const name of Object.keys(groupApis)) {
      const api = apis.get(apiKeys[name]!)!;
      for (const v of versions(name)) {
        for (let i = 0; i < 40; i++) {
          const body = randomRequestBody(rng, api, v);
          try {
            await call(name, v, body, plausible);
          } catch (err) {
            throw new Error(`seed ${seed}: ${name} v${v} #${i}: ${(err as Error).message}`);
          }
        }
      }
    }
  });
});
