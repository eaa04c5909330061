/**
 * Transactions as a partition leader sees them: the open transaction of each
 * producer, the aborted-transaction index, and the last stable offset (LSO).
 *
 * Owns: `TxnIndex` (mutated only by the replica actor that leads the
 * partition, read by the fetch server through the partition view),
 * `recordBatch` (apply one appended batch's header, and its marker when it is
 * a control batch), `lastStableOffset`, `abortedBetween`, and `rebuildTxnIndex`
 * (what a new leader does: replay batch headers; only control batches, one
 * record each, are decoded).
 *
 * Rules (Kafka's ProducerStateManager / TransactionIndex):
 * - A transactional data batch of a producer without an open transaction
 *   opens one at its base offset.
 * - A control batch (commit or abort marker) closes the producer's open
 *   transaction; an abort adds { producerId, firstOffset, lastOffset } to the
 *   aborted index, lastOffset being the marker's offset.
 * - LSO = min(high watermark, first offset of every open transaction):
 *   read_committed consumers read below it and drop the records of aborted
 *   transactions the index lists for the range they read.
 * The aborted index is bounded (abortedTxnsMax, oldest dropped first) and
 * rebuilt from the whole log when leadership moves (no .txnindex files yet).
 */
import { markerAt } from '../../protocol/record-batch/control.ts';
import { readBatchHeader, type BatchHeader } from '../../protocol/record-batch/header.ts';

export type AbortedTxn = { producerId: number; firstOffset: number; lastOffset: number };
export type TxnIndex = { ongoing: Map<number, number>; aborted: AbortedTxn[] };

/** Aborted transactions remembered per partition. */
export const abortedTxnsMax = 100_000;

export function emptyTxnIndex(): TxnIndex {
  return { ongoing: new Map(), aborted: [] };
}

/** The marker of a control batch at `position` in `bytes`, or null when it is not one we can read. */
export function markerTypeAt(bytes: Buffer, position: number): 'commit' | 'abort' | null {
  return markerAt(bytes, position)?.type ?? null;
}

export function recordBatch(index: TxnIndex, header: BatchHeader, baseOffset: number, lastOffset: number, marker: 'commit' | 'abort' | null): void {
  if (!header.isTransactional || header.producerId < 0) return;
  if (!header.isControl) {
    if (!index.ongoing.has(header.producerId)) index.ongoing.set(header.producerId, baseOffset);
    return;
  }
  const firstOffset = index.ongoing.get(header.producerId);
  index.ongoing.delete(header.producerId);
  if (marker === 'abort' && firstOffset !== undefined) {
    index.aborted.push({ producerId: header.producerId, firstOffset, lastOffset });
    if (index.aborted.length > abortedTxnsMax) index.aborted.shift();
  }
}

export function lastStableOffset(index: TxnIndex, highWatermark: number): number {
  let stable = highWatermark;
  for (const firstOffset of index.ongoing.values()) if (firstOffset < stable) stable = firstOffset;
  return stable;
}

/** Aborted transactions overlapping [fromOffset, toOffset), for a read_committed fetch answer. */
export function abortedBetween(index: TxnIndex, fromOffset: number, toOffset: number): { producerId: number; firstOffset: number }[] {
  const found: { producerId: number; firstOffset: number }[] = [];
  for (const txn of index.aborted) {
    if (txn.lastOffset >= fromOffset && txn.firstOffset < toOffset) found.push({ producerId: txn.producerId, firstOffset: txn.firstOffset });
  }
  return found;
}

/** Rebuilds the index from log bytes read in chunks (whole batches from an offset; empty at the end). */
export function rebuildTxnIndex(readChunk: (fromOffset: number) => Buffer, logStartOffset: number, logEndOffset: number, chunksMax = 10_000_000): TxnIndex {
  const index = emptyTxnIndex();
  let offset = logStartOffset;
  for (let chunk = 0; chunk < chunksMax && offset < logEndOffset; chunk += 1) {
    const bytes = readChunk(offset);
    if (bytes.length === 0) break;
    let position = 0;
    while (position + 61 <= bytes.length) {
      const header = readBatchHeader(bytes, position);
      if (header.sizeBytes <= 0 || position + header.sizeBytes > bytes.length) break;
      recordBatch(index, header, header.baseOffset, header.lastOffset, header.isControl ? markerTypeAt(bytes, position) : null);
      offset = header.lastOffset + 1;
      position += header.sizeBytes;
    }
  }
  return index;
}
