/**
 * The admin client's consumer-group operations, shaped like KafkaJS's admin
 * where it has the call: listGroups, describeGroups, fetchOffsets,
 * setOffsets (resetOffsets is built on it in admin.ts), deleteGroups, and
 * Kafka Admin's deleteConsumerGroupOffsets. They speak the group
 * coordinator's wire API (actors/group-coordinator/actor-messages.ts).
 *
 * The coordinator is found and asked by producer/coordinator-call.ts's
 * CoordinatorClient (`/groups`): NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE
 * and COORDINATOR_LOAD_IN_PROGRESS are retried until requestTimeoutMs.
 * ListGroups goes to every broker (each lists the groups it coordinates);
 * brokers that do not answer are skipped, none answering is an error.
 * A group-level refusal (GROUP_ID_NOT_FOUND; NON_EMPTY_GROUP for an active
 * group that is not a consumer group) rejects with that code; partitions of a
 * topic an active member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC) reject
 * with a PartitionError for the first of them, naming all, as Kafka's
 * DeleteConsumerGroupOffsetsResult.all() fails. A partition with no
 * committed offset is no error (Kafka's answer too). setOffsets commits as
 * an admin (no member, generation -1), so the group must have no active
 * members (Kafka: UNKNOWN_MEMBER_ID otherwise, here the coordinator's code).
 *
 * Replies are untrusted: validated into CORRUPT_MESSAGE naming the field.
 *
 * Imports: protocol (validate, errors, consumer protocol), connection.ts,
 * retry.ts, replies.ts, producer/coordinator-call.ts.
 */
import { array, bytes, int, int32, nullable, object, optional, string } from '../protocol/validate.ts';
import { decodeAssignment } from '../protocol/consumer/consumer-protocol.ts';
import type { Ref } from '../runtime/ref.ts';
import { ErrorCode, KactusError, PartitionError, describePartition, errorInfo } from './errors.ts';
import type { Connection } from './connection.ts';
import type { RetryPolicy } from './retry.ts';
import { checkReply } from './replies.ts';
import { CoordinatorClient, groupCoordinatorKind } from './producer/coordinator-call.ts';
import { checkTopicName } from './topic-name.ts';

export type AdminGroupDeps = { connection: Connection; requestTimeoutMs: number; retry: RetryPolicy };

export const adminGroupLimits = {
  /** Groups one describeGroups / deleteGroups call may name. */
  groupsPerCallMax: 1_000,
  /** Groups one broker's ListGroups answer may list. */
  listedGroupsMax: 100_000,
  /** Members one DescribeGroup answer may list. */
  membersMax: 10_000,
  /** Partitions one OffsetFetch / OffsetCommit may carry. */
  offsetsMax: 100_000,
  /** Bytes of one member's metadata or assignment. */
  memberBytesMax: 1024 * 1024,
} as const;

export type GroupOverview = { groupId: string; protocolType: string; state: string };
export type GroupMemberDescription = {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  /** The member's subscription as it sent it (filled in Stable, as Kafka's summary). */
  memberMetadata: Buffer;
  /** Its assignment bytes, and for a consumer group the partitions they name. */
  memberAssignment: Buffer;
  assignment: { topic: string; partition: number }[];
};
/** A group that does not exist is described with state 'Dead' and errorCode GROUP_ID_NOT_FOUND (Kafka answers Dead, no members). */
export type GroupDescription = { groupId: string; errorCode: number; state: string; protocolType: string; protocol: string; members: GroupMemberDescription[] };
export type GroupTopicOffsets = { topic: string; partitions: { partition: number; /** -1: nothing committed */ offset: number; metadata: string }[] };

const errorCode = int(-1, 32_767);
const listGroupsReply = object({ errorCode, groups: array(object({ groupId: string(255), protocolType: string(255), state: string(64) }), adminGroupLimits.listedGroupsMax) });
const describeGroupReply = object({
  errorCode,
  groupId: optional(string(255), ''),
  state: optional(string(64), 'Dead'),
  protocolType: optional(string(255), ''),
  protocol: optional(string(255), ''),
  members: optional(array(object({ memberId: string(1024), groupInstanceId: nullable(string(255)), clientId: string(1024), clientHost: string(1024), metadata: bytes(adminGroupLimits.memberBytesMax), assignment: bytes(adminGroupLimits.memberBytesMax) }), adminGroupLimits.membersMax), []),
});
const offsetFetchReply = object({
  errorCode,
  offsets: optional(array(object({ topic: string(249), partition: int32, offset: int(-1, Number.MAX_SAFE_INTEGER), metadata: optional(string(64 * 1024), ''), errorCode }), adminGroupLimits.offsetsMax), []),
});
const offsetCommitReply = object({ errorCode: optional(errorCode, 0), errorMessage: optional(string(64 * 1024), ''), results: optional(array(object({ topic: string(249), partition: int32, errorCode }), adminGroupLimits.offsetsMax), []) });
const deleteGroupReply = object({ errorCode, errorMessage: optional(string(64 * 1024), '') });

function checkGroupId(groupId: unknown, operation: string): string {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 255) throw new KactusError(ErrorCode.INVALID_GROUP_ID, `${operation}: groupId must be a string of 1-255 characters, got ${JSON.stringify(groupId)}`);
  return groupId;
}

function checkGroupIds(groupIds: unknown, operation: string): string[] {
  if (!Array.isArray(groupIds)) throw new KactusError(ErrorCode.INVALID_REQUEST, `${operation}: groupIds must be an array`);
  if (groupIds.length > adminGroupLimits.groupsPerCallMax) throw new KactusError(ErrorCode.INVALID_REQUEST, `${operation}: at most ${adminGroupLimits.groupsPerCallMax} groups per call, got ${groupIds.length}`);
  return [...new Set(groupIds.map((g) => checkGroupId(g, operation)))];
}

function checkPartition(partition: unknown, operation: string): number {
  if (!Number.isInteger(partition) || (partition as number) < 0 || (partition as number) > 2_147_483_647) throw new KactusError(ErrorCode.INVALID_REQUEST, `${operation}: partition must be an integer >= 0, got ${String(partition)}`);
  return partition as number;
}

const groupErrorOf = (reply: unknown): number => {
  const code = (reply as { errorCode?: unknown }).errorCode;
  return typeof code === 'number' ? code : ErrorCode.NONE;
};

/** OffsetCommit answers coordinator moves per partition (no group-level code): the first such code counts for the call. */
const coordinatorMoveCodes: ReadonlySet<number> = new Set([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]);
const offsetCommitErrorOf = (reply: unknown): number => {
  const own = groupErrorOf(reply);
  if (own !== ErrorCode.NONE) return own;
  const results = (reply as { results?: unknown }).results;
  if (!Array.isArray(results)) return ErrorCode.NONE;
  for (const r of results) if (coordinatorMoveCodes.has((r as { errorCode?: number }).errorCode ?? 0)) return (r as { errorCode: number }).errorCode;
  return ErrorCode.NONE;
};

/** One coordinator request for `groupId`, retried across coordinator moves; `errorOf` reads the code that decides a retry. */
async function groupCall(deps: AdminGroupDeps, groupId: string, what: string, body: Record<string, unknown>, errorOf: (reply: unknown) => number = groupErrorOf): Promise<unknown> {
  const coordinators = new CoordinatorClient(groupCoordinatorKind, deps.connection);
  return coordinators.call<unknown>(
    groupId,
    `${what} for group ${groupId}`,
    () => ({ ...body, groupId }),
    errorOf,
    { connection: deps.connection, retry: deps.retry, requestTimeoutMs: deps.requestTimeoutMs, deadlineMs: Date.now() + deps.requestTimeoutMs },
  );
}

/** Every group the brokers `brokerIds` coordinate, sorted by id (KafkaJS listGroups, with each group's state). */
export async function listGroups(deps: AdminGroupDeps, brokerIds: readonly number[]): Promise<GroupOverview[]> {
  const node = deps.connection.node;
  const answers = await Promise.all(
    brokerIds.map((id) =>
      node
        .ask<unknown, unknown>({ node: String(id), path: groupCoordinatorKind.path } as Ref<unknown>, (replyTo) => ({ type: 'ListGroups', replyTo }), { timeoutMs: deps.requestTimeoutMs })
        .then((raw) => checkReply(listGroupsReply, raw, `ListGroups reply from broker ${id}`))
        .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
    ),
  );
  const replies = answers.filter((a): a is Exclude<typeof a, Error> => !(a instanceof Error) && a.errorCode === ErrorCode.NONE);
  if (replies.length === 0) {
    const first = answers[0];
    if (first instanceof Error) throw first;
    throw new KactusError(first?.errorCode ?? ErrorCode.COORDINATOR_NOT_AVAILABLE, 'listGroups: no broker answered');
  }
  const byId = new Map<string, GroupOverview>();
  for (const reply of replies) for (const group of reply.groups) byId.set(group.groupId, { groupId: group.groupId, protocolType: group.protocolType, state: group.state });
  return [...byId.values()].sort((a, b) => a.groupId.localeCompare(b.groupId));
}

/** State, protocol and members of each group (KafkaJS describeGroups); a group that does not exist comes back Dead with GROUP_ID_NOT_FOUND. */
export async function describeGroups(deps: AdminGroupDeps, groupIds: unknown): Promise<GroupDescription[]> {
  const ids = checkGroupIds(groupIds, 'describeGroups');
  return Promise.all(
    ids.map(async (groupId) => {
      const reply = checkReply(describeGroupReply, await groupCall(deps, groupId, 'DescribeGroup', { type: 'DescribeGroup' }), `DescribeGroup reply for group ${groupId}`);
      if (reply.errorCode === ErrorCode.GROUP_ID_NOT_FOUND) return { groupId, errorCode: reply.errorCode, state: 'Dead', protocolType: '', protocol: '', members: [] };
      if (reply.errorCode !== ErrorCode.NONE) throw new KactusError(reply.errorCode, `describeGroups: group "${groupId}": ${errorInfo(reply.errorCode).message}`);
      const members = reply.members.map((m) => {
        const decoded = m.assignment.byteLength > 0 && reply.protocolType === 'consumer' ? decodeAssignment(m.assignment) : undefined;
        const assignment = decoded !== undefined && decoded.ok ? decoded.value.assignedPartitions.map((tp) => ({ topic: tp.topic, partition: tp.partition })) : [];
        return { memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost, memberMetadata: Buffer.from(m.metadata), memberAssignment: Buffer.from(m.assignment), assignment };
      });
      return { groupId, errorCode: ErrorCode.NONE, state: reply.state, protocolType: reply.protocolType, protocol: reply.protocol, members };
    }),
  );
}

/** The group's committed offsets (KafkaJS fetchOffsets): of `topics`, or of every partition it has committed. -1 where nothing is committed. */
export async function fetchOffsets(deps: AdminGroupDeps, groupId: unknown, partitions: readonly { topic: string; partition: number }[] | null): Promise<GroupTopicOffsets[]> {
  const id = checkGroupId(groupId, 'fetchOffsets');
  const reply = checkReply(offsetFetchReply, await groupCall(deps, id, 'OffsetFetch', { type: 'OffsetFetch', partitions }), `OffsetFetch reply for group ${id}`);
  if (reply.errorCode !== ErrorCode.NONE) throw new KactusError(reply.errorCode, `fetchOffsets: group "${id}": ${errorInfo(reply.errorCode).message}`);
  const byTopic = new Map<string, GroupTopicOffsets>();
  for (const o of reply.offsets) {
    let topic = byTopic.get(o.topic);
    if (topic === undefined) byTopic.set(o.topic, (topic = { topic: o.topic, partitions: [] }));
    topic.partitions.push({ partition: o.partition, offset: o.offset, metadata: o.metadata });
  }
  for (const t of byTopic.values()) t.partitions.sort((a, b) => a.partition - b.partition);
  return [...byTopic.values()].sort((a, b) => a.topic.localeCompare(b.topic));
}

/** Commits `offsets` for a group with no active members (KafkaJS setOffsets, across topics). */
export async function setOffsets(deps: AdminGroupDeps, groupId: unknown, offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<void> {
  const id = checkGroupId(groupId, 'setOffsets');
  if (offsets.length > adminGroupLimits.offsetsMax) throw new KactusError(ErrorCode.INVALID_REQUEST, `setOffsets: at most ${adminGroupLimits.offsetsMax} partitions per call, got ${offsets.length}`);
  const asked = offsets.map((o) => {
    if (!Number.isSafeInteger(o?.offset) || o.offset < 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `setOffsets: offset must be an integer >= 0, got ${String(o?.offset)}`);
    return { topic: checkTopicName(o.topic), partition: checkPartition(o.partition, 'setOffsets'), offset: o.offset, leaderEpoch: -1, metadata: null };
  });
  const raw = await groupCall(deps, id, 'OffsetCommit', { type: 'OffsetCommit', memberId: '', groupInstanceId: null, generationId: -1, offsets: asked }, offsetCommitErrorOf);
  const reply = checkReply(offsetCommitReply, raw, `OffsetCommit reply for group ${id}`);
  if (reply.errorCode !== ErrorCode.NONE) throw new KactusError(reply.errorCode, `setOffsets: group "${id}": ${reply.errorMessage || errorInfo(reply.errorCode).message}`);
  const failed = reply.results.filter((r) => r.errorCode !== ErrorCode.NONE);
  if (failed.length === 0) return;
  const first = failed[0]!;
  const all = failed.map((f) => `${describePartition(f.topic, f.partition)}: ${errorInfo(f.errorCode).name}`).join('; ');
  throw new PartitionError(first.errorCode, first.topic, first.partition, `setOffsets for group "${id}" failed${failed.length > 1 ? ` for ${failed.length} partitions` : ''}: ${all}${first.errorCode === ErrorCode.UNKNOWN_MEMBER_ID ? ' (the group has active members: stop its consumers first)' : ''}`);
}

/** Deletes groups with no active members and their offsets (KafkaJS deleteGroups); rejects naming every group that could not be deleted. */
export async function deleteGroups(deps: AdminGroupDeps, groupIds: unknown): Promise<{ groupId: string; errorCode: number }[]> {
  const ids = checkGroupIds(groupIds, 'deleteGroups');
  const results = await Promise.all(
    ids.map(async (groupId) => {
      const reply = checkReply(deleteGroupReply, await groupCall(deps, groupId, 'DeleteGroup', { type: 'DeleteGroup' }), `DeleteGroup reply for group ${groupId}`);
      return { groupId, errorCode: reply.errorCode };
    }),
  );
  const failed = results.filter((r) => r.errorCode !== ErrorCode.NONE);
  if (failed.length > 0) throw new KactusError(failed[0]!.errorCode, `deleteGroups failed for ${failed.map((f) => `"${f.groupId}": ${errorInfo(f.errorCode).name}`).join('; ')}`);
  return results;
}

/** The coordinator's bound on partitions per OffsetDelete (wireLimits.partitionsPerRequestMax); more are refused here. */
export const offsetDeletePartitionsMax = 10_000;

const offsetDeleteReply = object({
  errorCode: int(-1, 32_767),
  errorMessage: optional(string(64 * 1024), ''),
  results: array(object({ topic: string(249), partition: int32, errorCode: int(-1, 32_767) }), offsetDeletePartitionsMax),
});

/** Deletes `groupId`'s committed offsets of `partitions` (Kafka Admin deleteConsumerGroupOffsets). */
/** One partition's answer to OffsetDelete: 0, or why its offset stays (GROUP_SUBSCRIBED_TO_TOPIC: an active member reads the topic). */
export type OffsetDeleteResult = { topic: string; partition: number; errorCode: number };

/**
 * OffsetDelete of `partitions`: each partition's answer; a group-level refusal (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP for
 * an active group that is not a consumer group) rejects.
 */
export async function offsetDeleteResults(deps: AdminGroupDeps, group: unknown, partitions: readonly { topic: string; partition: number }[], what: string): Promise<OffsetDeleteResult[]> {
  const groupId = checkGroupId(group, what);
  if (partitions.length > offsetDeletePartitionsMax) throw new KactusError(ErrorCode.INVALID_REQUEST, `${what}: at most ${offsetDeletePartitionsMax} partitions per call, got ${partitions.length}`);
  const asked = partitions.map((p) => {
    if (!Number.isInteger(p?.partition) || p.partition < 0 || p.partition > 2_147_483_647) throw new KactusError(ErrorCode.INVALID_REQUEST, `${what}: partition must be an integer >= 0, got ${String(p?.partition)}`);
    return { topic: checkTopicName(p.topic), partition: p.partition };
  });
  const raw = await groupCall(deps, groupId, 'OffsetDelete', { type: 'OffsetDelete', partitions: asked });
  const reply = checkReply(offsetDeleteReply, raw, `OffsetDelete reply for group ${groupId}`);
  if (reply.errorCode !== ErrorCode.NONE) throw new KactusError(reply.errorCode, `${what} of group "${groupId}": ${reply.errorMessage || errorInfo(reply.errorCode).message}`);
  return reply.results.map((r) => ({ topic: r.topic, partition: r.partition, errorCode: r.errorCode }));
}

/** Kafka Admin's deleteConsumerGroupOffsets: rejects with the first partition that kept its offset. */
export async function deleteConsumerGroupOffsets(deps: AdminGroupDeps, group: unknown, partitions: readonly { topic: string; partition: number }[]): Promise<void> {
  const results = await offsetDeleteResults(deps, group, partitions, 'deleteConsumerGroupOffsets');
  const failed = results.filter((r) => r.errorCode !== ErrorCode.NONE);
  if (failed.length === 0) return;
  const all = failed.map((f) => `${describePartition(f.topic, f.partition)}: ${errorInfo(f.errorCode).name}`).join('; ');
  const first = failed[0]!;
  throw new PartitionError(first.errorCode, first.topic, first.partition, `deleteConsumerGroupOffsets of group "${String(group)}" failed${failed.length > 1 ? ` for ${failed.length} partitions` : ''}: ${all}`);
}
