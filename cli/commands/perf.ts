/**
 * `kactus perf produce|consume|e2e`: load tests in the manner of Kafka's
 * producer-perf-test, consumer-perf-test and end-to-end latency tools.
 *
 *   produce  N records of B bytes (random payload, optionally K distinct keys),
 *            at most --throughput records/s (-1: as fast as it goes); latency
 *            is send() to acknowledgement.
 *   consume  N records from the earliest offsets of every partition (fetch
 *            loop over the leaders, no group); latency is each fetch's round
 *            trip. Fails (exit 1) if the topic goes --timeout-ms without a
 *            record before N arrived.
 *   e2e      R records/s for S seconds, each consumed as it arrives by a
 *            reader started at the latest offsets; latency is the record's
 *            create time (set by the producer on this machine) to its arrival.
 *
 * Records go out in sends of at most perfLimits.sendRecordsMax records, with at
 * most perfLimits.inflightSendsMax sends awaiting acknowledgement: the memory
 * of a run is bounded whatever N is. A send's latency counts once per record
 * in it.
 */
import { randomBytes } from 'node:crypto';
import type { ProducerMessage } from '../../client/producer/producer.ts';
import { UsageError } from '../output.ts';
import { compressionFlag, integerFlag, withClient } from '../common.ts';
import type { CommandSpec, OptionSpec, Parsed } from '../parser.ts';
import { FetchReader } from '../fetch-reader.ts';
import { LatencyHistogram, Progress, perfResult, printPerf } from '../perf-report.ts';

export const perfLimits = {
  /** Records in one send() call. */
  sendRecordsMax: 500,
  /** Sends awaiting acknowledgement at once. */
  inflightSendsMax: 64,
  /** Records one run may ask for. */
  recordsMax: 1_000_000_000,
  /** Bytes of one record's value. */
  recordBytesMax: 1024 * 1024,
  /** Longest e2e run. */
  secondsMax: 3_600,
  /** Consume: silence after which a run that has not got its records fails. */
  idleTimeoutMsDefault: 30_000,
} as const;

function acksFlag(value: unknown): 'all' | 0 | 1 {
  const text = String(value ?? 'all');
  if (text === 'all' || text === '-1') return 'all';
  if (text === '1') return 1;
  if (text === '0') return 0;
  throw new UsageError(`--acks must be all, 1 or 0, got "${text}"`);
}

function topicFlag(parsed: Parsed): string {
  const topic = parsed.values.topic;
  if (typeof topic !== 'string' || topic.length === 0) throw new UsageError('--topic is required');
  return topic;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `total` records through `makeBatch`, paced to `ratePerSec` (-1: unpaced); bounded in flight. */
async function sendAll(
  producer: { send(record: { topic: string; messages: ProducerMessage[] }): Promise<unknown> },
  topic: string,
  total: number,
  ratePerSec: number,
  makeBatch: (first: number, count: number) => ProducerMessage[],
  onAcked: (count: number, latencyMs: number) => void,
): Promise<void> {
  const inflight = new Set<Promise<void>>();
  let failure: Error | undefined;
  const startedMs = performance.now();
  // Paced runs send small sends often (one per ~10 ms of records), so latency is not inflated by batching in the tool.
  const chunk = ratePerSec > 0 ? Math.max(1, Math.min(perfLimits.sendRecordsMax, Math.floor(ratePerSec / 100))) : perfLimits.sendRecordsMax;
  for (let sent = 0; sent < total && failure === undefined; ) {
    const count = Math.min(chunk, total - sent);
    if (ratePerSec > 0) {
      const dueMs = startedMs + (sent / ratePerSec) * 1000;
      const aheadMs = dueMs - performance.now();
      if (aheadMs > 1) await sleep(aheadMs);
    }
    const messages = makeBatch(sent, count);
    const sentAtMs = performance.now();
    const send = producer.send({ topic, messages }).then(
      () => onAcked(count, performance.now() - sentAtMs),
      (err: Error) => {
        failure ??= err;
      },
    );
    inflight.add(send);
    void send.finally(() => inflight.delete(send));
    sent += count;
    if (inflight.size >= perfLimits.inflightSendsMax) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (failure) throw failure;
}

async function perfProduce(parsed: Parsed): Promise<number> {
  const v = parsed.values;
  const topic = topicFlag(parsed);
  const records = integerFlag(v.records, 'records', 1, perfLimits.recordsMax);
  const recordSize = integerFlag(v['record-size'], 'record-size', 0, perfLimits.recordBytesMax);
  const throughput = integerFlag(v.throughput, 'throughput', -1, 1_000_000_000, -1);
  if (throughput === 0) throw new UsageError('--throughput must be positive, or -1 for no limit');
  const keys = v.keys === undefined ? 0 : integerFlag(v.keys, 'keys', 1, 1_000_000_000);
  const acks = acksFlag(v.acks);
  const compression = compressionFlag(v.compression);
  return withClient(v, async (kactus) => {
    const producer = kactus.producer({ acks, lingerMs: 5, batchSizeBytes: 256 * 1024, compression });
    const payload = randomBytes(recordSize);
    const keyNames = Array.from({ length: Math.min(keys, 100_000) }, (_, i) => `key-${i}`);
    const histogram = new LatencyHistogram();
    let acked = 0;
    const progress = new Progress(records, () => acked, 'records');
    const startedMs = performance.now();
    try {
      await sendAll(
        producer,
        topic,
        records,
        throughput,
        (first, count) => Array.from({ length: count }, (_, i) => (keys > 0 ? { key: keyNames[(first + i) % keyNames.length] ?? `key-${(first + i) % keys}`, value: payload } : { value: payload })),
        (count, latencyMs) => {
          acked += count;
          histogram.record(latencyMs, count);
        },
      );
      await producer.flush();
    } finally {
      progress.stop();
    }
    const elapsedMs = performance.now() - startedMs;
    await producer.close({ timeoutMs: 5_000 });
    printPerf(perfResult('produce', topic, records, records * recordSize, elapsedMs, 'send to acknowledgement', histogram), v.json === true);
    return 0;
  });
}

async function perfConsume(parsed: Parsed): Promise<number> {
  const v = parsed.values;
  const topic = topicFlag(parsed);
  const records = integerFlag(v.records, 'records', 1, perfLimits.recordsMax);
  const idleTimeoutMs = integerFlag(v['timeout-ms'], 'timeout-ms', 1, 86_400_000, perfLimits.idleTimeoutMsDefault);
  return withClient(v, async (kactus, context) => {
    const reader = new FetchReader(context, kactus.admin(), topic, 'earliest');
    await reader.seek(await reader.partitions(), 'earliest');
    const histogram = new LatencyHistogram();
    let received = 0;
    let bytes = 0;
    const progress = new Progress(records, () => received, 'records');
    const startedMs = performance.now();
    let lastRecordAtMs = startedMs;
    try {
      while (received < records) {
        const polledMs = performance.now();
        const batch = await reader.poll();
        const nowMs = performance.now();
        histogram.record(nowMs - polledMs);
        if (batch.length === 0) {
          if (nowMs - lastRecordAtMs > idleTimeoutMs) throw new Error(`perf consume: only ${received} of ${records} records arrived; none for ${idleTimeoutMs} ms`);
          continue;
        }
        lastRecordAtMs = nowMs;
        for (const r of batch) {
          if (received >= records) break;
          received += 1;
          bytes += (r.value?.length ?? 0) + (r.key?.length ?? 0);
        }
      }
    } finally {
      progress.stop();
    }
    printPerf(perfResult('consume', topic, received, bytes, performance.now() - startedMs, 'fetch round trip', histogram), v.json === true);
    return 0;
  });
}

async function perfE2e(parsed: Parsed): Promise<number> {
  const v = parsed.values;
  const topic = topicFlag(parsed);
  const rate = integerFlag(v.rate, 'rate', 1, 10_000_000);
  const seconds = integerFlag(v.seconds, 'seconds', 1, perfLimits.secondsMax);
  const recordSize = integerFlag(v['record-size'], 'record-size', 0, perfLimits.recordBytesMax, 100);
  const total = rate * seconds;
  return withClient(v, async (kactus, context) => {
    const admin = kactus.admin();
    // The topic must exist before the reader takes the latest offsets: a send would auto-create it only after.
    const exists = (await admin.listTopics()).includes(topic);
    if (!exists) await admin.createTopics({ topics: [{ topic }] });
    const reader = new FetchReader(context, admin, topic, 'latest');
    await reader.seek(await reader.partitions(), 'latest');
    const producer = kactus.producer({ acks: acksFlag(v.acks), lingerMs: 0 });
    const payload = randomBytes(recordSize);
    const histogram = new LatencyHistogram();
    let received = 0;
    let bytes = 0;
    let producing = true;
    const progress = new Progress(total, () => received, 'records');
    const startedMs = performance.now();
    const deadlineMs = Date.now() + seconds * 1000 + perfLimits.idleTimeoutMsDefault;
    const consuming = (async () => {
      while (received < total) {
        if (!producing && Date.now() > deadlineMs) throw new Error(`perf e2e: only ${received} of ${total} records arrived within ${perfLimits.idleTimeoutMsDefault} ms of the end`);
        const batch = await reader.poll(100);
        const nowMs = Date.now();
        for (const r of batch) {
          histogram.record(Math.max(0, nowMs - r.timestamp));
          received += 1;
          bytes += r.value?.length ?? 0;
        }
      }
    })();
    try {
      await sendAll(producer, topic, total, rate, (_first, count) => Array.from({ length: count }, () => ({ value: payload, timestamp: Date.now() })), () => undefined);
      producing = false;
      await consuming;
    } finally {
      producing = false;
      progress.stop();
    }
    await producer.close({ timeoutMs: 5_000 });
    printPerf(perfResult('e2e', topic, received, bytes, performance.now() - startedMs, 'produce to consume', histogram), v.json === true);
    return 0;
  });
}

const notes = 'A progress bar while it runs (on a TTY), then records/s, MB/s and latency p50/p95/p99/p99.9\n(HDR histogram); --json prints one JSON object instead.';
const topicOption: OptionSpec = { type: 'string', value: 'T', required: true, help: 'the topic' };
const acksOption: OptionSpec = { type: 'string', value: 'ACKS', help: 'acknowledgement: all, 1 or 0', defaultHelp: 'all' };

/** `perf produce|consume|e2e` (main.ts lists them as the two-word family `perf`). */
export const perfSpecs = {
  produce: {
    name: 'produce',
    description: 'Sends N records of B bytes (random payload, optionally K distinct keys); latency is send() to acknowledgement.',
    options: {
      topic: topicOption,
      records: { type: 'string', value: 'N', required: true, help: 'records to send' },
      'record-size': { type: 'string', value: 'B', required: true, help: 'bytes of each record\'s value' },
      acks: acksOption,
      throughput: { type: 'string', value: 'R', help: 'at most R records/s; -1: as fast as it goes', defaultHelp: '-1' },
      keys: { type: 'string', value: 'K', help: 'K distinct keys, in turn (default: no key)' },
      compression: { type: 'string', value: 'C', short: 'z', choices: ['none', 'gzip', 'snappy', 'lz4', 'zstd'], help: "the producer's codec; the payload is random bytes, so this measures a codec's cost, not its ratio", defaultHelp: 'none' },
    },
    cluster: true,
    notes,
    run: perfProduce,
  },
  consume: {
    name: 'consume',
    description: 'Reads N records from the earliest offsets of every partition (no group); latency is each fetch\'s round trip.',
    options: {
      topic: topicOption,
      records: { type: 'string', value: 'N', required: true, help: 'records to read' },
      'timeout-ms': { type: 'string', value: 'T', help: `fail if no record arrives for T ms before N did`, defaultHelp: String(perfLimits.idleTimeoutMsDefault) },
    },
    cluster: true,
    notes,
    run: perfConsume,
  },
  e2e: {
    name: 'e2e',
    description: 'Sends R records/s for S seconds, each read as it arrives by a reader started at the latest offsets; latency is a record\'s create time to its arrival.',
    options: {
      topic: topicOption,
      rate: { type: 'string', value: 'R', required: true, help: 'records per second' },
      seconds: { type: 'string', value: 'S', required: true, help: 'how long to send' },
      'record-size': { type: 'string', value: 'B', help: 'bytes of each record\'s value', defaultHelp: '100' },
      acks: acksOption,
    },
    cluster: true,
    notes,
    run: perfE2e,
  },
} satisfies Record<string, CommandSpec>;
