/**
 * Consumer features on an in-process 3-broker cluster: cooperative-sticky
 * moves only what a new member takes; the prefetch bound holds while the
 * subscriber does not finish records; pause/resume/seek; run() with
 * eachMessage and eachBatch; auto.offset.reset latest and none; a handler
 * stuck past maxPollIntervalMs makes the member leave.
 *
 * A check that something does not happen waits for an event that proves it
 * had its chance (heartbeats answered while no fetch is in flight, records of
 * another partition or written later arriving), never for a fixed sleep that a
 * slow machine would pass by default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from 'rxjs';
import { Kactus, KactusError, ErrorCode, commitAfter, type AssignmentEvent, type ConsumerRecord } from '../client/index.ts';
import { startConsumerTestCluster, type ConsumerTestCluster } from './fixtures/consumer-cluster.ts';

let cluster: ConsumerTestCluster;
let kactus: Kactus;
const fast = { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 300, autoOffsetReset: 'earliest' as const, fetchMaxWaitMs: 100 };
const subs: Subscription[] = [];

async function produce(topic: string, count: number, partitions: number, prefix = 'v', batchSizeBytes = 16_384): Promise<void> {
  const producer = kactus.producer({ lingerMs: 1, batchSizeBytes });
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ value: `${prefix}${i}`, partition: i % partitions })) });
  await producer.close();
}

function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (condition()) return resolve();
      if (Date.now() > deadlineMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(check, 20);
    };
    check();
  });
}

/** Sends `values` to one partition of `topic`. */
async function produceTo(topic: string, partition: number, values: string[]): Promise<void> {
  const producer = kactus.producer({ lingerMs: 1 });
  await producer.send({ topic, messages: values.map((value) => ({ value, partition })) });
  await producer.close();
}

beforeAll(async () => {
  cluster = await startConsumerTestCluster();
  kactus = new Kactus({ brokers: cluster.urls, clientId: 'consumer-features', requestTimeoutMs: 5_000 });
  await kactus.admin().createTopics({
    topics: [
      { topic: 'f-coop', numPartitions: 6, replicationFactor: 3 },
      { topic: 'f-bound', numPartitions: 3, replicationFactor: 3 },
      { topic: 'f-pause', numPartitions: 2, replicationFactor: 3 },
      { topic: 'f-run', numPartitions: 4, replicationFactor: 3 },
      { topic: 'f-reset', numPartitions: 2, replicationFactor: 3 },
      { topic: 'f-stuck', numPartitions: 2, replicationFactor: 3 },
      { topic: 'f-re-a', numPartitions: 1, replicationFactor: 3 },
      { topic: 'f-re-b', numPartitions: 1, replicationFactor: 3 },
    ],
  });
}, 30_000);

afterAll(async () => {
  subs.forEach((s) => s.unsubscribe());
  await kactus?.close().catch(() => undefined);
  await cluster?.stop();
}, 30_000);

describe('consumer features', () => {
  it('cooperative-sticky: a new member takes half and the first member gives up only those', async () => {
    const a = kactus.consumer({ groupId: 'g-coop', ...fast }).subscribe('f-coop');
    const aEvents: AssignmentEvent[] = [];
    a.assignments$.subscribe((e) => aEvents.push(e));
    subs.push(a.messages$.pipe(commitAfter(async (r: ConsumerRecord) => r)).subscribe());
    await waitUntil(() => a.assignment().length === 6, 15_000, 'a owns six');
    const b = kactus.consumer({ groupId: 'g-coop', ...fast }).subscribe('f-coop');
    subs.push(b.messages$.pipe(commitAfter(async (r: ConsumerRecord) => r)).subscribe());
    await waitUntil(() => a.assignment().length === 3 && b.assignment().length === 3, 20_000, 'three each');
    const revoked = aEvents.filter((e) => e.type === 'revoked').flatMap((e) => e.partitions.map((p) => p.partition));
    const kept = a.assignment().map((p) => p.partition);
    expect(revoked.sort()).toEqual(b.assignment().map((p) => p.partition).sort());
    expect(revoked.some((p) => kept.includes(p))).toBe(false);
    expect(aEvents.some((e) => e.type === 'lost')).toBe(false);
    expect(a.member()!.protocolName).toBe('cooperative-sticky');
    await Promise.all([a.close(), b.close()]);
  }, 40_000);

  it('bounded prefetch: fetching stops at maxBufferedRecords while records are unfinished, and resumes as they finish', async () => {
    await produce('f-bound', 6_000, 3, 'v', 1_024); // batches of about 80 records
    const consumer = kactus.consumer({ groupId: 'g-bound', ...fast, maxBufferedRecords: 300 }).subscribe('f-bound');
    let fetchesSent = 0;
    let fetchesAnswered = 0;
    let heartbeats = 0;
    consumer.on(consumer.events.FETCH_START, () => void (fetchesSent += 1));
    consumer.on(consumer.events.REQUEST, (e) => void (e.payload.apiName === 'Fetch' && (fetchesAnswered += 1)));
    consumer.on(consumer.events.HEARTBEAT, () => void (heartbeats += 1));
    const held: ConsumerRecord[] = [];
    subs.push(consumer.messages$.subscribe((r) => held.push(r)));
    // Records held, all that were fetched delivered, and no fetch in flight, with thousands more on the brokers: while
    // there is room the fetcher sends the next fetch in the same turn as an answer (a partition with a position is
    // always being fetched), so it has stopped, and the buffer is at the bound.
    await waitUntil(() => held.length > 0 && held.length === consumer.stats()?.fetchedCount && fetchesSent === fetchesAnswered, 15_000, 'records held and no fetch in flight');
    const stats = consumer.stats()!;
    // At the bound: an answer may overshoot by at most one batch per partition (a batch is never split).
    expect(stats.fetchedCount).toBeLessThanOrEqual(300 + 3 * 100);
    expect(held.length).toBeLessThan(6_000);
    const fetchesAtBound = stats.fetchCount;
    // The consumer is alive (two heartbeats answered since) and still fetches nothing while nothing is finished.
    const heartbeatsAtBound = heartbeats;
    await waitUntil(() => heartbeats >= heartbeatsAtBound + 2, 10_000, 'two heartbeats at the bound');
    expect(consumer.stats()!.fetchCount).toBe(fetchesAtBound);
    expect(fetchesSent).toBe(fetchesAnswered);
    // Finish everything as it comes: the rest arrives.
    let acked = 0;
    const ackAll = (): void => {
      for (; acked < held.length; acked++) held[acked]!.ack();
    };
    const timer = setInterval(ackAll, 5);
    await waitUntil(() => held.length >= 6_000, 20_000, 'all records once finished');
    clearInterval(timer);
    ackAll();
    expect(consumer.stats()!.fetchedCount).toBe(0);
    await consumer.close();
  }, 40_000);

  it('pause holds a partition while the others go on, resume continues, seek re-delivers from the offset', async () => {
    await produce('f-pause', 200, 1); // all 200 to partition 0
    const consumer = kactus.consumer({ groupId: 'g-pause', ...fast }).subscribe('f-pause');
    const seen: number[] = []; // offsets of partition 0
    const other: string[] = []; // values of partition 1
    subs.push(
      consumer.messages$.subscribe((r) => {
        r.ack();
        if (r.partition === 1) return void other.push(r.value!.toString());
        seen.push(r.offset);
        if (seen.length === 10) consumer.pause([{ topic: 'f-pause', partition: 0 }]);
      }),
    );
    await waitUntil(() => seen.length >= 10, 15_000, 'ten records');
    // Records written to partition 1 after the pause are fetched and delivered: the feed went on, partition 0 stayed held
    // (190 of its records were fetched or fetchable all along).
    await produceTo('f-pause', 1, ['o0', 'o1', 'o2', 'o3', 'o4']);
    await waitUntil(() => other.length >= 5, 15_000, 'the records of partition 1 written after the pause');
    expect(other).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    expect(seen).toHaveLength(10);
    consumer.resume([{ topic: 'f-pause', partition: 0 }]);
    await waitUntil(() => seen.length >= 200, 15_000, 'the rest after resume');
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i));
    consumer.seek({ topic: 'f-pause', partition: 0, offset: 150 });
    await waitUntil(() => seen.length >= 250, 15_000, 'records again after seek');
    expect(seen.slice(200)).toEqual(Array.from({ length: 50 }, (_, i) => 150 + i));
    expect(() => consumer.seek({ topic: 'nope', partition: 0, offset: 1 })).toThrow(KactusError);
    await consumer.close();
  }, 40_000);

  it('run({ eachMessage }) and run({ eachBatch }) process everything, per partition in order', async () => {
    await produce('f-run', 400, 4);
    const viaMessage = kactus.consumer({ groupId: 'g-run-m', ...fast }).subscribe('f-run');
    const got: [number, number][] = [];
    await viaMessage.run({ partitionsConsumedConcurrently: 4, eachMessage: async ({ partition, message }) => void got.push([partition, message.offset]) });
    await waitUntil(() => got.length >= 400, 15_000, 'eachMessage saw 400');
    for (let p = 0; p < 4; p++) expect(got.filter(([q]) => q === p).map(([, o]) => o)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await viaMessage.close();

    const viaBatch = kactus.consumer({ groupId: 'g-run-b', ...fast }).subscribe('f-run');
    let batchRecords = 0;
    await viaBatch.run({ eachBatch: async ({ batch }) => void (batchRecords += batch.records.length) });
    await waitUntil(() => batchRecords >= 400, 15_000, 'eachBatch saw 400');
    await viaBatch.close();
    // Both committed: a new member of g-run-m starts at the commits. A record written to each partition now is
    // the first it reads; anything it read before them would be a record read again.
    const again = kactus.consumer({ groupId: 'g-run-m', ...fast }).subscribe('f-run');
    const extra: string[] = [];
    subs.push(again.messages$.subscribe((r) => extra.push(`${r.partition}:${r.offset}`)));
    await waitUntil(() => again.assignment().length === 4, 15_000, 'reassigned');
    await produce('f-run', 4, 4, 'later');
    await waitUntil(() => extra.length >= 4, 15_000, 'the records written after the commits');
    expect(extra.sort()).toEqual(['0:100', '1:100', '2:100', '3:100']);
    await again.close();
  }, 50_000);

  it("auto.offset.reset: 'latest' skips what exists, 'none' fails with a typed error", async () => {
    await produce('f-reset', 20, 2, 'old');
    const latest = kactus.consumer({ groupId: 'g-latest', ...fast, autoOffsetReset: 'latest' }).subscribe('f-reset');
    // A fetch goes out only for a partition whose position is resolved: with one leader per partition, a fetch
    // answered by each leader shows both 'latest' positions were taken before the new records exist.
    const [resetTopic] = await kactus.admin().describeTopics({ topics: ['f-reset'] });
    const leaders = resetTopic!.partitions.map((p) => p.leader);
    expect(new Set(leaders).size).toBe(2);
    const fetchedFrom = new Set<number>();
    latest.on(latest.events.FETCH, (e) => void fetchedFrom.add(e.payload.nodeId));
    const values: string[] = [];
    subs.push(latest.messages$.subscribe((r) => (values.push(r.value!.toString()), r.ack())));
    await waitUntil(() => latest.assignment().length === 2 && leaders.every((id) => fetchedFrom.has(id)), 15_000, 'assigned, with a fetch answered by each leader');
    await produce('f-reset', 4, 2, 'new');
    await waitUntil(() => values.length >= 4, 15_000, 'new records');
    expect(values.every((v) => v.startsWith('new'))).toBe(true);
    await latest.close();

    const none = kactus.consumer({ groupId: 'g-none', ...fast, autoOffsetReset: 'none' }).subscribe('f-reset');
    const err = await new Promise<unknown>((resolve) => subs.push(none.messages$.subscribe({ error: resolve })));
    expect(err).toBeInstanceOf(KactusError);
    expect((err as KactusError).code).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    await none.close();
  }, 40_000);

  it('a RegExp subscription reads every matching topic, and close() ends the feed (complete) after committing', async () => {
    await produce('f-re-a', 5, 1, 'a');
    await produce('f-re-b', 5, 1, 'b');
    const consumer = kactus.consumer({ groupId: 'g-re', ...fast }).subscribe(/^f-re-/);
    const values: string[] = [];
    let completed = false;
    consumer.messages$.subscribe({ next: (r) => (values.push(r.value!.toString()), r.ack()), complete: () => (completed = true) });
    await waitUntil(() => values.length >= 10, 15_000, 'records of both topics');
    expect(values.sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2', 'b3', 'b4']);
    await consumer.close();
    expect(completed).toBe(true);
    // close() committed: the next member's first records are the ones written after it, nothing before them.
    const again = kactus.consumer({ groupId: 'g-re', ...fast }).subscribe(/^f-re-/);
    const extra: string[] = [];
    subs.push(again.messages$.subscribe((r) => extra.push(r.value!.toString())));
    await waitUntil(() => again.assignment().length === 2, 15_000, 'reassigned');
    await produce('f-re-a', 1, 1, 'a-later');
    await produce('f-re-b', 1, 1, 'b-later');
    await waitUntil(() => extra.length >= 2, 15_000, 'the records written after the commit');
    expect(extra.sort()).toEqual(['a-later0', 'b-later0']);
    await again.close();
  }, 40_000);

  it('a handler stuck past maxPollIntervalMs makes the member leave; another member takes over', async () => {
    await produce('f-stuck', 50, 2);
    const stuck = kactus.consumer({ groupId: 'g-stuck', ...fast, maxPollIntervalMs: 1_500 }).subscribe('f-stuck');
    const events: AssignmentEvent[] = [];
    stuck.assignments$.subscribe((e) => events.push(e));
    subs.push(stuck.messages$.subscribe(() => undefined)); // never acks
    await waitUntil(() => stuck.assignment().length === 2, 15_000, 'stuck member assigned');
    const other = kactus.consumer({ groupId: 'g-stuck', ...fast }).subscribe('f-stuck');
    const seen: number[] = [];
    subs.push(other.messages$.pipe(commitAfter(async (r: ConsumerRecord) => seen.push(r.offset))).subscribe());
    await waitUntil(() => events.some((e) => e.type === 'lost'), 15_000, 'the stuck member left');
    await waitUntil(() => seen.length >= 50, 15_000, 'the other member read everything');
    await Promise.all([stuck.close(), other.close()]);
  }, 40_000);
});
