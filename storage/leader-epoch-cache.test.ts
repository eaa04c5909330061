import { describe, expect, it } from 'vitest';
import { type EpochEntry, LeaderEpochCache } from './leader-epoch-cache.ts';

function cache(entries: EpochEntry[] = []): { c: LeaderEpochCache; writes: EpochEntry[][] } {
  const writes: EpochEntry[][] = [];
  const c = new LeaderEpochCache(entries, (e) => writes.push(e.map((x) => ({ ...x }))));
  return { c, writes };
}
const e = (leaderEpoch: number, startOffset: number): EpochEntry => ({ leaderEpoch, startOffset });

describe('leader-epoch cache', () => {
  it('assigns new epochs, ignores repeats, and persists each change', () => {
    const { c, writes } = cache();
    c.assign(0, 0);
    c.assign(0, 5); // same epoch, later offset: no change
    c.assign(2, 10);
    expect(c.entries()).toEqual([e(0, 0), e(2, 10)]);
    expect(writes.length).toBe(2);
    expect(c.latestEpoch()).toBe(2);
  });

  it('a follower learning a different history replaces conflicting entries', () => {
    const { c } = cache([e(0, 0), e(2, 10), e(3, 20)]);
    c.assign(2, 8); // the leader says epoch 2 started at 8
    expect(c.entries()).toEqual([e(0, 0), e(2, 8)]);
  });

  // Kafka's LeaderEpochFileCacheTest cases for endOffsetFor.
  it.each([
    ['undefined epoch', -1, { leaderEpoch: -1, endOffset: -1 }],
    ['the latest epoch ends at the log end', 4, { leaderEpoch: 4, endOffset: 100 }],
    ['a middle epoch ends where the next starts', 2, { leaderEpoch: 2, endOffset: 30 }],
    ['an unknown epoch between known ones maps to the floor', 3, { leaderEpoch: 2, endOffset: 30 }],
    ['an epoch older than all known ones', 0, { leaderEpoch: 0, endOffset: 10 }],
    ['an epoch newer than all known ones', 7, { leaderEpoch: -1, endOffset: -1 }],
  ])('endOffsetFor: %s', (_name, requested, expected) => {
    const { c } = cache([e(1, 10), e(2, 20), e(4, 30)]);
    expect(c.endOffsetFor(requested, 100)).toEqual(expected);
  });

  it('endOffsetFor on an empty cache is undefined', () => {
    expect(cache().c.endOffsetFor(0, 5)).toEqual({ leaderEpoch: -1, endOffset: -1 });
  });

  it('truncates from the end (log truncation) and from the start (retention)', () => {
    const { c, writes } = cache([e(1, 10), e(2, 20), e(4, 30)]);
    c.truncateFromEnd(30);
    expect(c.entries()).toEqual([e(1, 10), e(2, 20)]);
    c.truncateFromEnd(50); // nothing to drop: no write
    expect(writes.length).toBe(1);
    c.truncateFromStart(25);
    expect(c.entries()).toEqual([e(2, 25)]);
    c.truncateFromStart(5); // before everything: no change
    expect(c.entries()).toEqual([e(2, 25)]);
    expect(c.epochForOffset(40)).toBe(2);
    expect(c.epochForOffset(3)).toBe(-1);
    c.clear();
    expect(c.entries()).toEqual([]);
  });

  it('asserts its invariants and drops invalid entries from untrusted checkpoints', () => {
    expect(() => new LeaderEpochCache([e(2, 10), e(1, 20)], () => {})).toThrow(/increase/);
    expect(() => new LeaderEpochCache([e(1, 10), e(2, 5)], () => {})).toThrow(/decrease/);
    const c = LeaderEpochCache.fromUntrusted([e(1, 10), e(0, 20), e(3, 5), e(4, 30), e(-1, 40)], () => {});
    expect(c.entries()).toEqual([e(1, 10), e(4, 30)]);
  });
});
