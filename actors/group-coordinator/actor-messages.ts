/**
 * The group coordinator's wire API (what clients send to `/groups` on a
 * broker), its validators, and the error replies the shell builds itself.
 *
 * Grammar (msgpack maps; the request shapes are group-logic.ts's inputs
 * without `memberIdSuffix`, which the shell adds):
 *   FindCoordinator { key: groupId, keyType: 0, replyTo }
 *     -> FindCoordinatorReply { errorCode, errorMessage, nodeId, host, port }
 *   JoinGroup   { groupId, memberId ('' first), groupInstanceId | null, clientId, clientHost?,
 *                 sessionTimeoutMs, rebalanceTimeoutMs, protocolType, protocols: [{ name, metadata: bin }],
 *                 reason | null, replyTo }                                   -> JoinGroupReply
 *   SyncGroup   { groupId, memberId, groupInstanceId | null, generationId, protocolType | null,
 *                 protocolName | null, assignments: [{ memberId, assignment: bin }], replyTo } -> SyncGroupReply
 *   Heartbeat   { groupId, memberId, groupInstanceId | null, generationId, replyTo } -> HeartbeatReply
 *   LeaveGroup  { groupId, members: [{ memberId, groupInstanceId | null, reason | null }], replyTo } -> LeaveGroupReply
 *   OffsetCommit { groupId, memberId, groupInstanceId | null, generationId,
 *                  offsets: [{ topic, partition, offset, leaderEpoch?, metadata | null }], replyTo } -> OffsetCommitReply
 *   OffsetFetch { groupId, partitions: [{ topic, partition }] | null, requireStable?, replyTo } -> OffsetFetchReply
 *               (requireStable, KIP-447: UNSTABLE_OFFSET_COMMIT for a partition a transaction has an undecided offset for)
 *   TxnOffsetCommit { transactionalId, groupId, producerId, producerEpoch, memberId ('' none), groupInstanceId | null,
 *                 generationId (-1 none), offsets: [{ topic, partition, offset, metadata | null }], replyTo }
 *                 -> TxnOffsetCommitReply { errorCode, errorMessage, results: [{ topic, partition, errorCode }] }
 *                 (the shape and validator are protocol/apis/txn.ts's)
 *   DescribeGroup { groupId, replyTo } -> DescribeGroupReply
 *   DeleteGroup { groupId, replyTo }   -> DeleteGroupReply
 *   OffsetDelete { groupId, partitions: [{ topic, partition }], replyTo }
 *               -> OffsetDeleteReply { errorCode, results: [{ topic, partition, errorCode }] }
 *               (Kafka's OffsetDelete: results empty on a group-level error; topics are not
 *               checked against the metadata here, the Kafka listener does that as KafkaApis)
 *   ListGroups  { replyTo }            -> ListGroupsReply { errorCode, groups: [{ groupId, protocolType, state }] }
 *
 * Errors the shell answers itself (routing, validation, bounds) use the same
 * reply type as the request, with `errorCode` set and an extra
 * `errorMessage`; an OffsetCommitReply then carries the code per partition
 * (for the partitions it could read) and also at the top level. A request
 * whose `replyTo` is unusable cannot be answered: it is logged and dropped.
 *
 * Binary fields are copied out of the received frame (a msgpack view would
 * keep the whole frame alive in the group's state).
 *
 * Imports: protocol/ and this folder only.
 */
import {
  array,
  boolean,
  bytes,
  int,
  int32,
  int64,
  invalid,
  isInvalid,
  nonNegativeInt32,
  nullable,
  object,
  oneOf,
  optional,
  printable,
  ref,
  string,
  type Invalid,
  type Validator,
} from '../../protocol/validate.ts';
import type {
  DeleteGroup,
  DescribeGroup,
  OffsetDelete,
  GroupListing,
  GroupReply,
  Heartbeat,
  JoinGroup,
  LeaveGroup,
  OffsetCommit,
  OffsetFetch,
  ReplyTarget,
  SyncGroup,
  TxnOffsetCommit,
} from './group-logic.ts';
import { validateTxnOffsetCommit } from '../../protocol/apis/txn.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Bounds on what one request may carry (beyond them: INVALID_REQUEST). */
export const wireLimits = Object.freeze({
  groupIdCharsMax: 255,
  memberIdCharsMax: 512,
  clientIdCharsMax: 255,
  clientHostCharsMax: 255,
  groupInstanceIdCharsMax: 255,
  protocolTypeCharsMax: 64,
  protocolNameCharsMax: 64,
  reasonCharsMax: 1_024,
  protocolsPerJoinMax: 16,
  protocolMetadataBytesMax: 1 * MiB,
  assignmentBytesMax: 1 * MiB,
  /** Members in one SyncGroup or LeaveGroup (group.max.size is bounded below this). */
  membersPerRequestMax: 10_000,
  /** Partitions in one OffsetCommit, OffsetFetch or OffsetDelete. */
  partitionsPerRequestMax: 10_000,
  topicCharsMax: 249,
  /** Longer metadata is refused here; the logic's offset.metadata.max.bytes gives OFFSET_METADATA_TOO_LARGE below it. */
  offsetMetadataCharsMax: 64 * KiB,
});

export type FindCoordinator = { readonly type: 'FindCoordinator'; readonly key: string; readonly keyType: 0; readonly replyTo: ReplyTarget };
export type FindCoordinatorReply = {
  readonly type: 'FindCoordinatorReply';
  readonly errorCode: number;
  readonly errorMessage: string | null;
  /** The coordinator's broker id, -1 on errors. */
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
};
export type ListGroups = { readonly type: 'ListGroups'; readonly replyTo: ReplyTarget };
export type ListGroupsReply = { readonly type: 'ListGroupsReply'; readonly errorCode: number; readonly groups: readonly GroupListing[] };

/** A group request as it arrives (a JoinGroup has no memberIdSuffix yet: the shell adds it). */
export type GroupRequest =
  | Omit<JoinGroup, 'memberIdSuffix'>
  | SyncGroup
  | Heartbeat
  | LeaveGroup
  | OffsetCommit
  | OffsetFetch
  | TxnOffsetCommit
  | DescribeGroup
  | DeleteGroup
  | OffsetDelete;
export type GroupApiName = GroupRequest['type'];

export type WireRequest = FindCoordinator | ListGroups | GroupRequest;
export type WireReply = FindCoordinatorReply | ListGroupsReply | (GroupReply & { readonly errorMessage?: string });

export const wireRequestTypes: ReadonlySet<string> = new Set([
  'FindCoordinator',
  'ListGroups',
  'JoinGroup',
  'SyncGroup',
  'Heartbeat',
  'LeaveGroup',
  'OffsetCommit',
  'OffsetFetch',
  'TxnOffsetCommit',
  'DescribeGroup',
  'DeleteGroup',
  'OffsetDelete',
]);

// ---------------------------------------------------------------- validators

const L = wireLimits;
/** Copies the bytes: a decoded binary field is a view into the whole received frame. */
const copiedBytes = (maxBytes: number): Validator<Uint8Array> => (value, path) => {
  const checked = bytes(maxBytes)(value, path);
  return isInvalid(checked) ? checked : new Uint8Array(checked);
};
const groupId = string(L.groupIdCharsMax);
const memberId = string(L.memberIdCharsMax);
const instanceId = nullable(string(L.groupInstanceIdCharsMax));
const reason = nullable(string(L.reasonCharsMax));
const topic = string(L.topicCharsMax);

const validators: { [K in WireRequest['type']]: Validator<Extract<WireRequest, { type: K }>> } = {
  FindCoordinator: object({ type: oneOf('FindCoordinator'), key: groupId, keyType: oneOf(0), replyTo: ref }),
  ListGroups: object({ type: oneOf('ListGroups'), replyTo: ref }),
  JoinGroup: object({
    type: oneOf('JoinGroup'),
    groupId,
    memberId,
    groupInstanceId: instanceId,
    clientId: string(L.clientIdCharsMax),
    clientHost: optional(string(L.clientHostCharsMax), ''),
    sessionTimeoutMs: int32,
    rebalanceTimeoutMs: int32,
    protocolType: string(L.protocolTypeCharsMax),
    protocols: array(object({ name: string(L.protocolNameCharsMax), metadata: copiedBytes(L.protocolMetadataBytesMax) }), L.protocolsPerJoinMax),
    reason,
    replyTo: ref,
  }),
  SyncGroup: object({
    type: oneOf('SyncGroup'),
    groupId,
    memberId,
    groupInstanceId: instanceId,
    generationId: int32,
    protocolType: nullable(string(L.protocolTypeCharsMax)),
    protocolName: nullable(string(L.protocolNameCharsMax)),
    assignments: array(object({ memberId, assignment: copiedBytes(L.assignmentBytesMax) }), L.membersPerRequestMax),
    replyTo: ref,
  }),
  Heartbeat: object({ type: oneOf('Heartbeat'), groupId, memberId, groupInstanceId: instanceId, generationId: int32, replyTo: ref }),
  LeaveGroup: object({
    type: oneOf('LeaveGroup'),
    groupId,
    members: array(object({ memberId, groupInstanceId: instanceId, reason }), L.membersPerRequestMax),
    replyTo: ref,
  }),
  OffsetCommit: object({
    type: oneOf('OffsetCommit'),
    groupId,
    memberId,
    groupInstanceId: instanceId,
    generationId: int32,
    // Offsets may be negative here: the logic answers INVALID_COMMIT_OFFSET_SIZE per partition, as Kafka does.
    offsets: array(
      object({ topic, partition: nonNegativeInt32, offset: int64, leaderEpoch: optional(int(-1, 2 ** 31 - 1), -1), metadata: nullable(string(L.offsetMetadataCharsMax)) }),
      L.partitionsPerRequestMax,
    ),
    replyTo: ref,
  }),
  OffsetFetch: object({
    type: oneOf('OffsetFetch'),
    groupId,
    partitions: nullable(array(object({ topic, partition: nonNegativeInt32 }), L.partitionsPerRequestMax)),
    requireStable: optional(boolean, false),
    replyTo: ref,
  }),
  // protocol/apis/txn.ts owns the shape (the transaction coordinator's clients build it).
  TxnOffsetCommit: (value) => validateTxnOffsetCommit(value),
  DescribeGroup: object({ type: oneOf('DescribeGroup'), groupId, replyTo: ref }),
  DeleteGroup: object({ type: oneOf('DeleteGroup'), groupId, replyTo: ref }),
  OffsetDelete: object({
    type: oneOf('OffsetDelete'),
    groupId,
    partitions: array(object({ topic, partition: nonNegativeInt32 }), L.partitionsPerRequestMax),
    replyTo: ref,
  }),
};

/** Turns an untrusted message into a typed request, or says what is wrong with it. */
export function validateWireRequest(value: unknown): WireRequest | Invalid {
  if (typeof value !== 'object' || value === null) return invalid('', 'must be a map');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !wireRequestTypes.has(type)) return invalid('type', `unknown request type ${printable(type)}`);
  return (validators[type as WireRequest['type']] as Validator<WireRequest>)(value, type);
}

/** The reply target of a request that failed validation, if it has a usable one. */
export function replyTargetOf(value: unknown): ReplyTarget | null {
  if (typeof value !== 'object' || value === null) return null;
  const checked = ref((value as { replyTo?: unknown }).replyTo, 'replyTo');
  return isInvalid(checked) ? null : checked;
}

const noBytes = new Uint8Array(0);

/**
 * The reply of request type `type` that carries only an error. `raw` is the
 * request as received (possibly invalid): fields are echoed only when they
 * have the right type.
 */
export function errorReplyFor(type: string, raw: unknown, errorCode: number, errorMessage: string): WireReply | null {
  const source = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const text = (x: unknown): string => (typeof x === 'string' ? x.slice(0, L.groupIdCharsMax) : '');
  switch (type) {
    case 'FindCoordinator':
      return { type: 'FindCoordinatorReply', errorCode, errorMessage, nodeId: -1, host: '', port: -1 };
    case 'ListGroups':
      return { type: 'ListGroupsReply', errorCode, groups: [] };
    case 'JoinGroup':
      return {
        type: 'JoinGroupReply',
        errorCode,
        errorMessage,
        generationId: -1,
        protocolType: null,
        protocolName: null,
        leader: '',
        skipAssignment: false,
        memberId: typeof source.memberId === 'string' ? source.memberId.slice(0, L.memberIdCharsMax) : '',
        members: [],
      };
    case 'SyncGroup':
      return { type: 'SyncGroupReply', errorCode, errorMessage, protocolType: null, protocolName: null, assignment: noBytes };
    case 'Heartbeat':
      return { type: 'HeartbeatReply', errorCode, errorMessage };
    case 'LeaveGroup':
      return { type: 'LeaveGroupReply', errorCode, errorMessage, members: [] };
    case 'OffsetCommit': {
      const offsets = Array.isArray(source.offsets) ? source.offsets.slice(0, L.partitionsPerRequestMax) : [];
      const results = offsets
        .filter((o): o is { topic: string; partition: number } => typeof o === 'object' && o !== null && typeof o.topic === 'string' && Number.isInteger(o.partition))
        .map((o) => ({ topic: o.topic.slice(0, L.topicCharsMax), partition: o.partition, errorCode }));
      return { type: 'OffsetCommitReply', errorCode, errorMessage, results } as WireReply;
    }
    case 'OffsetFetch':
      return { type: 'OffsetFetchReply', errorCode, errorMessage, offsets: [] };
    case 'TxnOffsetCommit': {
      const offsets = Array.isArray(source.offsets) ? source.offsets.slice(0, L.partitionsPerRequestMax) : [];
      const results = offsets
        .filter((o): o is { topic: string; partition: number } => typeof o === 'object' && o !== null && typeof o.topic === 'string' && Number.isInteger(o.partition))
        .map((o) => ({ topic: o.topic.slice(0, L.topicCharsMax), partition: o.partition, errorCode }));
      return { type: 'TxnOffsetCommitReply', errorCode, errorMessage, results };
    }
    case 'DescribeGroup':
      return { type: 'DescribeGroupReply', errorCode, errorMessage, groupId: text(source.groupId), state: 'Dead', protocolType: '', protocol: '', members: [] };
    case 'DeleteGroup':
      return { type: 'DeleteGroupReply', errorCode, errorMessage, groupId: text(source.groupId) };
    case 'OffsetDelete':
      // A group-level answer, as Kafka's: no partitions.
      return { type: 'OffsetDeleteReply', errorCode, errorMessage, results: [] };
    default:
      return null;
  }
}
