/**
 * BrokerMetrics alone (no broker): what the hot-path meters add shows up in
 * the scrape under the documented names and labels, the scrape parses as
 * strict Prometheus text, metrics.enabled=false costs nothing and serves
 * nothing, and the README's metrics table lists exactly the metrics
 * registered (a metric cannot ship undocumented, nor the table drift).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { repoRoot } from '../../test/support/processes.ts';
import { parsePrometheusText, sampleValue } from '../../test/support/prometheus-text.ts';
import { BrokerMetrics, brokerMetricsLimits, metricNames, metricsPrefix } from './broker-metrics.ts';

async function scrape(metrics: BrokerMetrics): Promise<ReturnType<typeof parsePrometheusText>> {
  return parsePrometheusText(await metrics.text());
}

describe('BrokerMetrics', () => {
  it('registers every documented metric, and the README table lists exactly those', async () => {
    const families = await scrape(new BrokerMetrics({ enabled: true }));
    for (const name of metricNames) expect(families.has(`${metricsPrefix}${name}`), name).toBe(true);
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('<!-- metrics-table -->'), readme.indexOf('<!-- /metrics-table -->'));
    const documented = [...section.matchAll(/^\| `kactus_([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...metricNames].sort());
  });

  it('counts what the hot path adds: topic traffic, produce and fetch errors, ISR changes, requests and their latency', async () => {
    const metrics = new BrokerMetrics({ enabled: true });
    const meter = metrics.topic('orders');
    expect(metrics.topic('orders')).toBe(meter);
    meter.bytesIn += 1_000;
    meter.recordsIn += 10;
    metrics.produceError(ErrorCode.NOT_ENOUGH_REPLICAS);
    metrics.produceError(ErrorCode.NOT_ENOUGH_REPLICAS);
    metrics.produceError(0);
    metrics.fetchAnswered(
      {
        type: 'FetchReply',
        errorCode: 0,
        partitions: [
          { topic: 'orders', partition: 0, errorCode: 0, highWatermark: 10, lastStableOffset: 10, logStartOffset: 0, records: Buffer.alloc(300), divergingEpoch: null },
          { topic: 'orders', partition: 1, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null, divergingEpoch: null },
        ],
      },
      false,
    );
    metrics.fetchAnswered({ type: 'FetchReply', errorCode: 0, partitions: [{ topic: 'orders', partition: 0, errorCode: 0, highWatermark: 10, lastStableOffset: 10, logStartOffset: 0, records: Buffer.alloc(50), divergingEpoch: null }] }, true);
    metrics.isrChanged([1, 2, 3], [1, 3]);
    metrics.isrChanged([1, 3], [1, 3, 2]);
    metrics.isrChanged([1, 2], [1, 3]);
    const timer = metrics.requestObserver!.received('/broker', 'Produce', 'client', true)!;
    timer.answered(0.002);
    expect(metrics.requestObserver!.received('/broker', 'Produce', 'client', false)).toBeUndefined();

    const families = await scrape(metrics);
    expect(sampleValue(families, 'kactus_topic_bytes_in_total', { topic: 'orders' })).toBe(1_000);
    expect(sampleValue(families, 'kactus_topic_records_in_total', { topic: 'orders' })).toBe(10);
    expect(sampleValue(families, 'kactus_topic_bytes_out_total', { topic: 'orders', reader: 'consumer' })).toBe(300);
    expect(sampleValue(families, 'kactus_topic_bytes_out_total', { topic: 'orders', reader: 'follower' })).toBe(50);
    expect(sampleValue(families, 'kactus_produce_errors_total', { error: 'NOT_ENOUGH_REPLICAS' })).toBe(2);
    expect(sampleValue(families, 'kactus_fetch_errors_total', { error: 'NOT_LEADER_OR_FOLLOWER', reader: 'consumer' })).toBe(1);
    // A change that both removes and adds a replica is a shrink and an expand.
    expect(sampleValue(families, 'kactus_isr_shrinks_total')).toBe(2);
    expect(sampleValue(families, 'kactus_isr_expands_total')).toBe(2);
    const produce = { listener: 'native', request: 'Produce', origin: 'client' };
    expect(sampleValue(families, 'kactus_requests_total', produce)).toBe(2);
    expect(sampleValue(families, 'kactus_request_duration_seconds_count', produce)).toBe(1);
    expect(sampleValue(families, 'kactus_request_duration_seconds_bucket', { ...produce, le: '0.0025' })).toBe(1);
    expect(sampleValue(families, 'kactus_request_duration_seconds_bucket', { ...produce, le: '0.001' })).toBe(0);
  });

  it('gives topics past topicsLabelledMax one shared series, topic="*"', () => {
    const metrics = new BrokerMetrics({ enabled: true });
    for (let i = 0; i < brokerMetricsLimits.topicsLabelledMax; i += 1) metrics.topic(`t${i}`);
    expect(metrics.topic('one-too-many')).toBe(metrics.topic('another'));
    expect(metrics.topic('t0')).not.toBe(metrics.topic('another'));
  });

  it('metrics.enabled=false: no request observer, the Kafka handler untouched, one throwaway meter, an empty registry', async () => {
    const metrics = new BrokerMetrics({ enabled: false });
    expect(metrics.requestObserver).toBeUndefined();
    const handler = async (): Promise<null> => null;
    expect(metrics.instrumentKafkaHandler(handler)).toBe(handler);
    expect(metrics.topic('a')).toBe(metrics.topic('b'));
    metrics.produceError(ErrorCode.NOT_ENOUGH_REPLICAS);
    metrics.isrChanged([1, 2], [1]);
    expect((await metrics.text()).trim()).toBe('');
  });
});
