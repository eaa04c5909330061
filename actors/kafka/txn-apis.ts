/**
 * Kafka's producer and transaction APIs over the native ones
 * (protocol/apis/txn.ts): InitProducerId, AddPartitionsToTxn (the client
 * form, v0-3), AddOffsetsToTxn, EndTxn and TxnOffsetCommit; and the
 * read-only DescribeProducers, DescribeTransactions and ListTransactions.
 *
 * Owns: `txnApis` (the ServedApis table) and the pure translations,
 * exported for the tests.
 *
 * Routing, as the native client does it:
 * - InitProducerId without a transactional id (an idempotent producer) goes
 *   to this node's `/broker`, which hands out ids from its block; with one,
 *   to this node's `/transactions` with the request's producer id and epoch
 *   (KIP-360, v3+; -1/-1 before), which answers NOT_COORDINATOR when another
 *   broker is the id's coordinator (the client found it with FindCoordinator).
 * - AddPartitionsToTxn, AddOffsetsToTxn, EndTxn to `/transactions`;
 *   TxnOffsetCommit to `/groups` (the group's coordinator).
 * All through `node.askAsClient`: held to the same client protocols.
 *
 * Kafka's rules kept here:
 * - A failure of the whole ask (timeout, refusal, no such actor) is answered
 *   with its code, on every partition where the response has no top-level
 *   code (AddPartitionsToTxn v0-3, TxnOffsetCommit).
 * - AddPartitionsToTxn v4+ (the broker-to-broker batched form, KIP-890) is
 *   not served: clients send v3 and older; a broker's own verification is the
 *   native VerifyPartitionsInTxn.
 * - PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH to the versions
 *   that predate it (InitProducerId v0-3, AddPartitionsToTxn, AddOffsetsToTxn
 *   and EndTxn v0-1), as Kafka does: those clients handle only the old code.
 * - A producer id beyond 2^53 cannot be held by the codec's numbers and is
 *   no id the coordinator handed out: INVALID_PRODUCER_ID_MAPPING.
 *
 * - EndTxn v0-4 (all that shared/kafka-protocol defines) is transaction
 *   version 1: the native EndTxn is sent with `bumpEpochOnEnd: false`, so the
 *   transaction ends in its own epoch and the producer runs the next one with
 *   the epoch it has (a Kafka client keeps it for its lifetime: these
 *   versions have no field to name a new one). Native clients get version 2
 *   (the bump, named in the reply), as Kafka serves EndTxn v5+.
 *
 * The KIP-664 reads, over native read-only operations:
 * - DescribeProducers v0 to this node's `/broker`, which answers for the
 *   partitions it leads (Kafka's admin client sends it to each partition's
 *   leader): NOT_LEADER_OR_FOLLOWER elsewhere, UNKNOWN_TOPIC_OR_PARTITION for
 *   a partition the metadata does not know. Kafka's own checks come first
 *   here: an illegal topic name is INVALID_TOPIC_EXCEPTION, a negative
 *   partition UNKNOWN_TOPIC_OR_PARTITION.
 * - DescribeTransactions v0 to `/transactions`, each id answered by the
 *   coordinator (NOT_COORDINATOR for ids another broker coordinates, the
 *   admin client finds it; TRANSACTIONAL_ID_NOT_FOUND), in chunks of the
 *   native bound; an id longer than any InitProducerId accepts is
 *   TRANSACTIONAL_ID_NOT_FOUND here.
 * - ListTransactions v0-1 to `/transactions`: the ids this broker
 *   coordinates (a client asks every broker and merges, as Kafka's admin
 *   does), filters as listTransactionsFilters says.
 */
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import {
  txnApiLimits,
  type AddOffsetsToTxnResponse,
  type AddPartitionsToTxnResponse,
  type DescribeProducersResponse,
  type DescribeTransactionsResponse,
  type EndTxnResponse,
  type ListTransactionsResponse,
  type TransactionDescription,
  type TxnInitProducerIdReply,
  type TxnOffsetCommitResponse,
  type TxnPartitionResult,
  type TxnTopicPartitions,
} from '../../protocol/apis/txn.ts';
import { kafkaGatewayAskTimeoutMs, type HandlerDeps, type ServedApis } from './served.ts';

type Failure = { readonly failed: true; readonly errorCode: number; readonly errorMessage: string };

const isFailure = (value: unknown): value is Failure => typeof value === 'object' && value !== null && (value as Failure).failed === true;

async function ask<R>(deps: HandlerDeps, path: string, message: Record<string, unknown>, replyType: string): Promise<R | Failure> {
  try {
    const reply = await deps.node.askAsClient<unknown, { type?: unknown; errorCode?: unknown; errorMessage?: unknown }>(path, (replyTo) => ({ ...message, replyTo }), { timeoutMs: kafkaGatewayAskTimeoutMs, caller: deps.caller });
    if (reply?.type === replyType) return reply as R;
    return { failed: true, errorCode: typeof reply?.errorCode === 'number' ? reply.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: typeof reply?.errorMessage === 'string' ? reply.errorMessage : `${String(message.type)} failed` };
  } catch (err) {
    return err instanceof KactusError ? { failed: true, errorCode: err.code, errorMessage: err.message } : { failed: true, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: `${String(message.type)} failed` };
  }
}

/** A producer id the native side can name (it hands out ids below 2^53; -1 is "none"). */
const isNameableProducerId = (id: unknown): id is number => typeof id === 'number' && Number.isSafeInteger(id) && id >= -1;

/** Kafka's compatibility rule: a client older than `firstVersion` knows INVALID_PRODUCER_EPOCH, not PRODUCER_FENCED. */
export function fencedCodeFor(version: number, firstVersion: number, errorCode: number): number {
  return errorCode === ErrorCode.PRODUCER_FENCED && version < firstVersion ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode;
}

const badProducerId: Failure = { failed: true, errorCode: ErrorCode.INVALID_PRODUCER_ID_MAPPING, errorMessage: 'The producer id is not one this cluster handed out' };

// ---------------------------------------------------------------- InitProducerId

async function initProducerId(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const transactionalId = body.transactionalId as string | null;
  const producerId = version >= 3 ? body.producerId : -1;
  const producerEpoch = version >= 3 ? (body.producerEpoch as number) : -1;
  const answer = (errorCode: number, id = -1, epoch = -1): KafkaValue => ({ throttleTimeMs: 0, errorCode, producerId: id, producerEpoch: epoch });
  if (!isNameableProducerId(producerId)) return answer(badProducerId.errorCode);
  // Kafka: a null id is an idempotent producer; an empty one is no id at all.
  if (transactionalId === '') return answer(ErrorCode.INVALID_REQUEST);
  // Kafka's range check, [1, transaction.max.timeout.ms] (the coordinator checks the upper bound and 0).
  if (transactionalId !== null && (body.transactionTimeoutMs as number) < 0) return answer(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
  const reply =
    transactionalId === null
      ? await ask<TxnInitProducerIdReply>(deps, '/broker', { type: 'InitProducerId', transactionalId: null, transactionTimeoutMs: body.transactionTimeoutMs }, 'InitProducerIdReply')
      : await ask<TxnInitProducerIdReply>(deps, '/transactions', { type: 'InitProducerId', transactionalId, transactionTimeoutMs: body.transactionTimeoutMs, producerId, producerEpoch }, 'InitProducerIdReply');
  if (isFailure(reply)) return answer(reply.errorCode);
  return reply.errorCode === ErrorCode.NONE ? answer(0, reply.producerId, reply.producerEpoch) : answer(fencedCodeFor(version, 4, reply.errorCode));
}

// ---------------------------------------------------------------- AddPartitionsToTxn (v0-3)

type KafkaTopicPartitions = { name: string; partitions: number[] };

/** Native per-partition results grouped back into Kafka's topics (the request's order). */
export function addPartitionsBody(version: number, topics: readonly KafkaTopicPartitions[], results: readonly TxnPartitionResult[] | Failure): KafkaValue {
  const byKey = new Map<string, number>();
  if (!isFailure(results)) for (const r of results) byKey.set(`${r.partition}:${r.topic}`, fencedCodeFor(version, 2, r.errorCode));
  return {
    throttleTimeMs: 0,
    resultsByTopicV3AndBelow: topics.map((t) => ({
      name: t.name,
      resultsByPartition: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: isFailure(results) ? fencedCodeFor(version, 2, results.errorCode) : (byKey.get(`${p}:${t.name}`) ?? ErrorCode.UNKNOWN_SERVER_ERROR) })),
    })),
  };
}

async function addPartitionsToTxn(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const topics = body.v3AndBelowTopics as KafkaTopicPartitions[];
  if (!isNameableProducerId(body.v3AndBelowProducerId)) return addPartitionsBody(version, topics, badProducerId);
  const reply = await ask<AddPartitionsToTxnResponse>(
    deps,
    '/transactions',
    {
      type: 'AddPartitionsToTxn',
      transactionalId: body.v3AndBelowTransactionalId,
      producerId: body.v3AndBelowProducerId,
      producerEpoch: body.v3AndBelowProducerEpoch,
      partitions: topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition }))),
    },
    'AddPartitionsToTxnReply',
  );
  return addPartitionsBody(version, topics, isFailure(reply) ? reply : reply.results);
}

// ---------------------------------------------------------------- AddOffsetsToTxn, EndTxn

async function addOffsetsToTxn(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  if (!isNameableProducerId(body.producerId)) return { throttleTimeMs: 0, errorCode: badProducerId.errorCode };
  const reply = await ask<AddOffsetsToTxnResponse>(deps, '/transactions', { type: 'AddOffsetsToTxn', transactionalId: body.transactionalId, producerId: body.producerId, producerEpoch: body.producerEpoch, groupId: body.groupId }, 'AddOffsetsToTxnReply');
  return { throttleTimeMs: 0, errorCode: fencedCodeFor(version, 2, reply.errorCode) };
}

async function endTxn(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  if (!isNameableProducerId(body.producerId)) return { throttleTimeMs: 0, errorCode: badProducerId.errorCode };
  const reply = await ask<EndTxnResponse>(deps, '/transactions', { type: 'EndTxn', transactionalId: body.transactionalId, producerId: body.producerId, producerEpoch: body.producerEpoch, committed: body.committed === true, bumpEpochOnEnd: false }, 'EndTxnReply');
  return { throttleTimeMs: 0, errorCode: fencedCodeFor(version, 2, reply.errorCode) };
}

// ---------------------------------------------------------------- TxnOffsetCommit

type KafkaTxnOffsetTopic = { name: string; partitions: { partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; committedMetadata: string | null }[] };

/** The native TxnOffsetCommit reply as Kafka's: a top-level error (or a failed ask) lands on every partition. */
export function txnOffsetCommitBody(topics: readonly KafkaTxnOffsetTopic[], reply: TxnOffsetCommitResponse | Failure): KafkaValue {
  const whole = isFailure(reply) ? reply.errorCode : reply.errorCode;
  const byKey = new Map<string, number>();
  if (!isFailure(reply)) for (const r of reply.results) byKey.set(`${r.partition}:${r.topic}`, r.errorCode);
  return {
    throttleTimeMs: 0,
    topics: topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: whole !== ErrorCode.NONE ? whole : (byKey.get(`${p.partitionIndex}:${t.name}`) ?? ErrorCode.NONE) })),
    })),
  };
}

async function txnOffsetCommit(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const topics = body.topics as KafkaTxnOffsetTopic[];
  if (!isNameableProducerId(body.producerId)) return txnOffsetCommitBody(topics, badProducerId);
  const reply = await ask<TxnOffsetCommitResponse>(
    deps,
    '/groups',
    {
      type: 'TxnOffsetCommit',
      transactionalId: body.transactionalId,
      groupId: body.groupId,
      producerId: body.producerId,
      producerEpoch: body.producerEpoch,
      // Before v3 the producer is no group member: '' and -1, which the coordinator does not check.
      memberId: version >= 3 ? body.memberId : '',
      groupInstanceId: version >= 3 ? body.groupInstanceId : null,
      generationId: version >= 3 ? body.generationId : -1,
      offsets: topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, metadata: p.committedMetadata }))),
      // Transaction version 1, as this listener's EndTxn: the commit marker keeps the epoch and must end these offsets.
      bumpEpochOnEnd: false,
    },
    'TxnOffsetCommitReply',
  );
  return txnOffsetCommitBody(topics, reply);
}

// ---------------------------------------------------------------- DescribeProducers, DescribeTransactions, ListTransactions (KIP-664)

/** Kafka's Topic.validate: what it answers INVALID_TOPIC_EXCEPTION for before looking anything up. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return 'Topic name is illegal, it can\'t be empty';
  if (name === '.' || name === '..') return 'Topic name cannot be "." or ".."';
  if (name.length > 249) return `Topic name is illegal, it can't be longer than 249 characters, topic name: ${name.slice(0, 249)}...`;
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  return null;
}

type KafkaProducersTopic = { name: string; partitionIndexes: number[] };
type Refusal = { errorCode: number; errorMessage: string };

/**
 * What the Kafka listener asks `/broker` for DescribeProducers: the topics with
 * a legal name, each with its partitions >= 0 (Kafka answers the others
 * itself: INVALID_TOPIC_EXCEPTION, UNKNOWN_TOPIC_OR_PARTITION), and how to put
 * the native answer back in the request's shape.
 */
export function describeProducersPlan(topics: readonly KafkaProducersTopic[]): { native: TxnTopicPartitions[]; answer: (reply: DescribeProducersResponse | Failure) => KafkaValue } {
  const native: TxnTopicPartitions[] = [];
  const slots = topics.map((t) => {
    const problem = topicNameProblem(t.name);
    if (problem !== null) return { problem, at: -1 };
    native.push({ topic: t.name, partitions: t.partitionIndexes.filter((p) => p >= 0) });
    return { problem: null, at: native.length - 1 };
  });
  const answer = (reply: DescribeProducersResponse | Failure): KafkaValue => ({
    throttleTimeMs: 0,
    topics: topics.map((t, i) => {
      const slot = slots[i]!;
      const answered = slot.at >= 0 && !isFailure(reply) ? reply.topics[slot.at]?.partitions : undefined;
      let next = 0;
      return {
        name: t.name,
        partitions: t.partitionIndexes.map((partitionIndex) => {
          const refused = (r: Refusal) => ({ partitionIndex, errorCode: r.errorCode, errorMessage: r.errorMessage, activeProducers: [] });
          if (slot.problem !== null) return refused({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: slot.problem });
          if (partitionIndex < 0) return refused({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `${t.name}-${partitionIndex} does not exist` });
          if (isFailure(reply)) return refused(reply);
          const p = answered?.[next++];
          if (p === undefined || p.partition !== partitionIndex) return refused({ errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: 'DescribeProducers: the broker answered another partition' });
          return {
            partitionIndex,
            errorCode: p.errorCode,
            errorMessage: p.errorMessage,
            activeProducers: p.activeProducers.map((a) => ({ producerId: a.producerId, producerEpoch: a.producerEpoch, lastSequence: a.lastSequence, lastTimestamp: a.lastTimestampMs, coordinatorEpoch: a.coordinatorEpoch, currentTxnStartOffset: a.currentTxnStartOffset })),
          };
        }),
      };
    }),
  });
  return { native, answer };
}

async function describeProducers(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const plan = describeProducersPlan(body.topics as KafkaProducersTopic[]);
  const count = plan.native.reduce((n, t) => n + t.partitions.length, 0);
  if (count > txnApiLimits.partitionsPerRequestMax) {
    return plan.answer({ failed: true, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `DescribeProducers names ${count} partitions, over the limit of ${txnApiLimits.partitionsPerRequestMax}` });
  }
  // /broker answers for the partitions it leads (Kafka: send it to each partition's leader; the admin client does).
  const reply = plan.native.length === 0 ? ({ type: 'DescribeProducersReply', topics: [] } as DescribeProducersResponse) : await ask<DescribeProducersResponse>(deps, '/broker', { type: 'DescribeProducers', topics: plan.native }, 'DescribeProducersReply');
  return plan.answer(reply);
}

/** DescribeTransactions' answer for one id the coordinator did not describe (a failed ask, an id no coordinator can hold). */
const txnStateRefused = (transactionalId: string, errorCode: number): KafkaValue => ({ errorCode, transactionalId, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: 0, producerId: 0, producerEpoch: 0, topics: [] });

/** The native description as Kafka's TransactionState entry. */
export function kafkaTransactionState(d: TransactionDescription): KafkaValue {
  return {
    errorCode: d.errorCode,
    transactionalId: d.transactionalId,
    transactionState: d.transactionState,
    transactionTimeoutMs: d.transactionTimeoutMs,
    transactionStartTimeMs: d.transactionStartTimeMs,
    producerId: d.producerId,
    producerEpoch: d.producerEpoch,
    topics: d.topics.map((t) => ({ topic: t.topic, partitions: t.partitions })),
  };
}

async function describeTransactions(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const ids = body.transactionalIds as string[];
  const max = txnApiLimits.transactionalIdsPerDescribeMax;
  // An id longer than any InitProducerId accepts was never handed out by any coordinator.
  const askable = ids.filter((id) => id.length <= txnApiLimits.transactionalIdCharsMax);
  const chunks: string[][] = [];
  for (let i = 0; i < askable.length; i += max) chunks.push(askable.slice(i, i + max));
  const described = new Map<string, KafkaValue>();
  const replies = await Promise.all(chunks.map((chunk) => ask<DescribeTransactionsResponse>(deps, '/transactions', { type: 'DescribeTransactions', transactionalIds: chunk }, 'DescribeTransactionsReply')));
  replies.forEach((reply, i) => {
    const chunk = chunks[i]!;
    // A failed ask, or a request the coordinator refused whole: its code on each id.
    if (isFailure(reply) || reply.errorCode !== ErrorCode.NONE) for (const id of chunk) described.set(id, txnStateRefused(id, reply.errorCode));
    else for (const d of reply.transactionStates) described.set(d.transactionalId, kafkaTransactionState(d));
  });
  return {
    throttleTimeMs: 0,
    transactionStates: ids.map((id) => described.get(id) ?? txnStateRefused(id, id.length > txnApiLimits.transactionalIdCharsMax ? ErrorCode.TRANSACTIONAL_ID_NOT_FOUND : ErrorCode.UNKNOWN_SERVER_ERROR)),
  };
}

/**
 * ListTransactions' filters as the native request takes them: state names and
 * producer ids each once (Kafka reads both as sets); a producer id beyond 2^53
 * (no coordinator hands one out) becomes -1, which matches nothing but keeps
 * the filter a filter; no DurationFilter before v1, and a negative one, is -1.
 * More names or ids than the native bounds, or a name longer than any state
 * name could be: INVALID_REQUEST (Kafka has no bound).
 */
export function listTransactionsFilters(version: number, body: KafkaValue): { stateFilters: string[]; producerIdFilters: number[]; durationFilterMs: number } | Refusal {
  const L = txnApiLimits;
  const stateFilters = [...new Set(body.stateFilters as string[])];
  const producerIdFilters = [...new Set((body.producerIdFilters as number[]).map((id) => (Number.isSafeInteger(id) && id >= 0 ? id : -1)))];
  if (stateFilters.length > L.stateFiltersMax || stateFilters.some((name) => name.length > L.stateFilterCharsMax)) {
    return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `ListTransactions takes at most ${L.stateFiltersMax} state filters of at most ${L.stateFilterCharsMax} characters` };
  }
  if (producerIdFilters.length > L.producerIdFiltersMax) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `ListTransactions takes at most ${L.producerIdFiltersMax} producer id filters` };
  const duration = version >= 1 ? (body.durationFilter as number) : -1;
  const durationFilterMs = duration < 0 ? -1 : Math.min(duration, Number.MAX_SAFE_INTEGER);
  return { stateFilters, producerIdFilters, durationFilterMs };
}

async function listTransactions(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const answer = (errorCode: number, unknownStateFilters: string[] = [], transactionStates: KafkaValue[] = []): KafkaValue => ({ throttleTimeMs: 0, errorCode, unknownStateFilters, transactionStates });
  const filters = listTransactionsFilters(version, body);
  if ('errorCode' in filters) return answer(filters.errorCode);
  const reply = await ask<ListTransactionsResponse>(deps, '/transactions', { type: 'ListTransactions', ...filters }, 'ListTransactionsReply');
  if (isFailure(reply) || reply.errorCode !== ErrorCode.NONE) return answer(reply.errorCode);
  return answer(
    ErrorCode.NONE,
    reply.unknownStateFilters,
    reply.transactionStates.map((t) => ({ transactionalId: t.transactionalId, producerId: t.producerId, transactionState: t.transactionState })),
  );
}

// ---------------------------------------------------------------- the table

const served = (minVersion: number, maxVersion: number, translate: (version: number, body: KafkaValue, deps: HandlerDeps) => Promise<KafkaValue>) => ({
  minVersion,
  maxVersion,
  handle: ({ version, body }: { version: number; body: KafkaValue }, deps: HandlerDeps) => translate(version, body, deps),
});

/** Versions: from 0 (clients pick the newest both sides know) to the newest in shared/kafka-protocol answered in full. */
export const txnApis: ServedApis = {
  InitProducerId: served(0, 5, initProducerId),
  AddPartitionsToTxn: served(0, 3, addPartitionsToTxn),
  AddOffsetsToTxn: served(0, 4, addOffsetsToTxn),
  EndTxn: served(0, 4, endTxn),
  TxnOffsetCommit: served(0, 4, txnOffsetCommit),
  DescribeProducers: served(0, 0, describeProducers),
  DescribeTransactions: served(0, 0, describeTransactions),
  ListTransactions: served(0, 1, listTransactions),
};
