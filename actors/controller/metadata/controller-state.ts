/**
 * ControllerLogic: the pure core the controller actor wraps around Raft.
 *
 * Owns: the `ControllerCommand` union and `ReplyByCommand`, `ControllerState`
 * (committed image, latest speculative image, heartbeat soft state), and the
 * transitions `handleCommand`, `applyCommitted`, `becomeActive`,
 * `becomeInactive`, `tick`.
 *
 * How the actor uses it (the order matters, as in etcd's Ready):
 * 1. Every node applies each committed Raft entry (an array of records) with
 *    `applyCommitted(state, records, offset)`, in log order.
 * 2. On becoming Raft leader, the actor proposes a NoOp record and calls
 *    `becomeActive(state, nowMs)` only once that entry commits: then the
 *    committed image holds everything earlier leaders wrote. Before that, and
 *    on any node that is not active, commands get NOT_CONTROLLER.
 * 3. For each command: `handleCommand(state, command, nowMs)` returns the new
 *    state, the records, and the reply. Records (if any) go to Raft as ONE
 *    entry. The reply is sent once the log has committed up to the last entry
 *    proposed so far (this one's, if it had records): a reply without records
 *    may still describe effects of earlier uncommitted commands. If the entry
 *    never commits (leadership lost), the reply is dropped (or NOT_CONTROLLER
 *    is sent) and `becomeInactive` discards the speculative image.
 * 4. On a timer: `tick(state, nowMs)` fences brokers whose sessions expired;
 *    an `AutoRebalance` command, when auto.leader.rebalance.enable is on,
 *    moves leaders back to preferred replicas.
 * 5. The node death watch reports a broker's node down: `FenceBroker` with
 *    the epoch that node registered.
 *
 * Why a speculative image: commands are generated against the latest image,
 * including records proposed but not yet committed, so two CreateTopics of
 * one name, or two AllocateProducerIds, in flight together cannot both
 * succeed. KRaft does the same with its timeline data structures. Because an
 * image is immutable, dropping the speculation is just `latestImage =
 * committedImage`.
 *
 * Invariants: when inactive, or active with no entry outstanding
 * (`uncommittedEntryCount` 0), latestImage === committedImage; heartbeat times
 * exist only while active (a new active controller starts every session anew).
 */
import { assert, assertNever } from '../../../runtime/assert.ts';
import {
  brokerSessionTimeoutMsDefault,
  findExpiredBrokers,
  generateBrokerHeartbeat,
  generateFence,
  generateRegisterBroker,
  generateUnregisterBroker,
  type UnregisterBrokerCommand,
  type UnregisterBrokerReply,
  type BrokerHeartbeatCommand,
  type BrokerHeartbeatReply,
  type FenceBrokerReply,
  type RegisterBrokerCommand,
  type RegisterBrokerReply,
} from './brokers.ts';
import {
  generateAlterConfigs,
  generateDescribeConfigs,
  type AlterConfigsCommand,
  type AlterConfigsReply,
  type DescribeConfigsCommand,
  type DescribeConfigsReply,
} from './configs.ts';
import { emptyImage, isBrokerActive, replayBatch, replayCommitted, type MetadataImage, type SkippedRecord } from './image.ts';
import {
  generateAlterUserScramCredentials,
  generateDescribeUserScramCredentials,
  type AlterUserScramCredentialsCommand,
  type AlterUserScramCredentialsReply,
  type DescribeUserScramCredentialsCommand,
  type DescribeUserScramCredentialsReply,
} from './scram.ts';
import {
  generateCreateAcls,
  generateDeleteAcls,
  generateDescribeAcls,
  type CreateAclsCommand,
  type CreateAclsReply,
  type DeleteAclsCommand,
  type DeleteAclsReply,
  type DescribeAclsCommand,
  type DescribeAclsReply,
} from './acls.ts';
import {
  generateAlterPartition,
  generateAutoRebalance,
  generateElectLeaders,
  generateOfflineElections,
  type AlterPartitionCommand,
  type AlterPartitionReply,
  type AutoRebalanceReply,
  type ElectLeadersCommand,
  type ElectLeadersReply,
} from './partitions.ts';
import {
  generateAllocateProducerIds,
  type AllocateProducerIdsCommand,
  type AllocateProducerIdsReply,
} from './producer-ids.ts';
import type { ControlResult, MetadataRecord } from './records.ts';
import {
  generateAlterPartitionReassignments,
  generateListPartitionReassignments,
  type AlterPartitionReassignmentsCommand,
  type AlterPartitionReassignmentsReply,
  type ListPartitionReassignmentsCommand,
  type ListPartitionReassignmentsReply,
} from './reassignment.ts';
import {
  generateCreatePartitions,
  generateCreateTopics,
  generateDeleteTopics,
  topicDefaults,
  type CreatePartitionsCommand,
  type CreatePartitionsReply,
  type CreateTopicsCommand,
  type CreateTopicsReply,
  type DeleteTopicsCommand,
  type DeleteTopicsReply,
  type TopicDefaults,
} from './topics.ts';

/** Fence a broker now: its node was reported down, or an operator asked. */
export interface FenceBrokerCommand {
  readonly type: 'FenceBroker';
  readonly brokerId: number;
  /** Only this incarnation; null = whichever is registered. */
  readonly brokerEpoch: number | null;
}

/** Move leaders back to preferred replicas (auto.leader.rebalance.enable). */
export interface AutoRebalanceCommand {
  readonly type: 'AutoRebalance';
}

export type ControllerCommand =
  | RegisterBrokerCommand
  | BrokerHeartbeatCommand
  | FenceBrokerCommand
  | CreateTopicsCommand
  | DeleteTopicsCommand
  | CreatePartitionsCommand
  | DescribeConfigsCommand
  | AlterConfigsCommand
  | AlterPartitionCommand
  | ElectLeadersCommand
  | AutoRebalanceCommand
  | AllocateProducerIdsCommand
  | AlterPartitionReassignmentsCommand
  | ListPartitionReassignmentsCommand
  | UnregisterBrokerCommand
  | AlterUserScramCredentialsCommand
  | DescribeUserScramCredentialsCommand
  | CreateAclsCommand
  | DescribeAclsCommand
  | DeleteAclsCommand;

export interface ReplyByCommand {
  RegisterBroker: RegisterBrokerReply;
  BrokerHeartbeat: BrokerHeartbeatReply;
  FenceBroker: FenceBrokerReply;
  CreateTopics: CreateTopicsReply;
  DeleteTopics: DeleteTopicsReply;
  CreatePartitions: CreatePartitionsReply;
  DescribeConfigs: DescribeConfigsReply;
  AlterConfigs: AlterConfigsReply;
  AlterPartition: AlterPartitionReply;
  ElectLeaders: ElectLeadersReply;
  AutoRebalance: AutoRebalanceReply;
  AllocateProducerIds: AllocateProducerIdsReply;
  AlterPartitionReassignments: AlterPartitionReassignmentsReply;
  ListPartitionReassignments: ListPartitionReassignmentsReply;
  UnregisterBroker: UnregisterBrokerReply;
  AlterUserScramCredentials: AlterUserScramCredentialsReply;
  DescribeUserScramCredentials: DescribeUserScramCredentialsReply;
  CreateAcls: CreateAclsReply;
  DescribeAcls: DescribeAclsReply;
  DeleteAcls: DeleteAclsReply;
}

export type ControllerReply = ReplyByCommand[keyof ReplyByCommand];
export type ReplyFor<C extends ControllerCommand> = ReplyByCommand[C['type']];

export interface ControllerConfig {
  /** broker.session.timeout.ms */
  readonly sessionTimeoutMs: number;
  /** num.partitions, default.replication.factor */
  readonly topicDefaults: TopicDefaults;
  /** auto.leader.rebalance.enable (the actor schedules AutoRebalance only when true). */
  readonly autoLeaderRebalanceEnable: boolean;
}

export const controllerConfigDefault: ControllerConfig = Object.freeze({
  sessionTimeoutMs: brokerSessionTimeoutMsDefault,
  topicDefaults,
  autoLeaderRebalanceEnable: true,
});

export interface ControllerState {
  readonly config: ControllerConfig;
  readonly active: boolean;
  /** Everything committed, in log order. */
  readonly committedImage: MetadataImage;
  /** committedImage plus what this active controller proposed that has not committed yet. */
  readonly latestImage: MetadataImage;
  /** Entries this controller proposed (one per command or tick with records) that have not committed yet. */
  readonly uncommittedEntryCount: number;
  readonly lastHeartbeatMsByBroker: ReadonlyMap<number, number>;
  /** Committed records replay skipped since this state was made (replayCommitted): they did not apply. */
  readonly recordsSkippedCount: number;
}

export function initialControllerState(
  config: ControllerConfig = controllerConfigDefault,
  image: MetadataImage = emptyImage,
): ControllerState {
  assert(config.sessionTimeoutMs > 0, 'controller: sessionTimeoutMs must be positive');
  return Object.freeze({
    config,
    active: false,
    committedImage: image,
    latestImage: image,
    uncommittedEntryCount: 0,
    lastHeartbeatMsByBroker: new Map(),
    recordsSkippedCount: 0,
  });
}

/**
 * Applies one committed entry. While active, our own proposals are already in
 * latestImage; once none is outstanding, latestImage is the committed image
 * again (which also carries the applied offset).
 */
export function applyCommitted(state: ControllerState, records: readonly MetadataRecord[], offset: number): ControllerState {
  return applyCommittedEntry(state, records, offset).state;
}

/**
 * `applyCommitted`, also saying which records replay skipped (they did not
 * apply to the committed image: replayCommitted) so the caller can log them.
 */
export function applyCommittedEntry(
  state: ControllerState,
  records: readonly MetadataRecord[],
  offset: number,
): { readonly state: ControllerState; readonly skipped: readonly SkippedRecord[] } {
  const { image: committedImage, skipped } = replayCommitted(state.committedImage, records, offset);
  const uncommittedEntryCount = state.active ? Math.max(0, state.uncommittedEntryCount - 1) : 0;
  return {
    state: Object.freeze({
      ...state,
      committedImage,
      uncommittedEntryCount,
      latestImage: uncommittedEntryCount === 0 ? committedImage : state.latestImage,
      recordsSkippedCount: state.recordsSkippedCount + skipped.length,
    }),
    skipped,
  };
}

/** Call once this node's first entry as Raft leader has committed. Every active broker gets a fresh session. */
export function becomeActive(state: ControllerState, nowMs: number): ControllerState {
  const lastHeartbeatMsByBroker = new Map<number, number>();
  for (const broker of state.committedImage.brokers.values()) {
    if (!broker.fenced) lastHeartbeatMsByBroker.set(broker.brokerId, nowMs);
  }
  return Object.freeze({ ...state, active: true, latestImage: state.committedImage, uncommittedEntryCount: 0, lastHeartbeatMsByBroker });
}

/** Leadership lost: drop the speculation and the sessions. */
export function becomeInactive(state: ControllerState): ControllerState {
  return Object.freeze({
    ...state,
    active: false,
    latestImage: state.committedImage,
    uncommittedEntryCount: 0,
    lastHeartbeatMsByBroker: new Map(),
  });
}

export interface CommandOutcome<R> extends ControlResult<R> {
  readonly state: ControllerState;
}

export function handleCommand<C extends ControllerCommand>(
  state: ControllerState,
  command: C,
  nowMs: number,
): CommandOutcome<ReplyFor<C>> {
  assert(state.active, `controller: ${command.type} handled while not active`);
  const { result, heartbeats } = generate(state, command, nowMs);
  const proposed = result.records.length > 0;
  return {
    state: Object.freeze({
      ...state,
      latestImage: proposed ? replayBatch(state.latestImage, result.records) : state.latestImage,
      uncommittedEntryCount: state.uncommittedEntryCount + (proposed ? 1 : 0),
      lastHeartbeatMsByBroker: heartbeats,
    }),
    records: result.records,
    reply: result.reply as ReplyFor<C>,
  };
}

function generate(
  state: ControllerState,
  command: ControllerCommand,
  nowMs: number,
): { result: ControlResult<ControllerReply>; heartbeats: ReadonlyMap<number, number> } {
  const image = state.latestImage;
  const heartbeats = state.lastHeartbeatMsByBroker;
  switch (command.type) {
    case 'RegisterBroker': {
      const result = generateRegisterBroker(image, command, {
        nowMs,
        sessionTimeoutMs: state.config.sessionTimeoutMs,
        lastHeartbeatMs: heartbeats.get(command.brokerId),
      });
      return { result, heartbeats: result.reply.errorCode === 0 ? withEntry(heartbeats, command.brokerId, nowMs) : heartbeats };
    }
    case 'BrokerHeartbeat': {
      const result = generateBrokerHeartbeat(image, command);
      return { result, heartbeats: result.reply.errorCode === 0 ? withEntry(heartbeats, command.brokerId, nowMs) : heartbeats };
    }
    case 'FenceBroker': {
      const result = generateFence(image, command.brokerId, command.brokerEpoch);
      return { result, heartbeats: result.reply.fenced ? withoutEntry(heartbeats, command.brokerId) : heartbeats };
    }
    case 'CreateTopics':
      return { result: generateCreateTopics(image, command, state.config.topicDefaults), heartbeats };
    case 'DeleteTopics':
      return { result: generateDeleteTopics(image, command), heartbeats };
    case 'CreatePartitions':
      return { result: generateCreatePartitions(image, command), heartbeats };
    case 'DescribeConfigs':
      return { result: generateDescribeConfigs(image, command), heartbeats };
    case 'AlterConfigs': {
      // Turning unclean.leader.election.enable on must revive leaderless partitions that now
      // qualify (Kafka does this on a timer): elect on the image as it will be after the change.
      const result = generateAlterConfigs(image, command);
      if (result.records.length === 0) return { result, heartbeats };
      const after = replayBatch(image, result.records);
      const elections = generateOfflineElections(after, (id) => isBrokerActive(after, id));
      return { result: { records: [...result.records, ...elections], reply: result.reply }, heartbeats };
    }
    case 'AlterPartition':
      return { result: generateAlterPartition(image, command), heartbeats };
    case 'ElectLeaders':
      return { result: generateElectLeaders(image, command), heartbeats };
    case 'AutoRebalance':
      return { result: generateAutoRebalance(image), heartbeats };
    case 'AllocateProducerIds':
      return { result: generateAllocateProducerIds(image, command), heartbeats };
    case 'AlterPartitionReassignments':
      return { result: generateAlterPartitionReassignments(image, command), heartbeats };
    case 'ListPartitionReassignments':
      return { result: generateListPartitionReassignments(image, command), heartbeats };
    case 'UnregisterBroker': {
      const result = generateUnregisterBroker(image, command);
      return { result, heartbeats: result.reply.errorCode === 0 ? withoutEntry(heartbeats, command.brokerId) : heartbeats };
    }
    case 'AlterUserScramCredentials':
      return { result: generateAlterUserScramCredentials(image, command), heartbeats };
    case 'DescribeUserScramCredentials':
      return { result: generateDescribeUserScramCredentials(image, command), heartbeats };
    case 'CreateAcls':
      return { result: generateCreateAcls(image, command), heartbeats };
    case 'DescribeAcls':
      return { result: generateDescribeAcls(image, command), heartbeats };
    case 'DeleteAcls':
      return { result: generateDeleteAcls(image, command), heartbeats };
    default:
      return assertNever(command, 'controller command');
  }
}

export interface TickOutcome {
  readonly state: ControllerState;
  /** One entry's worth: the fences of every expired broker, in broker id order. */
  readonly records: readonly MetadataRecord[];
  readonly fencedBrokerIds: readonly number[];
}

/** Fences every broker whose session expired by `nowMs`. Their sessions end either way. */
export function tick(state: ControllerState, nowMs: number): TickOutcome {
  if (!state.active) return { state, records: [], fencedBrokerIds: [] };
  const expired = findExpiredBrokers(state.lastHeartbeatMsByBroker, nowMs, state.config.sessionTimeoutMs);
  if (expired.length === 0) return { state, records: [], fencedBrokerIds: [] };
  let image = state.latestImage;
  const records: MetadataRecord[] = [];
  const fencedBrokerIds: number[] = [];
  const heartbeats = new Map(state.lastHeartbeatMsByBroker);
  for (const brokerId of expired) {
    heartbeats.delete(brokerId);
    const result = generateFence(image, brokerId);
    if (!result.reply.fenced) continue;
    records.push(...result.records);
    fencedBrokerIds.push(brokerId);
    image = replayBatch(image, result.records);
  }
  return {
    state: Object.freeze({
      ...state,
      latestImage: image,
      uncommittedEntryCount: state.uncommittedEntryCount + (records.length > 0 ? 1 : 0),
      lastHeartbeatMsByBroker: heartbeats,
    }),
    records,
    fencedBrokerIds,
  };
}

function withEntry(map: ReadonlyMap<number, number>, key: number, value: number): ReadonlyMap<number, number> {
  const copy = new Map(map);
  copy.set(key, value);
  return copy;
}

function withoutEntry(map: ReadonlyMap<number, number>, key: number): ReadonlyMap<number, number> {
  if (!map.has(key)) return map;
  const copy = new Map(map);
  copy.delete(key);
  return copy;
}
