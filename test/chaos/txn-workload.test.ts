/**
 * Tests of the transactional workload's pure pieces (txn-workload.ts),
 * without a cluster: the `--workloads` parsing, the seeded transaction plans,
 * the outcome events, and the values a read_committed reader owes; then
 * histories recorded the way the workload and its read_committed group
 * record them (through the LiveRecorder), checked by checker.ts: a clean one,
 * an aborted read, a never-committed read, a committed value the
 * read_committed group never delivered, and unknown outcomes left alone.
 * Last, the worker itself against a fake producer (no cluster): one outcome
 * per transaction, failed sends abort, failed ends are unknown and replace
 * the producer, a stop that cannot wait records the open one as unknown.
 */
import { describe, expect, it } from 'vitest';
import { KactusError } from '../../client/index.ts';
import { seededRng } from '../../runtime/rng.ts';
import { anomaliesFound, check } from './checker.ts';
import { parseHistory } from './history.ts';
import { LiveRecorder } from './recorder.ts';
import { buildRunReport, summaryLine } from './report.ts';
import { abortOneIn, DEFAULT_WORKLOADS, parseWorkloads, planTransaction, readCommittedExpected, txnOutcomeEvent, TxnProducerWorker, txnSendsMax, txnSendsMin, type TxnEnding, type TxnProducerLike } from './txn-workload.ts';

describe('--workloads', () => {
  it('defaults to the producers and consumers; txn is opt-in', () => {
    expect(parseWorkloads(undefined)).toEqual(['producers', 'consumers']);
    expect(DEFAULT_WORKLOADS).not.toContain('txn');
    expect(parseWorkloads('producers,consumers,txn')).toEqual(['producers', 'consumers', 'txn']);
    expect(parseWorkloads(' txn , txn ')).toEqual(['txn']);
  });
  it('refuses unknown and empty lists', () => {
    expect(() => parseWorkloads('producers,transactions')).toThrow(/unknown workload transactions/);
    expect(() => parseWorkloads(',')).toThrow(/no workload/);
  });
});

describe('planTransaction', () => {
  it('2-5 sends over 2-3 distinct partitions in range, every chosen partition used, 1 in 4 aborted', () => {
    const rng = seededRng(7);
    let aborted = 0;
    const plans = 4_000;
    const spreads = new Set<number>();
    const sizes = new Set<number>();
    for (let i = 0; i < plans; i++) {
      const plan = planTransaction(rng, 6);
      expect(plan.partitions.length).toBeGreaterThanOrEqual(txnSendsMin);
      expect(plan.partitions.length).toBeLessThanOrEqual(txnSendsMax);
      const distinct = new Set(plan.partitions);
      expect(distinct.size).toBeGreaterThanOrEqual(2);
      expect(distinct.size).toBeLessThanOrEqual(3);
      for (const p of plan.partitions) expect(p >= 0 && p < 6 && Number.isInteger(p)).toBe(true);
      spreads.add(distinct.size);
      sizes.add(plan.partitions.length);
      if (plan.abort) aborted++;
    }
    expect([...spreads].sort()).toEqual([2, 3]);
    expect([...sizes].sort()).toEqual([2, 3, 4, 5]);
    expect(aborted / plans).toBeGreaterThan(1 / abortOneIn - 0.03);
    expect(aborted / plans).toBeLessThan(1 / abortOneIn + 0.03);
  });
  it('is replayed by its seed', () => {
    const a = seededRng(11);
    const b = seededRng(11);
    for (let i = 0; i < 50; i++) expect(planTransaction(a, 6)).toEqual(planTransaction(b, 6));
  });
  it('needs 3 partitions', () => {
    expect(() => planTransaction(seededRng(1), 2)).toThrow(/at least 3/);
  });
});

describe('txnOutcomeEvent', () => {
  it('commit ok -> txn-commit, abort ok -> txn-abort, any error -> txn-unknown', () => {
    const cases: [TxnEnding, string][] = [
      ['commit-ok', 'txn-commit'],
      ['abort-ok', 'txn-abort'],
      ['error', 'txn-unknown'],
    ];
    for (const [ending, type] of cases) expect(txnOutcomeEvent(ending, 'T:1', ['t0-1', 't0-2'])).toEqual({ type, txnId: 'T:1', values: ['t0-1', 't0-2'] });
  });
  it('copies the values (the worker keeps its own list)', () => {
    const values = ['a'];
    const event = txnOutcomeEvent('commit-ok', 'T', values);
    values.push('b');
    expect(event.values).toEqual(['a']);
  });
});

/** Records a history as the harness does: t0's transactions, p0's plain sends, the rc0 group's reads, the final read. */
class TxnRun {
  readonly r = new LiveRecorder();
  private offsets = new Map<number, number>();
  readonly log = new Map<number, { offset: number; value: string }[]>();

  private append(partition: number, value: string): number {
    const offset = this.offsets.get(partition) ?? 0;
    this.offsets.set(partition, offset + 1);
    const list = this.log.get(partition) ?? [];
    list.push({ offset, value });
    this.log.set(partition, list);
    return offset;
  }

  plain(value: string, partition: number): number {
    this.r.add('p0', { type: 'send-invoke', topic: 'chaos', key: 'k1', value, producerId: 'p0#0' });
    const offset = this.append(partition, value);
    this.r.add('p0', { type: 'send-ok', value, topic: 'chaos', partition, offset });
    return offset;
  }

  /** One transaction: sends (all acked), then its ending. Returns the offsets. */
  txn(txnId: string, sends: [string, number][], ending: TxnEnding): Map<string, number> {
    const at = new Map<string, number>();
    for (const [value, partition] of sends) this.r.add('t0', { type: 'send-invoke', topic: 'chaos', partition, key: null, value, producerId: 't0#0', txnId });
    for (const [value, partition] of sends) {
      const offset = this.append(partition, value);
      at.set(value, offset);
      this.r.add('t0', { type: 'send-ok', value, topic: 'chaos', partition, offset });
    }
    for (const [, partition] of sends) this.offsets.set(partition, (this.offsets.get(partition) ?? 0) + 1); // the marker
    this.r.add('t0', txnOutcomeEvent(ending, txnId, sends.map(([v]) => v)));
    return at;
  }

  readRc(value: string, partition: number, offset: number): void {
    this.r.add('rc0', { type: 'read', topic: 'chaos', partition, offset, value, isolation: 'read_committed', consumerGroup: 'chaos-txn-readers', generation: 1 });
  }

  final(): void {
    for (let p = 0; p < 3; p++) this.r.add('final', { type: 'final-read', topic: 'chaos', partition: p, records: this.log.get(p) ?? [] });
  }
}

function cleanTxnRun(): { run: TxnRun; offsets: Map<string, number> } {
  const run = new TxnRun();
  const offsets = new Map<string, number>();
  offsets.set('p0-0', run.plain('p0-0', 0));
  for (const [v, o] of run.txn('chaos-txn-t0:0', [['t0-0', 0], ['t0-1', 1], ['t0-2', 2]], 'commit-ok')) offsets.set(v, o);
  for (const [v, o] of run.txn('chaos-txn-t0:1', [['t0-3', 1], ['t0-4', 2]], 'abort-ok')) offsets.set(v, o);
  for (const [v, o] of run.txn('chaos-txn-t0:2', [['t0-5', 0], ['t0-6', 2]], 'error')) offsets.set(v, o);
  run.final();
  return { run, offsets };
}

describe('transactional histories through the checker', () => {
  it('readCommittedExpected: plain and committed values of the final log, not aborted or unknown ones', () => {
    const { run } = cleanTxnRun();
    expect([...readCommittedExpected(run.r.events, 'chaos')].sort()).toEqual(['p0-0', 't0-0', 't0-1', 't0-2']);
    expect(readCommittedExpected(run.r.events, 'other').size).toBe(0);
  });

  it('a read_committed group that delivered the committed values and no aborted one: clean, and survives JSON', () => {
    const { run, offsets } = cleanTxnRun();
    const partitionOf: Record<string, number> = { 'p0-0': 0, 't0-0': 0, 't0-1': 1, 't0-2': 2, 't0-5': 0 };
    // t0-5's transaction ended in error: a read of it is allowed (it may have committed).
    for (const v of ['p0-0', 't0-0', 't0-1', 't0-2', 't0-5']) run.readRc(v, partitionOf[v]!, offsets.get(v)!);
    const history = parseHistory(JSON.parse(JSON.stringify(run.r.history())));
    const report = check(history, { consumersDrained: true });
    expect(anomaliesFound(report)).toEqual([]);
    expect(report.operations.transactions).toEqual({ committed: 1, aborted: 1, unknown: 1 });
    const line = summaryLine(buildRunReport(report, { seed: 11, durationMs: 60_000, clusterSize: 3, nemeses: [] }));
    expect(line).toContain('3 txns (1 committed, 1 aborted, 1 unknown)');
  });

  it('an aborted value read read_committed is an aborted-read', () => {
    const { run, offsets } = cleanTxnRun();
    for (const [v, p] of [['p0-0', 0], ['t0-0', 0], ['t0-1', 1], ['t0-2', 2], ['t0-3', 1]] as const) run.readRc(v, p, offsets.get(v)!);
    const report = check(run.r.history(), { consumersDrained: true });
    expect(anomaliesFound(report)).toEqual(['aborted-read']);
    expect(report.anomalies['aborted-read'].examples[0]).toMatchObject({ value: 't0-3', txnId: 'chaos-txn-t0:1', status: 'aborted', consumerGroup: 'chaos-txn-readers' });
  });

  it('a value of a transaction with no outcome, read read_committed, is an aborted-read (never committed)', () => {
    const run = new TxnRun();
    run.r.add('t0', { type: 'send-invoke', topic: 'chaos', partition: 0, key: null, value: 't0-0', producerId: 't0#0', txnId: 'chaos-txn-t0:0' });
    run.r.add('t0', { type: 'send-ok', value: 't0-0', topic: 'chaos', partition: 0, offset: 0 });
    run.readRc('t0-0', 0, 0);
    run.r.add('final', { type: 'final-read', topic: 'chaos', partition: 0, records: [{ offset: 0, value: 't0-0' }] });
    const report = check(run.r.history());
    expect(anomaliesFound(report)).toEqual(['aborted-read']);
    expect(report.anomalies['aborted-read'].examples[0]).toMatchObject({ value: 't0-0', status: 'never-committed' });
  });

  it('a committed value the drained read_committed group never delivered is unseen; an aborted or unknown one is not', () => {
    const { run, offsets } = cleanTxnRun();
    for (const [v, p] of [['p0-0', 0], ['t0-0', 0], ['t0-2', 2]] as const) run.readRc(v, p, offsets.get(v)!);
    const report = check(run.r.history(), { consumersDrained: true });
    expect(anomaliesFound(report)).toEqual(['unseen']);
    expect(report.anomalies.unseen.count).toBe(1);
    expect(report.anomalies.unseen.examples[0]).toMatchObject({ group: 'chaos-txn-readers', value: 't0-1', partition: 1 });
    // Not drained and no committed offset observed: nothing is owed.
    expect(anomaliesFound(check(run.r.history(), { consumersDrained: false }))).toEqual([]);
  });
});

/** A fake transactional producer family: a log per partition, and scripted failures by transaction index. */
class FakeCluster {
  txnIndex = 0;
  producers = 0;
  closed = 0;
  readonly log = new Map<number, { offset: number; value: string }[]>();
  constructor(
    private readonly script: { beginFails?: Set<number>; sendFails?: Set<number>; endFails?: Set<number>; endHangs?: Set<number> },
  ) {}

  factory = (): TxnProducerLike => {
    this.producers++;
    return {
      transaction: async () => {
        const idx = this.txnIndex++;
        if (this.script.beginFails?.has(idx)) throw new KactusError(15, 'coordinator not available');
        let sent = 0;
        return {
          send: async ({ messages }) => {
            const { value, partition } = messages[0]!;
            if (this.script.sendFails?.has(idx) && sent++ === 0) throw new KactusError(7, 'timed out');
            const list = this.log.get(partition) ?? [];
            const offset = list.length === 0 ? 0 : list[list.length - 1]!.offset + 1;
            list.push({ offset, value });
            this.log.set(partition, list);
            return [{ partition, offset }];
          },
          commit: async () => this.end(idx),
          abort: async () => this.end(idx),
        };
      },
      close: async () => {
        this.closed++;
      },
    };
  };

  private async end(idx: number): Promise<void> {
    if (this.script.endHangs?.has(idx)) await new Promise(() => undefined);
    if (this.script.endFails?.has(idx)) throw new KactusError(7, 'EndTxn timed out');
  }
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('TxnProducerWorker (fake producer)', () => {
  const worker = (fake: FakeCluster, recorder: LiveRecorder): TxnProducerWorker =>
    new TxnProducerWorker({ name: 't0', brokers: [], topic: 'chaos', partitions: 6, txnPerSecond: 1_000, deliveryTimeoutMs: 1_000, transactionTimeoutMs: 5_000, seed: 3, recorder, log: () => undefined, producerFactory: fake.factory, replaceBackoffMs: 1 });

  it('one outcome per transaction; failed sends abort; failed ends are unknown and replace the producer; the history checks clean', async () => {
    const fake = new FakeCluster({ beginFails: new Set([4]), sendFails: new Set([2, 9]), endFails: new Set([6, 12]) });
    const recorder = new LiveRecorder();
    const w = worker(fake, recorder);
    w.start();
    await until(() => w.stats.transactions >= 20, 10_000);
    await w.stop(2_000);
    await w.close();
    const events = recorder.events;
    const outcomes = events.filter((e) => e.type === 'txn-commit' || e.type === 'txn-abort' || e.type === 'txn-unknown');
    expect(outcomes.length).toBe(w.stats.transactions);
    const txnIds = new Set(events.flatMap((e) => (e.type === 'send-invoke' ? [e.txnId] : [])));
    expect(txnIds.size).toBe(w.stats.transactions);
    expect(new Set(outcomes.map((e) => (e as { txnId: string }).txnId))).toEqual(txnIds);
    // Transactions 6 and 12 ended in error (the begin failure at index 4 shifts nothing: it has no txnId).
    expect(w.stats.unknown).toBe(2);
    expect(w.stats.beginFailed).toBe(1);
    expect(w.stats.replaced).toBe(3);
    expect(fake.producers).toBe(4);
    expect(w.stats.abortedAfterFailedSend + w.stats.abortedByChoice).toBeGreaterThanOrEqual(2);
    // A transaction with a failed send is never committed.
    const failedValues = new Set(events.flatMap((e) => (e.type === 'send-fail' ? [e.value] : [])));
    expect(failedValues.size).toBe(2);
    for (const e of events) if (e.type === 'txn-commit') for (const v of e.values) expect(failedValues.has(v)).toBe(false);
    for (const [partition, records] of fake.log) recorder.add('final', { type: 'final-read', topic: 'chaos', partition, records });
    expect(anomaliesFound(check(parseHistory(JSON.parse(JSON.stringify(recorder.history())))))).toEqual([]);
  });

  it('a stop that cannot wait for the open transaction records it txn-unknown, once', async () => {
    const fake = new FakeCluster({ endHangs: new Set([3]) });
    const recorder = new LiveRecorder();
    const w = worker(fake, recorder);
    w.start();
    await until(() => w.stats.transactions >= 4, 10_000);
    await w.stop(20);
    expect(w.stats.abandoned).toBe(1);
    expect(w.stats.unknown).toBe(1);
    const unknown = recorder.events.filter((e) => e.type === 'txn-unknown');
    expect(unknown).toHaveLength(1);
    expect((unknown[0] as { txnId: string }).txnId).toBe('chaos-txn-t0:3');
    await w.close();
  });
});
