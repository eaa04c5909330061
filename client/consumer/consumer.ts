/**
 * `Consumer`: the public consumer of a group (issue #7).
 *
 *   const consumer = kactus.consumer({ groupId: 'billing' }).subscribe(['orders']);
 *   const sub = consumer.messages$.pipe(commitAfter((r) => handle(r))).subscribe();
 *   ...
 *   sub.unsubscribe();          // commits what finished, leaves the group
 *
 * Owns: the subscription (topic list or pattern), and one `Session` per
 * subscription of `messages$` / `batches$` (cold: subscribing joins the group
 * and starts fetching; unsubscribing stops fetching, commits the finished
 * records and leaves). A consumer is one group member, so it has at most one
 * active feed at a time; a second concurrent subscriber gets an error.
 *
 * A session wires the three parts: `GroupMember` (membership, on its own
 * timers), `Fetcher` (positions, long-poll fetches) and `OffsetCommitter`
 * (what finished, commits). Records are "fetched" (counted against
 * maxBufferedRecords / maxBufferedBytes) from the moment their fetch answer
 * arrives until they are finished (ack), revoked or lost; while the count is
 * at the bound no fetch is sent (and none until it falls to 3/4 of it, so
 * fetches stay large). So a slow subscriber slows the fetches, and
 * records parked in the subscriber's own operators (a concatMap queue) are
 * counted too: memory stays flat whatever the pipeline does.
 *
 * Delivery: per partition in offset order; partitions interleave, at most
 * `emitPerTurnMax` records per event-loop turn so timers (heartbeats) run.
 * Paused partitions keep their buffered records until resumed.
 *
 * Revocation: fetching of the partition stops and its undelivered records
 * are dropped; the session waits (at most revokeWaitMs) for its delivered
 * records to be finished, commits, then reports `revoked` on assignments$.
 * An ack after that is ignored (the next owner reads the record again).
 *
 * Keys and values are turned into the app's types by the deserializers of
 * the options (../serde.ts) when a record is delivered; one that throws ends
 * the feed at that record, before it is delivered, so nothing from it on is
 * committed.
 *
 * run() is KafkaJS's: eachMessage, or eachBatch with resolveOffset,
 * heartbeat, commitOffsetsIfNecessary, uncommittedOffsets, isRunning,
 * isStale and pause; with eachBatchAutoResolve off, records of a batch the
 * handler did not resolve are fetched again (a seek to the first of them).
 * Instrumentation events (./events.ts) come through on() and events$.
 *
 * Metrics (../metrics.ts), with a registry in this consumer's options or the
 * client's: records and bytes delivered, counted per partition per delivery
 * turn on counter children the lease holds; the assigned partition count;
 * the fetcher reports fetch durations and lag, the group member rebalances
 * and commits. run()'s handler calls go through the kactus:consumer:process
 * tracing channel when it has subscribers (../diagnostics.ts).
 *
 * Imports: rxjs, protocol/errors.ts, ../kactus.ts (types), ../topic-name.ts, ../serde.ts (types), ../metrics.ts, ../diagnostics.ts,
 * ./group-member.ts, ./group-transport.ts, ./fetcher.ts, ./offsets.ts, ./events.ts, ./types.ts.
 */
import { Observable, Subject, type Subscriber, type Subscription } from 'rxjs';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { DecodedRecord } from '../../protocol/record-batch/index.ts';
import type { ClientContext, Closeable } from '../kactus.ts';
import { checkTopicName } from '../topic-name.ts';
import type { Deserializer } from '../serde.ts';
import { openConsumerMetrics, type ConsumerMetrics } from '../metrics.ts';
import { consumerProcessChannel, nextOperationId, publishInstance, type ConsumerProcessContext } from '../diagnostics.ts';
import { ConsumerInstrumentation, consumerEvents, type ConsumerEvent, type ConsumerEventName, type RemoveListener } from './events.ts';
import { Fetcher, type FetchedChunk } from './fetcher.ts';
import { GroupMember, type GroupTransport } from './group-member.ts';
import { groupTransport, withRequestEvents } from './group-transport.ts';
import { OffsetCommitter, PartitionProgress, type OffsetToCommit } from './offsets.ts';
import { processPartitionsInParallel } from './operators.ts';
import type { ConsumerConfig } from './options.ts';
import { offsetsByTopic, tpKey, type AssignmentEvent, type ConsumerRecord, type RecordHeader, type TopicPartition } from './types.ts';

/** Records handed to the subscriber per event-loop turn (then setImmediate). */
const emitPerTurnMax = 512;
/** How often a pattern subscription is matched against the cluster's topics. */
const patternRefreshMs = 5_000;
/** Fetching resumes once fetched-and-unfinished records fall to this share of the bound. */
const refillRatio = 0.75;
/** Record size assumed before the first fetch answer (the smallest a v2 record with a tiny value takes in a batch). */
const assumedRecordBytesMin = 16;
/** Poll step while a revocation waits for delivered records to finish. */
const revokePollMs = 5;

/** A batch of one partition's records, as `batches$` and `run({ eachBatch })` get them. */
export interface ConsumerBatch<K = Buffer, V = Buffer> {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly ConsumerRecord<K, V>[];
  /** KafkaJS's name for `records`. */
  readonly messages: readonly ConsumerRecord<K, V>[];
  readonly highWatermark: number;
  /** Finishes every record of the batch. */
  ack(): void;
  isEmpty(): boolean;
  /** The first record's offset; null for an empty batch. */
  firstOffset(): number | null;
  /** The last record's offset (highWatermark - 1 for an empty batch). */
  lastOffset(): number;
  /** Records after this batch up to the high watermark. */
  offsetLag(): number;
  /** Records from this batch's first up to the high watermark. */
  offsetLagLow(): number;
  /** The partition was revoked, lost or sought since the batch was delivered: its acks are ignored. */
  isStale(): boolean;
}

/** KafkaJS's offsets shape (commitOffsetsIfNecessary, uncommittedOffsets); an offset is the next to read. */
export type TopicOffsets = { topics: { topic: string; partitions: { partition: number; offset: number | string }[] }[] };

export type EachMessagePayload<K = Buffer, V = Buffer> = { topic: string; partition: number; message: ConsumerRecord<K, V>; heartbeat(): Promise<void>; pause(): () => void };
export type EachBatchPayload<K = Buffer, V = Buffer> = {
  batch: ConsumerBatch<K, V>;
  /** Marks every record of the batch up to `offset` (inclusive) finished: committable. */
  resolveOffset(offset: number | string): void;
  /** A heartbeat if one is due, and proof of life for max.poll.interval.ms (heartbeats also run on their own timer). */
  heartbeat(): Promise<void>;
  /** No argument: commits what finished if auto-commit is on and its interval passed. With offsets: commits them now. */
  commitOffsetsIfNecessary(offsets?: TopicOffsets): Promise<void>;
  /** What finished and is not committed yet. */
  uncommittedOffsets(): TopicOffsets;
  isRunning(): boolean;
  /** The batch's partition was revoked, lost or sought: stop working on it. */
  isStale(): boolean;
  /** Pauses the batch's partition; returns a function that resumes it. */
  pause(): () => void;
};

export type RunOptions<K = Buffer, V = Buffer> = {
  eachMessage?: (payload: EachMessagePayload<K, V>) => Promise<void> | void;
  eachBatch?: (payload: EachBatchPayload<K, V>) => Promise<void> | void;
  /**
   * eachBatch: resolve every record of the batch when the handler returns (default true). Off: only what
   * resolveOffset resolved is finished, and the partition is read again from the first record not resolved.
   */
  eachBatchAutoResolve?: boolean;
  /** Partitions processed at once (order is kept within each); default 1. */
  partitionsConsumedConcurrently?: number;
  /** Called once if the run stops on an error (a handler threw, or a fatal consumer error). Default: log it. */
  onCrash?: (err: unknown) => void;
};

/** A partition's current lease: its progress and the accounting of its fetched, unfinished records. */
class Lease {
  active = true;
  pendingCount = 0;
  pendingBytes = 0;
  readonly chunks: { chunk: FetchedChunk; next: number; recordBytes: number }[] = [];
  constructor(
    readonly key: string,
    readonly topic: string,
    readonly partition: number,
    readonly progress: PartitionProgress,
    readonly fetchEpoch: number,
    readonly resetCount: number,
    /** The topic's consumed counters (metrics on), looked up once. */
    readonly consumed: { records: { inc(count: number): void }; bytes: { inc(count: number): void } } | undefined,
  ) {}
}

class Record<K, V> implements ConsumerRecord<K, V> {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly key: K | null,
    readonly value: V | null,
    readonly headers: readonly RecordHeader[],
    readonly timestamp: number,
    /** @internal */
    readonly lease: Lease,
    private readonly sizeBytes: number,
    private readonly session: Session<K, V>,
  ) {}

  ack(): void {
    this.session.finish(this.lease, this.offset, this.sizeBytes);
  }
}

class Batch<K, V> implements ConsumerBatch<K, V> {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly records: readonly Record<K, V>[],
    readonly highWatermark: number,
    private readonly lease: Lease,
  ) {}

  get messages(): readonly Record<K, V>[] {
    return this.records;
  }

  ack(): void {
    for (const r of this.records) r.ack();
  }

  isEmpty(): boolean {
    return this.records.length === 0;
  }

  firstOffset(): number | null {
    return this.records[0]?.offset ?? null;
  }

  lastOffset(): number {
    return this.records.at(-1)?.offset ?? this.highWatermark - 1;
  }

  offsetLag(): number {
    return Math.max(0, this.highWatermark - 1 - this.lastOffset());
  }

  offsetLagLow(): number {
    return Math.max(0, this.highWatermark - 1 - (this.firstOffset() ?? this.highWatermark - 1));
  }

  isStale(): boolean {
    return !this.lease.active;
  }
}

type Deliver<K, V> = { mode: 'record'; subscriber: Subscriber<ConsumerRecord<K, V>> } | { mode: 'batch'; subscriber: Subscriber<ConsumerBatch<K, V>> };

class Session<K, V> {
  readonly member: GroupMember;
  readonly fetcher: Fetcher;
  readonly committer: OffsetCommitter;
  private readonly leases = new Map<string, Lease>();
  private fetchedCount = 0;
  private fetchedBytes = 0;
  private deliveredUnfinished = 0;
  /** Moving average of fetched bytes per record (0 until the first chunk). */
  private averageRecordBytes = 0;
  private lastProgressMs = Date.now();
  private emitScheduled = false;
  private kickScheduled = false;
  private closed = false;
  private patternTimer: NodeJS.Timeout | undefined;
  private topics: string[] = [];
  private stopping: Promise<void> | undefined;

  private readonly keyDeserializer: Deserializer<unknown> | null;
  private readonly valueDeserializer: Deserializer<unknown> | null;

  constructor(
    private readonly consumer: Consumer<K, V>,
    readonly context: ClientContext,
    private readonly config: ConsumerConfig,
    private readonly deliver: Deliver<K, V>,
    transport: GroupTransport,
    private readonly events: ConsumerInstrumentation,
    private readonly metrics: ConsumerMetrics | undefined,
  ) {
    this.keyDeserializer = config.deserializers.key;
    this.valueDeserializer = config.deserializers.value;
    // Offsets committed by transactions (exactly-once): the consumer's own commits are no-ops.
    this.committer = new OffsetCommitter((offsets) => (consumer.transactionalOffsets ? Promise.resolve() : this.member.commitOffsets(offsets)), {
      autoCommit: config.autoCommit,
      autoCommitIntervalMs: config.autoCommitIntervalMs,
      onAutoCommitError: (err) => context.connection.log.warn({ err: String(err), groupId: config.groupId }, 'consumer.auto_commit_failed'),
    });
    this.fetcher = new Fetcher(
      context,
      { ...config, isolationLevel: config.isolationLevel === 'read_committed' ? 1 : 0 },
      {
        room: () => this.room(),
        sink: (chunk) => this.onChunk(chunk),
        pendingOf: (key) => this.leases.get(key)?.pendingCount ?? 0,
        onFatal: (err) => this.fail(err),
        // Per fetch: payloads are built only when someone listens.
        onFetchStart: (nodeId) => {
          if (events.wants(consumerEvents.FETCH_START)) events.emit(consumerEvents.FETCH_START, { nodeId });
        },
        onFetchEnd: (nodeId, duration, numberOfBatches, errorCode) => {
          if (errorCode === 0 && events.wants(consumerEvents.FETCH)) events.emit(consumerEvents.FETCH, { nodeId, numberOfBatches: numberOfBatches(), duration });
          if (events.wants(consumerEvents.REQUEST)) events.emit(consumerEvents.REQUEST, { broker: nodeId, apiName: 'Fetch', clientId: context.config.clientId, createdAt: Date.now() - Math.round(duration), duration, errorCode });
        },
      },
      { groupId: config.groupId, metrics },
    );
    this.member = new GroupMember(
      {
        groupId: config.groupId,
        groupInstanceId: config.groupInstanceId,
        clientId: context.config.clientId,
        sessionTimeoutMs: config.sessionTimeoutMs,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        rebalanceTimeoutMs: config.maxPollIntervalMs,
        maxPollIntervalMs: config.maxPollIntervalMs,
        requestTimeoutMs: config.requestTimeoutMs,
        assignors: config.assignors,
        retry: context.retry,
        requireStable: config.isolationLevel === 'read_committed',
      },
      withRequestEvents(transport, events, context.config.clientId, metrics),
      {
        subscribedTopics: () => this.topics,
        onAssigned: (partitions, generationId) => this.onAssigned(partitions, generationId),
        onRevoked: (partitions, generationId) => this.onRevoked(partitions, generationId, 'revoked'),
        onLost: (partitions, generationId) => this.onRevoked(partitions, generationId, 'lost'),
        stalledMs: () => (this.deliveredUnfinished > 0 && config.ackMode === 'explicit' ? Date.now() - this.lastProgressMs : 0),
        onFatal: (err) => this.fail(err),
      },
      events,
      metrics,
    );
  }

  async start(): Promise<void> {
    this.topics = await this.consumer.resolveTopics(this.context);
    if (this.closed) return;
    if (this.consumer.pattern !== null) {
      this.patternTimer = setInterval(() => {
        this.consumer.resolveTopics(this.context).then(
          (topics) => this.setTopics(topics),
          () => undefined,
        );
      }, Math.min(patternRefreshMs, this.context.config.metadataMaxAgeMs));
      this.patternTimer.unref();
    }
    this.committer.start();
    this.member.start();
  }

  /** A new subscription on the active feed: rejoin with it. */
  setTopics(topics: string[]): void {
    if (topics.join('\u0000') === this.topics.join('\u0000')) return;
    this.topics = topics;
    this.member.requestRejoin('the subscription changed');
  }

  // ------------------------------------------------------------ accounting

  /**
   * Bytes a fetch may bring: what is left of maxBufferedBytes, and of
   * maxBufferedRecords at the average record size seen so far (so the record
   * bound holds to about one batch too).
   */
  private room(): number {
    // Refill below the low-water mark only, so fetches are large rather than one batch each.
    if (this.fetchedCount > this.config.maxBufferedRecords * refillRatio) return 0;
    if (this.fetchedBytes > this.config.maxBufferedBytes * refillRatio) return 0;
    const bytesLeft = this.config.maxBufferedBytes - this.fetchedBytes;
    // Until a record size is known, assume small records so the first answer cannot overshoot the record bound much.
    if (this.averageRecordBytes === 0) return Math.min(bytesLeft, (this.config.maxBufferedRecords - this.fetchedCount) * assumedRecordBytesMin);
    return Math.min(bytesLeft, Math.ceil((this.config.maxBufferedRecords - this.fetchedCount) * this.averageRecordBytes));
  }

  finish(lease: Lease, offset: number, sizeBytes: number): void {
    if (!lease.active || !lease.progress.finish(offset, lease.resetCount)) return;
    lease.pendingCount -= 1;
    lease.pendingBytes -= sizeBytes;
    this.fetchedCount -= 1;
    this.fetchedBytes -= sizeBytes;
    this.deliveredUnfinished -= 1;
    this.lastProgressMs = Date.now();
    if (!this.kickScheduled && this.room() > 0) {
      // One kick per event-loop turn, not per ack: acks of a turn add up to one larger fetch.
      this.kickScheduled = true;
      setImmediate(() => {
        this.kickScheduled = false;
        this.fetcher.kick();
      });
    }
  }

  private release(lease: Lease): void {
    if (!lease.active) return;
    lease.active = false;
    this.fetchedCount -= lease.pendingCount;
    this.fetchedBytes -= lease.pendingBytes;
    this.deliveredUnfinished -= lease.progress.pendingCount;
    lease.pendingCount = 0;
    lease.pendingBytes = 0;
    lease.chunks.length = 0;
    this.fetcher.kick();
  }

  get stats(): { fetchedCount: number; fetchedBytes: number; deliveredUnfinished: number } {
    return { fetchedCount: this.fetchedCount, fetchedBytes: this.fetchedBytes, deliveredUnfinished: this.deliveredUnfinished };
  }

  // ------------------------------------------------------------ fetch side

  private onChunk(chunk: FetchedChunk): void {
    let lease = this.leases.get(chunk.key);
    if (lease === undefined || !lease.active || this.fetcher.epochOf(chunk.key) !== chunk.epoch) return;
    if (lease.fetchEpoch !== chunk.epoch) {
      // The fetcher reset the position by itself (OFFSET_OUT_OF_RANGE, autoOffsetReset): as after a seek,
      // the partition's progress restarts where these records do, under a new lease.
      this.release(lease);
      lease.progress.reset(chunk.records[0]?.offset ?? chunk.nextOffset);
      lease = new Lease(lease.key, lease.topic, lease.partition, lease.progress, chunk.epoch, lease.progress.resetCount, lease.consumed);
      this.leases.set(chunk.key, lease);
    }
    const recordBytes = chunk.records.length === 0 ? 0 : Math.ceil(chunk.sizeBytes / chunk.records.length);
    if (recordBytes > 0) this.averageRecordBytes = this.averageRecordBytes === 0 ? recordBytes : 0.8 * this.averageRecordBytes + 0.2 * recordBytes;
    lease.chunks.push({ chunk, next: 0, recordBytes });
    lease.pendingCount += chunk.records.length;
    lease.pendingBytes += recordBytes * chunk.records.length;
    this.fetchedCount += chunk.records.length;
    this.fetchedBytes += recordBytes * chunk.records.length;
    this.scheduleEmit();
  }

  scheduleEmit(): void {
    if (this.emitScheduled || this.closed) return;
    this.emitScheduled = true;
    setImmediate(() => {
      this.emitScheduled = false;
      this.emit();
    });
  }

  private emit(): void {
    let budget = emitPerTurnMax;
    let more = false;
    for (const lease of this.leases.values()) {
      if (this.closed) return;
      if (!lease.active || lease.chunks.length === 0 || this.fetcher.isPaused(lease.key)) continue;
      const share = Math.max(1, Math.ceil(budget / Math.max(1, this.leases.size)));
      let sent = 0;
      let sentBytes = 0;
      while (lease.active && lease.chunks.length > 0 && sent < share && budget > 0 && !this.closed && !this.fetcher.isPaused(lease.key)) {
        const head = lease.chunks[0]!;
        const { chunk } = head;
        if (head.next >= chunk.records.length) {
          lease.progress.skipTo(chunk.nextOffset);
          lease.chunks.shift();
          continue;
        }
        if (this.deliver.mode === 'batch') {
          const records: Record<K, V>[] = [];
          for (let i = head.next; i < chunk.records.length; i += 1) {
            const record = this.toRecord(lease, chunk.records[i]!, head.recordBytes);
            if (record === undefined) return;
            records.push(record);
          }
          head.next = chunk.records.length;
          for (const r of records) lease.progress.delivered(r.offset);
          if (this.deliveredUnfinished === 0) this.lastProgressMs = Date.now();
          this.deliveredUnfinished += records.length;
          sent += records.length;
          sentBytes += records.length * head.recordBytes;
          budget -= records.length;
          this.deliver.subscriber.next(new Batch(lease.topic, lease.partition, records, chunk.highWatermark, lease));
          continue;
        }
        const record = this.toRecord(lease, chunk.records[head.next]!, head.recordBytes);
        if (record === undefined) return;
        head.next += 1;
        lease.progress.delivered(record.offset);
        if (this.deliveredUnfinished === 0) this.lastProgressMs = Date.now();
        this.deliveredUnfinished += 1;
        sent += 1;
        sentBytes += head.recordBytes;
        budget -= 1;
        this.deliver.subscriber.next(record);
        if (this.config.ackMode === 'onDelivery') record.ack();
      }
      if (sent > 0 && lease.consumed !== undefined) {
        lease.consumed.records.inc(sent);
        lease.consumed.bytes.inc(sentBytes);
      }
      if (lease.chunks.length > 0 && !this.fetcher.isPaused(lease.key)) more = true;
      if (budget <= 0) break;
    }
    if (more || budget <= 0) this.scheduleEmit();
  }

  /** The record as the subscriber gets it; undefined (and the feed failed) when a deserializer threw. */
  private toRecord(lease: Lease, r: DecodedRecord, sizeBytes: number): Record<K, V> | undefined {
    let key: unknown = r.key;
    let value: unknown = r.value;
    let slot = 'key';
    try {
      if (r.key !== null && this.keyDeserializer !== null) key = this.keyDeserializer(r.key, lease.topic);
      slot = 'value';
      if (r.value !== null && this.valueDeserializer !== null) value = this.valueDeserializer(r.value, lease.topic);
    } catch (err) {
      this.fail(new KactusError(ErrorCode.INVALID_RECORD, `topic "${lease.topic}" partition ${lease.partition} offset ${r.offset}: the ${slot} deserializer failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      return undefined;
    }
    const headers = r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : Buffer.from(h.value.buffer, h.value.byteOffset, h.value.byteLength) }));
    return new Record<K, V>(lease.topic, lease.partition, r.offset, key as K | null, value as V | null, headers, r.timestamp, lease, sizeBytes, this);
  }

  /** eachBatch's heartbeat(): proof of life for the stall check, and a heartbeat if one is due. */
  heartbeat(): Promise<void> {
    this.lastProgressMs = Date.now();
    return this.member.heartbeatIfDue();
  }

  commitIfDue(): Promise<void> {
    return this.committer.commitIfDue();
  }

  commitOffsets(offsets: readonly OffsetToCommit[]): Promise<void> {
    return this.committer.commitOffsets(offsets);
  }

  uncommitted(): OffsetToCommit[] {
    return this.committer.uncommitted();
  }

  // ------------------------------------------------------------ membership callbacks

  private async onAssigned(partitions: readonly TopicPartition[], generationId: number): Promise<void> {
    let committed: Map<string, number>;
    try {
      // Retries coordinator moves and timeouts itself (bounded); what still fails ends the feed.
      committed = await this.member.fetchOffsets(partitions);
    } catch (err) {
      // Without committed offsets the consumer cannot start at the right place (at-least-once).
      this.fail(err instanceof KactusError ? err : new KactusError(ErrorCode.UNKNOWN_SERVER_ERROR, `offset fetch failed: ${String(err)}`));
      return;
    }
    if (this.closed) return;
    for (const p of partitions) {
      const key = tpKey(p.topic, p.partition);
      const offset = committed.get(key) ?? -1;
      const progress = new PartitionProgress(offset, offset);
      this.committer.add(key, progress);
      this.fetcher.assign(p.topic, p.partition, offset);
      this.leases.set(key, new Lease(key, p.topic, p.partition, progress, this.fetcher.epochOf(key)!, progress.resetCount, this.metrics?.consumedCounters(p.topic)));
    }
    this.metrics?.assignedCount(this.leases.size);
    this.consumer.emitAssignment({ type: 'assigned', partitions, generationId });
  }

  private async onRevoked(partitions: readonly TopicPartition[], generationId: number, how: 'revoked' | 'lost'): Promise<void> {
    const keys = partitions.map((p) => tpKey(p.topic, p.partition));
    for (const key of keys) {
      this.fetcher.unassign(key);
      const lease = this.leases.get(key);
      if (lease === undefined) continue;
      // Undelivered records go now; delivered ones may still finish.
      let undeliveredCount = 0;
      let undeliveredBytes = 0;
      for (const c of lease.chunks) {
        undeliveredCount += c.chunk.records.length - c.next;
        undeliveredBytes += (c.chunk.records.length - c.next) * c.recordBytes;
      }
      lease.chunks.length = 0;
      lease.pendingCount -= undeliveredCount;
      lease.pendingBytes -= undeliveredBytes;
      this.fetchedCount -= undeliveredCount;
      this.fetchedBytes -= undeliveredBytes;
    }
    if (how === 'revoked') {
      const deadlineMs = Date.now() + this.config.revokeWaitMs;
      const unfinished = (): boolean => keys.some((k) => (this.leases.get(k)?.progress.pendingCount ?? 0) > 0);
      while (!this.closed && unfinished() && Date.now() < deadlineMs) await new Promise((r) => setTimeout(r, revokePollMs));
      await this.committer.commit(keys).catch((err: unknown) => this.context.connection.log.warn({ err: String(err), groupId: this.config.groupId }, 'consumer.commit_on_revoke_failed'));
    }
    for (const key of keys) {
      const lease = this.leases.get(key);
      if (lease !== undefined) this.release(lease);
      this.leases.delete(key);
      this.committer.remove(key);
    }
    this.metrics?.assignedCount(this.leases.size);
    this.consumer.emitAssignment({ type: how, partitions, generationId });
  }

  // ------------------------------------------------------------ control

  seek(topic: string, partition: number, offset: number): void {
    const key = tpKey(topic, partition);
    const lease = this.leases.get(key);
    if (lease === undefined || !this.fetcher.isAssigned(key)) throw new KactusError(ErrorCode.INVALID_REQUEST, `seek: topic "${topic}" partition ${partition} is not assigned to this consumer`);
    this.release(lease);
    lease.progress.reset(offset);
    this.fetcher.seek(key, offset);
    this.leases.set(key, new Lease(key, topic, partition, lease.progress, this.fetcher.epochOf(key)!, lease.progress.resetCount, lease.consumed));
  }

  setPaused(partitions: readonly TopicPartition[], paused: boolean): void {
    for (const p of partitions) this.fetcher.setPaused(tpKey(p.topic, p.partition), paused);
    if (!paused) this.scheduleEmit();
  }

  assignment(): TopicPartition[] {
    return [...this.member.ownedPartitions];
  }

  commit(): Promise<void> {
    return this.committer.commit();
  }

  /** Ends the feed from our side (close()): the subscriber completes, and its teardown stops the session. */
  complete(): void {
    if (!this.closed) this.deliver.subscriber.complete();
  }

  private fail(err: KactusError): void {
    if (this.closed) return;
    // Nothing more is delivered (or, with ackMode onDelivery, finished) once the feed failed.
    this.closed = true;
    this.deliver.subscriber.error(err);
  }

  /** Stops fetching and delivering, commits what finished, leaves the group. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.closed = true;
    this.stopping = (async () => {
      if (this.patternTimer !== undefined) clearInterval(this.patternTimer);
      this.fetcher.stop();
      this.committer.stop();
      const owned = this.member.ownedPartitions;
      await this.committer.commit().catch((err: unknown) => this.context.connection.log.warn({ err: String(err), groupId: this.config.groupId }, 'consumer.final_commit_failed'));
      await this.member.stop();
      for (const lease of this.leases.values()) this.release(lease);
      this.leases.clear();
      this.metrics?.close();
      if (owned.length > 0) this.consumer.emitAssignment({ type: 'revoked', partitions: owned, generationId: this.member.generationId });
    })();
    return this.stopping;
  }
}

export class Consumer<K = Buffer, V = Buffer> implements Closeable {
  /** Records of the subscribed topics; cold (see the module comment). */
  readonly messages$: Observable<ConsumerRecord<K, V>>;
  /** Per-partition batches (one fetch answer's records of a partition); cold, like messages$. */
  readonly batches$: Observable<ConsumerBatch<K, V>>;
  /** Assignment changes of the active feed. */
  readonly assignments$: Observable<AssignmentEvent>;
  /** KafkaJS's event names, for on(): consumer.on(consumer.events.GROUP_JOIN, listener). */
  readonly events = consumerEvents;
  /** Every instrumentation event (./events.ts), as it happens. */
  readonly events$: Observable<ConsumerEvent>;
  private readonly instrumentation: ConsumerInstrumentation;
  private readonly assignmentEvents = new Subject<AssignmentEvent>();
  private topicList: string[] | null = null;
  pattern: RegExp | null = null;
  private session: Session<K, V> | undefined;
  /** A feed is subscribed (its session may still be starting). */
  private feedActive = false;
  private stopping: Promise<void> = Promise.resolve();
  private runSubscription: Subscription | undefined;
  private closed = false;
  /** Opened with the first feed (prom-client loads then), from this consumer's metrics option or the client's. */
  private metricsOpening: Promise<ConsumerMetrics | undefined> | undefined;

  constructor(
    readonly config: ConsumerConfig,
    private readonly openContext: () => Promise<ClientContext>,
    private readonly onClose: (consumer: Closeable) => void,
    /** Testing: replaces the `/groups` transport. */
    private readonly transportFor: (context: ClientContext) => GroupTransport = groupTransport,
    /** The Kactus clientId (tracing contexts; metric labels come from the context's). */
    private readonly clientId = 'kactus',
  ) {
    publishInstance({ type: 'consumer', clientId, instance: this });
    this.instrumentation = new ConsumerInstrumentation((err, type) => {
      void this.openContext().then((c) => c.connection.log.warn({ err: String(err), event: type, groupId: config.groupId }, 'consumer.event_listener_failed'), () => undefined);
    });
    this.events$ = this.instrumentation.events$;
    this.messages$ = this.feed<ConsumerRecord<K, V>>('record');
    this.batches$ = this.feed<ConsumerBatch<K, V>>('batch');
    this.assignments$ = this.assignmentEvents.asObservable();
  }

  /** Listens for one instrumentation event (KafkaJS's consumer.on); returns the function that removes the listener. */
  on<T extends ConsumerEventName>(type: T, listener: (event: ConsumerEvent<T>) => void): RemoveListener {
    return this.instrumentation.on(type, listener);
  }

  /**
   * Sets what to consume: topic names (checked now: an invalid name throws
   * INVALID_TOPIC_EXCEPTION) or a pattern matched against every non-internal
   * topic (re-matched every few seconds). Takes effect on the next feed, or
   * at once (a rejoin) on the active one.
   */
  subscribe(topics: string | readonly string[] | RegExp): this {
    if (topics instanceof RegExp) {
      this.pattern = new RegExp(topics.source, topics.flags.replace('g', '').replace('y', ''));
      this.topicList = null;
    } else {
      const list = typeof topics === 'string' ? [topics] : topics;
      if (!Array.isArray(list) || list.length === 0) throw new KactusError(ErrorCode.INVALID_TOPIC_EXCEPTION, 'subscribe() needs a topic name, a non-empty array of names, or a RegExp');
      this.topicList = [...new Set(list.map((t) => checkTopicName(t)))].sort();
      this.pattern = null;
    }
    if (this.session !== undefined) {
      const session = this.session;
      void this.resolveTopics(session.context).then((resolved) => session.setTopics(resolved), () => undefined);
    }
    return this;
  }

  /** The topics to ask for now (a pattern is matched against the cluster's topics). */
  async resolveTopics(context: ClientContext): Promise<string[]> {
    if (this.topicList !== null) return this.topicList;
    if (this.pattern === null) return [];
    const reply = await context.metadata.refresh(null);
    const pattern = this.pattern;
    return reply.topics.filter((t) => t.errorCode === 0 && !t.isInternal && !t.name.startsWith('__') && pattern.test(t.name)).map((t) => t.name).sort();
  }

  private feed<T>(mode: 'record' | 'batch'): Observable<T> {
    return new Observable<T>((subscriber) => {
      if (this.closed) {
        subscriber.error(new KactusError(ErrorCode.INVALID_REQUEST, 'the consumer is closed'));
        return;
      }
      if (this.topicList === null && this.pattern === null) {
        subscriber.error(new KactusError(ErrorCode.INVALID_REQUEST, 'call subscribe(topics) before subscribing to the feed'));
        return;
      }
      if (this.feedActive) {
        subscriber.error(new KactusError(ErrorCode.INVALID_REQUEST, `consumer of group ${this.config.groupId} already has an active feed (one group member, one feed; use share() to fan out)`));
        return;
      }
      let session: Session<K, V> | undefined;
      let cancelled = false;
      const previous = this.stopping;
      const starting = previous.then(async () => {
        if (cancelled) return;
        const context = await this.openContext();
        this.metricsOpening ??= openConsumerMetrics(this.config.metrics ?? context.config.metrics, context.config.clientId, this.config.groupId);
        const metrics = await this.metricsOpening;
        if (cancelled) return;
        session = new Session<K, V>(this, context, this.config, { mode, subscriber } as Deliver<K, V>, this.transportFor(context), this.instrumentation, metrics);
        this.session = session;
        await session.start();
      });
      this.feedActive = true;
      starting.catch((err: unknown) => subscriber.error(err));
      return () => {
        cancelled = true;
        const stop = starting.catch(() => undefined).then(() => session?.stop());
        this.stopping = stop.catch(() => undefined);
        void this.stopping.then(() => {
          if (this.session === session) this.session = undefined;
          this.feedActive = false;
        });
      };
    });
  }

  /** @internal */
  emitAssignment(event: AssignmentEvent): void {
    this.assignmentEvents.next(event);
  }

  private active(): Session<K, V> {
    if (!this.session) throw new KactusError(ErrorCode.INVALID_REQUEST, 'no active feed: subscribe to messages$ (or run()) first');
    return this.session;
  }

  /** Partitions assigned to the active feed. */
  assignment(): TopicPartition[] {
    return this.session ? this.session.assignment() : [];
  }

  /** Stops fetching and delivering these partitions (kept assigned; heartbeats go on). */
  pause(partitions: readonly TopicPartition[]): void {
    this.active().setPaused(partitions, true);
  }

  resume(partitions: readonly TopicPartition[]): void {
    this.active().setPaused(partitions, false);
  }

  /** The next record delivered from this partition will be at `offset`; committable from there. */
  seek(target: { topic: string; partition: number; offset: number }): void {
    if (!Number.isSafeInteger(target.offset) || target.offset < 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `seek: offset must be a non-negative integer, got ${String(target.offset)}`);
    this.active().seek(target.topic, target.partition, target.offset);
  }

  /** Commits every finished record now (auto-commit does the same on its interval). */
  commit(): Promise<void> {
    return this.active().commit();
  }

  /**
   * The member's identity in its group now: what a transactional producer's
   * sendOffsets takes, so the group coordinator refuses offsets from a member
   * of an older generation (a zombie after a rebalance).
   */
  groupMetadata(): { groupId: string; memberId: string; generationId: number; groupInstanceId: string | null } {
    const member = this.active().member;
    return { groupId: this.config.groupId, memberId: member.memberId, generationId: member.generationId, groupInstanceId: this.config.groupInstanceId };
  }

  /** The group's committed offsets (-1: none) of these partitions; read_committed waits for undecided transactional ones. */
  async committed(partitions: readonly TopicPartition[]): Promise<{ topic: string; partition: number; offset: number }[]> {
    const offsets = await this.active().member.fetchOffsets(partitions);
    return partitions.map((p) => ({ topic: p.topic, partition: p.partition, offset: offsets.get(tpKey(p.topic, p.partition)) ?? -1 }));
  }

  /**
   * Offsets of this consumer are committed by transactions (a transactional
   * producer's sendOffsets, as exactlyOnce() does): the consumer itself never
   * commits from now on (not on its timer, on revoke, or on stop), so it can
   * never write an offset over a transaction's. Called before the feed starts.
   */
  commitOffsetsInTransactions(): void {
    this.transactionalOffsets = true;
  }

  /** @internal */
  transactionalOffsets = false;

  /** Accounting of the active feed (tests, bench): records/bytes fetched and not yet finished. */
  stats(): { fetchedCount: number; fetchedBytes: number; deliveredUnfinished: number; fetchCount: number; fetchMsMean: number } | undefined {
    const f = this.session?.fetcher;
    return this.session && f ? { ...this.session.stats, fetchCount: f.fetchCount, fetchMsMean: f.fetchCount === 0 ? 0 : Number((f.fetchMsTotal / f.fetchCount).toFixed(2)) } : undefined;
  }

  /** The group member of the active feed (tests). */
  member(): GroupMember | undefined {
    return this.session?.member;
  }

  /**
   * KafkaJS-style: starts consuming with a handler; resolves once started.
   * Each handler call finishes its record(s) when its promise resolves, so
   * commits are at-least-once; partitions run concurrently up to
   * partitionsConsumedConcurrently, each in offset order. A handler that
   * throws stops the run (nothing after the failed record is committed; what
   * eachBatch resolved before it is).
   */
  async run(options: RunOptions<K, V>): Promise<void> {
    if (this.runSubscription !== undefined) throw new KactusError(ErrorCode.INVALID_REQUEST, 'run() is already running; stop() first');
    const concurrency = options.partitionsConsumedConcurrently ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new KactusError(ErrorCode.INVALID_CONFIG, 'partitionsConsumedConcurrently must be a positive integer');
    const autoResolve = options.eachBatchAutoResolve ?? true;
    if (typeof autoResolve !== 'boolean') throw new KactusError(ErrorCode.INVALID_CONFIG, 'eachBatchAutoResolve must be true or false');
    const onCrash = options.onCrash ?? ((err: unknown) => void this.openContext().then((c) => c.connection.log.error({ err: String(err), groupId: this.config.groupId }, 'consumer.run_crashed'), () => undefined));
    const { eachMessage, eachBatch } = options;
    if (eachMessage === undefined && eachBatch === undefined) throw new KactusError(ErrorCode.INVALID_CONFIG, 'run() needs eachMessage or eachBatch');
    const observer = {
      error: (err: unknown) => {
        this.runSubscription = undefined;
        this.instrumentation.emit(consumerEvents.CRASH, { groupId: this.config.groupId, error: err, restart: false });
        onCrash(err);
      },
    };
    const isRunning = (): boolean => this.runSubscription !== undefined;
    const pauseOf = (topic: string, partition: number) => (): (() => void) => {
      this.pause([{ topic, partition }]);
      return () => this.resume([{ topic, partition }]);
    };
    const heartbeat = (): Promise<void> => this.session?.heartbeat() ?? Promise.resolve();
    if (eachBatch !== undefined) {
      const handle = (batch: ConsumerBatch<K, V>) => this.runBatch(batch, eachBatch, autoResolve, { isRunning, heartbeat, pause: pauseOf(batch.topic, batch.partition) });
      this.runSubscription = this.batches$.pipe(processPartitionsInParallel(handle, concurrency)).subscribe(observer);
    } else {
      const handle = async (message: ConsumerRecord<K, V>) => {
        const payload = { topic: message.topic, partition: message.partition, message, heartbeat, pause: pauseOf(message.topic, message.partition) };
        if (!consumerProcessChannel.hasSubscribers) return eachMessage!(payload);
        return consumerProcessChannel.tracePromise(async () => eachMessage!(payload), this.processContext('message', message.topic, message.partition, message.offset, message));
      };
      this.runSubscription = this.messages$.pipe(processPartitionsInParallel(handle, concurrency)).subscribe(observer);
    }
  }

  /** One eachBatch call with KafkaJS's payload; see RunOptions.eachBatchAutoResolve. */
  private async runBatch(batch: ConsumerBatch<K, V>, eachBatch: NonNullable<RunOptions<K, V>['eachBatch']>, autoResolve: boolean, common: { isRunning(): boolean; heartbeat(): Promise<void>; pause(): () => void }): Promise<void> {
    // A batch queued behind an earlier one of its partition that sought back (or revoked) is not handed out.
    if (batch.isStale()) return;
    const { topic, partition } = batch;
    const records = batch.records;
    let resolved = 0;
    const resolveOffset = (offset: number | string): void => {
      const through = Number(offset);
      if (!Number.isSafeInteger(through)) throw new KactusError(ErrorCode.INVALID_REQUEST, `resolveOffset: ${String(offset)} is not an offset`);
      while (resolved < records.length && records[resolved]!.offset <= through) records[resolved++]!.ack();
    };
    const started = this.instrumentation.wants(consumerEvents.START_BATCH_PROCESS) || this.instrumentation.wants(consumerEvents.END_BATCH_PROCESS) ? batchPayload(batch) : undefined;
    if (started) this.instrumentation.emit(consumerEvents.START_BATCH_PROCESS, started);
    const startedMs = performance.now();
    const call = (): Promise<void> | void => eachBatch({
      batch,
      resolveOffset,
      heartbeat: common.heartbeat,
      isRunning: common.isRunning,
      isStale: () => batch.isStale(),
      pause: common.pause,
      commitOffsetsIfNecessary: (offsets) => {
        const session = this.session;
        if (session === undefined) return Promise.resolve();
        return offsets === undefined ? session.commitIfDue() : session.commitOffsets(flattenOffsets(offsets));
      },
      uncommittedOffsets: () => ({ topics: offsetsByTopic(this.session?.uncommitted() ?? []) }),
    });
    if (consumerProcessChannel.hasSubscribers) await consumerProcessChannel.tracePromise(async () => call(), this.processContext('batch', topic, partition, batch.firstOffset() ?? -1, batch));
    else await call();
    if (autoResolve) batch.ack();
    else if (resolved < records.length && !batch.isStale() && this.session !== undefined) {
      // KafkaJS reads again from the first record the handler did not resolve.
      this.session.seek(topic, partition, records[resolved]!.offset);
    }
    if (started) this.instrumentation.emit(consumerEvents.END_BATCH_PROCESS, { ...started, duration: performance.now() - startedMs });
  }

  private processContext(mode: 'message' | 'batch', topic: string, partition: number, offset: number, payload: unknown): ConsumerProcessContext {
    return { operationId: nextOperationId(), clientId: this.clientId, groupId: this.config.groupId, topic, partition, offset, mode, payload };
  }

  /** Ends run() (or any feed): commits what finished and leaves the group. */
  async stop(): Promise<void> {
    this.runSubscription?.unsubscribe();
    this.runSubscription = undefined;
    await this.stopping;
    this.instrumentation.emit(consumerEvents.STOP, {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stop();
    this.session?.complete();
    await this.stopping;
    this.assignmentEvents.complete();
    this.instrumentation.complete();
    this.onClose(this);
  }
}

function batchPayload<K, V>(batch: ConsumerBatch<K, V>) {
  return {
    topic: batch.topic,
    partition: batch.partition,
    highWatermark: batch.highWatermark,
    offsetLag: batch.offsetLag(),
    offsetLagLow: batch.offsetLagLow(),
    batchSize: batch.records.length,
    firstOffset: batch.firstOffset() ?? -1,
    lastOffset: batch.lastOffset(),
  };
}

/** KafkaJS's nested offsets to a flat list; offsets may be strings, as KafkaJS writes them. */
function flattenOffsets(offsets: TopicOffsets): OffsetToCommit[] {
  if (typeof offsets !== 'object' || offsets === null || !Array.isArray(offsets.topics)) throw new KactusError(ErrorCode.INVALID_REQUEST, 'commitOffsetsIfNecessary takes { topics: [{ topic, partitions: [{ partition, offset }] }] }');
  return offsets.topics.flatMap((t) =>
    t.partitions.map((p) => {
      const offset = Number(p.offset);
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isInteger(p.partition) || p.partition < 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `commitOffsetsIfNecessary: topic "${t.topic}" partition ${String(p.partition)} offset ${String(p.offset)} is not a partition and offset`);
      return { topic: checkTopicName(t.topic), partition: p.partition, offset };
    }),
  );
}
