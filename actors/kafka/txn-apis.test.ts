/**
 * The producer and transaction APIs of the Kafka listener as translations:
 * each request at every served version goes through the codec to its
 * handler with a fake node (recording the native messages, answering canned
 * replies), and the answer must encode at that version.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import { apiKeys, apis, decodeRequest, encodeRequest, encodeResponse } from '../../protocol/kafka/messages.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { Node } from '../../runtime/node.ts';
import type { KafkaRequest } from './listener.ts';
import type { HandlerDeps } from './served.ts';
import { txnApis } from './txn-apis.ts';

type Asked = { path: string; message: Record<string, unknown> };
type Answer = (path: string, message: Record<string, unknown>) => unknown;

async function call(name: string, version: number, body: KafkaValue, answer: Answer): Promise<{ response: KafkaValue; asked: Asked[] }> {
  const api = apis.get(apiKeys[name]!)!;
  const decoded = decodeRequest(encodeRequest(api, version, { correlationId: 7, clientId: 'app-1' }, body).subarray(4));
  if (decoded.kind !== 'request') throw new Error(`${name} v${version}: ${decoded.kind}`);
  const request: KafkaRequest = { api, version, header: decoded.header, body: decoded.body, connection: { id: 1, remoteAddress: '10.0.0.9', localPort: 9092 }, principal: 'User:ANONYMOUS' };
  const asked: Asked[] = [];
  const node = {
    async askAsClient(path: string, make: (replyTo: unknown) => Record<string, unknown>) {
      const message = make({ node: 'n', path: '/temp/1' });
      asked.push({ path, message });
      const reply = answer(path, message);
      if (reply instanceof Error) throw reply;
      return reply;
    },
  } as unknown as Node;
  const deps: HandlerDeps = { node, listenerName: 'PLAINTEXT', sasl: false, caller: { principal: 'User:ANONYMOUS', host: '10.0.0.9' }, log: createLogger({}, 'silent') };
  const response = (await txnApis[name]!.handle(request, deps))!;
  encodeResponse(api, version, 7, response);
  return { response, asked };
}

const versions = (name: string): number[] => {
  const { minVersion, maxVersion } = txnApis[name]!;
  return Array.from({ length: maxVersion - minVersion + 1 }, (_, i) => minVersion + i);
};

const replyTo = { node: 'n', path: '/temp/1' };

describe('Kafka InitProducerId', () => {
  it('idempotent producers get an id from /broker; transactional ones go to /transactions with their id and epoch (v3+)', async () => {
    for (const v of versions('InitProducerId')) {
      const idempotent = await call('InitProducerId', v, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 }, () => ({ type: 'InitProducerIdReply', errorCode: 0, producerId: 4000, producerEpoch: 0 }));
      expect(idempotent.asked).toEqual([{ path: '/broker', message: { type: 'InitProducerId', transactionalId: null, transactionTimeoutMs: 60_000, replyTo } }]);
      expect(idempotent.response).toEqual({ throttleTimeMs: 0, errorCode: 0, producerId: 4000, producerEpoch: 0 });
      const txn = await call('InitProducerId', v, { transactionalId: 'tx', transactionTimeoutMs: 60_000, producerId: 4000, producerEpoch: 3 }, () => ({ type: 'InitProducerIdReply', errorCode: 0, errorMessage: null, producerId: 4000, producerEpoch: 4 }));
      expect(txn.asked[0]).toEqual({ path: '/transactions', message: { type: 'InitProducerId', transactionalId: 'tx', transactionTimeoutMs: 60_000, producerId: v >= 3 ? 4000 : -1, producerEpoch: v >= 3 ? 3 : -1, replyTo } });
      expect(txn.response).toMatchObject({ errorCode: 0, producerId: 4000, producerEpoch: 4 });
    }
  });

  it('errors: the coordinator code with -1/-1; a failed ask its code; a negative timeout INVALID_TRANSACTION_TIMEOUT', async () => {
    const notHere = await call('InitProducerId', 4, { transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: -1, producerEpoch: -1 }, () => ({ type: 'InitProducerIdReply', errorCode: ErrorCode.NOT_COORDINATOR, errorMessage: 'not here', producerId: -1, producerEpoch: -1 }));
    expect(notHere.response).toEqual({ throttleTimeMs: 0, errorCode: ErrorCode.NOT_COORDINATOR, producerId: -1, producerEpoch: -1 });
    const timedOut = await call('InitProducerId', 4, { transactionalId: null, transactionTimeoutMs: 1000, producerId: -1, producerEpoch: -1 }, () => new KactusError(ErrorCode.REQUEST_TIMED_OUT, 'slow'));
    expect(timedOut.response.errorCode).toBe(ErrorCode.REQUEST_TIMED_OUT);
    const negative = await call('InitProducerId', 4, { transactionalId: 'tx', transactionTimeoutMs: -5, producerId: -1, producerEpoch: -1 }, () => new Error('not asked'));
    expect(negative.response.errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    const empty = await call('InitProducerId', 4, { transactionalId: '', transactionTimeoutMs: 1000, producerId: -1, producerEpoch: -1 }, () => new Error('not asked'));
    expect(empty.response.errorCode).toBe(ErrorCode.INVALID_REQUEST);
    const huge = await call('InitProducerId', 4, { transactionalId: 'tx', transactionTimeoutMs: 1, producerId: 2 ** 62, producerEpoch: 0 }, () => new Error('not asked'));
    expect(huge.response.errorCode).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
  });
});

describe('Kafka AddPartitionsToTxn (v0-3)', () => {
  it('flattens the partitions and regroups the results by topic; a failed ask lands on every partition', async () => {
    for (const v of versions('AddPartitionsToTxn')) {
      const body = { v3AndBelowTransactionalId: 'tx', v3AndBelowProducerId: 4000, v3AndBelowProducerEpoch: 1, v3AndBelowTopics: [{ name: 'a', partitions: [0, 1] }, { name: 'b', partitions: [2] }] };
      const { response, asked } = await call('AddPartitionsToTxn', v, body, () => ({ type: 'AddPartitionsToTxnReply', results: [{ topic: 'a', partition: 0, errorCode: 0 }, { topic: 'a', partition: 1, errorCode: 0 }, { topic: 'b', partition: 2, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] }));
      expect(asked[0]).toEqual({ path: '/transactions', message: { type: 'AddPartitionsToTxn', transactionalId: 'tx', producerId: 4000, producerEpoch: 1, partitions: [{ topic: 'a', partition: 0 }, { topic: 'a', partition: 1 }, { topic: 'b', partition: 2 }], replyTo } });
      expect(response.resultsByTopicV3AndBelow).toEqual([
        { name: 'a', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: 0 }, { partitionIndex: 1, partitionErrorCode: 0 }] },
        { name: 'b', resultsByPartition: [{ partitionIndex: 2, partitionErrorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
      ]);
      const failed = await call('AddPartitionsToTxn', v, body, () => new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, 'stopping'));
      expect((failed.response.resultsByTopicV3AndBelow as KafkaValue[]).flatMap((t) => (t.resultsByPartition as KafkaValue[]).map((p) => p.partitionErrorCode))).toEqual([8, 8, 8]);
    }
  });

  it('v4+ (broker to broker) is not served', () => {
    expect(txnApis.AddPartitionsToTxn!.maxVersion).toBe(3);
  });
});

describe('Kafka AddOffsetsToTxn, EndTxn, TxnOffsetCommit', () => {
  it('AddOffsetsToTxn and EndTxn carry the producer and answer the coordinator code', async () => {
    for (const v of versions('AddOffsetsToTxn')) {
      const { response, asked } = await call('AddOffsetsToTxn', v, { transactionalId: 'tx', producerId: 7, producerEpoch: 2, groupId: 'g' }, () => ({ type: 'AddOffsetsToTxnReply', errorCode: ErrorCode.CONCURRENT_TRANSACTIONS }));
      expect(asked[0]!.message).toEqual({ type: 'AddOffsetsToTxn', transactionalId: 'tx', producerId: 7, producerEpoch: 2, groupId: 'g', replyTo });
      expect(response).toEqual({ throttleTimeMs: 0, errorCode: ErrorCode.CONCURRENT_TRANSACTIONS });
    }
    for (const v of versions('EndTxn')) {
      const { response, asked } = await call('EndTxn', v, { transactionalId: 'tx', producerId: 7, producerEpoch: 2, committed: true }, () => ({ type: 'EndTxnReply', errorCode: 0, producerId: 7, producerEpoch: 3 }));
      expect(asked[0]!.message).toEqual({ type: 'EndTxn', transactionalId: 'tx', producerId: 7, producerEpoch: 2, committed: true, bumpEpochOnEnd: false, replyTo }); // transaction version 1: the epoch is kept
      expect(response).toEqual({ throttleTimeMs: 0, errorCode: 0 });
    }
  });

  it('PRODUCER_FENCED reaches the versions that predate it as INVALID_PRODUCER_EPOCH', async () => {
    const fenced = () => ({ type: 'EndTxnReply', errorCode: ErrorCode.PRODUCER_FENCED, producerId: -1, producerEpoch: -1 });
    for (const v of versions('EndTxn')) {
      const { response } = await call('EndTxn', v, { transactionalId: 'tx', producerId: 7, producerEpoch: 1, committed: false }, fenced);
      expect(response.errorCode).toBe(v < 2 ? ErrorCode.INVALID_PRODUCER_EPOCH : ErrorCode.PRODUCER_FENCED);
    }
    for (const v of versions('InitProducerId')) {
      const { response } = await call('InitProducerId', v, { transactionalId: 'tx', transactionTimeoutMs: 1000, producerId: -1, producerEpoch: -1 }, () => ({ type: 'InitProducerIdReply', errorCode: ErrorCode.PRODUCER_FENCED, errorMessage: null, producerId: -1, producerEpoch: -1 }));
      expect(response.errorCode).toBe(v < 4 ? ErrorCode.INVALID_PRODUCER_EPOCH : ErrorCode.PRODUCER_FENCED);
    }
    const old = await call('AddPartitionsToTxn', 1, { v3AndBelowTransactionalId: 'tx', v3AndBelowProducerId: 7, v3AndBelowProducerEpoch: 1, v3AndBelowTopics: [{ name: 'a', partitions: [0] }] }, () => ({ type: 'AddPartitionsToTxnReply', results: [{ topic: 'a', partition: 0, errorCode: ErrorCode.PRODUCER_FENCED }] }));
    expect(old.response.resultsByTopicV3AndBelow).toEqual([{ name: 'a', resultsByPartition: [{ partitionIndex: 0, partitionErrorCode: ErrorCode.INVALID_PRODUCER_EPOCH }] }]);
  });

  it('TxnOffsetCommit goes to /groups as transaction version 1 (bumpEpochOnEnd false, as EndTxn); member fields from v3 (else none); a top-level error on every partition', async () => {
    for (const v of versions('TxnOffsetCommit')) {
      const body = { transactionalId: 'tx', groupId: 'g', producerId: 7, producerEpoch: 2, generationId: 5, memberId: 'm-1', groupInstanceId: null, topics: [{ name: 'a', partitions: [{ partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 3, committedMetadata: 'x' }] }] };
      const { response, asked } = await call('TxnOffsetCommit', v, body, () => ({ type: 'TxnOffsetCommitReply', errorCode: 0, errorMessage: null, results: [{ topic: 'a', partition: 0, errorCode: 0 }] }));
      expect(asked[0]).toEqual({ path: '/groups', message: { type: 'TxnOffsetCommit', transactionalId: 'tx', groupId: 'g', producerId: 7, producerEpoch: 2, memberId: v >= 3 ? 'm-1' : '', groupInstanceId: null, generationId: v >= 3 ? 5 : -1, offsets: [{ topic: 'a', partition: 0, offset: 42, metadata: 'x' }], bumpEpochOnEnd: false, replyTo } });
      expect(response.topics).toEqual([{ name: 'a', partitions: [{ partitionIndex: 0, errorCode: 0 }] }]);
      const fenced = await call('TxnOffsetCommit', v, body, () => ({ type: 'TxnOffsetCommitReply', errorCode: ErrorCode.NOT_COORDINATOR, errorMessage: 'moved', results: [] }));
      expect(fenced.response.topics).toEqual([{ name: 'a', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.NOT_COORDINATOR }] }]);
    }
  });
});

describe('Kafka DescribeProducers (v0)', () => {
  const producer = { producerId: 4000, producerEpoch: 2, lastSequence: 9, lastTimestampMs: 1_700_000_000_123, coordinatorEpoch: 3, currentTxnStartOffset: 42 };

  it('asks /broker for the legal topics and partitions; answers illegal names and negative partitions itself, in request order', async () => {
    for (const v of versions('DescribeProducers')) {
      const body = { topics: [{ name: 'orders', partitionIndexes: [1, -1, 0] }, { name: 'bad/name', partitionIndexes: [0] }, { name: 'other', partitionIndexes: [5] }] };
      const { response, asked } = await call('DescribeProducers', v, body, () => ({
        type: 'DescribeProducersReply',
        topics: [
          { topic: 'orders', partitions: [{ partition: 1, errorCode: 0, errorMessage: null, activeProducers: [producer] }, { partition: 0, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, errorMessage: 'not here', activeProducers: [] }] },
          { topic: 'other', partitions: [{ partition: 5, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'no', activeProducers: [] }] },
        ],
      }));
      expect(asked).toEqual([{ path: '/broker', message: { type: 'DescribeProducers', topics: [{ topic: 'orders', partitions: [1, 0] }, { topic: 'other', partitions: [5] }], replyTo } }]);
      expect(response).toEqual({
        throttleTimeMs: 0,
        topics: [
          {
            name: 'orders',
            partitions: [
              { partitionIndex: 1, errorCode: 0, errorMessage: null, activeProducers: [{ producerId: 4000, producerEpoch: 2, lastSequence: 9, lastTimestamp: 1_700_000_000_123, coordinatorEpoch: 3, currentTxnStartOffset: 42 }] },
              { partitionIndex: -1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'orders--1 does not exist', activeProducers: [] },
              { partitionIndex: 0, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, errorMessage: 'not here', activeProducers: [] },
            ],
          },
          { name: 'bad/name', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: expect.stringContaining('illegal'), activeProducers: [] }] },
          { name: 'other', partitions: [{ partitionIndex: 5, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'no', activeProducers: [] }] },
        ],
      });
    }
  });

  it('a failed ask lands on every asked partition; nothing legal to ask asks nothing', async () => {
    const failed = await call('DescribeProducers', 0, { topics: [{ name: 'orders', partitionIndexes: [0, 1] }] }, () => new KactusError(ErrorCode.REQUEST_TIMED_OUT, 'slow'));
    expect(((failed.response.topics as KafkaValue[])[0]!.partitions as KafkaValue[]).map((p) => p.errorCode)).toEqual([ErrorCode.REQUEST_TIMED_OUT, ErrorCode.REQUEST_TIMED_OUT]);
    const none = await call('DescribeProducers', 0, { topics: [{ name: '..', partitionIndexes: [0] }] }, () => new Error('not asked'));
    expect(none.asked).toEqual([]);
    expect(((none.response.topics as KafkaValue[])[0]!.partitions as KafkaValue[])[0]!.errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
  });
});

describe('Kafka DescribeTransactions (v0)', () => {
  const ongoing = { transactionalId: 'tx', errorCode: 0, transactionState: 'Ongoing', transactionTimeoutMs: 60_000, transactionStartTimeMs: 1_700_000_000_000, producerId: 4000, producerEpoch: 1, topics: [{ topic: 'orders', partitions: [0, 2] }] };
  const notHere = { transactionalId: 'elsewhere', errorCode: ErrorCode.NOT_COORDINATOR, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: 0, producerId: 0, producerEpoch: 0, topics: [] };

  it('asks /transactions for the ids and answers each in request order (duplicates too)', async () => {
    for (const v of versions('DescribeTransactions')) {
      const { response, asked } = await call('DescribeTransactions', v, { transactionalIds: ['tx', 'elsewhere', 'tx'] }, () => ({ type: 'DescribeTransactionsReply', errorCode: 0, errorMessage: null, transactionStates: [ongoing, notHere, ongoing] }));
      expect(asked).toEqual([{ path: '/transactions', message: { type: 'DescribeTransactions', transactionalIds: ['tx', 'elsewhere', 'tx'], replyTo } }]);
      expect(response).toEqual({ throttleTimeMs: 0, transactionStates: [ongoing, notHere, ongoing] });
    }
  });

  it('a failed or refused ask is each id\'s code; an id longer than any coordinator holds is TRANSACTIONAL_ID_NOT_FOUND without asking', async () => {
    const slow = await call('DescribeTransactions', 0, { transactionalIds: ['a', 'b'] }, () => new KactusError(ErrorCode.REQUEST_TIMED_OUT, 'slow'));
    expect((slow.response.transactionStates as KafkaValue[]).map((t) => [t.transactionalId, t.errorCode])).toEqual([['a', ErrorCode.REQUEST_TIMED_OUT], ['b', ErrorCode.REQUEST_TIMED_OUT]]);
    const refused = await call('DescribeTransactions', 0, { transactionalIds: ['a'] }, () => ({ type: 'DescribeTransactionsReply', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'bad', transactionStates: [] }));
    expect((refused.response.transactionStates as KafkaValue[])[0]).toMatchObject({ transactionalId: 'a', errorCode: ErrorCode.INVALID_REQUEST });
    const long = 'x'.repeat(2_000);
    const tooLong = await call('DescribeTransactions', 0, { transactionalIds: [long] }, () => new Error('not asked'));
    expect(tooLong.asked).toEqual([]);
    expect((tooLong.response.transactionStates as KafkaValue[])[0]).toMatchObject({ transactionalId: long, errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND });
  });

  it('more ids than the native bound are asked in chunks', async () => {
    const ids = Array.from({ length: 10_001 }, (_, i) => `t${i}`);
    const { response, asked } = await call('DescribeTransactions', 0, { transactionalIds: ids }, (_path, message) => ({
      type: 'DescribeTransactionsReply',
      errorCode: 0,
      errorMessage: null,
      transactionStates: (message.transactionalIds as string[]).map((id) => ({ ...notHere, transactionalId: id })),
    }));
    expect(asked.map((a) => (a.message.transactionalIds as string[]).length)).toEqual([10_000, 1]);
    expect((response.transactionStates as KafkaValue[]).map((t) => t.transactionalId)).toEqual(ids);
  });
});

describe('Kafka ListTransactions (v0-1)', () => {
  const listed = { type: 'ListTransactionsReply', errorCode: 0, errorMessage: null, unknownStateFilters: ['Running'], transactionStates: [{ transactionalId: 'tx', producerId: 4000, transactionState: 'Ongoing' }] };

  it('sends the filters (each once; DurationFilter from v1) and answers the coordinator\'s list', async () => {
    for (const v of versions('ListTransactions')) {
      const { response, asked } = await call('ListTransactions', v, { stateFilters: ['Ongoing', 'Running', 'Ongoing'], producerIdFilters: [4000, 4000, 2 ** 60], durationFilter: 5_000 }, () => listed);
      expect(asked).toEqual([{ path: '/transactions', message: { type: 'ListTransactions', stateFilters: ['Ongoing', 'Running'], producerIdFilters: [4000, -1], durationFilterMs: v >= 1 ? 5_000 : -1, replyTo } }]);
      expect(response).toEqual({ throttleTimeMs: 0, errorCode: 0, unknownStateFilters: ['Running'], transactionStates: [{ transactionalId: 'tx', producerId: 4000, transactionState: 'Ongoing' }] });
    }
  });

  it('no filters, a negative duration: everything; load in progress and a failed ask are the top-level code; absurd filters INVALID_REQUEST', async () => {
    const all = await call('ListTransactions', 1, { stateFilters: [], producerIdFilters: [], durationFilter: -7 }, () => listed);
    expect(all.asked[0]!.message).toMatchObject({ stateFilters: [], producerIdFilters: [], durationFilterMs: -1 });
    const loading = await call('ListTransactions', 1, { stateFilters: [], producerIdFilters: [], durationFilter: -1 }, () => ({ ...listed, errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, unknownStateFilters: [], transactionStates: [] }));
    expect(loading.response).toEqual({ throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, unknownStateFilters: [], transactionStates: [] });
    const slow = await call('ListTransactions', 0, { stateFilters: [], producerIdFilters: [] }, () => new KactusError(ErrorCode.REQUEST_TIMED_OUT, 'slow'));
    expect(slow.response.errorCode).toBe(ErrorCode.REQUEST_TIMED_OUT);
    const absurd = await call('ListTransactions', 1, { stateFilters: ['x'.repeat(100)], producerIdFilters: [], durationFilter: -1 }, () => new Error('not asked'));
    expect(absurd.asked).toEqual([]);
    expect(absurd.response.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });
});
