/**
 * Reassignment (reassignment.ts) and the pieces around it: AlterPartition
 * completing a move, broker unregistration, the replication-throttle broker
 * configs, and a property test driving random moves, ISR changes, fences and
 * cancels through replay (which checks every partition invariant).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import { deserializeImage, serializeImage } from '../image-codec.ts';
import { generateFence, generateUnregisterBroker, generateUnfence } from './brokers.ts';
import { effectiveBrokerThrottles, generateAlterConfigs, generateDescribeConfigs } from './configs.ts';
import { handleCommand, becomeActive, initialControllerState } from './controller-state.ts';
import { isBrokerActive, replayBatch, topicByName, type MetadataImage, type PartitionState } from './image.ts';
import { generateAlterPartition } from './partitions.ts';
import { generateAlterPartitionReassignments, generateListPartitionReassignments } from './reassignment.ts';
import { apply, brokerEpochOf, clusterImage, partitionState, withTopic } from './test-fixtures.ts';

/** Brokers 1..4; topic t: 2 partitions RF 3 on 1..3 (placed before broker 4 registered). */
const base = clusterImage([4], withTopic(clusterImage([1, 2, 3]), 't', 2, 3));

function reassign(image: MetadataImage, replicas: number[] | null, partition = 0) {
  return generateAlterPartitionReassignments(image, { type: 'AlterPartitionReassignments', reassignments: [{ topic: 't', partition, replicas }] });
}

/** The leader of t-`partition` asks for ISR + `joining` (as a leader does once a follower caught up). */
function expandIsr(image: MetadataImage, joining: number, partition = 0) {
  const state = partitionState(image, 't', partition);
  const topicId = topicByName(image, 't')!.topicId;
  return generateAlterPartition(image, {
    type: 'AlterPartition',
    brokerId: state.leader,
    brokerEpoch: brokerEpochOf(image, state.leader),
    topics: [{ topicId, partitions: [{ partition, leaderEpoch: state.leaderEpoch, partitionEpoch: state.partitionEpoch, newIsr: [...state.isr, joining].map((brokerId) => ({ brokerId, brokerEpoch: -1 })) }] }],
  });
}

describe('reassignment: start, complete, cancel', () => {
  it('start puts the target first and the removed replicas after it, bumps only the partition epoch', () => {
    const before = partitionState(base, 't', 0);
    expect(before.replicas).toEqual([1, 2, 3]);
    const result = reassign(base, [4, 2, 3]);
    expect(result.reply.results).toEqual([{ topic: 't', partition: 0, errorCode: 0, errorMessage: null }]);
    const after = partitionState(apply(base, result), 't', 0);
    expect(after).toMatchObject({ replicas: [4, 2, 3, 1], addingReplicas: [4], removingReplicas: [1], isr: [1, 2, 3], leader: 1 });
    expect(after.leaderEpoch).toBe(before.leaderEpoch);
    expect(after.partitionEpoch).toBe(before.partitionEpoch + 1);
  });

  it('the ISR change that brings the last target replica in completes the move and moves leadership off a removed leader', () => {
    const started = apply(base, reassign(base, [4, 2, 3]));
    const before = partitionState(started, 't', 0);
    const result = expandIsr(started, 4);
    expect(result.records).toHaveLength(2);
    const done = partitionState(apply(started, result), 't', 0);
    expect(done).toMatchObject({ replicas: [4, 2, 3], addingReplicas: [], removingReplicas: [], isr: [2, 3, 4], leader: 4 });
    expect(done.leaderEpoch).toBe(before.leaderEpoch + 1);
    // The leader that asked learns the state as it is after the completion.
    expect(result.reply.topics[0]!.partitions[0]).toMatchObject({ errorCode: 0, leader: 4, isr: [2, 3, 4] });
  });

  it('a leader that stays keeps leading, in the same epoch', () => {
    const started = apply(base, reassign(base, [1, 2, 4]));
    const before = partitionState(started, 't', 0);
    const done = partitionState(apply(started, expandIsr(started, 4)), 't', 0);
    expect(done).toMatchObject({ replicas: [1, 2, 4], isr: [1, 2, 4], leader: 1, addingReplicas: [], removingReplicas: [] });
    expect(done.leaderEpoch).toBe(before.leaderEpoch);
  });

  it('a target already inside the ISR completes at once: shrink and reorder', () => {
    const shrunk = partitionState(apply(base, reassign(base, [2, 3])), 't', 0);
    expect(shrunk).toMatchObject({ replicas: [2, 3], isr: [2, 3], leader: 2, addingReplicas: [], removingReplicas: [] });
    const reordered = partitionState(apply(base, reassign(base, [3, 1, 2])), 't', 0);
    expect(reordered).toMatchObject({ replicas: [3, 1, 2], isr: [1, 2, 3], leader: 1 });
  });

  it('the same target again writes nothing', () => {
    const started = apply(base, reassign(base, [4, 2, 3]));
    expect(reassign(started, [4, 2, 3]).records).toEqual([]);
    expect(reassign(base, [1, 2, 3]).records).toEqual([]);
  });

  it('cancel restores the original replicas in their order and drops the adding ones from the ISR', () => {
    const started = apply(base, reassign(base, [4, 2, 3]));
    const cancelled = apply(started, reassign(started, null));
    // Kafka's rule: replicas - adding, in the merged order (the target's survivors first).
    expect(partitionState(cancelled, 't', 0)).toMatchObject({ replicas: [2, 3, 1], isr: [1, 2, 3], leader: 1, addingReplicas: [], removingReplicas: [] });
  });

  it('replacing a move in progress starts from the original replicas and drops adding ones the new target leaves out', () => {
    let image = apply(base, reassign(base, [4, 2, 3]));
    image = apply(image, reassign(image, [1, 2, 4]));
    expect(partitionState(image, 't', 0)).toMatchObject({ replicas: [1, 2, 4, 3], addingReplicas: [4], removingReplicas: [3] });
    const image5 = clusterImage([5], apply(base, reassign(base, [4, 2, 3])));
    const replaced = partitionState(apply(image5, reassign(image5, [5, 2, 3])), 't', 0);
    expect(replaced).toMatchObject({ replicas: [5, 2, 3, 1], addingReplicas: [5], removingReplicas: [1] });
  });

  it('cancel moves leadership off an adding replica that leads, and is refused when no original replica is in the ISR', () => {
    let image = clusterImage([5], base);
    image = apply(image, reassign(image, [4, 5, 2])); // adding 4, 5; removing 1, 3
    image = apply(image, expandIsr(image, 4));
    for (const id of [1, 3, 2]) image = apply(image, generateFence(image, id));
    expect(partitionState(image, 't', 0)).toMatchObject({ leader: 4, isr: [4] });
    expect(reassign(image, null).reply.results[0]!.errorCode).toBe(ErrorCode.INVALID_REPLICA_ASSIGNMENT);
    image = replayBatch(image, generateUnfence(image, 2));
    image = apply(image, expandIsr(image, 2)); // 4 leads and adds 2; 5 still missing, so the move goes on
    const before = partitionState(image, 't', 0);
    expect(before.addingReplicas).toEqual([4, 5]);
    const state = partitionState(apply(image, reassign(image, null)), 't', 0);
    expect(state).toMatchObject({ replicas: [2, 1, 3], isr: [2], leader: 2, addingReplicas: [], removingReplicas: [] });
    expect(state.leaderEpoch).toBe(before.leaderEpoch + 1);
  });

  it('refuses bad requests with Kafka error codes', () => {
    const codes = (reassignments: { topic: string; partition: number; replicas: number[] | null }[]) =>
      generateAlterPartitionReassignments(base, { type: 'AlterPartitionReassignments', reassignments }).reply.results.map((r) => r.errorCode);
    expect(codes([{ topic: 'nope', partition: 0, replicas: [1] }])).toEqual([ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
    expect(codes([{ topic: 't', partition: 9, replicas: [1] }])).toEqual([ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
    expect(codes([{ topic: 't', partition: 0, replicas: [] }])).toEqual([ErrorCode.INVALID_REPLICA_ASSIGNMENT]);
    expect(codes([{ topic: 't', partition: 0, replicas: [1, 1, 2] }])).toEqual([ErrorCode.INVALID_REPLICA_ASSIGNMENT]);
    expect(codes([{ topic: 't', partition: 0, replicas: [1, 2, 9] }])).toEqual([ErrorCode.INVALID_REPLICA_ASSIGNMENT]);
    expect(codes([{ topic: 't', partition: 0, replicas: null }])).toEqual([ErrorCode.NO_REASSIGNMENT_IN_PROGRESS]);
    expect(codes([{ topic: 't', partition: 0, replicas: [4, 2, 3] }, { topic: 't', partition: 0, replicas: [1, 2, 4] }])).toEqual([0, ErrorCode.INVALID_REQUEST]);
  });

  it('list shows moves in progress only, and a snapshot keeps them (a controller failover half way)', () => {
    const image = apply(base, reassign(base, [4, 2, 3], 1));
    const listed = generateListPartitionReassignments(image, { type: 'ListPartitionReassignments', topics: null }).reply.reassignments;
    expect(listed).toEqual([{ topic: 't', partition: 1, replicas: partitionState(image, 't', 1).replicas, addingReplicas: [4], removingReplicas: partitionState(image, 't', 1).removingReplicas }]);
    expect(generateListPartitionReassignments(image, { type: 'ListPartitionReassignments', topics: [{ topic: 't', partitions: [0, 7] }, { topic: 'x', partitions: [0] }] }).reply.reassignments).toEqual([]);
    const restored = deserializeImage(serializeImage(image));
    if ('errorCode' in restored && !('brokers' in restored)) throw new Error('snapshot did not decode');
    const state = partitionState(restored as MetadataImage, 't', 1);
    expect(state.addingReplicas).toEqual([4]);
    // The new controller completes it on the next ISR change.
    const done = partitionState(apply(restored as MetadataImage, expandIsr(restored as MetadataImage, 4, 1)), 't', 1);
    expect(done.addingReplicas).toEqual([]);
    expect(done.replicas).toEqual([4, 2, 3]);
  });
});

describe('UnregisterBroker', () => {
  const command = (brokerId: number, force = false) => ({ type: 'UnregisterBroker' as const, brokerId, force });

  it('refuses a broker that hosts replicas, then a running one, and forgets a fenced empty one', () => {
    expect(generateUnregisterBroker(base, command(1)).reply).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: expect.stringContaining('still hosts 2 replicas') });
    expect(generateUnregisterBroker(base, command(4)).reply).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: expect.stringContaining('running') });
    const fenced = apply(base, generateFence(base, 4));
    const result = generateUnregisterBroker(fenced, command(4));
    expect(result.reply.errorCode).toBe(0);
    expect(apply(fenced, result).brokers.has(4)).toBe(false);
    expect(generateUnregisterBroker(apply(fenced, result), command(4)).reply.errorCode).toBe(ErrorCode.BROKER_ID_NOT_REGISTERED);
  });

  it('force on a running replica host fences it first: leadership moves, it leaves the ISRs', () => {
    const result = generateUnregisterBroker(base, command(1, true));
    expect(result.reply.errorCode).toBe(0);
    const image = apply(base, result);
    expect(image.brokers.has(1)).toBe(false);
    const state = partitionState(image, 't', 0);
    expect(state.leader).not.toBe(1);
    expect(state.isr).not.toContain(1);
    expect(state.replicas).toContain(1);
  });

  it('the controller forgets the session of an unregistered broker', () => {
    let state = becomeActive(initialControllerState(undefined, apply(base, generateFence(base, 4))), 0);
    state = handleCommand(state, command(4), 10).state;
    expect(state.lastHeartbeatMsByBroker.has(4)).toBe(false);
  });
});

describe('replication throttle broker configs', () => {
  const alter = (image: MetadataImage, resourceName: string, name: string, value: string | null) =>
    generateAlterConfigs(image, { type: 'AlterConfigs', validateOnly: false, resources: [{ resourceType: 'broker', resourceName, ops: [{ name, op: value === null ? 'DELETE' : 'SET', value }] }] });

  it('a broker override wins over the cluster default, which wins over unthrottled', () => {
    expect(effectiveBrokerThrottles(base, 1).leaderReplicationThrottledRateBytesPerSec).toBe(Number.POSITIVE_INFINITY);
    let image = apply(base, alter(base, '', 'leader.replication.throttled.rate', '1000000'));
    image = apply(image, alter(image, '2', 'leader.replication.throttled.rate', '500'));
    expect(effectiveBrokerThrottles(image, 1).leaderReplicationThrottledRateBytesPerSec).toBe(1_000_000);
    expect(effectiveBrokerThrottles(image, 2).leaderReplicationThrottledRateBytesPerSec).toBe(500);
    const described = generateDescribeConfigs(image, { type: 'DescribeConfigs', resources: [{ resourceType: 'broker', resourceName: '2', configNames: null }] }).reply.results[0]!;
    expect(described.configs.find((c) => c.name === 'leader.replication.throttled.rate')).toMatchObject({ value: '500', source: 'DYNAMIC_BROKER_CONFIG' });
    expect(described.configs.find((c) => c.name === 'follower.replication.throttled.rate')).toMatchObject({ source: 'DEFAULT_CONFIG' });
    image = apply(image, alter(image, '', 'leader.replication.throttled.rate', null));
    expect(effectiveBrokerThrottles(image, 1).leaderReplicationThrottledRateBytesPerSec).toBe(Number.POSITIVE_INFINITY);
    expect(deserializeImage(serializeImage(image))).toMatchObject({ brokerConfigs: image.brokerConfigs });
  });

  it('refuses unknown names, bad values and bad resource names', () => {
    expect(alter(base, '', 'retention.ms', '5').reply.results[0]!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect(alter(base, '', 'leader.replication.throttled.rate', '-5').reply.results[0]!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect(alter(base, 'broker-1', 'leader.replication.throttled.rate', '5').reply.results[0]!.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });
});

describe('property: random moves, ISR joins, fences and cancels keep every invariant', () => {
  type Step =
    | { kind: 'reassign'; partition: number; replicas: number[] }
    | { kind: 'cancel'; partition: number }
    | { kind: 'join'; partition: number; pick: number }
    | { kind: 'fence'; brokerId: number }
    | { kind: 'unfence'; brokerId: number };
  const brokerIds = [1, 2, 3, 4, 5];
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ kind: fc.constant('reassign' as const), partition: fc.integer({ min: 0, max: 1 }), replicas: fc.shuffledSubarray(brokerIds, { minLength: 1, maxLength: 4 }) }),
    fc.record({ kind: fc.constant('cancel' as const), partition: fc.integer({ min: 0, max: 1 }) }),
    fc.record({ kind: fc.constant('join' as const), partition: fc.integer({ min: 0, max: 1 }), pick: fc.nat() }),
    fc.record({ kind: fc.constant('fence' as const), brokerId: fc.constantFrom(...brokerIds) }),
    fc.record({ kind: fc.constant('unfence' as const), brokerId: fc.constantFrom(...brokerIds) }),
  );

  it('holds', () => {
    const start = clusterImage([4, 5], withTopic(clusterImage([1, 2, 3]), 't', 2, 3));
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        let image = start;
        for (const s of steps) {
          const result = (() => {
            switch (s.kind) {
              case 'reassign':
                return reassign(image, s.replicas, s.partition);
              case 'cancel':
                return reassign(image, null, s.partition);
              case 'join': {
                const state = partitionState(image, 't', s.partition);
                const candidates = state.replicas.filter((id) => !state.isr.includes(id) && isBrokerActive(image, id));
                if (state.leader < 0 || candidates.length === 0) return { records: [] };
                return expandIsr(image, candidates[s.pick % candidates.length]!, s.partition);
              }
              case 'fence':
                return generateFence(image, s.brokerId);
              case 'unfence':
                return { records: generateUnfence(image, s.brokerId) };
            }
          })();
          image = replayBatch(image, result.records); // asserts every partition invariant
          for (const partition of [0, 1]) checkPartition(partitionState(image, 't', partition));
        }
      }),
    );
  });

  function checkPartition(state: PartitionState): void {
    if (state.addingReplicas.length > 0 || state.removingReplicas.length > 0) {
      // In progress means not complete: some target replica is still out of the ISR.
      const target = state.replicas.filter((id) => !state.removingReplicas.includes(id));
      expect(target.every((id) => state.isr.includes(id))).toBe(false);
    }
    expect(state.isr.length).toBeGreaterThan(0);
  }
});
