/**
 * Client metrics: the producer's and consumer's counters as Prometheus
 * metrics, registered in a prom-client `Registry` the app passes in
 * (`new Kactus({ ..., metrics: { registry } })`, or per producer/consumer).
 *
 * Owns: the metric names, help texts, label names and buckets (one table,
 * `clientMetricNames` + the `define*` calls below), `openProducerMetrics` /
 * `openConsumerMetrics` (what the producer's sender and the consumer's
 * session, fetcher and group member call), and the cache of label children.
 *
 * Cost. Without a registry none of this exists: the callers hold
 * `undefined` and pay one test per batch or request, and prom-client is not
 * even loaded (importing it takes ~100 ms, so it is imported on the first
 * client that asks for metrics, in the async start of that producer or
 * consumer). With a registry, label children (`counter.labels(...)`) are
 * looked up once per (topic, error code, partition, api) and cached here;
 * every update is per batch, per request or per delivery turn of a
 * partition, never per record beyond an integer add.
 *
 * Conventions (Prometheus): the unit is the last word of a name (`_seconds`,
 * `_bytes`, `_records`), counters end in `_total`, times are seconds. Every
 * metric has `client_id` (Kactus's clientId); consumer metrics add
 * `group_id`. `error_code` is the Kafka error's name (REQUEST_TIMED_OUT).
 * Names start with `prefix` (default `kactus_client_`; the broker's own
 * metrics use another prefix, so one registry may hold both).
 *
 * Several clients may share a registry: a metric already registered under
 * the name is reused (its children differ by client_id); one registered by
 * someone else with other label names is refused with INVALID_CONFIG rather
 * than mixed up. Producers (or consumers of one group) of one client share
 * their children, so their series add up; give them distinct clientIds (one
 * Kactus each) for series of their own.
 *
 * Imports: prom-client (types; the module itself lazily), protocol/errors.ts.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ErrorCode, KactusError, errorInfo } from '../protocol/errors.ts';

/** What the app passes as `metrics`. */
export type MetricsOptions = {
  /** The prom-client Registry the app scrapes (its /metrics handler serves `registry.metrics()`). */
  registry: Registry;
  /** Prefix of every metric name; default `kactus_client_`. */
  prefix?: string;
};

/** The checked `metrics` option (client/options.ts). */
export type MetricsConfig = { readonly registry: Registry; readonly prefix: string };

export const metricsPrefixDefault = 'kactus_client_';
/** Longest prefix accepted (a metric name stays readable and well under any exporter's limit). */
export const metricsPrefixLengthMax = 64;

/** Metric names without the prefix: the README lists them with their labels. */
export const clientMetricNames = {
  requestDuration: 'request_duration_seconds',
  requestErrors: 'request_errors_total',
  producerRecordsSent: 'producer_records_sent_total',
  producerRecordErrors: 'producer_record_errors_total',
  producerRetries: 'producer_retries_total',
  producerBatchBytes: 'producer_batch_size_bytes',
  producerBatchRecords: 'producer_batch_size_records',
  producerRequestsInFlight: 'producer_requests_in_flight',
  consumerRecordsConsumed: 'consumer_records_consumed_total',
  consumerBytesConsumed: 'consumer_bytes_consumed_total',
  consumerLag: 'consumer_lag_records',
  consumerAssignedPartitions: 'consumer_assigned_partitions',
  consumerRebalances: 'consumer_rebalances_total',
  consumerRebalanceDuration: 'consumer_rebalance_duration_seconds',
  consumerCommitDuration: 'consumer_commit_duration_seconds',
  consumerCommitFailures: 'consumer_commit_failures_total',
} as const;

/** Request round trips: 1 ms (a loopback answer) to 30 s (a request timeout); a Fetch includes its long poll. */
export const requestDurationBucketsSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;
/** Encoded batch sizes: 256 B to 16 MiB, x4 (the producer's batchSizeBytes default is 16 KiB, the request bound 8 MiB). */
export const batchBytesBuckets = [256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216] as const;
/** Records per batch: 1 to 262,144, x4. */
export const batchRecordsBuckets = [1, 4, 16, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144] as const;
/** Rebalances: 10 ms to 5 min (a rebalance waits at most maxPollIntervalMs for the group's members). */
export const rebalanceDurationBucketsSeconds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;
/** Commits: 1 ms to 30 s (the request timeout), coordinator lookups and retries included. */
export const commitDurationBucketsSeconds = requestDurationBucketsSeconds;

type PromClient = typeof import('prom-client');
let loading: Promise<PromClient> | undefined;

/** prom-client, imported once on first use (see the module comment). */
function promClient(): Promise<PromClient> {
  loading ??= import('prom-client').then((m) => ((m as { default?: PromClient }).default ?? m) as PromClient);
  return loading;
}

/** The Kafka error name of an error (UNKNOWN_SERVER_ERROR for anything that is not a KactusError). */
export function errorCodeLabel(error: unknown): string {
  return errorInfo(error instanceof KactusError ? error.code : ErrorCode.UNKNOWN_SERVER_ERROR).name;
}

type Kind = 'counter' | 'gauge' | 'histogram';

/** The metrics of one registry and prefix, created (or found) on demand. */
class MetricSet {
  constructor(
    private readonly client: PromClient,
    private readonly config: MetricsConfig,
  ) {}

  counter(name: string, help: string, labelNames: readonly string[]): Counter<string> {
    return this.define('counter', name, labelNames, () => new this.client.Counter({ name: this.config.prefix + name, help, labelNames, registers: [this.config.registry] })) as Counter<string>;
  }

  gauge(name: string, help: string, labelNames: readonly string[]): Gauge<string> {
    return this.define('gauge', name, labelNames, () => new this.client.Gauge({ name: this.config.prefix + name, help, labelNames, registers: [this.config.registry] })) as Gauge<string>;
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram<string> {
    return this.define('histogram', name, labelNames, () => new this.client.Histogram({ name: this.config.prefix + name, help, labelNames, buckets: [...buckets], registers: [this.config.registry] })) as Histogram<string>;
  }

  private define(kind: Kind, name: string, labelNames: readonly string[], create: () => unknown): unknown {
    const full = this.config.prefix + name;
    const existing = this.config.registry.getSingleMetric(full) as unknown as { type?: string; labelNames?: string[] } | undefined;
    if (existing === undefined) return create();
    // Another client of this app registered it first (same names, same labels): share it.
    const same = existing.type === kind && existing.labelNames !== undefined && existing.labelNames.join(',') === labelNames.join(',');
    if (!same) throw new KactusError(ErrorCode.INVALID_CONFIG, `metrics: the registry already has a metric ${full} of another type or labels (${existing.type ?? '?'} {${existing.labelNames?.join(', ') ?? ''}}); pass another metrics.prefix`);
    return existing;
  }
}

/** Seconds from a performance.now() difference in ms. */
const seconds = (ms: number): number => ms / 1_000;

/** Request metrics shared by producers and consumers: one histogram and one error counter, labelled by api. */
class RequestMetrics {
  private readonly durations = new Map<string, Histogram.Internal<string>>();
  private readonly errors = new Map<string, Counter.Internal>();
  private readonly duration: Histogram<string>;
  private readonly errorCount: Counter<string>;

  constructor(
    set: MetricSet,
    private readonly clientId: string,
  ) {
    this.duration = set.histogram(clientMetricNames.requestDuration, 'Time from sending a request to a broker to its answer, by api (Produce, Fetch, JoinGroup, ...); a Fetch includes its long poll (fetchMaxWaitMs)', ['client_id', 'api'], requestDurationBucketsSeconds);
    this.errorCount = set.counter(clientMetricNames.requestErrors, 'Requests that failed or were answered with an error, by api and Kafka error name', ['client_id', 'api', 'error_code']);
  }

  /** One request ended: its duration, and its error (0: none). */
  observe(api: string, durationMs: number, errorCode: number): void {
    let child = this.durations.get(api);
    if (child === undefined) this.durations.set(api, (child = this.duration.labels(this.clientId, api)));
    child.observe(seconds(durationMs));
    if (errorCode !== 0) {
      const key = `${api}\u0000${errorCode}`;
      let errors = this.errors.get(key);
      if (errors === undefined) this.errors.set(key, (errors = this.errorCount.labels(this.clientId, api, errorInfo(errorCode).name)));
      errors.inc();
    }
  }
}

/** A producer's metrics (sender.ts calls these per batch and per request). */
export class ProducerMetrics {
  readonly requests: RequestMetrics;
  private readonly sentByTopic = new Map<string, Counter.Internal>();
  private readonly errorsByKey = new Map<string, Counter.Internal>();
  private readonly retriesByKey = new Map<string, Counter.Internal>();
  private readonly sent: Counter<string>;
  private readonly errors: Counter<string>;
  private readonly retries: Counter<string>;
  private readonly batchBytes: Histogram.Internal<string>;
  private readonly batchRecords: Histogram.Internal<string>;
  private readonly inFlight: Gauge.Internal<string>;

  constructor(
    set: MetricSet,
    private readonly clientId: string,
  ) {
    this.requests = new RequestMetrics(set, clientId);
    this.sent = set.counter(clientMetricNames.producerRecordsSent, 'Records the brokers acknowledged (acks=0: records written to the link)', ['client_id', 'topic']);
    this.errors = set.counter(clientMetricNames.producerRecordErrors, 'Records accepted by send() whose delivery failed for good, by Kafka error name', ['client_id', 'topic', 'error_code']);
    this.retries = set.counter(clientMetricNames.producerRetries, 'Batches sent again after a retriable error, by the error that caused the retry', ['client_id', 'topic', 'error_code']);
    this.batchBytes = set.histogram(clientMetricNames.producerBatchBytes, 'Encoded size of each batch the producer sends (once per batch, not per retry)', ['client_id'], batchBytesBuckets).labels(clientId);
    this.batchRecords = set.histogram(clientMetricNames.producerBatchRecords, 'Records per batch the producer sends', ['client_id'], batchRecordsBuckets).labels(clientId);
    this.inFlight = set.gauge(clientMetricNames.producerRequestsInFlight, 'Produce requests sent and not yet answered', ['client_id']).labels(clientId);
  }

  /** The records-sent child of `topic` (the sender keeps it per partition queue). */
  sentCounter(topic: string): Counter.Internal {
    let child = this.sentByTopic.get(topic);
    if (child === undefined) {
      // Exported at 0 from the start, so rate() sees the first records rather than a series appearing with them.
      this.sentByTopic.set(topic, (child = this.sent.labels(this.clientId, topic)));
      child.inc(0);
    }
    return child;
  }

  batchEncoded(sizeBytes: number, recordCount: number): void {
    this.batchBytes.observe(sizeBytes);
    this.batchRecords.observe(recordCount);
  }

  recordsFailed(topic: string, recordCount: number, error: unknown): void {
    this.cached(this.errorsByKey, this.errors, topic, errorCodeLabel(error)).inc(recordCount);
  }

  retried(topic: string, errorCode: number): void {
    this.cached(this.retriesByKey, this.retries, topic, errorInfo(errorCode).name).inc();
  }

  requestStarted(): void {
    this.inFlight.inc();
  }

  requestEnded(durationMs: number, errorCode: number): void {
    this.inFlight.dec();
    this.requests.observe('Produce', durationMs, errorCode);
  }

  private cached(cache: Map<string, Counter.Internal>, counter: Counter<string>, topic: string, errorName: string): Counter.Internal {
    const key = `${topic}\u0000${errorName}`;
    let child = cache.get(key);
    if (child === undefined) cache.set(key, (child = counter.labels(this.clientId, topic, errorName)));
    return child;
  }
}

/** The lag gauge child of one assigned partition (fetcher.ts sets it per fetch answer). */
export type LagGauge = { set(value: number): void };

/** A consumer's metrics (one per consumer; its group id is a label). */
export class ConsumerMetrics {
  readonly requests: RequestMetrics;
  private readonly consumedByTopic = new Map<string, { records: Counter.Internal; bytes: Counter.Internal }>();
  private readonly commitFailuresByCode = new Map<string, Counter.Internal>();
  private readonly recordsConsumed: Counter<string>;
  private readonly bytesConsumed: Counter<string>;
  private readonly lag: Gauge<string>;
  private readonly lagLabels = new Map<string, Record<string, string>>();
  private readonly assigned: Gauge.Internal<string>;
  private assignedNow = 0;
  private readonly rebalances: Counter.Internal;
  private readonly rebalanceDuration: Histogram.Internal<string>;
  private readonly commitDuration: Histogram.Internal<string>;
  private readonly commitFailures: Counter<string>;

  constructor(
    set: MetricSet,
    private readonly clientId: string,
    private readonly groupId: string,
  ) {
    const group = ['client_id', 'group_id'];
    this.requests = new RequestMetrics(set, clientId);
    this.recordsConsumed = set.counter(clientMetricNames.consumerRecordsConsumed, 'Records delivered to the application (messages$, batches$, run())', [...group, 'topic']);
    this.bytesConsumed = set.counter(clientMetricNames.consumerBytesConsumed, 'Bytes of the records delivered to the application (their share of the fetched batches)', [...group, 'topic']);
    this.lag = set.gauge(clientMetricNames.consumerLag, 'Records between the fetch position and the high watermark (read_committed: the last stable offset) of the last fetch answer, per assigned partition', [...group, 'topic', 'partition']);
    this.assigned = set.gauge(clientMetricNames.consumerAssignedPartitions, 'Partitions assigned to the consumer', group).labels(clientId, groupId);
    this.rebalances = set.counter(clientMetricNames.consumerRebalances, 'Rebalances the member completed (each generation it joined, the first included)', group).labels(clientId, groupId);
    this.rebalances.inc(0);
    this.rebalanceDuration = set.histogram(clientMetricNames.consumerRebalanceDuration, 'Time from the start of a (re)join to the assignment taking effect (revocation commits included)', group, rebalanceDurationBucketsSeconds).labels(clientId, groupId);
    this.commitDuration = set.histogram(clientMetricNames.consumerCommitDuration, 'Time to commit offsets (coordinator lookups and retries included), successful or not', group, commitDurationBucketsSeconds).labels(clientId, groupId);
    this.commitFailures = set.counter(clientMetricNames.consumerCommitFailures, 'Offset commits that failed, by Kafka error name', [...group, 'error_code']);
  }

  /** The consumed counters of `topic` (the session keeps them per partition lease). */
  consumedCounters(topic: string): { records: Counter.Internal; bytes: Counter.Internal } {
    let children = this.consumedByTopic.get(topic);
    if (children === undefined) {
      children = { records: this.recordsConsumed.labels(this.clientId, this.groupId, topic), bytes: this.bytesConsumed.labels(this.clientId, this.groupId, topic) };
      children.records.inc(0);
      children.bytes.inc(0);
      this.consumedByTopic.set(topic, children);
    }
    return children;
  }

  /** The lag child of a newly assigned partition. */
  lagOf(key: string, topic: string, partition: number): LagGauge {
    const labels = { client_id: this.clientId, group_id: this.groupId, topic, partition: String(partition) };
    this.lagLabels.set(key, labels);
    return this.lag.labels(labels);
  }

  /** The partition left this consumer: its lag is no longer this consumer's to report. */
  removeLag(key: string): void {
    const labels = this.lagLabels.get(key);
    if (labels === undefined) return;
    this.lagLabels.delete(key);
    this.lag.remove(labels);
  }

  /**
   * This consumer now holds `count` partitions. Moved by the difference, not set: consumers of one group in one
   * client share the child (same client_id and group_id), and the gauge is then their sum.
   */
  assignedCount(count: number): void {
    if (count === this.assignedNow) return;
    this.assigned.inc(count - this.assignedNow);
    this.assignedNow = count;
  }

  rebalanced(durationMs: number): void {
    this.rebalances.inc();
    this.rebalanceDuration.observe(seconds(durationMs));
  }

  committed(durationMs: number, error: unknown): void {
    this.commitDuration.observe(seconds(durationMs));
    if (error === undefined) return;
    const name = errorCodeLabel(error);
    let child = this.commitFailuresByCode.get(name);
    if (child === undefined) this.commitFailuresByCode.set(name, (child = this.commitFailures.labels(this.clientId, this.groupId, name)));
    child.inc();
  }

  /** The consumer stopped: its partitions and their lag are gone. */
  close(): void {
    for (const key of [...this.lagLabels.keys()]) this.removeLag(key);
    this.assignedCount(0);
  }
}

/** A producer's metrics, or undefined without a registry. */
export async function openProducerMetrics(config: MetricsConfig | undefined, clientId: string): Promise<ProducerMetrics | undefined> {
  if (config === undefined) return undefined;
  return new ProducerMetrics(new MetricSet(await promClient(), config), clientId);
}

/** A consumer's metrics, or undefined without a registry. */
export async function openConsumerMetrics(config: MetricsConfig | undefined, clientId: string, groupId: string): Promise<ConsumerMetrics | undefined> {
  if (config === undefined) return undefined;
  return new ConsumerMetrics(new MetricSet(await promClient(), config), clientId, groupId);
}
