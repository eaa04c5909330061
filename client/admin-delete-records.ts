/**
 * The admin client's DeleteRecords (Kafka Admin deleteRecords, KafkaJS
 * deleteTopicRecords): moves partitions' log start offsets forward, so the
 * records below are gone for every reader and their whole segments are
 * deleted on every replica.
 *
 * Owns: `deleteRecords` and its result type. Each partition goes to its
 * leader's `/broker` (`DeleteRecords`, protocol/apis/delete-records.ts), the
 * partitions of one leader in one request. A retriable partition error
 * (NOT_LEADER_OR_FOLLOWER after a leader change, REQUEST_TIMED_OUT when a
 * replica was slow, ...) refreshes the metadata and retries only the
 * partitions still unanswered, as listOffsets does; a retry is safe since
 * moving a log start to where it already is changes nothing (with
 * 'highWatermark' a retry deletes up to the high watermark of its own time).
 * The first non-retriable partition error rejects the call with a
 * PartitionError (OFFSET_OUT_OF_RANGE above the high watermark,
 * INVALID_TOPIC_EXCEPTION for an internal topic, POLICY_VIOLATION for a
 * compact-only topic).
 *
 * Replies are untrusted: validated into CORRUPT_MESSAGE naming the field.
 *
 * Imports: protocol (types, validate, errors), connection.ts,
 * metadata-cache.ts, retry.ts, replies.ts, errors.ts.
 */
import type { Ref } from '../runtime/ref.ts';
import { deleteRecordsLimits, type DeleteRecords, type DeleteRecordsReply } from '../protocol/apis/delete-records.ts';
import { array, int, int32, object, optional, nullable, string } from '../protocol/validate.ts';
import { ErrorCode, KactusError, partitionError } from './errors.ts';
import type { Connection } from './connection.ts';
import type { MetadataCache } from './metadata-cache.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { checkReply } from './replies.ts';

/** One partition's answer: its low watermark (the smallest log start over its live replicas, >= the asked offset). */
export type DeletedRecords = { topic: string; partition: number; lowWatermark: number };

/** The offset to delete before: a number, or 'highWatermark' (everything committed; Kafka's -1). */
export type RecordsToDelete = { topic: string; partition: number; offset: number | 'highWatermark' };

export type DeleteRecordsDeps = { connection: Connection; metadata: MetadataCache; requestTimeoutMs: number; retry: RetryPolicy };

const deleteRecordsReplyValidator = object({
  type: string(64),
  errorCode: optional(int32, 0),
  errorMessage: optional(nullable(string(1_000_000)), null),
  partitions: optional(
    array(object({ topic: string(1_024), partition: int32, errorCode: int32, errorMessage: optional(nullable(string(1_000_000)), null), lowWatermark: int(-1, Number.MAX_SAFE_INTEGER) }), deleteRecordsLimits.partitionsMax),
    [],
  ),
});

const key = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** `partitions` are checked by the caller (names, indexes, offsets). Results in their order. */
export async function deleteRecords(deps: DeleteRecordsDeps, partitions: readonly { topic: string; partition: number; offset: number }[], timeoutMs: number): Promise<DeletedRecords[]> {
  const { connection, metadata } = deps;
  const results = new Map<string, DeletedRecords>();
  await withRetry(
    async () => {
      const pending = partitions.filter((p) => !results.has(key(p.topic, p.partition)));
      const byLeader = new Map<number, typeof pending>();
      for (const p of pending) {
        const { leader } = await metadata.leaderFor(p.topic, p.partition);
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
      }
      let retriable: KactusError | undefined;
      await Promise.all(
        [...byLeader].map(async ([leader, ps]) => {
          for (let start = 0; start < ps.length; start += deleteRecordsLimits.partitionsMax) {
            const chunk = ps.slice(start, start + deleteRecordsLimits.partitionsMax);
            const raw = await connection.ask<DeleteRecords, unknown>(
              leader,
              '/broker',
              (replyTo) => ({ type: 'DeleteRecords', partitions: chunk.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset })), timeoutMs, replyTo: replyTo as Ref<DeleteRecordsReply> }),
              timeoutMs + deps.requestTimeoutMs,
            );
            const reply = checkReply(deleteRecordsReplyValidator, raw, `DeleteRecords reply from broker ${leader}`);
            if (reply.type !== 'DeleteRecordsReply') throw new KactusError(reply.errorCode === 0 ? ErrorCode.UNKNOWN_SERVER_ERROR : reply.errorCode, `deleteRecords via broker ${leader}: ${reply.errorMessage ?? reply.type}`);
            for (const p of reply.partitions) {
              if (!chunk.some((c) => c.topic === p.topic && c.partition === p.partition)) continue; // not ours to trust
              if (p.errorCode === ErrorCode.NONE) {
                results.set(key(p.topic, p.partition), { topic: p.topic, partition: p.partition, lowWatermark: p.lowWatermark });
                continue;
              }
              const error = partitionError(p.errorCode, p.topic, p.partition, `deleteRecords at broker ${leader}: ${p.errorMessage ?? ''}`.trim());
              if (!error.retriable) throw error;
              metadata.onError(p.topic, p.errorCode);
              retriable = error;
            }
          }
        }),
      );
      if (retriable) throw retriable;
      const unanswered = pending.find((p) => !results.has(key(p.topic, p.partition)));
      if (unanswered !== undefined) throw new KactusError(ErrorCode.CORRUPT_MESSAGE, `deleteRecords: no answer for ${unanswered.topic}-${unanswered.partition}`);
    },
    deps.retry,
    { onRetriable: () => metadata.refresh([...new Set(partitions.map((p) => p.topic))]).then(() => undefined) },
  );
  return partitions.map((p) => results.get(key(p.topic, p.partition))!);
}
