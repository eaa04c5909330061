/**
 * The transactional producer's lifecycle, pure: a state and an event in, the
 * next state or a refusal (a Kafka error code and a message) out. No I/O, no
 * timers. transaction-manager.ts drives it and does the requests.
 *
 * States (Kafka's TransactionManager.State, smaller):
 *
 *   uninitialized --initDone--> ready
 *   ready --begin--> open (txnSeq + 1)
 *   open --send / sendOffsets--> open
 *   open | committing --abortableError--> abortable    (a send or an offset commit failed: only abort may follow;
 *                                                       committing only while it flushes, before EndTxn)
 *   open --commit--> committing --commitDone--> ready
 *                    committing --commitFailed (retriable, outcome unknown)--> commitRetry --commit--> committing
 *   open | abortable | abortRetry --abort--> aborting --abortDone--> ready
 *                    aborting --abortFailed (retriable)--> abortRetry
 *   any --fatal--> fatal (PRODUCER_FENCED and the like: every later call is refused with that code)
 *
 * A transaction handle remembers the `txnSeq` it was opened with; a call on a
 * handle whose transaction has ended (committed, aborted, or a newer one
 * began) is refused with INVALID_TXN_STATE, whatever the state is now. So
 * commit after abort, abort after commit and send after the end are refused
 * before anything is sent (no partial effects).
 *
 * Imports: protocol/errors.ts only.
 */
import { ErrorCode } from '../../protocol/errors.ts';

export type TxnPhase = 'uninitialized' | 'ready' | 'open' | 'abortable' | 'committing' | 'commitRetry' | 'aborting' | 'abortRetry' | 'fatal';

export type TxnClientState = {
  readonly phase: TxnPhase;
  /** Increases with every begin; a handle with another value belongs to an ended transaction. */
  readonly txnSeq: number;
  /** abortable: why the transaction can only abort; fatal: why the producer is unusable. */
  readonly errorCode: number;
  readonly errorMessage: string | null;
};

export type TxnEvent =
  | { type: 'initDone' }
  | { type: 'begin' }
  | { type: 'send'; txnSeq: number }
  | { type: 'sendOffsets'; txnSeq: number }
  | { type: 'commit'; txnSeq: number }
  | { type: 'commitDone' }
  | { type: 'commitFailed' }
  | { type: 'abort'; txnSeq: number }
  | { type: 'abortDone' }
  | { type: 'abortFailed' }
  | { type: 'abortableError'; errorCode: number; errorMessage: string }
  | { type: 'fatal'; errorCode: number; errorMessage: string };

export type TxnStep = { ok: true; state: TxnClientState } | { ok: false; errorCode: number; message: string };

export const txnInitialState: TxnClientState = Object.freeze({ phase: 'uninitialized', txnSeq: 0, errorCode: 0, errorMessage: null });

const refuse = (errorCode: number, message: string): TxnStep => ({ ok: false, errorCode, message });
const to = (state: TxnClientState, phase: TxnPhase, extra: Partial<TxnClientState> = {}): TxnStep => ({ ok: true, state: { ...state, phase, ...extra } });

/** Codes that end the producer (Kafka's fatal errors for a transactional producer). */
export const fatalTxnCodes: ReadonlySet<number> = new Set([
  ErrorCode.PRODUCER_FENCED,
  ErrorCode.INVALID_PRODUCER_EPOCH,
  ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
  ErrorCode.INVALID_PRODUCER_ID_MAPPING,
  ErrorCode.TRANSACTION_COORDINATOR_FENCED,
]);

/** The code every call gets once fatal: fencing reads as PRODUCER_FENCED whichever way it was noticed. */
export function fatalCodeFor(code: number): number {
  return code === ErrorCode.INVALID_PRODUCER_EPOCH ? ErrorCode.PRODUCER_FENCED : code;
}

/** The handle's transaction has ended (or was never this one). */
function ended(state: TxnClientState, txnSeq: number): boolean {
  return txnSeq !== state.txnSeq || state.phase === 'ready' || state.phase === 'uninitialized';
}

export function txnStep(state: TxnClientState, event: TxnEvent): TxnStep {
  if (state.phase === 'fatal') {
    return refuse(state.errorCode, `the transactional producer is unusable: ${state.errorMessage ?? 'fatal error'}`);
  }
  switch (event.type) {
    case 'fatal':
      return to(state, 'fatal', { errorCode: fatalCodeFor(event.errorCode), errorMessage: event.errorMessage });
    case 'initDone':
      if (state.phase !== 'uninitialized') return refuse(ErrorCode.INVALID_TXN_STATE, `producer id arrived in state ${state.phase}`);
      return to(state, 'ready');
    case 'begin':
      if (state.phase === 'uninitialized') return refuse(ErrorCode.INVALID_TXN_STATE, 'the transactional producer is not initialised yet');
      if (state.phase !== 'ready') return refuse(ErrorCode.INVALID_TXN_STATE, `a transaction is already open (state ${state.phase}): commit or abort it first; one transaction at a time`);
      return to(state, 'open', { txnSeq: state.txnSeq + 1, errorCode: 0, errorMessage: null });
    case 'send':
    case 'sendOffsets': {
      const what = event.type === 'send' ? 'send' : 'sendOffsets';
      if (ended(state, event.txnSeq)) return refuse(ErrorCode.INVALID_TXN_STATE, `${what}: the transaction has ended`);
      if (state.phase === 'abortable') return refuse(ErrorCode.INVALID_TXN_STATE, `${what}: the transaction failed (${state.errorMessage ?? 'error'}) and can only be aborted`);
      if (state.phase !== 'open') return refuse(ErrorCode.INVALID_TXN_STATE, `${what}: the transaction is ${state.phase}`);
      return to(state, 'open');
    }
    case 'commit':
      if (ended(state, event.txnSeq)) return refuse(ErrorCode.INVALID_TXN_STATE, 'commit: the transaction has ended');
      if (state.phase === 'abortable') return refuse(ErrorCode.INVALID_TXN_STATE, `commit: the transaction failed (${state.errorMessage ?? 'error'}) and can only be aborted`);
      if (state.phase === 'aborting' || state.phase === 'abortRetry') return refuse(ErrorCode.INVALID_TXN_STATE, 'commit after abort');
      if (state.phase === 'committing') return refuse(ErrorCode.INVALID_TXN_STATE, 'commit: already committing');
      return to(state, 'committing');
    case 'commitDone':
      if (state.phase !== 'committing') return refuse(ErrorCode.INVALID_TXN_STATE, `commit answered in state ${state.phase}`);
      return to(state, 'ready');
    case 'commitFailed':
      if (state.phase !== 'committing') return refuse(ErrorCode.INVALID_TXN_STATE, `commit failed in state ${state.phase}`);
      return to(state, 'commitRetry');
    case 'abort':
      if (ended(state, event.txnSeq)) return refuse(ErrorCode.INVALID_TXN_STATE, 'abort: the transaction has ended');
      if (state.phase === 'committing' || state.phase === 'commitRetry') return refuse(ErrorCode.INVALID_TXN_STATE, 'abort after commit');
      if (state.phase === 'aborting') return refuse(ErrorCode.INVALID_TXN_STATE, 'abort: already aborting');
      return to(state, 'aborting');
    case 'abortDone':
      if (state.phase !== 'aborting') return refuse(ErrorCode.INVALID_TXN_STATE, `abort answered in state ${state.phase}`);
      return to(state, 'ready', { errorCode: 0, errorMessage: null });
    case 'abortFailed':
      if (state.phase !== 'aborting') return refuse(ErrorCode.INVALID_TXN_STATE, `abort failed in state ${state.phase}`);
      return to(state, 'abortRetry');
    case 'abortableError':
      // An open transaction (or one flushing for its commit, before EndTxn) turns abortable; in any other
      // phase the error is the caller's to report, and the first reason is kept.
      if (state.phase !== 'open' && state.phase !== 'committing') return { ok: true, state };
      return to(state, 'abortable', { errorCode: event.errorCode, errorMessage: event.errorMessage });
    default: {
      const never: never = event;
      throw new Error(`unknown transaction event ${JSON.stringify(never)}`);
    }
  }
}
