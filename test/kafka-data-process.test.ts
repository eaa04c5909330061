/**
 * The Kafka listener's data APIs against real broker processes. Goal: a
 * record written through one protocol is the same record, byte for byte in
 * key, value, headers and offset, read through the other. Method: a 3-broker
 * cluster with Kafka listeners on free ports (`listeners=PLAINTEXT://127.0.0.1:0`,
 * ports read back from the native Metadata), requests in the project's own
 * Kafka codec (test/support/kafka-wire.ts) to each partition's leader, and the
 * native client (produce, and readPartition over /fetch) on the other side.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../client/index.ts';
import { FrameSplitter } from '../protocol/kafka/frames.ts';
import { apiKeys, apis, decodeResponse, encodeRequest } from '../protocol/kafka/messages.ts';
import type { KafkaValue } from '../protocol/kafka/codec.ts';
import { decodeBatches, encodeBatch } from '../protocol/record-batch/index.ts';
import { readPartition } from './client-read.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { kafkaRequest } from './support/kafka-wire.ts';
import { killAllChildren } from './support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
/** Broker id -> its Kafka listener port. */
const kafkaPorts = new Map<number, number>();
const topic = 'kafka-data';

type KafkaPartitionMetadata = { partitionIndex: number; leaderId: number; leaderEpoch: number };
type KafkaTopicMetadata = { name: string; topicId: string; partitions: KafkaPartitionMetadata[] };

async function kafkaTopic(name: string): Promise<KafkaTopicMetadata> {
  const [anyPort] = [...kafkaPorts.values()];
  const body = await kafkaRequest('127.0.0.1', anyPort!, 'Metadata', 12, { topics: [{ name, topicId: '00000000-0000-0000-0000-000000000000' }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  return (body.topics as KafkaTopicMetadata[])[0]!;
}

const leaderPort = async (partition: number): Promise<number> => {
  const t = await kafkaTopic(topic);
  return kafkaPorts.get(t.partitions.find((p) => p.partitionIndex === partition)!.leaderId)!;
};

const produceBody = (acks: number, partition: number, records: Buffer, name = topic): KafkaValue => ({ transactionalId: null, acks, timeoutMs: 10_000, topicData: [{ name, partitionData: [{ index: partition, records }] }] });

const batchOf = (prefix: string, count: number): Buffer =>
  encodeBatch({ records: Array.from({ length: count }, (_, i) => ({ timestamp: Date.now(), key: Buffer.from(`${prefix}-k${i}`), value: Buffer.from(`${prefix}-v${i}`), headers: [{ key: 'h', value: Buffer.from(`${i}`) }] })) });

/** Sends frames on one connection and collects `expected` answers (acks=0 produces answer nothing). */
async function pipeline(port: number, frames: Buffer[], expected: number): Promise<Buffer[]> {
  const socket = connect(port, '127.0.0.1');
  const splitter = new FrameSplitter();
  const answers: Buffer[] = [];
  try {
    return await new Promise<Buffer[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${answers.length} of ${expected} answers`)), 10_000);
      socket.once('error', reject);
      socket.on('data', (chunk: Buffer) => {
        for (const frame of splitter.push(chunk).frames) answers.push(Buffer.from(frame));
        if (answers.length >= expected) {
          clearTimeout(timer);
          resolve(answers);
        }
      });
      socket.once('connect', () => socket.write(Buffer.concat(frames)));
    });
  } finally {
    socket.destroy();
  }
}

beforeAll(async () => {
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0']);
  const metadata = (await cluster.metadata(null)) as unknown as { brokers: { brokerId: number; listeners: { name: string; port: number }[] }[] };
  for (const b of metadata.brokers) kafkaPorts.set(b.brokerId, b.listeners.find((l) => l.name === 'PLAINTEXT')!.port);
  kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'kafka-data-test', requestTimeoutMs: 10_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }] });
  await cluster.waitForLeaders(topic, 3, 3);
}, 90_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

describe('Kafka data APIs on broker processes', () => {
  it('ApiVersions advertises the data APIs', async () => {
    const body = await kafkaRequest('127.0.0.1', [...kafkaPorts.values()][0]!, 'ApiVersions', 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    const byKey = new Map((body.apiKeys as { apiKey: number; minVersion: number; maxVersion: number }[]).map((k) => [k.apiKey, [k.minVersion, k.maxVersion]]));
    expect(byKey.get(apiKeys.Produce!)).toEqual([3, 11]);
    expect(byKey.get(apiKeys.Fetch!)).toEqual([4, 17]);
    expect(byKey.get(apiKeys.ListOffsets!)).toEqual([1, 6]);
    expect(byKey.get(apiKeys.OffsetForLeaderEpoch!)).toEqual([0, 4]);
  });

  it('Kafka Produce (v3, v9, v11, acks=-1 and 1) is read back by the native client with the same keys, values, headers and offsets', async () => {
    const port = await leaderPort(0);
    const first = await kafkaRequest('127.0.0.1', port, 'Produce', 9, produceBody(-1, 0, batchOf('a', 5)));
    const p0 = (first.responses as { partitionResponses: { errorCode: number; baseOffset: number; logStartOffset: number }[] }[])[0]!.partitionResponses[0]!;
    expect(p0).toMatchObject({ errorCode: 0, baseOffset: 0, logStartOffset: 0 });
    const second = await kafkaRequest('127.0.0.1', port, 'Produce', 3, produceBody(1, 0, batchOf('b', 2)));
    expect((second.responses as { partitionResponses: { errorCode: number; baseOffset: number }[] }[])[0]!.partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 5 });
    const third = await kafkaRequest('127.0.0.1', port, 'Produce', 11, produceBody(-1, 0, batchOf('c', 1)));
    expect((third.responses as { partitionResponses: { errorCode: number; baseOffset: number }[] }[])[0]!.partitionResponses[0]).toMatchObject({ errorCode: 0, baseOffset: 7 });
    const stored = await readPartition(kactus, topic, 0);
    const expected: [string, number][] = [...Array.from({ length: 5 }, (_, i): [string, number] => ['a', i]), ['b', 0], ['b', 1], ['c', 0]];
    expect(stored.map((r) => [r.offset, r.key, r.value, r.headers.h])).toEqual(expected.map(([prefix, i], offset) => [offset, `${prefix}-k${i}`, `${prefix}-v${i}`, `${i}`]));
  });

  it('Kafka Produce errors: a follower answers NOT_LEADER_OR_FOLLOWER, an unknown topic UNKNOWN_TOPIC_OR_PARTITION, magic 1 INVALID_RECORD', async () => {
    const t = await kafkaTopic(topic);
    const leader = t.partitions.find((p) => p.partitionIndex === 1)!.leaderId;
    const follower = [...kafkaPorts.entries()].find(([id]) => id !== leader)![1];
    const notLeader = await kafkaRequest('127.0.0.1', follower, 'Produce', 9, produceBody(-1, 1, batchOf('x', 1)));
    expect((notLeader.responses as { partitionResponses: { errorCode: number }[] }[])[0]!.partitionResponses[0]!.errorCode).toBe(6);
    const unknown = await kafkaRequest('127.0.0.1', follower, 'Produce', 9, produceBody(-1, 0, batchOf('x', 1), 'no-such-topic'));
    expect((unknown.responses as { partitionResponses: { errorCode: number }[] }[])[0]!.partitionResponses[0]!.errorCode).toBe(3);
    const magic1 = batchOf('x', 1);
    magic1[16] = 1;
    const invalid = await kafkaRequest('127.0.0.1', follower, 'Produce', 9, produceBody(-1, 1, magic1));
    expect((invalid.responses as { partitionResponses: { errorCode: number }[] }[])[0]!.partitionResponses[0]!.errorCode).toBe(87);
  });

  it('native Produce is read back through Kafka Fetch v11 (names) and v17 (topic ids) with the same keys, values and offsets; ListOffsets and OffsetForLeaderEpoch agree', async () => {
    const producer = kactus.producer();
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ key: `n-k${i}`, value: `n-v${i}`, headers: { h: `${i}` }, partition: 2 })) });
    const native = await readPartition(kactus, topic, 2);
    expect(native).toHaveLength(20);
    const port = await leaderPort(2);
    const { topicId, partitions } = await kafkaTopic(topic);
    const leaderEpoch = partitions.find((p) => p.partitionIndex === 2)!.leaderEpoch;
    const part = { partition: 2, currentLeaderEpoch: leaderEpoch, fetchOffset: 0, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20 };
    const readThrough = async (version: number): Promise<{ offset: number; key: string; value: string; h: string }[]> => {
      const body = await kafkaRequest('127.0.0.1', port, 'Fetch', version, { replicaId: -1, maxWaitMs: 100, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: 0, topics: [{ topic, topicId, partitions: [part] }], forgottenTopicsData: [], rackId: '' });
      expect(body.sessionId ?? 0).toBe(0);
      const p = (body.responses as { topic: string; topicId: string; partitions: { errorCode: number; highWatermark: number; records: Buffer }[] }[])[0]!;
      if (version >= 13) expect(p.topicId).toBe(topicId);
      else expect(p.topic).toBe(topic);
      expect(p.partitions[0]).toMatchObject({ errorCode: 0, highWatermark: 20 });
      const decoded = decodeBatches(Buffer.from(p.partitions[0]!.records));
      if (!decoded.ok) throw new Error(decoded.message);
      return decoded.value.flatMap((b) => b.records.map((r) => ({ offset: r.offset, key: r.key!.toString(), value: r.value!.toString(), h: Buffer.from(r.headers[0]!.value!).toString() })));
    };
    const expected = native.map((r) => ({ offset: r.offset, key: r.key, value: r.value, h: r.headers.h }));
    expect(await readThrough(11)).toEqual(expected);
    expect(await readThrough(17)).toEqual(expected);

    // An incremental fetch names a session we never gave; a follower fetch from a client is refused.
    const incremental = await kafkaRequest('127.0.0.1', port, 'Fetch', 11, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1000, isolationLevel: 0, sessionId: 5, sessionEpoch: 1, topics: [], forgottenTopicsData: [], rackId: '' });
    expect(incremental.errorCode).toBe(70);
    const follower = await kafkaRequest('127.0.0.1', port, 'Fetch', 11, { replicaId: 2, maxWaitMs: 0, minBytes: 1, maxBytes: 1000, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [part] }], forgottenTopicsData: [], rackId: '' });
    expect((follower.responses as { partitions: { errorCode: number }[] }[])[0]!.partitions[0]!.errorCode).toBe(29);
    const unknownId = await kafkaRequest('127.0.0.1', port, 'Fetch', 17, { maxWaitMs: 0, minBytes: 1, maxBytes: 1000, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topicId: 'b0000000-0000-4000-8000-000000000009', partitions: [part] }], forgottenTopicsData: [], rackId: '' });
    expect((unknownId.responses as { partitions: { errorCode: number }[] }[])[0]!.partitions[0]!.errorCode).toBe(100);

    // Long poll: nothing past the end, answered after about maxWaitMs with empty records.
    const startedMs = Date.now();
    const waited = await kafkaRequest('127.0.0.1', port, 'Fetch', 11, { replicaId: -1, maxWaitMs: 400, minBytes: 1, maxBytes: 1000, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ ...part, fetchOffset: 20 }] }], forgottenTopicsData: [], rackId: '' });
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(350);
    expect((waited.responses as { partitions: { errorCode: number; records: Buffer }[] }[])[0]!.partitions[0]).toMatchObject({ errorCode: 0 });
    expect((waited.responses as { partitions: { records: Buffer }[] }[])[0]!.partitions[0]!.records.length).toBe(0);

    const offsets = await kafkaRequest('127.0.0.1', port, 'ListOffsets', 6, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 2, currentLeaderEpoch: leaderEpoch, timestamp: -2 }, { partitionIndex: 2, currentLeaderEpoch: -1, timestamp: -1 }, { partitionIndex: 2, currentLeaderEpoch: leaderEpoch + 1, timestamp: -1 }] }] });
    expect((offsets.topics as { partitions: { errorCode: number; offset: number }[] }[])[0]!.partitions.map((p) => [p.errorCode, p.offset])).toEqual([[0, 0], [0, 20], [75, -1]]);
    const epochs = await kafkaRequest('127.0.0.1', port, 'OffsetForLeaderEpoch', 4, { replicaId: -1, topics: [{ topic, partitions: [{ partition: 2, currentLeaderEpoch: leaderEpoch, leaderEpoch }] }] });
    expect((epochs.topics as { partitions: { errorCode: number; leaderEpoch: number; endOffset: number }[] }[])[0]!.partitions[0]).toMatchObject({ errorCode: 0, leaderEpoch, endOffset: 20 });
  });

  it('acks=0: no answer (the next request on the connection is answered first), and the records are there', async () => {
    const port = await leaderPort(1);
    const produce = apis.get(apiKeys.Produce!)!;
    const metadata = apis.get(apiKeys.Metadata!)!;
    const frames = [
      encodeRequest(produce, 9, { correlationId: 1, clientId: 'acks0' }, produceBody(0, 1, batchOf('z', 3))),
      encodeRequest(produce, 9, { correlationId: 2, clientId: 'acks0' }, produceBody(0, 1, batchOf('y', 2))),
      encodeRequest(metadata, 9, { correlationId: 3, clientId: 'acks0' }, { topics: [], allowAutoTopicCreation: false }),
    ];
    const answers = await pipeline(port, frames, 1);
    expect(decodeResponse(metadata, 9, answers[0]!).correlationId).toBe(3);
    const deadlineMs = Date.now() + 5_000;
    let stored = await readPartition(kactus, topic, 1);
    while (stored.length < 5 && Date.now() < deadlineMs) {
      await new Promise((r) => setTimeout(r, 50));
      stored = await readPartition(kactus, topic, 1);
    }
    expect(stored.map((r) => [r.offset, r.key])).toEqual([[0, 'z-k0'], [1, 'z-k1'], [2, 'z-k2'], [3, 'y-k0'], [4, 'y-k1']]);
  });
});
