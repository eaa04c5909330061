/**
 * The EndTxn validator's `bumpEpochOnEnd`: absent is true (what every native
 * client sends: transaction version 2, the epoch bumped at the end), false is
 * kept (transaction version 1, what the Kafka listener sends for EndTxn
 * v0-4), anything else is refused with INVALID_REQUEST naming the field.
 * The KIP-664 reads: every field checked against its named bound.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.ts';
import { isInvalid } from '../validate.ts';
import { txnApiLimits, validateDescribeProducers, validateTxnCoordinatorRequest } from './txn.ts';

const endTxn = { type: 'EndTxn', transactionalId: 'tx', producerId: 7, producerEpoch: 2, committed: true, replyTo: { node: 'n1', path: '/temp/1' } };

describe('EndTxn bumpEpochOnEnd', () => {
  it('absent: true (the native protocol, unchanged)', () => {
    expect(validateTxnCoordinatorRequest(endTxn)).toMatchObject({ type: 'EndTxn', bumpEpochOnEnd: true });
  });

  it.each([true, false])('%s: kept', (bumpEpochOnEnd) => {
    expect(validateTxnCoordinatorRequest({ ...endTxn, bumpEpochOnEnd })).toMatchObject({ type: 'EndTxn', bumpEpochOnEnd });
  });

  it.each([0, 'false', {}])('%s: INVALID_REQUEST naming the field', (bumpEpochOnEnd) => {
    const checked = validateTxnCoordinatorRequest({ ...endTxn, bumpEpochOnEnd });
    expect(isInvalid(checked)).toBe(true);
    if (isInvalid(checked)) {
      expect(checked.errorCode).toBe(ErrorCode.INVALID_REQUEST);
      expect(checked.errorMessage).toMatch(/bumpEpochOnEnd/);
    }
  });
});

describe('DescribeTransactions, ListTransactions, DescribeProducers', () => {
  const replyTo = { node: 'n1', path: '/temp/1' };
  const problem = (checked: unknown): string => (isInvalid(checked) ? checked.errorMessage : 'valid');

  it('DescribeTransactions: ids are strings within the id bound, at most transactionalIdsPerDescribeMax of them', () => {
    expect(validateTxnCoordinatorRequest({ type: 'DescribeTransactions', transactionalIds: ['a', ''], replyTo })).toEqual({ type: 'DescribeTransactions', transactionalIds: ['a', ''], replyTo });
    expect(problem(validateTxnCoordinatorRequest({ type: 'DescribeTransactions', transactionalIds: [7], replyTo }))).toMatch(/transactionalIds\[0\]/);
    expect(problem(validateTxnCoordinatorRequest({ type: 'DescribeTransactions', transactionalIds: ['x'.repeat(txnApiLimits.transactionalIdCharsMax + 1)], replyTo }))).toMatch(/transactionalIds/);
    const many = Array.from({ length: txnApiLimits.transactionalIdsPerDescribeMax + 1 }, (_, i) => `t${i}`);
    expect(problem(validateTxnCoordinatorRequest({ type: 'DescribeTransactions', transactionalIds: many, replyTo }))).toMatch(/over the limit/);
  });

  it('ListTransactions: bounded filters; producer ids >= -1; no duration is -1', () => {
    expect(validateTxnCoordinatorRequest({ type: 'ListTransactions', stateFilters: ['Ongoing'], producerIdFilters: [-1, 5], replyTo })).toEqual({ type: 'ListTransactions', stateFilters: ['Ongoing'], producerIdFilters: [-1, 5], durationFilterMs: -1, replyTo });
    expect(problem(validateTxnCoordinatorRequest({ type: 'ListTransactions', stateFilters: [], producerIdFilters: [-2], replyTo }))).toMatch(/producerIdFilters\[0\]/);
    expect(problem(validateTxnCoordinatorRequest({ type: 'ListTransactions', stateFilters: ['x'.repeat(txnApiLimits.stateFilterCharsMax + 1)], producerIdFilters: [], replyTo }))).toMatch(/stateFilters\[0\]/);
    expect(problem(validateTxnCoordinatorRequest({ type: 'ListTransactions', stateFilters: [], producerIdFilters: [], durationFilterMs: 1.5, replyTo }))).toMatch(/durationFilterMs/);
  });

  it('DescribeProducers: partitions >= 0, at most partitionsPerRequestMax in all topics together', () => {
    expect(validateDescribeProducers({ type: 'DescribeProducers', topics: [{ topic: 'a', partitions: [0, 3] }], replyTo })).toEqual({ type: 'DescribeProducers', topics: [{ topic: 'a', partitions: [0, 3] }], replyTo });
    expect(problem(validateDescribeProducers({ type: 'DescribeProducers', topics: [{ topic: 'a', partitions: [-1] }], replyTo }))).toMatch(/partitions\[0\]/);
    const half = Array.from({ length: txnApiLimits.partitionsPerRequestMax / 2 + 1 }, (_, i) => i);
    expect(problem(validateDescribeProducers({ type: 'DescribeProducers', topics: [{ topic: 'a', partitions: half }, { topic: 'b', partitions: half }], replyTo }))).toMatch(/over the limit/);
  });
});
