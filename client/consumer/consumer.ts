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
 * Imports: rxjs, protocol/errors.ts, ../kactus.ts (types), ../topic-name.ts,
 * ./group-member.ts, ./group-transport.ts, ./fetcher.ts, ./offsets.ts, ./types.ts.
 */
import { Observable, Subject, type Subscriber, type Subscription } from 'rxjs';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { DecodedRecord } from '../../protocol/record-batch/index.ts';
import type { ClientContext, Closeable } from '../kactus.ts';
import { checkTopicName } from '../topic-name.ts';
import { Fetcher, type FetchedChunk } from './fetcher.ts';
import { GroupMember, type GroupTransport } from './group-member.ts';
import { groupTransport } from './group-transport.ts';
import { OffsetCommitter, PartitionProgress } from './offsets.ts';
import { processPartitionsInParallel } from './operators.ts';
import type { ConsumerConfig } from './options.ts';
import { tpKey, type AssignmentEvent, type ConsumerRecord, type RecordHeader, type TopicPartition } from './types.ts';

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
export interface ConsumerBatch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly ConsumerRecord[];
  readonly highWatermark: number;
  /** Finishes every record of the batch. */
  ack(): void;
}

export type EachMessagePayload = { topic: string; partition: number; message: ConsumerRecord };
export type EachBatchPayload = { batch: ConsumerBatch; isRunning: () => boolean };

export type RunOptions = {
  eachMessage?: (payload: EachMessagePayload) => Promise<void> | void;
  eachBatch?: (payload: EachBatchPayload) => Promise<void> | void;
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
  ) {}
}

class Record implements ConsumerRecord {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly key: Buffer | null,
    readonly value: Buffer | null,
    readonly headers: readonly RecordHeader[],
    readonly timestamp: number,
    private readonly lease: Lease,
    private readonly sizeBytes: number,
    private readonly session: Session,
  ) {}

  ack(): void {
    this.session.finish(this.lease, this.offset, this.sizeBytes);
  }
}

type Deliver = { mode: 'record'; subscriber: Subscriber<ConsumerRecord> } | { mode: 'batch'; subscriber: Subscriber<ConsumerBatch> };

class Session {
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

  constructor(
    private readonly consumer: Consumer,
    readonly context: ClientContext,
    private readonly config: ConsumerConfig,
    private readonly deliver: Deliver,
    transport: GroupTransport,
  ) {
    // Offsets committed by transactions (exactly-once): the consumer's own commits are no-ops.
    this.committer = new OffsetCommitter((offsets) => (consumer.transactionalOffsets ? Promise.resolve() : this.member.commitOffsets(offsets)), {
      autoCommit: config.autoCommit,
      autoCommitIntervalMs: config.autoCommitIntervalMs,
      onAutoCommitError: (err) => context.connection.log.warn({ err: String(err), groupId: config.groupId }, 'consumer.auto_commit_failed'),
    });
    this.fetcher = new Fetcher(
      context,
      { ...config, isolationLevel: config.isolationLevel === 'read_committed' ? 1 : 0 },
      { room: () => this.room(), sink: (chunk) => this.onChunk(chunk), pendingOf: (key) => this.leases.get(key)?.pendingCount ?? 0, onFatal: (err) => this.fail(err) },
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
      transport,
      {
        subscribedTopics: () => this.topics,
        onAssigned: (partitions, generationId) => this.onAssigned(partitions, generationId),
        onRevoked: (partitions, generationId) => this.onRevoked(partitions, generationId, 'revoked'),
        onLost: (partitions, generationId) => this.onRevoked(partitions, generationId, 'lost'),
        stalledMs: () => (this.deliveredUnfinished > 0 && config.ackMode === 'explicit' ? Date.now() - this.lastProgressMs : 0),
        onFatal: (err) => this.fail(err),
      },
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
      lease = new Lease(lease.key, lease.topic, lease.partition, lease.progress, chunk.epoch, lease.progress.resetCount);
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
      while (lease.active && lease.chunks.length > 0 && sent < share && budget > 0 && !this.closed && !this.fetcher.isPaused(lease.key)) {
        const head = lease.chunks[0]!;
        const { chunk } = head;
        if (head.next >= chunk.records.length) {
          lease.progress.skipTo(chunk.nextOffset);
          lease.chunks.shift();
          continue;
        }
        if (this.deliver.mode === 'batch') {
          const records = chunk.records.slice(head.next).map((r) => this.toRecord(lease, r, head.recordBytes));
          head.next = chunk.records.length;
          for (const r of records) lease.progress.delivered(r.offset);
          this.deliveredUnfinished += records.length;
          sent += records.length;
          budget -= records.length;
          const batch: ConsumerBatch = { topic: lease.topic, partition: lease.partition, records, highWatermark: chunk.highWatermark, ack: () => records.forEach((r) => r.ack()) };
          this.deliver.subscriber.next(batch);
          continue;
        }
        const record = this.toRecord(lease, chunk.records[head.next]!, head.recordBytes);
        head.next += 1;
        lease.progress.delivered(record.offset);
        if (this.deliveredUnfinished === 0) this.lastProgressMs = Date.now();
        this.deliveredUnfinished += 1;
        sent += 1;
        budget -= 1;
        this.deliver.subscriber.next(record);
        if (this.config.ackMode === 'onDelivery') record.ack();
      }
      if (lease.chunks.length > 0 && !this.fetcher.isPaused(lease.key)) more = true;
      if (budget <= 0) break;
    }
    if (more || budget <= 0) this.scheduleEmit();
  }

  private toRecord(lease: Lease, r: DecodedRecord, sizeBytes: number): Record {
    return new Record(lease.topic, lease.partition, r.offset, r.key, r.value, r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : Buffer.from(h.value.buffer, h.value.byteOffset, h.value.byteLength) })), r.timestamp, lease, sizeBytes, this);
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
      this.leases.set(key, new Lease(key, p.topic, p.partition, progress, this.fetcher.epochOf(key)!, progress.resetCount));
    }
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
    this.leases.set(key, new Lease(key, topic, partition, lease.progress, this.fetcher.epochOf(key)!, lease.progress.resetCount));
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
      if (owned.length > 0) this.consumer.emitAssignment({ type: 'revoked', partitions: owned, generationId: this.member.generationId });
    })();
    return this.stopping;
  }
}

export class Consumer implements Closeable {
  /** Records of the subscribed topics; cold (see the module comment). */
  readonly messages$: Observable<ConsumerRecord>;
  /** Per-partition batches (one fetch answer's records of a partition); cold, like messages$. */
  readonly batches$: Observable<ConsumerBatch>;
  /** Assignment changes of the active feed. */
  readonly assignments$: Observable<AssignmentEvent>;
  private readonly assignmentEvents = new Subject<AssignmentEvent>();
  private topicList: string[] | null = null;
  pattern: RegExp | null = null;
  private session: Session | undefined;
  /** A feed is subscribed (its session may still be starting). */
  private feedActive = false;
  private stopping: Promise<void> = Promise.resolve();
  private runSubscription: Subscription | undefined;
  private closed = false;

  constructor(
    readonly config: ConsumerConfig,
    private readonly openContext: () => Promise<ClientContext>,
    private readonly onClose: (consumer: Consumer) => void,
    /** Testing: replaces the `/groups` transport. */
    private readonly transportFor: (context: ClientContext) => GroupTransport = groupTransport,
  ) {
    this.messages$ = this.feed<ConsumerRecord>('record');
    this.batches$ = this.feed<ConsumerBatch>('batch');
    this.assignments$ = this.assignmentEvents.asObservable();
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
      let session: Session | undefined;
      let cancelled = false;
      const previous = this.stopping;
      const starting = previous.then(async () => {
        if (cancelled) return;
        const context = await this.openContext();
        if (cancelled) return;
        session = new Session(this, context, this.config, { mode, subscriber } as Deliver, this.transportFor(context));
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

  private active(): Session {
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
   * throws stops the run (nothing after the failed record is committed).
   */
  async run(options: RunOptions): Promise<void> {
    if (this.runSubscription !== undefined) throw new KactusError(ErrorCode.INVALID_REQUEST, 'run() is already running; stop() first');
    const concurrency = options.partitionsConsumedConcurrently ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new KactusError(ErrorCode.INVALID_CONFIG, 'partitionsConsumedConcurrently must be a positive integer');
    const onCrash = options.onCrash ?? ((err: unknown) => void this.openContext().then((c) => c.connection.log.error({ err: String(err), groupId: this.config.groupId }, 'consumer.run_crashed'), () => undefined));
    const { eachMessage, eachBatch } = options;
    if (eachMessage === undefined && eachBatch === undefined) throw new KactusError(ErrorCode.INVALID_CONFIG, 'run() needs eachMessage or eachBatch');
    const observer = { error: (err: unknown) => ((this.runSubscription = undefined), onCrash(err)) };
    if (eachBatch !== undefined) {
      this.runSubscription = this.batches$.pipe(processPartitionsInParallel(async (batch: ConsumerBatch) => eachBatch({ batch, isRunning: () => this.runSubscription !== undefined }), concurrency)).subscribe(observer);
    } else {
      this.runSubscription = this.messages$.pipe(processPartitionsInParallel(async (message: ConsumerRecord) => eachMessage!({ topic: message.topic, partition: message.partition, message }), concurrency)).subscribe(observer);
    }
  }

  /** Ends run() (or any feed): commits what finished and leaves the group. */
  async stop(): Promise<void> {
    this.runSubscription?.unsubscribe();
    this.runSubscription = undefined;
    await this.stopping;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stop();
    this.session?.complete();
    await this.stopping;
    this.assignmentEvents.complete();
    this.onClose(this);
  }
}
