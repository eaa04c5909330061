/**
 * Partition leadership and ISR: the election rules, AlterPartition from
 * partition leaders, ElectLeaders, automatic preferred-leader rebalance, and
 * the leader moves a broker fence or unfence causes.
 *
 * Owns: `buildPartitionChange` (our PartitionChangeBuilder: the one place a
 * leader is chosen), `generateAlterPartition`, `generateElectLeaders`,
 * `generateAutoRebalance`, `generateIsrRemoval` (broker leaves every ISR) and
 * `generateOfflineElections` (a broker returned; lead what has no leader).
 *
 * Election rules (Kafka's, pre-ELR):
 * - A leader candidate is an active (registered, unfenced) broker in the ISR.
 *   The current leader stays if it still qualifies; otherwise the first
 *   qualifying replica in replica order leads, with leaderEpoch + 1.
 * - Preferred election picks replicas[0] when it qualifies.
 * - The ISR never becomes empty. When the last ISR member is fenced it stays
 *   in the ISR and the partition goes leaderless (LEADER_NOT_AVAILABLE): that
 *   broker holds every committed record, so when it returns it is elected
 *   cleanly. Emptying the ISR instead would leave only unclean choices.
 * - Unclean election (topic config unclean.leader.election.enable, or an
 *   UNCLEAN ElectLeaders) picks the first active replica in replica order when
 *   no ISR member is active, and resets the ISR to just that leader. It may
 *   lose committed records; that is the point of the flag.
 *
 * AlterPartition checks, in Kafka's order (ReplicationControlManager):
 *   sender's broker epoch (STALE_BROKER_EPOCH for the whole request);
 *   unknown topic id (UNKNOWN_TOPIC_ID) or partition (UNKNOWN_TOPIC_OR_PARTITION);
 *   leaderEpoch or partitionEpoch newer than ours (NOT_CONTROLLER: we are a
 *   stale controller); leaderEpoch older (FENCED_LEADER_EPOCH); sender is not
 *   the leader (INVALID_REQUEST); partitionEpoch older (INVALID_UPDATE_VERSION);
 *   ISR not a subset of replicas or without the leader (INVALID_REQUEST); an
 *   ISR member unregistered, fenced, or with a different broker epoch
 *   (INELIGIBLE_REPLICA).
 *
 * An ISR change that puts every target replica of a reassignment in the ISR
 * completes the reassignment in the same entry (reassignment.ts), possibly
 * moving leadership off a removed leader.
 *
 * Every generator here works on a running copy of the image (replaying what
 * it generated so far), so several items of one command see each other.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import { assert } from '../../../runtime/assert.ts';
import { effectiveTopicConfig } from './configs.ts';
import {
  isBrokerActive,
  replay,
  topicByName,
  topicsSortedByName,
  type MetadataImage,
  type PartitionState,
  type TopicImage,
} from './image.ts';
import { completeReassignmentIfReady } from './reassignment.ts';
import { noLeader, type ControlResult, type ItemError, type PartitionChangeRecord } from './records.ts';

// ---------------------------------------------------------------- the builder

export interface PartitionChangeInput {
  readonly topicId: string;
  readonly state: PartitionState;
  /** The ISR wanted after the change (default: unchanged). Never applied as empty; see the module header. */
  readonly targetIsr?: readonly number[];
  /** May this broker lead / stay in the ISR? Normally "active and not being fenced". */
  readonly isAcceptableLeader: (brokerId: number) => boolean;
  /** 'preferred' moves leadership to replicas[0] when it qualifies; 'any' keeps a qualifying leader. */
  readonly election: 'any' | 'preferred';
  readonly uncleanAllowed: boolean;
}

/** Returns the record for the change, or null when nothing would change. */
export function buildPartitionChange(input: PartitionChangeInput): PartitionChangeRecord | null {
  const { state, isAcceptableLeader } = input;
  let isr: readonly number[] = input.targetIsr ?? state.isr;
  if (isr.length === 0) isr = state.isr;
  const qualifies = (brokerId: number) => isr.includes(brokerId) && isAcceptableLeader(brokerId);

  let leader: number = noLeader;
  const preferred = state.replicas[0];
  if (input.election === 'preferred' && preferred !== undefined && qualifies(preferred)) {
    leader = preferred;
  } else if (state.leader !== noLeader && qualifies(state.leader)) {
    leader = state.leader;
  } else {
    leader = state.replicas.find(qualifies) ?? noLeader;
    if (leader === noLeader && input.uncleanAllowed) {
      const unclean = state.replicas.find(isAcceptableLeader);
      if (unclean !== undefined) {
        leader = unclean;
        isr = [unclean];
      }
    }
  }

  const leaderChanged = leader !== state.leader;
  const isrChanged = !sameMembers(isr, state.isr);
  if (!leaderChanged && !isrChanged) return null;
  return {
    type: 'PartitionChange',
    topicId: input.topicId,
    partition: state.partition,
    ...(leaderChanged ? { leader } : {}),
    ...(isrChanged ? { isr: [...isr] } : {}),
  };
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function uncleanAllowedFor(topic: TopicImage): boolean {
  return effectiveTopicConfig(topic.configs).uncleanLeaderElectionEnable;
}

// ---------------------------------------------------------------- broker fence / unfence

/**
 * Removes `brokerId` from every ISR and moves leadership away from it: what
 * fencing (or a new incarnation) needs. The broker's own fence record is the
 * caller's; the image here may still show the broker active, so it is
 * excluded explicitly.
 */
export function generateIsrRemoval(image: MetadataImage, brokerId: number): PartitionChangeRecord[] {
  const records: PartitionChangeRecord[] = [];
  const isAcceptableLeader = (id: number) => id !== brokerId && isBrokerActive(image, id);
  for (const topic of topicsSortedByName(image)) {
    const uncleanAllowed = uncleanAllowedFor(topic);
    for (const state of topic.partitions) {
      if (!state.isr.includes(brokerId) && state.leader !== brokerId) continue;
      const record = buildPartitionChange({
        topicId: topic.topicId,
        state,
        targetIsr: state.isr.filter((id) => id !== brokerId),
        isAcceptableLeader,
        election: 'any',
        uncleanAllowed,
      });
      if (record !== null) records.push(record);
    }
  }
  return records;
}

/**
 * Elects leaders for leaderless partitions, given who may lead. Used when a
 * broker is unfenced: the image may not show it active yet, so the caller's
 * predicate decides.
 */
export function generateOfflineElections(
  image: MetadataImage,
  isAcceptableLeader: (brokerId: number) => boolean,
): PartitionChangeRecord[] {
  const records: PartitionChangeRecord[] = [];
  for (const topic of topicsSortedByName(image)) {
    const uncleanAllowed = uncleanAllowedFor(topic);
    for (const state of topic.partitions) {
      if (state.leader !== noLeader) continue;
      const record = buildPartitionChange({
        topicId: topic.topicId,
        state,
        isAcceptableLeader,
        election: 'any',
        uncleanAllowed,
      });
      if (record !== null) records.push(record);
    }
  }
  return records;
}

// ---------------------------------------------------------------- AlterPartition

export interface IsrMember {
  readonly brokerId: number;
  /** The member's broker epoch as the leader saw it (from its fetches), or -1 to skip the check. */
  readonly brokerEpoch: number;
}

export interface AlterPartitionCommand {
  readonly type: 'AlterPartition';
  /** The partition leader sending the request. */
  readonly brokerId: number;
  readonly brokerEpoch: number;
  readonly topics: readonly {
    readonly topicId: string;
    readonly partitions: readonly {
      readonly partition: number;
      readonly leaderEpoch: number;
      readonly partitionEpoch: number;
      readonly newIsr: readonly IsrMember[];
    }[];
  }[];
}

export interface AlterPartitionResult extends ItemError {
  readonly partition: number;
  /** The partition's state after the change (or current state on error, when known; -1 otherwise). */
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly isr: readonly number[];
  readonly partitionEpoch: number;
}

export interface AlterPartitionReply extends ItemError {
  readonly type: 'AlterPartitionReply';
  readonly topics: readonly { readonly topicId: string; readonly partitions: readonly AlterPartitionResult[] }[];
}

export function generateAlterPartition(
  image: MetadataImage,
  command: AlterPartitionCommand,
): ControlResult<AlterPartitionReply> {
  const sender = image.brokers.get(command.brokerId);
  if (sender === undefined || sender.brokerEpoch !== command.brokerEpoch) {
    return {
      records: [],
      reply: {
        type: 'AlterPartitionReply',
        errorCode: ErrorCode.STALE_BROKER_EPOCH,
        errorMessage: `Broker ${command.brokerId} epoch ${command.brokerEpoch} is not the registered one (${sender?.brokerEpoch ?? 'none'})`,
        topics: [],
      },
    };
  }
  const records: PartitionChangeRecord[] = [];
  let working = image;
  const topics = command.topics.map((topicRequest) => {
    const partitions = topicRequest.partitions.map((request): AlterPartitionResult => {
      const topic = working.topicsById.get(topicRequest.topicId);
      const state = topic?.partitions[request.partition];
      const fail = (errorCode: number, errorMessage: string): AlterPartitionResult => ({
        partition: request.partition,
        errorCode,
        errorMessage,
        leader: state?.leader ?? noLeader,
        leaderEpoch: state?.leaderEpoch ?? -1,
        isr: state?.isr ?? [],
        partitionEpoch: state?.partitionEpoch ?? -1,
      });
      if (topic === undefined) return fail(ErrorCode.UNKNOWN_TOPIC_ID, `Unknown topic id ${topicRequest.topicId}`);
      const name = `${topic.name}-${request.partition}`;
      if (state === undefined) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Unknown partition ${name}`);
      if (request.leaderEpoch > state.leaderEpoch || request.partitionEpoch > state.partitionEpoch) {
        return fail(ErrorCode.NOT_CONTROLLER, `${name}: request epochs are newer than this controller's`);
      }
      if (request.leaderEpoch < state.leaderEpoch) {
        return fail(ErrorCode.FENCED_LEADER_EPOCH, `${name}: leader epoch ${request.leaderEpoch} < current ${state.leaderEpoch}`);
      }
      if (command.brokerId !== state.leader) {
        return fail(ErrorCode.INVALID_REQUEST, `${name}: broker ${command.brokerId} is not the leader (${state.leader})`);
      }
      if (request.partitionEpoch < state.partitionEpoch) {
        return fail(
          ErrorCode.INVALID_UPDATE_VERSION,
          `${name}: partition epoch ${request.partitionEpoch} < current ${state.partitionEpoch}`,
        );
      }
      const newIsr = request.newIsr.map((m) => m.brokerId);
      if (new Set(newIsr).size !== newIsr.length || newIsr.some((id) => !state.replicas.includes(id))) {
        return fail(ErrorCode.INVALID_REQUEST, `${name}: ISR ${newIsr} is not a set of replicas ${state.replicas}`);
      }
      if (!newIsr.includes(state.leader)) {
        return fail(ErrorCode.INVALID_REQUEST, `${name}: ISR ${newIsr} does not include the leader ${state.leader}`);
      }
      for (const member of request.newIsr) {
        const broker = working.brokers.get(member.brokerId);
        const why =
          broker === undefined
            ? 'not registered'
            : broker.fenced
              ? 'fenced'
              : member.brokerEpoch !== -1 && member.brokerEpoch !== broker.brokerEpoch
                ? `broker epoch ${member.brokerEpoch} != registered ${broker.brokerEpoch}`
                : null;
        if (why !== null) {
          return fail(ErrorCode.INELIGIBLE_REPLICA, `${name}: replica ${member.brokerId} is ${why}`);
        }
      }
      const record = buildPartitionChange({
        topicId: topic.topicId,
        state,
        targetIsr: newIsr,
        isAcceptableLeader: (id) => isBrokerActive(working, id),
        election: 'any',
        uncleanAllowed: false,
      });
      // The leader is active (it passed the ISR checks) and stays in the ISR: only the ISR changes
      // (a reassignment it completes may move leadership, in a record of its own).
      assert(record === null || record.leader === undefined, `${name}: AlterPartition must not move leadership`);
      if (record !== null) {
        records.push(record);
        working = replay(working, record);
        // Every target replica of a reassignment in the ISR now: complete it in the same entry (reassignment.ts).
        const changed = working.topicsById.get(topic.topicId)?.partitions[request.partition];
        const completion = changed === undefined ? null : completeReassignmentIfReady(working, topic.topicId, changed);
        if (completion !== null) {
          records.push(completion);
          working = replay(working, completion);
        }
      }
      const after = working.topicsById.get(topic.topicId)?.partitions[request.partition];
      assert(after !== undefined, `${name}: vanished during AlterPartition`);
      return {
        partition: request.partition,
        errorCode: 0,
        errorMessage: null,
        leader: after.leader,
        leaderEpoch: after.leaderEpoch,
        isr: after.isr,
        partitionEpoch: after.partitionEpoch,
      };
    });
    return { topicId: topicRequest.topicId, partitions };
  });
  return { records, reply: { type: 'AlterPartitionReply', errorCode: 0, errorMessage: null, topics } };
}

// ---------------------------------------------------------------- ElectLeaders

export interface ElectLeadersCommand {
  readonly type: 'ElectLeaders';
  readonly electionType: 'PREFERRED' | 'UNCLEAN';
  /** null = every partition (results then leave out partitions that need no election, as Kafka does). */
  readonly topicPartitions: readonly { readonly topic: string; readonly partitions: readonly number[] }[] | null;
}

export interface ElectLeadersReply {
  readonly type: 'ElectLeadersReply';
  readonly results: readonly {
    readonly topic: string;
    readonly partitions: readonly (ItemError & { readonly partition: number })[];
  }[];
}

export function generateElectLeaders(image: MetadataImage, command: ElectLeadersCommand): ControlResult<ElectLeadersReply> {
  const records: PartitionChangeRecord[] = [];
  let working = image;
  const electAll = command.topicPartitions === null;
  const requests =
    command.topicPartitions ??
    topicsSortedByName(image).map((t) => ({ topic: t.name, partitions: t.partitions.map((p) => p.partition) }));
  const results = requests.map((request) => {
    const partitions: (ItemError & { partition: number })[] = [];
    for (const partition of request.partitions) {
      const outcome = electOne(working, request.topic, partition, command.electionType);
      if (outcome.record !== null) {
        records.push(outcome.record);
        working = replay(working, outcome.record);
      }
      if (electAll && outcome.errorCode === ErrorCode.ELECTION_NOT_NEEDED) continue;
      partitions.push({ partition, errorCode: outcome.errorCode, errorMessage: outcome.errorMessage });
    }
    return { topic: request.topic, partitions };
  });
  return { records, reply: { type: 'ElectLeadersReply', results } };
}

function electOne(
  image: MetadataImage,
  topicName: string,
  partition: number,
  electionType: 'PREFERRED' | 'UNCLEAN',
): ItemError & { record: PartitionChangeRecord | null } {
  const topic = topicByName(image, topicName);
  const state = topic?.partitions[partition];
  const name = `${topicName}-${partition}`;
  if (topic === undefined || state === undefined) {
    return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Unknown partition ${name}`, record: null };
  }
  const isAcceptableLeader = (id: number) => isBrokerActive(image, id);
  if (electionType === 'PREFERRED') {
    const preferred = state.replicas[0];
    if (state.leader === preferred) {
      return { errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: `${name}: preferred replica already leads`, record: null };
    }
    if (preferred === undefined || !state.isr.includes(preferred) || !isAcceptableLeader(preferred)) {
      return {
        errorCode: ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE,
        errorMessage: `${name}: preferred replica ${preferred} is not an active ISR member`,
        record: null,
      };
    }
    const record = buildPartitionChange({
      topicId: topic.topicId,
      state,
      isAcceptableLeader,
      election: 'preferred',
      uncleanAllowed: false,
    });
    return { errorCode: 0, errorMessage: null, record };
  }
  if (state.leader !== noLeader) {
    return { errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: `${name}: has leader ${state.leader}`, record: null };
  }
  const record = buildPartitionChange({
    topicId: topic.topicId,
    state,
    isAcceptableLeader,
    election: 'any',
    uncleanAllowed: true,
  });
  if (record === null || record.leader === undefined || record.leader === noLeader) {
    return {
      errorCode: ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
      errorMessage: `${name}: no active replica to elect`,
      record: null,
    };
  }
  return { errorCode: 0, errorMessage: null, record };
}

// ---------------------------------------------------------------- auto rebalance

export interface AutoRebalanceReply {
  readonly type: 'AutoRebalanceReply';
  readonly moved: readonly { readonly topic: string; readonly partition: number; readonly leader: number }[];
}

/**
 * auto.leader.rebalance.enable: moves leadership back to the preferred
 * replica wherever it is an active ISR member and not already leading. Kafka
 * waits for an imbalance ratio per broker; we move every such partition,
 * which is what a small cluster wants after a broker returns. The controller
 * calls this periodically (and may call it after an ISR expansion commits).
 */
export function generateAutoRebalance(image: MetadataImage): ControlResult<AutoRebalanceReply> {
  const records: PartitionChangeRecord[] = [];
  const moved: { topic: string; partition: number; leader: number }[] = [];
  for (const topic of topicsSortedByName(image)) {
    for (const state of topic.partitions) {
      const preferred = state.replicas[0];
      if (preferred === undefined || state.leader === preferred) continue;
      if (!state.isr.includes(preferred) || !isBrokerActive(image, preferred)) continue;
      const record = buildPartitionChange({
        topicId: topic.topicId,
        state,
        isAcceptableLeader: (id) => isBrokerActive(image, id),
        election: 'preferred',
        uncleanAllowed: false,
      });
      assert(record !== null && record.leader === preferred, `${topic.name}-${state.partition}: rebalance did not elect ${preferred}`);
      records.push(record);
      moved.push({ topic: topic.name, partition: state.partition, leader: preferred });
    }
  }
  return { records, reply: { type: 'AutoRebalanceReply', moved } };
}
