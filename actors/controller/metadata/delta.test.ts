import { describe, expect, it } from 'vitest';
import { generateFence } from './brokers.ts';
import { diffForBroker } from './delta.ts';
import { emptyImage, topicByName } from './image.ts';
import { generateAlterPartition } from './partitions.ts';
import { apply, brokerEpochOf, clusterImage, withTopic } from './test-fixtures.ts';
import { generateDeleteTopics } from './topics.ts';

const cluster = clusterImage([1, 2, 3]);
const image = withTopic(cluster, 't', 3, 3);
const summary = (changes: ReturnType<typeof diffForBroker>) => changes.map((c) => `${c.type} ${c.topic}-${c.partition} leader=${c.leader} epoch=${c.leaderEpoch}`);

describe('diffForBroker', () => {
  it('a new topic: the broker leads what it is first replica of and follows the rest', () => {
    expect(summary(diffForBroker(cluster, image, 2))).toEqual([
      'BecomeLeader t-1 leader=2 epoch=0',
      'BecomeFollower t-0 leader=1 epoch=0',
      'BecomeFollower t-2 leader=3 epoch=0',
    ]);
  });

  it('a broker starting from nothing sees every hosted partition', () => {
    expect(diffForBroker(emptyImage, image, 3)).toHaveLength(3);
    expect(diffForBroker(emptyImage, image, 4)).toEqual([]);
  });

  it('the same image yields nothing', () => {
    expect(diffForBroker(image, image, 1)).toEqual([]);
  });

  it('failover: the new leader becomes leader with epoch + 1; the other follower re-follows; the fenced broker follows', () => {
    const after = apply(image, generateFence(image, 1));
    expect(summary(diffForBroker(image, after, 2))).toEqual(['BecomeLeader t-0 leader=2 epoch=1', 'BecomeLeader t-1 leader=2 epoch=0']);
    expect(summary(diffForBroker(image, after, 3))).toEqual(['BecomeLeader t-2 leader=3 epoch=0', 'BecomeFollower t-0 leader=2 epoch=1']);
    expect(summary(diffForBroker(image, after, 1))).toEqual(['BecomeFollower t-0 leader=2 epoch=1']);
  });

  it('an ISR change concerns the leader only', () => {
    const topicId = topicByName(image, 't')!.topicId;
    const after = apply(
      image,
      generateAlterPartition(image, {
        type: 'AlterPartition',
        brokerId: 1,
        brokerEpoch: brokerEpochOf(image, 1),
        topics: [{ topicId, partitions: [{ partition: 0, leaderEpoch: 0, partitionEpoch: 0, newIsr: [{ brokerId: 1, brokerEpoch: -1 }, { brokerId: 2, brokerEpoch: -1 }] }] }],
      }),
    );
    expect(diffForBroker(image, after, 1)).toEqual([
      expect.objectContaining({ type: 'BecomeLeader', partition: 0, isr: [1, 2], partitionEpoch: 1, leaderEpoch: 0 }),
    ]);
    expect(diffForBroker(image, after, 2)).toEqual([]);
    expect(diffForBroker(image, after, 3)).toEqual([]);
  });

  it('a deleted topic stops its replicas, first in the list, with deleted = true', () => {
    const withOther = withTopic(image, 'a', 1, 1);
    const deleted = apply(withOther, generateDeleteTopics(withOther, { type: 'DeleteTopics', topics: ['t'] }));
    const changes = diffForBroker(withOther, deleted, 1);
    expect(changes.map((c) => [c.type, c.partition, c.deleted])).toEqual([
      ['StopReplica', 0, true],
      ['StopReplica', 1, true],
      ['StopReplica', 2, true],
    ]);
  });

  it('a topic re-created under the same name: stop the old, become the new (matched by topic id)', () => {
    const deleted = apply(image, generateDeleteTopics(image, { type: 'DeleteTopics', topics: ['t'] }));
    const recreated = withTopic(deleted, 't', 1, 3);
    const changes = diffForBroker(image, recreated, 1);
    expect(changes.map((c) => c.type)).toEqual(['StopReplica', 'StopReplica', 'StopReplica', 'BecomeLeader']);
    expect(changes[3]?.topicId).not.toBe(changes[0]?.topicId);
  });
});
