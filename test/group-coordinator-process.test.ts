/**
 * Group coordinator failover across real broker processes: committed offsets
 * and the group's membership live in `__consumer_offsets` (RF 3, acks=all),
 * so when the coordinator broker is SIGKILLed the new leader of the group's
 * partition loads them and serves them intact. Method: three broker
 * processes with offsets.topic.num.partitions=3; a member joins, syncs and
 * commits through the wire API; the coordinator is killed; FindCoordinator
 * (through the survivors) names another broker, whose OffsetFetch returns
 * the same offsets and whose DescribeGroup shows the member, still able to
 * heartbeat. Every wait is bounded; children are killed in afterEach.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../protocol/errors.ts';
import { killAllChildren } from './support/processes.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { askCoordinator, askGroups, findCoordinator, heartbeat, joinAndSync, sleep, type Reply } from './group-coordinator-support.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await killAllChildren();
  await cluster?.cleanup();
  cluster = undefined;
});

describe('group coordinator across broker processes', () => {
  it('offsets and membership survive a SIGKILL of the coordinator: the new leader of the group partition serves them', async () => {
    cluster = await startTestCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
    const c = cluster;
    const all = [1, 2, 3];
    const groupId = 'billing';
    const before = await findCoordinator(c.client, groupId, all, 30_000);
    // Wait until it serves (it loads its partition first).
    await askCoordinator(c.client, groupId, { type: 'DescribeGroup' }, all, 30_000);

    const member = await joinAndSync(c.client, before.nodeId, groupId, {
      clientId: 'billing-1', topics: ['invoices'], partitionCounts: new Map([['invoices', 3]]), sessionTimeoutMs: 20_000, rebalanceTimeoutMs: 5_000,
    });
    expect(member.partitions).toHaveLength(3);
    const offsets = [0, 1, 2].map((partition) => ({ topic: 'invoices', partition, offset: 100 + partition, leaderEpoch: 0, metadata: `p${partition}` }));
    const commit = await askGroups<Reply & { results: { errorCode: number }[] }>(c.client, before.nodeId, {
      type: 'OffsetCommit', groupId, memberId: member.memberId, groupInstanceId: null, generationId: member.generationId, offsets,
    });
    expect(commit.results.map((r) => r.errorCode)).toEqual([0, 0, 0]);

    await c.killBroker(before.nodeId);
    const survivors = all.filter((id) => id !== before.nodeId);
    const deadlineMs = Date.now() + 30_000;
    let after = await findCoordinator(c.client, groupId, survivors, 30_000);
    while (after.nodeId === before.nodeId && Date.now() < deadlineMs) {
      await sleep(200);
      after = await findCoordinator(c.client, groupId, survivors, 30_000);
    }
    expect(survivors).toContain(after.nodeId);

    const fetched = await askCoordinator<Reply & { offsets: unknown[] }>(c.client, groupId, { type: 'OffsetFetch', partitions: null }, survivors, 30_000);
    expect(fetched).toMatchObject({ type: 'OffsetFetchReply', errorCode: 0 });
    expect(fetched.offsets).toEqual(offsets.map((o) => ({ ...o, errorCode: 0 })));
    const described = await askGroups<Reply & { state: string; members: { memberId: string }[] }>(c.client, after.nodeId, { type: 'DescribeGroup', groupId });
    expect(described).toMatchObject({ errorCode: 0, state: 'Stable' });
    expect(described.members.map((m) => m.memberId)).toEqual([member.memberId]);
    expect(await heartbeat(c.client, after.nodeId, groupId, member)).toBe(ErrorCode.NONE);
    // The old coordinator's answers are not needed: a commit to the new one works.
    const again = await askGroups<Reply & { results: { errorCode: number }[] }>(c.client, after.nodeId, {
      type: 'OffsetCommit', groupId, memberId: member.memberId, groupInstanceId: null, generationId: member.generationId, offsets: [{ ...offsets[0]!, offset: 200 }],
    });
    expect(again.results.map((r) => r.errorCode)).toEqual([0]);
  }, 120_000);
});
