/**
 * DeleteRecords: a client moves partitions' log start offsets forward
 * (Kafka's DeleteRecords, KIP-107). Sent to the `/broker` of the partitions'
 * leader; the records below the new start are gone for every reader, and
 * whole segments below it are deleted from disk.
 *
 * Grammar (msgpack maps; Kafka's field names, camelCase):
 *   DeleteRecords      { partitions: [{ topic, partition, offset }], timeoutMs, replyTo }
 *                      offset: the new log start; -1 is the high watermark (Kafka's HIGH_WATERMARK)
 *                      timeoutMs: how long to wait for every replica's log start to get there
 *   DeleteRecordsReply { partitions: [{ topic, partition, errorCode, errorMessage, lowWatermark }] }
 *                      in request order; lowWatermark is the smallest log start over the live
 *                      replicas (-1 with an error)
 *   DeleteRecordsError { errorCode, errorMessage }   the request itself was malformed
 *
 * Errors per partition (Kafka's): OFFSET_OUT_OF_RANGE (above the high
 * watermark, or negative other than -1), NOT_LEADER_OR_FOLLOWER (retry at the
 * leader), UNKNOWN_TOPIC_OR_PARTITION, POLICY_VIOLATION (cleanup.policy
 * without delete), REQUEST_TIMED_OUT (a replica did not get there in time:
 * the leader's start has moved anyway), KAFKA_STORAGE_ERROR. A client may not
 * name an internal topic (`/broker`'s guard: INVALID_TOPIC_EXCEPTION for the
 * whole request).
 *
 * Imports: protocol/validate.ts, protocol/errors.ts, runtime/ref.ts (type).
 */
import { ErrorCode } from '../errors.ts';
import { array, int, invalid, isInvalid, nonNegativeInt32, object, optional, ref, string, type Invalid } from '../validate.ts';
import type { Ref } from '../../runtime/ref.ts';

export const deleteRecordsLimits = {
  /** Partitions in one DeleteRecords (Kafka has no bound; ours is the data path's requestPartitionsMax). */
  partitionsMax: 10_000,
  /** Longest wait a request may ask for (the produce bound: both wait on replication). */
  timeoutMsMax: 300_000,
  /** When the request names none (Kafka's AdminClient default.api.timeout.ms is 60 s; request.timeout.ms 30 s). */
  timeoutMsDefault: 30_000,
} as const;

export type DeleteRecordsPartition = { topic: string; partition: number; offset: number };

export type DeleteRecords = {
  type: 'DeleteRecords';
  partitions: DeleteRecordsPartition[];
  timeoutMs: number;
  replyTo: Ref<DeleteRecordsReply | DeleteRecordsError>;
};

export type DeleteRecordsPartitionResult = { topic: string; partition: number; errorCode: number; errorMessage: string | null; lowWatermark: number };

export type DeleteRecordsReply = { type: 'DeleteRecordsReply'; partitions: DeleteRecordsPartitionResult[] };

export type DeleteRecordsError = { type: 'DeleteRecordsError'; errorCode: number; errorMessage: string };

const deleteRecordsShape = object({
  partitions: array(
    object({
      topic: string(249),
      partition: nonNegativeInt32,
      // -1 (the high watermark) or an offset; offsets stay below 2^53 (storage/log.ts).
      offset: int(-1, Number.MAX_SAFE_INTEGER),
    }),
    deleteRecordsLimits.partitionsMax,
  ),
  timeoutMs: optional(int(0, deleteRecordsLimits.timeoutMsMax), deleteRecordsLimits.timeoutMsDefault),
  replyTo: ref,
});

export function validateDeleteRecords(value: unknown): DeleteRecords | Invalid {
  const checked = deleteRecordsShape(value, 'DeleteRecords');
  if (isInvalid(checked)) return checked;
  if (checked.partitions.some((p) => p.topic.length === 0)) return invalid('DeleteRecords.partitions.topic', 'must not be empty', ErrorCode.INVALID_REQUEST);
  return { type: 'DeleteRecords', ...checked };
}
