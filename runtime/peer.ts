/**
 * One remote node as seen from this node: its links, its outbound queue, its
 * liveness.
 *
 * Sending: envelopes are packed once (by the caller) and queued here; a flush
 * on the next event-loop turn hands everything queued to the socket as few
 * frames as possible (up to frameBytesTarget each), so many small messages
 * share one frame and one ws.send. The queue is bounded by
 * linkPendingBytesMax (a send over it is refused) and the socket by
 * linkBufferedBytesMax (over it the flush waits for drain): a slow peer
 * slows its senders instead of growing memory.
 *
 * Links: a peer with a listen URL is dialed (on first use) and re-dialed with
 * capped exponential backoff while this node runs; a peer without one (a
 * client) is reached over the link it opened to us. The outbound link is
 * preferred when both exist. Each node sends on its own dialed link, so two
 * nodes that dial each other at once need no tie-break.
 *
 * Liveness: every frame received is a sign of life for the failure detector.
 * A peer whose last link closed (ours, or the one it dialed to us: then we
 * dial it at once) and whose address then refuses the dial is reported to the host at once
 * (`peerRefused`): its process is gone, there is no silence to wait out.
 *
 * Clients (links that did not prove the cluster secret) are bounded harder:
 * bytes waiting for a client past clientMuteBytes mute it (its links are not
 * read, so it cannot ask for more) until they drain to half; a client muted
 * past clientMutedMsMax, or whose queue would pass clientPendingBytesMax, is
 * disconnected and its queue dropped. Asks a client has unanswered are
 * bounded by clientAsksInFlightMax (an answer, or clientAskAgeMsMax, frees a
 * slot).
 */
import { CloseCode, isConnectionRefused, type Link } from './transport.ts';
import type { RuntimeLimits } from './limits.ts';
import { DeadlineFailureDetector, type PeerStatus } from './failure-detector.ts';
import type { Logger } from './logger.ts';
import type { FaultPlan } from './faults.ts';
import type { HelloEnvelope } from './envelope.ts';
import type { ClientCredentials, ServerAuthStep } from './client-auth.ts';
import { requestTimingLimits, type RequestTimer } from './request-observer.ts';

/** A client's SASL exchange on a link we accepted: its session once the first step named the mechanism. */
export type ServerSasl = { readonly side: 'server'; readonly hello: HelloEnvelope; session: { step(bytes: Uint8Array): ServerAuthStep } | undefined };
/** Our SASL exchange on a link we dialed with credentials. */
export type ClientSasl = { readonly side: 'client'; readonly hello: HelloEnvelope; readonly exchange: ReturnType<ClientCredentials['start']> };

export type Connection = {
  readonly link: Link;
  readonly direction: 'inbound' | 'outbound';
  /** Set once the hello exchange named the peer. */
  peerId: string | undefined;
  peerIncarnation: string | undefined;
  /** pending until the handshake is done; then peer (proved the cluster secret) or client (anything unproven); closed once refused. */
  role: 'pending' | 'peer' | 'client' | 'closed';
  /** The challenge this node sent on the link (peer-auth.ts). */
  readonly challenge: Buffer;
  /** Inbound, role pending: the hello of a dialer that claims to be a peer, until its Auth. */
  awaitingAuth: HelloEnvelope | undefined;
  /** Refusals already logged on this link (one line per kind, bounded). */
  readonly refusalsLogged: Set<string>;
  /** Hellos done, the client's SASL exchange under way (client-auth.ts): the server's session, or our client exchange. */
  sasl: ServerSasl | ClientSasl | undefined;
  /** Who the client on this link is (SASL, or its TLS certificate); undefined: anonymous (or a peer). */
  principal: string | undefined;
  /** Why we closed this link during its handshake (a dial rejects with it). */
  failure: Error | undefined;
};

export interface PeerHost {
  readonly nodeId: string;
  readonly limits: RuntimeLimits;
  readonly log: Logger;
  readonly faults: FaultPlan | undefined;
  isStopping(): boolean;
  monotonicMs(): number;
  /** Dials and performs the hello exchange; resolves when the peer answered. */
  dialPeer(peer: Peer): Promise<Connection>;
  /** The peer's link closed, it has no other, and its address refuses connections. */
  peerRefused(peer: Peer): void;
}

export class Peer {
  url: string | undefined;
  incarnation: string | undefined;
  status: PeerStatus | 'unknown' = 'unknown';
  /** Set by the first established link: a proven peer, a client that dialed us, or a server we dialed without a secret. */
  kind: 'peer' | 'client' | 'server' | undefined;
  detector: DeadlineFailureDetector | undefined;
  outbound: Connection | undefined;
  readonly inbound = new Set<Connection>();

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private waitingForDrain = false;
  private dialing = false;
  /** Our outbound link closed and no dial has succeeded since. */
  private lostLink = false;
  private reconnectDelayMs: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Frames handed to the socket, for benchmarks and tests. */
  framesSent = 0;
  /** A client's unanswered asks: reply path -> when asked (monotonic ms). */
  private readonly asksInFlight = new Map<string, number>();
  private mutedSinceMs: number | undefined;
  /** Asks of this peer being timed for metrics (request-observer.ts): reply path -> arrival and timer. */
  private readonly timedAsks = new Map<string, { receivedMs: number; timer: RequestTimer }>();

  constructor(readonly nodeId: string, private readonly host: PeerHost, url?: string) {
    this.url = url;
    this.reconnectDelayMs = host.limits.reconnectBackoffMsMin;
  }

  /** Starts liveness tracking (first contact): silence counts from now. */
  track(nowMs: number): void {
    if (this.detector === undefined) {
      this.detector = new DeadlineFailureDetector(nowMs, this.host.limits.unreachableAfterMs, this.host.limits.downAfterMs);
    }
  }

  heard(nowMs: number): void {
    this.track(nowMs);
    this.detector!.heartbeat(nowMs);
  }

  queuedBytes(): number {
    return this.pendingBytes;
  }

  /** Queues one packed envelope. Returns false when the queue is full (the send is refused). */
  enqueue(packed: Buffer): boolean {
    const isClient = this.kind === 'client';
    const bytesMax = isClient ? this.host.limits.clientPendingBytesMax : this.host.limits.linkPendingBytesMax;
    if (this.pendingBytes + packed.length > bytesMax) {
      if (isClient && this.hasLinks()) {
        this.host.log.warn({ peer: this.nodeId, queuedBytes: this.pendingBytes }, 'link.client_not_reading: queue full, disconnected');
        this.disconnect('not reading its replies');
      }
      return false;
    }
    this.pending.push(packed);
    this.pendingBytes += packed.length;
    this.scheduleFlush();
    if (isClient) this.updateMute();
    return true;
  }

  /** A client's ask arrives: false when it has too many unanswered already (expired ones are forgotten first). */
  admitAsk(replyPath: string, nowMs: number): boolean {
    const { clientAsksInFlightMax, clientAskAgeMsMax } = this.host.limits;
    if (this.asksInFlight.size >= clientAsksInFlightMax) {
      for (const [path, askedMs] of this.asksInFlight) if (nowMs - askedMs > clientAskAgeMsMax) this.asksInFlight.delete(path);
      if (this.asksInFlight.size >= clientAsksInFlightMax) return false;
    }
    this.asksInFlight.set(replyPath, nowMs);
    return true;
  }

  /** Something was sent to the reply slot `replyPath`: that ask is answered (and its timing, if timed, ends). */
  answered(replyPath: string, nowMs: number): void {
    if (this.asksInFlight.size > 0) this.asksInFlight.delete(replyPath);
    if (this.timedAsks.size === 0) return;
    const timed = this.timedAsks.get(replyPath);
    if (timed === undefined) return;
    this.timedAsks.delete(replyPath);
    timed.timer.answered((nowMs - timed.receivedMs) / 1000);
  }

  /**
   * Times an ask of this peer until `answered(replyPath)`. Bounded: when the slots are full, the ones
   * older than answerWaitMsMax (answered by another node, or never) are dropped first; if none is, the
   * new ask goes untimed.
   */
  timeAsk(replyPath: string, timer: RequestTimer, nowMs: number): void {
    if (this.timedAsks.size >= requestTimingLimits.timedPerLinkMax) {
      for (const [path, timed] of this.timedAsks) if (nowMs - timed.receivedMs > requestTimingLimits.answerWaitMsMax) this.timedAsks.delete(path);
      if (this.timedAsks.size >= requestTimingLimits.timedPerLinkMax) return;
    }
    this.timedAsks.set(replyPath, { receivedMs: nowMs, timer });
  }

  /** Bytes waiting for this peer: queued here and held by its socket. */
  waitingBytes(): number {
    return this.pendingBytes + (this.sendConnection()?.link.bufferedBytes() ?? 0);
  }

  /** Mutes a client whose waiting bytes passed clientMuteBytes; unmutes it below half of that. */
  private updateMute(): void {
    if (this.kind !== 'client') return;
    const waitingBytes = this.waitingBytes();
    const { clientMuteBytes } = this.host.limits;
    if (this.mutedSinceMs === undefined && waitingBytes > clientMuteBytes) {
      this.mutedSinceMs = this.host.monotonicMs();
      for (const link of this.links()) link.pause();
      this.host.log.debug({ peer: this.nodeId, waitingBytes }, 'link.client_muted');
    } else if (this.mutedSinceMs !== undefined && waitingBytes <= clientMuteBytes / 2) {
      this.mutedSinceMs = undefined;
      for (const link of this.links()) link.resume();
      this.host.log.debug({ peer: this.nodeId, waitingBytes }, 'link.client_unmuted');
    }
  }

  mutedTooLong(nowMs: number): boolean {
    if (this.mutedSinceMs === undefined) return false;
    this.updateMute();
    return this.mutedSinceMs !== undefined && nowMs - this.mutedSinceMs > this.host.limits.clientMutedMsMax;
  }

  /** Drops what is queued for this peer and closes its links (a client that does not read). */
  disconnect(reason: string): void {
    this.dropQueue();
    this.mutedSinceMs = undefined;
    for (const link of this.links()) link.close(CloseCode.policyViolation, reason);
  }

  private links(): Link[] {
    const links: Link[] = [];
    if (this.outbound) links.push(this.outbound.link);
    for (const connection of this.inbound) links.push(connection.link);
    return links;
  }

  /** The connection to send on: the handshaked outbound one, else a handshaked inbound one. */
  sendConnection(): Connection | undefined {
    if (this.outbound !== undefined && isEstablished(this.outbound)) return this.outbound;
    for (const connection of this.inbound) if (isEstablished(connection)) return connection;
    return undefined;
  }

  scheduleFlush(): void {
    if (this.flushScheduled || this.waitingForDrain) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const connection = this.sendConnection();
    if (connection === undefined) {
      this.ensureDialing();
      return;
    }
    const { link } = connection;
    const { frameBytesTarget, linkBufferedBytesMax } = this.host.limits;
    let index = 0;
    while (index < this.pending.length) {
      if (link.bufferedBytes() >= linkBufferedBytesMax) {
        this.waitForDrain(link);
        break;
      }
      const first = index;
      let frameBytes = 0;
      while (index < this.pending.length && (index === first || frameBytes + this.pending[index]!.length <= frameBytesTarget)) {
        frameBytes += this.pending[index]!.length;
        index += 1;
      }
      const frame = index - first === 1 ? this.pending[first]! : Buffer.concat(this.pending.slice(first, index), frameBytes);
      this.pendingBytes -= frameBytes;
      this.sendFrame(link, frame);
    }
    this.pending = index === this.pending.length ? [] : this.pending.slice(index);
    if (this.kind === 'client') this.updateMute();
  }

  private sendFrame(link: Link, frame: Buffer): void {
    const decision = this.host.faults?.decide(this.host.nodeId, this.nodeId);
    if (decision === undefined) {
      link.send(frame);
      this.framesSent += 1;
      return;
    }
    if (!decision.deliver) return;
    const deliver = (): void => {
      for (let copy = 0; copy < decision.copies; copy += 1) link.send(frame);
      this.framesSent += 1;
    };
    if (decision.delayMs > 0) setTimeout(deliver, decision.delayMs);
    else deliver();
  }

  private waitForDrain(link: Link): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    const resume = (): void => {
      if (!this.waitingForDrain) return;
      this.waitingForDrain = false;
      this.scheduleFlush();
    };
    link.onDrain(resume);
    // A link that closes while we wait must not leave the queue stuck.
    void link.closed.then(resume);
  }

  attachOutbound(connection: Connection): void {
    this.outbound = connection;
    this.lostLink = false;
    this.reconnectDelayMs = this.host.limits.reconnectBackoffMsMin;
    void connection.link.closed.then(() => {
      if (this.outbound === connection) this.outbound = undefined;
      this.lostLink = true;
      this.scheduleReconnect();
    });
    this.scheduleFlush();
  }

  attachInbound(connection: Connection): void {
    this.inbound.add(connection);
    void connection.link.closed.then(() => {
      this.inbound.delete(connection);
      // Our only link to a peer we can dial is gone: dial it now, so that a dead peer's refusal is seen at once.
      if (this.url !== undefined && !this.hasLinks()) {
        this.lostLink = true;
        this.ensureDialing();
      }
    });
    this.scheduleFlush();
  }

  /** Dials when there is a URL and no outbound link (first use or after a close). */
  ensureDialing(): void {
    if (this.url === undefined || this.outbound !== undefined || this.dialing || this.reconnectTimer !== undefined) return;
    if (this.host.isStopping()) return;
    this.dialing = true;
    this.host.dialPeer(this).then(
      (connection) => {
        this.dialing = false;
        if (this.host.isStopping()) {
          connection.link.close(CloseCode.goingAway, 'node stopping');
          return;
        }
        this.attachOutbound(connection);
      },
      (err: unknown) => {
        this.dialing = false;
        this.host.log.debug({ peer: this.nodeId, url: this.url, err: (err as Error).message }, 'link.dial_failed');
        if (this.lostLink && isConnectionRefused(err) && !this.hasLinks() && !this.host.isStopping()) this.host.peerRefused(this);
        this.scheduleReconnect();
      },
    );
  }

  private scheduleReconnect(): void {
    if (this.host.isStopping() || this.url === undefined || this.reconnectTimer !== undefined) return;
    const delayMs = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(this.host.limits.reconnectBackoffMsMax, this.reconnectDelayMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.ensureDialing();
    }, delayMs);
    this.reconnectTimer.unref();
  }

  /** Sends a heartbeat on every handshaked link, so both directions of silence are seen. */
  heartbeatLinks(packedHeartbeat: Buffer): void {
    if (this.host.faults?.isCut(this.host.nodeId, this.nodeId)) return;
    if (this.outbound !== undefined && isEstablished(this.outbound)) this.outbound.link.send(packedHeartbeat);
    for (const connection of this.inbound) if (isEstablished(connection)) connection.link.send(packedHeartbeat);
  }

  hasLinks(): boolean {
    return this.outbound !== undefined || this.inbound.size > 0;
  }

  /** Forgets queued envelopes and a client's unanswered asks (a new incarnation: they were the old one's). */
  dropQueue(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.asksInFlight.clear();
    this.timedAsks.clear();
  }

  close(reason: string): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.outbound?.link.close(CloseCode.goingAway, reason);
    for (const connection of this.inbound) connection.link.close(CloseCode.goingAway, reason);
  }
}

function isEstablished(connection: Connection): boolean {
  return connection.role === 'peer' || connection.role === 'client';
}
