/**
 * Partition reassignment (KIP-455, as KRaft's ReplicationControlManager does
 * it): moving a partition's replicas to a new list while it serves.
 *
 * Owns: `generateAlterPartitionReassignments` (start, replace or cancel),
 * `generateListPartitionReassignments`, and `completeReassignmentIfReady`,
 * which AlterPartition (partitions.ts) calls after every ISR change.
 *
 * How a move goes (Kafka's):
 * 1. Start: for target T and original replicas C, adding = T - C, removing =
 *    C - T, and the replica list becomes T followed by the removing ones (so
 *    T[0] is already the preferred leader, and T's order is kept for the
 *    end). One PartitionChange carries all three lists; the partition epoch
 *    goes up, the leader epoch does not.
 * 2. The adding replicas are now followers: their brokers see the partition
 *    in their image, create the log and fetch from the leader; the leader
 *    adds each to the ISR (AlterPartition) once it has caught up.
 * 3. Complete: the first ISR change that leaves every member of T in the ISR
 *    also sets replicas = T, ISR = ISR ∩ T and clears both lists, in the same
 *    record. If the leader is being removed, leadership moves to the first
 *    replica of T in the new ISR (leader epoch + 1) in that record too, so
 *    there is never a moment when the partition is led by a non-replica.
 *    When T is already inside the ISR at the start (a shrink, or a reorder)
 *    the start completes at once.
 * 4. Cancel (replicas null): back to the original list, replicas - adding;
 *    the adding ones leave the ISR; a leader among them hands over. Refused
 *    when no original replica is in the ISR (that would be an unclean
 *    election; Kafka makes one, we keep the data and say so).
 *
 * A reassignment is state in the metadata image (records), not in the
 * controller: a controller failover half way changes nothing, the next active
 * controller completes it on the next ISR change.
 *
 * Replacing a reassignment in progress starts from its original replicas
 * (replicas - adding), not from the merged list as Kafka does: replicas the
 * old move was adding that the new target leaves out are dropped at once
 * (they were never complete copies), and `addingReplicas` keeps naming every
 * replica without a full copy, so a later cancel never keeps one.
 *
 * Not done (as in Kafka's leader epoch rules before KIP-?): removing replicas
 * does not bump the leader epoch; a removed replica stops (StopReplica, its
 * log deleted) and leaves the ISR, so nothing it fetches can count.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import { isBrokerActive, isReassigning, originalReplicas, replay, topicByName, topicsSortedByName, targetReplicas, type MetadataImage, type PartitionState } from './image.ts';
import { buildPartitionChange } from './partitions.ts';
import type { ControlResult, ItemError, PartitionChangeRecord } from './records.ts';

/** Replicas one partition may be assigned (a bound on a request; Kafka has none, 1,000 is far above any real RF). */
export const reassignmentReplicasMax = 1_000;

export interface AlterPartitionReassignmentsCommand {
  readonly type: 'AlterPartitionReassignments';
  readonly reassignments: readonly {
    readonly topic: string;
    readonly partition: number;
    /** The target replica list (replicas[0] the preferred leader), or null to cancel the reassignment in progress. */
    readonly replicas: readonly number[] | null;
  }[];
}

export interface AlterPartitionReassignmentsReply {
  readonly type: 'AlterPartitionReassignmentsReply';
  readonly results: readonly (ItemError & { readonly topic: string; readonly partition: number })[];
}

export interface ListPartitionReassignmentsCommand {
  readonly type: 'ListPartitionReassignments';
  /** null = every partition with a reassignment in progress. Unknown topics and partitions are left out, as in Kafka. */
  readonly topics: readonly { readonly topic: string; readonly partitions: readonly number[] }[] | null;
}

export interface OngoingReassignment {
  readonly topic: string;
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly addingReplicas: readonly number[];
  readonly removingReplicas: readonly number[];
}

export interface ListPartitionReassignmentsReply {
  readonly type: 'ListPartitionReassignmentsReply';
  readonly reassignments: readonly OngoingReassignment[];
}

export function generateAlterPartitionReassignments(
  image: MetadataImage,
  command: AlterPartitionReassignmentsCommand,
): ControlResult<AlterPartitionReassignmentsReply> {
  const records: PartitionChangeRecord[] = [];
  let working = image;
  const seen = new Set<string>();
  const results = command.reassignments.map((request) => {
    const key = `${request.topic}\u0000${request.partition}`;
    const result = (errorCode: number, errorMessage: string | null) => ({ topic: request.topic, partition: request.partition, errorCode, errorMessage });
    if (seen.has(key)) return result(ErrorCode.INVALID_REQUEST, `${request.topic}-${request.partition} appears more than once in the request`);
    seen.add(key);
    const topic = topicByName(working, request.topic);
    const state = topic?.partitions[request.partition];
    if (topic === undefined || state === undefined) return result(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Unknown partition ${request.topic}-${request.partition}`);
    const outcome = request.replicas === null ? cancel(working, topic.topicId, `${topic.name}-${state.partition}`, state) : start(working, topic.topicId, `${topic.name}-${state.partition}`, state, request.replicas);
    if ('errorCode' in outcome) return result(outcome.errorCode, outcome.errorMessage);
    if (outcome.record !== null) {
      records.push(outcome.record);
      working = replay(working, outcome.record);
    }
    return result(0, null);
  });
  return { records, reply: { type: 'AlterPartitionReassignmentsReply', results } };
}

type Outcome = { readonly record: PartitionChangeRecord | null } | ItemError;

function start(image: MetadataImage, topicId: string, name: string, state: PartitionState, target: readonly number[]): Outcome {
  const problem = assignmentProblem(image, target);
  if (problem !== null) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `${name}: ${problem}` };
  const original = originalReplicas(state);
  const adding = target.filter((id) => !original.includes(id));
  const removing = original.filter((id) => !target.includes(id));
  // Nothing to add or remove: a reordering (a preferred-leader change), applied at once.
  const replicas = [...target, ...removing];
  if (sameList(replicas, state.replicas) && sameList(adding, state.addingReplicas) && sameList(removing, state.removingReplicas)) return { record: null };
  const isr = state.isr.filter((id) => replicas.includes(id));
  if (isr.length === 0) {
    return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `${name}: only replicas the new target drops are in the ISR ${state.isr.join(',')}; let the move in progress finish first` };
  }
  const started: PartitionState = { ...state, replicas, isr, addingReplicas: adding, removingReplicas: removing };
  return { record: changeTo(image, topicId, state, completed(started) ?? started) };
}

function cancel(image: MetadataImage, topicId: string, name: string, state: PartitionState): Outcome {
  if (!isReassigning(state)) return { errorCode: ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, errorMessage: `${name}: no reassignment in progress` };
  const original = originalReplicas(state);
  const isr = state.isr.filter((id) => original.includes(id));
  if (isr.length === 0) {
    return {
      errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
      errorMessage: `${name}: none of the original replicas ${original.join(',')} is in the ISR ${state.isr.join(',')}; cancelling now would need an unclean election (let the move finish, or reassign again)`,
    };
  }
  return { record: changeTo(image, topicId, state, { ...state, replicas: original, isr, addingReplicas: [], removingReplicas: [] }) };
}

/** Why `target` cannot be a replica list, or null. Brokers must be registered, not necessarily active (Kafka's rule). */
function assignmentProblem(image: MetadataImage, target: readonly number[]): string | null {
  if (target.length === 0) return 'the replica list is empty';
  if (target.length > reassignmentReplicasMax) return `more than ${reassignmentReplicasMax} replicas`;
  if (new Set(target).size !== target.length) return `duplicate replicas in ${target.join(',')}`;
  const unknown = target.filter((id) => !image.brokers.has(id));
  if (unknown.length > 0) return `broker ${unknown.join(',')} ${unknown.length === 1 ? 'is' : 'are'} not registered`;
  return null;
}

/**
 * The partition with its reassignment completed, when every target replica is
 * in its ISR; null when it is not done (or there is nothing in progress).
 */
function completed(state: PartitionState): PartitionState | null {
  if (!isReassigning(state)) return null;
  const target = targetReplicas(state);
  if (!target.every((id) => state.isr.includes(id))) return null;
  return { ...state, replicas: target, isr: state.isr.filter((id) => target.includes(id)), addingReplicas: [], removingReplicas: [] };
}

/**
 * After an ISR change (the `state` already shows it): the record that
 * completes the reassignment, or null. AlterPartition appends it to the ISR
 * change it made, so both commit in one entry.
 */
export function completeReassignmentIfReady(image: MetadataImage, topicId: string, state: PartitionState): PartitionChangeRecord | null {
  const done = completed(state);
  return done === null ? null : changeTo(image, topicId, state, done);
}

/**
 * One record from `state` to `wanted` (replicas, ISR, reassignment lists);
 * the leader stays if it is still an active ISR member of the new list, else
 * the first that is (buildPartitionChange's rules, never unclean).
 */
function changeTo(image: MetadataImage, topicId: string, state: PartitionState, wanted: PartitionState): PartitionChangeRecord {
  const election = buildPartitionChange({
    topicId,
    state: { ...state, replicas: wanted.replicas, isr: wanted.isr },
    targetIsr: wanted.isr,
    isAcceptableLeader: (id) => isBrokerActive(image, id),
    election: 'any',
    uncleanAllowed: false,
  });
  // buildPartitionChange compares with the ISR it was given: restate the ISR whenever it differs from the current one.
  const leader = election?.leader;
  const isrChanged = !sameList(wanted.isr, state.isr);
  return {
    type: 'PartitionChange',
    topicId,
    partition: state.partition,
    ...(leader !== undefined && leader !== state.leader ? { leader } : {}),
    ...(isrChanged ? { isr: [...wanted.isr] } : {}),
    replicas: [...wanted.replicas],
    addingReplicas: [...wanted.addingReplicas],
    removingReplicas: [...wanted.removingReplicas],
  };
}

export function generateListPartitionReassignments(
  image: MetadataImage,
  command: ListPartitionReassignmentsCommand,
): ControlResult<ListPartitionReassignmentsReply> {
  const reassignments: OngoingReassignment[] = [];
  const describe = (topic: string, state: PartitionState): void => {
    if (!isReassigning(state)) return;
    reassignments.push({ topic, partition: state.partition, replicas: state.replicas, addingReplicas: state.addingReplicas, removingReplicas: state.removingReplicas });
  };
  if (command.topics === null) {
    for (const topic of topicsSortedByName(image)) for (const state of topic.partitions) describe(topic.name, state);
  } else {
    for (const request of command.topics) {
      const topic = topicByName(image, request.topic);
      if (topic === undefined) continue;
      for (const partition of request.partitions) {
        const state = Object.hasOwn(topic.partitions, partition) ? topic.partitions[partition] : undefined;
        if (state !== undefined) describe(topic.name, state);
      }
    }
  }
  return { records: [], reply: { type: 'ListPartitionReassignmentsReply', reassignments } };
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
