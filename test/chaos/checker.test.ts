/**
 * Tests of the chaos checker (checker.ts), the history format (history.ts)
 * and the run report (report.ts). Method: hand-made histories, one per
 * anomaly and per reason inside it, each asserting the exact set of
 * anomalies found; a clean history with every event type; then properties
 * over a simulated correct cluster (simulated-run.ts): its histories always
 * pass, and one injected anomaly of a random kind is always found and named
 * alone. fast-check prints the seed and the shrunk script of a failure;
 * replay with `fc.assert(..., { seed, path })`. Last, a scale test.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ANOMALY_NAMES, anomaliesFound, check, EXAMPLES_MAX_DEFAULT, type Report } from './checker.ts';
import { HistoryFormatError, makeHistory, parseHistory, type HistoryEvent } from './history.ts';
import { buildRunReport, exitCodeFor, formatMs, summaryLine } from './report.ts';
import { injectAnomaly, modelScriptArb, Recorder, runModel, type ModelStep } from './simulated-run.ts';

function found(report: Report): string[] {
  return anomaliesFound(report);
}

/** A small correct run that uses every event type. */
function cleanRun(): Recorder {
  const r = new Recorder();
  r.faultStart('kill', 'n1', 'SIGKILL');
  r.send('p1', 'a0', 't', 0, 0);
  r.invoke('p1', 'a1', 't', undefined, { key: 'k1' }).ok('p1', 'a1', 't', 1, 0);
  r.invoke('p2', 'a2', 't', 0).fail('p2', 'a2', true); // refused: never in the log
  r.invoke('p2', 'a3', 't', 0).fail('p2', 'a3', false); // timed out, but appended
  r.send('p1', 'a4', 't', 0, 2);
  r.faultEnd('kill', 'n1');
  r.invoke('tx', 'x0', 't', 1, { txnId: 'T1' }).ok('tx', 'x0', 't', 1, 1);
  r.txn('tx', 'txn-commit', 'T1', ['x0']); // marker at offset 2
  r.invoke('tx', 'x1', 't', 1, { txnId: 'T2' }).ok('tx', 'x1', 't', 1, 3);
  r.txn('tx', 'txn-abort', 'T2', ['x1']); // marker at offset 4
  r.invoke('tx', 'x2', 't', 1, { txnId: 'T3' }).ok('tx', 'x2', 't', 1, 5);
  r.txn('tx', 'txn-unknown', 'T3', ['x2']);
  r.read('c1', 't', 0, 0, 'a0', { isolation: 'read_committed', group: 'g', generation: 1 });
  r.read('c1', 't', 0, 1, 'a3', { isolation: 'read_committed', group: 'g', generation: 1 });
  r.commit('c1', 'g', 't', 0, 2, 1);
  r.read('c2', 't', 0, 1, 'a3', { isolation: 'read_committed', group: 'g', generation: 2 }); // re-delivery after rebalance
  r.read('c2', 't', 0, 2, 'a4', { isolation: 'read_committed', group: 'g', generation: 2 });
  r.commit('c2', 'g', 't', 0, 3, 2);
  r.read('c2', 't', 1, 0, 'a1', { isolation: 'read_committed', group: 'g', generation: 2 });
  r.read('c2', 't', 1, 1, 'x0', { isolation: 'read_committed', group: 'g', generation: 2 });
  r.read('c2', 't', 1, 5, 'x2', { isolation: 'read_committed', group: 'g', generation: 2 }); // outcome unknown: fine
  r.commit('c2', 'g', 't', 1, 6, 2);
  r.fetchCommitted('c2', 'g', 't', 0, 3);
  r.read('reader', 't', 1, 3, 'x1'); // read_uncommitted sees aborted records
  r.final('t', 0, [[0, 'a0'], [1, 'a3'], [2, 'a4']]);
  r.final('t', 1, [[0, 'a1'], [1, 'x0'], [3, 'x1'], [5, 'x2']]);
  return r;
}

describe('checker: clean history', () => {
  it('every event type, no anomaly', () => {
    const report = check(cleanRun().history());
    expect(found(report)).toEqual([]);
    expect(report.ok).toBe(true);
    for (const name of ANOMALY_NAMES) expect(report.anomalies[name]).toEqual({ count: 0, examples: [] });
    expect(report.operations).toMatchObject({
      attempted: 8,
      acknowledged: 6,
      failed: 1,
      indeterminate: 1,
      indeterminateCommitted: 1,
      indeterminateLost: 0,
      inFlightAtEnd: 0,
      reads: 8,
      finalRecords: 7,
      commits: 3,
      committedFetches: 1,
      transactions: { committed: 1, aborted: 1, unknown: 1 },
    });
    expect(report.faults).toEqual([{ kind: 'kill', target: 'n1', detail: 'SIGKILL', startMs: 0, endMs: 11 }]);
  });

  it('survives a JSON round trip unchanged', () => {
    const history = cleanRun().history();
    const again = parseHistory(JSON.parse(JSON.stringify(history)));
    expect(again).toEqual(history);
    expect(check(again)).toEqual(check(history));
  });
});

describe('checker: lost', () => {
  it('missing: acked, not in the final read at all', () => {
    const r = new Recorder().send('p', 'v0', 't', 0, 0).send('p', 'v1', 't', 0, 1).final('t', 0, [[0, 'v0']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['lost']);
    expect(report.anomalies.lost.examples).toEqual([
      { topic: 't', partition: 0, offset: 1, value: 'v1', ackAtMs: 3, process: 'p', reason: 'missing', foundAt: null },
    ]);
  });

  it('moved: in the final read at another offset (and that offset disagrees with its ack)', () => {
    const r = new Recorder().send('p', 'v0', 't', 0, 0).final('t', 0, [[3, 'v0']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['lost']);
    expect(report.anomalies.lost.examples[0]).toMatchObject({ reason: 'moved', foundAt: { topic: 't', partition: 0, offset: 3 } });
  });

  it('no-final-read: the partition was never read back', () => {
    const r = new Recorder().send('p', 'v0', 't', 0, 0).final('t', 1, []);
    expect(check(r.history()).anomalies.lost.examples[0]).toMatchObject({ reason: 'no-final-read', value: 'v0' });
  });

  it('acked at an offset another value holds in the final read: lost and inconsistent', () => {
    const r = new Recorder().send('p', 'v0', 't', 0, 0).invoke('q', 'w', 't', 0).fail('q', 'w', false).final('t', 0, [[0, 'w']]);
    expect(found(check(r.history()))).toEqual(['lost', 'inconsistent-offset']);
  });
});

describe('checker: duplicate', () => {
  it('one value at two offsets of the final read', () => {
    const r = new Recorder().send('p', 'v0', 't', 0, 0).final('t', 0, [[0, 'v0'], [1, 'v0']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['duplicate']);
    expect(report.anomalies.duplicate.examples).toEqual([
      { value: 'v0', positions: [{ topic: 't', partition: 0, offset: 0 }, { topic: 't', partition: 0, offset: 1 }] },
    ]);
  });

  it('one value at two offsets across reads, even in different partitions', () => {
    const r = new Recorder()
      .send('p', 'v0', 't', 0, 0)
      .read('c', 't', 0, 0, 'v0')
      .read('c', 't', 1, 7, 'v0')
      .final('t', 0, [[0, 'v0']])
      .final('t', 1, []);
    const report = check(r.history());
    expect(found(report)).toEqual(['duplicate']);
    expect(report.anomalies.duplicate.count).toBe(1);
  });

  it('the same value re-read at the same offset is not a duplicate', () => {
    const r = new Recorder().send('p', 'v0', 't', 0, 0).read('c', 't', 0, 0, 'v0').read('d', 't', 0, 0, 'v0').final('t', 0, [[0, 'v0']]);
    expect(check(r.history()).ok).toBe(true);
  });
});

describe('checker: inconsistent-offset', () => {
  it('two reads of one offset with different values', () => {
    const r = new Recorder()
      .send('p', 'v0', 't', 0, 0)
      .invoke('p', 'v1', 't', 0)
      .fail('p', 'v1', false)
      .read('c', 't', 0, 0, 'v0')
      .read('d', 't', 0, 0, 'v1')
      .final('t', 0, [[0, 'v0']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['inconsistent-offset']);
    expect(report.anomalies['inconsistent-offset'].examples[0]).toMatchObject({
      topic: 't',
      partition: 0,
      offset: 0,
      observations: [
        { value: 'v0', source: 'ack' },
        { value: 'v1', source: 'read', process: 'd' },
      ],
    });
  });

  it('two acks at one offset: counted once per offset, both values named', () => {
    const r = new Recorder().send('p', 'v0', 't', 0, 0).send('q', 'v1', 't', 0, 0).final('t', 0, [[0, 'v0']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['lost', 'inconsistent-offset']);
    expect(report.anomalies['inconsistent-offset'].count).toBe(1);
    expect(report.anomalies['inconsistent-offset'].examples[0]?.observations.map((o) => o.value)).toEqual(['v0', 'v1']);
  });
});

describe('checker: non-monotonic', () => {
  it("one producer's later send acked at a lower offset of the same partition", () => {
    const r = new Recorder()
      .invoke('p', 'v0', 't', 0)
      .invoke('p', 'v1', 't', 0)
      .ok('p', 'v1', 't', 0, 0)
      .ok('p', 'v0', 't', 0, 1)
      .final('t', 0, [[0, 'v1'], [1, 'v0']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['non-monotonic']);
    expect(report.anomalies['non-monotonic'].examples).toEqual([
      { process: 'p', producerId: 'pid-p', topic: 't', partition: 0, value: 'v1', offset: 0, previousValue: 'v0', previousOffset: 1 },
    ]);
  });

  it('different producers, or different partitions, interleave freely', () => {
    const r = new Recorder()
      .invoke('p', 'v0', 't', 0)
      .invoke('q', 'w0', 't', 0)
      .invoke('p', 'v1', 't', 1)
      .ok('q', 'w0', 't', 0, 0)
      .ok('p', 'v0', 't', 0, 1)
      .ok('p', 'v1', 't', 1, 0)
      .final('t', 0, [[0, 'w0'], [1, 'v0']])
      .final('t', 1, [[0, 'v1']]);
    expect(check(r.history()).ok).toBe(true);
  });
});

describe('checker: unseen', () => {
  const base = (): Recorder =>
    new Recorder()
      .send('p', 'v0', 't', 0, 0)
      .send('p', 'v1', 't', 0, 1)
      .send('p', 'v2', 't', 0, 2)
      .read('c', 't', 0, 0, 'v0', { group: 'g' });

  it('a group committed past an acked record it never delivered', () => {
    const r = base().commit('c', 'g', 't', 0, 2).final('t', 0, [[0, 'v0'], [1, 'v1'], [2, 'v2']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['unseen']);
    expect(report.anomalies.unseen.examples).toEqual([{ topic: 't', partition: 0, offset: 1, group: 'g', value: 'v1', committedOffset: 2 }]);
  });

  it('records above the committed offset are owed only when consumers drained', () => {
    const r = base().commit('c', 'g', 't', 0, 1).final('t', 0, [[0, 'v0'], [1, 'v1'], [2, 'v2']]);
    expect(check(r.history()).ok).toBe(true);
    const drained = check(r.history(), { consumersDrained: true });
    expect(found(drained)).toEqual(['unseen']);
    expect(drained.anomalies.unseen.examples.map((e) => e.value)).toEqual(['v1', 'v2']);
  });

  it('a read_committed group is not owed aborted or undecided records; a read_uncommitted one is owed aborted ones', () => {
    const r = new Recorder()
      .invoke('tx', 'x0', 't', 0, { txnId: 'T' })
      .ok('tx', 'x0', 't', 0, 0)
      .txn('tx', 'txn-abort', 'T', ['x0'])
      .invoke('tx', 'x1', 't', 0, { txnId: 'U' })
      .ok('tx', 'x1', 't', 0, 2)
      .txn('tx', 'txn-unknown', 'U', ['x1'])
      .send('p', 'v0', 't', 0, 4)
      .read('c', 't', 0, 4, 'v0', { isolation: 'read_committed', group: 'rc' })
      .commit('c', 'rc', 't', 0, 5)
      .read('d', 't', 0, 4, 'v0', { isolation: 'read_uncommitted', group: 'ru' })
      .commit('d', 'ru', 't', 0, 5)
      .final('t', 0, [[0, 'x0'], [2, 'x1'], [4, 'v0']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['unseen']);
    expect(report.anomalies.unseen.examples.map((e) => [e.group, e.value])).toEqual([
      ['ru', 'x0'],
      ['ru', 'x1'],
    ]);
  });

  it('lost values are not also unseen; unacked values are owed to nobody', () => {
    const r = base()
      .invoke('p', 'v3', 't', 0)
      .fail('p', 'v3', false)
      .commit('c', 'g', 't', 0, 4)
      .read('c', 't', 0, 1, 'v1', { group: 'g' })
      .read('c', 't', 0, 2, 'v2', { group: 'g' })
      .final('t', 0, [[0, 'v0'], [1, 'v1'], [3, 'v3']]);
    expect(found(check(r.history()))).toEqual(['lost']);
  });
});

describe('checker: aborted-read', () => {
  it('read_committed read of an aborted value', () => {
    const r = new Recorder()
      .invoke('tx', 'x0', 't', 0, { txnId: 'T' })
      .ok('tx', 'x0', 't', 0, 0)
      .read('c', 't', 0, 0, 'x0', { isolation: 'read_committed', group: 'g' })
      .txn('tx', 'txn-abort', 'T', ['x0'])
      .final('t', 0, [[0, 'x0']]);
    const report = check(r.history());
    expect(found(report)).toEqual(['aborted-read']);
    expect(report.anomalies['aborted-read'].examples).toEqual([
      { topic: 't', partition: 0, offset: 0, value: 'x0', txnId: 'T', status: 'aborted', atMs: 2, process: 'c', consumerGroup: 'g' },
    ]);
  });

  it('read_committed read of a value whose transaction never committed', () => {
    const r = new Recorder()
      .invoke('tx', 'x0', 't', 0, { txnId: 'T' })
      .ok('tx', 'x0', 't', 0, 0)
      .read('c', 't', 0, 0, 'x0', { isolation: 'read_committed' })
      .final('t', 0, [[0, 'x0']]);
    expect(check(r.history()).anomalies['aborted-read'].examples[0]).toMatchObject({ status: 'never-committed', consumerGroup: null });
  });

  it('a commit recorded after the read, an unknown outcome, or read_uncommitted are fine', () => {
    const r = new Recorder()
      .invoke('tx', 'x0', 't', 0, { txnId: 'T' })
      .ok('tx', 'x0', 't', 0, 0)
      .invoke('tx', 'x1', 't', 0, { txnId: 'U' })
      .ok('tx', 'x1', 't', 0, 1)
      .invoke('tx', 'x2', 't', 0, { txnId: 'V' })
      .ok('tx', 'x2', 't', 0, 2)
      .read('c', 't', 0, 0, 'x0', { isolation: 'read_committed' })
      .read('c', 't', 0, 1, 'x1', { isolation: 'read_committed' })
      .read('c', 't', 0, 2, 'x2', { isolation: 'read_uncommitted' })
      .txn('tx', 'txn-commit', 'T', ['x0'])
      .txn('tx', 'txn-unknown', 'U', ['x1'])
      .txn('tx', 'txn-abort', 'V', ['x2'])
      .final('t', 0, [[0, 'x0'], [1, 'x1'], [2, 'x2']]);
    expect(check(r.history()).ok).toBe(true);
  });
});

describe('checker: committed-offset-regression', () => {
  it('a later generation commits lower', () => {
    const r = new Recorder().commit('c1', 'g', 't', 0, 5, 1).commit('c2', 'g', 't', 0, 3, 2);
    const report = check(r.history());
    expect(found(report)).toEqual(['committed-offset-regression']);
    expect(report.anomalies['committed-offset-regression'].examples).toEqual([
      {
        group: 'g',
        topic: 't',
        partition: 0,
        offset: 3,
        generation: 2,
        source: 'commit',
        atMs: 1,
        previousOffset: 5,
        previousGeneration: 1,
        previousSource: 'commit',
        previousAtMs: 0,
      },
    ]);
  });

  it('OffsetFetch returns less than was committed, or nothing (-1)', () => {
    const r = new Recorder()
      .commit('c1', 'g', 't', 0, 5, 1)
      .fetchCommitted('c1', 'g', 't', 0, 5)
      .fetchCommitted('c1', 'g', 't', 0, 4)
      .fetchCommitted('c1', 'g', 't', 0, -1);
    const report = check(r.history());
    expect(report.anomalies['committed-offset-regression'].count).toBe(2);
    expect(report.anomalies['committed-offset-regression'].examples.map((e) => [e.source, e.offset])).toEqual([
      ['committed-fetch', 4],
      ['committed-fetch', -1],
    ]);
  });

  it('equal commits, other partitions and other groups are independent', () => {
    const r = new Recorder()
      .commit('c', 'g', 't', 0, 5)
      .commit('c', 'g', 't', 0, 5)
      .commit('c', 'g', 't', 1, 1)
      .commit('c', 'h', 't', 0, 2)
      .fetchCommitted('c', 'h', 'u', 0, -1);
    expect(check(r.history()).ok).toBe(true);
  });
});

describe('checker: phantom', () => {
  it('a read of a value never sent', () => {
    const r = new Recorder().read('c', 't', 0, 0, 'ghost').final('t', 0, []);
    const report = check(r.history());
    expect(found(report)).toEqual(['phantom']);
    expect(report.anomalies.phantom.examples[0]).toEqual({ topic: 't', partition: 0, offset: 0, value: 'ghost', source: 'read', reason: 'never-sent' });
  });

  it('a definitely failed value in the final read', () => {
    const r = new Recorder().invoke('p', 'v0', 't', 0).fail('p', 'v0', true).final('t', 0, [[0, 'v0']]);
    expect(check(r.history()).anomalies.phantom.examples[0]).toMatchObject({ source: 'final-read', reason: 'definitely-failed' });
  });
});

describe('checker: operations and indeterminate sends', () => {
  it('indefinite failures and sends in flight are indeterminate, split by the final read; never anomalies', () => {
    const r = new Recorder()
      .send('p', 'v0', 't', 0, 0)
      .invoke('p', 'v1', 't', 0)
      .fail('p', 'v1', false)
      .invoke('p', 'v2', 't', 0)
      .fail('p', 'v2', false)
      .invoke('p', 'v3', 't', 0)
      .fail('p', 'v3', true)
      .invoke('p', 'v4', 't', 0) // in flight at the end, appended
      .invoke('p', 'v5', 't', 0) // in flight at the end, not appended
      .final('t', 0, [[0, 'v0'], [1, 'v1'], [2, 'v4']]);
    const report = check(r.history());
    expect(report.ok).toBe(true);
    expect(report.operations).toMatchObject({
      attempted: 6,
      acknowledged: 1,
      failed: 1,
      indeterminate: 4,
      indeterminateCommitted: 2,
      indeterminateLost: 2,
      inFlightAtEnd: 2,
    });
  });

  it('examples are bounded, counts are not', () => {
    const r = new Recorder();
    for (let i = 0; i < 50; i++) r.send('p', `v${i}`, 't', 0, i);
    r.final('t', 0, []);
    const report = check(r.history());
    expect(report.anomalies.lost.count).toBe(50);
    expect(report.anomalies.lost.examples).toHaveLength(EXAMPLES_MAX_DEFAULT);
    expect(check(r.history(), { examplesMax: 3 }).anomalies.lost.examples.map((e) => e.value)).toEqual(['v0', 'v1', 'v2']);
  });
});

describe('checker: malformed histories throw (harness bugs, not findings)', () => {
  const cases: [string, HistoryEvent[]][] = [
    ['time going back', [{ type: 'fault-start', kind: 'kill', target: 'n1', atMs: 5, process: 'n' }, { type: 'fault-end', kind: 'kill', target: 'n1', atMs: 4, process: 'n' }]],
    ['a value sent twice', new Recorder().invoke('p', 'v', 't', 0).invoke('p', 'v', 't', 0).events],
    ['a completion without an invoke', new Recorder().ok('p', 'v', 't', 0, 0).events],
    ['two completions', new Recorder().send('p', 'v', 't', 0, 0).fail('p', 'v', false).events],
    [
      'a value both committed and aborted',
      new Recorder().invoke('p', 'v', 't', 0, { txnId: 'T' }).txn('p', 'txn-commit', 'T', ['v']).txn('p', 'txn-abort', 'T', ['v']).events,
    ],
    ['a transaction listing a value sent without a txnId', new Recorder().send('p', 'v', 't', 0, 0).txn('p', 'txn-commit', 'T', ['v']).events],
    ['a transaction listing a value never sent', new Recorder().txn('p', 'txn-abort', 'T', ['v']).events],
    ['a fault healed that never started', new Recorder().faultEnd('pause', 'n2').events],
  ];
  it.each(cases)('%s', (_name, events) => {
    expect(() => check(makeHistory(events))).toThrow(HistoryFormatError);
  });

  it('an unknown outcome after a known one keeps the known one', () => {
    const r = new Recorder()
      .invoke('tx', 'x0', 't', 0, { txnId: 'T' })
      .ok('tx', 'x0', 't', 0, 0)
      .txn('tx', 'txn-abort', 'T', ['x0'])
      .txn('tx', 'txn-unknown', 'T', ['x0'])
      .read('c', 't', 0, 0, 'x0', { isolation: 'read_committed' })
      .final('t', 0, [[0, 'x0']]);
    expect(found(check(r.history()))).toEqual(['aborted-read']);
  });
});

describe('history: parseHistory validates untrusted JSON', () => {
  const event = { type: 'send-ok', value: 'v', topic: 't', partition: 0, offset: 0, atMs: 0, process: 'p' };
  const bad: [string, unknown, RegExp][] = [
    ['not an object', 7, /history must be an object/],
    ['wrong version', { version: 2, events: [] }, /unsupported history version/],
    ['events not an array', { version: 1, events: {} }, /must be an array/],
    ['unknown type', { version: 1, events: [{ ...event, type: 'send-maybe' }] }, /event 0: unknown event type/],
    ['missing field', { version: 1, events: [{ ...event, offset: undefined }] }, /send-ok.offset must be offset/],
    ['negative offset', { version: 1, events: [{ ...event, offset: -1 }] }, /send-ok.offset/],
    ['bad isolation', { version: 1, events: [{ ...event, type: 'read', isolation: 'serializable' }] }, /read.isolation/],
    ['bad optional', { version: 1, events: [{ ...event, type: 'read', isolation: 'read_committed', generation: 'x' }] }, /read.generation/],
    ['bad record', { version: 1, events: [{ type: 'final-read', topic: 't', partition: 0, records: [{ offset: 0 }], atMs: 0, process: 'p' }] }, /records/],
    ['bad fault kind', { version: 1, events: [{ type: 'fault-start', kind: 'flood', target: 'n1', atMs: 0, process: 'n' }] }, /fault-start.kind/],
    ['time going back', { version: 1, events: [{ ...event, atMs: 2 }, { ...event, atMs: 1 }] }, /event 1: atMs 1 goes back/],
  ];
  it.each(bad)('rejects %s', (_name, input, message) => {
    expect(() => parseHistory(input)).toThrow(HistoryFormatError);
    expect(() => parseHistory(input)).toThrow(message);
  });
});

describe('checker: availability', () => {
  it('longest gap between acks in the active window, ends included', () => {
    const r = new Recorder()
      .at(100).invoke('p', 'v0', 't', 0)
      .at(110).ok('p', 'v0', 't', 0, 0)
      .at(120).invoke('p', 'v1', 't', 0)
      .at(400).ok('p', 'v1', 't', 0, 1)
      .at(410).invoke('p', 'v2', 't', 0)
      .at(500).ok('p', 'v2', 't', 0, 2)
      .at(900).invoke('p', 'v3', 't', 0)
      .at(1000).fail('p', 'v3', false)
      .at(5000).final('t', 0, [[0, 'v0'], [1, 'v1'], [2, 'v2']]);
    const report = check(r.history());
    expect(report.availability).toMatchObject({ activeFromMs: 100, activeToMs: 1000, longestGapMs: 500, longestGapFromMs: 500, longestGapToMs: 1000 });
    expect(check(r.history(), { activeFromMs: 0, activeToMs: 600 }).availability).toMatchObject({
      longestGapMs: 290,
      longestGapFromMs: 110,
      longestGapToMs: 400,
    });
    expect(check(r.history(), { activeFromMs: 0, activeToMs: 20_000 }).availability.longestGapMs).toBe(19_500);
  });

  it('no sends: no gap', () => {
    expect(check(new Recorder().faultStart('kill', 'n1').history()).availability.longestGapMs).toBe(0);
  });

  it('failover: from fault start to the first ack, on each failed partition, of a send invoked after the start', () => {
    const r = new Recorder()
      .at(0).send('p', 'a0', 't', 0, 0)
      .send('q', 'b0', 't', 1, 0)
      .at(10).invoke('p', 'a1', 't', 0) // in flight at the fault
      .at(100).faultStart('kill', 'n1')
      .at(105).ok('p', 'a1', 't', 0, 1) // completed on the old leader: proves nothing
      .at(110).invoke('p', 'a2', 't', 0)
      .at(140).fail('p', 'a2', false)
      .at(150).invoke('q', 'b1', 't', 1) // partition 1 never failed: not in the failover list
      .at(160).ok('q', 'b1', 't', 1, 1)
      .at(200).invoke('r', 'c0', 't', undefined, { key: 'k' }) // keyed: attributed through an earlier ack of 'k'
      .at(210).fail('r', 'c0', true)
      .at(220).invoke('r', 'c1', 't', undefined, { key: 'never-acked' })
      .at(230).fail('r', 'c1', true)
      .at(300).faultEnd('kill', 'n1')
      .at(350).invoke('p', 'a3', 't', 0)
      .at(400).ok('p', 'a3', 't', 0, 2)
      .at(410).invoke('r', 'c2', 't', undefined, { key: 'k' })
      .at(420).ok('r', 'c2', 't', 2, 0)
      .at(500).final('t', 0, [[0, 'a0'], [1, 'a1'], [2, 'a3']])
      .final('t', 1, [[0, 'b0'], [1, 'b1']])
      .final('t', 2, [[0, 'c2']]);
    const report = check(r.history());
    expect(report.ok).toBe(true);
    expect(report.availability.failovers).toEqual([
      {
        kind: 'kill',
        target: 'n1',
        detail: null,
        startMs: 100,
        endMs: 300,
        partitions: [
          { topic: 't', partition: 0, failures: 1, failingFromMs: 110, recoveredAtMs: 400, failoverMs: 300 },
          { topic: 't', partition: 2, failures: 1, failingFromMs: 200, recoveredAtMs: 420, failoverMs: 320 },
        ],
        unattributedFailures: 1,
        maxFailoverMs: 320,
        unrecovered: 0,
      },
    ]);
    expect(report.availability.maxFailoverMs).toBe(320);
    expect(report.availability.unrecovered).toBe(0);
  });

  it('failover: a fault never healed and a partition never recovered', () => {
    const r = new Recorder()
      .send('p', 'a0', 't', 0, 0)
      .at(100).faultStart('partition', 'n1|n2,n3', 'isolate n1')
      .at(110).invoke('p', 'a1', 't', 0)
      .at(30_000).fail('p', 'a1', false) // failed after a long timeout: still overlaps the fault
      .at(31_000).final('t', 0, [[0, 'a0']]);
    const report = check(r.history());
    expect(report.availability.failovers[0]).toMatchObject({
      endMs: null,
      partitions: [{ topic: 't', partition: 0, failures: 1, failingFromMs: 110, recoveredAtMs: null, failoverMs: null }],
      maxFailoverMs: null,
      unrecovered: 1,
    });
    expect(report.availability.unrecovered).toBe(1);
    expect(report.availability.maxFailoverMs).toBeNull();
  });

  it('failover: a failure that ended before the fault, or began after it healed, does not count', () => {
    const r = new Recorder()
      .invoke('p', 'a0', 't', 0)
      .at(50).fail('p', 'a0', false)
      .at(100).faultStart('pause', 'n1')
      .at(200).faultEnd('pause', 'n1')
      .at(210).invoke('p', 'a1', 't', 0)
      .at(220).fail('p', 'a1', false)
      .final('t', 0, []);
    expect(check(r.history()).availability.failovers[0]?.partitions).toEqual([]);
  });
});

describe('report', () => {
  it('joins the checker report with the run metadata; exit code follows ok', () => {
    const history = cleanRun().history();
    const run = buildRunReport(check(history), { seed: 42, durationMs: 125_000, clusterSize: 3, nemeses: ['kill'] });
    expect(run).toMatchObject({
      version: 1,
      ok: true,
      seed: 42,
      durationMs: 125_000,
      cluster: { size: 3 },
      nemeses: ['kill'],
      faults: { applied: 1, byKind: { kill: 1 }, list: [{ kind: 'kill', target: 'n1', detail: 'SIGKILL', startMs: 0, endMs: 11, durationMs: 11 }] },
      operations: { attempted: 8, acknowledged: 6 },
    });
    expect(exitCodeFor(run)).toBe(0);
    expect(summaryLine(run)).toBe(
      'PASS seed=42 2m05s: 8 sends (6 ok, 1 failed, 1 indeterminate), 3 txns (1 committed, 1 aborted, 1 unknown), 1 fault, longest gap 6ms, max failover 10ms',
    );
    expect(JSON.parse(JSON.stringify(run))).toEqual(run);
  });

  it('a failing run names its anomalies first', () => {
    const r = new Recorder().send('p', 'v0', 't', 0, 0).read('c', 't', 0, 0, 'ghost').final('t', 0, []);
    const run = buildRunReport(check(r.history()), { seed: 'abc', durationMs: 850, clusterSize: 3, nemeses: [] });
    expect(exitCodeFor(run)).toBe(1);
    expect(summaryLine(run)).toBe(
      'FAIL seed=abc 850ms: lost=1 inconsistent-offset=1 phantom=1; 1 sends (1 ok, 0 failed, 0 indeterminate), 0 faults, longest gap 1ms, max failover n/a',
    );
  });

  it('formats durations', () => {
    expect([formatMs(0), formatMs(999.6), formatMs(3_204), formatMs(60_000), formatMs(61_500)]).toEqual(['0ms', '1000ms', '3.20s', '1m00s', '1m01s']);
  });
});

describe('checker: properties over a simulated correct cluster', () => {
  it('every history of the correct model passes', () => {
    fc.assert(
      fc.property(modelScriptArb, (script) => {
        const report = check(runModel(script));
        expect(found(report)).toEqual([]);
        const ops = report.operations;
        expect(ops.acknowledged + ops.failed + ops.indeterminate).toBe(ops.attempted);
        expect(ops.indeterminateCommitted + ops.indeterminateLost).toBe(ops.indeterminate);
      }),
      { numRuns: 300 },
    );
  });

  it('every history of the correct model with drained consumers passes with consumersDrained', () => {
    fc.assert(
      fc.property(modelScriptArb, (script) => {
        expect(found(check(runModel(script, { drainConsumers: true }), { consumersDrained: true }))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('without the drain, consumersDrained finds the records the groups had not reached yet', () => {
    const script: ModelStep[] = [
      { kind: 'send', producer: 0, topic: 0, partition: 0, key: null, outcome: 'ok', latencyMs: 1 },
      { kind: 'send', producer: 0, topic: 0, partition: 0, key: null, outcome: 'ok', latencyMs: 1 },
      { kind: 'consume', group: 0, topic: 0, partition: 0, count: 1, commit: true },
    ];
    const report = check(runModel(script), { consumersDrained: true });
    expect(found(report)).toEqual(['unseen']);
    expect(report.anomalies.unseen.examples.map((e) => [e.group, e.value])).toEqual([['g-committed', 'v1']]);
  });

  it('the model covers every event type, indeterminate outcomes both ways, rebalances and faults', () => {
    const types = new Set<string>();
    const totals = { indeterminateCommitted: 0, indeterminateLost: 0, failovers: 0, regenerations: 0 };
    for (const script of fc.sample(modelScriptArb, { numRuns: 200, seed: 1 })) {
      const history = runModel(script);
      for (const e of history.events) {
        types.add(e.type);
        if (e.type === 'read' && (e.generation ?? 1) > 1) totals.regenerations++;
      }
      const report = check(history);
      totals.indeterminateCommitted += report.operations.indeterminateCommitted;
      totals.indeterminateLost += report.operations.indeterminateLost;
      totals.failovers += report.availability.failovers.filter((f) => f.partitions.length > 0).length;
    }
    expect([...types].sort()).toEqual(
      ['commit', 'committed-fetch', 'fault-end', 'fault-start', 'final-read', 'read', 'send-fail', 'send-invoke', 'send-ok', 'txn-abort', 'txn-commit', 'txn-unknown'].sort(),
    );
    for (const [name, total] of Object.entries(totals)) expect(total, name).toBeGreaterThan(0);
  });

  it('checking is deterministic and survives a JSON round trip', () => {
    fc.assert(
      fc.property(modelScriptArb, fc.constantFrom(...ANOMALY_NAMES), fc.nat(), (script, kind, pick) => {
        const history = injectAnomaly(runModel(script), kind, pick);
        expect(check(parseHistory(JSON.parse(JSON.stringify(history))))).toEqual(check(history));
      }),
      { numRuns: 50 },
    );
  });

  it('one injected anomaly of any kind is found, and named alone', () => {
    fc.assert(
      fc.property(modelScriptArb, fc.constantFrom(...ANOMALY_NAMES), fc.nat(), (script, kind, pick) => {
        const report = check(injectAnomaly(runModel(script), kind, pick));
        expect(report.ok).toBe(false);
        expect(found(report)).toEqual([kind]);
        expect(report.anomalies[kind].examples.length).toBeGreaterThan(0);
      }),
      { numRuns: 400 },
    );
  });
});

describe('checker: scale', () => {
  /** A correct history of about `sends * 3` events over 12 partitions, with a few faults. */
  function bigHistory(sends: number): HistoryEvent[] {
    const events: HistoryEvent[] = [];
    const partitionCount = 12;
    const ends = new Array<number>(partitionCount).fill(0);
    const finals: { offset: number; value: string }[][] = Array.from({ length: partitionCount }, () => []);
    let atMs = 0;
    for (let i = 0; i < sends; i++) {
      const partition = i % partitionCount;
      const value = `v${i}`;
      const process = `p${i % 8}`;
      if (i % 20_000 === 0) events.push({ type: 'fault-start', kind: 'kill', target: `n${i % 3}`, atMs, process: 'nemesis' });
      events.push({ type: 'send-invoke', topic: 't', partition, key: null, value, producerId: process, atMs, process });
      if (i % 100 === 7) {
        events.push({ type: 'send-fail', value, errorCode: 7, definite: false, atMs: ++atMs, process });
        continue;
      }
      const offset = ends[partition]!++;
      events.push({ type: 'send-ok', value, topic: 't', partition, offset, atMs: ++atMs, process });
      events.push({ type: 'read', topic: 't', partition, offset, value, isolation: 'read_committed', consumerGroup: 'g', generation: 1, atMs, process: 'c' });
      finals[partition]!.push({ offset, value });
      if (i % 20_000 === 10_000) events.push({ type: 'fault-end', kind: 'kill', target: `n${(i - 10_000) % 3}`, atMs, process: 'nemesis' });
    }
    for (let p = 0; p < partitionCount; p++) {
      events.push({ type: 'commit', group: 'g', topic: 't', partition: p, offset: ends[p]!, generation: 1, atMs, process: 'c' });
      events.push({ type: 'final-read', topic: 't', partition: p, records: finals[p]!, atMs, process: 'final' });
    }
    return events;
  }

  /**
   * A hang bound, not a speed limit: unloaded, the check takes about half a second; a checker that
   * went quadratic in the events (2 * 10^10 steps here) would not finish inside it on any machine.
   */
  const scaleHangBoundMs = 30_000;

  it('checks a correct history of 200k events (a checker quadratic in the events would not finish)', () => {
    const events = bigHistory(68_000);
    expect(events.length).toBeGreaterThan(200_000);
    const started = performance.now();
    const report = check(makeHistory(events));
    expect(report.ok).toBe(true);
    expect(report.operations.acknowledged).toBe(68_000 - 680);
    expect(report.availability.failovers.length).toBe(4);
    console.log(`checked ${events.length} events in ${(performance.now() - started).toFixed(0)} ms`);
  }, scaleHangBoundMs);
});
