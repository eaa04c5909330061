/**
 * The producer against a real 3-broker cluster (in-process brokers over ws,
 * FakeQuorum controller): offsets returned are where the records really are,
 * partition choice, batching and compression, acks levels, refusals of bad
 * input before anything is sent, delivery timeouts, flush and close. Method:
 * produce through the public API, then read the partitions back from their
 * leaders and compare.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus, KactusError, type ProducerOptions } from '../client/index.ts';
import { keyedPartition } from '../client/producer/partitioner.ts';
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

async function setup(topics: { topic: string; numPartitions: number; replicationFactor: number }[]): Promise<Kactus> {
  cluster = await startTestCluster();
  kactus = new Kactus({ brokers: cluster.urls, clientId: 'producer-test', requestTimeoutMs: 5_000 });
  await kactus.admin().createTopics({ topics });
  return kactus;
}

async function rejection(promise: Promise<unknown>): Promise<KactusError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(KactusError);
    return err as KactusError;
  }
  throw new Error('expected a rejection');
}

describe('producer against a 3-broker cluster', () => {
  it('resolves every record with the partition and offset where it is stored (idempotent by default)', async () => {
    const kactus = await setup([{ topic: 'events', numPartitions: 3, replicationFactor: 3 }]);
    const producer = kactus.producer();
    expect(producer.config.idempotent).toBe(true);
    const results = await producer.send({
      topic: 'events',
      messages: [
        { key: 'a', value: 'one', headers: { trace: 'x', empty: null } },
        { key: Buffer.from('b'), value: Buffer.from('two') },
        { value: null, partition: 2, timestamp: 1_234 },
      ],
    });
    expect(results).toHaveLength(3);
    expect(results[0]!.partition).toBe(keyedPartition(Buffer.from('a'), 3));
    expect(results[1]!.partition).toBe(keyedPartition(Buffer.from('b'), 3));
    expect(results[2]).toMatchObject({ topic: 'events', partition: 2, timestamp: 1_234 });
    expect(producer.producerId.producerId).toBeGreaterThanOrEqual(0);
    const more = await Promise.all(Array.from({ length: 50 }, (_, i) => producer.send({ topic: 'events', messages: [{ key: `k${i % 7}`, value: `v${i}` }] })));
    const all = [...results, ...more.flat()];
    const stored = new Map<string, Awaited<ReturnType<typeof readPartition>>>();
    for (let p = 0; p < 3; p += 1) stored.set(String(p), await readPartition(kactus, 'events', p));
    const values = ['one', 'two', null, ...more.map((_, i) => `v${i}`)];
    all.forEach((meta, i) => {
      const record = stored.get(String(meta.partition))!.find((r) => r.offset === meta.offset);
      expect(record?.value).toBe(values[i]);
    });
    const first = stored.get(String(results[0]!.partition))!.find((r) => r.offset === results[0]!.offset)!;
    expect(first).toMatchObject({ key: 'a', headers: { trace: 'x', empty: null } });
    expect(first.producerId).toBe(producer.producerId.producerId);
    // Every record stored once: offsets are dense and each value appears once.
    const storedValues = [...stored.values()].flat().map((r) => r.value);
    expect(storedValues).toHaveLength(values.length);
    expect(new Set(storedValues.filter((v) => v !== null)).size).toBe(values.length - 1);
  });

  it('keyless records: sticky fills a batch per partition and moves on; round-robin cycles; keyed ones follow murmur2', async () => {
    const kactus = await setup([{ topic: 'spread', numPartitions: 4, replicationFactor: 1 }]);
    const sticky = kactus.producer({ batchSizeBytes: 1_024, lingerMs: 1_000 });
    const stickyResults = await sticky.send({ topic: 'spread', messages: Array.from({ length: 80 }, (_, i) => ({ value: `${i}`.padStart(60, '0') })) });
    // Consecutive records share a partition until a batch fills (~10 records of ~100 bytes in 1 KiB).
    const runs: number[] = [];
    for (const r of stickyResults) {
      if (runs.length === 0 || stickyResults[runs.reduce((a, b) => a + b, 0) - 1]!.partition !== r.partition) runs.push(1);
      else runs[runs.length - 1]! += 1;
    }
    expect(runs.length).toBeGreaterThanOrEqual(6);
    expect(Math.max(...runs)).toBeLessThanOrEqual(12);
    // A record that does not fit closes the batch and starts the next partition's: no one-record leftovers.
    expect(Math.min(...runs.slice(0, -1))).toBeGreaterThanOrEqual(6);
    expect(new Set(runs.slice(0, -1)).size).toBe(1); // equal records, equal (full) batches
    expect(new Set(stickyResults.map((r) => r.partition)).size).toBeGreaterThanOrEqual(3);

    const rr = kactus.producer({ partitioner: 'round-robin', idempotent: false });
    const rrResults = await rr.send({ topic: 'spread', messages: Array.from({ length: 8 }, (_, i) => ({ value: `${i}` })) });
    const firstPartition = rrResults[0]!.partition;
    expect(rrResults.map((r) => r.partition)).toEqual(Array.from({ length: 8 }, (_, i) => (firstPartition + i) % 4));

    const keyed = await rr.send({ topic: 'spread', messages: ['alpha', 'beta', 'gamma', 'delta'].map((key) => ({ key, value: key })) });
    expect(keyed.map((r) => r.partition)).toEqual(['alpha', 'beta', 'gamma', 'delta'].map((k) => keyedPartition(Buffer.from(k), 4)));

    const custom = kactus.producer({ partitioner: ({ partitionCount }) => partitionCount - 1 });
    expect((await custom.send({ topic: 'spread', messages: [{ value: 'c' }] }))[0]!.partition).toBe(3);
    // A custom partitioner that answers out of range for one record refuses the whole send.
    const broken = kactus.producer({ partitioner: ({ value }) => (value?.toString() === 'bad' ? 99 : 0) });
    const before = (await kactus.admin().listOffsets({ topic: 'spread', partitions: [0] }))[0]!.offset;
    const refused = await rejection(broken.send({ topic: 'spread', messages: [{ value: 'good' }, { value: 'bad' }] }));
    expect(refused).toMatchObject({ type: 'INVALID_PARTITIONS' });
    expect(refused.message).toContain('returned 99 for topic "spread"');
    await broken.flush();
    expect((await kactus.admin().listOffsets({ topic: 'spread', partitions: [0] }))[0]!.offset).toBe(before);
  });

  it('sendBatch across topics, gzip, acks 1 and 0, and flush ignoring a long linger', async () => {
    const kactus = await setup([{ topic: 'a', numPartitions: 1, replicationFactor: 3 }, { topic: 'b', numPartitions: 1, replicationFactor: 3 }]);
    // A linger twice the test's timeout: flush and the sends resolving at all show flush did not wait for it.
    const gzip = kactus.producer({ compression: 'gzip', lingerMs: 60_000, deliveryTimeoutMs: 200_000 });
    const pending = gzip.sendBatch({ topicMessages: [{ topic: 'a', messages: [{ value: 'x'.repeat(1_000) }, { value: 'y' }] }, { topic: 'b', messages: [{ value: 'z' }] }] });
    await gzip.flush();
    const results = await pending;
    expect(results.map((r) => [r.topic, r.offset])).toEqual([['a', 0], ['a', 1], ['b', 0]]);
    expect((await readPartition(kactus, 'a', 0)).map((r) => r.value)).toEqual(['x'.repeat(1_000), 'y']);

    const acks1 = kactus.producer({ acks: 1 });
    expect(acks1.config.idempotent).toBe(false);
    expect((await acks1.send({ topic: 'b', messages: [{ value: 'one' }] }))[0]!.offset).toBe(1);
    const acks0 = kactus.producer({ acks: 0 });
    expect((await acks0.send({ topic: 'b', messages: [{ value: 'zero' }] }))[0]!.offset).toBe(-1);
    await acks0.flush();
    for (let i = 0; i < 100 && (await readPartition(kactus, 'b', 0)).length < 3; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect((await readPartition(kactus, 'b', 0)).map((r) => r.value)).toEqual(['z', 'one', 'zero']);
  });

  it('refuses bad input before anything is sent, with typed errors naming the problem', async () => {
    const kactus = await setup([{ topic: 'strict', numPartitions: 2, replicationFactor: 1 }]);
    const producer = kactus.producer({ maxRequestSizeBytes: 10_000 });
    const cases: [() => Promise<unknown>, string, RegExp][] = [
      [() => producer.send({ topic: 'bad topic', messages: [{ value: 'x' }] }), 'INVALID_TOPIC_EXCEPTION', /bad topic/],
      [() => producer.send({ topic: '', messages: [{ value: 'x' }] }), 'INVALID_TOPIC_EXCEPTION', /empty/],
      [() => producer.send({ topic: 'strict', messages: [{ value: 'ok' }, { value: 42 as never }] }), 'INVALID_RECORD', /messages\[1\]\.value must be a Buffer, a string or null, got number/],
      [() => producer.send({ topic: 'strict', messages: [{ value: undefined as never }] }), 'INVALID_RECORD', /got undefined/],
      [() => producer.send({ topic: 'strict', messages: [{ key: {} as never, value: 'x' }] }), 'INVALID_RECORD', /key must be/],
      [() => producer.send({ topic: 'strict', messages: [{ value: 'x', headers: { h: 7 as never } }] }), 'INVALID_RECORD', /headers\.h/],
      [() => producer.send({ topic: 'strict', messages: [{ value: 'ok' }, { value: 'y'.repeat(20_000) }] }), 'MESSAGE_TOO_LARGE', /topic "strict".*maxRequestSizeBytes 10000/],
      [() => producer.send({ topic: 'strict', messages: [{ value: 'x', partition: -1 }] }), 'INVALID_PARTITIONS', /partition must be a non-negative integer/],
      [() => producer.send({ topic: 'strict', messages: [{ value: 'x', partition: 5 }] }), 'INVALID_PARTITIONS', /topic "strict" partition 5: out of range/],
      [() => producer.send({ topic: 'strict', messages: [{ value: 'x', timestamp: -5 }] }), 'INVALID_TIMESTAMP', /timestamp/],
      [() => producer.send({ topic: 'strict', messages: 'nope' as never }), 'INVALID_REQUEST', /messages must be an array/],
    ];
    for (const [promise, type, message] of cases) {
      const err = await rejection(promise());
      expect(err.type).toBe(type);
      expect(err.retriable).toBe(false);
      expect(err.message).toMatch(message);
    }
    await producer.flush();
    expect(await readPartition(kactus, 'strict', 0)).toEqual([]);
    expect(await readPartition(kactus, 'strict', 1)).toEqual([]);
    expect(() => kactus.producer({ acks: 'most' } as never)).toThrow(/acks/);
    expect(() => kactus.producer({ batchSize: 10, linger: 1 } as unknown as ProducerOptions)).toThrow(/unknown producer options: batchSize, linger/);
  });

  it('a send to a partition added after the producer cached the topic finds it (one metadata refresh)', async () => {
    const kactus = await setup([{ topic: 'growing', numPartitions: 1, replicationFactor: 3 }]);
    const producer = kactus.producer();
    await producer.send({ topic: 'growing', messages: [{ value: 'p0' }] });
    await kactus.admin().createPartitions({ topicPartitions: [{ topic: 'growing', count: 3 }] });
    expect((await producer.send({ topic: 'growing', messages: [{ value: 'p2', partition: 2 }] }))[0]).toMatchObject({ partition: 2, offset: 0 });
    expect((await rejection(producer.send({ topic: 'growing', messages: [{ value: 'p7', partition: 7 }] }))).type).toBe('INVALID_PARTITIONS');
  });

  it('a send to a partition without a leader fails after the delivery timeout with an error naming it', async () => {
    const kactus = await setup([{ topic: 'lonely', numPartitions: 3, replicationFactor: 1 }]);
    const [description] = await kactus.admin().describeTopics({ topics: ['lonely'] });
    const partition = description!.partitions.find((p) => p.leader === 3)!.partition;
    await cluster!.fenceAndStop(3);
    const producer = kactus.producer({ deliveryTimeoutMs: 1_500, requestTimeoutMs: 1_000, lingerMs: 0 });
    const err = await rejection(producer.send({ topic: 'lonely', messages: [{ value: 'x', partition }] }));
    expect(err.type).toBe('REQUEST_TIMED_OUT');
    expect(err.message).toContain(`topic "lonely" partition ${partition}`);
    // It expired by the delivery timeout (not another error, nor early), as the producer's own clock says.
    const waitedMs = Number(/expired: (\d+) ms passed since the batch was created \(deliveryTimeoutMs 1500\)/.exec(err.message)?.[1]);
    expect(waitedMs).toBeGreaterThanOrEqual(1_500);
    // Other partitions still work.
    const other = description!.partitions.find((p) => p.leader !== 3)!.partition;
    expect((await producer.send({ topic: 'lonely', messages: [{ value: 'y', partition: other }] }))[0]!.offset).toBe(0);
  });

  it('close with a timeout fails what is not acknowledged by then; sends waiting past bufferBytesMax are refused', async () => {
    const kactus = await setup([{ topic: 'stuck', numPartitions: 3, replicationFactor: 1 }]);
    const [description] = await kactus.admin().describeTopics({ topics: ['stuck'] });
    const partition = description!.partitions.find((p) => p.leader === 2)!.partition;
    await cluster!.fenceAndStop(2);
    const producer = kactus.producer({ lingerMs: 0 });
    const pending = producer.send({ topic: 'stuck', messages: [{ value: 'x', partition }] }).catch((e: unknown) => e);
    await producer.close({ timeoutMs: 300 });
    // Failed by close's timeout, not by the delivery timeout (120 s, past the test's timeout).
    const failed = await pending;
    expect(failed).toMatchObject({ type: 'REQUEST_TIMED_OUT' });
    expect((failed as KactusError).message).toMatch(/the producer closed after 300 ms with records not yet acknowledged/);

    const small = kactus.producer({ bufferBytesMax: 4_000, maxRequestSizeBytes: 2_000, lingerMs: 0 });
    // The first send waits for metadata of a new topic, so the ones behind it wait too, until the bound.
    const sends = Array.from({ length: 40 }, (_, i) => small.send({ topic: 'autocreated', messages: [{ value: 'y'.repeat(150), key: `${i}` }] }).then(() => 'ok', (e: KactusError) => e.type));
    const outcomes = await Promise.all(sends);
    expect(outcomes).toContain('THROTTLING_QUOTA_EXCEEDED');
    expect(outcomes[0]).toBe('ok');
  });

  it('close flushes what was accepted, then refuses new sends; kactus.close releases everything', async () => {
    const kactus = await setup([{ topic: 'closing', numPartitions: 1, replicationFactor: 3 }]);
    const producer = kactus.producer({ lingerMs: 30_000, deliveryTimeoutMs: 100_000 });
    const pending = producer.send({ topic: 'closing', messages: [{ value: 'last words' }] });
    await producer.close();
    expect((await pending)[0]!.offset).toBe(0);
    expect((await rejection(producer.send({ topic: 'closing', messages: [{ value: 'late' }] }))).message).toContain('closed');
    const another = kactus.producer({ lingerMs: 30_000, deliveryTimeoutMs: 100_000 });
    const inFlight = another.send({ topic: 'closing', messages: [{ value: 'flushed by kactus.close' }] });
    await kactus.close();
    expect((await inFlight)[0]!.offset).toBe(1);
    expect(() => kactus.producer()).toThrow(/closed/);
  });
});
