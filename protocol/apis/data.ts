/**
 * The data-path APIs between clients, brokers and followers: Produce, Fetch,
 * ListOffsets, OffsetForLeaderEpoch. Each request names its reply type and
 * carries `replyTo`; errors are Kafka codes per partition (0 = none), so a
 * partial failure is data.
 *
 * Grammar (msgpack maps; Kafka's field names, camelCase):
 *   Produce        { topic, partition, acks (0 | 1 | -1), timeoutMs, batch: bin (ONE RecordBatch v2), transactionalId?, replyTo }
 *   ProduceReply   { topic, partition, errorCode, errorMessage?, baseOffset, logAppendTimeMs, logStartOffset }
 *   Fetch          { replicaId (-1 for consumers, else the follower's broker id), maxWaitMs, minBytes, maxBytes,
 *                    isolationLevel (0 read_uncommitted | 1 read_committed), partitions: [FetchPartition], replyTo }
 *   FetchPartition { topic, partition, fetchOffset, partitionMaxBytes, currentLeaderEpoch (-1 unknown), lastFetchedEpoch (-1 none),
 *                    logStartOffset? (a follower's own log start, for the leader's low watermark; -1 / absent for consumers) }
 *   FetchReply     { errorCode, partitions: [{ topic, partition, errorCode, highWatermark, lastStableOffset,
 *                    logStartOffset, records: bin | null, divergingEpoch: { epoch, endOffset } | null }] }
 *   ListOffsets    { isolationLevel, partitions: [{ topic, partition, timestamp (-1 latest, -2 earliest, else ms) }], replyTo }
 *   OffsetForLeaderEpoch { partitions: [{ topic, partition, leaderEpoch, currentLeaderEpoch? (-1 unknown: not checked) }], replyTo }
 *
 * Records stay opaque: a produce batch is validated by its header and CRC and
 * appended as bytes; fetch answers are the log's bytes.
 */
import { ErrorCode } from '../errors.ts';
import { array, bytes, int, int32, isInvalid, nonNegativeInt32, nullable, object, offset, oneOf, optional, ref, string, type Invalid } from '../validate.ts';
import type { Ref } from '../../runtime/ref.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

export const dataLimits = {
  /** Largest produce batch accepted on the wire (message.max.bytes is checked again by the log). */
  produceBatchBytesMax: 8 * MiB,
  /** Partitions in one fetch or list-offsets request. */
  requestPartitionsMax: 10_000,
  /** Longest long-poll a fetch may ask for. */
  fetchMaxWaitMsMax: 60_000,
  /** Longest produce timeout a client may ask for. */
  produceTimeoutMsMax: 300_000,
  /** Default produce timeout (request.timeout.ms). */
  produceTimeoutMsDefault: 30_000,
  /** Upper bound of a fetch response (fetch.max.bytes). */
  fetchBytesMax: 64 * MiB,
} as const;

const topicField = string(249);
const partitionField = nonNegativeInt32;

export type Acks = 0 | 1 | -1;

export type Produce = {
  type: 'Produce';
  topic: string;
  partition: number;
  acks: Acks;
  timeoutMs: number;
  batch: Uint8Array;
  /** The producer's transactional id when the batch is transactional (the leader verifies it with the coordinator); null otherwise. */
  transactionalId?: string | null;
  replyTo: Ref<ProduceReply>;
};

export type ProduceReply = {
  type: 'ProduceReply';
  topic: string;
  partition: number;
  errorCode: number;
  errorMessage: string | null;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
};

export type FetchPartition = {
  topic: string;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  currentLeaderEpoch: number;
  lastFetchedEpoch: number;
  /** A follower's own log start (Kafka's FetchPartition.LogStartOffset): the leader's DeleteRecords waits on it. -1 or absent: not told. */
  logStartOffset?: number;
};

export type Fetch = {
  type: 'Fetch';
  replicaId: number;
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  isolationLevel: 0 | 1;
  partitions: FetchPartition[];
  replyTo: Ref<FetchReply>;
};

export type FetchPartitionReply = {
  topic: string;
  partition: number;
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  records: Uint8Array | null;
  /** Set for a follower whose log diverged from the leader's (KIP-320): truncate to endOffset. */
  divergingEpoch: { epoch: number; endOffset: number } | null;
  /** read_committed: aborted transactions overlapping the records returned (drop their records). */
  abortedTransactions?: { producerId: number; firstOffset: number }[] | null;
};

/**
 * A transaction marker for one partition, from a transaction coordinator to
 * the partition leader's `/broker` (Kafka's WriteTxnMarkers, one partition per
 * message). Answered with a ProduceReply once the marker is replicated.
 */
export type WriteTxnMarker = {
  type: 'WriteTxnMarker';
  topic: string;
  partition: number;
  producerId: number;
  producerEpoch: number;
  result: 'commit' | 'abort';
  coordinatorEpoch: number;
  timeoutMs: number;
  replyTo: Ref<ProduceReply>;
};

export type FetchReply = { type: 'FetchReply'; errorCode: number; errorMessage?: string; partitions: FetchPartitionReply[] };

export type ListOffsets = {
  type: 'ListOffsets';
  isolationLevel: 0 | 1;
  partitions: { topic: string; partition: number; timestamp: number }[];
  replyTo: Ref<ListOffsetsReply>;
};

export const latestTimestamp = -1;
export const earliestTimestamp = -2;

export type ListOffsetsReply = {
  type: 'ListOffsetsReply';
  partitions: { topic: string; partition: number; errorCode: number; offset: number; timestamp: number; leaderEpoch: number }[];
};

export type OffsetForLeaderEpoch = {
  type: 'OffsetForLeaderEpoch';
  /** currentLeaderEpoch: the asker's view of the leader's epoch (Kafka's fencing: FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH); -1 or absent skips the check. */
  partitions: { topic: string; partition: number; leaderEpoch: number; currentLeaderEpoch?: number }[];
  replyTo: Ref<OffsetForLeaderEpochReply>;
};

export type OffsetForLeaderEpochReply = {
  type: 'OffsetForLeaderEpochReply';
  partitions: { topic: string; partition: number; errorCode: number; leaderEpoch: number; endOffset: number }[];
};

const validateProduceShape = object({
  topic: topicField,
  partition: partitionField,
  acks: oneOf<Acks>(0, 1, -1),
  timeoutMs: optional(int(0, dataLimits.produceTimeoutMsMax), dataLimits.produceTimeoutMsDefault),
  batch: bytes(dataLimits.produceBatchBytesMax, ErrorCode.MESSAGE_TOO_LARGE),
  transactionalId: nullable(string(1_024)),
  replyTo: ref,
});

export function validateProduce(value: unknown): Produce | Invalid {
  const checked = validateProduceShape(value, 'Produce');
  return isInvalid(checked) ? checked : { type: 'Produce', ...checked };
}

const validateWriteTxnMarkerShape = object({
  topic: topicField,
  partition: partitionField,
  producerId: int(0, Number.MAX_SAFE_INTEGER),
  producerEpoch: int(0, 32_767),
  result: oneOf<'commit' | 'abort'>('commit', 'abort'),
  coordinatorEpoch: int32,
  timeoutMs: optional(int(0, dataLimits.produceTimeoutMsMax), dataLimits.produceTimeoutMsDefault),
  replyTo: ref,
});

export function validateWriteTxnMarker(value: unknown): WriteTxnMarker | Invalid {
  const checked = validateWriteTxnMarkerShape(value, 'WriteTxnMarker');
  return isInvalid(checked) ? checked : { type: 'WriteTxnMarker', ...checked };
}

const validateFetchShape = object({
  replicaId: int(-1, 2 ** 31 - 1),
  maxWaitMs: optional(int(0, dataLimits.fetchMaxWaitMsMax), 500),
  minBytes: optional(nonNegativeInt32, 1),
  maxBytes: optional(int(1, dataLimits.fetchBytesMax), 50 * MiB),
  isolationLevel: optional(oneOf<0 | 1>(0, 1), 0),
  partitions: array(
    object({
      topic: topicField,
      partition: partitionField,
      fetchOffset: offset,
      partitionMaxBytes: optional(int(1, dataLimits.fetchBytesMax), MiB),
      currentLeaderEpoch: optional(int32, -1),
      lastFetchedEpoch: optional(int32, -1),
      logStartOffset: optional(int(-1, Number.MAX_SAFE_INTEGER), -1),
    }),
    dataLimits.requestPartitionsMax,
  ),
  replyTo: ref,
});

export function validateFetch(value: unknown): Fetch | Invalid {
  const checked = validateFetchShape(value, 'Fetch');
  return isInvalid(checked) ? checked : { type: 'Fetch', ...checked };
}

const validateListOffsetsShape = object({
  isolationLevel: optional(oneOf<0 | 1>(0, 1), 0),
  partitions: array(object({ topic: topicField, partition: partitionField, timestamp: int(-2, Number.MAX_SAFE_INTEGER) }), dataLimits.requestPartitionsMax),
  replyTo: ref,
});

export function validateListOffsets(value: unknown): ListOffsets | Invalid {
  const checked = validateListOffsetsShape(value, 'ListOffsets');
  return isInvalid(checked) ? checked : { type: 'ListOffsets', ...checked };
}

const validateOffsetForLeaderEpochShape = object({
  partitions: array(object({ topic: topicField, partition: partitionField, leaderEpoch: int32, currentLeaderEpoch: optional(int32, -1) }), dataLimits.requestPartitionsMax),
  replyTo: ref,
});

export function validateOffsetForLeaderEpoch(value: unknown): OffsetForLeaderEpoch | Invalid {
  const checked = validateOffsetForLeaderEpochShape(value, 'OffsetForLeaderEpoch');
  return isInvalid(checked) ? checked : { type: 'OffsetForLeaderEpoch', ...checked };
}
