/**
 * txn-logic.ts, one transition or error per test: a Driver (testing.ts) plays
 * the shell, so each test reads as requests and the replies, records and
 * markers they cause. Errors are checked to leave no partial effect: the
 * state is unchanged and the only effect is the reply.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { client, Driver } from './testing.ts';
import type { RequestInput } from './testing.ts';
import { consumerOffsetsTopic, isDisposable, nextDeadlineMs, step, txnConfigDefault } from './txn-logic.ts';
import type { TxnConfig, TxnInput, TxnReply } from './txn-logic.ts';
import { coordinatorPartitionFor } from './txn-records.ts';
import type { TopicPartition } from './txn-records.ts';

const p0: TopicPartition = { topic: 'orders', partition: 0 };
const p1: TopicPartition = { topic: 'orders', partition: 1 };
const p2: TopicPartition = { topic: 'payments', partition: 0 };

type Producer = { producerId: number; producerEpoch: number };

function init(d: Driver, timeoutMs = 60_000): Producer {
  const r = d.request({ type: 'InitProducerId', transactionTimeoutMs: timeoutMs, producerId: -1, producerEpoch: -1 });
  expect(r).toMatchObject({ type: 'InitProducerIdReply', errorCode: ErrorCode.NONE });
  const { producerId, producerEpoch } = r as Extract<TxnReply, { type: 'InitProducerIdReply' }>;
  return { producerId, producerEpoch };
}

function add(d: Driver, p: Producer, partitions: TopicPartition[]): TxnReply {
  return d.request({ type: 'AddPartitionsToTxn', ...p, partitions });
}

function end(d: Driver, p: Producer, committed: boolean): TxnReply {
  return d.request({ type: 'EndTxn', ...p, committed });
}

function errorOf(r: TxnReply): number {
  if ('errorCode' in r) return r.errorCode;
  const codes = new Set(r.results.map((x) => x.errorCode));
  expect(codes.size).toBe(1);
  return [...codes][0]!;
}

/** Steps a request that must fail: the state does not change and the reply is the only effect. */
function rejects(d: Driver, input: RequestInput, errorCode: number): void {
  const [next, effects] = step(d.state, d.input(input), d.nowMs);
  expect(effects).toHaveLength(1);
  expect(effects[0]!.type).toBe('Reply');
  expect(errorOf((effects[0] as Extract<(typeof effects)[number], { type: 'Reply' }>).reply)).toBe(errorCode);
  expect(next).toEqual(d.state);
}

describe('InitProducerId', () => {
  it('a new transactional id gets a fresh producer id at epoch 0, answered once Empty is written', () => {
    const d = new Driver();
    d.autoPersist = false;
    const replies = d.send({ type: 'InitProducerId', transactionalId: 'tx-1', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1, freshProducerId: 1_000, replyTo: client });
    expect(replies).toEqual([]);
    expect(d.effects.map((e) => e.type)).toEqual(['ProducerIdTaken', 'PersistTxnState']);
    expect(d.persists[0]!.record.value).toMatchObject({ producerId: 1_000, producerEpoch: 0, state: 'Empty', timeoutMs: 60_000, partitions: [] });
    d.completePersist();
    expect(d.replies).toEqual([{ type: 'InitProducerIdReply', errorCode: ErrorCode.NONE, producerId: 1_000, producerEpoch: 0 }]);
  });

  it('a second init bumps the epoch of the same producer id and takes no new id', () => {
    const d = new Driver();
    const first = init(d);
    const second = init(d);
    expect(second).toEqual({ producerId: first.producerId, producerEpoch: first.producerEpoch + 1 });
    expect(d.effects.filter((e) => e.type === 'ProducerIdTaken')).toHaveLength(1);
  });

  it.each([0, -5, 900_001, 1.5])('transaction timeout %s ms: INVALID_TRANSACTION_TIMEOUT', (timeoutMs) => {
    const d = new Driver();
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: timeoutMs, producerId: -1, producerEpoch: -1 }, ErrorCode.INVALID_TRANSACTION_TIMEOUT);
  });

  it('KIP-360: an init naming another producer id gets INVALID_PRODUCER_ID_MAPPING, an old epoch PRODUCER_FENCED, the current one a bump', () => {
    const d = new Driver();
    const p = init(d);
    init(d); // epoch 1
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: p.producerId + 7, producerEpoch: 1 }, ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: p.producerId, producerEpoch: 0 }, ErrorCode.PRODUCER_FENCED);
    const r = d.request({ type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: p.producerId, producerEpoch: 1 });
    expect(r).toMatchObject({ errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: 2 });
  });

  it('KIP-360: the producer whose transaction timed out re-inits with the epoch it had and gets a bump', () => {
    const d = new Driver();
    d.nowMs = 0;
    const p = init(d, 5_000);
    add(d, p, [p0]);
    d.tick(5_000);
    expect(d.state.meta).toMatchObject({ state: 'CompleteAbort', producerEpoch: p.producerEpoch + 1 });
    const r = d.request({ type: 'InitProducerId', transactionTimeoutMs: 5_000, ...p });
    expect(r).toMatchObject({ errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: p.producerEpoch + 2 });
    // Two epochs back is still fenced.
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: 5_000, ...p }, ErrorCode.PRODUCER_FENCED);
  });

  it('while a write is in flight: CONCURRENT_TRANSACTIONS', () => {
    const d = new Driver();
    d.autoPersist = false;
    d.send({ type: 'InitProducerId', transactionalId: 'tx-1', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1, freshProducerId: 1_000, replyTo: client });
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 }, ErrorCode.CONCURRENT_TRANSACTIONS);
  });

  it('an exhausted epoch rotates to a fresh producer id at epoch 0 (producerEpochMax 4: epochs 0..2, then a new id)', () => {
    const d = new Driver('tx-1', { ...txnConfigDefault, producerEpochMax: 4 });
    const seen = [init(d), init(d), init(d), init(d), init(d)];
    expect(seen).toEqual([
      { producerId: 1_000, producerEpoch: 0 },
      { producerId: 1_000, producerEpoch: 1 },
      { producerId: 1_000, producerEpoch: 2 },
      { producerId: 1_000, producerEpoch: 3 },
      { producerId: 1_001, producerEpoch: 0 },
    ]);
    expect(d.state.meta).toMatchObject({ producerId: 1_001, previousProducerId: 1_000 });
  });
});

describe('producer checks: a producer that never called InitProducerId, another id, an old or unknown epoch', () => {
  it.each([
    ['AddPartitionsToTxn', { type: 'AddPartitionsToTxn', producerId: 5, producerEpoch: 0, partitions: [p0] }],
    ['AddOffsetsToTxn', { type: 'AddOffsetsToTxn', producerId: 5, producerEpoch: 0, groupId: 'g' }],
    ['EndTxn', { type: 'EndTxn', producerId: 5, producerEpoch: 0, committed: true }],
  ] as const)('%s without init: INVALID_PRODUCER_ID_MAPPING, no effect', (_name, input) => {
    rejects(new Driver(), input, ErrorCode.INVALID_PRODUCER_ID_MAPPING);
  });

  it('another producer id: INVALID_PRODUCER_ID_MAPPING; an older epoch: PRODUCER_FENCED; a newer one: INVALID_PRODUCER_EPOCH', () => {
    const d = new Driver();
    init(d);
    const p = init(d); // epoch 1
    add(d, p, [p0]);
    for (const [producer, code] of [
      [{ producerId: p.producerId + 1, producerEpoch: 1 }, ErrorCode.INVALID_PRODUCER_ID_MAPPING],
      [{ producerId: p.producerId, producerEpoch: 0 }, ErrorCode.PRODUCER_FENCED],
      [{ producerId: p.producerId, producerEpoch: 2 }, ErrorCode.INVALID_PRODUCER_EPOCH],
    ] as const) {
      rejects(d, { type: 'AddPartitionsToTxn', ...producer, partitions: [p1] }, code);
      rejects(d, { type: 'AddOffsetsToTxn', ...producer, groupId: 'g' }, code);
      rejects(d, { type: 'EndTxn', ...producer, committed: true }, code);
    }
  });
});

describe('AddPartitionsToTxn and AddOffsetsToTxn', () => {
  it('the first add writes Ongoing with the start time; adding known partitions writes nothing; a new one is written', () => {
    const d = new Driver();
    const p = init(d);
    d.nowMs = 5_000;
    expect(add(d, p, [p0, p1])).toEqual({
      type: 'AddPartitionsToTxnReply',
      results: [
        { topic: 'orders', partition: 0, errorCode: ErrorCode.NONE },
        { topic: 'orders', partition: 1, errorCode: ErrorCode.NONE },
      ],
    });
    expect(d.state.meta).toMatchObject({ state: 'Ongoing', partitions: [p0, p1], txnStartMs: 5_000 });
    const writes = d.log.length;
    d.nowMs = 6_000;
    expect(errorOf(add(d, p, [p1]))).toBe(ErrorCode.NONE);
    expect(d.log).toHaveLength(writes);
    expect(errorOf(add(d, p, [p2, p0]))).toBe(ErrorCode.NONE);
    expect(d.state.meta).toMatchObject({ partitions: [p0, p1, p2], txnStartMs: 5_000, lastUpdateMs: 6_000 });
  });

  it('a bad partition is named, the rest are not attempted, nothing is added', () => {
    const d = new Driver();
    const p = init(d);
    const [next, effects] = step(d.state, { type: 'AddPartitionsToTxn', transactionalId: 'tx-1', ...p, partitions: [p0, { topic: '', partition: 1 }], replyTo: client }, d.nowMs);
    expect(effects).toEqual([
      {
        type: 'Reply',
        to: client,
        reply: {
          type: 'AddPartitionsToTxnReply',
          results: [
            { topic: 'orders', partition: 0, errorCode: ErrorCode.OPERATION_NOT_ATTEMPTED },
            { topic: '', partition: 1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
          ],
        },
      },
    ]);
    expect(next).toEqual(d.state);
  });

  it('more partitions than partitionsPerTxnMax: INVALID_REQUEST', () => {
    const d = new Driver('tx-1', { ...txnConfigDefault, partitionsPerTxnMax: 2 });
    const p = init(d);
    add(d, p, [p0, p1]);
    rejects(d, { type: 'AddPartitionsToTxn', ...p, partitions: [p2] }, ErrorCode.INVALID_REQUEST);
  });

  it("AddOffsetsToTxn adds the group's __consumer_offsets partition, so its markers reach the group coordinator", () => {
    const d = new Driver();
    const p = init(d);
    expect(d.request({ type: 'AddOffsetsToTxn', ...p, groupId: 'my-group' })).toEqual({ type: 'AddOffsetsToTxnReply', errorCode: ErrorCode.NONE });
    const offsetsPartition = { topic: consumerOffsetsTopic, partition: coordinatorPartitionFor('my-group', 50) };
    expect(offsetsPartition.partition).toBe(12);
    expect(d.state.meta!.partitions).toEqual([offsetsPartition]);
    end(d, p, true);
    expect(d.markersWritten.map((m) => m.partition)).toEqual([offsetsPartition]);
  });

  it('AddOffsetsToTxn with an empty group id: INVALID_GROUP_ID', () => {
    const d = new Driver();
    const p = init(d);
    rejects(d, { type: 'AddOffsetsToTxn', ...p, groupId: '' }, ErrorCode.INVALID_GROUP_ID);
  });

  it('a failed write answers the mapped error and leaves the transaction as it was', () => {
    const d = new Driver();
    const p = init(d);
    d.autoPersist = false;
    d.send({ type: 'AddPartitionsToTxn', transactionalId: 'tx-1', ...p, partitions: [p0], replyTo: client });
    d.completePersist(ErrorCode.NOT_ENOUGH_REPLICAS);
    expect(errorOf(d.replies.at(-1)!)).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(d.state.meta!.state).toBe('Empty');
    expect(d.state.pending).toBeNull();
  });
});

describe('VerifyPartitionsInTxn (KIP-890 part 1): a send to a partition not added', () => {
  it('added: NONE; not added: INVALID_TXN_STATE; fenced epoch: PRODUCER_FENCED; never writes', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    const writes = d.log.length;
    expect(d.request({ type: 'VerifyPartitionsInTxn', ...p, partitions: [p0, p1] })).toEqual({
      type: 'VerifyPartitionsInTxnReply',
      results: [
        { topic: 'orders', partition: 0, errorCode: ErrorCode.NONE },
        { topic: 'orders', partition: 1, errorCode: ErrorCode.INVALID_TXN_STATE },
      ],
    });
    expect(errorOf(d.request({ type: 'VerifyPartitionsInTxn', producerId: p.producerId, producerEpoch: p.producerEpoch - 1, partitions: [p0] }))).toBe(
      ErrorCode.PRODUCER_FENCED,
    );
    expect(d.log).toHaveLength(writes);
  });
});

describe('EndTxn', () => {
  it('commit: PrepareCommit with the epoch bumped is written, the reply names the new epoch, markers go out with it, then CompleteCommit', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0, p2]);
    d.autoPersist = false;
    d.autoMarkers = false;
    d.send({ type: 'EndTxn', transactionalId: 'tx-1', ...p, committed: true, bumpEpochOnEnd: true, freshProducerId: 2_000, replyTo: client });
    expect(d.replies.at(-1)!.type).toBe('AddPartitionsToTxnReply'); // not answered before the write
    expect(d.persists[0]!.record.value).toMatchObject({ state: 'PrepareCommit', producerEpoch: p.producerEpoch + 1, lastProducerEpoch: p.producerEpoch, partitions: [p0, p2] });
    d.completePersist();
    expect(d.replies.at(-1)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: p.producerEpoch + 1 });
    expect(d.markerRequests).toEqual([
      { type: 'WriteTxnMarkers', transactionalId: 'tx-1', producerId: p.producerId, producerEpoch: p.producerEpoch + 1, result: 'COMMIT', partitions: [p0, p2] },
    ]);
    expect(d.state.phase).toBe('PrepareCommit');
    d.ackMarkers([p0]); // p2 fails
    expect(d.persists).toHaveLength(0);
    d.tick(d.nowMs + 100);
    expect(d.markerRequests.at(-1)!.partitions).toEqual([p2]);
    d.ackMarkers();
    expect(d.persists[0]!.record.value).toMatchObject({ state: 'CompleteCommit', partitions: [], txnStartMs: -1, producerEpoch: p.producerEpoch + 1 });
    d.completePersist();
    expect(d.state.phase).toBe('CompleteCommit');
    expect(d.state.markers).toBeNull();
  });

  it('abort: the same path with ABORT markers and CompleteAbort', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    expect(end(d, p, false)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: p.producerEpoch + 1 });
    expect(d.markersWritten).toEqual([{ partition: p0, producerId: p.producerId, producerEpoch: p.producerEpoch + 1, result: 'ABORT' }]);
    expect(d.state.phase).toBe('CompleteAbort');
  });

  it('a retried EndTxn with the same result after completion: success with the current producer; with the other result (commit after abort): INVALID_TXN_STATE', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    end(d, p, false);
    expect(end(d, p, false)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: p.producerEpoch + 1 });
    rejects(d, { type: 'EndTxn', ...p, committed: true }, ErrorCode.INVALID_TXN_STATE);
    // And at the new epoch, with no transaction open:
    rejects(d, { type: 'EndTxn', producerId: p.producerId, producerEpoch: p.producerEpoch + 1, committed: true }, ErrorCode.INVALID_TXN_STATE);
  });

  it('while markers are pending: a retried EndTxn, the next AddPartitions and an init get CONCURRENT_TRANSACTIONS', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    d.autoMarkers = false;
    end(d, p, true);
    const next = { producerId: p.producerId, producerEpoch: p.producerEpoch + 1 };
    rejects(d, { type: 'EndTxn', ...p, committed: true }, ErrorCode.CONCURRENT_TRANSACTIONS);
    rejects(d, { type: 'EndTxn', ...p, committed: false }, ErrorCode.INVALID_TXN_STATE);
    rejects(d, { type: 'AddPartitionsToTxn', ...next, partitions: [p1] }, ErrorCode.CONCURRENT_TRANSACTIONS);
    rejects(d, { type: 'EndTxn', ...next, committed: true }, ErrorCode.CONCURRENT_TRANSACTIONS);
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 }, ErrorCode.CONCURRENT_TRANSACTIONS);
    d.ackMarkers();
    d.settle();
    expect(errorOf(add(d, next, [p1]))).toBe(ErrorCode.NONE);
  });

  it('with no transaction open (Empty): INVALID_TXN_STATE', () => {
    const d = new Driver();
    const p = init(d);
    rejects(d, { type: 'EndTxn', ...p, committed: true }, ErrorCode.INVALID_TXN_STATE);
    rejects(d, { type: 'EndTxn', ...p, committed: false }, ErrorCode.INVALID_TXN_STATE);
  });

  it('KIP-890: after a commit the old epoch is fenced, so a delayed add or end of the ended transaction cannot touch the next one', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    end(d, p, true);
    const next = { producerId: p.producerId, producerEpoch: p.producerEpoch + 1 };
    add(d, next, [p1]);
    rejects(d, { type: 'AddPartitionsToTxn', ...p, partitions: [p2] }, ErrorCode.PRODUCER_FENCED);
    rejects(d, { type: 'EndTxn', ...p, committed: false }, ErrorCode.PRODUCER_FENCED);
    expect(d.state.meta).toMatchObject({ state: 'Ongoing', partitions: [p1] });
  });

  it('a failed PrepareCommit write answers NOT_COORDINATOR and the transaction stays Ongoing, no markers', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    d.autoPersist = false;
    d.send({ type: 'EndTxn', transactionalId: 'tx-1', ...p, committed: true, bumpEpochOnEnd: true, freshProducerId: 2_000, replyTo: client });
    d.completePersist(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect(d.replies.at(-1)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NOT_COORDINATOR, producerId: -1, producerEpoch: -1 });
    expect(d.state.meta).toMatchObject({ state: 'Ongoing', producerEpoch: p.producerEpoch });
    expect(d.markerRequests).toEqual([]);
  });

  it('an exhausted epoch at the end rotates: the reply names the next producer id at epoch 0, markers use the old id at the last epoch; a retry with the old id succeeds', () => {
    const d = new Driver('tx-1', { ...txnConfigDefault, producerEpochMax: 4 });
    init(d);
    init(d);
    const p = init(d); // epoch 2: the end bump reaches 3 = max - 1, exhausted
    add(d, p, [p0]);
    expect(end(d, p, true)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, producerId: 1_001, producerEpoch: 0 });
    expect(d.markersWritten).toEqual([{ partition: p0, producerId: 1_000, producerEpoch: 3, result: 'COMMIT' }]);
    expect(d.state.meta).toMatchObject({ state: 'CompleteCommit', producerId: 1_001, producerEpoch: 0, previousProducerId: 1_000, nextProducerId: -1 });
    expect(end(d, p, true)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, producerId: 1_001, producerEpoch: 0 });
    expect(errorOf(add(d, { producerId: 1_001, producerEpoch: 0 }, [p1]))).toBe(ErrorCode.NONE);
  });

  it('after a rotation, a producer fenced on the old id is not mistaken for a retry of a later transaction at the same epoch number (fuzz regression)', () => {
    const d = new Driver('tx-1', { ...txnConfigDefault, producerEpochMax: 4 });
    const fenced = init(d); // 1000/0, fenced by the next inits
    init(d);
    const p = init(d); // 1000/2
    add(d, p, [p0]);
    end(d, p, false); // rotates: 1001/0, previous 1000
    const next = { producerId: 1_001, producerEpoch: 0 };
    add(d, next, [p0]);
    end(d, next, true); // 1001/1, lastProducerEpoch 0
    expect(d.state.meta).toMatchObject({ state: 'CompleteCommit', producerId: 1_001, producerEpoch: 1, previousProducerId: 1_000, lastProducerEpoch: 0 });
    rejects(d, { type: 'EndTxn', ...fenced, committed: true }, ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(end(d, next, true)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, producerId: 1_001, producerEpoch: 1 });
  });

  it('while the rotating Prepare* is written, the producer already on the next id gets CONCURRENT_TRANSACTIONS', () => {
    const d = new Driver('tx-1', { ...txnConfigDefault, producerEpochMax: 4 });
    init(d);
    init(d);
    const p = init(d);
    add(d, p, [p0]);
    d.autoMarkers = false;
    end(d, p, true);
    rejects(d, { type: 'AddPartitionsToTxn', producerId: 1_001, producerEpoch: 0, partitions: [p1] }, ErrorCode.CONCURRENT_TRANSACTIONS);
  });
});

/** EndTxn as Kafka's EndTxn v0-4 sends it through the Kafka listener: transaction version 1, the epoch kept. */
function endKept(d: Driver, p: Producer, committed: boolean): TxnReply {
  return d.request({ type: 'EndTxn', ...p, committed, bumpEpochOnEnd: false });
}

describe('EndTxn without the bump (transaction version 1: Kafka clients on EndTxn v0-4)', () => {
  it('the same producer runs two transactions in a row in one epoch: records, markers and replies keep the epoch', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    d.autoPersist = false;
    d.send(d.input({ type: 'EndTxn', ...p, committed: true, bumpEpochOnEnd: false }));
    expect(d.persists[0]!.record.value).toEqual({ ...d.state.meta, state: 'PrepareCommit', lastProducerEpoch: p.producerEpoch, lastUpdateMs: d.nowMs, endBumpedEpoch: false });
    d.completePersist();
    expect(d.replies.at(-1)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, ...p });
    d.settle();
    d.autoPersist = true;
    d.settle();
    expect(d.state.meta).toMatchObject({ state: 'CompleteCommit', ...p, endBumpedEpoch: false });
    expect(errorOf(add(d, p, [p1]))).toBe(ErrorCode.NONE);
    expect(d.state.meta).toMatchObject({ state: 'Ongoing', ...p, partitions: [p1] });
    expect(d.state.meta).not.toHaveProperty('endBumpedEpoch');
    expect(endKept(d, p, false)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, ...p });
    expect(d.markersWritten).toEqual([
      { partition: p0, ...p, result: 'COMMIT' },
      { partition: p1, ...p, result: 'ABORT' },
    ]);
    expect(d.state.meta).toMatchObject({ state: 'CompleteAbort', ...p });
    // No producer id was taken: an end that keeps the epoch never rotates.
    expect(d.effects.filter((e) => e.type === 'ProducerIdTaken')).toHaveLength(1);
  });

  it('a zombie with an older epoch is still fenced, also when it names the epoch of an earlier bumped end', () => {
    const d = new Driver();
    const zombie = init(d);
    const p = init(d); // epoch + 1 fences the first producer
    rejects(d, { type: 'AddPartitionsToTxn', ...zombie, partitions: [p0] }, ErrorCode.PRODUCER_FENCED);
    add(d, p, [p0]);
    rejects(d, { type: 'EndTxn', ...zombie, committed: true, bumpEpochOnEnd: false }, ErrorCode.PRODUCER_FENCED);
    // A native end bumps (lastProducerEpoch = p's epoch); the next transaction ends in version 1.
    const next = { producerId: p.producerId, producerEpoch: p.producerEpoch + 1 };
    expect(end(d, p, true)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, ...next });
    add(d, next, [p1]);
    expect(endKept(d, next, true)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, ...next });
    // p's epoch is no retry of the version 1 end, in either version: fenced.
    rejects(d, { type: 'EndTxn', ...p, committed: true }, ErrorCode.PRODUCER_FENCED);
    rejects(d, { type: 'EndTxn', ...p, committed: true, bumpEpochOnEnd: false }, ErrorCode.PRODUCER_FENCED);
    rejects(d, { type: 'AddPartitionsToTxn', ...p, partitions: [p2] }, ErrorCode.PRODUCER_FENCED);
    // A newer epoch (no coordinator handed it out): INVALID_PRODUCER_EPOCH.
    rejects(d, { type: 'EndTxn', producerId: p.producerId, producerEpoch: next.producerEpoch + 1, committed: true, bumpEpochOnEnd: false }, ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it("retries come at the current epoch (Kafka's endTransactionWithTV1): Prepare* CONCURRENT_TRANSACTIONS, Complete* success, the other result INVALID_TXN_STATE", () => {
    const d = new Driver();
    const p = init(d);
    rejects(d, { type: 'EndTxn', ...p, committed: true, bumpEpochOnEnd: false }, ErrorCode.INVALID_TXN_STATE); // Empty
    rejects(d, { type: 'EndTxn', ...p, committed: false, bumpEpochOnEnd: false }, ErrorCode.INVALID_TXN_STATE);
    add(d, p, [p0]);
    d.autoMarkers = false;
    endKept(d, p, true);
    expect(d.state.phase).toBe('PrepareCommit');
    rejects(d, { type: 'EndTxn', ...p, committed: true, bumpEpochOnEnd: false }, ErrorCode.CONCURRENT_TRANSACTIONS);
    rejects(d, { type: 'EndTxn', ...p, committed: false, bumpEpochOnEnd: false }, ErrorCode.INVALID_TXN_STATE);
    rejects(d, { type: 'AddPartitionsToTxn', ...p, partitions: [p1] }, ErrorCode.CONCURRENT_TRANSACTIONS);
    d.ackMarkers();
    d.settle();
    expect(d.state.phase).toBe('CompleteCommit');
    expect(endKept(d, p, true)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, ...p });
    expect(d.persists).toHaveLength(0); // answered without a write
    rejects(d, { type: 'EndTxn', ...p, committed: false, bumpEpochOnEnd: false }, ErrorCode.INVALID_TXN_STATE);
  });

  it('a timeout still aborts with the epoch bumped, so the producer is fenced; KIP-360 lets it re-init with the epoch it had', () => {
    const d = new Driver();
    d.nowMs = 0;
    const p = init(d, 5_000);
    add(d, p, [p0]);
    endKept(d, p, true);
    add(d, p, [p1]); // the second transaction, same epoch; it times out
    d.tick(d.nowMs + 5_000);
    expect(d.markersWritten.at(-1)).toEqual({ partition: p1, producerId: p.producerId, producerEpoch: p.producerEpoch + 1, result: 'ABORT' });
    expect(d.state.meta).toMatchObject({ state: 'CompleteAbort', producerEpoch: p.producerEpoch + 1, lastProducerEpoch: -1 });
    expect(d.state.meta).not.toHaveProperty('endBumpedEpoch');
    rejects(d, { type: 'EndTxn', ...p, committed: true, bumpEpochOnEnd: false }, ErrorCode.PRODUCER_FENCED);
    rejects(d, { type: 'AddPartitionsToTxn', ...p, partitions: [p2] }, ErrorCode.PRODUCER_FENCED);
    const r = d.request({ type: 'InitProducerId', transactionTimeoutMs: 5_000, ...p });
    expect(r).toMatchObject({ errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: p.producerEpoch + 2 });
  });

  it("a client's own abort is not taken for a coordinator abort: KIP-360 init with the epoch before it is PRODUCER_FENCED", () => {
    const d = new Driver();
    const older = init(d);
    const p = init(d);
    add(d, p, [p0]);
    endKept(d, p, false);
    expect(d.state.meta).toMatchObject({ state: 'CompleteAbort', ...p });
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: 60_000, ...older }, ErrorCode.PRODUCER_FENCED);
    expect(d.request({ type: 'InitProducerId', transactionTimeoutMs: 60_000, ...p })).toMatchObject({ errorCode: ErrorCode.NONE, producerEpoch: p.producerEpoch + 1 });
  });

  it('a new coordinator that loads a version 1 PrepareCommit completes it in the same epoch, and answers its retry', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0, p1]);
    d.autoMarkers = false;
    endKept(d, p, true);
    d.ackMarkers([p0]);
    d.failover();
    expect(d.state.meta).toMatchObject({ state: 'PrepareCommit', ...p, endBumpedEpoch: false });
    expect(d.markerRequests).toEqual([{ type: 'WriteTxnMarkers', transactionalId: 'tx-1', ...p, result: 'COMMIT', partitions: [p0, p1] }]);
    d.ackMarkers();
    d.settle();
    expect(d.state.meta).toMatchObject({ state: 'CompleteCommit', ...p });
    expect(endKept(d, p, true)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, ...p });
    expect(errorOf(add(d, p, [p2]))).toBe(ErrorCode.NONE);
  });
});

describe('fencing: a second InitProducerId fences the first producer and aborts its open transaction', () => {
  it('the init is answered CONCURRENT_TRANSACTIONS once PrepareAbort (epoch + 1) is written; its retry after CompleteAbort gets epoch + 2', () => {
    const d = new Driver();
    const first = init(d);
    add(d, first, [p0, p1]);
    d.autoMarkers = false;
    const r = d.request({ type: 'InitProducerId', transactionTimeoutMs: 30_000, producerId: -1, producerEpoch: -1 });
    expect(r).toEqual({ type: 'InitProducerIdReply', errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, producerId: -1, producerEpoch: -1 });
    expect(d.state.meta).toMatchObject({ state: 'PrepareAbort', producerEpoch: first.producerEpoch + 1, lastProducerEpoch: -1 });
    expect(d.markerRequests).toEqual([
      { type: 'WriteTxnMarkers', transactionalId: 'tx-1', producerId: first.producerId, producerEpoch: first.producerEpoch + 1, result: 'ABORT', partitions: [p0, p1] },
    ]);
    // The fenced producer's requests:
    rejects(d, { type: 'AddPartitionsToTxn', ...first, partitions: [p2] }, ErrorCode.PRODUCER_FENCED);
    rejects(d, { type: 'EndTxn', ...first, committed: true }, ErrorCode.PRODUCER_FENCED);
    // The new producer retries until the abort completes.
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: 30_000, producerId: -1, producerEpoch: -1 }, ErrorCode.CONCURRENT_TRANSACTIONS);
    d.ackMarkers();
    d.settle();
    expect(d.state.phase).toBe('CompleteAbort');
    const second = init(d, 30_000);
    expect(second).toEqual({ producerId: first.producerId, producerEpoch: first.producerEpoch + 2 });
    expect(d.state.meta!.timeoutMs).toBe(30_000);
    rejects(d, { type: 'EndTxn', ...first, committed: false }, ErrorCode.PRODUCER_FENCED);
    rejects(d, { type: 'AddPartitionsToTxn', ...first, partitions: [p0] }, ErrorCode.PRODUCER_FENCED);
  });

  it('a fenced EndTxn(abort) does not count as a retry of the coordinator abort', () => {
    const d = new Driver();
    const first = init(d);
    add(d, first, [p0]);
    d.request({ type: 'InitProducerId', transactionTimeoutMs: 30_000, producerId: -1, producerEpoch: -1 });
    expect(d.state.phase).toBe('CompleteAbort');
    rejects(d, { type: 'EndTxn', ...first, committed: false }, ErrorCode.PRODUCER_FENCED);
  });
});

describe('transaction timeout', () => {
  it('an Ongoing transaction older than its timeout is aborted with the epoch bumped; its producer is fenced', () => {
    const d = new Driver();
    d.nowMs = 10_000;
    const p = init(d, 5_000);
    add(d, p, [p0]);
    expect(nextDeadlineMs(d.state)).toBe(15_000);
    d.tick(14_999);
    expect(d.state.phase).toBe('Ongoing');
    d.tick(15_000);
    expect(d.markersWritten).toEqual([{ partition: p0, producerId: p.producerId, producerEpoch: p.producerEpoch + 1, result: 'ABORT' }]);
    expect(d.state.meta).toMatchObject({ state: 'CompleteAbort', producerEpoch: p.producerEpoch + 1 });
    rejects(d, { type: 'EndTxn', ...p, committed: true }, ErrorCode.PRODUCER_FENCED);
    rejects(d, { type: 'AddPartitionsToTxn', ...p, partitions: [p1] }, ErrorCode.PRODUCER_FENCED);
  });

  it('the timeout counts from the first add, not the last', () => {
    const d = new Driver();
    d.nowMs = 0;
    const p = init(d, 5_000);
    add(d, p, [p0]);
    d.nowMs = 4_000;
    add(d, p, [p1]);
    d.tick(5_000);
    expect(d.state.phase).toBe('CompleteAbort');
  });

  it('a failed timeout-abort write is retried after the backoff', () => {
    const d = new Driver();
    d.nowMs = 0;
    const p = init(d, 5_000);
    add(d, p, [p0]);
    d.autoPersist = false;
    d.tick(5_000);
    d.completePersist(ErrorCode.NOT_ENOUGH_REPLICAS);
    expect(d.state.phase).toBe('Ongoing');
    expect(nextDeadlineMs(d.state)).toBe(5_100);
    d.tick(5_050);
    expect(d.persists).toHaveLength(0);
    d.tick(5_100);
    expect(d.persists).toHaveLength(1);
  });
});

describe('markers: retries with backoff', () => {
  it('failed partitions wait 100, 200, 400 ms (doubling) and only they are sent again; a success resets the backoff', () => {
    const d = new Driver();
    d.nowMs = 0;
    const p = init(d);
    add(d, p, [p0, p1]);
    d.autoMarkers = false;
    end(d, p, true);
    d.failMarkers();
    expect(d.state.markers!.retryAtMs).toBe(100);
    d.tick(99);
    expect(d.markerRequests).toHaveLength(0);
    d.tick(100);
    expect(d.markerRequests[0]!.partitions).toEqual([p0, p1]);
    d.failMarkers();
    expect(d.state.markers!.retryAtMs).toBe(300);
    d.tick(300);
    d.failMarkers();
    expect(d.state.markers!.retryAtMs).toBe(700);
    d.tick(700);
    d.ackMarkers([p1]);
    expect(d.state.markers).toMatchObject({ waiting: [p0], failureCount: 1, retryAtMs: 800 });
  });

  it('a stale acknowledgement (another producer epoch or result) is ignored', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    d.autoMarkers = false;
    end(d, p, true);
    const before = d.state;
    d.apply({ type: 'MarkersWritten', producerId: p.producerId, producerEpoch: p.producerEpoch, result: 'COMMIT', partitions: [p0] });
    d.apply({ type: 'MarkersWritten', producerId: p.producerId, producerEpoch: p.producerEpoch + 1, result: 'ABORT', partitions: [p0] });
    expect(d.state).toEqual(before);
  });

  it('a failed CompleteCommit write is retried after the backoff', () => {
    const d = new Driver();
    d.nowMs = 0;
    const p = init(d);
    add(d, p, [p0]);
    d.autoPersist = false;
    d.send({ type: 'EndTxn', transactionalId: 'tx-1', ...p, committed: true, bumpEpochOnEnd: true, freshProducerId: 2_000, replyTo: client });
    d.completePersist(); // PrepareCommit
    d.settle(); // markers acknowledged, CompleteCommit issued
    d.completePersist(ErrorCode.REQUEST_TIMED_OUT);
    expect(d.state.phase).toBe('PrepareCommit');
    expect(nextDeadlineMs(d.state)).toBe(100);
    d.tick(100);
    d.completePersist();
    expect(d.state.phase).toBe('CompleteCommit');
  });
});

describe('Unload and failover', () => {
  it('Unload: the parked reply gets NOT_COORDINATOR, later requests too, and the state can be dropped', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0]);
    d.autoPersist = false;
    d.send({ type: 'EndTxn', transactionalId: 'tx-1', ...p, committed: true, bumpEpochOnEnd: true, freshProducerId: 2_000, replyTo: client });
    d.send({ type: 'Unload' });
    expect(d.replies.at(-1)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NOT_COORDINATOR, producerId: -1, producerEpoch: -1 });
    expect(d.state.phase).toBe('Dead');
    expect(isDisposable(d.state)).toBe(true);
    d.completePersist(); // the late acknowledgement changes nothing
    expect(d.state.phase).toBe('Dead');
    rejects(d, { type: 'AddPartitionsToTxn', ...p, partitions: [p1] }, ErrorCode.NOT_COORDINATOR);
    rejects(d, { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 }, ErrorCode.NOT_COORDINATOR);
  });

  it('a new coordinator that loads PrepareCommit (markers only partly written) writes the remaining markers and completes the commit', () => {
    const d = new Driver();
    const p = init(d);
    add(d, p, [p0, p1, p2]);
    d.autoMarkers = false;
    end(d, p, true);
    d.ackMarkers([p0, p1]); // p2 fails; then the coordinator dies before retrying
    d.failover();
    expect(d.state.phase).toBe('PrepareCommit');
    expect(d.markerRequests).toEqual([
      { type: 'WriteTxnMarkers', transactionalId: 'tx-1', producerId: p.producerId, producerEpoch: p.producerEpoch + 1, result: 'COMMIT', partitions: [p0, p1, p2] },
    ]);
    d.ackMarkers();
    d.settle();
    expect(d.state.phase).toBe('CompleteCommit');
    expect(d.log.at(-1)!.value).toMatchObject({ state: 'CompleteCommit' });
    expect(new Set(d.markersWritten.map((m) => m.result))).toEqual(new Set(['COMMIT']));
    // The producer whose EndTxn reply was lost retries against the new coordinator.
    expect(end(d, p, true)).toEqual({ type: 'EndTxnReply', errorCode: ErrorCode.NONE, producerId: p.producerId, producerEpoch: p.producerEpoch + 1 });
  });

  it('a new coordinator that loads an Ongoing transaction aborts it at its timeout', () => {
    const d = new Driver();
    d.nowMs = 0;
    const p = init(d, 5_000);
    add(d, p, [p0]);
    d.failover();
    expect(d.state.phase).toBe('Ongoing');
    d.tick(5_000);
    expect(d.state.phase).toBe('CompleteAbort');
  });
});

describe('transactional id expiration', () => {
  it('an idle id is tombstoned after transactional.id.expiration.ms and can be dropped; an Ongoing one is not', () => {
    const config: TxnConfig = { ...txnConfigDefault, transactionalIdExpirationMs: 1_000_000 };
    const d = new Driver('tx-1', config);
    d.nowMs = 0;
    init(d);
    expect(nextDeadlineMs(d.state)).toBe(1_000_000);
    d.tick(1_000_000);
    expect(d.log.at(-1)).toEqual({ key: { transactionalId: 'tx-1' }, value: null });
    expect(d.state.phase).toBe('Dead');
    expect(isDisposable(d.state)).toBe(true);
  });
});
