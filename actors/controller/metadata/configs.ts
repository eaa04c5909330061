/**
 * Topic configs and dynamic broker configs: the typed schemas, validation,
 * and DescribeConfigs / (incremental) AlterConfigs.
 *
 * Owns: `topicConfigSchema` (Kafka's dotted names, types, defaults and bounds),
 * `validateTopicConfigs`, `effectiveTopicConfig` (the one place dotted names map
 * to our camelCase, units-last names), `generateDescribeConfigs`,
 * `generateAlterConfigs`.
 *
 * Invariants:
 * - An image holds only overrides that passed `validateConfigValue`; defaults
 *   are never written as records, so changing a default here changes every
 *   topic that did not override it (as in Kafka).
 * - Values are kept as the strings the user gave (Kafka's wire form); typed
 *   values are parsed on read by `effectiveTopicConfig`.
 * - An unknown name or a bad value is an operating error (INVALID_CONFIG with a
 *   message naming the key), never an assert.
 *
 * AlterConfigs follows Kafka's IncrementalAlterConfigs (SET / DELETE per key),
 * which is what the modern admin client sends; DELETE reverts to the default.
 * A SET to the value already in force writes nothing.
 *
 * Longs are validated exactly (BigInt) but read back as JS numbers: values
 * above 2^53 (only Long.MAX_VALUE defaults, meaning "never") lose precision,
 * which no caller can observe as a difference in behaviour.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import { assert } from '../../../runtime/assert.ts';
import { brokerConfigOverride, topicByName, type MetadataImage } from './image.ts';
import type { ConfigEntry, ConfigRecord, ControlResult, ItemError } from './records.ts';

type ConfigKind =
  | { readonly kind: 'boolean' }
  | { readonly kind: 'int'; readonly min: number }
  | { readonly kind: 'long'; readonly min: bigint }
  | { readonly kind: 'double'; readonly min: number; readonly max: number }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'list'; readonly values: readonly string[] };

interface ConfigDefinition {
  readonly name: string;
  readonly defaultValue: string;
  readonly type: ConfigKind;
  readonly doc: string;
}

const int32Max = 2_147_483_647;
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
const longMaxString = int64Max.toString();

/** Kafka's topic-level configs we support, with Kafka's defaults and bounds. */
export const topicConfigSchema: ReadonlyMap<string, ConfigDefinition> = new Map(
  (
    [
      { name: 'cleanup.policy', defaultValue: 'delete', type: { kind: 'list', values: ['delete', 'compact'] }, doc: 'delete old segments, compact by key, or both' },
      { name: 'compression.type', defaultValue: 'producer', type: { kind: 'enum', values: ['uncompressed', 'zstd', 'lz4', 'snappy', 'gzip', 'producer'] }, doc: 'final compression; producer keeps what the producer sent' },
      { name: 'delete.retention.ms', defaultValue: '86400000', type: { kind: 'long', min: 0n }, doc: 'how long tombstones are kept for compacted topics' },
      { name: 'file.delete.delay.ms', defaultValue: '60000', type: { kind: 'long', min: 0n }, doc: 'delay before a deleted segment file is removed' },
      { name: 'index.interval.bytes', defaultValue: '4096', type: { kind: 'int', min: 0 }, doc: 'bytes between offset index entries' },
      { name: 'max.compaction.lag.ms', defaultValue: longMaxString, type: { kind: 'long', min: 1n }, doc: 'longest time a record stays uncompacted' },
      { name: 'max.message.bytes', defaultValue: '1048588', type: { kind: 'int', min: 0 }, doc: 'largest record batch accepted' },
      { name: 'message.timestamp.type', defaultValue: 'CreateTime', type: { kind: 'enum', values: ['CreateTime', 'LogAppendTime'] }, doc: 'which timestamp records carry' },
      { name: 'min.cleanable.dirty.ratio', defaultValue: '0.5', type: { kind: 'double', min: 0, max: 1 }, doc: 'dirty share of the log that triggers compaction' },
      { name: 'min.compaction.lag.ms', defaultValue: '0', type: { kind: 'long', min: 0n }, doc: 'shortest time a record stays uncompacted' },
      { name: 'min.insync.replicas', defaultValue: '1', type: { kind: 'int', min: 1 }, doc: 'ISR size an acks=all produce needs' },
      { name: 'retention.bytes', defaultValue: '-1', type: { kind: 'long', min: int64Min }, doc: 'size a partition log may reach before old segments go; -1 unbounded' },
      { name: 'retention.ms', defaultValue: '604800000', type: { kind: 'long', min: -1n }, doc: 'age after which segments go; -1 unbounded' },
      { name: 'segment.bytes', defaultValue: '1073741824', type: { kind: 'int', min: 14 }, doc: 'segment size before rolling' },
      { name: 'segment.index.bytes', defaultValue: '10485760', type: { kind: 'int', min: 4 }, doc: 'offset index size per segment' },
      { name: 'segment.jitter.ms', defaultValue: '0', type: { kind: 'long', min: 0n }, doc: 'random jitter subtracted from segment.ms' },
      { name: 'segment.ms', defaultValue: '604800000', type: { kind: 'long', min: 1n }, doc: 'segment age before rolling' },
      { name: 'unclean.leader.election.enable', defaultValue: 'false', type: { kind: 'boolean' }, doc: 'elect an out-of-sync replica when no ISR member is alive (may lose data)' },
    ] satisfies ConfigDefinition[]
  ).map((d) => [d.name, Object.freeze(d)] as const),
);

/**
 * Kafka's dynamic broker configs we support: set for one broker (resource
 * name its id) or for all (resource name '', Kafka's --entity-default), with
 * the broker's own value winning, then the broker's static config (its
 * --config / properties file), then Kafka's default. Each is applied by the
 * running brokers as soon as their metadata has it (no restart): the
 * replication throttles (what a reassignment needs), the topic defaults
 * (log.retention.ms, log.retention.bytes, log.segment.bytes and
 * min.insync.replicas, for topics that do not set their own),
 * replica.lag.time.max.ms, and log.level (the broker's pino level; Kafka
 * changes log4j levels through its BROKER_LOGGER resource instead).
 */
export const brokerConfigSchema: ReadonlyMap<string, ConfigDefinition> = new Map(
  (
    [
      { name: 'follower.replication.throttled.rate', defaultValue: longMaxString, type: { kind: 'long', min: 1n }, doc: 'bytes/s a follower fetches for replicas a reassignment is adding (all partitions of the broker together); Long.MAX_VALUE: unthrottled' },
      { name: 'leader.replication.throttled.rate', defaultValue: longMaxString, type: { kind: 'long', min: 1n }, doc: 'bytes/s a leader serves to replicas a reassignment is adding (all partitions of the broker together); Long.MAX_VALUE: unthrottled' },
      { name: 'log.level', defaultValue: 'info', type: { kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, doc: "the broker's log level (LOG_LEVEL at start)" },
      { name: 'log.retention.bytes', defaultValue: '-1', type: { kind: 'long', min: -1n }, doc: 'retention.bytes of topics that do not set it; -1 unbounded' },
      { name: 'log.retention.ms', defaultValue: '604800000', type: { kind: 'long', min: -1n }, doc: 'retention.ms of topics that do not set it; -1 unbounded' },
      { name: 'log.segment.bytes', defaultValue: '1073741824', type: { kind: 'int', min: 1024 }, doc: 'segment.bytes of topics that do not set it' },
      { name: 'min.insync.replicas', defaultValue: '1', type: { kind: 'int', min: 1 }, doc: 'min.insync.replicas of topics that do not set it' },
      { name: 'replica.lag.time.max.ms', defaultValue: '30000', type: { kind: 'long', min: 100n }, doc: 'how long a follower may lag before it leaves the ISR' },
    ] satisfies ConfigDefinition[]
  ).map((d) => [d.name, Object.freeze(d)] as const),
);

export type ConfigResourceType = 'topic' | 'broker';

/** A broker config resource is a broker id or '' (the cluster-wide default). */
export function isBrokerResourceName(resourceName: string): boolean {
  return resourceName === '' || /^(0|[1-9]\d{0,9})$/.test(resourceName);
}

/** Returns null when `value` is valid for config `name`, else a message naming the key. */
export function validateConfigValue(name: string, value: string, resourceType: ConfigResourceType = 'topic'): string | null {
  const definition = (resourceType === 'topic' ? topicConfigSchema : brokerConfigSchema).get(name);
  if (definition === undefined) return `Unknown ${resourceType} config name: ${name}`;
  const bad = (why: string) => `Invalid value ${JSON.stringify(value)} for configuration ${name}: ${why}`;
  const type = definition.type;
  switch (type.kind) {
    case 'boolean':
      return /^(true|false)$/i.test(value) ? null : bad('expected true or false');
    case 'int': {
      if (!/^-?\d+$/.test(value)) return bad('expected an integer');
      const n = Number(value);
      if (n > int32Max) return bad(`must be at most ${int32Max}`);
      return n >= type.min ? null : bad(`must be at least ${type.min}`);
    }
    case 'long': {
      if (!/^-?\d+$/.test(value)) return bad('expected an integer');
      const n = BigInt(value);
      if (n > int64Max || n < int64Min) return bad('out of the 64-bit range');
      return n >= type.min ? null : bad(`must be at least ${type.min}`);
    }
    case 'double': {
      if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value.trim())) return bad('expected a number');
      const n = Number(value);
      return n >= type.min && n <= type.max ? null : bad(`must be between ${type.min} and ${type.max}`);
    }
    case 'enum':
      return type.values.includes(value) ? null : bad(`expected one of ${type.values.join(', ')}`);
    case 'list': {
      const items = value.split(',').map((s) => s.trim());
      if (items.length === 0 || items.some((item) => !type.values.includes(item))) {
        return bad(`expected a comma-separated list of ${type.values.join(', ')}`);
      }
      return null;
    }
  }
}

/** Validates a set of overrides (e.g. from CreateTopics): first problem as INVALID_CONFIG, else null. */
export function validateTopicConfigs(entries: readonly ConfigEntry[]): ItemError | null {
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) {
      return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Duplicate topic config name: ${entry.name}` };
    }
    seen.add(entry.name);
    const problem = validateConfigValue(entry.name, entry.value);
    if (problem !== null) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: problem };
  }
  return null;
}

/** A topic's configs with defaults filled in, under our names (units last). */
export interface TopicConfig {
  readonly cleanupPolicy: readonly ('delete' | 'compact')[];
  readonly compressionType: 'uncompressed' | 'zstd' | 'lz4' | 'snappy' | 'gzip' | 'producer';
  readonly deleteRetentionMs: number;
  readonly fileDeleteDelayMs: number;
  readonly indexIntervalBytes: number;
  readonly maxCompactionLagMs: number;
  readonly maxMessageBytes: number;
  readonly messageTimestampType: 'CreateTime' | 'LogAppendTime';
  readonly minCleanableDirtyRatio: number;
  readonly minCompactionLagMs: number;
  readonly minInsyncReplicas: number;
  readonly retentionBytes: number;
  readonly retentionMs: number;
  readonly segmentBytes: number;
  readonly segmentIndexBytes: number;
  readonly segmentJitterMs: number;
  readonly segmentMs: number;
  readonly uncleanLeaderElectionEnable: boolean;
}

/** The one mapping from Kafka's dotted names to ours. Overrides are assumed valid (they passed validation). */
export function effectiveTopicConfig(overrides: ReadonlyMap<string, string>): TopicConfig {
  const raw = (name: string): string => {
    const value = overrides.get(name) ?? topicConfigSchema.get(name)?.defaultValue;
    assert(value !== undefined, `configs: no schema entry for ${name}`);
    return value;
  };
  const num = (name: string): number => Number(raw(name));
  return Object.freeze({
    cleanupPolicy: Object.freeze(raw('cleanup.policy').split(',').map((s) => s.trim()) as ('delete' | 'compact')[]),
    compressionType: raw('compression.type') as TopicConfig['compressionType'],
    deleteRetentionMs: num('delete.retention.ms'),
    fileDeleteDelayMs: num('file.delete.delay.ms'),
    indexIntervalBytes: num('index.interval.bytes'),
    maxCompactionLagMs: num('max.compaction.lag.ms'),
    maxMessageBytes: num('max.message.bytes'),
    messageTimestampType: raw('message.timestamp.type') as TopicConfig['messageTimestampType'],
    minCleanableDirtyRatio: num('min.cleanable.dirty.ratio'),
    minCompactionLagMs: num('min.compaction.lag.ms'),
    minInsyncReplicas: num('min.insync.replicas'),
    retentionBytes: num('retention.bytes'),
    retentionMs: num('retention.ms'),
    segmentBytes: num('segment.bytes'),
    segmentIndexBytes: num('segment.index.bytes'),
    segmentJitterMs: num('segment.jitter.ms'),
    segmentMs: num('segment.ms'),
    uncleanLeaderElectionEnable: raw('unclean.leader.election.enable').toLowerCase() === 'true',
  });
}

/** A broker's replication throttles in bytes/s (Infinity: none), from its overrides, then the cluster default. */
export interface BrokerThrottles {
  readonly leaderReplicationThrottledRateBytesPerSec: number;
  readonly followerReplicationThrottledRateBytesPerSec: number;
}

export function effectiveBrokerThrottles(image: MetadataImage, brokerId: number): BrokerThrottles {
  const rate = (name: string): number => {
    const value = brokerConfigOverride(image, brokerId, name);
    // Long.MAX_VALUE is Kafka's "unthrottled"; so is anything no link could carry.
    const n = value === undefined ? Number.POSITIVE_INFINITY : Number(value);
    return n >= Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : n;
  };
  return Object.freeze({
    leaderReplicationThrottledRateBytesPerSec: rate('leader.replication.throttled.rate'),
    followerReplicationThrottledRateBytesPerSec: rate('follower.replication.throttled.rate'),
  });
}

// ---------------------------------------------------------------- DescribeConfigs

export interface DescribeConfigsCommand {
  readonly type: 'DescribeConfigs';
  readonly resources: readonly {
    readonly resourceType: ConfigResourceType;
    readonly resourceName: string;
    /** null = all configs. Unknown names are left out of the answer, as in Kafka. */
    readonly configNames: readonly string[] | null;
  }[];
}

/** Where a described value comes from, highest precedence first (Kafka's ConfigSource names). */
export type ConfigSource = 'TOPIC_CONFIG' | 'DYNAMIC_BROKER_CONFIG' | 'DYNAMIC_DEFAULT_BROKER_CONFIG' | 'STATIC_BROKER_CONFIG' | 'DEFAULT_CONFIG';

/**
 * Topic configs whose default a broker config sets (Kafka's synonyms): a topic that does not set its own takes
 * the broker's dynamic value, the cluster-wide dynamic default, the broker's static config, then Kafka's default.
 */
export const topicConfigBrokerSynonyms: ReadonlyMap<string, string> = new Map([
  ['min.insync.replicas', 'min.insync.replicas'],
  ['retention.ms', 'log.retention.ms'],
  ['retention.bytes', 'log.retention.bytes'],
  ['segment.bytes', 'log.segment.bytes'],
]);

/**
 * The static config (its command line, file and environment) of the broker asked a DescribeConfigs, by broker
 * config name: only the values set away from Kafka's defaults. The controller does not know them, so the broker
 * fills them into the controller's answer (withStaticBrokerConfigs). The controller answers, not the broker from
 * its image, so that a describe right after an alter sees it (the broker's image may be a fetch behind).
 */
export type StaticBrokerConfigs = { readonly brokerId: number; readonly values: ReadonlyMap<string, string> };

export interface DescribedConfig {
  readonly name: string;
  readonly value: string;
  readonly source: ConfigSource;
  readonly isDefault: boolean;
  readonly readOnly: boolean;
  readonly documentation: string;
}

export interface DescribeConfigsReply {
  readonly type: 'DescribeConfigsReply';
  readonly results: readonly (ItemError & {
    readonly resourceType: ConfigResourceType;
    readonly resourceName: string;
    readonly configs: readonly DescribedConfig[];
  })[];
}

/** Read-only: never produces records. */
export function generateDescribeConfigs(
  image: MetadataImage,
  command: DescribeConfigsCommand,
): ControlResult<DescribeConfigsReply> {
  const results = command.resources.map((resource) => {
    if (resource.resourceType === 'broker') return describeBroker(image, resource.resourceName, resource.configNames);
    const topic = topicByName(image, resource.resourceName);
    if (topic === undefined) {
      return {
        resourceType: 'topic' as const,
        resourceName: resource.resourceName,
        errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        errorMessage: `Topic ${resource.resourceName} does not exist`,
        configs: [],
      };
    }
    const wanted = resource.configNames === null ? null : new Set(resource.configNames);
    const configs: DescribedConfig[] = [];
    for (const definition of topicConfigSchema.values()) {
      if (wanted !== null && !wanted.has(definition.name)) continue;
      const override = topic.configs.get(definition.name);
      const [value, source] = override !== undefined ? [override, 'TOPIC_CONFIG' as const] : brokerDefault(image, definition.name, definition.defaultValue);
      configs.push({ name: definition.name, value, source, isDefault: source === 'DEFAULT_CONFIG', readOnly: false, documentation: definition.doc });
    }
    return { resourceType: 'topic' as const, resourceName: topic.name, errorCode: 0, errorMessage: null, configs };
  });
  return { records: [], reply: { type: 'DescribeConfigsReply', results } };
}

/**
 * A topic config's value where the topic sets none, as far as the controller knows: its broker synonym's
 * cluster-wide dynamic default, else Kafka's default. (Which broker's own values apply depends on the broker:
 * the asked broker fills in its static config, `withStaticBrokerConfigs`.)
 */
function brokerDefault(image: MetadataImage, topicConfigName: string, fallback: string): [string, ConfigSource] {
  const synonym = topicConfigBrokerSynonyms.get(topicConfigName);
  const clusterDefault = synonym === undefined ? undefined : image.brokerConfigs.get('')?.get(synonym);
  return clusterDefault !== undefined ? [clusterDefault, 'DYNAMIC_DEFAULT_BROKER_CONFIG'] : [fallback, 'DEFAULT_CONFIG'];
}

/**
 * The controller's DescribeConfigs answer as the asked broker gives it (Kafka's brokers answer from their own
 * config): a value the controller reports as Kafka's default takes the broker's static config where it sets one
 * (a topic's through its broker synonym; the broker's own resource directly), as STATIC_BROKER_CONFIG.
 */
export function withStaticBrokerConfigs(reply: DescribeConfigsReply, staticConfigs: StaticBrokerConfigs): DescribeConfigsReply {
  if (staticConfigs.values.size === 0) return reply;
  const ownResource = String(staticConfigs.brokerId);
  return {
    ...reply,
    results: reply.results.map((result) => {
      if (result.resourceType === 'broker' && result.resourceName !== ownResource) return result;
      return {
        ...result,
        configs: result.configs.map((c) => {
          if (c.source !== 'DEFAULT_CONFIG') return c;
          const brokerName = result.resourceType === 'topic' ? topicConfigBrokerSynonyms.get(c.name) : c.name;
          const value = brokerName === undefined ? undefined : staticConfigs.values.get(brokerName);
          return value === undefined ? c : { ...c, value, source: 'STATIC_BROKER_CONFIG' as const, isDefault: false };
        }),
      };
    }),
  };
}

function describeBroker(image: MetadataImage, resourceName: string, configNames: readonly string[] | null): DescribeConfigsReply['results'][number] {
  if (!isBrokerResourceName(resourceName)) {
    return { resourceType: 'broker', resourceName, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Broker config resource ${JSON.stringify(resourceName)} is not a broker id or '' (the cluster default)`, configs: [] };
  }
  const wanted = configNames === null ? null : new Set(configNames);
  const own = resourceName === '' ? undefined : image.brokerConfigs.get(resourceName);
  const clusterDefault = image.brokerConfigs.get('');
  const configs: DescribedConfig[] = [];
  for (const definition of brokerConfigSchema.values()) {
    if (wanted !== null && !wanted.has(definition.name)) continue;
    const ownValue = own?.get(definition.name);
    const defaultValue = clusterDefault?.get(definition.name);
    const [value, source]: [string, ConfigSource] =
      ownValue !== undefined ? [ownValue, 'DYNAMIC_BROKER_CONFIG'] : defaultValue !== undefined ? [defaultValue, 'DYNAMIC_DEFAULT_BROKER_CONFIG'] : [definition.defaultValue, 'DEFAULT_CONFIG'];
    configs.push({ name: definition.name, value, source, isDefault: source === 'DEFAULT_CONFIG', readOnly: false, documentation: definition.doc });
  }
  return { resourceType: 'broker', resourceName, errorCode: 0, errorMessage: null, configs };
}

// ---------------------------------------------------------------- AlterConfigs

export interface AlterConfigOp {
  readonly name: string;
  readonly op: 'SET' | 'DELETE';
  /** Required for SET, ignored for DELETE. */
  readonly value: string | null;
}

export interface AlterConfigsCommand {
  readonly type: 'AlterConfigs';
  readonly resources: readonly {
    readonly resourceType: ConfigResourceType;
    readonly resourceName: string;
    readonly ops: readonly AlterConfigOp[];
  }[];
  /** Validate and answer, write nothing. */
  readonly validateOnly: boolean;
}

export interface AlterConfigsReply {
  readonly type: 'AlterConfigsReply';
  readonly results: readonly (ItemError & { readonly resourceType: ConfigResourceType; readonly resourceName: string })[];
}

/** Each resource succeeds or fails as a whole; a failed one writes nothing. */
export function generateAlterConfigs(image: MetadataImage, command: AlterConfigsCommand): ControlResult<AlterConfigsReply> {
  const records: ConfigRecord[] = [];
  const nameCounts = countBy(command.resources.map((r) => `${r.resourceType}:${r.resourceName}`));
  const results = command.resources.map((resource) => {
    const { resourceType } = resource;
    const result = (errorCode: number, errorMessage: string | null) => ({
      resourceType,
      resourceName: resource.resourceName,
      errorCode,
      errorMessage,
    });
    const what = resourceType === 'topic' ? `Topic ${resource.resourceName}` : `Broker config resource ${JSON.stringify(resource.resourceName)}`;
    if ((nameCounts.get(`${resourceType}:${resource.resourceName}`) ?? 0) > 1) {
      return result(ErrorCode.INVALID_REQUEST, `${what} appears more than once in the request`);
    }
    let current: ReadonlyMap<string, string>;
    let resourceName = resource.resourceName;
    if (resourceType === 'broker') {
      if (!isBrokerResourceName(resource.resourceName)) return result(ErrorCode.INVALID_REQUEST, `${what} is not a broker id or '' (the cluster default)`);
      current = image.brokerConfigs.get(resource.resourceName) ?? new Map();
    } else {
      const topic = topicByName(image, resource.resourceName);
      if (topic === undefined) return result(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${what} does not exist`);
      current = topic.configs;
      resourceName = topic.name;
    }
    const schema = resourceType === 'topic' ? topicConfigSchema : brokerConfigSchema;
    const opCounts = countBy(resource.ops.map((op) => op.name));
    const changes: ConfigRecord[] = [];
    for (const op of resource.ops) {
      if ((opCounts.get(op.name) ?? 0) > 1) {
        return result(ErrorCode.INVALID_REQUEST, `Duplicate config name in request: ${op.name}`);
      }
      if (!schema.has(op.name)) {
        return result(ErrorCode.INVALID_CONFIG, `Unknown ${resourceType} config name: ${op.name}`);
      }
      const value = current.get(op.name);
      if (op.op === 'DELETE') {
        if (value !== undefined) changes.push(configRecord(resourceType, resourceName, op.name, null));
        continue;
      }
      if (op.value === null) return result(ErrorCode.INVALID_CONFIG, `Null value for configuration ${op.name}`);
      const problem = validateConfigValue(op.name, op.value, resourceType);
      if (problem !== null) return result(ErrorCode.INVALID_CONFIG, problem);
      if (value !== op.value) changes.push(configRecord(resourceType, resourceName, op.name, op.value));
    }
    if (!command.validateOnly) records.push(...changes);
    return result(0, null);
  });
  return { records, reply: { type: 'AlterConfigsReply', results } };
}

function configRecord(resourceType: ConfigResourceType, resourceName: string, name: string, value: string | null): ConfigRecord {
  return { type: 'Config', resourceType, resourceName, name, value };
}

function countBy(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  return counts;
}
