/**
 * The native fuzzer's CLI (native-fuzz.ts):
 *
 *   npm run fuzz:native -- --seed 1 --frames 1000000 --seconds 600 [--connections 6]
 *
 * Starts a 3-broker cluster of processes, fuzzes it with `--frames` frames or
 * for `--seconds`, whichever ends first, while a well-behaved client produces
 * and consumes, then checks (see native-fuzz.ts). Prints one PASS/FAIL line
 * with the figures (frames, seconds, frames/s, time for 1,000,000, exits),
 * then every problem; on a broker exit the frames last sent to it (hex).
 * `--json PATH` also writes the whole result. Exit code 0 on PASS, 1 on FAIL,
 * 2 on bad arguments. Ctrl-C kills the brokers of the run (by pid).
 *
 *   npm run fuzz:native -- --seed 1 --print 3/17
 *
 * starts nothing and prints the frames session 17 of connection 3 sends with
 * seed 1 (the coordinates a failure report gives), one a line, in hex.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { killAllChildren } from '../support/processes.ts';
import { describeResult, printSession, runNativeFuzz } from './native-fuzz.ts';

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: npm run fuzz:native -- --seed S --frames N --seconds T [--connections C] [--json PATH] | --seed S --print CONNECTION/SESSION\n`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({ args: process.argv.slice(2), options: { seed: { type: 'string' }, frames: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, json: { type: 'string' }, print: { type: 'string' } }, strict: true }));
} catch (err) {
  usage((err as Error).message);
}
const int = (name: string, fallback: number, max: number): number => {
  const text = values[name];
  if (typeof text !== 'string') return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > max) usage(`--${name} must be an integer in [1, ${max}], got ${text}`);
  return n;
};
const seed = int('seed', 1, 2 ** 31 - 1);
const frames = int('frames', 1_000_000, 1e9);
const seconds = int('seconds', 600, 24 * 3600);
const connections = int('connections', 6, 64);

if (typeof values.print === 'string') {
  const match = /^(\d+)\/(\d+)$/.exec(values.print);
  if (!match) usage(`--print must be CONNECTION/SESSION, got ${values.print}`);
  printSession(seed, Number(match[1]), Number(match[2]), (line) => process.stdout.write(`${line}\n`));
  process.exit(0);
}

const interrupted = (signal: NodeJS.Signals): void => {
  process.stderr.write(`[fuzz] ${signal}: killing the brokers of this run\n`);
  void killAllChildren().finally(() => process.exit(130));
};
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);

try {
  const result = await runNativeFuzz({ seed, frames, seconds, connections });
  process.stdout.write(`${describeResult(result)}\n`);
  if (typeof values.json === 'string') writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  process.exit(result.problems.length === 0 ? 0 : 1);
} catch (err) {
  process.stderr.write(`[fuzz] the run failed: ${(err as Error).stack ?? String(err)}\n`);
  await killAllChildren();
  process.exit(1);
}
