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
