/**
 * The partition-assignor contract shared by range, roundrobin and
 * cooperative-sticky (Kafka's ConsumerPartitionAssignor, reduced to data).
 *
 * Owns: `TopicPartition`, `AssignorMember`, `Assignor`, and the helpers every
 * assignor uses (sorting members the way Kafka's MemberInfo does, sorting and
 * keying partitions).
 *
 * Invariants every assignor keeps (tested as properties):
 * - the output has an entry for every input member (possibly empty);
 * - each partition of a topic someone subscribes to (and that exists in
 *   `partitionCountByTopic`) is assigned to at most one member, and only to a
 *   member subscribed to its topic; eager assignors assign every such
 *   partition; the cooperative one may hold back partitions that must first
 *   be revoked by their owner (assigned in the next rebalance);
 * - each member's list is sorted by (topic, partition).
 * Assignors are pure and deterministic: the same input gives the same output,
 * whatever the order of `members`.
 *
 * Imports nothing outside this folder.
 */

export type TopicPartition = { readonly topic: string; readonly partition: number };

export type AssignorMember = {
  readonly memberId: string;
  /** group.instance.id of a static member; static members sort first (Kafka's MemberInfo order). */
  readonly groupInstanceId: string | null;
  /** Subscribed topics. */
  readonly topics: readonly string[];
  /** What the member owned in generation `generationId` (cooperative protocol; eager members send none). */
  readonly ownedPartitions: readonly TopicPartition[];
  /** The generation `ownedPartitions` belongs to; -1 when unknown. */
  readonly generationId: number;
  readonly rackId: string | null;
};

/** Partition count per topic that exists; topics absent here are ignored. */
export type PartitionCountByTopic = ReadonlyMap<string, number>;

/** memberId -> assigned partitions, sorted by (topic, partition). */
export type GroupAssignment = Map<string, TopicPartition[]>;

/** Kafka's RebalanceProtocol: eager revokes everything before a rebalance; cooperative only what moves. */
export type RebalanceProtocol = 'eager' | 'cooperative';

export interface Assignor {
  /** The protocol name members advertise in JoinGroup ("range", "roundrobin", "cooperative-sticky"). */
  readonly name: string;
  readonly supportedProtocols: readonly RebalanceProtocol[];
  assign(members: readonly AssignorMember[], partitionCountByTopic: PartitionCountByTopic): GroupAssignment;
}

/** Java's String.compareTo: UTF-16 code unit order, which is what JS `<` on strings does. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Kafka's MemberInfo.compareTo: static members first by instance id, then dynamic members by member id. */
export function compareMembers(a: AssignorMember, b: AssignorMember): number {
  if (a.groupInstanceId !== null && b.groupInstanceId !== null) {
    const byInstance = compareStrings(a.groupInstanceId, b.groupInstanceId);
    return byInstance !== 0 ? byInstance : compareStrings(a.memberId, b.memberId);
  }
  if (a.groupInstanceId !== null) return -1;
  if (b.groupInstanceId !== null) return 1;
  return compareStrings(a.memberId, b.memberId);
}

export function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  const byTopic = compareStrings(a.topic, b.topic);
  return byTopic !== 0 ? byTopic : a.partition - b.partition;
}

/** A string key for a partition, for Maps and Sets (topic names cannot contain NUL). */
export function partitionKey(tp: TopicPartition): string {
  return `${tp.topic}\u0000${tp.partition}`;
}

/** True if the partition exists in the cluster metadata the assignor was given. */
export function partitionExists(tp: TopicPartition, partitionCountByTopic: PartitionCountByTopic): boolean {
  const count = partitionCountByTopic.get(tp.topic);
  return count !== undefined && Number.isInteger(tp.partition) && tp.partition >= 0 && tp.partition < count;
}

/** Every partition of the given topics that exist, sorted by (topic, partition). */
export function allPartitionsSorted(topics: Iterable<string>, partitionCountByTopic: PartitionCountByTopic): TopicPartition[] {
  const sortedTopics = [...new Set(topics)].filter((t) => partitionCountByTopic.has(t)).sort(compareStrings);
  const partitions: TopicPartition[] = [];
  for (const topic of sortedTopics) {
    const count = partitionCountByTopic.get(topic) ?? 0;
    for (let partition = 0; partition < count; partition++) partitions.push({ topic, partition });
  }
  return partitions;
}

export function emptyAssignment(members: readonly AssignorMember[]): GroupAssignment {
  const assignment: GroupAssignment = new Map();
  for (const member of members) assignment.set(member.memberId, []);
  return assignment;
}

export function sortAssignment(assignment: GroupAssignment): GroupAssignment {
  for (const partitions of assignment.values()) partitions.sort(compareTopicPartitions);
  return assignment;
}
