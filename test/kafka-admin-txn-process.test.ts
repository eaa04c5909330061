/**
 * The Kafka listener's admin and transaction APIs on a real cluster of three
 * broker processes, each with a Kafka listener on a free port
 * (`listeners=PLAINTEXT://127.0.0.1:0`; the port each bound is read back
 * from the native Metadata). Requests are written and answers read with the
 * project's own codec (test/support/kafka-wire.ts).
 *
 * (a) Admin. Goal: every change made through the Kafka listener is the
 *     native cluster's change. Method: CreateTopics (with a config), then
 *     DescribeConfigs, AlterConfigs (legacy: replaces every override),
 *     IncrementalAlterConfigs, CreatePartitions, DescribeCluster, DeleteTopics,
 *     each checked through the native admin client; a DeleteTopics of
 *     __consumer_offsets is refused by the broker's internal-topic guard with
 *     INVALID_TOPIC_EXCEPTION and the topic stays.
 * (b) Transactions. Goal: a Kafka-protocol producer runs two transactions
 *     in a row with the epoch InitProducerId gave it, and both commit (EndTxn
 *     v0-4 is transaction version 1: the coordinator keeps the epoch at the
 *     end, as Kafka does for those clients). Method: find the coordinator
 *     (FindCoordinator, key type 1) and ask it InitProducerId, then twice
 *     AddPartitionsToTxn, one transactional batch through the native Produce
 *     (sequences continuing), EndTxn(commit); a read_committed native read
 *     returns the first batch, then both. A second InitProducerId (KIP-360)
 *     bumps the epoch, and the old one is fenced (PRODUCER_FENCED, or
 *     INVALID_PRODUCER_EPOCH to v0-1). An idempotent InitProducerId gets an id.
 * Every wait is bounded; afterAll kills every child this file started.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Kactus } from '../client/index.ts';
import { startTestCluster, type TestCluster, kafkaListenerPorts } from './support/cluster.ts';
import { kafkaRequest } from './support/kafka-wire.ts';
import { killAllChildren } from './support/processes.ts';
import { eventually, produceTxn, readPartition, type TxnWire } from './support/txn-wire.ts';
import type { KafkaValue } from '../protocol/kafka/codec.ts';

let cluster: TestCluster;
let kactus: Kactus;
const kafkaPorts = new Map<number, number>();

beforeAll(async () => {
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'transaction.state.log.num.partitions=3', 'offsets.topic.num.partitions=3']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'kafka-admin-test', requestTimeoutMs: 5_000 });
  for (const [id, port] of await kafkaListenerPorts(cluster)) kafkaPorts.set(id, port);
}, 60_000);

afterAll(async () => {
  await kactus?.close({ timeoutMs: 5_000 }).catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

const kafka = (brokerId: number, api: string, version: number, body: KafkaValue): Promise<KafkaValue> => kafkaRequest('127.0.0.1', kafkaPorts.get(brokerId)!, api, version, body);

describe('Kafka admin APIs on 3 broker processes', () => {
  it('creates, describes, alters, repartitions and deletes a topic; each change seen by the native admin client', async () => {
    const admin = kactus.admin();
    const created = await kafka(1, 'CreateTopics', 7, { topics: [{ name: 'kt', numPartitions: 3, replicationFactor: 3, assignments: [], configs: [{ name: 'retention.ms', value: '3600000' }] }], timeoutMs: 10_000, validateOnly: false });
    expect(created.topics).toEqual([expect.objectContaining({ name: 'kt', errorCode: 0, numPartitions: 3, replicationFactor: 3 })]);
    const again = await kafka(2, 'CreateTopics', 2, { topics: [{ name: 'kt', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
    expect(again.topics).toEqual([expect.objectContaining({ name: 'kt', errorCode: ErrorCode.TOPIC_ALREADY_EXISTS })]);
    await cluster.waitForLeaders('kt', 3, 3);
    const nativeRetention = async () => (await admin.describeConfigs({ resources: [{ type: 'topic', name: 'kt', configNames: ['retention.ms', 'cleanup.policy', 'segment.ms'] }] }))[0]!.configs;
    expect((await nativeRetention()).find((c) => c.name === 'retention.ms')).toMatchObject({ value: '3600000', source: 'TOPIC_CONFIG' });

    const described = await kafka(2, 'DescribeConfigs', 4, { resources: [{ resourceType: 2, resourceName: 'kt', configurationKeys: ['retention.ms'] }, { resourceType: 4, resourceName: '2', configurationKeys: null }], includeSynonyms: false, includeDocumentation: false });
    const results = described.results as KafkaValue[];
    expect(results[0]).toMatchObject({ errorCode: 0, resourceType: 2, resourceName: 'kt', configs: [expect.objectContaining({ name: 'retention.ms', value: '3600000', configSource: 1 })] });
    expect(results[1]).toMatchObject({ errorCode: 0, resourceType: 4 });
    expect((results[1]!.configs as KafkaValue[]).map((c) => c.name)).toContain('leader.replication.throttled.rate');

    // Legacy AlterConfigs replaces every override: retention.ms goes back to its default, segment.ms is set.
    const altered = await kafka(3, 'AlterConfigs', 1, { resources: [{ resourceType: 2, resourceName: 'kt', configs: [{ name: 'segment.ms', value: '7200000' }] }], validateOnly: false });
    expect(altered.responses).toEqual([{ errorCode: 0, errorMessage: null, resourceType: 2, resourceName: 'kt' }]);
    const afterLegacy = await nativeRetention();
    expect(afterLegacy.find((c) => c.name === 'retention.ms')).toMatchObject({ source: 'DEFAULT_CONFIG' });
    expect(afterLegacy.find((c) => c.name === 'segment.ms')).toMatchObject({ value: '7200000', source: 'TOPIC_CONFIG' });

    const incremental = await kafka(1, 'IncrementalAlterConfigs', 1, { resources: [{ resourceType: 2, resourceName: 'kt', configs: [{ name: 'cleanup.policy', configOperation: 2, value: 'compact' }, { name: 'segment.ms', configOperation: 1, value: null }] }], validateOnly: false });
    expect(incremental.responses).toEqual([{ errorCode: 0, errorMessage: null, resourceType: 2, resourceName: 'kt' }]);
    const afterIncremental = await nativeRetention();
    expect(afterIncremental.find((c) => c.name === 'cleanup.policy')).toMatchObject({ value: 'delete,compact', source: 'TOPIC_CONFIG' });
    expect(afterIncremental.find((c) => c.name === 'segment.ms')).toMatchObject({ source: 'DEFAULT_CONFIG' });

    const partitions = await kafka(2, 'CreatePartitions', 3, { topics: [{ name: 'kt', count: 5, assignments: null }], timeoutMs: 10_000, validateOnly: false });
    expect(partitions.results).toEqual([{ name: 'kt', errorCode: 0, errorMessage: null }]);
    await cluster.waitForLeaders('kt', 5, 3);
    expect((await admin.describeTopics({ topics: ['kt'] }))[0]!.partitions).toHaveLength(5);

    const clusterInfo = await kafka(3, 'DescribeCluster', 1, { includeClusterAuthorizedOperations: false, endpointType: 1 });
    expect(clusterInfo).toMatchObject({ errorCode: 0 });
    expect((clusterInfo.brokers as KafkaValue[]).map((b) => [b.brokerId, b.port]).sort()).toEqual([...kafkaPorts].sort());
    expect(clusterInfo.controllerId).toBeGreaterThan(0);

    // The internal-topic guard holds for Kafka clients (it refuses by name, whether the topic exists yet or not).
    const refused = await kafka(1, 'DeleteTopics', 6, { topics: [{ name: '__consumer_offsets', topicId: '00000000-0000-0000-0000-000000000000' }, { name: 'kt', topicId: '00000000-0000-0000-0000-000000000000' }], timeoutMs: 10_000 });
    expect((refused.responses as KafkaValue[]).map((r) => [r.name, r.errorCode])).toEqual([['__consumer_offsets', ErrorCode.INVALID_TOPIC_EXCEPTION], ['kt', 0]]);
    await eventually('kt deleted', async () => ((await admin.listTopics()).includes('kt') ? undefined : true));
    const gone = await kafka(2, 'DeleteTopics', 3, { topicNames: ['kt'], timeoutMs: 10_000 });
    expect(gone.responses).toEqual([expect.objectContaining({ name: 'kt', errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION })]);
  }, 90_000);
});

describe('Kafka transaction APIs on 3 broker processes', () => {
  it('InitProducerId, AddPartitionsToTxn, EndTxn over the Kafka listener: two transactions in a row in one epoch both commit', async () => {
    await kactus.admin().createTopics({ topics: [{ topic: 'ktx', numPartitions: 1, replicationFactor: 3 }] });
    await cluster.waitForLeaders('ktx', 1, 3);

    const idempotent = await kafka(1, 'InitProducerId', 4, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    expect(idempotent).toMatchObject({ errorCode: 0, producerEpoch: 0 });
    expect(idempotent.producerId).toBeGreaterThanOrEqual(0);

    const transactionalId = 'kafka-txn-1';
    const coordinator = await eventually('the transaction coordinator', async () => {
      const found = await kafka(1, 'FindCoordinator', 3, { key: transactionalId, keyType: 1 }).catch(() => undefined);
      return found !== undefined && found.errorCode === 0 ? (found.nodeId as number) : undefined;
    }, 30_000);
    const init = await eventually('InitProducerId', async () => {
      const reply = await kafka(coordinator, 'InitProducerId', 4, { transactionalId, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
      return reply.errorCode === 0 ? reply : undefined;
    });
    const producer = { transactionalId, producerId: init.producerId as number, producerEpoch: init.producerEpoch as number };

    const added = await kafka(coordinator, 'AddPartitionsToTxn', 3, { v3AndBelowTransactionalId: transactionalId, v3AndBelowProducerId: producer.producerId, v3AndBelowProducerEpoch: producer.producerEpoch, v3AndBelowTopics: [{ name: 'ktx', partitions: [0] }] });
    expect(added.resultsByTopicV3AndBelow).toEqual([{ name: 'ktx', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 0 }] }]);

    const wire: TxnWire = { client: cluster.client, brokerIds: [1, 2, 3], leaderOf: async (topic, partition) => (await cluster.metadata([topic])).topics[0]!.partitions[partition]!.leader };
    const produced = await produceTxn(wire, { topic: 'ktx', partition: 0 }, producer, 0, ['a', 'b', 'c']);
    expect(produced.errorCode).toBe(0);
    expect((await readPartition(wire, 'ktx', 0, 1)).values).toEqual([]);

    const ended = await kafka(coordinator, 'EndTxn', 3, { transactionalId, producerId: producer.producerId, producerEpoch: producer.producerEpoch, committed: true });
    expect(ended).toMatchObject({ throttleTimeMs: 0, errorCode: 0 });
    const committed = await eventually('the commit visible', async () => {
      const read = await readPartition(wire, 'ktx', 0, 1);
      return read.values.length === 3 ? read : undefined;
    });
    expect(committed.values).toEqual(['a', 'b', 'c']);

    // The second transaction, same producer, same epoch (EndTxn v0-4 kept it): its sequences continue. Until the
    // CompleteCommit record is written (it may trail the visible markers) the add is CONCURRENT_TRANSACTIONS, which
    // a Kafka client retries.
    const addedAgain = await eventually('the second AddPartitionsToTxn', async () => {
      const reply = await kafka(coordinator, 'AddPartitionsToTxn', 3, { v3AndBelowTransactionalId: transactionalId, v3AndBelowProducerId: producer.producerId, v3AndBelowProducerEpoch: producer.producerEpoch, v3AndBelowTopics: [{ name: 'ktx', partitions: [0] }] });
      const code = ((reply.resultsByTopicV3AndBelow as KafkaValue[])[0]!.resultsByPartition as KafkaValue[])[0]!.partitionErrorCode;
      return code === ErrorCode.CONCURRENT_TRANSACTIONS ? undefined : reply;
    });
    expect(addedAgain.resultsByTopicV3AndBelow).toEqual([{ name: 'ktx', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 0 }] }]);
    expect((await produceTxn(wire, { topic: 'ktx', partition: 0 }, producer, 3, ['d', 'e'])).errorCode).toBe(0);
    const endedAgain = await kafka(coordinator, 'EndTxn', 1, { transactionalId, producerId: producer.producerId, producerEpoch: producer.producerEpoch, committed: true });
    expect(endedAgain).toMatchObject({ throttleTimeMs: 0, errorCode: 0 });
    const both = await eventually('the second commit visible', async () => {
      const read = await readPartition(wire, 'ktx', 0, 1);
      return read.values.length === 5 ? read : undefined;
    });
    expect(both.values).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(both.aborted).toEqual([]);

    // A new InitProducerId (KIP-360, naming the producer) bumps the epoch; the old epoch is then fenced. It is
    // CONCURRENT_TRANSACTIONS (retriable) until the CompleteCommit record is written, which may trail the markers.
    const reinit = await eventually('the re-init', async () => {
      const reply = await kafka(coordinator, 'InitProducerId', 4, { transactionalId, transactionTimeoutMs: 60_000, producerId: producer.producerId, producerEpoch: producer.producerEpoch });
      return reply.errorCode === ErrorCode.CONCURRENT_TRANSACTIONS ? undefined : reply;
    });
    expect(reinit).toMatchObject({ errorCode: 0, producerId: producer.producerId, producerEpoch: producer.producerEpoch + 1 });
    const stale = { transactionalId, producerId: producer.producerId, producerEpoch: producer.producerEpoch, groupId: 'g' };
    expect((await kafka(coordinator, 'AddOffsetsToTxn', 3, stale)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    // A client older than PRODUCER_FENCED (v0-1) is told INVALID_PRODUCER_EPOCH, as Kafka does.
    expect((await kafka(coordinator, 'AddOffsetsToTxn', 1, stale)).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  }, 90_000);
});
