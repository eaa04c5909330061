/**
 * DescribeLogDirs: what one broker stores (Kafka's DescribeLogDirs, the
 * kafka-log-dirs tool): for each partition it hosts, the bytes of its log on
 * disk and its offsets. Sent to `/broker` of each broker asked; answered from
 * the partitions' shared views without a replica's mailbox, so it never waits
 * behind produce traffic. Kafka requires Describe on the cluster for it.
 *
 * Grammar (msgpack maps; Kafka's field names, camelCase):
 *   DescribeLogDirs      { topics: [{ topic, partitions: [int] }] | null, replyTo }
 *                        null: every partition the broker hosts
 *   DescribeLogDirsReply { brokerId, logDir, partitions: [{ topic, partition, sizeBytes,
 *                          logStartOffset, logEndOffset, highWatermark, role }] }
 *                        partitions asked that the broker does not host are left out (Kafka's too)
 *   DescribeLogDirsError { errorCode, errorMessage }   the request itself was malformed
 *
 * Imports: protocol/validate.ts, runtime/ref.ts (type).
 */
import { array, isInvalid, nonNegativeInt32, nullable, object, ref, string, type Invalid } from '../validate.ts';
import type { Ref } from '../../runtime/ref.ts';

export const logDirsLimits = {
  /** Topics named in one request (the data path's requestPartitionsMax bounds the partitions of each). */
  topicsMax: 10_000,
  partitionsPerTopicMax: 10_000,
} as const;

export type DescribeLogDirs = { type: 'DescribeLogDirs'; topics: { topic: string; partitions: number[] }[] | null; replyTo: Ref<DescribeLogDirsReply | DescribeLogDirsError> };

export type LogDirPartition = { topic: string; partition: number; sizeBytes: number; logStartOffset: number; logEndOffset: number; highWatermark: number; role: string };

export type DescribeLogDirsReply = { type: 'DescribeLogDirsReply'; brokerId: number; logDir: string; partitions: LogDirPartition[] };

export type DescribeLogDirsError = { type: 'DescribeLogDirsError'; errorCode: number; errorMessage: string };

const describeLogDirsShape = object({
  topics: nullable(array(object({ topic: string(249), partitions: array(nonNegativeInt32, logDirsLimits.partitionsPerTopicMax) }), logDirsLimits.topicsMax)),
  replyTo: ref,
});

export function validateDescribeLogDirs(value: unknown): DescribeLogDirs | Invalid {
  const checked = describeLogDirsShape(value, 'DescribeLogDirs');
  if (isInvalid(checked)) return checked;
  return { type: 'DescribeLogDirs', topics: checked.topics, replyTo: checked.replyTo as DescribeLogDirs['replyTo'] };
}
