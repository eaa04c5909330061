/**
 * The chaos workloads: what the harness does to the cluster while nemeses
 * break it, each recording every operation in the run's history.
 *
 * - `ProducerWorker`: one idempotent acks=all producer (its own Kactus
 *   client, so its own links) writing unique values `<name>-<seq>` to keyed
 *   records, paced at `ratePerSecond` with at most `inFlightPerPartitionMax`
 *   sends pending per partition (keys are drawn among those whose partition
 *   has room, so one partition that is down does not stall the others and
 *   the longest gap without acks measures the cluster, not the window). Every send is `send-invoke`, then `send-ok` (partition and
 *   offset from the broker's acknowledgement) or `send-fail`. Failures are
 *   recorded as indefinite: the client cannot tell us whether a timed-out or
 *   retried-out batch was appended, so counting any as definite would let a
 *   real anomaly pass as a "failed" write. A producer that fails for good
 *   (a non-retriable error) is replaced by a new one; each instance has its
 *   own `producerId` label, because Kafka's per-partition order holds per
 *   producer id only.
 * - `ConsumerWorker`: one member of a consumer group (earliest reset,
 *   auto-commit, read_uncommitted unless `isolation` says otherwise),
 *   recording a `read` for every record delivered and then
 *   acking it, so a committed offset never claims an undelivered record. A
 *   feed that errors is subscribed again (bounded).
 * - `OffsetsObserver`: asks the group coordinator (OffsetFetch) for the
 *   group's committed offsets every `intervalMs` and records each answer as
 *   `committed-fetch`. It, not the consumers, reports commits: the
 *   coordinator's answer is what survives failover, and a consumer's own view
 *   of "what I committed" races with rebalances.
 * - `finalRead`: the read-back of every partition after healing (history.ts
 *   convention 5), through `readPartitionData` (transaction markers skipped).
 *
 * Bounds: rates, in-flight sends, resubscriptions, producer replacements and
 * every wait are capped by the options below.
 */
import { Kactus, KactusError, type Consumer, type Producer } from '../../client/index.ts';
import { groupTransport } from '../../client/consumer/group-transport.ts';
import type { OffsetFetchReply } from '../../client/consumer/group-member.ts';
import { partitionForKey } from '../../protocol/murmur2.ts';
import { createLogger, type Logger } from '../../runtime/logger.ts';
import { seededRng, type Rng } from '../../runtime/rng.ts';
import type { Fetch, FetchReply } from '../../protocol/apis/data.ts';
import { decodeBatches } from '../../protocol/record-batch/index.ts';
import type { Isolation } from './history.ts';
import type { LiveRecorder } from './recorder.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Client logs: quiet by default (chaos makes clients complain a lot, by design). */
export function clientLogger(name: string): Logger {
  return createLogger({ client: name }, process.env.CHAOS_CLIENT_LOG_LEVEL ?? 'silent', 2);
}

export type ProducerWorkerOptions = {
  name: string;
  brokers: string[];
  topic: string;
  /** Distinct keys (spread over the partitions by murmur2). */
  keys: number;
  /** The topic's partition count, to know where a key goes (Kafka's murmur2, as the client's partitioner). */
  partitions: number;
  ratePerSecond: number;
  /** Sends pending per partition: a partition that is down must not stall the others. */
  inFlightPerPartitionMax: number;
  /** The producer's deliveryTimeoutMs: how long a send may take before it fails (indeterminate). */
  deliveryTimeoutMs: number;
  seed: number;
  recorder: LiveRecorder;
  log: (line: string) => void;
};

/** Producer replacements per worker (a producer that keeps failing for good is a finding, not a loop). */
export const producerReplacementsMax = 50;
/** Least time between two replacements of one worker's producer. */
export const producerReplaceIntervalMsMin = 2_000;

export class ProducerWorker {
  private readonly kactus: Kactus;
  private producer: Producer;
  private generation = 0;
  private seq = 0;
  private inFlight = 0;
  private readonly inFlightByPartition: number[];
  private readonly keyPartition: number[];
  private running = false;
  private loop: Promise<void> | undefined;
  private lastReplaceMs = 0;
  private readonly rng: Rng;
  readonly stats = { invoked: 0, ok: 0, failed: 0, replaced: 0 };

  constructor(private readonly options: ProducerWorkerOptions) {
    this.kactus = new Kactus({ brokers: options.brokers, clientId: `chaos-${options.name}`, requestTimeoutMs: 5_000, logger: clientLogger(options.name) });
    this.producer = this.newProducer();
    this.rng = seededRng(options.seed);
    this.inFlightByPartition = new Array<number>(options.partitions).fill(0);
    this.keyPartition = Array.from({ length: options.keys }, (_, k) => partitionForKey(Buffer.from(`k${k}`), options.partitions));
  }

  private newProducer(): Producer {
    return this.kactus.producer({ acks: 'all', idempotent: true, lingerMs: 5, requestTimeoutMs: 3_000, deliveryTimeoutMs: this.options.deliveryTimeoutMs, retryBackoffMs: 100, retryBackoffMsMax: 1_000 });
  }

  private get label(): string {
    return `${this.options.name}#${this.generation}`;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const intervalMs = 1_000 / this.options.ratePerSecond;
    const startMs = Date.now();
    let paced = 0;
    while (this.running) {
      const due = Math.floor(((Date.now() - startMs) * this.options.ratePerSecond) / 1_000);
      // After a stall (full in-flight window, a slow event loop) catch up by a few sends at most, never a burst.
      if (due - paced > 5) paced = due - 5;
      while (paced < due && this.running && !this.options.recorder.full) {
        // A key whose partition has room (a few draws); none: this tick's send is skipped.
        let key = -1;
        for (let draw = 0; draw < 8 && key < 0; draw++) {
          const k = this.rng.int(0, this.options.keys);
          if (this.inFlightByPartition[this.keyPartition[k]!]! < this.options.inFlightPerPartitionMax) key = k;
        }
        paced += 1;
        if (key >= 0) this.sendOne(key);
      }
      await sleep(Math.max(1, intervalMs));
    }
  }

  private sendOne(keyIndex: number): void {
    const { name, topic, recorder } = this.options;
    const value = `${name}-${this.seq++}`;
    const key = `k${keyIndex}`;
    const partition = this.keyPartition[keyIndex]!;
    const producer = this.producer;
    const producerId = this.label;
    recorder.add(name, { type: 'send-invoke', topic, key, value, producerId });
    this.stats.invoked += 1;
    this.inFlight += 1;
    this.inFlightByPartition[partition]! += 1;
    let sending: Promise<{ partition: number; offset: number }[]>;
    try {
      sending = producer.send({ topic, messages: [{ key, value }] });
    } catch (err) {
      sending = Promise.reject(err);
    }
    sending.then(
      (results) => {
        const result = results[0]!;
        if (result.partition !== partition) this.options.log(`${name}: key ${key} went to partition ${result.partition}, expected ${partition}`);
        recorder.add(name, { type: 'send-ok', value, topic, partition: result.partition, offset: result.offset });
        this.stats.ok += 1;
      },
      (err: unknown) => {
        const code = err instanceof KactusError ? err.code : -1;
        recorder.add(name, { type: 'send-fail', value, errorCode: code, definite: false });
        this.stats.failed += 1;
        const retriable = err instanceof KactusError && err.retriable;
        if (!retriable && producer === this.producer) this.replace(err);
      },
    ).finally(() => {
      this.inFlight -= 1;
      this.inFlightByPartition[partition]! -= 1;
    });
  }

  private replace(err: unknown): void {
    const nowMs = Date.now();
    if (this.stats.replaced >= producerReplacementsMax || nowMs - this.lastReplaceMs < producerReplaceIntervalMsMin) return;
    this.lastReplaceMs = nowMs;
    this.stats.replaced += 1;
    this.options.log(`${this.options.name}: producer ${this.label} failed for good (${String(err)}); replacing it`);
    const old = this.producer;
    this.generation += 1;
    this.producer = this.newProducer();
    void old.close({ timeoutMs: 0 }).catch(() => undefined);
  }

  /** Stops invoking; waits (at most `waitMs`) for pending sends to complete. Pending after that: indeterminate. */
  async stop(waitMs: number): Promise<void> {
    this.running = false;
    await this.loop;
    const deadline = Date.now() + waitMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(50);
  }

  async close(): Promise<void> {
    this.running = false;
    await this.kactus.close({ timeoutMs: 0 }).catch(() => undefined);
  }
}

export type ConsumerWorkerOptions = {
  name: string;
  brokers: string[];
  topic: string;
  group: string;
  recorder: LiveRecorder;
  /** Values this group has delivered (shared by the group's workers), to know when it drained. */
  seen: Set<string>;
  /** The consumer's isolation level, recorded on every read (default read_uncommitted). */
  isolation?: Isolation;
  log: (line: string) => void;
};

/** Feed resubscriptions per consumer worker. */
export const consumerResubscribesMax = 50;

export class ConsumerWorker {
  private readonly kactus: Kactus;
  private consumer: Consumer | undefined;
  private subscription: { unsubscribe(): void } | undefined;
  private stopped = false;
  readonly stats = { reads: 0, resubscribes: 0, errors: 0 };

  constructor(private readonly options: ConsumerWorkerOptions) {
    this.kactus = new Kactus({ brokers: options.brokers, clientId: `chaos-${options.name}`, requestTimeoutMs: 5_000, logger: clientLogger(options.name) });
  }

  start(): void {
    const { name, topic, group, recorder, seen } = this.options;
    const consumer = this.kactus.consumer({
      groupId: group,
      autoOffsetReset: 'earliest',
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 500,
      autoCommitIntervalMs: 1_000,
      fetchMaxWaitMs: 200,
      requestTimeoutMs: 5_000,
      maxBufferedRecords: 2_000,
      isolationLevel: this.options.isolation ?? 'read_uncommitted',
    });
    consumer.subscribe([topic]);
    this.consumer = consumer;
    this.subscription = consumer.messages$.subscribe({
      next: (record) => {
        const value = record.value === null ? '<null>' : record.value.toString();
        recorder.add(name, {
          type: 'read',
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          value,
          isolation: this.options.isolation ?? 'read_uncommitted',
          consumerGroup: group,
          generation: consumer.member()?.generationId ?? -1,
        });
        seen.add(value);
        this.stats.reads += 1;
        record.ack();
      },
      error: (err: unknown) => {
        this.stats.errors += 1;
        this.options.log(`${name}: consumer feed failed (${String(err)})`);
        if (this.stopped || this.stats.resubscribes >= consumerResubscribesMax) return;
        this.stats.resubscribes += 1;
        setTimeout(() => {
          if (!this.stopped) this.start();
        }, 1_000);
      },
    });
  }

  /** Commits what was read and leaves the group (bounded), then closes the client. */
  async close(waitMs: number): Promise<void> {
    this.stopped = true;
    this.subscription?.unsubscribe();
    await Promise.race([this.kactus.close({ timeoutMs: waitMs }).catch(() => undefined), sleep(waitMs)]);
  }
}

export type OffsetsObserverOptions = {
  brokers: string[];
  topic: string;
  partitions: number;
  group: string;
  intervalMs: number;
  recorder: LiveRecorder;
};

/** Records the group's committed offsets as the coordinator reports them (see the module comment). */
export class OffsetsObserver {
  private readonly kactus: Kactus;
  private running = false;
  private loop: Promise<void> | undefined;
  readonly stats = { fetches: 0, failures: 0 };

  constructor(private readonly options: OffsetsObserverOptions) {
    this.kactus = new Kactus({ brokers: options.brokers, clientId: 'chaos-offsets', requestTimeoutMs: 3_000, logger: clientLogger('offsets') });
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.fetchOnce();
        await sleep(this.options.intervalMs);
      }
    })();
  }

  /** One OffsetFetch; records every partition the coordinator answered without error. */
  async fetchOnce(): Promise<boolean> {
    const { topic, partitions, group, recorder } = this.options;
    try {
      const transport = groupTransport(await this.kactus.context());
      const coordinator = await transport.findCoordinator(group);
      const reply = await transport.request<OffsetFetchReply>(
        coordinator,
        { type: 'OffsetFetch', groupId: group, partitions: Array.from({ length: partitions }, (_, partition) => ({ topic, partition })) },
        3_000,
      );
      if (reply.errorCode !== 0) {
        this.stats.failures += 1;
        return false;
      }
      for (const answer of reply.offsets) {
        if (answer.errorCode !== 0 || answer.topic !== topic) continue;
        recorder.add('offsets', { type: 'committed-fetch', group, topic, partition: answer.partition, offset: answer.offset });
      }
      this.stats.fetches += 1;
      return true;
    } catch {
      this.stats.failures += 1;
      return false;
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.kactus.close({ timeoutMs: 1_000 }).catch(() => undefined);
  }
}

/**
 * Reads a partition from offset 0 to its high watermark (read_uncommitted),
 * from its leader through the client's own connection, and returns its data
 * records: records of control batches (transaction markers) are skipped, as
 * every consumer skips them, since they are not values anyone sent. (Like
 * test/client-read.ts's readPartition, which returns markers too.)
 */
export async function readPartitionData(kactus: Kactus, topic: string, partition: number): Promise<{ offset: number; value: string | null }[]> {
  const { connection, metadata } = await kactus.context();
  const out: { offset: number; value: string | null }[] = [];
  let fetchOffset = 0;
  for (let round = 0; round < 100_000; round += 1) {
    await metadata.refresh([topic]);
    const { leader } = await metadata.leaderFor(topic, partition);
    const reply = await connection.ask<Fetch, FetchReply>(
      leader,
      '/fetch',
      (replyTo) => ({
        type: 'Fetch',
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 8 << 20,
        isolationLevel: 0,
        partitions: [{ topic, partition, fetchOffset, partitionMaxBytes: 8 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }],
        replyTo,
      }),
      5_000,
    );
    const p = reply.partitions[0]!;
    if (p.errorCode !== 0) throw new Error(`fetch ${topic}-${partition} at ${fetchOffset}: error ${p.errorCode}`);
    if (p.records === null) return out;
    const decoded = decodeBatches(Buffer.from(p.records));
    if (!decoded.ok) throw new Error(decoded.message);
    const before = fetchOffset;
    for (const batch of decoded.value) {
      for (const r of batch.records) {
        if (r.offset < fetchOffset) continue;
        if (!batch.header.isControl) out.push({ offset: r.offset, value: r.value?.toString() ?? null });
        fetchOffset = r.offset + 1;
      }
      if (batch.header.lastOffset + 1 > fetchOffset) fetchOffset = batch.header.lastOffset + 1;
    }
    if (fetchOffset >= p.highWatermark) return out;
    if (fetchOffset === before) throw new Error(`fetch ${topic}-${partition} at ${fetchOffset}: no progress below the high watermark ${p.highWatermark}`);
  }
  return out;
}

/**
 * Reads every partition back from offset 0 and records one `final-read` per
 * partition. Each partition is tried up to `attemptsMax` times (a leader may
 * still be moving); a partition that cannot be read is left out (the checker
 * then reports its acked values as lost with reason `no-final-read`).
 */
export async function finalRead(options: { brokers: string[]; topic: string; partitions: number; recorder: LiveRecorder; attemptsMax?: number; log: (line: string) => void }): Promise<{ records: number; unread: number[] }> {
  const kactus = new Kactus({ brokers: options.brokers, clientId: 'chaos-final-read', requestTimeoutMs: 5_000, logger: clientLogger('final-read') });
  const attemptsMax = options.attemptsMax ?? 20;
  let total = 0;
  const unread: number[] = [];
  try {
    for (let partition = 0; partition < options.partitions; partition++) {
      let done = false;
      for (let attempt = 1; attempt <= attemptsMax && !done; attempt++) {
        try {
          const records = await readPartitionData(kactus, options.topic, partition);
          options.recorder.add('final', {
            type: 'final-read',
            topic: options.topic,
            partition,
            records: records.map((r) => ({ offset: r.offset, value: r.value ?? '<null>' })),
          });
          total += records.length;
          done = true;
        } catch (err) {
          options.log(`final read of ${options.topic}-${partition}, attempt ${attempt}: ${String(err)}`);
          await sleep(500);
        }
      }
      if (!done) unread.push(partition);
    }
  } finally {
    await kactus.close({ timeoutMs: 1_000 }).catch(() => undefined);
  }
  return { records: total, unread };
}
