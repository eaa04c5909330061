import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../runtime/assert.ts';
import { emptyImage, replay, replayBatch, topicByName } from './image.ts';
import type { MetadataRecord } from './records.ts';
import { clusterImage, partitionState, withTopic } from './test-fixtures.ts';

const image = withTopic(clusterImage([1, 2, 3]), 't', 2, 3);
const topicId = topicByName(image, 't')!.topicId;

describe('replay', () => {
  it('a PartitionChange with a leader bumps leaderEpoch and partitionEpoch; ISR only bumps partitionEpoch', () => {
    const moved = replay(image, { type: 'PartitionChange', topicId, partition: 0, leader: 2, isr: [2, 3] });
    expect(partitionState(moved, 't', 0)).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1, partitionEpoch: 1 });
    const shrunk = replay(moved, { type: 'PartitionChange', topicId, partition: 0, isr: [2] });
    expect(partitionState(shrunk, 't', 0)).toMatchObject({ leader: 2, isr: [2], leaderEpoch: 1, partitionEpoch: 2 });
  });

  it('never mutates: the old image is unchanged, new objects are frozen, untouched parts are shared', () => {
    const before = partitionState(image, 't', 0);
    const next = replay(image, { type: 'PartitionChange', topicId, partition: 0, isr: [1, 2] });
    expect(partitionState(image, 't', 0)).toBe(before);
    expect(partitionState(image, 't', 0).isr).toEqual([1, 2, 3]);
    expect(partitionState(next, 't', 1)).toBe(partitionState(image, 't', 1));
    expect(next.brokers).toBe(image.brokers);
    expect(Object.isFrozen(next)).toBe(true);
    expect(Object.isFrozen(partitionState(next, 't', 0))).toBe(true);
    expect(Object.isFrozen(partitionState(next, 't', 0).isr)).toBe(true);
    expect(() => (partitionState(next, 't', 0).isr as number[]).push(9)).toThrow(TypeError);
  });

  it.each<[string, MetadataRecord]>([
    ['a change for an unknown partition', { type: 'PartitionChange', topicId, partition: 5, isr: [1] }],
    ['a change for an unknown topic', { type: 'PartitionChange', topicId: 'nope', partition: 0, isr: [1] }],
    ['a leader outside the ISR', { type: 'PartitionChange', topicId, partition: 0, leader: 3, isr: [1, 2] }],
    ['an empty ISR', { type: 'PartitionChange', topicId, partition: 0, leader: -1, isr: [] }],
    ['an ISR member that is not a replica', { type: 'PartitionChange', topicId, partition: 0, isr: [1, 7] }],
    ['a partition out of order', { type: 'Partition', topicId, partition: 5, replicas: [1], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 0 }],
    ['a duplicate topic name', { type: 'Topic', name: 't', topicId: 'other', configs: [] }],
    ['a fence with the wrong broker epoch', { type: 'FenceBroker', brokerId: 1, brokerEpoch: 99 }],
    ['a fence of an unknown broker', { type: 'FenceBroker', brokerId: 9, brokerEpoch: 1 }],
    ['a registration that does not raise the epoch', { type: 'RegisterBroker', brokerId: 1, incarnationId: 'x', brokerEpoch: 1, host: 'h', port: 1, rack: null, fenced: true }],
    ['a producer id cursor going back', { type: 'ProducerIds', brokerId: 1, brokerEpoch: 1, nextProducerId: 0 }],
    ['a config for an unknown topic', { type: 'Config', resourceType: 'topic', resourceName: 'nope', name: 'retention.ms', value: '1' }],
    ['removing an unknown topic', { type: 'RemoveTopic', topicId: 'nope' }],
  ])('asserts on %s (a bug when generated; replayCommitted skips it instead)', (_name, record) => {
    expect(() => replay(image, record)).toThrow(AssertionError);
  });

  it('replayBatch records the applied offset, which must increase', () => {
    const next = replayBatch(emptyImage, [{ type: 'NoOp' }], 7);
    expect(next.appliedOffset).toBe(7);
    expect(() => replayBatch(next, [{ type: 'NoOp' }], 7)).toThrow(AssertionError);
    expect(replayBatch(next, [{ type: 'NoOp' }]).appliedOffset).toBe(7);
  });

  it('config records set and remove overrides; RemoveTopic drops the topic and its name', () => {
    const set = replay(image, { type: 'Config', resourceType: 'topic', resourceName: 't', name: 'retention.ms', value: '1000' });
    expect(topicByName(set, 't')?.configs.get('retention.ms')).toBe('1000');
    const unset = replay(set, { type: 'Config', resourceType: 'topic', resourceName: 't', name: 'retention.ms', value: null });
    expect(topicByName(unset, 't')?.configs.has('retention.ms')).toBe(false);
    const removed = replay(unset, { type: 'RemoveTopic', topicId });
    expect(removed.topicIdsByName.has('t')).toBe(false);
    expect(removed.topicsById.has(topicId)).toBe(false);
  });

  it('records survive a msgpack-style round trip (plain data only)', () => {
    const records: MetadataRecord[] = [
      { type: 'RegisterBroker', brokerId: 1, incarnationId: 'i', brokerEpoch: 1, host: 'h', port: 1, rack: null, fenced: true },
      { type: 'Topic', name: '__proto__', topicId: 'id', configs: [{ name: 'retention.ms', value: '5' }] },
    ];
    const copy = JSON.parse(JSON.stringify(records)) as MetadataRecord[];
    const a = replayBatch(emptyImage, records);
    const b = replayBatch(emptyImage, copy);
    expect(topicByName(b, '__proto__')?.configs.get('retention.ms')).toBe('5');
    expect([...b.brokers.values()]).toEqual([...a.brokers.values()]);
  });
});
