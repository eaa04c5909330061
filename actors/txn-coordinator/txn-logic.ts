/**
 * One transactional id's coordinator logic, pure: Kafka's transaction
 * coordinator (TransactionCoordinator.scala / TransactionMetadata.scala) with
 * transaction version 2 (KIP-890 part 2: the producer epoch is bumped at the
 * end of every transaction) for the native protocol, and transaction version
 * 1 (the epoch kept at the end) for the EndTxn requests that ask for it:
 * Kafka clients on EndTxn v0-4, whose reply has no field for a new epoch.
 * One `TxnState` per transactional id; the actor holds it and calls
 * `step(state, input, nowMs)` for every input.
 *
 * States (Kafka's TransactionState):
 *
 *   (unknown) --InitProducerId--> Empty
 *   Empty | CompleteCommit | CompleteAbort --InitProducerId (epoch bump)--> Empty
 *   Empty | Ongoing | Complete* --AddPartitionsToTxn / AddOffsetsToTxn--> Ongoing
 *   Ongoing --EndTxn(commit)--> PrepareCommit --all markers written--> CompleteCommit
 *   Ongoing --EndTxn(abort) | InitProducerId (fence) | timeout--> PrepareAbort --all markers--> CompleteAbort
 *   Empty | Complete* --transactional.id.expiration.ms idle--> Dead (tombstone)
 *   any --Unload--> Dead
 *
 * How the shell drives it (the order matters, as in etcd's Ready):
 * 1. For each request, `step(state, input, nowMs)`; carry out the effects in
 *    order. `Reply` goes to its target now. `PersistTxnState` carries the one
 *    record for `__transaction_state` (encode with txn-records.ts, append
 *    acks=all to partition `coordinatorPartitionFor(transactionalId, n)`);
 *    when the append is acknowledged or fails, feed
 *    `PersistCompleted{persistId, errorCode}` back. Every state change is
 *    written before it is acted on: replies that depend on it, and marker
 *    writes, are emitted only then. At most one write is in flight (Kafka's
 *    pendingState); requests meanwhile get CONCURRENT_TRANSACTIONS.
 * 2. `WriteTxnMarkers` asks the shell to write a control batch (commit or
 *    abort marker, protocol/record-batch/control.ts, with the coordinator
 *    epoch = the leader epoch of our `__transaction_state` partition) into each
 *    listed partition, grouped by leader as it likes. Feed back
 *    `MarkersWritten` for the partitions that acknowledged and `MarkersFailed`
 *    for the rest; failed ones are retried with exponential backoff (a
 *    deadline in the state). When every partition has its marker, the
 *    Complete* state is written.
 * 3. Time is data: the transaction timeout, marker retry and write retry are
 *    deadlines in the state. Call `step(state, {type: 'Tick'}, nowMs)` at
 *    `nextDeadlineMs(state)` (a `ScheduleDeadline` effect says when it
 *    changes) or on an interval.
 * 4. Identity is an input: the shell owns a block of producer ids from the
 *    controller. InitProducerId and EndTxn carry `freshProducerId`, the next
 *    unused id of that block; the logic takes it only when it needs one (a new
 *    transactional id, an exhausted epoch) and then emits `ProducerIdTaken`, so
 *    the shell advances its block only then.
 * 5. A request for an id the coordinator does not know goes to
 *    `emptyTxn(transactionalId)`. Drop a state when `isDisposable(state)`.
 * 6. On losing the `__transaction_state` partition, `Unload`: the parked reply
 *    gets NOT_COORDINATOR and the state is Dead. On becoming its leader,
 *    `loadTransactions` (txn-records.ts) and Tick each state: an id found in
 *    PrepareCommit/PrepareAbort writes its markers again and completes
 *    (markers are idempotent at the partition), which is how a new
 *    coordinator finishes what the old one started.
 *
 * Kafka rules kept:
 * - InitProducerId: transaction timeout in [1, transaction.max.timeout.ms] else
 *   INVALID_TRANSACTION_TIMEOUT. Unknown id: a fresh producer id, epoch 0.
 *   Known: the epoch is bumped, which fences every older producer of the id
 *   (their requests get PRODUCER_FENCED). An epoch that cannot be bumped
 *   (>= producerEpochMax - 1, Kafka's isEpochExhausted) rotates to a fresh
 *   producer id at epoch 0. With an Ongoing transaction the coordinator first
 *   fences it: PrepareAbort with the epoch bumped, markers, CompleteAbort; the
 *   init is answered CONCURRENT_TRANSACTIONS (retriable) once the abort is
 *   written, and its retry bumps once more (Kafka does the same, so the epoch
 *   used by the abort is never handed to a producer). Prepare*:
 *   CONCURRENT_TRANSACTIONS. A KIP-360 init that names its producer id and
 *   epoch must match them (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED),
 *   except that the producer whose transaction the coordinator aborted
 *   (timeout or fence) may name the epoch it had before that abort, so it
 *   recovers without a restart (KIP-360's purpose).
 * - Producer checks on AddPartitions/AddOffsets/EndTxn: unknown transactional
 *   id or another producer id: INVALID_PRODUCER_ID_MAPPING (this is what a
 *   producer that never called InitProducerId gets); an older epoch:
 *   PRODUCER_FENCED; a newer one (no coordinator handed it out):
 *   INVALID_PRODUCER_EPOCH. A write in flight or Prepare*: CONCURRENT_TRANSACTIONS.
 * - AddPartitionsToTxn from Empty/Complete* starts a transaction (its start
 *   time is the timeout's origin); partitions already in an Ongoing
 *   transaction are answered at once without a write. AddOffsetsToTxn adds the
 *   group's `__consumer_offsets` partition, so the markers reach the group
 *   coordinator and the transaction's offsets become visible at commit.
 * - EndTxn carries `bumpEpochOnEnd`, Kafka's clientTransactionVersion
 *   (supportsEpochBump) as a per-request choice.
 *   With it (transaction version 2, the native protocol): from Ongoing,
 *   PrepareCommit/PrepareAbort is written with the epoch bumped (KIP-890:
 *   markers carry epoch + 1, so a delayed produce or commit of the ended
 *   transaction is refused by every partition) and the reply, once written,
 *   names the producer id and epoch to use next. A retried EndTxn (the epoch
 *   the ended transaction used) with the same result: success after
 *   completion, CONCURRENT_TRANSACTIONS while markers are pending; with the
 *   other result (commit after abort): INVALID_TXN_STATE. EndTxn with no
 *   transaction open (Empty, Complete* at the current epoch): INVALID_TXN_STATE.
 *   Without it (transaction version 1, Kafka's endTransactionWithTV1):
 *   Prepare* keeps the epoch, so do the markers and the reply, and the
 *   producer runs its next transaction in the same epoch; the record says so
 *   (`endBumpedEpoch: false`), so the lastProducerEpoch retry rule above never
 *   applies to it. A retry comes at the current epoch: in Prepare* with the
 *   same result CONCURRENT_TRANSACTIONS, in Complete* with the same result
 *   success; with the other result INVALID_TXN_STATE; Empty: INVALID_TXN_STATE.
 *   An older epoch is PRODUCER_FENCED (a zombie), as in version 2.
 * - Timeout: an Ongoing transaction older than its timeout (no write in
 *   flight) is aborted by the coordinator with the epoch bumped, so its
 *   producer is fenced, in either version (Kafka's abortTimedOutTransactions
 *   fences with prepareFenceProducerEpoch first; a transaction-version-1
 *   producer learns the new epoch through a KIP-360 InitProducerId).
 * - Verification (AddPartitionsToTxn v4 verifyOnly, KIP-890 part 1): a
 *   partition leader asks whether a transactional produce goes to a partition
 *   of the open transaction; a partition not added gets INVALID_TXN_STATE.
 *
 * Invariants (asserted after every step): Prepare* <=> a marker job; a marker
 * job has the record's producer id and epoch; a marker retry deadline <=>
 * partitions waiting for a retry; no record ever names an epoch above
 * producerEpochMax; the persisted epoch of a producer id never decreases.
 *
 * Imports: protocol/errors.ts, runtime/assert.ts and this folder only. No
 * I/O, no timers, no clock, no randomness.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import { assert, assertNever } from '../../runtime/assert.ts';
// txn-records.ts imports this module (loadTransactions -> restoreTxn): use its functions only inside
// functions, never while this module initialises, or whichever loads first sees them uninitialised.
import { coordinatorPartitionFor, valueProblem } from './txn-records.ts';
import type { TopicPartition, TxnRecord, TxnRecordState, TxnValue } from './txn-records.ts';

// ---------------------------------------------------------------- config

export type TxnConfig = {
  /** transaction.max.timeout.ms: the largest transaction timeout a producer may ask for. */
  readonly transactionTimeoutMsMax: number;
  /** transactional.id.expiration.ms: an idle id (no transaction open) is deleted after this. */
  readonly transactionalIdExpirationMs: number;
  /** First marker/write retry backoff; doubles per consecutive failure up to the max. */
  readonly retryBackoffMs: number;
  readonly retryBackoffMsMax: number;
  /** Bound on the partitions of one transaction (Kafka has none; we name one). */
  readonly partitionsPerTxnMax: number;
  /** Short.MAX_VALUE in Kafka; smaller in tests so exhaustion is cheap to reach. */
  readonly producerEpochMax: number;
  /** offsets.topic.num.partitions: where AddOffsetsToTxn finds a group's partition. */
  readonly offsetsTopicPartitionCount: number;
};

export const consumerOffsetsTopic = '__consumer_offsets';
/** Short.MAX_VALUE: the producer epoch is an int16 on the wire (txn-records.ts checks the same bound). */
const producerEpochInt16Max = 32_767;

export const txnConfigDefault: TxnConfig = Object.freeze({
  transactionTimeoutMsMax: 900_000,
  transactionalIdExpirationMs: 604_800_000,
  retryBackoffMs: 100,
  retryBackoffMsMax: 10_000,
  partitionsPerTxnMax: 10_000,
  producerEpochMax: producerEpochInt16Max,
  offsetsTopicPartitionCount: 50,
});

/** transaction.timeout.ms: the producer's default (the client sends it with InitProducerId). */
export const transactionTimeoutMsDefault = 60_000;

function checkConfig(config: TxnConfig): void {
  assert(config.transactionTimeoutMsMax >= 1, 'txn config: transactionTimeoutMsMax >= 1');
  assert(transactionTimeoutMsDefault <= txnConfigDefault.transactionTimeoutMsMax, 'txn config: default timeout within the max');
  assert(config.transactionalIdExpirationMs >= 1, 'txn config: transactionalIdExpirationMs >= 1');
  assert(config.retryBackoffMs >= 1, 'txn config: retryBackoffMs >= 1');
  assert(config.retryBackoffMs <= config.retryBackoffMsMax, 'txn config: backoff bounds ordered');
  assert(config.partitionsPerTxnMax >= 1, 'txn config: partitionsPerTxnMax >= 1');
  assert(config.producerEpochMax >= 2, 'txn config: producerEpochMax >= 2 (a bump and a fence)');
  assert(config.producerEpochMax <= producerEpochInt16Max, 'txn config: producerEpochMax fits an int16');
  assert(config.offsetsTopicPartitionCount >= 1, 'txn config: offsetsTopicPartitionCount >= 1');
}
checkConfig(txnConfigDefault);

// ---------------------------------------------------------------- state

export type TxnPhase = TxnRecordState | 'Dead';
export type TxnResult = 'COMMIT' | 'ABORT';

/** Where a reply goes: the shell's reference for the waiting request (a runtime Ref is one). */
export type ReplyTarget = { readonly node: string; readonly path: string };

/** Markers of one Prepare* state: which partitions still lack theirs. */
export type MarkerJob = {
  readonly result: TxnResult;
  readonly producerId: number;
  readonly producerEpoch: number;
  /** Sent, not acknowledged yet. */
  readonly inFlight: readonly TopicPartition[];
  /** Failed, sent again at `retryAtMs`. */
  readonly waiting: readonly TopicPartition[];
  readonly retryAtMs: number | null;
  readonly failureCount: number;
};

type WritePurpose =
  | { readonly kind: 'InitProducerId'; readonly replyTo: ReplyTarget }
  | { readonly kind: 'FenceAbort'; readonly replyTo: ReplyTarget }
  | { readonly kind: 'AddPartitions'; readonly replyTo: ReplyTarget; readonly partitions: readonly TopicPartition[] }
  | { readonly kind: 'AddOffsets'; readonly replyTo: ReplyTarget }
  | { readonly kind: 'EndTxn'; readonly replyTo: ReplyTarget }
  | { readonly kind: 'TimeoutAbort' }
  | { readonly kind: 'Complete' }
  | { readonly kind: 'Expire' };

/** A write in flight (Kafka's pendingState): what the record becomes once written, and what to do then. */
export type PendingWrite = { readonly persistId: number; readonly value: TxnValue | null; readonly purpose: WritePurpose };

export type TxnState = {
  readonly transactionalId: string;
  readonly config: TxnConfig;
  /** Dead once unloaded or expired; otherwise the written state (Empty when nothing is written). */
  readonly phase: TxnPhase;
  /** The last written record; null for an id with none. */
  readonly meta: TxnValue | null;
  readonly pending: PendingWrite | null;
  readonly markers: MarkerJob | null;
  /** After a failed coordinator-initiated write (complete, timeout abort, expiry): not before this. */
  readonly backoffUntilMs: number | null;
  readonly writeFailureCount: number;
  readonly nextPersistId: number;
};

type Draft = { -readonly [K in keyof TxnState]: TxnState[K] };

export function emptyTxn(transactionalId: string, config: TxnConfig = txnConfigDefault): TxnState {
  checkConfig(config);
  return Object.freeze({
    transactionalId,
    config,
    phase: 'Empty',
    meta: null,
    pending: null,
    markers: null,
    backoffUntilMs: null,
    writeFailureCount: 0,
    nextPersistId: 1,
  });
}

/**
 * Rebuilds a transactional id from its last `__transaction_state` record. A
 * Prepare* record comes back with all its markers due at `nowMs` (Tick once).
 */
export function restoreTxn(transactionalId: string, value: TxnValue, nowMs: number, config: TxnConfig = txnConfigDefault): TxnState {
  const problem = valueProblem(value);
  assert(problem === null, `txn restore: ${problem ?? ''}`);
  const base = emptyTxn(transactionalId, config);
  const preparing = value.state === 'PrepareCommit' || value.state === 'PrepareAbort';
  const state: TxnState = Object.freeze({
    ...base,
    phase: value.state,
    meta: value,
    markers: preparing
      ? {
          result: (value.state === 'PrepareCommit' ? 'COMMIT' : 'ABORT') as TxnResult,
          producerId: value.producerId,
          producerEpoch: value.producerEpoch,
          inFlight: [],
          waiting: value.partitions,
          retryAtMs: nowMs,
          failureCount: 0,
        }
      : null,
  });
  checkInvariants(state);
  return state;
}

/** The shell may forget this state. */
export function isDisposable(t: TxnState): boolean {
  return (t.phase === 'Dead' && t.pending === null) || (t.meta === null && t.pending === null);
}

/** The earliest deadline in the state, or null: when the shell should Tick next. */
export function nextDeadlineMs(t: TxnState): number | null {
  if (t.phase === 'Dead') return null;
  const notBeforeBackoff = (ms: number): number => Math.max(ms, t.backoffUntilMs ?? ms);
  const m = t.markers;
  if (m !== null) {
    if (m.retryAtMs !== null) return m.retryAtMs;
    if (m.inFlight.length === 0 && t.pending === null) return notBeforeBackoff(t.backoffUntilMs ?? 0);
    return null;
  }
  const meta = t.meta;
  if (meta === null || t.pending !== null) return null;
  if (meta.state === 'Ongoing') return notBeforeBackoff(meta.txnStartMs + meta.timeoutMs);
  if (meta.state === 'Empty' || meta.state === 'CompleteCommit' || meta.state === 'CompleteAbort') {
    return notBeforeBackoff(meta.lastUpdateMs + t.config.transactionalIdExpirationMs);
  }
  return null;
}

// ---------------------------------------------------------------- inputs

export type InitProducerId = {
  readonly type: 'InitProducerId';
  readonly transactionalId: string;
  readonly transactionTimeoutMs: number;
  /** KIP-360 (v3+): the producer's current id and epoch, -1 and -1 from a new producer. */
  readonly producerId: number;
  readonly producerEpoch: number;
  /** From the shell: the next unused id of its block (taken only with a `ProducerIdTaken` effect). */
  readonly freshProducerId: number;
  readonly replyTo: ReplyTarget;
};

export type AddPartitionsToTxn = {
  readonly type: 'AddPartitionsToTxn';
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly partitions: readonly TopicPartition[];
  readonly replyTo: ReplyTarget;
};

/** KIP-890 part 1 (AddPartitionsToTxn v4 verifyOnly): is each partition in the open transaction? Never writes. */
export type VerifyPartitionsInTxn = {
  readonly type: 'VerifyPartitionsInTxn';
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly partitions: readonly TopicPartition[];
  readonly replyTo: ReplyTarget;
};

export type AddOffsetsToTxn = {
  readonly type: 'AddOffsetsToTxn';
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly groupId: string;
  readonly replyTo: ReplyTarget;
};

export type EndTxn = {
  readonly type: 'EndTxn';
  readonly transactionalId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly committed: boolean;
  /**
   * Transaction version 2 (true: the native protocol, EndTxn v5+ in Kafka):
   * the epoch is bumped at the end and the reply names the new one. False
   * (transaction version 1: Kafka's EndTxn v0-4, which cannot name it): the
   * transaction ends in its own epoch.
   */
  readonly bumpEpochOnEnd: boolean;
  /** As in InitProducerId: used only when the bumped epoch is exhausted (never without the bump). */
  readonly freshProducerId: number;
  readonly replyTo: ReplyTarget;
};

/** Partitions that acknowledged the marker of (producerId, producerEpoch, result). */
export type MarkersWritten = {
  readonly type: 'MarkersWritten';
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly result: TxnResult;
  readonly partitions: readonly TopicPartition[];
};

/** Partitions whose marker write failed (not leader, timeout, ...): retried after a backoff. */
export type MarkersFailed = {
  readonly type: 'MarkersFailed';
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly result: TxnResult;
  readonly partitions: readonly TopicPartition[];
  readonly errorCode: number;
};

/** Internal inputs from the shell: time passed, a write finished, the partition moved away. */
export type Tick = { readonly type: 'Tick' };
export type PersistCompleted = { readonly type: 'PersistCompleted'; readonly persistId: number; readonly errorCode: number };
export type Unload = { readonly type: 'Unload' };

export type TxnInput =
  | InitProducerId
  | AddPartitionsToTxn
  | VerifyPartitionsInTxn
  | AddOffsetsToTxn
  | EndTxn
  | MarkersWritten
  | MarkersFailed
  | Tick
  | PersistCompleted
  | Unload;

// ---------------------------------------------------------------- replies and effects

export type InitProducerIdReply = { readonly type: 'InitProducerIdReply'; readonly errorCode: number; readonly producerId: number; readonly producerEpoch: number };
export type PartitionResult = { readonly topic: string; readonly partition: number; readonly errorCode: number };
export type AddPartitionsToTxnReply = { readonly type: 'AddPartitionsToTxnReply'; readonly results: readonly PartitionResult[] };
export type VerifyPartitionsInTxnReply = { readonly type: 'VerifyPartitionsInTxnReply'; readonly results: readonly PartitionResult[] };
export type AddOffsetsToTxnReply = { readonly type: 'AddOffsetsToTxnReply'; readonly errorCode: number };
/** EndTxn v5: the producer id and epoch for the next transaction (-1, -1 on errors); unchanged without the bump. */
export type EndTxnReply = { readonly type: 'EndTxnReply'; readonly errorCode: number; readonly producerId: number; readonly producerEpoch: number };

export type TxnReply = InitProducerIdReply | AddPartitionsToTxnReply | VerifyPartitionsInTxnReply | AddOffsetsToTxnReply | EndTxnReply;

export type TxnEffect =
  | { readonly type: 'Reply'; readonly to: ReplyTarget; readonly reply: TxnReply }
  /** Append `record` to __transaction_state, then feed PersistCompleted{persistId}. */
  | { readonly type: 'PersistTxnState'; readonly persistId: number; readonly record: TxnRecord }
  /** Write a control batch (result, producerId, producerEpoch) into each partition; feed MarkersWritten / MarkersFailed. */
  | {
      readonly type: 'WriteTxnMarkers';
      readonly transactionalId: string;
      readonly producerId: number;
      readonly producerEpoch: number;
      readonly result: TxnResult;
      readonly partitions: readonly TopicPartition[];
    }
  /** The shell's block cursor moves past this id. */
  | { readonly type: 'ProducerIdTaken'; readonly producerId: number }
  /** The next deadline changed: Tick at `atMs` (optional if the shell ticks on an interval). */
  | { readonly type: 'ScheduleDeadline'; readonly atMs: number };

// ---------------------------------------------------------------- step

type Ctx = { readonly t: Draft; readonly fx: TxnEffect[]; readonly nowMs: number };

export function step(state: TxnState, input: TxnInput, nowMs: number): [TxnState, TxnEffect[]] {
  assert(Number.isFinite(nowMs), 'txn: nowMs is finite');
  if ('transactionalId' in input) assert(input.transactionalId === state.transactionalId, 'txn: input routed to its own transactional id');
  const c: Ctx = { t: { ...state }, fx: [], nowMs };
  switch (input.type) {
    case 'InitProducerId':
      handleInitProducerId(c, input);
      break;
    case 'AddPartitionsToTxn':
      handleAddPartitions(c, input);
      break;
    case 'VerifyPartitionsInTxn':
      handleVerify(c, input);
      break;
    case 'AddOffsetsToTxn':
      handleAddOffsets(c, input);
      break;
    case 'EndTxn':
      handleEndTxn(c, input);
      break;
    case 'MarkersWritten':
      handleMarkersWritten(c, input);
      break;
    case 'MarkersFailed':
      handleMarkersFailed(c, input);
      break;
    case 'Tick':
      handleTick(c);
      break;
    case 'PersistCompleted':
      handlePersistCompleted(c, input);
      break;
    case 'Unload':
      handleUnload(c);
      break;
    default:
      assertNever(input, 'txn input');
  }
  const next: TxnState = Object.freeze({ ...c.t });
  checkInvariants(next);
  checkEpochsNeverDecrease(state, next);
  const before = nextDeadlineMs(state);
  const after = nextDeadlineMs(next);
  if (after !== null && after !== before) c.fx.push({ type: 'ScheduleDeadline', atMs: after });
  return [next, c.fx];
}

function checkInvariants(t: TxnState): void {
  const preparing = t.phase === 'PrepareCommit' || t.phase === 'PrepareAbort';
  assert(preparing === (t.markers !== null), 'txn: a marker job exactly in Prepare*');
  if (t.phase !== 'Dead') {
    if (t.meta === null) assert(t.phase === 'Empty', 'txn: an id with no record is Empty');
    else assert(t.meta.state === t.phase, 'txn: the phase is the written state');
  }
  if (t.meta !== null) {
    assert(valueProblem(t.meta) === null, 'txn: the written record is valid');
    assert(t.meta.producerEpoch <= t.config.producerEpochMax, 'txn: producerEpoch <= producerEpochMax');
  }
  const m = t.markers;
  if (m !== null) {
    assert(t.meta !== null, 'txn: markers belong to a record');
    assert(m.producerId === t.meta.producerId, 'txn: markers carry the record producer id');
    assert(m.producerEpoch === t.meta.producerEpoch, 'txn: markers carry the record producer epoch');
    assert(m.result === (t.phase === 'PrepareCommit' ? 'COMMIT' : 'ABORT'), 'txn: markers carry the prepared result');
    assert((m.retryAtMs !== null) === (m.waiting.length > 0), 'txn: a marker retry deadline exactly when markers wait');
  }
  if (t.pending !== null && t.pending.value !== null) assert(valueProblem(t.pending.value) === null, 'txn: the pending record is valid');
}

/** The epoch written for a producer id never goes back (the fencing guarantee). */
function checkEpochsNeverDecrease(before: TxnState, after: TxnState): void {
  const a = before.meta;
  const b = after.meta;
  if (a === null || b === null || a.producerId !== b.producerId) return;
  assert(b.producerEpoch >= a.producerEpoch, 'txn: a producer epoch never decreases');
}

function reply(c: Ctx, to: ReplyTarget, message: TxnReply): void {
  c.fx.push({ type: 'Reply', to, reply: message });
}

function persist(c: Ctx, value: TxnValue | null, purpose: WritePurpose): void {
  const t = c.t;
  assert(t.pending === null, 'txn: one write in flight at most');
  const persistId = t.nextPersistId;
  t.nextPersistId += 1;
  t.pending = { persistId, value, purpose };
  c.fx.push({ type: 'PersistTxnState', persistId, record: { key: { transactionalId: t.transactionalId }, value } });
}

function takeProducerId(c: Ctx, freshProducerId: number): number {
  assert(Number.isSafeInteger(freshProducerId) && freshProducerId >= 0, 'txn: freshProducerId is an id');
  const meta = c.t.meta;
  if (meta !== null) {
    assert(freshProducerId !== meta.producerId, 'txn: freshProducerId is unused');
    assert(freshProducerId !== meta.previousProducerId, 'txn: freshProducerId is unused');
  }
  c.fx.push({ type: 'ProducerIdTaken', producerId: freshProducerId });
  return freshProducerId;
}

/** Kafka's isEpochExhausted: no room left for the next bump and a fence. */
function isEpochExhausted(c: Ctx, producerEpoch: number): boolean {
  return producerEpoch >= c.t.config.producerEpochMax - 1;
}

function backoffMs(config: TxnConfig, failureCount: number): number {
  const exponent = Math.min(Math.max(failureCount - 1, 0), 30);
  return Math.min(config.retryBackoffMs * 2 ** exponent, config.retryBackoffMsMax);
}

function partitionKey(p: TopicPartition): string {
  return `${p.topic}\u0000${p.partition}`;
}

/** Kafka's TransactionStateManager append error mapping. */
function writeError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    default:
      return errorCode;
  }
}

/** The producer checks shared by AddPartitions, AddOffsets, Verify and EndTxn; NONE when it is the current producer. */
function producerError(t: Draft, producerId: number, producerEpoch: number): number {
  if (t.phase === 'Dead') return ErrorCode.NOT_COORDINATOR;
  const meta = t.meta;
  if (meta === null) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
  if (producerId !== meta.producerId) {
    // The producer already holds the id this Prepare* rotates to (the EndTxn reply said so): wait for completion.
    if (meta.nextProducerId !== -1 && producerId === meta.nextProducerId && producerEpoch === 0) return ErrorCode.CONCURRENT_TRANSACTIONS;
    return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
  }
  if (producerEpoch < meta.producerEpoch) return ErrorCode.PRODUCER_FENCED;
  if (producerEpoch > meta.producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH;
  return ErrorCode.NONE;
}

// ---------------------------------------------------------------- InitProducerId

function handleInitProducerId(c: Ctx, input: InitProducerId): void {
  const t = c.t;
  const answer = (errorCode: number, producerId = -1, producerEpoch = -1): void =>
    reply(c, input.replyTo, { type: 'InitProducerIdReply', errorCode, producerId, producerEpoch });
  const timeoutMs = input.transactionTimeoutMs;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > t.config.transactionTimeoutMsMax) {
    answer(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    return;
  }
  if (t.phase === 'Dead') return answer(ErrorCode.NOT_COORDINATOR);
  if (t.pending !== null) return answer(ErrorCode.CONCURRENT_TRANSACTIONS);
  const meta = t.meta;
  if (meta === null) {
    const producerId = takeProducerId(c, input.freshProducerId);
    const value: TxnValue = {
      producerId,
      previousProducerId: -1,
      nextProducerId: -1,
      producerEpoch: 0,
      lastProducerEpoch: -1,
      timeoutMs,
      state: 'Empty',
      partitions: [],
      txnStartMs: -1,
      lastUpdateMs: c.nowMs,
    };
    persist(c, value, { kind: 'InitProducerId', replyTo: input.replyTo });
    return;
  }
  if (input.producerId !== -1) {
    if (input.producerId !== meta.producerId) return answer(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    // KIP-360: the producer whose transaction the coordinator aborted (timeout, fence) may re-init with the epoch it had.
    const coordinatorAborted = (meta.state === 'PrepareAbort' || meta.state === 'CompleteAbort') && meta.lastProducerEpoch === -1;
    const epochBeforeAbort = coordinatorAborted && input.producerEpoch === meta.producerEpoch - 1;
    if (input.producerEpoch !== -1 && input.producerEpoch !== meta.producerEpoch && !epochBeforeAbort) return answer(ErrorCode.PRODUCER_FENCED);
  }
  switch (meta.state) {
    case 'PrepareCommit':
    case 'PrepareAbort':
      return answer(ErrorCode.CONCURRENT_TRANSACTIONS);
    case 'Ongoing': {
      // Fence the producer of the open transaction and abort it; the init is retried once the abort is written.
      persist(c, fenceAbortValue(c, meta), { kind: 'FenceAbort', replyTo: input.replyTo });
      return;
    }
    case 'Empty':
    case 'CompleteCommit':
    case 'CompleteAbort': {
      const rotate = isEpochExhausted(c, meta.producerEpoch);
      const producerId = rotate ? takeProducerId(c, input.freshProducerId) : meta.producerId;
      const value: TxnValue = {
        producerId,
        previousProducerId: rotate ? meta.producerId : meta.previousProducerId,
        nextProducerId: -1,
        producerEpoch: rotate ? 0 : meta.producerEpoch + 1,
        lastProducerEpoch: -1,
        timeoutMs,
        state: 'Empty',
        partitions: [],
        txnStartMs: -1,
        lastUpdateMs: c.nowMs,
      };
      persist(c, value, { kind: 'InitProducerId', replyTo: input.replyTo });
      return;
    }
    default:
      assertNever(meta.state, 'txn state');
  }
}

/** PrepareAbort with the epoch bumped: the coordinator ends the transaction, and its producer is fenced. */
function fenceAbortValue(c: Ctx, meta: TxnValue): TxnValue {
  assert(meta.state === 'Ongoing', 'txn: only an Ongoing transaction is fenced');
  assert(meta.producerEpoch + 1 <= c.t.config.producerEpochMax, 'txn: an Ongoing epoch leaves room for the fence');
  return { ...withoutEndFlag(meta), state: 'PrepareAbort', producerEpoch: meta.producerEpoch + 1, lastProducerEpoch: -1, lastUpdateMs: c.nowMs };
}

/** The record without `endBumpedEpoch`: it describes one end, so only the Prepare* of that end and its Complete* hold it. */
function withoutEndFlag(meta: TxnValue): TxnValue {
  if (meta.endBumpedEpoch === undefined) return meta;
  const { endBumpedEpoch: _ended, ...rest } = meta;
  return rest;
}

// ---------------------------------------------------------------- AddPartitionsToTxn, AddOffsetsToTxn, verify

function validPartition(p: TopicPartition): boolean {
  return typeof p.topic === 'string' && p.topic.length > 0 && Number.isSafeInteger(p.partition) && p.partition >= 0;
}

/** NONE and the transaction's partitions after adding `requested`, or an error for all of them. */
function addPartitionsCheck(c: Ctx, producerId: number, producerEpoch: number, requested: readonly TopicPartition[]): { errorCode: number; union: TopicPartition[] } {
  const t = c.t;
  const identity = producerError(t, producerId, producerEpoch);
  if (identity !== ErrorCode.NONE) return { errorCode: identity, union: [] };
  if (t.pending !== null || t.phase === 'PrepareCommit' || t.phase === 'PrepareAbort') return { errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, union: [] };
  const meta = t.meta;
  assert(meta !== null, 'txn: a producer that passed the checks has a record');
  const union = meta.state === 'Ongoing' ? [...meta.partitions] : [];
  const seen = new Set(union.map(partitionKey));
  for (const p of requested) {
    if (seen.has(partitionKey(p))) continue;
    seen.add(partitionKey(p));
    union.push({ topic: p.topic, partition: p.partition });
  }
  if (union.length > t.config.partitionsPerTxnMax) return { errorCode: ErrorCode.INVALID_REQUEST, union: [] };
  return { errorCode: ErrorCode.NONE, union };
}

function ongoingValue(c: Ctx, meta: TxnValue, union: readonly TopicPartition[]): TxnValue {
  return {
    ...withoutEndFlag(meta),
    state: 'Ongoing',
    partitions: union,
    txnStartMs: meta.state === 'Ongoing' ? meta.txnStartMs : c.nowMs,
    lastUpdateMs: c.nowMs,
  };
}

function handleAddPartitions(c: Ctx, input: AddPartitionsToTxn): void {
  const answer = (errorOf: (p: TopicPartition) => number): void =>
    reply(c, input.replyTo, {
      type: 'AddPartitionsToTxnReply',
      results: input.partitions.map((p) => ({ topic: p.topic, partition: p.partition, errorCode: errorOf(p) })),
    });
  if (input.partitions.some((p) => !validPartition(p))) {
    // Kafka's partial-failure shape: the bad ones are named, the rest not attempted; nothing is added.
    answer((p) => (validPartition(p) ? ErrorCode.OPERATION_NOT_ATTEMPTED : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
    return;
  }
  const { errorCode, union } = addPartitionsCheck(c, input.producerId, input.producerEpoch, input.partitions);
  if (errorCode !== ErrorCode.NONE) return answer(() => errorCode);
  const meta = c.t.meta!;
  if (input.partitions.length === 0 || (meta.state === 'Ongoing' && union.length === meta.partitions.length)) {
    return answer(() => ErrorCode.NONE); // nothing new: no write
  }
  persist(c, ongoingValue(c, meta, union), { kind: 'AddPartitions', replyTo: input.replyTo, partitions: input.partitions });
}

function handleAddOffsets(c: Ctx, input: AddOffsetsToTxn): void {
  const answer = (errorCode: number): void => reply(c, input.replyTo, { type: 'AddOffsetsToTxnReply', errorCode });
  if (typeof input.groupId !== 'string' || input.groupId.length === 0) return answer(ErrorCode.INVALID_GROUP_ID);
  const offsetsPartition: TopicPartition = {
    topic: consumerOffsetsTopic,
    partition: coordinatorPartitionFor(input.groupId, c.t.config.offsetsTopicPartitionCount),
  };
  const { errorCode, union } = addPartitionsCheck(c, input.producerId, input.producerEpoch, [offsetsPartition]);
  if (errorCode !== ErrorCode.NONE) return answer(errorCode);
  const meta = c.t.meta!;
  if (meta.state === 'Ongoing' && union.length === meta.partitions.length) return answer(ErrorCode.NONE);
  persist(c, ongoingValue(c, meta, union), { kind: 'AddOffsets', replyTo: input.replyTo });
}

function handleVerify(c: Ctx, input: VerifyPartitionsInTxn): void {
  const t = c.t;
  const identity = producerError(t, input.producerId, input.producerEpoch);
  const inTxn = new Set(t.meta !== null && t.meta.state === 'Ongoing' ? t.meta.partitions.map(partitionKey) : []);
  reply(c, input.replyTo, {
    type: 'VerifyPartitionsInTxnReply',
    results: input.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      errorCode: identity !== ErrorCode.NONE ? identity : inTxn.has(partitionKey(p)) ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE,
    })),
  });
}

// ---------------------------------------------------------------- EndTxn

function handleEndTxn(c: Ctx, input: EndTxn): void {
  const t = c.t;
  const answer = (errorCode: number, producerId = -1, producerEpoch = -1): void =>
    reply(c, input.replyTo, { type: 'EndTxnReply', errorCode, producerId, producerEpoch });
  const result: TxnResult = input.committed ? 'COMMIT' : 'ABORT';
  const meta = t.meta;
  const same =
    meta !== null &&
    ((result === 'COMMIT' && (meta.state === 'PrepareCommit' || meta.state === 'CompleteCommit')) ||
      (result === 'ABORT' && (meta.state === 'PrepareAbort' || meta.state === 'CompleteAbort')));
  if (input.bumpEpochOnEnd && t.phase !== 'Dead' && meta !== null && isEndTxnRetry(meta, input)) {
    if (!same) return answer(ErrorCode.INVALID_TXN_STATE);
    if (meta.state === 'PrepareCommit' || meta.state === 'PrepareAbort') return answer(ErrorCode.CONCURRENT_TRANSACTIONS);
    return answer(ErrorCode.NONE, meta.producerId, meta.producerEpoch);
  }
  const identity = producerError(t, input.producerId, input.producerEpoch);
  if (identity !== ErrorCode.NONE) return answer(identity);
  assert(meta !== null, 'txn: a producer that passed the checks has a record');
  if (t.pending !== null) return answer(ErrorCode.CONCURRENT_TRANSACTIONS);
  if (!input.bumpEpochOnEnd) return endWithoutBump(c, input, meta, same);
  switch (meta.state) {
    case 'PrepareCommit':
    case 'PrepareAbort':
      return answer(ErrorCode.CONCURRENT_TRANSACTIONS);
    case 'Empty':
    case 'CompleteCommit':
    case 'CompleteAbort':
      return answer(ErrorCode.INVALID_TXN_STATE); // no transaction open at this epoch
    case 'Ongoing': {
      const bumpedEpoch = meta.producerEpoch + 1;
      assert(bumpedEpoch <= t.config.producerEpochMax, 'txn: an Ongoing epoch leaves room for the end bump');
      const nextProducerId = isEpochExhausted(c, bumpedEpoch) ? takeProducerId(c, input.freshProducerId) : -1;
      const value: TxnValue = {
        ...withoutEndFlag(meta),
        state: result === 'COMMIT' ? 'PrepareCommit' : 'PrepareAbort',
        producerEpoch: bumpedEpoch,
        lastProducerEpoch: meta.producerEpoch,
        nextProducerId,
        lastUpdateMs: c.nowMs,
      };
      persist(c, value, { kind: 'EndTxn', replyTo: input.replyTo });
      return;
    }
    default:
      assertNever(meta.state, 'txn state');
  }
}

/**
 * EndTxn in transaction version 1 (Kafka's endTransactionWithTV1), once the
 * producer passed the checks at the current epoch: the transaction ends in
 * its own epoch. `lastProducerEpoch` becomes that epoch (the one the client
 * ended it with), so the KIP-360 rule for a coordinator abort does not take a
 * client's abort for one; `endBumpedEpoch: false` keeps the version 2 retry
 * rule (an EndTxn at lastProducerEpoch) away from it. No rotation: the epoch
 * does not move, so it cannot be exhausted here.
 */
function endWithoutBump(c: Ctx, input: EndTxn, meta: TxnValue, same: boolean): void {
  const answer = (errorCode: number, producerId = -1, producerEpoch = -1): void =>
    reply(c, input.replyTo, { type: 'EndTxnReply', errorCode, producerId, producerEpoch });
  switch (meta.state) {
    case 'PrepareCommit':
    case 'PrepareAbort':
      return answer(same ? ErrorCode.CONCURRENT_TRANSACTIONS : ErrorCode.INVALID_TXN_STATE);
    case 'CompleteCommit':
    case 'CompleteAbort':
      // A retry of the end that completed (Kafka: NONE), or the other result of it (INVALID_TXN_STATE).
      return same ? answer(ErrorCode.NONE, meta.producerId, meta.producerEpoch) : answer(ErrorCode.INVALID_TXN_STATE);
    case 'Empty':
      return answer(ErrorCode.INVALID_TXN_STATE);
    case 'Ongoing': {
      const value: TxnValue = {
        ...meta,
        state: input.committed ? 'PrepareCommit' : 'PrepareAbort',
        lastProducerEpoch: meta.producerEpoch,
        nextProducerId: -1,
        lastUpdateMs: c.nowMs,
        endBumpedEpoch: false,
      };
      persist(c, value, { kind: 'EndTxn', replyTo: input.replyTo });
      return;
    }
    default:
      assertNever(meta.state, 'txn state');
  }
}

/**
 * The EndTxn of a transaction the client already ended (its reply may have
 * been lost): the producer id and epoch that transaction ran under. Prepare*
 * still holds that id with the epoch bumped; Complete* holds it too unless the
 * completion rotated the id (epoch 0, the old id kept as previousProducerId).
 * Matching only `previousProducerId` would be wrong: a producer fenced on the
 * old id at the same epoch number would pass for a retry (the fuzz test found
 * that one).
 */
function isEndTxnRetry(meta: TxnValue, input: EndTxn): boolean {
  if (meta.state === 'Empty' || meta.state === 'Ongoing') return false;
  if (meta.endBumpedEpoch === false) return false; // that end kept the epoch: its retry comes at the current one
  if (meta.lastProducerEpoch < 0 || input.producerEpoch !== meta.lastProducerEpoch) return false;
  const preparing = meta.state === 'PrepareCommit' || meta.state === 'PrepareAbort';
  const rotated = !preparing && meta.producerEpoch !== meta.lastProducerEpoch + 1;
  return input.producerId === (rotated ? meta.previousProducerId : meta.producerId);
}

/** What the producer uses after an EndTxn whose Prepare* is written. */
function producerAfterEnd(meta: TxnValue): { producerId: number; producerEpoch: number } {
  return meta.nextProducerId !== -1 ? { producerId: meta.nextProducerId, producerEpoch: 0 } : { producerId: meta.producerId, producerEpoch: meta.producerEpoch };
}

// ---------------------------------------------------------------- markers

function startMarkers(c: Ctx): void {
  const t = c.t;
  const meta = t.meta;
  assert(meta !== null, 'txn: markers need a record');
  assert(meta.state === 'PrepareCommit' || meta.state === 'PrepareAbort', 'txn: markers only in Prepare*');
  t.markers = {
    result: meta.state === 'PrepareCommit' ? 'COMMIT' : 'ABORT',
    producerId: meta.producerId,
    producerEpoch: meta.producerEpoch,
    inFlight: meta.partitions,
    waiting: [],
    retryAtMs: null,
    failureCount: 0,
  };
  sendMarkers(c, meta.partitions);
}

function sendMarkers(c: Ctx, partitions: readonly TopicPartition[]): void {
  const m = c.t.markers;
  assert(m !== null, 'txn: sending markers of a job');
  c.fx.push({
    type: 'WriteTxnMarkers',
    transactionalId: c.t.transactionalId,
    producerId: m.producerId,
    producerEpoch: m.producerEpoch,
    result: m.result,
    partitions,
  });
}

function markersOf(c: Ctx, input: MarkersWritten | MarkersFailed): MarkerJob | null {
  const m = c.t.markers;
  if (c.t.phase === 'Dead' || m === null) return null;
  if (m.producerId !== input.producerId || m.producerEpoch !== input.producerEpoch || m.result !== input.result) return null; // a stale answer
  return m;
}

function handleMarkersWritten(c: Ctx, input: MarkersWritten): void {
  const m = markersOf(c, input);
  if (m === null) return;
  const done = new Set(input.partitions.map(partitionKey));
  const inFlight = m.inFlight.filter((p) => !done.has(partitionKey(p)));
  const waiting = m.waiting.filter((p) => !done.has(partitionKey(p)));
  c.t.markers = { ...m, inFlight, waiting, retryAtMs: waiting.length > 0 ? m.retryAtMs : null, failureCount: 0 };
  maybeComplete(c);
}

function handleMarkersFailed(c: Ctx, input: MarkersFailed): void {
  const m = markersOf(c, input);
  if (m === null) return;
  const failed = new Set(input.partitions.map(partitionKey));
  const moving = m.inFlight.filter((p) => failed.has(partitionKey(p)));
  if (moving.length === 0) return;
  const failureCount = m.failureCount + 1;
  c.t.markers = {
    ...m,
    inFlight: m.inFlight.filter((p) => !failed.has(partitionKey(p))),
    waiting: [...m.waiting, ...moving],
    retryAtMs: m.retryAtMs ?? c.nowMs + backoffMs(c.t.config, failureCount),
    failureCount,
  };
}

/** Every marker written: write Complete* (unless a write is in flight or backing off). */
function maybeComplete(c: Ctx): void {
  const t = c.t;
  const m = t.markers;
  if (m === null || m.inFlight.length > 0 || m.waiting.length > 0) return;
  if (t.pending !== null) return;
  if (t.backoffUntilMs !== null && c.nowMs < t.backoffUntilMs) return;
  const meta = t.meta;
  assert(meta !== null, 'txn: completing a record');
  const rotate = meta.nextProducerId !== -1;
  const value: TxnValue = {
    ...meta,
    state: m.result === 'COMMIT' ? 'CompleteCommit' : 'CompleteAbort',
    producerId: rotate ? meta.nextProducerId : meta.producerId,
    previousProducerId: rotate ? meta.producerId : meta.previousProducerId,
    nextProducerId: -1,
    producerEpoch: rotate ? 0 : meta.producerEpoch,
    partitions: [],
    txnStartMs: -1,
    lastUpdateMs: c.nowMs,
  };
  persist(c, value, { kind: 'Complete' });
}

// ---------------------------------------------------------------- writes completing

function handlePersistCompleted(c: Ctx, input: PersistCompleted): void {
  const t = c.t;
  const pending = t.pending;
  if (pending === null || pending.persistId !== input.persistId) return; // answered already (Unload) or not ours
  t.pending = null;
  const purpose = pending.purpose;
  if (input.errorCode !== ErrorCode.NONE) {
    const errorCode = writeError(input.errorCode);
    switch (purpose.kind) {
      case 'InitProducerId':
      case 'FenceAbort':
        reply(c, purpose.replyTo, { type: 'InitProducerIdReply', errorCode, producerId: -1, producerEpoch: -1 });
        return;
      case 'AddPartitions':
        reply(c, purpose.replyTo, { type: 'AddPartitionsToTxnReply', results: purpose.partitions.map((p) => ({ topic: p.topic, partition: p.partition, errorCode })) });
        return;
      case 'AddOffsets':
        reply(c, purpose.replyTo, { type: 'AddOffsetsToTxnReply', errorCode });
        return;
      case 'EndTxn':
        reply(c, purpose.replyTo, { type: 'EndTxnReply', errorCode, producerId: -1, producerEpoch: -1 });
        return;
      case 'TimeoutAbort':
      case 'Complete':
      case 'Expire':
        // The coordinator's own writes are retried (Tick) after a backoff; nothing waits on them.
        t.writeFailureCount += 1;
        t.backoffUntilMs = c.nowMs + backoffMs(t.config, t.writeFailureCount);
        return;
      default:
        assertNever(purpose, 'write purpose');
    }
  }
  t.writeFailureCount = 0;
  t.backoffUntilMs = null;
  t.meta = pending.value;
  t.phase = pending.value === null ? 'Dead' : pending.value.state;
  const meta = pending.value;
  switch (purpose.kind) {
    case 'InitProducerId':
      assert(meta !== null, 'txn: init writes a record');
      reply(c, purpose.replyTo, { type: 'InitProducerIdReply', errorCode: ErrorCode.NONE, producerId: meta.producerId, producerEpoch: meta.producerEpoch });
      return;
    case 'FenceAbort':
      reply(c, purpose.replyTo, { type: 'InitProducerIdReply', errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, producerId: -1, producerEpoch: -1 });
      startMarkers(c);
      return;
    case 'AddPartitions':
      reply(c, purpose.replyTo, {
        type: 'AddPartitionsToTxnReply',
        results: purpose.partitions.map((p) => ({ topic: p.topic, partition: p.partition, errorCode: ErrorCode.NONE })),
      });
      return;
    case 'AddOffsets':
      reply(c, purpose.replyTo, { type: 'AddOffsetsToTxnReply', errorCode: ErrorCode.NONE });
      return;
    case 'EndTxn': {
      assert(meta !== null, 'txn: EndTxn writes a record');
      reply(c, purpose.replyTo, { type: 'EndTxnReply', errorCode: ErrorCode.NONE, ...producerAfterEnd(meta) });
      startMarkers(c);
      return;
    }
    case 'TimeoutAbort':
      startMarkers(c);
      return;
    case 'Complete':
      t.markers = null;
      return;
    case 'Expire':
      return;
    default:
      assertNever(purpose, 'write purpose');
  }
}

// ---------------------------------------------------------------- time, unload

function handleTick(c: Ctx): void {
  const t = c.t;
  const now = c.nowMs;
  if (t.phase === 'Dead') return;
  const m = t.markers;
  if (m !== null) {
    if (m.retryAtMs !== null && m.retryAtMs <= now) {
      t.markers = { ...m, inFlight: [...m.inFlight, ...m.waiting], waiting: [], retryAtMs: null };
      sendMarkers(c, m.waiting);
    }
    maybeComplete(c);
    return;
  }
  if (t.pending !== null) return;
  if (t.backoffUntilMs !== null && now < t.backoffUntilMs) return;
  const meta = t.meta;
  if (meta === null) return;
  if (meta.state === 'Ongoing' && meta.txnStartMs + meta.timeoutMs <= now) {
    persist(c, fenceAbortValue(c, meta), { kind: 'TimeoutAbort' });
    return;
  }
  const idle = meta.state === 'Empty' || meta.state === 'CompleteCommit' || meta.state === 'CompleteAbort';
  if (idle && meta.lastUpdateMs + t.config.transactionalIdExpirationMs <= now) persist(c, null, { kind: 'Expire' });
}

function handleUnload(c: Ctx): void {
  const t = c.t;
  const pending = t.pending;
  if (pending !== null) {
    const purpose = pending.purpose;
    const errorCode = ErrorCode.NOT_COORDINATOR;
    switch (purpose.kind) {
      case 'InitProducerId':
      case 'FenceAbort':
        reply(c, purpose.replyTo, { type: 'InitProducerIdReply', errorCode, producerId: -1, producerEpoch: -1 });
        break;
      case 'AddPartitions':
        reply(c, purpose.replyTo, { type: 'AddPartitionsToTxnReply', results: purpose.partitions.map((p) => ({ topic: p.topic, partition: p.partition, errorCode })) });
        break;
      case 'AddOffsets':
        reply(c, purpose.replyTo, { type: 'AddOffsetsToTxnReply', errorCode });
        break;
      case 'EndTxn':
        reply(c, purpose.replyTo, { type: 'EndTxnReply', errorCode, producerId: -1, producerEpoch: -1 });
        break;
      case 'TimeoutAbort':
      case 'Complete':
      case 'Expire':
        break;
      default:
        assertNever(purpose, 'write purpose');
    }
  }
  t.pending = null;
  t.markers = null;
  t.backoffUntilMs = null;
  t.phase = 'Dead';
}

// ---------------------------------------------------------------- describe and list (read-only)
//
// DescribeTransactions and ListTransactions (KIP-664) read an id's committed
// state: the last record written (`meta`), never a write in flight, as Kafka
// reads TransactionMetadata.state and not its pendingState. They emit no
// effects, so they are plain functions rather than step inputs.

/**
 * Kafka's TransactionState names. Kactus writes the first six; Dead is an id
 * unloaded or expired (never described or listed, as in Kafka) and
 * PrepareEpochFence is never held (a fence goes straight to PrepareAbort with
 * the epoch bumped). All eight are known state filters.
 */
export const kafkaTxnStateNames: readonly string[] = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort', 'Dead', 'PrepareEpochFence'];

export type TxnDescription = {
  readonly errorCode: number;
  readonly transactionState: string;
  readonly transactionTimeoutMs: number;
  readonly transactionStartTimeMs: number;
  readonly producerId: number;
  readonly producerEpoch: number;
  readonly topics: readonly { readonly topic: string; readonly partitions: readonly number[] }[];
};

/** Kafka's answer for an id it does not hold: the error, every other field at the schema's default. */
const txnNotFound: TxnDescription = Object.freeze({
  errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND,
  transactionState: '',
  transactionTimeoutMs: 0,
  transactionStartTimeMs: 0,
  producerId: 0,
  producerEpoch: 0,
  topics: [],
});

/** Partitions grouped by topic, topics in the order they first appear. */
function byTopic(partitions: readonly TopicPartition[]): { topic: string; partitions: number[] }[] {
  const topics = new Map<string, number[]>();
  for (const p of partitions) {
    const list = topics.get(p.topic);
    if (list === undefined) topics.set(p.topic, [p.partition]);
    else list.push(p.partition);
  }
  return [...topics].map(([topic, list]) => ({ topic, partitions: list }));
}

/**
 * DescribeTransactions for one id this coordinator leads (routing is the
 * shell's: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS). Unknown, never
 * written or Dead: TRANSACTIONAL_ID_NOT_FOUND. The partitions are the open
 * transaction's; in Prepare* only those still without their marker (Kafka's
 * schema says so: its coordinator drops a partition once its marker is
 * written). The start time is -1 outside a transaction (Kafka keeps the ended
 * transaction's in Complete*; our record does not).
 */
export function describeTxn(t: TxnState | undefined): TxnDescription {
  if (t === undefined || t.phase === 'Dead' || t.meta === null) return txnNotFound;
  const meta = t.meta;
  let partitions = meta.partitions;
  const m = t.markers;
  if ((meta.state === 'PrepareCommit' || meta.state === 'PrepareAbort') && m !== null) {
    const unmarked = new Set([...m.inFlight, ...m.waiting].map(partitionKey));
    partitions = partitions.filter((p) => unmarked.has(partitionKey(p)));
  }
  return {
    errorCode: ErrorCode.NONE,
    transactionState: meta.state,
    transactionTimeoutMs: meta.timeoutMs,
    transactionStartTimeMs: meta.txnStartMs,
    producerId: meta.producerId,
    producerEpoch: meta.producerEpoch,
    topics: byTopic(partitions),
  };
}

export type TxnListFilter = {
  /** The state names asked for, or empty: every state. */
  readonly stateFilters: readonly string[];
  /** The producer ids asked for, or empty: every id. */
  readonly producerIdFilters: readonly number[];
  /** Only transactions running longer than this; < 0: no filter. */
  readonly durationFilterMs: number;
};

export type TxnListMatcher = { readonly matches: (t: TxnState) => boolean; readonly unknownStateFilters: readonly string[] };

/**
 * Kafka's listTransactionStates filters (TransactionStateManager): a state
 * filter it does not know goes to unknownStateFilters (each name once) and
 * matches nothing, so a filter of only unknown names lists nothing; Dead is
 * never listed; the duration is `nowMs - start > durationFilterMs`, on the
 * start time as held (-1 outside a transaction, so with a duration filter
 * Empty and Complete* ids are listed too: Kafka does the same with its -1).
 */
export function txnListMatcher(filter: TxnListFilter, nowMs: number): TxnListMatcher {
  const known = new Set<string>();
  const unknown = new Set<string>();
  for (const name of filter.stateFilters) (kafkaTxnStateNames.includes(name) ? known : unknown).add(name);
  const producerIds = new Set(filter.producerIdFilters);
  const matches = (t: TxnState): boolean => {
    const meta = t.meta;
    if (t.phase === 'Dead' || meta === null) return false;
    if (producerIds.size > 0 && !producerIds.has(meta.producerId)) return false;
    if (filter.stateFilters.length > 0 && !known.has(meta.state)) return false;
    if (filter.durationFilterMs >= 0 && nowMs - meta.txnStartMs <= filter.durationFilterMs) return false;
    return true;
  };
  return { matches, unknownStateFilters: [...unknown] };
}
