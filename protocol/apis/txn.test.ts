/**
 * The EndTxn validator's `bumpEpochOnEnd`: absent is true (what every native
 * client sends: transaction version 2, the epoch bumped at the end), false is
 * kept (transaction version 1, what the Kafka listener sends for EndTxn
 * v0-4), anything else is refused with INVALID_REQUEST naming the field.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.ts';
import { isInvalid } from '../validate.ts';
import { validateTxnCoordinatorRequest } from './txn.ts';

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
