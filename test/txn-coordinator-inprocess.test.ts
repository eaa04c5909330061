/**
 * The transaction coordinator shell (`/transactions`) with real data planes
 * on three broker nodes in one process over ws, the controller replaced by
 * FakeQuorum: FindTxnCoordinator creates `__transaction_state`; a
 * transaction over two partitions commits (read_committed sees nothing until
 * the markers, then everything) and the next one aborts (its records are
 * listed as aborted); the epoch moves on with every transaction (KIP-890) so
 * a delayed write of an ended transaction is refused; a write to a partition
 * not added to the transaction is refused by the leader's verification; a
 * second InitProducerId fences the first producer. Method: a client node
 * speaking the wire API (protocol/apis/txn.ts, data.ts) directly.
 */
import { testClusterSecret } from './support/secret.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { Node } from '../runtime/node.ts';
import { createLogger } from '../runtime/logger.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { topicByName } from '../actors/controller/metadata/index.ts';
import { startInProcessCluster, type InProcessCluster } from './support/inprocess-cluster.ts';
import { askActor, askTxn as askTxnWire, eventually, findTxnCoordinator, produceTxn, readPartition, type PartitionRead, type Reply, type TxnWire } from './support/txn-wire.ts';
import { coordinatorPartitionFor, transactionStateTopic } from '../actors/txn-coordinator/txn-records.ts';

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
    dirPrefix: 'kactus-txn-',
    config: { replicaFetchWaitMaxMs: 50, offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 },
  });
  const client = await Node.start({ clusterSecret: testClusterSecret(), nodeId: 'client', logger: createLogger({ node: 'client' }, 'silent'), peers: Object.fromEntries(brokers.nodes.map((n) => [n.nodeId, n.url!])) });
  cluster = { ...brokers, client };
  const reply = cluster.quorum.call({ type: 'CreateTopics', validateOnly: false, topics: [{ name: 't', numPartitions: 2, replicationFactor: 3, assignments: null, configs: [] }] }) as { topics: { errorCode: number }[] };
  expect(reply.topics[0]!.errorCode).toBe(0);
  return cluster;
}

const wire = (c: Cluster): TxnWire => ({ client: c.client, brokerIds, leaderOf: (topic, partition) => topicByName(c.quorum.image, topic)!.partitions[partition]!.leader });
const ask = (c: Cluster, brokerId: number, path: string, message: Record<string, unknown>): Promise<Reply> => askActor(c.client, brokerId, path, message);
const askTxn = (c: Cluster, transactionalId: string, message: Record<string, unknown>): Promise<Reply> => askTxnWire(wire(c), transactionalId, message);
const produce = (c: Cluster, partition: number, transactionalId: string, producerId: number, producerEpoch: number, baseSequence: number, values: string[]): Promise<Reply> =>
  produceTxn(wire(c), { topic: 't', partition }, { transactionalId, producerId, producerEpoch }, baseSequence, values);
const fetchPartition = (c: Cluster, partition: number, isolationLevel: 0 | 1): Promise<PartitionRead> => readPartition(wire(c), 't', partition, isolationLevel);
const until = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => eventually(what, probe, 10_000);

describe('transaction coordinator (three brokers in one process over ws)', () => {
  it('commits and aborts across two partitions; read_committed sees only committed records, whole; the epoch moves on with every transaction', async () => {
    const c = await startCluster();
    const init = await askTxn(c, 'tx-a', { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    expect(init).toMatchObject({ type: 'InitProducerIdReply', errorCode: 0 });
    expect(topicByName(c.quorum.image, '__transaction_state')!.configs.get('cleanup.policy')).toBe('compact');
    const producerId = init.producerId as number;
    let epoch = init.producerEpoch as number;
    const both = [{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }];
    const base = { producerId, producerEpoch: epoch };

    expect(await askTxn(c, 'tx-a', { type: 'AddPartitionsToTxn', ...base, partitions: both })).toMatchObject({ results: [{ errorCode: 0 }, { errorCode: 0 }] });
    expect(await produce(c, 0, 'tx-a', producerId, epoch, 0, ['c0-a', 'c0-b'])).toMatchObject({ errorCode: 0 });
    expect(await produce(c, 1, 'tx-a', producerId, epoch, 0, ['c1-a'])).toMatchObject({ errorCode: 0 });
    // Open transaction: read_committed stops at its first offset.
    expect(await fetchPartition(c, 0, 1)).toMatchObject({ values: [], lastStableOffset: 0 });
    expect((await fetchPartition(c, 0, 0)).values).toEqual(['c0-a', 'c0-b']);

    const committed = await askTxn(c, 'tx-a', { type: 'EndTxn', ...base, committed: true });
    expect(committed).toMatchObject({ errorCode: 0, producerId });
    expect(committed.producerEpoch).toBe(epoch + 1);
    epoch = committed.producerEpoch as number;
    const afterCommit0 = await until('the commit marker in partition 0', async () => {
      const r = await fetchPartition(c, 0, 1);
      return r.values.length === 2 && r.controlBatches === 1 ? r : undefined;
    });
    expect(afterCommit0).toMatchObject({ values: ['c0-a', 'c0-b'], aborted: [], controlBatches: 1 });
    await until('the commit marker in partition 1', async () => ((await fetchPartition(c, 1, 1)).values.length === 1 ? true : undefined));

    // A delayed write of the ended transaction (old epoch) is refused: by verification (fenced), or by the partition, whose
    // marker raised the producer's epoch (actors/partition/producer-state.test.ts has that case alone).
    expect([ErrorCode.PRODUCER_FENCED, ErrorCode.INVALID_PRODUCER_EPOCH]).toContain((await produce(c, 0, 'tx-a', producerId, epoch - 1, 2, ['late'])).errorCode);

    // The next transaction aborts.
    const next = { producerId, producerEpoch: epoch };
    expect(await askTxn(c, 'tx-a', { type: 'AddPartitionsToTxn', ...next, partitions: both })).toMatchObject({ results: [{ errorCode: 0 }, { errorCode: 0 }] });
    expect(await produce(c, 0, 'tx-a', producerId, epoch, 0, ['x0'])).toMatchObject({ errorCode: 0 });
    expect(await produce(c, 1, 'tx-a', producerId, epoch, 0, ['x1'])).toMatchObject({ errorCode: 0 });
    const aborted = await askTxn(c, 'tx-a', { type: 'EndTxn', ...next, committed: false });
    expect(aborted).toMatchObject({ errorCode: 0, producerEpoch: epoch + 1 });
    // Commit after abort: INVALID_TXN_STATE, nothing changes.
    await until('the abort to complete', async () => ((await fetchPartition(c, 0, 1)).aborted.length === 1 ? true : undefined));
    expect(await askTxn(c, 'tx-a', { type: 'EndTxn', ...next, committed: true })).toMatchObject({ errorCode: ErrorCode.INVALID_TXN_STATE });
    const read0 = await fetchPartition(c, 0, 1);
    // The aborted batch is in the range read_committed returns, listed as aborted, so a consumer drops it.
    expect(read0.aborted).toEqual([{ producerId, firstOffset: 3 }]);
    expect(read0.values).toEqual(['c0-a', 'c0-b']);
    expect((await fetchPartition(c, 0, 0)).values).toEqual(['c0-a', 'c0-b', 'x0']);
    expect(read0.controlBatches).toBe(2);
    expect(read0.lastStableOffset).toBe(read0.highWatermark);

    // A write to a partition never added to the (new, empty) transaction is refused by verification; nothing is appended.
    epoch = aborted.producerEpoch as number;
    const before = (await fetchPartition(c, 1, 0)).values.length;
    expect(await produce(c, 1, 'tx-a', producerId, epoch, 0, ['not-added'])).toMatchObject({ errorCode: ErrorCode.INVALID_TXN_STATE });
    expect((await fetchPartition(c, 1, 0)).values.length).toBe(before);
  });

  it('a second InitProducerId fences the first producer: its open transaction is aborted and its later requests get PRODUCER_FENCED', async () => {
    const c = await startCluster();
    const first = await askTxn(c, 'tx-f', { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    expect(first.errorCode).toBe(0);
    const a = { producerId: first.producerId as number, producerEpoch: first.producerEpoch as number };
    expect(await askTxn(c, 'tx-f', { type: 'AddPartitionsToTxn', ...a, partitions: [{ topic: 't', partition: 0 }] })).toMatchObject({ results: [{ errorCode: 0 }] });
    expect(await produce(c, 0, 'tx-f', a.producerId, a.producerEpoch, 0, ['zombie-1'])).toMatchObject({ errorCode: 0 });

    const second = await askTxn(c, 'tx-f', { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    expect(second.errorCode).toBe(0);
    expect(second.producerId).toBe(a.producerId);
    expect(second.producerEpoch as number).toBeGreaterThan(a.producerEpoch);

    expect(await askTxn(c, 'tx-f', { type: 'EndTxn', ...a, committed: true })).toMatchObject({ errorCode: ErrorCode.PRODUCER_FENCED });
    expect(await askTxn(c, 'tx-f', { type: 'AddPartitionsToTxn', ...a, partitions: [{ topic: 't', partition: 1 }] })).toMatchObject({ results: [{ errorCode: ErrorCode.PRODUCER_FENCED }] });
    // The zombie's next write is refused: by the coordinator's verification (fenced) or the partition (the abort marker raised the epoch).
    expect([ErrorCode.PRODUCER_FENCED, ErrorCode.INVALID_PRODUCER_EPOCH]).toContain((await produce(c, 0, 'tx-f', a.producerId, a.producerEpoch, 1, ['zombie-2'])).errorCode);
    const read = await until('the fencing abort', async () => {
      const r = await fetchPartition(c, 0, 1);
      return r.aborted.length === 1 && r.lastStableOffset === r.highWatermark ? r : undefined;
    });
    expect(read.aborted).toEqual([{ producerId: a.producerId, firstOffset: 0 }]);
  });

  /*
   * Found by the chaos harness (seed 1, 300 s, txn workloads): a read_committed
   * consumer read a record of an aborted transaction. The coordinator (broker
   * 3) was SIGSTOPped while writing the markers of transaction 57; broker 1
   * took over and finished 57 (markers with coordinator epoch 1), and the
   * producer began transaction 58 in the same partition. When broker 3 woke,
   * it retried its timed-out marker of 57 with coordinator epoch 0 and the
   * bumped producer epoch, which is transaction 58's (KIP-890): the partition
   * accepted it, ended 58 there as committed, and its records became readable
   * before 58 was aborted. Kafka refuses a marker whose coordinator epoch is
   * older than the last one the partition saw for that producer
   * (TRANSACTION_COORDINATOR_FENCED).
   */
  it('a marker from a replaced coordinator (older coordinator epoch) cannot end the producer\'s next transaction', async () => {
    const c = await startCluster();
    const id = 'tx-zombie';
    const init = await askTxn(c, id, { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    expect(init.errorCode).toBe(0);
    const producerId = init.producerId as number;
    let epoch = init.producerEpoch as number;
    expect(await askTxn(c, id, { type: 'AddPartitionsToTxn', producerId, producerEpoch: epoch, partitions: [{ topic: 't', partition: 0 }] })).toMatchObject({ results: [{ errorCode: 0 }] });
    expect(await produce(c, 0, id, producerId, epoch, 0, ['first'])).toMatchObject({ errorCode: 0 });

    // The coordinator is replaced before the commit: the controller moves its __transaction_state partition.
    const oldCoordinator = await findTxnCoordinator(wire(c), id);
    const statePartition = coordinatorPartitionFor(id, topicByName(c.quorum.image, transactionStateTopic)!.partitions.length);
    const oldCoordinatorEpoch = topicByName(c.quorum.image, transactionStateTopic)!.partitions[statePartition]!.leaderEpoch;
    c.quorum.call({ type: 'FenceBroker', brokerId: oldCoordinator, brokerEpoch: c.quorum.image.brokers.get(oldCoordinator)!.brokerEpoch });
    await until('a new coordinator', async () => ((await findTxnCoordinator(wire(c), id)) !== oldCoordinator ? true : undefined));
    const committed = await askTxn(c, id, { type: 'EndTxn', producerId, producerEpoch: epoch, committed: true });
    expect(committed).toMatchObject({ errorCode: 0 });
    epoch = committed.producerEpoch as number;
    await until('the commit marker', async () => ((await fetchPartition(c, 0, 1)).values.length === 1 ? true : undefined));

    // The next transaction writes to the same partition.
    expect(await askTxn(c, id, { type: 'AddPartitionsToTxn', producerId, producerEpoch: epoch, partitions: [{ topic: 't', partition: 0 }] })).toMatchObject({ results: [{ errorCode: 0 }] });
    expect(await produce(c, 0, id, producerId, epoch, 0, ['second'])).toMatchObject({ errorCode: 0 });

    // The old coordinator's late marker of the first transaction: the producer's current epoch, the old coordinator epoch.
    const leader = wire(c).leaderOf('t', 0) as number;
    const late = await ask(c, leader, '/broker', { type: 'WriteTxnMarker', topic: 't', partition: 0, producerId, producerEpoch: epoch, result: 'commit', coordinatorEpoch: oldCoordinatorEpoch, timeoutMs: 5_000 });
    expect(late).toMatchObject({ errorCode: ErrorCode.TRANSACTION_COORDINATOR_FENCED });
    // The second transaction is still open here: read_committed stops before it.
    const open = await fetchPartition(c, 0, 1);
    expect(open.values).toEqual(['first']);
    expect(open.lastStableOffset).toBeLessThan(open.highWatermark);

    expect(await askTxn(c, id, { type: 'EndTxn', producerId, producerEpoch: epoch, committed: false })).toMatchObject({ errorCode: 0 });
    const after = await until('the abort marker', async () => {
      const r = await fetchPartition(c, 0, 1);
      return r.aborted.length === 1 && r.lastStableOffset === r.highWatermark ? r : undefined;
    });
    expect(after.values).toEqual(['first']);
  }, 30_000);

  it('bad input gets a typed error and never a crash', async () => {
    const c = await startCluster();
    expect(await ask(c, 1, '/transactions', { type: 'EndTxn', transactionalId: 42, producerId: 1, producerEpoch: 0, committed: true })).toMatchObject({ type: 'EndTxnReply', errorCode: ErrorCode.INVALID_REQUEST });
    c.client.tell({ node: '1', path: '/transactions' }, { type: 'Bogus', replyTo: 17 });
    // AddPartitions from a producer that never called InitProducerId.
    await askTxn(c, 'tx-x', { type: 'InitProducerId', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    expect(await askTxn(c, 'tx-never', { type: 'AddPartitionsToTxn', producerId: 12345, producerEpoch: 0, partitions: [{ topic: 't', partition: 0 }] })).toMatchObject({ results: [{ errorCode: ErrorCode.INVALID_PRODUCER_ID_MAPPING }] });
    expect(await askTxn(c, 'tx-x', { type: 'InitProducerId', transactionTimeoutMs: 10 ** 9, producerId: -1, producerEpoch: -1 })).toMatchObject({ errorCode: ErrorCode.INVALID_TRANSACTION_TIMEOUT });
  });
});
