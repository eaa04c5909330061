/**
 * Bounded prefetch keeps memory flat. Goal: a subscriber that takes 1 ms per
 * record over 200,000 records keeps the consumer's heap growth under 50 MB.
 * Method: the brokers run in this process (in-process cluster over ws); the
 * consumer runs in its own process (test/fixtures/consumer-slow.ts) so its
 * heap is measured alone, after a forced GC every second. Sixteen partitions
 * are processed in parallel (order kept in each) so the run fits the test
 * budget: 12,500 records per partition at 1 ms each.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../client/index.ts';
import { startConsumerTestCluster, type ConsumerTestCluster } from './fixtures/consumer-cluster.ts';
import { killAllChildren, startChild } from './support/processes.ts';

const recordCount = Number(process.env.CONSUMER_MEMORY_RECORDS ?? 200_000);
const partitions = 16;
const heapGrowthBytesMax = 50 * 1024 * 1024;
/**
 * A hang bound, not a throughput limit: the delays alone take 12.5 s (12,500 records per partition at
 * 1 ms, 16 at once), the whole run well under half the bound here. What is asserted is memory and the
 * prefetch count, never how fast.
 */
const doneHangBoundMs = 75_000;

let cluster: ConsumerTestCluster;
let kactus: Kactus;

beforeAll(async () => {
  cluster = await startConsumerTestCluster();
  kactus = new Kactus({ brokers: cluster.urls, clientId: 'consumer-memory', requestTimeoutMs: 10_000 });
  await kactus.admin().createTopics({ topics: [{ topic: 'm-slow', numPartitions: partitions, replicationFactor: 3 }] });
  const producer = kactus.producer({ lingerMs: 5, batchSizeBytes: 64 * 1024 });
  const value = Buffer.alloc(100, 'm');
  const perSend = 2_000;
  const inFlight: Promise<unknown>[] = [];
  for (let sent = 0; sent < recordCount; sent += perSend) {
    inFlight.push(producer.send({ topic: 'm-slow', messages: Array.from({ length: perSend }, (_, i) => ({ value, partition: (sent + i) % partitions })) }));
    if (inFlight.length >= 16) await inFlight.shift();
  }
  await Promise.all(inFlight);
  await producer.close();
}, 60_000);

afterEach(async () => {
  await killAllChildren();
});

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await cluster?.stop();
}, 30_000);

describe('consumer memory', () => {
  it(`a 1 ms-per-record subscriber over ${recordCount} records keeps heap growth under 50 MB`, async () => {
    const child = startChild('test/fixtures/consumer-slow.ts', ['--brokers', cluster.urls.join(','), '--topic', 'm-slow', '--count', String(recordCount), '--delay-ms', '1', '--concurrency', String(partitions)]);
    const done = await child.waitFor('done', doneHangBoundMs);
    expect(done.count).toBe(recordCount);
    const growthBytes = (done.maxHeapBytes as number) - (done.baselineHeapBytes as number);
    expect(growthBytes).toBeLessThan(heapGrowthBytesMax);
    // The bound itself (maxBufferedRecords 10,000 by default, plus at most a batch per partition), sampled every second.
    expect(done.maxFetchedCount as number).toBeLessThanOrEqual(10_000 + 2_000);
    process.stderr.write(`consumer-memory: heap growth ${(growthBytes / 1e6).toFixed(1)} MB, max fetched ${String(done.maxFetchedCount)}\n`);
  }, 100_000);
});
