/**
 * The admin client's consumer-group operations. For now one: Kafka Admin's
 * deleteConsumerGroupOffsets, the group coordinator's OffsetDelete
 * (actors/group-coordinator/actor-messages.ts).
 *
 * The coordinator is found and asked by producer/coordinator-call.ts's
 * CoordinatorClient (`/groups`): NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE
 * and COORDINATOR_LOAD_IN_PROGRESS are retried until requestTimeoutMs.
 * A group-level refusal (GROUP_ID_NOT_FOUND; NON_EMPTY_GROUP for an active
 * group that is not a consumer group) rejects with that code; partitions of a
 * topic an active member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC) reject
 * with a PartitionError for the first of them, naming all, as Kafka's
 * DeleteConsumerGroupOffsetsResult.all() fails. A partition with no
 * committed offset is no error (Kafka's answer too).
 *
 * Replies are untrusted: validated into CORRUPT_MESSAGE naming the field.
 *
 * Imports: protocol (validate, errors), connection.ts, retry.ts, replies.ts,
 * producer/coordinator-call.ts.
 */
import { array, int, int32, object, optional, string } from '../protocol/validate.ts';
import { ErrorCode, KactusError, PartitionError, describePartition, errorInfo } from './errors.ts';
import type { Connection } from './connection.ts';
import type { RetryPolicy } from './retry.ts';
import { checkReply } from './replies.ts';
import { CoordinatorClient, groupCoordinatorKind } from './producer/coordinator-call.ts';
import { checkTopicName } from './topic-name.ts';

export type AdminGroupDeps = { connection: Connection; requestTimeoutMs: number; retry: RetryPolicy };

/** The coordinator's bound on partitions per OffsetDelete (wireLimits.partitionsPerRequestMax); more are refused here. */
export const offsetDeletePartitionsMax = 10_000;

const offsetDeleteReply = object({
  errorCode: int(-1, 32_767),
  errorMessage: optional(string(64 * 1024), ''),
  results: array(object({ topic: string(249), partition: int32, errorCode: int(-1, 32_767) }), offsetDeletePartitionsMax),
});

/** Deletes `groupId`'s committed offsets of `partitions` (Kafka Admin deleteConsumerGroupOffsets). */
export async function deleteConsumerGroupOffsets(deps: AdminGroupDeps, groupId: unknown, partitions: readonly { topic: string; partition: number }[]): Promise<void> {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 255) throw new KactusError(ErrorCode.INVALID_GROUP_ID, `deleteConsumerGroupOffsets: groupId must be a string of 1-255 characters, got ${JSON.stringify(groupId)}`);
  if (partitions.length > offsetDeletePartitionsMax) throw new KactusError(ErrorCode.INVALID_REQUEST, `deleteConsumerGroupOffsets: at most ${offsetDeletePartitionsMax} partitions per call, got ${partitions.length}`);
  const asked = partitions.map((p) => {
    if (!Number.isInteger(p?.partition) || p.partition < 0 || p.partition > 2_147_483_647) throw new KactusError(ErrorCode.INVALID_REQUEST, `deleteConsumerGroupOffsets: partition must be an integer >= 0, got ${String(p?.partition)}`);
    return { topic: checkTopicName(p.topic), partition: p.partition };
  });
  const coordinators = new CoordinatorClient(groupCoordinatorKind, deps.connection);
  const raw = await coordinators.call<unknown>(
    groupId,
    `OffsetDelete for group ${groupId}`,
    () => ({ type: 'OffsetDelete', groupId, partitions: asked }),
    (r) => {
      const code = (r as { errorCode?: unknown }).errorCode;
      return typeof code === 'number' ? code : ErrorCode.NONE;
    },
    { connection: deps.connection, retry: deps.retry, requestTimeoutMs: deps.requestTimeoutMs, deadlineMs: Date.now() + deps.requestTimeoutMs },
  );
  const reply = checkReply(offsetDeleteReply, raw, `OffsetDelete reply for group ${groupId}`);
  if (reply.errorCode !== ErrorCode.NONE) throw new KactusError(reply.errorCode, `deleteConsumerGroupOffsets of group "${groupId}": ${reply.errorMessage || errorInfo(reply.errorCode).message}`);
  const failed = reply.results.filter((r) => r.errorCode !== ErrorCode.NONE);
  if (failed.length === 0) return;
  const all = failed.map((f) => `${describePartition(f.topic, f.partition)}: ${errorInfo(f.errorCode).name}`).join('; ');
  const first = failed[0]!;
  throw new PartitionError(first.errorCode, first.topic, first.partition, `deleteConsumerGroupOffsets of group "${groupId}" failed${failed.length > 1 ? ` for ${failed.length} partitions` : ''}: ${all}`);
}
