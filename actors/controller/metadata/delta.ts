/**
 * What one broker must do when its metadata image changes.
 *
 * Owns: `ReplicaChange` and `diffForBroker(previous, next, brokerId)`.
 *
 * A broker publishes a new image after each committed entry (never in the
 * middle of one) and hands the changes for itself to its replica manager:
 * - StopReplica: a partition it hosted is gone (topic deleted, or the broker
 *   was removed from the replica list). `deleted` says the log may go.
 * - BecomeLeader: it leads the partition and the partition state changed
 *   (new leader epoch, or an ISR change the leader must adopt: the leader's
 *   high watermark depends on the committed ISR, so a new partitionEpoch
 *   alone is a change for the leader).
 * - BecomeFollower: it follows (leader may be -1: stop fetching, wait) and the
 *   leader, leader epoch or replica set changed, or whether its own fetching
 *   is throttled did (it is a replica being added and not yet in the ISR;
 *   completing a pure addition changes no replica list, only that). Other
 *   ISR-only changes do not concern followers and are left out.
 *
 * Partitions are matched by topic id, so a topic deleted and re-created under
 * the same name between two images yields a StopReplica for the old one and
 * a Become* for the new one.
 *
 * Order: all StopReplica first, then BecomeLeader, then BecomeFollower (as
 * Kafka's ReplicaManager applies a delta); within each, by topic name then
 * partition. Pure: the caller does the I/O.
 */
import { topicsSortedByName, type MetadataImage, type PartitionState, type TopicImage } from './image.ts';

export interface ReplicaChange {
  readonly type: 'BecomeLeader' | 'BecomeFollower' | 'StopReplica';
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  /**
   * Replicas a reassignment is adding ([] when none): the replication throttles apply to those of
   * them not yet in the ISR (actors/fetch/replication-quota.ts), on the leader and on the follower.
   */
  readonly addingReplicas: readonly number[];
  /** StopReplica only: the partition no longer lives here, its log may be deleted. */
  readonly deleted: boolean;
}

export function diffForBroker(previous: MetadataImage, next: MetadataImage, brokerId: number): ReplicaChange[] {
  if (previous === next) return [];
  const stops: ReplicaChange[] = [];
  const leads: ReplicaChange[] = [];
  const follows: ReplicaChange[] = [];

  for (const topic of topicsSortedByName(previous)) {
    const nextTopic = next.topicsById.get(topic.topicId);
    if (nextTopic === topic) continue;
    for (const state of topic.partitions) {
      if (!state.replicas.includes(brokerId)) continue;
      const after = nextTopic?.partitions[state.partition];
      if (after === undefined || !after.replicas.includes(brokerId)) {
        stops.push(change('StopReplica', topic, state, true));
      }
    }
  }

  for (const topic of topicsSortedByName(next)) {
    const previousTopic = previous.topicsById.get(topic.topicId);
    if (previousTopic === topic) continue;
    for (const state of topic.partitions) {
      if (!state.replicas.includes(brokerId)) continue;
      const before = previousTopic?.partitions[state.partition];
      if (before === state) continue;
      const wasHosted = before !== undefined && before.replicas.includes(brokerId);
      if (state.leader === brokerId) {
        const changed =
          !wasHosted || before.leaderEpoch !== state.leaderEpoch || before.partitionEpoch !== state.partitionEpoch;
        if (changed) leads.push(change('BecomeLeader', topic, state, false));
      } else {
        const changed =
          !wasHosted ||
          before.leader !== state.leader ||
          before.leaderEpoch !== state.leaderEpoch ||
          !sameList(before.replicas, state.replicas) ||
          throttledHere(before, brokerId) !== throttledHere(state, brokerId);
        if (changed) follows.push(change('BecomeFollower', topic, state, false));
      }
    }
  }
  return [...stops, ...leads, ...follows];
}

function change(type: ReplicaChange['type'], topic: TopicImage, state: PartitionState, deleted: boolean): ReplicaChange {
  return {
    type,
    topic: topic.name,
    topicId: topic.topicId,
    partition: state.partition,
    leader: state.leader,
    leaderEpoch: state.leaderEpoch,
    partitionEpoch: state.partitionEpoch,
    replicas: state.replicas,
    isr: state.isr,
    addingReplicas: state.addingReplicas,
    deleted,
  };
}

/** The replication throttles' rule (isThrottledReplica in actors/fetch/replication-quota.ts), restated: metadata imports no actor module. */
function throttledHere(state: PartitionState, brokerId: number): boolean {
  return state.addingReplicas.includes(brokerId) && !state.isr.includes(brokerId);
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
