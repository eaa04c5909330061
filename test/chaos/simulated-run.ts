/**
 * Test support for the checker: a recorder for hand-made histories, a
 * simulated *correct* cluster that turns a random script into a history, and
 * injectors that add exactly one anomaly of a chosen kind to a history.
 *
 * Why a model: the checker's claim is two-sided. Every history a correct
 * system can produce must pass (no false alarms under retries, indefinite
 * failures, transactions, rebalances, re-delivery, faults), and each anomaly
 * must be caught and named. The model is the simplest correct system: one
 * array per partition as the log, appends in step order, a consumer position
 * per group and partition, transaction outcomes decided at once. It keeps
 * the Kafka details the checker must not trip on: control markers take an
 * offset, read_committed consumers skip aborted records and markers, a
 * rebalance re-delivers from the committed offset, an indefinite failure may
 * or may not have appended, keyed sends leave the partition to the
 * partitioner.
 *
 * Each injector appends events after the run (or drops final records) so
 * that exactly one anomaly kind fires; the header of `injectAnomaly` says
 * how each stays exact. Fresh positions are past every offset the history
 * mentions (including committed offsets), so nothing else can see them.
 *
 * Used only by tests. No I/O.
 */
import fc from 'fast-check';
import type { AnomalyName } from './checker.ts';
import {
  makeHistory,
  type FaultKind,
  type FinalRecord,
  type History,
  type HistoryEvent,
  type Isolation,
} from './history.ts';

// ---------------------------------------------------------------------------
// Recorder: builds histories with a clock that moves 1 ms per event unless set.

type NoTime<E> = E extends HistoryEvent ? Omit<E, 'atMs' | 'process'> : never;

export class Recorder {
  readonly events: HistoryEvent[] = [];
  private nowMs = 0;

  /** Sets the clock (never backwards) for the next event. */
  at(atMs: number): this {
    this.nowMs = Math.max(this.nowMs, atMs);
    return this;
  }

  /** Appends an event stamped with the clock, then moves the clock 1 ms. */
  add(process: string, event: NoTime<HistoryEvent>): this {
    this.events.push({ ...event, atMs: this.nowMs, process } as HistoryEvent);
    this.nowMs += 1;
    return this;
  }

  invoke(process: string, value: string, topic: string, partition: number | undefined, extra: { key?: string | null; producerId?: string; txnId?: string } = {}): this {
    const event: NoTime<HistoryEvent> = {
      type: 'send-invoke',
      topic,
      key: extra.key ?? null,
      value,
      producerId: extra.producerId ?? `pid-${process}`,
      ...(partition === undefined ? {} : { partition }),
      ...(extra.txnId === undefined ? {} : { txnId: extra.txnId }),
    };
    return this.add(process, event);
  }

  ok(process: string, value: string, topic: string, partition: number, offset: number): this {
    return this.add(process, { type: 'send-ok', value, topic, partition, offset });
  }

  fail(process: string, value: string, definite: boolean, errorCode = definite ? 87 : 7): this {
    return this.add(process, { type: 'send-fail', value, errorCode, definite });
  }

  /** invoke + ok in one go. */
  send(process: string, value: string, topic: string, partition: number, offset: number): this {
    return this.invoke(process, value, topic, partition).ok(process, value, topic, partition, offset);
  }

  read(
    process: string,
    topic: string,
    partition: number,
    offset: number,
    value: string,
    extra: { isolation?: Isolation; group?: string; generation?: number } = {},
  ): this {
    return this.add(process, {
      type: 'read',
      topic,
      partition,
      offset,
      value,
      isolation: extra.isolation ?? 'read_uncommitted',
      ...(extra.group === undefined ? {} : { consumerGroup: extra.group, generation: extra.generation ?? 1 }),
    });
  }

  /** A final read; `records` as [offset, value] pairs. */
  final(topic: string, partition: number, records: [number, string][]): this {
    return this.add('final', {
      type: 'final-read',
      topic,
      partition,
      records: records.map(([offset, value]) => ({ offset, value })),
    });
  }

  commit(process: string, group: string, topic: string, partition: number, offset: number, generation = 1): this {
    return this.add(process, { type: 'commit', group, topic, partition, offset, generation });
  }

  fetchCommitted(process: string, group: string, topic: string, partition: number, offset: number): this {
    return this.add(process, { type: 'committed-fetch', group, topic, partition, offset });
  }

  txn(process: string, outcome: 'txn-commit' | 'txn-abort' | 'txn-unknown', txnId: string, values: string[]): this {
    return this.add(process, { type: outcome, txnId, values });
  }

  faultStart(kind: FaultKind, target: string, detail?: string): this {
    return this.add('nemesis', { type: 'fault-start', kind, target, ...(detail === undefined ? {} : { detail }) });
  }

  faultEnd(kind: FaultKind, target: string): this {
    return this.add('nemesis', { type: 'fault-end', kind, target });
  }

  history(): History {
    return makeHistory([...this.events]);
  }
}

// ---------------------------------------------------------------------------
// The model: a correct cluster driven by a random script.

export const MODEL_TOPICS = ['a', 'b'] as const;
export const MODEL_PARTITIONS = 3;
const MODEL_GROUPS = [
  { name: 'g-committed', isolation: 'read_committed' as const },
  { name: 'g-uncommitted', isolation: 'read_uncommitted' as const },
];

export type SendOutcome = 'ok' | 'definite' | 'indefinite-applied' | 'indefinite-dropped' | 'pending-applied' | 'pending-dropped';
export type TxnOutcome = 'commit' | 'abort' | 'unknown-commit' | 'unknown-abort';

export type ModelStep =
  | { kind: 'send'; producer: number; topic: number; partition: number; key: number | null; outcome: SendOutcome; latencyMs: number }
  | { kind: 'txn'; producer: number; topic: number; partition: number; count: number; outcome: TxnOutcome }
  | { kind: 'consume'; group: number; topic: number; partition: number; count: number; commit: boolean }
  | { kind: 'rebalance'; group: number }
  | { kind: 'fetch-committed'; group: number; topic: number; partition: number }
  | { kind: 'read'; topic: number; partition: number; from: number; count: number }
  | { kind: 'fault'; fault: FaultKind; target: number }
  | { kind: 'tick'; ms: number };

const topicArb = fc.integer({ min: 0, max: MODEL_TOPICS.length - 1 });
const partitionArb = fc.integer({ min: 0, max: MODEL_PARTITIONS - 1 });
const groupArb = fc.integer({ min: 0, max: MODEL_GROUPS.length - 1 });

export const modelStepArb: fc.Arbitrary<ModelStep> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      producer: fc.integer({ min: 0, max: 2 }),
      topic: topicArb,
      partition: partitionArb,
      key: fc.option(fc.integer({ min: 0, max: 5 }), { freq: 3 }),
      outcome: fc.constantFrom<SendOutcome>('ok', 'ok', 'ok', 'ok', 'definite', 'indefinite-applied', 'indefinite-dropped', 'pending-applied', 'pending-dropped'),
      latencyMs: fc.integer({ min: 0, max: 50 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('txn' as const),
      producer: fc.integer({ min: 0, max: 1 }),
      topic: topicArb,
      partition: partitionArb,
      count: fc.integer({ min: 1, max: 3 }),
      outcome: fc.constantFrom<TxnOutcome>('commit', 'abort', 'unknown-commit', 'unknown-abort'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('consume' as const),
      group: groupArb,
      topic: topicArb,
      partition: partitionArb,
      count: fc.integer({ min: 1, max: 5 }),
      commit: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rebalance' as const), group: groupArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('fetch-committed' as const), group: groupArb, topic: topicArb, partition: partitionArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      topic: topicArb,
      partition: partitionArb,
      from: fc.nat({ max: 20 }),
      count: fc.integer({ min: 1, max: 5 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('fault' as const),
      fault: fc.constantFrom<FaultKind>('kill', 'pause', 'partition', 'crash-actor', 'controller'),
      target: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 500 }) }) },
);

export const modelScriptArb = fc.array(modelStepArb, { maxLength: 150 });

/** A log entry: a data record (value, and its transaction's true outcome if any) or a control marker. */
type Entry = { value: string; txn: 'committed' | 'aborted' | null } | { marker: true };

/**
 * Runs the script on the model and returns its history, ending with healing
 * and final reads. With `drainConsumers`, every group first reads every
 * partition to its end (what the checker's `consumersDrained` assumes).
 */
export function runModel(script: readonly ModelStep[], options: { drainConsumers?: boolean } = {}): History {
  const r = new Recorder();
  const logs = new Map<string, Entry[]>();
  const log = (topic: number, partition: number): Entry[] => {
    const key = `${topic}/${partition}`;
    let entries = logs.get(key);
    if (entries === undefined) logs.set(key, (entries = []));
    return entries;
  };
  const committed = new Map<string, number>(); // group/topic/partition -> committed offset
  const position = new Map<string, number>(); // group/topic/partition -> next offset to read
  const generation = MODEL_GROUPS.map(() => 1);
  const openFaults = new Set<string>();
  let seq = 0;
  let txnSeq = 0;

  const consume = (group: number, topicIndex: number, partition: number, count: number, commit: boolean): void => {
    const g = MODEL_GROUPS[group]!;
    const topic = MODEL_TOPICS[topicIndex] as string;
    const key = `${group}/${topicIndex}/${partition}`;
    const entries = log(topicIndex, partition);
    let next = position.get(key) ?? committed.get(key) ?? 0;
    let delivered = 0;
    while (next < entries.length && delivered < count) {
      const entry = entries[next]!;
      if (!('marker' in entry) && (g.isolation === 'read_uncommitted' || entry.txn !== 'aborted')) {
        r.read(`c${group}`, topic, partition, next, entry.value, {
          isolation: g.isolation,
          group: g.name,
          generation: generation[group]!,
        });
        delivered++;
      }
      next++;
    }
    position.set(key, next);
    if (commit && next > (committed.get(key) ?? -1)) {
      r.commit(`c${group}`, g.name, topic, partition, next, generation[group]!);
      committed.set(key, next);
    }
  };

  for (const step of script) {
    switch (step.kind) {
      case 'send': {
        const process = `p${step.producer}`;
        const topic = MODEL_TOPICS[step.topic] as string;
        const value = `v${seq++}`;
        const partition = step.key === null ? step.partition : step.key % MODEL_PARTITIONS;
        r.invoke(process, value, topic, step.key === null ? partition : undefined, {
          key: step.key === null ? null : `k${step.key}`,
        });
        r.at(r.events[r.events.length - 1]!.atMs + step.latencyMs);
        const entries = log(step.topic, partition);
        const applied = step.outcome === 'ok' || step.outcome === 'indefinite-applied' || step.outcome === 'pending-applied';
        const offset = entries.length;
        if (applied) entries.push({ value, txn: null });
        if (step.outcome === 'ok') r.ok(process, value, topic, partition, offset);
        else if (step.outcome === 'definite') r.fail(process, value, true);
        else if (step.outcome === 'indefinite-applied' || step.outcome === 'indefinite-dropped') r.fail(process, value, false);
        break;
      }
      case 'txn': {
        const process = `t${step.producer}`;
        const topic = MODEL_TOPICS[step.topic] as string;
        const txnId = `tx${txnSeq++}`;
        const entries = log(step.topic, step.partition);
        const truth = step.outcome === 'commit' || step.outcome === 'unknown-commit' ? 'committed' : 'aborted';
        const values: string[] = [];
        for (let i = 0; i < step.count; i++) {
          const value = `v${seq++}`;
          values.push(value);
          r.invoke(process, value, topic, step.partition, { producerId: `txp-${step.producer}`, txnId });
          r.ok(process, value, topic, step.partition, entries.length);
          entries.push({ value, txn: truth });
        }
        entries.push({ marker: true });
        const event = step.outcome === 'commit' ? 'txn-commit' : step.outcome === 'abort' ? 'txn-abort' : 'txn-unknown';
        r.txn(process, event, txnId, values);
        break;
      }
      case 'consume':
        consume(step.group, step.topic, step.partition, step.count, step.commit);
        break;
      case 'rebalance': {
        generation[step.group]! += 1;
        for (const key of [...position.keys()]) if (key.startsWith(`${step.group}/`)) position.delete(key);
        break;
      }
      case 'fetch-committed': {
        const g = MODEL_GROUPS[step.group]!;
        const key = `${step.group}/${step.topic}/${step.partition}`;
        r.fetchCommitted(`c${step.group}`, g.name, MODEL_TOPICS[step.topic] as string, step.partition, committed.get(key) ?? -1);
        break;
      }
      case 'read': {
        const entries = log(step.topic, step.partition);
        for (let offset = step.from; offset < Math.min(entries.length, step.from + step.count); offset++) {
          const entry = entries[offset]!;
          if (!('marker' in entry)) r.read('reader', MODEL_TOPICS[step.topic] as string, step.partition, offset, entry.value);
        }
        break;
      }
      case 'fault': {
        const target = `n${step.target}`;
        const key = `${step.fault}/${target}`;
        if (openFaults.has(key)) {
          openFaults.delete(key);
          r.faultEnd(step.fault, target);
        } else {
          openFaults.add(key);
          r.faultStart(step.fault, target);
        }
        break;
      }
      case 'tick':
        r.at(r.events.length === 0 ? step.ms : r.events[r.events.length - 1]!.atMs + step.ms);
        break;
    }
  }
  for (const key of openFaults) {
    const [kind, target] = key.split('/') as [FaultKind, string];
    r.faultEnd(kind, target);
  }
  if (options.drainConsumers === true) {
    for (let g = 0; g < MODEL_GROUPS.length; g++) {
      for (let t = 0; t < MODEL_TOPICS.length; t++) {
        for (let p = 0; p < MODEL_PARTITIONS; p++) consume(g, t, p, Number.MAX_SAFE_INTEGER, true);
      }
    }
  }
  for (let t = 0; t < MODEL_TOPICS.length; t++) {
    for (let p = 0; p < MODEL_PARTITIONS; p++) {
      const records: [number, string][] = [];
      log(t, p).forEach((entry, offset) => {
        if (!('marker' in entry)) records.push([offset, entry.value]);
      });
      r.final(MODEL_TOPICS[t] as string, p, records);
    }
  }
  return r.history();
}

// ---------------------------------------------------------------------------
// Injection of exactly one anomaly.

/** The first offset of (topic, partition) that no event mentions, committed offsets included. */
function freshOffset(events: readonly HistoryEvent[], topic: string, partition: number): number {
  let max = -1;
  for (const e of events) {
    switch (e.type) {
      case 'send-ok':
      case 'read':
      case 'commit':
      case 'committed-fetch':
        if (e.topic === topic && e.partition === partition) max = Math.max(max, e.offset);
        break;
      case 'final-read':
        if (e.topic === topic && e.partition === partition) for (const rec of e.records) max = Math.max(max, rec.offset);
        break;
      default:
        break;
    }
  }
  return max + 1;
}

type FinalPick = { eventIndex: number; topic: string; partition: number; record: FinalRecord };

function finalRecords(events: readonly HistoryEvent[]): FinalPick[] {
  const picks: FinalPick[] = [];
  events.forEach((e, eventIndex) => {
    if (e.type === 'final-read') for (const record of e.records) picks.push({ eventIndex, topic: e.topic, partition: e.partition, record });
  });
  return picks;
}

function nth<T>(xs: readonly T[], pick: number): T | undefined {
  return xs.length === 0 ? undefined : xs[pick % xs.length];
}

/**
 * Returns a copy of `history` with exactly one anomaly of `kind` added.
 * `pick` chooses among candidates. Fresh values are `inj-*`, fresh
 * producers, groups and transactions are used so no other check sees them:
 * - lost: drops one acked value's final record (or acks a fresh value with no final record);
 * - duplicate: puts one final value again at a fresh offset of its partition;
 * - inconsistent-offset: a fresh, indefinitely failed value read at an occupied offset;
 * - non-monotonic: a fresh producer's two sends acked in reverse offset order;
 * - unseen: a fresh group commits past an acked, committed value it never read;
 * - aborted-read: a read_committed read of an aborted value (existing or fresh);
 * - committed-offset-regression: an OffsetFetch returning less than a group's highest commit;
 * - phantom: a read of a never-sent value (or of a definitely failed one) at a fresh offset.
 */
export function injectAnomaly(history: History, kind: AnomalyName, pick: number): History {
  const events = [...history.events];
  const last = events[events.length - 1];
  const r = new Recorder().at(last === undefined ? 0 : last.atMs + 1);
  const topic = MODEL_TOPICS[pick % MODEL_TOPICS.length] as string;
  const partition = pick % MODEL_PARTITIONS;
  const fresh = freshOffset(events, topic, partition);
  const acks = new Map<string, { topic: string; partition: number; offset: number }>();
  const invokes = new Map<string, HistoryEvent & { type: 'send-invoke' }>();
  const txn = new Map<string, 'txn-commit' | 'txn-abort' | 'txn-unknown'>();
  const definite: string[] = [];
  for (const e of events) {
    if (e.type === 'send-ok') acks.set(e.value, e);
    else if (e.type === 'send-invoke') invokes.set(e.value, e);
    else if (e.type === 'send-fail' && e.definite) definite.push(e.value);
    else if (e.type === 'txn-commit' || e.type === 'txn-abort' || e.type === 'txn-unknown') for (const v of e.values) txn.set(v, e.type);
  }
  const finals = finalRecords(events);
  const ackedFinals = finals.filter((f) => {
    const ack = acks.get(f.record.value);
    return ack !== undefined && ack.topic === f.topic && ack.partition === f.partition && ack.offset === f.record.offset;
  });

  switch (kind) {
    case 'lost': {
      const victim = nth(ackedFinals, pick);
      if (victim !== undefined) {
        const event = events[victim.eventIndex] as HistoryEvent & { type: 'final-read' };
        events[victim.eventIndex] = { ...event, records: event.records.filter((rec) => rec !== victim.record) };
      } else {
        r.send('inj', 'inj-lost', topic, partition, fresh);
      }
      break;
    }
    case 'duplicate': {
      const victim = nth(finals, pick);
      if (victim !== undefined) {
        r.final(victim.topic, victim.partition, [[freshOffset(events, victim.topic, victim.partition), victim.record.value]]);
      } else {
        r.send('inj', 'inj-dup', topic, partition, fresh).final(topic, partition, [[fresh, 'inj-dup'], [fresh + 1, 'inj-dup']]);
      }
      break;
    }
    case 'inconsistent-offset': {
      const victim = nth(finals, pick);
      r.invoke('inj', 'inj-other', topic, partition).fail('inj', 'inj-other', false);
      if (victim !== undefined) r.read('inj-reader', victim.topic, victim.partition, victim.record.offset, 'inj-other');
      else r.send('inj', 'inj-first', topic, partition, fresh).final(topic, partition, [[fresh, 'inj-first']]).read('inj-reader', topic, partition, fresh, 'inj-other');
      break;
    }
    case 'non-monotonic':
      r.invoke('inj', 'inj-m1', topic, partition)
        .invoke('inj', 'inj-m2', topic, partition)
        .ok('inj', 'inj-m1', topic, partition, fresh + 1)
        .ok('inj', 'inj-m2', topic, partition, fresh)
        .final(topic, partition, [[fresh, 'inj-m2'], [fresh + 1, 'inj-m1']]);
      break;
    case 'unseen': {
      const candidates = ackedFinals.filter((f) => {
        const status = txn.get(f.record.value);
        return status === 'txn-commit' || (status === undefined && invokes.get(f.record.value)?.txnId === undefined);
      });
      const victim = nth(candidates, pick);
      if (victim !== undefined) r.commit('inj-consumer', 'inj-group', victim.topic, victim.partition, victim.record.offset + 1);
      else r.send('inj', 'inj-unseen', topic, partition, fresh).final(topic, partition, [[fresh, 'inj-unseen']]).commit('inj-consumer', 'inj-group', topic, partition, fresh + 1);
      break;
    }
    case 'aborted-read': {
      const victim = nth(ackedFinals.filter((f) => txn.get(f.record.value) === 'txn-abort'), pick);
      if (victim !== undefined) {
        r.read('inj-reader', victim.topic, victim.partition, victim.record.offset, victim.record.value, { isolation: 'read_committed' });
      } else {
        r.invoke('inj', 'inj-aborted', topic, partition, { txnId: 'inj-tx' })
          .ok('inj', 'inj-aborted', topic, partition, fresh)
          .final(topic, partition, [[fresh, 'inj-aborted']])
          .txn('inj', 'txn-abort', 'inj-tx', ['inj-aborted'])
          .read('inj-reader', topic, partition, fresh, 'inj-aborted', { isolation: 'read_committed' });
      }
      break;
    }
    case 'committed-offset-regression': {
      const highest = new Map<string, HistoryEvent & { type: 'commit' | 'committed-fetch' }>();
      for (const e of events) {
        if (e.type !== 'commit' && e.type !== 'committed-fetch') continue;
        const key = `${e.group}/${e.topic}/${e.partition}`;
        const previous = highest.get(key);
        if (previous === undefined || e.offset > previous.offset) highest.set(key, e);
      }
      const victim = nth([...highest.values()].filter((e) => e.offset >= 0), pick);
      if (victim !== undefined) r.fetchCommitted('inj-consumer', victim.group, victim.topic, victim.partition, victim.offset - 1);
      else r.commit('inj-consumer', 'inj-group', 'inj-topic', 0, 5).commit('inj-consumer', 'inj-group', 'inj-topic', 0, 3);
      break;
    }
    case 'phantom': {
      const value = nth(definite, pick) ?? 'inj-phantom';
      r.read('inj-reader', topic, partition, fresh, value);
      break;
    }
  }
  return makeHistory([...events, ...r.events]);
}
