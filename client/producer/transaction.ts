/**
 * The transactional producer's side of issue #8: InitProducerId through the
 * transaction coordinator, AddPartitionsToTxn before a partition's first
 * batch, sendOffsets (AddOffsetsToTxn, then TxnOffsetCommit to the group
 * coordinator), commit and abort (EndTxn), and fencing.
 *
 * Owns: `TransactionManager` (one per transactional producer: the state of
 * transaction-state.ts, the partitions of the open transaction, the requests)
 * and `Transaction` (the handle `producer.transaction()` returns).
 *
 * How a send reaches a partition: the sender asks `partitionReady(topic,
 * partition)` before it encodes a batch; a partition not yet in the
 * transaction answers false, is queued for the next AddPartitionsToTxn (one
 * request for every partition asked for in the same event-loop turn, one
 * request in flight at a time), and its batches stay in the sender's queue,
 * in order, until the coordinator has it; then the sender runs again. A
 * partition the coordinator refuses fails its batches and makes the
 * transaction abortable.
 *
 * commit(): waits for the transaction's sendOffsets and flushes every send
 *   (all of them belong to this transaction: a transactional producer sends
 *   only inside one). If any send or offset commit failed, the commit is
 *   refused (the transaction can only abort). Then EndTxn(commit); the reply
 *   names the producer id and epoch of the next transaction (KIP-890: bumped
 *   after every transaction), and sequences restart at 0.
 * abort(): drops the sends not yet on the wire (they fail with
 *   TRANSACTION_ABORTABLE), waits for those in flight and for an
 *   AddPartitionsToTxn in flight, then EndTxn(abort) and adopts the epoch.
 * A transaction that never reached the coordinator (no partition, no offsets)
 *   ends locally: nothing was written anywhere.
 *
 * Fatal: PRODUCER_FENCED, INVALID_PRODUCER_EPOCH (another producer with our
 * transactional id has a newer epoch), and the other codes of
 * `fatalTxnCodes`, from any request (produce included): the producer fails
 * everything pending and every later call is refused with PRODUCER_FENCED
 * (or that code).
 *
 * Time bounds: every coordinator exchange is bounded by the producer's
 * deliveryTimeoutMs (and each request by requestTimeoutMs).
 *
 * Imports: protocol/errors.ts, ../errors.ts, ../connection.ts (type),
 * ../retry.ts (type), ./coordinator-call.ts, ./transaction-state.ts,
 * ./idempotence.ts (type).
 */
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { errorInfo } from '../errors.ts';
import type { Connection } from '../connection.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { RetryPolicy } from '../retry.ts';
import { CoordinatorClient, groupCoordinatorKind, txnCoordinatorKind } from './coordinator-call.ts';
import type { IdempotenceState } from './idempotence.ts';
import { fatalCodeFor, fatalTxnCodes, txnInitialState, txnStep, type TxnClientState, type TxnEvent } from './transaction-state.ts';

/** One offset to commit in a transaction: the next offset to consume (last processed + 1). */
export type TxnOffset = { topic: string; partition: number; offset: number; metadata?: string | null };

/** A consumer's group metadata (Consumer.groupMetadata()): fences commits from an old generation. */
export type ConsumerGroupMetadata = { groupId: string; memberId: string; generationId: number; groupInstanceId: string | null };

export type SendOffsetsArgs = { offsets: readonly TxnOffset[] } & ({ consumerGroupId: string; groupMetadata?: undefined } | { groupMetadata: ConsumerGroupMetadata; consumerGroupId?: undefined });

/** What the manager needs from its producer. */
export type TxnProducerHooks = {
  /** Fails every send not yet on the wire (waiting, in the accumulator, queued in the sender). */
  dropUnsent(error: KactusError): void;
  /** Sends everything accepted now and resolves when all of it is acknowledged or failed. */
  flush(): Promise<void>;
  /** Resolves when nothing is in flight (after dropUnsent: when the in-flight batches answered). */
  whenIdle(): Promise<void>;
  /** The fatal path: fail everything and refuse every later send. */
  failEverything(error: KactusError): void;
  /** New producer id/epoch set: resume the sender (it may have paused on a broken sequence). */
  resumeSender(): void;
  /** Partitions were added: let the sender look at its held batches again. */
  runSender(): void;
};

export type TransactionManagerDeps = {
  transactionalId: string;
  transactionTimeoutMs: number;
  connection: Connection;
  retry: RetryPolicy;
  requestTimeoutMs: number;
  deliveryTimeoutMs: number;
  idempotence: IdempotenceState;
  log: Logger;
  hooks: TxnProducerHooks;
};

type InitReply = { errorCode: number; errorMessage?: string | null; producerId: number; producerEpoch: number };
type AddPartitionsReply = { errorMessage?: string | null; errorCode?: number; results: { topic: string; partition: number; errorCode: number }[] };
type CodeReply = { errorCode: number; errorMessage?: string | null };
type EndTxnReply = { errorCode: number; errorMessage?: string | null; producerId: number; producerEpoch: number };
type TxnOffsetCommitReply = { errorCode: number; errorMessage?: string | null; results?: { topic: string; partition: number; errorCode: number }[] };

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
/** Group errors that mean our generation is stale (Kafka's CommitFailedException: abortable). */
const groupFencedCodes: ReadonlySet<number> = new Set([ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.ILLEGAL_GENERATION, ErrorCode.FENCED_INSTANCE_ID, ErrorCode.REBALANCE_IN_PROGRESS]);

export class TransactionManager {
  private state: TxnClientState = txnInitialState;
  private readonly txnCoordinator: CoordinatorClient;
  private readonly groupCoordinator: CoordinatorClient;
  /** Partitions of the open transaction the coordinator has. */
  private readonly added = new Set<string>();
  /** Asked for, not yet in a request. */
  private readonly toAdd = new Map<string, { topic: string; partition: number }>();
  /** In the request in flight. */
  private readonly adding = new Set<string>();
  /** Refused by the coordinator in this transaction (their batches fail). */
  private readonly refused = new Map<string, KactusError>();
  private addInFlight: Promise<void> | undefined;
  private addScheduled = false;
  /** The open transaction sent something to the coordinator (so EndTxn is needed). */
  private touched = false;
  private readonly offsetsPending = new Set<Promise<void>>();
  private initializing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: TransactionManagerDeps) {
    this.txnCoordinator = new CoordinatorClient(txnCoordinatorKind, deps.connection);
    this.groupCoordinator = new CoordinatorClient(groupCoordinatorKind, deps.connection);
  }

  get phase(): TxnClientState['phase'] {
    return this.state.phase;
  }

  get txnSeq(): number {
    return this.state.txnSeq;
  }

  /** The error a fatal producer refuses everything with, or undefined. */
  get fatalError(): KactusError | undefined {
    return this.state.phase === 'fatal' ? new KactusError(this.state.errorCode, `the transactional producer ${this.deps.transactionalId} is unusable: ${this.state.errorMessage ?? ''}`) : undefined;
  }

  /** Applies an event or throws its refusal as a KactusError. */
  private apply(event: TxnEvent): void {
    const step = txnStep(this.state, event);
    if (!step.ok) throw new KactusError(step.errorCode, `transactional id ${this.deps.transactionalId}: ${step.message}`);
    if (step.state.phase !== this.state.phase) this.deps.log.debug({ transactionalId: this.deps.transactionalId, from: this.state.phase, to: step.state.phase, txnSeq: step.state.txnSeq }, 'producer.txn_state');
    this.state = step.state;
  }

  /** Checks an event without applying it (used to refuse a call before any effect). */
  check(event: TxnEvent): KactusError | undefined {
    const step = txnStep(this.state, event);
    return step.ok ? undefined : new KactusError(step.errorCode, `transactional id ${this.deps.transactionalId}: ${step.message}`);
  }

  private deadlineMs(): number {
    return Date.now() + this.deps.deliveryTimeoutMs;
  }

  private callOptions(): { connection: Connection; retry: RetryPolicy; requestTimeoutMs: number; deadlineMs: number; cancelled: () => boolean } {
    return { connection: this.deps.connection, retry: this.deps.retry, requestTimeoutMs: this.deps.requestTimeoutMs, deadlineMs: this.deadlineMs(), cancelled: () => this.closed || this.state.phase === 'fatal' };
  }

  /** Turns the producer fatal (idempotent) and fails everything pending with the error. */
  fail(code: number, message: string): KactusError {
    if (this.state.phase !== 'fatal') {
      this.apply({ type: 'fatal', errorCode: code, errorMessage: message });
      this.deps.log.warn({ transactionalId: this.deps.transactionalId, errorCode: this.state.errorCode, message }, 'producer.txn_fatal');
      this.deps.hooks.failEverything(this.fatalError!);
    }
    return this.fatalError!;
  }

  /** A send or an offset commit failed: the open transaction can only abort now; unsent batches fail at once. */
  abortable(error: KactusError): void {
    if (fatalTxnCodes.has(error.code)) {
      this.fail(error.code, error.message);
      return;
    }
    const before = this.state.phase;
    this.apply({ type: 'abortableError', errorCode: error.code, errorMessage: error.message });
    if (before !== 'abortable' && this.state.phase === 'abortable') {
      this.deps.log.info({ transactionalId: this.deps.transactionalId, err: error.message }, 'producer.txn_abortable');
      this.deps.hooks.dropUnsent(new KactusError(ErrorCode.TRANSACTION_ABORTABLE, `the transaction can only abort: ${error.message}`, { cause: error }));
    }
  }

  // ---------------------------------------------------------------- InitProducerId

  /** InitProducerId through the transaction coordinator (once; a failure lets the next call try again). */
  initProducerId(): Promise<void> {
    if (this.state.phase !== 'uninitialized') return Promise.resolve();
    this.initializing ??= this.doInit().finally(() => {
      this.initializing = undefined;
    });
    return this.initializing;
  }

  private async doInit(): Promise<void> {
    const { transactionalId, transactionTimeoutMs } = this.deps;
    const reply = await this.txnCoordinator.call<InitReply>(
      transactionalId,
      'InitProducerId',
      () => ({ type: 'InitProducerId', transactionalId, transactionTimeoutMs, producerId: -1, producerEpoch: -1 }),
      (r) => r.errorCode,
      this.callOptions(),
    );
    if (reply.errorCode !== 0) {
      if (fatalTxnCodes.has(reply.errorCode)) throw this.fail(reply.errorCode, `InitProducerId: ${reply.errorMessage ?? errorInfo(reply.errorCode).message}`);
      throw new KactusError(reply.errorCode, `InitProducerId for transactional id ${transactionalId}: ${reply.errorMessage ?? 'refused'}`);
    }
    this.deps.idempotence.reset(reply.producerId, reply.producerEpoch);
    this.apply({ type: 'initDone' });
    this.deps.log.info({ transactionalId, producerId: reply.producerId, producerEpoch: reply.producerEpoch }, 'producer.txn_initialized');
  }

  /**
   * The sender's sequences broke (a sequenced batch failed for good). Inside a
   * transaction that makes it abortable; the abort's new epoch resumes the
   * sender. Outside one (cannot normally happen) the producer re-inits.
   */
  onSequenceBroken(reason: string): void {
    const phase = this.state.phase;
    if (phase === 'open' || phase === 'abortable' || phase === 'committing') {
      this.abortable(new KactusError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, reason));
      return;
    }
    if (phase === 'aborting' || phase === 'abortRetry') return; // the abort's EndTxn resumes the sender
    if (phase === 'ready') this.deps.hooks.resumeSender();
  }

  // ---------------------------------------------------------------- begin

  begin<M>(send: (txnSeq: number, record: M) => Promise<RecordMetadataLike[]>): Transaction<M> {
    this.apply({ type: 'begin' });
    this.added.clear();
    this.toAdd.clear();
    this.refused.clear();
    this.touched = false;
    this.offsetsPending.clear();
    return new Transaction(this, this.state.txnSeq, send);
  }

  // ---------------------------------------------------------------- AddPartitionsToTxn

  /** The sender's gate: may a batch for this partition go now? (false: it stays queued; the partition is being added) */
  partitionReady(topic: string, partition: number): boolean {
    const key = tpKey(topic, partition);
    if (this.added.has(key)) return true;
    if (this.state.phase !== 'open' && this.state.phase !== 'committing') return false;
    if (this.refused.has(key) || this.adding.has(key) || this.toAdd.has(key)) return false;
    this.toAdd.set(key, { topic, partition });
    this.scheduleAdd();
    return false;
  }

  /** Why the coordinator refused this partition (its batches fail with it), if it did. */
  refusal(topic: string, partition: number): KactusError | undefined {
    return this.refused.get(tpKey(topic, partition));
  }

  private scheduleAdd(): void {
    if (this.addScheduled || this.addInFlight !== undefined) return;
    this.addScheduled = true;
    setImmediate(() => {
      this.addScheduled = false;
      this.sendAdd();
    });
  }

  private sendAdd(): void {
    if (this.addInFlight !== undefined || this.toAdd.size === 0) return;
    if (this.state.phase !== 'open' && this.state.phase !== 'committing') {
      this.toAdd.clear();
      return;
    }
    const partitions = [...this.toAdd.values()];
    for (const key of this.toAdd.keys()) this.adding.add(key);
    this.toAdd.clear();
    this.touched = true;
    const txnSeq = this.state.txnSeq;
    const { transactionalId, idempotence } = this.deps;
    const { producerId, producerEpoch } = idempotence;
    this.addInFlight = this.txnCoordinator
      .call<AddPartitionsReply>(
        transactionalId,
        'AddPartitionsToTxn',
        () => ({ type: 'AddPartitionsToTxn', transactionalId, producerId, producerEpoch, partitions }),
        (r) => (typeof r.errorCode === 'number' && r.errorCode !== 0 ? r.errorCode : (r.results?.find((p) => p.errorCode !== 0 && (p.errorCode === ErrorCode.CONCURRENT_TRANSACTIONS || p.errorCode === ErrorCode.NOT_COORDINATOR || p.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE || p.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS))?.errorCode ?? 0)),
        this.callOptions(),
      )
      .then(
        (reply) => this.onAdded(txnSeq, partitions, reply, undefined),
        (err: unknown) => this.onAdded(txnSeq, partitions, undefined, err instanceof KactusError ? err : new KactusError(ErrorCode.UNKNOWN_SERVER_ERROR, `AddPartitionsToTxn: ${String(err)}`)),
      )
      .finally(() => {
        this.addInFlight = undefined;
        for (const p of partitions) this.adding.delete(tpKey(p.topic, p.partition));
        if (this.toAdd.size > 0) this.scheduleAdd();
        this.deps.hooks.runSender();
      });
  }

  private onAdded(txnSeq: number, partitions: { topic: string; partition: number }[], reply: AddPartitionsReply | undefined, error: KactusError | undefined): void {
    if (txnSeq !== this.state.txnSeq) return;
    if (error !== undefined) {
      for (const p of partitions) this.refused.set(tpKey(p.topic, p.partition), error);
      this.abortable(error);
      return;
    }
    const codes = new Map((reply!.results ?? []).map((r) => [tpKey(r.topic, r.partition), r.errorCode]));
    const topLevel = typeof reply!.errorCode === 'number' ? reply!.errorCode : 0;
    let firstError: KactusError | undefined;
    for (const p of partitions) {
      const key = tpKey(p.topic, p.partition);
      const code = topLevel !== 0 ? topLevel : (codes.get(key) ?? ErrorCode.UNKNOWN_SERVER_ERROR);
      if (code === 0) {
        this.added.add(key);
        continue;
      }
      const err = new KactusError(code, `AddPartitionsToTxn refused topic "${p.topic}" partition ${p.partition}${reply!.errorMessage ? `: ${reply!.errorMessage}` : ''}`);
      this.refused.set(key, err);
      firstError ??= err;
    }
    if (firstError !== undefined) this.abortable(firstError);
  }

  // ---------------------------------------------------------------- sendOffsets

  sendOffsets(txnSeq: number, args: SendOffsetsArgs): Promise<void> {
    const refusal = this.check({ type: 'sendOffsets', txnSeq });
    if (refusal) return Promise.reject(refusal);
    let groupId: string;
    let member: ConsumerGroupMetadata;
    try {
      ({ groupId, member } = checkOffsetsArgs(args));
    } catch (err) {
      return Promise.reject(err);
    }
    this.apply({ type: 'sendOffsets', txnSeq });
    this.touched = true;
    const done = this.doSendOffsets(txnSeq, groupId, member, args.offsets).catch((err: unknown) => {
      const error = err instanceof KactusError ? err : new KactusError(ErrorCode.UNKNOWN_SERVER_ERROR, `sendOffsets: ${String(err)}`);
      if (txnSeq === this.state.txnSeq) this.abortable(error);
      throw this.state.phase === 'fatal' ? this.fatalError! : error;
    });
    const tracked = done.catch(() => undefined);
    this.offsetsPending.add(tracked);
    void tracked.then(() => this.offsetsPending.delete(tracked));
    return done;
  }

  private async doSendOffsets(txnSeq: number, groupId: string, member: ConsumerGroupMetadata, offsets: readonly TxnOffset[]): Promise<void> {
    const { transactionalId, idempotence } = this.deps;
    const { producerId, producerEpoch } = idempotence;
    const added = await this.txnCoordinator.call<CodeReply>(transactionalId, 'AddOffsetsToTxn', () => ({ type: 'AddOffsetsToTxn', transactionalId, producerId, producerEpoch, groupId }), (r) => r.errorCode, this.callOptions());
    if (added.errorCode !== 0) throw this.replyError(added.errorCode, `AddOffsetsToTxn for group ${groupId}`, added.errorMessage);
    if (txnSeq !== this.state.txnSeq) throw new KactusError(ErrorCode.INVALID_TXN_STATE, 'sendOffsets: the transaction ended meanwhile');
    if (offsets.length === 0) return;
    const commit = await this.groupCoordinator.call<TxnOffsetCommitReply>(
      groupId,
      'TxnOffsetCommit',
      () => ({
        type: 'TxnOffsetCommit',
        transactionalId,
        groupId,
        producerId,
        producerEpoch,
        memberId: member.memberId,
        groupInstanceId: member.groupInstanceId,
        generationId: member.generationId,
        offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null })),
      }),
      (r) => (r.errorCode !== 0 ? r.errorCode : (r.results?.find((p) => p.errorCode === ErrorCode.CONCURRENT_TRANSACTIONS || p.errorCode === ErrorCode.NOT_COORDINATOR || p.errorCode === ErrorCode.COORDINATOR_NOT_AVAILABLE || p.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)?.errorCode ?? 0)),
      this.callOptions(),
    );
    if (commit.errorCode !== 0) throw this.replyError(commit.errorCode, `TxnOffsetCommit for group ${groupId}`, commit.errorMessage);
    const failed = commit.results?.find((p) => p.errorCode !== 0);
    if (failed !== undefined) {
      const extra = groupFencedCodes.has(failed.errorCode) ? ' (the consumer generation is stale: a rebalance happened)' : '';
      throw this.replyError(failed.errorCode, `TxnOffsetCommit for group ${groupId}, topic "${failed.topic}" partition ${failed.partition}${extra}`, null);
    }
  }

  private replyError(code: number, what: string, message: string | null | undefined): KactusError {
    if (fatalTxnCodes.has(code)) return this.fail(code, `${what}: ${message ?? errorInfo(code).message}`);
    return new KactusError(code, `${what}${message ? `: ${message}` : ''}`);
  }

  // ---------------------------------------------------------------- commit / abort

  async commit(txnSeq: number): Promise<void> {
    this.apply({ type: 'commit', txnSeq });
    // Offsets first (they may still add the group's partition), then every send.
    await Promise.all([...this.offsetsPending]);
    await this.deps.hooks.flush();
    while (this.addInFlight !== undefined) await this.addInFlight;
    if (this.state.phase === 'fatal') throw this.fatalError!;
    if (this.state.phase === 'abortable') {
      throw new KactusError(ErrorCode.INVALID_TXN_STATE, `commit refused: ${this.state.errorMessage ?? 'a send failed'}; abort the transaction`);
    }
    await this.endTxn(true);
  }

  async abort(txnSeq: number): Promise<void> {
    this.apply({ type: 'abort', txnSeq });
    this.deps.hooks.dropUnsent(new KactusError(ErrorCode.TRANSACTION_ABORTABLE, 'the transaction was aborted before this send was written'));
    await this.deps.hooks.whenIdle();
    await Promise.all([...this.offsetsPending]);
    while (this.addInFlight !== undefined) await this.addInFlight;
    if (this.state.phase === 'fatal') throw this.fatalError!;
    await this.endTxn(false);
  }

  private async endTxn(committed: boolean): Promise<void> {
    const what = committed ? 'commit' : 'abort';
    if (!this.touched) {
      // Nothing reached the coordinator: nothing to end anywhere, and the epoch stays.
      this.apply({ type: committed ? 'commitDone' : 'abortDone' });
      return;
    }
    const { transactionalId, idempotence } = this.deps;
    const { producerId, producerEpoch } = idempotence;
    let reply: EndTxnReply;
    try {
      reply = await this.txnCoordinator.call<EndTxnReply>(transactionalId, 'EndTxn', () => ({ type: 'EndTxn', transactionalId, producerId, producerEpoch, committed }), (r) => r.errorCode, this.callOptions());
    } catch (err) {
      const error = err instanceof KactusError ? err : new KactusError(ErrorCode.UNKNOWN_SERVER_ERROR, `EndTxn: ${String(err)}`);
      if (this.state.phase === 'fatal') throw this.fatalError!;
      if (error.retriable) {
        // The outcome is unknown: the same call may be made again (the coordinator answers a retried EndTxn).
        this.apply({ type: committed ? 'commitFailed' : 'abortFailed' });
        throw new KactusError(error.code, `${what} did not complete (${error.message}); call ${what}() again`, { cause: error });
      }
      throw this.fail(error.code, `EndTxn(${what}): ${error.message}`);
    }
    if (reply.errorCode !== 0) {
      if (!committed && reply.errorCode === ErrorCode.INVALID_TXN_STATE) {
        // Nothing open at the coordinator (an add that never landed): the abort has nothing to undo.
        this.deps.log.info({ transactionalId }, 'producer.txn_abort_nothing_open');
        this.adopt(producerId, producerEpoch);
        this.apply({ type: 'abortDone' });
        return;
      }
      throw this.fail(fatalTxnCodes.has(reply.errorCode) ? reply.errorCode : reply.errorCode, `EndTxn(${what}): ${reply.errorMessage ?? errorInfo(reply.errorCode).message}`);
    }
    this.adopt(reply.producerId, reply.producerEpoch);
    this.apply({ type: committed ? 'commitDone' : 'abortDone' });
  }

  /** Takes the producer id and epoch for the next transaction; sequences restart at 0. */
  private adopt(producerId: number, producerEpoch: number): void {
    const { idempotence } = this.deps;
    const id = Number.isInteger(producerId) && producerId >= 0 ? producerId : idempotence.producerId;
    const epoch = Number.isInteger(producerEpoch) && producerEpoch >= 0 ? producerEpoch : idempotence.producerEpoch;
    idempotence.reset(id, epoch);
    this.deps.hooks.resumeSender();
  }

  /**
   * Aborts the open transaction, if any (Kafka's producer does so when it is closed): its
   * partitions are unblocked for read_committed readers now, not after transaction.timeout.ms.
   * Best effort: a failure is logged, the coordinator's timeout remains the backstop.
   */
  async abortIfOpen(): Promise<void> {
    const phase = this.state.phase;
    if (this.closed || (phase !== 'open' && phase !== 'abortable' && phase !== 'abortRetry')) return;
    try {
      this.deps.log.info({ transactionalId: this.deps.transactionalId }, 'producer.txn_aborted_on_close');
      await this.abort(this.state.txnSeq);
    } catch (err) {
      this.deps.log.warn({ transactionalId: this.deps.transactionalId, err }, 'producer.txn_abort_on_close_failed');
    }
  }

  close(): void {
    this.closed = true;
  }
}

function checkOffsetsArgs(args: SendOffsetsArgs): { groupId: string; member: ConsumerGroupMetadata } {
  if (typeof args !== 'object' || args === null || !Array.isArray(args.offsets)) throw new KactusError(ErrorCode.INVALID_REQUEST, 'sendOffsets takes { offsets: [{ topic, partition, offset }], consumerGroupId } or { offsets, groupMetadata }');
  for (const o of args.offsets) {
    if (typeof o !== 'object' || o === null || typeof o.topic !== 'string' || !Number.isInteger(o.partition) || o.partition < 0 || !Number.isSafeInteger(o.offset) || o.offset < 0) {
      throw new KactusError(ErrorCode.INVALID_REQUEST, `sendOffsets: each offset must be { topic, partition >= 0, offset >= 0 }, got ${JSON.stringify(o)}`);
    }
  }
  if (args.groupMetadata !== undefined) {
    const m = args.groupMetadata;
    if (typeof m !== 'object' || m === null || typeof m.groupId !== 'string' || m.groupId.length === 0 || typeof m.memberId !== 'string' || !Number.isInteger(m.generationId)) {
      throw new KactusError(ErrorCode.INVALID_REQUEST, 'sendOffsets: groupMetadata must be { groupId, memberId, generationId, groupInstanceId } (consumer.groupMetadata())');
    }
    return { groupId: m.groupId, member: { groupId: m.groupId, memberId: m.memberId, generationId: m.generationId, groupInstanceId: m.groupInstanceId ?? null } };
  }
  if (typeof args.consumerGroupId !== 'string' || args.consumerGroupId.length === 0) throw new KactusError(ErrorCode.INVALID_REQUEST, 'sendOffsets needs consumerGroupId or groupMetadata');
  // Not a member: Kafka allows it (no generation check at the coordinator).
  return { groupId: args.consumerGroupId, member: { groupId: args.consumerGroupId, memberId: '', generationId: -1, groupInstanceId: null } };
}

export type RecordMetadataLike = { topic: string; partition: number; offset: number; timestamp: number };

/**
 * One transaction (what `producer.transaction()` returns). Every method
 * checks that this transaction is still the open one first: a call on an
 * ended transaction is refused with INVALID_TXN_STATE (and on a fenced
 * producer with PRODUCER_FENCED) before anything is sent.
 */
export class Transaction<M = unknown> {
  constructor(
    private readonly manager: TransactionManager,
    readonly txnSeq: number,
    private readonly sendFn: (txnSeq: number, record: M) => Promise<RecordMetadataLike[]>,
  ) {}

  /** True until commit or abort completed (or the producer failed). */
  isActive(): boolean {
    return this.manager.txnSeq === this.txnSeq && this.manager.phase !== 'ready' && this.manager.phase !== 'fatal';
  }

  /** Like producer.send, inside this transaction: visible to read_committed consumers only once it commits. */
  send(record: M): Promise<RecordMetadataLike[]> {
    return this.sendFn(this.txnSeq, record);
  }

  /** Adds the consumed offsets to this transaction: they are committed with it (exactly-once). */
  sendOffsets(args: SendOffsetsArgs): Promise<void> {
    return this.manager.sendOffsets(this.txnSeq, args);
  }

  /** Flushes every send of the transaction, then commits it. */
  commit(): Promise<void> {
    return this.manager.commit(this.txnSeq);
  }

  /** Drops what is not sent yet, waits for what is in flight, then aborts. */
  abort(): Promise<void> {
    return this.manager.abort(this.txnSeq);
  }
}
