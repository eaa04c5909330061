/**
 * The follower-side replication throttle in the fetcher: a partition this
 * broker is adding is fetched from the broker's follower budget; once it is
 * spent the partition is left out of the fetches (and, with nothing else to
 * fetch, no fetch goes) until the budget is back, while a partition in the
 * ISR goes on being fetched. Method: one node holds the leader's fetch
 * server and the follower's fetcher, each with its own registry; the
 * follower's quota runs on a ManualClock, so its budget comes back only when
 * the test moves that clock (the leader is unthrottled). The fetcher's
 * re-check timer is real and bounded (replicationQuotaLimits.waitMsMax).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../runtime/clock.ts';
import { createLogger } from '../../runtime/logger.ts';
import { Node, type Behaviour } from '../../runtime/node.ts';
import { makeBatch, makeTempDir, removeDir } from '../../storage/testing.ts';
import { PartitionRegistry } from '../partition/registry.ts';
import { fetcherBehaviour } from './fetcher.ts';
import { fetchServerBehaviour } from './server.ts';

const dirs: string[] = [];
const nodes: Node[] = [];
const registries: PartitionRegistry[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop();
  for (const registry of registries.splice(0)) await registry.closeAll();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

const batchesPerPartition = 4;

async function until(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('fetcher: follower replication throttle', () => {
  it('fetches a throttled partition only while the follower budget lasts, and an ISR partition throughout', async () => {
    const leaderDir = makeTempDir('kactus-fetcher-throttle-leader-');
    const followerDir = makeTempDir('kactus-fetcher-throttle-follower-');
    dirs.push(leaderDir, followerDir);
    const leader = new PartitionRegistry(leaderDir, systemClock);
    const followerClock = new ManualClock();
    const follower = new PartitionRegistry(followerDir, followerClock);
    registries.push(leader, follower);
    // Broker 1 leads t-0 (broker 2 is being added) and t-1 (broker 2 in the ISR); four 1,000-byte batches each.
    for (const partition of [0, 1]) {
      const view = leader.open('t', partition, {});
      for (let i = 0; i < batchesPerPartition; i += 1) view.log.append(makeBatch(1, { tag: `p${partition}-${i}`, valueBytes: 1_000 }), { leaderEpoch: 0 });
      view.log.setHighWatermark(view.log.logEndOffset);
      Object.assign(view, { role: 'leader', leaderEpoch: 0, leaderId: 1 });
      const copy = follower.open('t', partition, {});
      Object.assign(copy, { role: 'follower', leaderEpoch: 0, leaderId: 1, followerThrottled: partition === 0 });
    }
    // 1 B/s: the first fetch of t-0 spends the 1-byte burst and leaves ~1 KB of debt.
    follower.replicationQuotas.follower.setRate(1, followerClock.monotonicMs());

    const node = await Node.start({ nodeId: '1', logger: createLogger({ node: '1' }, process.env.LOG_LEVEL ?? 'silent') });
    nodes.push(node);
    const sink: Behaviour<null, unknown> = { init: () => null, receive: (state) => state };
    node.spawn('positions', sink);
    node.spawn('fetch', fetchServerBehaviour({ registry: leader, replicaRef: () => ({ node: '1', path: '/positions' }) }));
    // One batch per partition per fetch (partitionMaxBytes below two batches).
    const fetcher = node.spawn('fetcher', fetcherBehaviour({ brokerId: 2, leaderId: 1, leaderFetchServer: { node: '1', path: '/fetch' }, registry: follower, replicaFetchWaitMaxMs: 50, replicaFetchMaxBytes: 1_200, replicaFetchResponseMaxBytes: 1 << 20 }));
    for (const partition of [0, 1]) node.tell(fetcher, { type: 'AddPartition', topic: 't', partition, leaderEpoch: 0 });

    const throttled = follower.get('t', 0)!.log;
    const inSync = follower.get('t', 1)!.log;
    // The ISR partition is fetched to the end although the throttled one is over its budget.
    await until('t-1 to catch up', () => inSync.logEndOffset === batchesPerPartition);
    expect(throttled.logEndOffset).toBe(1);
    expect(follower.replicationQuotas.follower.isExceeded(followerClock.monotonicMs())).toBe(true);

    // Each time the budget comes back, one more fetch of t-0 goes (and spends it again).
    for (let fetched = 2; fetched <= batchesPerPartition; fetched += 1) {
      followerClock.advance(follower.replicationQuotas.follower.msUntilAvailable(followerClock.monotonicMs()));
      await until(`t-0 to fetch batch ${fetched}`, () => throttled.logEndOffset === fetched);
      expect(follower.replicationQuotas.follower.isExceeded(followerClock.monotonicMs())).toBe(true);
    }
    expect(throttled.read(0, 1 << 20).equals(leader.get('t', 0)!.log.read(0, 1 << 20))).toBe(true);
  });
});
