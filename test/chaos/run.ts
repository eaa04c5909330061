/**
 * The chaos CLI:
 *   npm run chaos -- --seed 1 --duration 300 --nemesis kill,pause,partition,crash-actor,controller
 *     [--report PATH] [--partitions 6] [--producers 2] [--consumers 2] [--rate 50]
 *     [--quiet-ms 2000,6000] [--hold-ms 3000,8000]
 *     [--workloads producers,consumers[,txn]] [--txn-rate TXNS_PER_S]
 *     [--net loopback|netns]
 *
 * Runs one chaos run (harness.ts), prints the one-line summary, writes the
 * JSON report (default: $TMPDIR/kactus-chaos/seed-<S>-<time>.json) and the
 * history beside it, and exits 0 when the run found nothing, 1 on any anomaly
 * or harness problem, 2 on bad arguments. Ctrl-C kills every broker this run
 * started (by pid) before exiting.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { killAllChildren } from '../support/processes.ts';
import { FAULT_KINDS, type FaultKind } from './history.ts';
import { runChaos } from './harness.ts';
import { WORKLOAD_NAMES, parseWorkloads, type WorkloadName } from './txn-workload.ts';
import { NET_MODES, NetnsSetupError, netnsPreflight, tearDownAllNetnsSync, type NetMode } from './netns.ts';

function usage(problem: string): never {
  process.stderr.write(
    `${problem}\nusage: npm run chaos -- --seed S --duration SECONDS --nemesis ${FAULT_KINDS.join(',')} [--report PATH] [--partitions N] [--producers N] [--consumers N] [--rate SENDS_PER_S] [--quiet-ms MIN,MAX] [--hold-ms MIN,MAX] [--workloads ${WORKLOAD_NAMES.join(',')}] [--txn-rate TXNS_PER_S] [--net ${NET_MODES.join('|')}]\n`,
  );
  process.exit(2);
}

function positiveInt(text: string | undefined, name: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n > max) usage(`--${name} must be an integer in [0, ${max}], got ${text}`);
  return n;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seed: { type: 'string' },
      duration: { type: 'string' },
      nemesis: { type: 'string' },
      report: { type: 'string' },
      partitions: { type: 'string' },
      producers: { type: 'string' },
      consumers: { type: 'string' },
      rate: { type: 'string' },
      'quiet-ms': { type: 'string' },
      'hold-ms': { type: 'string' },
      workloads: { type: 'string' },
      'txn-rate': { type: 'string' },
      net: { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  usage((err as Error).message);
}

const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
const seed = positiveInt(str('seed'), 'seed', 1, 2 ** 31 - 1);
const durationS = positiveInt(str('duration'), 'duration', 60, 24 * 3600);
const nemeses = (str('nemesis') ?? FAULT_KINDS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s.length > 0);
for (const n of nemeses) if (!(FAULT_KINDS as readonly string[]).includes(n)) usage(`unknown nemesis ${n} (known: ${FAULT_KINDS.join(', ')})`);
function range(text: string | undefined, name: string): [number, number] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map(Number);
  if (parts.length !== 2 || !parts.every((n) => Number.isSafeInteger(n) && n >= 0) || parts[0]! > parts[1]!) usage(`--${name} must be MIN,MAX milliseconds, got ${text}`);
  return [parts[0]!, parts[1]!];
}
let workloads: WorkloadName[] = [];
try {
  workloads = parseWorkloads(str('workloads'));
} catch (err) {
  usage((err as Error).message);
}
const net = (str('net') ?? 'loopback') as NetMode;
if (!NET_MODES.includes(net)) usage(`--net must be one of ${NET_MODES.join(', ')}, got ${net}`);
if (net === 'netns') {
  try {
    netnsPreflight();
  } catch (err) {
    if (!(err instanceof NetnsSetupError)) throw err;
    process.stderr.write(`[chaos] ${err.message}\n`);
    process.exit(1);
  }
}
const quietMs = range(str('quiet-ms'), 'quiet-ms');
const holdMs = range(str('hold-ms'), 'hold-ms');
const reportPath = str('report') ?? join(tmpdir(), 'kactus-chaos', `seed-${seed}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);

const interrupted = (signal: NodeJS.Signals): void => {
  process.stderr.write(`[chaos] ${signal}: killing the brokers of this run\n`);
  if (net === 'netns') {
    // The brokers, then the namespaces, veths and bridge this run created (also done by netns.ts's exit hook).
    void killAllChildren()
      .then(() => tearDownAllNetnsSync())
      .finally(() => process.exit(130));
    return;
  }
  void killAllChildren().finally(() => process.exit(130));
};
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);

try {
  const result = await runChaos({
    seed,
    durationMs: durationS * 1_000,
    nemeses: nemeses as FaultKind[],
    partitions: positiveInt(str('partitions'), 'partitions', 6, 1_000),
    producers: positiveInt(str('producers'), 'producers', 2, 32),
    consumers: positiveInt(str('consumers'), 'consumers', 2, 32),
    ratePerSecond: Math.max(1, positiveInt(str('rate'), 'rate', 50, 10_000)),
    workloads,
    txnPerSecond: Math.max(1, positiveInt(str('txn-rate'), 'txn-rate', 5, 1_000)),
    reportPath,
    ...(quietMs ? { quietMs } : {}),
    ...(holdMs ? { holdMs } : {}),
    ...(net === 'netns' ? { net } : {}),
  });
  process.stdout.write(`${result.summary}\nreport: ${result.reportPath}\nhistory: ${result.historyPath}\n`);
  process.exit(result.exitCode);
} catch (err) {
  if (err instanceof NetnsSetupError) process.stderr.write(`[chaos] ${err.message}\n`);
  else process.stderr.write(`[chaos] the run failed: ${(err as Error).stack ?? String(err)}\n`);
  await killAllChildren();
  process.exit(1);
}
