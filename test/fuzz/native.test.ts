/**
 * The native fuzzer, bounded for `npm test` (the full run is `npm run
 * fuzz:native`, test/fuzz/native.ts). Goal: random, truncated, mutated and
 * type-confused frames against every actor path and message type, before and
 * after the hello, from several connections (client hellos and forged peer
 * hellos without the secret), never kill a broker, and a well-behaved client
 * is served throughout with nothing acknowledged lost, reordered or stored
 * twice. Method: runNativeFuzz (native-fuzz.ts) against a real 3-broker
 * cluster of processes, seed 1, capped at 50,000 frames or 10 s (the
 * suite's time budget; `npm run fuzz:native` is the long run); on
 * a failure the message has the seed and the frames last sent to the broker
 * that died.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { killAllChildren } from '../support/processes.ts';
import { describeResult, runNativeFuzz } from './native-fuzz.ts';

afterAll(async () => {
  await killAllChildren();
});

describe('native fuzz (bounded)', () => {
  it(
    'seed 1: fuzzed frames to every path and type, 0 broker exits, the well-behaved client served and correct',
    async () => {
      const seed = Number(process.env.FUZZ_SEED ?? 1);
      const result = await runNativeFuzz({ seed, frames: 50_000, seconds: 10, connections: 6, log: process.env.FUZZ_VERBOSE === '1' ? (line) => process.stderr.write(`[fuzz] ${line}\n`) : () => undefined });
      const text = describeResult(result);
      process.stderr.write(`${text.split('\n').slice(0, 4).join('\n')}\n`);
      expect(result.exits, text).toEqual([]);
      expect(result.problems, text).toEqual([]);
      expect(result.frames).toBeGreaterThan(10_000);
      expect(result.brokersRegistered).toBe(3);
      expect(result.wellBehaved.acked).toBeGreaterThan(0);
    },
    90_000,
  );
});
