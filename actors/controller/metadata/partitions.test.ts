import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import { generateFence } from './brokers.ts';
import { partitionOf, topicByName, type MetadataImage } from './image.ts';
import {
  buildPartitionChange,
  generateAlterPartition,
  generateAutoRebalance,
  generateElectLeaders,
  type AlterPartitionCommand,
} from './partitions.ts';
import { apply, brokerEpochOf, clusterImage, partitionState, registerAndUnfence, withTopic } from './test-fixtures.ts';

/** brokers 1..3, topic t: 3 partitions, RF 3; partition 0 = replicas [1,2,3], leader 1. */
const base = withTopic(clusterImage([1, 2, 3]), 't', 3, 3);
const topicId = (image: MetadataImage, name = 't') => topicByName(image, name)!.topicId;

function alter(
  image: MetadataImage,
  overrides: { brokerId?: number; brokerEpoch?: number; leaderEpoch?: number; partitionEpoch?: number; newIsr?: number[]; topicId?: string; partition?: number; memberEpochs?: Record<number, number> } = {},
): AlterPartitionCommand {
  // An unknown partition borrows partition 0's epochs, so only the partition number is wrong.
  const state = partitionOf(image, 't', overrides.partition ?? 0) ?? partitionState(image, 't', 0);
  const brokerId = overrides.brokerId ?? state.leader;
  return {
    type: 'AlterPartition',
    brokerId,
    brokerEpoch: overrides.brokerEpoch ?? brokerEpochOf(image, brokerId),
    topics: [
      {
        topicId: overrides.topicId ?? topicId(image),
        partitions: [
          {
            partition: overrides.partition ?? 0,
            leaderEpoch: overrides.leaderEpoch ?? state.leaderEpoch,
            partitionEpoch: overrides.partitionEpoch ?? state.partitionEpoch,
            newIsr: (overrides.newIsr ?? [1, 2]).map((id) => ({ brokerId: id, brokerEpoch: overrides.memberEpochs?.[id] ?? -1 })),
          },
        ],
      },
    ],
  };
}

describe('AlterPartition', () => {
  it('the leader shrinks the ISR: partitionEpoch + 1, leaderEpoch unchanged, reply carries the new state', () => {
    const result = generateAlterPartition(base, alter(base, { newIsr: [1, 2] }));
    expect(result.reply.errorCode).toBe(0);
    expect(result.reply.topics[0]?.partitions[0]).toMatchObject({ errorCode: 0, leader: 1, leaderEpoch: 0, partitionEpoch: 1, isr: [1, 2] });
    expect(result.records).toEqual([{ type: 'PartitionChange', topicId: topicId(base), partition: 0, isr: [1, 2] }]);
    expect(partitionState(apply(base, result), 't', 0)).toMatchObject({ isr: [1, 2], partitionEpoch: 1, leaderEpoch: 0 });
  });

  it('an unchanged ISR writes nothing and answers the current state', () => {
    const result = generateAlterPartition(base, alter(base, { newIsr: [1, 2, 3] }));
    expect(result.records).toEqual([]);
    expect(result.reply.topics[0]?.partitions[0]).toMatchObject({ errorCode: 0, partitionEpoch: 0 });
  });

  const fenced2 = apply(base, generateFence(base, 2));
  it.each([
    { name: 'stale sender broker epoch', image: base, o: { brokerEpoch: 0 }, top: ErrorCode.STALE_BROKER_EPOCH },
    { name: 'unknown topic id', image: base, o: { topicId: 'nope' }, errorCode: ErrorCode.UNKNOWN_TOPIC_ID },
    { name: 'unknown partition', image: base, o: { partition: 9 }, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
    { name: 'older leader epoch', image: apply(base, generateFence(base, 1)), o: { brokerId: 2, partition: 0, leaderEpoch: 0, newIsr: [2, 3] }, errorCode: ErrorCode.FENCED_LEADER_EPOCH },
    { name: 'newer leader epoch (we are a stale controller)', image: base, o: { leaderEpoch: 5 }, errorCode: ErrorCode.NOT_CONTROLLER },
    { name: 'sender is not the leader', image: base, o: { brokerId: 2, newIsr: [1, 2] }, errorCode: ErrorCode.INVALID_REQUEST },
    { name: 'ISR without the leader', image: base, o: { newIsr: [2, 3] }, errorCode: ErrorCode.INVALID_REQUEST },
    { name: 'ISR with a non-replica', image: withTopic(clusterImage([1, 2, 3, 4]), 't', 1, 3), o: { newIsr: [1, 4] }, errorCode: ErrorCode.INVALID_REQUEST },
    { name: 'ISR with a fenced replica', image: fenced2, o: { newIsr: [1, 2, 3] }, errorCode: ErrorCode.INELIGIBLE_REPLICA },
    { name: 'ISR member with a stale broker epoch', image: base, o: { newIsr: [1, 3], memberEpochs: { 3: 1 } }, errorCode: ErrorCode.INELIGIBLE_REPLICA },
  ])('refuses: $name', ({ image, o, top, errorCode }) => {
    const result = generateAlterPartition(image, alter(image, o));
    if (top !== undefined) {
      expect(result.reply.errorCode).toBe(top);
    } else {
      expect(result.reply.topics[0]?.partitions[0]?.errorCode).toBe(errorCode);
    }
    expect(result.records).toEqual([]);
  });

  it('refuses an older partition epoch with INVALID_UPDATE_VERSION (95)', () => {
    const shrunk = apply(base, generateAlterPartition(base, alter(base, { newIsr: [1, 2] })));
    const result = generateAlterPartition(shrunk, alter(shrunk, { partitionEpoch: 0, newIsr: [1] }));
    expect(result.reply.topics[0]?.partitions[0]?.errorCode).toBe(95);
    expect(ErrorCode.INVALID_UPDATE_VERSION).toBe(95);
  });

  it('refuses an ISR member with INELIGIBLE_REPLICA (107) while it is fenced', () => {
    const result = generateAlterPartition(fenced2, alter(fenced2, { newIsr: [1, 3, 2] }));
    expect(result.reply.topics[0]?.partitions[0]).toMatchObject({ errorCode: 107 });
  });
});

describe('preferred leader election', () => {
  /** Broker 1 is fenced, returns as a new incarnation, catches up and is re-added to the ISR by the leader. */
  function returned(): MetadataImage {
    let image = apply(base, generateFence(base, 1));
    expect(partitionState(image, 't', 0)).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1 });
    image = registerAndUnfence(image, 1, 'inc-1b');
    // Back, but not in sync yet: no leadership.
    expect(partitionState(image, 't', 0).leader).toBe(2);
    const rejoin = generateAlterPartition(image, alter(image, { newIsr: [2, 3, 1], memberEpochs: { 1: brokerEpochOf(image, 1) } }));
    expect(rejoin.reply.topics[0]?.partitions[0]?.errorCode).toBe(0);
    return apply(image, rejoin);
  }

  it('auto rebalance moves leadership back once the preferred replica is in sync', () => {
    const image = returned();
    const rebalance = generateAutoRebalance(image);
    expect(rebalance.reply.moved).toEqual([{ topic: 't', partition: 0, leader: 1 }]);
    const after = apply(image, rebalance);
    expect(partitionState(after, 't', 0)).toMatchObject({ leader: 1, leaderEpoch: 2, isr: [2, 3, 1] });
    expect(generateAutoRebalance(after).records).toEqual([]);
  });

  it('auto rebalance does nothing while the preferred replica is out of the ISR', () => {
    let image = apply(base, generateFence(base, 1));
    image = registerAndUnfence(image, 1, 'inc-1b');
    expect(generateAutoRebalance(image).records).toEqual([]);
  });

  it('ElectLeaders PREFERRED: moves, ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE, UNKNOWN', () => {
    const image = returned();
    const result = generateElectLeaders(image, {
      type: 'ElectLeaders',
      electionType: 'PREFERRED',
      topicPartitions: [
        { topic: 't', partitions: [0, 1, 7] },
        { topic: 'nope', partitions: [0] },
      ],
    });
    expect(result.reply.results).toEqual([
      {
        topic: 't',
        partitions: [
          { partition: 0, errorCode: 0, errorMessage: null },
          { partition: 1, errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: expect.any(String) },
          { partition: 7, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: expect.any(String) },
        ],
      },
      { topic: 'nope', partitions: [{ partition: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: expect.any(String) }] },
    ]);
    expect(partitionState(apply(image, result), 't', 0).leader).toBe(1);

    const notInIsr = registerAndUnfence(apply(base, generateFence(base, 1)), 1, 'x');
    const refused = generateElectLeaders(notInIsr, { type: 'ElectLeaders', electionType: 'PREFERRED', topicPartitions: [{ topic: 't', partitions: [0] }] });
    expect(refused.reply.results[0]?.partitions[0]?.errorCode).toBe(ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE);
  });

  it('ElectLeaders over all partitions leaves out those that need no election', () => {
    const result = generateElectLeaders(returned(), { type: 'ElectLeaders', electionType: 'PREFERRED', topicPartitions: null });
    expect(result.reply.results).toEqual([{ topic: 't', partitions: [{ partition: 0, errorCode: 0, errorMessage: null }] }]);
  });

  it('ElectLeaders UNCLEAN elects a live out-of-sync replica for an offline partition', () => {
    let image = withTopic(clusterImage([1, 2]), 'o', 1, 2);
    image = apply(image, generateFence(image, 2));
    image = apply(image, generateFence(image, 1));
    image = registerAndUnfence(image, 2, 'inc-2b');
    expect(partitionState(image, 'o', 0)).toMatchObject({ leader: -1, isr: [1] });
    const result = generateElectLeaders(image, { type: 'ElectLeaders', electionType: 'UNCLEAN', topicPartitions: [{ topic: 'o', partitions: [0] }] });
    expect(result.reply.results[0]?.partitions[0]?.errorCode).toBe(0);
    expect(partitionState(apply(image, result), 'o', 0)).toMatchObject({ leader: 2, isr: [2] });
  });
});

describe('buildPartitionChange', () => {
  const state = { partition: 0, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1, leaderEpoch: 4, partitionEpoch: 7, addingReplicas: [], removingReplicas: [] };
  it.each([
    { name: 'nothing changes', input: {}, expected: null },
    { name: 'leader not acceptable', input: { isAcceptableLeader: (id: number) => id !== 1, targetIsr: [2, 3] }, expected: { leader: 2, isr: [2, 3] } },
    { name: 'preferred already leads', input: { election: 'preferred' as const }, expected: null },
    { name: 'nobody acceptable, clean', input: { isAcceptableLeader: () => false }, expected: { leader: -1 } },
    { name: 'never an empty ISR', input: { isAcceptableLeader: () => false, targetIsr: [] }, expected: { leader: -1 } },
  ])('$name', ({ input, expected }) => {
    const record = buildPartitionChange({
      topicId: 'x',
      state,
      isAcceptableLeader: () => true,
      election: 'any',
      uncleanAllowed: false,
      ...input,
    });
    expect(record).toEqual(expected === null ? null : { type: 'PartitionChange', topicId: 'x', partition: 0, ...expected });
  });
});
