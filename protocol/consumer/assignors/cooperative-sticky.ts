/**
 * CooperativeStickyAssignor ("cooperative-sticky"): balanced, sticky, and
 * safe under the cooperative (incremental) rebalance protocol (KIP-429).
 *
 * Three steps, as Kafka's AbstractStickyAssignor + CooperativeStickyAssignor:
 *
 * 1. Resolve claims (Kafka's allSubscriptionsEqual): a member's
 *    `ownedPartitions` count only if its `generationId` is the highest any
 *    member reports (members without a generation count only while nobody has
 *    one). A partition claimed by two members of that generation is
 *    invalidated for both and treated as moving. Claims on topics the member no
 *    longer subscribes to, or partitions that no longer exist, are dropped.
 * 2. Assign.
 *    - All subscriptions equal: Kafka's constrainedAssign, exactly. With T
 *      partitions and N members, minQuota = floor(T/N), maxQuota = ceil(T/N),
 *      and T mod N members get maxQuota. Members (in member id order) keep up to
 *      maxQuota owned partitions while maxQuota slots remain, else up to
 *      minQuota; the rest of what they own is revoked. Unassigned partitions,
 *      sorted, fill members below minQuota round-robin (sorted by member id),
 *      then members at minQuota up to maxQuota.
 *    - Otherwise (our own general algorithm; Kafka's generalAssign reaches the
 *      same kind of result by a different search): keep every valid claim,
 *      give each unassigned partition (those with the fewest eligible members
 *      first) to the eligible member with the fewest partitions, then move
 *      partitions from a member to an eligible one with at least two fewer
 *      until no such move exists (Kafka's definition of balanced). Partitions
 *      the member did not own move before owned ones. Each move lowers the sum
 *      of squared counts, so the loop ends.
 * 3. Cooperative adjustment (CooperativeStickyAssignor.adjustAssignment):
 *    every partition that would change owner is removed from its new owner's
 *    assignment. Its old owner, not finding it in its own assignment, revokes
 *    it and rejoins; in that next rebalance nobody claims it and it goes to
 *    its new owner. So a partition is never owned by two members at once, and
 *    partitions that do not move keep flowing during the rebalance. We go one
 *    step further than Kafka: a partition that any other member claims, in any
 *    generation, is held back from a member that does not validly own it (Kafka
 *    trusts the generation filter, and a stale claim can then yield two owners
 *    for a moment). The claimant revokes it and the next rebalance hands it on.
 *
 * Why keep the member-id order instead of Kafka's HashMap order: the result
 * must be deterministic and the same on every client.
 */
import { assert } from '../../../runtime/assert.ts';
import {
  allPartitionsSorted,
  compareStrings,
  compareTopicPartitions,
  emptyAssignment,
  partitionExists,
  partitionKey,
  sortAssignment,
} from './types.ts';
import type { Assignor, AssignorMember, GroupAssignment, PartitionCountByTopic, TopicPartition } from './types.ts';

type ResolvedClaims = {
  /** memberId -> valid owned partitions, in the member's order, deduplicated. */
  readonly owned: Map<string, TopicPartition[]>;
  /** Partitions claimed by more than one member of the highest generation. */
  readonly multiplyClaimed: Set<string>;
  readonly allSubscriptionsEqual: boolean;
};

function byMemberId(a: AssignorMember, b: AssignorMember): number {
  return compareStrings(a.memberId, b.memberId);
}

function dedupe(partitions: readonly TopicPartition[]): TopicPartition[] {
  const seen = new Set<string>();
  const out: TopicPartition[] = [];
  for (const tp of partitions) {
    const key = partitionKey(tp);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(tp);
  }
  return out;
}

/** Step 1: which owned partitions count (Kafka's allSubscriptionsEqual). `members` sorted by member id. */
export function resolveClaims(members: readonly AssignorMember[], partitionCountByTopic: PartitionCountByTopic): ResolvedClaims {
  const owned = new Map<string, TopicPartition[]>();
  const multiplyClaimed = new Set<string>();
  const previousOwner = new Map<string, string>();
  let membersOfHighestGeneration: string[] = [];
  let maxGenerationId = -1;
  let firstTopics: Set<string> | null = null;
  let allSubscriptionsEqual = true;

  for (const member of members) {
    const topics = new Set(member.topics);
    if (firstTopics === null) firstTopics = topics;
    else if (topics.size !== firstTopics.size || [...topics].some((t) => !firstTopics!.has(t))) allSubscriptionsEqual = false;

    const claims: TopicPartition[] = [];
    owned.set(member.memberId, claims);
    const hasGeneration = member.generationId >= 0;
    if ((hasGeneration && member.generationId >= maxGenerationId) || (!hasGeneration && maxGenerationId === -1)) {
      if (hasGeneration && member.generationId > maxGenerationId) {
        // A newer generation: every claim seen so far is stale.
        previousOwner.clear();
        multiplyClaimed.clear();
        for (const dropped of membersOfHighestGeneration) owned.get(dropped)!.length = 0;
        membersOfHighestGeneration = [];
        maxGenerationId = member.generationId;
      }
      membersOfHighestGeneration.push(member.memberId);
      for (const tp of dedupe(member.ownedPartitions)) {
        if (!topics.has(tp.topic) || !partitionExists(tp, partitionCountByTopic)) continue;
        const key = partitionKey(tp);
        const other = previousOwner.get(key);
        previousOwner.set(key, member.memberId);
        if (other === undefined) {
          claims.push(tp);
        } else {
          const otherClaims = owned.get(other)!;
          const at = otherClaims.findIndex((o) => partitionKey(o) === key);
          if (at >= 0) otherClaims.splice(at, 1);
          multiplyClaimed.add(key);
        }
      }
    }
  }
  return { owned, multiplyClaimed, allSubscriptionsEqual };
}

type Assigned = { assignment: GroupAssignment; transferring: Map<string, { tp: TopicPartition; memberId: string }> };

/** Step 2, equal subscriptions: Kafka's constrainedAssign. `members` sorted by member id. */
function constrainedAssign(members: readonly AssignorMember[], claims: ResolvedClaims, partitionCountByTopic: PartitionCountByTopic): Assigned {
  const assignment = emptyAssignment(members);
  const transferring: Assigned['transferring'] = new Map();
  const allPartitions = allPartitionsSorted(members[0]!.topics, partitionCountByTopic);
  const memberCount = members.length;
  const minQuota = Math.floor(allPartitions.length / memberCount);
  const maxQuota = Math.ceil(allPartitions.length / memberCount);
  const expectedMembersOverMinQuota = allPartitions.length % memberCount;
  let membersOverMinQuota = 0;
  const revoked = new Set<string>();
  const assigned = new Set<string>();
  let underMinQuota: string[] = [];
  let exactlyMinQuota: string[] = [];

  for (const member of members) {
    const owned = claims.owned.get(member.memberId)!.filter((tp) => !claims.multiplyClaimed.has(partitionKey(tp)));
    const target = assignment.get(member.memberId)!;
    const keep = (count: number): void => {
      for (const tp of owned.slice(0, count)) {
        target.push(tp);
        assigned.add(partitionKey(tp));
      }
      for (const tp of owned.slice(count)) revoked.add(partitionKey(tp));
    };
    if (owned.length < minQuota) {
      keep(owned.length);
      underMinQuota.push(member.memberId);
    } else if (owned.length >= maxQuota && membersOverMinQuota < expectedMembersOverMinQuota) {
      membersOverMinQuota += 1;
      if (membersOverMinQuota === expectedMembersOverMinQuota) exactlyMinQuota = [];
      keep(maxQuota);
    } else {
      keep(minQuota);
      if (membersOverMinQuota < expectedMembersOverMinQuota) exactlyMinQuota.push(member.memberId);
    }
  }

  const unassigned = allPartitions.filter((tp) => !assigned.has(partitionKey(tp)));
  underMinQuota = underMinQuota.sort(compareStrings);
  exactlyMinQuota = exactlyMinQuota.sort(compareStrings);
  let cursor = 0; // Kafka's iterator over underMinQuota
  for (const tp of unassigned) {
    let memberId: string;
    if (cursor < underMinQuota.length) {
      memberId = underMinQuota[cursor]!;
      cursor += 1;
    } else if (underMinQuota.length > 0) {
      memberId = underMinQuota[0]!;
      cursor = 1;
    } else {
      assert(exactlyMinQuota.length > 0, 'sticky: an unfilled member remains for every unassigned partition');
      memberId = exactlyMinQuota.shift()!;
    }
    const target = assignment.get(memberId)!;
    target.push(tp);
    const key = partitionKey(tp);
    if (revoked.has(key) || claims.multiplyClaimed.has(key)) transferring.set(key, { tp, memberId });
    if (target.length === minQuota) {
      // Kafka's unfilledConsumerIter.remove(): the member just returned by the iterator.
      underMinQuota.splice(cursor - 1, 1);
      cursor -= 1;
      exactlyMinQuota.push(memberId);
    } else if (target.length === maxQuota) {
      membersOverMinQuota += 1;
    }
  }
  return { assignment, transferring };
}

/** Step 2, different subscriptions: keep claims, fill the least loaded, then balance. */
function generalAssign(members: readonly AssignorMember[], claims: ResolvedClaims, partitionCountByTopic: PartitionCountByTopic): GroupAssignment {
  const assignment = emptyAssignment(members);
  const subscribers = new Map<string, string[]>(); // topic -> member ids, sorted
  for (const member of members) {
    for (const topic of new Set(member.topics)) {
      if (!partitionCountByTopic.has(topic)) continue;
      const list = subscribers.get(topic) ?? [];
      list.push(member.memberId);
      subscribers.set(topic, list);
    }
  }
  const owner = new Map<string, string>();
  for (const member of members) {
    for (const tp of claims.owned.get(member.memberId)!) {
      if (claims.multiplyClaimed.has(partitionKey(tp))) continue;
      assignment.get(member.memberId)!.push(tp);
      owner.set(partitionKey(tp), member.memberId);
    }
  }
  const count = (memberId: string): number => assignment.get(memberId)!.length;
  const leastLoaded = (candidates: readonly string[]): string => {
    let best = candidates[0]!;
    for (const c of candidates) if (count(c) < count(best)) best = c;
    return best;
  };

  const unassigned = allPartitionsSorted(subscribers.keys(), partitionCountByTopic)
    .filter((tp) => !owner.has(partitionKey(tp)))
    .sort((a, b) => subscribers.get(a.topic)!.length - subscribers.get(b.topic)!.length || compareTopicPartitions(a, b));
  const newlyAssigned = new Set<string>();
  for (const tp of unassigned) {
    const memberId = leastLoaded(subscribers.get(tp.topic)!);
    assignment.get(memberId)!.push(tp);
    owner.set(partitionKey(tp), memberId);
    newlyAssigned.add(partitionKey(tp));
  }

  // Balance: move while some partition can go to an eligible member with at least two fewer.
  const movesMax = unassigned.length + [...owner.keys()].length * members.length + 1;
  for (let moves = 0; ; moves++) {
    assert(moves <= movesMax * movesMax, 'sticky: balancing terminates');
    const byLoad = [...members].sort((a, b) => count(b.memberId) - count(a.memberId) || compareStrings(a.memberId, b.memberId));
    let moved = false;
    for (const from of byLoad) {
      const partitions = [...assignment.get(from.memberId)!].sort(
        (a, b) => Number(newlyAssigned.has(partitionKey(b))) - Number(newlyAssigned.has(partitionKey(a))) || compareTopicPartitions(a, b),
      );
      for (const tp of partitions) {
        const to = leastLoaded(subscribers.get(tp.topic)!);
        if (count(to) >= count(from.memberId) - 1) continue;
        const source = assignment.get(from.memberId)!;
        source.splice(source.findIndex((o) => partitionKey(o) === partitionKey(tp)), 1);
        assignment.get(to)!.push(tp);
        moved = true;
        break;
      }
      if (moved) break;
    }
    if (!moved) break;
  }
  return assignment;
}

/** Kafka's computePartitionsTransferringOwnership: assigned to a member that did not own it, and owned by one that lost it. */
function transferringOwnership(members: readonly AssignorMember[], assignment: GroupAssignment): Assigned['transferring'] {
  const added = new Map<string, { tp: TopicPartition; memberId: string }>();
  const revoked = new Set<string>();
  for (const member of members) {
    const owned = new Set(member.ownedPartitions.map(partitionKey));
    const assigned = assignment.get(member.memberId)!;
    const assignedKeys = new Set(assigned.map(partitionKey));
    for (const tp of assigned) if (!owned.has(partitionKey(tp))) added.set(partitionKey(tp), { tp, memberId: member.memberId });
    for (const key of owned) if (!assignedKeys.has(key)) revoked.add(key);
  }
  for (const key of [...added.keys()]) if (!revoked.has(key)) added.delete(key);
  return added;
}

export function assignCooperativeSticky(members: readonly AssignorMember[], partitionCountByTopic: PartitionCountByTopic): GroupAssignment {
  if (members.length === 0) return new Map();
  const sorted = [...members].sort(byMemberId);
  const claims = resolveClaims(sorted, partitionCountByTopic);
  let result: Assigned;
  if (claims.allSubscriptionsEqual) {
    result = constrainedAssign(sorted, claims, partitionCountByTopic);
  } else {
    const assignment = generalAssign(sorted, claims, partitionCountByTopic);
    result = { assignment, transferring: transferringOwnership(sorted, assignment) };
  }
  // Step 3: a partition that changes owner is first revoked, and assigned in the next rebalance.
  for (const [key, { memberId }] of result.transferring) {
    const target = result.assignment.get(memberId)!;
    const at = target.findIndex((tp) => partitionKey(tp) === key);
    if (at >= 0) target.splice(at, 1);
  }
  // And, stricter than Kafka: nothing another member still claims (in any generation) goes to a
  // member that does not validly own it, so stale or conflicting claims never yield two owners.
  const claimants = new Map<string, Set<string>>();
  for (const member of sorted) {
    for (const tp of member.ownedPartitions) {
      const key = partitionKey(tp);
      claimants.set(key, (claimants.get(key) ?? new Set()).add(member.memberId));
    }
  }
  for (const [memberId, target] of result.assignment) {
    const validlyOwned = new Set(claims.owned.get(memberId)!.map(partitionKey).filter((key) => !claims.multiplyClaimed.has(key)));
    const kept = target.filter((tp) => {
      const key = partitionKey(tp);
      const others = [...(claimants.get(key) ?? [])].filter((m) => m !== memberId);
      return others.length === 0 || validlyOwned.has(key);
    });
    result.assignment.set(memberId, kept);
  }
  return sortAssignment(result.assignment);
}

export const cooperativeStickyAssignor: Assignor = {
  name: 'cooperative-sticky',
  supportedProtocols: ['eager', 'cooperative'],
  assign: assignCooperativeSticky,
};
