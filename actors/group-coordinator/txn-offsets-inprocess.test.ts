/**
 * TxnOffsetCommit end to end on three broker nodes in one process over ws
 * (FakeQuorum as controller): the real `/transactions` coordinator, the real
 * `__consumer_offsets` partition leader (producer state: the group
 * coordinator's transactional batch has sequence -1 and is checked by epoch
 * only) and the broker's WriteTxnMarker path that tells `/groups`.
 * Goal: offsets sent in a transaction are invisible (UNSTABLE_OFFSET_COMMIT
 * with requireStable) until EndTxn(commit), then visible; an aborted
 * transaction's offsets never show; a restarted `/groups` replays the
 * partition (transactional and control batches) to the same offsets. Method: a client node speaking the wire API
 * (protocol/apis/txn.ts, the group API) directly.
 */
import { testClusterSecret } from '../../test/support/secret.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { Node } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { topicByName } from '../controller/metadata/index.ts';
import { startInProcessCluster, type InProcessCluster } from '../../test/support/inprocess-cluster.ts';
import { askTxn as askTxnWire, eventually, type Reply, type TxnWire } from '../../test/support/txn-wire.ts';
import { askCoordinator, findCoordinator } from '../../test/group-coordinator-support.ts';

type Cluster = InProcessCluster & { client: Node };
let cluster: Cluster | undefined;

afterEach(async () => {
  if (!cluster) return;
  await cluster.client.stop();
  await cluster.stop();
  cluster = undefined;
});

const brokerIds = [1, 2, 3];

async function startCluster(): Promise<Cluster> {
  const brokers = await startInProcessCluster({
    brokers: 3,
    dirPrefix: 'kactus-groups-txn-',
    config: { replicaFetchWaitMaxMs: 50, offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 },
  });
  const client = await Node.start({ clusterSecret: testClusterSecret(), nodeId: 'client', logger: createLogger({ node: 'client' }, 'silent'), peers: Object.fromEntries(brokers.nodes.map((n) => [n.nodeId, n.url!])) });
  cluster = { ...brokers, client };
  return cluster;
}

const wire = (c: Cluster): TxnWire => ({ client: c.client, brokerIds, leaderOf: (topic, partition) => topicByName(c.quorum.image, topic)!.partitions[partition]!.leader });
type FetchReply = Reply & { offsets: { topic: string; partition: number; offset: number; errorCode: number }[] };

describe('TxnOffsetCommit end to end (three brokers in one process over ws)', () => {
  it('offsets of a committed transaction become visible at EndTxn, those of an aborted one never', async () => {
    const c = await startCluster();
    const askTxn = (message: Record<string, unknown>): Promise<Reply> => askTxnWire(wire(c), 'tx-g', message);
    const askGroup = <R extends Reply>(message: Record<string, unknown>): Promise<R> => askCoordinator<R>(c.client, 'g', message, brokerIds);
    const committed = async (): Promise<[string, number, number][]> =>
      (await askGroup<FetchReply>({ type: 'OffsetFetch', partitions: null })).offsets.map((o) => [o.topic, o.partition, o.offset]);
    await findCoordinator(c.client, 'g', brokerIds);

    const init = await askTxn({ type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    expect(init).toMatchObject({ errorCode: 0 });
    const producerId = init.producerId as number;
    let producerEpoch = init.producerEpoch as number;

    // Transaction 1 commits.
    expect(await askTxn({ type: 'AddOffsetsToTxn', producerId, producerEpoch, groupId: 'g' })).toMatchObject({ errorCode: 0 });
    const commit = { transactionalId: 'tx-g', producerId, producerEpoch, memberId: '', groupInstanceId: null, generationId: -1 };
    const sent = await askGroup<Reply & { results: { errorCode: number }[] }>({ type: 'TxnOffsetCommit', ...commit, offsets: [{ topic: 'in', partition: 0, offset: 17, metadata: null }] });
    expect(sent).toMatchObject({ type: 'TxnOffsetCommitReply', errorCode: 0, results: [{ topic: 'in', partition: 0, errorCode: 0 }] });
    expect(await committed()).toEqual([]);
    const unstable = await askGroup<FetchReply>({ type: 'OffsetFetch', partitions: [{ topic: 'in', partition: 0 }], requireStable: true });
    expect(unstable.offsets[0]!.errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    const ended = await askTxn({ type: 'EndTxn', producerId, producerEpoch, committed: true });
    expect(ended).toMatchObject({ errorCode: 0 });
    producerEpoch = ended.producerEpoch as number;
    await eventually('the committed offset to show', async () => ((await committed()).length === 1 ? true : undefined), 10_000);
    expect(await committed()).toEqual([['in', 0, 17]]);

    // Transaction 2 aborts.
    expect(await askTxn({ type: 'AddOffsetsToTxn', producerId, producerEpoch, groupId: 'g' })).toMatchObject({ errorCode: 0 });
    const second = await askGroup<Reply & { results: { errorCode: number }[] }>({ type: 'TxnOffsetCommit', ...commit, producerEpoch, offsets: [{ topic: 'in', partition: 0, offset: 99, metadata: null }] });
    expect(second.results[0]!.errorCode).toBe(0);
    expect(await askTxn({ type: 'EndTxn', producerId, producerEpoch, committed: false })).toMatchObject({ errorCode: 0 });
    await eventually('the abort to settle', async () => {
      const r = await askGroup<FetchReply>({ type: 'OffsetFetch', partitions: [{ topic: 'in', partition: 0 }], requireStable: true });
      return r.offsets[0]!.errorCode === ErrorCode.NONE ? r : undefined;
    }, 10_000);
    expect(await committed()).toEqual([['in', 0, 17]]);

    // The coordinator's /groups crashes and reloads the partition from its log.
    const coordinator = await findCoordinator(c.client, 'g', brokerIds);
    expect(c.nodes[coordinator.nodeId - 1]!.crashActor('/groups')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await committed()).toEqual([['in', 0, 17]]);
  });
});
