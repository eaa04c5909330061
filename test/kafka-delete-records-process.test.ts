/**
 * DeleteRecords through the Kafka listener on a real cluster of three broker
 * processes (each with a Kafka listener on a free port; requests written and
 * answers read with the project's codec, test/support/kafka-wire.ts), checked
 * with the native client.
 *
 * Goal: records deleted through Kafka's DeleteRecords are gone for every
 * reader, on every replica, durably. Method: a topic of one partition on
 * brokers [1, 2, 3] (1 preferred) with 1 KiB segments, 40 records in four
 * batches of ~2 KiB (so four segments); then
 * - DeleteRecords v2 to offset 15 at the leader answers low watermark 15 (it
 *   waits until every replica's log start is there); the native client's
 *   ListOffsets earliest says 15 and it reads 15..39 from there; a native and
 *   a Kafka Fetch below 15 are OFFSET_OUT_OF_RANGE (logStartOffset 15); the
 *   segment of 0..9 is gone from every broker's disk;
 * - at a follower: NOT_LEADER_OR_FOLLOWER; above the high watermark:
 *   OFFSET_OUT_OF_RANGE (the native Admin.deleteRecords rejects it the same
 *   way); __consumer_offsets: INVALID_TOPIC_EXCEPTION; the native
 *   Admin.deleteRecords to 20 resolves low watermark 20; -1 (v0) deletes up to
 *   the high watermark, 40;
 * - 5 more records (40..44), then the leader is SIGKILLed: the new leader (a
 *   former follower) starts at 40 and refuses 39; the old leader restarts,
 *   rejoins the ISR, leads again (preferred election), and still starts at 40.
 * Every wait is bounded; afterAll kills every child this file started.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Kactus, KactusError } from '../client/index.ts';
import type { Fetch, FetchReply } from '../protocol/apis/data.ts';
import type { KafkaValue } from '../protocol/kafka/codec.ts';
import { decodeBatches } from '../protocol/record-batch/index.ts';
import { startTestCluster, type TestCluster, kafkaListenerPorts } from './support/cluster.ts';
import { kafkaRequest } from './support/kafka-wire.ts';
import { killAllChildren } from './support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
const kafkaPorts = new Map<number, number>();
const topic = 'trimmed';

beforeAll(async () => {
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'offsets.topic.num.partitions=1', 'transaction.state.log.num.partitions=1']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'kafka-delete-records-test', requestTimeoutMs: 5_000 });
  for (const [id, port] of await kafkaListenerPorts(cluster)) kafkaPorts.set(id, port);
}, 60_000);

afterAll(async () => {
  await kactus?.close({ timeoutMs: 5_000 }).catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

type PartitionResult = { partitionIndex: number; lowWatermark: number; errorCode: number };

async function kafkaDelete(brokerId: number, version: number, name: string, offset: number): Promise<PartitionResult> {
  const body = await kafkaRequest('127.0.0.1', kafkaPorts.get(brokerId)!, 'DeleteRecords', version, { topics: [{ name, partitions: [{ partitionIndex: 0, offset }] }], timeoutMs: 5_000 });
  return (body.topics as { partitions: PartitionResult[] }[])[0]!.partitions[0]!;
}

const leaderOf = async (): Promise<number> => (await cluster.metadata([topic])).topics[0]!.partitions[0]!.leader;

/** The native client's Fetch at `fetchOffset` from the partition's leader: its error, log start and record offsets. */
async function nativeFetch(fetchOffset: number): Promise<{ errorCode: number; logStartOffset: number; offsets: number[] }> {
  const { connection, metadata } = await kactus.context();
  await metadata.refresh([topic]);
  const { leader } = await metadata.leaderFor(topic, 0);
  const reply = await connection.ask<Fetch, FetchReply>(leader, '/fetch', (replyTo) => ({ type: 'Fetch', replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, partitions: [{ topic, partition: 0, fetchOffset, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }], replyTo }), 5_000);
  const p = reply.partitions[0]!;
  if (p.records === null) return { errorCode: p.errorCode, logStartOffset: p.logStartOffset, offsets: [] };
  const decoded = decodeBatches(Buffer.from(p.records));
  if (!decoded.ok) throw new Error(decoded.message);
  return { errorCode: p.errorCode, logStartOffset: p.logStartOffset, offsets: decoded.value.flatMap((b) => b.records.map((r) => r.offset)).filter((o) => o >= fetchOffset) };
}

/** Reads from the log start the native ListOffsets gives, to the high watermark: the offsets. */
async function readFromEarliest(): Promise<{ earliest: number; offsets: number[] }> {
  const [earliest] = await kactus.admin().listOffsets({ topic, at: 'earliest' });
  const [latest] = await kactus.admin().listOffsets({ topic, at: 'latest' });
  const offsets: number[] = [];
  for (let next = earliest!.offset, round = 0; next < latest!.offset && round < 100; round += 1) {
    const read = await nativeFetch(next);
    expect(read.errorCode).toBe(ErrorCode.NONE);
    offsets.push(...read.offsets);
    next = (offsets.at(-1) ?? next) + 1;
  }
  return { earliest: earliest!.offset, offsets };
}

const segmentBases = (brokerId: number): number[] => {
  const dir = join(cluster.dataDir, `broker-${brokerId}`, 'partitions', `${topic}-0`);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => Number(f.slice(0, -4))).sort((a, b) => a - b) : [];
};

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('Kafka DeleteRecords on 3 broker processes', () => {
  it('deletes below an offset on every replica, refuses what Kafka refuses, and stays deleted across a leader restart', async () => {
    const admin = kactus.admin();
    await admin.createTopics({ topics: [{ topic, replicaAssignment: [{ partition: 0, replicas: [1, 2, 3] }], configs: { 'segment.bytes': '1024' } }] });
    await cluster.waitForLeaders(topic, 1, 3, 15_000);
    const producer = kactus.producer();
    for (let batch = 0; batch < 4; batch += 1) {
      await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${batch * 10 + i}`, value: 'v'.repeat(60), partition: 0 })) });
    }
    const leader = await leaderOf();
    expect(leader).toBe(1);
    const followers = [2, 3];
    expect(segmentBases(leader)[0]).toBe(0);

    // To offset 15: answered once every replica's log start is there.
    expect(await kafkaDelete(leader, 2, topic, 15)).toEqual({ partitionIndex: 0, lowWatermark: 15, errorCode: 0 });
    const afterFirst = await readFromEarliest();
    expect(afterFirst).toEqual({ earliest: 15, offsets: range(15, 40) });
    expect(await nativeFetch(3)).toMatchObject({ errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, logStartOffset: 15 });
    const kafkaFetch = await kafkaRequest('127.0.0.1', kafkaPorts.get(leader)!, 'Fetch', 11, {
      replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 3, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [], rackId: '',
    });
    expect((kafkaFetch.responses as { partitions: KafkaValue[] }[])[0]!.partitions[0]).toMatchObject({ errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, logStartOffset: 15 });
    const kafkaEarliest = await kafkaRequest('127.0.0.1', kafkaPorts.get(leader)!, 'ListOffsets', 6, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -2 }] }] });
    expect((kafkaEarliest.topics as { partitions: KafkaValue[] }[])[0]!.partitions[0]).toMatchObject({ errorCode: 0, offset: 15 });
    // The segment of 0..9 is gone from every replica's disk (the followers delete it as they learn the start).
    for (const id of [leader, ...followers]) expect(segmentBases(id)[0]).toBeGreaterThan(0);

    // What Kafka refuses.
    expect(await kafkaDelete(followers[0]!, 1, topic, 16)).toMatchObject({ lowWatermark: -1, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });
    expect(await kafkaDelete(leader, 2, topic, 41)).toMatchObject({ lowWatermark: -1, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE });
    expect(await kafkaDelete(leader, 0, '__consumer_offsets', 0)).toMatchObject({ lowWatermark: -1, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION });
    expect(await admin.deleteRecords({ partitions: [{ topic, partition: 0, offset: 41 }] }).then(() => null, (err: KactusError) => err.code)).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);

    // The native client, then -1: up to the high watermark.
    expect(await admin.deleteRecords({ partitions: [{ topic, partition: 0, offset: 20 }] })).toEqual([{ topic, partition: 0, lowWatermark: 20 }]);
    expect((await readFromEarliest()).earliest).toBe(20);
    expect(await kafkaDelete(leader, 0, topic, -1)).toEqual({ partitionIndex: 0, lowWatermark: 40, errorCode: 0 });
    expect(await readFromEarliest()).toEqual({ earliest: 40, offsets: [] });
    await producer.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ key: `n${i}`, value: 'w', partition: 0 })) });
    expect(await readFromEarliest()).toEqual({ earliest: 40, offsets: range(40, 45) });

    // The leader dies: a former follower leads, and starts at 40.
    await cluster.killBroker(leader);
    await cluster.waitForLeaders(topic, 1, 1, 15_000, [leader]);
    expect(await readFromEarliest()).toEqual({ earliest: 40, offsets: range(40, 45) });
    expect(await nativeFetch(39)).toMatchObject({ errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, logStartOffset: 40 });

    // It comes back from its own disk, rejoins the ISR, leads again: still 40.
    await cluster.startBroker(leader);
    await cluster.waitForLeaders(topic, 1, 3, 15_000);
    await admin.electLeaders({ electionType: 'PREFERRED', topicPartitions: [{ topic, partitions: [0] }] }).catch(() => undefined);
    const deadlineMs = Date.now() + 10_000;
    while ((await leaderOf()) !== leader && Date.now() < deadlineMs) await new Promise((r) => setTimeout(r, 100));
    expect(await leaderOf()).toBe(leader);
    expect(await readFromEarliest()).toEqual({ earliest: 40, offsets: range(40, 45) });
    expect(await nativeFetch(0)).toMatchObject({ errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, logStartOffset: 40 });
    await producer.close?.();
  }, 60_000);
});
