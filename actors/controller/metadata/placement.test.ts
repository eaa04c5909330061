import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { placeReplicas, rackAlternated, type PlacementBroker } from './placement.ts';

const brokers = (...ids: number[]): PlacementBroker[] => ids.map((brokerId) => ({ brokerId, rack: null }));

describe('placement', () => {
  it('case 1: brokers 1..3, RF 3, 2 partitions: brokers 1 and 2 lead, broker 3 leads none', () => {
    const replicas = placeReplicas({ brokers: brokers(1, 2, 3), firstPartition: 0, partitionCount: 2, replicationFactor: 3 });
    expect(replicas.map((r) => r[0])).toEqual([1, 2]);
    expect(replicas).toEqual([
      [1, 2, 3],
      [2, 3, 1],
    ]);
  });

  it('case 2: brokers 1..3, RF 3, 3 partitions: partitions 0, 1, 2 are led by 1, 2, 3', () => {
    const replicas = placeReplicas({ brokers: brokers(1, 2, 3), firstPartition: 0, partitionCount: 3, replicationFactor: 3 });
    expect(replicas.map((r) => r[0])).toEqual([1, 2, 3]);
    expect(replicas).toEqual([
      [1, 2, 3],
      [2, 3, 1],
      [3, 1, 2],
    ]);
  });

  it('3 brokers, RF 3: partition p prefers broker (p mod 3) + 1, for any partition count', () => {
    const replicas = placeReplicas({ brokers: brokers(3, 1, 2), firstPartition: 0, partitionCount: 30, replicationFactor: 3 });
    replicas.forEach((r, p) => expect(r[0]).toBe((p % 3) + 1));
  });

  it.each([
    { ids: [1], partitions: 3, rf: 1, expected: [[1], [1], [1]] },
    { ids: [1, 2, 3], partitions: 3, rf: 1, expected: [[1], [2], [3]] },
    { ids: [1, 2, 3], partitions: 3, rf: 2, expected: [[1, 2], [2, 3], [3, 1]] },
    { ids: [1, 2, 3, 4], partitions: 4, rf: 2, expected: [[1, 2], [2, 3], [3, 4], [4, 1]] },
    // The follower shift grows every n partitions, so partition 4 (leader 1) has a different follower.
    { ids: [1, 2, 3, 4], partitions: 6, rf: 2, expected: [[1, 2], [2, 3], [3, 4], [4, 1], [1, 3], [2, 4]] },
  ])('table: brokers $ids, $partitions partitions, RF $rf', ({ ids, partitions, rf, expected }) => {
    expect(placeReplicas({ brokers: brokers(...ids), firstPartition: 0, partitionCount: partitions, replicationFactor: rf })).toEqual(expected);
  });

  it('adding partitions continues the same pattern (CreatePartitions)', () => {
    const all = placeReplicas({ brokers: brokers(1, 2, 3, 4), firstPartition: 0, partitionCount: 10, replicationFactor: 3 });
    const head = placeReplicas({ brokers: brokers(1, 2, 3, 4), firstPartition: 0, partitionCount: 4, replicationFactor: 3 });
    const tail = placeReplicas({ brokers: brokers(1, 2, 3, 4), firstPartition: 4, partitionCount: 6, replicationFactor: 3 });
    expect([...head, ...tail]).toEqual(all);
  });

  it('rack-aware: racks alternate, and each partition spans as many racks as it can', () => {
    const racked: PlacementBroker[] = [
      { brokerId: 1, rack: 'a' },
      { brokerId: 2, rack: 'a' },
      { brokerId: 3, rack: 'b' },
      { brokerId: 4, rack: 'b' },
      { brokerId: 5, rack: 'c' },
      { brokerId: 6, rack: 'c' },
    ];
    expect(rackAlternated(racked).map((b) => b.brokerId)).toEqual([1, 3, 5, 2, 4, 6]);
    const replicas = placeReplicas({ brokers: racked, firstPartition: 0, partitionCount: 12, replicationFactor: 3 });
    const rackOf = new Map(racked.map((b) => [b.brokerId, b.rack]));
    for (const r of replicas) expect(new Set(r.map((id) => rackOf.get(id))).size).toBe(3);
  });

  it('property: RF distinct brokers per partition; leaders spread evenly (counts differ by at most 1)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }).chain((n) =>
          fc.record({
            n: fc.constant(n),
            rf: fc.integer({ min: 1, max: n }),
            partitions: fc.integer({ min: 1, max: 60 }),
            first: fc.integer({ min: 0, max: 20 }),
          }),
        ),
        ({ n, rf, partitions, first }) => {
          const ids = Array.from({ length: n }, (_, i) => 10 + i * 3);
          const replicas = placeReplicas({ brokers: brokers(...ids), firstPartition: first, partitionCount: partitions, replicationFactor: rf });
          expect(replicas).toHaveLength(partitions);
          const leaderCounts = new Map(ids.map((id) => [id, 0]));
          const replicaCounts = new Map(ids.map((id) => [id, 0]));
          for (const r of replicas) {
            expect(r).toHaveLength(rf);
            expect(new Set(r).size).toBe(rf);
            for (const id of r) {
              expect(ids).toContain(id);
              replicaCounts.set(id, (replicaCounts.get(id) ?? 0) + 1);
            }
            leaderCounts.set(r[0]!, (leaderCounts.get(r[0]!) ?? 0) + 1);
          }
          const leaders = [...leaderCounts.values()];
          expect(Math.max(...leaders) - Math.min(...leaders)).toBeLessThanOrEqual(1);
          // Replicas: every full round of n partitions (same follower shift) gives each broker
          // exactly rf replicas; a partial round or a shift change in the range adds at most 2 * rf.
          const loads = [...replicaCounts.values()];
          expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(2 * rf);
          if (first === 0 && partitions % n === 0) expect(Math.max(...loads)).toBe(Math.min(...loads));
        },
      ),
    );
  });

  it('property: rack-aware placement spans min(RF, racks) racks and spreads leaders evenly', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 10 }).chain((racks) =>
          fc.record({
            racks: fc.constant(racks),
            rf: fc.integer({ min: 1, max: racks.length }),
            partitions: fc.integer({ min: 1, max: 40 }),
          }),
        ),
        ({ racks, rf, partitions }) => {
          const racked = racks.map((rack, i) => ({ brokerId: i + 1, rack }));
          const rackOf = new Map(racked.map((b) => [b.brokerId, b.rack]));
          const rackCount = new Set(racks).size;
          const replicas = placeReplicas({ brokers: racked, firstPartition: 0, partitionCount: partitions, replicationFactor: rf });
          const leaderCounts = new Map(racked.map((b) => [b.brokerId, 0]));
          for (const r of replicas) {
            expect(new Set(r).size).toBe(rf);
            expect(new Set(r.map((id) => rackOf.get(id))).size).toBe(Math.min(rf, rackCount));
            leaderCounts.set(r[0]!, (leaderCounts.get(r[0]!) ?? 0) + 1);
          }
          const leaders = [...leaderCounts.values()];
          expect(Math.max(...leaders) - Math.min(...leaders)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});
