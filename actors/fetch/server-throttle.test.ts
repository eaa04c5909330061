/**
 * The leader-side replication throttle in the fetch server: a follower being
 * added (not in the ISR) is served from the broker's leader budget; while it
 * is spent, its partitions answer with no records and no error, and the other
 * partitions of the same fetch, other followers and consumers are served as
 * usual. Virtual time (ManualClock): the budget comes back only when the
 * test moves the clock, so nothing here depends on timing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../runtime/clock.ts';
import { createLogger } from '../../runtime/logger.ts';
import { Node, type Behaviour } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import { makeBatch, makeTempDir, removeDir } from '../../storage/testing.ts';
import type { Fetch, FetchReply } from '../../protocol/apis/data.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { PartitionRegistry } from '../partition/registry.ts';
import { fetchServerBehaviour } from './server.ts';

const dirs: string[] = [];
const nodes: Node[] = [];
const registries: PartitionRegistry[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop();
  for (const registry of registries.splice(0)) await registry.closeAll();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

/** Broker 1 leads t-0 (replica 2 being added, throttled) and t-1 (nothing throttled), 10 records each. */
async function throttledLeader(rateBytesPerSec: number): Promise<{ node: Node; clock: ManualClock; registry: PartitionRegistry }> {
  const dir = makeTempDir('kactus-fetch-throttle-');
  dirs.push(dir);
  const clock = new ManualClock();
  const registry = new PartitionRegistry(dir, clock);
  registries.push(registry);
  for (const partition of [0, 1]) {
    const view = registry.open('t', partition, {});
    view.log.append(makeBatch(10, { tag: `p${partition}` }), { leaderEpoch: 0 });
    view.log.setHighWatermark(view.log.logEndOffset);
    view.role = 'leader';
    view.leaderEpoch = 0;
    view.leaderId = 1;
  }
  registry.get('t', 0)!.leaderThrottledReplicas = new Set([2]);
  registry.replicationQuotas.leader.setRate(rateBytesPerSec, clock.monotonicMs());
  const node = await Node.start({ nodeId: '1', logger: createLogger({ node: '1' }, process.env.LOG_LEVEL ?? 'silent') });
  nodes.push(node);
  const sink: Behaviour<null, unknown> = { init: () => null, receive: (state) => state };
  node.spawn('positions', sink);
  node.spawn('fetch', fetchServerBehaviour({ registry, replicaRef: () => ({ node: '1', path: '/positions' }) }));
  return { node, clock, registry };
}

function fetch(node: Node, replicaId: number, partitions: number[]): Promise<FetchReply> {
  return node.ask<Fetch, FetchReply>(
    { node: '1', path: '/fetch' } as Ref<Fetch>,
    (replyTo) => ({
      type: 'Fetch',
      replicaId,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      partitions: partitions.map((partition) => ({ topic: 't', partition, fetchOffset: 0, partitionMaxBytes: 1 << 20, currentLeaderEpoch: 0, lastFetchedEpoch: -1 })),
      replyTo,
    }),
    { timeoutMs: 2_000 },
  );
}

const recordBytes = (reply: FetchReply, partition: number): number => reply.partitions.find((p) => p.partition === partition)?.records?.length ?? 0;

describe('fetch server: leader replication throttle', () => {
  it('serves the throttled replica until the budget is spent, then nothing (no error) until it is back; the rest is unaffected', async () => {
    // 1 B/s: one read spends the whole 1-byte burst and goes deep into debt.
    const { node, clock, registry } = await throttledLeader(1);
    const first = await fetch(node, 2, [0, 1]);
    expect(recordBytes(first, 0)).toBeGreaterThan(0);
    expect(recordBytes(first, 1)).toBeGreaterThan(0);
    const spent = recordBytes(first, 0);
    // Only the throttled partition's bytes were charged.
    expect(registry.replicationQuotas.leader.availableBytes(clock.monotonicMs())).toBe(1 - spent);

    const second = await fetch(node, 2, [0, 1]);
    expect(second.partitions.find((p) => p.partition === 0)).toMatchObject({ errorCode: ErrorCode.NONE, records: null, divergingEpoch: null, highWatermark: 10 });
    expect(recordBytes(second, 1)).toBeGreaterThan(0);

    // Another follower (in the ISR) and a consumer of the same partition are never throttled.
    expect(recordBytes(await fetch(node, 3, [0]), 0)).toBe(spent);
    expect(recordBytes(await fetch(node, -1, [0]), 0)).toBe(spent);

    // Once the debt is paid, the throttled replica is served again.
    clock.advance(registry.replicationQuotas.leader.msUntilAvailable(clock.monotonicMs()));
    expect(recordBytes(await fetch(node, 2, [0]), 0)).toBe(spent);
  });

  it('an unthrottled broker (no rate set) serves a replica being added as any other', async () => {
    const { node } = await throttledLeader(Number.POSITIVE_INFINITY);
    for (let i = 0; i < 3; i += 1) expect(recordBytes(await fetch(node, 2, [0]), 0)).toBeGreaterThan(0);
  });
});
