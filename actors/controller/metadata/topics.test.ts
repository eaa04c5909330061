import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import { generateFence } from './brokers.ts';
import { emptyImage, replayBatch, topicByName } from './image.ts';
import { apply, clusterImage, partitionState, withTopic } from './test-fixtures.ts';
import {
  generateCreatePartitions,
  generateCreateTopics,
  generateDeleteTopics,
  validateTopicName,
  type CreatableTopic,
} from './topics.ts';

const topic = (name: string, numPartitions = 1, replicationFactor = 1, extra: Partial<CreatableTopic> = {}): CreatableTopic => ({
  name,
  numPartitions,
  replicationFactor,
  assignments: null,
  configs: [],
  ...extra,
});

const create = (image = clusterImage([1, 2, 3]), ...topics: CreatableTopic[]) =>
  generateCreateTopics(image, { type: 'CreateTopics', topics, validateOnly: false });

describe('topic name collisions', () => {
  it("'.' and '_' collide (INVALID_TOPIC_EXCEPTION); other names are not scanned against every topic", () => {
    let image = replayBatch(clusterImage([1, 2, 3]), create(undefined, topic('a.b'), topic('plain')).records);
    for (const name of ['a_b', 'a.b']) {
      const result = create(image, topic(name));
      expect(result.reply.topics[0]).toMatchObject({ name, errorCode: name === 'a.b' ? ErrorCode.TOPIC_ALREADY_EXISTS : ErrorCode.INVALID_TOPIC_EXCEPTION });
    }
    image = replayBatch(image, create(image, topic('x_y')).records);
    expect(create(image, topic('x.y')).reply.topics[0]!.errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
    expect(create(image, topic('plain2')).reply.topics[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(create(image, topic('a-b')).reply.topics[0]!.errorCode).toBe(ErrorCode.NONE);
  });
});

describe('topic names', () => {
  it.each([
    ['orders', true],
    ['a.b_c-D9', true],
    ['x'.repeat(249), true],
    ['x'.repeat(250), false],
    ['', false],
    ['.', false],
    ['..', false],
    ['...', true],
    ['has space', false],
    ['slash/name', false],
    ['ünicode', false],
    ['__proto__', true],
  ])('%j legal: %s', (name, legal) => {
    expect(validateTopicName(name) === null).toBe(legal);
  });
});

describe('CreateTopics', () => {
  it('creates the topic with placed partitions, leaders = first replica, epochs 0', () => {
    const result = create(undefined, topic('orders', 3, 3));
    expect(result.reply.topics[0]).toMatchObject({ name: 'orders', errorCode: 0, numPartitions: 3, replicationFactor: 3 });
    const image = apply(clusterImage([1, 2, 3]), result);
    expect([0, 1, 2].map((p) => partitionState(image, 'orders', p).leader)).toEqual([1, 2, 3]);
    expect(partitionState(image, 'orders', 1)).toMatchObject({ replicas: [2, 3, 1], isr: [2, 3, 1], leaderEpoch: 0, partitionEpoch: 0 });
    expect(topicByName(image, 'orders')?.topicId).toBe(result.reply.topics[0]?.topicId);
  });

  it.each([
    { name: 'bad name', t: topic('bad name'), errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION },
    { name: 'name too long', t: topic('x'.repeat(250)), errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION },
    { name: 'zero partitions', t: topic('t', 0), errorCode: ErrorCode.INVALID_PARTITIONS },
    { name: 'negative partitions', t: topic('t', -2), errorCode: ErrorCode.INVALID_PARTITIONS },
    { name: 'RF > brokers', t: topic('t', 1, 4), errorCode: ErrorCode.INVALID_REPLICATION_FACTOR },
    { name: 'RF 0', t: topic('t', 1, 0), errorCode: ErrorCode.INVALID_REPLICATION_FACTOR },
    { name: 'unknown config', t: topic('t', 1, 1, { configs: [{ name: 'retention.minutes', value: '1' }] }), errorCode: ErrorCode.INVALID_CONFIG },
    { name: 'bad config value', t: topic('t', 1, 1, { configs: [{ name: 'min.insync.replicas', value: '0' }] }), errorCode: ErrorCode.INVALID_CONFIG },
    { name: 'assignment with counts', t: topic('t', 1, 1, { assignments: [{ partition: 0, brokerIds: [1] }] }), errorCode: ErrorCode.INVALID_REQUEST },
    { name: 'assignment to unknown broker', t: topic('t', -1, -1, { assignments: [{ partition: 0, brokerIds: [9] }] }), errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT },
    { name: 'assignment with a gap', t: topic('t', -1, -1, { assignments: [{ partition: 1, brokerIds: [1] }] }), errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT },
    { name: 'assignment with duplicate broker', t: topic('t', -1, -1, { assignments: [{ partition: 0, brokerIds: [1, 1] }] }), errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT },
    {
      name: 'assignment with uneven RF',
      t: topic('t', -1, -1, { assignments: [{ partition: 0, brokerIds: [1, 2] }, { partition: 1, brokerIds: [3] }] }),
      errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT,
    },
  ])('refuses $name', ({ t, errorCode }) => {
    const result = create(undefined, t);
    expect(result.reply.topics[0]?.errorCode).toBe(errorCode);
    expect(result.reply.topics[0]?.errorMessage).toBeTruthy();
    expect(result.records).toEqual([]);
  });

  it('names the bad config key in the message', () => {
    const result = create(undefined, topic('t', 1, 1, { configs: [{ name: 'retention.ms', value: 'soon' }] }));
    expect(result.reply.topics[0]?.errorMessage).toContain('retention.ms');
  });

  it('RF counts active brokers only: a fenced broker cannot take a replica', () => {
    const image = apply(clusterImage([1, 2, 3]), generateFence(clusterImage([1, 2, 3]), 3));
    expect(create(image, topic('t', 1, 3)).reply.topics[0]?.errorCode).toBe(ErrorCode.INVALID_REPLICATION_FACTOR);
    expect(create(image, topic('t', 1, 2)).reply.topics[0]?.errorCode).toBe(0);
  });

  it('refuses an existing topic, a colliding name, and duplicates in one request; others still succeed', () => {
    const image = withTopic(clusterImage([1, 2, 3]), 'a.b', 1, 1);
    const result = create(image, topic('a.b'), topic('a_b'), topic('dup'), topic('dup'), topic('fine'));
    expect(result.reply.topics.map((t) => t.errorCode)).toEqual([
      ErrorCode.TOPIC_ALREADY_EXISTS,
      ErrorCode.INVALID_TOPIC_EXCEPTION,
      ErrorCode.INVALID_REQUEST,
      ErrorCode.INVALID_REQUEST,
      0,
    ]);
    expect(result.records.filter((r) => r.type === 'Topic')).toHaveLength(1);
  });

  it('two new topics in one request that collide: the second is refused', () => {
    const result = create(undefined, topic('x.y'), topic('x_y'));
    expect(result.reply.topics.map((t) => t.errorCode)).toEqual([0, ErrorCode.INVALID_TOPIC_EXCEPTION]);
  });

  it('validateOnly answers without records', () => {
    const result = generateCreateTopics(clusterImage([1]), { type: 'CreateTopics', topics: [topic('t')], validateOnly: true });
    expect(result.reply.topics[0]?.errorCode).toBe(0);
    expect(result.records).toEqual([]);
  });

  it('-1 uses the defaults given', () => {
    const result = generateCreateTopics(
      clusterImage([1, 2, 3]),
      { type: 'CreateTopics', topics: [topic('t', -1, -1)], validateOnly: false },
      { numPartitions: 6, replicationFactor: 2 },
    );
    expect(result.reply.topics[0]).toMatchObject({ numPartitions: 6, replicationFactor: 2 });
  });

  it('manual assignment: ISR = active replicas, leader = first active', () => {
    const base = clusterImage([1, 2, 3]);
    const image = apply(base, generateFence(base, 2));
    const result = create(image, topic('m', -1, -1, { assignments: [{ partition: 0, brokerIds: [2, 3, 1] }] }));
    expect(result.reply.topics[0]?.errorCode).toBe(0);
    expect(partitionState(apply(image, result), 'm', 0)).toMatchObject({ replicas: [2, 3, 1], isr: [3, 1], leader: 3 });
  });

  it('rack-aware when every broker has a rack: each partition spans three racks', () => {
    const racks = new Map([[1, 'a'], [2, 'a'], [3, 'b'], [4, 'b'], [5, 'c'], [6, 'c']]);
    const image = clusterImage([...racks].map(([brokerId, rack]) => ({ brokerId, rack })));
    const after = apply(image, create(image, topic('r', 6, 3)));
    for (let p = 0; p < 6; p++) {
      const replicas = partitionState(after, 'r', p).replicas;
      expect(new Set(replicas.map((id) => racks.get(id))).size).toBe(3);
    }
  });

  it('topic ids are never reused, even after a delete', () => {
    let image = withTopic(clusterImage([1]), 't', 1, 1);
    const firstId = topicByName(image, 't')?.topicId;
    image = apply(image, generateDeleteTopics(image, { type: 'DeleteTopics', topics: ['t'] }));
    image = withTopic(image, 't', 1, 1);
    expect(topicByName(image, 't')?.topicId).not.toBe(firstId);
  });
});

describe('DeleteTopics', () => {
  it('removes known topics, UNKNOWN_TOPIC_OR_PARTITION for the rest', () => {
    const image = withTopic(clusterImage([1]), 't', 2, 1);
    const result = generateDeleteTopics(image, { type: 'DeleteTopics', topics: ['t', 'nope'] });
    expect(result.reply.topics.map((t) => t.errorCode)).toEqual([0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
    const after = apply(image, result);
    expect(topicByName(after, 't')).toBeUndefined();
    expect(after.topicsById.size).toBe(0);
  });
});

describe('CreatePartitions', () => {
  const image = withTopic(clusterImage([1, 2, 3]), 't', 2, 3);
  const createPartitions = (count: number, assignments: number[][] | null = null, name = 't') =>
    generateCreatePartitions(image, { type: 'CreatePartitions', topics: [{ name, count, assignments }], validateOnly: false });

  it('adds partitions continuing the placement pattern', () => {
    const after = apply(image, createPartitions(5));
    expect([0, 1, 2, 3, 4].map((p) => partitionState(after, 't', p).leader)).toEqual([1, 2, 3, 1, 2]);
    expect(partitionState(after, 't', 4).replicas).toHaveLength(3);
  });

  it.each([
    { name: 'unknown topic', count: 3, assignments: null, topicName: 'nope', errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
    { name: 'same count', count: 2, assignments: null, topicName: 't', errorCode: ErrorCode.INVALID_PARTITIONS },
    { name: 'fewer', count: 1, assignments: null, topicName: 't', errorCode: ErrorCode.INVALID_PARTITIONS },
    { name: 'wrong assignment count', count: 4, assignments: [[1, 2, 3]], topicName: 't', errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT },
    { name: 'wrong assignment RF', count: 3, assignments: [[1, 2]], topicName: 't', errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT },
  ])('refuses $name', ({ count, assignments, topicName, errorCode }) => {
    const result = createPartitions(count, assignments, topicName);
    expect(result.reply.topics[0]?.errorCode).toBe(errorCode);
    expect(result.records).toEqual([]);
  });

  it('accepts a manual assignment', () => {
    const after = apply(image, createPartitions(3, [[3, 1, 2]]));
    expect(partitionState(after, 't', 2)).toMatchObject({ replicas: [3, 1, 2], leader: 3 });
  });
});

describe('replay of CreateTopics', () => {
  it('an empty cluster cannot host a topic', () => {
    const result = create(emptyImage, topic('t'));
    expect(result.reply.topics[0]?.errorCode).toBe(ErrorCode.INVALID_REPLICATION_FACTOR);
    expect(replayBatch(emptyImage, result.records)).toBe(emptyImage);
  });
});
