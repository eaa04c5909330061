/**
 * The rebalance planner: tables for the cases issue #17 names (a fourth
 * broker joins, a broker is drained, a balanced cluster is left alone), input
 * errors, racks, and fast-check properties over random clusters (balanced
 * counts, replication factors kept, no duplicates, the rack rule, drained
 * brokers empty, fewest moves, and planning the result again is a fixed
 * point). fast-check prints the seed and the shrunk counterexample of a
 * failing property; rerun it with `{ seed, path }` in fc.assert's options.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { placeReplicas, type PlacementBroker } from './placement.ts';
import { balanceLeaders, planReassignment, reassignmentJson, type PartitionReplicas, type PlanBroker, type ReassignmentPlan, type ReassignmentPlanRequest } from './reassignment-plan.ts';

const brokers = (...ids: number[]): PlanBroker[] => ids.map((brokerId) => ({ brokerId, rack: null }));

/** A topic placed the way CreateTopics places it. */
function topic(name: string, on: readonly PlacementBroker[], partitionCount: number, replicationFactor: number): PartitionReplicas[] {
  return placeReplicas({ brokers: on, firstPartition: 0, partitionCount, replicationFactor }).map((replicas, partition) => ({ topic: name, partition, replicas }));
}

function plan(request: ReassignmentPlanRequest): ReassignmentPlan {
  const result = planReassignment(request);
  if (!result.ok) throw new Error(`unexpected planning error: ${result.error}`);
  return result.plan;
}

/** The assignment after applying the plan. */
function applied(current: readonly PartitionReplicas[], p: ReassignmentPlan): PartitionReplicas[] {
  const changes = new Map(p.partitions.map((c) => [`${c.topic}-${c.partition}`, c.replicas]));
  return current.map((c) => ({ ...c, replicas: changes.get(`${c.topic}-${c.partition}`) ?? c.replicas }));
}

function counts(assignment: readonly PartitionReplicas[], ids: readonly number[]): { replicas: Map<number, number>; leaders: Map<number, number> } {
  const replicas = new Map(ids.map((id) => [id, 0]));
  const leaders = new Map(ids.map((id) => [id, 0]));
  for (const p of assignment) {
    for (const r of p.replicas) replicas.set(r, (replicas.get(r) ?? 0) + 1);
    leaders.set(p.replicas[0]!, (leaders.get(p.replicas[0]!) ?? 0) + 1);
  }
  return { replicas, leaders };
}

/** Largest minus smallest (an iterator is read once, into an array). */
function spread(values: Iterable<number>): number {
  const all = [...values];
  return Math.max(...all) - Math.min(...all);
}

/** The rack rule of placement.ts: two replicas in one rack only when every rack holds one. */
function racksKept(replicas: readonly number[], rackOf: ReadonlyMap<number, string | null>): boolean {
  const allRacks = new Set(rackOf.values());
  const used = new Set(replicas.map((r) => rackOf.get(r)));
  return used.size === replicas.length || used.size === allRacks.size;
}

describe('reassignment plan: tables', () => {
  it('a fourth broker joins 3 brokers with a 6-partition RF 3 topic: a quarter of the replicas move to it, and it leads 1 or 2', () => {
    const current = topic('orders', brokers(1, 2, 3), 6, 3);
    const p = plan({ partitions: current, brokers: brokers(1, 2, 3, 4) });
    const after = applied(current, p);
    const { replicas, leaders } = counts(after, [1, 2, 3, 4]);
    expect(replicas.get(4)).toBeGreaterThanOrEqual(4);
    expect(replicas.get(4)).toBeLessThanOrEqual(5);
    expect(p.replicasMoved).toBe(replicas.get(4));
    expect(spread(replicas.values())).toBeLessThanOrEqual(1);
    expect(leaders.get(4)).toBeGreaterThanOrEqual(1);
    expect(leaders.get(4)).toBeLessThanOrEqual(2);
    expect(spread(leaders.values())).toBeLessThanOrEqual(1);
    expect(p.brokers.find((b) => b.brokerId === 4)).toMatchObject({ replicasBefore: 0, replicasAfter: replicas.get(4), leadersBefore: 0, leadersAfter: leaders.get(4) });
    for (const c of after) expect(new Set(c.replicas).size).toBe(3);
  });

  it('draining broker 2 of 4 moves exactly its replicas, and leaves it nothing', () => {
    const current = topic('orders', brokers(1, 2, 3, 4), 8, 3);
    const onBroker2 = current.filter((c) => c.replicas.includes(2)).length;
    const p = plan({ partitions: current, brokers: brokers(1, 2, 3, 4), drainBrokers: [2] });
    const after = applied(current, p);
    expect(p.replicasMoved).toBe(onBroker2);
    expect(after.every((c) => !c.replicas.includes(2))).toBe(true);
    // Only partitions that had broker 2 change, and only by losing it.
    for (const [i, c] of after.entries()) {
      const before = current[i]!.replicas;
      if (!before.includes(2)) expect(c.replicas).toEqual(before);
      else expect(c.replicas.filter((r) => !before.includes(r))).toHaveLength(1);
    }
    const { replicas, leaders } = counts(after, [1, 3, 4]);
    replicas.delete(2);
    leaders.delete(2);
    expect(spread(replicas.values())).toBeLessThanOrEqual(1);
    expect(spread(leaders.values())).toBeLessThanOrEqual(1);
  });

  it('an already balanced assignment yields no changes', () => {
    const current = [...topic('a', brokers(1, 2, 3), 6, 3), ...topic('b', brokers(1, 2, 3, 4), 8, 2)];
    // Each topic alone is balanced over its brokers; over 1..4 together they are not, so plan each as placed.
    expect(plan({ partitions: topic('a', brokers(1, 2, 3), 6, 3), brokers: brokers(1, 2, 3) })).toEqual({
      partitions: [],
      replicasMoved: 0,
      leadersChanged: 0,
      brokers: [1, 2, 3].map((brokerId) => ({ brokerId, replicasBefore: 6, replicasAfter: 6, leadersBefore: 2, leadersAfter: 2 })),
    });
    expect(plan({ partitions: current.filter((c) => c.topic === 'b'), brokers: brokers(1, 2, 3, 4) }).partitions).toEqual([]);
  });

  it('a dead broker (not in the input) loses its replicas; a surviving replica takes over as preferred leader', () => {
    const current: PartitionReplicas[] = [
      { topic: 't', partition: 0, replicas: [9, 1, 2] },
      { topic: 't', partition: 1, replicas: [1, 2, 3] },
      { topic: 't', partition: 2, replicas: [2, 3, 1] },
    ];
    const p = plan({ partitions: current, brokers: brokers(1, 2, 3) });
    expect([...(p.partitions.find((c) => c.partition === 0)?.replicas ?? [])].sort()).toEqual([1, 2, 3]);
    const after = applied(current, p);
    expect(after.every((c) => !c.replicas.includes(9))).toBe(true);
    expect(p.replicasMoved).toBe(1);
    expect(spread(counts(after, [1, 2, 3]).leaders.values())).toBeLessThanOrEqual(1);
    expect(p.brokers.find((b) => b.brokerId === 9)).toEqual({ brokerId: 9, replicasBefore: 1, replicasAfter: 0, leadersBefore: 1, leadersAfter: 0 });
  });

  it('balancing preferred leaders reorders replica lists and moves no data', () => {
    // Replica counts are even (each broker holds 3), but broker 1 leads all three.
    const current: PartitionReplicas[] = [0, 1, 2].map((partition) => ({ topic: 't', partition, replicas: [1, 2, 3] }));
    const p = plan({ partitions: current, brokers: brokers(1, 2, 3) });
    expect(p.replicasMoved).toBe(0);
    expect(p.leadersChanged).toBe(2);
    expect(p.partitions.map((c) => c.replicas[0]).sort()).toEqual([2, 3]);
    for (const c of p.partitions) expect([...c.replicas].sort()).toEqual([1, 2, 3]);
  });

  it('leaders shift along a chain when the overloaded broker shares no partition with the idle one', () => {
    // 1 leads [1,2] twice; 3 leads nothing and shares partitions only with 2: 1 -> 2 -> 3.
    const lists = balanceLeaders([[1, 2], [1, 2], [2, 3]], [1, 2, 3]);
    const leaders = lists.map((r) => r[0]);
    expect(leaders.filter((l) => l === 1)).toHaveLength(1);
    expect(leaders.filter((l) => l === 2)).toHaveLength(1);
    expect(leaders.filter((l) => l === 3)).toHaveLength(1);
  });

  it('racks: a partition with two replicas in one rack while a rack holds none gets one moved there', () => {
    const racked: PlanBroker[] = [{ brokerId: 1, rack: 'a' }, { brokerId: 2, rack: 'a' }, { brokerId: 3, rack: 'b' }, { brokerId: 4, rack: 'b' }];
    const current: PartitionReplicas[] = [
      { topic: 't', partition: 0, replicas: [1, 2] },
      { topic: 't', partition: 1, replicas: [3, 4] },
    ];
    const p = plan({ partitions: current, brokers: racked });
    const rackOf = new Map(racked.map((b) => [b.brokerId, b.rack]));
    for (const c of applied(current, p)) expect(new Set(c.replicas.map((r) => rackOf.get(r))).size).toBe(2);
    expect(p.replicasMoved).toBe(2);
  });

  it('the Kafka reassignment JSON shape', () => {
    const p = plan({ partitions: topic('orders', brokers(1, 2, 3), 6, 3), brokers: brokers(1, 2, 3, 4) });
    const json = reassignmentJson(p);
    expect(json.version).toBe(1);
    expect(Object.keys(json)).toEqual(['version', 'partitions']);
    for (const entry of json.partitions) expect(Object.keys(entry)).toEqual(['topic', 'partition', 'replicas']);
    expect(json.partitions.length).toBe(p.partitions.length);
  });

  it.each([
    { name: 'duplicate broker ids', request: { partitions: [], brokers: brokers(1, 1) }, error: /broker 1 is listed twice/ },
    { name: 'duplicate partitions', request: { partitions: [{ topic: 't', partition: 0, replicas: [1] }, { topic: 't', partition: 0, replicas: [2] }], brokers: brokers(1, 2) }, error: /t-0 is listed twice/ },
    { name: 'a replica listed twice', request: { partitions: [{ topic: 't', partition: 0, replicas: [1, 1] }], brokers: brokers(1, 2) }, error: /lists a replica twice/ },
    { name: 'RF larger than brokers', request: { partitions: [{ topic: 't', partition: 0, replicas: [1, 2, 3] }], brokers: brokers(1, 2) }, error: /replication factor 3 but only 2 brokers/ },
    { name: 'RF larger than the brokers left after draining', request: { partitions: [{ topic: 't', partition: 0, replicas: [1, 2] }], brokers: brokers(1, 2), drainBrokers: [2] }, error: /only 1 broker can/ },
    { name: 'no replicas', request: { partitions: [{ topic: 't', partition: 0, replicas: [] }], brokers: brokers(1) }, error: /has no replicas/ },
    { name: 'a negative broker id', request: { partitions: [{ topic: 't', partition: 0, replicas: [-1] }], brokers: brokers(1) }, error: /not a broker id/ },
    { name: 'every broker drained', request: { partitions: [{ topic: 't', partition: 0, replicas: [1] }], brokers: brokers(1), drainBrokers: [1] }, error: /every broker is drained/ },
  ])('input error: $name', ({ request, error }) => {
    const result = planReassignment(request as ReassignmentPlanRequest);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(error);
  });
});

/** A random cluster: brokers (some with racks, all or none), topics placed on a random subset, some brokers drained or gone. */
const clusterArbitrary = fc
  .record({
    brokerCount: fc.integer({ min: 1, max: 7 }),
    racks: fc.constantFrom(0, 2, 3),
    topics: fc.array(fc.record({ partitions: fc.integer({ min: 1, max: 12 }), rf: fc.integer({ min: 1, max: 4 }), placedOn: fc.integer({ min: 1, max: 7 }), rotate: fc.nat(6) }), { minLength: 1, maxLength: 4 }),
    drainCount: fc.integer({ min: 0, max: 2 }),
    goneCount: fc.integer({ min: 0, max: 2 }),
  })
  .map(({ brokerCount, racks, topics, drainCount, goneCount }) => {
    // Brokers 1..brokerCount are in the input; brokerCount+1.. are gone (hold replicas, not in the input).
    const all: PlanBroker[] = Array.from({ length: brokerCount + goneCount }, (_, i) => ({ brokerId: i + 1, rack: racks === 0 ? null : `r${i % racks}` }));
    const input = all.slice(0, brokerCount);
    const drainBrokers = input.slice(0, Math.min(drainCount, brokerCount - 1)).map((b) => b.brokerId);
    const placeable = input.length - drainBrokers.length;
    const partitions: PartitionReplicas[] = [];
    topics.forEach((t, i) => {
      const on = all.slice(Math.min(t.rotate, all.length - 1)).concat(all.slice(0, Math.min(t.rotate, all.length - 1))).slice(0, Math.min(t.placedOn, all.length));
      const rf = Math.min(t.rf, on.length, placeable);
      partitions.push(...topic(`topic-${i}`, on.map((b) => ({ brokerId: b.brokerId, rack: null })), t.partitions, rf));
    });
    return { request: { partitions, brokers: input, drainBrokers } satisfies ReassignmentPlanRequest, input, drainBrokers };
  });

/** All k-subsets of `items`. */
function subsets(items: readonly number[], k: number): number[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

/** The least replicas moved by any assignment over `placeable` whose replica counts differ by at most 1 (exhaustive; small inputs only). */
function fewestMovesToBalance(partitions: readonly PartitionReplicas[], placeable: readonly number[]): number {
  const choices = partitions.map((c) => subsets(placeable, c.replicas.length).map((set) => ({ set, moves: set.filter((r) => !c.replicas.includes(r)).length })));
  let best = Infinity;
  const load = new Map(placeable.map((id) => [id, 0]));
  const search = (i: number, moves: number): void => {
    if (moves >= best) return;
    if (i === choices.length) {
      if (spread(load.values()) <= 1) best = moves;
      return;
    }
    for (const choice of choices[i]!) {
      for (const r of choice.set) load.set(r, load.get(r)! + 1);
      search(i + 1, moves + choice.moves);
      for (const r of choice.set) load.set(r, load.get(r)! - 1);
    }
  };
  search(0, 0);
  return best;
}

describe('reassignment plan: properties', () => {
  it('every plan keeps RF, has no duplicates, uses only placeable brokers, keeps the rack rule, and balances where racks allow', () => {
    fc.assert(
      fc.property(clusterArbitrary, ({ request, input, drainBrokers }) => {
        const p = plan(request);
        const after = applied(request.partitions, p);
        const placeable = input.filter((b) => !drainBrokers.includes(b.brokerId));
        const placeableIds = placeable.map((b) => b.brokerId);
        const rackOf = new Map(placeable.map((b) => [b.brokerId, b.rack]));
        const rackAware = placeable.every((b) => b.rack !== null);
        for (const [i, c] of after.entries()) {
          expect(c.replicas.length).toBe(request.partitions[i]!.replicas.length);
          expect(new Set(c.replicas).size).toBe(c.replicas.length);
          for (const r of c.replicas) expect(placeableIds).toContain(r);
          if (rackAware) expect(racksKept(c.replicas, rackOf)).toBe(true);
        }
        const { replicas, leaders } = counts(after, placeableIds);
        // Racks of different sizes may force a broker to hold more; without racks (or with one rack) counts are within 1.
        if (!rackAware || new Set(rackOf.values()).size === 1) expect(spread(replicas.values())).toBeLessThanOrEqual(1);
        // Leaders are balanced whenever replicas are (a chain to every broker exists then, for RF >= 1).
        if (spread(replicas.values()) <= 1 && after.every((c) => c.replicas.length === after[0]!.replicas.length)) expect(spread(leaders.values())).toBeLessThanOrEqual(1);
        // The figures match the lists.
        expect(p.replicasMoved).toBe(after.reduce((n, c, i) => n + c.replicas.filter((r) => !request.partitions[i]!.replicas.includes(r)).length, 0));
        expect(p.leadersChanged).toBe(after.filter((c, i) => c.replicas[0] !== request.partitions[i]!.replicas[0]).length);
      }),
      { numRuns: 300 },
    );
  });

  it('fewest moves without racks: with no replica to re-home, a broker that loses replicas gains none, and only over-share brokers lose', () => {
    fc.assert(
      fc.property(clusterArbitrary, ({ request, input }) => {
        const inputIds = input.map((b) => b.brokerId);
        // Only the brokers of the input hold replicas, and none is drained: every move is a balancing one.
        const partitions = request.partitions.filter((c) => c.replicas.every((r) => inputIds.includes(r)));
        const p = plan({ partitions, brokers: input.map((b) => ({ brokerId: b.brokerId, rack: null })) });
        const after = applied(partitions, p);
        const gained = new Set<number>();
        const lost = new Set<number>();
        after.forEach((c, i) => {
          const before = partitions[i]!.replicas;
          for (const r of c.replicas) if (!before.includes(r)) gained.add(r);
          for (const r of before) if (!c.replicas.includes(r)) lost.add(r);
        });
        for (const id of gained) expect(lost.has(id)).toBe(false);
        const total = partitions.reduce((n, c) => n + c.replicas.length, 0);
        const share = Math.ceil(total / inputIds.length);
        for (const b of p.brokers) if (b.replicasAfter < b.replicasBefore) expect(b.replicasBefore).toBeGreaterThanOrEqual(share);
        expect(p.replicasMoved).toBe(p.brokers.reduce((n, b) => n + Math.max(0, b.replicasBefore - b.replicasAfter), 0));
      }),
      { numRuns: 300 },
    );
  });

  it('fewest moves without racks, against brute force on small clusters (dead and drained brokers included)', () => {
    const small = fc
      .record({
        brokerCount: fc.integer({ min: 1, max: 4 }),
        drained: fc.subarray([1, 2, 3, 4], { maxLength: 2 }),
        partitions: fc.array(fc.uniqueArray(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
      })
      .map(({ brokerCount, drained, partitions }) => ({
        partitions: partitions.map((replicas, partition) => ({ topic: 't', partition, replicas })),
        brokers: brokers(...Array.from({ length: brokerCount }, (_, i) => i + 1)),
        drainBrokers: drained.filter((d) => d <= brokerCount),
      }))
      .filter((r) => {
        const placeable = r.brokers.length - r.drainBrokers.length;
        return r.partitions.every((c) => c.replicas.length <= placeable);
      });
    fc.assert(
      fc.property(small, (request) => {
        const p = plan(request);
        const placeable = request.brokers.map((b) => b.brokerId).filter((id) => !request.drainBrokers.includes(id));
        expect(p.replicasMoved).toBe(fewestMovesToBalance(request.partitions, placeable));
      }),
      { numRuns: 300 },
    );
  });

  it('drained brokers hold nothing afterwards', () => {
    fc.assert(
      fc.property(clusterArbitrary, ({ request }) => {
        const after = applied(request.partitions, plan(request));
        for (const c of after) for (const d of request.drainBrokers) expect(c.replicas).not.toContain(d);
      }),
      { numRuns: 200 },
    );
  });

  it('planning the applied plan again changes nothing (a fixed point), and planning is deterministic', () => {
    fc.assert(
      fc.property(clusterArbitrary, ({ request }) => {
        const first = plan(request);
        expect(plan(request)).toEqual(first);
        const again = plan({ ...request, partitions: applied(request.partitions, first) });
        expect(again.partitions).toEqual([]);
        expect(again.replicasMoved).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('the order of the input does not change the plan', () => {
    fc.assert(
      fc.property(clusterArbitrary, ({ request }) => {
        const reversed = { ...request, partitions: [...request.partitions].reverse(), brokers: [...request.brokers].reverse() };
        expect(plan(reversed)).toEqual(plan(request));
      }),
      { numRuns: 100 },
    );
  });
});
