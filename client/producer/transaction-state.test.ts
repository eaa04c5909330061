/**
 * The transactional producer's state machine (transaction-state.ts) as a
 * table: each row is a path of events from the initial state and what the
 * last one must give. Goal: every misuse the issue names (commit after
 * abort, abort after commit, send after the end, anything after fencing) is
 * refused with its code, and the good paths land where they should.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { txnInitialState, txnStep, type TxnClientState, type TxnEvent } from './transaction-state.ts';

function run(events: readonly TxnEvent[]): { state: TxnClientState; refusal: { errorCode: number; message: string } | null } {
  let state = txnInitialState;
  for (let i = 0; i < events.length; i += 1) {
    const step = txnStep(state, events[i]!);
    if (!step.ok) {
      if (i !== events.length - 1) throw new Error(`event ${i} (${events[i]!.type}) refused: ${step.message}`);
      return { state, refusal: { errorCode: step.errorCode, message: step.message } };
    }
    state = step.state;
  }
  return { state, refusal: null };
}

const init: TxnEvent = { type: 'initDone' };
const begin: TxnEvent = { type: 'begin' };
const send = (txnSeq = 1): TxnEvent => ({ type: 'send', txnSeq });
const commit = (txnSeq = 1): TxnEvent => ({ type: 'commit', txnSeq });
const abort = (txnSeq = 1): TxnEvent => ({ type: 'abort', txnSeq });
const fenced: TxnEvent = { type: 'fatal', errorCode: ErrorCode.PRODUCER_FENCED, errorMessage: 'fenced by a newer epoch' };
const failed: TxnEvent = { type: 'abortableError', errorCode: ErrorCode.NOT_ENOUGH_REPLICAS, errorMessage: 'a send failed' };

describe('transaction state machine', () => {
  const goodPaths: [string, TxnEvent[], TxnClientState['phase'], number][] = [
    ['init', [init], 'ready', 0],
    ['begin, send, commit', [init, begin, send(), send(), commit(), { type: 'commitDone' }], 'ready', 1],
    ['begin, abort', [init, begin, send(), abort(), { type: 'abortDone' }], 'ready', 1],
    ['two transactions in a row', [init, begin, commit(), { type: 'commitDone' }, begin, send(2), abort(2), { type: 'abortDone' }], 'ready', 2],
    ['a failed send makes it abortable, abort ends it', [init, begin, send(), failed, abort(), { type: 'abortDone' }], 'ready', 1],
    ['a send fails while the commit flushes', [init, begin, send(), commit(), failed], 'abortable', 1],
    ['a commit with an unknown outcome may be retried', [init, begin, commit(), { type: 'commitFailed' }, commit(), { type: 'commitDone' }], 'ready', 1],
    ['an abort with an unknown outcome may be retried', [init, begin, abort(), { type: 'abortFailed' }, abort(), { type: 'abortDone' }], 'ready', 1],
    ['an error after the end changes nothing', [init, begin, commit(), { type: 'commitDone' }, failed], 'ready', 1],
    ['fencing from any state', [init, begin, send(), fenced], 'fatal', 1],
  ];
  it.each(goodPaths)('%s', (_name, events, phase, txnSeq) => {
    const { state, refusal } = run(events);
    expect(refusal).toBeNull();
    expect(state.phase).toBe(phase);
    expect(state.txnSeq).toBe(txnSeq);
  });

  const refused: [string, TxnEvent[], number, RegExp][] = [
    ['begin before init', [begin], ErrorCode.INVALID_TXN_STATE, /not initialised/],
    ['two open transactions', [init, begin, begin], ErrorCode.INVALID_TXN_STATE, /already open/],
    ['commit after abort', [init, begin, abort(), { type: 'abortDone' }, commit()], ErrorCode.INVALID_TXN_STATE, /ended/],
    ['commit while aborting', [init, begin, abort(), commit()], ErrorCode.INVALID_TXN_STATE, /commit after abort/],
    ['abort after commit', [init, begin, commit(), { type: 'commitDone' }, abort()], ErrorCode.INVALID_TXN_STATE, /ended/],
    ['abort while committing', [init, begin, commit(), abort()], ErrorCode.INVALID_TXN_STATE, /abort after commit/],
    ['abort after a commit with an unknown outcome', [init, begin, commit(), { type: 'commitFailed' }, abort()], ErrorCode.INVALID_TXN_STATE, /abort after commit/],
    ['send after commit', [init, begin, commit(), { type: 'commitDone' }, send()], ErrorCode.INVALID_TXN_STATE, /ended/],
    ['send after abort', [init, begin, abort(), { type: 'abortDone' }, send()], ErrorCode.INVALID_TXN_STATE, /ended/],
    ['send of an old handle into the next transaction', [init, begin, commit(), { type: 'commitDone' }, begin, send(1)], ErrorCode.INVALID_TXN_STATE, /ended/],
    ['sendOffsets after the end', [init, begin, abort(), { type: 'abortDone' }, { type: 'sendOffsets', txnSeq: 1 }], ErrorCode.INVALID_TXN_STATE, /ended/],
    ['send while committing', [init, begin, commit(), send()], ErrorCode.INVALID_TXN_STATE, /committing/],
    ['commit of an abortable transaction', [init, begin, failed, commit()], ErrorCode.INVALID_TXN_STATE, /only be aborted/],
    ['send in an abortable transaction', [init, begin, failed, send()], ErrorCode.INVALID_TXN_STATE, /only be aborted/],
    ['commit twice at once', [init, begin, commit(), commit()], ErrorCode.INVALID_TXN_STATE, /already committing/],
    ['begin after fencing', [init, fenced, begin], ErrorCode.PRODUCER_FENCED, /unusable/],
    ['commit after fencing', [init, begin, fenced, commit()], ErrorCode.PRODUCER_FENCED, /unusable/],
    ['abort after fencing', [init, begin, fenced, abort()], ErrorCode.PRODUCER_FENCED, /unusable/],
    ['send after fencing', [init, begin, fenced, send()], ErrorCode.PRODUCER_FENCED, /unusable/],
  ];
  it.each(refused)('refuses %s', (_name, events, code, message) => {
    const { state, refusal } = run(events);
    expect(refusal).not.toBeNull();
    expect(refusal!.errorCode).toBe(code);
    expect(refusal!.message).toMatch(message);
    // A refusal changes nothing: the state is the one before the refused event.
    expect(run(events.slice(0, -1)).state).toEqual(state);
  });

  it('INVALID_PRODUCER_EPOCH fences as PRODUCER_FENCED', () => {
    const { state } = run([init, begin, { type: 'fatal', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, errorMessage: 'old epoch' }]);
    expect(state.phase).toBe('fatal');
    expect(state.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  });
});
