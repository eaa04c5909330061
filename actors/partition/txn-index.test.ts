/**
 * The leader's transaction bookkeeping: open transactions hold the LSO back,
 * markers release it, aborts land in the index, and a rebuild from log bytes
 * gives the same index.
 */
import { describe, expect, it } from 'vitest';
import { encodeBatch, encodeEndTxnMarker, readBatchHeader } from '../../protocol/record-batch/index.ts';
import { abortedBetween, emptyTxnIndex, lastStableOffset, markerTypeAt, rebuildTxnIndex, recordBatch } from './txn-index.ts';

const data = (producerId: number, baseOffset: number, count = 2) =>
  encodeBatch({ records: Array.from({ length: count }, () => ({ key: null, value: Buffer.from('v'), timestamp: 0 })), producerId, producerEpoch: 0, baseSequence: 0, isTransactional: true, baseOffset });
const marker = (producerId: number, type: 'commit' | 'abort', baseOffset: number) => encodeEndTxnMarker({ producerId, producerEpoch: 0, type, coordinatorEpoch: 0, timestamp: 0, baseOffset });

function apply(index: ReturnType<typeof emptyTxnIndex>, bytes: Buffer): void {
  const header = readBatchHeader(bytes, 0);
  recordBatch(index, header, header.baseOffset, header.lastOffset, header.isControl ? markerTypeAt(bytes, 0) : null);
}

describe('transaction index', () => {
  it('an open transaction holds the LSO at its first offset; its marker releases it', () => {
    const index = emptyTxnIndex();
    apply(index, data(1, 0));
    apply(index, data(2, 2));
    expect(lastStableOffset(index, 10)).toBe(0);
    apply(index, marker(1, 'commit', 4));
    expect(lastStableOffset(index, 10)).toBe(2);
    apply(index, marker(2, 'abort', 5));
    expect(lastStableOffset(index, 10)).toBe(10);
    expect(abortedBetween(index, 0, 10)).toEqual([{ producerId: 2, firstOffset: 2 }]);
    expect(abortedBetween(index, 6, 10)).toEqual([]);
  });

  it('rebuilds from log bytes what the appends built', () => {
    const log = Buffer.concat([data(1, 0), data(2, 2), marker(2, 'abort', 4), data(1, 5), marker(1, 'commit', 7), data(3, 8)]);
    const rebuilt = rebuildTxnIndex((from) => (from === 0 ? log : Buffer.alloc(0)), 0, 10);
    expect(rebuilt.aborted).toEqual([{ producerId: 2, firstOffset: 2, lastOffset: 4 }]);
    expect([...rebuilt.ongoing]).toEqual([[3, 8]]);
    expect(lastStableOffset(rebuilt, 10)).toBe(8);
  });
});
