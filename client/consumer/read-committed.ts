/**
 * Which fetched records a consumer hands to its user, pure: Kafka's
 * aborted-transaction filtering (Fetcher's CompletedFetch: abortedProducerIds
 * and the queue of aborted transactions by first offset).
 *
 * Input: the batches of one partition from one fetch answer (in offset
 * order), the fetch offset, the isolation level, and (read_committed) the
 * answer's `abortedTransactions` [{ producerId, firstOffset }]: every aborted
 * transaction that overlaps the returned range.
 *
 * Rules:
 * - Control batches (commit/abort markers) are never handed out, at either
 *   isolation level; nor are records below the fetch offset (a batch may
 *   start before it).
 * - read_committed, for each batch with a producer id, in offset order:
 *   first every aborted transaction whose firstOffset <= the batch's last
 *   offset marks its producer aborted; then an ABORT marker of an aborted
 *   producer ends that abort (its later batches are a new transaction);
 *   otherwise a transactional data batch of an aborted producer is dropped
 *   whole. Non-transactional batches always pass.
 * - The position moves past every batch seen (dropped or not), so aborted
 *   data and markers are never fetched twice.
 *
 * The broker returns read_committed data only up to the last stable offset,
 * so every transactional batch here has its marker in the log (maybe in a
 * later answer: that answer's abortedTransactions then names it again).
 *
 * Imports: protocol/record-batch only.
 */
import { decodeControlRecord, type DecodedRecord, type RecordBatch } from '../../protocol/record-batch/index.ts';

export type AbortedTransaction = { readonly producerId: number; readonly firstOffset: number };

export type FilteredFetch = {
  /** Records for the user, in offset order. */
  readonly records: DecodedRecord[];
  /** The next offset to fetch: past the last batch that ends at or after the fetch offset. */
  readonly nextOffset: number;
  /** Bytes of the batches at or after the fetch offset (what the answer costs). */
  readonly sizeBytes: number;
  /** Records dropped because their transaction aborted (tests, stats). */
  readonly abortedRecordCount: number;
};

function isAbortMarker(batch: RecordBatch): boolean {
  if (!batch.header.isControl) return false;
  const first = batch.records[0];
  if (first === undefined) return false;
  const marker = decodeControlRecord(first);
  return marker.ok && marker.value.type === 'abort';
}

export function filterFetchedBatches(batches: readonly RecordBatch[], options: { fetchOffset: number; readCommitted: boolean; abortedTransactions?: readonly AbortedTransaction[] | null }): FilteredFetch {
  const { fetchOffset, readCommitted } = options;
  // From the network: entries that are not { producerId, firstOffset } integers are ignored.
  const named = readCommitted && Array.isArray(options.abortedTransactions) ? options.abortedTransactions : [];
  const aborted = named.filter((t) => typeof t === 'object' && t !== null && Number.isSafeInteger(t.producerId) && Number.isSafeInteger(t.firstOffset)).sort((a, b) => a.firstOffset - b.firstOffset);
  let nextAborted = 0;
  const abortedProducers = new Set<number>();
  const records: DecodedRecord[] = [];
  let nextOffset = fetchOffset;
  let sizeBytes = 0;
  let abortedRecordCount = 0;
  for (const batch of batches) {
    const header = batch.header;
    if (header.lastOffset < fetchOffset) continue;
    sizeBytes += header.sizeBytes;
    if (header.lastOffset + 1 > nextOffset) nextOffset = header.lastOffset + 1;
    if (readCommitted && header.producerId >= 0) {
      while (nextAborted < aborted.length && aborted[nextAborted]!.firstOffset <= header.lastOffset) {
        abortedProducers.add(aborted[nextAborted]!.producerId);
        nextAborted += 1;
      }
      if (header.isControl) {
        if (isAbortMarker(batch)) abortedProducers.delete(header.producerId);
        continue;
      }
      if (header.isTransactional && abortedProducers.has(header.producerId)) {
        for (const r of batch.records) if (r.offset >= fetchOffset) abortedRecordCount += 1;
        continue;
      }
    }
    if (header.isControl) continue;
    for (const r of batch.records) if (r.offset >= fetchOffset) records.push(r);
  }
  return { records, nextOffset, sizeBytes, abortedRecordCount };
}
