/**
 * RoundRobinAssignor ("roundrobin"), as Kafka's RoundRobinAssignor.
 *
 * All partitions of all subscribed topics, sorted by (topic, partition), are
 * dealt to the members sorted as Kafka's MemberInfo sorts, in a circle; a
 * member not subscribed to a partition's topic is skipped for that partition
 * (the circle does not advance past the receiver). With identical
 * subscriptions the counts differ by at most one. Eager protocol.
 */
import { assert } from '../../../runtime/assert.ts';
import { allPartitionsSorted, compareMembers, emptyAssignment, sortAssignment } from './types.ts';
import type { Assignor, AssignorMember, GroupAssignment, PartitionCountByTopic } from './types.ts';

export function assignRoundRobin(members: readonly AssignorMember[], partitionCountByTopic: PartitionCountByTopic): GroupAssignment {
  const assignment = emptyAssignment(members);
  if (members.length === 0) return assignment;
  const circle = [...members].sort(compareMembers);
  const subscribed = circle.map((m) => new Set(m.topics));
  let next = 0;
  for (const tp of allPartitionsSorted(members.flatMap((m) => m.topics), partitionCountByTopic)) {
    // Some member subscribes to tp.topic (it came from a subscription), so this stops within one lap.
    let skipped = 0;
    while (!subscribed[next]!.has(tp.topic)) {
      next = (next + 1) % circle.length;
      skipped += 1;
      assert(skipped <= circle.length, 'roundrobin: a subscribed topic has a subscriber');
    }
    assignment.get(circle[next]!.memberId)!.push(tp);
    next = (next + 1) % circle.length;
  }
  return sortAssignment(assignment);
}

export const roundRobinAssignor: Assignor = {
  name: 'roundrobin',
  supportedProtocols: ['eager'],
  assign: assignRoundRobin,
};
