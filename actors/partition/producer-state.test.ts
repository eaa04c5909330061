/**
 * Idempotent producer state: duplicates, gaps, fencing by epoch, and the
 * rebuild from log bytes a new leader does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { encodeBatch, readBatchHeader } from '../../protocol/record-batch/index.ts';
import { encodeEndTxnMarker } from '../../protocol/record-batch/control.ts';
import { checkBatch, checkMarker, describeProducers, rebuildFromLog, recordBatch, type ProducerStates } from './producer-state.ts';
import { emptyTxnIndex, recordBatch as recordTxnBatch } from './txn-index.ts';

const batch = (producerId: number, producerEpoch: number, baseSequence: number, count: number, baseOffset = 0) =>
  encodeBatch({ records: Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`v${i}`), timestamp: 0 })), producerId, producerEpoch, baseSequence, baseOffset });
const header = (bytes: Buffer) => readBatchHeader(bytes, 0);

describe('producer state', () => {
  it('appends in sequence, recognises a retried batch as a duplicate, refuses gaps', () => {
    const states: ProducerStates = new Map();
    const first = header(batch(7, 0, 0, 3));
    expect(checkBatch(states, first)).toEqual({ type: 'Append' });
    recordBatch(states, first, 0, 2);
    expect(checkBatch(states, first)).toEqual({ type: 'Duplicate', baseOffset: 0, lastOffset: 2 });
    expect(checkBatch(states, header(batch(7, 0, 3, 1)))).toEqual({ type: 'Append' });
    expect(checkBatch(states, header(batch(7, 0, 5, 1)))).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
  });

  it('fences an older epoch and wants a new epoch to start at 0', () => {
    const states: ProducerStates = new Map();
    recordBatch(states, header(batch(7, 2, 0, 1)), 0, 0);
    expect(checkBatch(states, header(batch(7, 1, 1, 1)))).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
    expect(checkBatch(states, header(batch(7, 3, 4, 1)))).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(checkBatch(states, header(batch(7, 3, 0, 1)))).toEqual({ type: 'Append' });
  });

  it('remembers only the last five batches of a producer', () => {
    const states: ProducerStates = new Map();
    for (let i = 0; i < 7; i += 1) recordBatch(states, header(batch(1, 0, i, 1)), i, i);
    expect(checkBatch(states, header(batch(1, 0, 6, 1)))).toMatchObject({ type: 'Duplicate' });
    expect(checkBatch(states, header(batch(1, 0, 0, 1)))).toMatchObject({ type: 'Refuse' });
  });

  it('a retry of any of the last five batches (five in flight, answers lost) is a duplicate with its own offsets, never written again', () => {
    // A producer with max.in.flight 5 whose answers were all lost retries every one of them, oldest first.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 12 }), fc.nat(), (sizes, pick) => {
        const states: ProducerStates = new Map();
        const sent: { sequence: number; count: number; baseOffset: number }[] = [];
        let sequence = 0;
        let offset = 0;
        for (const count of sizes) {
          const h = header(batch(9, 0, sequence, count, offset));
          if (checkBatch(states, h).type !== 'Append') return false;
          recordBatch(states, h, offset, offset + count - 1);
          sent.push({ sequence, count, baseOffset: offset });
          sequence += count;
          offset += count;
        }
        const remembered = sent.slice(-5);
        const retried = remembered[pick % remembered.length]!;
        const answer = checkBatch(states, header(batch(9, 0, retried.sequence, retried.count)));
        expect(answer).toEqual({ type: 'Duplicate', baseOffset: retried.baseOffset, lastOffset: retried.baseOffset + retried.count - 1 });
        // Older than the five: refused, never appended a second time.
        for (const old of sent.slice(0, -5)) expect(checkBatch(states, header(batch(9, 0, old.sequence, old.count))).type).toBe('Refuse');
        return true;
      }),
    );
  });

  it('rebuilds from the log bytes what the appends built', () => {
    const log = Buffer.concat([batch(1, 0, 0, 2, 0), batch(2, 0, 0, 1, 2), batch(1, 0, 2, 3, 3)]);
    const rebuilt = rebuildFromLog((from) => (from === 0 ? log : Buffer.alloc(0)), 0, 6);
    expect(checkBatch(rebuilt, header(batch(1, 0, 2, 3)))).toEqual({ type: 'Duplicate', baseOffset: 3, lastOffset: 5 });
    expect(checkBatch(rebuilt, header(batch(2, 0, 1, 1)))).toEqual({ type: 'Append' });
  });

  it('a transaction marker raises the epoch (KIP-890): the ended transaction\'s delayed batch is refused, the next starts at 0', () => {
    const states: ProducerStates = new Map();
    const txnBatch = (epoch: number, sequence: number) =>
      encodeBatch({ records: [{ key: null, value: Buffer.from('x'), timestamp: 0 }], producerId: 9, producerEpoch: epoch, baseSequence: sequence, isTransactional: true });
    recordBatch(states, header(txnBatch(4, 0)), 0, 0);
    recordBatch(states, header(encodeEndTxnMarker({ producerId: 9, producerEpoch: 5, type: 'commit', coordinatorEpoch: 0, timestamp: 0 })), 1, 1);
    expect(checkBatch(states, header(txnBatch(4, 1)))).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
    expect(checkBatch(states, header(txnBatch(5, 0)))).toEqual({ type: 'Append' });
    const rebuilt = rebuildFromLog((from) => (from === 0 ? Buffer.concat([txnBatch(4, 0), encodeEndTxnMarker({ producerId: 9, producerEpoch: 5, type: 'abort', coordinatorEpoch: 0, timestamp: 0 })]) : Buffer.alloc(0)), 0, 2);
    expect(checkBatch(rebuilt, header(txnBatch(4, 1)))).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
  });

  it('a coordinator\'s write for a producer (sequence -1) is checked by epoch only and not remembered', () => {
    const states: ProducerStates = new Map();
    recordBatch(states, header(batch(3, 2, 0, 2)), 0, 1);
    const coordinatorWrite = (epoch: number) =>
      encodeBatch({ records: [{ key: Buffer.from('k'), value: Buffer.from('v'), timestamp: 0 }], producerId: 3, producerEpoch: epoch, baseSequence: -1, isTransactional: true });
    expect(checkBatch(states, header(coordinatorWrite(2)))).toEqual({ type: 'Append' });
    expect(checkBatch(states, header(coordinatorWrite(1)))).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
    recordBatch(states, header(coordinatorWrite(2)), 2, 2);
    expect(checkBatch(states, header(batch(3, 2, 2, 1)))).toEqual({ type: 'Append' });
  });

  it('a marker from an older coordinator epoch is fenced, across producer epochs and after a rebuild from the log', () => {
    const marker = (producerEpoch: number, coordinatorEpoch: number) => encodeEndTxnMarker({ producerId: 9, producerEpoch, type: 'commit', coordinatorEpoch, timestamp: 0 });
    const states: ProducerStates = new Map();
    expect(checkMarker(states, 9, 5, 0)).toEqual({ type: 'Append' }); // unknown producer
    recordBatch(states, header(marker(5, 3)), 0, 0, 3);
    // The next transaction's epoch (KIP-890: the marker carried it), from the same coordinator epoch or a newer one: fine.
    expect(checkMarker(states, 9, 5, 3)).toEqual({ type: 'Append' });
    expect(checkMarker(states, 9, 6, 4)).toEqual({ type: 'Append' });
    // A replaced coordinator's late marker: the producer's epoch, an older coordinator epoch.
    expect(checkMarker(states, 9, 5, 2)).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.TRANSACTION_COORDINATOR_FENCED });
    expect(checkMarker(states, 9, 4, 3)).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
    // A data batch of a newer producer epoch keeps the coordinator epoch.
    recordBatch(states, header(encodeBatch({ records: [{ key: null, value: Buffer.from('x'), timestamp: 0 }], producerId: 9, producerEpoch: 6, baseSequence: 0, isTransactional: true })), 1, 1);
    expect(checkMarker(states, 9, 6, 2)).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.TRANSACTION_COORDINATOR_FENCED });
    // A new leader rebuilds the coordinator epoch from the markers' values.
    const rebuilt = rebuildFromLog((from) => (from === 0 ? Buffer.concat([marker(5, 3)]) : Buffer.alloc(0)), 0, 1);
    expect(checkMarker(rebuilt, 9, 5, 2)).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.TRANSACTION_COORDINATOR_FENCED });
    expect(checkMarker(rebuilt, 9, 5, 3)).toEqual({ type: 'Append' });
  });
});

describe('describeProducers (KIP-664)', () => {
  const txnBatch = (producerId: number, producerEpoch: number, baseSequence: number, timestamp: number) =>
    encodeBatch({ records: [{ key: null, value: Buffer.from('t'), timestamp }], producerId, producerEpoch, baseSequence, isTransactional: true });

  it('each producer by id: epoch, last sequence and timestamp, coordinator epoch, and its open transaction\'s first offset', () => {
    const states: ProducerStates = new Map();
    const txns = emptyTxnIndex();
    const record = (bytes: Buffer, baseOffset: number, marker: 'commit' | 'abort' | null = null, coordinatorEpoch = -1) => {
      const h = header(bytes);
      recordBatch(states, h, baseOffset, baseOffset + h.lastOffsetDelta, coordinatorEpoch);
      recordTxnBatch(txns, h, baseOffset, baseOffset + h.lastOffsetDelta, marker);
    };
    record(encodeBatch({ records: [{ key: null, value: Buffer.from('a'), timestamp: 111 }, { key: null, value: Buffer.from('b'), timestamp: 112 }], producerId: 9, producerEpoch: 0, baseSequence: 0 }), 0);
    record(txnBatch(4, 2, 0, 200), 2);
    record(txnBatch(4, 2, 1, 201), 3);
    expect(describeProducers(states, txns.ongoing)).toEqual([
      { producerId: 4, producerEpoch: 2, lastSequence: 1, lastTimestampMs: 201, coordinatorEpoch: -1, currentTxnStartOffset: 2 },
      { producerId: 9, producerEpoch: 0, lastSequence: 1, lastTimestampMs: 112, coordinatorEpoch: -1, currentTxnStartOffset: -1 },
    ]);
    // Transaction version 2: the commit marker carries the next epoch; the transaction is closed, the sequence starts over.
    record(encodeEndTxnMarker({ producerId: 4, producerEpoch: 3, type: 'commit', coordinatorEpoch: 5, timestamp: 300 }), 4, 'commit', 5);
    expect(describeProducers(states, txns.ongoing)[0]).toEqual({ producerId: 4, producerEpoch: 3, lastSequence: -1, lastTimestampMs: 300, coordinatorEpoch: 5, currentTxnStartOffset: -1 });
    // Transaction version 1: a marker in the same epoch keeps the sequence.
    record(txnBatch(4, 3, 0, 400), 5);
    record(encodeEndTxnMarker({ producerId: 4, producerEpoch: 3, type: 'abort', coordinatorEpoch: 5, timestamp: 500 }), 6, 'abort', 5);
    expect(describeProducers(states, txns.ongoing)[0]).toEqual({ producerId: 4, producerEpoch: 3, lastSequence: 0, lastTimestampMs: 500, coordinatorEpoch: 5, currentTxnStartOffset: -1 });
  });

  it('a new leader rebuilding from the log describes the same producers', () => {
    const states: ProducerStates = new Map();
    const bytes = Buffer.concat([txnBatch(4, 2, 0, 200)]);
    const rebuilt = rebuildFromLog((from) => (from === 0 ? bytes : Buffer.alloc(0)), 0, 1);
    recordBatch(states, header(bytes), 0, 0);
    expect(describeProducers(rebuilt, new Map([[4, 0]]))).toEqual(describeProducers(states, new Map([[4, 0]])));
    expect(describeProducers(rebuilt, new Map())[0]).toMatchObject({ lastTimestampMs: 200, lastSequence: 0 });
  });
});
