import { describe, expect, it } from 'vitest';
import { mergeTopic, type TopicMetadata } from './metadata-cache.ts';

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
