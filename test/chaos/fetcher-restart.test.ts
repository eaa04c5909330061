/**
 * Found by the chaos harness (seed 5, crash-actor on `/fetchers/2` of broker
 * 1): a fetcher restarted by supervision forgets every partition it was
 * pulling. Its `init` starts from an empty set (actors/fetch/fetcher.ts) and
 * nothing tells it again: the broker actor (actors/broker/actor.ts) keeps
 * its own map of partition -> fetcher and re-sends `AddPartition` only on
 * the next leadership change. So the follower stops replicating, the leader
 * drops it from the ISR after replica.lag.time.max.ms, and the partition
 * runs with one failure to spare fewer (a second fault then stops acks=all
 * writes) until some later leader change happens to repair it. In the chaos
 * run this stall made a producer's batch time out, which in turn exposed the
 * producer's duplicate (see test/chaos/README.md, "Findings").
 *
 * Goal: after a fetcher is crashed, its follower keeps replicating and stays
 * in the ISR. Method: an in-process 3-broker cluster (FakeQuorum), one
 * partition RF 3 with replica.lag.time.max.ms 1.5 s; crash the follower's
 * fetcher with Node.crashActor (the supervision fault-injection hook), keep
 * producing for 4 s, and expect every follower still in the ISR with the
 * leader's records.
 *
 * Fixed: a fetcher tells the broker `FetcherRestarted` from its init, and
 * the broker re-sends every partition it follows from that leader.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { startTestCluster, type TestCluster } from '../client-cluster.ts';
import { readPartition } from '../client-read.ts';
import { clientLogger } from './workloads.ts';

let cluster: TestCluster | undefined;
let kactus: Kactus | undefined;

afterEach(async () => {
  await kactus?.close({ timeoutMs: 1_000 }).catch(() => undefined);
  await cluster?.stop();
  kactus = undefined;
  cluster = undefined;
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('supervision restart of a follower fetcher', () => {
  it('the follower keeps replicating and stays in the ISR after its fetcher is crashed', async () => {
    cluster = await startTestCluster({ config: { replicaLagTimeMaxMs: 1_500 } });
    kactus = new Kactus({ brokers: cluster.urls, clientId: 'fetcher-restart', requestTimeoutMs: 5_000, logger: clientLogger('fetcher-restart') });
    const topic = 'fetcher-restart';
    await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3 }] });
    const producer = kactus.producer({ lingerMs: 0 });
    await producer.send({ topic, messages: [{ value: 'before' }] });
    const [described] = await kactus.admin().describeTopics({ topics: [topic] });
    const leader = described!.partitions[0]!.leader;
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const fetcherPath = `/fetchers/${leader}`;
    expect(cluster.nodes[follower - 1]!.crashActor(fetcherPath)).toBe(true);

    // Produce for 4 s (well past replica.lag.time.max.ms); acks=all keeps succeeding with the other follower.
    const deadline = Date.now() + 4_000;
    for (let i = 0; Date.now() < deadline; i++) {
      await producer.send({ topic, messages: [{ value: `after-${i}` }] });
      await sleep(50);
    }
    expect(cluster.nodes[follower - 1]!.hasActor(fetcherPath)).toBe(true);
    const [after] = await kactus.admin().describeTopics({ topics: [topic] });
    expect(after!.partitions[0]!.isr.slice().sort()).toEqual([1, 2, 3]);
    // And the follower's own log has what the leader has (read through its registry view).
    const leaderRecords = await readPartition(kactus, topic, 0);
    const view = cluster.planes[follower - 1]!.registry.getByKey(`${topic}-0`)!;
    expect(view.log.logEndOffset).toBe(leaderRecords.length);
  }, 30_000);
});
