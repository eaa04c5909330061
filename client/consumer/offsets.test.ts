/**
 * PartitionProgress and OffsetCommitter: the committable offset is the first
 * unfinished delivered offset (or the position when all are finished), acks
 * out of order never skip an unfinished record, resets drop stale acks, and
 * commits never overlap.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OffsetCommitter, PartitionProgress, type OffsetToCommit } from './offsets.ts';
import { tpKey } from './types.ts';

describe('PartitionProgress', () => {
  it('commits only up to the first unfinished record', () => {
    const p = new PartitionProgress(10, 10);
    for (const o of [10, 11, 12, 13]) p.delivered(o);
    expect(p.needsCommit()).toBe(false);
    expect(p.finish(12, 0)).toBe(true);
    expect(p.committable()).toBe(10);
    expect(p.finish(10, 0)).toBe(true);
    expect(p.committable()).toBe(11);
    expect(p.finish(11, 0)).toBe(true);
    expect(p.committable()).toBe(13);
    expect(p.finish(13, 0)).toBe(true);
    expect(p.committable()).toBe(14);
    expect(p.needsCommit()).toBe(true);
    expect(p.finish(13, 0)).toBe(false);
  });

  it('an unknown start commits nothing until a record is delivered and finished', () => {
    const p = new PartitionProgress(-1, -1);
    expect(p.needsCommit()).toBe(false);
    p.delivered(500);
    expect(p.needsCommit()).toBe(true); // committable 500: nothing lost, the record is re-read
    p.finish(500, 0);
    expect(p.committable()).toBe(501);
  });

  it('control batches and gaps move the position once earlier records finish', () => {
    const p = new PartitionProgress(0, -1);
    p.delivered(0);
    p.skipTo(5);
    expect(p.committable()).toBe(0);
    p.finish(0, 0);
    expect(p.committable()).toBe(5);
  });

  it('reset (seek) ignores acks of records delivered before it and makes a backwards seek committable', () => {
    const p = new PartitionProgress(0, 0);
    p.delivered(0);
    p.delivered(1);
    p.finish(0, 0);
    p.finish(1, 0);
    p.committedOffset = 2;
    p.reset(1);
    expect(p.finish(1, 0)).toBe(false);
    expect(p.committable()).toBe(1);
    expect(p.needsCommit()).toBe(true);
  });

  it('property: the committable offset is the smallest unfinished delivered offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.array(fc.nat(), { maxLength: 300 }), (count, picks) => {
        const p = new PartitionProgress(0, -1);
        const finished = new Set<number>();
        for (let o = 0; o < count; o++) p.delivered(o * 2); // gaps, as compaction leaves them
        for (const pick of picks) {
          const o = (pick % count) * 2;
          expect(p.finish(o, 0)).toBe(!finished.has(o));
          finished.add(o);
          let expected = count * 2 - 1;
          for (let i = 0; i < count; i++) if (!finished.has(i * 2)) {
            expected = i * 2;
            break;
          }
          expect(p.committable()).toBe(expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('OffsetCommitter', () => {
  it('commits finished offsets only, serialises commits, and skips partitions with nothing new', async () => {
    const sent: OffsetToCommit[][] = [];
    let inFlight = 0;
    let overlap = false;
    const committer = new OffsetCommitter(
      async (offsets) => {
        inFlight += 1;
        if (inFlight > 1) overlap = true;
        sent.push([...offsets]);
        await new Promise((r) => setTimeout(r, 5));
        inFlight -= 1;
      },
      { autoCommit: false, autoCommitIntervalMs: 1_000, onAutoCommitError: () => undefined },
    );
    const a = new PartitionProgress(0, 0);
    const b = new PartitionProgress(7, 7);
    committer.add(tpKey('t', 0), a);
    committer.add(tpKey('t', 1), b);
    a.delivered(0);
    a.delivered(1);
    a.finish(0, 0);
    await Promise.all([committer.commit(), committer.commit()]);
    expect(overlap).toBe(false);
    expect(sent).toEqual([[{ topic: 't', partition: 0, offset: 1 }]]);
    a.finish(1, 0);
    await committer.commit();
    expect(sent[1]).toEqual([{ topic: 't', partition: 0, offset: 2 }]);
  });

  it('a failed commit rejects and a later one retries the same offsets', async () => {
    let fail = true;
    const sent: OffsetToCommit[][] = [];
    const committer = new OffsetCommitter(
      async (offsets) => {
        sent.push([...offsets]);
        if (fail) throw new Error('coordinator moved');
      },
      { autoCommit: false, autoCommitIntervalMs: 1_000, onAutoCommitError: () => undefined },
    );
    const a = new PartitionProgress(0, -1);
    committer.add(tpKey('t', 0), a);
    a.delivered(0);
    a.finish(0, 0);
    await expect(committer.commit()).rejects.toThrow('coordinator moved');
    fail = false;
    await committer.commit();
    expect(sent).toEqual([[{ topic: 't', partition: 0, offset: 1 }], [{ topic: 't', partition: 0, offset: 1 }]]);
    expect(a.committedOffset).toBe(1);
  });
});
