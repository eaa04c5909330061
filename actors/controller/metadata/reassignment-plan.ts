/**
 * The rebalance planner: a balanced replica assignment computed from the
 * current one, for `kactus partitions reassign --plan` (issue #17, point 3).
 *
 * Owns: `planReassignment`, a pure function from (current replica lists,
 * brokers to place on, brokers to drain) to the partitions whose replica list
 * changes, in the shape of Kafka's reassignment JSON
 * (`{"version":1,"partitions":[{"topic","partition","replicas"}]}`, see
 * `reassignmentJson`), plus the figures a user reads before executing it
 * (replicas moved, preferred leaders changed, per-broker counts). No I/O, no
 * clock, no randomness: the same input gives the same plan.
 *
 * What "balanced" means (the guarantees the tests check):
 * - Each partition keeps its replication factor, with no broker twice.
 * - Every replica is on a broker of the input that is not drained: replicas
 *   on drained brokers or on brokers not in the input (dead, removed) move.
 * - Racks, the way placement.ts places new topics (rack-aware only when every
 *   broker placed on has a rack): no two replicas of one partition in one
 *   rack while a rack holds none of them. A current assignment that breaks
 *   this is repaired (one replica of the crowded rack moves).
 * - Replica counts per broker differ by at most 1, and so do preferred-leader
 *   (replicas[0]) counts, wherever the constraints allow it (racks of unequal
 *   sizes can force a broker to hold more; see "Limits" below).
 *
 * Fewest moves. Moving a replica copies its whole log; changing the order of
 * a replica list costs a preferred-leader election. So the plan works in
 * three phases, each of which only ever does what the one before left
 * necessary:
 * 1. Holes: replicas on drained or unknown brokers, and the extra replica of
 *    a rack that holds two while a rack holds none, are taken off. Each hole
 *    is filled with the allowed broker (not already a replica, rack rule
 *    kept) holding the fewest replicas (then the fewest of that topic, then
 *    the lowest id). If the preferred leader was taken off, the next replica
 *    moves up to lead (it has the data) and the new one goes to the end.
 * 2. Balance: while some broker holds at least 2 replicas more than another,
 *    replicas move from the fuller toward the emptier along the cheapest
 *    chain, in this order: (a) a free chain, where each step re-places a
 *    replica phase 1 or an earlier step placed (it moves anyway), so a hole
 *    filled onto a broker that turned out too full is filled elsewhere
 *    instead of that broker giving up a replica of its own; (b) one move from
 *    the fullest broker to the emptiest (ties by broker id), out of the
 *    partition whose topic is most skewed toward the source (so each topic
 *    spreads too), then a follower's rather than the leader's, then by topic
 *    and partition; (c) with racks, when no direct move keeps the rack rule,
 *    the cheapest longer chain (Dijkstra over brokers). Without racks (b)
 *    always exists (the fuller broker is in more partitions, so in one the
 *    emptier is not), and a broker that loses replicas never gains one. The
 *    tests check the move count against an exhaustive search on small
 *    clusters, dead and drained brokers included.
 * 3. Leaders: only reordering, never moving data. While some broker leads at
 *    least 2 partitions more than another one it can reach, leadership
 *    shifts along the shortest chain of partitions (broker a leads p, b is a
 *    replica of p; b leads q, c is a replica of q; ...), each step swapping
 *    the new leader to the front. A chain changes leaders only at its ends'
 *    counts, and when no such chain is left the leader counts are as even as
 *    the replica lists allow (the optimality condition of semi-matchings,
 *    Harvey et al. 2006: no cost-reducing path).
 * A plan applied and planned again yields no changes: each phase stops at a
 * condition its own result satisfies.
 *
 * Limits: with racks of unequal sizes an even spread can be impossible, and
 * phase 2 stops when no chain keeps the rack rule (never in breach of it);
 * its fewest-moves claim is tested without racks. Cost: one chain search is
 * O(replicas x brokers) at worst; 5,000 partitions of RF 3 on 30 brokers,
 * plus 2 new ones, plan in about 0.5 s. Loops are bounded by a sum-of-squares
 * argument (each move or leader shift lowers the sum of squared counts by at
 * least 2) and asserted, so a bug stops with an AssertionError, not a hang.
 *
 * Input errors (duplicates, a replication factor larger than the brokers
 * placed on, no brokers) are a `{ ok: false, error }` result, not an assert:
 * the input comes from a user's flags and the cluster's metadata.
 *
 * Imports: runtime/assert.ts only.
 */
import { assert } from '../../../runtime/assert.ts';

export interface PlanBroker {
  readonly brokerId: number;
  readonly rack: string | null;
}

export interface PartitionReplicas {
  readonly topic: string;
  readonly partition: number;
  /** replicas[0] is the preferred leader. */
  readonly replicas: readonly number[];
}

export interface ReassignmentPlanRequest {
  /** The current assignment of the partitions to rebalance (the caller filters topics). */
  readonly partitions: readonly PartitionReplicas[];
  /** Brokers that may hold replicas (normally the live ones); replicas elsewhere move. */
  readonly brokers: readonly PlanBroker[];
  /** Brokers to move every replica off (they may or may not be in `brokers`). */
  readonly drainBrokers?: readonly number[];
}

/** One broker's share before and after the plan (brokers of the input, and unknown ones that held replicas). */
export interface BrokerLoad {
  readonly brokerId: number;
  readonly replicasBefore: number;
  readonly replicasAfter: number;
  readonly leadersBefore: number;
  readonly leadersAfter: number;
}

export interface ReassignmentPlan {
  /** Only the partitions whose replica list (members or order) changes, by topic then partition. */
  readonly partitions: { topic: string; partition: number; replicas: number[] }[];
  /** Replicas that land on a broker that did not hold them (each copies a log). */
  readonly replicasMoved: number;
  /** Partitions whose preferred leader (replicas[0]) changes. */
  readonly leadersChanged: number;
  readonly brokers: BrokerLoad[];
}

export type ReassignmentPlanResult = { ok: true; plan: ReassignmentPlan } | { ok: false; error: string };

/** Kafka's reassignment file format (kafka-reassign-partitions --reassignment-json-file). */
export type ReassignmentJson = { version: 1; partitions: { topic: string; partition: number; replicas: number[] }[] };

export function reassignmentJson(plan: Pick<ReassignmentPlan, 'partitions'>): ReassignmentJson {
  return { version: 1, partitions: plan.partitions.map((p) => ({ topic: p.topic, partition: p.partition, replicas: [...p.replicas] })) };
}

/** A partition being planned: its replica slots, null where a replica was taken off and not yet placed. */
interface Working {
  readonly topic: string;
  readonly partition: number;
  readonly original: readonly number[];
  readonly replicas: (number | null)[];
}

export function planReassignment(request: ReassignmentPlanRequest): ReassignmentPlanResult {
  const problem = inputProblem(request);
  if (problem !== null) return { ok: false, error: problem };

  const drained = new Set(request.drainBrokers ?? []);
  const eligible = request.brokers.filter((b) => !drained.has(b.brokerId)).sort((a, b) => a.brokerId - b.brokerId);
  const rackOf = new Map(eligible.map((b) => [b.brokerId, b.rack]));
  const rackAware = eligible.every((b) => b.rack !== null);
  const rackCount = new Set(eligible.map((b) => b.rack)).size;
  const partitions: Working[] = [...request.partitions]
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
    .map((p) => ({ topic: p.topic, partition: p.partition, original: [...p.replicas], replicas: p.replicas.map((r) => (rackOf.has(r) ? r : null)) }));

  const load = new Loads(eligible.map((b) => b.brokerId));
  for (const [index, p] of partitions.entries()) {
    promoteSurvivorToLeader(p);
    for (const r of p.replicas) if (r !== null) load.add(r, p.topic, index);
  }

  /** The rack rule for a full member list: a rack holds two only when every rack holds one. */
  const racksKept = (members: readonly number[]): boolean => {
    if (!rackAware) return true;
    const racks = new Set(members.map((m) => rackOf.get(m)));
    return racks.size === members.length || racks.size === rackCount;
  };

  // Phase 1a: a rack holding two replicas while another holds none gives one up
  // (never the leader: a crowded rack has at least one follower).
  for (const [index, p] of partitions.entries()) {
    for (let dropped = 0; !racksKept(members(p)); dropped++) {
      assert(dropped < p.replicas.length, `plan: rack repair of ${p.topic}-${p.partition} did not terminate`);
      const rackSizes = new Map<string | null | undefined, number>();
      for (const m of members(p)) rackSizes.set(rackOf.get(m), (rackSizes.get(rackOf.get(m)) ?? 0) + 1);
      let drop = -1;
      for (let slot = 1; slot < p.replicas.length; slot++) {
        const r = p.replicas[slot];
        if (r === null || r === undefined || (rackSizes.get(rackOf.get(r)) ?? 0) < 2) continue;
        if (drop < 0 || load.replicas(r) >= load.replicas(p.replicas[drop]!)) drop = slot;
      }
      assert(drop >= 1, `plan: no follower to drop in crowded rack of ${p.topic}-${p.partition}`);
      load.remove(p.replicas[drop]!, p.topic, index);
      p.replicas[drop] = null;
    }
  }

  // Phase 1b: fill every hole with the emptiest broker the partition allows.
  for (const [index, p] of partitions.entries()) {
    for (let slot = 0; slot < p.replicas.length; slot++) {
      if (p.replicas[slot] !== null) continue;
      const current = members(p);
      const racksUsed = new Set(current.map((m) => rackOf.get(m)));
      let best: number | null = null;
      for (const { brokerId } of eligible) {
        if (current.includes(brokerId)) continue;
        if (rackAware && racksUsed.has(rackOf.get(brokerId)) && racksUsed.size < rackCount) continue;
        if (best === null || load.fillOrder(brokerId, best, p.topic) < 0) best = brokerId;
      }
      // Always found: fewer members than RF <= eligible brokers, and a rack holding none has a broker that is not a member.
      assert(best !== null, `plan: no broker can take a replica of ${p.topic}-${p.partition}`);
      p.replicas[slot] = best;
      load.add(best, p.topic, index);
    }
  }
  const full = (p: Working): number[] => p.replicas.map((r) => {
    assert(r !== null, `plan: hole left in ${p.topic}-${p.partition}`);
    return r;
  });

  // Phase 2: move replicas from the fullest brokers to the emptiest, along the cheapest chain.
  const eligibleIds = eligible.map((b) => b.brokerId);
  const allowed = (p: Working, source: number, target: number): boolean => rackOf.get(source) === rackOf.get(target) || racksKept(full(p).map((r) => (r === source ? target : r)));
  const chainsMax = Math.floor(load.sumOfSquares() / 2) + 1;
  for (let chains = 0; ; chains++) {
    assert(chains <= chainsMax, 'plan: replica balancing did not terminate');
    const chain = cheapestChain(partitions, load, eligibleIds, allowed);
    if (chain === null) break;
    for (const step of chain) {
      const p = partitions[step.index]!;
      const slot = p.replicas.indexOf(step.source);
      // Each partition appears once in a chain, so the state the chain was found in still holds.
      assert(slot >= 0, `plan: chain step from a non-replica of ${p.topic}-${p.partition}`);
      assert(!p.replicas.includes(step.target), `plan: chain step to a replica of ${p.topic}-${p.partition}`);
      if (slot === 0) {
        // The leader leaves: the next replica (which has the data) leads, the new one follows last.
        p.replicas.splice(0, 1);
        p.replicas.push(step.target);
      } else {
        p.replicas[slot] = step.target;
      }
      load.remove(step.source, p.topic, step.index);
      load.add(step.target, p.topic, step.index);
    }
  }

  // Phase 3: spread preferred leaders by reordering replica lists.
  balanceLeaders(partitions.map(full), eligible.map((b) => b.brokerId)).forEach((replicas, index) => {
    const p = partitions[index]!;
    for (let slot = 0; slot < replicas.length; slot++) p.replicas[slot] = replicas[slot]!;
  });

  return { ok: true, plan: summary(partitions.map((p) => ({ topic: p.topic, partition: p.partition, original: p.original, replicas: full(p) })), request.brokers.map((b) => b.brokerId)) };
}

/** Non-null replicas of a partition. */
function members(p: Working): number[] {
  return p.replicas.filter((r): r is number => r !== null);
}

/** If the preferred leader was taken off, rotate the holes behind the survivors so a replica with data leads. */
function promoteSurvivorToLeader(p: Working): void {
  for (let turns = 0; p.replicas[0] === null && turns < p.replicas.length; turns++) {
    p.replicas.shift();
    p.replicas.push(null);
  }
}

/** Replica counts per eligible broker, overall and per topic, and which partitions each broker is in. */
class Loads {
  private readonly total = new Map<number, number>();
  private readonly byTopic = new Map<string, Map<number, number>>();
  private readonly memberOf = new Map<number, Set<number>>();

  constructor(brokerIds: readonly number[]) {
    for (const id of brokerIds) {
      this.total.set(id, 0);
      this.memberOf.set(id, new Set());
    }
  }

  replicas(brokerId: number): number {
    return this.total.get(brokerId) ?? 0;
  }

  topicReplicas(brokerId: number, topic: string): number {
    return this.byTopic.get(topic)?.get(brokerId) ?? 0;
  }

  partitionsOf(brokerId: number): number[] {
    return [...(this.memberOf.get(brokerId) ?? [])].sort((a, b) => a - b);
  }

  add(brokerId: number, topic: string, index: number): void {
    assert(this.total.has(brokerId), `plan: broker ${brokerId} is not eligible`);
    this.total.set(brokerId, this.replicas(brokerId) + 1);
    const topicLoads = this.byTopic.get(topic) ?? new Map<number, number>();
    topicLoads.set(brokerId, (topicLoads.get(brokerId) ?? 0) + 1);
    this.byTopic.set(topic, topicLoads);
    this.memberOf.get(brokerId)!.add(index);
  }

  remove(brokerId: number, topic: string, index: number): void {
    assert(this.replicas(brokerId) > 0, `plan: broker ${brokerId} holds no replica to remove`);
    this.total.set(brokerId, this.replicas(brokerId) - 1);
    const topicLoads = this.byTopic.get(topic);
    assert(topicLoads !== undefined && (topicLoads.get(brokerId) ?? 0) > 0, `plan: broker ${brokerId} holds no replica of ${topic}`);
    topicLoads.set(brokerId, topicLoads.get(brokerId)! - 1);
    this.memberOf.get(brokerId)!.delete(index);
  }

  /** Negative when broker a should take a new replica of `topic` before broker b: fewer replicas, then fewer of the topic, then lower id. */
  fillOrder(a: number, b: number, topic: string): number {
    return this.replicas(a) - this.replicas(b) || this.topicReplicas(a, topic) - this.topicReplicas(b, topic) || a - b;
  }

  sumOfSquares(): number {
    let sum = 0;
    for (const count of this.total.values()) sum += count * count;
    return sum;
  }
}

/** One replica of partition `index` moves from broker `source` to broker `target`. */
type Step = { index: number; source: number; target: number };

/** How good moving one replica out of a partition is: fewer moves, then the topic most skewed toward the source, then a follower's. */
type StepRank = { moves: number; skew: number; leader: boolean };

function better(a: StepRank, b: StepRank): boolean {
  if (a.moves !== b.moves) return a.moves < b.moves;
  if (a.skew !== b.skew) return a.skew > b.skew;
  return b.leader && !a.leader;
}

/**
 * The next balancing step: from a broker with another at least 2 emptier,
 * the chain of replica moves to such a broker that moves the fewest replicas
 * (ties: from the fullest source, then the lowest id; to the emptiest end). Only the chain's ends change counts. A step re-places a replica this
 * plan placed (or returns one to a broker that held it) at no cost, so a hole
 * filled onto a broker that turns out too full is re-filled elsewhere rather
 * than that broker giving up a replica of its own. Null when no broker pair
 * differs by 2 or the rack rule allows no chain between any.
 */
function cheapestChain(partitions: readonly Working[], load: Loads, brokerIds: readonly number[], allowed: (p: Working, source: number, target: number) => boolean): Step[] | null {
  const least = Math.min(...brokerIds.map((id) => load.replicas(id)));
  const sources = [...brokerIds].sort((a, b) => load.replicas(b) - load.replicas(a) || a - b).filter((id) => load.replicas(id) - least >= 2);
  // 1. A free chain: every step re-places a replica this plan placed (small: only those replicas are edges).
  for (const source of sources) {
    const free = cheapestChainFrom(source, partitions, load, brokerIds, allowed, true);
    if (free !== null) return free.chain;
  }
  // 2. One move between a pair (without racks one always exists from the fullest to the emptiest).
  const emptiestFirst = [...brokerIds].sort((a, b) => load.replicas(a) - load.replicas(b) || a - b);
  for (const source of sources) {
    for (const target of emptiestFirst) {
      if (load.replicas(source) - load.replicas(target) < 2) break;
      let best: { index: number; rank: StepRank } | null = null;
      for (const index of load.partitionsOf(source)) {
        const p = partitions[index]!;
        if (p.replicas.includes(target) || !allowed(p, source, target)) continue;
        const rank = stepRank(p, load, source, target);
        if (best === null || better(rank, best.rank)) best = { index, rank };
      }
      if (best !== null) return [{ index: best.index, source, target }];
    }
  }
  // 3. Racks forbid every direct move: the cheapest longer chain.
  for (const source of sources) {
    const found = cheapestChainFrom(source, partitions, load, brokerIds, allowed, false);
    if (found !== null) return found.chain;
  }
  return null;
}

function stepRank(p: Working, load: Loads, source: number, target: number): StepRank {
  return {
    moves: Math.max(0, (p.original.includes(source) ? 1 : 0) - (p.original.includes(target) ? 1 : 0)),
    skew: load.topicReplicas(source, p.topic) - load.topicReplicas(target, p.topic),
    leader: p.replicas[0] === source,
  };
}

/**
 * Dijkstra over brokers (edge x -> y: a replica of x moves to y; its cost is
 * 0 or 1 move), no partition used twice on a path. With `freeOnly`, only the
 * edges that re-place a replica this plan placed (cost 0).
 */
function cheapestChainFrom(source: number, partitions: readonly Working[], load: Loads, brokerIds: readonly number[], allowed: (p: Working, source: number, target: number) => boolean, freeOnly: boolean): { chain: Step[]; moves: number } | null {
  const moves = new Map<number, number>([[source, 0]]);
  const reachedBy = new Map<number, Step>();
  const settled = new Set<number>();
  const pathPartitions = (broker: number): Set<number> => {
    const used = new Set<number>();
    for (let at = broker, hops = 0; at !== source; hops++) {
      assert(hops < brokerIds.length, 'plan: chain path loops');
      const step = reachedBy.get(at)!;
      used.add(step.index);
      at = step.source;
    }
    return used;
  };
  for (let round = 0; round < brokerIds.length; round++) {
    let broker: number | undefined;
    for (const id of brokerIds) {
      const m = moves.get(id);
      if (m === undefined || settled.has(id)) continue;
      if (broker === undefined || m < moves.get(broker)!) broker = id;
    }
    if (broker === undefined) break;
    settled.add(broker);
    const used = pathPartitions(broker);
    const bestEdge = new Map<number, { index: number; rank: StepRank }>();
    const candidates = freeOnly ? load.partitionsOf(broker).filter((index) => !partitions[index]!.original.includes(broker)) : load.partitionsOf(broker);
    for (const index of candidates) {
      if (used.has(index)) continue;
      const p = partitions[index]!;
      for (const target of brokerIds) {
        if (settled.has(target) || p.replicas.includes(target) || !allowed(p, broker, target)) continue;
        const rank = stepRank(p, load, broker, target);
        const known = bestEdge.get(target);
        // partitionsOf is in (topic, partition) order, so the first of equals wins.
        if (known === undefined || better(rank, known.rank)) bestEdge.set(target, { index, rank });
      }
    }
    for (const [target, edge] of bestEdge) {
      const total = moves.get(broker)! + edge.rank.moves;
      const known = moves.get(target);
      if (known === undefined || total < known) {
        moves.set(target, total);
        reachedBy.set(target, { index: edge.index, source: broker, target });
      }
    }
  }
  let end: number | undefined;
  for (const id of brokerIds) {
    if (!reachedBy.has(id) || load.replicas(id) > load.replicas(source) - 2) continue;
    if (end === undefined || moves.get(id)! < moves.get(end)! || (moves.get(id) === moves.get(end) && load.replicas(id) < load.replicas(end))) end = id;
  }
  if (end === undefined) return null;
  const chain: Step[] = [];
  for (let at = end; at !== source; ) {
    const step = reachedBy.get(at)!;
    chain.push(step);
    at = step.source;
  }
  return { chain: chain.reverse(), moves: moves.get(end)! };
}

/**
 * Preferred leaders spread by reordering only: returns the replica lists
 * with leaders shifted along shortest chains from a broker leading at least
 * 2 more than one it can reach (see the module comment, phase 3).
 */
export function balanceLeaders(assignment: readonly (readonly number[])[], brokerIds: readonly number[]): number[][] {
  const lists = assignment.map((r) => [...r]);
  const leads = new Map<number, Set<number>>(brokerIds.map((id) => [id, new Set<number>()]));
  for (const [index, replicas] of lists.entries()) {
    const leader = replicas[0];
    assert(leader !== undefined && leads.has(leader), `plan: partition ${index} is led by an unplaced broker`);
    leads.get(leader)!.add(index);
  }
  const count = (id: number): number => leads.get(id)!.size;
  let sumOfSquares = 0;
  for (const id of brokerIds) sumOfSquares += count(id) * count(id);
  const shiftsMax = Math.floor(sumOfSquares / 2) + 1;

  for (let shifts = 0; ; shifts++) {
    assert(shifts <= shiftsMax, 'plan: leader balancing did not terminate');
    const least = Math.min(...brokerIds.map(count));
    const sources = [...brokerIds].filter((id) => count(id) >= least + 2).sort((a, b) => count(b) - count(a) || a - b);
    let chain: { from: number; to: number; index: number }[] | null = null;
    for (const source of sources) {
      chain = shortestChain(source, lists, leads, count);
      if (chain !== null) break;
    }
    if (chain === null) return lists;
    for (const { from, to, index } of chain) {
      const replicas = lists[index]!;
      const slot = replicas.indexOf(to);
      assert(slot > 0, `plan: chain step to a non-follower of partition ${index}`);
      replicas[slot] = from;
      replicas[0] = to;
      leads.get(from)!.delete(index);
      leads.get(to)!.add(index);
    }
  }
}

/** Breadth-first from `source` over "leads a partition that has as replica": the shortest chain to a broker leading at least 2 fewer. */
function shortestChain(source: number, lists: readonly number[][], leads: ReadonlyMap<number, ReadonlySet<number>>, count: (id: number) => number): { from: number; to: number; index: number }[] | null {
  const reachedBy = new Map<number, { from: number; index: number }>();
  const queue = [source];
  const seen = new Set([source]);
  for (let head = 0; head < queue.length; head++) {
    const broker = queue[head]!;
    for (const index of [...leads.get(broker)!].sort((a, b) => a - b)) {
      for (const replica of [...lists[index]!].sort((a, b) => a - b)) {
        if (seen.has(replica)) continue;
        seen.add(replica);
        reachedBy.set(replica, { from: broker, index });
        if (count(replica) <= count(source) - 2) {
          const chain: { from: number; to: number; index: number }[] = [];
          for (let at = replica; at !== source; ) {
            const step = reachedBy.get(at)!;
            chain.push({ from: step.from, to: at, index: step.index });
            at = step.from;
          }
          return chain.reverse();
        }
        queue.push(replica);
      }
    }
  }
  return null;
}

function summary(partitions: readonly { topic: string; partition: number; original: readonly number[]; replicas: number[] }[], inputBrokerIds: readonly number[]): ReassignmentPlan {
  const loads = new Map<number, { replicasBefore: number; replicasAfter: number; leadersBefore: number; leadersAfter: number }>();
  const loadOf = (id: number) => {
    let entry = loads.get(id);
    if (entry === undefined) {
      entry = { replicasBefore: 0, replicasAfter: 0, leadersBefore: 0, leadersAfter: 0 };
      loads.set(id, entry);
    }
    return entry;
  };
  for (const id of inputBrokerIds) loadOf(id);
  let replicasMoved = 0;
  let leadersChanged = 0;
  const changed: ReassignmentPlan['partitions'] = [];
  for (const p of partitions) {
    for (const r of p.original) loadOf(r).replicasBefore += 1;
    for (const r of p.replicas) loadOf(r).replicasAfter += 1;
    loadOf(p.original[0]!).leadersBefore += 1;
    loadOf(p.replicas[0]!).leadersAfter += 1;
    replicasMoved += p.replicas.filter((r) => !p.original.includes(r)).length;
    if (p.replicas[0] !== p.original[0]) leadersChanged += 1;
    if (p.replicas.some((r, i) => r !== p.original[i])) changed.push({ topic: p.topic, partition: p.partition, replicas: p.replicas });
  }
  const brokers = [...loads].sort(([a], [b]) => a - b).map(([brokerId, l]) => ({ brokerId, ...l }));
  return { partitions: changed, replicasMoved, leadersChanged, brokers };
}

/** Why the request cannot be planned, or null. */
function inputProblem(request: ReassignmentPlanRequest): string | null {
  if (!Array.isArray(request.partitions) || !Array.isArray(request.brokers)) return 'partitions and brokers must be arrays';
  const brokerIds = new Set<number>();
  for (const b of request.brokers) {
    if (!isBrokerId(b?.brokerId)) return `broker id ${JSON.stringify(b?.brokerId)} is not a non-negative integer`;
    if (brokerIds.has(b.brokerId)) return `broker ${b.brokerId} is listed twice`;
    if (b.rack !== null && typeof b.rack !== 'string') return `broker ${b.brokerId}: rack must be a string or null`;
    brokerIds.add(b.brokerId);
  }
  for (const id of request.drainBrokers ?? []) if (!isBrokerId(id)) return `drained broker id ${JSON.stringify(id)} is not a non-negative integer`;
  const drained = new Set(request.drainBrokers ?? []);
  const placeable = [...brokerIds].filter((id) => !drained.has(id)).length;
  if (placeable === 0 && request.partitions.length > 0) return brokerIds.size === 0 ? 'no brokers to place replicas on' : 'every broker is drained: no broker can hold replicas';
  const seen = new Set<string>();
  for (const p of request.partitions) {
    if (typeof p?.topic !== 'string' || p.topic.length === 0) return `partition ${JSON.stringify(p)} has no topic name`;
    if (!Number.isSafeInteger(p.partition) || p.partition < 0) return `${p.topic}: partition ${JSON.stringify(p.partition)} is not a non-negative integer`;
    const name = `${p.topic}-${p.partition}`;
    if (seen.has(`${p.topic}\0${p.partition}`)) return `partition ${name} is listed twice`;
    seen.add(`${p.topic}\0${p.partition}`);
    if (!Array.isArray(p.replicas) || p.replicas.length === 0) return `partition ${name} has no replicas`;
    for (const r of p.replicas) if (!isBrokerId(r)) return `partition ${name}: replica ${JSON.stringify(r)} is not a broker id`;
    if (new Set(p.replicas).size !== p.replicas.length) return `partition ${name} lists a replica twice: ${p.replicas.join(',')}`;
    if (p.replicas.length > placeable) return `partition ${name} has replication factor ${p.replicas.length} but only ${placeable} broker${placeable === 1 ? '' : 's'} can hold replicas`;
  }
  return null;
}

function isBrokerId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
