/**
 * `npm run bench:codecs`: Kafka's five codecs through a 3-broker RF 3 cluster
 * of real broker processes (bench/support/cluster.ts), acks=all, one codec
 * after another on its own 6-partition topic.
 *
 * Records: BENCH_RECORDS (default 200,000) JSON log lines of about 150 bytes
 * (timestamps, levels, user ids, paths, statuses, latencies drawn from a
 * seeded generator: compressible as real logs are, not as runs of one byte),
 * keyed by one of 10,000 user ids. The producer runs with the defaults
 * (16 KiB batches, 5 ms linger) and BENCH_IN_FLIGHT (default 64) sends of
 * 100 records awaiting acks; a group of one then reads them all from the
 * earliest offset.
 *
 * Prints one JSON line per codec: the compression ratio (the bytes of the
 * batches the producer encoded for `none` / for this codec: the same records
 * in batches of about the same size), produce records/s (first send to last
 * ack), consume records/s (subscribe to last record, the group join
 * included), and the client process's CPU per record in each phase (encode or
 * decode included; the brokers share the same 2 cores).
 */
import { Kactus, type ConsumerRecord, type ProducerOptions } from '../client/index.ts';
import { startProcessCluster } from './support/cluster.ts';

const records = Number(process.env.BENCH_RECORDS ?? 200_000);
const inFlightMax = Number(process.env.BENCH_IN_FLIGHT ?? 64);
const perSend = 100;
const partitions = 6;
const keyCount = 10_000;
/** Bound on waiting for the consumer to read everything. */
const readTimeoutMs = 300_000;
const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const satisfies readonly NonNullable<ProducerOptions['compression']>[];

/** A seeded linear congruential generator (numbers in [0, 1)): the same records every run. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

const random = generator(22);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const levels = ['info', 'info', 'info', 'warn', 'error', 'debug'] as const;
const paths = ['/api/v1/orders', '/api/v1/users', '/api/v1/carts', '/health', '/api/v2/search', '/api/v1/payments'] as const;
const statuses = [200, 200, 200, 201, 204, 301, 400, 404, 500] as const;
const messages = Array.from({ length: records }, (_, i) => {
  const user = Math.floor(random() * keyCount);
  const line = { ts: 1_765_000_000_000 + i * 7, level: pick(levels), user: `user-${user}`, path: `${pick(paths)}/${Math.floor(random() * 100_000)}`, status: pick(statuses), latencyMs: Math.floor(random() * 250), bytes: Math.floor(random() * 20_000) };
  return { key: `user-${user}`, value: JSON.stringify(line) };
});
const recordBytes = Math.round(messages.reduce((sum, m) => sum + m.key.length + m.value.length, 0) / records);

const cpuUs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};

const cluster = await startProcessCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
const kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'bench-codecs' });
try {
  await kactus.admin().createTopics({ topics: codecs.map((codec) => ({ topic: `bench-codec-${codec}`, numPartitions: partitions, replicationFactor: 3 })) });
  let uncompressedBytes = 0;
  for (const codec of codecs) {
    const topic = `bench-codec-${codec}`;
    // Produce.
    const producer = kactus.producer({ acks: 'all', compression: codec });
    const produceCpu = process.cpuUsage();
    const produceStartMs = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    for (let sent = 0; sent < records; sent += perSend) {
      const send = producer.send({ topic, messages: messages.slice(sent, sent + perSend) });
      inFlight.add(send);
      void send.finally(() => inFlight.delete(send));
      if (inFlight.size >= inFlightMax) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const produceMs = performance.now() - produceStartMs;
    const produceCpuUs = cpuUs(produceCpu);
    const encodedBytes = producer.stats!.encodedBytes;
    const requests = producer.stats!.requests;
    await producer.close();
    if (codec === 'none') uncompressedBytes = encodedBytes;

    // Consume.
    const consumer = kactus.consumer({ groupId: `bench-codec-${codec}-group`, autoOffsetReset: 'earliest' }).subscribe(topic);
    const consumeCpu = process.cpuUsage();
    const consumeStartMs = performance.now();
    let count = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${codec}: read only ${count} of ${records} records in ${readTimeoutMs} ms`)), readTimeoutMs);
      const sub = consumer.messages$.subscribe({
        next: (r: ConsumerRecord) => {
          r.ack();
          count += 1;
          if (count === records) {
            clearTimeout(timer);
            sub.unsubscribe();
            resolve();
          }
        },
        error: reject,
      });
    });
    const consumeMs = performance.now() - consumeStartMs;
    const consumeCpuUs = cpuUs(consumeCpu);
    await consumer.close();

    process.stdout.write(
      `${JSON.stringify({
        bench: 'codecs',
        codec,
        records,
        recordBytes,
        brokers: cluster.brokers.length,
        replicationFactor: 3,
        partitions,
        acks: 'all',
        meanBatchBytes: Math.round(encodedBytes / Math.max(1, requests)),
        ratio: Number((uncompressedBytes / encodedBytes).toFixed(2)),
        produceRecordsPerSec: Math.round(records / (produceMs / 1_000)),
        consumeRecordsPerSec: Math.round(records / (consumeMs / 1_000)),
        producerCpuUsPerRecord: Number((produceCpuUs / records).toFixed(2)),
        consumerCpuUsPerRecord: Number((consumeCpuUs / records).toFixed(2)),
      })}\n`,
    );
  }
} finally {
  await kactus.close().catch(() => undefined);
  await cluster.stop();
}
