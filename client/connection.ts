/**
 * The client's one runtime Node and its links to brokers.
 *
 * Owns: starting the client Node (no listener: brokers answer over the link
 * the client opened), bootstrap (dial the configured URLs in turn until one
 * answers its hello, which tells us that broker's id), the broker address
 * book (`setBrokers` from metadata: node id = String(brokerId), URL =
 * ws://host:port), choosing a broker for requests that any broker can answer,
 * and `ask`/`tell` to a broker's `/broker` or `/fetch` actor.
 *
 * One connection per broker: the runtime keeps one outbound link per peer and
 * re-dials it with capped backoff when it drops; asks to a peer the failure
 * detector declares down fail at once with NETWORK_EXCEPTION (retriable).
 * Every ask has a timeout; a reply after it is dropped by the runtime.
 *
 * The client node id is `client-<clientId>-<random>`: unique, so two clients
 * with the same clientId never collide in a broker's peer table.
 *
 * Imports: runtime/ (Node, refs, logger), protocol/errors.ts.
 */
import { saslClientCredentials, type SaslClientSettings } from '../protocol/sasl/client-session.ts';
import { randomUUID } from 'node:crypto';
import { Node } from '../runtime/node.ts';
import { createLogger, type Logger } from '../runtime/logger.ts';
import type { Ref } from '../runtime/ref.ts';
import type { FaultPlan } from '../runtime/faults.ts';
import { wsUrl, type TlsSettings } from '../runtime/tls.ts';
import { ErrorCode, KactusError } from '../protocol/errors.ts';

export type BrokerPath = '/broker' | '/fetch';

export type BrokerAddress = { brokerId: number; host: string; port: number; rack: string | null };

/** The codes of a SASL refusal: final, not retried. */
const saslRefusals: ReadonlySet<number> = new Set([ErrorCode.SASL_AUTHENTICATION_FAILED, ErrorCode.UNSUPPORTED_SASL_MECHANISM, ErrorCode.ILLEGAL_SASL_STATE]);

export type ConnectionOptions = {
  brokers: readonly string[];
  clientId: string;
  connectTimeoutMs: number;
  logger?: Logger;
  /** Testing: a fault plan for the client node's frames. */
  faults?: FaultPlan;
  /** TLS for wss:// brokers (KactusOptions.ssl). */
  tls?: TlsSettings;
  /** SASL on every link (KactusOptions.sasl), for brokers with native.client.authentication=sasl. */
  sasl?: SaslClientSettings;
  /** KactusOptions.clusterSecret: link as a peer (operator tools only). */
  clusterSecret?: Uint8Array;
};

/**
 * A broker's URL from its registration, in the scheme the client bootstrapped with: a client that reached the
 * cluster over wss:// keeps wss:// for every broker it learns from metadata.
 */
export function brokerUrl(broker: { host: string; port: number }, scheme: 'ws' | 'wss' = 'ws'): string {
  return wsUrl(scheme, broker.host, broker.port);
}

export class Connection {
  readonly node: Node;
  readonly log: Logger;
  /** The broker the bootstrap reached. */
  readonly bootstrapBrokerId: number;
  private readonly known = new Map<number, BrokerAddress | null>();
  private nextPick = 0;
  private closed = false;

  /** The scheme of the bootstrap URL that answered: every broker learned from metadata is dialed with it. */
  readonly scheme: 'ws' | 'wss';

  private constructor(node: Node, log: Logger, bootstrapBrokerId: number, scheme: 'ws' | 'wss') {
    this.scheme = scheme;
    this.node = node;
    this.log = log;
    this.bootstrapBrokerId = bootstrapBrokerId;
    this.known.set(bootstrapBrokerId, null);
  }

  /** Starts the client node and reaches one bootstrap broker; rejects with NETWORK_EXCEPTION (retriable) if none answers. */
  static async open(options: ConnectionOptions): Promise<Connection> {
    const nodeId = `client-${options.clientId}-${randomUUID().slice(0, 8)}`;
    const log = options.logger ?? createLogger({ client: options.clientId }, process.env.LOG_LEVEL ?? 'warn', 2);
    const node = await Node.start({ nodeId, logger: log, limits: { handshakeTimeoutMs: options.connectTimeoutMs }, ...(options.faults ? { faults: options.faults } : {}), ...(options.tls ? { tls: options.tls } : {}), ...(options.sasl ? { clientCredentials: saslClientCredentials(options.sasl) } : {}), ...(options.clusterSecret ? { clusterSecret: options.clusterSecret } : {}) });
    const problems: string[] = [];
    for (const url of options.brokers) {
      try {
        const peerId = await node.connect(url);
        const brokerId = Number(peerId);
        if (!Number.isInteger(brokerId) || brokerId < 0) {
          problems.push(`${url} is node "${peerId}", not a broker`);
          continue;
        }
        log.debug({ url, brokerId }, 'client.bootstrapped');
        return new Connection(node, log, brokerId, url.startsWith('wss:') ? 'wss' : 'ws');
      } catch (err) {
        // Refused credentials are not a network problem: another bootstrap broker would refuse them too.
        if (err instanceof KactusError && saslRefusals.has(err.code)) {
          await node.stop();
          throw err;
        }
        problems.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await node.stop();
    throw new KactusError(ErrorCode.NETWORK_EXCEPTION, `could not reach any bootstrap broker (${problems.join('; ')})`);
  }

  /** Learns broker addresses from a metadata reply; brokers no longer listed are forgotten for picking. */
  setBrokers(brokers: readonly BrokerAddress[]): void {
    if (brokers.length === 0) return;
    const listed = new Set<number>();
    for (const broker of brokers) {
      listed.add(broker.brokerId);
      const previous = this.known.get(broker.brokerId);
      if (previous === undefined || previous === null || previous.host !== broker.host || previous.port !== broker.port) {
        this.node.addPeer(String(broker.brokerId), brokerUrl(broker, this.scheme));
      }
      this.known.set(broker.brokerId, broker);
    }
    for (const id of [...this.known.keys()]) if (!listed.has(id)) this.known.delete(id);
  }

  brokerIds(): number[] {
    return [...this.known.keys()];
  }

  /**
   * A broker for a request any broker can answer (metadata, admin): round-robin
   * over known brokers, preferring those whose link is up, skipping `avoid`.
   */
  pickBroker(avoid?: number): number {
    const ids = this.brokerIds();
    if (ids.length === 0) return this.bootstrapBrokerId;
    const ordered = ids.map((_, i) => ids[(this.nextPick + i) % ids.length]!);
    this.nextPick = (this.nextPick + 1) % ids.length;
    const up = ordered.filter((id) => id !== avoid && this.node.peerStatus(String(id)) === 'up');
    return up[0] ?? ordered.find((id) => id !== avoid) ?? ordered[0]!;
  }

  ref<M>(brokerId: number, path: BrokerPath): Ref<M> {
    return { node: String(brokerId), path };
  }

  /** Asks a broker actor; rejects with a KactusError (REQUEST_TIMED_OUT, NETWORK_EXCEPTION, ...). */
  ask<M, R>(brokerId: number, path: BrokerPath, makeMessage: (replyTo: Ref<R>) => M, timeoutMs: number): Promise<R> {
    if (this.closed) return Promise.reject(new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, 'the client is closed'));
    // A broker the failure detector holds down (killed, cut off) would only queue the request until the link is
    // back, and the caller would wait out its whole timeout (a producer 30 s on a dead leader while metadata
    // already names the new one). Refuse it unsent, retriable, as a Kafka client does for a disconnected node:
    // the caller refreshes metadata and retries, and nothing was sent, so nothing can be duplicated.
    if (this.isDown(brokerId)) {
      return Promise.reject(new KactusError(ErrorCode.NETWORK_EXCEPTION, `broker ${brokerId} is down (its link is being redialed)`));
    }
    return this.node.ask<M, R>(this.ref<M>(brokerId, path), makeMessage, { timeoutMs });
  }

  /** The failure detector holds the broker down (its process is gone, or it has been silent too long): asks to it fail unsent. */
  isDown(brokerId: number): boolean {
    return this.node.peerStatus(String(brokerId)) === 'down';
  }

  /** Fire-and-forget (acks=0); returns 0 or the refusal's error code. */
  tell<M>(brokerId: number, path: BrokerPath, message: M): number {
    if (this.closed) return ErrorCode.BROKER_NOT_AVAILABLE;
    return this.node.tell(this.ref<M>(brokerId, path), message);
  }

  /** Bytes queued to a broker and not yet on its socket (backpressure for acks=0). */
  queuedBytesTo(brokerId: number): number {
    return this.node.queuedBytesTo(String(brokerId));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.node.stop();
  }
}
