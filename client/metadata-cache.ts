/**
 * The client's view of the cluster: brokers, the active controller, and for
 * each topic it uses the partitions with their leader, leader epoch,
 * replicas, ISR and offline replicas.
 *
 * Owns: `MetadataCache` (refresh, lookups, staleness) and the pure
 * `mergeTopic` rule.
 *
 * When it refreshes:
 * - on demand: a lookup of a topic it has never seen;
 * - on errors that mean the cache is wrong (`refreshingErrorCodes`:
 *   NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE,
 *   and the link, timeout and epoch errors that mean the same): callers report them
 *   with `onError`, which starts one refresh for that topic;
 * - on an interval (metadataMaxAgeMs) for every topic in use.
 * Concurrent refresh requests share one request in flight (the topics of
 * requests that arrive meanwhile ride on the next one), so an error burst
 * from many batches costs one Metadata round trip, not hundreds.
 *
 * Auto-creation: a broker with auto.create.topics.enable creates a topic
 * that a Metadata request names (Kafka's producer behaviour, kept here for
 * `topic()`). Admin reads must not create what they look at, and our
 * Metadata request has no allow-auto-creation flag yet, so admin asks for
 * every topic (`topics: null`, which never creates) and filters.
 *
 * Merge rule: per partition, an answer with an older leader epoch than the
 * cached one is ignored (a broker whose image lags must not move the client
 * back to a deposed leader). A changed topic id (deleted and re-created)
 * replaces the topic wholesale.
 *
 * Imports: connection.ts, retry.ts, errors.ts, protocol types.
 */
import type { Ref } from '../runtime/ref.ts';
import { ErrorCode, KactusError, PartitionError, partitionError } from './errors.ts';
import type { Connection } from './connection.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { checkReply, metadataReplyValidator } from './replies.ts';

export type PartitionMetadata = {
  readonly partition: number;
  readonly errorCode: number;
  /** -1 when the partition has no leader. */
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly offlineReplicas: readonly number[];
};

export type TopicMetadata = {
  readonly name: string;
  readonly topicId: string;
  readonly isInternal: boolean;
  readonly partitions: readonly PartitionMetadata[];
};

export type BrokerMetadata = { readonly brokerId: number; readonly host: string; readonly port: number; readonly rack: string | null };

/** The `/broker` Metadata reply (actors/controller/metadata/metadata-response.ts), as the client reads it. */
export type MetadataReply = {
  type: 'MetadataReply';
  brokers: BrokerMetadata[];
  controllerId: number;
  topics: { errorCode: number; errorMessage: string | null; name: string; topicId: string | null; isInternal: boolean; partitions: PartitionMetadata[] }[];
};

type MetadataRequest = { type: 'Metadata'; topics: string[] | null; replyTo: Ref<unknown> };

/** Errors after which the cached leader of a partition is probably wrong. */
export const refreshingErrorCodes: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.NETWORK_EXCEPTION,
  ErrorCode.BROKER_NOT_AVAILABLE,
  ErrorCode.REPLICA_NOT_AVAILABLE,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  // A request to a broker that died before the failure detector said so times out: the leader may have moved
  // (Kafka's sender asks for metadata after a disconnect or timeout too). Seen as a produce retried 5 times at
  // a SIGKILLed leader for 36 s in the exactly-once pipeline test.
  ErrorCode.REQUEST_TIMED_OUT,
]);

/** Merges a fresh answer into the cached topic; see the module comment for the rule. */
export function mergeTopic(cached: TopicMetadata | undefined, fresh: TopicMetadata): TopicMetadata {
  if (cached === undefined || cached.topicId !== fresh.topicId) return fresh;
  const partitions = fresh.partitions.map((p) => {
    const old = cached.partitions[p.partition];
    return old !== undefined && old.leaderEpoch > p.leaderEpoch ? old : p;
  });
  return { ...fresh, partitions };
}

/**
 * metadata.max.idle.ms: a topic not used for this long leaves the interval
 * refresh (a named Metadata request makes brokers auto-create the topic, so a
 * deleted topic must not be asked for forever).
 */
export const metadataMaxIdleMs = 300_000;

export type MetadataCacheOptions = {
  requestTimeoutMs: number;
  metadataMaxAgeMs: number;
  retry: RetryPolicy;
};

export class MetadataCache {
  private readonly topics = new Map<string, TopicMetadata>();
  private brokerMap = new Map<number, BrokerMetadata>();
  private controller = -1;
  /** Topics in use -> when last used (ms): refreshed on the interval until idle for metadataMaxIdleMs. */
  private readonly interest = new Map<string, number>();
  private inFlight: Promise<MetadataReply> | undefined;
  private inFlightTopics: ReadonlySet<string> | null = new Set();
  private queued: { topics: Set<string> | null; promise: Promise<MetadataReply> } | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Round trips made, for tests. */
  refreshCount = 0;

  constructor(
    private readonly connection: Connection,
    private readonly options: MetadataCacheOptions,
  ) {
    this.timer = setInterval(() => {
      const nowMs = Date.now();
      for (const [topic, lastUsedMs] of this.interest) if (nowMs - lastUsedMs > metadataMaxIdleMs) this.interest.delete(topic);
      if (this.interest.size > 0) this.refresh([...this.interest.keys()]).catch(() => undefined);
    }, options.metadataMaxAgeMs);
    this.timer.unref();
  }

  get brokers(): ReadonlyMap<number, BrokerMetadata> {
    return this.brokerMap;
  }

  get controllerId(): number {
    return this.controller;
  }

  cached(topic: string): TopicMetadata | undefined {
    return this.topics.get(topic);
  }

  /** Marks a topic as in use now: kept fresh by the interval refresh until idle for metadataMaxIdleMs. */
  track(topic: string, nowMs: number = Date.now()): void {
    this.interest.set(topic, nowMs);
  }

  untrack(topic: string): void {
    this.interest.delete(topic);
  }

  forget(topic: string): void {
    this.topics.delete(topic);
  }

  /** Reports an error from a request about `topic`; refreshes when the code means the cache is wrong, and returns that refresh. */
  onError(topic: string, errorCode: number): Promise<unknown> | undefined {
    if (!refreshingErrorCodes.has(errorCode) || this.closed) return undefined;
    return this.refresh([topic]).catch(() => undefined);
  }

  /**
   * Asks one broker for metadata of `topics` (null: every topic) and merges
   * the answer. Shares a request already in flight when it covers `topics`.
   */
  refresh(topics: readonly string[] | null): Promise<MetadataReply> {
    if (this.closed) return Promise.reject(new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, 'the client is closed'));
    if (this.inFlight !== undefined) {
      if (covers(this.inFlightTopics, topics)) return this.inFlight;
      if (this.queued === undefined) {
        const queuedTopics: Set<string> | null = topics === null ? null : new Set(topics);
        const promise = this.inFlight.catch(() => undefined).then(() => {
          const wanted = this.queued!.topics;
          this.queued = undefined;
          return this.start(wanted === null ? null : [...wanted]);
        });
        this.queued = { topics: queuedTopics, promise };
        return promise;
      }
      if (topics === null) this.queued.topics = null;
      else if (this.queued.topics !== null) for (const t of topics) this.queued.topics.add(t);
      return this.queued.promise;
    }
    return this.start(topics === null ? null : [...topics]);
  }

  private start(topics: string[] | null): Promise<MetadataReply> {
    this.inFlightTopics = topics === null ? null : new Set(topics);
    const promise = this.request(topics).finally(() => {
      if (this.inFlight === promise) {
        this.inFlight = undefined;
        this.inFlightTopics = new Set();
      }
    });
    this.inFlight = promise;
    return promise;
  }

  private async request(topics: string[] | null): Promise<MetadataReply> {
    let lastBroker: number | undefined;
    const reply = await withRetry(
      async () => {
        const brokerId = this.connection.pickBroker(lastBroker);
        lastBroker = brokerId;
        const raw = await this.connection.ask<MetadataRequest, unknown>(brokerId, '/broker', (replyTo) => ({ type: 'Metadata', topics, replyTo }), this.options.requestTimeoutMs);
        return { type: 'MetadataReply' as const, ...checkReply(metadataReplyValidator, raw, `Metadata reply from broker ${brokerId}`) };
      },
      this.options.retry,
      { cancelled: () => this.closed },
    );
    this.refreshCount += 1;
    this.apply(reply, topics === null);
    return reply;
  }

  /**
   * Merges a Metadata reply into the cache (also used by admin calls that
   * fetched metadata themselves). `complete`: the reply lists every topic, so
   * cached topics missing from it were deleted.
   */
  apply(reply: MetadataReply, complete = false): void {
    if (complete) {
      const listed = new Set(reply.topics.map((t) => t.name));
      for (const name of [...this.topics.keys()]) if (!listed.has(name)) this.topics.delete(name);
    }
    if (reply.brokers.length > 0) {
      this.brokerMap = new Map(reply.brokers.map((b) => [b.brokerId, b]));
      this.connection.setBrokers(reply.brokers);
    }
    this.controller = reply.controllerId;
    for (const t of reply.topics) {
      if (t.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
        this.topics.delete(t.name);
        continue;
      }
      if (t.errorCode !== 0 || t.topicId === null) continue;
      this.topics.set(t.name, mergeTopic(this.topics.get(t.name), { name: t.name, topicId: t.topicId, isInternal: t.isInternal, partitions: [...t.partitions].sort((a, b) => a.partition - b.partition) }));
    }
  }

  /**
   * The metadata of `topic`, from the cache or a refresh. Rejects with
   * UNKNOWN_TOPIC_OR_PARTITION (retriable: it may be being created) or the
   * topic's error (e.g. INVALID_TOPIC_EXCEPTION).
   */
  async topic(topic: string): Promise<TopicMetadata> {
    const cached = this.topics.get(topic);
    if (cached !== undefined) return cached;
    const reply = await this.refresh([topic]);
    const found = this.topics.get(topic);
    if (found !== undefined) return found;
    const answer = reply.topics.find((t) => t.name === topic);
    const code = answer?.errorCode || ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    throw partitionError(code, topic, -1, answer?.errorMessage ?? `topic ${topic} does not exist`);
  }

  /** The leader epoch of a partition per the cache, -1 when unknown (a fetch then skips the epoch check). */
  leaderEpochOf(topic: string, partition: number): number {
    return this.topics.get(topic)?.partitions[partition]?.leaderEpoch ?? -1;
  }

  /** The leader of a partition per the cache, or undefined when unknown or leaderless. */
  leaderOf(topic: string, partition: number): number | undefined {
    const p = this.topics.get(topic)?.partitions[partition];
    if (p === undefined || p.leader < 0) return undefined;
    return p.leader;
  }

  /** Like leaderOf, but refreshes (with retries) until a leader is known or the retries run out. */
  async leaderFor(topic: string, partition: number): Promise<{ leader: number; leaderEpoch: number }> {
    return withRetry(
      async () => {
        const meta = await this.topic(topic);
        const p = meta.partitions[partition];
        if (p === undefined) throw new PartitionError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, topic, partition, `the topic has ${meta.partitions.length} partitions`);
        if (p.leader < 0) {
          this.refresh([topic]).catch(() => undefined);
          throw partitionError(ErrorCode.LEADER_NOT_AVAILABLE, topic, partition, 'no leader right now');
        }
        return { leader: p.leader, leaderEpoch: p.leaderEpoch };
      },
      this.options.retry,
      { cancelled: () => this.closed, onRetriable: () => this.refresh([topic]).then(() => undefined) },
    );
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }
}

function covers(inFlight: ReadonlySet<string> | null, wanted: readonly string[] | null): boolean {
  if (inFlight === null) return true;
  if (wanted === null) return false;
  return wanted.every((t) => inFlight.has(t));
}
