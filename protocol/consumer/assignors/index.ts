/**
 * The assignors by protocol name, and the group leader's step: turn the
 * JoinGroup member list (subscriptions as bytes) into SyncGroup assignments
 * (bytes) with the selected assignor.
 *
 * Owns: `assignorsByName`, `assignForSync`. A member whose subscription bytes
 * do not decode gets an empty assignment and is listed in
 * `undecodableMemberIds` (for the leader to log): one bad member must not stop
 * the group from consuming.
 */
import { decodeSubscription, encodeAssignment } from '../consumer-protocol.ts';
import { cooperativeStickyAssignor } from './cooperative-sticky.ts';
import { rangeAssignor } from './range.ts';
import { roundRobinAssignor } from './round-robin.ts';
import type { Assignor, AssignorMember, PartitionCountByTopic } from './types.ts';

export type { Assignor, AssignorMember, GroupAssignment, PartitionCountByTopic, RebalanceProtocol, TopicPartition } from './types.ts';

export const assignorsByName: ReadonlyMap<string, Assignor> = new Map(
  [rangeAssignor, roundRobinAssignor, cooperativeStickyAssignor].map((a) => [a.name, a]),
);

export type SyncAssignments = {
  readonly assignments: { readonly memberId: string; readonly assignment: Uint8Array }[];
  readonly undecodableMemberIds: string[];
};

/** The leader's assignment for SyncGroup, from JoinGroupReply.members. */
export function assignForSync(
  assignor: Assignor,
  members: readonly { readonly memberId: string; readonly groupInstanceId: string | null; readonly metadata: Uint8Array }[],
  partitionCountByTopic: PartitionCountByTopic,
): SyncAssignments {
  const decoded: AssignorMember[] = [];
  const undecodableMemberIds: string[] = [];
  for (const m of members) {
    const subscription = decodeSubscription(m.metadata);
    if (!subscription.ok) {
      undecodableMemberIds.push(m.memberId);
      decoded.push({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, topics: [], ownedPartitions: [], generationId: -1, rackId: null });
      continue;
    }
    const s = subscription.value;
    decoded.push({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, topics: s.topics, ownedPartitions: s.ownedPartitions, generationId: s.generationId, rackId: s.rackId });
  }
  const assignment = assignor.assign(decoded, partitionCountByTopic);
  return {
    assignments: members.map((m) => ({
      memberId: m.memberId,
      assignment: encodeAssignment({ assignedPartitions: assignment.get(m.memberId) ?? [], userData: null }),
    })),
    undecodableMemberIds,
  };
}
