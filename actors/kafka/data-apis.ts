/**
 * The Kafka listener's data APIs: Produce, Fetch, ListOffsets and
 * OffsetForLeaderEpoch, each translated into the native messages of
 * protocol/apis/data.ts and asked of this node's `/broker` (Produce) and
 * `/fetch` (the rest) with `node.askAsClient`, held to the client protocol
 * exactly as a native client is.
 *
 * Owns: `dataApis` (the ServedApis table handlers.ts merges), the pure
 * translations (`*Plan`, `*Body`: decoded Kafka request -> native partitions,
 * native replies -> Kafka response body), `kafkaDataLimits`, and a per-node
 * topic cache (ids and partition counts, from the native Metadata).
 *
 * Versions served, and why not more:
 * - Produce 3-11: RecordBatch v2 only (v3 is the first version that requires
 *   magic 2 and exactly one batch per partition, which is what the native
 *   replica checks). Every Produce version in the schema names topics, so no
 *   id lookup. v10+ CurrentLeader / NodeEndpoints (KIP-951, tagged) are left
 *   at their defaults ("leader unknown"): the client refreshes metadata, as
 *   before KIP-951.
 * - Fetch 4-17: v0-3 clients read only message format 0/1, which Kafka
 *   down-converts and we do not. v13+ name topics by id: ids are resolved
 *   through the native Metadata (the topic cache below), and an id it does
 *   not know is UNKNOWN_TOPIC_ID. Fetch sessions are answered sessionless
 *   (KIP-227 allows it): sessionId 0 always, so a client asking to create a
 *   session keeps sending full fetches; an incremental fetch (epoch not 0 or
 *   -1) names a session we never gave: FETCH_SESSION_ID_NOT_FOUND. No
 *   preferred read replica (-1), rack ignored. CurrentLeader / NodeEndpoints
 *   at their defaults, as for Produce.
 * - ListOffsets 1-6: earliest (-2), latest (-1) and by timestamp; v7 lets a
 *   client ask MAX_TIMESTAMP (-3), which the native ListOffsets does not
 *   answer. A timestamp below -2 over v1-6 is UNSUPPORTED_VERSION for its
 *   partition. v0 (old-style offset lists) is not served. ReplicaId is
 *   ignored: every request reads as a consumer (up to the high watermark).
 * - OffsetForLeaderEpoch 0-4, consumer and follower forms alike (Kafka
 *   answers both the same way; only its authorization differs).
 *
 * Kafka's rules kept here (its KafkaApis / ProduceRequest.validateRecords):
 * - Produce: records that are null, empty, not magic 2: INVALID_RECORD for
 *   the partition; zstd before v7: UNSUPPORTED_COMPRESSION_TYPE; acks not
 *   0/1/-1: INVALID_REQUIRED_ACKS for every partition. acks=0 sends no
 *   response; when a partition fails before it reaches the broker, the
 *   connection is closed instead (Kafka's way of telling an acks=0 producer).
 * - A follower Fetch (replicaId >= 0) from a Kafka client is refused by the
 *   fetch server's client protocol; the refusal is answered as Kafka answers
 *   a follower without ClusterAction: TOPIC_AUTHORIZATION_FAILED per
 *   partition.
 * - A negative partition, or a topic name no topic can have, is
 *   UNKNOWN_TOPIC_OR_PARTITION; NOT_LEADER_OR_FOLLOWER from the native side
 *   for a topic or partition the cluster does not have becomes
 *   UNKNOWN_TOPIC_OR_PARTITION too (checked against the topic cache, only on
 *   that error path).
 * - A fetch with no partitions is answered at once (Kafka does not park it).
 * - Fetch records absent are sent as empty records, never null (Kafka sends
 *   MemoryRecords.EMPTY; some clients do not expect null).
 *
 * Untrusted values are clamped into the native bounds (maxWaitMs, minBytes,
 * maxBytes, partitionMaxBytes, timeoutMs) rather than refused, since Kafka
 * accepts any int32 there; offsets outside 0..2^53 are OFFSET_OUT_OF_RANGE.
 * Records stay the Buffer views the codec gave (zero copy into the native
 * message; the log copies on append).
 *
 * Must not import client/.
 */
import { dataLimits, type Fetch, type FetchPartition, type FetchReply, type ListOffsets, type ListOffsetsReply, type OffsetForLeaderEpoch, type OffsetForLeaderEpochReply, type Produce, type ProduceReply } from '../../protocol/apis/data.ts';
import { ErrorCode, toErrorCode } from '../../protocol/errors.ts';
import { AclOperation } from '../../protocol/acls.ts';
import { zeroUuid, type KafkaValue } from '../../protocol/kafka/codec.ts';
import type { Node } from '../../runtime/node.ts';
import type { MetadataResponse } from '../controller/metadata/index.ts';
import { kafkaGatewayAskTimeoutMs, mayOnTopic, type HandlerDeps, type ServedApis } from './served.ts';

export const kafkaDataLimits = {
  /** How long the topic cache (id -> name, partition counts) is trusted before it is asked again. */
  topicCacheTtlMs: 10_000,
  /** At most one Metadata refresh of the topic cache per this interval (a client naming unknown ids cannot spin it). */
  topicCacheRefreshIntervalMsMin: 1_000,
  /** Partitions in one Fetch / ListOffsets / OffsetForLeaderEpoch (the native bound); past it every partition is INVALID_REQUEST. */
  requestPartitionsMax: dataLimits.requestPartitionsMax,
  /** Longest topic name Kafka allows; a longer one names no topic. */
  topicNameLengthMax: 249,
} as const;

const recordBatchMagicOffset = 16;
const recordBatchAttributesOffset = 21;
const recordBatchHeaderBytes = 61;
const compressionZstd = 4;
const fetchSessionInitialEpoch = 0;
const fetchSessionFinalEpoch = -1;

const clamp = (value: number, min: number, max: number): number => (Number.isFinite(value) ? Math.min(max, Math.max(min, Math.trunc(value))) : min);
const validTopicName = (name: unknown): name is string => typeof name === 'string' && name.length > 0 && name.length <= kafkaDataLimits.topicNameLengthMax;
const validPartition = (partition: unknown): partition is number => typeof partition === 'number' && Number.isInteger(partition) && partition >= 0;
const validOffset = (offset: unknown): offset is number => typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0;
const asArray = <T>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);

// ---------------------------------------------------------------- topic cache

type CachedTopic = { readonly name: string; readonly topicId: string; readonly partitionCount: number };

/**
 * What this node knows of the cluster's topics, from the native Metadata: id -> topic and name ->
 * topic. Trusted for topicCacheTtlMs; a miss refreshes it at most once per topicCacheRefreshIntervalMsMin.
 * A topic deleted and recreated under the same name gets a new id: the old id keeps naming it for at
 * most the TTL, the window in which a fetch by the old id could read the new topic.
 */
export class TopicCache {
  private byId = new Map<string, CachedTopic>();
  private byName = new Map<string, CachedTopic>();
  private refreshedAtMs = -Infinity;
  private refreshing: Promise<void> | null = null;

  constructor(private readonly node: Node) {}

  async byTopicId(topicId: string): Promise<CachedTopic | undefined> {
    await this.freshen(this.byId.has(topicId));
    return this.byId.get(topicId);
  }

  async byTopicName(name: string): Promise<CachedTopic | undefined> {
    await this.freshen(this.byName.has(name));
    return this.byName.get(name);
  }

  /** Forgets everything (a test hook, and what a node stop would do). */
  clear(): void {
    this.byId.clear();
    this.byName.clear();
    this.refreshedAtMs = -Infinity;
  }

  private async freshen(hit: boolean): Promise<void> {
    const ageMs = this.node.clock.monotonicMs() - this.refreshedAtMs;
    if (hit && ageMs < kafkaDataLimits.topicCacheTtlMs) return;
    if (!hit && ageMs < kafkaDataLimits.topicCacheRefreshIntervalMsMin) return;
    this.refreshing ??= this.refresh().finally(() => {
      this.refreshing = null;
    });
    await this.refreshing;
  }

  private async refresh(): Promise<void> {
    const reply = await this.node
      .askAsClient<unknown, MetadataResponse>('/broker', (replyTo) => ({ type: 'Metadata', topics: null, allowAutoTopicCreation: false, replyTo }), { timeoutMs: kafkaGatewayAskTimeoutMs })
      .catch(() => undefined);
    // A failed refresh keeps what we had (and waits the interval before trying again).
    this.refreshedAtMs = this.node.clock.monotonicMs();
    if (reply === undefined || !Array.isArray(reply.topics)) return;
    const byId = new Map<string, CachedTopic>();
    const byName = new Map<string, CachedTopic>();
    for (const t of reply.topics) {
      if (t.errorCode !== ErrorCode.NONE || t.topicId === null) continue;
      const entry = { name: t.name, topicId: t.topicId, partitionCount: t.partitions.length };
      byId.set(t.topicId, entry);
      byName.set(t.name, entry);
    }
    this.byId = byId;
    this.byName = byName;
  }
}

const topicCaches = new WeakMap<Node, TopicCache>();

export function topicCacheOf(node: Node): TopicCache {
  let cache = topicCaches.get(node);
  if (cache === undefined) {
    cache = new TopicCache(node);
    topicCaches.set(node, cache);
  }
  return cache;
}

/** NOT_LEADER_OR_FOLLOWER for a topic or partition the cluster does not have is UNKNOWN_TOPIC_OR_PARTITION (Kafka's answer). */
async function refineNotLeader(cache: TopicCache, topic: string, partition: number, errorCode: number): Promise<number> {
  if (errorCode !== ErrorCode.NOT_LEADER_OR_FOLLOWER) return errorCode;
  const known = await cache.byTopicName(topic);
  return known === undefined || partition >= known.partitionCount ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : errorCode;
}

// ---------------------------------------------------------------- Produce

export type ProducePartitionPlan = {
  readonly topic: string;
  readonly partition: number;
  /** Set when the partition is answered without asking the broker. */
  readonly errorCode: number | null;
  readonly errorMessage: string | null;
  readonly batch: Buffer | null;
};

/** Kafka's ProduceRequest.validateRecords for v3+, on the batch header only (the replica checks the rest: CRC, one batch). */
export function produceRecordsError(version: number, records: unknown): { errorCode: number; errorMessage: string } | null {
  if (!(records instanceof Uint8Array) || records.length === 0) return { errorCode: ErrorCode.INVALID_RECORD, errorMessage: `Produce v${version} needs one record batch per partition` };
  if (records.length < recordBatchHeaderBytes) return { errorCode: ErrorCode.CORRUPT_MESSAGE, errorMessage: `${records.length} bytes is shorter than a record batch header` };
  if (records[recordBatchMagicOffset] !== 2) return { errorCode: ErrorCode.INVALID_RECORD, errorMessage: `Produce v${version} carries only record batches of magic 2 (got ${records[recordBatchMagicOffset]})` };
  const compression = records[recordBatchAttributesOffset + 1]! & 0x07;
  if (version < 7 && compression === compressionZstd) return { errorCode: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, errorMessage: `zstd needs Produce v7 or later (got v${version})` };
  return null;
}

export function producePlan(version: number, body: KafkaValue): { acks: number; timeoutMs: number; transactionalId: string | null; partitions: ProducePartitionPlan[] } {
  const acks = body.acks as number;
  const timeoutMs = clamp(body.timeoutMs as number, 0, dataLimits.produceTimeoutMsMax);
  const transactionalId = typeof body.transactionalId === 'string' ? body.transactionalId : null;
  const acksValid = acks === 0 || acks === 1 || acks === -1;
  const partitions: ProducePartitionPlan[] = [];
  for (const topic of asArray<{ name: string; partitionData: unknown }>(body.topicData)) {
    for (const p of asArray<{ index: number; records: unknown }>(topic.partitionData)) {
      const base = { topic: topic.name, partition: p.index };
      if (!acksValid) {
        partitions.push({ ...base, errorCode: ErrorCode.INVALID_REQUIRED_ACKS, errorMessage: `acks must be 0, 1 or -1 (got ${acks})`, batch: null });
      } else if (!validTopicName(topic.name) || !validPartition(p.index)) {
        partitions.push({ ...base, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `no partition ${p.index} of topic ${String(topic.name).slice(0, 256)}`, batch: null });
      } else {
        const problem = produceRecordsError(version, p.records);
        partitions.push(problem === null ? { ...base, errorCode: null, errorMessage: null, batch: p.records as Buffer } : { ...base, ...problem, batch: null });
      }
    }
  }
  return { acks, timeoutMs, transactionalId, partitions };
}

type ProduceResult = { errorCode: number; errorMessage: string | null; baseOffset: number; logAppendTimeMs: number; logStartOffset: number };

/** The Kafka response: partitions grouped under their topics, in request order. */
export function produceBody(plan: readonly ProducePartitionPlan[], results: readonly ProduceResult[]): KafkaValue {
  const responses: { name: string; partitionResponses: KafkaValue[] }[] = [];
  plan.forEach((p, i) => {
    const r = results[i]!;
    let topic = responses.at(-1);
    if (topic === undefined || topic.name !== p.topic) {
      topic = { name: p.topic, partitionResponses: [] };
      responses.push(topic);
    }
    topic.partitionResponses.push({
      index: p.partition,
      errorCode: r.errorCode,
      baseOffset: r.baseOffset,
      logAppendTimeMs: r.logAppendTimeMs,
      logStartOffset: r.logStartOffset,
      recordErrors: [],
      errorMessage: r.errorCode === ErrorCode.NONE ? null : r.errorMessage,
    });
  });
  return { responses, throttleTimeMs: 0 };
}

const failedProduce = (errorCode: number, errorMessage: string | null): ProduceResult => ({ errorCode, errorMessage, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 });

async function handleProduce(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue | null> {
  const { node, caller } = deps;
  const planned = producePlan(version, body);
  const { acks, timeoutMs, transactionalId } = planned;
  // Kafka answers each partition of a topic the caller may not Write with TOPIC_AUTHORIZATION_FAILED and writes the rest.
  const partitions = planned.partitions.map((p) => (p.errorCode === null && !mayOnTopic(deps, AclOperation.WRITE, p.topic) ? { ...p, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, errorMessage: `${caller.principal} is not authorized to Write topic ${p.topic}` } : p));
  if (acks === 0) {
    // No response either way; a partition that cannot even be handed to the broker closes the connection (Kafka's rule).
    for (const p of partitions) {
      if (p.errorCode !== null) throw new Error(`acks=0 produce to ${p.topic}-${p.partition} failed: ${p.errorMessage ?? p.errorCode}`);
      const message: Produce = { type: 'Produce', topic: p.topic, partition: p.partition, acks: 0, timeoutMs, batch: p.batch!, transactionalId, replyTo: { node: node.nodeId, path: '/temp/kafka-acks-0' } };
      const refusal = node.tellAsClient('/broker', message, { caller });
      if (refusal !== 0) throw new Error(`acks=0 produce to ${p.topic}-${p.partition} refused with code ${refusal}`);
    }
    return null;
  }
  // Started in request order (each ask is delivered as it is made), answered together.
  const results = await Promise.all(
    partitions.map((p): Promise<ProduceResult> => {
      if (p.errorCode !== null) return Promise.resolve(failedProduce(p.errorCode, p.errorMessage));
      return node
        .askAsClient<Produce, ProduceReply>('/broker', (replyTo) => ({ type: 'Produce', topic: p.topic, partition: p.partition, acks: acks as 1 | -1, timeoutMs, batch: p.batch!, transactionalId, replyTo }), { timeoutMs: timeoutMs + kafkaGatewayAskTimeoutMs, caller })
        .then(
          (reply) => ({ errorCode: reply.errorCode, errorMessage: reply.errorMessage ?? null, baseOffset: reply.baseOffset, logAppendTimeMs: reply.logAppendTimeMs, logStartOffset: reply.logStartOffset }),
          (err: unknown) => failedProduce(toErrorCode(err), (err as Error).message ?? null),
        );
    }),
  );
  return produceBody(partitions, results);
}

// ---------------------------------------------------------------- Fetch

/** One partition of a Kafka fetch: answered from the native reply (native set) or at once (errorCode set). */
export type FetchPartitionPlan = {
  /** The topic as the request named it: a name (v4-12) or an id (v13+). */
  readonly topicKey: string;
  readonly partition: number;
  readonly native: FetchPartition | null;
  readonly errorCode: number;
};

export type FetchPlan = {
  /** NONE, or FETCH_SESSION_ID_NOT_FOUND: the whole request is answered with it (top level) and no partitions. */
  readonly sessionErrorCode: number;
  readonly request: Omit<Fetch, 'type' | 'partitions' | 'replyTo'>;
  readonly partitions: FetchPartitionPlan[];
};

type FetchTopicRequest = { topic?: string; topicId?: string; partitions: { partition: number; currentLeaderEpoch: number; fetchOffset: number; lastFetchedEpoch: number; partitionMaxBytes: number }[] };

/** The replica id a fetch carries: a field up to v14, the tagged ReplicaState from v15. */
export function fetchReplicaId(version: number, body: KafkaValue): number {
  if (version >= 15) {
    const state = body.replicaState as { replicaId?: unknown } | null | undefined;
    return typeof state?.replicaId === 'number' ? state.replicaId : -1;
  }
  return typeof body.replicaId === 'number' ? body.replicaId : -1;
}

/**
 * A Kafka fetch as one native fetch. `resolve` gives the name of a topic as the request names it (an id
 * from v13), or undefined when no topic has it.
 */
export function fetchPlan(version: number, body: KafkaValue, resolve: (topicKey: string) => string | undefined): FetchPlan {
  const byId = version >= 13;
  const sessionEpoch = typeof body.sessionEpoch === 'number' ? body.sessionEpoch : fetchSessionFinalEpoch;
  const isolation = body.isolationLevel;
  const request = {
    replicaId: fetchReplicaId(version, body),
    maxWaitMs: clamp(body.maxWaitMs as number, 0, dataLimits.fetchMaxWaitMsMax),
    minBytes: clamp(body.minBytes as number, 0, 2 ** 31 - 1),
    maxBytes: clamp(body.maxBytes as number, 1, dataLimits.fetchBytesMax),
    isolationLevel: (isolation === 1 ? 1 : 0) as 0 | 1,
  };
  const topics = asArray<FetchTopicRequest>(body.topics);
  const partitions: FetchPartitionPlan[] = [];
  const total = topics.reduce((n, t) => n + asArray(t.partitions).length, 0);
  const tooMany = total > kafkaDataLimits.requestPartitionsMax;
  const badIsolation = isolation !== 0 && isolation !== 1;
  for (const t of topics) {
    const topicKey = (byId ? t.topicId : t.topic) ?? '';
    const name = byId ? (topicKey === zeroUuid ? undefined : resolve(topicKey)) : validTopicName(topicKey) ? topicKey : undefined;
    for (const p of asArray<FetchTopicRequest['partitions'][number]>(t.partitions)) {
      const at = { topicKey, partition: p.partition };
      if (tooMany || badIsolation) partitions.push({ ...at, native: null, errorCode: ErrorCode.INVALID_REQUEST });
      else if (name === undefined) partitions.push({ ...at, native: null, errorCode: byId ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
      else if (!validPartition(p.partition)) partitions.push({ ...at, native: null, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
      else if (!validOffset(p.fetchOffset)) partitions.push({ ...at, native: null, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE });
      else {
        partitions.push({
          ...at,
          errorCode: ErrorCode.NONE,
          native: {
            topic: name,
            partition: p.partition,
            fetchOffset: p.fetchOffset,
            partitionMaxBytes: clamp(p.partitionMaxBytes, 1, dataLimits.fetchBytesMax),
            currentLeaderEpoch: clamp(p.currentLeaderEpoch, -1, 2 ** 31 - 1),
            lastFetchedEpoch: clamp(p.lastFetchedEpoch, -1, 2 ** 31 - 1),
          },
        });
      }
    }
  }
  // Sessionless (KIP-227): a full fetch (epoch 0 creates, -1 closes or is sessionless) is served; an
  // incremental one names a session we never gave. v4-6 have no sessions (the defaults: 0, -1).
  const full = sessionEpoch === fetchSessionInitialEpoch || sessionEpoch === fetchSessionFinalEpoch;
  // (The session id itself does not matter: Kafka starts a new session for any full fetch, and we give none.)
  const sessionErrorCode = full ? ErrorCode.NONE : ErrorCode.FETCH_SESSION_ID_NOT_FOUND;
  return { sessionErrorCode, request, partitions };
}

type FetchPartitionAnswer = {
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  records: Uint8Array | null;
  abortedTransactions: { producerId: number; firstOffset: number }[] | null;
  divergingEpoch: { epoch: number; endOffset: number } | null;
};

const emptyRecords = Buffer.alloc(0);
const failedFetch = (errorCode: number): FetchPartitionAnswer => ({ errorCode, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null, abortedTransactions: null, divergingEpoch: null });

/** The native answers (one per plan partition, in order) as Kafka's response body. */
export function fetchBody(version: number, plan: FetchPlan, answers: readonly FetchPartitionAnswer[]): KafkaValue {
  if (version >= 7 && plan.sessionErrorCode !== ErrorCode.NONE) {
    return { throttleTimeMs: 0, errorCode: plan.sessionErrorCode, sessionId: 0, responses: [] };
  }
  const byId = version >= 13;
  const responses: { topic: string; topicId: string; partitions: KafkaValue[] }[] = [];
  plan.partitions.forEach((p, i) => {
    const a = answers[i]!;
    let topic = responses.at(-1);
    if (topic === undefined || (byId ? topic.topicId : topic.topic) !== p.topicKey) {
      topic = { topic: byId ? '' : p.topicKey, topicId: byId ? p.topicKey : zeroUuid, partitions: [] };
      responses.push(topic);
    }
    topic.partitions.push({
      partitionIndex: p.partition,
      errorCode: a.errorCode,
      highWatermark: a.highWatermark,
      lastStableOffset: a.lastStableOffset,
      logStartOffset: a.logStartOffset,
      divergingEpoch: a.divergingEpoch === null ? undefined : { epoch: a.divergingEpoch.epoch, endOffset: a.divergingEpoch.endOffset },
      abortedTransactions: a.abortedTransactions === null ? null : a.abortedTransactions.map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset })),
      preferredReadReplica: -1,
      records: a.records ?? emptyRecords,
    });
  });
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses };
}

async function handleFetch(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const { node, caller } = deps;
  const cache = topicCacheOf(node);
  const names = new Map<string, string | undefined>();
  if (version >= 13) {
    const ids = new Set(asArray<FetchTopicRequest>(body.topics).map((t) => t.topicId ?? zeroUuid));
    for (const id of ids) if (id !== zeroUuid) names.set(id, (await cache.byTopicId(id))?.name);
  }
  const planned = fetchPlan(version, body, (key) => names.get(key));
  // Partitions of topics the caller may not Read: TOPIC_AUTHORIZATION_FAILED, the others read (Kafka's).
  const plan = { ...planned, partitions: planned.partitions.map((p) => (p.native !== null && !mayOnTopic(deps, AclOperation.READ, p.native.topic) ? { ...p, native: null, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED } : p)) };
  if (plan.sessionErrorCode === ErrorCode.FETCH_SESSION_ID_NOT_FOUND) return fetchBody(version, plan, []);
  const asked = plan.partitions.filter((p) => p.native !== null);
  let nativeAnswers: FetchPartitionAnswer[] = [];
  if (asked.length > 0) {
    nativeAnswers = await node
      .askAsClient<Fetch, FetchReply>('/fetch', (replyTo) => ({ type: 'Fetch', ...plan.request, partitions: asked.map((p) => p.native!), replyTo }), { timeoutMs: plan.request.maxWaitMs + kafkaGatewayAskTimeoutMs, caller })
      .then(
        (reply) =>
          asked.map((p, i): FetchPartitionAnswer => {
            const r = reply.partitions[i];
            if (reply.errorCode !== ErrorCode.NONE || r === undefined || r.topic !== p.native!.topic || r.partition !== p.partition) return failedFetch(reply.errorCode !== ErrorCode.NONE ? reply.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR);
            return { errorCode: r.errorCode, highWatermark: r.highWatermark, lastStableOffset: r.lastStableOffset, logStartOffset: r.logStartOffset, records: r.records, abortedTransactions: r.abortedTransactions ?? null, divergingEpoch: r.divergingEpoch };
          }),
        (err: unknown) => {
          const code = toErrorCode(err);
          // The client protocol refuses a follower fetch from a client: Kafka's answer to a follower without ClusterAction.
          return asked.map(() => failedFetch(code === ErrorCode.CLUSTER_AUTHORIZATION_FAILED ? ErrorCode.TOPIC_AUTHORIZATION_FAILED : code));
        },
      );
  }
  const answers: FetchPartitionAnswer[] = [];
  let next = 0;
  for (const p of plan.partitions) {
    if (p.native === null) {
      answers.push(failedFetch(p.errorCode));
      continue;
    }
    const a = nativeAnswers[next++]!;
    answers.push({ ...a, errorCode: await refineNotLeader(cache, p.native.topic, p.partition, a.errorCode) });
  }
  return fetchBody(version, plan, answers);
}

// ---------------------------------------------------------------- ListOffsets

export type ListOffsetsPartitionPlan = {
  readonly topic: string;
  readonly partition: number;
  readonly currentLeaderEpoch: number;
  readonly timestamp: number;
  /** Set when answered without asking. */
  readonly errorCode: number | null;
};

type ListOffsetsTopicRequest = { name: string; partitions: { partitionIndex: number; currentLeaderEpoch: number; timestamp: number }[] };

export function listOffsetsPlan(body: KafkaValue): { isolationLevel: 0 | 1; partitions: ListOffsetsPartitionPlan[] } {
  const isolation = body.isolationLevel;
  const badIsolation = isolation !== 0 && isolation !== 1;
  const topics = asArray<ListOffsetsTopicRequest>(body.topics);
  const tooMany = topics.reduce((n, t) => n + asArray(t.partitions).length, 0) > kafkaDataLimits.requestPartitionsMax;
  const partitions: ListOffsetsPartitionPlan[] = [];
  for (const t of topics) {
    for (const p of asArray<ListOffsetsTopicRequest['partitions'][number]>(t.partitions)) {
      const timestamp = typeof p.timestamp === 'number' ? Math.min(p.timestamp, Number.MAX_SAFE_INTEGER) : -1;
      let errorCode: number | null = null;
      if (tooMany || badIsolation) errorCode = ErrorCode.INVALID_REQUEST;
      else if (!validTopicName(t.name) || !validPartition(p.partitionIndex)) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      else if (timestamp < -2) errorCode = ErrorCode.UNSUPPORTED_VERSION;
      partitions.push({ topic: t.name, partition: p.partitionIndex, currentLeaderEpoch: typeof p.currentLeaderEpoch === 'number' ? p.currentLeaderEpoch : -1, timestamp, errorCode });
    }
  }
  return { isolationLevel: isolation === 1 ? 1 : 0, partitions };
}

type ListOffsetsAnswer = { errorCode: number; offset: number; timestamp: number; leaderEpoch: number };

/**
 * Kafka checks the client's currentLeaderEpoch against the leader's before answering: older is
 * FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH. The native reply carries the leader's epoch it answered in.
 */
export function leaderEpochCheck(currentLeaderEpoch: number, leaderEpoch: number): number {
  if (currentLeaderEpoch < 0 || leaderEpoch < 0) return ErrorCode.NONE;
  if (currentLeaderEpoch < leaderEpoch) return ErrorCode.FENCED_LEADER_EPOCH;
  if (currentLeaderEpoch > leaderEpoch) return ErrorCode.UNKNOWN_LEADER_EPOCH;
  return ErrorCode.NONE;
}

export function listOffsetsBody(plan: readonly ListOffsetsPartitionPlan[], answers: readonly ListOffsetsAnswer[]): KafkaValue {
  const topics: { name: string; partitions: KafkaValue[] }[] = [];
  plan.forEach((p, i) => {
    let a = answers[i]!;
    if (a.errorCode === ErrorCode.NONE) {
      const fenced = leaderEpochCheck(p.currentLeaderEpoch, a.leaderEpoch);
      if (fenced !== ErrorCode.NONE) a = { errorCode: fenced, offset: -1, timestamp: -1, leaderEpoch: -1 };
    }
    let topic = topics.at(-1);
    if (topic === undefined || topic.name !== p.topic) {
      topic = { name: p.topic, partitions: [] };
      topics.push(topic);
    }
    topic.partitions.push({ partitionIndex: p.partition, errorCode: a.errorCode, oldStyleOffsets: [], timestamp: a.timestamp, offset: a.offset, leaderEpoch: a.leaderEpoch });
  });
  return { throttleTimeMs: 0, topics };
}

const failedListOffsets = (errorCode: number): ListOffsetsAnswer => ({ errorCode, offset: -1, timestamp: -1, leaderEpoch: -1 });

async function handleListOffsets(body: KafkaValue, { node, caller }: HandlerDeps): Promise<KafkaValue> {
  const { isolationLevel, partitions } = listOffsetsPlan(body);
  const asked = partitions.filter((p) => p.errorCode === null);
  const cache = topicCacheOf(node);
  let nativeAnswers: ListOffsetsAnswer[] = [];
  if (asked.length > 0) {
    nativeAnswers = await node
      .askAsClient<ListOffsets, ListOffsetsReply>('/fetch', (replyTo) => ({ type: 'ListOffsets', isolationLevel, partitions: asked.map((p) => ({ topic: p.topic, partition: p.partition, timestamp: p.timestamp })), replyTo }), { timeoutMs: kafkaGatewayAskTimeoutMs, caller })
      .then(
        (reply) =>
          asked.map((p, i) => {
            const r = reply.partitions[i];
            return r === undefined || r.topic !== p.topic || r.partition !== p.partition ? failedListOffsets(ErrorCode.UNKNOWN_SERVER_ERROR) : { errorCode: r.errorCode, offset: r.offset, timestamp: r.timestamp, leaderEpoch: r.leaderEpoch };
          }),
        (err: unknown) => asked.map(() => failedListOffsets(toErrorCode(err))),
      );
  }
  const answers: ListOffsetsAnswer[] = [];
  let next = 0;
  for (const p of partitions) {
    if (p.errorCode !== null) {
      answers.push(failedListOffsets(p.errorCode));
      continue;
    }
    const a = nativeAnswers[next++]!;
    answers.push({ ...a, errorCode: await refineNotLeader(cache, p.topic, p.partition, a.errorCode) });
  }
  return listOffsetsBody(partitions, answers);
}

// ---------------------------------------------------------------- OffsetForLeaderEpoch

export type EpochPartitionPlan = { readonly topic: string; readonly partition: number; readonly currentLeaderEpoch: number; readonly leaderEpoch: number; readonly errorCode: number | null };

type EpochTopicRequest = { topic: string; partitions: { partition: number; currentLeaderEpoch: number; leaderEpoch: number }[] };

export function offsetForLeaderEpochPlan(body: KafkaValue): EpochPartitionPlan[] {
  const topics = asArray<EpochTopicRequest>(body.topics);
  const tooMany = topics.reduce((n, t) => n + asArray(t.partitions).length, 0) > kafkaDataLimits.requestPartitionsMax;
  const partitions: EpochPartitionPlan[] = [];
  for (const t of topics) {
    for (const p of asArray<EpochTopicRequest['partitions'][number]>(t.partitions)) {
      let errorCode: number | null = null;
      if (tooMany) errorCode = ErrorCode.INVALID_REQUEST;
      else if (!validTopicName(t.topic) || !validPartition(p.partition)) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      partitions.push({ topic: t.topic, partition: p.partition, currentLeaderEpoch: typeof p.currentLeaderEpoch === 'number' ? p.currentLeaderEpoch : -1, leaderEpoch: p.leaderEpoch, errorCode });
    }
  }
  return partitions;
}

type EpochAnswer = { errorCode: number; leaderEpoch: number; endOffset: number };

export function offsetForLeaderEpochBody(plan: readonly EpochPartitionPlan[], answers: readonly EpochAnswer[]): KafkaValue {
  const topics: { topic: string; partitions: KafkaValue[] }[] = [];
  plan.forEach((p, i) => {
    const a = answers[i]!;
    let topic = topics.at(-1);
    if (topic === undefined || topic.topic !== p.topic) {
      topic = { topic: p.topic, partitions: [] };
      topics.push(topic);
    }
    topic.partitions.push({ errorCode: a.errorCode, partition: p.partition, leaderEpoch: a.leaderEpoch, endOffset: a.endOffset });
  });
  return { throttleTimeMs: 0, topics };
}

const failedEpoch = (errorCode: number): EpochAnswer => ({ errorCode, leaderEpoch: -1, endOffset: -1 });

async function handleOffsetForLeaderEpoch(body: KafkaValue, { node, caller }: HandlerDeps): Promise<KafkaValue> {
  const plan = offsetForLeaderEpochPlan(body);
  const asked = plan.filter((p) => p.errorCode === null);
  const cache = topicCacheOf(node);
  let nativeAnswers: EpochAnswer[] = [];
  if (asked.length > 0) {
    nativeAnswers = await node
      .askAsClient<OffsetForLeaderEpoch, OffsetForLeaderEpochReply>(
        '/fetch',
        (replyTo) => ({ type: 'OffsetForLeaderEpoch', partitions: asked.map((p) => ({ topic: p.topic, partition: p.partition, leaderEpoch: p.leaderEpoch, currentLeaderEpoch: p.currentLeaderEpoch })), replyTo }),
        { timeoutMs: kafkaGatewayAskTimeoutMs, caller },
      )
      .then(
        (reply) =>
          asked.map((p, i) => {
            const r = reply.partitions[i];
            return r === undefined || r.topic !== p.topic || r.partition !== p.partition ? failedEpoch(ErrorCode.UNKNOWN_SERVER_ERROR) : { errorCode: r.errorCode, leaderEpoch: r.leaderEpoch, endOffset: r.endOffset };
          }),
        (err: unknown) => asked.map(() => failedEpoch(toErrorCode(err))),
      );
  }
  const answers: EpochAnswer[] = [];
  let next = 0;
  for (const p of plan) {
    if (p.errorCode !== null) {
      answers.push(failedEpoch(p.errorCode));
      continue;
    }
    const a = nativeAnswers[next++]!;
    answers.push({ ...a, errorCode: await refineNotLeader(cache, p.topic, p.partition, a.errorCode) });
  }
  return offsetForLeaderEpochBody(plan, answers);
}

// ---------------------------------------------------------------- the table

export const dataApis: ServedApis = {
  Produce: { minVersion: 3, maxVersion: 11, handle: ({ version, body }, deps) => handleProduce(version, body, deps) },
  Fetch: { minVersion: 4, maxVersion: 17, handle: ({ version, body }, deps) => handleFetch(version, body, deps) },
  ListOffsets: { minVersion: 1, maxVersion: 6, handle: ({ body }, deps) => handleListOffsets(body, deps) },
  OffsetForLeaderEpoch: { minVersion: 0, maxVersion: 4, handle: ({ body }, deps) => handleOffsetForLeaderEpoch(body, deps) },
};
