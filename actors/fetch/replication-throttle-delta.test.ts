/**
 * Which replicas the throttles apply to, as the brokers learn it from
 * `diffForBroker`: the leader sees `addingReplicas` on every partition-epoch
 * change, and the follower being added is told when its own throttle starts
 * and ends, even when a pure addition completes without changing the
 * replica list (the case a "replicas changed" rule alone would miss).
 * Pure: images built with the controller's own generate and replay.
 */
import { describe, expect, it } from 'vitest';
import { diffForBroker } from '../controller/metadata/delta.ts';
import { topicByName, type MetadataImage } from '../controller/metadata/image.ts';
import { generateAlterPartition } from '../controller/metadata/partitions.ts';
import { generateAlterPartitionReassignments } from '../controller/metadata/reassignment.ts';
import { apply, brokerEpochOf, clusterImage, partitionState, withTopic } from '../controller/metadata/test-fixtures.ts';
import { isThrottledReplica } from './replication-quota.ts';

/** Brokers 1..4; topic t: 1 partition RF 2 (placed on two of 1..3 before broker 4 registered). */
const base = clusterImage([4], withTopic(clusterImage([1, 2, 3]), 't', 1, 2));

function expandIsr(image: MetadataImage, joining: number) {
  const state = partitionState(image, 't', 0);
  return generateAlterPartition(image, {
    type: 'AlterPartition',
    brokerId: state.leader,
    brokerEpoch: brokerEpochOf(image, state.leader),
    topics: [{ topicId: topicByName(image, 't')!.topicId, partitions: [{ partition: 0, leaderEpoch: state.leaderEpoch, partitionEpoch: state.partitionEpoch, newIsr: [...state.isr, joining].map((brokerId) => ({ brokerId, brokerEpoch: -1 })) }] }],
  });
}

describe('replication throttle: what the brokers are told', () => {
  it('a pure addition: the leader throttles the new replica until it joins; the new follower is told at the start and at the end', () => {
    const original = partitionState(base, 't', 0).replicas;
    const leaderId = partitionState(base, 't', 0).leader;
    const started = apply(base, generateAlterPartitionReassignments(base, { type: 'AlterPartitionReassignments', reassignments: [{ topic: 't', partition: 0, replicas: [...original, 4] }] }));

    const [leaderStart] = diffForBroker(base, started, leaderId);
    expect(leaderStart).toMatchObject({ type: 'BecomeLeader', addingReplicas: [4] });
    expect(isThrottledReplica(leaderStart!, 4)).toBe(true);
    const [followerStart] = diffForBroker(base, started, 4);
    expect(followerStart).toMatchObject({ type: 'BecomeFollower', addingReplicas: [4] });
    expect(isThrottledReplica(followerStart!, 4)).toBe(true);

    const done = apply(started, expandIsr(started, 4));
    expect(partitionState(done, 't', 0).replicas).toEqual(partitionState(started, 't', 0).replicas); // no replica list change
    const [leaderDone] = diffForBroker(started, done, leaderId);
    expect(leaderDone).toMatchObject({ type: 'BecomeLeader', addingReplicas: [] });
    const followerDone = diffForBroker(started, done, 4);
    expect(followerDone).toEqual([expect.objectContaining({ type: 'BecomeFollower', addingReplicas: [] })]);
    expect(isThrottledReplica(followerDone[0]!, 4)).toBe(false);
  });

  it('an existing follower is not throttled and hears nothing new when the move completes', () => {
    const state = partitionState(base, 't', 0);
    const follower = state.replicas.find((id) => id !== state.leader)!;
    const started = apply(base, generateAlterPartitionReassignments(base, { type: 'AlterPartitionReassignments', reassignments: [{ topic: 't', partition: 0, replicas: [...state.replicas, 4] }] }));
    const [change] = diffForBroker(base, started, follower);
    expect(isThrottledReplica(change!, follower)).toBe(false);
    const done = apply(started, expandIsr(started, 4));
    expect(diffForBroker(started, done, follower)).toEqual([]);
  });
});
