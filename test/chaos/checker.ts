/**
 * The chaos checker: `check(history) -> Report`, pure and linear-ish.
 *
 * Owns: the definition of every anomaly a chaos run can find, the operation
 * counts, and the availability figures. It knows nothing of clusters,
 * processes or files: the harness records a `History` (history.ts), saves
 * it, and calls `check`. The same history always gives the same report.
 *
 * Terms. A *position* is (topic, partition, offset). A value is *acked* at a
 * position when its `send-ok` says so. The *final log* of a partition is the
 * union of its `final-read` records. *Observations* of a position are its
 * ack, every `read` and every final record at it. A send's *outcome* is
 * `ok`, `failed` (definite `send-fail`), or *indeterminate* (indefinite
 * `send-fail`, or no completion by the end of the history).
 *
 * Anomalies (each: a count and up to `examplesMax` examples, in history
 * order; the report is `ok` iff every count is 0):
 *
 * - `lost`: an acked value that is not in the final log at its acked
 *   position. Counted once per value. The example says why: `missing` (not
 *   in the final log anywhere), `moved` (in the final log, elsewhere), or
 *   `no-final-read` (its partition was never read back: an unhealed cluster
 *   is a finding too). This is also the "acknowledged writes never
 *   seen by the end": the final read-back *is* the end.
 * - `duplicate`: one value at two or more distinct positions among reads and
 *   final records (what the log held). Acks are left out on purpose: an ack
 *   that disagrees with the log is `lost` (moved) and `inconsistent-offset`,
 *   and counting it here too would report one fault three times. Counted
 *   once per value.
 * - `inconsistent-offset`: one position with two or more different values
 *   among all its observations (ack, reads, final records). Kafka readers see
 *   only up to the high watermark (read_uncommitted) or the last stable
 *   offset (read_committed), so every observation is of committed data and
 *   must agree forever; divergence means a truncated committed record or a
 *   wrong ack. Counted once per position.
 * - `non-monotonic`: for one producer (process, producerId) and one
 *   partition, an acked send whose offset is not greater than the offset of
 *   an acked send that producer invoked earlier. With idempotence
 *   (max.in.flight <= 5) Kafka keeps a producer's order per partition.
 *   Counted once per out-of-order send.
 * - `unseen`: an acked value, present in the final log at its acked
 *   position (else it is `lost`), that a consumer group should have delivered
 *   and did not. Group g *should* deliver the record at offset o of
 *   partition (t, p) when g consumed topic t (it read or committed in it),
 *   and either g's highest committed offset for (t, p) (from `commit` and
 *   `committed-fetch`) is above o (g claimed it processed the record: the
 *   at-least-once promise), or `options.consumersDrained` is set (the harness
 *   let consumers catch up to the end). A group that read anything
 *   read_committed, or read nothing, is held only to non-transactional and
 *   committed-transaction values. Counted once per (group, value). This
 *   assumes groups start at the earliest offset (history.ts, convention 7).
 * - `aborted-read`: a read_committed `read` of a value whose transaction
 *   aborted (`txn-abort`), or that was sent in a transaction (`txnId`) that
 *   has no `txn-commit` by the end of the history ("never committed").
 *   Values of a `txn-unknown` transaction are not flagged: it may have
 *   committed. Judged at the end, since a reader may see committed records
 *   before the producer hears that its commit finished. Counted once per
 *   value.
 * - `committed-offset-regression`: for one (group, topic, partition), a
 *   committed offset (a `commit`, or what a `committed-fetch` returned, taken
 *   together in history order) lower than the highest one before it. Kafka
 *   lets a group commit a lower offset only after an explicit reset (seek),
 *   which our workload never does, so every decrease is flagged, whatever
 *   the generations; a fetch of -1 (nothing committed) after a commit is a
 *   regression too. Counted once per event.
 * - `phantom` (an addition to the list): a value a reader saw, or
 *   that is in the final log, that was never sent, or whose send failed
 *   definitely. "Definite" must mean the write did not happen; if it did,
 *   the client's error classification is wrong, and the harness's
 *   indeterminate counts lie. Counted once per value.
 *
 * Operations: `attempted` = invokes = `acknowledged` + `failed` +
 * `indeterminate`. An indeterminate value in the final log anywhere is
 * `indeterminateCommitted`, else `indeterminateLost`; neither is an anomaly
 * (the client said it did not know).
 *
 * Availability:
 * - `longestGapMs`: the longest interval inside the active window
 *   [activeFromMs, activeToMs] with no `send-ok`, counting the stretches from
 *   the window's start to the first ack and from the last ack to its end.
 *   The window defaults to the first to the last send event (invoke, ok,
 *   fail), so the final read-back after the workload stopped is not counted.
 * - failovers: for each fault window [start, end] (end = end of history when
 *   never healed), the partitions that *failed during it*: some send to the
 *   partition failed (definitely or not) and its [invoke, fail] interval
 *   overlaps the window. The partition is *failing from* the later of the
 *   fault's start and the earliest invoke among those failed sends (the
 *   invoke, not the failure: a send that times out after 30 s shows the
 *   partition was down when it was sent, not 30 s later). Its failover time
 *   is the time from the fault's start to the first `send-ok` on that
 *   partition at or after it was failing from, of a send invoked at or after
 *   the fault's start (a send in flight at the start may have completed on
 *   the old leader before the fault took hold, so it proves nothing). Never
 *   recovered: `recoveredAtMs` null. A keyed send without a partition is
 *   attributed to the partition that acked its key; failed sends that cannot
 *   be attributed are counted as `unattributedFailures`. Sends still in
 *   flight at the end are not failures here.
 *
 * A history that breaks history.ts's conventions 1-3 (time going back, a
 * value sent twice, a completion without an invoke, two completions, a
 * transaction outcome listing a value not sent with a txnId, a value both
 * committed and aborted, a fault healed that never started) is a harness
 * bug: `check` throws `HistoryFormatError` naming the event.
 *
 * Cost: one pass over the events (`Scan`) with Maps keyed by value and by
 * offset; partitions are found through a topic -> partition Map, so no string
 * is built per event, and a value's first sightings live on its `Send`
 * rather than in more Maps. Then one pass per judgement over sends, groups
 * and final logs. Events arrive in time order, so ack times need no sort.
 * Where each conflicting value was observed is found by a second pass over
 * the events only when there are conflicts. Measured: 1e6 events (12
 * partitions, one group, faults) in 2.7-4 s on this 2-core machine while
 * shared at load average ~8; heap ~300 MB.
 *
 * Must not import: anything that does I/O.
 */
import { assert, assertNever } from '../../runtime/assert.ts';
import {
  HistoryFormatError,
  type FaultKind,
  type History,
  type HistoryEvent,
  type Read,
  type SendInvoke,
  type SendOk,
} from './history.ts';

/** How many examples each anomaly keeps by default; the counts are always exact. */
export const EXAMPLES_MAX_DEFAULT = 10;

export type CheckOptions = {
  /** Examples kept per anomaly (default EXAMPLES_MAX_DEFAULT). */
  examplesMax?: number;
  /** Start of the active phase for `longestGapMs` (default: the first send event). */
  activeFromMs?: number;
  /** End of the active phase for `longestGapMs` (default: the last send event). */
  activeToMs?: number;
  /** The harness let every consumer group catch up to the end (see `unseen`). */
  consumersDrained?: boolean;
};

export const ANOMALY_NAMES = [
  'lost',
  'duplicate',
  'inconsistent-offset',
  'non-monotonic',
  'unseen',
  'aborted-read',
  'committed-offset-regression',
  'phantom',
] as const;
export type AnomalyName = (typeof ANOMALY_NAMES)[number];

export type Position = { topic: string; partition: number; offset: number };
export type ObservationSource = 'ack' | 'read' | 'final-read';
export type Observation = { value: string; source: ObservationSource; atMs: number; process: string };

export type LostExample = Position & {
  value: string;
  ackAtMs: number;
  process: string;
  reason: 'missing' | 'moved' | 'no-final-read';
  /** Where the final log has it instead (reason `moved`). */
  foundAt: Position | null;
};
export type DuplicateExample = { value: string; positions: Position[] };
export type InconsistentOffsetExample = Position & { observations: Observation[] };
export type NonMonotonicExample = {
  process: string;
  producerId: string;
  topic: string;
  partition: number;
  value: string;
  offset: number;
  previousValue: string;
  previousOffset: number;
};
export type UnseenExample = Position & { group: string; value: string; committedOffset: number | null };
export type AbortedReadExample = Position & {
  value: string;
  txnId: string | null;
  status: 'aborted' | 'never-committed';
  atMs: number;
  process: string;
  consumerGroup: string | null;
};
export type CommittedOffsetSource = 'commit' | 'committed-fetch';
export type CommittedOffsetRegressionExample = {
  group: string;
  topic: string;
  partition: number;
  offset: number;
  generation: number | null;
  source: CommittedOffsetSource;
  atMs: number;
  previousOffset: number;
  previousGeneration: number | null;
  previousSource: CommittedOffsetSource;
  previousAtMs: number;
};
export type PhantomExample = Position & {
  value: string;
  source: 'read' | 'final-read';
  reason: 'never-sent' | 'definitely-failed';
};

export type AnomalyExamples = {
  lost: LostExample;
  duplicate: DuplicateExample;
  'inconsistent-offset': InconsistentOffsetExample;
  'non-monotonic': NonMonotonicExample;
  unseen: UnseenExample;
  'aborted-read': AbortedReadExample;
  'committed-offset-regression': CommittedOffsetRegressionExample;
  phantom: PhantomExample;
};
export type AnomalyResult<E> = { count: number; examples: E[] };
export type Anomalies = { [K in AnomalyName]: AnomalyResult<AnomalyExamples[K]> };

export type Operations = {
  attempted: number;
  acknowledged: number;
  /** Definite failures: the write did not happen. */
  failed: number;
  /** Indefinite failures plus sends still in flight at the end. */
  indeterminate: number;
  indeterminateCommitted: number;
  indeterminateLost: number;
  /** Of `indeterminate`: sends with no completion at all. */
  inFlightAtEnd: number;
  reads: number;
  finalRecords: number;
  commits: number;
  committedFetches: number;
  transactions: { committed: number; aborted: number; unknown: number };
};

export type FaultWindow = { kind: FaultKind; target: string; detail: string | null; startMs: number; endMs: number | null };

export type PartitionFailover = {
  topic: string;
  partition: number;
  /** Failed sends to this partition overlapping the fault window. */
  failures: number;
  /** max(fault start, earliest invoke among those failed sends). */
  failingFromMs: number;
  recoveredAtMs: number | null;
  failoverMs: number | null;
};

export type FaultFailover = FaultWindow & {
  partitions: PartitionFailover[];
  unattributedFailures: number;
  /** The largest failover among this fault's partitions (null when none failed or none recovered). */
  maxFailoverMs: number | null;
  unrecovered: number;
};

export type Availability = {
  activeFromMs: number;
  activeToMs: number;
  longestGapMs: number;
  longestGapFromMs: number;
  longestGapToMs: number;
  failovers: FaultFailover[];
  maxFailoverMs: number | null;
  /** Partitions, over all faults, that never acked again after failing. */
  unrecovered: number;
};

export type Report = {
  ok: boolean;
  anomalies: Anomalies;
  operations: Operations;
  availability: Availability;
  faults: FaultWindow[];
  events: number;
  firstAtMs: number | null;
  lastAtMs: number | null;
};

// ---------------------------------------------------------------------------
// State built by the pass over the events.

type SendStatus = 'pending' | 'ok' | 'failed' | 'indeterminate';

/**
 * One send, with its first sightings kept inline rather than in Maps keyed
 * by value: most values are sent, so this saves a Map entry and an object
 * per value on the hot path.
 */
type Send = {
  invoke: SendInvoke;
  status: SendStatus;
  ok: SendOk | null;
  failAtMs: number;
  /** First position a reader or the final read saw the value at. */
  seen: PartitionState | null;
  seenOffset: number;
  seenSource: 'read' | 'final-read';
  /** First position of the value in the final log. */
  final: PartitionState | null;
  finalOffset: number;
};

type PartitionState = {
  topic: string;
  partition: number;
  /** The first value observed at each offset. */
  positions: Map<number, string>;
  /** Offsets with 2+ different values: the distinct values, first one first. */
  conflicts: Map<number, string[]> | null;
  /** The final log (union of final reads), or null when never read back. */
  finalLog: Map<number, string> | null;
  /** Acks in time order, as parallel arrays (ack time, invoke time of that send). */
  ackAtMs: number[];
  ackInvokeAtMs: number[];
};

/** Where a value was seen in the log (by a reader or the final read). */
type LogSighting = { part: PartitionState; offset: number; source: 'read' | 'final-read' };

type CommittedMark = { offset: number; generation: number | null; source: CommittedOffsetSource; atMs: number };

type GroupState = {
  name: string;
  topics: Set<string>;
  readValues: Set<string>;
  readCommitted: boolean;
  readAny: boolean;
  committed: Map<PartitionState, CommittedMark>;
};

type TxnStatus = { status: 'committed' | 'aborted' | 'unknown'; txnId: string };

type Failure = { part: PartitionState | null; invokeAtMs: number; failAtMs: number };

class Tally<E> {
  count = 0;
  readonly examples: E[] = [];
  constructor(private readonly examplesMax: number) {}
  add(make: () => E): void {
    this.count++;
    if (this.examples.length < this.examplesMax) this.examples.push(make());
  }
  result(): AnomalyResult<E> {
    return { count: this.count, examples: this.examples };
  }
}

function positionOf(part: PartitionState, offset: number): Position {
  return { topic: part.topic, partition: part.partition, offset };
}

/** The first index in the sorted `xs` whose element is >= x. */
function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Fills in where each conflicting value of the inconsistent-offset examples
 * was first observed. Conflicts are rare, so this second pass over the
 * events runs only when there are some, and keeps the first pass free of an
 * object per position.
 */
function describeObservations(
  events: readonly HistoryEvent[],
  examples: InconsistentOffsetExample[],
  part: (topic: string, partition: number) => PartitionState,
): void {
  if (examples.length === 0) return;
  const wanted = new Map<PartitionState, Map<number, Map<string, Observation | null>>>();
  for (const example of examples) {
    const p = part(example.topic, example.partition);
    let byOffset = wanted.get(p);
    if (byOffset === undefined) wanted.set(p, (byOffset = new Map()));
    byOffset.set(example.offset, new Map(example.observations.map((o) => [o.value, null])));
  }
  const note = (event: HistoryEvent, topic: string, partition: number, offset: number, value: string, source: ObservationSource): void => {
    const byValue = wanted.get(part(topic, partition))?.get(offset);
    if (byValue !== undefined && byValue.get(value) === null) {
      byValue.set(value, { value, source, atMs: event.atMs, process: event.process });
    }
  };
  for (const event of events) {
    if (event.type === 'send-ok' || event.type === 'read') {
      note(event, event.topic, event.partition, event.offset, event.value, event.type === 'read' ? 'read' : 'ack');
    } else if (event.type === 'final-read') {
      if (!wanted.has(part(event.topic, event.partition))) continue;
      for (const record of event.records) note(event, event.topic, event.partition, record.offset, record.value, 'final-read');
    }
  }
  for (const example of examples) {
    const byValue = wanted.get(part(example.topic, example.partition))?.get(example.offset);
    example.observations = example.observations.map((o) => byValue?.get(o.value) ?? o);
  }
}

/**
 * The one pass over the events: joins sends to their outcomes and
 * sightings, and keeps per-partition, per-group and per-transaction state.
 * Committed-offset regressions are judged here, in history order, because
 * they are about order; every other anomaly is judged afterwards from this
 * state by the functions below.
 */
class Scan {
  readonly sends = new Map<string, Send>();
  readonly sendOrder: Send[] = [];
  readonly partitionList: PartitionState[] = [];
  readonly unsentSightings = new Map<string, LogSighting>();
  readonly duplicatePositions = new Map<string, LogSighting[]>();
  readonly conflictOrder: { part: PartitionState; offset: number }[] = [];
  /** First read_committed read of each transactional value. */
  readonly firstCommittedRead = new Map<string, Read>();
  readonly txnStatus = new Map<string, TxnStatus>();
  readonly groups = new Map<string, GroupState>();
  readonly faults: FaultWindow[] = [];
  /** Ack times over all partitions, in time order. */
  readonly ackTimes: number[] = [];
  readonly regression: Tally<CommittedOffsetRegressionExample>;
  readonly counts = { reads: 0, finalRecords: 0, commits: 0, committedFetches: 0, txnCommitted: 0, txnAborted: 0, txnUnknown: 0 };
  firstSendAtMs = Infinity;
  lastSendAtMs = -Infinity;
  private readonly partitions = new Map<string, Map<number, PartitionState>>();
  private readonly openFaults = new Map<string, FaultWindow[]>();

  constructor(
    readonly events: readonly HistoryEvent[],
    examplesMax: number,
  ) {
    this.regression = new Tally(examplesMax);
    let lastAtMs = -Infinity;
    for (let index = 0; index < events.length; index++) {
      const event = events[index] as HistoryEvent;
      if (!(event.atMs >= lastAtMs)) throw new HistoryFormatError(`atMs ${event.atMs} goes back from ${lastAtMs}`, index);
      lastAtMs = event.atMs;
      this.apply(event, index);
    }
  }

  part(topic: string, partition: number): PartitionState {
    let byNumber = this.partitions.get(topic);
    if (byNumber === undefined) {
      byNumber = new Map();
      this.partitions.set(topic, byNumber);
    }
    let state = byNumber.get(partition);
    if (state === undefined) {
      state = { topic, partition, positions: new Map(), conflicts: null, finalLog: null, ackAtMs: [], ackInvokeAtMs: [] };
      byNumber.set(partition, state);
      this.partitionList.push(state);
    }
    return state;
  }

  private apply(event: HistoryEvent, index: number): void {
    switch (event.type) {
      case 'send-invoke': {
        if (this.sends.has(event.value)) throw new HistoryFormatError(`value ${event.value} sent twice`, index);
        const send: Send = {
          invoke: event,
          status: 'pending',
          ok: null,
          failAtMs: 0,
          seen: null,
          seenOffset: 0,
          seenSource: 'read',
          final: null,
          finalOffset: 0,
        };
        this.sends.set(event.value, send);
        this.sendOrder.push(send);
        this.firstSendAtMs = Math.min(this.firstSendAtMs, event.atMs);
        this.lastSendAtMs = event.atMs;
        break;
      }
      case 'send-ok': {
        const send = this.pendingSend(event.value, event.type, index);
        send.status = 'ok';
        send.ok = event;
        const p = this.part(event.topic, event.partition);
        this.observe(p, event.offset, event.value);
        p.ackAtMs.push(event.atMs);
        p.ackInvokeAtMs.push(send.invoke.atMs);
        this.ackTimes.push(event.atMs);
        this.lastSendAtMs = event.atMs;
        break;
      }
      case 'send-fail': {
        const send = this.pendingSend(event.value, event.type, index);
        send.status = event.definite ? 'failed' : 'indeterminate';
        send.failAtMs = event.atMs;
        this.lastSendAtMs = event.atMs;
        break;
      }
      case 'read': {
        this.counts.reads++;
        const p = this.part(event.topic, event.partition);
        this.observe(p, event.offset, event.value);
        const send = this.sightInLog(event.value, p, event.offset, 'read');
        // Only transactional values can be aborted reads (a value never sent is a phantom).
        if (event.isolation === 'read_committed' && send?.invoke.txnId !== undefined && !this.firstCommittedRead.has(event.value)) {
          this.firstCommittedRead.set(event.value, event);
        }
        if (event.consumerGroup !== undefined) {
          const g = this.group(event.consumerGroup);
          g.topics.add(event.topic);
          g.readValues.add(event.value);
          g.readAny = true;
          if (event.isolation === 'read_committed') g.readCommitted = true;
        }
        break;
      }
      case 'final-read': {
        const p = this.part(event.topic, event.partition);
        const finalLog = p.finalLog ?? (p.finalLog = new Map());
        for (const record of event.records) {
          this.counts.finalRecords++;
          this.observe(p, record.offset, record.value);
          this.sightInLog(record.value, p, record.offset, 'final-read');
          if (!finalLog.has(record.offset)) finalLog.set(record.offset, record.value);
        }
        break;
      }
      case 'commit':
        this.counts.commits++;
        this.commitMark(this.group(event.group), this.part(event.topic, event.partition), {
          offset: event.offset,
          generation: event.generation,
          source: 'commit',
          atMs: event.atMs,
        });
        break;
      case 'committed-fetch':
        this.counts.committedFetches++;
        this.commitMark(this.group(event.group), this.part(event.topic, event.partition), {
          offset: event.offset,
          generation: null,
          source: 'committed-fetch',
          atMs: event.atMs,
        });
        break;
      case 'txn-commit':
        this.counts.txnCommitted++;
        this.setTxn(event.values, 'committed', event.txnId, index);
        break;
      case 'txn-abort':
        this.counts.txnAborted++;
        this.setTxn(event.values, 'aborted', event.txnId, index);
        break;
      case 'txn-unknown':
        this.counts.txnUnknown++;
        this.setTxn(event.values, 'unknown', event.txnId, index);
        break;
      case 'fault-start': {
        const window: FaultWindow = { kind: event.kind, target: event.target, detail: event.detail ?? null, startMs: event.atMs, endMs: null };
        this.faults.push(window);
        const key = `${event.kind}\u0000${event.target}`;
        const open = this.openFaults.get(key);
        if (open === undefined) this.openFaults.set(key, [window]);
        else open.push(window);
        break;
      }
      case 'fault-end': {
        const window = this.openFaults.get(`${event.kind}\u0000${event.target}`)?.pop();
        if (window === undefined) throw new HistoryFormatError(`fault-end ${event.kind} ${event.target} never started`, index);
        window.endMs = event.atMs;
        break;
      }
      default:
        assertNever(event, 'history event');
    }
  }

  private pendingSend(value: string, type: string, index: number): Send {
    const send = this.sends.get(value);
    if (send === undefined) throw new HistoryFormatError(`${type} for ${value}, never invoked`, index);
    if (send.status !== 'pending') throw new HistoryFormatError(`second completion for ${value}`, index);
    return send;
  }

  private group(name: string): GroupState {
    let state = this.groups.get(name);
    if (state === undefined) {
      state = { name, topics: new Set(), readValues: new Set(), readCommitted: false, readAny: false, committed: new Map() };
      this.groups.set(name, state);
    }
    return state;
  }

  /** Records a value observed at an offset (ack, read or final record); a second value is a conflict. */
  private observe(p: PartitionState, offset: number, value: string): void {
    const first = p.positions.get(offset);
    if (first === undefined) {
      p.positions.set(offset, value);
      return;
    }
    if (first === value) return;
    if (p.conflicts === null) p.conflicts = new Map();
    const list = p.conflicts.get(offset);
    if (list === undefined) {
      p.conflicts.set(offset, [first, value]);
      this.conflictOrder.push({ part: p, offset });
    } else if (!list.includes(value)) {
      list.push(value);
    }
  }

  /** Records a value seen in the log; a second position is a duplicate. Returns the value's send, if any. */
  private sightInLog(value: string, p: PartitionState, offset: number, source: 'read' | 'final-read'): Send | undefined {
    const send = this.sends.get(value);
    let first: LogSighting;
    if (send !== undefined) {
      if (source === 'final-read' && send.final === null) {
        send.final = p;
        send.finalOffset = offset;
      }
      if (send.seen === null) {
        send.seen = p;
        send.seenOffset = offset;
        send.seenSource = source;
        return send;
      }
      if (send.seen === p && send.seenOffset === offset) return send;
      first = { part: send.seen, offset: send.seenOffset, source: send.seenSource };
    } else {
      const unsent = this.unsentSightings.get(value);
      if (unsent === undefined) {
        this.unsentSightings.set(value, { part: p, offset, source });
        return send;
      }
      if (unsent.part === p && unsent.offset === offset) return send;
      first = unsent;
    }
    const list = this.duplicatePositions.get(value);
    if (list === undefined) this.duplicatePositions.set(value, [first, { part: p, offset, source }]);
    else if (!list.some((s) => s.part === p && s.offset === offset)) list.push({ part: p, offset, source });
    return send;
  }

  /** A committed offset seen (commit or OffsetFetch): lower than the highest so far is a regression. */
  private commitMark(g: GroupState, p: PartitionState, mark: CommittedMark): void {
    g.topics.add(p.topic);
    const previous = g.committed.get(p);
    if (previous === undefined || mark.offset >= previous.offset) {
      g.committed.set(p, mark);
      return;
    }
    this.regression.add(() => ({
      group: g.name,
      topic: p.topic,
      partition: p.partition,
      offset: mark.offset,
      generation: mark.generation,
      source: mark.source,
      atMs: mark.atMs,
      previousOffset: previous.offset,
      previousGeneration: previous.generation,
      previousSource: previous.source,
      previousAtMs: previous.atMs,
    }));
  }

  private setTxn(values: readonly string[], status: TxnStatus['status'], txnId: string, index: number): void {
    for (const value of values) {
      if (this.sends.get(value)?.invoke.txnId === undefined) {
        throw new HistoryFormatError(`value ${value} in a transaction outcome was not sent earlier with a txnId`, index);
      }
      const previous = this.txnStatus.get(value);
      if (previous !== undefined && previous.status !== status && previous.status !== 'unknown') {
        if (status === 'unknown') continue; // a later unknown outcome does not undo a known one
        throw new HistoryFormatError(`value ${value} is both ${previous.status} and ${status}`, index);
      }
      this.txnStatus.set(value, { status, txnId });
    }
  }
}

type SendJudgement = {
  operations: Operations;
  lost: AnomalyResult<LostExample>;
  nonMonotonic: AnomalyResult<NonMonotonicExample>;
  /** topic -> key -> the partition that acked that key (to attribute keyed failures). */
  keyPartition: Map<string, Map<string, PartitionState>>;
};

/** Per-send judgements in invoke order: operation counts, lost, non-monotonic. */
function judgeSends(scan: Scan, examplesMax: number): SendJudgement {
  const lost = new Tally<LostExample>(examplesMax);
  const nonMonotonic = new Tally<NonMonotonicExample>(examplesMax);
  const { counts } = scan;
  const operations: Operations = {
    attempted: scan.sendOrder.length,
    acknowledged: 0,
    failed: 0,
    indeterminate: 0,
    indeterminateCommitted: 0,
    indeterminateLost: 0,
    inFlightAtEnd: 0,
    reads: counts.reads,
    finalRecords: counts.finalRecords,
    commits: counts.commits,
    committedFetches: counts.committedFetches,
    transactions: { committed: counts.txnCommitted, aborted: counts.txnAborted, unknown: counts.txnUnknown },
  };
  /** partition -> producer (process, producerId) -> its last acked offset there. */
  const producerLast = new Map<PartitionState, Map<string, { offset: number; value: string }>>();
  const keyPartition = new Map<string, Map<string, PartitionState>>();
  for (const send of scan.sendOrder) {
    const value = send.invoke.value;
    switch (send.status) {
      case 'ok': {
        operations.acknowledged++;
        const ok = send.ok as SendOk;
        const p = scan.part(ok.topic, ok.partition);
        if (send.invoke.key !== null) {
          let byKey = keyPartition.get(ok.topic);
          if (byKey === undefined) keyPartition.set(ok.topic, (byKey = new Map()));
          byKey.set(send.invoke.key, p);
        }
        const finalLog = p.finalLog;
        if (finalLog === null || finalLog.get(ok.offset) !== value) {
          const elsewhere = send.final;
          lost.add(() => ({
            topic: ok.topic,
            partition: ok.partition,
            offset: ok.offset,
            value,
            ackAtMs: ok.atMs,
            process: ok.process,
            reason: finalLog === null ? 'no-final-read' : elsewhere === null ? 'missing' : 'moved',
            foundAt: elsewhere === null ? null : positionOf(elsewhere, send.finalOffset),
          }));
        }
        const producerKey = `${send.invoke.process}\u0000${send.invoke.producerId}`;
        let last = producerLast.get(p);
        if (last === undefined) producerLast.set(p, (last = new Map()));
        const previous = last.get(producerKey);
        if (previous === undefined || ok.offset > previous.offset) {
          last.set(producerKey, { offset: ok.offset, value });
        } else {
          nonMonotonic.add(() => ({
            process: send.invoke.process,
            producerId: send.invoke.producerId,
            topic: ok.topic,
            partition: ok.partition,
            value,
            offset: ok.offset,
            previousValue: previous.value,
            previousOffset: previous.offset,
          }));
        }
        break;
      }
      case 'failed':
        operations.failed++;
        break;
      case 'indeterminate':
      case 'pending':
        operations.indeterminate++;
        if (send.status === 'pending') operations.inFlightAtEnd++;
        if (send.final !== null) operations.indeterminateCommitted++;
        else operations.indeterminateLost++;
        break;
      default:
        assertNever(send.status, 'send status');
    }
  }
  return { operations, lost: lost.result(), nonMonotonic: nonMonotonic.result(), keyPartition };
}

/** Values seen at two or more positions, in order of their second sighting. */
function judgeDuplicates(scan: Scan, examplesMax: number): AnomalyResult<DuplicateExample> {
  const duplicate = new Tally<DuplicateExample>(examplesMax);
  for (const [value, sightings] of scan.duplicatePositions) {
    duplicate.add(() => ({ value, positions: sightings.slice(0, examplesMax).map((s) => positionOf(s.part, s.offset)) }));
  }
  return duplicate.result();
}

/** Positions observed with two or more values. */
function judgeInconsistentOffsets(scan: Scan, examplesMax: number): AnomalyResult<InconsistentOffsetExample> {
  const inconsistent = new Tally<InconsistentOffsetExample>(examplesMax);
  for (const { part: p, offset } of scan.conflictOrder) {
    const values = p.conflicts?.get(offset) ?? [];
    inconsistent.add(() => ({
      ...positionOf(p, offset),
      // Placeholders: describeObservations fills in where each value was first observed.
      observations: values.slice(0, examplesMax).map((value) => ({ value, source: 'ack', atMs: 0, process: '' })),
    }));
  }
  describeObservations(scan.events, inconsistent.examples, (topic, partition) => scan.part(topic, partition));
  return inconsistent.result();
}

/** Values in the log that were never sent, or whose send failed definitely. */
function judgePhantoms(scan: Scan, examplesMax: number): AnomalyResult<PhantomExample> {
  const phantom = new Tally<PhantomExample>(examplesMax);
  for (const send of scan.sendOrder) {
    const seen = send.seen;
    if (send.status !== 'failed' || seen === null) continue;
    phantom.add(() => ({ ...positionOf(seen, send.seenOffset), value: send.invoke.value, source: send.seenSource, reason: 'definitely-failed' }));
  }
  for (const [value, sighting] of scan.unsentSightings) {
    phantom.add(() => ({ ...positionOf(sighting.part, sighting.offset), value, source: sighting.source, reason: 'never-sent' }));
  }
  return phantom.result();
}

/** read_committed reads of aborted or never-committed values, judged against the final outcomes. */
function judgeAbortedReads(scan: Scan, examplesMax: number): AnomalyResult<AbortedReadExample> {
  const abortedRead = new Tally<AbortedReadExample>(examplesMax);
  for (const [value, read] of scan.firstCommittedRead) {
    const txn = scan.txnStatus.get(value);
    let status: AbortedReadExample['status'];
    if (txn === undefined) status = 'never-committed';
    else if (txn.status === 'aborted') status = 'aborted';
    else continue;
    abortedRead.add(() => ({
      topic: read.topic,
      partition: read.partition,
      offset: read.offset,
      value,
      txnId: txn?.txnId ?? scan.sends.get(value)?.invoke.txnId ?? null,
      status,
      atMs: read.atMs,
      process: read.process,
      consumerGroup: read.consumerGroup ?? null,
    }));
  }
  return abortedRead.result();
}

/** Acked records in the final log that a group owed and never delivered. */
function judgeUnseen(scan: Scan, examplesMax: number, consumersDrained: boolean): AnomalyResult<UnseenExample> {
  const unseen = new Tally<UnseenExample>(examplesMax);
  for (const g of scan.groups.values()) {
    const committedOnly = g.readCommitted || !g.readAny;
    for (const p of scan.partitionList) {
      if (p.finalLog === null || !g.topics.has(p.topic)) continue;
      const mark = g.committed.get(p);
      const limit = consumersDrained ? Infinity : (mark?.offset ?? -1);
      for (const [offset, value] of p.finalLog) {
        if (offset >= limit || g.readValues.has(value)) continue;
        const ok = scan.sends.get(value)?.ok;
        if (ok === undefined || ok === null) continue; // not acked: no promise to keep
        if (ok.topic !== p.topic || ok.partition !== p.partition || ok.offset !== offset) continue; // lost, not unseen
        if (committedOnly && scan.sends.get(value)?.invoke.txnId !== undefined && scan.txnStatus.get(value)?.status !== 'committed') continue;
        unseen.add(() => ({ ...positionOf(p, offset), group: g.name, value, committedOffset: mark?.offset ?? null }));
      }
    }
  }
  return unseen.result();
}

type Gap = { longestGapMs: number; longestGapFromMs: number; longestGapToMs: number };

/** The longest stretch of [fromMs, toMs] with no ack, ends included. */
function longestGap(ackTimes: readonly number[], fromMs: number, toMs: number): Gap {
  const gap: Gap = { longestGapMs: 0, longestGapFromMs: fromMs, longestGapToMs: fromMs };
  if (!(toMs > fromMs)) return gap;
  let previous = fromMs;
  const consider = (atMs: number): void => {
    if (atMs - previous > gap.longestGapMs) {
      gap.longestGapMs = atMs - previous;
      gap.longestGapFromMs = previous;
      gap.longestGapToMs = atMs;
    }
    previous = atMs;
  };
  for (let i = lowerBound(ackTimes, fromMs); i < ackTimes.length; i++) {
    const atMs = ackTimes[i] as number;
    if (atMs > toMs) break;
    consider(atMs);
  }
  consider(toMs);
  return gap;
}

/** Failover figures for every fault window (see the module header for the definition). */
function judgeFailovers(scan: Scan, keyPartition: Map<string, Map<string, PartitionState>>): FaultFailover[] {
  const failures: Failure[] = [];
  let failLatencyMaxMs = 0;
  for (const send of scan.sendOrder) {
    if (send.status !== 'failed' && send.status !== 'indeterminate') continue;
    const invoke = send.invoke;
    let p: PartitionState | null = null;
    if (invoke.partition !== undefined) p = scan.part(invoke.topic, invoke.partition);
    else if (invoke.key !== null) p = keyPartition.get(invoke.topic)?.get(invoke.key) ?? null;
    failures.push({ part: p, invokeAtMs: invoke.atMs, failAtMs: send.failAtMs });
    failLatencyMaxMs = Math.max(failLatencyMaxMs, send.failAtMs - invoke.atMs);
  }
  failures.sort((a, b) => a.failAtMs - b.failAtMs);
  const failAtMs = failures.map((f) => f.failAtMs);

  return scan.faults.map((fault): FaultFailover => {
    const endMs = fault.endMs ?? Infinity;
    const affected = new Map<PartitionState, { failures: number; failingFromMs: number }>();
    let unattributedFailures = 0;
    // Failures overlapping [start, end]: failed at or after the start, invoked by the end.
    for (let i = lowerBound(failAtMs, fault.startMs); i < failures.length; i++) {
      const failure = failures[i] as Failure;
      if (failure.failAtMs > endMs + failLatencyMaxMs) break;
      if (failure.invokeAtMs > endMs) continue;
      if (failure.part === null) {
        unattributedFailures++;
        continue;
      }
      const failingFromMs = Math.max(fault.startMs, failure.invokeAtMs);
      const entry = affected.get(failure.part);
      if (entry === undefined) {
        affected.set(failure.part, { failures: 1, failingFromMs });
      } else {
        entry.failures++;
        entry.failingFromMs = Math.min(entry.failingFromMs, failingFromMs);
      }
    }
    const partitions: PartitionFailover[] = [];
    let maxFailoverMs: number | null = null;
    let unrecovered = 0;
    for (const [p, entry] of affected) {
      let recoveredAtMs: number | null = null;
      for (let i = lowerBound(p.ackAtMs, entry.failingFromMs); i < p.ackAtMs.length; i++) {
        if ((p.ackInvokeAtMs[i] as number) >= fault.startMs) {
          recoveredAtMs = p.ackAtMs[i] as number;
          break;
        }
      }
      const failoverMs = recoveredAtMs === null ? null : recoveredAtMs - fault.startMs;
      if (failoverMs === null) unrecovered++;
      else maxFailoverMs = Math.max(maxFailoverMs ?? 0, failoverMs);
      partitions.push({ topic: p.topic, partition: p.partition, ...entry, recoveredAtMs, failoverMs });
    }
    partitions.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    return { ...fault, partitions, unattributedFailures, maxFailoverMs, unrecovered };
  });
}

/** Checks a history. Pure: same history, same report. Throws HistoryFormatError on a broken history. */
export function check(history: History, options: CheckOptions = {}): Report {
  const examplesMax = options.examplesMax ?? EXAMPLES_MAX_DEFAULT;
  assert(Number.isSafeInteger(examplesMax), 'examplesMax must be an integer');
  assert(examplesMax >= 0, 'examplesMax must not be negative');
  const scan = new Scan(history.events, examplesMax);
  const sends = judgeSends(scan, examplesMax);
  const anomalies: Anomalies = {
    lost: sends.lost,
    duplicate: judgeDuplicates(scan, examplesMax),
    'inconsistent-offset': judgeInconsistentOffsets(scan, examplesMax),
    'non-monotonic': sends.nonMonotonic,
    unseen: judgeUnseen(scan, examplesMax, options.consumersDrained ?? false),
    'aborted-read': judgeAbortedReads(scan, examplesMax),
    'committed-offset-regression': scan.regression.result(),
    phantom: judgePhantoms(scan, examplesMax),
  };
  const activeFromMs = options.activeFromMs ?? (Number.isFinite(scan.firstSendAtMs) ? scan.firstSendAtMs : 0);
  const activeToMs = options.activeToMs ?? (Number.isFinite(scan.lastSendAtMs) ? scan.lastSendAtMs : activeFromMs);
  const failovers = judgeFailovers(scan, sends.keyPartition);
  let maxFailoverMs: number | null = null;
  for (const f of failovers) if (f.maxFailoverMs !== null) maxFailoverMs = Math.max(maxFailoverMs ?? 0, f.maxFailoverMs);
  const events = history.events;
  return {
    ok: ANOMALY_NAMES.every((name) => anomalies[name].count === 0),
    anomalies,
    operations: sends.operations,
    availability: {
      activeFromMs,
      activeToMs,
      ...longestGap(scan.ackTimes, activeFromMs, activeToMs),
      failovers,
      maxFailoverMs,
      unrecovered: failovers.reduce((sum, f) => sum + f.unrecovered, 0),
    },
    faults: scan.faults,
    events: events.length,
    firstAtMs: events[0]?.atMs ?? null,
    lastAtMs: events[events.length - 1]?.atMs ?? null,
  };
}

/** The anomaly names with a non-zero count, in ANOMALY_NAMES order. */
export function anomaliesFound(report: Report): AnomalyName[] {
  return ANOMALY_NAMES.filter((name) => report.anomalies[name].count > 0);
}
