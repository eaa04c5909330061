/**
 * Found by the chaos harness (CI seed 1, run ci4): after a controller kill
 * and a pause, broker 3's fetcher looped forever on partition chaos-1,
 * logging `fetcher.truncated_on_divergence` from 203 to 203 (epoch 0)
 * thousands of times a second for over a minute; broker 3 never rejoined
 * the ISR ([2,1] at the end) and the cluster did not settle.
 *
 * Scenario: broker 3 became leader in epoch 1 with log end 203 and, since
 * 408d387, recorded epoch 1's start at 203 (assignLeaderEpochStart) before
 * appending anything; it was then paused and broker 2 became leader in epoch
 * 2 (cache: epoch 0, then epoch 2 at 203). Back as a follower, broker 3
 * fetches with lastFetchedEpoch 1; the leader answers diverging {epoch 0,
 * end 203}; the follower calls log.truncateTo(203), which returns at once
 * because 203 >= its log end, and leaves the epoch-1 entry in its cache, so
 * the next fetch carries lastFetchedEpoch 1 again: a livelock.
 *
 * Kafka's UnifiedLog.truncateTo handles exactly this ("we may have a
 * conflicting epoch entry at the end of the log ... if this broker was a
 * leader and inserted the first start offset entry, but then failed to
 * append any entries before another leader was elected"): when the target
 * is at or past the log end it still calls
 * leaderEpochCache.truncateFromEnd(logEndOffset). storage/log.ts should do
 * the same.
 *
 * Goal: truncating to the log end drops an epoch entry that starts there.
 * Method: a partition log with records in epoch 0, epoch 1 assigned at the
 * log end with no records, then truncateTo(log end).
 *
 * Fixed in storage/log.ts truncateTo.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../runtime/clock.ts';
import { PartitionLog } from '../../storage/log.ts';
import { makeBatch, makeTempDir, removeDir } from '../../storage/testing.ts';
import fc from 'fast-check';
import { followerTruncation } from '../../actors/fetch/fetcher.ts';

const dirs: string[] = [];
const logs: PartitionLog[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await Promise.resolve(log.close()).catch(() => undefined);
  for (const dir of dirs.splice(0)) removeDir(dir);
});

describe('leader epoch cache: truncation to the log end', () => {
  it('drops an epoch entry that starts at the log end (it was kept, and the follower looped on divergence)', () => {
    const dir = makeTempDir();
    dirs.push(dir);
    const log = PartitionLog.open({ dir, clock: new ManualClock() });
    logs.push(log);
    log.append(makeBatch(3, { tag: 'a' }), { leaderEpoch: 0 });
    const end = log.logEndOffset;
    log.assignLeaderEpochStart(1); // was leader in epoch 1, appended nothing
    expect(log.leaderEpochCache.latestEpoch()).toBe(1);
    // Follower again: the new leader says epoch 0 ends at `end`.
    log.truncateTo(end);
    expect(log.leaderEpochCache.latestEpoch()).toBe(0);
  });
});

/*
 * Found by the chaos harness (seed 2, 300 s, txn workloads, problem 8 of
 * test/chaos/README.md: "a follower sometimes does not rejoin the ISR"):
 * broker 1 led chaos-0 in epoch 6 and appended 2704-2705, which never
 * replicated; broker 3 later led it with epoch 5 (broker 2's) running to
 * 2706 and more. Broker 1, following again, fetched with lastFetchedEpoch 6;
 * the leader answered diverging {epoch 5, end >= 2706}; the fetcher
 * truncated to min(2706, its log end 2706), a no-op, kept its epoch-6
 * records, and fetched with epoch 6 again: 485,000 truncated_on_divergence
 * lines in 5 minutes and never back in the ISR. Kafka's follower
 * (getOffsetTruncationState) also bounds the truncation by its own end of
 * the leader's epoch (where its epoch 6 begins), and truncates in steps when
 * it does not know the leader's epoch at all.
 */
type Segment = { epoch: number; count: number };

function logWith(history: Segment[], currentEpoch?: number): PartitionLog {
  const dir = makeTempDir();
  dirs.push(dir);
  const log = PartitionLog.open({ dir, clock: new ManualClock() });
  logs.push(log);
  for (const { epoch, count } of history) if (count > 0) log.append(makeBatch(count, { tag: `e${epoch}` }), { leaderEpoch: epoch });
  // A leader records its own epoch's start when it takes over, so its latest epoch is the newest of all.
  if (currentEpoch !== undefined) log.assignLeaderEpochStart(currentEpoch);
  return log;
}

/** Follows the protocol: fetch with our latest epoch, truncate per the leader's answer, until no divergence (bounded). */
function reconcile(leader: PartitionLog, follower: PartitionLog): number {
  for (let round = 1; round <= 20; round += 1) {
    const lastFetchedEpoch = follower.leaderEpochCache.latestEpoch();
    if (lastFetchedEpoch < 0) return round;
    const answer = leader.endOffsetForEpoch(lastFetchedEpoch);
    // The fetch server's divergence check: the follower's epoch and position match the leader's log.
    if (answer.leaderEpoch === lastFetchedEpoch && answer.endOffset >= follower.logEndOffset) return round;
    if (answer.endOffset < 0) {
      follower.truncateTo(0);
      continue;
    }
    follower.truncateTo(followerTruncation(follower, answer).offset);
  }
  throw new Error('no convergence in 20 rounds');
}

/** The epoch of every offset of a log. */
function epochsByOffset(log: PartitionLog): number[] {
  return Array.from({ length: log.logEndOffset }, (_, offset) => log.leaderEpochCache.epochForOffset(offset));
}

describe('follower truncation after divergence', () => {
  it('drops the records of an epoch the leader never had even when the leader epoch below it ends past our log end (seed 2: it looped)', () => {
    const leader = logWith([{ epoch: 0, count: 3 }, { epoch: 5, count: 6 }, { epoch: 7, count: 2 }], 8);
    const follower = logWith([{ epoch: 0, count: 3 }, { epoch: 5, count: 2 }, { epoch: 6, count: 2 }]);
    // Fetch with epoch 6 at 7: the leader's largest epoch <= 6 is 5, ending at 9 (past our log end 7).
    expect(leader.endOffsetForEpoch(6)).toEqual({ leaderEpoch: 5, endOffset: 9 });
    expect(followerTruncation(follower, { leaderEpoch: 5, endOffset: 9 })).toEqual({ offset: 5, complete: true });
    reconcile(leader, follower);
    expect(follower.logEndOffset).toBe(5);
    expect(follower.leaderEpochCache.latestEpoch()).toBe(5);
  });

  it('truncates in steps when the follower does not know the epoch the leader answers with', () => {
    const leader = logWith([{ epoch: 0, count: 2 }, { epoch: 2, count: 3 }, { epoch: 5, count: 3 }, { epoch: 7, count: 1 }], 8);
    // Epoch 0 in two batches (0-1, then 2, which the new leader never got), so offset 2 is a batch boundary.
    const follower = logWith([{ epoch: 0, count: 2 }, { epoch: 0, count: 1 }, { epoch: 3, count: 2 }, { epoch: 6, count: 2 }]);
    expect(followerTruncation(follower, { leaderEpoch: 5, endOffset: 8 })).toEqual({ offset: 5, complete: false });
    reconcile(leader, follower);
    expect(epochsByOffset(follower)).toEqual(epochsByOffset(leader).slice(0, follower.logEndOffset));
    expect(follower.logEndOffset).toBe(2);
  });

  it('property: a follower always converges to a prefix of the leader log, keeping the common prefix', () => {
    // Two histories that share a prefix and then diverge; epochs increase within each (as leader epochs do).
    const history = fc.array(fc.record({ gap: fc.integer({ min: 1, max: 3 }), count: fc.integer({ min: 0, max: 3 }) }), { maxLength: 5 });
    fc.assert(
      fc.property(history, history, history, (common, leaderTail, followerTail) => {
        const build = (tail: { gap: number; count: number }[], parity: number): Segment[] => {
          let epoch = 0;
          const out: Segment[] = [];
          for (const c of common) out.push({ epoch: (epoch += c.gap * 2), count: c.count });
          // Different epochs after the common prefix (even for the leader, odd for the follower), as two leaders would have.
          for (const t of tail) out.push({ epoch: (epoch += t.gap * 2) + parity, count: t.count });
          return out;
        };
        const leader = logWith(build(leaderTail, 0), 1_000);
        const follower = logWith(build(followerTail, 1));
        const commonLength = common.reduce((n, c) => n + c.count, 0);
        reconcile(leader, follower);
        const leaderEpochs = epochsByOffset(leader);
        expect(epochsByOffset(follower)).toEqual(leaderEpochs.slice(0, follower.logEndOffset));
        expect(follower.logEndOffset).toBeGreaterThanOrEqual(Math.min(commonLength, leader.logEndOffset));
      }),
      { numRuns: 60 },
    );
  });
});

