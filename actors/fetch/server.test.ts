/**
 * The fetch server's follower bookkeeping: which follower fetches count as
 * the follower's position (FollowerFetched to the partition's replica actor,
 * which moves the high watermark and grows the ISR from it).
 *
 * A follower whose last fetched epoch diverges from the leader's log (it led
 * an epoch the leader does not have, and holds records that never
 * replicated) fetches from its own log end, which may be at or past the
 * leader's. Counting that offset as its position would let the leader treat
 * the follower's divergent suffix as a copy of its own records: move the high
 * watermark over them, or take the follower into the ISR, although it has
 * other data at those offsets; if the leader then died, that follower could
 * be elected with acknowledged records missing. Kafka does not update the
 * follower's state on a diverging fetch (ReplicaManager: "the replica state
 * does not get updated"); nor on an out-of-range one.
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

type Reported = { type: 'FollowerFetched'; replicaId: number; fetchOffset: number };

/** A leader of t-0 at epoch 2: offsets 0-2 written in epoch 0, 3-5 in epoch 2. */
async function leaderWithFetchServer(): Promise<{ node: Node; reported: Reported[] }> {
  const dir = makeTempDir('kactus-fetch-server-');
  dirs.push(dir);
  const registry = new PartitionRegistry(dir, new ManualClock());
  registries.push(registry);
  const view = registry.open('t', 0, {});
  view.log.append(makeBatch(3, { tag: 'epoch0' }), { leaderEpoch: 0 });
  view.log.append(makeBatch(3, { tag: 'epoch2' }), { leaderEpoch: 2 });
  view.role = 'leader';
  view.leaderEpoch = 2;
  view.leaderId = 1;
  const node = await Node.start({ nodeId: '1', logger: createLogger({ node: '1' }, process.env.LOG_LEVEL ?? 'silent') });
  nodes.push(node);
  const reported: Reported[] = [];
  const recorder: Behaviour<null, Reported> = { init: () => null, receive: (state, msg) => (reported.push(msg), state) };
  node.spawn('positions', recorder);
  node.spawn('fetch', fetchServerBehaviour({ registry, replicaRef: () => ({ node: '1', path: '/positions' }) }));
  return { node, reported };
}

async function followerFetch(node: Node, fetchOffset: number, lastFetchedEpoch: number): Promise<FetchReply> {
  return node.ask<Fetch, FetchReply>(
    { node: '1', path: '/fetch' } as Ref<Fetch>,
    (replyTo) => ({
      type: 'Fetch',
      replicaId: 2,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      partitions: [{ topic: 't', partition: 0, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: 2, lastFetchedEpoch }],
      replyTo,
    }),
    { timeoutMs: 2_000 },
  );
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

describe('fetch server: follower positions', () => {
  it('a fetch that matches the leader log reports the follower position', async () => {
    const { node, reported } = await leaderWithFetchServer();
    const reply = await followerFetch(node, 3, 0);
    expect(reply.partitions[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(reply.partitions[0]!.divergingEpoch).toBeNull();
    await settle();
    // logStartOffset -1: this fetch did not carry the follower's log start.
    expect(reported).toEqual([{ type: 'FollowerFetched', replicaId: 2, fetchOffset: 3, logStartOffset: -1 }]);
  });

  it('a diverging fetch (an epoch the leader never had) is answered with the divergence and reports nothing', async () => {
    const { node, reported } = await leaderWithFetchServer();
    // The follower led epoch 1 and wrote offsets 3-6 that never replicated.
    const reply = await followerFetch(node, 7, 1);
    expect(reply.partitions[0]!.divergingEpoch).toEqual({ epoch: 0, endOffset: 3 });
    await settle();
    expect(reported).toEqual([]);
  });

  it('an out-of-range fetch reports nothing', async () => {
    const { node, reported } = await leaderWithFetchServer();
    const reply = await followerFetch(node, 9, -1);
    expect(reply.partitions[0]!.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    await settle();
    expect(reported).toEqual([]);
  });
});
