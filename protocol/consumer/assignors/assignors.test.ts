/**
 * Assignors: Kafka's documented examples as golden tables, then properties
 * over random groups (fast-check): every subscribed partition goes to exactly
 * one subscribed member, balance within one for identical subscriptions, and
 * for cooperative-sticky the two-phase revocation: adding or removing a
 * member moves only the partitions that must move, and no partition is ever
 * owned by two members in consecutive generations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignCooperativeSticky } from './cooperative-sticky.ts';
import { assignRange } from './range.ts';
import { assignRoundRobin } from './round-robin.ts';
import { partitionKey, type AssignorMember, type GroupAssignment, type PartitionCountByTopic, type TopicPartition } from './types.ts';

function member(memberId: string, topics: string[], owned: TopicPartition[] = [], generationId = -1, groupInstanceId: string | null = null): AssignorMember {
  return { memberId, groupInstanceId, topics, ownedPartitions: owned, generationId, rackId: null };
}

const tp = (s: string): TopicPartition => {
  const [topic, partition] = s.split('-') as [string, string];
  return { topic, partition: Number(partition) };
};

function flat(assignment: GroupAssignment): Record<string, string[]> {
  return Object.fromEntries([...assignment].map(([m, list]) => [m, list.map((p) => `${p.topic}-${p.partition}`)]));
}

describe('assignors: Kafka examples', () => {
  const twoTopics: PartitionCountByTopic = new Map([['t0', 3], ['t1', 3]]);
  const both = ['t0', 't1'];

  it('range: per topic, the first members get one more', () => {
    expect(flat(assignRange([member('C1', both), member('C0', both)], twoTopics))).toEqual({
      C1: ['t0-2', 't1-2'],
      C0: ['t0-0', 't0-1', 't1-0', 't1-1'],
    });
  });

  it('range: static members sort first, by instance id', () => {
    const out = assignRange([member('a', ['t0']), member('z', ['t0'], [], -1, 'i1')], new Map([['t0', 3]]));
    expect(flat(out)).toEqual({ a: ['t0-2'], z: ['t0-0', 't0-1'] });
  });

  it('roundrobin: all partitions dealt in order', () => {
    expect(flat(assignRoundRobin([member('C0', both), member('C1', both)], twoTopics))).toEqual({
      C0: ['t0-0', 't0-2', 't1-1'],
      C1: ['t0-1', 't1-0', 't1-2'],
    });
  });

  it('roundrobin: members not subscribed to a topic are skipped', () => {
    const counts = new Map([['t0', 1], ['t1', 2], ['t2', 3]]);
    const out = assignRoundRobin([member('C0', ['t0']), member('C1', ['t0', 't1']), member('C2', ['t0', 't1', 't2'])], counts);
    expect(flat(out)).toEqual({ C0: ['t0-0'], C1: ['t1-0'], C2: ['t1-1', 't2-0', 't2-1', 't2-2'] });
  });

  it('cooperative-sticky: the javadoc example (3 members, 4 topics of 2 partitions)', () => {
    const topics = ['t0', 't1', 't2', 't3'];
    const counts = new Map(topics.map((t) => [t, 2]));
    const out = assignCooperativeSticky(['C0', 'C1', 'C2'].map((m) => member(m, topics)), counts);
    expect(flat(out)).toEqual({
      C0: ['t0-0', 't1-1', 't3-0'],
      C1: ['t0-1', 't2-0', 't3-1'],
      C2: ['t1-0', 't2-1'],
    });
  });

  it('cooperative-sticky: C1 leaves; the survivors keep theirs and take only C1s', () => {
    const topics = ['t0', 't1', 't2', 't3'];
    const counts = new Map(topics.map((t) => [t, 2]));
    const out = assignCooperativeSticky(
      [member('C0', topics, ['t0-0', 't1-1', 't3-0'].map(tp), 1), member('C2', topics, ['t1-0', 't2-1'].map(tp), 1)],
      counts,
    );
    expect(flat(out)).toEqual({ C0: ['t0-0', 't0-1', 't1-1', 't3-0'], C2: ['t1-0', 't2-0', 't2-1', 't3-1'] });
  });

  it('cooperative-sticky: a partition claimed twice in one generation is revoked from both first', () => {
    const counts = new Map([['t', 2]]);
    const out = assignCooperativeSticky([member('A', ['t'], [tp('t-0')], 3), member('B', ['t'], [tp('t-0'), tp('t-1')], 3)], counts);
    expect(flat(out)).toEqual({ A: [], B: ['t-1'] });
  });

  it('cooperative-sticky: claims of an older generation do not count', () => {
    const counts = new Map([['t', 2]]);
    const out = assignCooperativeSticky([member('A', ['t'], [tp('t-0'), tp('t-1')], 2), member('B', ['t'], [tp('t-1')], 3)], counts);
    expect(flat(out)).toEqual({ A: ['t-0'], B: ['t-1'] });
  });
});

// ---------------------------------------------------------------- properties

type Scenario = { counts: Map<string, number>; members: AssignorMember[] };

const topicNames = ['a', 'b', 'c', 'd'];

const countsArb = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: topicNames.length, maxLength: topicNames.length }).map(
  (ns) => new Map(topicNames.map((t, i) => [t, ns[i]!])),
);

/** Members with arbitrary (non-empty) subscriptions, some to topics that do not exist. */
const generalArb: fc.Arbitrary<Scenario> = fc
  .record({
    counts: countsArb,
    subscriptions: fc.array(fc.subarray([...topicNames, 'missing'], { minLength: 1 }), { minLength: 1, maxLength: 7 }),
    statics: fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
  })
  .map(({ counts, subscriptions, statics }) => ({
    counts,
    members: subscriptions.map((topics, i) => member(`m${(i * 7) % 10}${i}`, topics, [], -1, statics[i] ? `i${9 - i}` : null)),
  }));

/** Members that all subscribe to the same topics. */
const identicalArb: fc.Arbitrary<Scenario> = fc
  .record({ counts: countsArb, topics: fc.subarray(topicNames, { minLength: 1 }), memberCount: fc.integer({ min: 1, max: 7 }) })
  .map(({ counts, topics, memberCount }) => ({
    counts,
    members: Array.from({ length: memberCount }, (_, i) => member(`m${(i * 3) % 7}${i}`, topics)),
  }));

function subscribedPartitions(s: Scenario): string[] {
  const out: string[] = [];
  for (const topic of new Set(s.members.flatMap((m) => m.topics))) {
    for (let p = 0; p < (s.counts.get(topic) ?? 0); p++) out.push(partitionKey({ topic, partition: p }));
  }
  return out.sort();
}

/** Each partition at most once, only to a subscriber; every member present. */
function checkValid(s: Scenario, assignment: GroupAssignment): string[] {
  expect([...assignment.keys()].sort()).toEqual(s.members.map((m) => m.memberId).sort());
  const seen: string[] = [];
  for (const m of s.members) {
    for (const p of assignment.get(m.memberId)!) {
      expect(m.topics).toContain(p.topic);
      expect(p.partition).toBeLessThan(s.counts.get(p.topic)!);
      seen.push(partitionKey(p));
    }
  }
  expect(new Set(seen).size).toBe(seen.length);
  return seen.sort();
}

function counts(assignment: GroupAssignment): number[] {
  return [...assignment.values()].map((l) => l.length);
}

const eager = [
  ['range', assignRange],
  ['roundrobin', assignRoundRobin],
  ['cooperative-sticky (no owned partitions)', assignCooperativeSticky],
] as const;

describe('assignors: properties', () => {
  it.each(eager)('%s: each subscribed partition to exactly one subscribed member', (_name, assign) => {
    fc.assert(
      fc.property(generalArb, (s) => {
        expect(checkValid(s, assign(s.members, s.counts))).toEqual(subscribedPartitions(s));
      }),
      { numRuns: 300 },
    );
  });

  it.each(eager)('%s: deterministic whatever the member order', (_name, assign) => {
    fc.assert(
      fc.property(generalArb, (s) => {
        expect(flat(assign([...s.members].reverse(), s.counts))).toEqual(flat(assign(s.members, s.counts)));
      }),
      { numRuns: 100 },
    );
  });

  it.each([
    ['roundrobin', assignRoundRobin],
    ['cooperative-sticky', assignCooperativeSticky],
  ] as const)('%s: balanced within one for identical subscriptions', (_name, assign) => {
    fc.assert(
      fc.property(identicalArb, (s) => {
        const n = counts(assign(s.members, s.counts));
        expect(Math.max(...n) - Math.min(...n)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it('range: balanced within one per topic for identical subscriptions', () => {
    fc.assert(
      fc.property(identicalArb, (s) => {
        const out = assignRange(s.members, s.counts);
        for (const topic of s.members[0]!.topics) {
          const n = [...out.values()].map((l) => l.filter((p) => p.topic === topic).length);
          expect(Math.max(...n) - Math.min(...n)).toBeLessThanOrEqual(1);
        }
      }),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------- cooperative two-phase

/**
 * Runs cooperative rebalances as the consumers do: each member reports what
 * it owns (its last assignment) with the generation it got it in; a member
 * keeps only what is in its new assignment (revoking the rest). Checks, for
 * every generation, that nothing is assigned to one member while another
 * still owned it in the previous generation. Stops when the assignment stops
 * changing (at most `roundsMax`).
 */
function converge(counts: PartitionCountByTopic, start: AssignorMember[], roundsMax = 4): { rounds: GroupAssignment[] } {
  let members = start;
  const rounds: GroupAssignment[] = [];
  let generationId = Math.max(0, ...start.map((m) => m.generationId)) + 1;
  for (let round = 0; round < roundsMax; round++) {
    const assignment = assignCooperativeSticky(members, counts);
    const ownerBefore = new Map<string, string>();
    for (const m of members) for (const p of m.ownedPartitions) ownerBefore.set(partitionKey(p), m.memberId);
    for (const [memberId, list] of assignment) {
      for (const p of list) {
        const previous = ownerBefore.get(partitionKey(p));
        expect(previous === undefined || previous === memberId, `${partitionKey(p)} given to ${memberId} while ${previous} owns it`).toBe(true);
      }
    }
    rounds.push(assignment);
    const unchanged = members.every((m) => flat(new Map([[m.memberId, [...m.ownedPartitions]]]))[m.memberId]!.join() === flat(assignment)[m.memberId]!.join());
    if (unchanged && round > 0) break;
    members = members.map((m) => ({ ...m, ownedPartitions: assignment.get(m.memberId)!, generationId }));
    generationId += 1;
  }
  return { rounds };
}

function owners(assignment: GroupAssignment): Map<string, string> {
  const out = new Map<string, string>();
  for (const [memberId, list] of assignment) for (const p of list) out.set(partitionKey(p), memberId);
  return out;
}

describe('cooperative-sticky: incremental rebalances', () => {
  it('adding a member moves only the partitions it takes; the others are never revoked', () => {
    fc.assert(
      fc.property(identicalArb, (s) => {
        const topics = s.members[0]!.topics;
        const initial = assignCooperativeSticky(s.members, s.counts);
        const before = owners(initial);
        const joined = [
          ...s.members.map((m) => ({ ...m, ownedPartitions: initial.get(m.memberId)!, generationId: 1 })),
          member('newcomer', [...topics]),
        ];
        const { rounds } = converge(s.counts, joined);
        const final = rounds[rounds.length - 1]!;
        const after = owners(final);
        expect([...after.keys()].sort()).toEqual(subscribedPartitions(s)); // all assigned once converged
        for (const [key, owner] of after) {
          if (owner !== 'newcomer') expect(owner).toBe(before.get(key)); // old members only lose
        }
        // Every round, an old member keeps all it still has at the end: nothing is revoked then given back.
        for (const round of rounds) {
          for (const m of s.members) {
            const kept = new Set(final.get(m.memberId)!.map(partitionKey));
            for (const p of round.get(m.memberId)!) expect(kept.has(partitionKey(p)) || before.get(partitionKey(p)) === m.memberId).toBe(true);
            for (const key of kept) expect(round.get(m.memberId)!.map(partitionKey)).toContain(key);
          }
        }
        const n = counts(final);
        expect(Math.max(...n) - Math.min(...n)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it('removing a member moves only its partitions, in one rebalance', () => {
    fc.assert(
      fc.property(identicalArb.filter((s) => s.members.length >= 2), fc.nat(), (s, pick) => {
        const initial = assignCooperativeSticky(s.members, s.counts);
        const leaving = s.members[pick % s.members.length]!.memberId;
        const stay = s.members.filter((m) => m.memberId !== leaving).map((m) => ({ ...m, ownedPartitions: initial.get(m.memberId)!, generationId: 1 }));
        const next = assignCooperativeSticky(stay, s.counts);
        for (const m of stay) {
          const now = new Set(next.get(m.memberId)!.map(partitionKey));
          for (const p of m.ownedPartitions) expect(now.has(partitionKey(p))).toBe(true);
        }
        expect([...owners(next).keys()].sort()).toEqual(subscribedPartitions(s));
        const n = counts(next);
        expect(Math.max(...n) - Math.min(...n)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });

  it('any subscriptions: never two owners across generations, converges to every partition assigned', () => {
    fc.assert(
      fc.property(generalArb, generalArb, (s1, s2) => {
        // Start from s1's members and counts, then the membership changes to s2's.
        const initial = assignCooperativeSticky(s1.members, s1.counts);
        const byId = new Map(s1.members.map((m) => [m.memberId, initial.get(m.memberId)!]));
        const changed = s2.members.map((m) => ({ ...m, ownedPartitions: byId.get(m.memberId) ?? [], generationId: byId.has(m.memberId) ? 1 : -1 }));
        const { rounds } = converge(s1.counts, changed);
        const final = rounds[rounds.length - 1]!;
        const scenario = { counts: s1.counts, members: changed };
        expect(checkValid(scenario, final)).toEqual(subscribedPartitions(scenario));
      }),
      { numRuns: 200 },
    );
  });
});

describe('cooperative-sticky: untrusted claims', () => {
  /** Claims as a buggy or stale client might send them: duplicates, overlaps, unknown topics, mixed generations. */
  const claimsArb = fc.array(
    fc.record({
      topic: fc.constantFrom(...topicNames, 'missing'),
      partition: fc.integer({ min: 0, max: 12 }),
    }),
    { maxLength: 12 },
  );

  it('stays valid, and never gives a member a partition another member claims unless it owns it in the newest generation', () => {
    fc.assert(
      fc.property(generalArb, fc.array(fc.tuple(claimsArb, fc.integer({ min: -1, max: 3 })), { minLength: 7, maxLength: 7 }), (s, claims) => {
        const members = s.members.map((m, i) => ({ ...m, ownedPartitions: claims[i]![0], generationId: claims[i]![1] }));
        const out = assignCooperativeSticky(members, s.counts);
        checkValid({ counts: s.counts, members }, out);
        const newest = Math.max(...members.map((m) => m.generationId));
        for (const [memberId, list] of out) {
          const self = members.find((m) => m.memberId === memberId)!;
          for (const p of list) {
            const others = members.filter((m) => m.memberId !== memberId && m.ownedPartitions.some((o) => partitionKey(o) === partitionKey(p)));
            if (others.length === 0) continue;
            expect(self.generationId).toBe(newest);
            expect(self.ownedPartitions.map(partitionKey)).toContain(partitionKey(p));
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
