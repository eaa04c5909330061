/**
 * Every bound of the runtime, with its unit last and its default (STYLE rule 8).
 *
 * The relationships between bounds are asserted when this module loads, so a
 * bad combination fails at start-up rather than under load. A Node takes a
 * partial override of these (`new Node({ limits: {...} })`).
 */
import { assert } from './assert.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

export const runtimeLimitsDefault = {
  /** Largest WebSocket frame accepted or sent (ws `maxPayload`). A bigger one closes the link. */
  frameBytesMax: 16 * MiB,
  /** A frame is flushed once this many bytes of envelopes are queued for it (many small messages per frame). */
  frameBytesTarget: 256 * KiB,
  /** Messages waiting in one actor's mailbox; past it a tell is refused with a retriable error. */
  mailboxDepthMax: 10_000,
  /** Bytes the socket may hold unsent (ws `bufferedAmount`) before the link stops writing and waits for drain. */
  linkBufferedBytesMax: 8 * MiB,
  /** Bytes queued for a peer (not yet handed to the socket); past it sends to that peer are refused. */
  linkPendingBytesMax: 64 * MiB,
  /** Asks waiting for a reply on one node; past it a new ask is refused at once. */
  pendingAsksMax: 100_000,
  /** Default ask timeout. */
  askTimeoutMsDefault: 5_000,
  /** How often a link sends a heartbeat. */
  heartbeatIntervalMs: 200,
  /** Silence after which a peer is suspected (status `unreachable`). */
  unreachableAfterMs: 1_000,
  /** Silence after which a peer is declared down and death watches on it fire. */
  downAfterMs: 2_000,
  /** First delay before re-dialing a peer whose link closed. */
  reconnectBackoffMsMin: 50,
  /** Cap of the exponential re-dial delay. */
  reconnectBackoffMsMax: 2_000,
  /** Time allowed for the hello exchange on a new link. */
  handshakeTimeoutMs: 5_000,
  /** Time allowed for a TCP connection to complete its HTTP upgrade to WebSocket; past it the socket is destroyed. */
  upgradeTimeoutMs: 10_000,
  /** Open connections (TCP, any state) a listener holds; past it new ones are closed at once. */
  connectionsMax: 4_096,
  /** Open connections from one IP address (Kafka's max.connections.per.ip). */
  connectionsPerAddressMax: 1_024,
  /** Bytes waiting for one client (queued and in the socket) past which it is muted: its requests are not read. */
  clientMuteBytes: 2 * MiB,
  /** Bytes queued for one client past which it is disconnected and its queue dropped. */
  clientPendingBytesMax: 16 * MiB,
  /** How long a client may stay muted (not reading its replies) before it is disconnected. */
  clientMutedMsMax: 15_000,
  /** Asks one client may have unanswered; past it a new ask is refused (THROTTLING_QUOTA_EXCEEDED). */
  clientAsksInFlightMax: 1_024,
  /** An unanswered ask older than this no longer counts against clientAsksInFlightMax. */
  clientAskAgeMsMax: 120_000,
  /** Distinct refusals logged per link (one line each); past it they are only counted. */
  refusalLogKeysPerLinkMax: 32,
  /** Characters of a peer's error message kept (logs, rejected asks). */
  errorMessageCharsMax: 512,
} as const;

export type RuntimeLimits = { -readonly [K in keyof typeof runtimeLimitsDefault]: number };

export function resolveLimits(overrides: Partial<RuntimeLimits> = {}): RuntimeLimits {
  const limits: RuntimeLimits = { ...runtimeLimitsDefault, ...overrides };
  assertLimits(limits);
  return limits;
}

export function assertLimits(limits: RuntimeLimits): void {
  assert(limits.frameBytesTarget <= limits.frameBytesMax, 'frameBytesTarget must not exceed frameBytesMax');
  assert(limits.frameBytesMax <= limits.linkPendingBytesMax, 'a whole frame must fit in the pending bound');
  assert(limits.mailboxDepthMax > 0, 'mailboxDepthMax must be positive');
  assert(limits.heartbeatIntervalMs < limits.unreachableAfterMs, 'heartbeats must come more often than suspicion');
  assert(limits.unreachableAfterMs <= limits.downAfterMs, 'a peer is suspected before it is declared down');
  assert(limits.downAfterMs >= 2 * limits.heartbeatIntervalMs, 'down needs at least two missed heartbeats');
  assert(limits.reconnectBackoffMsMin <= limits.reconnectBackoffMsMax, 'backoff min must not exceed max');
  assert(limits.frameBytesMax <= limits.clientPendingBytesMax, 'a whole frame must fit in a client\'s queue');
  assert(limits.clientMuteBytes < limits.clientPendingBytesMax, 'a client is muted before it is disconnected');
  assert(limits.connectionsPerAddressMax <= limits.connectionsMax, 'per-address connections are part of all connections');
  assert(limits.clientAsksInFlightMax > 0, 'a client may have an ask in flight');
}

assertLimits(runtimeLimitsDefault);
