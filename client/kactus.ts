/**
 * `Kactus`: the entry object of the client library.
 *
 *   const kactus = new Kactus({ brokers: ['ws://127.0.0.1:9191'], clientId: 'app' });
 *   const admin = kactus.admin();
 *   const producer = kactus.producer({ acks: 'all' });
 *   await kactus.close();
 *
 * Owns: the options (validated at construction: unknown keys and bad values
 * throw a KactusError INVALID_CONFIG before anything connects), the lazily
 * opened shared `ClientContext` (one client Node, one link per broker, one
 * metadata cache) that admins, producers and (later) consumers share, and
 * `close()`, which closes every producer (flushing it) and then the node.
 *
 * The connection opens on first use, not in the constructor (a constructor
 * cannot await); a failed bootstrap is retried on the next use.
 *
 * `metrics: { registry }` (client/metrics.ts) is the default registry of the
 * client's producers and consumers; each may name its own. The clientId is
 * handed to them for metric labels and diagnostics_channel contexts.
 *
 * Extension point for the consumer (issue #7): `context()` gives the
 * connection, the metadata cache and the retry policy; `register()` ties a
 * component's close() to the client's.
 */
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { Compression, loadCodec } from '../protocol/record-batch/index.ts';
import { Admin } from './admin.ts';
import { Connection } from './connection.ts';
import { MetadataCache } from './metadata-cache.ts';
import { adminOptionsSpec, parseKactusOptions, parseOptions, parseProducerOptions, type AdminOptions, type KactusConfig, type KactusOptions, type ProducerOptions } from './options.ts';
import { retryPolicyDefault, type RetryPolicy } from './retry.ts';
import { Producer } from './producer/producer.ts';
import { Consumer } from './consumer/consumer.ts';
import { parseConsumerOptions, type ConsumerOptions } from './consumer/options.ts';
import type { FaultPlan } from '../runtime/faults.ts';
import { version } from './version.ts';
import type { RawValue } from './serde.ts';

/** What every component of a client shares. */
export type ClientContext = {
  readonly connection: Connection;
  readonly metadata: MetadataCache;
  readonly config: KactusConfig;
  readonly retry: RetryPolicy;
};

/** Something close() must close. */
export interface Closeable {
  close(options?: { timeoutMs?: number }): Promise<void>;
}

export class Kactus {
  /** The package's version (package.json's), e.g. '0.1.0'. */
  static readonly version: string = version;
  readonly config: KactusConfig;
  readonly retry: RetryPolicy;
  private opening: Promise<ClientContext> | undefined;
  private readonly components = new Set<Closeable>();
  private closed = false;
  /** Testing: a runtime fault plan for the client node (set before first use). */
  faultPlan: FaultPlan | undefined;

  constructor(options: KactusOptions) {
    this.config = parseKactusOptions(options);
    this.retry = { ...retryPolicyDefault, retriesMax: this.config.retriesMax, backoffMsInitial: this.config.retryBackoffMs, backoffMsMax: this.config.retryBackoffMsMax };
  }

  /** The shared connection and metadata cache, opened on first call. */
  context(): Promise<ClientContext> {
    if (this.closed) return Promise.reject(new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, 'the Kactus client is closed'));
    if (this.opening === undefined) {
      const opening = Connection.open({
        brokers: this.config.brokers,
        clientId: this.config.clientId,
        connectTimeoutMs: this.config.connectTimeoutMs,
        ...(this.config.logger ? { logger: this.config.logger } : {}),
        ...(this.faultPlan ? { faults: this.faultPlan } : {}),
        ...(this.config.ssl ? { tls: this.config.ssl } : {}),
        ...(this.config.sasl ? { sasl: this.config.sasl } : {}),
        ...(this.config.clusterSecret ? { clusterSecret: this.config.clusterSecret } : {}),
      }).then((connection) => {
        const metadata = new MetadataCache(connection, { requestTimeoutMs: this.config.requestTimeoutMs, metadataMaxAgeMs: this.config.metadataMaxAgeMs, retry: this.retry });
        return { connection, metadata, config: this.config, retry: this.retry };
      });
      this.opening = opening;
      opening.catch(() => {
        if (this.opening === opening) this.opening = undefined;
      });
    }
    return this.opening;
  }

  /** Ties a component's close() to this client's (consumers register here too). */
  register<T extends Closeable>(component: T): T {
    if (this.closed) throw new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, 'the Kactus client is closed');
    this.components.add(component);
    return component;
  }

  unregister(component: Closeable): void {
    this.components.delete(component);
  }

  admin(options: AdminOptions = {}): Admin {
    const parsed = parseOptions('admin', options, adminOptionsSpec);
    if (this.closed) throw new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, 'the Kactus client is closed');
    return new Admin({ connection: () => this.context(), requestTimeoutMs: parsed.requestTimeoutMs || this.config.requestTimeoutMs, retry: this.retry });
  }

  producer<K = RawValue, V = RawValue>(options: ProducerOptions<K, V> = {}): Producer<K, V> {
    const config = parseProducerOptions(options);
    loadCodec(Compression[config.compression]); // a codec library that did not load fails here, not at the first batch
    const producer = new Producer<K, V>(config, () => this.context(), (p) => this.unregister(p), this.config.clientId);
    return this.register(producer);
  }

  /** A group consumer (client/consumer/consumer.ts); options are checked now (INVALID_CONFIG). */
  consumer<K = Buffer, V = Buffer>(options: ConsumerOptions<K, V>): Consumer<K, V> {
    const config = parseConsumerOptions(options);
    const consumer = new Consumer<K, V>(config, () => this.context(), (c) => this.unregister(c), undefined, this.config.clientId);
    return this.register(consumer);
  }

  /**
   * Flushes and closes every producer (and other registered component), then
   * the client node. Idempotent. `timeoutMs` bounds the flush (see Producer.close).
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const results = await Promise.allSettled([...this.components].map((c) => c.close(options)));
    this.components.clear();
    const opening = this.opening;
    this.opening = undefined;
    if (opening) {
      const context = await opening.catch(() => undefined);
      context?.metadata.close();
      await context?.connection.close();
    }
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }
}
