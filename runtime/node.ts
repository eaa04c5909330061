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
 * code or the link is closed; the node goes on serving every other peer.
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
  type TerminationReason,
} from './envelope.ts';
import type { FaultPlan } from './faults.ts';
import type { PeerStatus } from './failure-detector.ts';
import { resolveLimits, type RuntimeLimits } from './limits.ts';
import { createLogger, type Logger } from './logger.ts';
import { Peer, type Connection, type PeerHost } from './peer.ts';
import { isTempPath, refKey, tempPathPrefix, type Ref } from './ref.ts';
import { RestartWindow, restartWithBackoff, type SupervisionPolicy } from './supervision.ts';
import { CloseCode, type Link, type Listener, type Transport } from './transport.ts';
import { WsTransport } from './ws-transport.ts';

/** Delivered to a watcher when a watched actor stops or its node goes down. */
export type Terminated = { type: 'Terminated'; ref: Ref<unknown>; reason: TerminationReason };

export type NodeStatusEvent = { nodeId: string; incarnation: string | undefined; status: PeerStatus };

export type AskOptions = { timeoutMs?: number };

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
   * false: only actors of this node may message it; envelopes from the network
   * addressed to it are refused (an internal actor never sees untrusted input).
   * Default true.
   */
  acceptsRemote?: boolean;
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
  limits?: Partial<RuntimeLimits>;
  clock?: Clock;
  logger?: Logger;
  faults?: FaultPlan;
  /** Called when a top-level actor gave up (its supervision escalated). */
  onGiveUp?: (path: string, error: unknown) => void;
};

type LocalActor = {
  readonly path: string;
  /** Unset while nact runs the actor's init: messages sent then wait in `early`. */
  nactRef: nact.Ref<unknown> | undefined;
  early: unknown[];
  readonly ctx: ActorContext<unknown>;
  depth: number;
  readonly acceptsRemote: boolean;
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

  /** Counters for tests and benchmarks. */
  readonly stats = { refusedMailboxFull: 0, refusedLinkFull: 0, deadLetters: 0, lateReplies: 0, badInput: 0 };

  private constructor(options: NodeOptions) {
    assert(options.nodeId.length > 0 && options.nodeId.length <= 256, 'node id must be 1-256 characters');
    assert(!options.nodeId.includes('/'), 'node id must not contain a slash');
    this.nodeId = options.nodeId;
    this.limits = resolveLimits(options.limits);
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? createLogger({ node: options.nodeId });
    this.faults = options.faults;
    this.onGiveUp = options.onGiveUp;
    this.transport = options.transport ?? new WsTransport(this.limits.frameBytesMax);
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
    peer.url = url;
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
    const entry: LocalActor = { path, nactRef: undefined, early: [], ctx: ctx as ActorContext<unknown>, depth: 0, acceptsRemote: behaviour.acceptsRemote ?? true, watchers: new Map(), stopped: false };
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
      const message = makeMessage(replyTo);
      const refusal =
        target.node === this.nodeId
          ? this.deliverLocal(target.path, message)
          : this.sendRemote(target.node, { kind: Kind.Ask, targetPath: target.path, replyToPath: replyPath, message });
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

  private deliverLocal(path: string, message: unknown, fromNetwork = false): number {
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
    if (fromNetwork && !entry.acceptsRemote) {
      this.stats.badInput += 1;
      this.log.warn({ target: path }, 'message.remote_refused');
      return ErrorCode.INVALID_REQUEST;
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
    const connection: Connection = { link, direction: 'inbound', peerId: undefined, peerIncarnation: undefined };
    this.trackConnection(connection);
    const handshakeTimer = setTimeout(() => {
      if (connection.peerId === undefined) link.close(CloseCode.policyViolation, 'no hello in time');
    }, this.limits.handshakeTimeoutMs);
    handshakeTimer.unref();
    link.onFrame((frame) => this.onFrame(connection, frame));
  }

  dialPeer(peer: Peer): Promise<Connection> {
    assert(peer.url !== undefined, 'dialPeer needs a URL');
    return this.dialAndHello(peer.url, peer.nodeId);
  }

  /** Dials, sends our hello, and resolves once the peer's hello arrived (with the expected id, if given). */
  private async dialAndHello(url: string, expectedNodeId: string | undefined): Promise<Connection> {
    const link = await this.transport.dial(url);
    const connection: Connection = { link, direction: 'outbound', peerId: undefined, peerIncarnation: undefined };
    this.trackConnection(connection);
    return new Promise<Connection>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.close(CloseCode.policyViolation, 'no hello in time');
        reject(new KactusError(ErrorCode.NETWORK_EXCEPTION, `no hello from ${url} within ${this.limits.handshakeTimeoutMs} ms`));
      }, this.limits.handshakeTimeoutMs);
      void link.closed.then((why) => {
        clearTimeout(timer);
        reject(new KactusError(ErrorCode.NETWORK_EXCEPTION, `link to ${url} closed during hello: ${why.code} ${why.reason}`));
      });
      link.onFrame((frame) => {
        if (connection.peerId !== undefined) {
          this.onFrame(connection, frame);
          return;
        }
        // Until the hello arrives, only a hello is acceptable.
        this.onFrame(connection, frame);
        if (connection.peerId === undefined) return;
        clearTimeout(timer);
        if (expectedNodeId !== undefined && connection.peerId !== expectedNodeId) {
          link.close(CloseCode.policyViolation, `expected node ${expectedNodeId}`);
          reject(new KactusError(ErrorCode.NETWORK_EXCEPTION, `${url} is node ${connection.peerId}, not ${expectedNodeId}`));
          return;
        }
        resolve(connection);
      });
      if (!this.faults?.isCut(this.nodeId, expectedNodeId ?? '')) {
        link.send(encodeEnvelope({ kind: Kind.Hello, nodeId: this.nodeId, incarnation: this.incarnation, listenUrl: this.advertiseUrl ?? null }));
      }
    });
  }

  private trackConnection(connection: Connection): void {
    this.connections.add(connection);
    void connection.link.closed.then(() => this.connections.delete(connection));
  }

  private onFrame(connection: Connection, frame: Uint8Array): void {
    const peerId = connection.peerId;
    // A cut link drops what arrives too, so a one-process test partitions both ways.
    if (peerId !== undefined && this.faults?.isCut(peerId, this.nodeId)) return;
    const values = decodeFrame(frame);
    if (isDecodeFailure(values)) {
      this.rejectInput(connection, values.errorCode, values.errorMessage, true);
      return;
    }
    if (peerId !== undefined) this.peers.get(peerId)?.heard(this.clock.monotonicMs());
    for (const value of values) {
      const envelope = validateEnvelope(value);
      if (isDecodeFailure(envelope)) {
        this.rejectInput(connection, envelope.errorCode, envelope.errorMessage, envelope.fatal);
        if (envelope.fatal) return;
        continue;
      }
      if (connection.peerId === undefined && envelope.kind !== Kind.Hello) {
        this.rejectInput(connection, ErrorCode.INVALID_REQUEST, 'the first envelope on a link must be a hello', true);
        return;
      }
      this.onEnvelope(connection, envelope);
    }
  }

  private rejectInput(connection: Connection, errorCode: number, errorMessage: string, closeLink: boolean): void {
    this.stats.badInput += 1;
    this.log.warn({ peer: connection.peerId ?? null, address: connection.link.remoteAddress, errorCode, closeLink }, `input.rejected: ${errorMessage}`);
    connection.link.send(encodeEnvelope({ kind: Kind.LinkError, errorCode, errorMessage }));
    if (closeLink) connection.link.close(errorCode === ErrorCode.UNSUPPORTED_VERSION ? CloseCode.protocolError : CloseCode.policyViolation, errorMessage);
  }

  private onEnvelope(connection: Connection, envelope: Envelope): void {
    const peerId = connection.peerId;
    switch (envelope.kind) {
      case Kind.Hello:
        this.onHello(connection, envelope);
        return;
      case Kind.Heartbeat:
        return;
      case Kind.Tell:
        this.deliverLocal(envelope.targetPath, envelope.message, true);
        return;
      case Kind.Ask: {
        const refusal = this.deliverLocal(envelope.targetPath, envelope.message, true);
        if (refusal !== 0) {
          this.sendRemote(peerId!, {
            kind: Kind.ErrorReply,
            replyToPath: envelope.replyToPath,
            errorCode: refusal,
            errorMessage:
              refusal === ErrorCode.BROKER_NOT_AVAILABLE
                ? `no actor at ${envelope.targetPath} on node ${this.nodeId}`
                : refusal === ErrorCode.INVALID_REQUEST
                  ? `${envelope.targetPath} on node ${this.nodeId} takes no messages from the network`
                  : `${envelope.targetPath} on node ${this.nodeId} refused the message (mailbox full)`,
          });
        }
        return;
      }
      case Kind.ErrorReply:
        this.failAsk(envelope.replyToPath, envelope.errorCode, envelope.errorMessage);
        return;
      case Kind.Watch: {
        const watcher: Ref<unknown> = { node: peerId!, path: envelope.watcherPath };
        this.watchFromRemote(watcher, envelope.targetPath);
        return;
      }
      case Kind.Unwatch:
        this.actors.get(envelope.targetPath)?.watchers.delete(refKey({ node: peerId!, path: envelope.watcherPath }));
        return;
      case Kind.Terminated: {
        const target: Ref<unknown> = { node: peerId!, path: envelope.targetPath };
        const key = refKey(target);
        const watch = this.remoteWatches.get(key);
        if (watch === undefined || !watch.watcherPaths.delete(envelope.watcherPath)) return;
        if (watch.watcherPaths.size === 0) this.remoteWatches.delete(key);
        this.deliverSystem(envelope.watcherPath, { type: 'Terminated', ref: target, reason: envelope.reason });
        return;
      }
      case Kind.LinkError:
        this.log.warn({ peer: peerId ?? null, errorCode: envelope.errorCode }, `link.error_from_peer: ${envelope.errorMessage}`);
        return;
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

  private onHello(connection: Connection, hello: Extract<Envelope, { kind: typeof Kind.Hello }>): void {
    if (connection.peerId !== undefined) {
      if (connection.peerId !== hello.nodeId || connection.peerIncarnation !== hello.incarnation) {
        this.rejectInput(connection, ErrorCode.INVALID_REQUEST, 'a link cannot change its node', true);
      }
      return;
    }
    if (hello.nodeId === this.nodeId) {
      this.rejectInput(connection, ErrorCode.DUPLICATE_BROKER_REGISTRATION, `node id ${hello.nodeId} is this node's own id`, true);
      return;
    }
    connection.peerId = hello.nodeId;
    connection.peerIncarnation = hello.incarnation;
    const peer = this.peerFor(hello.nodeId);
    if (hello.listenUrl !== null && peer.url === undefined) peer.url = hello.listenUrl;
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
    if (connection.direction === 'inbound') {
      peer.sendNow(connection, encodeEnvelope({ kind: Kind.Hello, nodeId: this.nodeId, incarnation: this.incarnation, listenUrl: this.advertiseUrl ?? null }));
      peer.attachInbound(connection);
    }
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
      peer.heartbeatLinks(this.heartbeatPacked);
      if (peer.detector === undefined) continue;
      const status = peer.detector.status(nowMs);
      if (status === peer.status) continue;
      if (status === 'up' && peer.status === 'unknown') continue; // only a hello makes a peer up
      this.setStatus(peer, status);
      if (status === 'down') {
        this.fireRemoteWatches(peer.nodeId, 'node-down');
        this.failAsksTo(peer.nodeId);
      }
      if (status !== 'up') peer.ensureDialing();
    }
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

type NactSupervisionContext = {
  reset: symbol;
  resume: symbol;
  stop: symbol;
  escalate: symbol;
};
