/**
 * Broker metrics and probes on a real 3-broker process cluster (issue #21
 * items 1 and 4). Goal: what an operator's Prometheus and Kubernetes see is
 * true of the cluster: /metrics moves with the traffic and with failures,
 * /ready says whether a broker serves. Method: brokers with their HTTP
 * listener on free ports (read from their ready lines); /metrics read with a
 * strict text parser (support/prometheus-text.ts), never by substring; a
 * follower SIGKILLed and restarted; a fourth broker whose controller quorum
 * does not exist. Every wait is bounded (hang bounds, not speed limits).
 *
 * 1. Traffic: a produce of 10 records through the native listener counts on
 *    the leader as client Produce requests (answered and timed), 10 records
 *    in, bytes in, and the partition's offsets; a Metadata through the Kafka
 *    listener counts there; a group's committed offset shows its lag on the
 *    group's coordinator, whichever broker that is.
 * 2. A follower SIGKILLed: the leader reports the partition under-replicated
 *    and counts an ISR shrink; restarted, the partition is fully replicated
 *    again and an ISR expand is counted; the restarted broker is ready again.
 * 3. A broker that cannot reach any controller: /health 200 (alive), /ready
 *    503 naming the failed check, kactus_broker_ready 0.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus } from '../client/index.ts';
import { kafkaListenerPorts, startTestCluster, type TestBroker, type TestCluster } from './support/cluster.ts';
import { freePort, killAllChildren, startChild, untilValue } from './support/processes.ts';
import { kafkaRequest } from './support/kafka-wire.ts';
import { parsePrometheusText, sampleValue, type MetricFamily } from './support/prometheus-text.ts';

/** Hang bounds: far above what each step takes (a fence is ~1-3 s, a restart and catch-up a few s). */
const stepHangBoundMs = 30_000;

let cluster: TestCluster | undefined;
let kactus: Kactus | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  kactus = undefined;
  cluster = undefined;
});

async function scrape(broker: Pick<TestBroker, 'httpUrl'>): Promise<Map<string, MetricFamily>> {
  const response = await fetch(`${broker.httpUrl!}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return parsePrometheusText(await response.text());
}

/** Scrapes until `value` of the families is defined (bounded); returns it. */
async function untilScraped<T>(broker: TestBroker, what: string, value: (families: Map<string, MetricFamily>) => T | undefined): Promise<T> {
  return untilValue(async () => value(await scrape(broker).catch(() => new Map<string, MetricFamily>())), stepHangBoundMs, what, 100);
}

describe('broker metrics and probes (3 broker processes)', () => {
  it('count traffic, see a follower die and return, and tell ready from alive', async () => {
    cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0'], { http: true });
    for (const broker of cluster.brokers) {
      expect(broker.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${broker.httpUrl!}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok', brokerId: broker.id });
      // Registered before startTestCluster returned; unfenced and caught up within a heartbeat or two.
      await untilValue(async () => ((await fetch(`${broker.httpUrl!}/ready`)).status === 200 ? true : undefined), stepHangBoundMs, `broker ${broker.id} ready`);
    }
    kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'metrics-test', requestTimeoutMs: 10_000 });
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic: 'm', numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
    const partition = (await cluster.waitForLeaders('m', 1, 3)).partitions[0]!;
    const leader = cluster.brokers.find((b) => b.id === partition.leader)!;
    const follower = cluster.brokers.find((b) => b.id !== leader.id)!;

    // 1. Traffic.
    const before = await scrape(leader);
    const produceSeries = { listener: 'native', request: 'Produce', origin: 'client' };
    const producesBefore = sampleValue(before, 'kactus_requests_total', produceSeries) ?? 0;
    const results = await kactus.producer({ acks: 'all' }).send({ topic: 'm', messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `value-${i}` })) });
    expect(results).toHaveLength(10);
    const after = await scrape(leader);
    const produces = sampleValue(after, 'kactus_requests_total', produceSeries)!;
    expect(produces).toBeGreaterThan(producesBefore);
    // Every Produce asked was answered and timed: the histogram has one observation per request.
    expect(sampleValue(after, 'kactus_request_duration_seconds_count', produceSeries)).toBe(produces);
    expect(sampleValue(after, 'kactus_topic_records_in_total', { topic: 'm' })).toBe(10);
    expect(sampleValue(after, 'kactus_topic_bytes_in_total', { topic: 'm' })).toBeGreaterThan(10 * 'value-0'.length);
    expect(sampleValue(after, 'kactus_partition_log_end_offset', { topic: 'm', partition: '0' })).toBe(10);
    expect(sampleValue(after, 'kactus_partition_high_watermark', { topic: 'm', partition: '0' })).toBe(10);
    expect(sampleValue(after, 'kactus_partition_log_size_bytes', { topic: 'm', partition: '0' })).toBeGreaterThan(0);
    expect(sampleValue(after, 'kactus_partitions_under_replicated')).toBe(0);
    expect(sampleValue(after, 'kactus_partitions_led')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(after, 'kactus_produce_errors_total', { error: 'NOT_ENOUGH_REPLICAS' }) ?? 0).toBe(0);
    // The followers fetched the records: bytes out to followers on the leader, and their own copy's offsets.
    expect(sampleValue(after, 'kactus_topic_bytes_out_total', { topic: 'm', reader: 'follower' })).toBeGreaterThan(0);
    await untilScraped(follower, 'the follower\'s log end offset 10', (f) => (sampleValue(f, 'kactus_partition_log_end_offset', { topic: 'm', partition: '0' }) === 10 ? true : undefined));

    // The Kafka listener counts its requests per API.
    const kafkaPorts = await kafkaListenerPorts(cluster);
    await kafkaRequest('127.0.0.1', kafkaPorts.get(leader.id)!, 'Metadata', 9, { topics: null, allowAutoTopicCreation: false });
    const kafkaSeries = { listener: 'kafka', request: 'Metadata', origin: 'client' };
    const kafkaCounted = await scrape(leader);
    expect(sampleValue(kafkaCounted, 'kactus_requests_total', kafkaSeries)).toBeGreaterThanOrEqual(1);
    expect(sampleValue(kafkaCounted, 'kactus_request_duration_seconds_count', kafkaSeries)).toBeGreaterThanOrEqual(1);

    // A group's committed offset (4 of 10): its coordinator, whichever broker it is, reports a lag of 6.
    await admin.setOffsets({ groupId: 'lagging', topic: 'm', partitions: [{ partition: 0, offset: 4 }] });
    const lags = await untilValue(
      async () => {
        const found: number[] = [];
        for (const broker of cluster!.brokers) {
          const lag = sampleValue(await scrape(broker), 'kactus_consumer_group_lag_offsets', { group: 'lagging', topic: 'm', partition: '0' });
          if (lag !== undefined) found.push(lag);
        }
        return found.length > 0 ? found : undefined;
      },
      stepHangBoundMs,
      'the lag of group lagging',
      200,
    );
    expect(lags).toEqual([6]);

    // The active controller says so, once; every broker follows the metadata log.
    const scrapes = await Promise.all(cluster.brokers.map((b) => scrape(b)));
    expect(scrapes.map((s) => sampleValue(s, 'kactus_controller_active')).sort()).toEqual([0, 0, 1]);
    expect(new Set(scrapes.map((s) => sampleValue(s, 'kactus_raft_leader_id'))).size).toBe(1);
    for (const s of scrapes) {
      expect(sampleValue(s, 'kactus_broker_ready')).toBe(1);
      expect(sampleValue(s, 'kactus_metadata_offset')).toBeGreaterThan(0);
      expect(sampleValue(s, 'kactus_connections', { listener: 'native', kind: 'peer' })).toBeGreaterThanOrEqual(2);
      expect(sampleValue(s, 'kactus_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    }

    // 2. A follower SIGKILLed: under-replicated on the leader, and an ISR shrink counted.
    const shrinksBefore = sampleValue(await scrape(leader), 'kactus_isr_shrinks_total')!;
    const expandsBefore = sampleValue(await scrape(leader), 'kactus_isr_expands_total')!;
    await cluster.killBroker(follower.id);

    // 3. Meanwhile: a broker whose controller quorum does not exist is alive but not ready.
    const orphanDir = mkdtempSync(join(tmpdir(), 'kactus-metrics-orphan-'));
    dirs.push(orphanDir);
    const orphan = startChild('actors/broker-main.ts', ['--node-id', '4', '--listen', `127.0.0.1:${await freePort()}`, '--controller-quorum', `9@127.0.0.1:${await freePort()}`, '--data', orphanDir, '--set', 'http.listener=127.0.0.1:0']);
    const orphanUrl = (await orphan.waitFor('ready', stepHangBoundMs)).http as string;
    expect((await fetch(`${orphanUrl}/health`)).status).toBe(200);
    const notReady = await fetch(`${orphanUrl}/ready`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ ready: false, brokerId: 4, checks: { registered: { ok: false }, unfenced: { ok: false }, metadataCaughtUp: { ok: false } } });
    expect(sampleValue(await scrape({ httpUrl: orphanUrl }), 'kactus_broker_ready')).toBe(0);

    // m and the __consumer_offsets partitions the leader leads (the group's commit created that topic, RF 3) lost a replica.
    await untilScraped(leader, 'partitions under-replicated on the leader', (f) => (sampleValue(f, 'kactus_partitions_under_replicated')! >= 1 ? true : undefined));
    expect(sampleValue(await scrape(leader), 'kactus_isr_shrinks_total')).toBeGreaterThan(shrinksBefore);
    // ISR 2 = min.insync.replicas 2: still writable, so not under min ISR.
    expect(sampleValue(await scrape(leader), 'kactus_partitions_under_min_isr')).toBe(0);

    // Restarted: back in the ISR (an expand counted), nothing under-replicated, and ready again.
    await cluster.startBroker(follower.id);
    await untilScraped(leader, 'the partition fully replicated again', (f) => (sampleValue(f, 'kactus_partitions_under_replicated') === 0 && sampleValue(f, 'kactus_isr_expands_total')! > expandsBefore ? true : undefined));
    await untilValue(async () => ((await fetch(`${follower.httpUrl!}/ready`)).status === 200 ? true : undefined), stepHangBoundMs, `restarted broker ${follower.id} ready`);
  }, 120_000);
});
