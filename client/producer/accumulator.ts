/**
 * Batching per partition, pure: records in, closed batches out. No I/O, no
 * timers, no encoding; time comes in as `nowMs`.
 *
 * Owns: `ProducerBatch` (the records of one partition on their way to one
 * Produce request, with the callers waiting on them) and `Accumulator`.
 *
 * Rules (Kafka's RecordAccumulator):
 * - One open batch per partition. A record that does not fit in the open
 *   batch (estimated bytes over batchSizeBytes) closes it and opens a new
 *   one; a record larger than batchSizeBytes gets a batch of its own. A batch
 *   that reaches batchSizeBytes closes at once.
 * - An open batch closes when it is lingerMs old (`drainExpired`) or when the
 *   producer flushes (`drainAll`).
 * - Closed batches are returned in the order they closed, which per
 *   partition is the order their records were appended: order within a
 *   partition is decided here and kept by the sender.
 * - Sizes are estimates (an upper bound of the v2 record encoding); the
 *   encoded batch is never larger than the estimate.
 *
 * Each batch gets an `ordinal`, increasing per partition, that the sender
 * uses to keep retried batches in order.
 */
import type { RecordHeader, RecordInput } from '../../protocol/record-batch/index.ts';

/** Bytes of a v2 batch header. */
export const batchOverheadBytes = 61;
/** Upper bound of a record's fixed fields: length, attributes, timestamp delta, offset delta, key/value lengths, header count (varints at full width). */
export const recordOverheadBytes = 5 + 1 + 10 + 5 + 5 + 5 + 5;

/** An upper bound of the encoded size of one record. */
export function estimateRecordBytes(key: Uint8Array | null, value: Uint8Array | null, headers: readonly RecordHeader[] | undefined): number {
  let bytes = recordOverheadBytes + (key?.length ?? 0) + (value?.length ?? 0);
  if (headers) for (const h of headers) bytes += 10 + Buffer.byteLength(h.key, 'utf8') + (h.value?.length ?? 0);
  return bytes;
}

/** Who waits for a record: a send() call and the record's index in it. */
export interface RecordOwner {
  complete(index: number, topic: string, partition: number, offset: number, timestamp: number): void;
  fail(error: Error): void;
}

export class ProducerBatch {
  readonly records: RecordInput[] = [];
  readonly owners: RecordOwner[] = [];
  readonly ownerIndexes: number[] = [];
  sizeBytes = batchOverheadBytes;
  closed = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly ordinal: number,
    readonly createdAtMs: number,
  ) {}

  add(record: RecordInput, sizeBytes: number, owner: RecordOwner, ownerIndex: number): void {
    this.records.push(record);
    this.owners.push(owner);
    this.ownerIndexes.push(ownerIndex);
    this.sizeBytes += sizeBytes;
  }

  get recordCount(): number {
    return this.records.length;
  }
}

type PartitionSlot = { open: ProducerBatch | undefined; nextOrdinal: number };

export class Accumulator {
  private readonly slots = new Map<string, PartitionSlot>();
  /** Open batches in creation order (for linger expiry). */
  private readonly openBatches = new Set<ProducerBatch>();
  private openBytesTotal = 0;

  constructor(
    private readonly batchSizeBytes: number,
    private readonly lingerMs: number,
  ) {}

  /**
   * Appends a record; returns the batches this closed (zero, one or two: the
   * full batch it did not fit in, and its own batch if it alone fills one).
   */
  append(topic: string, partition: number, record: RecordInput, sizeBytes: number, owner: RecordOwner, ownerIndex: number, nowMs: number): ProducerBatch[] {
    const key = `${topic}\u0000${partition}`;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = { open: undefined, nextOrdinal: 0 };
      this.slots.set(key, slot);
    }
    const closed: ProducerBatch[] = [];
    let batch = slot.open;
    if (batch !== undefined && batch.recordCount > 0 && batch.sizeBytes + sizeBytes > this.batchSizeBytes) {
      closed.push(this.close(slot, batch));
      batch = undefined;
    }
    if (batch === undefined) {
      batch = new ProducerBatch(topic, partition, slot.nextOrdinal, nowMs);
      slot.nextOrdinal += 1;
      slot.open = batch;
      this.openBatches.add(batch);
      this.openBytesTotal += batch.sizeBytes;
    }
    batch.add(record, sizeBytes, owner, ownerIndex);
    this.openBytesTotal += sizeBytes;
    if (batch.sizeBytes >= this.batchSizeBytes) closed.push(this.close(slot, batch));
    return closed;
  }

  /** False when appending `sizeBytes` to the partition's open batch would close it first (it is full for this record). */
  fits(topic: string, partition: number, sizeBytes: number): boolean {
    const open = this.slots.get(`${topic}\u0000${partition}`)?.open;
    return open === undefined || open.recordCount === 0 || open.sizeBytes + sizeBytes <= this.batchSizeBytes;
  }

  /** Closes the partition's open batch, if any (the sticky partitioner moving on). */
  closeOpen(topic: string, partition: number): ProducerBatch | undefined {
    const slot = this.slots.get(`${topic}\u0000${partition}`);
    if (slot?.open === undefined) return undefined;
    return this.close(slot, slot.open);
  }

  private close(slot: PartitionSlot, batch: ProducerBatch): ProducerBatch {
    batch.closed = true;
    if (slot.open === batch) slot.open = undefined;
    this.openBatches.delete(batch);
    this.openBytesTotal -= batch.sizeBytes;
    return batch;
  }

  /** Closes every open batch at least lingerMs old. */
  drainExpired(nowMs: number): ProducerBatch[] {
    const out: ProducerBatch[] = [];
    // openBatches iterates in creation order: stop at the first that is not due.
    for (const batch of this.openBatches) {
      if (nowMs - batch.createdAtMs < this.lingerMs) break;
      out.push(this.close(this.slots.get(`${batch.topic}\u0000${batch.partition}`)!, batch));
    }
    return out;
  }

  /** Closes every open batch (flush). */
  drainAll(): ProducerBatch[] {
    const out: ProducerBatch[] = [];
    for (const batch of this.openBatches) out.push(this.close(this.slots.get(`${batch.topic}\u0000${batch.partition}`)!, batch));
    return out;
  }

  /** When the oldest open batch's linger ends, or undefined when none is open. */
  nextLingerDeadlineMs(): number | undefined {
    for (const batch of this.openBatches) return batch.createdAtMs + this.lingerMs;
    return undefined;
  }

  get openBatchCount(): number {
    return this.openBatches.size;
  }

  get openBytes(): number {
    return this.openBytesTotal;
  }

  /** Drops the open batches (close after a failure); returns them so their owners can be failed. */
  abortAll(): ProducerBatch[] {
    return this.drainAll();
  }
}
