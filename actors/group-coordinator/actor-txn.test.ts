/**
 * TxnOffsetCommit through the `/groups` shell on one node: a stand-in
 * replica appends each write to the real `__consumer_offsets-0` log (and
 * checks the batch is transactional, of the request's producer, sequence
 * -1), the test plays the transaction coordinator by appending the control
 * batch and telling `/groups` `TxnMarkerWritten`, as the broker does.
 * Goal: offsets are invisible until the commit marker, dropped by an abort,
 * and a restarted `/groups` rebuilds from the log the same committed offsets
 * and the still-open transaction (which a later marker commits); a marker
 * written while a long log loads is applied after the load, and an old
 * marker told again during a reload decides nothing. Method:
 * local asks to `/groups` with the wire messages a client sends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, type Behaviour } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import { systemClock } from '../../runtime/clock.ts';
import type { Ref } from '../../runtime/ref.ts';
import { PartitionRegistry } from '../partition/registry.ts';
import type { Produce, ProduceReply } from '../../protocol/apis/data.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { FakeQuorum } from '../../test/support/fake-quorum.ts';
import { decodeBatches, encodeBatch, encodeEndTxnMarker } from '../../protocol/record-batch/index.ts';
import { encodeRecord } from './offsets-records.ts';
import { offsetsTopic, spawnGroupCoordinator, type GroupsLocalMessage } from './actor.ts';

type Setup = { node: Node; registry: PartitionRegistry; dir: string; groups: Ref<unknown>; local: Ref<GroupsLocalMessage> };
let setup: Setup | undefined;

afterEach(async () => {
  if (!setup) return;
  await setup.node.stop();
  await setup.registry.closeAll();
  rmSync(setup.dir, { recursive: true, force: true });
  setup = undefined;
});

/** Appends each write in order and acknowledges it; records the header fields of every batch. */
function appendingReplica(registry: PartitionRegistry, headers: { isTransactional: boolean; producerId: number; producerEpoch: number; baseSequence: number }[]): Behaviour<null, Produce> {
  return {
    init: () => null,
    receive: (state, msg, ctx) => {
      const view = registry.get(offsetsTopic, 0)!;
      const decoded = decodeBatches(Buffer.from(msg.batch));
      if (decoded.ok) for (const b of decoded.value) headers.push({ isTransactional: b.header.isTransactional, producerId: b.header.producerId, producerEpoch: b.header.producerEpoch, baseSequence: b.header.baseSequence });
      const { baseOffset } = view.log.append(Buffer.from(msg.batch), { leaderEpoch: 0 });
      view.log.setHighWatermark(view.log.logEndOffset);
      const reply: ProduceReply = { type: 'ProduceReply', topic: offsetsTopic, partition: 0, errorCode: 0, errorMessage: null, baseOffset, logAppendTimeMs: -1, logStartOffset: 0 };
      ctx.node.tell(msg.replyTo, reply);
      return state;
    },
  };
}

async function start(): Promise<Setup & { headers: { isTransactional: boolean; producerId: number; producerEpoch: number; baseSequence: number }[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'kactus-groups-txn-'));
  const node = await Node.start({ nodeId: '1', logger: createLogger({ node: 1 }, process.env.LOG_LEVEL ?? 'silent') });
  const registry = new PartitionRegistry(join(dir, 'partitions'), systemClock);
  const view = registry.open(offsetsTopic, 0, {});
  view.role = 'leader';
  view.leaderEpoch = 0;
  view.leaderId = 1;
  const quorum = new FakeQuorum();
  quorum.registerBroker(1, 'ws://127.0.0.1:9999');
  quorum.call({ type: 'CreateTopics', validateOnly: false, topics: [{ name: offsetsTopic, numPartitions: 1, replicationFactor: 1, assignments: null, configs: [] }] });
  const controllerClient = quorum.attach(node);
  const headers: { isTransactional: boolean; producerId: number; producerEpoch: number; baseSequence: number }[] = [];
  const replicas = node.spawn('replicas', { init: () => null, receive: (s: null) => s });
  node.spawn(`${offsetsTopic}-0`, appendingReplica(registry, headers), replicas);
  const { groups } = spawnGroupCoordinator(node, {
    config: { brokerId: 1, offsetsTopicNumPartitions: 1, offsetsTopicReplicationFactor: 1, groupInitialRebalanceDelayMs: 0 },
    registry,
    clock: systemClock,
    controllerClient,
  });
  setup = { node, registry, dir, groups, local: groups };
  return { ...setup, headers };
}

type TxnReply = { type: string; errorCode: number; errorMessage: string | null; results: { topic: string; partition: number; errorCode: number }[] };
type FetchReply = { errorCode: number; offsets: { topic: string; partition: number; offset: number; errorCode: number }[] };

const txnCommit = (groupId: string, producerId: number, producerEpoch: number, offsets: [string, number, number][]) => ({
  type: 'TxnOffsetCommit',
  transactionalId: `tx-${producerId}`,
  groupId,
  producerId,
  producerEpoch,
  memberId: '',
  groupInstanceId: null,
  generationId: -1,
  offsets: offsets.map(([topic, partition, offset]) => ({ topic, partition, offset, metadata: null })),
});

async function askUntilServed<R extends { errorCode?: number }>(node: Node, groups: Ref<unknown>, message: Record<string, unknown>): Promise<R> {
  const deadlineMs = Date.now() + 5_000;
  for (;;) {
    // While /groups restarts (supervision backoff) an ask is refused: ask again.
    const reply = await node.ask<unknown, R>(groups, (replyTo) => ({ ...message, replyTo }), { timeoutMs: 2_000 }).catch((err: unknown) => {
      if (Date.now() > deadlineMs) throw err;
      return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS } as R;
    });
    if (reply.errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS && reply.errorCode !== ErrorCode.NOT_COORDINATOR) return reply;
    if (Date.now() > deadlineMs) return reply;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the transaction coordinator and the broker do: the marker goes into the log, then `/groups` hears of it. */
function writeMarker(s: Setup, producerId: number, producerEpoch: number, result: 'commit' | 'abort'): void {
  const view = s.registry.get(offsetsTopic, 0)!;
  view.log.append(encodeEndTxnMarker({ type: result, coordinatorEpoch: 0, producerId, producerEpoch, timestamp: Date.now() }), { leaderEpoch: 0 });
  view.log.setHighWatermark(view.log.logEndOffset);
  s.node.tell(s.local, { type: 'TxnMarkerWritten', partition: 0, producerId, producerEpoch, result });
}

const fetchAll = (s: Setup, groupId: string, requireStable = false) =>
  askUntilServed<FetchReply>(s.node, s.groups, { type: 'OffsetFetch', groupId, partitions: null, requireStable }).then((r) => r.offsets.map((o) => [o.topic, o.partition, o.offset]));

describe('group coordinator shell: TxnOffsetCommit', () => {
  it('commit makes the offsets visible, abort drops them, and a restarted /groups rebuilds the same from the log (an open transaction stays staged)', async () => {
    const s = await start();
    await askUntilServed(s.node, s.groups, { type: 'OffsetFetch', groupId: 'g', partitions: null });

    // Transaction 1 (producer 7, epoch 3) commits.
    const first = await askUntilServed<TxnReply>(s.node, s.groups, txnCommit('g', 7, 3, [['t', 0, 10], ['t', 1, 11]]));
    expect(first).toEqual({ type: 'TxnOffsetCommitReply', errorCode: 0, errorMessage: null, results: [{ topic: 't', partition: 0, errorCode: 0 }, { topic: 't', partition: 1, errorCode: 0 }] });
    expect(s.headers.at(-1)).toEqual({ isTransactional: true, producerId: 7, producerEpoch: 3, baseSequence: -1 });
    expect(await fetchAll(s, 'g')).toEqual([]);
    const unstable = await askUntilServed<FetchReply>(s.node, s.groups, { type: 'OffsetFetch', groupId: 'g', partitions: [{ topic: 't', partition: 0 }], requireStable: true });
    expect(unstable.offsets[0]!.errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);
    writeMarker(s, 7, 4, 'commit');
    await expect.poll(() => fetchAll(s, 'g'), { timeout: 3_000 }).toEqual([['t', 0, 10], ['t', 1, 11]]);

    // Transaction 2 (producer 8) aborts: nothing changes.
    expect((await askUntilServed<TxnReply>(s.node, s.groups, txnCommit('g', 8, 0, [['t', 0, 99]]))).results[0]!.errorCode).toBe(0);
    writeMarker(s, 8, 1, 'abort');
    // Transaction 3 (producer 7, next epoch) on another group stays open.
    expect((await askUntilServed<TxnReply>(s.node, s.groups, txnCommit('h', 7, 4, [['t', 2, 42]]))).results[0]!.errorCode).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await fetchAll(s, 'g')).toEqual([['t', 0, 10], ['t', 1, 11]]);
    expect(await fetchAll(s, 'h')).toEqual([]);

    // A crashed /groups comes back empty and reloads the partition's log.
    expect(s.node.crashActor('/groups')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await fetchAll(s, 'g')).toEqual([['t', 0, 10], ['t', 1, 11]]);
    expect(await fetchAll(s, 'h')).toEqual([]);
    const stillOpen = await askUntilServed<FetchReply>(s.node, s.groups, { type: 'OffsetFetch', groupId: 'h', partitions: [{ topic: 't', partition: 2 }], requireStable: true });
    expect(stillOpen.offsets[0]!.errorCode).toBe(ErrorCode.UNSTABLE_OFFSET_COMMIT);

    // The open transaction's marker reaches the reloaded coordinator.
    writeMarker(s, 7, 5, 'commit');
    await expect.poll(() => fetchAll(s, 'h'), { timeout: 3_000 }).toEqual([['t', 2, 42]]);
  });

  it('a marker told while /groups reloads the partition is applied once the load ends; an old marker told again decides nothing', async () => {
    const s = await start();
    await askUntilServed(s.node, s.groups, { type: 'OffsetFetch', groupId: 'g', partitions: null });
    // Producer 7's first transaction (epoch 3) commits; its second (epoch 4, the marker's) stays open.
    await askUntilServed<TxnReply>(s.node, s.groups, txnCommit('g', 7, 3, [['t', 0, 1]]));
    writeMarker(s, 7, 4, 'commit');
    await expect.poll(() => fetchAll(s, 'g'), { timeout: 3_000 }).toEqual([['t', 0, 1]]);
    let epoch = 4;
    let previous: [string, number, number] = ['t', 0, 1];
    // Four crashes in all: supervision allows five restarts a minute.
    for (const delayMs of [0, 3]) {
      expect((await askUntilServed<TxnReply>(s.node, s.groups, txnCommit('g', 7, epoch, [['t', 0, 100 + delayMs]]))).results[0]!.errorCode).toBe(0);
      const pause = (): Promise<unknown> => (delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, delayMs)) : Promise.resolve());
      // The previous marker again (epoch = the open transaction's), told at some point of a reload: it decides nothing.
      expect(s.node.crashActor('/groups')).toBe(true);
      await pause();
      s.node.tell(s.local, { type: 'TxnMarkerWritten', partition: 0, producerId: 7, producerEpoch: epoch, result: 'commit' });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await fetchAll(s, 'g')).toEqual([previous]);
      // The open transaction's marker, written and told at some point of another reload: applied once.
      expect(s.node.crashActor('/groups')).toBe(true);
      await pause();
      writeMarker(s, 7, epoch + 1, 'commit');
      await expect.poll(() => fetchAll(s, 'g'), { timeout: 3_000 }).toEqual([['t', 0, 100 + delayMs]]);
      previous = ['t', 0, 100 + delayMs];
      epoch += 1;
    }
  });

  it('a marker written while a long log is loading (several chunks) is kept and applied when the load ends', async () => {
    const s = await start();
    await askUntilServed(s.node, s.groups, { type: 'OffsetFetch', groupId: 'g', partitions: null });
    // About 4 MiB of plain commits of another group, so the load takes several loadChunkBytesMax reads.
    const view = s.registry.get(offsetsTopic, 0)!;
    const metadata = 'x'.repeat(4_096);
    for (let batch = 0; batch < 10; batch += 1) {
      const records = Array.from({ length: 100 }, (_, i) => {
        const encoded = encodeRecord({ key: { type: 'OffsetCommit', group: 'bulk', topic: 'b', partition: batch * 100 + i }, value: { offset: 1, leaderEpoch: -1, metadata, commitTimestampMs: 1 } });
        return { key: encoded.key, value: encoded.value, timestamp: Date.now() };
      });
      view.log.append(encodeBatch({ records }), { leaderEpoch: 0 });
    }
    view.log.setHighWatermark(view.log.logEndOffset);
    expect((await askUntilServed<TxnReply>(s.node, s.groups, txnCommit('g', 9, 0, [['t', 0, 5]]))).results[0]!.errorCode).toBe(0);
    expect(s.node.crashActor('/groups')).toBe(true);
    // Wait until it loads, then write the marker past the end the load reads to.
    const deadlineMs = Date.now() + 5_000;
    for (;;) {
      const reply = await s.node.ask<unknown, FetchReply>(s.groups, (replyTo) => ({ type: 'OffsetFetch', groupId: 'g', partitions: null, replyTo }), { timeoutMs: 1_000 }).catch(() => null);
      if (reply?.errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS || Date.now() > deadlineMs) break;
    }
    writeMarker(s, 9, 1, 'commit');
    await expect.poll(() => fetchAll(s, 'g'), { timeout: 5_000 }).toEqual([['t', 0, 5]]);
    expect((await fetchAll(s, 'bulk')).length).toBe(1_000);
  });

  it('bad input gets a TxnOffsetCommitReply with INVALID_REQUEST; a zombie epoch gets PRODUCER_FENCED and writes nothing', async () => {
    const s = await start();
    await askUntilServed(s.node, s.groups, { type: 'OffsetFetch', groupId: 'g', partitions: null });
    const bad = await s.node.ask<unknown, TxnReply>(s.groups, (replyTo) => ({ ...txnCommit('g', 7, 3, [['t', 0, 1]]), producerEpoch: 'x', replyTo }), { timeoutMs: 2_000 });
    expect(bad).toMatchObject({ type: 'TxnOffsetCommitReply', errorCode: ErrorCode.INVALID_REQUEST, results: [{ topic: 't', partition: 0, errorCode: ErrorCode.INVALID_REQUEST }] });
    expect((await askUntilServed<TxnReply>(s.node, s.groups, txnCommit('g', 7, 3, [['t', 0, 1]]))).results[0]!.errorCode).toBe(0);
    const written = s.headers.length;
    const zombie = await askUntilServed<TxnReply>(s.node, s.groups, txnCommit('g', 7, 2, [['t', 0, 2]]));
    expect(zombie.results[0]!.errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    expect(s.headers.length).toBe(written);
  });
});
