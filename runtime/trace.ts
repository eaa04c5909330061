/**
 * Sampled stage timestamps along the write and read paths, for
 * `npm run bench:latency` (bench/latency.ts), which joins them across
 * processes into a per-stage latency breakdown.
 *
 * Off unless the process starts with KACTUS_TRACE_EVERY=N (N > 0): then the
 * offsets divisible by N are sampled; a stage that handles a range of
 * offsets of a partition (an append, a fetch answer, a high-watermark move)
 * records the time for each sampled offset in that range. On
 * exit the samples go to KACTUS_TRACE_DIR/trace-<pid>.json, named by
 * KACTUS_TRACE_NAME or else `broker-<id>` from a --node-id argument. Times are wall-clock milliseconds with microseconds
 * (performance.timeOrigin + performance.now()), comparable across the
 * processes of one machine. At most traceLimits.samplesMax are kept.
 *
 * When off, every call site pays one test of a module constant.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const traceLimits = {
  /** Samples kept per process; later ones are dropped (and counted). */
  samplesMax: 500_000,
  /** Sampled offsets recorded for one range (a large fetch answer); the rest of the range is skipped. */
  samplesPerRangeMax: 64,
} as const;

const every = Math.max(0, Math.floor(Number(process.env.KACTUS_TRACE_EVERY ?? 0)) || 0);
/** True when this process records samples. */
export const tracing = every > 0;

export type TraceSample = [stage: string, partition: string, offset: number, atMs: number];
const samples: TraceSample[] = [];
let dropped = 0;

/** Wall-clock ms (with fractions) of a performance.now() reading. */
export function wallMsOf(performanceNowMs: number): number {
  return performance.timeOrigin + performanceNowMs;
}

/** Records `stage` for the sampled offset in [firstOffset, lastOffset] of `partition`, at `atMs` (wall ms; default now). */
export function traceRange(stage: string, partition: string, firstOffset: number, lastOffset: number, atMs?: number): void {
  if (!tracing || lastOffset < firstOffset || firstOffset < 0) return;
  let sampled = Math.ceil(firstOffset / every) * every;
  if (sampled > lastOffset) return;
  const at = atMs ?? wallMsOf(performance.now());
  for (let n = 0; sampled <= lastOffset && n < traceLimits.samplesPerRangeMax; sampled += every, n += 1) {
    if (samples.length >= traceLimits.samplesMax) {
      dropped += 1;
      return;
    }
    samples.push([stage, partition, sampled, at]);
  }
}

/** This process's samples so far (a benchmark joining them in the process that took them). */
export function traceSamples(): readonly TraceSample[] {
  return samples;
}

if (tracing) {
  process.once('exit', () => {
    const dir = process.env.KACTUS_TRACE_DIR ?? '.';
    const nodeIdAt = process.argv.indexOf('--node-id');
    const name = process.env.KACTUS_TRACE_NAME ?? (nodeIdAt >= 0 ? `broker-${process.argv[nodeIdAt + 1]}` : `pid-${process.pid}`);
    try {
      writeFileSync(join(dir, `trace-${process.pid}.json`), JSON.stringify({ name, every, dropped, samples }));
    } catch {
      // The directory is gone (the benchmark that asked for it already read what it needed): nothing to keep.
    }
  });
}
