/**
 * Log configuration: every bound of storage/, with its default and unit last.
 *
 * Owns: `LogConfig`, `defaultLogConfig`, `resolveLogConfig` (defaults + checks
 * of the relationships between bounds), `fromKafkaConfig` (the one place that
 * maps Kafka's dotted names to ours, STYLE rule 17), and `storageLimits`,
 * the internal bounds that are not per-topic.
 *
 * Defaults follow Kafka: 1 GiB segments rolled at least weekly, a sparse index
 * entry every 4 KiB, 7 days of retention, unlimited retention bytes, tombstones
 * kept a day, flush left to the OS (durability comes from replication; set
 * `fsyncEveryAppend` or `flushIntervalMessages: 1` to fsync every append).
 * messageBytesMax is Kafka's max.message.bytes default: 1 MiB plus the 12-byte
 * log overhead (1048588).
 *
 * Imports: runtime/assert.ts only.
 */
import { assert } from '../runtime/assert.ts';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
const hourMs = 60 * 60 * 1000;
const dayMs = 24 * hourMs;

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete';
export type MessageTimestampType = 'CreateTime' | 'LogAppendTime';

export interface LogConfig {
  /** segment.bytes: roll when the active segment would grow past this. Max 2^31-1 (int32 positions). */
  segmentBytesMax: number;
  /** segment.ms: roll a non-empty active segment older than this. */
  segmentRollMs: number;
  /** index.interval.bytes: bytes of log between sparse offset/time index entries. */
  indexIntervalBytes: number;
  /** segment.index.bytes: roll when the offset index would grow past this. */
  indexBytesMax: number;
  /** retention.ms: delete closed segments whose newest timestamp is older; -1 = keep forever. */
  retentionMs: number;
  /** retention.bytes: delete the oldest closed segments while the log is larger; -1 = unlimited. */
  retentionBytes: number;
  /** cleanup.policy. */
  cleanupPolicy: CleanupPolicy;
  /** delete.retention.ms: how long the compaction cleaner keeps a tombstone after first cleaning it. */
  deleteRetentionMs: number;
  /** min.cleanable.dirty.ratio: clean when dirty bytes / (clean + dirty) reach this. */
  minCleanableDirtyRatio: number;
  /** max.message.bytes: largest batch accepted, header included. */
  messageBytesMax: number;
  /** flush.messages: fsync after this many records since the last flush. Infinity = leave it to the OS. */
  flushIntervalMessages: number;
  /** flush.ms: fsync when the last flush is older than this (checked on append and maybeFlush()). */
  flushIntervalMs: number;
  /** Start an fsync after every append (equivalent to flush.messages=1). */
  fsyncEveryAppend: boolean;
  /** message.timestamp.type: LogAppendTime makes the log stamp maxTimestamp with its clock. */
  messageTimestampType: MessageTimestampType;
  /** Bound on distinct keys the cleaner holds in one pass (Kafka: the dedupe buffer). */
  cleanerKeysMax: number;
}

export const defaultLogConfig: Readonly<LogConfig> = Object.freeze({
  segmentBytesMax: 1 * GiB,
  segmentRollMs: 7 * dayMs,
  indexIntervalBytes: 4 * KiB,
  indexBytesMax: 10 * MiB,
  retentionMs: 7 * dayMs,
  retentionBytes: -1,
  cleanupPolicy: 'delete',
  deleteRetentionMs: 1 * dayMs,
  minCleanableDirtyRatio: 0.5,
  messageBytesMax: 1 * MiB + 12,
  flushIntervalMessages: Infinity,
  flushIntervalMs: Infinity,
  fsyncEveryAppend: false,
  messageTimestampType: 'CreateTime',
  cleanerKeysMax: 1_000_000,
});

/** Internal bounds, not per topic. */
export const storageLimits = Object.freeze({
  /** Bytes read per syscall when scanning a segment (recovery, cleaning, index rebuild). */
  scanChunkBytes: 1 * MiB,
  /**
   * Largest batch recovery accepts. Larger than messageBytesMax on purpose:
   * lowering max.message.bytes later must not make recovery cut good data.
   */
  recoveryBatchBytesMax: 64 * MiB,
  /** Largest single read window (maxBytes of a read is clamped to this). */
  readBytesMax: 64 * MiB,
  /** Positions in index entries are int32. */
  segmentBytesLimit: 2 ** 31 - 1,
  /** Relative offsets in index entries are int32. */
  relativeOffsetMax: 2 ** 31 - 1,
});

export function resolveLogConfig(overrides: Partial<LogConfig> = {}): LogConfig {
  const c: LogConfig = { ...defaultLogConfig, ...overrides };
  assert(Number.isInteger(c.segmentBytesMax), 'segmentBytesMax must be an integer');
  assert(c.segmentBytesMax >= 64, 'segmentBytesMax must hold at least a batch header');
  assert(c.segmentBytesMax <= storageLimits.segmentBytesLimit, 'segmentBytesMax must fit in int32 positions');
  assert(c.messageBytesMax >= 61, 'messageBytesMax must hold a batch header');
  assert(c.messageBytesMax <= storageLimits.recoveryBatchBytesMax, 'messageBytesMax must not exceed what recovery accepts');
  assert(c.indexIntervalBytes >= 1, 'indexIntervalBytes must be positive');
  assert(c.indexBytesMax >= 8, 'indexBytesMax must hold one entry');
  assert(c.segmentRollMs > 0, 'segmentRollMs must be positive');
  assert(c.retentionMs === -1 || c.retentionMs >= 0, 'retentionMs must be -1 or >= 0');
  assert(c.retentionBytes === -1 || c.retentionBytes >= 0, 'retentionBytes must be -1 or >= 0');
  assert(c.deleteRetentionMs >= 0, 'deleteRetentionMs must be >= 0');
  assert(c.minCleanableDirtyRatio >= 0, 'minCleanableDirtyRatio must be >= 0');
  assert(c.minCleanableDirtyRatio <= 1, 'minCleanableDirtyRatio must be <= 1');
  assert(c.flushIntervalMessages >= 1, 'flushIntervalMessages must be >= 1');
  assert(c.flushIntervalMs >= 0, 'flushIntervalMs must be >= 0');
  assert(c.cleanerKeysMax >= 1, 'cleanerKeysMax must be positive');
  return c;
}

const kafkaNames: Record<string, keyof LogConfig> = {
  'segment.bytes': 'segmentBytesMax',
  'segment.ms': 'segmentRollMs',
  'index.interval.bytes': 'indexIntervalBytes',
  'segment.index.bytes': 'indexBytesMax',
  'retention.ms': 'retentionMs',
  'retention.bytes': 'retentionBytes',
  'cleanup.policy': 'cleanupPolicy',
  'delete.retention.ms': 'deleteRetentionMs',
  'min.cleanable.dirty.ratio': 'minCleanableDirtyRatio',
  'max.message.bytes': 'messageBytesMax',
  'flush.messages': 'flushIntervalMessages',
  'flush.ms': 'flushIntervalMs',
  'message.timestamp.type': 'messageTimestampType',
};

/**
 * Maps Kafka topic configs (`{'segment.bytes': '1048576'}`) to LogConfig
 * overrides. Unknown names are returned in `unknown` for the caller to refuse
 * (INVALID_CONFIG); Kafka's Long.MAX_VALUE flush settings map to Infinity.
 */
export function fromKafkaConfig(props: Readonly<Record<string, string>>): { overrides: Partial<LogConfig>; unknown: string[] } {
  const overrides: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [name, raw] of Object.entries(props)) {
    const ours = kafkaNames[name];
    if (ours === undefined) {
      unknown.push(name);
      continue;
    }
    if (ours === 'cleanupPolicy') {
      const parts = raw.split(',').map((p) => p.trim()).sort();
      overrides[ours] = parts.join(',') === 'compact,delete' ? 'compact,delete' : parts[0] === 'compact' ? 'compact' : 'delete';
    } else if (ours === 'messageTimestampType') {
      overrides[ours] = raw === 'LogAppendTime' ? 'LogAppendTime' : 'CreateTime';
    } else {
      const n = Number(raw);
      overrides[ours] = n >= Number.MAX_SAFE_INTEGER ? Infinity : n;
    }
  }
  return { overrides: overrides as Partial<LogConfig>, unknown };
}

export function compacts(c: LogConfig): boolean {
  return c.cleanupPolicy !== 'delete';
}

export function deletes(c: LogConfig): boolean {
  return c.cleanupPolicy !== 'compact';
}
