/**
 * Client metrics on a prom-client Registry, read back the way an app's
 * /metrics would see them (registry.getSingleMetric(name).get()): the
 * sender counts acknowledged records, retries by cause, request durations
 * and errors by api, batch sizes once per batch (not per retry); failures
 * count the failed records by error; the consumer's lag series leaves with
 * its partition; consumers sharing a client add up; the `metrics` option
 * is checked like every other option, and a registry holding a different
 * metric under one of our names is refused rather than mixed up.
 */
import { describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { createLogger } from '../runtime/logger.ts';
import type { Connection } from './connection.ts';
import { Kactus } from './kactus.ts';
import type { MetadataCache } from './metadata-cache.ts';
import { openConsumerMetrics, openProducerMetrics } from './metrics.ts';
import { parseProducerOptions } from './options.ts';
import { ProducerBatch, type RecordOwner } from './producer/accumulator.ts';
import { Sender } from './producer/sender.ts';

type Labels = Record<string, string | number>;

/** The value of `name`'s series with exactly these labels (or, for a histogram, its _count / _sum); undefined when absent. */
async function valueOf(registry: Registry, name: string, labels: Labels, series?: '_count' | '_sum'): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  const { values } = await metric.get();
  const match = values.find((v) => (series === undefined || (v as { metricName?: string }).metricName === name + series) && Object.keys(labels).length === Object.keys(v.labels).filter((k) => k !== 'le').length && Object.entries(labels).every(([k, x]) => String(v.labels[k]) === String(x)));
  return match?.value;
}

/** A sender on fakes: the broker answers each Produce from `answers` in turn (then ok). */
function harness(answers: number[], config = parseProducerOptions({ acks: 'all', idempotent: false, retryBackoffMs: 0, retryBackoffMsMax: 0 })) {
  const connection = {
    isDown: () => false,
    ask: () => {
      const errorCode = answers.shift() ?? 0;
      return Promise.resolve({ type: 'ProduceReply', errorCode, errorMessage: errorCode === 0 ? null : 'refused', baseOffset: errorCode === 0 ? 0 : -1, logAppendTimeMs: -1 });
    },
  } as unknown as Connection;
  const metadata = { leaderOf: () => 1, onError: () => undefined, refresh: () => Promise.resolve() } as unknown as MetadataCache;
  return async (registry: Registry) => {
    const metrics = await openProducerMetrics({ registry, prefix: 'kactus_client_' }, 'app');
    const sender = new Sender({ connection, metadata, config, idempotence: undefined, log: createLogger({ test: 'metrics' }, 'silent'), clientId: 'app', metrics, nowMs: () => Date.now(), random: () => 0.5, onDone: () => undefined, requestProducerId: () => undefined });
    const send = (recordCount: number): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const batch = new ProducerBatch('orders', 0, 0, Date.now());
        const owner: RecordOwner = { complete: (i) => i === recordCount - 1 && resolve(undefined), fail: reject };
        for (let i = 0; i < recordCount; i += 1) batch.add({ key: null, value: Buffer.from(`v${i}`), headers: [], timestamp: Date.now() }, 20, owner, i);
        sender.enqueue([batch]);
        sender.run();
      });
    return { sender, send };
  };
}

describe('producer metrics', () => {
  it('an acknowledged batch counts its records as sent; a retry counts its cause, its request and error, and the batch size once', async () => {
    const registry = new Registry();
    const { sender, send } = await harness([ErrorCode.NOT_LEADER_OR_FOLLOWER])(registry);
    await send(5);
    expect(await valueOf(registry, 'kactus_client_producer_records_sent_total', { client_id: 'app', topic: 'orders' })).toBe(5);
    expect(await valueOf(registry, 'kactus_client_producer_retries_total', { client_id: 'app', topic: 'orders', error_code: 'NOT_LEADER_OR_FOLLOWER' })).toBe(1);
    expect(await valueOf(registry, 'kactus_client_request_duration_seconds', { client_id: 'app', api: 'Produce' }, '_count')).toBe(2);
    expect(await valueOf(registry, 'kactus_client_request_errors_total', { client_id: 'app', api: 'Produce', error_code: 'NOT_LEADER_OR_FOLLOWER' })).toBe(1);
    // Encoded once: the retry sends the same bytes.
    expect(await valueOf(registry, 'kactus_client_producer_batch_size_records', { client_id: 'app' }, '_count')).toBe(1);
    expect(await valueOf(registry, 'kactus_client_producer_batch_size_records', { client_id: 'app' }, '_sum')).toBe(5);
    expect(await valueOf(registry, 'kactus_client_producer_batch_size_bytes', { client_id: 'app' }, '_sum')).toBe(sender.stats.encodedBytes);
    expect(await valueOf(registry, 'kactus_client_producer_requests_in_flight', { client_id: 'app' })).toBe(0);
    expect(await valueOf(registry, 'kactus_client_producer_record_errors_total', { client_id: 'app', topic: 'orders', error_code: 'NOT_LEADER_OR_FOLLOWER' })).toBeUndefined();
  });

  it('a batch refused for good counts its records as failed, by error name, and none as sent', async () => {
    const registry = new Registry();
    const { send } = await harness([ErrorCode.MESSAGE_TOO_LARGE])(registry);
    await expect(send(3)).rejects.toMatchObject({ code: ErrorCode.MESSAGE_TOO_LARGE });
    expect(await valueOf(registry, 'kactus_client_producer_record_errors_total', { client_id: 'app', topic: 'orders', error_code: 'MESSAGE_TOO_LARGE' })).toBe(3);
    expect(await valueOf(registry, 'kactus_client_producer_records_sent_total', { client_id: 'app', topic: 'orders' })).toBe(0);
  });
});

describe('consumer metrics', () => {
  it("a partition's lag series exists while it is assigned; consumers sharing a client and group add their assigned counts", async () => {
    const registry = new Registry();
    const a = (await openConsumerMetrics({ registry, prefix: 'kactus_client_' }, 'app', 'billing'))!;
    const b = (await openConsumerMetrics({ registry, prefix: 'kactus_client_' }, 'app', 'billing'))!;
    const lag = a.lagOf('orders\u00000', 'orders', 0);
    lag.set(42);
    expect(await valueOf(registry, 'kactus_client_consumer_lag_records', { client_id: 'app', group_id: 'billing', topic: 'orders', partition: 0 })).toBe(42);
    a.removeLag('orders\u00000');
    expect(await valueOf(registry, 'kactus_client_consumer_lag_records', { client_id: 'app', group_id: 'billing', topic: 'orders', partition: 0 })).toBeUndefined();
    a.assignedCount(2);
    b.assignedCount(1);
    expect(await valueOf(registry, 'kactus_client_consumer_assigned_partitions', { client_id: 'app', group_id: 'billing' })).toBe(3);
    a.close();
    expect(await valueOf(registry, 'kactus_client_consumer_assigned_partitions', { client_id: 'app', group_id: 'billing' })).toBe(1);
  });

  it('commits are timed whatever their outcome; failures count by error name; rebalances count with their duration', async () => {
    const registry = new Registry();
    const m = (await openConsumerMetrics({ registry, prefix: 'app_' }, 'app', 'billing'))!;
    m.committed(12, undefined);
    m.committed(30, new KactusError(ErrorCode.REBALANCE_IN_PROGRESS));
    m.committed(30, new TypeError('a bug'));
    m.rebalanced(250);
    const group = { client_id: 'app', group_id: 'billing' };
    expect(await valueOf(registry, 'app_consumer_commit_duration_seconds', group, '_count')).toBe(3);
    expect(await valueOf(registry, 'app_consumer_commit_failures_total', { ...group, error_code: 'REBALANCE_IN_PROGRESS' })).toBe(1);
    expect(await valueOf(registry, 'app_consumer_commit_failures_total', { ...group, error_code: 'UNKNOWN_SERVER_ERROR' })).toBe(1);
    expect(await valueOf(registry, 'app_consumer_rebalances_total', group)).toBe(1);
    expect(await valueOf(registry, 'app_consumer_rebalance_duration_seconds', group, '_sum')).toBe(0.25);
  });
});

describe('the metrics option', () => {
  it('takes a prom-client Registry and an optional prefix, and refuses anything else with INVALID_CONFIG', () => {
    const registry = new Registry();
    expect(new Kactus({ brokers: ['ws://127.0.0.1:1'], metrics: { registry } }).config.metrics).toEqual({ registry, prefix: 'kactus_client_' });
    const bad = [{ registry: {} }, { registry, prefix: '9lives' }, { registry, prefix: 'a-b' }, { registry, labels: {} }, 'yes'];
    for (const metrics of bad) expect(() => new Kactus({ brokers: ['ws://127.0.0.1:1'], metrics: metrics as never }), JSON.stringify(metrics)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CONFIG }));
    const kactus = new Kactus({ brokers: ['ws://127.0.0.1:1'] });
    expect(() => kactus.producer({ metrics: { registry: 'r' as never } })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CONFIG }));
    expect(() => kactus.consumer({ groupId: 'g', metrics: { registry, prefix: 'x'.repeat(65) } })).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CONFIG }));
  });

  it('clients sharing a registry share its metrics; a different metric under one of our names is refused', async () => {
    const registry = new Registry();
    const one = await openProducerMetrics({ registry, prefix: 'kactus_client_' }, 'one');
    const two = await openProducerMetrics({ registry, prefix: 'kactus_client_' }, 'two');
    one!.sentCounter('t').inc(2);
    two!.sentCounter('t').inc(3);
    expect(await valueOf(registry, 'kactus_client_producer_records_sent_total', { client_id: 'one', topic: 't' })).toBe(2);
    expect(await valueOf(registry, 'kactus_client_producer_records_sent_total', { client_id: 'two', topic: 't' })).toBe(3);
    const taken = new Registry();
    new Counter({ name: 'kactus_client_producer_records_sent_total', help: 'not ours', labelNames: ['topic'], registers: [taken] });
    await expect(openProducerMetrics({ registry: taken, prefix: 'kactus_client_' }, 'app')).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG });
  });
});
