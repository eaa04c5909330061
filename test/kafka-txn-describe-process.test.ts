/**
 * The KIP-664 reads through the Kafka listener on a real cluster of three
 * broker processes: DescribeProducers, DescribeTransactions and
 * ListTransactions answer from the live producer and coordinator state.
 *
 * Goal: an operator's view of a transaction (kafka-transactions.sh:
 * describe-producers, describe, list) is the cluster's truth while the
 * transaction is open and after it commits. Method: a Kafka-protocol producer
 * finds its coordinator, InitProducerId, AddPartitionsToTxn, and writes one
 * transactional batch (the native Produce, as test/kafka-admin-txn-process
 * does); then DescribeProducers on the partition's leader shows the producer
 * with the batch's first offset as currentTxnStartOffset (a follower answers
 * NOT_LEADER_OR_FOLLOWER, an unknown topic UNKNOWN_TOPIC_OR_PARTITION),
 * DescribeTransactions on the coordinator shows Ongoing with the partition
 * (NOT_COORDINATOR on another broker, TRANSACTIONAL_ID_NOT_FOUND for an id
 * nobody initialised), and ListTransactions sent to every broker, merged as
 * Kafka's admin client does, finds it with no filter (v1) and with a state
 * filter (v0, an unknown name echoed back); the native admin client's
 * describeProducers / describeTransactions / listTransactions read the same.
 * After EndTxn(commit): CompleteCommit
 * and currentTxnStartOffset -1. Every wait is bounded; afterAll kills every
 * child this file started.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Kactus } from '../client/index.ts';
import { startTestCluster, type TestCluster, kafkaListenerPorts } from './support/cluster.ts';
import { kafkaRequest } from './support/kafka-wire.ts';
import { killAllChildren } from './support/processes.ts';
import { eventually, produceTxn, type TxnWire } from './support/txn-wire.ts';
import type { KafkaValue } from '../protocol/kafka/codec.ts';

let cluster: TestCluster;
let kactus: Kactus;
const kafkaPorts = new Map<number, number>();

beforeAll(async () => {
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'transaction.state.log.num.partitions=3', 'offsets.topic.num.partitions=3']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'kafka-txn-describe-test', requestTimeoutMs: 5_000 });
  for (const [id, port] of await kafkaListenerPorts(cluster)) kafkaPorts.set(id, port);
}, 60_000);

afterAll(async () => {
  await kactus?.close({ timeoutMs: 5_000 }).catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

const kafka = (brokerId: number, api: string, version: number, body: KafkaValue): Promise<KafkaValue> => kafkaRequest('127.0.0.1', kafkaPorts.get(brokerId)!, api, version, body);
const brokerIds = [1, 2, 3];

/** DescribeProducers of one partition on one broker: its error and producers. */
async function producersOn(brokerId: number, topic: string, partition: number): Promise<KafkaValue> {
  const reply = await kafka(brokerId, 'DescribeProducers', 0, { topics: [{ name: topic, partitionIndexes: [partition] }] });
  return ((reply.topics as KafkaValue[])[0]!.partitions as KafkaValue[])[0]!;
}

/** ListTransactions sent to every broker, merged (Kafka's admin client does the same); null while any is loading. */
async function listEverywhere(version: number, body: KafkaValue): Promise<{ states: KafkaValue[]; unknown: string[] } | undefined> {
  const replies = await Promise.all(brokerIds.map((id) => kafka(id, 'ListTransactions', version, body)));
  if (replies.some((r) => r.errorCode !== 0)) return undefined;
  return { states: replies.flatMap((r) => r.transactionStates as KafkaValue[]), unknown: [...new Set(replies.flatMap((r) => r.unknownStateFilters as string[]))] };
}

async function coordinatorOf(transactionalId: string): Promise<number> {
  return eventually(`the coordinator of ${transactionalId}`, async () => {
    const found = await kafka(1, 'FindCoordinator', 3, { key: transactionalId, keyType: 1 }).catch(() => undefined);
    return found !== undefined && found.errorCode === 0 ? (found.nodeId as number) : undefined;
  }, 30_000);
}

describe('KIP-664 reads through the Kafka listener on 3 broker processes', () => {
  it('DescribeProducers, DescribeTransactions and ListTransactions see an open transaction, then its commit', async () => {
    const topic = 'kdescribe';
    await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3 }] });
    await cluster.waitForLeaders(topic, 1, 3);
    const wire: TxnWire = { client: cluster.client, brokerIds, leaderOf: async (t, p) => (await cluster.metadata([t])).topics[0]!.partitions[p]!.leader };
    const leader = await wire.leaderOf(topic, 0);
    const follower = brokerIds.find((id) => id !== leader)!;

    const transactionalId = 'kafka-describe-1';
    const coordinator = await coordinatorOf(transactionalId);
    const init = await eventually('InitProducerId', async () => {
      const reply = await kafka(coordinator, 'InitProducerId', 4, { transactionalId, transactionTimeoutMs: 45_000, producerId: -1, producerEpoch: -1 });
      return reply.errorCode === 0 ? reply : undefined;
    });
    const producer = { transactionalId, producerId: init.producerId as number, producerEpoch: init.producerEpoch as number };
    const added = await kafka(coordinator, 'AddPartitionsToTxn', 3, { v3AndBelowTransactionalId: transactionalId, v3AndBelowProducerId: producer.producerId, v3AndBelowProducerEpoch: producer.producerEpoch, v3AndBelowTopics: [{ name: topic, partitions: [0] }] });
    expect(added.resultsByTopicV3AndBelow).toEqual([{ name: topic, resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 0 }] }]);
    const beforeProduceMs = Date.now();
    expect((await produceTxn(wire, { topic, partition: 0 }, producer, 0, ['a', 'b', 'c'])).errorCode).toBe(0);

    // DescribeProducers: the leader knows the producer and its open transaction's first offset.
    const open = await producersOn(leader, topic, 0);
    expect(open).toMatchObject({ partitionIndex: 0, errorCode: 0, errorMessage: null });
    expect(open.activeProducers).toEqual([{ producerId: producer.producerId, producerEpoch: producer.producerEpoch, lastSequence: 2, lastTimestamp: expect.any(Number), coordinatorEpoch: -1, currentTxnStartOffset: 0 }]);
    expect(((open.activeProducers as KafkaValue[])[0]!.lastTimestamp as number) >= beforeProduceMs - 1_000).toBe(true);
    expect(await producersOn(follower, topic, 0)).toMatchObject({ errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, activeProducers: [] });
    expect(await producersOn(leader, 'no-such-topic', 0)).toMatchObject({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
    expect(await producersOn(leader, topic, 7)).toMatchObject({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });

    // DescribeTransactions: Ongoing with its partition, on the coordinator only.
    const described = await kafka(coordinator, 'DescribeTransactions', 0, { transactionalIds: [transactionalId] });
    const [state] = described.transactionStates as KafkaValue[];
    expect(state).toMatchObject({ errorCode: 0, transactionalId, transactionState: 'Ongoing', transactionTimeoutMs: 45_000, producerId: producer.producerId, producerEpoch: producer.producerEpoch, topics: [{ topic, partitions: [0] }] });
    expect(Math.abs((state!.transactionStartTimeMs as number) - beforeProduceMs)).toBeLessThan(10_000);
    const elsewhere = brokerIds.find((id) => id !== coordinator)!;
    expect(((await kafka(elsewhere, 'DescribeTransactions', 0, { transactionalIds: [transactionalId] })).transactionStates as KafkaValue[])[0]).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
    const nobody = 'kafka-describe-never-initialised';
    const nobodyCoordinator = await coordinatorOf(nobody);
    expect(((await kafka(nobodyCoordinator, 'DescribeTransactions', 0, { transactionalIds: [nobody] })).transactionStates as KafkaValue[])[0]).toMatchObject({ transactionalId: nobody, errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND });

    // ListTransactions on every broker: exactly one lists it, with and without a state filter.
    const listing = { transactionalId, producerId: producer.producerId, transactionState: 'Ongoing' };
    const everything = await eventually('ListTransactions v1 on every broker', () => listEverywhere(1, { stateFilters: [], producerIdFilters: [], durationFilter: -1 }));
    expect(everything.states.filter((s) => s.transactionalId === transactionalId)).toEqual([listing]);
    const filtered = await eventually('ListTransactions v0 with a state filter', () => listEverywhere(0, { stateFilters: ['Ongoing', 'Hanging'], producerIdFilters: [] }));
    expect(filtered.states.filter((s) => s.transactionalId === transactionalId)).toEqual([listing]);
    expect(filtered.unknown).toEqual(['Hanging']);
    const byProducer = await eventually('ListTransactions by producer id', () => listEverywhere(1, { stateFilters: [], producerIdFilters: [producer.producerId], durationFilter: -1 }));
    expect(byProducer.states).toEqual([listing]);
    const otherState = await eventually('ListTransactions for CompleteCommit', () => listEverywhere(1, { stateFilters: ['CompleteCommit'], producerIdFilters: [], durationFilter: -1 }));
    expect(otherState.states.filter((s) => s.transactionalId === transactionalId)).toEqual([]);

    // The native admin client reads the same state (admin-txn.ts).
    const admin = kactus.admin();
    const [nativeProducers] = await admin.describeProducers({ topicPartitions: [{ topic, partition: 0 }] });
    expect(nativeProducers).toEqual({ topic, partition: 0, activeProducers: [expect.objectContaining({ producerId: producer.producerId, lastSequence: 2, currentTransactionStartOffset: 0 })] });
    const [nativeTxn] = await admin.describeTransactions({ transactionalIds: [transactionalId] });
    expect(nativeTxn).toMatchObject({ transactionalId, coordinatorId: coordinator, state: 'Ongoing', producerId: producer.producerId, topicPartitions: [{ topic, partition: 0 }] });
    await expect(admin.describeTransactions({ transactionalIds: [nobody] })).rejects.toMatchObject({ code: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND });
    expect((await admin.listTransactions({ states: ['Ongoing'] })).filter((t) => t.transactionalId === transactionalId)).toEqual([{ transactionalId, producerId: producer.producerId, state: 'Ongoing' }]);

    // Commit: CompleteCommit once the markers are written, and the partition's transaction is closed.
    const ended = await kafka(coordinator, 'EndTxn', 3, { transactionalId, producerId: producer.producerId, producerEpoch: producer.producerEpoch, committed: true });
    expect(ended.errorCode).toBe(0);
    const completed = await eventually('CompleteCommit', async () => {
      const reply = await kafka(coordinator, 'DescribeTransactions', 0, { transactionalIds: [transactionalId] });
      const s = (reply.transactionStates as KafkaValue[])[0]!;
      return s.transactionState === 'CompleteCommit' ? s : undefined;
    });
    expect(completed).toMatchObject({ errorCode: 0, producerId: producer.producerId, producerEpoch: producer.producerEpoch, topics: [] });
    const closed = await producersOn(leader, topic, 0);
    // EndTxn v0-4 is transaction version 1: the marker keeps the epoch, so the sequence stays.
    expect(closed.activeProducers).toEqual([{ producerId: producer.producerId, producerEpoch: producer.producerEpoch, lastSequence: 2, lastTimestamp: expect.any(Number), coordinatorEpoch: expect.any(Number), currentTxnStartOffset: -1 }]);
    expect(((closed.activeProducers as KafkaValue[])[0]!.coordinatorEpoch as number) >= 0).toBe(true);
    const afterCommit = await eventually('ListTransactions after the commit', () => listEverywhere(1, { stateFilters: ['CompleteCommit'], producerIdFilters: [], durationFilter: -1 }));
    expect(afterCommit.states.filter((s) => s.transactionalId === transactionalId)).toEqual([{ ...listing, transactionState: 'CompleteCommit' }]);
  }, 60_000);
});
