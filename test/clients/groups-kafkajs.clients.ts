/**
 * KafkaJS 2.x consumers in a group against 3 broker processes' Kafka
 * listeners. Goal: an unmodified KafkaJS group (FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, OffsetFetch, ListOffsets, Fetch, OffsetCommit,
 * LeaveGroup at the versions KafkaJS picks) reads a topic the native client
 * produced. Method: 600 keyed records over 4 partitions produced natively;
 * two KafkaJS consumers in one group (fromBeginning) must split the
 * partitions between them (disjoint, together all four, after the last
 * GROUP_JOIN) and see every record with its key and value; once both have
 * disconnected (committing and leaving), the native coordinator holds the
 * offsets they committed: each partition's end.
 */
import { Kafka, logLevel, type Consumer as KafkaJsConsumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { startTestCluster, type TestCluster, kafkaBootstrap } from '../support/cluster.ts';
import { killAllChildren, until } from '../support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
const topic = 'kjs-orders';
const groupId = 'kjs-group';
const partitions = 4;
const perPartition = 150;
let bootstrap: string[];

beforeAll(async () => {
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'kjs-native', requestTimeoutMs: 5_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3 }] });
  await cluster.waitForLeaders(topic, partitions);
  bootstrap = await kafkaBootstrap(cluster);
}, 60_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

describe('KafkaJS consumer group through the Kafka listener', () => {
  it('two KafkaJS consumers split a natively produced topic and commit where the native coordinator keeps it', async () => {
    const producer = kactus.producer({ lingerMs: 2 });
    await producer.send({
      topic,
      messages: Array.from({ length: partitions * perPartition }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % partitions })),
    });
    await producer.close();

    const kafka = new Kafka({ clientId: 'kjs-test', brokers: bootstrap, logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100 } });
    const seen = new Map<string, { key: string; value: string; by: number }>();
    const assignments: number[][] = [[], []];
    const consumers: KafkaJsConsumer[] = [];
    try {
      for (const index of [0, 1]) {
        const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 20_000 });
        consumers.push(consumer);
        consumer.on(consumer.events.GROUP_JOIN, (event) => {
          assignments[index] = [...(event.payload.memberAssignment[topic] ?? [])].sort();
        });
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            seen.set(`${partition}:${message.offset}`, { key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', by: index });
          },
        });
      }
      await until(() => seen.size === partitions * perPartition, 60_000, `every record consumed (${seen.size} so far)`);
      await until(() => assignments[0]!.length + assignments[1]!.length === partitions, 30_000, 'both members assigned in the last generation');
      expect(assignments[0]!.length).toBeGreaterThan(0);
      expect(assignments[1]!.length).toBeGreaterThan(0);
      expect([...assignments[0]!, ...assignments[1]!].sort()).toEqual([0, 1, 2, 3]);
      for (let i = 0; i < partitions * perPartition; i++) {
        const record = seen.get(`${i % partitions}:${Math.floor(i / partitions)}`);
        expect(record).toMatchObject({ key: `k${i}`, value: `v${i}` });
      }
    } finally {
      for (const consumer of consumers) await consumer.disconnect();
    }

    // Commits went to the native coordinator: read them there.
    const found = await cluster.client.ask<unknown, { nodeId: number }>({ node: '1', path: '/groups' }, (replyTo) => ({ type: 'FindCoordinator', key: groupId, keyType: 0, replyTo }), { timeoutMs: 5_000 });
    const fetched = await cluster.client.ask<unknown, { errorCode: number; offsets: { topic: string; partition: number; offset: number }[] }>(
      { node: String(found.nodeId), path: '/groups' },
      (replyTo) => ({ type: 'OffsetFetch', groupId, partitions: Array.from({ length: partitions }, (_, partition) => ({ topic, partition })), replyTo }),
      { timeoutMs: 5_000 },
    );
    expect(fetched.errorCode).toBe(0);
    expect(fetched.offsets.map((o) => [o.partition, o.offset]).sort()).toEqual(Array.from({ length: partitions }, (_, p) => [p, perPartition]));
  }, 120_000);
});
