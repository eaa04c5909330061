/**
 * RangeAssignor ("range"), as Kafka's RangeAssignor without rack awareness.
 *
 * Per topic, independently: the members subscribed to it, sorted as Kafka's
 * MemberInfo sorts (static members by group.instance.id first, then dynamic
 * members by member id), split the partitions 0..n-1 into contiguous ranges;
 * with n partitions and m members each gets floor(n/m) and the first n mod m
 * members one more. Eager protocol: owned partitions are ignored.
 *
 * Why keep the per-topic independence: it co-partitions (partition p of two
 * topics with equal counts goes to the same member), which joins rely on; the
 * price is imbalance across many topics, which roundrobin avoids.
 */
import { compareMembers, emptyAssignment, sortAssignment } from './types.ts';
import type { Assignor, AssignorMember, GroupAssignment, PartitionCountByTopic } from './types.ts';

export function assignRange(members: readonly AssignorMember[], partitionCountByTopic: PartitionCountByTopic): GroupAssignment {
  const assignment = emptyAssignment(members);
  const topics = new Set(members.flatMap((m) => m.topics));
  for (const topic of topics) {
    const partitionCount = partitionCountByTopic.get(topic);
    if (partitionCount === undefined) continue;
    const subscribers = members.filter((m) => m.topics.includes(topic)).sort(compareMembers);
    const perMember = Math.floor(partitionCount / subscribers.length);
    const withExtra = partitionCount % subscribers.length;
    subscribers.forEach((member, i) => {
      const start = perMember * i + Math.min(i, withExtra);
      const length = perMember + (i < withExtra ? 1 : 0);
      const target = assignment.get(member.memberId)!;
      for (let partition = start; partition < start + length; partition++) target.push({ topic, partition });
    });
  }
  return sortAssignment(assignment);
}

export const rangeAssignor: Assignor = {
  name: 'range',
  supportedProtocols: ['eager'],
  assign: assignRange,
};
