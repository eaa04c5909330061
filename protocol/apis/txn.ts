/**
 * The transaction APIs on the wire: what a transactional producer sends to
 * its transaction coordinator (`/transactions` on the broker that leads the
 * transactional id's `__transaction_state` partition), what a partition
 * leader asks it (verification, KIP-890 part 1), and TxnOffsetCommit, which
 * goes to the group coordinator (`/groups`).
 *
 * Grammar (msgpack maps; Kafka's field names, camelCase; every request carries replyTo):
 *   FindTxnCoordinator   { transactionalId }                          -> FindCoordinatorReply (as /groups answers it)
 *   InitProducerId       { transactionalId, transactionTimeoutMs, producerId (-1 new), producerEpoch (-1 new) }
 *                                                                     -> InitProducerIdReply { errorCode, errorMessage, producerId, producerEpoch }
 *   AddPartitionsToTxn   { transactionalId, producerId, producerEpoch, partitions: [{ topic, partition }] }
 *                                                                     -> AddPartitionsToTxnReply { results: [{ topic, partition, errorCode }] }
 *   VerifyPartitionsInTxn (same fields; broker to coordinator only)  -> VerifyPartitionsInTxnReply { results }
 *   AddOffsetsToTxn      { transactionalId, producerId, producerEpoch, groupId } -> AddOffsetsToTxnReply { errorCode, errorMessage }
 *   EndTxn               { transactionalId, producerId, producerEpoch, committed, bumpEpochOnEnd? (default true) }
 *                                                                     -> EndTxnReply { errorCode, errorMessage, producerId, producerEpoch }
 *                        (KIP-890: the reply names the epoch the producer uses from now on. bumpEpochOnEnd
 *                        false is transaction version 1, for Kafka's EndTxn v0-4: the epoch is kept, and the
 *                        reply names it unchanged. Absent is true, what every native client sends)
 *   DescribeTransactions { transactionalIds: [string] }             -> DescribeTransactionsReply { errorCode (a refused request), errorMessage, transactionStates: [{ transactionalId,
 *                        errorCode, transactionState, transactionTimeoutMs, transactionStartTimeMs, producerId,
 *                        producerEpoch, topics: [{ topic, partitions: [int] }] }] }  (one entry per id, request order)
 *   ListTransactions     { stateFilters: [string], producerIdFilters: [int], durationFilterMs (< 0: none) }
 *                                                                     -> ListTransactionsReply { errorCode, errorMessage, unknownStateFilters: [string],
 *                        transactionStates: [{ transactionalId, producerId, transactionState }] }
 *                        (the ids this broker coordinates; a client asks every broker and merges, as Kafka's admin does)
 *   DescribeProducers (to /broker, the partitions' leader) { topics: [{ topic, partitions: [int] }] }
 *                                                                     -> DescribeProducersReply { topics: [{ topic, partitions: [{ partition,
 *                        errorCode, errorMessage, activeProducers: [{ producerId, producerEpoch, lastSequence,
 *                        lastTimestampMs, coordinatorEpoch, currentTxnStartOffset }] }] }] }
 *                        (Kafka's KIP-664 answer; -1 for "none" in lastSequence, lastTimestampMs, coordinatorEpoch,
 *                        currentTxnStartOffset; a request refused whole, invalid or over a bound:
 *                        DescribeProducersError { errorCode, errorMessage })
 *   TxnOffsetCommit (to /groups) { transactionalId, groupId, producerId, producerEpoch, memberId, groupInstanceId,
 *                        generationId, offsets: [{ topic, partition, offset, metadata }], bumpEpochOnEnd? (default true) }
 *                        (bumpEpochOnEnd as the transaction's EndTxn sends it: false, transaction version 1, for
 *                        Kafka's TxnOffsetCommit v0-4, whose transaction ends with a marker at its own epoch)
 *                                                                     -> TxnOffsetCommitReply { errorCode, errorMessage, results: [{ topic, partition, errorCode }] }
 *
 * Errors are Kafka's codes: NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS /
 * COORDINATOR_NOT_AVAILABLE (find the coordinator again), CONCURRENT_TRANSACTIONS
 * (retry), PRODUCER_FENCED, INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_EPOCH,
 * INVALID_TXN_STATE, INVALID_TRANSACTION_TIMEOUT, TRANSACTIONAL_ID_AUTHORIZATION_FAILED is never used.
 */
import { ErrorCode } from '../errors.ts';
import { array, boolean, int, int32, invalid, isInvalid, nonNegativeInt32, nullable, object, offset, optional, printable, ref, string, type Invalid } from '../validate.ts';
import type { Ref } from '../../runtime/ref.ts';

export const txnApiLimits = Object.freeze({
  /** transactional.id length (Kafka has no bound; we name one). */
  transactionalIdCharsMax: 1_024,
  groupIdCharsMax: 1_024,
  /** Partitions in one AddPartitionsToTxn / TxnOffsetCommit. */
  partitionsPerRequestMax: 10_000,
  /** transaction.max.timeout.ms (the coordinator checks its own, smaller or equal, bound). */
  transactionTimeoutMsMax: 900_000,
  offsetMetadataCharsMax: 64 * 1024,
  /** Ids in one DescribeTransactions (Kafka has no bound; a Kafka request with more is asked in chunks). */
  transactionalIdsPerDescribeMax: 10_000,
  /** State names in one ListTransactions filter, and the length of each (unknown names are echoed back). */
  stateFiltersMax: 64,
  stateFilterCharsMax: 64,
  /** Producer ids in one ListTransactions filter. */
  producerIdFiltersMax: 10_000,
});

export type TopicPartitionRef = { topic: string; partition: number };
export type TxnPartitionResult = { topic: string; partition: number; errorCode: number };

export type FindTxnCoordinator = { type: 'FindTxnCoordinator'; transactionalId: string; replyTo: Ref<unknown> };
export type TxnCoordinatorReply = { type: 'FindCoordinatorReply'; errorCode: number; errorMessage: string | null; nodeId: number; host: string; port: number };

export type TxnInitProducerId = {
  type: 'InitProducerId';
  transactionalId: string;
  transactionTimeoutMs: number;
  producerId: number;
  producerEpoch: number;
  replyTo: Ref<unknown>;
};
export type TxnInitProducerIdReply = { type: 'InitProducerIdReply'; errorCode: number; errorMessage: string | null; producerId: number; producerEpoch: number };

export type AddPartitionsToTxnRequest = {
  type: 'AddPartitionsToTxn';
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  partitions: TopicPartitionRef[];
  replyTo: Ref<unknown>;
};
export type AddPartitionsToTxnResponse = { type: 'AddPartitionsToTxnReply'; errorMessage?: string | null; results: TxnPartitionResult[] };

export type VerifyPartitionsInTxnRequest = Omit<AddPartitionsToTxnRequest, 'type'> & { type: 'VerifyPartitionsInTxn' };
export type VerifyPartitionsInTxnResponse = { type: 'VerifyPartitionsInTxnReply'; results: TxnPartitionResult[] };

export type AddOffsetsToTxnRequest = { type: 'AddOffsetsToTxn'; transactionalId: string; producerId: number; producerEpoch: number; groupId: string; replyTo: Ref<unknown> };
export type AddOffsetsToTxnResponse = { type: 'AddOffsetsToTxnReply'; errorCode: number; errorMessage?: string | null };

export type EndTxnRequest = {
  type: 'EndTxn';
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  committed: boolean;
  /** Transaction version 2 (bump the epoch at the end) when true or absent; false: version 1 (keep it). */
  bumpEpochOnEnd: boolean;
  replyTo: Ref<unknown>;
};
export type EndTxnResponse = { type: 'EndTxnReply'; errorCode: number; errorMessage?: string | null; producerId: number; producerEpoch: number };

export type TxnOffsetCommitRequest = {
  type: 'TxnOffsetCommit';
  transactionalId: string;
  groupId: string;
  producerId: number;
  producerEpoch: number;
  /** '' and -1 for a producer that is not a group member (Kafka allows it; no generation check then). */
  memberId: string;
  groupInstanceId: string | null;
  generationId: number;
  offsets: { topic: string; partition: number; offset: number; metadata: string | null }[];
  /** How the transaction ends (its EndTxn's bumpEpochOnEnd): false, its marker keeps this epoch and ends these offsets. */
  bumpEpochOnEnd: boolean;
  replyTo: Ref<unknown>;
};
export type TxnOffsetCommitResponse = { type: 'TxnOffsetCommitReply'; errorCode: number; errorMessage: string | null; results: TxnPartitionResult[] };

export type DescribeTransactionsRequest = { type: 'DescribeTransactions'; transactionalIds: string[]; replyTo: Ref<unknown> };
export type TxnTopicPartitions = { topic: string; partitions: number[] };
export type TransactionDescription = {
  transactionalId: string;
  errorCode: number;
  /** Kafka's TransactionState name ('' with an error). */
  transactionState: string;
  transactionTimeoutMs: number;
  /** When the open transaction added its first partition; -1 when none is open. */
  transactionStartTimeMs: number;
  producerId: number;
  producerEpoch: number;
  topics: TxnTopicPartitions[];
};
/** errorCode is the whole request's: non-zero only when it was refused (invalid), with no states then. */
export type DescribeTransactionsResponse = { type: 'DescribeTransactionsReply'; errorCode: number; errorMessage: string | null; transactionStates: TransactionDescription[] };

export type ListTransactionsRequest = { type: 'ListTransactions'; stateFilters: string[]; producerIdFilters: number[]; durationFilterMs: number; replyTo: Ref<unknown> };
export type TransactionListing = { transactionalId: string; producerId: number; transactionState: string };
export type ListTransactionsResponse = { type: 'ListTransactionsReply'; errorCode: number; errorMessage: string | null; unknownStateFilters: string[]; transactionStates: TransactionListing[] };

export type DescribeProducersRequest = { type: 'DescribeProducers'; topics: TxnTopicPartitions[]; replyTo: Ref<unknown> };
export type ProducerDescription = {
  producerId: number;
  producerEpoch: number;
  /** The last sequence of the producer's current epoch; -1 when it wrote none in it. */
  lastSequence: number;
  /** The max timestamp of its last batch or marker; -1 before any. */
  lastTimestampMs: number;
  /** Of the last marker written for it; -1 before any. */
  coordinatorEpoch: number;
  /** The first offset of its open transaction in the partition; -1 when none is open. */
  currentTxnStartOffset: number;
};
export type DescribeProducersPartition = { partition: number; errorCode: number; errorMessage: string | null; activeProducers: ProducerDescription[] };
export type DescribeProducersResponse = { type: 'DescribeProducersReply'; topics: { topic: string; partitions: DescribeProducersPartition[] }[] };

/** Requests `/transactions` takes from the network. */
export type TxnCoordinatorRequest =
  | FindTxnCoordinator
  | TxnInitProducerId
  | AddPartitionsToTxnRequest
  | VerifyPartitionsInTxnRequest
  | AddOffsetsToTxnRequest
  | EndTxnRequest
  | DescribeTransactionsRequest
  | ListTransactionsRequest;

const L = txnApiLimits;
const transactionalIdField = string(L.transactionalIdCharsMax);
const producerIdField = int(-1, Number.MAX_SAFE_INTEGER);
const producerEpochField = int(-1, 32_767);
const partitionsField = array(object({ topic: string(249), partition: nonNegativeInt32 }), L.partitionsPerRequestMax);

const shapes = {
  FindTxnCoordinator: object({ transactionalId: transactionalIdField, replyTo: ref }),
  InitProducerId: object({
    transactionalId: transactionalIdField,
    transactionTimeoutMs: int(0, 2 ** 31 - 1),
    producerId: producerIdField,
    producerEpoch: producerEpochField,
    replyTo: ref,
  }),
  AddPartitionsToTxn: object({ transactionalId: transactionalIdField, producerId: producerIdField, producerEpoch: producerEpochField, partitions: partitionsField, replyTo: ref }),
  VerifyPartitionsInTxn: object({ transactionalId: transactionalIdField, producerId: producerIdField, producerEpoch: producerEpochField, partitions: partitionsField, replyTo: ref }),
  AddOffsetsToTxn: object({ transactionalId: transactionalIdField, producerId: producerIdField, producerEpoch: producerEpochField, groupId: string(L.groupIdCharsMax), replyTo: ref }),
  EndTxn: object({ transactionalId: transactionalIdField, producerId: producerIdField, producerEpoch: producerEpochField, committed: boolean, bumpEpochOnEnd: optional(boolean, true), replyTo: ref }),
  DescribeTransactions: object({ transactionalIds: array(transactionalIdField, L.transactionalIdsPerDescribeMax), replyTo: ref }),
  ListTransactions: object({
    stateFilters: array(string(L.stateFilterCharsMax), L.stateFiltersMax),
    // -1 matches no transaction (no id is -1): how a filter of ids nobody was handed stays a filter.
    producerIdFilters: array(producerIdField, L.producerIdFiltersMax),
    durationFilterMs: optional(int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), -1),
    replyTo: ref,
  }),
} as const;

const describeProducersShape = object({
  topics: array(object({ topic: string(249), partitions: array(nonNegativeInt32, L.partitionsPerRequestMax) }), L.partitionsPerRequestMax),
  replyTo: ref,
});

/** Validates a DescribeProducers for `/broker`; at most partitionsPerRequestMax partitions in all. */
export function validateDescribeProducers(value: unknown): DescribeProducersRequest | Invalid {
  const checked = describeProducersShape(value, 'DescribeProducers');
  if (isInvalid(checked)) return checked;
  const count = checked.topics.reduce((n, t) => n + t.partitions.length, 0);
  if (count > L.partitionsPerRequestMax) return invalid('DescribeProducers.topics', `names ${count} partitions, over the limit of ${L.partitionsPerRequestMax}`);
  return { type: 'DescribeProducers', ...checked };
}

export const txnOffsetCommitShape = object({
  transactionalId: transactionalIdField,
  groupId: string(L.groupIdCharsMax),
  producerId: producerIdField,
  producerEpoch: producerEpochField,
  memberId: string(L.groupIdCharsMax),
  groupInstanceId: nullable(string(L.groupIdCharsMax)),
  generationId: int32,
  offsets: array(object({ topic: string(249), partition: nonNegativeInt32, offset, metadata: nullable(string(L.offsetMetadataCharsMax)) }), L.partitionsPerRequestMax),
  bumpEpochOnEnd: optional(boolean, true),
  replyTo: ref,
});

/** Validates a request for `/transactions`; an Invalid names the field. */
export function validateTxnCoordinatorRequest(value: unknown): TxnCoordinatorRequest | Invalid {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !Object.hasOwn(shapes, type)) {
    return invalid('type', `unknown transaction request type ${printable(type)}`, ErrorCode.INVALID_REQUEST);
  }
  const checked = shapes[type as keyof typeof shapes](value, type);
  return isInvalid(checked) ? checked : ({ type, ...checked } as TxnCoordinatorRequest);
}

export function validateTxnOffsetCommit(value: unknown): TxnOffsetCommitRequest | Invalid {
  const checked = txnOffsetCommitShape(value, 'TxnOffsetCommit');
  return isInvalid(checked) ? checked : { type: 'TxnOffsetCommit', ...checked };
}
