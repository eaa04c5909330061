/**
 * Client metrics and diagnostics channels against a real cluster (three
 * in-process brokers over ws, test/fixtures/consumer-cluster.ts). Goal: the
 * numbers an operator's dashboard reads move as the traffic does. Method:
 * produce a known number of records and consume them with a group member
 * whose client reports into one prom-client Registry, while subscribers
 * listen on the kactus:* channels; then a second member (another client id)
 * joins. Checked: records sent equals records acknowledged; every
 * partition's lag reaches 0 once the consumer has caught up and records
 * consumed equals records produced; the join counts a rebalance on the first
 * member; the channels saw the sends, requests, fetches, joins, commits and
 * handler calls with their results. Waits are hang bounds on conditions,
 * never timings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Registry } from 'prom-client';
import { Kactus, diagnosticsChannels, type Consumer } from '../client/index.ts';
import { startConsumerTestCluster, type ConsumerTestCluster } from './fixtures/consumer-cluster.ts';

const topic = 'metrics-orders';
const partitions = 3;
const recordCount = 300;
const fast = { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 300, autoOffsetReset: 'earliest' as const, fetchMaxWaitMs: 100, autoCommitIntervalMs: 200 };

let cluster: ConsumerTestCluster;
const registry = new Registry();
let first: Kactus;
let second: Kactus;

/** Every message of the tracing channel `name` by event, and of plain channels by name. */
const seen = new Map<string, unknown[]>();
const listeners: [string, (message: unknown) => void][] = [];
function listen(channel: string): void {
  const listener = (message: unknown): void => {
    const list = seen.get(channel) ?? [];
    list.push(message);
    seen.set(channel, list);
  };
  subscribe(channel, listener);
  listeners.push([channel, listener]);
}
const tracing = [diagnosticsChannels.producerSend, diagnosticsChannels.producerRequest, diagnosticsChannels.consumerFetch, diagnosticsChannels.consumerRebalance, diagnosticsChannels.consumerCommit, diagnosticsChannels.consumerProcess];

type Labels = Record<string, string | number>;
async function series(name: string): Promise<{ labels: Labels; value: number; metricName?: string }[]> {
  const metric = registry.getSingleMetric(name);
  return metric === undefined ? [] : ((await metric.get()).values as { labels: Labels; value: number; metricName?: string }[]);
}
async function valueOf(name: string, labels: Labels): Promise<number | undefined> {
  return (await series(name)).find((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === String(x)) && Object.keys(v.labels).length === Object.keys(labels).length)?.value;
}

async function waitUntil(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadlineMs) throw new Error(`still waiting after ${timeoutMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  listen(diagnosticsChannels.instances);
  listen(diagnosticsChannels.producerRetry);
  for (const name of tracing) for (const event of ['start', 'end', 'asyncStart', 'asyncEnd', 'error']) listen(`tracing:${name}:${event}`);
  cluster = await startConsumerTestCluster();
  first = new Kactus({ brokers: cluster.urls, clientId: 'metrics-a', requestTimeoutMs: 5_000, metrics: { registry } });
  second = new Kactus({ brokers: cluster.urls, clientId: 'metrics-b', requestTimeoutMs: 5_000, metrics: { registry } });
  await first.admin().createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3 }] });
}, 30_000);

afterAll(async () => {
  for (const [channel, listener] of listeners) unsubscribe(channel, listener);
  await first?.close().catch(() => undefined);
  await second?.close().catch(() => undefined);
  await cluster?.stop();
}, 30_000);

describe('client metrics on a cluster', () => {
  it('records sent = records acked; lag reaches 0 after catching up; a joining member counts a rebalance; the channels see it all', async () => {
    // ---- produce
    const producer = first.producer({ lingerMs: 2, batchSizeBytes: 2_048 });
    const messages = Array.from({ length: recordCount }, (_, i) => ({ value: `order ${i}`, partition: i % partitions }));
    const acked = (await producer.send({ topic, messages: messages.slice(0, 100) })).length + (await producer.sendBatch({ topicMessages: [{ topic, messages: messages.slice(100) }] })).length;
    expect(acked).toBe(recordCount);
    expect(await valueOf('kactus_client_producer_records_sent_total', { client_id: 'metrics-a', topic })).toBe(acked);
    expect(await valueOf('kactus_client_producer_requests_in_flight', { client_id: 'metrics-a' })).toBe(0);
    const batchRecords = await series('kactus_client_producer_batch_size_records');
    expect(batchRecords.find((v) => v.metricName === 'kactus_client_producer_batch_size_records_sum' && v.labels.client_id === 'metrics-a')?.value).toBe(recordCount);
    const produceRequests = (await series('kactus_client_request_duration_seconds')).find((v) => v.metricName === 'kactus_client_request_duration_seconds_count' && v.labels.api === 'Produce');
    expect(produceRequests?.value).toBeGreaterThanOrEqual(partitions); // one batch per request, at least one batch per partition
    const sendEnds = (seen.get(`tracing:${diagnosticsChannels.producerSend}:asyncEnd`) ?? []) as { clientId: string; recordCount: number; result?: unknown[] }[];
    expect(sendEnds.map((c) => [c.clientId, c.recordCount, c.result?.length])).toEqual([
      ['metrics-a', 100, 100],
      ['metrics-a', 200, 200],
    ]);
    const requestEnds = (seen.get(`tracing:${diagnosticsChannels.producerRequest}:asyncEnd`) ?? []) as { topic: string; recordCount: number; result?: { errorCode: number } }[];
    expect(requestEnds.filter((c) => c.topic === topic && c.result?.errorCode === 0).reduce((n, c) => n + c.recordCount, 0)).toBe(recordCount);
    await producer.close();

    // ---- consume: one member reads everything
    let handled = 0;
    const a: Consumer = first.consumer({ groupId: 'metrics-group', ...fast }).subscribe(topic);
    await a.run({ eachMessage: () => void (handled += 1) });
    const groupA = { client_id: 'metrics-a', group_id: 'metrics-group' };
    const lagOf = async (clientId: string): Promise<Map<number, number>> => new Map((await series('kactus_client_consumer_lag_records')).filter((v) => v.labels.client_id === clientId).map((v) => [Number(v.labels.partition), v.value]));
    await waitUntil(async () => handled >= recordCount, `${recordCount} records handled`);
    await waitUntil(async () => {
      const lag = await lagOf('metrics-a');
      return lag.size === partitions && [...lag.values()].every((l) => l === 0);
    }, 'every partition at lag 0');
    expect(await valueOf('kactus_client_consumer_records_consumed_total', { ...groupA, topic })).toBe(recordCount);
    expect(await valueOf('kactus_client_consumer_bytes_consumed_total', { ...groupA, topic })).toBeGreaterThan(0);
    expect(await valueOf('kactus_client_consumer_assigned_partitions', groupA)).toBe(partitions);
    expect(await valueOf('kactus_client_consumer_rebalances_total', groupA)).toBe(1);
    await waitUntil(async () => ((await series('kactus_client_consumer_commit_duration_seconds')).find((v) => v.metricName?.endsWith('_count') && v.labels.client_id === 'metrics-a')?.value ?? 0) > 0, 'an auto-commit');
    const processStarts = (seen.get(`tracing:${diagnosticsChannels.consumerProcess}:start`) ?? []) as { mode: string; topic: string; offset: number }[];
    expect(processStarts.filter((c) => c.mode === 'message' && c.topic === topic)).toHaveLength(recordCount);
    const fetchEnds = (seen.get(`tracing:${diagnosticsChannels.consumerFetch}:asyncEnd`) ?? []) as { groupId: string; result?: { partitions: { recordsBytes: number }[] } }[];
    expect(fetchEnds.some((c) => c.groupId === 'metrics-group' && (c.result?.partitions.some((p) => p.recordsBytes > 0) ?? false))).toBe(true);
    const commitEnds = (seen.get(`tracing:${diagnosticsChannels.consumerCommit}:asyncEnd`) ?? []) as { groupId: string; offsets: unknown[] }[];
    expect(commitEnds.some((c) => c.groupId === 'metrics-group' && c.offsets.length > 0)).toBe(true);

    // ---- a second member joins: the first rebalances, the partitions split, lag series follow their partitions
    const b = second.consumer({ groupId: 'metrics-group', ...fast }).subscribe(topic);
    await b.run({ eachMessage: () => undefined });
    const groupB = { client_id: 'metrics-b', group_id: 'metrics-group' };
    await waitUntil(async () => ((await valueOf('kactus_client_consumer_assigned_partitions', groupA)) ?? 0) + ((await valueOf('kactus_client_consumer_assigned_partitions', groupB)) ?? 0) === partitions && ((await valueOf('kactus_client_consumer_assigned_partitions', groupB)) ?? 0) > 0, 'the partitions split between the two members');
    expect(await valueOf('kactus_client_consumer_rebalances_total', groupA)).toBeGreaterThanOrEqual(2);
    expect(await valueOf('kactus_client_consumer_rebalances_total', groupB)).toBeGreaterThanOrEqual(1);
    expect(((await series('kactus_client_consumer_rebalance_duration_seconds')).find((v) => v.metricName?.endsWith('_count') && v.labels.client_id === 'metrics-a')?.value ?? 0)).toBeGreaterThanOrEqual(2);
    await waitUntil(async () => (await lagOf('metrics-a')).size + (await lagOf('metrics-b')).size === partitions, 'one lag series per partition, at its owner');
    const rebalanceEnds = (seen.get(`tracing:${diagnosticsChannels.consumerRebalance}:asyncEnd`) ?? []) as { clientId: string; result?: { generationId: number; assigned: unknown[] } }[];
    expect(rebalanceEnds.filter((c) => c.clientId === 'metrics-a').length).toBeGreaterThanOrEqual(2);
    expect(rebalanceEnds.every((c) => c.result !== undefined && c.result.generationId >= 1)).toBe(true);

    const instances = (seen.get(diagnosticsChannels.instances) ?? []) as { type: string; clientId: string }[];
    expect(instances.map((i) => `${i.type}:${i.clientId}`)).toEqual(expect.arrayContaining(['producer:metrics-a', 'consumer:metrics-a', 'consumer:metrics-b']));

    await b.close();
    await a.close();
    // A stopped consumer reports no partitions and no lag.
    expect(await valueOf('kactus_client_consumer_assigned_partitions', groupA)).toBe(0);
    expect((await lagOf('metrics-a')).size).toBe(0);
  }, 60_000);
});
