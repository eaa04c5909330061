/**
 * The chaos harness in CI: one short, bounded run against a real 3-broker
 * cluster of processes. Goal: no acknowledged write is lost, duplicated or
 * moved, the consumer group's progress never goes back, and every crashed
 * actor comes back, while every nemesis (kill, pause, partition,
 * crash-actor, controller, hostile) strikes at least once. Method: runChaos
 * (harness.ts) with a fixed seed, short quiet and hold times, and a modest
 * send rate (the machine is small and shared); the assertion is on
 * correctness, never on speed. The long runs are in test/chaos/README.md.
 *
 * Wall time: about 55-65 s alone on the 2-core machine (51 s with hostile
 * added: one more fault in the same 45 s, not a longer run) (cluster start, ~45 s
 * of faults, settle, read-back); bounded by the 170 s test timeout.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { killAllChildren } from '../support/processes.ts';
import { anomaliesFound } from './checker.ts';
import { FAULT_KINDS } from './history.ts';
import { runChaos } from './harness.ts';

afterAll(async () => {
  await killAllChildren();
});

describe('chaos (CI, bounded)', () => {
  it(
    'seed 1: every nemesis once or more, every workload (txn too), zero anomalies, every crashed actor back',
    async () => {
      const startedMs = Date.now();
      const result = await runChaos({
        seed: 1,
        durationMs: 45_000,
        nemeses: FAULT_KINDS,
        // The transactional workload too: aborted reads and lost commits are checked under the same faults.
        workloads: ['producers', 'consumers', 'txn'],
        ratePerSecond: 25,
        quietMs: [1_000, 2_500],
        holdMs: [2_000, 4_000],
        // CHAOS_REPORT=path keeps the report, the history and the broker logs of this run.
        reportPath: process.env.CHAOS_REPORT ?? null,
        log: process.env.CHAOS_VERBOSE === '1' ? (line) => process.stderr.write(`[chaos] ${line}\n`) : () => undefined,
      });
      const report = result.report;
      process.stderr.write(`[chaos] ${result.summary} (wall ${((Date.now() - startedMs) / 1_000).toFixed(1)} s)\n`);
      expect(anomaliesFound(result.checked), JSON.stringify(report.anomalies).slice(0, 4_000)).toEqual([]);
      expect(report.harness.problems).toEqual([]);
      for (const kind of FAULT_KINDS) expect(report.faults.byKind[kind] ?? 0, `faults of kind ${kind}`).toBeGreaterThanOrEqual(1);
      expect(report.operations.acknowledged).toBeGreaterThan(0);
      expect(report.harness.finalRead.unread).toEqual([]);
      expect(report.operations.transactions.committed, 'committed transactions').toBeGreaterThan(0);
      expect(result.exitCode).toBe(0);
    },
    170_000,
  );
});
