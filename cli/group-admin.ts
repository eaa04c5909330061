/**
 * Group administration for the CLI over the brokers' `/groups` wire API
 * (actors/group-coordinator/actor-messages.ts): FindCoordinator on any broker,
 * then DescribeGroup / OffsetFetch / OffsetCommit / OffsetDelete / DeleteGroup on the
 * coordinator, and ListGroups on every broker (each lists the groups it
 * coordinates).
 *
 * Retries: FindCoordinator and requests that answer NOT_COORDINATOR,
 * COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS (the offsets
 * topic is being created, or its partition is moving or loading) are retried
 * every retryBackoffMs until requestTimeoutMs has passed.
 */
import type { ClientContext } from '../client/kactus.ts';
import { brokerUrl } from '../client/connection.ts';
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import type { Ref } from '../runtime/ref.ts';
import { decodeAssignment } from '../protocol/consumer/consumer-protocol.ts';
import type { DeleteGroupReply, DescribeGroupReply, OffsetCommitReply, OffsetDeleteReply, OffsetFetchReply } from '../actors/group-coordinator/group-logic.ts';

export const groupsPath = '/groups';

export const groupAdminLimits = {
  /** Time one group request may take. */
  requestTimeoutMs: 10_000,
  /** Total time spent retrying coordinator errors. */
  retryTotalMsMax: 20_000,
  retryBackoffMs: 250,
} as const;

type FindCoordinatorReply = { type: 'FindCoordinatorReply'; errorCode: number; errorMessage: string | null; nodeId: number; host: string; port: number };
type ListGroupsReply = { type: 'ListGroupsReply'; errorCode: number; groups: { groupId: string; protocolType: string; state: string }[] };

const coordinatorErrors: ReadonlySet<number> = new Set([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]);

export type GroupMemberView = { memberId: string; clientId: string; clientHost: string; partitions: { topic: string; partition: number }[] };
export type GroupView = { groupId: string; state: string; protocolType: string; protocol: string; members: GroupMemberView[]; exists: boolean };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class GroupAdmin {
  private coordinator: number | undefined;

  constructor(private readonly context: ClientContext, readonly groupId: string) {}

  private ask<R>(brokerId: number, body: Record<string, unknown>): Promise<R> {
    return this.context.connection.node.ask<unknown, R>({ node: String(brokerId), path: groupsPath } as Ref<unknown>, (replyTo) => ({ ...body, replyTo }), { timeoutMs: groupAdminLimits.requestTimeoutMs });
  }

  private async findCoordinator(): Promise<number> {
    const via = this.context.connection.pickBroker();
    const reply = await this.ask<FindCoordinatorReply>(via, { type: 'FindCoordinator', key: this.groupId, keyType: 0 });
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `FindCoordinator for group "${this.groupId}": ${reply.errorMessage ?? ''}`.trim());
    const node = this.context.connection.node;
    if (node.peerStatus(String(reply.nodeId)) === 'unknown') node.addPeer(String(reply.nodeId), brokerUrl(reply, this.context.connection.scheme));
    return reply.nodeId;
  }

  /** Sends `body` to the group's coordinator, retrying coordinator moves; `errorOf` reads the reply's error code. */
  async request<R>(body: Record<string, unknown>, errorOf: (reply: R) => number): Promise<R> {
    const deadlineMs = Date.now() + groupAdminLimits.retryTotalMsMax;
    for (;;) {
      let code: number;
      let failure: unknown;
      try {
        this.coordinator ??= await this.findCoordinator();
        const reply = await this.ask<R>(this.coordinator, { ...body, groupId: this.groupId });
        code = errorOf(reply);
        if (!coordinatorErrors.has(code)) return reply;
        failure = new KactusError(code, `group "${this.groupId}": ${String(body.type)}`);
      } catch (err) {
        if (!(err instanceof KactusError) || !err.retriable) throw err;
        failure = err;
      }
      this.coordinator = undefined;
      if (Date.now() > deadlineMs) throw failure;
      await sleep(groupAdminLimits.retryBackoffMs);
    }
  }

  async describe(): Promise<GroupView> {
    const reply = await this.request<DescribeGroupReply>({ type: 'DescribeGroup' }, (r) => r.errorCode);
    if (reply.errorCode === ErrorCode.GROUP_ID_NOT_FOUND) return { groupId: this.groupId, state: 'Dead', protocolType: '', protocol: '', members: [], exists: false };
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `describe group "${this.groupId}"`);
    const members = reply.members.map((m) => {
      const decoded = m.assignment.byteLength > 0 && reply.protocolType === 'consumer' ? decodeAssignment(m.assignment) : undefined;
      const partitions = decoded !== undefined && decoded.ok ? decoded.value.assignedPartitions.map((tp) => ({ topic: tp.topic, partition: tp.partition })) : [];
      return { memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost, partitions };
    });
    return { groupId: reply.groupId, state: reply.state, protocolType: reply.protocolType, protocol: reply.protocol, members, exists: true };
  }

  /** Committed offsets of every partition (null) or of the ones named; -1 where nothing is committed. */
  async committed(partitions: { topic: string; partition: number }[] | null = null): Promise<OffsetFetchReply['offsets']> {
    const reply = await this.request<OffsetFetchReply>({ type: 'OffsetFetch', partitions }, (r) => r.errorCode);
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `committed offsets of group "${this.groupId}"`);
    return reply.offsets;
  }

  /** Commits offsets as an admin (no member, generation -1): the group must have no active members. */
  async commit(offsets: { topic: string; partition: number; offset: number }[]): Promise<void> {
    const reply = await this.request<OffsetCommitReply & { errorCode?: number; errorMessage?: string }>(
      { type: 'OffsetCommit', memberId: '', groupInstanceId: null, generationId: -1, offsets: offsets.map((o) => ({ ...o, leaderEpoch: -1, metadata: null })) },
      (r) => r.errorCode ?? r.results.find((p) => coordinatorErrors.has(p.errorCode))?.errorCode ?? 0,
    );
    const failed = reply.results.filter((p) => p.errorCode !== 0);
    if ((reply.errorCode ?? 0) !== 0) throw new KactusError(reply.errorCode!, `commit offsets of group "${this.groupId}": ${reply.errorMessage ?? ''}`.trim());
    if (failed.length > 0) throw new KactusError(failed[0]!.errorCode, `commit offsets of group "${this.groupId}": ${failed.map((p) => `${p.topic}-${p.partition}`).join(', ')} refused`);
  }

  /**
   * Deletes the committed offsets of `partitions` (Kafka's OffsetDelete):
   * each partition's code comes back (GROUP_SUBSCRIBED_TO_TOPIC for a topic
   * an active member subscribes to, 0 otherwise, whether or not an offset was
   * committed); a group-level refusal (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP for
   * an active group that is not a consumer group) throws.
   */
  async deleteOffsets(partitions: { topic: string; partition: number }[]): Promise<OffsetDeleteReply['results']> {
    const reply = await this.request<OffsetDeleteReply & { errorMessage?: string }>({ type: 'OffsetDelete', partitions }, (r) => r.errorCode);
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `delete offsets of group "${this.groupId}": ${reply.errorMessage ?? ''}`.trim());
    return reply.results;
  }

  async delete(): Promise<void> {
    const reply = await this.request<DeleteGroupReply>({ type: 'DeleteGroup' }, (r) => r.errorCode);
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `delete group "${this.groupId}"`);
  }
}

/** Every group any broker coordinates (brokers that do not answer are skipped; none answering is an error). */
export async function listGroups(context: ClientContext, brokerIds: readonly number[]): Promise<ListGroupsReply['groups']> {
  const node = context.connection.node;
  const answers = await Promise.all(
    brokerIds.map((id) =>
      node.ask<unknown, ListGroupsReply>({ node: String(id), path: groupsPath } as Ref<unknown>, (replyTo) => ({ type: 'ListGroups', replyTo }), { timeoutMs: groupAdminLimits.requestTimeoutMs }).catch((err: unknown) => err as Error),
    ),
  );
  const replies = answers.filter((a): a is ListGroupsReply => !(a instanceof Error) && a.errorCode === 0);
  if (replies.length === 0) {
    const first = answers[0];
    if (first instanceof Error) throw first;
    throw new KactusError(first?.errorCode ?? ErrorCode.COORDINATOR_NOT_AVAILABLE, 'list groups: no broker answered');
  }
  const byId = new Map<string, ListGroupsReply['groups'][number]>();
  for (const reply of replies) for (const group of reply.groups) byId.set(group.groupId, group);
  return [...byId.values()].sort((a, b) => a.groupId.localeCompare(b.groupId));
}
