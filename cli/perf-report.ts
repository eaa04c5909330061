/**
 * What `kactus perf` prints: a progress bar while it runs (on stderr, only
 * when stderr is a TTY: a pipe or a log file gets no control characters),
 * then one result with records/s, MB/s and latency percentiles.
 *
 * Latencies go into an HDR histogram (hdr-histogram-js) in microseconds, 3
 * significant digits, up to latencyUsMax: its memory is fixed whatever the
 * run length, and its percentiles are exact to 0.1%, which sorting an array
 * of samples cannot promise for a run of millions of records.
 */
import * as hdr from 'hdr-histogram-js';
import { printJson, printLine } from './output.ts';

/** Longest latency the histogram records (longer ones are clamped to it). */
export const latencyUsMax = 3_600_000_000;
/** How often the progress bar is redrawn. */
export const progressIntervalMs = 200;
const barWidth = 30;

export class LatencyHistogram {
  private readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: latencyUsMax, numberOfSignificantValueDigits: 3 });

  /** Records `count` samples of `latencyMs` (fractional ms). */
  record(latencyMs: number, count = 1): void {
    const us = Math.min(latencyUsMax, Math.max(1, Math.round(latencyMs * 1000)));
    this.histogram.recordValueWithCount(us, count);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** Percentiles in ms (3 decimals). */
  summary(): { p50: number; p95: number; p99: number; p999: number; max: number; mean: number } {
    const ms = (us: number): number => Math.round(us) / 1000;
    const h = this.histogram;
    if (h.totalCount === 0) return { p50: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    // A percentile is reported as the top of its bucket: never above the largest sample.
    const at = (percentile: number): number => ms(Math.min(h.maxValue, h.getValueAtPercentile(percentile)));
    return { p50: at(50), p95: at(95), p99: at(99), p999: at(99.9), max: ms(h.maxValue), mean: ms(h.mean) };
  }
}

/** A progress bar on stderr, redrawn on an interval; does nothing when stderr is not a TTY. */
export class Progress {
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly startedMs = performance.now();

  constructor(private readonly total: number, private readonly done: () => number, private readonly unit: string) {
    if (process.stderr.isTTY) {
      this.timer = setInterval(() => this.draw(), progressIntervalMs);
      this.timer.unref();
    }
  }

  private draw(): void {
    const done = Math.min(this.total, this.done());
    const fraction = this.total > 0 ? done / this.total : 1;
    const filled = Math.round(fraction * barWidth);
    const seconds = (performance.now() - this.startedMs) / 1000;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(barWidth - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${this.total} ${this.unit}, ${rate} ${this.unit}/s `);
  }

  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.draw();
    process.stderr.write('\n');
  }
}

export type PerfResult = {
  test: 'produce' | 'consume' | 'e2e';
  topic: string;
  records: number;
  bytes: number;
  elapsedMs: number;
  recordsPerSec: number;
  mbPerSec: number;
  /** What the latency measures (send to acknowledgement, fetch round trip, produce to consume). */
  latency: string;
  latencyMs: ReturnType<LatencyHistogram['summary']>;
};

export function perfResult(test: PerfResult['test'], topic: string, records: number, bytes: number, elapsedMs: number, latency: string, histogram: LatencyHistogram): PerfResult {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  return {
    test,
    topic,
    records,
    bytes,
    elapsedMs: Math.round(elapsedMs),
    recordsPerSec: Math.round((records / seconds) * 10) / 10,
    mbPerSec: Math.round((bytes / (1024 * 1024) / seconds) * 100) / 100,
    latency,
    latencyMs: histogram.summary(),
  };
}

export function printPerf(result: PerfResult, json: boolean): void {
  if (json) {
    printJson(result);
    return;
  }
  const l = result.latencyMs;
  printLine(`${result.records} records ${result.test === 'produce' ? 'sent' : 'received'} in ${(result.elapsedMs / 1000).toFixed(2)} s: ${result.recordsPerSec.toFixed(1)} records/s (${result.mbPerSec.toFixed(2)} MB/s)`);
  printLine(`latency (${result.latency}) ms: p50 ${l.p50}, p95 ${l.p95}, p99 ${l.p99}, p99.9 ${l.p999}, max ${l.max}, mean ${l.mean.toFixed(3)}`);
}
