/**
 * Broker lifecycle: registration, heartbeats, fencing and unfencing.
 *
 * Owns: `generateRegisterBroker`, `generateBrokerHeartbeat`, `generateFence`,
 * `generateUnregisterBroker`, `findExpiredBrokers`, and
 * `brokerSessionTimeoutMsDefault`.
 *
 * Lifecycle (KRaft's): RegisterBroker --> registered, fenced (new brokerEpoch)
 *   --heartbeat wantFence=false--> active (unfenced; leader elections for
 *   leaderless partitions it can now lead)
 *   --session expired / node down / heartbeat wantFence=true--> fenced (out of
 *   every ISR it can leave, leadership moved away).
 *
 * Why registration leaves the broker fenced: a just-started broker has not yet
 * replayed the metadata log, so it cannot act as a leader. It heartbeats with
 * `wantFence: true` until its own image shows its registration with its new
 * brokerEpoch, then with `wantFence: false`; that heartbeat unfences it. (Kafka
 * compares metadata offsets; a broker seeing its own registration is the same
 * fact without sharing offsets.)
 *
 * Why a new incarnation leaves every ISR: a restarted process may have lost
 * unflushed records, so it must earn its way back through AlterPartition from
 * the leader after catching up, like Kafka's unclean-shutdown handling.
 *
 * Heartbeat times are controller soft state, not records: they are
 * meaningless on another controller (each new active controller gives every
 * broker a fresh session). The controller keeps `lastHeartbeatMsByBroker`
 * and asks `findExpiredBrokers` on each tick; time arrives as `nowMs`.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import { isBrokerActive, topicsSortedByName, type MetadataImage } from './image.ts';
import { generateIsrRemoval, generateOfflineElections } from './partitions.ts';
import type { BrokerListener, ControlResult, ItemError, MetadataRecord } from './records.ts';

function sameListeners(a: readonly BrokerListener[], b: readonly BrokerListener[]): boolean {
  return a.length === b.length && a.every((l, i) => l.name === b[i]!.name && l.host === b[i]!.host && l.port === b[i]!.port);
}

/** broker.session.timeout.ms here (Kafka's default is 9 s; our clusters are small and local). */
export const brokerSessionTimeoutMsDefault = 3_000;

// ---------------------------------------------------------------- RegisterBroker

export interface RegisterBrokerCommand {
  readonly type: 'RegisterBroker';
  readonly brokerId: number;
  /** New per process start; the same value on a retried request. */
  readonly incarnationId: string;
  readonly host: string;
  readonly port: number;
  readonly rack: string | null;
  /** Other listeners (the Kafka listener) with their advertised addresses. */
  readonly listeners?: readonly BrokerListener[];
}

export interface RegisterBrokerReply extends ItemError {
  readonly type: 'RegisterBrokerReply';
  /** The broker's epoch for heartbeats and AlterPartition; -1 on error. */
  readonly brokerEpoch: number;
}

export interface SessionContext {
  readonly nowMs: number;
  readonly sessionTimeoutMs: number;
  /** When this broker id last heartbeated (to this controller), if ever. */
  readonly lastHeartbeatMs: number | undefined;
}

export function generateRegisterBroker(
  image: MetadataImage,
  command: RegisterBrokerCommand,
  session: SessionContext,
): ControlResult<RegisterBrokerReply> {
  const reply = (errorCode: number, errorMessage: string | null, brokerEpoch: number): RegisterBrokerReply => ({
    type: 'RegisterBrokerReply',
    errorCode,
    errorMessage,
    brokerEpoch,
  });
  if (!Number.isInteger(command.brokerId) || command.brokerId < 0) {
    return { records: [], reply: reply(ErrorCode.INVALID_REQUEST, `Invalid broker id ${command.brokerId}`, -1) };
  }
  const existing = image.brokers.get(command.brokerId);
  if (existing !== undefined && existing.incarnationId === command.incarnationId) {
    if (existing.host === command.host && existing.port === command.port && existing.rack === command.rack && sameListeners(existing.listeners, command.listeners ?? [])) {
      // A retry of a registration that already committed: same answer, nothing written.
      return { records: [], reply: reply(0, null, existing.brokerEpoch) };
    }
  } else if (existing !== undefined && !existing.fenced && session.lastHeartbeatMs !== undefined) {
    if (session.nowMs - session.lastHeartbeatMs < session.sessionTimeoutMs) {
      return {
        records: [],
        reply: reply(
          ErrorCode.DUPLICATE_BROKER_REGISTRATION,
          `Broker ${command.brokerId} is registered by another live incarnation (${existing.incarnationId})`,
          -1,
        ),
      };
    }
  }
  const brokerEpoch = image.brokerEpochMax + 1;
  const records: MetadataRecord[] = [
    {
      type: 'RegisterBroker',
      brokerId: command.brokerId,
      incarnationId: command.incarnationId,
      brokerEpoch,
      host: command.host,
      port: command.port,
      rack: command.rack,
      ...(command.listeners !== undefined && command.listeners.length > 0 ? { listeners: command.listeners.map((l) => ({ name: l.name, host: l.host, port: l.port })) } : {}),
      fenced: true,
    },
    ...(existing === undefined ? [] : generateIsrRemoval(image, command.brokerId)),
  ];
  return { records, reply: reply(0, null, brokerEpoch) };
}

// ---------------------------------------------------------------- BrokerHeartbeat

export interface BrokerHeartbeatCommand {
  readonly type: 'BrokerHeartbeat';
  readonly brokerId: number;
  readonly brokerEpoch: number;
  /** true until the broker's image shows its own registration; true again to leave (controlled shutdown). */
  readonly wantFence: boolean;
}

export interface BrokerHeartbeatReply extends ItemError {
  readonly type: 'BrokerHeartbeatReply';
  /** Whether the broker is fenced once this heartbeat's records (if any) commit. */
  readonly isFenced: boolean;
}

/**
 * A heartbeat that is accepted (errorCode 0) renews the broker's session: the
 * caller then sets `lastHeartbeatMsByBroker[brokerId] = nowMs`.
 */
export function generateBrokerHeartbeat(
  image: MetadataImage,
  command: BrokerHeartbeatCommand,
): ControlResult<BrokerHeartbeatReply> {
  const broker = image.brokers.get(command.brokerId);
  if (broker === undefined) {
    return {
      records: [],
      reply: {
        type: 'BrokerHeartbeatReply',
        errorCode: ErrorCode.BROKER_ID_NOT_REGISTERED,
        errorMessage: `Broker ${command.brokerId} is not registered`,
        isFenced: true,
      },
    };
  }
  if (broker.brokerEpoch !== command.brokerEpoch) {
    return {
      records: [],
      reply: {
        type: 'BrokerHeartbeatReply',
        errorCode: ErrorCode.STALE_BROKER_EPOCH,
        errorMessage: `Broker ${command.brokerId} epoch ${command.brokerEpoch} != registered ${broker.brokerEpoch}`,
        isFenced: true,
      },
    };
  }
  const ok = (records: readonly MetadataRecord[], isFenced: boolean): ControlResult<BrokerHeartbeatReply> => ({
    records,
    reply: { type: 'BrokerHeartbeatReply', errorCode: 0, errorMessage: null, isFenced },
  });
  if (broker.fenced && !command.wantFence) return ok(generateUnfence(image, command.brokerId), false);
  if (!broker.fenced && command.wantFence) return ok(generateFence(image, command.brokerId).records, true);
  return ok([], broker.fenced);
}

/** Unfences a registered, fenced broker and elects it where a leaderless partition can now have a leader. */
export function generateUnfence(image: MetadataImage, brokerId: number): MetadataRecord[] {
  const broker = image.brokers.get(brokerId);
  if (broker === undefined || !broker.fenced) return [];
  return [
    { type: 'UnfenceBroker', brokerId, brokerEpoch: broker.brokerEpoch },
    ...generateOfflineElections(image, (id) => id === brokerId || isBrokerActive(image, id)),
  ];
}

// ---------------------------------------------------------------- fencing

export interface FenceBrokerReply {
  readonly type: 'FenceBrokerReply';
  /** False when there was nothing to do (unknown, already fenced, or a newer incarnation). */
  readonly fenced: boolean;
}

/**
 * Fences a broker: every partition it led gets a new leader (first active ISR
 * member in replica order, leaderEpoch + 1, or none), it leaves every ISR it
 * is not the last member of, then the FenceBrokerRecord. With `brokerEpoch`,
 * only that incarnation is fenced: a death-watch report about an old process
 * must not fence its successor.
 */
export function generateFence(
  image: MetadataImage,
  brokerId: number,
  brokerEpoch: number | null = null,
): ControlResult<FenceBrokerReply> {
  const broker = image.brokers.get(brokerId);
  if (broker === undefined || broker.fenced || (brokerEpoch !== null && brokerEpoch !== broker.brokerEpoch)) {
    return { records: [], reply: { type: 'FenceBrokerReply', fenced: false } };
  }
  return {
    records: [...generateIsrRemoval(image, brokerId), { type: 'FenceBroker', brokerId, brokerEpoch: broker.brokerEpoch }],
    reply: { type: 'FenceBrokerReply', fenced: true },
  };
}

// ---------------------------------------------------------------- UnregisterBroker

export interface UnregisterBrokerCommand {
  readonly type: 'UnregisterBroker';
  readonly brokerId: number;
  /** Unregister even a running broker, or one that still hosts replicas (they stay offline replicas). */
  readonly force: boolean;
}

export interface UnregisterBrokerReply extends ItemError {
  readonly type: 'UnregisterBrokerReply';
}

/**
 * Forgets a retired broker (`kactus cluster remove-broker`). Refused while it
 * still hosts replicas (move them first: a drain) or while it is running
 * (unfenced: stop it first, or it would just register again), unless forced.
 * Forced on a running broker, it is fenced first (leadership moves, it leaves
 * every ISR it can), in the same entry.
 */
export function generateUnregisterBroker(image: MetadataImage, command: UnregisterBrokerCommand): ControlResult<UnregisterBrokerReply> {
  const reply = (errorCode: number, errorMessage: string | null): UnregisterBrokerReply => ({ type: 'UnregisterBrokerReply', errorCode, errorMessage });
  const broker = image.brokers.get(command.brokerId);
  if (broker === undefined) return { records: [], reply: reply(ErrorCode.BROKER_ID_NOT_REGISTERED, `Broker ${command.brokerId} is not registered`) };
  if (!command.force) {
    const hosted = hostedReplicas(image, command.brokerId);
    if (hosted.count > 0) {
      return {
        records: [],
        reply: reply(
          ErrorCode.INVALID_REQUEST,
          `Broker ${command.brokerId} still hosts ${hosted.count} replica${hosted.count === 1 ? '' : 's'} (${hosted.examples.join(', ')}${hosted.count > hosted.examples.length ? ', ...' : ''}): move them off first (kactus partitions reassign --drain-broker ${command.brokerId}), or force`,
        ),
      };
    }
    if (!broker.fenced) return { records: [], reply: reply(ErrorCode.INVALID_REQUEST, `Broker ${command.brokerId} is running: stop it first, or force`) };
  }
  const fence = generateFence(image, command.brokerId).records;
  return {
    records: [...fence, { type: 'UnregisterBroker', brokerId: command.brokerId, brokerEpoch: broker.brokerEpoch }],
    reply: reply(0, null),
  };
}

/** How many partitions list `brokerId` as a replica, with the first few names. */
export function hostedReplicas(image: MetadataImage, brokerId: number, examplesMax = 3): { count: number; examples: string[] } {
  let count = 0;
  const examples: string[] = [];
  for (const topic of topicsSortedByName(image)) {
    for (const state of topic.partitions) {
      if (!state.replicas.includes(brokerId)) continue;
      count += 1;
      if (examples.length < examplesMax) examples.push(`${topic.name}-${state.partition}`);
    }
  }
  return { count, examples };
}

/**
 * Brokers whose session expired: last heartbeat at least `sessionTimeoutMs`
 * ago. Sorted by id. The caller passes only brokers it tracks (it drops a
 * broker's entry once it is fenced, and seeds one at registration).
 */
export function findExpiredBrokers(
  lastHeartbeatMsByBroker: ReadonlyMap<number, number>,
  nowMs: number,
  sessionTimeoutMs: number,
): number[] {
  const expired: number[] = [];
  for (const [brokerId, lastHeartbeatMs] of lastHeartbeatMsByBroker) {
    if (nowMs - lastHeartbeatMs >= sessionTimeoutMs) expired.push(brokerId);
  }
  return expired.sort((a, b) => a - b);
}
