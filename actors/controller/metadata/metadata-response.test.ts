import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import { generateFence } from './brokers.ts';
import { buildMetadataResponse } from './metadata-response.ts';
import { apply, clusterImage, withTopic } from './test-fixtures.ts';

describe('Metadata response', () => {
  let image = withTopic(withTopic(clusterImage([1, 2, 3]), 'b', 1, 2), 'a', 3, 3);
  image = apply(image, generateFence(image, 1));
  image = apply(image, generateFence(image, 2));

  it('lists active brokers, the controller, and every topic sorted by name', () => {
    const response = buildMetadataResponse(image, { topics: null }, 3);
    expect(response.brokers).toEqual([{ brokerId: 3, host: 'localhost', port: 9003, rack: null, listeners: [] }]);
    expect(response.controllerId).toBe(3);
    expect(response.topics.map((t) => t.name)).toEqual(['a', 'b']);
    expect(response.topics[0]?.partitions[0]).toEqual({
      errorCode: 0,
      partition: 0,
      leader: 3,
      leaderEpoch: 2,
      replicas: [1, 2, 3],
      isr: [3],
      offlineReplicas: [1, 2],
    });
  });

  it('a leaderless partition is LEADER_NOT_AVAILABLE', () => {
    // b-0 has replicas [1, 2]: both fenced, 2 was the last ISR member.
    const b = buildMetadataResponse(image, { topics: ['b'] }, 3).topics[0];
    expect(b?.partitions[0]).toMatchObject({ errorCode: ErrorCode.LEADER_NOT_AVAILABLE, leader: -1, isr: [2], offlineReplicas: [1, 2] });
  });

  it('requested topics: unknown and illegal names get errors; duplicates answered once', () => {
    const response = buildMetadataResponse(image, { topics: ['nope', 'a', 'bad name', 'a'] }, -1);
    expect(response.topics.map((t) => [t.name, t.errorCode])).toEqual([
      ['nope', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
      ['a', 0],
      ['bad name', ErrorCode.INVALID_TOPIC_EXCEPTION],
    ]);
    expect(response.topics[0]?.topicId).toBeNull();
  });

  it('internal topics are flagged', () => {
    const internal = withTopic(clusterImage([1]), '__consumer_offsets', 1, 1);
    expect(buildMetadataResponse(internal, { topics: null }, 1).topics[0]?.isInternal).toBe(true);
  });
});
