import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../runtime/assert.ts';
import { applyRecord, emptyImage, replay, replayBatch, replayCommitted, topicByName, topicsSortedByName, type MetadataImage } from './image.ts';
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

/** Everything an image says, as plain data (Maps as sorted entry lists), to compare two images by value. */
function plain(image: MetadataImage): unknown {
  const entries = <K, V>(map: ReadonlyMap<K, V>, value: (v: V) => unknown = (v) => v): unknown => [...map].map(([k, v]) => [k, value(v)]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return {
    ...image,
    brokers: entries(image.brokers),
    topicsById: entries(image.topicsById, (t) => ({ ...t, configs: entries(t.configs) })),
    topicIdsByName: entries(image.topicIdsByName),
    brokerConfigs: entries(image.brokerConfigs, (c) => entries(c)),
  };
}

describe('replay scope (batches change their own copies in place)', () => {
  /** Records over three topics and three brokers, many of which do not apply (replayCommitted skips those). */
  const recordArb: fc.Arbitrary<MetadataRecord> = fc.oneof(
    fc.record({ type: fc.constant('Topic' as const), name: fc.constantFrom('t', 'u', 'v'), topicId: fc.constantFrom('id-t', 'id-u', 'id-v'), configs: fc.constant([]) }),
    fc.record({ type: fc.constant('Partition' as const), topicId: fc.constantFrom('id-t', 'id-u', 'id-v', topicId), partition: fc.integer({ min: 0, max: 4 }), replicas: fc.constant([1, 2, 3]), isr: fc.constantFrom([1, 2, 3], [2]), leader: fc.constantFrom(1, 2), leaderEpoch: fc.constant(0), partitionEpoch: fc.constant(0) }),
    fc.record({ type: fc.constant('PartitionChange' as const), topicId: fc.constantFrom('id-t', 'id-u', topicId), partition: fc.integer({ min: 0, max: 4 }), leader: fc.constantFrom(1, 2, 3), isr: fc.constantFrom([1, 2, 3], [1, 2], [3]) }),
    fc.record({ type: fc.constant('RemoveTopic' as const), topicId: fc.constantFrom('id-t', 'id-u', topicId) }),
    fc.record({ type: fc.constant('Config' as const), resourceType: fc.constantFrom('topic' as const, 'broker' as const), resourceName: fc.constantFrom('t', 'u', '', '1'), name: fc.constantFrom('retention.ms', 'segment.ms'), value: fc.constantFrom('1', '2', null) }),
    fc.record({ type: fc.constantFrom('FenceBroker' as const, 'UnfenceBroker' as const), brokerId: fc.constantFrom(1, 2, 3), brokerEpoch: fc.constantFrom(1, 2, 3) }),
  );

  it('a batch replays to the same image as its records one by one, and leaves its input image as it was', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 40 }), fc.array(recordArb, { maxLength: 40 }), (first, second) => {
        // One record at a time, each outside any scope: every change copies (the reference).
        const oneByOne = (from: MetadataImage, records: readonly MetadataRecord[]): MetadataImage =>
          records.reduce<MetadataImage>((acc, record) => {
            const next = applyRecord(acc, record);
            return typeof next === 'string' ? acc : next;
          }, from);
        const before = plain(image);
        const a = replayCommitted(image, first, image.appliedOffset + 1).image;
        expect(plain(a)).toEqual({ ...(plain(oneByOne(image, first)) as object), appliedOffset: image.appliedOffset + 1 });
        expect(plain(image)).toEqual(before);
        // A second batch from the first one's image must not change that image either (its Maps are a past scope's).
        const afterFirst = plain(a);
        const b = replayCommitted(a, second, a.appliedOffset + 1).image;
        expect(plain(a)).toEqual(afterFirst);
        expect(plain(b)).toEqual({ ...(plain(oneByOne(a, second)) as object), appliedOffset: a.appliedOffset + 1 });
        for (const topic of b.topicsById.values()) {
          expect(Object.isFrozen(topic.partitions)).toBe(true);
          for (const p of topic.partitions) expect(Object.isFrozen(p)).toBe(true);
        }
        expect(topicsSortedByName(b).map((t) => t.name)).toEqual([...b.topicIdsByName.keys()].sort());
      }),
    );
  });

  it('a failed batch (replayBatch asserts) leaves no scope behind: the next single replay copies again', () => {
    expect(() => replayBatch(image, [{ type: 'PartitionChange', topicId, partition: 0, isr: [1, 2] }, { type: 'RemoveTopic', topicId: 'nope' }])).toThrow(AssertionError);
    const next = replay(image, { type: 'PartitionChange', topicId, partition: 0, isr: [1, 2] });
    expect(next.topicsById).not.toBe(image.topicsById);
    expect(partitionState(image, 't', 0).isr).toEqual([1, 2, 3]);
    expect(Object.isFrozen(topicByName(next, 't')!.partitions)).toBe(true);
  });

  it('creating a 10,000-partition topic and fencing its leader replays in linear time (one copy per batch)', () => {
    const records: MetadataRecord[] = [{ type: 'Topic', name: 'big', topicId: 'id-big', configs: [] }];
    for (let partition = 0; partition < 10_000; partition += 1) records.push({ type: 'Partition', topicId: 'id-big', partition, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1, leaderEpoch: 0, partitionEpoch: 0 });
    const created = replayBatch(image, records);
    const moved = replayBatch(created, records.slice(1).map((r) => ({ type: 'PartitionChange' as const, topicId: 'id-big', partition: (r as { partition: number }).partition, leader: 2, isr: [2, 3] })));
    const big = topicByName(moved, 'big')!;
    expect(big.partitions).toHaveLength(10_000);
    expect(big.partitions.every((p) => p.leader === 2 && p.leaderEpoch === 1)).toBe(true);
    expect(topicByName(created, 'big')!.partitions.every((p) => p.leader === 1)).toBe(true);
  });
});
