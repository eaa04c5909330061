import { describe, expect, it, vi } from 'vitest';
import { MetadataCache, mergeTopic, metadataMaxIdleMs, type MetadataReply, type TopicMetadata } from './metadata-cache.ts';
import type { Connection } from './connection.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { retryPolicyDefault } from './retry.ts';

const topic = (topicId: string, epochs: number[], leaders: number[]): TopicMetadata => ({
  name: 't',
  topicId,
  isInternal: false,
  partitions: epochs.map((leaderEpoch, partition) => ({ partition, errorCode: 0, leader: leaders[partition]!, leaderEpoch, replicas: [1, 2, 3], isr: [1, 2, 3], offlineReplicas: [] })),
});

describe('metadata cache merge', () => {
  it('keeps a partition whose cached leader epoch is newer than the answer (a lagging broker)', () => {
    const merged = mergeTopic(topic('a', [3, 1], [2, 1]), topic('a', [2, 4], [1, 3]));
    expect(merged.partitions.map((p) => [p.leader, p.leaderEpoch])).toEqual([[2, 3], [3, 4]]);
  });

  it('replaces everything when the topic id changed (deleted and re-created)', () => {
    const merged = mergeTopic(topic('a', [9], [2]), topic('b', [0, 0], [1, 2]));
    expect(merged.topicId).toBe('b');
    expect(merged.partitions.map((p) => p.leaderEpoch)).toEqual([0, 0]);
  });
});


/** A stand-in connection that answers Metadata from a function and counts requests. */
function fakeConnection(answer: (topics: string[] | null) => MetadataReply) {
  const requests: (string[] | null)[] = [];
  const connection = {
    pickBroker: () => 1,
    setBrokers: () => undefined,
    ask: async (_broker: number, _path: string, make: (replyTo: unknown) => { topics: string[] | null }) => {
      const message = make({ node: 'c', path: '/temp/1' });
      requests.push(message.topics);
      await new Promise((r) => setTimeout(r, 5));
      return answer(message.topics);
    },
  } as unknown as Connection;
  return { connection, requests };
}

const reply = (leaderEpoch: number, leader = 1): MetadataReply => ({
  type: 'MetadataReply',
  brokers: [{ brokerId: 1, host: '127.0.0.1', port: 1, rack: null }],
  controllerId: 1,
  topics: [{ errorCode: 0, errorMessage: null, name: 't', topicId: 'id-t', isInternal: false, partitions: [{ partition: 0, errorCode: 0, leader, leaderEpoch, replicas: [1], isr: [1], offlineReplicas: [] }] }],
});

describe('metadata cache refreshes', () => {
  it('shares one request among concurrent refreshes and queues one more for topics it did not cover', async () => {
    const { connection, requests } = fakeConnection(() => reply(0));
    const cache = new MetadataCache(connection, { requestTimeoutMs: 1_000, metadataMaxAgeMs: 60_000, retry: retryPolicyDefault });
    await Promise.all([...Array.from({ length: 10 }, () => cache.refresh(['t'])), cache.refresh(['u']), cache.refresh(['v'])]);
    expect(requests).toEqual([['t'], ['u', 'v']]);
    expect(cache.leaderOf('t', 0)).toBe(1);
    cache.close();
  });

  it('refreshes on NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION and LEADER_NOT_AVAILABLE, not on others', async () => {
    let epoch = 0;
    const { connection, requests } = fakeConnection(() => reply(epoch, epoch + 1));
    const cache = new MetadataCache(connection, { requestTimeoutMs: 1_000, metadataMaxAgeMs: 60_000, retry: retryPolicyDefault });
    await cache.topic('t');
    for (const code of [ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.INVALID_RECORD, ErrorCode.TOPIC_AUTHORIZATION_FAILED]) cache.onError('t', code);
    await new Promise((r) => setTimeout(r, 20));
    expect(requests).toHaveLength(1);
    for (const code of [ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.LEADER_NOT_AVAILABLE]) {
      epoch += 1;
      cache.onError('t', code);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(requests).toHaveLength(4);
    expect(cache.leaderOf('t', 0)).toBe(4);
    cache.close();
  });

  it('refreshes the topics in use every metadataMaxAgeMs', async () => {
    vi.useFakeTimers();
    try {
      const { connection, requests } = fakeConnection(() => reply(0));
      const cache = new MetadataCache(connection, { requestTimeoutMs: 1_000, metadataMaxAgeMs: 1_000, retry: retryPolicyDefault });
      await vi.advanceTimersByTimeAsync(2_500);
      expect(requests).toEqual([]); // nothing in use yet
      cache.track('t');
      await vi.advanceTimersByTimeAsync(3_000);
      expect(requests).toEqual([['t'], ['t'], ['t']]);
      // A topic idle for metadataMaxIdleMs leaves the refresh.
      await vi.advanceTimersByTimeAsync(metadataMaxIdleMs);
      const refreshed = requests.length;
      await vi.advanceTimersByTimeAsync(3_000);
      expect(requests).toHaveLength(refreshed);
      cache.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
