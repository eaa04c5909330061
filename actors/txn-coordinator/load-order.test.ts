/**
 * txn-records.ts and txn-logic.ts import each other (loading needs the logic's
 * restore; the logic needs the records' validation). A shell that imports
 * txn-records.ts first must still work: this file imports only it, so the
 * cycle is entered from that side (the other test files enter from the logic).
 */
import { describe, expect, it } from 'vitest';
import { encodeRecord, decodeRecord, loadTransactions } from './txn-records.ts';

describe('txn records loaded first', () => {
  it('decodes and loads with the logic initialised behind it', () => {
    const value = { producerId: 1, previousProducerId: -1, nextProducerId: -1, producerEpoch: 0, lastProducerEpoch: -1, timeoutMs: 60_000, state: 'Empty', partitions: [], txnStartMs: -1, lastUpdateMs: 0 } as const;
    const encoded = encodeRecord({ key: { transactionalId: 'x' }, value });
    const decoded = decodeRecord(encoded.key, encoded.value);
    expect(decoded.ok).toBe(true);
    if (decoded.ok) expect(loadTransactions([decoded.value], { nowMs: 0 }).get('x')?.phase).toBe('Empty');
  });
});
