/**
 * Coordinator routing: which broker answers for a group, and what it answers
 * while its __consumer_offsets partition loads. Table style.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { becomeLeader, initialCoordinatorState, listGroups, loadCompleted, resign, routeError } from './coordinator-logic.ts';
import { emptyGroup, restoreGroup } from './group-logic.ts';
import { coordinatorPartitionFor } from './offsets-records.ts';

describe('coordinator routing', () => {
  const partition = coordinatorPartitionFor('orders-app', 50);
  const loading = becomeLeader(initialCoordinatorState(50), partition, 3);
  const active = loadCompleted(loading, partition, 3);

  it.each([
    ['not our partition', initialCoordinatorState(50), 'orders-app', 'JoinGroup', ErrorCode.NOT_COORDINATOR],
    ['loading', loading, 'orders-app', 'OffsetFetch', ErrorCode.COORDINATOR_LOAD_IN_PROGRESS],
    ['active', active, 'orders-app', 'Heartbeat', ErrorCode.NONE],
    ['empty id on join', active, '', 'JoinGroup', ErrorCode.INVALID_GROUP_ID],
    ['empty id on describe is routed', active, '', 'DescribeGroup', coordinatorPartitionFor('', 50) === partition ? ErrorCode.NONE : ErrorCode.NOT_COORDINATOR],
    ['not a string', active, 42, 'OffsetCommit', ErrorCode.INVALID_GROUP_ID],
    ['resigned', resign(active, partition), 'orders-app', 'SyncGroup', ErrorCode.NOT_COORDINATOR],
    ['late load completion of an older epoch', loadCompleted(becomeLeader(loading, partition, 4), partition, 3), 'orders-app', 'JoinGroup', ErrorCode.COORDINATOR_LOAD_IN_PROGRESS],
  ] as const)('%s', (_name, state, groupId, api, expected) => {
    expect(routeError(state, groupId, api)).toBe(expected);
  });

  it('ListGroups lists known groups, not unknown or dead ones, and says when a load is in progress', () => {
    const groups = [
      restoreGroup('b', { protocolType: 'consumer', generationId: 2, protocol: null, leader: null, currentStateTimestampMs: 0, members: [] }, new Map(), 0),
      emptyGroup('a'),
    ];
    expect(listGroups(active, groups)).toEqual({ errorCode: ErrorCode.NONE, groups: [{ groupId: 'b', protocolType: 'consumer', state: 'Empty' }] });
    expect(listGroups(loading, groups).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
  });
});
