/**
 * `npm run bench:kafka [-- --records N --per-send N --in-flight N]`: the
 * Kafka listener against the native protocol, in one run on one 3-broker
 * cluster of real broker processes (bench/support/cluster.ts, each broker
 * with a Kafka listener on a free port). Owns nothing but this measurement.
 *
 * For each client, on its own topic (6 partitions, RF 3):
 *   1. produce `--records` (default 200,000) 100-byte values (no key: the
 *      clients spread them over the partitions, round-robin or sticky) with
 *      acks=all, in send() calls of `--per-send` records (default 1,000),
 *      `--in-flight` calls (default 8) outstanding at once;
 *   2. then consume them all from the earliest offset with a group consumer
 *      (a group of one), finishing each record as it arrives.
 * Clients: `platformatic-kafka` (@platformatic/kafka 1.35.0 through the
 * Kafka listener: Produce v11, Fetch v17, ...) and `kactus-native` (the
 * project's client over msgpack/WebSocket).
 *
 * The platformatic producer is not idempotent here: 1.35.0 takes each
 * partition's next sequence number when a send() is built and advances it
 * only when the answer arrives, so two idempotent sends in flight to one
 * partition carry the same sequence (the broker then answers the second as
 * a duplicate of the first and its records are lost, as Kafka would), and
 * it allows an idempotent producer one request in flight per connection.
 * Without idempotence 1.35.0 ignores the constructor's `acks` (send()
 * defaults to acks=1), so acks=all is passed to every send(); it keeps 5
 * requests in flight per connection. The native producer keeps its defaults
 * (idempotent, 5 requests in flight per broker, 5 ms linger, 16 KiB batches).
 *
 * Prints one JSON line per client:
 *   { client, records, recordsPerSec, MBps, p50Ms, p99Ms, produce, consume }
 * recordsPerSec / MBps: the whole pass, records (and value bytes, 1 MB =
 * 1e6 B) over produce seconds + consume seconds; `produce` and `consume`
 * give each phase's own rate. Consume seconds run from the first record to
 * the last (the group join before the first record is `consume.joinMs`).
 * p50Ms / p99Ms: produce ack latency per send() call (acks=all: the records
 * of the call are on every in-sync replica), from the call to its
 * resolution, so they include queueing behind the other calls in flight.
 *
 * Each phase also gives `cpuUsPerRecord`: CPU (user + system) per record of
 * this process (`client`, which is the only client running) and of the
 * three broker processes together (`brokers`, from /proc), so a gap between
 * the paths names its side.
 *
 * The platformatic run goes first, so its consumer's group join (joinMs)
 * also waits for __consumer_offsets to be created; joinMs is not in any rate.
 *
 * BENCH_CHILD_PROF=dir writes a CPU profile of each broker process there.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Consumer, MessagesStreamModes, ProduceAcks, Producer, type Message, type MessagesStream } from '@platformatic/kafka';
import { Kactus, type ConsumerRecord } from '../client/index.ts';
import { percentile } from './support/child.ts';
import { metadata, startProcessCluster, waitForLeaders, type ProcessCluster } from './support/cluster.ts';

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    'per-send': { type: 'string', default: '1000' },
    'in-flight': { type: 'string', default: '8' },
  },
});
const records = Number(args.records);
const perSend = Number(args['per-send']);
const inFlight = Number(args['in-flight']);
if (!(records > 0 && perSend > 0 && inFlight > 0)) throw new Error('--records, --per-send and --in-flight must be positive numbers');

const recordBytes = 100;
const partitions = 6;
/** Bound on each phase (produce, consume) of each client. */
const phaseTimeoutMs = 300_000;
const value = Buffer.alloc(recordBytes, 'x');

type Rate = { recordsPerSec: number; MBps: number };
type Cpu = { client: number; brokers: number };
type Phase = Rate & { seconds: number; cpuUsPerRecord: Cpu };
type Result = { client: string; totalSeconds: number; produce: Phase & { p50Ms: number; p99Ms: number; failedSends: number }; consume: Phase & { joinMs: number } };

function rate(seconds: number): Rate {
  return { recordsPerSec: Math.round(records / seconds), MBps: Number(((records * recordBytes) / 1e6 / seconds).toFixed(1)) };
}

function phase(seconds: number, cpu: Cpu): Phase {
  return { seconds: Number(seconds.toFixed(3)), ...rate(seconds), cpuUsPerRecord: { client: Number(((cpu.client * 1e6) / records).toFixed(2)), brokers: Number(((cpu.brokers * 1e6) / records).toFixed(2)) } };
}

/** CPU seconds (user + system) a process has used, from /proc (Linux; NaN elsewhere). */
function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return Number.NaN;
  }
}

let brokerPids: number[] = [];

/** CPU seconds used so far by this process and by the brokers together; subtract two readings for a phase. */
function cpuNow(): Cpu {
  const own = process.cpuUsage();
  return { client: (own.user + own.system) / 1e6, brokers: brokerPids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0) };
}

function cpuSince(start: Cpu): Cpu {
  const now = cpuNow();
  return { client: now.client - start.client, brokers: now.brokers - start.brokers };
}

/** Runs `send(count)` for `records` records in calls of `perSend`, `inFlight` calls outstanding; per-call latency in ms. */
async function produceAll(send: (count: number) => Promise<unknown>): Promise<{ seconds: number; cpu: Cpu; latenciesMs: number[]; failedSends: number }> {
  const calls = Math.ceil(records / perSend);
  const latenciesMs: number[] = [];
  let next = 0;
  let failedSends = 0;
  let firstError: unknown;
  const deadlineMs = Date.now() + phaseTimeoutMs;
  const startCpu = cpuNow();
  const startMs = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < calls && Date.now() < deadlineMs) {
        const index = next++;
        const count = Math.min(perSend, records - index * perSend);
        const t0 = performance.now();
        try {
          await send(count);
        } catch (err) {
          failedSends += 1;
          firstError ??= err;
        }
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - startMs) / 1_000;
  const cpu = cpuSince(startCpu);
  if (next < calls) throw new Error(`produced only ${next} of ${calls} sends in ${phaseTimeoutMs} ms`);
  if (failedSends > 0) process.stderr.write(`bench:kafka: ${failedSends} sends failed, first: ${String(firstError)}\n`);
  return { seconds, cpu, latenciesMs: latenciesMs.sort((a, b) => a - b), failedSends };
}

/** Counts records through `onRecord` until `records` arrived (or the phase times out); first and last arrival times. */
function consumeAll(subscribe: (onRecord: () => void, onError: (err: unknown) => void) => void): Promise<{ firstMs: number; endMs: number; cpu: Cpu }> {
  return new Promise((resolve, reject) => {
    let count = 0;
    let firstMs = 0;
    let firstCpu = cpuNow();
    const timer = setTimeout(() => reject(new Error(`consumed only ${count} of ${records} records in ${phaseTimeoutMs} ms`)), phaseTimeoutMs);
    subscribe(
      () => {
        if (count === 0) {
          firstMs = performance.now();
          firstCpu = cpuNow();
        }
        count += 1;
        if (count === records) {
          clearTimeout(timer);
          resolve({ firstMs, endMs: performance.now(), cpu: cpuSince(firstCpu) });
        }
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function result(client: string, produced: Awaited<ReturnType<typeof produceAll>>, startMs: number, consumed: Awaited<ReturnType<typeof consumeAll>>): Result {
  const consumeSeconds = (consumed.endMs - consumed.firstMs) / 1_000;
  return {
    client,
    totalSeconds: produced.seconds + consumeSeconds,
    produce: { ...phase(produced.seconds, produced.cpu), p50Ms: Number(percentile(produced.latenciesMs, 50).toFixed(2)), p99Ms: Number(percentile(produced.latenciesMs, 99).toFixed(2)), failedSends: produced.failedSends },
    consume: { ...phase(consumeSeconds, consumed.cpu), joinMs: Math.round(consumed.firstMs - startMs) },
  };
}

async function benchPlatformatic(bootstrap: string[], topic: string): Promise<Result> {
  const producer = new Producer({ clientId: 'bench-plt-producer', bootstrapBrokers: bootstrap, acks: ProduceAcks.ALL, idempotent: false, retries: 5, retryDelay: 100 });
  const messages = Array.from({ length: perSend }, () => ({ topic, value }));
  let produced;
  try {
    // acks on every send(): 1.35.0 reads the constructor's acks only for idempotent producers (others send acks=1).
    produced = await produceAll((count) => producer.send({ messages: count === perSend ? messages : messages.slice(0, count), acks: ProduceAcks.ALL }));
  } finally {
    await producer.close();
  }
  const consumer = new Consumer({ clientId: 'bench-plt-consumer', groupId: `${topic}-group`, bootstrapBrokers: bootstrap, maxWaitTime: 500, sessionTimeout: 10_000, rebalanceTimeout: 20_000, heartbeatInterval: 1_000 });
  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  try {
    const startMs = performance.now();
    stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    const s = stream;
    const consumed = await consumeAll((onRecord, onError) => {
      s.on('data', (_m: Message<Buffer, Buffer, Buffer, Buffer>) => onRecord());
      s.on('error', onError);
    });
    return result('platformatic-kafka', produced, startMs, consumed);
  } finally {
    await stream?.close().catch(() => undefined);
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
}

async function benchNative(cluster: ProcessCluster, topic: string): Promise<Result> {
  const kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'bench-native' });
  try {
    const producer = kactus.producer({ acks: -1 });
    const messages = Array.from({ length: perSend }, () => ({ value }));
    let produced;
    try {
      produced = await produceAll((count) => producer.send({ topic, messages: count === perSend ? messages : messages.slice(0, count) }));
    } finally {
      await producer.close();
    }
    const consumer = kactus.consumer({ groupId: `${topic}-group`, autoOffsetReset: 'earliest' }).subscribe(topic);
    try {
      const startMs = performance.now();
      let unsubscribe = (): void => undefined;
      const consumed = await consumeAll((onRecord, onError) => {
        const sub = consumer.messages$.subscribe({
          next: (r: ConsumerRecord) => {
            r.ack();
            onRecord();
          },
          error: onError,
        });
        unsubscribe = () => sub.unsubscribe();
      });
      unsubscribe();
      return result('kactus-native', produced, startMs, consumed);
    } finally {
      await consumer.close();
    }
  } finally {
    await kactus.close().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const cluster = await startProcessCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
  brokerPids = cluster.brokers.map((b) => b.child.pid!);
  try {
    const described = (await metadata(cluster.client, null)) as unknown as { brokers: { listeners: { name: string; host: string; port: number }[] }[] };
    const bootstrap = described.brokers.map((b) => b.listeners.find((l) => l.name === 'PLAINTEXT')!).map((l) => `${l.host}:${l.port}`);
    const topics = { kafka: 'bench-kafka-listener', native: 'bench-kafka-native' };
    for (const name of Object.values(topics)) {
      await cluster.admin({ type: 'CreateTopics', validateOnly: false, topics: [{ name, numPartitions: partitions, replicationFactor: 3, assignments: null, configs: [] }] });
      await waitForLeaders(cluster.client, name, partitions, 3);
    }
    for (const run of [() => benchPlatformatic(bootstrap, topics.kafka), () => benchNative(cluster, topics.native)]) {
      const r = await run();
      process.stdout.write(`${JSON.stringify({ client: r.client, records, ...rate(r.totalSeconds), p50Ms: r.produce.p50Ms, p99Ms: r.produce.p99Ms, produce: r.produce, consume: r.consume })}\n`);
    }
  } finally {
    await cluster.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:kafka failed: ${String(err)}\n`);
    process.exit(1);
  },
);
