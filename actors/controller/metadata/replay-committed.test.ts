/**
 * Committed records that do not apply are skipped, never asserted on. Goal: a
 * shape-valid record that came over the network (a RemoveTopic for an unknown
 * topic id, a PartitionChange for a partition that does not exist, ...)
 * leaves the image as it was, is reported with its reason and counted, and
 * the records around it still apply; and a follower refuses to persist an
 * AppendEntries whose entries are not valid records. Method: pure tables over
 * replayCommitted, applyCommittedEntry and refuseToPersist.
 */
import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { encodeImage } from '../image-codec.ts';
import { encodeRecords, refuseToPersist } from '../actor.ts';
import { applyCommitted, applyCommittedEntry, initialControllerState } from './controller-state.ts';
import { controllerConfigDefault } from './controller-state.ts';
import { replayCommitted, topicByName } from './image.ts';
import type { MetadataRecord } from './records.ts';
import { clusterImage, partitionState, withTopic } from './test-fixtures.ts';
import type { Message as RaftProtocolMessage } from '../raft/types.ts';

const image = Object.freeze({ ...withTopic(clusterImage([1, 2, 3]), 't', 2, 3), appliedOffset: 10 });
const topicId = topicByName(image, 't')!.topicId;

const unapplicable: [string, MetadataRecord][] = [
  ['removing an unknown topic id', { type: 'RemoveTopic', topicId: 'nope' }],
  ['a change for an unknown partition', { type: 'PartitionChange', topicId, partition: 5, isr: [1] }],
  ['a change for an unknown topic', { type: 'PartitionChange', topicId: 'nope', partition: 0, isr: [1] }],
  ['a leader outside the ISR', { type: 'PartitionChange', topicId, partition: 0, leader: 3, isr: [1, 2] }],
  ['an empty ISR', { type: 'PartitionChange', topicId, partition: 0, leader: -1, isr: [] }],
  ['an ISR member that is not a replica', { type: 'PartitionChange', topicId, partition: 0, isr: [1, 7] }],
  ['a partition out of order', { type: 'Partition', topicId, partition: 5, replicas: [1], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 0 }],
  ['a partition of an unknown topic', { type: 'Partition', topicId: 'nope', partition: 0, replicas: [1], isr: [1], leader: 1, leaderEpoch: 0, partitionEpoch: 0 }],
  ['a duplicate topic name', { type: 'Topic', name: 't', topicId: 'other', configs: [] }],
  ['a duplicate topic id', { type: 'Topic', name: 'u', topicId, configs: [] }],
  ['a fence with the wrong broker epoch', { type: 'FenceBroker', brokerId: 1, brokerEpoch: 99 }],
  ['an unfence of an unknown broker', { type: 'UnfenceBroker', brokerId: 9, brokerEpoch: 1 }],
  ['a registration that does not raise the epoch', { type: 'RegisterBroker', brokerId: 1, incarnationId: 'x', brokerEpoch: 1, host: 'h', port: 1, rack: null, fenced: true }],
  ['a producer id cursor going back', { type: 'ProducerIds', brokerId: 1, brokerEpoch: 1, nextProducerId: 0 }],
  ['a config for an unknown topic', { type: 'Config', resourceType: 'topic', resourceName: 'nope', name: 'retention.ms', value: '1' }],
];

describe('replayCommitted', () => {
  it.each(unapplicable)('skips %s: the image is unchanged but for the applied offset, the record is reported', (_name, record) => {
    let outcome: ReturnType<typeof replayCommitted> | undefined;
    expect(() => (outcome = replayCommitted(image, [record], 11))).not.toThrow();
    const { image: next, skipped } = outcome!;
    expect({ ...next, appliedOffset: image.appliedOffset }).toEqual(image);
    expect(next.topicsById).toBe(image.topicsById);
    expect(next.brokers).toBe(image.brokers);
    expect(next.appliedOffset).toBe(11);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ offset: 11, index: 0, type: record.type });
    expect(skipped[0]!.problem.length).toBeGreaterThan(0);
  });

  it('a RemoveTopic for an unknown id leaves the image unchanged and does not throw', () => {
    const { image: next, skipped } = replayCommitted(image, [{ type: 'RemoveTopic', topicId: 'a0000000-0000-4000-8000-00000000ffff' }], 11);
    expect(topicByName(next, 't')?.topicId).toBe(topicId);
    expect(next.topicIdsByName).toBe(image.topicIdsByName);
    expect(skipped.map((s) => s.problem)).toEqual(['RemoveTopic: unknown topic id a0000000-0000-4000-8000-00000000ffff']);
  });

  it('the records around a skipped one still apply, in order', () => {
    const records: MetadataRecord[] = [
      { type: 'PartitionChange', topicId, partition: 0, isr: [1, 2] },
      { type: 'RemoveTopic', topicId: 'nope' },
      { type: 'PartitionChange', topicId, partition: 9, isr: [1] },
      { type: 'PartitionChange', topicId, partition: 1, isr: [2, 3] },
    ];
    const { image: next, skipped } = replayCommitted(image, records, 11);
    expect(partitionState(next, 't', 0).isr).toEqual([1, 2]);
    expect(partitionState(next, 't', 1).isr).toEqual([2, 3]);
    expect(skipped.map((s) => s.index)).toEqual([1, 2]);
  });

  it('an offset that does not increase skips the entry whole instead of asserting', () => {
    const { image: next, skipped } = replayCommitted(image, [{ type: 'PartitionChange', topicId, partition: 0, isr: [1, 2] }], 10);
    expect(next).toBe(image);
    expect(skipped).toHaveLength(1);
  });

  it('every node skips the same records of the same log: replay stays deterministic', () => {
    const records: MetadataRecord[] = unapplicable.map(([, record]) => record);
    const a = replayCommitted(image, records, 11);
    const b = replayCommitted(image, structuredClone(records), 11);
    expect(a.image).toEqual(b.image);
    expect(a.skipped).toEqual(b.skipped);
    expect(a.skipped).toHaveLength(records.length);
  });
});

describe('applyCommitted', () => {
  it('counts the skipped records and keeps going', () => {
    const state = initialControllerState(controllerConfigDefault, image);
    const first = applyCommittedEntry(state, [{ type: 'RemoveTopic', topicId: 'nope' }], 11);
    expect(first.skipped).toHaveLength(1);
    expect(first.state.recordsSkippedCount).toBe(1);
    expect(first.state.committedImage.topicsById).toBe(image.topicsById);
    const second = applyCommitted(first.state, [{ type: 'PartitionChange', topicId, partition: 7, isr: [1] }, { type: 'RemoveTopic', topicId }], 12);
    expect(second.recordsSkippedCount).toBe(2);
    expect(topicByName(second.committedImage, 't')).toBeUndefined();
    expect(second.committedImage.appliedOffset).toBe(12);
  });
});

describe('a follower checks what it persists (refuseToPersist)', () => {
  const packr = new Packr({ useRecords: false, bundleStrings: false, moreTypes: false });
  const append = (entries: Uint8Array[]): RaftProtocolMessage => ({
    type: 'AppendEntries',
    from: 2,
    to: 1,
    term: 3,
    prevLogIndex: 4,
    prevLogTerm: 3,
    entries: entries.map((data, i) => ({ index: 5 + i, term: 3, data })),
    leaderCommit: 4,
  });

  it('takes entries of valid records, and empty (no-op) entries', () => {
    expect(refuseToPersist(append([encodeRecords([{ type: 'NoOp' }]), new Uint8Array(0), encodeRecords([{ type: 'RemoveTopic', topicId: 'nope' }])]))).toBeNull();
  });

  it.each<[string, Uint8Array]>([
    ['not msgpack', new Uint8Array([0xc1, 0xc1, 0xc1])],
    ['not an array of records', new Uint8Array(packr.pack({ type: 'NoOp' }))],
    ['an unknown record type', new Uint8Array(packr.pack([{ type: 'DropEverything' }]))],
    ['a record with a hostile field', new Uint8Array(packr.pack([{ type: 'RemoveTopic', topicId: { toString: 0 } }]))],
    ['a record type that is not a string', new Uint8Array(packr.pack([{ type: { toString: 0 } }]))],
  ])('refuses an AppendEntries with an entry that is %s', (_name, data) => {
    const reason = refuseToPersist(append([encodeRecords([{ type: 'NoOp' }]), data]));
    expect(reason).not.toBeNull();
    expect(reason).toContain('entry[6]');
  });

  it('refuses an InstallSnapshot whose image does not decode, takes one that does', () => {
    const snapshot = (data: Uint8Array): RaftProtocolMessage => ({ type: 'InstallSnapshot', from: 2, to: 1, term: 3, snapshot: { index: 9, term: 3, voters: [1, 2, 3], data } });
    expect(refuseToPersist(snapshot(new Uint8Array(packr.pack({ not: 'an image' }))))).not.toBeNull();
    expect(refuseToPersist(snapshot(encodeImage(image)))).toBeNull();
  });
});
