/**
 * The admin client's transaction reads (KIP-664), Kafka Admin's
 * describeProducers / describeTransactions / listTransactions:
 *
 * - describeProducers: each partition's leader (`/broker` DescribeProducers)
 *   for the producers it remembers; NOT_LEADER_OR_FOLLOWER and other
 *   retriable partition errors refresh the metadata and retry (as listOffsets).
 * - describeTransactions: each id's coordinator (`/transactions`), found and
 *   retried by the producer's CoordinatorClient (NOT_COORDINATOR, loading).
 *   An id the coordinator does not hold fails the call with
 *   TRANSACTIONAL_ID_NOT_FOUND, as Kafka's admin fails that id's future.
 * - listTransactions: every broker in the metadata (each lists the ids it
 *   coordinates), merged; COORDINATOR_LOAD_IN_PROGRESS is retried; any other
 *   failure of one broker fails the call, as in Kafka's admin.
 *
 * Replies are untrusted: validated into CORRUPT_MESSAGE naming the field.
 *
 * Imports: protocol (types, validate, errors), connection.ts,
 * metadata-cache.ts, retry.ts, replies.ts, producer/coordinator-call.ts.
 */
import type { Ref } from '../runtime/ref.ts';
import { array, int, int32, nullable, object, optional, string } from '../protocol/validate.ts';
import { ErrorCode, KactusError, partitionError } from './errors.ts';
import type { Connection } from './connection.ts';
import type { MetadataCache } from './metadata-cache.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { checkReply } from './replies.ts';
import { CoordinatorClient, txnCoordinatorKind } from './producer/coordinator-call.ts';

export type ActiveProducer = { producerId: number; producerEpoch: number; lastSequence: number; lastTimestampMs: number; coordinatorEpoch: number; currentTransactionStartOffset: number };
export type PartitionProducers = { topic: string; partition: number; activeProducers: ActiveProducer[] };
/** Kafka's TransactionState names. */
export type TransactionStateName = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort' | 'Dead' | 'PrepareEpochFence';
export type TransactionDescription = {
  transactionalId: string;
  coordinatorId: number;
  state: TransactionStateName;
  producerId: number;
  producerEpoch: number;
  transactionTimeoutMs: number;
  /** -1 when no transaction is open. */
  transactionStartTimeMs: number;
  topicPartitions: { topic: string; partition: number }[];
};
export type TransactionListing = { transactionalId: string; producerId: number; state: TransactionStateName };

export type AdminTxnDeps = { connection: Connection; metadata: MetadataCache; requestTimeoutMs: number; retry: RetryPolicy };

const itemsMax = 1_000_000;
const id = int(-1, Number.MAX_SAFE_INTEGER);
const anyInt = int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

const describeProducersReply = object({
  type: string(64),
  topics: array(
    object({
      topic: string(249),
      partitions: array(
        object({
          partition: int32,
          errorCode: int32,
          errorMessage: optional(nullable(string(1_000_000)), null),
          activeProducers: array(object({ producerId: id, producerEpoch: int32, lastSequence: int32, lastTimestampMs: anyInt, coordinatorEpoch: int32, currentTxnStartOffset: anyInt }), itemsMax),
        }),
        itemsMax,
      ),
    }),
    itemsMax,
  ),
});

const describeTransactionsReply = object({
  type: string(64),
  errorCode: optional(int32, 0),
  transactionStates: array(
    object({
      transactionalId: string(1_000_000),
      errorCode: int32,
      transactionState: string(64),
      transactionTimeoutMs: int32,
      transactionStartTimeMs: anyInt,
      producerId: anyInt,
      producerEpoch: int32,
      topics: array(object({ topic: string(249), partitions: array(int32, itemsMax) }), itemsMax),
    }),
    itemsMax,
  ),
});

const listTransactionsReply = object({
  type: string(64),
  errorCode: int32,
  errorMessage: optional(nullable(string(1_000_000)), null),
  unknownStateFilters: array(string(1_000_000), itemsMax),
  transactionStates: array(object({ transactionalId: string(1_000_000), producerId: id, transactionState: string(64) }), itemsMax),
});

export async function describeProducers(deps: AdminTxnDeps, topicPartitions: readonly { topic: string; partition: number }[]): Promise<PartitionProducers[]> {
  const { connection, metadata } = deps;
  const key = (p: { topic: string; partition: number }) => `${p.partition}:${p.topic}`;
  const results = new Map<string, PartitionProducers>();
  await withRetry(
    async () => {
      const byLeader = new Map<number, { topic: string; partition: number }[]>();
      for (const p of topicPartitions) {
        if (results.has(key(p))) continue;
        const { leader } = await metadata.leaderFor(p.topic, p.partition);
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
      }
      let retriable: KactusError | undefined;
      await Promise.all(
        [...byLeader].map(async ([leader, ps]) => {
          const topics = [...new Set(ps.map((p) => p.topic))].map((topic) => ({ topic, partitions: ps.filter((p) => p.topic === topic).map((p) => p.partition) }));
          const raw = await connection.ask<unknown, unknown>(leader, '/broker', (replyTo) => ({ type: 'DescribeProducers', topics, replyTo }), deps.requestTimeoutMs);
          // /broker refused the request whole (a bound): its code, not a malformed reply.
          const refused = raw as { type?: unknown; errorCode?: unknown; errorMessage?: unknown } | null;
          if (refused?.type === 'DescribeProducersError' && typeof refused.errorCode === 'number') {
            throw new KactusError(refused.errorCode, `describeProducers on broker ${leader}: ${typeof refused.errorMessage === 'string' ? refused.errorMessage.slice(0, 1_000) : 'refused'}`);
          }
          const reply = checkReply(describeProducersReply, raw, `DescribeProducers reply from broker ${leader}`);
          for (const t of reply.topics) {
            for (const p of t.partitions) {
              if (p.errorCode !== ErrorCode.NONE) {
                const error = partitionError(p.errorCode, t.topic, p.partition, `describeProducers from broker ${leader}`);
                if (!error.retriable) throw error;
                metadata.onError(t.topic, p.errorCode);
                retriable = error;
                continue;
              }
              results.set(key({ topic: t.topic, partition: p.partition }), {
                topic: t.topic,
                partition: p.partition,
                activeProducers: p.activeProducers.map((a) => ({ producerId: a.producerId, producerEpoch: a.producerEpoch, lastSequence: a.lastSequence, lastTimestampMs: a.lastTimestampMs, coordinatorEpoch: a.coordinatorEpoch, currentTransactionStartOffset: a.currentTxnStartOffset })),
              });
            }
          }
        }),
      );
      if (retriable) throw retriable;
    },
    deps.retry,
    { onRetriable: () => metadata.refresh([...new Set(topicPartitions.map((p) => p.topic))]).then(() => undefined) },
  );
  return topicPartitions.map((p) => {
    const found = results.get(key(p));
    if (found === undefined) throw new KactusError(ErrorCode.UNKNOWN_SERVER_ERROR, `describeProducers: no answer for ${p.topic}-${p.partition}`);
    return found;
  });
}

export async function describeTransactions(deps: AdminTxnDeps, transactionalIds: readonly string[]): Promise<TransactionDescription[]> {
  const coordinators = new CoordinatorClient(txnCoordinatorKind, deps.connection);
  const deadlineMs = Date.now() + deps.requestTimeoutMs;
  return Promise.all(
    transactionalIds.map(async (transactionalId) => {
      type Reply = { transactionStates?: { errorCode?: number }[]; errorCode?: number };
      const raw = await coordinators.call<Reply>(
        transactionalId,
        'DescribeTransactions',
        () => ({ type: 'DescribeTransactions', transactionalIds: [transactionalId] }),
        (r) => (typeof r.errorCode === 'number' && r.errorCode !== 0 ? r.errorCode : (r.transactionStates?.[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR)),
        { connection: deps.connection, retry: deps.retry, requestTimeoutMs: deps.requestTimeoutMs, deadlineMs },
      );
      const reply = checkReply(describeTransactionsReply, raw, `DescribeTransactions reply for ${transactionalId}`);
      if (reply.errorCode !== ErrorCode.NONE) throw new KactusError(reply.errorCode, `describeTransactions ${transactionalId}: refused`);
      const d = reply.transactionStates[0];
      if (d === undefined || d.transactionalId !== transactionalId) throw new KactusError(ErrorCode.CORRUPT_MESSAGE, `describeTransactions ${transactionalId}: the coordinator answered another id`);
      if (d.errorCode !== ErrorCode.NONE) throw new KactusError(d.errorCode, `describeTransactions ${transactionalId}`);
      return {
        transactionalId,
        coordinatorId: await coordinators.find(transactionalId, deps.requestTimeoutMs),
        state: d.transactionState as TransactionStateName,
        producerId: d.producerId,
        producerEpoch: d.producerEpoch,
        transactionTimeoutMs: d.transactionTimeoutMs,
        transactionStartTimeMs: d.transactionStartTimeMs,
        topicPartitions: d.topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.topic, partition }))),
      };
    }),
  );
}

export async function listTransactions(deps: AdminTxnDeps, filter: { states?: readonly string[]; producerIds?: readonly number[]; durationMs?: number }): Promise<TransactionListing[]> {
  const { connection, metadata } = deps;
  await metadata.refresh(null);
  const body = { type: 'ListTransactions', stateFilters: [...(filter.states ?? [])], producerIdFilters: [...(filter.producerIds ?? [])], durationFilterMs: filter.durationMs ?? -1 };
  const perBroker = await Promise.all(
    connection.brokerIds().map((brokerId) =>
      withRetry(async () => {
        const raw = await connection.node.ask<unknown, unknown>({ node: String(brokerId), path: '/transactions' }, (replyTo: Ref<unknown>) => ({ ...body, replyTo }), { timeoutMs: deps.requestTimeoutMs });
        const reply = checkReply(listTransactionsReply, raw, `ListTransactions reply from broker ${brokerId}`);
        if (reply.errorCode !== ErrorCode.NONE) throw new KactusError(reply.errorCode, `listTransactions on broker ${brokerId}: ${reply.errorMessage ?? 'refused'}`);
        return reply.transactionStates;
      }, deps.retry),
    ),
  );
  return perBroker.flat().map((t) => ({ transactionalId: t.transactionalId, producerId: t.producerId, state: t.transactionState as TransactionStateName }));
}
