/**
 * A Node: one per process. It owns one nact ActorSystem, a node id and an
 * incarnation id (new at every start), a listener, the links to its peers, and
 * the runtime services every actor uses: tell, ask, death watch, failure
 * detection, supervision, timers and logging.
 *
 * Refs are plain data (`{ node, path }`) and `tell`/`ask` behave the same for
 * local and remote targets. Remote messages travel in msgpack envelopes
 * (envelope.ts) over a Transport (ws between processes, memory in tests).
 *
 * Bounds (limits.ts): each actor's mailbox (a tell past mailboxDepthMax is
 * refused with THROTTLING_QUOTA_EXCEEDED, retriable), each peer's outbound
 * queue (NETWORK_EXCEPTION past linkPendingBytesMax), frames (frameBytesMax),
 * pending asks (pendingAsksMax). Refusals are counted and logged, never queued
 * without end. System messages (Terminated) bypass the mailbox bound: a
 * watcher must always learn of a death.
 *
 * Asks use the runtime's own correlation ids (a counter per node, never nact
 * `query`, whose random ids collide under load, see DESIGN.md). The reply
 * slot is a `/temp/<id>` path on the asking node; a reply after the timeout
 * finds no slot and is dropped with a debug log.
 *
 * Death watch: `watch(watcher, target)` delivers `Terminated { ref, reason }`
 * to the watcher when the target stops ('stopped'), when it never existed,
 * or when its node is declared down by the failure detector or comes back as
 * a new incarnation ('node-down').
 *
 * Bad input from a peer (malformed msgpack, an unknown envelope kind, a wrong
 * protocol version, an oversized frame, a message for an actor that is not
 * there) is logged with the peer's address and answered with a Kafka error
 * code or the link is closed; the node goes on serving every other peer. The
 * frame handler is guarded: a bug it trips over costs that link, never the
 * process.
 *
 * The trust boundary (protocol.ts): every delivery has an origin. A link is a
 * `peer` only after the hello proved the cluster secret (peer-auth.ts), else a
 * `client`. A client never takes a broker's id (all-digit ids and ids of
 * authenticated peers are refused), its listen URL is never dialled, and only
 * an authenticated link can announce a new incarnation of a peer. A message
 * from the network reaches an actor only if that actor's `accepts` lets its
 * origin send its type; a reply reaches a pending ask only from the node that
 * was asked (or from an authenticated peer: brokers forward); Watch comes from
 * peers only.
 *
 * Bounds per client (limits.ts): bytes queued for it (a client that does not
 * read is muted: its frames are not read while clientMuteBytes are waiting for
 * it; muted past clientMutedMsMax, or over clientPendingBytesMax, it is
 * disconnected, as Kafka mutes a channel), asks it may have unanswered
 * (clientAsksInFlightMax); a peer without links or URL is forgotten after
 * downAfterMs of silence, so fresh ids cannot grow the peer table.
 *
 * nact's sharp edges handled here: one message per actor per turn and awaited
 * handlers (actors must not await peers: use ask(...).then(tell self)); the
 * children Map copied per message (domain actors keep refs in state instead of
 * many children); anonymous names (every actor is named).
 */
import { randomUUID } from 'node:crypto';
import nact from 'nact';
import { Subject, type Observable } from 'rxjs';
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { assert } from './assert.ts';
import { systemClock, type Clock } from './clock.ts';
import {
  Kind,
  decodeFrame,
  encodeEnvelope,
  isDecodeFailure,
  validateEnvelope,
  type Envelope,
  type HelloEnvelope,
  type TerminationReason,
} from './envelope.ts';
import type { FaultPlan } from './faults.ts';
import type { PeerStatus } from './failure-detector.ts';
import { resolveLimits, type RuntimeLimits } from './limits.ts';
import { createLogger, type Logger } from './logger.ts';
import { Peer, type ClientSasl, type Connection, type PeerHost, type ServerSasl } from './peer.ts';
import { newChallenge, proofFor, proofMatches, clusterSecretBytesMin } from './peer-auth.ts';
import { admit, describeType, localOrigin, protocolProblems, type Caller, type Origin, type RemoteOrigin, type RemoteProtocol, type RequestAuthorizer } from './protocol.ts';
import { isTempPath, refKey, tempPathPrefix, type Ref } from './ref.ts';
import { RestartWindow, restartWithBackoff, type SupervisionPolicy } from './supervision.ts';
import { CloseCode, type Link, type Listener, type Transport } from './transport.ts';
import { WsTransport } from './ws-transport.ts';
import { anonymousPrincipal, wsUrl, type TlsSettings } from './tls.ts';
import { addressOnly, type ClientAuthenticator, type ClientCredentials } from './client-auth.ts';
import type { RequestObserver } from './request-observer.ts';

/** Delivered to a watcher when a watched actor stops or its node goes down. */
export type Terminated = { type: 'Terminated'; ref: Ref<unknown>; reason: TerminationReason };

export type NodeStatusEvent = { nodeId: string; incarnation: string | undefined; status: PeerStatus };

export type AskOptions = { timeoutMs?: number };

/** askAsClient / tellAsClient: who the request is for (the Kafka listener's connection); absent: this node itself (trusted, never authorized). */
export type ClientAskOptions = AskOptions & { caller?: Caller };

export interface ActorContext<M> {
  readonly self: Ref<M>;
  readonly node: Node;
  readonly log: Logger;
  /** Spawns a named child. Keep hot actors free of many children (nact copies them per message). */
  spawn<S, C>(name: string, behaviour: Behaviour<S, C>): Ref<C>;
  /** Tells `self` `message` after `delayMs`; returns a cancel function. */
  scheduleOnce(delayMs: number, message: M): () => void;
}

export interface Behaviour<S, M> {
  init(ctx: ActorContext<M>): S;
  receive(state: S, message: M, ctx: ActorContext<M>): S | Promise<S>;
  /** What to do when `receive` throws. Default: restartWithBackoff(). */
  supervision?: SupervisionPolicy;
  /** Called once after the actor stopped. */
  stopped?(state: S | undefined, ctx: ActorContext<M>): void;
  /**
   * What this actor takes from the network, per origin (protocol.ts). Omitted:
   * nothing; only this node's own code may message it.
   */
  accepts?: RemoteProtocol;
}

export type NodeOptions = {
  nodeId: string;
  /** Where to listen; omit for a node that only dials out (a client). */
  listen?: { host: string; port: number };
  /** The URL peers should dial, if it differs from the listen address. */
  advertiseUrl?: string;
  /** Known peers: node id -> URL. More can be added with addPeer. */
  peers?: Record<string, string>;
  transport?: Transport;
  /** TLS of the default (ws) transport: a listener serves wss://, wss:// dials trust `tls.ca` (runtime/tls.ts). */
  tls?: TlsSettings;
  limits?: Partial<RuntimeLimits>;
  clock?: Clock;
  logger?: Logger;
  faults?: FaultPlan;
  /**
   * The shared cluster secret (at least 16 bytes). With it, this node proves
   * membership to peers and takes links that prove it as peers; without it,
   * every link is a client link (a client node).
   */
  clusterSecret?: Uint8Array;
  /**
   * Clients of this node's listener authenticate with SASL after the hellos, before anything else
   * (a broker with native.client.authentication=sasl). Peers prove the cluster secret instead.
   */
  clientAuthenticator?: ClientAuthenticator;
  /** This node, a client, authenticates with these on every link it dials (client-auth.ts). */
  clientCredentials?: ClientCredentials;
  /** Authorizes every message a client delivers (ACLs): see RequestAuthorizer. Absent: protocols only. */
  authorizer?: RequestAuthorizer;
  /** Called when a top-level actor gave up (its supervision escalated). */
  onGiveUp?: (path: string, error: unknown) => void;
  /** Told of every admitted request from the network, and times the answers to asks (request-observer.ts). Absent: nothing is counted. */
  requestObserver?: RequestObserver;
};

type LocalActor = {
  readonly path: string;
  /** Unset while nact runs the actor's init: messages sent then wait in `early`. */
  nactRef: nact.Ref<unknown> | undefined;
  early: unknown[];
  readonly ctx: ActorContext<unknown>;
  depth: number;
  readonly accepts: RemoteProtocol | undefined;
  /** Watchers of this actor, by refKey. */
  readonly watchers: Map<string, Ref<unknown>>;
  stopped: boolean;
};

type PendingAsk = {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  target: Ref<unknown>;
};

/** Thrown into an actor by `crashActor`, the supervision fault-injection hook. */
export class InjectedCrash extends Error {
  constructor(path: string) {
    super(`injected crash of ${path}`);
    this.name = 'InjectedCrash';
  }
}
const crashSentinel = Symbol('crash');
const emptyBytes = new Uint8Array(0);

export class Node implements PeerHost {
  readonly nodeId: string;
  readonly incarnation: string = randomUUID();
  readonly limits: RuntimeLimits;
  readonly log: Logger;
  readonly faults: FaultPlan | undefined;
  readonly clock: Clock;

  private readonly transport: Transport;
  private readonly system: nact.Ref<unknown>;
  private readonly actors = new Map<string, LocalActor>();
  private readonly peers = new Map<string, Peer>();
  private readonly pendingAsks = new Map<string, PendingAsk>();
  /** Watches this node holds on remote actors: target refKey -> watchers (local paths). */
  private readonly remoteWatches = new Map<string, { target: Ref<unknown>; watcherPaths: Set<string> }>();
  private readonly statusSubject = new Subject<NodeStatusEvent>();
  private readonly heartbeatPacked = encodeEnvelope({ kind: Kind.Heartbeat });
  private readonly onGiveUp: ((path: string, error: unknown) => void) | undefined;
  private listener: Listener | undefined;
  private advertiseUrl: string | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  private askCounter = 0;
  private stopping = false;
  private readonly connections = new Set<Connection>();
  private readonly clusterSecret: Uint8Array | undefined;
  private readonly clientAuthenticator: ClientAuthenticator | undefined;
  private readonly clientCredentials: ClientCredentials | undefined;
  private readonly authorizer: RequestAuthorizer | undefined;
  private readonly requestObserver: RequestObserver | undefined;

  /** Counters for tests and benchmarks. */
  readonly stats = { refusedMailboxFull: 0, refusedLinkFull: 0, deadLetters: 0, lateReplies: 0, badInput: 0, refusedByProtocol: 0, refusedByAuthorizer: 0, authFailures: 0, peersPruned: 0, peersRefused: 0, clientsDisconnected: 0 };

  private constructor(options: NodeOptions) {
    assert(options.nodeId.length > 0 && options.nodeId.length <= 256, 'node id must be 1-256 characters');
    assert(!options.nodeId.includes('/'), 'node id must not contain a slash');
    this.nodeId = options.nodeId;
    this.limits = resolveLimits(options.limits);
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? createLogger({ node: options.nodeId });
    this.faults = options.faults;
    this.onGiveUp = options.onGiveUp;
    assert(options.clusterSecret === undefined || options.clusterSecret.length >= clusterSecretBytesMin, `a cluster secret has at least ${clusterSecretBytesMin} bytes`);
    this.clusterSecret = options.clusterSecret;
    this.clientAuthenticator = options.clientAuthenticator;
    this.clientCredentials = options.clientCredentials;
    this.authorizer = options.authorizer;
    this.requestObserver = options.requestObserver;
    this.transport = options.transport ?? new WsTransport(this.limits, options.tls);
    this.system = nact.start({ name: `${options.nodeId}-${this.incarnation}` } as never);
    for (const [peerId, url] of Object.entries(options.peers ?? {})) this.addPeer(peerId, url);
  }

  /** Starts a node: its actor system, its listener (if any) and its liveness timer. */
  static async start(options: NodeOptions): Promise<Node> {
    const node = new Node(options);
    if (options.listen) {
      node.listener = await node.transport.listen(options.listen.host, options.listen.port, (link) => node.acceptLink(link));
      node.advertiseUrl = options.advertiseUrl ?? node.listener.url;
    }
    // Not unref'd: like an open socket, a running node keeps its process alive until stop().
    node.livenessTimer = setInterval(() => node.checkLiveness(), node.limits.heartbeatIntervalMs);
    node.log.info({ incarnation: node.incarnation, url: node.advertiseUrl ?? null }, 'node.started');
    return node;
  }

  /** The URL peers dial to reach this node, if it listens. */
  get url(): string | undefined {
    return this.advertiseUrl;
  }

  /**
   * The URL to dial a peer node at host:port (from a broker registration in
   * the metadata): wss:// when this node itself listens on wss:// (with TLS
   * on, brokers dial each other over TLS), else ws://.
   */
  peerUrl(host: string, port: number): string {
    return wsUrl(this.advertiseUrl?.startsWith('wss:') ? 'wss' : 'ws', host, port);
  }

  isStopping(): boolean {
    return this.stopping;
  }

  monotonicMs(): number {
    return this.clock.monotonicMs();
  }

  /** Node liveness changes as a typed stream (up, unreachable, down). */
  get statusChanges(): Observable<NodeStatusEvent> {
    return this.statusSubject.asObservable();
  }

  peerStatus(nodeId: string): PeerStatus | 'unknown' {
    return this.peers.get(nodeId)?.status ?? 'unknown';
  }

  peerIncarnation(nodeId: string): string | undefined {
    return this.peers.get(nodeId)?.incarnation;
  }

  addPeer(nodeId: string, url: string): void {
    const peer = this.peers.get(nodeId);
    if (peer === undefined) this.peers.set(nodeId, new Peer(nodeId, this, url));
    else peer.url = url;
  }

  /** Dials a URL whose node id is not known yet (bootstrap); resolves with the peer's id. */
  async connect(url: string): Promise<string> {
    const connection = await this.dialAndHello(url, undefined);
    const peerId = connection.peerId!;
    const peer = this.peerFor(peerId);
    peer.url ??= url;
    if (peer.outbound === undefined) peer.attachOutbound(connection);
    else connection.link.close(CloseCode.normal, 'duplicate link');
    return peerId;
  }

  // ---------------------------------------------------------------- actors

  spawn<S, M>(name: string, behaviour: Behaviour<S, M>, parent?: Ref<unknown>): Ref<M> {
    assert(!this.stopping, 'cannot spawn on a stopping node');
    assert(/^[A-Za-z0-9._~:@=+-]+$/.test(name) && name.length <= 255, `invalid actor name: ${name}`);
    const parentEntry = parent === undefined ? undefined : this.actors.get(parent.path);
    assert(parent === undefined || parentEntry !== undefined, `parent ${parent?.path} is not a live local actor`);
    const path = `${parentEntry?.path ?? ''}/${name}`;
    assert(!this.actors.has(path), `an actor already exists at ${path}`);
    const problems = protocolProblems(behaviour.accepts);
    assert(problems.length === 0, `${path}: ${problems.join('; ')}`);

    const self: Ref<M> = { node: this.nodeId, path };
    const node = this;
    const log = this.log.child({ path });
    const ctx: ActorContext<M> = {
      self,
      node,
      log,
      spawn: (childName, childBehaviour) => node.spawn(childName, childBehaviour, self),
      scheduleOnce: (delayMs, message) => {
        const timer = setTimeout(() => node.tell(self, message), delayMs);
        return () => clearTimeout(timer);
      },
    };
    const policy = behaviour.supervision ?? restartWithBackoff();
    const restarts = new RestartWindow((policy as { windowMs?: number }).windowMs ?? 60_000);
    let lastState: S | undefined;

    // Synchronous when `receive` is: nact awaits whatever we return, and an
    // extra async frame per message is measurable at hundreds of thousands a second.
    const remember = (next: S): S => (lastState = next);
    const handler = (state: S, message: unknown): S | Promise<S> => {
      const entry = node.actors.get(path);
      if (entry) entry.depth -= 1;
      if (message === crashSentinel) throw new InjectedCrash(path);
      const next = behaviour.receive(state, message as M, ctx);
      return next instanceof Promise ? next.then(remember) : remember(next);
    };
    const onCrash = async (message: unknown, error: unknown, nactCtx: NactSupervisionContext, child?: nact.Ref<unknown>): Promise<symbol> => {
      const nowMs = node.clock.monotonicMs();
      const childPath = child ? (child as unknown as { path: { parts: string[] } }).path.parts.slice(1).join('/') : undefined;
      const restartsInWindow = restarts.countAt(nowMs);
      const { decision, delayMs } = policy({ path, error, message, childPath: childPath ? `/${childPath}` : undefined, restartsInWindow }, nowMs);
      const topLevel = parentEntry === undefined;
      log.warn({ err: error, decision, restartsInWindow, child: childPath, delayMs }, 'actor.crashed');
      switch (decision) {
        case 'restart':
          restarts.record(nowMs);
          if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
          return nactCtx.reset;
        case 'resume':
          return nactCtx.resume;
        case 'stop':
          return nactCtx.stop;
        case 'escalate':
          if (topLevel) {
            log.error({ err: error }, 'actor.gave_up');
            node.onGiveUp?.(path, error);
            return nactCtx.stop;
          }
          return nactCtx.escalate;
      }
    };

    const nactParent = parentEntry?.nactRef ?? this.system;
    // Registered before nact runs init, so init may tell itself (or be told) safely.
    const entry: LocalActor = { path, nactRef: undefined, early: [], ctx: ctx as ActorContext<unknown>, depth: 0, accepts: behaviour.accepts, watchers: new Map(), stopped: false };
    this.actors.set(path, entry);
    const nactRef = nact.spawn(nactParent as nact.Ref<unknown>, handler as never, name, {
      initialStateFunc: () => {
        lastState = behaviour.init(ctx);
        return lastState;
      },
      onCrash: onCrash as never,
      afterStop: () => {
        behaviour.stopped?.(lastState, ctx);
        node.actorStopped(path);
      },
    } as never) as nact.Ref<unknown>;
    entry.nactRef = nactRef;
    for (const message of entry.early.splice(0)) nact.dispatch(nactRef, message as never);
    return self;
  }

  /**
   * Stops a local actor and its descendants, deepest first. Watchers get
   * Terminated('stopped'). (nact's own stop does not reach children: it looks
   * them up as references and finds nothing, so we stop each one ourselves.)
   */
  stopActor(target: Ref<unknown>): void {
    assert(target.node === this.nodeId, 'stopActor takes a local ref');
    const prefix = `${target.path}/`;
    const doomed = [...this.actors.values()].filter((a) => a.path === target.path || a.path.startsWith(prefix));
    doomed.sort((a, b) => b.path.split('/').length - a.path.split('/').length);
    for (const entry of doomed) if (!entry.stopped && entry.nactRef) nact.stop(entry.nactRef);
  }

  /** Supervision fault injection: makes the actor's next handled message throw. */
  crashActor(path: string): boolean {
    const entry = this.actors.get(path);
    if (entry === undefined || entry.stopped || entry.nactRef === undefined) return false;
    nact.dispatch(entry.nactRef, crashSentinel as never);
    return true;
  }

  hasActor(path: string): boolean {
    const entry = this.actors.get(path);
    return entry !== undefined && !entry.stopped;
  }

  actorPaths(): string[] {
    return [...this.actors.values()].filter((a) => !a.stopped).map((a) => a.path);
  }

  private actorStopped(path: string): void {
    const entry = this.actors.get(path);
    if (entry === undefined) return;
    entry.stopped = true;
    this.actors.delete(path);
    const target: Ref<unknown> = { node: this.nodeId, path };
    for (const watcher of entry.watchers.values()) this.notifyTerminated(watcher, target, 'stopped');
  }

  // ---------------------------------------------------------------- messaging

  /**
   * Sends `message` to `target`. Returns 0 when it was accepted for delivery
   * (remote: queued for the link), or the error code of the refusal.
   */
  tell<M>(target: Ref<M>, message: M): number {
    if (target.node === this.nodeId) return this.deliverLocal(target.path, message);
    return this.sendRemote(target.node, { kind: Kind.Tell, targetPath: target.path, message });
  }

  /**
   * Asks `target` and resolves with the first message told to `replyTo`.
   * Rejects with a KactusError: REQUEST_TIMED_OUT after the timeout, or the
   * code of a refusal (full mailbox, full link, missing actor).
   */
  ask<M, R>(target: Ref<M>, makeMessage: (replyTo: Ref<R>) => M, options: AskOptions = {}): Promise<R> {
    return this.askWith(target, makeMessage, options, (message, replyPath) =>
      target.node === this.nodeId
        ? this.deliverLocal(target.path, message)
        : this.sendRemote(target.node, { kind: Kind.Ask, targetPath: target.path, replyToPath: replyPath, message }),
    );
  }

  /**
   * Asks an actor on this node as a client connection would: the actor's
   * declared client protocol (runtime/protocol.ts) admits or refuses the
   * message exactly as if it had come from a client over the network. For
   * other listeners of this node (the Kafka listener): whatever protocol a
   * request arrives in, it can do no more than a native client. Rejects with
   * the refusal's code (CLUSTER_AUTHORIZATION_FAILED, INVALID_REQUEST, or the
   * guard's own) when it is refused.
   */
  askAsClient<M, R>(path: string, makeMessage: (replyTo: Ref<R>) => M, options: ClientAskOptions = {}): Promise<R> {
    const origin: RemoteOrigin = { kind: 'client', nodeId: this.nodeId, ...(options.caller === undefined ? {} : { caller: options.caller }) };
    return this.askWith({ node: this.nodeId, path } as Ref<M>, makeMessage, options, (message, replyPath) => {
      const entry = this.actors.get(path);
      if (entry === undefined || entry.stopped) return ErrorCode.BROKER_NOT_AVAILABLE;
      const refusal = this.admitFromClient(entry, message, origin, path);
      if (refusal !== null) {
        this.failAsk(replyPath, refusal.errorCode, refusal.errorMessage);
        return 0;
      }
      return this.deliverLocal(path, message);
    });
  }

  /**
   * The protocol's admission, then (a client with a caller) the authorizer's, then the caller stamped
   * on the message. Null: deliver it; else the refusal.
   */
  private admitFromClient(entry: LocalActor, message: unknown, origin: RemoteOrigin, path: string): { errorCode: number; errorMessage: string } | null {
    const admission = admit(entry.accepts, message, origin, path);
    if (!admission.admitted) {
      this.stats.refusedByProtocol += 1;
      return { errorCode: admission.errorCode ?? (admission.reason === 'malformed' ? ErrorCode.INVALID_REQUEST : ErrorCode.CLUSTER_AUTHORIZATION_FAILED), errorMessage: admission.why };
    }
    if (origin.kind !== 'client') return null;
    const record = message as Record<string, unknown>;
    if (origin.caller === undefined) {
      // This node's own request through a client protocol (askAsClient without a caller): no one to stamp.
      delete record.caller;
      return null;
    }
    if (this.authorizer !== undefined) {
      const denied = this.authorizer(origin.caller, path, record);
      if (denied !== null) {
        this.stats.refusedByAuthorizer += 1;
        return { errorCode: denied.errorCode, errorMessage: denied.why };
      }
    }
    record.caller = origin.caller;
    return null;
  }

  /**
   * Tells an actor of this node as a client connection would (askAsClient
   * without a reply: Produce with acks=0). Returns 0, or the code of the
   * refusal (the protocol's, a full mailbox, no such actor).
   */
  tellAsClient<M>(path: string, message: M, options: { caller?: Caller } = {}): number {
    const entry = this.actors.get(path);
    if (entry === undefined || entry.stopped) return ErrorCode.BROKER_NOT_AVAILABLE;
    const refusal = this.admitFromClient(entry, message, { kind: 'client', nodeId: this.nodeId, ...(options.caller === undefined ? {} : { caller: options.caller }) }, path);
    if (refusal !== null) return refusal.errorCode;
    return this.deliverLocal(path, message);
  }

  private askWith<M, R>(target: Ref<M>, makeMessage: (replyTo: Ref<R>) => M, options: AskOptions, deliver: (message: M, replyPath: string) => number): Promise<R> {
    if (this.pendingAsks.size >= this.limits.pendingAsksMax) {
      return Promise.reject(new KactusError(ErrorCode.THROTTLING_QUOTA_EXCEEDED, `${this.pendingAsks.size} asks pending on node ${this.nodeId}`));
    }
    if (this.stopping) return Promise.reject(new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, `node ${this.nodeId} is stopping`));
    this.askCounter += 1;
    const replyPath = `${tempPathPrefix}${this.askCounter}`;
    const replyTo: Ref<R> = { node: this.nodeId, path: replyPath };
    const timeoutMs = options.timeoutMs ?? this.limits.askTimeoutMsDefault;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingAsks.delete(replyPath);
        reject(new KactusError(ErrorCode.REQUEST_TIMED_OUT, `no reply from ${refKey(target)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingAsks.set(replyPath, { resolve: resolve as (v: unknown) => void, reject, timer, target });
      const refusal = deliver(makeMessage(replyTo), replyPath);
      if (refusal !== 0) this.failAsk(replyPath, refusal, `${refKey(target)} refused the ask`);
    });
  }

  private failAsk(replyPath: string, errorCode: number, errorMessage: string): void {
    const pending = this.pendingAsks.get(replyPath);
    if (pending === undefined) return;
    this.pendingAsks.delete(replyPath);
    clearTimeout(pending.timer);
    pending.reject(new KactusError(errorCode, errorMessage));
  }

  /**
   * Delivers a message that came over `connection`: a reply to a pending ask
   * only from the node asked (or an authenticated peer), a message to an actor
   * only if its protocol admits it from this origin. Returns null, or the
   * refusal to answer with.
   */
  private deliverFromNetwork(connection: Connection, targetPath: string, message: unknown): { errorCode: number; errorMessage: string } | null {
    const origin: RemoteOrigin =
      connection.role === 'peer'
        ? { kind: 'peer', nodeId: connection.peerId! }
        : { kind: 'client', nodeId: connection.peerId!, caller: { principal: connection.principal ?? anonymousPrincipal, host: addressOnly(connection.link.remoteAddress) } };
    if (isTempPath(targetPath)) {
      const pending = this.pendingAsks.get(targetPath);
      if (pending !== undefined && pending.target.node !== origin.nodeId && origin.kind !== 'peer') {
        this.refuseOnce(connection, 'reply', `a reply for ${targetPath} from ${origin.nodeId}, which was not asked`);
        return null;
      }
      this.deliverLocal(targetPath, message);
      return null;
    }
    const entry = this.actors.get(targetPath);
    if (entry === undefined || entry.stopped) {
      this.stats.deadLetters += 1;
      this.log.debug({ target: targetPath }, 'message.dead_letter');
      return { errorCode: ErrorCode.BROKER_NOT_AVAILABLE, errorMessage: `no actor at ${targetPath} on node ${this.nodeId}` };
    }
    const admissionRefusal = this.admitFromClient(entry, message, origin, targetPath);
    if (admissionRefusal !== null) {
      this.refuseOnce(connection, `${targetPath}:${describeType(message)}:${admissionRefusal.errorCode}`, admissionRefusal.errorMessage);
      return admissionRefusal;
    }
    const refusal = this.deliverLocal(targetPath, message);
    if (refusal === 0) return null;
    return { errorCode: refusal, errorMessage: `${targetPath} on node ${this.nodeId} refused the message (mailbox full)` };
  }

  /** Counts bad input, and says whether this link has not logged this kind yet (bounded: refusalLogKeysPerLinkMax). */
  private firstOfKind(connection: Connection, key: string): boolean {
    this.stats.badInput += 1;
    if (connection.refusalsLogged.has(key) || connection.refusalsLogged.size >= this.limits.refusalLogKeysPerLinkMax) return false;
    connection.refusalsLogged.add(key);
    return true;
  }

  /** One warning per link and kind of refusal (bounded), then only the counter. */
  private refuseOnce(connection: Connection, key: string, why: string): void {
    if (!this.firstOfKind(connection, key)) return;
    this.log.warn({ peer: connection.peerId ?? null, role: connection.role, address: connection.link.remoteAddress, what: key }, `message.refused: ${why}`);
  }

  private deliverLocal(path: string, message: unknown): number {
    if (isTempPath(path)) {
      const pending = this.pendingAsks.get(path);
      if (pending === undefined) {
        this.stats.lateReplies += 1;
        this.log.debug({ replyTo: path }, 'ask.late_reply_dropped');
        return 0;
      }
      this.pendingAsks.delete(path);
      clearTimeout(pending.timer);
      pending.resolve(message);
      return 0;
    }
    const entry = this.actors.get(path);
    if (entry === undefined || entry.stopped) {
      this.stats.deadLetters += 1;
      this.log.debug({ target: path }, 'message.dead_letter');
      return ErrorCode.BROKER_NOT_AVAILABLE;
    }
    if (entry.depth >= this.limits.mailboxDepthMax) {
      this.stats.refusedMailboxFull += 1;
      if (this.stats.refusedMailboxFull % 1000 === 1) this.log.warn({ target: path, depth: entry.depth }, 'mailbox.full');
      return ErrorCode.THROTTLING_QUOTA_EXCEEDED;
    }
    entry.depth += 1;
    if (entry.nactRef === undefined) entry.early.push(message);
    else nact.dispatch(entry.nactRef, message as never);
    return 0;
  }

  /** System messages (Terminated) skip the mailbox bound: a watcher must learn of a death. */
  private deliverSystem(path: string, message: Terminated): void {
    const entry = this.actors.get(path);
    if (entry === undefined || entry.stopped) return;
    entry.depth += 1;
    if (entry.nactRef === undefined) entry.early.push(message);
    else nact.dispatch(entry.nactRef, message as never);
  }

  private sendRemote(nodeId: string, envelope: Envelope): number {
    if (this.stopping) return ErrorCode.BROKER_NOT_AVAILABLE;
    let packed: Buffer;
    try {
      packed = encodeEnvelope(envelope);
    } catch (err) {
      throw new KactusError(ErrorCode.INVALID_REQUEST, `message cannot be encoded: ${(err as Error).message}`);
    }
    if (packed.length > this.limits.frameBytesMax) return ErrorCode.MESSAGE_TOO_LARGE;
    const peer = this.peerFor(nodeId);
    peer.track(this.clock.monotonicMs());
    if (envelope.kind === Kind.Tell && isTempPath(envelope.targetPath)) peer.answered(envelope.targetPath, this.clock.monotonicMs());
    else if (envelope.kind === Kind.ErrorReply) peer.answered(envelope.replyToPath, this.clock.monotonicMs());
    if (!peer.enqueue(packed)) {
      this.stats.refusedLinkFull += 1;
      if (this.stats.refusedLinkFull % 1000 === 1) this.log.warn({ peer: nodeId, queuedBytes: peer.queuedBytes() }, 'link.queue_full');
      return ErrorCode.NETWORK_EXCEPTION;
    }
    return 0;
  }

  private peerFor(nodeId: string): Peer {
    let peer = this.peers.get(nodeId);
    if (peer === undefined) {
      peer = new Peer(nodeId, this);
      this.peers.set(nodeId, peer);
    }
    return peer;
  }

  /**
   * Bytes a reply to `nodeId` may still take before its link refuses it: for a client, what is left
   * of clientPendingBytesMax after what waits for it (queued and in the socket); for anyone else,
   * Infinity. Actors that build large replies (fetches) read no more than this.
   */
  sendBudgetBytes(nodeId: string): number {
    const peer = this.peers.get(nodeId);
    if (peer === undefined || peer.kind !== 'client') return Number.POSITIVE_INFINITY;
    return this.limits.clientPendingBytesMax - peer.waitingBytes();
  }

  /** Bytes queued for a peer and not yet handed to its socket (benchmarks, backpressure). */
  queuedBytesTo(nodeId: string): number {
    return this.peers.get(nodeId)?.queuedBytes() ?? 0;
  }

  // ---------------------------------------------------------------- death watch

  /** Watches `target` on behalf of the local actor `watcher`; see the module comment. */
  watch(watcher: Ref<Terminated> | Ref<unknown>, target: Ref<unknown>): void {
    assert(watcher.node === this.nodeId, 'the watcher must be a local actor');
    if (target.node === this.nodeId) {
      const entry = this.actors.get(target.path);
      if (entry === undefined || entry.stopped) this.notifyTerminated(watcher, target, 'stopped');
      else entry.watchers.set(refKey(watcher), watcher);
      return;
    }
    const key = refKey(target);
    const existing = this.remoteWatches.get(key);
    if (existing) existing.watcherPaths.add(watcher.path);
    else this.remoteWatches.set(key, { target, watcherPaths: new Set([watcher.path]) });
    const peer = this.peerFor(target.node);
    if (peer.status === 'down') {
      this.fireRemoteWatches(target.node, 'node-down');
      return;
    }
    this.sendRemote(target.node, { kind: Kind.Watch, watcherPath: watcher.path, targetPath: target.path });
  }

  unwatch(watcher: Ref<unknown>, target: Ref<unknown>): void {
    if (target.node === this.nodeId) {
      this.actors.get(target.path)?.watchers.delete(refKey(watcher));
      return;
    }
    const key = refKey(target);
    const existing = this.remoteWatches.get(key);
    existing?.watcherPaths.delete(watcher.path);
    if (existing?.watcherPaths.size === 0) this.remoteWatches.delete(key);
    this.sendRemote(target.node, { kind: Kind.Unwatch, watcherPath: watcher.path, targetPath: target.path });
  }

  private notifyTerminated(watcher: Ref<unknown>, target: Ref<unknown>, reason: TerminationReason): void {
    if (watcher.node === this.nodeId) {
      this.deliverSystem(watcher.path, { type: 'Terminated', ref: target, reason });
    } else {
      this.sendRemote(watcher.node, { kind: Kind.Terminated, watcherPath: watcher.path, targetPath: target.path, reason });
    }
  }

  private fireRemoteWatches(nodeId: string, reason: TerminationReason): void {
    for (const [key, watch] of this.remoteWatches) {
      if (watch.target.node !== nodeId) continue;
      this.remoteWatches.delete(key);
      for (const watcherPath of watch.watcherPaths) {
        this.deliverSystem(watcherPath, { type: 'Terminated', ref: watch.target, reason });
      }
    }
  }

  /** Forgets the watches a peer's actors held on ours (the peer's old incarnation is gone). */
  private dropWatchesFrom(nodeId: string): void {
    for (const entry of this.actors.values()) {
      for (const [key, watcher] of entry.watchers) if (watcher.node === nodeId) entry.watchers.delete(key);
    }
  }

  // ---------------------------------------------------------------- links

  private acceptLink(link: Link): void {
    if (this.stopping) {
      link.close(CloseCode.goingAway, 'node stopping');
      return;
    }
    const connection = this.newConnection(link, 'inbound');
    const handshakeTimer = setTimeout(() => {
      if (connection.role === 'pending') link.close(CloseCode.policyViolation, 'no hello in time');
    }, this.limits.handshakeTimeoutMs);
    handshakeTimer.unref();
    link.onFrame((frame) => this.onFrame(connection, frame));
  }

  private newConnection(link: Link, direction: 'inbound' | 'outbound'): Connection {
    const connection: Connection = {
      link,
      direction,
      peerId: undefined,
      peerIncarnation: undefined,
      role: 'pending',
      challenge: newChallenge(),
      awaitingAuth: undefined,
      refusalsLogged: new Set(),
      sasl: undefined,
      principal: link.certificatePrincipal,
      failure: undefined,
    };
    this.connections.add(connection);
    void link.closed.then(() => this.connections.delete(connection));
    return connection;
  }

  private ourHello(connection: Connection, answering?: HelloEnvelope): Envelope {
    const proof =
      this.clusterSecret !== undefined && answering !== undefined
        ? proofFor(this.clusterSecret, 'acceptor', answering.challenge, this.identity(), { nodeId: answering.nodeId, incarnation: answering.incarnation })
        : null;
    return {
      kind: Kind.Hello,
      nodeId: this.nodeId,
      incarnation: this.incarnation,
      listenUrl: this.advertiseUrl ?? null,
      role: this.clusterSecret !== undefined ? 'peer' : 'client',
      challenge: connection.challenge,
      proof,
    };
  }

  private identity(): { nodeId: string; incarnation: string } {
    return { nodeId: this.nodeId, incarnation: this.incarnation };
  }

  dialPeer(peer: Peer): Promise<Connection> {
    assert(peer.url !== undefined, 'dialPeer needs a URL');
    return this.dialAndHello(peer.url, peer.nodeId);
  }

  /** Dials, sends our hello, and resolves once the peer's hello arrived (with the expected id, if given) and, between peers, proved the secret. */
  private async dialAndHello(url: string, expectedNodeId: string | undefined): Promise<Connection> {
    const link = await this.transport.dial(url);
    const connection = this.newConnection(link, 'outbound');
    return new Promise<Connection>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.close(CloseCode.policyViolation, 'no hello in time');
        reject(new KactusError(ErrorCode.NETWORK_EXCEPTION, `no hello from ${url} within ${this.limits.handshakeTimeoutMs} ms`));
      }, this.limits.handshakeTimeoutMs);
      void link.closed.then((why) => {
        clearTimeout(timer);
        reject(connection.failure ?? new KactusError(ErrorCode.NETWORK_EXCEPTION, `link to ${url} closed during hello: ${why.code} ${why.reason}`));
      });
      link.onFrame((frame) => {
        const wasPending = connection.role === 'pending';
        this.onFrame(connection, frame);
        // Still in the handshake, or refused in it (the link's close rejects, with the reason if we know it).
        if (!wasPending || connection.role === 'pending' || connection.role === 'closed') return;
        clearTimeout(timer);
        if (expectedNodeId !== undefined && connection.peerId !== expectedNodeId) {
          link.close(CloseCode.policyViolation, `expected node ${expectedNodeId}`);
          reject(new KactusError(ErrorCode.NETWORK_EXCEPTION, `${url} is node ${connection.peerId}, not ${expectedNodeId}`));
          return;
        }
        resolve(connection);
      });
      if (!this.faults?.isCut(this.nodeId, expectedNodeId ?? '')) link.send(encodeEnvelope(this.ourHello(connection)));
    });
  }

  private onFrame(connection: Connection, frame: Uint8Array): void {
    try {
      this.onFrameUnguarded(connection, frame);
    } catch (err) {
      // A bug tripped over by input: it costs this link, never the process.
      this.stats.badInput += 1;
      this.log.error({ err, peer: connection.peerId ?? null, address: connection.link.remoteAddress }, 'input.handler_failed');
      connection.link.close(CloseCode.internalError, 'internal error handling a frame');
    }
  }

  private onFrameUnguarded(connection: Connection, frame: Uint8Array): void {
    const peerId = connection.peerId;
    // A cut link drops what arrives too, so a one-process test partitions both ways.
    if (peerId !== undefined && this.faults?.isCut(peerId, this.nodeId)) return;
    const values = decodeFrame(frame);
    if (isDecodeFailure(values)) {
      this.rejectInput(connection, values.errorCode, values.errorMessage, true);
      return;
    }
    if (peerId !== undefined && connection.role !== 'pending') this.peers.get(peerId)?.heard(this.clock.monotonicMs());
    for (const value of values) {
      const envelope = validateEnvelope(value);
      if (isDecodeFailure(envelope)) {
        this.rejectInput(connection, envelope.errorCode, envelope.errorMessage, envelope.fatal);
        if (envelope.fatal) return;
        continue;
      }
      if (isClosed(connection)) return;
      if (connection.role === 'pending' && connection.sasl !== undefined) {
        // Hellos done, a client's SASL exchange under way: its envelopes only.
        this.onSaslEnvelope(connection, envelope);
        if (isClosed(connection)) return;
        continue;
      }
      if (connection.role === 'pending') {
        // Until the link is established only the handshake is acceptable: a hello, then (a peer dialing us) its Auth.
        const handshake = connection.awaitingAuth === undefined ? envelope.kind === Kind.Hello : envelope.kind === Kind.Auth;
        if (!handshake) {
          this.rejectInput(connection, ErrorCode.INVALID_REQUEST, connection.awaitingAuth === undefined ? 'the first envelope on a link must be a hello' : 'a peer must authenticate before anything else', true);
          return;
        }
        if (envelope.kind === Kind.Hello) this.onHello(connection, envelope);
        else if (envelope.kind === Kind.Auth) this.onAuth(connection, envelope.proof);
        if (isClosed(connection)) return;
        continue;
      }
      if (isClosed(connection)) return;
      this.onEnvelope(connection, envelope);
    }
  }

  /**
   * An admitted request from the network, for the request observer: counted, and an ask (replyToPath set)
   * timed until this node sends to its reply slot (Peer.answered). A delivery that failed, or a reply to one
   * of our own asks, is no request.
   */
  private observeRequest(connection: Connection, targetPath: string, message: unknown, replyToPath: string | undefined): void {
    const origin = connection.role === 'peer' ? 'peer' : 'client';
    const timer = this.requestObserver!.received(targetPath, describeType(message), origin, replyToPath !== undefined);
    if (timer === undefined || replyToPath === undefined) return;
    this.peers.get(connection.peerId!)?.timeAsk(replyToPath, timer, this.clock.monotonicMs());
  }

  /** Connections of this node's listener and its dials, by role (metrics: peers, clients, handshakes still pending). */
  connectionCounts(): { peer: number; client: number; pending: number } {
    const counts = { peer: 0, client: 0, pending: 0 };
    for (const connection of this.connections) {
      if (connection.role === 'peer') counts.peer += 1;
      else if (connection.role === 'client') counts.client += 1;
      else if (connection.role === 'pending') counts.pending += 1;
    }
    return counts;
  }

  /**
   * The `count` local actors with the deepest mailboxes (messages delivered and not yet handled), deepest
   * first, and the number of live actors: for metrics, O(actors) per call, so call it per scrape, not per message.
   */
  mailboxDepths(count: number): { actors: number; deepest: { path: string; depth: number }[] } {
    const deepest: { path: string; depth: number }[] = [];
    let actors = 0;
    for (const entry of this.actors.values()) {
      if (entry.stopped) continue;
      actors += 1;
      if (count <= 0 || (deepest.length >= count && entry.depth <= deepest[deepest.length - 1]!.depth)) continue;
      deepest.push({ path: entry.path, depth: entry.depth });
      deepest.sort((a, b) => b.depth - a.depth);
      if (deepest.length > count) deepest.pop();
    }
    return { actors, deepest };
  }

  private rejectInput(connection: Connection, errorCode: number, errorMessage: string, closeLink: boolean): void {
    if (this.firstOfKind(connection, `input:${errorCode}:${errorMessage.slice(0, 40)}`)) {
      this.log.warn({ peer: connection.peerId ?? null, address: connection.link.remoteAddress, errorCode, closeLink }, `input.rejected: ${errorMessage}`);
    }
    connection.link.send(encodeEnvelope({ kind: Kind.LinkError, errorCode, errorMessage }));
    if (closeLink) {
      connection.role = 'closed';
      connection.link.close(errorCode === ErrorCode.UNSUPPORTED_VERSION ? CloseCode.protocolError : CloseCode.policyViolation, errorMessage);
    }
  }

  private onEnvelope(connection: Connection, envelope: Envelope): void {
    const peerId = connection.peerId!;
    switch (envelope.kind) {
      case Kind.Hello:
        if (connection.peerId !== envelope.nodeId || connection.peerIncarnation !== envelope.incarnation) {
          this.rejectInput(connection, ErrorCode.INVALID_REQUEST, 'a link cannot change its node', true);
        }
        return;
      case Kind.Auth:
        return;
      case Kind.Heartbeat:
        return;
      case Kind.Tell: {
        const refusal = this.deliverFromNetwork(connection, envelope.targetPath, envelope.message);
        if (refusal === null && this.requestObserver !== undefined && !isTempPath(envelope.targetPath)) this.observeRequest(connection, envelope.targetPath, envelope.message, undefined);
        // A refused tell that names a reply slot of the sender gets the error there (its ask fails at once).
        const replyTo = refusal === null ? undefined : replySlotOf(envelope.message, peerId);
        if (refusal !== null && replyTo !== undefined) this.sendRemote(peerId, { kind: Kind.ErrorReply, replyToPath: replyTo, ...refusal });
        return;
      }
      case Kind.Ask: {
        const peer = this.peers.get(peerId);
        if (connection.role === 'client' && peer !== undefined && !peer.admitAsk(envelope.replyToPath, this.clock.monotonicMs())) {
          this.refuseOnce(connection, 'asks-in-flight', `more than ${this.limits.clientAsksInFlightMax} asks unanswered`);
          this.sendRemote(peerId, { kind: Kind.ErrorReply, replyToPath: envelope.replyToPath, errorCode: ErrorCode.THROTTLING_QUOTA_EXCEEDED, errorMessage: `more than ${this.limits.clientAsksInFlightMax} requests in flight on this link` });
          return;
        }
        const refusal = this.deliverFromNetwork(connection, envelope.targetPath, envelope.message);
        if (refusal !== null) this.sendRemote(peerId, { kind: Kind.ErrorReply, replyToPath: envelope.replyToPath, ...refusal });
        else if (this.requestObserver !== undefined && !isTempPath(envelope.targetPath)) this.observeRequest(connection, envelope.targetPath, envelope.message, envelope.replyToPath);
        return;
      }
      case Kind.ErrorReply: {
        const pending = this.pendingAsks.get(envelope.replyToPath);
        if (pending !== undefined && pending.target.node !== peerId && connection.role !== 'peer') {
          this.refuseOnce(connection, 'error-reply', `an error reply for ${envelope.replyToPath} from ${peerId}, which was not asked`);
          return;
        }
        this.failAsk(envelope.replyToPath, envelope.errorCode, envelope.errorMessage.slice(0, this.limits.errorMessageCharsMax));
        return;
      }
      case Kind.Watch: {
        if (connection.role !== 'peer') {
          this.refuseOnce(connection, 'watch', 'only peers may watch actors');
          return;
        }
        const watcher: Ref<unknown> = { node: peerId, path: envelope.watcherPath };
        this.watchFromRemote(watcher, envelope.targetPath);
        return;
      }
      case Kind.Unwatch:
        this.actors.get(envelope.targetPath)?.watchers.delete(refKey({ node: peerId, path: envelope.watcherPath }));
        return;
      case Kind.Terminated: {
        const target: Ref<unknown> = { node: peerId, path: envelope.targetPath };
        const key = refKey(target);
        const watch = this.remoteWatches.get(key);
        if (watch === undefined || !watch.watcherPaths.delete(envelope.watcherPath)) return;
        if (watch.watcherPaths.size === 0) this.remoteWatches.delete(key);
        this.deliverSystem(envelope.watcherPath, { type: 'Terminated', ref: target, reason: envelope.reason });
        return;
      }
      case Kind.LinkError:
        this.refuseOnce(connection, `link-error:${envelope.errorCode}`, `the peer reported an error: ${envelope.errorMessage.slice(0, this.limits.errorMessageCharsMax)}`);
        return;
      case Kind.SaslAuthenticate:
        // A client that authenticates with a node that does not ask it to (or again): Kafka's answer to SASL on a plaintext listener.
        this.sendHandshake(connection, peerId, { kind: Kind.SaslResult, errorCode: ErrorCode.ILLEGAL_SASL_STATE, errorMessage: this.clientAuthenticator === undefined ? `node ${this.nodeId} does not take SASL on this listener` : 'this link is authenticated already', bytes: emptyBytes, complete: true, mechanisms: [] });
        return;
      case Kind.SaslResult:
        this.refuseOnce(connection, 'sasl-result', 'a SASL result on an established link');
        return;
    }
  }

  /**
   * A SASL envelope on a link whose hellos are done: the server side (a client authenticating to
   * us: SaslAuthenticate in, SaslResult out) or the client side (we dialed with credentials).
   */
  private onSaslEnvelope(connection: Connection, envelope: Envelope): void {
    const sasl = connection.sasl!;
    if (sasl.side === 'client') this.onSaslResult(connection, sasl, envelope);
    else this.onSaslStep(connection, sasl, envelope);
  }

  /** We dialed with credentials: the server's answer to our last step. */
  private onSaslResult(connection: Connection, sasl: ClientSasl, envelope: Envelope): void {
    if (envelope.kind !== Kind.SaslResult) {
      this.rejectInput(connection, ErrorCode.ILLEGAL_SASL_STATE, 'expected a SASL result', true);
      return;
    }
    const fail = (errorCode: number, why: string): void => {
      connection.failure = new KactusError(errorCode, why);
      connection.role = 'closed';
      connection.link.close(CloseCode.policyViolation, 'SASL authentication failed');
    };
    if (envelope.errorCode !== ErrorCode.NONE) {
      fail(envelope.errorCode, `${envelope.errorMessage ?? 'authentication failed'}${envelope.mechanisms.length > 0 ? ` (offered: ${envelope.mechanisms.join(', ')})` : ''}`);
      return;
    }
    const step = sasl.exchange.next(envelope.bytes, envelope.complete);
    if (step.kind === 'failed') fail(ErrorCode.SASL_AUTHENTICATION_FAILED, step.reason);
    else if (step.kind === 'send') this.sendHandshake(connection, sasl.hello.nodeId, { kind: Kind.SaslAuthenticate, mechanism: null, bytes: step.bytes });
    else {
      connection.sasl = undefined;
      this.establish(connection, sasl.hello, 'client');
    }
  }

  /** A client authenticating to us: its next step in, our SaslResult out. */
  private onSaslStep(connection: Connection, sasl: ServerSasl, envelope: Envelope): void {
    const authenticator = this.clientAuthenticator!;
    const peerId = sasl.hello.nodeId;
    const secure = connection.link.secure === true;
    const refuse = (errorCode: number, errorMessage: string, mechanisms: readonly string[] = []): void => {
      this.stats.authFailures += 1;
      this.log.info({ client: peerId, address: connection.link.remoteAddress, errorCode }, `client.auth_failed: ${errorMessage}`);
      this.sendHandshake(connection, peerId, { kind: Kind.SaslResult, errorCode, errorMessage, bytes: emptyBytes, complete: true, mechanisms: [...mechanisms] });
      connection.role = 'closed';
      // Unread meanwhile (role closed): a failed client waits before it can try again on a new link.
      const timer = setTimeout(() => connection.link.close(CloseCode.policyViolation, 'SASL authentication failed'), authenticator.failedDelayMs);
      timer.unref();
    };
    if (envelope.kind !== Kind.SaslAuthenticate) {
      const why = `node ${this.nodeId} requires SASL authentication before anything else (offered: ${authenticator.mechanisms(secure).join(', ')}): give the client its sasl credentials`;
      // A client without credentials sends its first ask at once: that ask fails with the reason, not a closed link.
      if (envelope.kind === Kind.Ask) this.sendHandshake(connection, peerId, { kind: Kind.ErrorReply, replyToPath: envelope.replyToPath, errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED, errorMessage: why });
      refuse(ErrorCode.SASL_AUTHENTICATION_FAILED, why, authenticator.mechanisms(secure));
      return;
    }
    if (sasl.session === undefined) {
      const offered = authenticator.mechanisms(secure);
      if (envelope.mechanism === null || !offered.includes(envelope.mechanism)) {
        refuse(ErrorCode.UNSUPPORTED_SASL_MECHANISM, `SASL mechanism ${envelope.mechanism ?? '(none)'} is not offered here`, offered);
        return;
      }
      sasl.session = authenticator.start(envelope.mechanism, addressOnly(connection.link.remoteAddress), secure);
    } else if (envelope.mechanism !== null) {
      refuse(ErrorCode.ILLEGAL_SASL_STATE, 'a mechanism is named on the first SASL step only');
      return;
    }
    const step = sasl.session.step(envelope.bytes);
    if (step.kind === 'failed') {
      refuse(step.errorCode, step.errorMessage);
      return;
    }
    this.sendHandshake(connection, peerId, { kind: Kind.SaslResult, errorCode: ErrorCode.NONE, errorMessage: null, bytes: step.bytes, complete: step.kind === 'done', mechanisms: [] });
    if (step.kind === 'done') {
      connection.principal = step.principal;
      connection.sasl = undefined;
      this.log.debug({ client: peerId, principal: step.principal }, 'client.authenticated');
      this.establish(connection, sasl.hello, 'client');
    }
  }

  private watchFromRemote(watcher: Ref<unknown>, targetPath: string): void {
    const entry = this.actors.get(targetPath);
    if (entry === undefined || entry.stopped) {
      this.notifyTerminated(watcher, { node: this.nodeId, path: targetPath }, 'stopped');
      return;
    }
    entry.watchers.set(refKey(watcher), watcher);
  }

  /**
   * The first hello on a link. The acceptor answers with its own (and, having
   * the secret, its proof); a peer dialing us must then prove the secret with
   * Auth before anything else. The dialer checks the acceptor's proof when it
   * has the secret itself.
   */
  private onHello(connection: Connection, hello: HelloEnvelope): void {
    if (hello.nodeId === this.nodeId) {
      this.rejectInput(connection, ErrorCode.DUPLICATE_BROKER_REGISTRATION, `node id ${hello.nodeId} is this node's own id`, true);
      return;
    }
    const them = { nodeId: hello.nodeId, incarnation: hello.incarnation };
    if (connection.direction === 'inbound') {
      if (hello.role === 'peer') {
        if (this.clusterSecret === undefined) {
          this.rejectInput(connection, ErrorCode.SASL_AUTHENTICATION_FAILED, `node ${this.nodeId} has no cluster secret: it takes no peers`, true);
          return;
        }
        connection.awaitingAuth = hello;
        this.sendHandshake(connection, hello.nodeId, this.ourHello(connection, hello));
        return;
      }
      const refusal = this.clientIdRefusal(hello);
      if (refusal !== null) {
        this.rejectInput(connection, ErrorCode.DUPLICATE_BROKER_REGISTRATION, refusal, true);
        return;
      }
      this.sendHandshake(connection, hello.nodeId, this.ourHello(connection, hello));
      if (this.clientAuthenticator !== undefined) {
        connection.sasl = { side: 'server', hello, session: undefined };
        return;
      }
      this.establish(connection, hello, 'client');
      return;
    }
    // Outbound: we dialed. A node with the secret believes only a proven peer.
    if (this.clusterSecret === undefined) {
      if (this.clientCredentials !== undefined) {
        const exchange = this.clientCredentials.start();
        connection.sasl = { side: 'client', hello, exchange };
        this.sendHandshake(connection, hello.nodeId, { kind: Kind.SaslAuthenticate, mechanism: this.clientCredentials.mechanism, bytes: exchange.first() });
        return;
      }
      this.establish(connection, hello, 'client');
      return;
    }
    const expected = proofFor(this.clusterSecret, 'acceptor', connection.challenge, them, this.identity());
    if (hello.role !== 'peer' || !proofMatches(expected, hello.proof)) {
      this.stats.authFailures += 1;
      this.log.warn({ peer: hello.nodeId, address: connection.link.remoteAddress }, 'peer.auth_failed: the node we dialed did not prove the cluster secret (a different cluster.secret?)');
      connection.role = 'closed';
      connection.link.close(CloseCode.policyViolation, 'peer authentication failed');
      return;
    }
    this.sendHandshake(connection, hello.nodeId, { kind: Kind.Auth, proof: proofFor(this.clusterSecret, 'dialer', hello.challenge, this.identity(), them) });
    this.establish(connection, hello, 'peer');
  }

  private onAuth(connection: Connection, proof: Uint8Array): void {
    const hello = connection.awaitingAuth!;
    const expected = proofFor(this.clusterSecret!, 'dialer', connection.challenge, { nodeId: hello.nodeId, incarnation: hello.incarnation }, this.identity());
    if (!proofMatches(expected, proof)) {
      this.stats.authFailures += 1;
      this.log.warn({ claimed: hello.nodeId, address: connection.link.remoteAddress }, 'peer.auth_failed: a link claiming to be a peer did not prove the cluster secret');
      this.rejectInput(connection, ErrorCode.SASL_AUTHENTICATION_FAILED, 'peer authentication failed', true);
      return;
    }
    connection.awaitingAuth = undefined;
    this.establish(connection, hello, 'peer');
  }

  /** Handshake envelopes bypass the queue (the link is not attached yet); a cut link drops them as it drops the rest. */
  private sendHandshake(connection: Connection, peerId: string, envelope: Envelope): void {
    if (this.faults?.isCut(this.nodeId, peerId)) return;
    connection.link.send(encodeEnvelope(envelope));
  }

  /** Why a client may not use the id its hello claims, or null. */
  private clientIdRefusal(hello: HelloEnvelope): string | null {
    if (/^[0-9]+$/.test(hello.nodeId)) return `node id ${hello.nodeId} is a broker id: a client cannot take it`;
    const known = this.peers.get(hello.nodeId);
    if (known === undefined) return null;
    if (known.kind === 'peer' || known.url !== undefined) return `node id ${hello.nodeId} belongs to a peer`;
    if (known.hasLinks() && known.incarnation !== undefined && known.incarnation !== hello.incarnation) return `node id ${hello.nodeId} is connected already`;
    return null;
  }

  /** The link is a peer's or a client's from now on. */
  private establish(connection: Connection, hello: HelloEnvelope, role: 'peer' | 'client'): void {
    const peer = this.peerFor(hello.nodeId);
    if (role === 'peer' && peer.kind === 'client') {
      // An id a client used before is a peer's now (the client left): its links go.
      for (const other of peer.inbound) other.link.close(CloseCode.policyViolation, 'node id taken by a peer');
    }
    connection.role = role;
    connection.peerId = hello.nodeId;
    connection.peerIncarnation = hello.incarnation;
    // An unproven link is a client when it dialed us, a server we chose to dial when we dialed it (a client node's brokers).
    if (role === 'peer') peer.kind = 'peer';
    else peer.kind ??= connection.direction === 'inbound' ? 'client' : 'server';
    // Only a proven peer says where it listens: a client's URL is never dialled.
    if (role === 'peer' && hello.listenUrl !== null && peer.url === undefined) peer.url = hello.listenUrl;
    if (peer.incarnation !== undefined && peer.incarnation !== hello.incarnation) {
      this.log.info({ peer: hello.nodeId, previous: peer.incarnation, incarnation: hello.incarnation }, 'peer.new_incarnation');
      // The old incarnation is gone: its actors are dead, its watches on us are void.
      this.setStatus(peer, 'down');
      this.fireRemoteWatches(hello.nodeId, 'node-down');
      this.dropWatchesFrom(hello.nodeId);
      peer.dropQueue();
      // Asks pending on that node can never be answered now (the old incarnation is gone, and the
      // requests still queued were just dropped): fail them at once (NETWORK_EXCEPTION, retriable)
      // instead of letting callers wait out their timeouts. Found by the chaos harness: the first
      // ask to a restarted broker used to wait its whole timeout (runtime/node-restart.test.ts).
      this.failAsksTo(hello.nodeId);
    }
    peer.incarnation = hello.incarnation;
    peer.heard(this.clock.monotonicMs());
    this.setStatus(peer, 'up');
    if (connection.direction === 'inbound') peer.attachInbound(connection);
  }

  private setStatus(peer: Peer, status: PeerStatus): void {
    if (peer.status === status) return;
    const previous = peer.status;
    peer.status = status;
    const level = status === 'up' ? 'info' : 'warn';
    this.log[level]({ peer: peer.nodeId, incarnation: peer.incarnation, previous }, `peer.${status}`);
    this.statusSubject.next({ nodeId: peer.nodeId, incarnation: peer.incarnation, status });
  }

  private checkLiveness(): void {
    const nowMs = this.clock.monotonicMs();
    for (const peer of this.peers.values()) {
      if (peer.url === undefined && !peer.hasLinks() && (peer.detector === undefined || peer.detector.status(nowMs) === 'down')) {
        this.prunePeer(peer);
        continue;
      }
      if (peer.mutedTooLong(nowMs)) {
        this.stats.clientsDisconnected += 1;
        this.log.warn({ peer: peer.nodeId, queuedBytes: peer.queuedBytes() }, 'link.client_not_reading: muted too long, disconnected');
        peer.disconnect('not reading its replies');
      }
      peer.heartbeatLinks(this.heartbeatPacked);
      if (peer.detector === undefined) continue;
      const status = peer.detector.status(nowMs);
      if (status === peer.status) continue;
      if (status === 'up' && peer.status === 'unknown') continue; // only a hello makes a peer up
      this.setStatus(peer, status);
      if (status === 'down') this.onPeerDown(peer);
      if (status !== 'up') peer.ensureDialing();
    }
  }

  /** Death watches on the peer fire, and asks to it fail now rather than at their timeouts. */
  private onPeerDown(peer: Peer): void {
    this.fireRemoteWatches(peer.nodeId, 'node-down');
    this.failAsksTo(peer.nodeId);
  }

  /**
   * A peer's link closed and its address refuses connections: its process is
   * gone (a SIGKILL, a crash), so it is down now instead of after
   * downAfterMs of silence. A paused process or a partition still refuses
   * nothing and waits out the silence; a peer declared down this way that is
   * heard again (same incarnation) is up again, as after a healed partition.
   */
  peerRefused(peer: Peer): void {
    if (peer.status === 'down' || peer.status === 'unknown' || peer.detector === undefined) return;
    peer.detector.declareDown(this.clock.monotonicMs());
    this.stats.peersRefused += 1;
    this.log.warn({ peer: peer.nodeId, incarnation: peer.incarnation, url: peer.url }, 'peer.refused: its link closed and its address refuses connections, down without waiting out the silence');
    this.setStatus(peer, 'down');
    this.onPeerDown(peer);
  }

  /** Forgets a peer that has no links and no URL and has been silent past downAfterMs (a client that left). */
  private prunePeer(peer: Peer): void {
    this.peers.delete(peer.nodeId);
    this.stats.peersPruned += 1;
    this.fireRemoteWatches(peer.nodeId, 'node-down');
    this.dropWatchesFrom(peer.nodeId);
    this.failAsksTo(peer.nodeId);
    peer.close('forgotten');
    this.log.debug({ peer: peer.nodeId }, 'peer.forgotten');
  }

  /** Peers in the table (tests: the table is bounded by pruning). */
  peerCount(): number {
    return this.peers.size;
  }

  /** Asks to a node declared down fail now rather than at their timeout. */
  private failAsksTo(nodeId: string): void {
    for (const [replyPath, pending] of this.pendingAsks) {
      if (pending.target.node === nodeId) this.failAsk(replyPath, ErrorCode.NETWORK_EXCEPTION, `node ${nodeId} is down`);
    }
  }

  // ---------------------------------------------------------------- shutdown

  /** Stops every actor, closes every link and the listener. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info('node.stopping');
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    for (const [replyPath] of this.pendingAsks) this.failAsk(replyPath, ErrorCode.BROKER_NOT_AVAILABLE, `node ${this.nodeId} stopped`);
    // Every actor, deepest first (nact's system stop does not reach them, see stopActor).
    const all = [...this.actors.values()].sort((a, b) => b.path.split('/').length - a.path.split('/').length);
    for (const entry of all) if (!entry.stopped && entry.nactRef) nact.stop(entry.nactRef);
    nact.stop(this.system);
    // Let queued frames (replies, Terminated) go out before the links close.
    await new Promise((resolve) => setImmediate(resolve));
    for (const peer of this.peers.values()) peer.close('node stopping');
    for (const connection of this.connections) connection.link.close(CloseCode.goingAway, 'node stopping');
    await this.listener?.close();
    this.statusSubject.complete();
  }

  /** Graceful shutdown on SIGTERM/SIGINT, for processes whose main object is this node. */
  stopOnSignals(afterStop: () => void = () => process.exit(0)): void {
    const handler = (signal: NodeJS.Signals): void => {
      this.log.info({ signal }, 'node.signal');
      void this.stop().finally(afterStop);
    };
    process.once('SIGTERM', handler);
    process.once('SIGINT', handler);
  }
}

/** Re-reads the role after a call that may have closed the link (TypeScript keeps the narrowed one). */
function isClosed(connection: Connection): boolean {
  return connection.role === 'closed';
}

/** The reply slot a message names on `nodeId`, if it names one (the refused tell of an ask-like request). */
function replySlotOf(message: unknown, nodeId: string): string | undefined {
  if (typeof message !== 'object' || message === null || !Object.hasOwn(message, 'replyTo')) return undefined;
  const replyTo = (message as { replyTo?: unknown }).replyTo as { node?: unknown; path?: unknown } | null | undefined;
  if (typeof replyTo !== 'object' || replyTo === null) return undefined;
  return replyTo.node === nodeId && typeof replyTo.path === 'string' && isTempPath(replyTo.path) && replyTo.path.length <= 1024 ? replyTo.path : undefined;
}

type NactSupervisionContext = {
  reset: symbol;
  resume: symbol;
  stop: symbol;
  escalate: symbol;
};
