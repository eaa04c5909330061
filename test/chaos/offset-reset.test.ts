/**
 * Found by the chaos harness (seed 1, 300 s, all nemeses, after a partition
 * of broker 1 and a pause of broker 3): the harness process died of
 * `AssertionError: progress: delivered offsets increase` thrown from
 * PartitionProgress.delivered (client/consumer/offsets.ts) inside
 * Session.emit (client/consumer/consumer.ts), out of a setImmediate, so it
 * ends whatever process hosts the consumer.
 *
 * Cause (client/consumer): when a fetch answers OFFSET_OUT_OF_RANGE, the
 * Fetcher resets the partition (autoOffsetReset) under a new fetch epoch,
 * but the Session keeps the partition's Lease and its PartitionProgress from
 * before: Session.onChunk checks the chunk against the fetcher's current
 * epoch, not the lease's, so records from the reset position (lower than
 * what was delivered) enter the old lease and `delivered` asserts. Kafka
 * resets the position and delivers from there. In the chaos run the out of
 * range answer most likely came from a stale leader (a broker cut off from
 * the others still answers fetches; consumers send currentLeaderEpoch -1, so
 * it cannot tell them it is fenced, KIP-320); here it is made simply, with a
 * committed offset past the log end.
 *
 * Goal: a consumer whose position is out of range resets (earliest) and
 * delivers the partition from its start. Method: in-process cluster; 10
 * records; the group's committed offset is set to 1000 (past the end); a
 * consumer process (fixtures/offset-reset-consumer.ts, so its crash cannot
 * take the runner down) must report all 10 offsets and exit 0.
 *
 * Fixed in client/consumer/consumer.ts (a reset by the fetcher renews the
 * partition's lease and progress, as a seek does) and
 * client/consumer/fetcher.ts (fetches carry the leader epoch, KIP-320, so a
 * deposed leader answers UNKNOWN_LEADER_EPOCH instead of OFFSET_OUT_OF_RANGE).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { groupTransport } from '../../client/consumer/group-transport.ts';
import type { OffsetCommitReply } from '../../client/consumer/group-member.ts';
import { startTestCluster, type TestCluster } from '../client-cluster.ts';
import { killAllChildren, startChild } from '../support/processes.ts';
import { clientLogger } from './workloads.ts';

let cluster: TestCluster | undefined;
let kactus: Kactus | undefined;

afterEach(async () => {
  await killAllChildren();
  await kactus?.close({ timeoutMs: 1_000 }).catch(() => undefined);
  await cluster?.stop();
  kactus = undefined;
  cluster = undefined;
});

describe('consumer: position out of range', () => {
  it('resets to earliest and delivers every record (the consumer process used to die of an assertion)', async () => {
    cluster = await startTestCluster({ config: { offsetsTopicNumPartitions: 3 } });
    kactus = new Kactus({ brokers: cluster.urls, clientId: 'offset-reset', requestTimeoutMs: 5_000, logger: clientLogger('offset-reset') });
    const topic = 'reset';
    const group = 'reset-group';
    await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3 }] });
    const producer = kactus.producer({ lingerMs: 0 });
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `v${i}` })) });
    // A committed offset past the log end (Kafka allows it; the consumer must reset per autoOffsetReset).
    const transport = groupTransport(await kactus.context());
    let commit: OffsetCommitReply | undefined;
    for (let attempt = 0; attempt < 100 && commit === undefined; attempt++) {
      try {
        const coordinator = await transport.findCoordinator(group);
        commit = await transport.request<OffsetCommitReply>(
          coordinator,
          { type: 'OffsetCommit', groupId: group, memberId: '', groupInstanceId: null, generationId: -1, offsets: [{ topic, partition: 0, offset: 1_000, leaderEpoch: -1, metadata: null }] },
          5_000,
        );
        if (commit.results[0]?.errorCode !== 0) commit = undefined;
      } catch {
        // The offsets topic is still being created: retry (bounded).
      }
      if (commit === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(commit?.results).toEqual([{ topic, partition: 0, errorCode: 0 }]);

    const child = startChild('test/chaos/fixtures/offset-reset-consumer.ts', ['--brokers', cluster.urls.join(','), '--topic', topic, '--group', group, '--expect', '10']);
    const exit = await child.exited;
    const offsets = new Set(child.lines.filter((l) => l.event === 'record').map((l) => l.offset as number));
    expect(child.stderrTail()).not.toContain('AssertionError');
    expect(exit.code).toBe(0);
    expect([...offsets].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  }, 40_000);
});
