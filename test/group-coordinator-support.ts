/**
 * Helpers for the group coordinator tests: a client node asking `/groups` on
 * brokers, with FindCoordinator and bounded retries of retriable codes, and a
 * minimal group member (join, the leader's range assignment, sync, heartbeat)
 * written against the wire API only (actors/group-coordinator/actor-messages.ts).
 */
import type { Node } from '../runtime/node.ts';
import { ErrorCode, isRetriable } from '../protocol/errors.ts';
import { assignForSync, assignorsByName } from '../protocol/consumer/assignors/index.ts';
import { consumerProtocolType, decodeAssignment, encodeSubscription } from '../protocol/consumer/consumer-protocol.ts';
import type { FindCoordinatorReply } from '../actors/group-coordinator/actor-messages.ts';
import type { HeartbeatReply, JoinGroupReply, SyncGroupReply } from '../actors/group-coordinator/group-logic.ts';

export type Reply = { type: string; errorCode?: number } & Record<string, unknown>;

export const groupsOf = (brokerId: number | string): { node: string; path: string } => ({ node: String(brokerId), path: '/groups' });

export async function askGroups<R = Reply>(client: Node, brokerId: number | string, message: Record<string, unknown>, timeoutMs = 10_000): Promise<R> {
  return client.ask<unknown, R>(groupsOf(brokerId), (replyTo) => ({ ...message, replyTo }), { timeoutMs });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** FindCoordinator through `viaBrokerIds` in turn until one answers with a coordinator (bounded). */
export async function findCoordinator(client: Node, groupId: string, viaBrokerIds: number[], timeoutMs = 20_000): Promise<FindCoordinatorReply> {
  const deadlineMs = Date.now() + timeoutMs;
  let last: unknown;
  for (let attempt = 0; ; attempt += 1) {
    const via = viaBrokerIds[attempt % viaBrokerIds.length]!;
    last = await askGroups<FindCoordinatorReply>(client, via, { type: 'FindCoordinator', key: groupId, keyType: 0 }, 3_000).catch((err: Error) => err.message);
    if (typeof last === 'object' && last !== null && (last as FindCoordinatorReply).errorCode === ErrorCode.NONE) return last as FindCoordinatorReply;
    if (Date.now() > deadlineMs) throw new Error(`no coordinator for ${groupId} after ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await sleep(100);
  }
}

/** Asks the group's coordinator, re-finding it and retrying while the answer is a retriable coordinator error (bounded). */
export async function askCoordinator<R extends Reply>(client: Node, groupId: string, message: Record<string, unknown>, viaBrokerIds: number[], timeoutMs = 20_000): Promise<R> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const coordinator = await findCoordinator(client, groupId, viaBrokerIds, Math.max(1_000, deadlineMs - Date.now()));
    const reply = await askGroups<R>(client, coordinator.nodeId, { ...message, groupId }, 10_000).catch((err: Error) => ({ type: 'AskFailed', errorCode: ErrorCode.REQUEST_TIMED_OUT, err: err.message }) as unknown as R);
    const code = topErrorCode(reply);
    const retriable = code === ErrorCode.NOT_COORDINATOR || code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS || code === ErrorCode.COORDINATOR_NOT_AVAILABLE || reply.type === 'AskFailed';
    if (!retriable || Date.now() > deadlineMs) return reply;
    await sleep(100);
  }
}

/** The top-level code, or for an OffsetCommitReply the first partition's. */
export function topErrorCode(reply: Reply): number {
  if (typeof reply.errorCode === 'number') return reply.errorCode;
  const results = reply.results as { errorCode: number }[] | undefined;
  return results?.[0]?.errorCode ?? ErrorCode.NONE;
}

export type JoinedMember = { memberId: string; generationId: number; leader: boolean; partitions: { topic: string; partition: number }[] };

/**
 * One member's join + sync round, as a consumer does it: MEMBER_ID_REQUIRED
 * is answered by joining again with the given id; the leader computes the
 * range assignment; REBALANCE_IN_PROGRESS on sync means join again.
 */
export async function joinAndSync(
  client: Node,
  coordinatorId: number,
  groupId: string,
  options: { memberId?: string; clientId: string; topics: string[]; partitionCounts: Map<string, number>; sessionTimeoutMs: number; rebalanceTimeoutMs: number },
): Promise<JoinedMember> {
  let memberId = options.memberId ?? '';
  const range = assignorsByName.get('range')!;
  for (let round = 0; round < 20; round += 1) {
    const join = await askGroups<JoinGroupReply>(client, coordinatorId, {
      type: 'JoinGroup',
      groupId,
      memberId,
      groupInstanceId: null,
      clientId: options.clientId,
      clientHost: '127.0.0.1',
      sessionTimeoutMs: options.sessionTimeoutMs,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs,
      protocolType: consumerProtocolType,
      protocols: [{ name: 'range', metadata: encodeSubscription({ topics: options.topics, userData: null, ownedPartitions: [], generationId: -1, rackId: null }) }],
      reason: null,
    }, options.rebalanceTimeoutMs + 5_000);
    if (join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
      memberId = join.memberId;
      continue;
    }
    if (join.errorCode !== ErrorCode.NONE) throw new Error(`${options.clientId}: JoinGroup failed with ${join.errorCode}`);
    memberId = join.memberId;
    const leader = join.leader === memberId;
    const assignments = leader ? assignForSync(range, join.members, options.partitionCounts).assignments : [];
    const sync = await askGroups<SyncGroupReply>(client, coordinatorId, {
      type: 'SyncGroup',
      groupId,
      memberId,
      groupInstanceId: null,
      generationId: join.generationId,
      protocolType: consumerProtocolType,
      protocolName: 'range',
      assignments,
    }, options.rebalanceTimeoutMs + 5_000);
    if (sync.errorCode === ErrorCode.REBALANCE_IN_PROGRESS) continue;
    if (sync.errorCode !== ErrorCode.NONE) throw new Error(`${options.clientId}: SyncGroup failed with ${sync.errorCode}`);
    const decoded = decodeAssignment(sync.assignment);
    if (!decoded.ok) throw new Error(decoded.message);
    return { memberId, generationId: join.generationId, leader, partitions: [...decoded.value.assignedPartitions] };
  }
  throw new Error(`${options.clientId}: no stable generation after 20 rounds`);
}

export async function heartbeat(client: Node, coordinatorId: number, groupId: string, member: { memberId: string; generationId: number }): Promise<number> {
  const reply = await askGroups<HeartbeatReply>(client, coordinatorId, { type: 'Heartbeat', groupId, memberId: member.memberId, groupInstanceId: null, generationId: member.generationId }, 5_000);
  return reply.errorCode;
}

export { isRetriable, sleep };
