/**
 * Replication across real broker processes over ws: no acknowledged write is
 * lost when a broker that leads partitions is SIGKILLed mid-stream (RF 3,
 * min.insync.replicas 2, acks=all), the restarted broker catches up and
 * rejoins the ISR, and with two of three brokers down acks=all is refused.
 * Method: an idempotent mini-producer in this process (one request in flight
 * per partition, retrying the same batch bytes through leader changes)
 * records what was acknowledged at which offset; every partition is read back
 * from offset 0 and compared twice: while the killed broker is down, and
 * after it returned, rejoined every ISR and leads its preferred partitions
 * again (so what it truncated and fetched is what it serves).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { encodeBatch, decodeBatches } from '../protocol/record-batch/index.ts';
import { ErrorCode, isRetriable } from '../protocol/errors.ts';
import type { Fetch, FetchReply, Produce, ProduceReply } from '../protocol/apis/data.ts';
import { killAllChildren, until } from './support/processes.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await killAllChildren();
  await cluster?.cleanup();
  cluster = undefined;
});

const topic = 'payments';
const partitions = 6;

async function leaderOf(c: TestCluster, partition: number): Promise<number> {
  const answer = await c.metadata([topic]).catch(() => undefined);
  return answer?.topics[0]?.partitions[partition]?.leader ?? -1;
}

/** Reads a whole partition from its leader, up to the high watermark: offset -> value. */
async function readAll(c: TestCluster, partition: number): Promise<Map<number, string>> {
  const values = new Map<number, string>();
  let offset = 0;
  for (let round = 0; round < 10_000; round += 1) {
    const leader = await leaderOf(c, partition);
    const reply = await c.client.ask<Fetch, FetchReply>({ node: String(leader), path: '/fetch' }, (replyTo) => ({
      type: 'Fetch', replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 4 << 20, isolationLevel: 0,
      partitions: [{ topic, partition, fetchOffset: offset, partitionMaxBytes: 4 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }], replyTo,
    }), { timeoutMs: 5_000 });
    const answer = reply.partitions[0]!;
    expect(answer.errorCode).toBe(0);
    if (answer.records === null) return values;
    const decoded = decodeBatches(Buffer.from(answer.records));
    if (!decoded.ok) throw new Error(decoded.message);
    for (const batch of decoded.value) {
      for (const record of batch.records) {
        const at = batch.header.baseOffset + record.offsetDelta;
        if (at >= offset) values.set(at, Buffer.from(record.value!).toString());
      }
      offset = batch.header.lastOffset + 1;
    }
  }
  return values;
}

describe('replication across broker processes', () => {
  it('loses no acknowledged write when a leader is SIGKILLed mid-stream; the broker returns, truncates, catches up and rejoins the ISR', async () => {
    const c = (cluster = await startTestCluster(3, ['replica.lag.time.max.ms=5000', 'leader.imbalance.check.interval.ms=1000']));
    const created = await c.admin<{ topics: { errorCode: number }[] }>({ type: 'CreateTopics', validateOnly: false, topics: [{ name: topic, numPartitions: partitions, replicationFactor: 3, assignments: null, configs: [{ name: 'min.insync.replicas', value: '2' }] }] });
    expect(created.topics[0]!.errorCode).toBe(0);
    await c.waitForLeaders(topic, partitions, 3);
    const init = await c.client.ask<unknown, { errorCode: number; producerId: number; producerEpoch: number }>({ node: '1', path: '/broker' }, (replyTo) => ({ type: 'InitProducerId', transactionalId: null, transactionTimeoutMs: 60_000, replyTo }), { timeoutMs: 10_000 });
    expect(init.errorCode).toBe(0);

    const recordsTotal = 20_000;
    const recordsPerBatch = 50;
    const batchesPerPartition = Math.ceil(recordsTotal / partitions / recordsPerBatch);
    const acknowledged = new Map<string, { partition: number; offset: number }>();
    let sentBatches = 0;
    let victim = -1;
    const deadlineMs = Date.now() + 90_000;

    const runPartition = async (partition: number): Promise<void> => {
      for (let b = 0; b < batchesPerPartition; b += 1) {
        const values = Array.from({ length: recordsPerBatch }, (_, i) => `p${partition}-${b * recordsPerBatch + i}`);
        const batch = encodeBatch({ records: values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: Date.now() })), producerId: init.producerId, producerEpoch: init.producerEpoch, baseSequence: b * recordsPerBatch });
        for (let attempt = 0; ; attempt += 1) {
          if (Date.now() > deadlineMs) throw new Error(`partition ${partition} batch ${b}: no ack before the deadline`);
          const leader = await leaderOf(c, partition);
          const reply = leader < 0 ? undefined : await c.client.ask<Produce, ProduceReply>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'Produce', topic, partition, acks: -1, timeoutMs: 10_000, batch, replyTo }), { timeoutMs: 12_000 }).catch(() => undefined);
          if (reply?.errorCode === ErrorCode.NONE) {
            values.forEach((v, i) => acknowledged.set(v, { partition, offset: reply.baseOffset + i }));
            break;
          }
          if (reply !== undefined && !isRetriable(reply.errorCode)) throw new Error(`partition ${partition}: ${reply.errorCode} ${reply.errorMessage}`);
          await new Promise((r) => setTimeout(r, Math.min(500, 50 * 2 ** attempt)));
        }
        sentBatches += 1;
      }
    };

    const killer = (async () => {
      await until(() => sentBatches >= (partitions * batchesPerPartition) / 2, 60_000, 'half the batches');
      victim = await leaderOf(c, 0);
      await c.killBroker(victim);
    })();
    await Promise.all([...Array.from({ length: partitions }, (_, p) => runPartition(p)), killer]);
    expect(acknowledged.size).toBe(partitions * batchesPerPartition * recordsPerBatch);

    // Every acknowledged record is at exactly its acknowledged offset, in order, and no value appears twice.
    // Reads stop at the high watermark, which a leader that just took over raises once its followers fetch
    // again: wait (bounded) until it covers every acknowledged offset. A leader that lost records never gets there.
    const ackedEnd = new Array<number>(partitions).fill(0);
    for (const at of acknowledged.values()) ackedEnd[at.partition] = Math.max(ackedEnd[at.partition]!, at.offset + 1);
    const highWatermark = async (partition: number): Promise<number> => {
      const leader = await leaderOf(c, partition);
      if (leader < 0) return -1;
      const reply = await c.client.ask<unknown, { partitions: { errorCode: number; offset: number }[] }>({ node: String(leader), path: '/fetch' }, (replyTo) => ({ type: 'ListOffsets', isolationLevel: 0, partitions: [{ topic, partition, timestamp: -1 }], replyTo }), { timeoutMs: 5_000 }).catch(() => undefined);
      return reply?.partitions[0]?.errorCode === 0 ? reply.partitions[0].offset : -1;
    };
    const checkAcknowledged = async (when: string): Promise<void> => {
      for (let partition = 0; partition < partitions; partition += 1) {
        const coveredDeadlineMs = Date.now() + 15_000;
        while ((await highWatermark(partition)) < ackedEnd[partition]! && Date.now() < coveredDeadlineMs) await new Promise((r) => setTimeout(r, 100));
      }
      for (let partition = 0; partition < partitions; partition += 1) {
        const stored = await readAll(c, partition);
        const seen = new Set<string>();
        for (const value of stored.values()) {
          expect(seen.has(value), `${when}: ${value} stored twice`).toBe(false);
          seen.add(value);
        }
        for (const [value, at] of acknowledged) if (at.partition === partition) expect(stored.get(at.offset), `${when}: partition ${partition} offset ${at.offset}`).toBe(value);
      }
    };
    await checkAcknowledged(`broker ${victim} down`);

    // The killed broker comes back, catches up and rejoins every ISR; then preferred-leader
    // election (auto.leader.rebalance.enable) moves leadership back to it.
    await c.startBroker(victim);
    await c.waitForLeaders(topic, partitions, 3, 30_000);
    const rebalanceDeadlineMs = Date.now() + 30_000;
    let balanced = false;
    let described = (await c.metadata([topic])).topics[0]!;
    for (;;) {
      balanced = described.partitions.every((p) => p.leader === p.replicas[0]);
      if (balanced || Date.now() > rebalanceDeadlineMs) break;
      await new Promise((r) => setTimeout(r, 200));
      described = (await c.metadata([topic])).topics[0]!;
    }
    expect(balanced).toBe(true);
    // It leads again (partition 0 at least, which it led when it was killed), and every acknowledged record
    // is read back once more, now from it for the partitions it leads.
    const ledByVictim = described.partitions.filter((p) => p.leader === victim).map((p) => p.partition);
    expect(ledByVictim).toContain(0);
    await checkAcknowledged(`broker ${victim} back and leading partitions ${ledByVictim.join(',')}`);
  }, 180_000);

  it('followers truly pull: a follower whose fetcher is stopped leaves the ISR after replica.lag.time.max.ms, and rejoins when it resumes', async () => {
    const c = (cluster = await startTestCluster(3, ['replica.lag.time.max.ms=1500']));
    await c.admin({ type: 'CreateTopics', validateOnly: false, topics: [{ name: topic, numPartitions: 1, replicationFactor: 3, assignments: null, configs: [] }] });
    await c.waitForLeaders(topic, 1, 3);
    const leader = await leaderOf(c, 0);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const isr = async () => (await c.metadata([topic])).topics[0]!.partitions[0]!.isr;
    // The fault hook: the follower's broker stops its fetcher for this leader.
    c.client.tell({ node: String(follower), path: '/broker' }, { type: 'PauseFetcher', leaderId: leader });
    const batch = encodeBatch({ records: [{ key: null, value: Buffer.from('x'), timestamp: Date.now() }] });
    await c.client.ask<Produce, ProduceReply>({ node: String(leader), path: '/broker' }, (replyTo) => ({ type: 'Produce', topic, partition: 0, acks: 1, timeoutMs: 5_000, batch, replyTo }));
    const pausedAt = Date.now();
    let current = await isr();
    while (current.includes(follower) && Date.now() - pausedAt < 15_000) {
      await new Promise((r) => setTimeout(r, 100));
      current = await isr();
    }
    expect(current).not.toContain(follower);
    expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(1_000);
    c.client.tell({ node: String(follower), path: '/broker' }, { type: 'ResumeFetcher', leaderId: leader });
    await c.waitForLeaders(topic, 1, 3, 15_000);
  }, 60_000);

  it('with two of three brokers down, acks=all with min.insync.replicas 2 is refused: NOT_ENOUGH_REPLICAS', async () => {
    // The controller quorum is broker 1 alone (allowed for development), so it survives the other two:
    // it fences them and shrinks the ISR, and the leader on broker 1 then refuses acks=all.
    const c = (cluster = await startTestCluster(3, ['replica.lag.time.max.ms=2000'], { voters: [1] }));
    await c.admin({ type: 'CreateTopics', validateOnly: false, topics: [{ name: topic, numPartitions: 1, replicationFactor: 3, assignments: null, configs: [{ name: 'min.insync.replicas', value: '2' }] }] });
    await c.waitForLeaders(topic, 1, 3);
    expect(await leaderOf(c, 0)).toBe(1);
    await c.killBroker(2);
    await c.killBroker(3);
    const batch = encodeBatch({ records: [{ key: null, value: Buffer.from('x'), timestamp: Date.now() }] });
    const outcomes: number[] = [];
    const deadlineMs = Date.now() + 30_000;
    while (Date.now() < deadlineMs) {
      const reply = await c.client.ask<Produce, ProduceReply>({ node: '1', path: '/broker' }, (replyTo) => ({ type: 'Produce', topic, partition: 0, acks: -1, timeoutMs: 1_000, batch, replyTo }), { timeoutMs: 5_000 });
      outcomes.push(reply.errorCode);
      if (reply.errorCode === ErrorCode.NOT_ENOUGH_REPLICAS) break;
    }
    // Nothing was acknowledged: before the ISR shrank the writes timed out or were refused after the append.
    expect(outcomes).not.toContain(ErrorCode.NONE);
    expect(outcomes[outcomes.length - 1]).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
  }, 90_000);
});
