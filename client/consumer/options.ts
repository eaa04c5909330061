/**
 * The consumer's options, their defaults and bounds (same checkers as
 * client/options.ts: unknown keys and bad values throw INVALID_CONFIG).
 * Kafka's names map to ours here and nowhere else:
 *
 *   group.id -> groupId                        group.instance.id -> groupInstanceId
 *   session.timeout.ms -> sessionTimeoutMs     heartbeat.interval.ms -> heartbeatIntervalMs
 *   max.poll.interval.ms -> maxPollIntervalMs  (also the rebalance timeout, as in Kafka)
 *   auto.offset.reset -> autoOffsetReset       enable.auto.commit -> autoCommit
 *   auto.commit.interval.ms -> autoCommitIntervalMs
 *   partition.assignment.strategy -> assignors
 *   fetch.max.wait.ms -> fetchMaxWaitMs        fetch.min.bytes -> fetchMinBytes
 *   fetch.max.bytes -> fetchMaxBytes           max.partition.fetch.bytes -> partitionFetchMaxBytes
 *   key.deserializer, value.deserializer -> deserializers (../serde.ts)
 *   isolation.level -> isolationLevel          (max.poll.records has no equivalent:)
 *   maxBufferedRecords / maxBufferedBytes: the prefetch bound (records fetched and not yet finished)
 *
 * Defaults differ from Kafka's where noted: sessionTimeoutMs 10 s (Kafka 45 s)
 * so a dead member's partitions move quickly; heartbeatIntervalMs 3 s.
 */
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { boolean, functionSlots, integer, metricsOption, oneOf, parseOptions, type Parsed } from '../options.ts';
import type { MetricsOptions } from '../metrics.ts';
import type { Deserializer, Deserializers } from '../serde.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

function bad(name: string, problem: string): KactusError {
  return new KactusError(ErrorCode.INVALID_CONFIG, `option ${name} ${problem}`);
}

const groupIdOption = (value: unknown, name: string): string => {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) throw bad(name, `must be a non-empty string of at most 255 characters, got ${JSON.stringify(value)}`);
  return value;
};

const instanceIdOption = (value: unknown, name: string): string | null => {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(value)) throw bad(name, `must be 1-249 characters of [A-Za-z0-9._-], got ${JSON.stringify(value)}`);
  return value;
};

const knownAssignors = ['cooperative-sticky', 'range', 'roundrobin'] as const;
const assignorsOption = (value: unknown, name: string): string[] => {
  if (value === undefined) return ['cooperative-sticky', 'range'];
  if (!Array.isArray(value) || value.length === 0) throw bad(name, `must be a non-empty array of ${knownAssignors.join(', ')}`);
  for (const a of value) if (!knownAssignors.includes(a as never)) throw bad(name, `names an unknown assignor ${JSON.stringify(a)} (known: ${knownAssignors.join(', ')})`);
  return [...new Set(value as string[])];
};

export const consumerOptionsSpec = {
  groupId: groupIdOption,
  groupInstanceId: instanceIdOption,
  sessionTimeoutMs: integer(1_000, 1_800_000, 10_000),
  heartbeatIntervalMs: integer(100, 600_000, 3_000),
  maxPollIntervalMs: integer(1_000, 2_147_483_647, 300_000),
  autoOffsetReset: oneOf(['earliest', 'latest', 'none'] as const, 'latest'),
  autoCommit: boolean(true),
  autoCommitIntervalMs: integer(1, 86_400_000, 5_000),
  assignors: assignorsOption,
  fetchMaxWaitMs: integer(0, 60_000, 500),
  fetchMinBytes: integer(1, 64 * MiB, 1),
  fetchMaxBytes: integer(1, 64 * MiB, 16 * MiB),
  partitionFetchMaxBytes: integer(1, 64 * MiB, MiB),
  maxBufferedRecords: integer(1, 10_000_000, 10_000),
  maxBufferedBytes: integer(1, 4096 * MiB, 16 * MiB),
  /**
   * 'read_committed': records only up to the last stable offset, records of aborted transactions dropped
   * (read-committed.ts), and committed offsets undecided by a transaction waited for (OffsetFetch requireStable).
   * Transaction markers are never delivered at either level.
   */
  isolationLevel: oneOf(['read_uncommitted', 'read_committed'] as const, 'read_uncommitted'),
  requestTimeoutMs: integer(1, 300_000, 30_000),
  /** How long a revocation waits for delivered records of the revoked partitions to finish before committing. */
  revokeWaitMs: integer(0, 300_000, 10_000),
  /** 'explicit': a record is finished when ack() is called (at-least-once). 'onDelivery': when the subscriber's next() returns. */
  ackMode: oneOf(['explicit', 'onDelivery'] as const, 'explicit'),
  /** How record keys and values are turned from bytes into the app's types (client/serde.ts). */
  deserializers: functionSlots<Deserializer<unknown>>('deserializer', '(bytes: Buffer, topic: string) => value'),
  /** This consumer's metrics go to this registry instead of the Kactus client's (client/metrics.ts). */
  metrics: metricsOption,
} as const;

export type ConsumerOptions<K = Buffer, V = Buffer> = {
  groupId: string;
  groupInstanceId?: string | null;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  maxPollIntervalMs?: number;
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
  autoCommit?: boolean;
  autoCommitIntervalMs?: number;
  assignors?: ('cooperative-sticky' | 'range' | 'roundrobin')[];
  fetchMaxWaitMs?: number;
  fetchMinBytes?: number;
  fetchMaxBytes?: number;
  partitionFetchMaxBytes?: number;
  maxBufferedRecords?: number;
  maxBufferedBytes?: number;
  isolationLevel?: 'read_uncommitted' | 'read_committed';
  requestTimeoutMs?: number;
  revokeWaitMs?: number;
  ackMode?: 'explicit' | 'onDelivery';
  /** deserializers.string, deserializers.json<T>(), or functions of your own; types messages$ by K and V. */
  deserializers?: Deserializers<K, V>;
  /** Overrides Kactus.metrics for this consumer: { registry, prefix? }. */
  metrics?: MetricsOptions;
};

export type ConsumerConfig = Omit<Parsed<typeof consumerOptionsSpec>, 'autoCommit'> & { autoCommit: boolean };

export function parseConsumerOptions(value: unknown): ConsumerConfig {
  const parsed = parseOptions('consumer', value, consumerOptionsSpec);
  if (parsed.heartbeatIntervalMs * 3 > parsed.sessionTimeoutMs) throw bad('consumer.heartbeatIntervalMs', `(${parsed.heartbeatIntervalMs}) must be at most a third of sessionTimeoutMs (${parsed.sessionTimeoutMs})`);
  return { ...parsed, autoCommit: parsed.autoCommit ?? true };
}
