/**
 * The coordinator's routing state, pure: which `__consumer_offsets` partitions
 * this broker leads, and whether each is still loading. The `groups` parent
 * actor consults it before handing a request to a group's actor.
 *
 * Kafka's validateGroupStatus, in its order: a bad group id is
 * INVALID_GROUP_ID; a group whose partition this broker does not lead is
 * NOT_COORDINATOR (the client looks the coordinator up again with
 * FindCoordinator, i.e. `coordinatorPartitionFor`); one whose partition is
 * still being replayed (`loadGroups`) is COORDINATOR_LOAD_IN_PROGRESS, a
 * retriable code, so commits made to the previous coordinator are visible
 * before anything is served.
 *
 * Lifecycle of a partition here: `becomeLeader` (Loading; the shell replays
 * the partition from its start to its high watermark), `loadCompleted`
 * (Active; the shell installs the groups `loadGroups` rebuilt), `resign`
 * (forgotten; the shell sends `Unload` to that partition's group actors).
 * A leader epoch guards against a late load completion of an older term.
 */
import { assert } from '../../runtime/assert.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { coordinatorPartitionFor } from './offsets-records.ts';
import { listing, type GroupListing, type GroupState } from './group-logic.ts';

export type PartitionLoad = { readonly status: 'Loading' | 'Active'; readonly leaderEpoch: number };

export type CoordinatorState = {
  /** Partition count of __consumer_offsets (offsets.topic.num.partitions, Kafka default 50). */
  readonly partitionCount: number;
  readonly partitions: ReadonlyMap<number, PartitionLoad>;
};

export function initialCoordinatorState(partitionCount: number): CoordinatorState {
  assert(Number.isInteger(partitionCount) && partitionCount > 0, 'coordinator: partitionCount is a positive integer');
  return { partitionCount, partitions: new Map() };
}

export function becomeLeader(s: CoordinatorState, partition: number, leaderEpoch: number): CoordinatorState {
  const partitions = new Map(s.partitions);
  partitions.set(partition, { status: 'Loading', leaderEpoch });
  return { ...s, partitions };
}

/** The replay of `partition` at `leaderEpoch` finished; ignored if leadership changed meanwhile. */
export function loadCompleted(s: CoordinatorState, partition: number, leaderEpoch: number): CoordinatorState {
  const current = s.partitions.get(partition);
  if (current === undefined || current.leaderEpoch !== leaderEpoch) return s;
  const partitions = new Map(s.partitions);
  partitions.set(partition, { status: 'Active', leaderEpoch });
  return { ...s, partitions };
}

export function resign(s: CoordinatorState, partition: number): CoordinatorState {
  if (!s.partitions.has(partition)) return s;
  const partitions = new Map(s.partitions);
  partitions.delete(partition);
  return { ...s, partitions };
}

/** Which requests accept an empty group id (Kafka keeps that for old clients). */
export type GroupApi = 'JoinGroup' | 'SyncGroup' | 'Heartbeat' | 'LeaveGroup' | 'OffsetCommit' | 'OffsetFetch' | 'TxnOffsetCommit' | 'DescribeGroup' | 'DeleteGroup' | 'OffsetDelete';

/** 0 when this broker may serve `groupId` now, else the error code to answer. */
export function routeError(s: CoordinatorState, groupId: unknown, api: GroupApi): number {
  if (typeof groupId !== 'string') return ErrorCode.INVALID_GROUP_ID;
  const emptyAllowed = api === 'OffsetCommit' || api === 'OffsetFetch' || api === 'DescribeGroup' || api === 'DeleteGroup';
  if (groupId.length === 0 && !emptyAllowed) return ErrorCode.INVALID_GROUP_ID;
  const load = s.partitions.get(coordinatorPartitionFor(groupId, s.partitionCount));
  if (load === undefined) return ErrorCode.NOT_COORDINATOR;
  if (load.status === 'Loading') return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
  return ErrorCode.NONE;
}

/** ListGroups over this broker's groups: LOAD_IN_PROGRESS (with what is known) while any partition loads. */
export function listGroups(s: CoordinatorState, groups: Iterable<GroupState>): { errorCode: number; groups: GroupListing[] } {
  const loading = [...s.partitions.values()].some((p) => p.status === 'Loading');
  const out: GroupListing[] = [];
  for (const g of groups) {
    const entry = listing(g);
    if (entry !== null) out.push(entry);
  }
  out.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  return { errorCode: loading ? ErrorCode.COORDINATOR_LOAD_IN_PROGRESS : ErrorCode.NONE, groups: out };
}
