/**
 * The chaos run report: the checker's `Report` plus what the harness knows
 * about the run (seed, duration, cluster size, nemeses), as the JSON the
 * issue asks for, a one-line human summary, and the harness's exit code.
 *
 * Owns: the report's shape (`RunReport`, versioned so saved reports stay
 * readable) and its wording. It adds no judgement: `ok` is the checker's,
 * and the exit code is non-zero iff any anomaly count is non-zero
 * (availability figures are reported, never failed on: how slow a failover
 * may be is a benchmark's business, not a correctness one).
 *
 * Faults applied come from the history's fault events (the checker's
 * `faults`), not from the nemesis's plan: a planned fault that was never
 * recorded did not happen as far as the evidence goes.
 *
 * Must not import: anything that does I/O. The harness writes the file.
 */
import { ANOMALY_NAMES, type Anomalies, type Availability, type Operations, type Report } from './checker.ts';
import type { FaultKind } from './history.ts';

export const RUN_REPORT_VERSION = 1;

/** What the harness knows that the history does not. */
export type RunMeta = {
  /** The seed that replays the run's choices (workload and nemesis schedule). */
  seed: number | string;
  durationMs: number;
  clusterSize: number;
  /** The nemeses enabled for the run, e.g. ['kill', 'partition']. */
  nemeses: string[];
};

export type AppliedFault = {
  kind: FaultKind;
  target: string;
  detail: string | null;
  startMs: number;
  endMs: number | null;
  /** Null when the fault was never healed in the history. */
  durationMs: number | null;
};

export type RunReport = {
  version: typeof RUN_REPORT_VERSION;
  ok: boolean;
  seed: number | string;
  durationMs: number;
  cluster: { size: number };
  nemeses: string[];
  faults: { applied: number; byKind: Partial<Record<FaultKind, number>>; list: AppliedFault[] };
  operations: Operations;
  anomalies: Anomalies;
  availability: Availability;
};

/** Joins the checker's report and the run's metadata into the JSON report. */
export function buildRunReport(report: Report, meta: RunMeta): RunReport {
  const byKind: Partial<Record<FaultKind, number>> = {};
  const list: AppliedFault[] = report.faults.map((fault) => {
    byKind[fault.kind] = (byKind[fault.kind] ?? 0) + 1;
    return { ...fault, durationMs: fault.endMs === null ? null : fault.endMs - fault.startMs };
  });
  return {
    version: RUN_REPORT_VERSION,
    ok: report.ok,
    seed: meta.seed,
    durationMs: meta.durationMs,
    cluster: { size: meta.clusterSize },
    nemeses: [...meta.nemeses],
    faults: { applied: list.length, byKind, list },
    operations: report.operations,
    anomalies: report.anomalies,
    availability: report.availability,
  };
}

/** Milliseconds as a short human figure: 850ms, 3.20s, 2m05s. */
export function formatMs(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(2)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1_000);
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}

/**
 * One line for a terminal or a CI log, e.g.
 * `PASS seed=42 2m00s: 12000 sends (11800 ok, 50 failed, 150 indeterminate), 6 faults, longest gap 3.20s, max failover 2.10s`
 * or `FAIL seed=42 ...: lost=3 duplicate=1; ...`.
 */
export function summaryLine(run: RunReport): string {
  const ops = run.operations;
  const parts = [
    `${ops.attempted} sends (${ops.acknowledged} ok, ${ops.failed} failed, ${ops.indeterminate} indeterminate)`,
    `${run.faults.applied} ${run.faults.applied === 1 ? 'fault' : 'faults'}`,
    `longest gap ${formatMs(run.availability.longestGapMs)}`,
    `max failover ${run.availability.maxFailoverMs === null ? 'n/a' : formatMs(run.availability.maxFailoverMs)}`,
  ];
  const txns = ops.transactions;
  if (txns.committed + txns.aborted + txns.unknown > 0) parts.splice(1, 0, `${txns.committed + txns.aborted + txns.unknown} txns (${txns.committed} committed, ${txns.aborted} aborted, ${txns.unknown} unknown)`);
  if (run.availability.unrecovered > 0) parts.push(`${run.availability.unrecovered} partitions never recovered`);
  const head = `${run.ok ? 'PASS' : 'FAIL'} seed=${run.seed} ${formatMs(run.durationMs)}`;
  const found = ANOMALY_NAMES.filter((name) => run.anomalies[name].count > 0).map(
    (name) => `${name}=${run.anomalies[name].count}`,
  );
  return found.length === 0 ? `${head}: ${parts.join(', ')}` : `${head}: ${found.join(' ')}; ${parts.join(', ')}`;
}

/** The harness's exit code: 1 on any anomaly, else 0. */
export function exitCodeFor(run: RunReport): 0 | 1 {
  return run.ok ? 0 : 1;
}
