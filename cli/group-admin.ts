/**
 * The one group operation the CLI still speaks on the wire itself: OffsetDelete
 * with its per-partition answer (`groups delete-offsets` prints each
 * partition's status; Admin.deleteConsumerGroupOffsets rejects as a whole).
 * FindCoordinator on any broker, then OffsetDelete on the coordinator. Every
 * other group command goes through the client's Admin (client/admin-groups.ts).
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
import type { OffsetDeleteReply } from '../actors/group-coordinator/group-logic.ts';

export const groupsPath = '/groups';

export const groupAdminLimits = {
  /** Time one group request may take. */
  requestTimeoutMs: 10_000,
  /** Total time spent retrying coordinator errors. */
  retryTotalMsMax: 20_000,
  retryBackoffMs: 250,
} as const;

type FindCoordinatorReply = { type: 'FindCoordinatorReply'; errorCode: number; errorMessage: string | null; nodeId: number; host: string; port: number };

const coordinatorErrors: ReadonlySet<number> = new Set([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]);


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
}
