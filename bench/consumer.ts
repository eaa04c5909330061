/**
 * `npm run bench:consumer`: one Kactus consumer (a group of one) against a
 * 3-broker RF 3 cluster of real broker processes (bench/support/cluster.ts).
 *
 * 1. Throughput: a 6-partition topic is pre-filled with BENCH_RECORDS
 *    (default 500,000) 100-byte records; the consumer reads them all from
 *    the earliest offset with the default prefetch bound, finishing each
 *    record as it arrives (ack in the subscriber), and commits. Measured from
 *    subscribe to the last record (the group join is included).
 * 2. End-to-end latency at a fixed moderate rate: a producer sends
 *    BENCH_RATE (default 5,000) records/s for BENCH_LATENCY_SECONDS (default
 *    8) in 10 ms ticks (lingerMs 1, acks=all); each record carries its send
 *    time as its timestamp, and the consumer (already assigned, at the end of
 *    the log) measures now - timestamp when the record reaches its
 *    subscriber. Same clock: one process. The producer's own share (send to
 *    ack, acks=all) and the consumer's (ack to delivery: negative when the
 *    consumer saw the records before the producer saw the ack) are reported
 *    beside it, so a slow end-to-end number names its side.
 *
 * Prints one JSON line: throughput records/s and MB/s (values), fetch round
 * trips, and latency p50/p99/p999 in ms.
 */
import { Kactus, type ConsumerRecord } from '../client/index.ts';
import { percentile } from './support/child.ts';
import { startProcessCluster } from './support/cluster.ts';

const recordBytes = 100;
const partitions = 6;
const records = Number(process.env.BENCH_RECORDS ?? 500_000);
const ratePerSec = Number(process.env.BENCH_RATE ?? 5_000);
const latencySeconds = Number(process.env.BENCH_LATENCY_SECONDS ?? 8);
/** Bound on waiting for the consumer to read everything. */
const readTimeoutMs = 300_000;
const tickMs = 10;

const value = Buffer.alloc(recordBytes, 'x');

async function main(): Promise<void> {
  const cluster = await startProcessCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
  const kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'bench-consumer' });
  try {
    await kactus.admin().createTopics({ topics: [{ topic: 'bench-fill', numPartitions: partitions, replicationFactor: 3 }, { topic: 'bench-latency', numPartitions: partitions, replicationFactor: 3 }] });

    // Pre-fill.
    const producer = kactus.producer({ lingerMs: 5, batchSizeBytes: 256 * 1024 });
    const perSend = 1_000;
    const inFlight: Promise<unknown>[] = [];
    for (let sent = 0; sent < records; sent += perSend) {
      inFlight.push(producer.send({ topic: 'bench-fill', messages: Array.from({ length: Math.min(perSend, records - sent) }, () => ({ value })) }));
      if (inFlight.length >= 64) await inFlight.shift();
    }
    await Promise.all(inFlight);

    // 1. Throughput.
    const consumer = kactus.consumer({ groupId: 'bench-fill-group', autoOffsetReset: 'earliest' }).subscribe('bench-fill');
    const startMs = performance.now();
    let count = 0;
    let bytes = 0;
    let endMs = 0;
    let firstMs = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read only ${count} of ${records} records in ${readTimeoutMs} ms`)), readTimeoutMs);
      const sub = consumer.messages$.subscribe({
        next: (r: ConsumerRecord) => {
          if (count === 0) firstMs = performance.now();
          bytes += r.value?.length ?? 0;
          r.ack();
          count += 1;
          if (count === records) {
            endMs = performance.now();
            clearTimeout(timer);
            sub.unsubscribe();
            resolve();
          }
        },
        error: reject,
      });
    });
    const fetchCount = consumer.stats()?.fetchCount ?? 0;
    const fetchMsMean = consumer.stats()?.fetchMsMean ?? 0;
    await consumer.close();
    // From the first record: the group join and offset lookup are reported apart.
    const seconds = (endMs - firstMs) / 1_000;
    const joinMs = Math.round(firstMs - startMs);

    // 2. Latency at a fixed rate.
    const latencyConsumer = kactus.consumer({ groupId: 'bench-latency-group', autoOffsetReset: 'latest', fetchMaxWaitMs: 500 }).subscribe('bench-latency');
    const latenciesMs: number[] = [];
    const deliveredAt: [number, number][] = [];
    const latencySub = latencyConsumer.messages$.subscribe((r: ConsumerRecord) => {
      const nowMs = Date.now();
      latenciesMs.push(nowMs - r.timestamp);
      deliveredAt.push([r.timestamp, nowMs]);
      r.ack();
    });
    const assignedDeadlineMs = Date.now() + 30_000;
    while (latencyConsumer.assignment().length < partitions || (latencyConsumer.stats()?.fetchCount ?? 0) < partitions) {
      if (Date.now() > assignedDeadlineMs) throw new Error('latency consumer not assigned within 30 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1_000)); // positions resolved to the log end
    const latencyProducer = kactus.producer({ lingerMs: 1 });
    const perTick = Math.max(1, Math.round((ratePerSec * tickMs) / 1_000));
    const ticks = Math.round((latencySeconds * 1_000) / tickMs);
    const sends: Promise<unknown>[] = [];
    const ackLatenciesMs: number[] = [];
    /** send time (the records' timestamp) -> when the producer saw the ack (the records are committed by then). */
    const ackedAt = new Map<number, number>();
    const beginMs = Date.now();
    for (let t = 0; t < ticks; t++) {
      const dueMs = beginMs + t * tickMs;
      const waitMs = dueMs - Date.now();
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      const nowMs = Date.now();
      sends.push(latencyProducer.send({ topic: 'bench-latency', messages: Array.from({ length: perTick }, () => ({ value, timestamp: nowMs })) }).then(() => {
        ackLatenciesMs.push(Date.now() - nowMs);
        ackedAt.set(nowMs, Date.now());
      }));
    }
    await Promise.all(sends);
    const expected = perTick * ticks;
    const drainDeadlineMs = Date.now() + 30_000;
    while (latenciesMs.length < expected && Date.now() < drainDeadlineMs) await new Promise((r) => setTimeout(r, 50));
    latencySub.unsubscribe();
    await latencyConsumer.close();
    await latencyProducer.close();
    await producer.close();
    const sorted = [...latenciesMs].sort((a, b) => a - b);
    const sinceAck = deliveredAt.filter(([sentMs]) => ackedAt.has(sentMs)).map(([sentMs, atMs]) => atMs - ackedAt.get(sentMs)!).sort((a, b) => a - b);

    process.stdout.write(
      `${JSON.stringify({
        bench: 'consumer',
        brokers: 3,
        replicationFactor: 3,
        partitions,
        recordBytes,
        throughput: { records: count, seconds: Number(seconds.toFixed(2)), recordsPerSec: Math.round(count / seconds), mbPerSec: Number((bytes / seconds / 1e6).toFixed(1)), fetches: fetchCount, fetchMsMean, firstRecordAfterMs: joinMs },
        latency: { ratePerSec: Math.round(expected / latencySeconds), sent: expected, received: latenciesMs.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), p999Ms: percentile(sorted, 99.9), producerAckP50Ms: percentile([...ackLatenciesMs].sort((a, b) => a - b), 50), producerAckP99Ms: percentile([...ackLatenciesMs].sort((a, b) => a - b), 99), deliveredAfterAckP50Ms: percentile(sinceAck, 50), deliveredAfterAckP99Ms: percentile(sinceAck, 99) },
      })}\n`,
    );
  } finally {
    await kactus.close().catch(() => undefined);
    await cluster.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:consumer failed: ${String(err)}\n`);
    process.exit(1);
  },
);
