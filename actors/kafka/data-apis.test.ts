/**
 * The data APIs' pure translations: what native partitions a Kafka Produce,
 * Fetch, ListOffsets or OffsetForLeaderEpoch becomes, what is answered
 * without asking (Kafka's own checks), and that every answer encodes at
 * every served version. Odd but decodable values (negative partitions, huge
 * sizes, empty arrays, null records) never throw.
 */
import { describe, expect, it } from 'vitest';
import { dataLimits } from '../../protocol/apis/data.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { encodeMessage, KafkaReader, decodeMessage, zeroUuid, type KafkaValue } from '../../protocol/kafka/codec.ts';
import { apiKeys, apis } from '../../protocol/kafka/messages.ts';
import { dataApis, fetchBody, fetchPlan, fetchReplicaId, leaderEpochCheck, listOffsetsBody, listOffsetsPlan, offsetForLeaderEpochBody, offsetForLeaderEpochPlan, produceBody, producePlan, produceRecordsError } from './data-apis.ts';

const batch = (magic = 2, compression = 0): Buffer => {
  const b = Buffer.alloc(70);
  b[16] = magic;
  b[22] = compression;
  return b;
};

const roundTrip = (apiName: string, kind: 'request' | 'response', version: number, body: KafkaValue): KafkaValue => {
  const api = apis.get(apiKeys[apiName]!)!;
  const schema = kind === 'request' ? api.request : api.response;
  const bytes = Buffer.from(encodeMessage(schema, version, body).view());
  return decodeMessage(schema, version, new KafkaReader(bytes));
};

const versions = (name: string): number[] => {
  const served = dataApis[name]!;
  return Array.from({ length: served.maxVersion - served.minVersion + 1 }, (_, i) => served.minVersion + i);
};

describe('Kafka Produce translation', () => {
  it('checks records as Kafka does for v3+: null, empty, magic, zstd before v7', () => {
    expect(produceRecordsError(3, null)?.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(produceRecordsError(3, Buffer.alloc(0))?.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(produceRecordsError(3, Buffer.alloc(10))?.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    expect(produceRecordsError(3, batch(1))?.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(produceRecordsError(6, batch(2, 4))?.errorCode).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    expect(produceRecordsError(7, batch(2, 4))).toBeNull();
    expect(produceRecordsError(3, batch(2, 1))).toBeNull();
  });

  it('plans each partition in request order; bad acks, negative partitions and odd names are answered without asking', () => {
    const body = { transactionalId: null, acks: -1, timeoutMs: 2 ** 31 - 1, topicData: [{ name: 't', partitionData: [{ index: 1, records: batch() }, { index: -3, records: batch() }, { index: 0, records: null }] }, { name: '', partitionData: [{ index: 0, records: batch() }] }] };
    const plan = producePlan(9, body);
    expect(plan.timeoutMs).toBe(dataLimits.produceTimeoutMsMax);
    expect(plan.partitions.map((p) => [p.topic, p.partition, p.errorCode])).toEqual([['t', 1, null], ['t', -3, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION], ['t', 0, ErrorCode.INVALID_RECORD], ['', 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]]);
    expect(plan.partitions[0]!.batch).toBe(body.topicData[0]!.partitionData[0]!.records); // the same view: no copy
    const badAcks = producePlan(9, { ...body, acks: 2, timeoutMs: -5 });
    expect(badAcks.timeoutMs).toBe(0);
    expect(badAcks.partitions.every((p) => p.errorCode === ErrorCode.INVALID_REQUIRED_ACKS)).toBe(true);
    expect(producePlan(3, { acks: 1, timeoutMs: 0, topicData: [] }).partitions).toEqual([]);
  });

  it('answers every partition, grouped by topic, and encodes at every served version', () => {
    const plan = producePlan(9, { acks: 1, timeoutMs: 1000, topicData: [{ name: 'a', partitionData: [{ index: 0, records: batch() }, { index: 1, records: batch() }] }, { name: 'b', partitionData: [{ index: 0, records: batch() }] }] }).partitions;
    const body = produceBody(plan, [
      { errorCode: 0, errorMessage: null, baseOffset: 10, logAppendTimeMs: -1, logStartOffset: 0 },
      { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, errorMessage: 'moved', baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 },
      { errorCode: 0, errorMessage: null, baseOffset: 3, logAppendTimeMs: 1234, logStartOffset: 2 },
    ]);
    for (const v of versions('Produce')) {
      const decoded = roundTrip('Produce', 'response', v, body) as { responses: { name: string; partitionResponses: { index: number; errorCode: number; baseOffset: number; logStartOffset: number; errorMessage?: string | null }[] }[] };
      expect(decoded.responses.map((t) => [t.name, t.partitionResponses.map((p) => [p.index, p.errorCode, p.baseOffset])])).toEqual([['a', [[0, 0, 10], [1, 6, -1]]], ['b', [[0, 0, 3]]]]);
      if (v >= 5) expect(decoded.responses[1]!.partitionResponses[0]!.logStartOffset).toBe(2);
      if (v >= 8) expect(decoded.responses[0]!.partitionResponses[1]!.errorMessage).toBe('moved');
    }
  });
});

describe('Kafka Fetch translation', () => {
  const topicId = 'a0000000-0000-4000-8000-000000000001';
  const partition = (p: number, fetchOffset: number, extra: KafkaValue = {}) => ({ partition: p, currentLeaderEpoch: 2, fetchOffset, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: 1 << 20, ...extra });

  it('flattens topics into one native fetch with the bounds clamped; answers odd partitions at once', () => {
    const body = { replicaId: -1, maxWaitMs: 2 ** 31 - 1, minBytes: -4, maxBytes: 2 ** 31 - 1, isolationLevel: 1, sessionId: 0, sessionEpoch: -1, topics: [{ topic: 't', partitions: [partition(0, 5), partition(-1, 0), partition(1, -7), partition(2, 0, { partitionMaxBytes: 0 })] }, { topic: 'x'.repeat(300), partitions: [partition(0, 0)] }] };
    const plan = fetchPlan(11, body, () => undefined);
    expect(plan.sessionErrorCode).toBe(ErrorCode.NONE);
    expect(plan.request).toEqual({ replicaId: -1, maxWaitMs: dataLimits.fetchMaxWaitMsMax, minBytes: 0, maxBytes: dataLimits.fetchBytesMax, isolationLevel: 1 });
    expect(plan.partitions.map((p) => [p.partition, p.errorCode, p.native?.fetchOffset ?? null])).toEqual([[0, 0, 5], [-1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, null], [1, ErrorCode.OFFSET_OUT_OF_RANGE, null], [2, 0, 0], [0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, null]]);
    expect(plan.partitions[0]!.native).toEqual({ topic: 't', partition: 0, fetchOffset: 5, partitionMaxBytes: 1 << 20, currentLeaderEpoch: 2, lastFetchedEpoch: -1 });
    expect(plan.partitions[3]!.native!.partitionMaxBytes).toBe(1);
  });

  it('v13+ names topics by id: resolved, or UNKNOWN_TOPIC_ID; the answer names the id', () => {
    const body = { replicaState: { replicaId: -1, replicaEpoch: -1 }, maxWaitMs: 0, minBytes: 1, maxBytes: 100, isolationLevel: 0, sessionId: 0, sessionEpoch: 0, topics: [{ topicId, partitions: [partition(0, 0)] }, { topicId: zeroUuid, partitions: [partition(0, 0)] }, { topicId: 'b0000000-0000-4000-8000-000000000002', partitions: [partition(0, 0)] }], forgottenTopicsData: [], rackId: '' };
    const plan = fetchPlan(17, body, (id) => (id === topicId ? 'named' : undefined));
    expect(plan.partitions.map((p) => [p.native?.topic ?? null, p.errorCode])).toEqual([['named', 0], [null, ErrorCode.UNKNOWN_TOPIC_ID], [null, ErrorCode.UNKNOWN_TOPIC_ID]]);
    const records = Buffer.from('opaque');
    const answer = fetchBody(17, plan, [
      { errorCode: 0, highWatermark: 9, lastStableOffset: 9, logStartOffset: 0, records, abortedTransactions: null, divergingEpoch: null },
      { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null, abortedTransactions: null, divergingEpoch: null },
      { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null, abortedTransactions: null, divergingEpoch: null },
    ]);
    const decoded = roundTrip('Fetch', 'response', 17, answer) as { sessionId: number; responses: { topicId: string; partitions: { records: Buffer; preferredReadReplica: number; highWatermark: number }[] }[] };
    expect(decoded.sessionId).toBe(0);
    expect(decoded.responses.map((t) => t.topicId)).toEqual([topicId, zeroUuid, 'b0000000-0000-4000-8000-000000000002']);
    expect(decoded.responses[0]!.partitions[0]!.records.toString()).toBe('opaque');
    expect(decoded.responses[0]!.partitions[0]!.preferredReadReplica).toBe(-1);
    expect(decoded.responses[1]!.partitions[0]!.records.length).toBe(0); // empty records, never null
  });

  it('sessions: full fetches (epoch 0 or -1) are served sessionless; an incremental one is FETCH_SESSION_ID_NOT_FOUND', () => {
    const base = { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 100, isolationLevel: 0, topics: [{ topic: 't', partitions: [partition(0, 0)] }] };
    expect(fetchPlan(11, { ...base, sessionId: 0, sessionEpoch: 0 }, () => undefined).sessionErrorCode).toBe(ErrorCode.NONE);
    expect(fetchPlan(11, { ...base, sessionId: 77, sessionEpoch: -1 }, () => undefined).sessionErrorCode).toBe(ErrorCode.NONE);
    const incremental = fetchPlan(11, { ...base, sessionId: 77, sessionEpoch: 3 }, () => undefined);
    expect(incremental.sessionErrorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    expect(roundTrip('Fetch', 'response', 11, fetchBody(11, incremental, []))).toMatchObject({ errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND, sessionId: 0, responses: [] });
  });

  it('reads the replica id where each version carries it', () => {
    expect(fetchReplicaId(11, { replicaId: 3 })).toBe(3);
    expect(fetchReplicaId(15, { replicaId: -1, replicaState: { replicaId: 2, replicaEpoch: -1 } })).toBe(2);
    expect(fetchReplicaId(15, { replicaState: null })).toBe(-1);
  });

  it('too many partitions or an unknown isolation level: every partition INVALID_REQUEST', () => {
    const many = Array.from({ length: dataLimits.requestPartitionsMax + 1 }, (_, i) => partition(i, 0));
    const plan = fetchPlan(11, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic: 't', partitions: many }] }, () => undefined);
    expect(plan.partitions.every((p) => p.errorCode === ErrorCode.INVALID_REQUEST && p.native === null)).toBe(true);
    const bad = fetchPlan(11, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1, isolationLevel: 7, topics: [{ topic: 't', partitions: [partition(0, 0)] }] }, () => undefined);
    expect(bad.partitions[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });

  it('encodes aborted transactions and a diverging epoch at every served version', () => {
    const plan = fetchPlan(12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 100, isolationLevel: 1, topics: [{ topic: 't', partitions: [partition(0, 0)] }] }, () => undefined);
    for (const v of versions('Fetch')) {
      const body = fetchBody(v, { ...plan, partitions: plan.partitions.map((p) => ({ ...p, topicKey: v >= 13 ? topicId : 't' })) }, [{ errorCode: 0, highWatermark: 9, lastStableOffset: 4, logStartOffset: 1, records: Buffer.from('r'), abortedTransactions: [{ producerId: 5, firstOffset: 2 }], divergingEpoch: { epoch: 1, endOffset: 3 } }]);
      const p = (roundTrip('Fetch', 'response', v, body) as { responses: { partitions: KafkaValue[] }[] }).responses[0]!.partitions[0]!;
      expect(p).toMatchObject({ highWatermark: 9, lastStableOffset: 4, abortedTransactions: [{ producerId: 5, firstOffset: 2 }] });
      if (v >= 5) expect(p.logStartOffset).toBe(1);
      if (v >= 12) expect(p.divergingEpoch).toEqual({ epoch: 1, endOffset: 3 });
    }
  });
});

describe('Kafka ListOffsets and OffsetForLeaderEpoch translation', () => {
  it('ListOffsets: earliest, latest and timestamps go to the native side; below -2 is UNSUPPORTED_VERSION; leader epochs fence', () => {
    const plan = listOffsetsPlan({ replicaId: -1, isolationLevel: 1, topics: [{ name: 't', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -2 }, { partitionIndex: 1, currentLeaderEpoch: 3, timestamp: -1 }, { partitionIndex: 2, currentLeaderEpoch: 9, timestamp: 1000 }, { partitionIndex: 3, currentLeaderEpoch: -1, timestamp: -3 }, { partitionIndex: -1, currentLeaderEpoch: -1, timestamp: -1 }] }] });
    expect(plan.isolationLevel).toBe(1);
    expect(plan.partitions.map((p) => p.errorCode)).toEqual([null, null, null, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
    const body = listOffsetsBody(plan.partitions, [
      { errorCode: 0, offset: 0, timestamp: -1, leaderEpoch: 5 },
      { errorCode: 0, offset: 10, timestamp: -1, leaderEpoch: 5 },
      { errorCode: 0, offset: 4, timestamp: 1001, leaderEpoch: 5 },
      { errorCode: ErrorCode.UNSUPPORTED_VERSION, offset: -1, timestamp: -1, leaderEpoch: -1 },
      { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, offset: -1, timestamp: -1, leaderEpoch: -1 },
    ]);
    for (const v of versions('ListOffsets')) {
      const decoded = roundTrip('ListOffsets', 'response', v, body) as { topics: { partitions: { errorCode: number; offset: number }[] }[] };
      expect(decoded.topics[0]!.partitions.map((p) => [p.errorCode, p.offset])).toEqual([[0, 0], [ErrorCode.FENCED_LEADER_EPOCH, -1], [ErrorCode.UNKNOWN_LEADER_EPOCH, -1], [ErrorCode.UNSUPPORTED_VERSION, -1], [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1]]);
    }
    expect(leaderEpochCheck(5, 5)).toBe(0);
    expect(listOffsetsPlan({ isolationLevel: 3, topics: [{ name: 't', partitions: [{ partitionIndex: 0, timestamp: -1 }] }] }).partitions[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect(listOffsetsPlan({ topics: [] }).partitions).toEqual([]);
  });

  it('OffsetForLeaderEpoch: partitions planned in order, answers encode at every served version', () => {
    const plan = offsetForLeaderEpochPlan({ replicaId: -1, topics: [{ topic: 't', partitions: [{ partition: 0, currentLeaderEpoch: 4, leaderEpoch: 2 }, { partition: -2, currentLeaderEpoch: -1, leaderEpoch: 0 }] }] });
    expect(plan.map((p) => [p.partition, p.currentLeaderEpoch, p.errorCode])).toEqual([[0, 4, null], [-2, -1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]]);
    const body = offsetForLeaderEpochBody(plan, [{ errorCode: 0, leaderEpoch: 2, endOffset: 40 }, { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, leaderEpoch: -1, endOffset: -1 }]);
    for (const v of versions('OffsetForLeaderEpoch')) {
      const decoded = roundTrip('OffsetForLeaderEpoch', 'response', v, body) as { topics: { partitions: { errorCode: number; endOffset: number; leaderEpoch: number }[] }[] };
      expect(decoded.topics[0]!.partitions.map((p) => [p.errorCode, p.endOffset])).toEqual([[0, 40], [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1]]);
      if (v >= 1) expect(decoded.topics[0]!.partitions[0]!.leaderEpoch).toBe(2);
    }
  });

  it('every request version served decodes into a plan without throwing (schema defaults for absent fields)', () => {
    for (const v of versions('Fetch')) {
      const request = roundTrip('Fetch', 'request', v, { topics: [{ topic: 't', topicId: zeroUuid, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 10 }] }] });
      expect(() => fetchPlan(v, request, () => 't')).not.toThrow();
    }
    for (const v of versions('Produce')) expect(() => producePlan(v, roundTrip('Produce', 'request', v, { acks: 1, timeoutMs: 5, topicData: [{ name: 't', partitionData: [{ index: 0, records: null }] }] }))).not.toThrow();
    for (const v of versions('ListOffsets')) expect(() => listOffsetsPlan(roundTrip('ListOffsets', 'request', v, { topics: [{ name: 't', partitions: [{ partitionIndex: 0, timestamp: -1 }] }] }))).not.toThrow();
    for (const v of versions('OffsetForLeaderEpoch')) expect(() => offsetForLeaderEpochPlan(roundTrip('OffsetForLeaderEpoch', 'request', v, { topics: [{ topic: 't', partitions: [{ partition: 0, leaderEpoch: 0 }] }] }))).not.toThrow();
  });
});
