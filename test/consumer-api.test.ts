/**
 * The KafkaJS-grade consumer and producer API on a 3-broker cluster (in this
 * process, over real ws sockets): eachBatch's resolveOffset (a batch left
 * partly resolved is read again from its first unresolved record),
 * uncommittedOffsets, commitOffsetsIfNecessary with and without offsets,
 * isStale, heartbeat() keeping a slow handler in its group; typed
 * serializers and deserializers (JSON values come back as objects, a
 * tombstone stays null, a serializer or deserializer that throws is refused
 * naming the record); instrumentation events (GROUP_JOIN, REBALANCING,
 * HEARTBEAT, COMMIT_OFFSETS, FETCH, REQUEST, batch processing, CRASH, STOP).
 */
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { lastValueFrom, take, toArray, type Observable } from 'rxjs';
import { ErrorCode, Kactus, KactusError, deserializers, serializers, type Admin, type ConsumerEvent, type ConsumerRecord } from '../client/index.ts';
import { startConsumerTestCluster, type ConsumerTestCluster } from './fixtures/consumer-cluster.ts';
import { until } from './support/processes.ts';

let cluster: ConsumerTestCluster;
let kactus: Kactus;
let admin: Admin;
const fast = { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 300, autoOffsetReset: 'earliest' as const, fetchMaxWaitMs: 100 };

async function produce(topic: string, count: number, partitions = 1): Promise<void> {
  const producer = kactus.producer({ lingerMs: 1 });
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ value: `v${i}`, partition: i % partitions })) });
  await producer.close();
}

async function committed(groupId: string, topic: string): Promise<number[]> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return offsets!.partitions.map((p) => p.offset);
}

beforeAll(async () => {
  cluster = await startConsumerTestCluster();
  kactus = new Kactus({ brokers: cluster.urls, clientId: 'consumer-api', requestTimeoutMs: 5_000 });
  admin = kactus.admin();
  await admin.createTopics({
    topics: [
      { topic: 'api-resolve', numPartitions: 1, replicationFactor: 3 },
      { topic: 'api-commit', numPartitions: 1, replicationFactor: 3 },
      { topic: 'api-stale', numPartitions: 1, replicationFactor: 3 },
      { topic: 'api-slow', numPartitions: 1, replicationFactor: 3 },
      { topic: 'api-json', numPartitions: 2, replicationFactor: 3 },
      { topic: 'api-bad-json', numPartitions: 1, replicationFactor: 3 },
      { topic: 'api-events', numPartitions: 2, replicationFactor: 3 },
    ],
  });
}, 30_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await cluster?.stop();
}, 30_000);

describe('eachBatch, KafkaJS style', () => {
  it('with eachBatchAutoResolve off, what the handler did not resolve is read again, and only what it resolved is committed', async () => {
    await produce('api-resolve', 40);
    const consumer = kactus.consumer({ groupId: 'g-resolve', ...fast }).subscribe('api-resolve');
    const handled: number[] = [];
    let calls = 0;
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        calls += 1;
        // The first call resolves only its first half: the rest must come back, in order, once.
        const records = calls === 1 ? batch.records.slice(0, Math.max(1, Math.floor(batch.records.length / 2))) : batch.records;
        for (const r of records) {
          handled.push(r.offset);
          resolveOffset(r.offset);
        }
      },
    });
    await until(() => handled.length >= 40 && handled.at(-1) === 39, 15_000, 'every record handled');
    await consumer.stop();
    expect(handled).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(calls).toBeGreaterThan(1);
    expect(await committed('g-resolve', 'api-resolve')).toEqual([40]);
    await consumer.close();
  }, 30_000);

  it('uncommittedOffsets names what finished; commitOffsetsIfNecessary commits nothing with auto-commit off, and commits the offsets it is given', async () => {
    await produce('api-commit', 10);
    const consumer = kactus.consumer({ groupId: 'g-commit', ...fast, autoCommit: false }).subscribe('api-commit');
    const seen: unknown[] = [];
    let done = false;
    let last = -1;
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset, uncommittedOffsets, commitOffsetsIfNecessary }) => {
        if (done) return;
        last = batch.lastOffset();
        resolveOffset(last);
        seen.push(uncommittedOffsets());
        await commitOffsetsIfNecessary();
        seen.push(await committed('g-commit', 'api-commit'));
        // KafkaJS writes offsets as strings: both forms are taken.
        await commitOffsetsIfNecessary({ topics: [{ topic: 'api-commit', partitions: [{ partition: 0, offset: String(last + 1) }] }] });
        seen.push(await committed('g-commit', 'api-commit'));
        seen.push(uncommittedOffsets());
        done = true;
      },
    });
    await until(() => done, 15_000, 'the batch handled');
    expect(last).toBeGreaterThanOrEqual(0);
    expect(seen).toEqual([{ topics: [{ topic: 'api-commit', partitions: [{ partition: 0, offset: last + 1 }] }] }, [-1], [last + 1], { topics: [] }]);
    await consumer.close();
  }, 30_000);

  it('isStale turns true once the batch partition was sought, and batch helpers describe the batch', async () => {
    await produce('api-stale', 5);
    const consumer = kactus.consumer({ groupId: 'g-stale', ...fast }).subscribe('api-stale');
    type Seen = { staleBefore: boolean; staleAfter: boolean; first: number | null; last: number; lag: number; lagLow: number; empty: boolean; messages: number };
    const seen: Seen[] = [];
    await consumer.run({
      eachBatch: async ({ batch, isStale }) => {
        if (seen.length > 0) return;
        const staleBefore = isStale();
        consumer.seek({ topic: 'api-stale', partition: 0, offset: 0 });
        seen.push({ staleBefore, staleAfter: isStale(), first: batch.firstOffset(), last: batch.lastOffset(), lag: batch.offsetLag(), lagLow: batch.offsetLagLow(), empty: batch.isEmpty(), messages: batch.messages.length });
      },
    });
    await until(() => seen.length > 0, 15_000, 'a batch');
    const first = seen[0]!;
    expect(first.staleBefore).toBe(false);
    expect(first.staleAfter).toBe(true);
    expect(first.first).toBe(0);
    expect(first.empty).toBe(false);
    expect(first.messages).toBe(first.last - first.first! + 1);
    expect(first.lag).toBe(4 - first.last);
    expect(first.lagLow).toBe(4);
    await consumer.close();
  }, 30_000);

  it('a handler slower than maxPollIntervalMs that calls heartbeat() keeps its partitions', async () => {
    await produce('api-slow', 3);
    const consumer = kactus.consumer({ groupId: 'g-slow', ...fast, maxPollIntervalMs: 1_000 }).subscribe('api-slow');
    const assignments: string[] = [];
    const watch = consumer.assignments$.subscribe((e) => assignments.push(e.type));
    let finished = false;
    await consumer.run({
      eachBatch: async ({ heartbeat }) => {
        if (finished) return;
        // 2.5 maxPollIntervalMs of work in steps, each followed by heartbeat().
        const untilMs = Date.now() + 2_500;
        while (Date.now() < untilMs) {
          await new Promise((r) => setTimeout(r, 100));
          await heartbeat();
        }
        finished = true;
      },
    });
    await until(() => finished, 15_000, 'the slow batch');
    expect(assignments).toEqual(['assigned']);
    expect(consumer.member()?.joinCount).toBe(1);
    watch.unsubscribe();
    await consumer.close();
  }, 30_000);
});

type Order = { id: string; amount: number; lines: string[] };

describe('serializers and deserializers', () => {
  it('JSON values and string keys round-trip typed; a tombstone stays null', async () => {
    const producer = kactus.producer({ serializers: { key: serializers.string, value: serializers.json<Order>() }, lingerMs: 1 });
    const orders: Order[] = Array.from({ length: 6 }, (_, i) => ({ id: `o${i}`, amount: i * 10.5, lines: [`line ${i}`, 'ünïcode'] }));
    await producer.send({ topic: 'api-json', messages: orders.map((o, i) => ({ key: o.id, value: o, partition: i % 2 })) });
    await producer.send({ topic: 'api-json', messages: [{ key: 'o0', value: null, partition: 0 }] });
    await producer.close();

    const consumer = kactus.consumer({ groupId: 'g-json', ...fast, deserializers: { key: deserializers.string, value: deserializers.json<Order>() } }).subscribe('api-json');
    expectTypeOf(consumer.messages$).toEqualTypeOf<Observable<ConsumerRecord<string, Order>>>();
    const records = await lastValueFrom(consumer.messages$.pipe(take(7), toArray()));
    for (const r of records) r.ack();
    const byKey = records.filter((r) => r.value !== null).sort((a, b) => a.key!.localeCompare(b.key!));
    expect(byKey.map((r) => r.value)).toEqual(orders);
    expect(byKey.map((r) => r.key)).toEqual(orders.map((o) => o.id));
    const tombstone = records.find((r) => r.value === null);
    expect(tombstone?.key).toBe('o0');
    await consumer.close();
  }, 30_000);

  it('a serializer that throws fails that send naming the message; nothing of it is written', async () => {
    const producer = kactus.producer({ serializers: { value: (order: Order) => (order.amount < 0 ? (() => { throw new Error('negative amount'); })() : JSON.stringify(order)) } });
    const refused = await producer.send({ topic: 'api-json', messages: [{ value: { id: 'ok', amount: 1, lines: [] } }, { value: { id: 'bad', amount: -1, lines: [] } }] }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(KactusError);
    expect((refused as KactusError).code).toBe(ErrorCode.INVALID_RECORD);
    expect((refused as KactusError).message).toMatch(/messages\[1\]\.value: the serializer failed: negative amount/);
    await producer.close();
  });

  it('a value the deserializer refuses ends the feed at that record, naming it; what came before is committed, it is not', async () => {
    const producer = kactus.producer({ lingerMs: 1 });
    await producer.send({ topic: 'api-bad-json', messages: ['{"n":1}', '{"n":2}', 'not json', '{"n":4}'].map((value) => ({ value })) });
    await producer.close();
    const consumer = kactus.consumer({ groupId: 'g-bad-json', ...fast, deserializers: { value: deserializers.json<{ n: number }>() } }).subscribe('api-bad-json');
    const values: number[] = [];
    const failure = await new Promise<unknown>((resolve) => {
      consumer.messages$.subscribe({
        next: (r) => {
          values.push(r.value!.n);
          r.ack();
        },
        error: resolve,
      });
    });
    expect(values).toEqual([1, 2]);
    expect(failure).toBeInstanceOf(KactusError);
    expect((failure as KactusError).code).toBe(ErrorCode.INVALID_RECORD);
    expect((failure as KactusError).message).toMatch(/topic "api-bad-json" partition 0 offset 2: the value deserializer failed/);
    await until(() => consumer.member() === undefined, 10_000, 'the feed to stop');
    expect(await committed('g-bad-json', 'api-bad-json')).toEqual([2]);
    await consumer.close();
  }, 30_000);

  it('refuses a deserializer that is not a function', () => {
    expect(() => kactus.consumer({ groupId: 'g-x', deserializers: { value: 'json' as never } })).toThrow(/consumer\.deserializers\.value must be a function/);
    expect(() => kactus.producer({ serializers: { body: serializers.string } as never })).toThrow(/producer\.serializers\.body is not a serializer slot/);
  });
});

describe('instrumentation events', () => {
  it('a member reports joining, fetching, requests, heartbeats, commits, batches, a rebalance, a crash and its stop', async () => {
    await produce('api-events', 20, 2);
    const consumer = kactus.consumer({ groupId: 'g-events', ...fast, autoCommitIntervalMs: 200 }).subscribe('api-events');
    const events: ConsumerEvent[] = [];
    const streamed: string[] = [];
    const streamSub = consumer.events$.subscribe((e) => streamed.push(e.type));
    const removers = Object.values(consumer.events).map((type) => consumer.on(type, (e) => events.push(e)));
    const joins: ConsumerEvent<'consumer.group_join'>[] = [];
    consumer.on(consumer.events.GROUP_JOIN, (e) => joins.push(e));
    let handled = 0;
    let crash = false;
    await consumer.run({
      eachBatch: async ({ batch }) => {
        handled += batch.records.length;
        if (crash) throw new Error('handler gave up');
      },
    });
    await until(() => handled >= 20, 15_000, 'every record handled');
    await until(() => events.some((e) => e.type === consumer.events.COMMIT_OFFSETS) && events.some((e) => e.type === consumer.events.HEARTBEAT), 10_000, 'a commit and a heartbeat');

    // A second member makes the first rebalance.
    const second = kactus.consumer({ groupId: 'g-events', ...fast }).subscribe('api-events');
    const secondFeed = second.messages$.subscribe((r) => r.ack());
    await until(() => events.some((e) => e.type === consumer.events.REBALANCING) && joins.length >= 2, 15_000, 'the rebalance');
    secondFeed.unsubscribe();
    await second.close();

    // A handler that throws crashes the run.
    crash = true;
    await produce('api-events', 2, 2);
    await until(() => events.some((e) => e.type === consumer.events.CRASH), 15_000, 'the crash');
    await consumer.stop();

    const types = new Set(events.map((e) => e.type));
    for (const type of ['consumer.group_join', 'consumer.fetch_start', 'consumer.fetch', 'consumer.network.request', 'consumer.heartbeat', 'consumer.commit_offsets', 'consumer.start_batch_process', 'consumer.end_batch_process', 'consumer.rebalancing', 'consumer.crash', 'consumer.stop']) expect(types, type).toContain(type);
    const join = joins[0]!.payload;
    expect(join.groupId).toBe('g-events');
    expect(join.memberId).not.toBe('');
    expect(join.isLeader).toBe(true);
    expect(join.memberAssignment).toEqual({ 'api-events': [0, 1] });
    const requests = events.filter((e): e is ConsumerEvent<'consumer.network.request'> => e.type === 'consumer.network.request').map((e) => e.payload.apiName);
    expect(requests).toContain('JoinGroup');
    expect(requests).toContain('SyncGroup');
    expect(requests).toContain('Fetch');
    const commit = events.find((e): e is ConsumerEvent<'consumer.commit_offsets'> => e.type === 'consumer.commit_offsets')!.payload;
    expect(commit.topics[0]!.topic).toBe('api-events');
    const crashEvent = events.find((e): e is ConsumerEvent<'consumer.crash'> => e.type === 'consumer.crash')!.payload;
    expect((crashEvent.error as Error).message).toBe('handler gave up');
    const batchEnd = events.find((e): e is ConsumerEvent<'consumer.end_batch_process'> => e.type === 'consumer.end_batch_process')!.payload;
    expect(batchEnd.topic).toBe('api-events');
    expect(batchEnd.batchSize).toBe(batchEnd.lastOffset - batchEnd.firstOffset + 1);
    // Ids increase; events$ saw what the listeners saw.
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort((a, b) => a - b));
    expect(streamed.length).toBeGreaterThanOrEqual(events.length);

    // A removed listener hears nothing more (stop() again emits STOP).
    removers.forEach((remove) => remove());
    const countBefore = events.length;
    await consumer.stop();
    expect(events.length).toBe(countBefore);
    expect(streamed.at(-1)).toBe('consumer.stop');
    streamSub.unsubscribe();
    await consumer.close();
  }, 60_000);

  it('refuses an unknown event name', () => {
    const consumer = kactus.consumer({ groupId: 'g-unknown-event' });
    expect(() => consumer.on('consumer.nope' as never, () => undefined)).toThrow(/unknown consumer event "consumer.nope"/);
  });
});
