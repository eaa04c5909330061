/**
 * Replica placement: which brokers host each new partition, in which order.
 *
 * Owns: `placeReplicas`, a pure function from (brokers, partition range,
 * replication factor) to replica lists. replicas[0] is the preferred leader.
 *
 * Algorithm: Kafka's classic `assignReplicasToBrokers` (AdminUtils), with a
 * fixed start index of 0 where Kafka picks a random one (we take no
 * randomness in actors/, and a fixed start makes placement reviewable):
 * - Brokers are sorted by id (rack-unaware), or arranged so consecutive
 *   brokers alternate racks (rack-aware: every broker has a rack).
 * - Partition p's first replica (its preferred leader) is broker[(p + start) mod n].
 *   So leaders spread evenly (counts differ by at most 1), and with brokers
 *   1..3 partition p is led by broker (p mod 3) + 1: for 3 partitions the
 *   leaders are 1, 2, 3 (case 2); for 2 partitions 1 and 2, and 3 leads none
 *   (case 1).
 * - Followers come after the leader at a shift that grows by one every n
 *   partitions, so the followers of one leader are not always the same brokers.
 *   Rack-aware placement skips a broker whose rack already holds a replica
 *   while some rack holds none, and a broker already chosen while some broker
 *   is not.
 * - Partition p's placement depends only on p (not on how many partitions are
 *   placed in one call), so CreatePartitions continues the same pattern.
 *
 * Trade-off: with a fixed start, partition 0 of every topic prefers the
 * lowest broker id; many single-partition topics would all prefer it. Callers
 * may pass `startIndex` (e.g. a seeded choice) to spread that; the default 0
 * is what DESIGN.md's (p mod 3) + 1 rule requires.
 *
 * Preconditions (asserted; callers validate user input first): at least one
 * broker, 1 <= replicationFactor <= broker count, unique broker ids.
 */
import { assert } from '../../../runtime/assert.ts';

export interface PlacementBroker {
  readonly brokerId: number;
  readonly rack: string | null;
}

export interface PlacementRequest {
  /** Candidate brokers (normally the active ones), in any order. */
  readonly brokers: readonly PlacementBroker[];
  /** The first partition number to place (the topic's current partition count for CreatePartitions). */
  readonly firstPartition: number;
  readonly partitionCount: number;
  readonly replicationFactor: number;
  /** Rotates which broker leads partition 0; default 0. */
  readonly startIndex?: number;
}

/** Returns one replica list per partition, for partitions firstPartition .. firstPartition + partitionCount - 1. */
export function placeReplicas(request: PlacementRequest): number[][] {
  const { brokers, firstPartition, partitionCount, replicationFactor } = request;
  const brokerCount = brokers.length;
  assert(brokerCount > 0, 'placement: no brokers');
  assert(replicationFactor >= 1, `placement: replication factor ${replicationFactor} < 1`);
  assert(replicationFactor <= brokerCount, `placement: replication factor ${replicationFactor} > ${brokerCount} brokers`);
  assert(new Set(brokers.map((b) => b.brokerId)).size === brokerCount, 'placement: duplicate broker ids');
  assert(partitionCount >= 0, 'placement: negative partition count');
  assert(firstPartition >= 0, 'placement: negative first partition');
  const startIndex = request.startIndex ?? 0;
  assert(Number.isInteger(startIndex) && startIndex >= 0, `placement: bad start index ${startIndex}`);

  const rackAware = brokers.every((b) => b.rack !== null);
  const arranged = rackAware ? rackAlternated(brokers) : [...brokers].sort((a, b) => a.brokerId - b.brokerId);
  const rackCount = new Set(arranged.map((b) => b.rack)).size;

  const assignments: number[][] = [];
  for (let p = firstPartition; p < firstPartition + partitionCount; p++) {
    const replicaShift = Math.floor(p / brokerCount) + startIndex;
    const firstIndex = (p + startIndex) % brokerCount;
    const leader = arranged[firstIndex];
    assert(leader !== undefined, 'placement: leader index out of range');
    if (!rackAware) {
      const replicas = [leader.brokerId];
      for (let j = 0; j < replicationFactor - 1; j++) {
        const follower = arranged[followerIndex(firstIndex, replicaShift, j, brokerCount)];
        assert(follower !== undefined, 'placement: follower index out of range');
        replicas.push(follower.brokerId);
      }
      assignments.push(replicas);
      continue;
    }
    const replicas = [leader.brokerId];
    const racksUsed = new Set([leader.rack]);
    const brokersUsed = new Set([leader.brokerId]);
    // Bounded: the all-racks-used / all-brokers-used escapes guarantee a pick
    // within 2n probes of each follower slot (every broker is visited once per n).
    let k = 0;
    for (let j = 0; j < replicationFactor - 1; j++) {
      for (let probes = 0; ; probes++) {
        assert(probes < 2 * brokerCount, 'placement: rack-aware search did not terminate');
        const candidate = arranged[followerIndex(firstIndex, replicaShift * rackCount, k, brokerCount)];
        assert(candidate !== undefined, 'placement: candidate index out of range');
        k++;
        const rackOk = !racksUsed.has(candidate.rack) || racksUsed.size === rackCount;
        const brokerOk = !brokersUsed.has(candidate.brokerId) || brokersUsed.size === brokerCount;
        if (rackOk && brokerOk) {
          replicas.push(candidate.brokerId);
          racksUsed.add(candidate.rack);
          brokersUsed.add(candidate.brokerId);
          break;
        }
      }
    }
    assignments.push(replicas);
  }
  return assignments;
}

/** Kafka's replicaIndex: the j-th follower after the leader, skipping the leader itself. */
function followerIndex(firstIndex: number, shift: number, j: number, brokerCount: number): number {
  return (firstIndex + 1 + ((shift + j) % (brokerCount - 1))) % brokerCount;
}

/**
 * Brokers ordered so racks alternate: racks sorted by name, brokers within a
 * rack by id, then round-robin across racks (a1, b1, c1, a2, b2, ...).
 */
export function rackAlternated(brokers: readonly PlacementBroker[]): PlacementBroker[] {
  const byRack = new Map<string, PlacementBroker[]>();
  for (const broker of [...brokers].sort((a, b) => a.brokerId - b.brokerId)) {
    const rack = broker.rack ?? '';
    const list = byRack.get(rack) ?? [];
    list.push(broker);
    byRack.set(rack, list);
  }
  const racks = [...byRack.keys()].sort();
  const arranged: PlacementBroker[] = [];
  for (let round = 0; arranged.length < brokers.length; round++) {
    for (const rack of racks) {
      const broker = byRack.get(rack)?.[round];
      if (broker !== undefined) arranged.push(broker);
    }
  }
  return arranged;
}
