/**
 * txn-logic.ts's read side (DescribeTransactions, ListTransactions: KIP-664):
 * a Driver (testing.ts) runs an id through its states, and each test reads
 * what `describeTxn` and `txnListMatcher` make of the committed state.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { Driver } from './testing.ts';
import { describeTxn, emptyTxn, kafkaTxnStateNames, step, txnListMatcher, type TxnReply } from './txn-logic.ts';
import type { TopicPartition } from './txn-records.ts';

const p0: TopicPartition = { topic: 'orders', partition: 0 };
const p1: TopicPartition = { topic: 'orders', partition: 1 };
const p2: TopicPartition = { topic: 'payments', partition: 3 };

function started(timeoutMs = 60_000): { d: Driver; producerId: number; producerEpoch: number } {
  const d = new Driver();
  const r = d.request({ type: 'InitProducerId', transactionTimeoutMs: timeoutMs, producerId: -1, producerEpoch: -1 }) as Extract<TxnReply, { type: 'InitProducerIdReply' }>;
  return { d, producerId: r.producerId, producerEpoch: r.producerEpoch };
}

const all = { stateFilters: [], producerIdFilters: [], durationFilterMs: -1 };

describe('describeTxn', () => {
  it('an id with no record (unknown, its first write in flight) or Dead is TRANSACTIONAL_ID_NOT_FOUND, other fields at their defaults', () => {
    const notFound = { errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: 0, producerId: 0, producerEpoch: 0, topics: [] };
    expect(describeTxn(undefined)).toEqual(notFound);
    const d = new Driver();
    d.autoPersist = false;
    d.send({ ...d.input({ type: 'InitProducerId', transactionTimeoutMs: 1_000, producerId: -1, producerEpoch: -1 }) });
    expect(d.state.pending).not.toBeNull();
    expect(describeTxn(d.state)).toEqual(notFound);
    const { d: loaded } = started();
    const [unloaded] = step(loaded.state, { type: 'Unload' }, loaded.nowMs);
    expect(describeTxn(unloaded)).toEqual(notFound);
  });

  it('Empty after InitProducerId; Ongoing with its partitions grouped by topic, its timeout and start time', () => {
    const { d, producerId, producerEpoch } = started(45_000);
    expect(describeTxn(d.state)).toEqual({ errorCode: 0, transactionState: 'Empty', transactionTimeoutMs: 45_000, transactionStartTimeMs: -1, producerId, producerEpoch, topics: [] });
    d.nowMs = 5_000;
    d.request({ type: 'AddPartitionsToTxn', producerId, producerEpoch, partitions: [p0, p2] });
    d.nowMs = 6_000;
    d.request({ type: 'AddPartitionsToTxn', producerId, producerEpoch, partitions: [p1] });
    expect(describeTxn(d.state)).toEqual({
      errorCode: 0,
      transactionState: 'Ongoing',
      transactionTimeoutMs: 45_000,
      transactionStartTimeMs: 5_000,
      producerId,
      producerEpoch,
      topics: [
        { topic: 'orders', partitions: [0, 1] },
        { topic: 'payments', partitions: [3] },
      ],
    });
  });

  it('the committed state, not a write in flight: Ongoing stays Empty until the add is written', () => {
    const { d, producerId, producerEpoch } = started();
    d.autoPersist = false;
    d.send(d.input({ type: 'AddPartitionsToTxn', producerId, producerEpoch, partitions: [p0] }));
    expect(describeTxn(d.state)).toMatchObject({ transactionState: 'Empty', topics: [] });
    d.completePersist();
    expect(describeTxn(d.state)).toMatchObject({ transactionState: 'Ongoing', topics: [{ topic: 'orders', partitions: [0] }] });
  });

  it('PrepareCommit lists only the partitions still without their marker; CompleteCommit none, at the epoch the end bumped to', () => {
    const { d, producerId, producerEpoch } = started();
    d.request({ type: 'AddPartitionsToTxn', producerId, producerEpoch, partitions: [p0, p1, p2] });
    d.autoMarkers = false;
    d.request({ type: 'EndTxn', producerId, producerEpoch, committed: true });
    expect(describeTxn(d.state)).toMatchObject({ transactionState: 'PrepareCommit', producerEpoch: producerEpoch + 1, topics: [{ topic: 'orders', partitions: [0, 1] }, { topic: 'payments', partitions: [3] }] });
    d.ackMarkers([p0, p2]);
    expect(describeTxn(d.state)).toMatchObject({ transactionState: 'PrepareCommit', topics: [{ topic: 'orders', partitions: [1] }] });
    d.tick(d.nowMs + 60_000); // the failed one is retried
    d.ackMarkers();
    d.settle();
    expect(describeTxn(d.state)).toEqual({ errorCode: 0, transactionState: 'CompleteCommit', transactionTimeoutMs: 60_000, transactionStartTimeMs: -1, producerId, producerEpoch: producerEpoch + 1, topics: [] });
  });

  it('an abort ends in CompleteAbort; transaction version 1 keeps the epoch', () => {
    const { d, producerId, producerEpoch } = started();
    d.request({ type: 'AddPartitionsToTxn', producerId, producerEpoch, partitions: [p0] });
    d.request({ type: 'EndTxn', producerId, producerEpoch, committed: false, bumpEpochOnEnd: false });
    expect(describeTxn(d.state)).toMatchObject({ transactionState: 'CompleteAbort', producerId, producerEpoch });
  });
});

describe('txnListMatcher', () => {
  it('no filter lists every state held; Dead and record-less ids never', () => {
    const { d } = started();
    const m = txnListMatcher(all, d.nowMs);
    expect(m.matches(d.state)).toBe(true);
    expect(m.unknownStateFilters).toEqual([]);
    expect(m.matches(emptyTxn('fresh'))).toBe(false);
    expect(m.matches(step(d.state, { type: 'Unload' }, d.nowMs)[0])).toBe(false);
  });

  it('state filters match Kafka names exactly; unknown names are echoed once and match nothing', () => {
    const { d, producerId, producerEpoch } = started();
    d.request({ type: 'AddPartitionsToTxn', producerId, producerEpoch, partitions: [p0] });
    expect(txnListMatcher({ ...all, stateFilters: ['Ongoing'] }, d.nowMs).matches(d.state)).toBe(true);
    expect(txnListMatcher({ ...all, stateFilters: ['Empty', 'CompleteCommit'] }, d.nowMs).matches(d.state)).toBe(false);
    const odd = txnListMatcher({ ...all, stateFilters: ['ongoing', 'Ongoing', 'Running', 'Running'] }, d.nowMs);
    expect(odd.unknownStateFilters).toEqual(['ongoing', 'Running']);
    expect(odd.matches(d.state)).toBe(true);
    const onlyUnknown = txnListMatcher({ ...all, stateFilters: ['Running'] }, d.nowMs);
    expect(onlyUnknown.matches(d.state)).toBe(false);
    // Every Kafka name is known, even the two Kactus never holds.
    expect(txnListMatcher({ ...all, stateFilters: [...kafkaTxnStateNames] }, d.nowMs).unknownStateFilters).toEqual([]);
  });

  it('producer id filters; -1 (what a Kafka id beyond 2^53 becomes) matches nothing', () => {
    const { d, producerId } = started();
    expect(txnListMatcher({ ...all, producerIdFilters: [producerId, 77] }, d.nowMs).matches(d.state)).toBe(true);
    expect(txnListMatcher({ ...all, producerIdFilters: [77] }, d.nowMs).matches(d.state)).toBe(false);
    expect(txnListMatcher({ ...all, producerIdFilters: [-1] }, d.nowMs).matches(d.state)).toBe(false);
  });

  it('the duration filter keeps transactions running strictly longer; with it, ids outside a transaction (start -1) are kept, as in Kafka', () => {
    const { d, producerId, producerEpoch } = started();
    expect(txnListMatcher({ ...all, durationFilterMs: 10_000 }, 1_700_000_000_000).matches(d.state)).toBe(true); // Empty: start -1
    d.nowMs = 10_000;
    d.request({ type: 'AddPartitionsToTxn', producerId, producerEpoch, partitions: [p0] });
    expect(txnListMatcher({ ...all, durationFilterMs: 5_000 }, 15_000).matches(d.state)).toBe(false);
    expect(txnListMatcher({ ...all, durationFilterMs: 5_000 }, 15_001).matches(d.state)).toBe(true);
    expect(txnListMatcher({ ...all, durationFilterMs: -5 }, 10_000).matches(d.state)).toBe(true);
  });
});
