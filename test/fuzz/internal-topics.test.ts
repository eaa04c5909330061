/**
 * Found by the native fuzzer (seed 1, `npm test`'s bounded run, before its
 * topic pools left the internal topics out of writes): a client, with no
 * cluster secret, may delete or repartition `__consumer_offsets` through
 * `/broker` Admin, and produce arbitrary records to it. The fuzz run's
 * well-behaved consumer group then had 1,034 of 1,961 records delivered twice
 * (its committed offsets were gone with the topic). Kafka refuses a client's
 * Produce to an internal topic (ReplicaManager: InvalidTopicException "Cannot
 * append to internal topic" unless internalTopicsAllowed) and its tools refuse
 * to delete one; here one Admin call from an anonymous client removes every
 * group's committed offsets.
 *
 * Goal: each case is refused and the topic is unchanged. Method: a raw ws
 * client with a client hello against 3 broker processes; refused by the
 * broker's protocol (actors/broker/actor.ts brokerProtocol: the
 * Admin, Produce and DeleteRecords guards) with INVALID_TOPIC_EXCEPTION.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBatch } from '../../protocol/record-batch/codec.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { rawClient, type RawClient } from '../support/raw-client.ts';

let cluster: TestCluster;
let raw: RawClient;

beforeAll(async () => {
  cluster = await startTestCluster(3, ['offsets.topic.num.partitions=3']);
  raw = await rawClient(cluster.brokers[0]!.url);
  await raw.helloAsClient();
  // Creates __consumer_offsets (on first use) and waits until it is led.
  for (let attempt = 0; attempt < 100; attempt++) {
    const reply = (await raw.ask('/groups', (replyTo) => ({ type: 'FindCoordinator', key: 'g', keyType: 0, replyTo }))) as { errorCode?: number } | undefined;
    if (reply?.errorCode === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await cluster.waitForLeaders('__consumer_offsets', 3, 3);
}, 60_000);

afterAll(async () => {
  raw?.close();
  await killAllChildren();
  await cluster?.cleanup();
});

const admin = (command: Record<string, unknown>): Promise<unknown> => raw.ask('/broker', (replyTo) => ({ type: 'Admin', command, replyTo }), 10_000);

describe('internal topics are not a client\'s to change', () => {
  it('a client Produce to __consumer_offsets is refused', async () => {
    const meta = await cluster.metadata(['__consumer_offsets']);
    const partition = meta.topics[0]!.partitions.find((p) => p.leader === 1)!.partition;
    const batch = encodeBatch({ records: [{ key: Buffer.from([0, 1, 2, 3]), value: Buffer.from('not an offset record'), timestamp: 0, headers: [] }] });
    const reply = (await raw.ask('/broker', (replyTo) => ({ type: 'Produce', topic: '__consumer_offsets', partition, acks: -1, timeoutMs: 5_000, batch, replyTo }), 10_000)) as { errorCode?: number };
    expect(reply.errorCode).not.toBe(0);
  });

  it('a client CreatePartitions of __consumer_offsets is refused and the count stays', async () => {
    await admin({ type: 'CreatePartitions', topics: [{ name: '__consumer_offsets', count: 5, assignments: null }], validateOnly: false });
    const meta = await cluster.metadata(['__consumer_offsets']);
    expect(meta.topics[0]!.partitions.length).toBe(3);
  });

  it('a client DeleteRecords of __consumer_offsets is refused (INVALID_TOPIC_EXCEPTION) and its log start stays', async () => {
    const meta = await cluster.metadata(['__consumer_offsets']);
    const partition = meta.topics[0]!.partitions.find((p) => p.leader === 1)!.partition;
    const reply = (await raw.ask('/broker', (replyTo) => ({ type: 'DeleteRecords', partitions: [{ topic: '__consumer_offsets', partition, offset: -1 }], timeoutMs: 1_000, replyTo }), 10_000)) as { errorCode?: number };
    expect(reply.errorCode).toBe(17);
    const earliest = (await raw.ask('/fetch', (replyTo) => ({ type: 'ListOffsets', isolationLevel: 0, partitions: [{ topic: '__consumer_offsets', partition, timestamp: -2 }], replyTo }), 10_000)) as { partitions: { offset: number }[] };
    expect(earliest.partitions[0]!.offset).toBe(0);
  });

  it('a client DeleteTopics of __consumer_offsets is refused and the topic stays', async () => {
    await admin({ type: 'DeleteTopics', topics: ['__consumer_offsets'] });
    const meta = await cluster.metadata(['__consumer_offsets']);
    expect(meta.topics[0]!.errorCode).toBe(0);
  });
});
