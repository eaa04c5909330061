/**
 * txn-offsets.ts: staged transactional offsets become committed only with a
 * COMMIT marker of the same producer (epoch at least the stage's), vanish with
 * ABORT, fence older epochs, and bad input stages nothing.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { completeTxnOffsets, hasPendingOffset, noStagedTxnOffsets, stageTxnOffsets } from './txn-offsets.ts';
import type { TxnOffset } from './txn-offsets.ts';

const o = (partition: number, offset: number): TxnOffset => ({ topic: 't', partition, offset, leaderEpoch: -1, metadata: '', commitTimestampMs: 1 });

describe('transactional offsets', () => {
  it('staged offsets are pending until a COMMIT marker (epoch + 1, KIP-890) makes them committed', () => {
    const { staged, results } = stageTxnOffsets(noStagedTxnOffsets, 7, 3, [o(0, 10), o(1, 20)]);
    expect(results.map((r) => r.errorCode)).toEqual([ErrorCode.NONE, ErrorCode.NONE]);
    expect(hasPendingOffset(staged, 't', 0)).toBe(true);
    expect(hasPendingOffset(staged, 't', 2)).toBe(false);
    const again = stageTxnOffsets(staged, 7, 3, [o(0, 11)]).staged;
    const done = completeTxnOffsets(again, 7, 4, 'COMMIT');
    expect(done.committed).toEqual([o(0, 11), o(1, 20)]);
    expect(hasPendingOffset(done.staged, 't', 0)).toBe(false);
  });

  it('an ABORT marker drops them', () => {
    const { staged } = stageTxnOffsets(noStagedTxnOffsets, 7, 3, [o(0, 10)]);
    const done = completeTxnOffsets(staged, 7, 4, 'ABORT');
    expect(done.committed).toEqual([]);
    expect(done.staged.size).toBe(0);
  });

  it('a marker of another producer or an older epoch changes nothing', () => {
    const { staged } = stageTxnOffsets(noStagedTxnOffsets, 7, 3, [o(0, 10)]);
    expect(completeTxnOffsets(staged, 8, 4, 'COMMIT')).toEqual({ staged, committed: [] });
    expect(completeTxnOffsets(staged, 7, 2, 'COMMIT')).toEqual({ staged, committed: [] });
  });

  it('a marker at the staged epoch is the previous transaction\'s (KIP-890: it ended at this epoch) and does not decide this one', () => {
    // Transaction 1 ran at epoch 3; its marker (epoch 4) came; transaction 2 runs at epoch 4.
    const first = stageTxnOffsets(noStagedTxnOffsets, 7, 3, [o(0, 10)]).staged;
    const afterFirst = completeTxnOffsets(first, 7, 4, 'COMMIT');
    expect(afterFirst.committed).toEqual([o(0, 10)]);
    const second = stageTxnOffsets(afterFirst.staged, 7, 4, [o(0, 20)]).staged;
    // The first marker told again (late, or during a reload): nothing happens.
    expect(completeTxnOffsets(second, 7, 4, 'COMMIT')).toEqual({ staged: second, committed: [] });
    expect(completeTxnOffsets(second, 7, 5, 'ABORT')).toEqual({ staged: new Map(), committed: [] });
  });

  it('a transaction that ends without the bump (version 1, Kafka EndTxn v0-4) is ended by a marker at its own epoch, several in a row', () => {
    // KafkaJS: every transaction of the producer runs at epoch 3, and so do their markers.
    const first = stageTxnOffsets(noStagedTxnOffsets, 7, 3, [o(0, 10)], false).staged;
    const committed = completeTxnOffsets(first, 7, 3, 'COMMIT');
    expect(committed).toEqual({ staged: new Map(), committed: [o(0, 10)] });
    const second = stageTxnOffsets(committed.staged, 7, 3, [o(0, 20)], false).staged;
    expect(completeTxnOffsets(second, 7, 3, 'ABORT')).toEqual({ staged: new Map(), committed: [] });
    // An older marker still decides nothing; a newer one (a timeout abort, which bumps) ends it.
    expect(completeTxnOffsets(second, 7, 2, 'COMMIT')).toEqual({ staged: second, committed: [] });
    expect(completeTxnOffsets(second, 7, 4, 'ABORT')).toEqual({ staged: new Map(), committed: [] });
  });

  it('an older epoch is fenced; a newer one replaces what the older staged', () => {
    const { staged } = stageTxnOffsets(noStagedTxnOffsets, 7, 3, [o(0, 10)]);
    const fenced = stageTxnOffsets(staged, 7, 2, [o(1, 5)]);
    expect(fenced.staged).toBe(staged);
    expect(fenced.results[0]!.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    const newer = stageTxnOffsets(staged, 7, 5, [o(1, 5)]).staged;
    expect(completeTxnOffsets(newer, 7, 6, 'COMMIT').committed).toEqual([o(1, 5)]);
  });

  it('a bad offset stages nothing of the request', () => {
    const r = stageTxnOffsets(noStagedTxnOffsets, 7, 3, [o(0, 10), o(1, -1)]);
    expect(r.staged).toBe(noStagedTxnOffsets);
    expect(r.results.map((x) => x.errorCode)).toEqual([ErrorCode.OPERATION_NOT_ATTEMPTED, ErrorCode.INVALID_COMMIT_OFFSET_SIZE]);
  });
});
