/**
 * The consumer-group APIs of the Kafka listener: FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
 * DescribeGroups, ListGroups, DeleteGroups and OffsetDelete, translated into the native
 * messages of `/groups` (actors/group-coordinator/actor-messages.ts) and,
 * for transaction keys, `/transactions` (FindTxnCoordinator), asked of this
 * node's actors with `node.askAsClient`.
 *
 * Owns: `groupApis` (the ServedApis table handlers.ts merges),
 * `groupApiLimits`, and the pure translations (`toNative*` / `toKafka*`),
 * exported for the tests.
 *
 * No group logic lives here. The native coordinator already speaks Kafka's
 * group protocol (member ids, generations, static membership, rebalance and
 * session timeouts, Kafka's error codes, the consumer protocol's bytes), so a
 * member that joins through this listener and one that joins through the
 * native client are members of the same group. What this module does is
 * Kafka's per-version framing of the same questions:
 * - FindCoordinator: the native answer names the coordinator's broker id; its
 *   address is the one it registered for the listener the request arrived on
 *   (the native Metadata reply's `brokers[].listeners`). A coordinator
 *   without that listener (or not live) is COORDINATOR_NOT_AVAILABLE, as a
 *   leaderless offsets partition is; the native side creates the internal
 *   topic on the first FindCoordinator, exactly as for a native client.
 *   Key type 0 (group) and 1 (transaction); any other (share, v6) is
 *   INVALID_REQUEST, Kafka's answer to a key type it does not serve.
 * - JoinGroup v0 has no rebalance timeout: Kafka uses the session timeout.
 *   Before v4 a client does not know MEMBER_ID_REQUIRED (KIP-394): Kafka does
 *   not ask it for one; here the coordinator always does, so the listener
 *   joins again at once with the id handed out, as a v4 client would.
 *   Before v9 there is no skipAssignment (KIP-814): a static leader that
 *   rejoins a stable group gets no member list then, as from Kafka before it.
 * - LeaveGroup before v3 names one member, and its error is the response's.
 * - OffsetCommit: v0 is a standalone commit (no member, generation -1);
 *   retentionTimeMs (v2-4) and commitTimestamp (v1) are not kept (offsets
 *   expire after offsets.retention.minutes). Partitions the coordinator's
 *   validator would refuse the whole request for (negative index, a topic
 *   name too long to exist, an offset beyond 2^53, metadata over its bound)
 *   are answered per partition here, as Kafka answers them.
 * - OffsetFetch v8+ asks one native OffsetFetch per group; before v2 a
 *   group-level error is written into every partition (there is no top-level
 *   code); v9's memberId / memberEpoch are KIP-848 fields a classic group
 *   ignores, as Kafka's does.
 * - DescribeGroups / DeleteGroups ask once per group; ListGroups filters by
 *   state (v4, case-insensitive, as Kafka parses them) and type (v5: every
 *   group here is "classic").
 * - Authorized operations are not computed (no ACLs yet, #19): Kafka's
 *   "omitted" value.
 * - An ask that fails (timeout, no `/groups`, this node's ask bound) is
 *   COORDINATOR_NOT_AVAILABLE: a Kafka client then finds the coordinator
 *   again and retries, which is what a coordinator that does not answer
 *   needs.
 *
 * - OffsetDelete is KafkaApis.handleOffsetDeleteRequest: partitions of a topic
 *   or partition this broker's metadata does not have are
 *   UNKNOWN_TOPIC_OR_PARTITION here and not asked; the rest go to the native
 *   OffsetDelete (at most wireLimits.partitionsPerRequestMax; beyond it
 *   INVALID_REQUEST per partition). A group-level error (GROUP_ID_NOT_FOUND,
 *   NON_EMPTY_GROUP, NOT_COORDINATOR, ...) is the top-level code with no
 *   topics, as Kafka's error response, the refusals made here included;
 *   GROUP_SUBSCRIBED_TO_TOPIC is per partition with the top level NONE.
 *
 * Untrusted input: the codec bounds decoding and types every field; the
 * native validators check every value again. Counts of asks per request are
 * bounded here (`groupApiLimits`).
 *
 * Imports: protocol/, runtime/ types, the group coordinator's message types.
 */
import { ErrorCode, toErrorCode } from '../../protocol/errors.ts';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import { wireLimits, type FindCoordinatorReply, type ListGroupsReply } from '../group-coordinator/actor-messages.ts';
import type {
  DeleteGroupReply,
  DescribeGroupReply,
  HeartbeatReply,
  JoinGroupReply,
  LeaveGroupReply,
  OffsetCommitReply,
  OffsetDeleteReply,
  OffsetFetchReply,
  SyncGroupReply,
} from '../group-coordinator/group-logic.ts';
import type { MetadataResponse } from '../controller/metadata/index.ts';
import { authorizedOperationsOmitted } from './metadata.ts';
import { kafkaGatewayAskTimeoutMs, type HandlerDeps, type ServedApis } from './served.ts';

export const groupApiLimits = Object.freeze({
  /** Groups (or coordinator keys) one DescribeGroups, DeleteGroups, OffsetFetch v8+ or FindCoordinator v4+ asks about; the rest answer INVALID_REQUEST. */
  groupsPerRequestMax: 1_000,
  /** Native asks one such request has in flight at once. */
  asksInFlightPerRequestMax: 32,
  /** The longest a JoinGroup or SyncGroup waits at the coordinator (a longer rebalance timeout is cut to it), beyond kafkaGatewayAskTimeoutMs. */
  groupWaitMsMax: 15 * 60_000,
});

const groupsPath = '/groups';
const transactionsPath = '/transactions';
/** Kafka's FindCoordinator key types. */
const keyTypeGroup = 0;
const keyTypeTransaction = 1;
/** Kafka's group type of every group here (ListGroups v5). */
const classicGroupType = 'classic';

// ---------------------------------------------------------------- small readers of decoded values

// The codec gives each field its schema type; these only keep an odd but decodable value from throwing.
const text = (x: unknown): string => (typeof x === 'string' ? x : '');
const textOrNull = (x: unknown): string | null => (typeof x === 'string' ? x : null);
const int = (x: unknown, fallback: number): number => (typeof x === 'number' && Number.isFinite(x) ? x : fallback);
const list = <T = KafkaValue>(x: unknown): T[] => (Array.isArray(x) ? (x as T[]) : []);
const bytesOf = (x: unknown): Uint8Array => (x instanceof Uint8Array ? x : new Uint8Array(0));

type NativeBody = Record<string, unknown> & { type: string };

/** The code an ask that got no answer stands for (see the header). */
export function askFailureCode(err: unknown): number {
  const code = toErrorCode(err);
  switch (code) {
    case ErrorCode.REQUEST_TIMED_OUT:
    case ErrorCode.BROKER_NOT_AVAILABLE:
    case ErrorCode.THROTTLING_QUOTA_EXCEEDED:
    case ErrorCode.NETWORK_EXCEPTION:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    default:
      return code;
  }
}

/** Asks `path` of this node as a client would; a failure becomes `{ failed: code }`. */
async function ask<R>(deps: HandlerDeps, path: string, body: NativeBody, timeoutMs = kafkaGatewayAskTimeoutMs): Promise<R | { failed: number }> {
  try {
    return await deps.node.askAsClient<unknown, R>(path, (replyTo) => ({ ...body, replyTo }), { timeoutMs, caller: deps.caller });
  } catch (err) {
    return { failed: askFailureCode(err) };
  }
}
const failed = (x: unknown): x is { failed: number } => typeof x === 'object' && x !== null && 'failed' in x;

/** `fn` over `items`, at most `limit` at once, results in order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The first `groupsPerRequestMax` items are asked about; the rest are answered with INVALID_REQUEST. */
async function perItem<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, refused: (item: T) => R): Promise<R[]> {
  const L = groupApiLimits;
  const asked = await mapBounded(items.slice(0, L.groupsPerRequestMax), L.asksInFlightPerRequestMax, fn);
  return [...asked, ...items.slice(L.groupsPerRequestMax).map(refused)];
}

// ---------------------------------------------------------------- FindCoordinator

export type CoordinatorLookup = { key: string; errorCode: number; errorMessage: string | null; nodeId: number };
type Endpoint = { nodeId: number; host: string; port: number };

/** The keys a FindCoordinator asks about and their type. */
export function coordinatorKeysOf(version: number, body: KafkaValue): { keyType: number; keys: string[] } {
  const keyType = version >= 1 ? int(body.keyType, keyTypeGroup) : keyTypeGroup;
  const keys = version >= 4 ? list<unknown>(body.coordinatorKeys).map(text) : [text(body.key)];
  return { keyType, keys };
}

/** The native question for one key, or null for a key type not served. */
export function toNativeFindCoordinator(keyType: number, key: string): { path: string; body: NativeBody } | null {
  if (keyType === keyTypeGroup) return { path: groupsPath, body: { type: 'FindCoordinator', key, keyType: 0 } };
  if (keyType === keyTypeTransaction) return { path: transactionsPath, body: { type: 'FindTxnCoordinator', transactionalId: key } };
  return null;
}

/** One key's answer with the coordinator's address on `listenerName` (COORDINATOR_NOT_AVAILABLE without one). */
export function coordinatorEndpoint(lookup: CoordinatorLookup, brokers: MetadataResponse['brokers'], listenerName: string): { key: string; errorCode: number; errorMessage: string | null } & Endpoint {
  const none = (errorCode: number, errorMessage: string | null) => ({ key: lookup.key, errorCode, errorMessage, nodeId: -1, host: '', port: -1 });
  if (lookup.errorCode !== ErrorCode.NONE) return none(lookup.errorCode, lookup.errorMessage);
  const endpoint = brokers.find((b) => b.brokerId === lookup.nodeId)?.listeners.find((l) => l.name === listenerName);
  if (endpoint === undefined) return none(ErrorCode.COORDINATOR_NOT_AVAILABLE, `broker ${lookup.nodeId} has no live ${listenerName} listener`);
  return { key: lookup.key, errorCode: ErrorCode.NONE, errorMessage: null, nodeId: lookup.nodeId, host: endpoint.host, port: endpoint.port };
}

/** The FindCoordinator response body for the answers in key order. */
export function toKafkaFindCoordinator(version: number, answers: ReturnType<typeof coordinatorEndpoint>[]): KafkaValue {
  if (version >= 4) return { throttleTimeMs: 0, coordinators: answers };
  const a = answers[0] ?? { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'no key', nodeId: -1, host: '', port: -1 };
  return { throttleTimeMs: 0, errorCode: a.errorCode, errorMessage: a.errorMessage, nodeId: a.nodeId, host: a.host, port: a.port };
}

async function findCoordinator(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const { keyType, keys } = coordinatorKeysOf(version, body);
  const lookups = await perItem(
    keys,
    async (key): Promise<CoordinatorLookup> => {
      const native = toNativeFindCoordinator(keyType, key);
      if (native === null) return { key, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `coordinator key type ${keyType} is not served`, nodeId: -1 };
      const reply = await ask<FindCoordinatorReply>(deps, native.path, native.body);
      if (failed(reply)) return { key, errorCode: reply.failed, errorMessage: null, nodeId: -1 };
      return { key, errorCode: int(reply.errorCode, ErrorCode.UNKNOWN_SERVER_ERROR), errorMessage: textOrNull(reply.errorMessage), nodeId: int(reply.nodeId, -1) };
    },
    (key) => ({ key, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `more than ${groupApiLimits.groupsPerRequestMax} keys`, nodeId: -1 }),
  );
  let brokers: MetadataResponse['brokers'] = [];
  if (lookups.some((l) => l.errorCode === ErrorCode.NONE)) {
    const metadata = await ask<MetadataResponse>(deps, '/broker', { type: 'Metadata', topics: [], allowAutoTopicCreation: false });
    if (failed(metadata)) {
      for (const l of lookups) if (l.errorCode === ErrorCode.NONE) l.errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
    } else brokers = metadata.brokers;
  }
  return toKafkaFindCoordinator(version, lookups.map((l) => coordinatorEndpoint(l, brokers, deps.listenerName)));
}

// ---------------------------------------------------------------- JoinGroup, SyncGroup, Heartbeat, LeaveGroup

export type ClientInfo = { clientId: string; clientHost: string };

/** The request's client id and address as Kafka records them for a member ("/" + address). */
export function clientInfoOf(clientId: string | null, remoteAddress: string): ClientInfo {
  return { clientId: (clientId ?? '').slice(0, wireLimits.clientIdCharsMax), clientHost: `/${remoteAddress}`.slice(0, wireLimits.clientHostCharsMax) };
}

export function toNativeJoinGroup(version: number, body: KafkaValue, client: ClientInfo): NativeBody {
  const sessionTimeoutMs = int(body.sessionTimeoutMs, 0);
  return {
    type: 'JoinGroup',
    groupId: text(body.groupId),
    memberId: text(body.memberId),
    groupInstanceId: version >= 5 ? textOrNull(body.groupInstanceId) : null,
    clientId: client.clientId,
    clientHost: client.clientHost,
    sessionTimeoutMs,
    // v0 has no rebalance timeout: Kafka waits the session timeout.
    rebalanceTimeoutMs: version >= 1 ? int(body.rebalanceTimeoutMs, -1) : sessionTimeoutMs,
    protocolType: text(body.protocolType),
    protocols: list(body.protocols).map((p) => ({ name: text(p.name), metadata: bytesOf(p.metadata) })),
    reason: version >= 8 ? textOrNull(body.reason) : null,
  };
}

export function toKafkaJoinGroup(version: number, reply: JoinGroupReply): KafkaValue {
  // Before v9 a static leader that may skip the assignment gets no members (Kafka before KIP-814).
  const members = version < 9 && reply.skipAssignment ? [] : reply.members;
  return {
    throttleTimeMs: 0,
    errorCode: reply.errorCode,
    generationId: reply.generationId,
    protocolType: reply.protocolType,
    // Not nullable before v7: Kafka writes "".
    protocolName: version < 7 ? (reply.protocolName ?? '') : reply.protocolName,
    leader: reply.leader,
    skipAssignment: reply.skipAssignment,
    memberId: reply.memberId,
    members: members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadata })),
  };
}

const joinError = (errorCode: number, memberId: string): JoinGroupReply => ({
  type: 'JoinGroupReply',
  errorCode,
  generationId: -1,
  protocolType: null,
  protocolName: null,
  leader: '',
  skipAssignment: false,
  memberId,
  members: [],
});

/** How long a JoinGroup or SyncGroup may wait for its answer. */
export function groupWaitTimeoutMs(rebalanceTimeoutMs: number): number {
  return Math.min(Math.max(rebalanceTimeoutMs, 0), groupApiLimits.groupWaitMsMax) + kafkaGatewayAskTimeoutMs;
}

async function joinGroup(version: number, body: KafkaValue, deps: HandlerDeps, client: ClientInfo): Promise<KafkaValue> {
  const native = toNativeJoinGroup(version, body, client);
  const timeoutMs = groupWaitTimeoutMs(Math.max(native.rebalanceTimeoutMs as number, native.sessionTimeoutMs as number));
  let reply = await ask<JoinGroupReply>(deps, groupsPath, native, timeoutMs);
  // Before v4 the client cannot take MEMBER_ID_REQUIRED: join again with the id handed out, as a v4 client does.
  if (version < 4 && !failed(reply) && reply.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
    reply = await ask<JoinGroupReply>(deps, groupsPath, { ...native, memberId: reply.memberId }, timeoutMs);
  }
  return toKafkaJoinGroup(version, failed(reply) ? joinError(reply.failed, native.memberId as string) : reply);
}

export function toNativeSyncGroup(version: number, body: KafkaValue): NativeBody {
  return {
    type: 'SyncGroup',
    groupId: text(body.groupId),
    memberId: text(body.memberId),
    groupInstanceId: version >= 3 ? textOrNull(body.groupInstanceId) : null,
    generationId: int(body.generationId, -1),
    protocolType: version >= 5 ? textOrNull(body.protocolType) : null,
    protocolName: version >= 5 ? textOrNull(body.protocolName) : null,
    assignments: list(body.assignments).map((a) => ({ memberId: text(a.memberId), assignment: bytesOf(a.assignment) })),
  };
}

export function toKafkaSyncGroup(reply: SyncGroupReply | { failed: number }): KafkaValue {
  if (failed(reply)) return { throttleTimeMs: 0, errorCode: reply.failed, protocolType: null, protocolName: null, assignment: new Uint8Array(0) };
  return { throttleTimeMs: 0, errorCode: reply.errorCode, protocolType: reply.protocolType, protocolName: reply.protocolName, assignment: bytesOf(reply.assignment) };
}

export function toNativeHeartbeat(version: number, body: KafkaValue): NativeBody {
  return {
    type: 'Heartbeat',
    groupId: text(body.groupId),
    memberId: text(body.memberId),
    groupInstanceId: version >= 3 ? textOrNull(body.groupInstanceId) : null,
    generationId: int(body.generationId, -1),
  };
}

export function toNativeLeaveGroup(version: number, body: KafkaValue): NativeBody {
  const members =
    version >= 3
      ? list(body.members).map((m) => ({ memberId: text(m.memberId), groupInstanceId: textOrNull(m.groupInstanceId), reason: version >= 5 ? textOrNull(m.reason) : null }))
      : [{ memberId: text(body.memberId), groupInstanceId: null, reason: null }];
  return { type: 'LeaveGroup', groupId: text(body.groupId), members };
}

export function toKafkaLeaveGroup(version: number, reply: LeaveGroupReply | { failed: number }): KafkaValue {
  if (failed(reply)) return { throttleTimeMs: 0, errorCode: reply.failed, members: [] };
  if (version >= 3) return { throttleTimeMs: 0, errorCode: reply.errorCode, members: reply.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: m.errorCode })) };
  // One member before v3: its error is the response's (Kafka's LeaveGroupResponse for old versions).
  const memberError = reply.members.find((m) => m.errorCode !== ErrorCode.NONE)?.errorCode ?? ErrorCode.NONE;
  return { throttleTimeMs: 0, errorCode: reply.errorCode !== ErrorCode.NONE ? reply.errorCode : memberError };
}

// ---------------------------------------------------------------- OffsetCommit, OffsetFetch

const tpKey = (topic: string, partition: number): string => `${partition}:${topic}`;

/** The per-partition answer Kafka gives a partition the native validator would refuse the whole request for, or null. */
function commitRefusal(topic: string, partition: number, offset: number, metadata: string | null): number | null {
  if (topic.length > wireLimits.topicCharsMax || !Number.isInteger(partition) || partition < 0) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  if (!Number.isSafeInteger(offset)) return ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
  if (metadata !== null && metadata.length > wireLimits.offsetMetadataCharsMax) return ErrorCode.OFFSET_METADATA_TOO_LARGE;
  return null;
}

export type CommitPlan = {
  /** The native request (null: nothing left to ask). */
  native: NativeBody | null;
  /** Request order, for the response: each partition with the code answered here, or null (the coordinator's). */
  topics: { name: string; partitions: { partitionIndex: number; refused: number | null }[] }[];
};

export function toNativeOffsetCommit(version: number, body: KafkaValue): CommitPlan {
  const offsets: { topic: string; partition: number; offset: number; leaderEpoch: number; metadata: string | null }[] = [];
  const topics = list(body.topics).map((t) => {
    const name = text(t.name);
    return {
      name,
      partitions: list(t.partitions).map((p) => {
        const partitionIndex = int(p.partitionIndex, -1);
        const offset = int(p.committedOffset, -1);
        const metadata = textOrNull(p.committedMetadata);
        const refused = commitRefusal(name, partitionIndex, offset, metadata);
        if (refused === null) {
          const epoch = version >= 6 ? int(p.committedLeaderEpoch, -1) : -1;
          offsets.push({ topic: name, partition: partitionIndex, offset, leaderEpoch: epoch < 0 ? -1 : epoch, metadata });
        }
        return { partitionIndex, refused };
      }),
    };
  });
  const native =
    offsets.length === 0
      ? null
      : {
          type: 'OffsetCommit',
          groupId: text(body.groupId),
          // v0 carries no member: a standalone commit.
          memberId: version >= 1 ? text(body.memberId) : '',
          groupInstanceId: version >= 7 ? textOrNull(body.groupInstanceId) : null,
          generationId: version >= 1 ? int(body.generationIdOrMemberEpoch, -1) : -1,
          offsets,
        };
  return { native, topics };
}

export function toKafkaOffsetCommit(plan: CommitPlan, reply: (OffsetCommitReply & { errorCode?: number }) | { failed: number } | null): KafkaValue {
  const whole = reply === null ? ErrorCode.NONE : failed(reply) ? reply.failed : int(reply.errorCode, ErrorCode.NONE);
  const results = new Map<string, number>();
  if (reply !== null && !failed(reply)) for (const r of list<OffsetCommitReply['results'][number]>(reply.results)) results.set(tpKey(r.topic, r.partition), r.errorCode);
  return {
    throttleTimeMs: 0,
    topics: plan.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode: p.refused ?? (whole !== ErrorCode.NONE ? whole : (results.get(tpKey(t.name, p.partitionIndex)) ?? ErrorCode.UNKNOWN_SERVER_ERROR)),
      })),
    })),
  };
}

export type FetchGroup = { groupId: string; topics: { name: string; partitionIndexes: number[] }[] | null };

/** The groups an OffsetFetch asks about (one before v8), with the topics each names (null: all). */
export function offsetFetchGroupsOf(version: number, body: KafkaValue): FetchGroup[] {
  const topicsOf = (x: unknown): FetchGroup['topics'] =>
    x === null ? null : list(x).map((t) => ({ name: text(t.name), partitionIndexes: list<unknown>(t.partitionIndexes).map((p) => int(p, -1)) }));
  if (version >= 8) return list(body.groups).map((g) => ({ groupId: text(g.groupId), topics: topicsOf(g.topics) }));
  return [{ groupId: text(body.groupId), topics: topicsOf(body.topics) }];
}

export function toNativeOffsetFetch(group: FetchGroup, requireStable: boolean): NativeBody {
  const partitions =
    group.topics === null
      ? null
      : group.topics.flatMap((t) =>
          // A partition the validator would refuse the request for has nothing committed: left out, answered -1 below.
          t.name.length > wireLimits.topicCharsMax ? [] : t.partitionIndexes.filter((p) => p >= 0).map((partition) => ({ topic: t.name, partition })),
        );
  return { type: 'OffsetFetch', groupId: group.groupId, partitions, requireStable };
}

type FetchedTopic = { name: string; partitions: { partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; metadata: string | null; errorCode: number }[] };

/** One group's answer: its code and its topics (in request order when it named them). */
export function fetchedOffsets(group: FetchGroup, reply: (OffsetFetchReply & { errorMessage?: string }) | { failed: number }): { errorCode: number; topics: FetchedTopic[] } {
  const errorCode = failed(reply) ? reply.failed : int(reply.errorCode, ErrorCode.NONE);
  if (errorCode !== ErrorCode.NONE) return { errorCode, topics: [] };
  const offsets = list<OffsetFetchReply['offsets'][number]>((reply as OffsetFetchReply).offsets);
  const entry = (o: OffsetFetchReply['offsets'][number]) => ({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: o.leaderEpoch, metadata: o.metadata, errorCode: o.errorCode });
  if (group.topics === null) {
    const byTopic = new Map<string, FetchedTopic>();
    for (const o of offsets) {
      let t = byTopic.get(o.topic);
      if (t === undefined) byTopic.set(o.topic, (t = { name: o.topic, partitions: [] }));
      t.partitions.push(entry(o));
    }
    return { errorCode, topics: [...byTopic.values()] };
  }
  const found = new Map(offsets.map((o) => [tpKey(o.topic, o.partition), o] as const));
  return {
    errorCode,
    topics: group.topics.map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((p) => {
        const o = found.get(tpKey(t.name, p));
        return o === undefined ? { partitionIndex: p, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.NONE } : entry(o);
      }),
    })),
  };
}

export function toKafkaOffsetFetch(version: number, groups: FetchGroup[], answers: { errorCode: number; topics: FetchedTopic[] }[]): KafkaValue {
  if (version >= 8) return { throttleTimeMs: 0, groups: groups.map((g, i) => ({ groupId: g.groupId, topics: answers[i]!.topics, errorCode: answers[i]!.errorCode })) };
  const group = groups[0]!;
  const answer = answers[0]!;
  if (version < 2 && answer.errorCode !== ErrorCode.NONE) {
    // No top-level code before v2: the group's error goes into every partition asked for (Kafka's getErrorResponse).
    const topics = (group.topics ?? []).map((t) => ({
      name: t.name,
      partitions: t.partitionIndexes.map((p) => ({ partitionIndex: p, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: answer.errorCode })),
    }));
    return { throttleTimeMs: 0, topics };
  }
  return { throttleTimeMs: 0, topics: answer.topics, errorCode: answer.errorCode };
}

async function offsetFetch(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const groups = offsetFetchGroupsOf(version, body);
  const requireStable = version >= 7 && body.requireStable === true;
  const answers = await perItem(
    groups,
    async (group) => fetchedOffsets(group, await ask<OffsetFetchReply>(deps, groupsPath, toNativeOffsetFetch(group, requireStable))),
    () => ({ errorCode: ErrorCode.INVALID_REQUEST, topics: [] }),
  );
  return toKafkaOffsetFetch(version, groups, answers);
}

// ---------------------------------------------------------------- DescribeGroups, ListGroups, DeleteGroups

export function toKafkaDescribedGroup(groupId: string, reply: DescribeGroupReply | { failed: number }): KafkaValue {
  if (failed(reply)) return { errorCode: reply.failed, groupId, groupState: 'Dead', protocolType: '', protocolData: '', members: [], authorizedOperations: authorizedOperationsOmitted };
  return {
    errorCode: reply.errorCode,
    groupId: reply.groupId === '' ? groupId : reply.groupId,
    groupState: reply.state,
    protocolType: reply.protocolType,
    protocolData: reply.protocol,
    members: reply.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberMetadata: bytesOf(m.metadata),
      memberAssignment: bytesOf(m.assignment),
    })),
    authorizedOperations: authorizedOperationsOmitted,
  };
}

export function toKafkaListGroups(version: number, body: KafkaValue, reply: ListGroupsReply | { failed: number }): KafkaValue {
  if (failed(reply)) return { throttleTimeMs: 0, errorCode: reply.failed, groups: [] };
  const states = new Set((version >= 4 ? list<unknown>(body.statesFilter) : []).map((s) => text(s).toLowerCase()));
  const types = new Set((version >= 5 ? list<unknown>(body.typesFilter) : []).map((s) => text(s).toLowerCase()));
  const groups = reply.groups
    .filter((g) => (states.size === 0 || states.has(g.state.toLowerCase())) && (types.size === 0 || types.has(classicGroupType)))
    .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state, groupType: classicGroupType }));
  return { throttleTimeMs: 0, errorCode: reply.errorCode, groups };
}

// ---------------------------------------------------------------- OffsetDelete

export type DeletePlan = {
  /** The native request; asked even with no partition left, for the group's own errors (see offsetDelete). */
  native: NativeBody;
  /** Request order: each partition with the code answered here, or null (the coordinator's). */
  topics: { name: string; partitions: { partitionIndex: number; refused: number | null }[] }[];
};

/** The native OffsetDelete for the partitions `topics` (this broker's metadata) has; the others are refused here. */
export function toNativeOffsetDelete(body: KafkaValue, topics: MetadataResponse['topics']): DeletePlan {
  const known = new Map(topics.filter((t) => t.errorCode === ErrorCode.NONE).map((t) => [t.name, new Set(t.partitions.map((p) => p.partition))] as const));
  const partitions: { topic: string; partition: number }[] = [];
  const planned = list(body.topics).map((t) => {
    const name = text(t.name);
    const existing = known.get(name);
    return {
      name,
      partitions: list(t.partitions).map((p): { partitionIndex: number; refused: number | null } => {
        const partitionIndex = int(p.partitionIndex, -1);
        if (existing === undefined || !existing.has(partitionIndex)) return { partitionIndex, refused: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
        if (partitions.length >= wireLimits.partitionsPerRequestMax) return { partitionIndex, refused: ErrorCode.INVALID_REQUEST };
        partitions.push({ topic: name, partition: partitionIndex });
        return { partitionIndex, refused: null };
      }),
    };
  });
  return { native: { type: 'OffsetDelete', groupId: text(body.groupId), partitions }, topics: planned };
}

export function toKafkaOffsetDelete(plan: DeletePlan, reply: OffsetDeleteReply | { failed: number }): KafkaValue {
  const errorCode = failed(reply) ? reply.failed : int(reply.errorCode, ErrorCode.UNKNOWN_SERVER_ERROR);
  // Kafka's error response: the top-level code and no topics.
  if (errorCode !== ErrorCode.NONE) return { errorCode, throttleTimeMs: 0, topics: [] };
  const results = new Map<string, number>();
  for (const r of list<OffsetDeleteReply['results'][number]>((reply as OffsetDeleteReply).results)) results.set(tpKey(r.topic, r.partition), r.errorCode);
  return {
    errorCode,
    throttleTimeMs: 0,
    topics: plan.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: p.refused ?? results.get(tpKey(t.name, p.partitionIndex)) ?? ErrorCode.UNKNOWN_SERVER_ERROR })),
    })),
  };
}

async function offsetDelete(body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const metadata = await ask<MetadataResponse>(deps, '/broker', { type: 'Metadata', topics: null, allowAutoTopicCreation: false });
  if (failed(metadata)) return { errorCode: metadata.failed, throttleTimeMs: 0, topics: [] };
  const plan = toNativeOffsetDelete(body, metadata.topics);
  // The coordinator is asked even when every partition was refused here: the group's own errors come first, as in Kafka.
  return toKafkaOffsetDelete(plan, await ask<OffsetDeleteReply>(deps, groupsPath, plan.native));
}

// ---------------------------------------------------------------- the table

const simpleError = (reply: { errorCode: number } | { failed: number }): number => (failed(reply) ? reply.failed : reply.errorCode);

export const groupApis: ServedApis = {
  FindCoordinator: { minVersion: 0, maxVersion: 6, handle: async ({ version, body }, deps) => findCoordinator(version, body, deps) },
  JoinGroup: {
    minVersion: 0,
    maxVersion: 9,
    handle: async ({ version, body, header, connection }, deps) => joinGroup(version, body, deps, clientInfoOf(header.clientId, connection.remoteAddress)),
  },
  SyncGroup: {
    minVersion: 0,
    maxVersion: 5,
    handle: async ({ version, body }, deps) => toKafkaSyncGroup(await ask<SyncGroupReply>(deps, groupsPath, toNativeSyncGroup(version, body), groupWaitTimeoutMs(groupApiLimits.groupWaitMsMax))),
  },
  Heartbeat: {
    minVersion: 0,
    maxVersion: 4,
    handle: async ({ version, body }, deps) => ({ throttleTimeMs: 0, errorCode: simpleError(await ask<HeartbeatReply>(deps, groupsPath, toNativeHeartbeat(version, body))) }),
  },
  LeaveGroup: {
    minVersion: 0,
    maxVersion: 5,
    handle: async ({ version, body }, deps) => toKafkaLeaveGroup(version, await ask<LeaveGroupReply>(deps, groupsPath, toNativeLeaveGroup(version, body))),
  },
  OffsetCommit: {
    minVersion: 0,
    maxVersion: 9,
    handle: async ({ version, body }, deps) => {
      const plan = toNativeOffsetCommit(version, body);
      const reply = plan.native === null ? null : await ask<OffsetCommitReply & { errorCode?: number }>(deps, groupsPath, plan.native);
      return toKafkaOffsetCommit(plan, reply);
    },
  },
  OffsetFetch: { minVersion: 0, maxVersion: 9, handle: async ({ version, body }, deps) => offsetFetch(version, body, deps) },
  DescribeGroups: {
    minVersion: 0,
    maxVersion: 5,
    handle: async ({ body }, deps) => {
      const groups = await perItem(
        list<unknown>(body.groups).map(text),
        async (groupId) => toKafkaDescribedGroup(groupId, await ask<DescribeGroupReply>(deps, groupsPath, { type: 'DescribeGroup', groupId })),
        (groupId) => toKafkaDescribedGroup(groupId, { failed: ErrorCode.INVALID_REQUEST }),
      );
      return { throttleTimeMs: 0, groups };
    },
  },
  ListGroups: {
    minVersion: 0,
    maxVersion: 5,
    handle: async ({ version, body }, deps) => toKafkaListGroups(version, body, await ask<ListGroupsReply>(deps, groupsPath, { type: 'ListGroups' })),
  },
  DeleteGroups: {
    minVersion: 0,
    maxVersion: 2,
    handle: async ({ body }, deps) => {
      const results = await perItem(
        list<unknown>(body.groupsNames).map(text),
        async (groupId) => ({ groupId, errorCode: simpleError(await ask<DeleteGroupReply>(deps, groupsPath, { type: 'DeleteGroup', groupId })) }),
        (groupId) => ({ groupId, errorCode: ErrorCode.INVALID_REQUEST }),
      );
      return { throttleTimeMs: 0, results };
    },
  },
  OffsetDelete: { minVersion: 0, maxVersion: 0, handle: async ({ body }, deps) => offsetDelete(body, deps) },
};
