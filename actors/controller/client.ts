/**
 * The controller client (`/controller-client`, on every broker node, voter or
 * not): this broker's link to the metadata quorum. KRaft's
 * BrokerLifecycleManager + BrokerMetadataListener + forwarding manager.
 *
 * Owns:
 *  (a) which voter is the active controller (a guess: the last that answered,
 *      or the leader a NotController named); unknown → known voters in turn.
 *      The known voters start as the bootstrap voters and grow with every
 *      leader a NotController names (a voter added by AddVoter, #17), dialed
 *      at the address its registration in our image gives; a removed one
 *      stays in the rotation and costs a timeout when it is gone (bounded by
 *      knownVotersMax);
 *  (b) this broker's registration (RegisterBroker with incarnation =
 *      node.incarnation, the advertised host/port, rack) and its heartbeats
 *      every brokerHeartbeatIntervalMs: wantFence until the image shows our own
 *      registration (then the next heartbeat unfences us), re-registration when
 *      the controller no longer knows our epoch (BROKER_ID_NOT_REGISTERED,
 *      STALE_BROKER_EPOCH);
 *  (b') controlled shutdown (KRaft's wantShutDown): `controlledShutdown(node)`
 *      makes every heartbeat from then on say wantFence (at once, not at the
 *      next interval), so the controller moves leadership off this broker and
 *      takes it out of the ISRs in one entry with the fence; the caller is told
 *      when this broker's own image shows it fenced and leading no partition
 *      (its replicas have become followers by then: the image went to the
 *      subscribers first). It never unfences again in this actor's life;
 *  (c) the broker's metadata image: FetchMetadata long-polls to the local
 *      /controller on a voter node (any voter otherwise, in turn on failure),
 *      replayed with the same `replayCommitted` the controller uses (a record
 *      that does not apply is skipped, logged and counted, never asserted on,
 *      exactly as the voters skip it). Subscribers
 *      (local actors) get `MetadataImageUpdated { image, previous }` after each
 *      fetch reply that changed the image (at entry boundaries only), the image
 *      object itself, never a copy; a new subscriber gets the current image at
 *      once, with `previous` the empty image, so a diff names everything;
 *  (d) ControllerCall forwarding: to the active controller, retrying
 *      NOT_CONTROLLER (following the leader hint), timeouts, network errors and
 *      retriable ControllerErrors with capped exponential backoff, until
 *      requestTimeoutMs; then ControllerCallFailed to the caller.
 *
 * Bounds: calls in flight (callsInFlightMax), subscribers (subscribersMax),
 * each attempt's ask timeout, the backoff range, the total time of a call.
 *
 * Never awaits: every ask is adapted into one of the actor's own messages.
 * Local only: it declares no `accepts`, so the runtime refuses every message
 * from the network (runtime/protocol.ts); its internal messages (timers,
 * adapted replies) are recognised by their type. Everything that arrives is
 * still validated (messages.ts): a bad ControllerCall gets
 * ControllerCallFailed(INVALID_REQUEST); a bad fetch reply (a voter's answer)
 * is dropped (and the fetch retried elsewhere).
 *
 * Supervision: restartWithBackoff. A restart starts over from an empty image
 * and registers again with the same incarnation, which the controller answers
 * with the same epoch (a retried registration writes nothing).
 */
import { ErrorCode, errorInfo, isRetriable, toErrorCode } from '../../protocol/errors.ts';
import { isInvalid } from '../../protocol/validate.ts';
import { assert, assertNever } from '../../runtime/assert.ts';
import type { ActorContext, Node, Terminated } from '../../runtime/node.ts';
import { refKey, sameRef, type Ref } from '../../runtime/ref.ts';
import { nodeIdOf, type BrokerConfig } from '../broker/config.ts';
import { clientPathOfBroker, controllerRef } from './actor.ts';
import {
  validateClientMessage,
  validateControllerRequestReply,
  validateFetchMetadataReply,
  type ControllerCallFailed,
  type ControllerCallReply,
  type ControllerClientMessage,
  type ControllerMessage,
  type ControllerRequestReply,
  type FetchMetadataReply,
  type GetMetadataReply,
  type MetadataImageUpdated,
} from './messages.ts';
import {
  buildMetadataResponse,
  emptyImage,
  inReplayScope,
  replayCommitted,
  type BrokerListener,
  type ControllerCommand,
  type ControllerReply,
  type MetadataImage,
} from './metadata/index.ts';

export const controllerClientName = 'controller-client';
export { clientPathOfBroker as controllerClientPath };

export const clientLimits = {
  /** One try at one voter. */
  attemptTimeoutMs: 2_000,
  /** Backoff between retries: doubles from min to max. */
  retryBackoffMsMin: 25,
  retryBackoffMsMax: 1_000,
  /** ControllerCalls forwarded at once; past it a call fails at once (THROTTLING_QUOTA_EXCEEDED, retriable). */
  callsInFlightMax: 1_024,
  /** requestTimeoutMs: total time a ControllerCall may take, retries included. */
  requestTimeoutMsDefault: 30_000,
  /** How long a FetchMetadata long-poll may wait at the voter. */
  fetchMaxWaitMs: 5_000,
  /** Extra ask time on top of the long-poll wait. */
  fetchAskMarginMs: 2_000,
  /** Local subscribers to image updates. */
  subscribersMax: 256,
} as const;

assert(clientLimits.retryBackoffMsMin <= clientLimits.retryBackoffMsMax, 'client: backoff min must not exceed max');

export const clientEvents = {
  registered: 'controller_client.registered',
  registrationFailed: 'controller_client.registration_failed',
  unfenced: 'controller_client.unfenced',
  controllerFound: 'controller_client.controller_found',
  heartbeatFailed: 'controller_client.heartbeat_failed',
  callFailed: 'controller_client.call_failed',
  badInput: 'controller_client.bad_input',
  snapshotLoaded: 'controller_client.snapshot_loaded',
  recordsSkipped: 'controller_client.records_skipped',
  shutdownStarted: 'controller_client.controlled_shutdown_started',
  shutdownReady: 'controller_client.controlled_shutdown_ready',
} as const;

export type ControllerClientOptions = {
  config: BrokerConfig;
  /** This broker's other listeners (the Kafka listener) with their advertised addresses, registered with the controller. */
  listeners?: readonly BrokerListener[];
  /** Total time of a ControllerCall (default clientLimits.requestTimeoutMsDefault). */
  requestTimeoutMs?: number;
};

// ---------------------------------------------------------------- internal messages

type CallPurpose = 'external' | 'register' | 'heartbeat';

type Internal =
  | { type: 'Start'; generation: number }
  | { type: 'CallReplied'; generation: number; callId: number; target: number; reply: unknown }
  | { type: 'CallAttemptFailed'; generation: number; callId: number; target: number; errorCode: number; errorMessage: string }
  | { type: 'RetryCall'; generation: number; callId: number }
  | { type: 'HeartbeatDue'; generation: number }
  | { type: 'RegisterDue'; generation: number }
  | { type: 'FetchReplied'; generation: number; voter: number; reply: unknown }
  | { type: 'FetchFailed'; generation: number; voter: number; errorCode: number; errorMessage: string }
  | { type: 'FetchDue'; generation: number }
  /** From controlledShutdown(), on this node only (a function cannot cross the wire). */
  | { type: 'ShutDown'; generation: number; done: (outcome: ControlledShutdownOutcome) => void };

/**
 * Why a controlled shutdown may go on to stop the broker:
 *  - 'fenced': the fence committed and this broker's image shows it fenced and leading no partition;
 *  - 'not-registered': it never got a registration (nothing to move);
 *  - 'timed-out': the caller's bound passed first (no quorum, no controller answering).
 */
export type ControlledShutdownOutcome = 'fenced' | 'not-registered' | 'timed-out';

type Incoming = ControllerClientMessage | Internal;

/**
 * Internal messages are recognised by their type: `/controller-client` declares
 * no `accepts`, so the runtime delivers it nothing from the network
 * (runtime/protocol.ts); only this node's own code can send these types.
 */
const internalTypes: ReadonlySet<string> = new Set<Internal['type']>(['Start', 'CallReplied', 'CallAttemptFailed', 'RetryCall', 'HeartbeatDue', 'RegisterDue', 'FetchReplied', 'FetchFailed', 'FetchDue', 'ShutDown']);
function isInternal(message: unknown): message is Internal {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string' && internalTypes.has((message as { type: string }).type);
}

type Call = {
  id: number;
  purpose: CallPurpose;
  command: ControllerCommand;
  replyTo: Ref<ControllerCallReply> | null;
  deadlineMs: number;
  /** Attempt timeout for this call. */
  attemptTimeoutMs: number;
  attempts: number;
  lastErrorCode: number;
  lastErrorMessage: string;
};

type Registration =
  | { phase: 'unregistered' }
  | { phase: 'registering' }
  | { phase: 'registered'; brokerEpoch: number; unfenced: boolean };

type State = {
  generation: number;
  image: MetadataImage;
  /** The last metadata log offset (Raft index) replayed into `image`; 0 before the first entry. */
  position: number;
  subscribers: Map<string, Ref<MetadataImageUpdated>>;
  activeController: number | null;
  voterCursor: number;
  registration: Registration;
  heartbeatInFlight: boolean;
  calls: Map<number, Call>;
  nextCallId: number;
  fetchVoter: number;
  fetchFailures: number;
  /** Committed records replay skipped (they did not apply to the image), since this actor started. */
  recordsSkippedCount: number;
  /** Controlled shutdown asked: every heartbeat says wantFence. */
  shuttingDown: boolean;
  /** Callers of controlledShutdown() not told yet. */
  shutdownWaiters: ((outcome: ControlledShutdownOutcome) => void)[];
  /** The committed offset the last fetch reply named (the voter's highWatermark); -1 before one. */
  committedOffsetHeard: number;
  /** When (monotonic ms) a metadata fetch was last answered, and a heartbeat was last answered; -1: never. */
  fetchAnsweredMs: number;
  heartbeatAnsweredMs: number;
};

/**
 * What /ready and the metrics read of this actor (controllerClientStatus): a snapshot of its registration
 * and metadata position, made on demand from its live state (no copying per message).
 */
export type ControllerClientStatus = {
  readonly registration: 'unregistered' | 'registering' | 'registered';
  readonly brokerEpoch: number;
  /** The last heartbeat answer said this broker is not fenced. */
  readonly unfenced: boolean;
  /** Milliseconds since a heartbeat was last answered (Infinity: never). */
  readonly heartbeatAgeMs: number;
  /** The last metadata log offset replayed into the image. */
  readonly position: number;
  /** The committed offset the last fetch answer named (-1: none yet). */
  readonly committedOffsetHeard: number;
  /** Milliseconds since a metadata fetch was last answered (Infinity: never). */
  readonly fetchAgeMs: number;
  readonly activeControllerId: number;
  /** The current image itself (never mutated: replay makes new ones). */
  readonly image: MetadataImage;
  readonly shuttingDown: boolean;
};

/** Per node: how to read its controller client's status (the actor registers it at init). */
const statusReaders = new WeakMap<Node, () => ControllerClientStatus>();

/** The status of `node`'s /controller-client, or null when it has none (yet). Cheap: call it per probe or scrape. */
export function controllerClientStatus(node: Node): ControllerClientStatus | null {
  return statusReaders.get(node)?.() ?? null;
}

/** Voters the client keeps in its rotation (the bootstrap ones and those NotController replies named). */
const knownVotersMax = 64;

function backoffMs(attempts: number): number {
  return Math.min(clientLimits.retryBackoffMsMax, clientLimits.retryBackoffMsMin * 2 ** Math.max(0, attempts - 1));
}

/** Spawns `/controller-client` on a broker node. */
export function spawnControllerClient(node: Node, options: ControllerClientOptions): Ref<ControllerClientMessage> {
  const { config } = options;
  const brokerId = config.brokerId;
  /** The voters this client knows of: the bootstrap voters, then leaders named by NotController replies. */
  const voters = [...config.controllerQuorumVoters.keys()].sort((a, b) => a - b);
  assert(voters.length > 0, 'client: at least one voter');
  for (const [voterId, url] of config.controllerQuorumVoters) if (voterId !== brokerId) node.addPeer(nodeIdOf(voterId), url);
  const isVoter = voters.includes(brokerId);
  /** A leader named by a voter's NotController: remember it (and dial it) if our image knows where it listens. */
  const learnVoter = (state: State, id: number): boolean => {
    if (voters.includes(id)) return true;
    if (voters.length >= knownVotersMax) return false;
    const broker = state.image.brokers.get(id);
    if (broker === undefined && id !== brokerId) return false;
    if (broker !== undefined && id !== brokerId) node.addPeer(nodeIdOf(id), `${advertised.protocol}//${broker.host}:${broker.port}`);
    voters.push(id);
    return true;
  };
  const requestTimeoutMs = options.requestTimeoutMs ?? clientLimits.requestTimeoutMsDefault;
  const advertised = new URL(node.url ?? config.advertiseUrl ?? `ws://${config.listenHost}:${config.listenPort}`);
  const host = advertised.hostname;
  const port = Number(advertised.port || (advertised.protocol === 'wss:' ? 443 : 80));
  let generation = 0;

  const now = (): number => node.clock.monotonicMs();

  // ---------------------------------------------------------------- calls

  const startCall = (
    ctx: ActorContext<Incoming>,
    state: State,
    purpose: CallPurpose,
    command: ControllerCommand,
    replyTo: Ref<ControllerCallReply> | null,
    totalMs: number,
    attemptTimeoutMs: number,
  ): void => {
    state.nextCallId += 1;
    const call: Call = {
      id: state.nextCallId,
      purpose,
      command,
      replyTo,
      deadlineMs: now() + totalMs,
      attemptTimeoutMs,
      attempts: 0,
      lastErrorCode: ErrorCode.REQUEST_TIMED_OUT,
      lastErrorMessage: 'no attempt finished',
    };
    state.calls.set(call.id, call);
    attempt(ctx, state, call);
  };

  const attempt = (ctx: ActorContext<Incoming>, state: State, call: Call): void => {
    const remainingMs = call.deadlineMs - now();
    if (remainingMs <= 0) {
      finishCall(ctx, state, call, { type: 'ControllerCallFailed', errorCode: call.lastErrorCode, errorMessage: `${call.command.type} gave up after ${call.attempts} attempts: ${call.lastErrorMessage}` });
      return;
    }
    call.attempts += 1;
    const target = state.activeController ?? voters[state.voterCursor % voters.length]!;
    const gen = state.generation;
    node
      .ask<ControllerMessage, ControllerRequestReply>(controllerRef(target), (replyTo) => ({ type: 'ControllerRequest', command: call.command, replyTo }), {
        timeoutMs: Math.max(1, Math.min(call.attemptTimeoutMs, remainingMs)),
      })
      .then(
        (reply) => node.tell<Incoming>(ctx.self, { type: 'CallReplied', generation: gen, callId: call.id, target, reply }),
        (err: unknown) =>
          node.tell<Incoming>(ctx.self, { type: 'CallAttemptFailed', generation: gen, callId: call.id, target, errorCode: toErrorCode(err), errorMessage: (err as Error)?.message ?? String(err) }),
      );
  };

  const retryLater = (ctx: ActorContext<Incoming>, state: State, call: Call, errorCode: number, errorMessage: string, delayMs = backoffMs(call.attempts)): void => {
    call.lastErrorCode = errorCode;
    call.lastErrorMessage = errorMessage;
    if (now() + delayMs >= call.deadlineMs) {
      finishCall(ctx, state, call, { type: 'ControllerCallFailed', errorCode, errorMessage: `${call.command.type} gave up after ${call.attempts} attempts: ${errorMessage}` });
      return;
    }
    ctx.scheduleOnce(delayMs, { type: 'RetryCall', generation: state.generation, callId: call.id });
  };

  const forgetController = (state: State, target: number): void => {
    if (state.activeController === target) state.activeController = null;
    if (voters[state.voterCursor % voters.length] === target) state.voterCursor += 1;
  };

  /**
   * Records the active controller. When it changes to a known one, subscribers hear of it at once
   * (the same image, a diff of nothing): a Metadata answer names the controller, and waiting for the
   * next metadata change could leave it naming a dead one for as long as the cluster is quiet.
   */
  const noteController = (ctx: ActorContext<Incoming>, state: State, controllerId: number | null): void => {
    const changed = state.activeController !== controllerId;
    state.activeController = controllerId;
    if (changed && controllerId !== null && state.image !== emptyImage) publish(ctx, state, state.image, state.image);
  };

  const onCallReplied = (ctx: ActorContext<Incoming>, state: State, msg: Extract<Internal, { type: 'CallReplied' }>): void => {
    const call = state.calls.get(msg.callId);
    if (call === undefined) return;
    const reply = validateControllerRequestReply(msg.reply, call.command.type);
    if (isInvalid(reply)) {
      ctx.log.warn({ target: msg.target, errorCode: reply.errorCode }, `${clientEvents.badInput}: ${reply.errorMessage}`);
      forgetController(state, msg.target);
      retryLater(ctx, state, call, ErrorCode.UNKNOWN_SERVER_ERROR, reply.errorMessage);
      return;
    }
    switch (reply.type) {
      case 'NotController': {
        const hint = reply.leaderId;
        if (hint !== null && learnVoter(state, hint) && hint !== msg.target) {
          noteController(ctx, state, hint);
          retryLater(ctx, state, call, ErrorCode.NOT_CONTROLLER, `voter ${msg.target} is not the controller (leader ${hint})`, 0);
        } else {
          // No leader known, or the leader is not active yet: wait a little.
          noteController(ctx, state, hint !== null && voters.includes(hint) ? hint : null);
          if (hint === null) state.voterCursor += 1;
          retryLater(ctx, state, call, ErrorCode.NOT_CONTROLLER, `voter ${msg.target} is not the controller (leader ${hint ?? 'unknown'})`);
        }
        return;
      }
      case 'ControllerError':
        if (isRetriable(reply.errorCode)) {
          retryLater(ctx, state, call, reply.errorCode, reply.errorMessage);
        } else {
          finishCall(ctx, state, call, { type: 'ControllerCallFailed', errorCode: reply.errorCode, errorMessage: reply.errorMessage });
        }
        return;
      default:
        if (state.activeController !== msg.target) ctx.log.info({ controllerId: msg.target }, clientEvents.controllerFound);
        noteController(ctx, state, msg.target);
        finishCall(ctx, state, call, reply);
    }
  };

  const onCallAttemptFailed = (ctx: ActorContext<Incoming>, state: State, msg: Extract<Internal, { type: 'CallAttemptFailed' }>): void => {
    const call = state.calls.get(msg.callId);
    if (call === undefined) return;
    forgetController(state, msg.target);
    const code = msg.errorCode;
    // Timeouts, network errors and missing actors are worth another voter; a bug (unknown server error) is not.
    if (isRetriable(code) || code === ErrorCode.BROKER_NOT_AVAILABLE) retryLater(ctx, state, call, code, msg.errorMessage);
    else finishCall(ctx, state, call, { type: 'ControllerCallFailed', errorCode: code, errorMessage: msg.errorMessage });
  };

  const finishCall = (ctx: ActorContext<Incoming>, state: State, call: Call, reply: ControllerReply | ControllerCallFailed): void => {
    state.calls.delete(call.id);
    switch (call.purpose) {
      case 'external':
        if (reply.type === 'ControllerCallFailed') ctx.log.warn({ command: call.command.type, errorCode: reply.errorCode }, `${clientEvents.callFailed}: ${reply.errorMessage}`);
        if (call.replyTo !== null) node.tell(call.replyTo, reply);
        return;
      case 'register':
        onRegisterReply(ctx, state, reply);
        return;
      case 'heartbeat':
        onHeartbeatReply(ctx, state, reply);
        return;
      default:
        assertNever(call.purpose, 'call purpose');
    }
  };

  // ---------------------------------------------------------------- registration and heartbeats

  const register = (ctx: ActorContext<Incoming>, state: State): void => {
    state.registration = { phase: 'registering' };
    startCall(
      ctx,
      state,
      'register',
      { type: 'RegisterBroker', brokerId, incarnationId: node.incarnation, host, port, rack: config.rack, listeners: [...(options.listeners ?? [])] },
      null,
      requestTimeoutMs,
      clientLimits.attemptTimeoutMs,
    );
  };

  const onRegisterReply = (ctx: ActorContext<Incoming>, state: State, reply: ControllerReply | ControllerCallFailed): void => {
    if (reply.type === 'RegisterBrokerReply' && reply.errorCode === 0) {
      state.registration = { phase: 'registered', brokerEpoch: reply.brokerEpoch, unfenced: false };
      ctx.log.info({ brokerEpoch: reply.brokerEpoch, controllerId: state.activeController }, clientEvents.registered);
      sendHeartbeat(ctx, state);
      return;
    }
    const errorCode = 'errorCode' in reply ? reply.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR;
    const errorMessage = 'errorMessage' in reply ? reply.errorMessage : null;
    ctx.log.warn({ errorCode, errorName: errorInfo(errorCode).name }, `${clientEvents.registrationFailed}: ${errorMessage ?? ''}`);
    state.registration = { phase: 'unregistered' };
    // DUPLICATE_BROKER_REGISTRATION: our previous incarnation's session has to expire first.
    ctx.scheduleOnce(Math.min(config.brokerHeartbeatIntervalMs, clientLimits.retryBackoffMsMax), { type: 'RegisterDue', generation: state.generation });
  };

  /**
   * wantFence until our image shows our own registration (we cannot lead before we have replayed the log up to it),
   * and for good once a controlled shutdown began.
   */
  const wantFence = (state: State, brokerEpoch: number): boolean => state.shuttingDown || state.image.brokers.get(brokerId)?.brokerEpoch !== brokerEpoch;

  const sendHeartbeat = (ctx: ActorContext<Incoming>, state: State): void => {
    const registration = state.registration;
    if (registration.phase !== 'registered' || state.heartbeatInFlight) return;
    state.heartbeatInFlight = true;
    const total = Math.max(config.brokerHeartbeatIntervalMs, config.brokerSessionTimeoutMs - config.brokerHeartbeatIntervalMs);
    startCall(
      ctx,
      state,
      'heartbeat',
      { type: 'BrokerHeartbeat', brokerId, brokerEpoch: registration.brokerEpoch, wantFence: wantFence(state, registration.brokerEpoch) },
      null,
      total,
      Math.min(clientLimits.attemptTimeoutMs, 2 * config.brokerHeartbeatIntervalMs),
    );
  };

  const onHeartbeatReply = (ctx: ActorContext<Incoming>, state: State, reply: ControllerReply | ControllerCallFailed): void => {
    state.heartbeatInFlight = false;
    const registration = state.registration;
    if (registration.phase !== 'registered') return;
    if (reply.type === 'BrokerHeartbeatReply' && reply.errorCode === 0) {
      state.heartbeatAnsweredMs = now();
      if (!reply.isFenced && !registration.unfenced && !state.shuttingDown) ctx.log.info({ brokerEpoch: registration.brokerEpoch }, clientEvents.unfenced);
      registration.unfenced = !reply.isFenced;
      // That heartbeat left before the shutdown began (it did not ask to be fenced): ask now, not an interval later.
      if (state.shuttingDown && !reply.isFenced) sendHeartbeat(ctx, state);
      return;
    }
    const errorCode = 'errorCode' in reply ? reply.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR;
    if (errorCode === ErrorCode.STALE_BROKER_EPOCH || errorCode === ErrorCode.BROKER_ID_NOT_REGISTERED) {
      ctx.log.warn({ errorCode, brokerEpoch: registration.brokerEpoch }, 'controller_client.reregistering');
      register(ctx, state);
      return;
    }
    ctx.log.warn({ errorCode, errorName: errorInfo(errorCode).name }, clientEvents.heartbeatFailed);
  };

  // ---------------------------------------------------------------- metadata log

  const fetchTarget = (state: State): number => (isVoter ? brokerId : voters[state.fetchVoter % voters.length]!);

  const fetch = (ctx: ActorContext<Incoming>, state: State): void => {
    const voter = fetchTarget(state);
    const gen = state.generation;
    node
      .ask<ControllerMessage, FetchMetadataReply>(
        controllerRef(voter),
        (replyTo) => ({ type: 'FetchMetadata', fromOffset: state.position, maxWaitMs: clientLimits.fetchMaxWaitMs, replyTo }),
        { timeoutMs: clientLimits.fetchMaxWaitMs + clientLimits.fetchAskMarginMs },
      )
      .then(
        (reply) => node.tell<Incoming>(ctx.self, { type: 'FetchReplied', generation: gen, voter, reply }),
        (err: unknown) => node.tell<Incoming>(ctx.self, { type: 'FetchFailed', generation: gen, voter, errorCode: toErrorCode(err), errorMessage: (err as Error)?.message ?? String(err) }),
      );
  };

  const onFetchReplied = (ctx: ActorContext<Incoming>, state: State, voter: number, raw: unknown): void => {
    const reply = validateFetchMetadataReply(raw);
    if (isInvalid(reply)) {
      ctx.log.warn({ voter, errorCode: reply.errorCode }, `${clientEvents.badInput}: ${reply.errorMessage}`);
      onFetchFailed(ctx, state);
      return;
    }
    state.fetchFailures = 0;
    state.committedOffsetHeard = reply.highWatermark;
    state.fetchAnsweredMs = now();
    const previous = state.image;
    let image = state.image;
    if (reply.snapshot !== null && reply.snapshot.offset > state.position) {
      image = reply.snapshot.image;
      state.position = reply.snapshot.offset;
      ctx.log.info({ offset: reply.snapshot.offset, voter }, clientEvents.snapshotLoaded);
    }
    let gap = false;
    // One replay scope for the whole reply: a Map is copied once per reply, not once per entry (only the last image is published).
    inReplayScope(() => {
      for (const entry of reply.records) {
        if (entry.offset <= state.position) continue;
        if (entry.offset !== state.position + 1) {
          ctx.log.warn({ voter, offset: entry.offset, position: state.position }, `${clientEvents.badInput}: gap in the metadata log`);
          gap = true;
          break;
        }
        if (entry.records.length > 0) {
          const replayed = replayCommitted(image, entry.records, entry.offset);
          image = replayed.image;
          if (replayed.skipped.length > 0) {
            state.recordsSkippedCount += replayed.skipped.length;
            ctx.log.warn({ voter, offset: entry.offset, skipped: replayed.skipped.length, recordsSkippedCount: state.recordsSkippedCount, first: replayed.skipped.slice(0, 3) }, clientEvents.recordsSkipped);
          }
        }
        state.position = entry.offset;
      }
    });
    if (image !== previous) publish(ctx, state, image, previous);
    if (gap) onFetchFailed(ctx, state);
    else fetch(ctx, state);
  };

  const onFetchFailed = (ctx: ActorContext<Incoming>, state: State): void => {
    state.fetchFailures += 1;
    if (!isVoter) state.fetchVoter += 1;
    ctx.scheduleOnce(backoffMs(state.fetchFailures), { type: 'FetchDue', generation: state.generation });
  };

  const publish = (ctx: ActorContext<Incoming>, state: State, image: MetadataImage, previous: MetadataImage): void => {
    state.image = image;
    const update: MetadataImageUpdated = { type: 'MetadataImageUpdated', image, previous, activeControllerId: state.activeController ?? -1 };
    for (const subscriber of state.subscribers.values()) node.tell(subscriber, update);
    // Our registration just became visible: the next heartbeat may unfence us, so send it now.
    const registration = state.registration;
    if (registration.phase === 'registered' && !registration.unfenced && !wantFence(state, registration.brokerEpoch) && wantFence({ ...state, image: previous }, registration.brokerEpoch)) {
      sendHeartbeat(ctx, state);
    }
    if (state.shuttingDown) settleShutdown(ctx, state);
  };

  // ---------------------------------------------------------------- controlled shutdown

  /** Our image shows this broker fenced (or not registered at all) and leading no partition. */
  const leftTheCluster = (image: MetadataImage): boolean => {
    const own = image.brokers.get(brokerId);
    if (own !== undefined && !own.fenced) return false;
    for (const topic of image.topicsById.values()) for (const partition of topic.partitions) if (partition.leader === brokerId) return false;
    return true;
  };

  const settleShutdown = (ctx: ActorContext<Incoming>, state: State): void => {
    if (state.shutdownWaiters.length === 0) return;
    if (!leftTheCluster(state.image)) return;
    const outcome: ControlledShutdownOutcome = state.registration.phase === 'registered' ? 'fenced' : 'not-registered';
    ctx.log.info({ outcome, position: state.position }, clientEvents.shutdownReady);
    for (const done of state.shutdownWaiters.splice(0)) done(outcome);
  };

  const onShutDown = (ctx: ActorContext<Incoming>, state: State, done: (outcome: ControlledShutdownOutcome) => void): void => {
    if (!state.shuttingDown) ctx.log.info({ registration: state.registration.phase }, clientEvents.shutdownStarted);
    state.shuttingDown = true;
    state.shutdownWaiters.push(done);
    // An in-flight heartbeat (sent without wantFence) is followed by one with it as soon as it is answered.
    sendHeartbeat(ctx, state);
    settleShutdown(ctx, state);
  };

  const metadata = (state: State, topics: readonly string[] | null): GetMetadataReply => ({
    type: 'GetMetadataReply',
    offset: state.position,
    response: buildMetadataResponse(state.image, { topics }, state.activeController ?? -1),
    brokers: [...state.image.brokers.values()].map((b) => ({ brokerId: b.brokerId, brokerEpoch: b.brokerEpoch, fenced: b.fenced })),
  });

  const statusOf = (state: State): ControllerClientStatus => {
    const registration = state.registration;
    const nowMs = now();
    return {
      registration: registration.phase,
      brokerEpoch: registration.phase === 'registered' ? registration.brokerEpoch : -1,
      unfenced: registration.phase === 'registered' && registration.unfenced,
      heartbeatAgeMs: state.heartbeatAnsweredMs < 0 ? Infinity : nowMs - state.heartbeatAnsweredMs,
      position: state.position,
      committedOffsetHeard: state.committedOffsetHeard,
      fetchAgeMs: state.fetchAnsweredMs < 0 ? Infinity : nowMs - state.fetchAnsweredMs,
      activeControllerId: state.activeController ?? -1,
      image: state.image,
      shuttingDown: state.shuttingDown,
    };
  };

  // ---------------------------------------------------------------- behaviour

  const onInternal = (ctx: ActorContext<Incoming>, state: State, msg: Internal): State => {
    // The caller of controlledShutdown() does not know the generation: any incarnation of this actor answers.
    if (msg.type === 'ShutDown') {
      onShutDown(ctx, state, msg.done);
      return state;
    }
    if (msg.generation !== state.generation) return state;
    switch (msg.type) {
      case 'Start':
        register(ctx, state);
        fetch(ctx, state);
        ctx.scheduleOnce(config.brokerHeartbeatIntervalMs, { type: 'HeartbeatDue', generation: state.generation });
        return state;
      case 'CallReplied':
        onCallReplied(ctx, state, msg);
        return state;
      case 'CallAttemptFailed':
        onCallAttemptFailed(ctx, state, msg);
        return state;
      case 'RetryCall': {
        const call = state.calls.get(msg.callId);
        if (call !== undefined) attempt(ctx, state, call);
        return state;
      }
      case 'HeartbeatDue':
        ctx.scheduleOnce(config.brokerHeartbeatIntervalMs, { type: 'HeartbeatDue', generation: state.generation });
        sendHeartbeat(ctx, state);
        return state;
      case 'RegisterDue':
        if (state.registration.phase === 'unregistered') register(ctx, state);
        return state;
      case 'FetchReplied':
        onFetchReplied(ctx, state, msg.voter, msg.reply);
        return state;
      case 'FetchFailed':
        ctx.log.debug({ voter: msg.voter, errorCode: msg.errorCode }, `controller_client.fetch_failed: ${msg.errorMessage}`);
        onFetchFailed(ctx, state);
        return state;
      case 'FetchDue':
        fetch(ctx, state);
        return state;
      default:
        return assertNever(msg, 'client internal message');
    }
  };

  return node.spawn<State, Incoming>(controllerClientName, {
    // Peers (operator tools and tests holding the cluster secret) may call the controller through
    // this broker and read its image; a client may not (admin calls go through /broker's allow-list).
    accepts: { peer: { ControllerCall: true, GetMetadata: true } },
    init: (ctx) => {
      generation += 1;
      // Not a tell: init runs inside spawn, before the node has registered this actor.
      ctx.scheduleOnce(0, { type: 'Start', generation });
      const initial: State = {
        generation,
        image: emptyImage,
        position: 0,
        subscribers: new Map(),
        activeController: null,
        voterCursor: voters.indexOf(brokerId) >= 0 ? voters.indexOf(brokerId) : 0,
        registration: { phase: 'unregistered' },
        heartbeatInFlight: false,
        calls: new Map(),
        nextCallId: 0,
        fetchVoter: 0,
        fetchFailures: 0,
        recordsSkippedCount: 0,
        shuttingDown: false,
        shutdownWaiters: [],
        committedOffsetHeard: -1,
        fetchAnsweredMs: -1,
        heartbeatAnsweredMs: -1,
      };
      // The handlers mutate this one state object (they return it), so the reader sees every change; a restart replaces it.
      statusReaders.set(node, () => statusOf(initial));
      return initial;
    },

    receive: (state, raw, ctx) => {
      if (isInternal(raw)) return onInternal(ctx, state, raw);
      const msg = validateClientMessage(raw);
      if (isInvalid(msg)) {
        ctx.log.warn({ errorCode: msg.errorCode }, `${clientEvents.badInput}: ${msg.errorMessage}`);
        if (msg.replyTo !== null) node.tell(msg.replyTo, { type: 'ControllerCallFailed', errorCode: msg.errorCode, errorMessage: msg.errorMessage });
        return state;
      }
      switch (msg.type) {
        case 'ControllerCall':
          if (state.calls.size >= clientLimits.callsInFlightMax) {
            node.tell(msg.replyTo, { type: 'ControllerCallFailed', errorCode: ErrorCode.THROTTLING_QUOTA_EXCEEDED, errorMessage: `${state.calls.size} controller calls in flight` });
            return state;
          }
          startCall(ctx, state, 'external', msg.command, msg.replyTo, requestTimeoutMs, clientLimits.attemptTimeoutMs);
          return state;
        case 'SubscribeMetadata': {
          const subscriber = msg.subscriber;
          if (subscriber.node !== node.nodeId) {
            ctx.log.warn({ subscriber }, `${clientEvents.badInput}: subscribers must be local actors`);
            return state;
          }
          const key = refKey(subscriber);
          if (!state.subscribers.has(key)) {
            if (state.subscribers.size >= clientLimits.subscribersMax) {
              ctx.log.warn({ subscriber, subscribersMax: clientLimits.subscribersMax }, `${clientEvents.badInput}: too many subscribers`);
              return state;
            }
            state.subscribers.set(key, subscriber);
            node.watch(ctx.self, subscriber);
          }
          node.tell(subscriber, { type: 'MetadataImageUpdated', image: state.image, previous: emptyImage, activeControllerId: state.activeController ?? -1 });
          return state;
        }
        case 'UnsubscribeMetadata':
          if (state.subscribers.delete(refKey(msg.subscriber))) node.unwatch(ctx.self, msg.subscriber);
          return state;
        case 'GetMetadata':
          node.tell(msg.replyTo, metadata(state, msg.topics));
          return state;
        case 'Terminated':
          for (const [key, subscriber] of state.subscribers) if (sameRef(subscriber, msg.ref)) state.subscribers.delete(key);
          return state;
        default:
          return assertNever(msg as never, 'client message');
      }
    },
  });
}

/**
 * Controlled shutdown (KRaft's wantShutDown): asks the local /controller-client
 * to heartbeat wantFence from now on, and resolves once this broker's image
 * shows it fenced and leading no partition, or after `timeoutMs` ('timed-out':
 * no quorum, or the actor restarted and forgot the request). The broker keeps
 * serving meanwhile: requests for partitions it no longer leads get
 * NOT_LEADER_OR_FOLLOWER, which clients retry after a metadata refresh.
 */
export function controlledShutdown(node: Node, timeoutMs: number): Promise<ControlledShutdownOutcome> {
  if (!node.hasActor(clientPathOfBroker)) return Promise.resolve('not-registered');
  return new Promise<ControlledShutdownOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: ControlledShutdownOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer = setTimeout(() => finish('timed-out'), timeoutMs);
    const refusal = node.tell<Incoming>({ node: node.nodeId, path: clientPathOfBroker }, { type: 'ShutDown', generation: 0, done: finish });
    if (refusal !== 0) finish('not-registered');
  });
}

/** The /controller-client of a broker. */
export function controllerClientRef(brokerId: number): Ref<ControllerClientMessage> {
  return { node: nodeIdOf(brokerId), path: clientPathOfBroker };
}

export type { Terminated };
