/**
 * `npm run bench:codecs`: Kafka's five codecs through a 3-broker RF 3 cluster
 * of real broker processes (bench/support/cluster.ts), acks=all, each round
 * of each codec on its own 6-partition topic.
 *
 * Records: BENCH_RECORDS (default 100,000) JSON log lines of about 135 bytes
 * (timestamps, levels, user ids, paths, statuses, latencies drawn from a
 * seeded generator: compressible as real logs are, not as runs of one byte),
 * keyed by one of 10,000 user ids. The producer runs with the defaults
 * (16 KiB batches, 5 ms linger) and BENCH_IN_FLIGHT (default 200) sends of
 * 100 records awaiting acks (20,000 records, as bench:producer keeps in
 * flight); a group of one then reads them all from the earliest offset.
 *
 * On a shared 2-core machine a single pass mostly measures what else runs
 * and how warm the four processes are, so: a warm-up round first
 * (BENCH_WARMUP_RECORDS, default 300,000, uncompressed, not reported), then
 * BENCH_ROUNDS (default 5) rounds of every codec, the order rotated each
 * round so no codec is always first, and the median of each figure.
 *
 * Prints one JSON line per codec: the compression ratio (the bytes of the
 * batches the producer encoded for `none` / for this codec in the same
 * round: the same records in batches of about the same size), produce
 * records/s (first send to last ack), consume records/s (subscribe to last
 * record, the group join included), the client process's CPU per record in
 * each phase (encode or decode included; the brokers share the same 2
 * cores), each round's rates, and the codec alone (codecAlone: records
 * encoded and decoded per CPU-second, in batches of 120 records, no
 * cluster). BENCH_CODECS (a comma list) picks codecs.
 */
import { Kactus, type ConsumerRecord, type ProducerOptions } from '../client/index.ts';
import { Compression, decodeBatch, encodeBatch } from '../protocol/record-batch/index.ts';
import { startProcessCluster } from './support/cluster.ts';

const records = Number(process.env.BENCH_RECORDS ?? 100_000);
const warmupRecords = Number(process.env.BENCH_WARMUP_RECORDS ?? 300_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const inFlightMax = Number(process.env.BENCH_IN_FLIGHT ?? 200);
const perSend = 100;
const partitions = 6;
const keyCount = 10_000;
/** Bound on waiting for the consumer to read everything. */
const readTimeoutMs = 300_000;
type Codec = NonNullable<ProducerOptions['compression']>;
const allCodecs: readonly Codec[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
/** BENCH_CODECS: which codecs (default all five); the ratio needs none among them. */
const codecs = (process.env.BENCH_CODECS?.split(',') ?? allCodecs) as Codec[];
for (const codec of codecs) if (!allCodecs.includes(codec)) throw new Error(`BENCH_CODECS: unknown codec ${codec}`);

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
const messages = Array.from({ length: Math.max(records, warmupRecords) }, (_, i) => {
  const user = Math.floor(random() * keyCount);
  const line = { ts: 1_765_000_000_000 + i * 7, level: pick(levels), user: `user-${user}`, path: `${pick(paths)}/${Math.floor(random() * 100_000)}`, status: pick(statuses), latencyMs: Math.floor(random() * 250), bytes: Math.floor(random() * 20_000) };
  return { key: `user-${user}`, value: JSON.stringify(line) };
});
const recordBytes = Math.round(messages.slice(0, records).reduce((sum, m) => sum + m.key.length + m.value.length, 0) / records);
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const cpuUs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};

/**
 * The codec alone, in this process before the cluster starts: the records encoded into and decoded from
 * batches of `recordsPerBatch` (about what fills the producer's 16 KiB), records per CPU-second of one core
 * (CPU time, not wall time, so other work on the machine counts less). Each is repeated for at least `cpuMsMin`.
 */
function codecAlone(codec: Codec): { encodeRecordsPerCoreSec: number; decodeRecordsPerCoreSec: number } {
  const recordsPerBatch = 120;
  const cpuMsMin = 500;
  const inputs = Array.from({ length: Math.ceil(records / recordsPerBatch) }, (_, b) =>
    messages.slice(b * recordsPerBatch, (b + 1) * recordsPerBatch).map((m, i) => ({ key: Buffer.from(m.key), value: Buffer.from(m.value), timestamp: 1_765_000_000_000 + i })),
  );
  const rate = (work: () => number): number => {
    const start = process.cpuUsage();
    let done = 0;
    while (cpuUs(start) < cpuMsMin * 1_000) done += work();
    return Math.round(done / (cpuUs(start) / 1e6));
  };
  const batches = inputs.map((batch) => encodeBatch({ records: batch, compression: Compression[codec] }));
  return {
    encodeRecordsPerCoreSec: rate(() => {
      let n = 0;
      for (const batch of inputs) {
        encodeBatch({ records: batch, compression: Compression[codec] });
        n += batch.length;
      }
      return n;
    }),
    decodeRecordsPerCoreSec: rate(() => batches.reduce((n, bytes) => {
      const decoded = decodeBatch(bytes);
      if (!decoded.ok) throw new Error(`${codec}: ${decoded.message}`);
      return n + decoded.value.records.length;
    }, 0)),
  };
}
codecAlone('none'); // warms the JIT up for the record encoder and decoder, so the first codec measured is not the coldest
const alone = new Map(codecs.map((codec) => [codec, codecAlone(codec)]));

const cluster = await startProcessCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
const kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'bench-codecs' });
try {
  const topicOf = (round: number, codec: Codec): string => `bench-codec-${round}-${codec}`;
  /**
   * Sends `count` of the records to a new `topic` with `codec`; then a group of one reads them all; then the topic
   * is deleted, so every round runs on a cluster of the same size (idle partitions still cost the brokers).
   */
  const measure = async (topic: string, codec: Codec, count: number) => {
    await kactus.admin().createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3 }] });
    const producer = kactus.producer({ acks: 'all', compression: codec });
    const produceCpu = process.cpuUsage();
    const produceStartMs = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    for (let sent = 0; sent < count; sent += perSend) {
      const send = producer.send({ topic, messages: messages.slice(sent, Math.min(count, sent + perSend)) });
      inFlight.add(send);
      void send.finally(() => inFlight.delete(send));
      if (inFlight.size >= inFlightMax) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const produceMs = performance.now() - produceStartMs;
    const produceCpuUs = cpuUs(produceCpu);
    const { encodedBytes, requests } = producer.stats!;
    await producer.close();

    const consumer = kactus.consumer({ groupId: `${topic}-group`, autoOffsetReset: 'earliest' }).subscribe(topic);
    const consumeCpu = process.cpuUsage();
    const consumeStartMs = performance.now();
    let read = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${codec}: read only ${read} of ${count} records in ${readTimeoutMs} ms`)), readTimeoutMs);
      const sub = consumer.messages$.subscribe({
        next: (r: ConsumerRecord) => {
          r.ack();
          read += 1;
          if (read === count) {
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
    await kactus.admin().deleteTopics({ topics: [topic] });
    return { encodedBytes, requests, produceMs, produceCpuUs, consumeMs, consumeCpuUs };
  };

  await measure('bench-codec-warmup', 'none', warmupRecords);
  const samples = new Map<Codec, (Awaited<ReturnType<typeof measure>> & { ratio: number | null })[]>(codecs.map((codec) => [codec, []]));
  for (let r = 0; r < rounds; r++) {
    const order = codecs.map((_, i) => codecs[(i + r) % codecs.length]!);
    const results = new Map<Codec, Awaited<ReturnType<typeof measure>>>();
    for (const codec of order) results.set(codec, await measure(topicOf(r, codec), codec, records));
    const noneBytes = results.get('none')?.encodedBytes;
    for (const [codec, result] of results) samples.get(codec)!.push({ ...result, ratio: noneBytes === undefined ? null : noneBytes / result.encodedBytes });
  }
  for (const codec of codecs) {
    const runs = samples.get(codec)!;
    const produceRates = runs.map((x) => Math.round(records / (x.produceMs / 1_000)));
    const consumeRates = runs.map((x) => Math.round(records / (x.consumeMs / 1_000)));
    const ratio = runs[0]!.ratio === null ? null : Number(median(runs.map((x) => x.ratio!)).toFixed(2));
    process.stdout.write(
      `${JSON.stringify({
        bench: 'codecs',
        codec,
        records,
        recordBytes,
        rounds,
        brokers: cluster.brokers.length,
        replicationFactor: 3,
        partitions,
        acks: 'all',
        meanBatchBytes: median(runs.map((x) => Math.round(x.encodedBytes / Math.max(1, x.requests)))),
        ratio,
        produceRecordsPerSec: median(produceRates),
        consumeRecordsPerSec: median(consumeRates),
        producerCpuUsPerRecord: Number(median(runs.map((x) => x.produceCpuUs / records)).toFixed(2)),
        consumerCpuUsPerRecord: Number(median(runs.map((x) => x.consumeCpuUs / records)).toFixed(2)),
        ...alone.get(codec)!,
        produceRecordsPerSecByRound: produceRates,
        consumeRecordsPerSecByRound: consumeRates,
      })}\n`,
    );
  }
} finally {
  await kactus.close().catch(() => undefined);
  await cluster.stop();
}
