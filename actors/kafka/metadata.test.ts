/**
 * Metadata through the Kafka listener: which topics a request names in each
 * version, and the answer in the addresses of the listener it came in on.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { zeroUuid } from '../../protocol/kafka/codec.ts';
import type { MetadataResponse } from '../controller/metadata/index.ts';
import { kafkaMetadataBody, metadataTopicsRequested } from './metadata.ts';

const native: MetadataResponse = {
  controllerId: 2,
  brokers: [
    { brokerId: 1, host: 'h1', port: 9191, rack: 'a', listeners: [{ name: 'PLAINTEXT', host: 'k1', port: 9092 }] },
    { brokerId: 2, host: 'h2', port: 9192, rack: null, listeners: [] },
  ],
  topics: [
    { errorCode: 0, errorMessage: null, name: 't', topicId: 'a0000000-0000-4000-8000-000000000001', isInternal: false, partitions: [
      { errorCode: 0, partition: 0, leader: 1, leaderEpoch: 3, replicas: [1, 2], isr: [1, 2], offlineReplicas: [] },
      { errorCode: 0, partition: 1, leader: 2, leaderEpoch: 1, replicas: [2, 1], isr: [2], offlineReplicas: [] },
    ] },
  ],
};

describe('Kafka Metadata', () => {
  it('names the topics asked for: v0 [] and v1+ null mean all, ids are looked up', () => {
    expect(metadataTopicsRequested(0, { topics: [] })).toEqual({ names: null, ids: [] });
    expect(metadataTopicsRequested(1, { topics: [] })).toEqual({ names: [], ids: [] });
    expect(metadataTopicsRequested(1, { topics: null })).toEqual({ names: null, ids: [] });
    expect(metadataTopicsRequested(9, { topics: [{ name: 'a' }, { name: 'b' }] })).toEqual({ names: ['a', 'b'], ids: [] });
    expect(metadataTopicsRequested(12, { topics: [{ name: null, topicId: 'a0000000-0000-4000-8000-000000000001' }] })).toEqual({ names: null, ids: ['a0000000-0000-4000-8000-000000000001'] });
  });

  it('lists brokers at the address of this listener; a partition led by a broker without it is LEADER_NOT_AVAILABLE', () => {
    const body = kafkaMetadataBody(native, 'PLAINTEXT', { names: null, ids: [] });
    expect(body.brokers).toEqual([{ nodeId: 1, host: 'k1', port: 9092, rack: 'a' }]);
    expect(body.controllerId).toBe(2);
    const partitions = (body.topics as { partitions: { errorCode: number; leaderId: number }[] }[])[0]!.partitions;
    expect(partitions.map((p) => [p.leaderId, p.errorCode])).toEqual([[1, 0], [2, ErrorCode.LEADER_NOT_AVAILABLE]]);
  });

  it('answers a topic id it does not know with UNKNOWN_TOPIC_ID', () => {
    const body = kafkaMetadataBody(native, 'PLAINTEXT', { names: null, ids: ['a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000009'] });
    expect((body.topics as { name: string; errorCode: number; topicId: string }[]).map((t) => [t.name, t.errorCode])).toEqual([['t', 0], ['', ErrorCode.UNKNOWN_TOPIC_ID]]);
    expect(kafkaMetadataBody({ ...native, topics: [{ ...native.topics[0]!, topicId: null }] }, 'PLAINTEXT', { names: null, ids: [] }).topics).toMatchObject([{ topicId: zeroUuid }]);
  });
});
