/**
 * Idempotent-producer state: the producer id and epoch, and the next
 * sequence number of each partition.
 *
 * Owns: `IdempotenceState`, `nextSequence` (Kafka's wrap-around rule) and
 * `stampProducerState` (writes producerId, producerEpoch and baseSequence
 * into an encoded batch's header in place and recomputes the CRC: the
 * records are never re-encoded).
 *
 * Rules (Kafka's TransactionManager for non-transactional idempotence):
 * - InitProducerId gives a producer id and epoch; every batch carries them.
 * - Sequences are per partition, start at 0, and advance by the batch's
 *   record count; they wrap from 2^31-1 to 0.
 * - A batch keeps its sequence across retries, so a resend of a batch the
 *   broker already appended is recognised as a duplicate and answered with
 *   the original offsets.
 * - When a sequenced batch fails for good (a non-retriable error, or its
 *   delivery timeout), the broker may or may not hold it, and the sequences
 *   after it can no longer line up. The producer then takes a new producer
 *   id (a new "generation": `reset`), all sequences restart at 0, and every
 *   batch not yet acknowledged is stamped again before it is next sent
 *   (KIP-360's epoch bump, done with a fresh id because our InitProducerId
 *   carries no previous id) — except a batch in doubt (an attempt got no
 *   definite answer: the leader may hold it), which is resent under its old
 *   id and sequence instead (sender.ts): under a new id it could be stored twice.
 */
import { computeBatchCrc, field } from '../../protocol/record-batch/index.ts';

export const sequenceMax = 2_147_483_647;

/** Kafka's DefaultRecordBatch.incrementSequence: `sequence + increment`, wrapping past 2^31-1 to 0. */
export function nextSequence(sequence: number, increment: number): number {
  if (sequence > sequenceMax - increment) return increment - (sequenceMax - sequence) - 1;
  return sequence + increment;
}

/** Rewrites the idempotence fields of an encoded v2 batch in place and fixes its CRC. */
export function stampProducerState(batch: Buffer, producerId: number, producerEpoch: number, baseSequence: number): void {
  batch.writeBigInt64BE(BigInt(producerId), field.producerId);
  batch.writeInt16BE(producerEpoch, field.producerEpoch);
  batch.writeInt32BE(baseSequence, field.baseSequence);
  batch.writeUInt32BE(computeBatchCrc(batch, 0, batch.length), field.crc);
}

export class IdempotenceState {
  producerId = -1;
  producerEpoch = -1;
  /** Increases with every new producer id; batches stamped under an older one are stamped again. */
  generation = 0;
  private readonly sequences = new Map<string, number>();

  get hasProducerId(): boolean {
    return this.producerId >= 0;
  }

  /** A new producer id and epoch: sequences restart at 0. */
  reset(producerId: number, producerEpoch: number): void {
    this.producerId = producerId;
    this.producerEpoch = producerEpoch;
    this.generation += 1;
    this.sequences.clear();
  }

  /** Takes the next `recordCount` sequence numbers of a partition; returns the first. */
  take(partitionKey: string, recordCount: number): number {
    const base = this.sequences.get(partitionKey) ?? 0;
    this.sequences.set(partitionKey, nextSequence(base, recordCount));
    return base;
  }

  peek(partitionKey: string): number {
    return this.sequences.get(partitionKey) ?? 0;
  }
}
