/**
 * The Kafka-listener fuzzer, bounded for `npm test` (the full run is `npm run
 * fuzz:kafka`, test/fuzz/kafka.ts). Goal: valid, mutated, truncated,
 * header-only, noise and oversized frames of every Kafka API and version,
 * from several connections, never kill or block a broker, and a
 * well-behaved Kafka client is answered throughout. Seed 1, capped at
 * 30,000 frames or 8 s (the suite's budget; the full run is the fuzz tier); a failure prints the seed and the frames last sent.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { killAllChildren } from '../support/processes.ts';
import { describeKafkaFuzz, runKafkaFuzz } from './kafka-fuzz.ts';

afterAll(async () => {
  await killAllChildren();
});

describe('Kafka listener fuzz (bounded)', () => {
  it(
    'seed 1: fuzzed Kafka frames, 0 broker exits, the well-behaved client answered throughout and after',
    async () => {
      const seed = Number(process.env.FUZZ_SEED ?? 1);
      const result = await runKafkaFuzz({ seed, frames: 30_000, seconds: 8, connections: 4, log: process.env.FUZZ_VERBOSE === '1' ? (line) => process.stderr.write(`[fuzz] ${line}\n`) : () => undefined });
      const text = describeKafkaFuzz(result);
      process.stderr.write(`${text.split('\n').slice(0, 4).join('\n')}\n`);
      expect(result.exits, text).toEqual([]);
      expect(result.problems, text).toEqual([]);
      expect(result.frames).toBeGreaterThan(5_000);
      expect(result.closedByBroker).toBeGreaterThan(0);
    },
    90_000,
  );
});
