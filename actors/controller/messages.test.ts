/**
 * The controller's wire protocol: validators turn any untrusted value into a
 * typed message or an Invalid with a Kafka code (never a throw), Raft messages
 * keep their shape and own their bytes, and the metadata image survives the
 * trip through msgpack. Method: hand-written cases plus fast-check properties
 * over arbitrary values and over images built by the metadata logic.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { isInvalid } from '../../protocol/validate.ts';
import { decodeImage, deserializeImage, encodeImage, serializeImage } from './image-codec.ts';
import {
  validateClientMessage,
  validateCommand,
  validateControllerMessage,
  validateControllerRequestReply,
  validateFetchMetadataReply,
  validateRaftMessage,
} from './messages.ts';
import { clusterImage, withTopic } from './metadata/test-fixtures.ts';
import { emptyImage, replayBatch } from './metadata/index.ts';

const replyTo = { node: 'n1', path: '/temp/1' };

describe('controller messages', () => {
  it('accepts every command shape the metadata logic takes', () => {
    const commands = [
      { type: 'RegisterBroker', brokerId: 1, incarnationId: 'abc', host: 'h', port: 9092, rack: null },
      { type: 'BrokerHeartbeat', brokerId: 1, brokerEpoch: 3, wantFence: false },
      { type: 'FenceBroker', brokerId: 1, brokerEpoch: null },
      { type: 'CreateTopics', topics: [{ name: 't', numPartitions: 3, replicationFactor: -1, assignments: null, configs: [{ name: 'cleanup.policy', value: 'compact' }] }], validateOnly: false },
      { type: 'DeleteTopics', topics: ['t'] },
      { type: 'CreatePartitions', topics: [{ name: 't', count: 4, assignments: [[1, 2]] }], validateOnly: true },
      { type: 'DescribeConfigs', resources: [{ resourceType: 'topic', resourceName: 't', configNames: null }] },
      { type: 'AlterConfigs', resources: [{ resourceType: 'topic', resourceName: 't', ops: [{ name: 'retention.ms', op: 'SET', value: '1' }] }], validateOnly: false },
      { type: 'AlterPartition', brokerId: 1, brokerEpoch: 2, topics: [{ topicId: 'x', partitions: [{ partition: 0, leaderEpoch: 1, partitionEpoch: 2, newIsr: [{ brokerId: 1, brokerEpoch: -1 }] }] }] },
      { type: 'ElectLeaders', electionType: 'PREFERRED', topicPartitions: null },
      { type: 'AutoRebalance' },
      { type: 'AllocateProducerIds', brokerId: 1, brokerEpoch: 2 },
    ];
    for (const command of commands) {
      const checked = validateCommand(unpack(pack(command)), 'command');
      expect(isInvalid(checked), JSON.stringify(checked)).toBe(false);
      expect(checked).toEqual(command);
    }
  });

  it('refuses bad commands with INVALID_REQUEST and a path to the field', () => {
    const bad = validateControllerMessage({ type: 'ControllerRequest', command: { type: 'CreateTopics', topics: [{ name: 7 }], validateOnly: false }, replyTo });
    expect(isInvalid(bad)).toBe(true);
    if (isInvalid(bad)) {
      expect(bad.errorCode).toBe(42);
      expect(bad.errorMessage).toContain('command.topics[0].name');
      expect(bad.replyTo).toEqual(replyTo);
    }
    expect(isInvalid(validateClientMessage({ type: 'ControllerCall', command: { type: '__proto__' }, replyTo }))).toBe(true);
    expect(isInvalid(validateControllerMessage({ type: 'FetchMetadata', fromOffset: 1.5, maxWaitMs: 10, replyTo }))).toBe(true);
  });

  it('property: no value, however malformed, makes a validator throw', () => {
    fc.assert(
      fc.property(fc.anything({ withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }), fc.constantFrom('ControllerRequest', 'FetchMetadata', 'RaftMessage', 'ControllerCall', 'GetMetadata', 'Terminated'), (value, type) => {
        const shaped = typeof value === 'object' && value !== null ? { ...value, type } : value;
        validateControllerMessage(shaped);
        validateClientMessage(shaped);
        validateControllerMessage({ type: 'RaftMessage', message: shaped });
        validateFetchMetadataReply(shaped);
        validateControllerRequestReply(shaped, 'CreateTopics');
        deserializeImage(shaped);
      }),
      { numRuns: 2_000 },
    );
  });

  it('checks AppendEntries contiguity and copies entry bytes out of the received frame', () => {
    const frame = pack({ type: 'AppendEntries', from: 1, to: 2, term: 3, prevLogIndex: 4, prevLogTerm: 2, leaderCommit: 4, entries: [{ index: 5, term: 3, data: Buffer.from([1, 2, 3]) }] });
    const decoded = unpack(frame);
    const checked = validateRaftMessage(decoded, 'message');
    expect(isInvalid(checked)).toBe(false);
    if (!isInvalid(checked) && checked.type === 'AppendEntries') {
      expect([...checked.entries[0]!.data]).toEqual([1, 2, 3]);
      expect(checked.entries[0]!.data.buffer).not.toBe((decoded as { entries: { data: Buffer }[] }).entries[0]!.data.buffer);
    }
    const gap = validateRaftMessage({ type: 'AppendEntries', from: 1, to: 2, term: 3, prevLogIndex: 4, prevLogTerm: 2, leaderCommit: 4, entries: [{ index: 6, term: 3, data: Buffer.alloc(1) }] }, 'm');
    expect(isInvalid(gap)).toBe(true);
    const future = validateRaftMessage({ type: 'AppendEntries', from: 1, to: 2, term: 3, prevLogIndex: 4, prevLogTerm: 2, leaderCommit: 4, entries: [{ index: 5, term: 9, data: Buffer.alloc(1) }] }, 'm');
    expect(isInvalid(future)).toBe(true);
  });

  it('a metadata image survives msgpack (Maps, numeric broker ids, a topic named __proto__)', () => {
    let image = clusterImage([1, 2, 3]);
    image = withTopic(image, '__proto__', 3, 3, [{ name: 'retention.ms', value: '1000' }]);
    image = withTopic(image, 'orders', 2, 2);
    image = replayBatch(image, [{ type: 'ProducerIds', brokerId: 1, brokerEpoch: 1, nextProducerId: 1000 }], 42);
    const decoded = decodeImage(encodeImage(image));
    expect(isInvalid(decoded)).toBe(false);
    if (isInvalid(decoded)) return;
    expect(serializeImage(decoded)).toEqual(serializeImage(image));
    expect(decoded.brokers.get(2)?.brokerId).toBe(2);
    expect(decoded.topicIdsByName.get('__proto__')).toBe(image.topicIdsByName.get('__proto__'));
    expect(Object.isFrozen(decoded)).toBe(true);
    // Replay goes on from a decoded image exactly as from the original.
    const topicId = image.topicIdsByName.get('orders')!;
    const change = [{ type: 'PartitionChange' as const, topicId, partition: 0, isr: [image.topicsById.get(topicId)!.partitions[0]!.replicas[0]!] }];
    expect(serializeImage(replayBatch(decoded, change, 43))).toEqual(serializeImage(replayBatch(image, change, 43)));
    expect(serializeImage(emptyImage)).toEqual(serializeImage(decodeImage(encodeImage(emptyImage)) as typeof emptyImage));
  });

  it('refuses an image that breaks a partition invariant', () => {
    const serialized = serializeImage(withTopic(clusterImage([1, 2]), 't', 1, 2));
    serialized.topics[0]!.partitions[0]!.leader = 7;
    expect(isInvalid(deserializeImage(serialized))).toBe(true);
  });
});
