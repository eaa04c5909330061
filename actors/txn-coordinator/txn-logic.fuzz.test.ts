/**
 * Property: whatever two producers of one transactional id do, in any order,
 * with writes and marker writes acknowledged, failed or lost and coordinator
 * crashes (a new coordinator loads the acknowledged records; a write in
 * flight at the crash may or may not have landed), then
 *   1. a transaction is never both committed and aborted: the markers of one
 *      (producer id, epoch) all carry the same result, and the log never holds
 *      both a commit and an abort record for it;
 *   2. the epoch written for a producer id never decreases (log order);
 *   3. a commit the coordinator acknowledged (EndTxn success) is never aborted;
 *   4. once the network heals, every started transaction completes (no
 *      Prepare* left), which is how a new coordinator finishes the old one's work.
 * The logic also asserts its own invariants after every step.
 * Every EndTxn here is the native one (bumpEpochOnEnd true, transaction
 * version 2): the properties name a transaction by (producer id, epoch),
 * which only the bump at every end makes unique. Version 1 (the epoch kept)
 * is covered by the table tests in txn-logic.test.ts.
 * Method: fast-check generates command lists; a Driver (testing.ts) plays the
 * shell. `TXN_FUZZ_RUNS=5000` runs longer; a failure prints the seed to replay.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { Driver } from './testing.ts';
import { txnConfigDefault } from './txn-logic.ts';
import type { ReplyTarget, TxnInput } from './txn-logic.ts';
import type { TopicPartition } from './txn-records.ts';

const runs = Number(process.env.TXN_FUZZ_RUNS ?? 300);
const partitions: TopicPartition[] = [
  { topic: 'a', partition: 0 },
  { topic: 'a', partition: 1 },
  { topic: 'b', partition: 0 },
];

type Command =
  | { kind: 'init'; who: 0 | 1 }
  | { kind: 'add'; who: 0 | 1; partition: number }
  | { kind: 'addOffsets'; who: 0 | 1 }
  | { kind: 'end'; who: 0 | 1; committed: boolean }
  | { kind: 'staleEnd'; who: 0 | 1; committed: boolean; pick: number }
  | { kind: 'persist'; ok: boolean }
  | { kind: 'markers'; mask: number }
  | { kind: 'failMarkers' }
  | { kind: 'tick'; advanceMs: number }
  | { kind: 'crash'; landed: boolean }
  | { kind: 'moveAndBack' };

const who = fc.constantFrom<0 | 1>(0, 1);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('init' as const), who }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('add' as const), who, partition: fc.integer({ min: 0, max: partitions.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('addOffsets' as const), who }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('end' as const), who, committed: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('staleEnd' as const), who, committed: fc.boolean(), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('persist' as const), ok: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('persist' as const), ok: fc.constant(true) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('markers' as const), mask: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('markers' as const), mask: fc.constant(7) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('failMarkers' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), advanceMs: fc.integer({ min: 0, max: 3_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), landed: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('moveAndBack' as const) }) },
);

type Producer = { producerId: number; producerEpoch: number };

/** How often the runs reach the interesting places (asserted > 0, so the generator keeps covering them). */
const reached = { commits: 0, aborts: 0, resumedAfterCrash: 0, rotations: 0, acknowledgedCommits: 0 };

function run(commands: readonly Command[], producerEpochMax: number): void {
  const d = new Driver('tx-fuzz', { ...txnConfigDefault, producerEpochMax, retryBackoffMs: 50, retryBackoffMsMax: 400 });
  d.autoPersist = false;
  d.autoMarkers = false;
  d.nowMs = 0;
  const targets: ReplyTarget[] = [
    { node: 'p0', path: '/' },
    { node: 'p1', path: '/' },
  ];
  const current: (Producer | null)[] = [null, null];
  const history: Producer[][] = [[], []];
  const acknowledgedCommits: Producer[] = []; // (producer id, epoch) of the markers of each acknowledged commit
  // The result each client asked for in its EndTxn that waits for a write (its reply comes later); lost with a crash.
  const parkedEnd: (boolean | null)[] = [null, null];
  let seenEffects = 0;

  /** Reads new replies; `immediate` is the result of an EndTxn stepped just now (its reply, if any, is in this batch). */
  const learn = (immediate?: { who: 0 | 1; committed: boolean }): void => {
    for (; seenEffects < d.effects.length; seenEffects++) {
      const e = d.effects[seenEffects]!;
      if (e.type !== 'Reply') continue;
      const i = targets.findIndex((t) => t.node === e.to.node);
      if (i < 0) continue;
      const r = e.reply;
      if ((r.type === 'InitProducerIdReply' || r.type === 'EndTxnReply') && r.errorCode === ErrorCode.NONE) {
        const before = current[i] ?? null;
        if (r.type === 'EndTxnReply' && before !== null && before.producerId === r.producerId && before.producerEpoch === r.producerEpoch) continue; // a retry
        if (r.type === 'EndTxnReply' && before !== null) {
          // The end reply of a commit names the next producer; the markers carried the bumped epoch of the old id.
          let committed: boolean | null;
          if (immediate !== undefined && immediate.who === i) committed = immediate.committed;
          else {
            committed = parkedEnd[i] ?? null;
            parkedEnd[i] = null;
          }
          expect(committed, 'an EndTxn reply answers a request').not.toBeNull();
          if (committed === true) acknowledgedCommits.push({ producerId: before.producerId, producerEpoch: before.producerEpoch + 1 });
        }
        current[i] = { producerId: r.producerId, producerEpoch: r.producerEpoch };
        history[i]!.push(current[i]!);
      }
    }
  };
  const request = (i: 0 | 1, input: Record<string, unknown> & { type: TxnInput['type'] }): void => {
    d.apply({ ...input, transactionalId: d.transactionalId, replyTo: targets[i]!, freshProducerId: d.nextProducerId } as TxnInput);
  };

  for (const c of commands) {
    switch (c.kind) {
      case 'init': {
        // Producer 0 re-inits KIP-360 style (naming its id and epoch); producer 1 as a new process would.
        const p = c.who === 0 ? current[0] : null;
        request(c.who, { type: 'InitProducerId', transactionTimeoutMs: 10_000, producerId: p?.producerId ?? -1, producerEpoch: p?.producerEpoch ?? -1 });
        break;
      }
      case 'add': {
        const p = current[c.who] ?? { producerId: 999, producerEpoch: 0 };
        request(c.who, { type: 'AddPartitionsToTxn', ...p, partitions: [partitions[c.partition]!] });
        break;
      }
      case 'addOffsets': {
        const p = current[c.who] ?? { producerId: 999, producerEpoch: 0 };
        request(c.who, { type: 'AddOffsetsToTxn', ...p, groupId: 'g' });
        break;
      }
      case 'end': {
        const p = current[c.who] ?? { producerId: 999, producerEpoch: 0 };
        const before = d.effects.length;
        request(c.who, { type: 'EndTxn', ...p, committed: c.committed, bumpEpochOnEnd: true });
        const answered = d.effects.slice(before).some((e) => e.type === 'Reply' && e.to.node === targets[c.who]!.node);
        learn({ who: c.who, committed: c.committed });
        if (!answered) parkedEnd[c.who] = c.committed;
        break;
      }
      case 'staleEnd': {
        const past = history[c.who]!;
        const p = past.length === 0 ? { producerId: 999, producerEpoch: 0 } : past[c.pick % past.length]!;
        // A stale retry may be answered NONE for its old transaction; it must not change what the client holds.
        d.apply({ type: 'EndTxn', transactionalId: d.transactionalId, ...p, committed: c.committed, bumpEpochOnEnd: true, freshProducerId: d.nextProducerId, replyTo: { node: 'stale', path: '/' } });
        break;
      }
      case 'persist':
        if (d.persists.length > 0) d.completePersist(c.ok ? ErrorCode.NONE : ErrorCode.NOT_ENOUGH_REPLICAS);
        break;
      case 'markers': {
        const request = d.markerRequests[0];
        if (request !== undefined) d.ackMarkers(request.partitions.filter((_p, i) => (c.mask >> i) & 1));
        break;
      }
      case 'failMarkers':
        if (d.markerRequests.length > 0) d.failMarkers();
        break;
      case 'tick':
        d.nowMs += c.advanceMs;
        d.apply({ type: 'Tick' });
        break;
      case 'crash': {
        const inFlight = d.persists[0];
        if (c.landed && inFlight !== undefined) d.log.push(inFlight.record);
        d.failover();
        parkedEnd.fill(null);
        if (d.state.markers !== null) reached.resumedAfterCrash += 1;
        break;
      }
      case 'moveAndBack':
        // The partition moves away (Unload answers the parked request NOT_COORDINATOR), then comes back: reload.
        d.apply({ type: 'Unload' });
        learn();
        d.failover();
        parkedEnd.fill(null);
        break;
    }
    learn();
  }

  // The network heals: everything in flight is acknowledged, time passes, every Prepare* completes.
  d.autoPersist = true;
  d.autoMarkers = true;
  d.settle();
  for (let i = 0; i < 5; i++) d.tick(d.nowMs + 10_000);
  learn();
  expect(['PrepareCommit', 'PrepareAbort']).not.toContain(d.state.phase);

  for (const r of d.log) {
    if (r.value?.state === 'CompleteCommit') reached.commits += 1;
    if (r.value?.state === 'CompleteAbort') reached.aborts += 1;
  }
  reached.rotations += d.nextProducerId - 1_001;
  reached.acknowledgedCommits += acknowledgedCommits.length;

  // 1. One result per transaction, in markers and in the log.
  const resultOf = new Map<string, string>();
  for (const e of d.effects) {
    if (e.type !== 'WriteTxnMarkers') continue;
    const key = `${e.producerId}/${e.producerEpoch}`;
    expect(resultOf.get(key) ?? e.result, `markers of ${key}`).toBe(e.result);
    resultOf.set(key, e.result);
  }
  const logResult = new Map<string, string>();
  for (const r of d.log) {
    const v = r.value;
    if (v === null || v.state === 'Empty' || v.state === 'Ongoing') continue;
    if (v.state === 'CompleteCommit' || v.state === 'CompleteAbort') continue; // may name the rotated id; checked via Prepare*
    const result = v.state === 'PrepareCommit' ? 'COMMIT' : 'ABORT';
    const key = `${v.producerId}/${v.producerEpoch}`;
    expect(logResult.get(key) ?? result, `log of ${key}`).toBe(result);
    logResult.set(key, result);
  }
  // 2. Epochs never decrease for a producer id, in log order.
  const epochOf = new Map<number, number>();
  for (const r of d.log) {
    if (r.value === null) continue;
    const before = epochOf.get(r.value.producerId) ?? -1;
    expect(r.value.producerEpoch, `epoch of producer ${r.value.producerId}`).toBeGreaterThanOrEqual(before);
    epochOf.set(r.value.producerId, r.value.producerEpoch);
  }
  // 3. An acknowledged commit is never aborted.
  for (const p of acknowledgedCommits) {
    const key = `${p.producerId}/${p.producerEpoch}`;
    expect(resultOf.get(key) ?? 'COMMIT', `acknowledged commit ${key}`).toBe('COMMIT');
    expect(logResult.get(key), `acknowledged commit ${key} is in the log`).toBe('COMMIT');
  }
  // 4. Every marker a partition acknowledged agrees with its transaction's result.
  for (const m of d.markersWritten) expect(resultOf.get(`${m.producerId}/${m.producerEpoch}`)).toBe(m.result);
}

describe('txn logic under random producers, failures and crashes', () => {
  it('never commits and aborts one transaction; epochs never decrease; acknowledged commits stay committed; all work completes', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { minLength: 30, maxLength: 150, size: 'max' }), (commands) => run(commands, txnConfigDefault.producerEpochMax)),
      { numRuns: runs },
    );
  });

  it('the same with producerEpochMax 4, so producer ids rotate often', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { minLength: 30, maxLength: 150, size: 'max' }), (commands) => run(commands, 4)),
      { numRuns: runs },
    );
    for (const [what, count] of Object.entries(reached)) expect(count, `runs reached ${what}`).toBeGreaterThan(0);
  });
});
