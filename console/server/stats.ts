/**
 * GET /api/stats: this broker's request latency now, for the console's live
 * chart: p50 and p99 of clients' Produce requests over the last second or
 * two (Fetch is left out: a long-polled fetch's time is mostly its wait), from the
 * broker's request-duration histogram (a prom-client Histogram, read through
 * its `get()`). Quantiles come from the change of the cumulative buckets
 * between two reads (the window), estimated by linear interpolation inside
 * the bucket, as Prometheus' histogram_quantile does; null when no request
 * of the kind was seen in the window.
 */
import type { HttpHandler } from './http.ts';
import { sendJson } from './http.ts';

/** What prom-client's Histogram.get() returns (only the parts read here). */
export type HistogramValues = { values: readonly { labels: Readonly<Record<string, string | number | undefined>>; value: number; metricName?: string }[] };

/** The histogram, and the labels that pick clients' Produce requests out of it (other labels are summed over). */
export type LatencySource = { get(): Promise<HistogramValues> | HistogramValues; produceLabels: Readonly<Record<string, string>> };

/** A window shorter than this is widened to the previous read (a page polling every second sees ~1-2 s windows). */
export const statsWindowMsMin = 900;

type Buckets = Map<number, number>;

/** Cumulative bucket counts of the series matching `labels`, summed over the other labels (listeners). */
function bucketsOf(values: HistogramValues, labels: Readonly<Record<string, string>>): Buckets {
  const out: Buckets = new Map();
  for (const v of values.values) {
    if (v.metricName !== undefined && !v.metricName.endsWith('_bucket')) continue;
    if (v.labels.le === undefined || Object.entries(labels).some(([k, want]) => v.labels[k] !== want)) continue;
    const le = v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le);
    out.set(le, (out.get(le) ?? 0) + v.value);
  }
  return out;
}

/** The q-quantile (seconds) of the requests between two cumulative readings, or null when there were none. */
export function quantileBetween(before: Buckets, after: Buckets, q: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! < rank) continue;
    const upper = bounds[i]!;
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    if (!Number.isFinite(upper)) return lower; // past the last bucket: its lower bound is all we know
    const below = i === 0 ? 0 : counts[i - 1]!;
    const inBucket = counts[i]! - below;
    return inBucket <= 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
  }
  return bounds.length > 1 ? bounds.at(-2)! : null;
}

export function consoleStatsHandler(source: LatencySource | null): HttpHandler {
  type Reading = { atMs: number; produce: Buckets };
  let previous: Reading | null = null;
  let older: Reading | null = null;
  return async (request, response, url) => {
    if (url.pathname !== '/api/stats' || request.method !== 'GET') return false;
    if (source === null) {
      sendJson(response, 200, { atMs: Date.now(), produceP50Ms: null, produceP99Ms: null, produceRequests: 0, note: 'metrics are off on this broker' });
      return true;
    }
    const values = await source.get();
    const now = { atMs: Date.now(), produce: bucketsOf(values, source.produceLabels) };
    if (previous !== null && now.atMs - previous.atMs >= statsWindowMsMin) {
      older = previous;
      previous = now;
    } else if (previous === null) previous = now;
    const base = older ?? previous;
    const ms = (seconds: number | null): number | null => (seconds === null ? null : seconds * 1000);
    sendJson(response, 200, {
      atMs: now.atMs,
      windowMs: now.atMs - base.atMs,
      produceP50Ms: ms(quantileBetween(base.produce, now.produce, 0.5)),
      produceP99Ms: ms(quantileBetween(base.produce, now.produce, 0.99)),
      produceRequests: Math.max(0, (now.produce.get(Number.POSITIVE_INFINITY) ?? 0) - (base.produce.get(Number.POSITIVE_INFINITY) ?? 0)),
    });
    return true;
  };
}
