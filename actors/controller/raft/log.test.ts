/**
 * RaftLog properties (fast-check) and a few tables.
 *
 * Goal: truncate-and-append, conflict finding and term lookup agree with a
 * naive model (a plain array of terms indexed from 1), across compaction.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RaftLog } from './log.ts';
import type { Entry } from './types.ts';

const payload = new Uint8Array([1]);

function entriesFromTerms(terms: readonly number[], firstIndex = 1): Entry[] {
  return terms.map((term, i) => ({ index: firstIndex + i, term, data: payload }));
}

/** Non-decreasing positive terms. */
const termsArbitrary = fc
  .array(fc.integer({ min: 0, max: 2 }), { maxLength: 30 })
  .map((steps) => {
    let term = 1;
    return steps.map((step) => (term += step));
  });

describe('RaftLog', () => {
  it('term lookup and bounds on a fresh log', () => {
    const log = new RaftLog(null, entriesFromTerms([1, 1, 2]), 0);
    expect(log.firstIndex()).toBe(1);
    expect(log.lastIndex()).toBe(3);
    expect(log.lastTerm()).toBe(2);
    expect(log.term(0)).toBe(0);
    expect(log.term(3)).toBe(2);
    expect(log.term(4)).toBeUndefined();
    expect(log.stableIndex()).toBe(3);
  });

  it('findConflict: 0 when all present, first mismatch or new index otherwise', () => {
    const log = new RaftLog(null, entriesFromTerms([1, 1, 2, 2]), 0);
    const table: Array<[number[], number, number]> = [
      // [terms, firstIndex, expected conflict]
      [[1, 1], 1, 0],
      [[2, 2], 3, 0],
      [[2, 2, 3], 3, 5],
      [[1, 3], 2, 3],
      [[], 1, 0],
    ];
    for (const [terms, firstIndex, expected] of table) {
      expect(log.findConflict(entriesFromTerms(terms, firstIndex))).toBe(expected);
    }
  });

  it('findConflictByTerm walks back to a term at or below the given one', () => {
    const log = new RaftLog(null, entriesFromTerms([1, 1, 3, 3, 5]), 0);
    expect(log.findConflictByTerm(5, 4)).toEqual({ index: 4, term: 3 });
    expect(log.findConflictByTerm(5, 2)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(9, 5)).toEqual({ index: 5, term: 5 });
    expect(log.findConflictByTerm(5, 0)).toEqual({ index: 0, term: 0 });
  });

  it('maybeAppend never truncates on a stale, shorter append', () => {
    const log = new RaftLog(null, entriesFromTerms([1, 1, 1]), 0);
    expect(log.maybeAppend(0, 0, 0, entriesFromTerms([1]))).toBe(1);
    expect(log.lastIndex()).toBe(3);
  });

  it('property: truncateAndAppend matches a model array, and unstable entries are exactly the new suffix', () => {
    fc.assert(
      fc.property(termsArbitrary, termsArbitrary, fc.nat(), (base, suffix, cutSeed) => {
        const log = new RaftLog(null, entriesFromTerms(base), 0);
        if (suffix.length === 0) return;
        const at = 1 + (cutSeed % (base.length + 1)); // 1..lastIndex+1
        const previousTerm = at === 1 ? 0 : base[at - 2]!;
        const lifted = suffix.map((term) => term + previousTerm); // keep terms non-decreasing
        log.truncateAndAppend(entriesFromTerms(lifted, at));
        const model = [...base.slice(0, at - 1), ...lifted];
        expect(log.lastIndex()).toBe(model.length);
        for (let index = 1; index <= model.length; index++) expect(log.term(index)).toBe(model[index - 1]);
        expect(log.stableIndex()).toBe(at - 1);
        expect(log.unstableEntries().map((entry) => entry.term)).toEqual(lifted);
      }),
    );
  });

  it('property: after compaction, lookups above the snapshot agree and below it are undefined', () => {
    fc.assert(
      fc.property(termsArbitrary, fc.nat(), (terms, cutSeed) => {
        if (terms.length === 0) return;
        const log = new RaftLog(null, entriesFromTerms(terms), terms.length);
        log.appliedTo(terms.length);
        const snapshotIndex = 1 + (cutSeed % terms.length);
        log.compact({ index: snapshotIndex, term: terms[snapshotIndex - 1]!, voters: [1], data: payload });
        expect(log.firstIndex()).toBe(snapshotIndex + 1);
        expect(log.lastIndex()).toBe(terms.length);
        for (let index = 0; index <= terms.length + 1; index++) {
          const expected = index < snapshotIndex || index > terms.length ? undefined : terms[index - 1];
          expect(log.term(index)).toBe(expected);
        }
        // Conflict search stops at the snapshot boundary.
        expect(log.findConflictByTerm(terms.length, 0).index).toBe(snapshotIndex);
      }),
    );
  });

  it('property: maybeAppend of a leader log onto any divergent-but-uncommitted follower log yields the leader log', () => {
    fc.assert(
      fc.property(termsArbitrary, termsArbitrary, fc.nat(), (leaderBase, followerTail, commonSeed) => {
        // Leader terms are even and the follower's divergent terms odd: Log
        // Matching says an equal (index, term) implies an equal prefix, so a
        // divergent entry never shares a term with the leader's at that index.
        const leader = leaderBase.map((term) => 2 * term);
        const common = commonSeed % (leader.length + 1);
        const followerTerms = [...leader.slice(0, common), ...followerTail.map((t) => 2 * t + 1 + (common === 0 ? 0 : leader[common - 1]!))];
        const follower = new RaftLog(null, entriesFromTerms(followerTerms), common === 0 ? 0 : Math.min(common, followerTerms.length));
        // The leader probes back from its end until the follower accepts, then appends the rest.
        for (let prev = leader.length; prev >= 0; prev--) {
          const prevTerm = prev === 0 ? 0 : leader[prev - 1]!;
          const result = follower.maybeAppend(prev, prevTerm, 0, entriesFromTerms(leader.slice(prev), prev + 1));
          if (result !== null) {
            expect(result).toBe(leader.length);
            break;
          }
        }
        for (let index = 1; index <= leader.length; index++) expect(follower.term(index)).toBe(leader[index - 1]);
      }),
    );
  });
});
