/**
 * The package's public surface (`import { Kactus } from 'kactus'`).
 *
 * Exported: `Kactus` (entry object), `Admin`, `Producer`, `KactusError`,
 * `PartitionError`, `ErrorCode`, the option/result types, the metric names
 * (metrics.ts) and the diagnostics_channel names and payloads (diagnostics.ts). Internal
 * modules (connection, metadata cache, accumulator, sender) are not part of
 * the API; the consumer (issue #7) reaches them through `Kactus.context()`.
 */
export { Kactus, type ClientContext, type Closeable } from './kactus.ts';
export { Admin, type NewTopic, type CreatedTopic, type TopicDescription, type ClusterDescription, type ConfigDescription, type ConfigAlteration, type OffsetSpec, type PartitionOffset } from './admin.ts';
export type { ActiveProducer, PartitionProducers, TransactionDescription, TransactionListing, TransactionStateName } from './admin-txn.ts';
export type { BrokerLogDir } from './admin-log-dirs.ts';
export type { LogDirPartition } from '../protocol/apis/log-dirs.ts';
export type { DeletedRecords, RecordsToDelete } from './admin-delete-records.ts';
export type { GroupDescription, GroupMemberDescription, GroupOverview, GroupTopicOffsets, OffsetDeleteResult } from './admin-groups.ts';
export type { AclBinding, AclBindingFilter, AclOperationName, AclPatternTypeName, AclPermissionTypeName, AclResourceTypeName } from './admin-acls.ts';
export { Producer, type ProducerRecord, type ProducerMessage, type RecordMetadata } from './producer/producer.ts';
export { KactusError, PartitionError, ErrorCode } from './errors.ts';
export type { KactusOptions, ProducerOptions, AdminOptions, PartitionerFunction, SaslOptions, SslOptions } from './options.ts';
export type { TopicMetadata, PartitionMetadata, BrokerMetadata } from './metadata-cache.ts';
export { Consumer, type ConsumerBatch, type RunOptions, type EachMessagePayload, type EachBatchPayload, type TopicOffsets } from './consumer/consumer.ts';
export { consumerEvents, type ConsumerEvent, type ConsumerEventName, type ConsumerEventPayloads, type RemoveListener } from './consumer/events.ts';
export { serializers, deserializers, type Serializer, type Deserializer, type Serializers, type Deserializers, type SerializedBytes } from './serde.ts';
export { commitAfter, processPartitionsInParallel, type Ackable } from './consumer/operators.ts';
export { exactlyOnce, type ExactlyOnceOptions, type ExactlyOnceCommit } from './consumer/exactly-once.ts';
export { Transaction, type SendOffsetsArgs, type TxnOffset, type ConsumerGroupMetadata } from './producer/transaction.ts';
export type { ConsumerOptions } from './consumer/options.ts';
export { clientMetricNames, metricsPrefixDefault, type MetricsOptions } from './metrics.ts';
export {
  diagnosticsChannels,
  type InstanceEvent,
  type ProducerSendContext,
  type ProducerRequestContext,
  type ProducerRetryEvent,
  type ConsumerFetchContext,
  type ConsumerRebalanceContext,
  type ConsumerCommitContext,
  type ConsumerProcessContext,
} from './diagnostics.ts';
export type { ConsumerRecord, AssignmentEvent, TopicPartition, RecordHeader } from './consumer/types.ts';
