/**
 * The Kafka-listener fuzzer's CLI (kafka-fuzz.ts):
 *
 *   npm run fuzz:kafka -- --seed 1 --frames 1000000 --seconds 600 [--connections 6] [--json PATH]
 *
 * Starts a 3-broker cluster of processes with Kafka listeners, sends
 * `--frames` fuzzed Kafka frames or for `--seconds`, whichever ends first,
 * while a well-behaved Kafka client asks ApiVersions and Metadata, then
 * checks every broker is the same process and still answers. Prints the
 * figures and the problems; exit code 0 on PASS, 1 on FAIL, 2 on bad
 * arguments. Ctrl-C kills the brokers of the run (by their handles).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { killAllChildren } from '../support/processes.ts';
import { describeKafkaFuzz, runKafkaFuzz } from './kafka-fuzz.ts';

function usage(problem: string): never {
  process.stderr.write(`${problem}\nusage: npm run fuzz:kafka -- --seed S --frames N --seconds T [--connections C] [--json PATH]\n`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({ args: process.argv.slice(2), options: { seed: { type: 'string' }, frames: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, json: { type: 'string' } }, strict: true }));
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

const interrupted = (signal: NodeJS.Signals): void => {
  process.stderr.write(`[fuzz] ${signal}: killing the brokers of this run\n`);
  void killAllChildren().finally(() => process.exit(130));
};
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);

try {
  const started = Date.now();
  const result = await runKafkaFuzz({ seed: int('seed', 1, 2 ** 31 - 1), frames: int('frames', 1_000_000, 1e9), seconds: int('seconds', 600, 24 * 3600), connections: int('connections', 6, 64), log: (line) => process.stderr.write(`[fuzz] ${line}\n`) });
  const ok = result.exits.length === 0 && result.problems.length === 0;
  process.stdout.write(`${ok ? 'PASS' : 'FAIL'} ${((Date.now() - started) / 1000).toFixed(0)} s\n${describeKafkaFuzz(result)}\n`);
  if (typeof values.json === 'string') writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  process.exit(ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`[fuzz] the run failed: ${(err as Error).stack ?? String(err)}\n`);
  await killAllChildren();
  process.exit(1);
}
