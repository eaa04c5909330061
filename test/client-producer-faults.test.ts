/**
 * The producer under faults, against a 3-broker cluster in this process
 * (real broker data planes over ws sockets on 127.0.0.1, FakeQuorum as the
 * controller: no broker process, no Raft). Nothing here crashes a process;
 * SIGKILLs of broker processes under the same idempotent producer are in the
 * chaos run (test/chaos/chaos.test.ts) and `npm run bench:failover`.
 *
 * 1. Lost answers: the producer's fault hook discards successful Produce
 *    answers, so the broker has appended a batch the producer believes lost
 *    and retries. With idempotence the leader recognises the retry and answers
 *    with the original offsets: no record is stored twice and every send
 *    resolves with the offset where its record is. Without idempotence the
 *    same hook does duplicate records (at-least-once), which shows the hook
 *    really forces retries.
 * 2. A batch refused for good (the broker's max.message.bytes) breaks the
 *    partition's sequence: the producer takes a new producer id, and the
 *    batches behind the refused one are stamped again and go through in order.
 * 3. A leader moved away, not crashed: while an idempotent producer streams
 *    keyed-by-partition records with 5 requests in flight per broker, the
 *    controller fences the broker leading some partitions (new leaders from
 *    the ISR, bumped leader epochs) and then its node stops gracefully, so
 *    links close and parked requests are answered or dropped. Afterwards every
 *    partition holds each acknowledged record exactly once, at its
 *    acknowledged offset, in send order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus, KactusError, type RecordMetadata } from '../client/index.ts';
import { startTestCluster, type TestCluster } from './client-cluster.ts';
import { readPartition } from './client-read.ts';

let cluster: TestCluster | undefined;
let kactus: Kactus | undefined;

afterEach(async () => {
  await kactus?.close().catch(() => undefined);
  await cluster?.stop();
  kactus = undefined;
  cluster = undefined;
});

async function setup(topic: string, numPartitions: number): Promise<Kactus> {
  cluster = await startTestCluster();
  kactus = new Kactus({ brokers: cluster.urls, clientId: 'faults-test', requestTimeoutMs: 5_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions, replicationFactor: 3 }] });
  return kactus;
}

describe('producer under faults', () => {
  it('lost produce answers: idempotent retries store each record once and report where it is', async () => {
    const kactus = await setup('lost', 3);
    const producer = kactus.producer({ faults: { dropProduceResponses: 12 }, lingerMs: 0, retryBackoffMs: 10, retryBackoffMsMax: 50 });
    const sends: Promise<RecordMetadata[]>[] = [];
    for (let i = 0; i < 300; i += 1) sends.push(producer.send({ topic: 'lost', messages: [{ value: `v${i}`, partition: i % 3 }] }));
    const results = (await Promise.all(sends)).map((r) => r[0]!);
    expect(producer.stats!.droppedResponses).toBe(12);
    expect(producer.stats!.retries).toBeGreaterThanOrEqual(12);
    for (let p = 0; p < 3; p += 1) {
      const stored = await readPartition(kactus, 'lost', p);
      const expected = results.map((r, i) => ({ r, value: `v${i}` })).filter(({ r }) => r.partition === p);
      // Exactly the sent records, once each, in send order, at the offsets the sends reported.
      expect(stored.map((s) => s.value)).toEqual(expected.map((e) => e.value));
      for (const { r, value } of expected) expect(stored.find((s) => s.offset === r.offset)?.value).toBe(value);
    }
  });

  it('lost produce answers without idempotence duplicate records (at-least-once), each send still pointing at a copy', async () => {
    const kactus = await setup('dupes', 1);
    const producer = kactus.producer({ idempotent: false, faults: { dropProduceResponses: 3 }, lingerMs: 0, retryBackoffMs: 10 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.send({ topic: 'dupes', messages: [{ value: `v${i}` }] })));
    const stored = await readPartition(kactus, 'dupes', 0);
    // Each dropped answer stores its whole batch twice.
    expect(stored.length).toBeGreaterThan(20);
    expect(producer.stats!.droppedResponses).toBe(3);
    results.forEach((r, i) => expect(stored.find((s) => s.offset === r[0]!.offset)?.value).toBe(`v${i}`));
    // One batch in flight per partition without idempotence: still in send order (duplicates are adjacent).
    const firstSeen = [...new Set(stored.map((s) => s.value))];
    expect(firstSeen).toEqual(Array.from({ length: 20 }, (_, i) => `v${i}`));
  });

  it('a batch refused for good: new producer id, the batches behind it stamped again and stored in order', async () => {
    cluster = await startTestCluster();
    kactus = new Kactus({ brokers: cluster.urls, clientId: 'faults-test', requestTimeoutMs: 5_000 });
    await kactus.admin().createTopics({ topics: [{ topic: 'small', numPartitions: 1, replicationFactor: 3, configs: { 'max.message.bytes': '2000' } }] });
    const producer = kactus.producer({ lingerMs: 0, batchSizeBytes: 1_000 });
    await producer.send({ topic: 'small', messages: [{ value: 'before' }] });
    const firstId = producer.producerId.producerId;
    // The big record and the small ones behind it are in flight together: 5 per partition.
    const big = producer.send({ topic: 'small', messages: [{ value: 'x'.repeat(5_000) }] }).catch((e: unknown) => e);
    const after = Array.from({ length: 20 }, (_, i) => producer.send({ topic: 'small', messages: [{ value: `after-${i}` }] }));
    const refused = await big;
    expect(refused).toBeInstanceOf(KactusError);
    expect(refused).toMatchObject({ type: 'MESSAGE_TOO_LARGE', retriable: false, topic: 'small', partition: 0 });
    const results = await Promise.all(after);
    expect(producer.stats!.producerIdResets).toBeGreaterThanOrEqual(1);
    expect(producer.producerId.producerId).not.toBe(firstId);
    const stored = await readPartition(kactus, 'small', 0);
    expect(stored.map((s) => s.value)).toEqual(['before', ...Array.from({ length: 20 }, (_, i) => `after-${i}`)]);
    results.forEach((r, i) => expect(stored.find((s) => s.offset === r[0]!.offset)?.value).toBe(`after-${i}`));
  });

  it('a leader fenced and its node stopped (in process, not a crash) during a stream of idempotent sends with 5 in flight: no duplicate, no reordering, every acknowledged record readable', async () => {
    const kactus = await setup('failover', 6);
    const producer = kactus.producer({ lingerMs: 1, batchSizeBytes: 512, retryBackoffMs: 20, retryBackoffMsMax: 200, deliveryTimeoutMs: 60_000, requestTimeoutMs: 10_000 });
    expect(producer.config.maxInFlightRequestsPerBroker).toBe(5);
    const [before] = await kactus.admin().describeTopics({ topics: ['failover'] });
    const victim = before!.partitions[0]!.leader;
    const acked: { partition: number; seq: number; meta: RecordMetadata }[] = [];
    const failed: unknown[] = [];
    const pending = new Set<Promise<void>>();
    let stop = false;
    const stream = (async () => {
      let seq = 0;
      while (!stop) {
        for (let burst = 0; burst < 30; burst += 1) {
          const s = seq++;
          const partition = s % 6;
          const promise = producer.send({ topic: 'failover', messages: [{ key: `p${partition}`, value: `${partition}:${s}`, partition }] }).then(
            (meta) => void acked.push({ partition, seq: s, meta: meta[0]! }),
            (err: unknown) => void failed.push(err),
          );
          pending.add(promise);
          void promise.finally(() => pending.delete(promise));
        }
        while (pending.size > 200) await Promise.race(pending);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const waitForAcked = async (count: number): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (acked.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    await waitForAcked(100);
    const ackedBeforeFailover = acked.length;
    await cluster!.fenceAndStop(victim);
    await waitForAcked(ackedBeforeFailover + 300);
    stop = true;
    await stream;
    await Promise.all(pending);
    await producer.flush();
    expect(ackedBeforeFailover).toBeGreaterThanOrEqual(100);
    expect(acked.length).toBeGreaterThanOrEqual(ackedBeforeFailover + 300); // the stream went on after the failover
    expect(failed).toEqual([]);
    expect(producer.stats!.retries).toBeGreaterThan(0); // the failover did force resends
    const [after] = await kactus.admin().describeTopics({ topics: ['failover'] });
    expect(after!.partitions[0]!.leader).not.toBe(victim);
    expect(after!.partitions[0]!.leaderEpoch).toBeGreaterThan(before!.partitions[0]!.leaderEpoch);
    for (let p = 0; p < 6; p += 1) {
      const stored = await readPartition(kactus, 'failover', p);
      const seqs = stored.map((s) => Number(s.value!.split(':')[1]));
      expect(new Set(seqs).size).toBe(seqs.length); // no duplicate
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs); // send order
      for (const a of acked.filter((x) => x.partition === p)) {
        expect(stored.find((s) => s.offset === a.meta.offset)?.value).toBe(`${p}:${a.seq}`);
      }
    }
  }, 60_000);
});
