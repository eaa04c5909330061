/**
 * The transactional workload of the chaos harness (opt-in: `--workloads
 * ...,txn`).
 *
 * - `TxnProducerWorker`: one transactional producer (its own
 *   transactionalId, `chaos-txn-<name>`) that repeatedly opens a
 *   transaction, sends 2-5 unique values (`t0-17`) to 2-3 partitions of the
 *   chaos topic (explicit partitions, null keys), waits for every send, then
 *   commits or aborts: a seeded 1 in 4 is aborted, and so is every
 *   transaction one of whose sends failed (a failed send may still be in the
 *   log; aborting it is what a client must do). History: `send-invoke` with
 *   `txnId` (`<transactionalId>:<n>`, one per transaction), `send-ok` /
 *   `send-fail` (always indefinite), then exactly one outcome per
 *   transaction: commit ok -> `txn-commit`, abort ok -> `txn-abort`, any
 *   error from commit or abort (timeout, fenced, fatal) -> `txn-unknown`.
 *   After any error (opening, commit, abort) the producer is closed and, after
 *   a backoff, replaced by a new one with the same transactionalId, whose
 *   InitProducerId fences the old one and finishes its open transaction at
 *   the coordinator. Commit is never retried and an unknown commit is never
 *   followed by an abort: the client answers an abort that finds nothing
 *   open as "aborted", which would record a committed transaction as
 *   aborted.
 * - The read_committed reader is a `ConsumerWorker` (workloads.ts) of its own
 *   group, `chaos-txn-readers`, with `isolation: 'read_committed'`: its reads
 *   are recorded with that isolation, so the checker judges them for
 *   `aborted-read` (an aborted or never-committed value read) and, once it has
 *   drained, for `unseen` (a committed or non-transactional acked value in
 *   the final log it never delivered). `readCommittedExpected` says which
 *   values it must deliver before the harness calls it drained.
 *
 * Pure pieces (`planTransaction`, `txnOutcomeEvent`, `readCommittedExpected`,
 * `parseWorkloads`) are unit-tested in txn-workload.test.ts without a
 * cluster.
 */
import { Kactus, KactusError, type Producer } from '../../client/index.ts';
import { seededRng, type Rng } from '../../runtime/rng.ts';
import type { HistoryEvent, TxnAbort, TxnCommit, TxnUnknown } from './history.ts';
import type { LiveRecorder } from './recorder.ts';
import { clientLogger } from './workloads.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// Workload selection.

export const WORKLOAD_NAMES = ['producers', 'consumers', 'txn'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];
/** The workloads of a run when none are named: the ones the harness always had. */
export const DEFAULT_WORKLOADS: readonly WorkloadName[] = ['producers', 'consumers'];

/** Parses `producers,consumers,txn`; throws an Error naming the unknown or missing workload. */
export function parseWorkloads(text: string | undefined): WorkloadName[] {
  if (text === undefined) return [...DEFAULT_WORKLOADS];
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error('--workloads names no workload');
  for (const n of names) if (!(WORKLOAD_NAMES as readonly string[]).includes(n)) throw new Error(`unknown workload ${n} (known: ${WORKLOAD_NAMES.join(', ')})`);
  return [...new Set(names as WorkloadName[])];
}

// ---------------------------------------------------------------------------
// Pure pieces of the transactional workload.

/** One transaction to run: the partition of each send, and whether to abort it. */
export type TxnPlan = { partitions: number[]; abort: boolean };

export const txnSendsMin = 2;
export const txnSendsMax = 5;
/** One transaction in `abortOneIn` is aborted by choice. */
export const abortOneIn = 4;

/**
 * Draws a transaction: 2-5 sends over 2-3 distinct partitions of
 * `partitionCount` (each chosen partition gets at least one send, in turn),
 * aborted 1 time in `abortOneIn`. Same rng state, same plan.
 */
export function planTransaction(rng: Rng, partitionCount: number): TxnPlan {
  if (!Number.isInteger(partitionCount) || partitionCount < 3) throw new Error(`planTransaction needs at least 3 partitions, got ${partitionCount}`);
  const sends = rng.int(txnSendsMin, txnSendsMax + 1);
  const spread = Math.min(sends, rng.int(2, 4));
  const chosen: number[] = [];
  while (chosen.length < spread) {
    const p = rng.int(0, partitionCount);
    if (!chosen.includes(p)) chosen.push(p);
  }
  const partitions = Array.from({ length: sends }, (_, i) => chosen[i % spread]!);
  return { partitions, abort: rng.int(0, abortOneIn) === 0 };
}

/** What ended a transaction, as the workload saw it. */
export type TxnEnding = 'commit-ok' | 'abort-ok' | 'error';

/** The history event (without time and process) for a transaction's ending. */
export function txnOutcomeEvent(ending: TxnEnding, txnId: string, values: readonly string[]): Omit<TxnCommit, 'atMs' | 'process'> | Omit<TxnAbort, 'atMs' | 'process'> | Omit<TxnUnknown, 'atMs' | 'process'> {
  const type = ending === 'commit-ok' ? 'txn-commit' : ending === 'abort-ok' ? 'txn-abort' : 'txn-unknown';
  return { type, txnId, values: [...values] };
}

/**
 * The values a read_committed reader of `topic` must deliver, given the
 * events so far: every value of the final log (`final-read`) that was sent
 * outside a transaction, or in a transaction with a `txn-commit`. Values of
 * aborted and unknown transactions are left out (aborted: must never be
 * delivered; unknown: may go either way).
 */
export function readCommittedExpected(events: readonly HistoryEvent[], topic: string): Set<string> {
  const txnOf = new Map<string, string>();
  const committed = new Set<string>();
  const inLog = new Set<string>();
  for (const e of events) {
    if (e.type === 'send-invoke' && e.txnId !== undefined) txnOf.set(e.value, e.txnId);
    else if (e.type === 'txn-commit') for (const v of e.values) committed.add(v);
    else if (e.type === 'final-read' && e.topic === topic) for (const r of e.records) inLog.add(r.value);
  }
  const expected = new Set<string>();
  for (const v of inLog) if (!txnOf.has(v) || committed.has(v)) expected.add(v);
  return expected;
}

// ---------------------------------------------------------------------------
// The worker.

export type TxnProducerWorkerOptions = {
  /** Process name in the history and value prefix, e.g. `t0`. */
  name: string;
  brokers: string[];
  topic: string;
  partitions: number;
  /** Transactions started per second at most (each also waits for its sends and its end). */
  txnPerSecond: number;
  deliveryTimeoutMs: number;
  /** The producer's transaction.timeout.ms: a transaction left open by a replaced producer blocks read_committed readers at most this long. */
  transactionTimeoutMs: number;
  seed: number;
  recorder: LiveRecorder;
  log: (line: string) => void;
  /** Makes the producers (tests: a fake); default: a transactional producer of this worker's own client. */
  producerFactory?: () => TxnProducerLike;
  /** Backoff before a replacement producer (default txnReplaceBackoffMs). */
  replaceBackoffMs?: number;
};

/** What the worker uses of a transactional producer (client/producer/producer.ts's Producer). */
export type TxnProducerLike = {
  transaction(): Promise<{
    send(record: { topic: string; messages: { value: string; partition: number }[] }): Promise<{ partition: number; offset: number }[]>;
    commit(): Promise<void>;
    abort(): Promise<void>;
  }>;
  close(options?: { timeoutMs?: number }): Promise<void>;
};

/** Producer replacements per worker; past it the worker stops (a finding, not a loop). */
export const txnReplacementsMax = 50;
/** Backoff before a replacement producer is created. */
export const txnReplaceBackoffMs = 1_000;

type OpenTxn = { txnId: string; values: string[]; ended: boolean };

export class TxnProducerWorker {
  private readonly kactus: Kactus | null;
  private producer: TxnProducerLike;
  private generation = 0;
  private seq = 0;
  private txnCount = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private open: OpenTxn | null = null;
  private readonly rng: Rng;
  readonly transactionalId: string;
  readonly stats = { transactions: 0, committed: 0, aborted: 0, abortedByChoice: 0, abortedAfterFailedSend: 0, unknown: 0, beginFailed: 0, sends: 0, sendsOk: 0, sendsFailed: 0, replaced: 0, abandoned: 0 };

  constructor(private readonly options: TxnProducerWorkerOptions) {
    this.transactionalId = `chaos-txn-${options.name}`;
    this.kactus = options.producerFactory ? null : new Kactus({ brokers: options.brokers, clientId: `chaos-${options.name}`, requestTimeoutMs: 5_000, logger: clientLogger(options.name) });
    this.producer = this.newProducer();
    this.rng = seededRng(options.seed);
  }

  private newProducer(): TxnProducerLike {
    if (this.options.producerFactory) return this.options.producerFactory();
    const producer: Producer = this.kactus!.producer({
      transactionalId: this.transactionalId,
      transactionTimeoutMs: this.options.transactionTimeoutMs,
      acks: 'all',
      lingerMs: 5,
      requestTimeoutMs: 3_000,
      deliveryTimeoutMs: this.options.deliveryTimeoutMs,
      retryBackoffMs: 100,
      retryBackoffMsMax: 1_000,
    });
    return producer;
  }

  private get label(): string {
    return `${this.options.name}#${this.generation}`;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  private end(open: OpenTxn, ending: TxnEnding): void {
    if (open.ended) return;
    open.ended = true;
    this.options.recorder.add(this.options.name, txnOutcomeEvent(ending, open.txnId, open.values));
    if (ending === 'commit-ok') this.stats.committed += 1;
    else if (ending === 'abort-ok') this.stats.aborted += 1;
    else this.stats.unknown += 1;
  }

  private async run(): Promise<void> {
    const { name, topic, recorder, partitions } = this.options;
    const intervalMs = 1_000 / this.options.txnPerSecond;
    while (this.running && !recorder.full) {
      const startedMs = Date.now();
      const plan = planTransaction(this.rng, partitions);
      const producer = this.producer;
      let txn;
      try {
        txn = await producer.transaction();
      } catch (err) {
        this.stats.beginFailed += 1;
        if (!(await this.replace(err, 'opening a transaction'))) return;
        continue;
      }
      if (!this.running) {
        // Stopped while opening: nothing was sent; end it locally.
        await txn.abort().catch(() => undefined);
        return;
      }
      const txnId = `${this.transactionalId}:${this.txnCount++}`;
      const open: OpenTxn = { txnId, values: [], ended: false };
      this.open = open;
      this.stats.transactions += 1;
      let sendFailed = false;
      const sends: Promise<void>[] = [];
      for (const partition of plan.partitions) {
        const value = `${name}-${this.seq++}`;
        open.values.push(value);
        recorder.add(name, { type: 'send-invoke', topic, partition, key: null, value, producerId: this.label, txnId });
        this.stats.sends += 1;
        let sending: Promise<{ partition: number; offset: number }[]>;
        try {
          sending = txn.send({ topic, messages: [{ value, partition }] });
        } catch (err) {
          sending = Promise.reject(err);
        }
        sends.push(
          sending.then(
            (results) => {
              const r = results[0]!;
              recorder.add(name, { type: 'send-ok', value, topic, partition: r.partition, offset: r.offset });
              this.stats.sendsOk += 1;
            },
            (err: unknown) => {
              sendFailed = true;
              recorder.add(name, { type: 'send-fail', value, errorCode: err instanceof KactusError ? err.code : -1, definite: false });
              this.stats.sendsFailed += 1;
            },
          ),
        );
      }
      await Promise.all(sends);
      const abort = plan.abort || sendFailed;
      if (plan.abort) this.stats.abortedByChoice += 1;
      else if (sendFailed) this.stats.abortedAfterFailedSend += 1;
      try {
        if (abort) await txn.abort();
        else await txn.commit();
        this.end(open, abort ? 'abort-ok' : 'commit-ok');
      } catch (err) {
        this.end(open, 'error');
        if (!(await this.replace(err, abort ? 'abort' : 'commit'))) return;
      }
      this.open = null;
      const waitMs = intervalMs - (Date.now() - startedMs);
      if (waitMs > 0 && this.running) await sleep(waitMs);
    }
  }

  /** Closes the producer and, after a backoff, makes a new one with the same transactionalId. False: give up. */
  private async replace(err: unknown, during: string): Promise<boolean> {
    if (this.stats.replaced >= txnReplacementsMax) {
      this.options.log(`${this.options.name}: ${txnReplacementsMax} replacements used up; the transactional workload stops (${String(err)})`);
      return false;
    }
    this.stats.replaced += 1;
    this.options.log(`${this.options.name}: ${during} failed on ${this.label} (${String(err)}); replacing the producer`);
    const old = this.producer;
    void old.close({ timeoutMs: 0 }).catch(() => undefined);
    await sleep(this.options.replaceBackoffMs ?? txnReplaceBackoffMs);
    this.generation += 1;
    this.producer = this.newProducer();
    return this.running;
  }

  /**
   * Stops opening transactions and waits (at most `waitMs`) for the open one
   * to end. Still open after that: its values are recorded `txn-unknown`
   * (and whatever the worker learns later is not recorded).
   */
  async stop(waitMs: number): Promise<void> {
    this.running = false;
    const finished = await Promise.race([this.loop?.then(() => true), sleep(waitMs).then(() => false)]);
    if (!finished && this.open !== null && !this.open.ended) {
      this.stats.abandoned += 1;
      this.end(this.open, 'error');
    }
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.kactus) await this.kactus.close({ timeoutMs: 0 }).catch(() => undefined);
    else await this.producer.close({ timeoutMs: 0 }).catch(() => undefined);
  }
}
