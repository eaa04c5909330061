/**
 * Idempotent producer state of one partition (Kafka's ProducerStateManager):
 * for each producer id, its epoch and the last few batches it wrote, so a
 * retried batch is recognised and answered with its original offsets instead
 * of being appended twice.
 *
 * Owns: `ProducerStates` (a Map, mutated only by the replica actor that owns
 * the partition), `checkBatch` (what to do with an incoming batch),
 * `recordBatch` (remember an appended batch) and `rebuildFromLog` (replay the
 * batch headers of a log, as a new leader does; only markers' records are
 * decoded, for their coordinator epoch), and `describeProducers` (what
 * DescribeProducers answers).
 *
 * Rules (Kafka's ProducerAppendInfo):
 * - A batch with producerId -1 is not idempotent: always appended.
 * - An epoch older than the producer's current one: INVALID_PRODUCER_EPOCH.
 * - A newer epoch must start at sequence 0 (else OUT_OF_ORDER_SEQUENCE_NUMBER);
 *   an unknown producer may start anywhere (its earlier batches may have been
 *   removed by retention).
 * - A batch equal (first and last sequence) to one of the last
 *   `batchesRememberedMax` is a duplicate.
 * - Otherwise its first sequence must follow the last one's (wrapping at
 *   2^31 - 1), else OUT_OF_ORDER_SEQUENCE_NUMBER.
 * - Transactions (KIP-890, transaction version 2): a marker carries the epoch
 *   the producer uses next, so it raises the producer's epoch here; a delayed
 *   batch of the ended transaction (the old epoch) is then refused.
 * - Markers (`checkMarker`): an epoch older than the producer's is refused
 *   (INVALID_PRODUCER_EPOCH), and so is a coordinator epoch older than the
 *   last marker's (TRANSACTION_COORDINATOR_FENCED, Kafka's
 *   checkCoordinatorEpoch). The second matters because a marker carries the
 *   epoch of the producer's NEXT transaction: a coordinator that was paused
 *   and replaced, retrying a marker of a transaction its successor already
 *   finished, would otherwise pass the epoch check and end the producer's
 *   next transaction in this partition (chaos seed 1: a read_committed
 *   consumer read an aborted record that way). The coordinator epoch is kept
 *   across producer epochs, and recovered from the markers' values when a new
 *   leader rebuilds the state.
 * - A transactional batch with sequence -1 (NO_SEQUENCE) is written by a
 *   coordinator on the producer's behalf (TxnOffsetCommit into
 *   __consumer_offsets): only its epoch is checked, and it is not remembered.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import { readBatchHeader, type BatchHeader } from '../../protocol/record-batch/header.ts';
import { markerAt } from '../../protocol/record-batch/control.ts';
import type { ProducerDescription } from '../../protocol/apis/txn.ts';

/** Kafka keeps the last five batches per producer: the most a producer has in flight. */
export const batchesRememberedMax = 5;
const sequenceMax = 2 ** 31 - 1;

export type RememberedBatch = { firstSequence: number; lastSequence: number; baseOffset: number; lastOffset: number };
export type ProducerEntry = {
  producerEpoch: number;
  batches: RememberedBatch[];
  /** The coordinator epoch of the last marker written for this producer; -1 before any. */
  coordinatorEpoch: number;
  /** The max timestamp of its last batch or marker (Kafka's lastTimestamp, for DescribeProducers); -1 before any. */
  lastTimestampMs: number;
};
export type ProducerStates = Map<number, ProducerEntry>;

export type BatchCheck =
  | { type: 'Append' }
  | { type: 'Duplicate'; baseOffset: number; lastOffset: number }
  | { type: 'Refuse'; errorCode: number; errorMessage: string };

const append: BatchCheck = { type: 'Append' };

function lastSequenceOf(header: BatchHeader): number {
  return (header.baseSequence + header.lastOffsetDelta) % (sequenceMax + 1);
}

/** Kafka's RecordBatch.NO_SEQUENCE: a batch written by a coordinator for a producer. */
export const noSequence = -1;

function isCoordinatorWrite(header: BatchHeader): boolean {
  return header.isTransactional && header.baseSequence === noSequence;
}

export function checkBatch(states: ProducerStates, header: BatchHeader): BatchCheck {
  if (header.producerId < 0 || header.isControl) return append;
  const entry = states.get(header.producerId);
  if (entry === undefined) return append;
  if (header.producerEpoch < entry.producerEpoch) {
    return { type: 'Refuse', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, errorMessage: `producer ${header.producerId} epoch ${header.producerEpoch} is older than ${entry.producerEpoch}` };
  }
  if (isCoordinatorWrite(header)) return append;
  if (header.producerEpoch > entry.producerEpoch) {
    if (header.baseSequence === 0) return append;
    return { type: 'Refuse', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, errorMessage: `producer ${header.producerId} began epoch ${header.producerEpoch} at sequence ${header.baseSequence}, not 0` };
  }
  const lastSequence = lastSequenceOf(header);
  for (const batch of entry.batches) {
    if (batch.firstSequence === header.baseSequence && batch.lastSequence === lastSequence) {
      return { type: 'Duplicate', baseOffset: batch.baseOffset, lastOffset: batch.lastOffset };
    }
  }
  const newest = entry.batches[entry.batches.length - 1];
  if (newest === undefined) return append;
  const expected = newest.lastSequence === sequenceMax ? 0 : newest.lastSequence + 1;
  if (header.baseSequence !== expected) {
    return { type: 'Refuse', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, errorMessage: `producer ${header.producerId} sent sequence ${header.baseSequence}, expected ${expected}` };
  }
  return append;
}

/** Whether a transaction marker may be written for this producer (see the module comment). */
export function checkMarker(states: ProducerStates, producerId: number, producerEpoch: number, coordinatorEpoch: number): BatchCheck {
  const entry = states.get(producerId);
  if (entry === undefined) return append;
  if (producerEpoch < entry.producerEpoch) {
    return { type: 'Refuse', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, errorMessage: `marker epoch ${producerEpoch} of producer ${producerId} is older than ${entry.producerEpoch}` };
  }
  if (coordinatorEpoch < entry.coordinatorEpoch) {
    return { type: 'Refuse', errorCode: ErrorCode.TRANSACTION_COORDINATOR_FENCED, errorMessage: `marker of producer ${producerId} from coordinator epoch ${coordinatorEpoch}, older than ${entry.coordinatorEpoch}` };
  }
  return append;
}

/**
 * Remembers a batch that was appended at [baseOffset, lastOffset];
 * `coordinatorEpoch` is the marker's for a control batch (-1 otherwise).
 */
export function recordBatch(states: ProducerStates, header: BatchHeader, baseOffset: number, lastOffset: number, coordinatorEpoch = -1): void {
  if (header.producerId < 0) return;
  if (header.isControl && !header.isTransactional) return;
  let entry = states.get(header.producerId);
  if (entry === undefined || header.producerEpoch > entry.producerEpoch) {
    entry = { producerEpoch: header.producerEpoch, batches: [], coordinatorEpoch: entry?.coordinatorEpoch ?? -1, lastTimestampMs: entry?.lastTimestampMs ?? -1 };
    states.set(header.producerId, entry);
  }
  // The header as the producer (or coordinator) wrote it: under LogAppendTime Kafka has the broker's time here.
  entry.lastTimestampMs = header.maxTimestamp;
  if (header.isControl) entry.coordinatorEpoch = Math.max(entry.coordinatorEpoch, coordinatorEpoch);
  // A marker or a coordinator's write moves the epoch (above) but is no batch of the producer's sequence.
  if (header.isControl || isCoordinatorWrite(header)) return;
  entry.batches.push({ firstSequence: header.baseSequence, lastSequence: lastSequenceOf(header), baseOffset, lastOffset });
  if (entry.batches.length > batchesRememberedMax) entry.batches.shift();
}

/**
 * DescribeProducers (KIP-664, Kafka's UnifiedLog.activeProducers): every
 * producer the partition remembers, by producer id, with the first offset of
 * its open transaction from `openTxnFirstOffsets` (txn-index.ts's `ongoing`).
 * lastSequence is -1 when the producer wrote no batch in its current epoch (a
 * marker that raised the epoch, or only coordinator writes), as Kafka's
 * entry is cleared when the epoch moves. Kafka also forgets producers idle
 * past producer.id.expiration.ms; we keep them until the leader rebuilds.
 */
export function describeProducers(states: ProducerStates, openTxnFirstOffsets: ReadonlyMap<number, number>): ProducerDescription[] {
  return [...states]
    .sort(([a], [b]) => a - b)
    .map(([producerId, entry]) => ({
      producerId,
      producerEpoch: entry.producerEpoch,
      lastSequence: entry.batches[entry.batches.length - 1]?.lastSequence ?? -1,
      lastTimestampMs: entry.lastTimestampMs,
      coordinatorEpoch: entry.coordinatorEpoch,
      currentTxnStartOffset: openTxnFirstOffsets.get(producerId) ?? -1,
    }));
}

/**
 * Rebuilds the states from raw log bytes, read in chunks by `readChunk(from)`
 * (whole batches from an offset; empty at the end). Header-only: the cost is
 * one pass over the bytes, no record decoding.
 */
export function rebuildFromLog(readChunk: (fromOffset: number) => Buffer, logStartOffset: number, logEndOffset: number, chunksMax = 1_000_000): ProducerStates {
  const states: ProducerStates = new Map();
  let offset = logStartOffset;
  for (let chunk = 0; chunk < chunksMax && offset < logEndOffset; chunk += 1) {
    const bytes = readChunk(offset);
    if (bytes.length === 0) break;
    let position = 0;
    while (position + 61 <= bytes.length) {
      const header = readBatchHeader(bytes, position);
      if (header.sizeBytes <= 0 || position + header.sizeBytes > bytes.length) break;
      recordBatch(states, header, header.baseOffset, header.lastOffset, header.isControl ? (markerAt(bytes, position)?.coordinatorEpoch ?? -1) : -1);
      offset = header.lastOffset + 1;
      position += header.sizeBytes;
    }
  }
  return states;
}
