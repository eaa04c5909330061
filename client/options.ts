/**
 * Validation of user options: every option the client takes is checked
 * here, with its default and its bound, before anything is sent.
 *
 * Owns: `parseOptions(what, value, spec)` (unknown keys refused with a
 * message naming them all; each known key checked and defaulted), the small
 * checkers (`integer`, `oneOf`, ...), and the option specs of Kactus, Admin
 * and Producer with their defaults (`kactusOptionsSpec`, `producerOptionsSpec`).
 * Kafka's dotted config names map to ours (units last) here and nowhere else:
 *
 *   bootstrap.servers -> brokers            client.id -> clientId
 *   request.timeout.ms -> requestTimeoutMs  metadata.max.age.ms -> metadataMaxAgeMs
 *   retries -> retriesMax                   retry.backoff.ms / .max.ms -> retryBackoffMs / retryBackoffMsMax
 *   acks -> acks                            enable.idempotence -> idempotent
 *   batch.size -> batchSizeBytes            linger.ms -> lingerMs
 *   compression.type -> compression         delivery.timeout.ms -> deliveryTimeoutMs
 *   max.request.size -> maxRequestSizeBytes buffer.memory -> bufferBytesMax
 *   max.in.flight.requests.per.connection -> maxInFlightRequestsPerBroker
 *   partitioner.class -> partitioner
 *   transactional.id -> transactionalId     transaction.timeout.ms -> transactionTimeoutMs
 *
 * Every failure is a KactusError with INVALID_CONFIG (not retriable) and a
 * message naming the option and what it must be.
 *
 * Imports: protocol/errors.ts, protocol/record-batch/header.ts (the codec
 * names), runtime/logger.ts (a type), ./metrics.ts (the metrics option's
 * prefix default and bound; prom-client itself is not loaded here).
 */
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { compressionNames, type CompressionName } from '../protocol/record-batch/header.ts';
import type { Logger } from '../runtime/logger.ts';
import type { RawValue, Serializer, Serializers } from './serde.ts';
import { metricsPrefixDefault, metricsPrefixLengthMax, type MetricsConfig, type MetricsOptions } from './metrics.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

type Check<T> = (value: unknown, name: string) => T;
type Spec = Record<string, Check<unknown>>;
export type Parsed<S extends Spec> = { [K in keyof S]: ReturnType<S[K]> };

function bad(name: string, problem: string): KactusError {
  return new KactusError(ErrorCode.INVALID_CONFIG, `option ${name} ${problem}`);
}

/** Checks `value` against `spec`: unknown keys are refused (all named), missing keys take their defaults. */
export function parseOptions<S extends Spec>(what: string, value: unknown, spec: S): Parsed<S> {
  if (value === undefined || value === null) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new KactusError(ErrorCode.INVALID_CONFIG, `${what} options must be an object`);
  const source = value as Record<string, unknown>;
  const unknown = Object.keys(source).filter((key) => !Object.hasOwn(spec, key));
  if (unknown.length > 0) {
    throw new KactusError(ErrorCode.INVALID_CONFIG, `unknown ${what} option${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (known: ${Object.keys(spec).join(', ')})`);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(spec)) out[key] = spec[key]!(source[key], `${what}.${key}`);
  return out as Parsed<S>;
}

export const integer = (min: number, max: number, fallback: number): Check<number> => (value, name) => {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw bad(name, `must be an integer in [${min}, ${max}], got ${String(value)}`);
  return value;
};

export const boolean = (fallback: boolean | undefined): Check<boolean | undefined> => (value, name) => {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw bad(name, `must be true or false, got ${String(value)}`);
  return value;
};

export const oneOf = <T>(allowed: readonly T[], fallback: T): Check<T> => (value, name) => {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw bad(name, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
};

export const matching = (pattern: RegExp, description: string, fallback: string | undefined): Check<string> => (value, name) => {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || !pattern.test(value)) throw bad(name, `must be ${description}, got ${JSON.stringify(value)}`);
  return value;
};

export const brokerList: Check<string[]> = (value, name) => {
  if (!Array.isArray(value) || value.length === 0) throw bad(name, 'must be a non-empty array of ws:// URLs');
  return value.map((url, i) => {
    if (typeof url !== 'string') throw bad(`${name}[${i}]`, 'must be a ws:// URL string');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw bad(`${name}[${i}]`, `must be a ws:// URL, got ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw bad(`${name}[${i}]`, `must be a ws:// URL, got ${JSON.stringify(url)}`);
    return url;
  });
};

export const loggerOption: Check<Logger | undefined> = (value, name) => {
  if (value === undefined) return undefined;
  const candidate = value as { child?: unknown; warn?: unknown };
  if (typeof value !== 'object' || value === null || typeof candidate.child !== 'function' || typeof candidate.warn !== 'function') throw bad(name, 'must be a pino logger');
  return value as Logger;
};

/** ssl: what the client trusts and presents on wss:// (PEM text; TlsSettings of runtime/tls.ts). */
export type SslOptions = { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };

const sslOption: Check<{ ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } | undefined> = (value, name) => {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(name, 'must be an object { ca, cert, key, rejectUnauthorized }');
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) if (!['ca', 'cert', 'key', 'rejectUnauthorized'].includes(key)) throw bad(`${name}.${key}`, 'is not an ssl option (ca, cert, key, rejectUnauthorized)');
  const pem = (key: 'ca' | 'cert' | 'key'): string | undefined => {
    const item = source[key];
    if (item === undefined) return undefined;
    const text = Buffer.isBuffer(item) ? item.toString('utf8') : item;
    if (typeof text !== 'string' || !text.includes('-----BEGIN ')) throw bad(`${name}.${key}`, 'must be PEM text (a string or Buffer with -----BEGIN ...-----)');
    return text;
  };
  const out = { ...(pem('ca') === undefined ? {} : { ca: pem('ca')! }), ...(pem('cert') === undefined ? {} : { cert: pem('cert')! }), ...(pem('key') === undefined ? {} : { key: pem('key')! }) };
  if ((out.cert === undefined) !== (out.key === undefined)) throw bad(name, 'cert and key go together (a client certificate needs its private key)');
  const reject = source.rejectUnauthorized;
  if (reject !== undefined && typeof reject !== 'boolean') throw bad(`${name}.rejectUnauthorized`, 'must be true or false');
  return { ...out, rejectUnauthorized: reject ?? true };
};

/** sasl: the credentials of a SCRAM user (`kactus users create`). */
export type SaslOptions = { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'PLAIN'; username: string; password: string };

const saslOption: Check<SaslOptions | undefined> = (value, name) => {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(name, 'must be an object { mechanism, username, password }');
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) if (!['mechanism', 'username', 'password'].includes(key)) throw bad(`${name}.${key}`, 'is not a sasl option (mechanism, username, password)');
  const mechanism = typeof source.mechanism === 'string' ? source.mechanism.toUpperCase() : source.mechanism;
  if (mechanism !== 'SCRAM-SHA-256' && mechanism !== 'SCRAM-SHA-512' && mechanism !== 'PLAIN') throw bad(`${name}.mechanism`, `must be SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN, got ${JSON.stringify(source.mechanism)}`);
  for (const key of ['username', 'password'] as const) {
    const text = source[key];
    if (typeof text !== 'string' || text.length === 0 || text.length > 255) throw bad(`${name}.${key}`, 'must be a string of 1-255 characters');
  }
  return { mechanism, username: source.username as string, password: source.password as string };
};

const clusterSecretOption: Check<Buffer | undefined> = (value, name) => {
  if (value === undefined) return undefined;
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : value;
  if (typeof text !== 'string' || text.trim().length < 16) throw bad(name, 'must be the cluster secret (a string or Buffer of at least 16 characters)');
  return Buffer.from(text.trim(), 'utf8');
};

/**
 * metrics: { registry, prefix? } (client/metrics.ts). The registry is checked by shape, not by class: the app's
 * prom-client may be another copy than ours, and a Registry of either works.
 */
export const metricsOption: Check<MetricsConfig | undefined> = (value, name) => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw bad(name, 'must be an object { registry, prefix? } with a prom-client Registry');
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) if (key !== 'registry' && key !== 'prefix') throw bad(`${name}.${key}`, 'is not a metrics option (registry, prefix)');
  const registry = source.registry as { getSingleMetric?: unknown; registerMetric?: unknown } | undefined;
  if (typeof registry !== 'object' || registry === null || typeof registry.getSingleMetric !== 'function' || typeof registry.registerMetric !== 'function') throw bad(`${name}.registry`, 'must be a prom-client Registry (new Registry() or its default `register`)');
  const prefix = source.prefix ?? metricsPrefixDefault;
  if (typeof prefix !== 'string' || prefix.length > metricsPrefixLengthMax || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) throw bad(`${name}.prefix`, `must be at most ${metricsPrefixLengthMax} characters of [a-zA-Z0-9_:] not starting with a digit, got ${JSON.stringify(prefix)}`);
  return { registry: source.registry as MetricsOptions['registry'], prefix };
};

// ---------------------------------------------------------------- Kactus

export const kactusOptionsSpec = {
  /** bootstrap.servers: ws:// URLs of some brokers; the rest are learned from metadata. */
  brokers: brokerList,
  /** client.id: names this client in broker logs; part of the client's node id. */
  clientId: matching(/^[A-Za-z0-9._-]{1,128}$/, '1-128 characters of [A-Za-z0-9._-]', 'kactus'),
  /** Time allowed to open the first connection to a bootstrap broker. */
  connectTimeoutMs: integer(1, 300_000, 10_000),
  /** request.timeout.ms for admin and metadata requests. */
  requestTimeoutMs: integer(1, 300_000, 30_000),
  /** metadata.max.age.ms: cached metadata is refreshed at least this often. */
  metadataMaxAgeMs: integer(100, 86_400_000, 300_000),
  /** retries for admin and metadata requests. */
  retriesMax: integer(0, 1_000, 5),
  /** retry.backoff.ms */
  retryBackoffMs: integer(0, 60_000, 100),
  /** retry.backoff.max.ms */
  retryBackoffMsMax: integer(0, 600_000, 1_000),
  /** A pino logger; default: pino at LOG_LEVEL (default warn), to stderr. */
  logger: loggerOption,
  /** TLS for wss:// brokers: ca (PEM; default Node's roots), cert + key for client-certificate auth, rejectUnauthorized (default true). */
  ssl: sslOption,
  /** SASL for brokers that require it on their native listener: { mechanism: SCRAM-SHA-256 | SCRAM-SHA-512 | PLAIN (wss:// only), username, password }. */
  sasl: saslOption,
  /**
   * Operator tools on a broker's machine only: the cluster secret (the content of cluster.secret.file).
   * The client then links as a peer, which is trusted with everything (no SASL, no ACLs): the way to
   * make the first users of a cluster that requires them. Never give it to an application.
   */
  clusterSecret: clusterSecretOption,
  /** Prometheus metrics of this client's producers and consumers: { registry: a prom-client Registry, prefix? (default kactus_client_) }. */
  metrics: metricsOption,
} satisfies Spec;

export type KactusOptions = {
  brokers: string[];
  clientId?: string;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  metadataMaxAgeMs?: number;
  retriesMax?: number;
  retryBackoffMs?: number;
  retryBackoffMsMax?: number;
  logger?: Logger;
  ssl?: SslOptions;
  sasl?: SaslOptions;
  clusterSecret?: string | Buffer;
  /** Registers the producers' and consumers' metrics in this prom-client Registry (client/metrics.ts). */
  metrics?: MetricsOptions;
};

export type KactusConfig = Parsed<typeof kactusOptionsSpec>;

export function parseKactusOptions(value: unknown): KactusConfig {
  const config = parseOptions('Kactus', value, kactusOptionsSpec);
  if (config.retryBackoffMs > config.retryBackoffMsMax) throw bad('Kactus.retryBackoffMs', `(${config.retryBackoffMs}) must not exceed retryBackoffMsMax (${config.retryBackoffMsMax})`);
  return config;
}

// ---------------------------------------------------------------- Admin

export const adminOptionsSpec = {
  /** Overrides Kactus.requestTimeoutMs for this admin. */
  requestTimeoutMs: integer(1, 300_000, 0),
} satisfies Spec;

export type AdminOptions = { requestTimeoutMs?: number };

// ---------------------------------------------------------------- Producer

export type PartitionerFunction = (args: { topic: string; partitionCount: number; key: Buffer | null; value: Buffer | null }) => number;
export type PartitionerOption = 'default' | 'round-robin' | PartitionerFunction;

const partitionerOption: Check<PartitionerOption> = (value, name) => {
  if (value === undefined) return 'default';
  if (value === 'default' || value === 'sticky' || value === 'round-robin') return value === 'sticky' ? 'default' : value;
  if (typeof value === 'function') return value as PartitionerFunction;
  throw bad(name, `must be 'default' (keyed: murmur2, keyless: sticky), 'round-robin' or a function, got ${JSON.stringify(value)}`);
};

const acksOption: Check<0 | 1 | -1> = (value, name) => {
  if (value === undefined || value === 'all' || value === -1) return -1;
  if (value === 0 || value === 1) return value;
  throw bad(name, `must be 0, 1, -1 or 'all', got ${JSON.stringify(value)}`);
};

const faultsOption: Check<{ dropProduceResponses: number }> = (value, name) => {
  const parsed = parseOptions(name, value, { dropProduceResponses: integer(0, Number.MAX_SAFE_INTEGER, 0) });
  return parsed;
};

const transactionalIdOption: Check<string | null> = (value, name) => {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 1_024) throw bad(name, `must be a non-empty string of at most 1024 characters, got ${JSON.stringify(value)}`);
  return value;
};

/**
 * { key?, value? } of functions (serializers, deserializers: serde.ts); a missing slot is null (bytes as they are).
 * `signature` names what a slot must be, for the error.
 */
export const functionSlots = <F>(kind: string, signature: string): Check<{ key: F | null; value: F | null }> => (value, name) => {
  if (value === undefined || value === null) return { key: null, value: null };
  if (typeof value !== 'object' || Array.isArray(value)) throw bad(name, `must be an object { key?, value? } of ${kind} functions`);
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) if (key !== 'key' && key !== 'value') throw bad(`${name}.${key}`, `is not a ${kind} slot (key, value)`);
  const slot = (key: 'key' | 'value'): F | null => {
    const fn = source[key];
    if (fn === undefined || fn === null) return null;
    if (typeof fn !== 'function') throw bad(`${name}.${key}`, `must be a function ${signature}, got ${typeof fn}`);
    return fn as F;
  };
  return { key: slot('key'), value: slot('value') };
};

export const producerOptionsSpec = {
  /** acks: 0 (no answer), 1 (leader appended), 'all' / -1 (every ISR member has it). */
  acks: acksOption,
  /** enable.idempotence: default on unless acks is not 'all' (Kafka 3.0+). */
  idempotent: boolean(undefined),
  /** batch.size: a partition's batch is sent once this full. */
  batchSizeBytes: integer(1, 64 * MiB, 16 * KiB),
  /** linger.ms: longest a batch waits to fill. */
  lingerMs: integer(0, 60_000, 5),
  /** compression.type: Kafka's codecs, by Kafka's names. */
  compression: oneOf(compressionNames, 'none'),
  /** request.timeout.ms: longest wait for one produce answer (also the broker's acks wait). */
  requestTimeoutMs: integer(1, 300_000, 30_000),
  /** delivery.timeout.ms: a send fails if not acknowledged this long after it was accepted. */
  deliveryTimeoutMs: integer(1, 86_400_000, 120_000),
  /** retries: resends of one batch (the delivery timeout bounds them too). */
  retriesMax: integer(0, 2_147_483_647, 2_147_483_647),
  retryBackoffMs: integer(0, 60_000, 100),
  retryBackoffMsMax: integer(0, 600_000, 1_000),
  /** max.in.flight.requests.per.connection (one batch per request here). */
  maxInFlightRequestsPerBroker: integer(1, 100, 5),
  /** max.request.size: the largest record (and batch) this producer sends. */
  maxRequestSizeBytes: integer(1, 8 * MiB, MiB),
  /** buffer.memory: bytes of records accepted but not yet acknowledged; send waits past it. */
  bufferBytesMax: integer(1, 4096 * MiB, 32 * MiB),
  partitioner: partitionerOption,
  /** transactional.id: makes the producer transactional (producer.transaction()); requires idempotence. */
  transactionalId: transactionalIdOption,
  /** transaction.timeout.ms: the coordinator aborts a transaction left open this long (sent with InitProducerId). */
  transactionTimeoutMs: integer(1, 900_000, 60_000),
  /** key.serializer / value.serializer: serializers.string, serializers.json<T>(), or functions of your own (serde.ts). */
  serializers: functionSlots<Serializer<unknown>>('serializer', '(data, topic: string) => Buffer | string'),
  /** This producer's metrics go to this registry instead of the Kactus client's (same shape as Kactus.metrics). */
  metrics: metricsOption,
  /** Testing only: fault injection on the client side. */
  faults: faultsOption,
} satisfies Spec;

export type ProducerOptions<K = RawValue, V = RawValue> = {
  acks?: 0 | 1 | -1 | 'all';
  idempotent?: boolean;
  batchSizeBytes?: number;
  lingerMs?: number;
  /** compression.type; snappy is written in xerial framing and lz4 in the LZ4 frame format, as Kafka's clients do. */
  compression?: CompressionName;
  requestTimeoutMs?: number;
  deliveryTimeoutMs?: number;
  retriesMax?: number;
  retryBackoffMs?: number;
  retryBackoffMsMax?: number;
  maxInFlightRequestsPerBroker?: number;
  maxRequestSizeBytes?: number;
  bufferBytesMax?: number;
  partitioner?: 'default' | 'sticky' | 'round-robin' | PartitionerFunction;
  /** Makes the producer transactional: sends go through producer.transaction(). */
  transactionalId?: string | null;
  transactionTimeoutMs?: number;
  /** Types send() by K and V: serializers.json<Order>() makes value an Order. */
  serializers?: Serializers<K, V>;
  /** Overrides Kactus.metrics for this producer. */
  metrics?: MetricsOptions;
  faults?: { dropProduceResponses?: number };
};

export type ProducerConfig = Omit<Parsed<typeof producerOptionsSpec>, 'idempotent'> & { idempotent: boolean };

/** Kafka's cap: the broker remembers the last 5 batches per producer and partition for dedupe. */
export const idempotentInFlightMax = 5;

export function parseProducerOptions(value: unknown): ProducerConfig {
  const parsed = parseOptions('producer', value, producerOptionsSpec);
  const explicit = parsed.idempotent;
  if (parsed.transactionalId !== null && explicit === false) throw bad('producer.transactionalId', 'requires idempotence (idempotent must not be false)');
  if (parsed.transactionalId !== null && parsed.acks !== -1) throw bad('producer.transactionalId', `requires acks 'all' (got acks ${parsed.acks})`);
  if (parsed.transactionalId !== null && parsed.maxInFlightRequestsPerBroker > idempotentInFlightMax) throw bad('producer.transactionalId', `requires maxInFlightRequestsPerBroker <= ${idempotentInFlightMax} (got ${parsed.maxInFlightRequestsPerBroker})`);
  if (parsed.transactionalId !== null && parsed.retriesMax === 0) throw bad('producer.transactionalId', 'requires retriesMax > 0');
  if (explicit === true && parsed.acks !== -1) throw bad('producer.idempotent', `requires acks 'all' (got acks ${parsed.acks})`);
  if (explicit === true && parsed.maxInFlightRequestsPerBroker > idempotentInFlightMax) {
    throw bad('producer.idempotent', `requires maxInFlightRequestsPerBroker <= ${idempotentInFlightMax} (got ${parsed.maxInFlightRequestsPerBroker})`);
  }
  if (explicit === true && parsed.retriesMax === 0) throw bad('producer.idempotent', 'requires retriesMax > 0');
  const idempotent = explicit ?? (parsed.acks === -1 && parsed.maxInFlightRequestsPerBroker <= idempotentInFlightMax && parsed.retriesMax > 0);
  if (parsed.deliveryTimeoutMs < parsed.lingerMs + parsed.requestTimeoutMs) {
    throw bad('producer.deliveryTimeoutMs', `(${parsed.deliveryTimeoutMs}) must be at least lingerMs + requestTimeoutMs (${parsed.lingerMs + parsed.requestTimeoutMs})`);
  }
  if (parsed.retryBackoffMs > parsed.retryBackoffMsMax) throw bad('producer.retryBackoffMs', `(${parsed.retryBackoffMs}) must not exceed retryBackoffMsMax (${parsed.retryBackoffMsMax})`);
  if (parsed.maxRequestSizeBytes > parsed.bufferBytesMax) throw bad('producer.maxRequestSizeBytes', `(${parsed.maxRequestSizeBytes}) must not exceed bufferBytesMax (${parsed.bufferBytesMax})`);
  return { ...parsed, idempotent };
}
