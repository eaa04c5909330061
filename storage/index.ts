/**
 * storage/: durable, segmented logs. The public surface for partitions, the
 * metadata quorum, `__consumer_offsets` and `__transaction_state`.
 *
 * Import rules: storage/ imports protocol/ (record-batch, errors, crc32c) and
 * runtime/assert.ts and runtime/clock.ts only; never actors/ or client/.
 * Start with log.ts; each module's header gives its byte layout, invariants
 * and crash behaviour.
 */
export { PartitionLog, type AppendResult, type OpenReport, type PartitionLogOptions, type ReadOptions, type SegmentSummary } from './log.ts';
export { defaultLogConfig, fromKafkaConfig, resolveLogConfig, storageLimits, type CleanupPolicy, type LogConfig, type MessageTimestampType } from './config.ts';
export { LeaderEpochCache, type EpochEntry, undefinedEpoch, undefinedEpochOffset } from './leader-epoch-cache.ts';
export { nodeFileIo, type FileIo } from './file-io.ts';
export type { CleanResult } from './cleaner.ts';
export type { RetentionReason } from './retention.ts';
