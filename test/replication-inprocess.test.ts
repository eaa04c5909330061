/**
 * The replication data path with three broker nodes in one process over real
 * ws sockets, the controller replaced by FakeQuorum (commits at once): produce
 * with acks=all/1, followers pulling, the high watermark, fetch long polls,
 * ISR shrink when a follower stops pulling and rejoin when it resumes, and
 * the error codes of the produce path. Method: drive the brokers with a client
 * node that sends Produce/Fetch asks, exactly as the client library will.
 */
import { testClusterSecret } from './support/secret.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { Node } from '../runtime/node.ts';
import { startInProcessCluster, type InProcessCluster } from './support/inprocess-cluster.ts';
import { createLogger } from '../runtime/logger.ts';
import { encodeBatch, decodeBatches, encodeEndTxnMarker } from '../protocol/record-batch/index.ts';
import { ErrorCode } from '../protocol/errors.ts';
import type { Fetch, FetchReply, Produce, ProduceReply } from '../protocol/apis/data.ts';
import { until } from './support/processes.ts';
import { topicByName } from '../actors/controller/metadata/index.ts';

type Cluster = InProcessCluster & { client: Node };
let cluster: Cluster | undefined;

afterEach(async () => {
  if (!cluster) return;
  await cluster.client.stop();
  await cluster.stop();
  cluster = undefined;
});

async function startCluster(overrides: Record<string, number> = {}): Promise<Cluster> {
  const brokers = await startInProcessCluster({ dirPrefix: 'kactus-repl-', config: { replicaFetchWaitMaxMs: 100, ...overrides } });
  const client = await Node.start({ clusterSecret: testClusterSecret(), nodeId: 'client', logger: createLogger({ node: 'client' }, 'silent'), peers: Object.fromEntries(brokers.nodes.map((n) => [n.nodeId, n.url!])) });
  cluster = { ...brokers, client };
  return cluster;
}

function createTopic(c: Cluster, name: string, partitions: number, replicationFactor: number, configs: { name: string; value: string }[] = []): void {
  const reply = c.quorum.call({ type: 'CreateTopics', validateOnly: false, topics: [{ name, numPartitions: partitions, replicationFactor, assignments: null, configs }] }) as { topics: { errorCode: number }[] };
  expect(reply.topics[0]!.errorCode).toBe(0);
}

const leaderOf = (c: Cluster, topic: string, partition: number): number => topicByName(c.quorum.image, topic)!.partitions[partition]!.leader;

function batchOf(values: string[]): Buffer {
  return encodeBatch({ records: values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: Date.now() })) });
}

async function produce(c: Cluster, topic: string, partition: number, values: string[], acks: 0 | 1 | -1 = -1, timeoutMs = 5_000): Promise<ProduceReply> {
  const leader = leaderOf(c, topic, partition);
  return c.client.ask<Produce, ProduceReply>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'Produce', topic, partition, acks, timeoutMs, batch: batchOf(values), replyTo }), { timeoutMs: timeoutMs + 2_000 });
}

async function fetchValues(c: Cluster, topic: string, partition: number, fromOffset: number, maxWaitMs = 0): Promise<{ reply: FetchReply; values: string[] }> {
  const leader = leaderOf(c, topic, partition);
  const reply = await c.client.ask<Fetch, FetchReply>({ node: String(leader), path: '/fetch' }, (replyTo) => ({
    type: 'Fetch', replicaId: -1, maxWaitMs, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0,
    partitions: [{ topic, partition, fetchOffset: fromOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }], replyTo,
  }), { timeoutMs: maxWaitMs + 3_000 });
  const records = reply.partitions[0]?.records;
  if (!records) return { reply, values: [] };
  const decoded = decodeBatches(Buffer.from(records));
  if (!decoded.ok) throw new Error(decoded.message);
  return { reply, values: decoded.value.flatMap((b) => b.records.filter((r) => b.header.baseOffset + r.offsetDelta >= fromOffset).map((r) => Buffer.from(r.value!).toString())) };
}

describe('replication data path (three nodes in one process over ws)', () => {
  it('acks=all is answered once every ISR member has the batch; consumers read up to the high watermark', async () => {
    const c = await startCluster();
    createTopic(c, 'orders', 3, 3);
    await until(() => c.planes.every((p) => p.registry.all().length === 3), 5_000, 'every broker to host 3 partitions');
    const first = await produce(c, 'orders', 0, ['a', 'b', 'c']);
    expect(first).toMatchObject({ errorCode: 0, baseOffset: 0 });
    const second = await produce(c, 'orders', 0, ['d']);
    expect(second).toMatchObject({ errorCode: 0, baseOffset: 3 });
    // Every replica has all four records once acks=all answered.
    for (const plane of c.planes) expect(plane.registry.get('orders', 0)!.log.logEndOffset).toBe(4);
    const { reply, values } = await fetchValues(c, 'orders', 0, 0);
    expect(reply.partitions[0]!.highWatermark).toBe(4);
    expect(values).toEqual(['a', 'b', 'c', 'd']);
    expect((await fetchValues(c, 'orders', 0, 2)).values).toEqual(['c', 'd']);
  });

  it('ListOffsets answers earliest, latest (the high watermark) and by timestamp', async () => {
    const c = await startCluster();
    createTopic(c, 'times', 1, 3);
    await until(() => c.planes.every((p) => p.registry.all().length === 1), 5_000, 'partitions');
    const leader = leaderOf(c, 'times', 0);
    const at = (ts: number) => encodeBatch({ records: [{ key: null, value: Buffer.from(`t${ts}`), timestamp: ts }] });
    for (const ts of [1_000, 2_000, 3_000]) {
      await c.client.ask<Produce, ProduceReply>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'Produce', topic: 'times', partition: 0, acks: -1, timeoutMs: 5_000, batch: at(ts), replyTo }));
    }
    const list = (timestamp: number) =>
      c.client.ask<unknown, { partitions: { errorCode: number; offset: number; timestamp: number }[] }>({ node: String(leader), path: '/fetch' }, (replyTo) => ({ type: 'ListOffsets', isolationLevel: 0, partitions: [{ topic: 'times', partition: 0, timestamp }], replyTo }));
    expect((await list(-2)).partitions[0]).toMatchObject({ errorCode: 0, offset: 0 });
    expect((await list(-1)).partitions[0]).toMatchObject({ errorCode: 0, offset: 3 });
    expect((await list(1_500)).partitions[0]).toMatchObject({ errorCode: 0, offset: 1, timestamp: 2_000 });
    expect((await list(9_000)).partitions[0]).toMatchObject({ offset: -1 });
  });

  it('transactions on a partition: read_committed stops at the LSO, markers release it, aborted transactions are listed', async () => {
    const c = await startCluster();
    createTopic(c, 'txns', 1, 3);
    await until(() => c.planes.every((p) => p.registry.all().length === 1), 5_000, 'partitions');
    const leader = leaderOf(c, 'txns', 0);
    const txnBatch = (producerId: number, baseSequence: number, values: string[]) =>
      encodeBatch({ records: values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: Date.now() })), producerId, producerEpoch: 0, baseSequence, isTransactional: true });
    const send = (batch: Buffer) => c.client.ask<Produce, ProduceReply>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'Produce', topic: 'txns', partition: 0, acks: -1, timeoutMs: 5_000, batch, replyTo }));
    const mark = (producerId: number, result: 'commit' | 'abort') =>
      c.client.ask<unknown, ProduceReply>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'WriteTxnMarker', topic: 'txns', partition: 0, producerId, producerEpoch: 0, result, coordinatorEpoch: 0, timeoutMs: 5_000, replyTo }));
    const read = async (isolationLevel: 0 | 1) => {
      const reply = await c.client.ask<Fetch, FetchReply>({ node: String(leader), path: '/fetch' }, (replyTo) => ({
        type: 'Fetch', replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel,
        partitions: [{ topic: 'txns', partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }], replyTo,
      }));
      const answer = reply.partitions[0]!;
      const decoded = answer.records ? decodeBatches(Buffer.from(answer.records)) : { ok: true as const, value: [] };
      if (!decoded.ok) throw new Error(decoded.message);
      const values = decoded.value.filter((b) => !b.header.isControl).flatMap((b) => b.records.map((r) => Buffer.from(r.value!).toString()));
      return { answer, values };
    };
    expect(await send(txnBatch(100, 0, ['a1', 'a2']))).toMatchObject({ errorCode: 0, baseOffset: 0 });
    expect((await read(1)).values).toEqual([]);
    expect((await read(1)).answer.lastStableOffset).toBe(0);
    expect((await read(0)).values).toEqual(['a1', 'a2']);
    expect(await mark(100, 'commit')).toMatchObject({ errorCode: 0 });
    expect((await read(1)).values).toEqual(['a1', 'a2']);
    expect(await send(txnBatch(200, 0, ['b1']))).toMatchObject({ errorCode: 0, baseOffset: 3 });
    expect(await mark(200, 'abort')).toMatchObject({ errorCode: 0 });
    const committed = await read(1);
    expect(committed.answer.abortedTransactions).toEqual([{ producerId: 200, firstOffset: 3 }]);
    expect(committed.answer.lastStableOffset).toBe(5);
    // A producer may not write markers itself.
    const forged = encodeEndTxnMarker({ producerId: 300, producerEpoch: 0, type: 'commit', coordinatorEpoch: 0, timestamp: Date.now() });
    expect(await send(forged)).toMatchObject({ errorCode: ErrorCode.INVALID_RECORD });
  });

  it('a long-poll fetch waits for data and is answered by its arrival, not by maxWaitMs', async () => {
    const c = await startCluster();
    createTopic(c, 'events', 1, 3);
    await until(() => c.planes.every((p) => p.registry.all().length === 1), 5_000, 'partitions');
    const leader = leaderOf(c, 'events', 0);
    // Longer than anything here takes, shorter than the test's timeout: a fetch answered by expiry takes all of it.
    const maxWaitMs = 20_000;
    const started = Date.now();
    let answered = false;
    const pending = fetchValues(c, 'events', 0, 0, maxWaitMs).finally(() => (answered = true));
    // The fetch server handles its mailbox in order: once a ListOffsets sent after the fetch is answered,
    // the fetch found the partition empty and is parked.
    await c.client.ask({ node: String(leader), path: '/fetch' }, (replyTo) => ({ type: 'ListOffsets', isolationLevel: 0, partitions: [{ topic: 'events', partition: 0, timestamp: -1 }], replyTo }));
    expect(answered).toBe(false);
    await produce(c, 'events', 0, ['late']);
    const { values, reply } = await pending;
    expect({ values, partition: reply.partitions[0] }).toMatchObject({ values: ['late'] });
    expect(Date.now() - started).toBeLessThan(maxWaitMs);
  });

  it('answers the produce errors a client relies on', async () => {
    const c = await startCluster();
    createTopic(c, 'strict', 1, 3, [{ name: 'min.insync.replicas', value: '3' }]);
    await until(() => c.planes.every((p) => p.registry.all().length === 1), 5_000, 'partitions');
    const leader = leaderOf(c, 'strict', 0);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const ask = (node: number, message: Omit<Produce, 'replyTo'>) => c.client.ask<Produce, ProduceReply>({ node: String(node), path: '/broker' }, (replyTo) => ({ ...message, replyTo }));
    expect(await ask(follower, { type: 'Produce', topic: 'strict', partition: 0, acks: -1, timeoutMs: 1_000, batch: batchOf(['x']) })).toMatchObject({ errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });
    expect(await ask(leader, { type: 'Produce', topic: 'nope', partition: 0, acks: -1, timeoutMs: 1_000, batch: batchOf(['x']) })).toMatchObject({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
    const corrupt = batchOf(['x']);
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff;
    expect(await ask(leader, { type: 'Produce', topic: 'strict', partition: 0, acks: -1, timeoutMs: 1_000, batch: corrupt })).toMatchObject({ errorCode: ErrorCode.CORRUPT_MESSAGE });
    expect(await ask(leader, { type: 'Produce', topic: 'strict', partition: 0, acks: -1, timeoutMs: 1_000, batch: batchOf(['y'.repeat(2 * 1024 * 1024)]) })).toMatchObject({ errorCode: ErrorCode.MESSAGE_TOO_LARGE });
    // Nothing of the refused batches was appended.
    expect(c.planes.find((_, i) => i + 1 === leader)!.registry.get('strict', 0)!.log.logEndOffset).toBe(0);
  });

  it('idempotent produce: a retried batch gets its original offsets and is not appended twice; a gap is refused', async () => {
    const c = await startCluster();
    createTopic(c, 'idem', 1, 3);
    await until(() => c.planes.every((p) => p.registry.all().length === 1), 5_000, 'partitions');
    const leader = leaderOf(c, 'idem', 0);
    const init = await c.client.ask<unknown, { errorCode: number; producerId: number; producerEpoch: number }>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'InitProducerId', transactionalId: null, transactionTimeoutMs: 60_000, replyTo }));
    expect(init).toMatchObject({ errorCode: 0, producerEpoch: 0 });
    const idempotentBatch = (baseSequence: number, values: string[]) =>
      encodeBatch({ records: values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: Date.now() })), producerId: init.producerId, producerEpoch: init.producerEpoch, baseSequence });
    const send = (batch: Buffer) => c.client.ask<Produce, ProduceReply>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'Produce', topic: 'idem', partition: 0, acks: -1, timeoutMs: 5_000, batch, replyTo }));
    expect(await send(idempotentBatch(0, ['a', 'b']))).toMatchObject({ errorCode: 0, baseOffset: 0 });
    expect(await send(idempotentBatch(2, ['c']))).toMatchObject({ errorCode: 0, baseOffset: 2 });
    expect(await send(idempotentBatch(0, ['a', 'b']))).toMatchObject({ errorCode: 0, baseOffset: 0 });
    expect(await send(idempotentBatch(5, ['gap']))).toMatchObject({ errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect((await fetchValues(c, 'idem', 0, 0)).values).toEqual(['a', 'b', 'c']);
  });

  it('a deposed leader truncates what never replicated and ends identical to the new leader (KIP-101/279)', async () => {
    const c = await startCluster();
    createTopic(c, 'diverge', 1, 3);
    await until(() => c.planes.every((p) => p.registry.all().length === 1), 5_000, 'partitions');
    const oldLeader = leaderOf(c, 'diverge', 0);
    expect(await produce(c, 'diverge', 0, ['committed-1', 'committed-2'])).toMatchObject({ errorCode: 0 });
    // Followers stop pulling; the leader takes acks=1 writes that never replicate.
    for (const node of c.nodes) if (Number(node.nodeId) !== oldLeader) node.tell({ node: node.nodeId, path: '/broker' }, { type: 'PauseFetcher', leaderId: oldLeader });
    await new Promise((r) => setTimeout(r, 300));
    expect(await produce(c, 'diverge', 0, ['lost-1', 'lost-2', 'lost-3'], 1)).toMatchObject({ errorCode: 0, baseOffset: 2 });
    const oldLog = () => c.planes[oldLeader - 1]!.registry.get('diverge', 0)!.log;
    expect(oldLog().logEndOffset).toBe(5);
    // The controller fences the old leader: a follower from the ISR takes over with a new leader epoch.
    c.quorum.call({ type: 'FenceBroker', brokerId: oldLeader, brokerEpoch: null });
    const newLeader = leaderOf(c, 'diverge', 0);
    expect(newLeader).not.toBe(oldLeader);
    await until(() => c.planes[newLeader - 1]!.registry.get('diverge', 0)!.role === 'leader', 5_000, 'the new leader');
    expect(await produce(c, 'diverge', 0, ['new-epoch-1'])).toMatchObject({ errorCode: 0, baseOffset: 2 });
    // The old leader comes back (a new registration): it follows, truncates to the divergence point, catches up.
    c.quorum.registerBroker(oldLeader, c.nodes[oldLeader - 1]!.url!);
    await until(() => oldLog().logEndOffset === 3 && c.planes[oldLeader - 1]!.registry.get('diverge', 0)!.role === 'follower', 10_000, 'the old leader to truncate and catch up');
    const newLog = c.planes[newLeader - 1]!.registry.get('diverge', 0)!.log;
    expect(oldLog().read(0, 1 << 20).equals(newLog.read(0, 1 << 20))).toBe(true);
    expect((await fetchValues(c, 'diverge', 0, 0)).values).toEqual(['committed-1', 'committed-2', 'new-epoch-1']);
  });

  it('a follower that stops pulling leaves the ISR after replica.lag.time.max.ms and rejoins when it resumes', async () => {
    const c = await startCluster({ replicaLagTimeMaxMs: 1_000 });
    createTopic(c, 'lag', 1, 3);
    await until(() => c.planes.every((p) => p.registry.all().length === 1), 5_000, 'partitions');
    const leader = leaderOf(c, 'lag', 0);
    const laggard = [1, 2, 3].find((id) => id !== leader)!;
    const laggardNode = c.nodes[laggard - 1]!;
    laggardNode.tell({ node: laggardNode.nodeId, path: '/broker' }, { type: 'PauseFetcher', leaderId: leader });
    await produce(c, 'lag', 0, ['while-paused'], 1);
    const isr = () => topicByName(c.quorum.image, 'lag')!.partitions[0]!.isr;
    await until(() => !isr().includes(laggard), 5_000, 'the paused follower to leave the ISR');
    // acks=all still works with the two remaining (min.insync.replicas 1).
    expect(await produce(c, 'lag', 0, ['two-in-isr'])).toMatchObject({ errorCode: 0 });
    laggardNode.tell({ node: laggardNode.nodeId, path: '/broker' }, { type: 'ResumeFetcher', leaderId: leader });
    await until(() => isr().includes(laggard), 5_000, 'the follower to rejoin the ISR');
    expect(c.planes[laggard - 1]!.registry.get('lag', 0)!.log.logEndOffset).toBe(2);
  });
});
