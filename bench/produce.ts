/**
 * `npm run bench:produce`: a 3-broker multi-process cluster on this machine,
 * one client node sending Produce requests of pre-encoded RecordBatch v2
 * batches (100-byte records, 64 KiB batches) with many batches in flight.
 * Prints one JSON line per configuration:
 *   { config, records, recordsPerSec, MBps, p50Ms, p99Ms }
 * for RF 3 acks=all, RF 3 acks=1 and RF 1 acks=1 (latency is per request),
 * then `rf3-acks-all-tls`: RF 3 acks=all on a second cluster whose every
 * link (client to broker, broker to broker) is TLS (certificates from
 * cli/dev-certs.ts), the cost of TLS in the same run, and
 * `rf3-acks-all-tls-scram`: the same TLS cluster with SASL required on the
 * native listener (native.client.authentication=sasl) and the authorizer on,
 * the producer a SCRAM-SHA-256 user (not a super user) with Write on the
 * topic: every request authenticated on its link and checked against the
 * ACLs. Then `metrics-cost` (issue #21 item 5): what the broker metrics cost.
 * Two 3-broker clusters run side by side, one with metrics on and its HTTP
 * listener scraped (every broker's /metrics once a second, as a busy
 * Prometheus would; 15 s is usual), one with metrics.enabled=false (the
 * hot-path counting a no-op, nothing served); RF 3 acks=all runs on each in
 * turn: first one warm-up run on each (not counted: the first runs of a
 * fresh cluster are slower, JIT and new segments), then BENCH_METRICS_ROUNDS
 * rounds (default 7) of BENCH_METRICS_RECORDS records (default 1,000,000),
 * the order swapped every round so neither always runs first. It prints each
 * run, then one line with the medians and two costs: `costPercent`, (off -
 * on) / off of the median records/s, and `pairedCostPercent`, the median over
 * rounds of the same within each round (the two runs of a round are seconds
 * apart, so a load that comes and goes on the machine touches both alike).
 * Negative: on was faster, i.e. the difference is below the noise. Last,
 * `hotPath`: the metrics' own cost measured in this process alone (ns per
 * produce request and per follower fetch answer, ms per scrape), which no
 * machine's noise blurs. BENCH_METRICS_SCRAPE_MS=0: metrics on, not scraped.
 * `BENCH_CONFIGS=a,b` runs only those.
 * The broker treats batches as opaque bytes: it validates the header and CRC
 * and writes them; it never decodes records.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDevCertificates } from '../cli/dev-certs.ts';
import { saslClientCredentials } from '../protocol/sasl/client-session.ts';
import { scramUpsertion } from '../protocol/sasl/scram.ts';
import { createLogger } from '../runtime/logger.ts';
import { Node } from '../runtime/node.ts';
import { readPemTruststore } from '../runtime/tls.ts';
import { encodeBatch } from '../protocol/record-batch/index.ts';
import type { FetchReply, Produce, ProduceReply } from '../protocol/apis/data.ts';
import { BrokerMetrics } from '../actors/metrics/broker-metrics.ts';
import { percentile } from './support/child.ts';
import { errorName } from '../protocol/errors.ts';
import { startProcessCluster, waitForLeaders, type ProcessCluster } from './support/cluster.ts';

const recordBytes = 100;
const batchBytesTarget = 64 * 1024;
const partitions = 6;
const inFlightPerPartition = Number(process.env.BENCH_INFLIGHT ?? 4);
const totalRecords = Number(process.env.BENCH_RECORDS ?? 2_000_000);

const recordsPerBatch = Math.floor(batchBytesTarget / (recordBytes + 10));
const value = Buffer.alloc(recordBytes, 'x');
const batch = encodeBatch({ records: Array.from({ length: recordsPerBatch }, () => ({ key: null, value, timestamp: Date.now() })) });

type BenchConfig = { config: string; replicationFactor: number; acks: -1 | 1 };

/** runConfig's producer: the cluster's own (peer) client, or another node (a SASL user's). */
type RunResult = { config: string; records: number; failedBatches: number; failures?: Record<string, number>; recordsPerSec: number; MBps: number; p50Ms: number; p99Ms: number };

async function runConfig(cluster: ProcessCluster, bench: BenchConfig, producer: Node = cluster.client, beforeProducing?: (topic: string) => Promise<void>): Promise<RunResult> {
  const result = await measure(cluster, bench, totalRecords, producer, beforeProducing);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return result;
}

/** One run: a topic of its own, `records` in batches, every partition's leader kept busy with inFlightPerPartition requests. */
async function measure(cluster: ProcessCluster, { config, replicationFactor, acks }: BenchConfig, recordsWanted: number, producer: Node = cluster.client, beforeProducing?: (topic: string) => Promise<void>, topic = `bench-${config}`): Promise<RunResult> {
  await cluster.admin({ type: 'CreateTopics', validateOnly: false, topics: [{ name: topic, numPartitions: partitions, replicationFactor, assignments: null, configs: [] }] });
  const described = await waitForLeaders(cluster.client, topic, partitions, replicationFactor);
  await beforeProducing?.(topic);
  const leaders = described.partitions.map((p) => p.leader);
  const batches = Math.ceil(recordsWanted / recordsPerBatch);
  const latenciesMs: number[] = [];
  let sent = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  const startMs = performance.now();
  await Promise.all(
    leaders.map(async (leader, partition) => {
      const lanes = Array.from({ length: inFlightPerPartition }, async () => {
        while (sent < batches) {
          sent += 1;
          const t0 = performance.now();
          const reply = await producer.ask<Produce, ProduceReply>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'Produce', topic, partition, acks, timeoutMs: 30_000, batch, replyTo }), { timeoutMs: 60_000 });
          latenciesMs.push(performance.now() - t0);
          if (reply.errorCode !== 0) {
            failed += 1;
            const name = errorName(reply.errorCode);
            failures[name] = (failures[name] ?? 0) + 1;
          }
        }
      });
      await Promise.all(lanes);
    }),
  );
  const seconds = (performance.now() - startMs) / 1000;
  latenciesMs.sort((a, b) => a - b);
  const records = sent * recordsPerBatch;
  return {
    config,
    records,
    failedBatches: failed,
    ...(failed > 0 ? { failures } : {}),
    recordsPerSec: Math.round(records / seconds),
    MBps: Number(((sent * batch.length) / (1024 * 1024) / seconds).toFixed(1)),
    p50Ms: Number(percentile(latenciesMs, 50).toFixed(2)),
    p99Ms: Number(percentile(latenciesMs, 99).toFixed(2)),
  };
}

/** Scrapes every broker's /metrics every `everyMs` until stopped; counts the scrapes and their failures. */
function startScraping(cluster: ProcessCluster, everyMs: number): { stop(): Promise<{ scrapes: number; failures: number }> } {
  let scrapes = 0;
  let failures = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await Promise.all(
        cluster.brokers.map(async (b) => {
          try {
            const response = await fetch(`${b.httpUrl!}/metrics`);
            await response.text();
            if (response.status === 200) scrapes += 1;
            else failures += 1;
          } catch {
            failures += 1;
          }
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { scrapes, failures };
    },
  };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/**
 * The metrics' own cost in this process, without a cluster (so without its noise): ns per produce request
 * (the native request counted and timed, the topic's bytes and records added) and per follower fetch answer
 * of 6 partitions, and ms per scrape of an idle registry. What a broker pays per request, next to the
 * microseconds a 64 KiB batch costs it.
 */
async function metricsHotPathCost(): Promise<{ produceRequestNs: number; followerFetchAnswerNs: number; scrapeMs: number }> {
  const metrics = new BrokerMetrics({ enabled: true });
  const observer = metrics.requestObserver!;
  const meter = metrics.topic('bench');
  const reply: FetchReply = { type: 'FetchReply', errorCode: 0, partitions: Array.from({ length: partitions }, (_, p) => ({ topic: 'bench', partition: p, errorCode: 0, highWatermark: 1, lastStableOffset: 1, logStartOffset: 0, records: batch, divergingEpoch: null })) };
  const calls = 1_000_000;
  const best = { produceRequestNs: Infinity, followerFetchAnswerNs: Infinity, scrapeMs: Infinity };
  for (let round = 0; round < 3; round += 1) {
    let startMs = performance.now();
    for (let i = 0; i < calls; i += 1) {
      observer.received('/broker', 'Produce', 'peer', true)!.answered(0.01);
      meter.bytesIn += batch.length;
      meter.recordsIn += recordsPerBatch;
    }
    best.produceRequestNs = Math.min(best.produceRequestNs, ((performance.now() - startMs) * 1e6) / calls);
    startMs = performance.now();
    for (let i = 0; i < calls; i += 1) {
      observer.received('/fetch', 'Fetch', 'peer', true)!.answered(0.2);
      metrics.fetchAnswered(reply, true);
    }
    best.followerFetchAnswerNs = Math.min(best.followerFetchAnswerNs, ((performance.now() - startMs) * 1e6) / calls);
    startMs = performance.now();
    for (let i = 0; i < 100; i += 1) await metrics.text();
    best.scrapeMs = Math.min(best.scrapeMs, (performance.now() - startMs) / 100);
  }
  return { produceRequestNs: Math.round(best.produceRequestNs), followerFetchAnswerNs: Math.round(best.followerFetchAnswerNs), scrapeMs: Number(best.scrapeMs.toFixed(2)) };
}

/** metrics-cost (see the header): alternating rounds on a metrics-on (scraped) and a metrics-off cluster. */
async function metricsCost(): Promise<void> {
  const rounds = Number(process.env.BENCH_METRICS_ROUNDS ?? 7);
  const records = Number(process.env.BENCH_METRICS_RECORDS ?? 1_000_000);
  // BENCH_METRICS_SCRAPE_MS=0: metrics on but never scraped (to tell the counting's cost from the scrapes').
  const scrapeEveryMs = Number(process.env.BENCH_METRICS_SCRAPE_MS ?? 1_000);
  const on = await startProcessCluster(3, ['http.listener=127.0.0.1:0']);
  const off = await startProcessCluster(3, ['metrics.enabled=false']);
  try {
    const bench: BenchConfig = { config: 'rf3-acks-all', replicationFactor: 3, acks: -1 };
    const rates = { on: [] as number[], off: [] as number[] };
    let scrapes = 0;
    let scrapeFailures = 0;
    for (const which of ['on', 'off'] as const) {
      const warm = await measure(which === 'on' ? on : off, bench, records, (which === 'on' ? on : off).client, undefined, `bench-metrics-${which}-warm-up`);
      process.stdout.write(`${JSON.stringify({ ...warm, config: `metrics-${which}-warm-up` })}\n`);
    }
    for (let round = 0; round < rounds; round += 1) {
      const order: ('on' | 'off')[] = round % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
      for (const which of order) {
        const cluster = which === 'on' ? on : off;
        const scraper = which === 'on' && scrapeEveryMs > 0 ? startScraping(on, scrapeEveryMs) : undefined;
        const result = await measure(cluster, bench, records, cluster.client, undefined, `bench-metrics-${which}-${round}`);
        const scraped = await scraper?.stop();
        scrapes += scraped?.scrapes ?? 0;
        scrapeFailures += scraped?.failures ?? 0;
        rates[which].push(result.recordsPerSec);
        process.stdout.write(`${JSON.stringify({ ...result, config: `metrics-${which}`, round, ...(scraped === undefined ? {} : { scrapes: scraped.scrapes }) })}\n`);
      }
    }
    const onMedian = median(rates.on);
    const offMedian = median(rates.off);
    process.stdout.write(
      `${JSON.stringify({
        config: 'metrics-cost',
        workload: 'rf3-acks-all',
        rounds,
        recordsPerRound: records,
        scrapeEveryMs,
        scrapes,
        scrapeFailures,
        onRecordsPerSec: Math.round(onMedian),
        offRecordsPerSec: Math.round(offMedian),
        costPercent: Number((((offMedian - onMedian) / offMedian) * 100).toFixed(2)),
        pairedCostPercent: Number(median(rates.on.map((rate, i) => ((rates.off[i]! - rate) / rates.off[i]!) * 100)).toFixed(2)),
        onRounds: rates.on,
        offRounds: rates.off,
        hotPath: await metricsHotPathCost(),
      })}\n`,
    );
  } finally {
    await on.stop();
    await off.stop();
  }
}

const only = process.env.BENCH_CONFIGS?.split(',');
const wanted = (config: string): boolean => only === undefined || only.includes(config);
const plaintext: BenchConfig[] = [
  { config: 'rf3-acks-all', replicationFactor: 3, acks: -1 },
  { config: 'rf3-acks-1', replicationFactor: 3, acks: 1 },
  { config: 'rf1-acks-1', replicationFactor: 1, acks: 1 },
].filter((c) => wanted(c.config)) as BenchConfig[];
if (plaintext.length > 0) {
  const cluster = await startProcessCluster(3);
  try {
    for (const config of plaintext) await runConfig(cluster, config);
  } finally {
    await cluster.stop();
  }
}
if (wanted('metrics-cost')) await metricsCost();
if (wanted('rf3-acks-all-tls') || wanted('rf3-acks-all-tls-scram')) {
  const certDir = mkdtempSync(join(tmpdir(), 'kactus-bench-tls-'));
  try {
    const certs = makeDevCertificates(certDir, ['broker']);
    const ca = readPemTruststore(certs.caPath);
    const tlsSettings = [`ssl.keystore.location=${certs.keystores.broker}`, `ssl.truststore.location=${certs.caPath}`];
    if (wanted('rf3-acks-all-tls')) {
      const cluster = await startProcessCluster(3, tlsSettings, { clientTls: { ca } });
      try {
        await runConfig(cluster, { config: 'rf3-acks-all-tls', replicationFactor: 3, acks: -1 });
      } finally {
        await cluster.stop();
      }
    }
    if (wanted('rf3-acks-all-tls-scram')) {
      const cluster = await startProcessCluster(3, [...tlsSettings, 'native.client.authentication=sasl', 'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer', 'super.users=User:admin'], { clientTls: { ca } });
      const password = 'bench-secret';
      await cluster.admin({ type: 'AlterUserScramCredentials', deletions: [], upsertions: [scramUpsertion('bench', 'SCRAM-SHA-256', password, 4096)] });
      const user = await Node.start({ nodeId: `bench-scram-${process.pid}`, tls: { ca }, clientCredentials: saslClientCredentials({ mechanism: 'SCRAM-SHA-256', username: 'bench', password }), logger: createLogger({ node: 'bench-scram' }, 'warn', 2) });
      try {
        await runConfig(cluster, { config: 'rf3-acks-all-tls-scram', replicationFactor: 3, acks: -1 }, user, async (topic) => {
          await cluster.admin({ type: 'CreateAcls', creations: [{ resourceType: 2, resourceName: topic, patternType: 3, principal: 'User:bench', host: '*', operation: 4, permissionType: 3 }] });
          // The user's credential and ACL reach every broker's image within a heartbeat; then link to each broker.
          await new Promise((resolve) => setTimeout(resolve, 1_500));
          for (const broker of cluster.brokers) await user.connect(broker.url);
        });
      } finally {
        await user.stop();
        await cluster.stop();
      }
    }
  } finally {
    rmSync(certDir, { recursive: true, force: true });
  }
}
