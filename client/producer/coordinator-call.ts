/**
 * Requests to a coordinator (the transaction coordinator at `/transactions`,
 * or a group coordinator at `/groups`) with Kafka's retry rules:
 *
 * - The coordinator is found with a lookup sent to any broker (round robin);
 *   its node is added to the client's peers when new.
 * - NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS
 *   (in the reply) and retriable transport errors (timeout, link down): forget
 *   the coordinator, find it again, retry after a backoff.
 * - CONCURRENT_TRANSACTIONS: the coordinator is busy with this id (a write or
 *   markers in flight): retry the same coordinator after a backoff.
 * - Anything else is the caller's: the reply is returned as it is.
 *
 * Bounded by a deadline (absolute, Date.now()) and `attemptsMax`; the last
 * error is thrown when either runs out (a KactusError, retriable when the
 * outcome is unknown).
 *
 * Imports: protocol/errors.ts, runtime ref type, ../connection.ts, ../retry.ts.
 */
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { Ref } from '../../runtime/ref.ts';
import { brokerUrl, type Connection } from '../connection.ts';
import { backoffMs, type RetryPolicy } from '../retry.ts';

export const coordinatorErrorCodes: ReadonlySet<number> = new Set([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]);

/** Attempts of one coordinator call (each after a backoff); the deadline usually ends it first. */
export const coordinatorAttemptsMax = 200;

type FindReply = { errorCode: number; errorMessage?: string | null; nodeId: number; host: string; port: number };

export type CoordinatorKind = { path: '/transactions' | '/groups'; find: (key: string) => Record<string, unknown> };

export const txnCoordinatorKind: CoordinatorKind = { path: '/transactions', find: (transactionalId) => ({ type: 'FindTxnCoordinator', transactionalId }) };
export const groupCoordinatorKind: CoordinatorKind = { path: '/groups', find: (groupId) => ({ type: 'FindCoordinator', key: groupId, keyType: 0 }) };

export type CoordinatorCallOptions = {
  connection: Connection;
  retry: RetryPolicy;
  requestTimeoutMs: number;
  deadlineMs: number;
  /** Stop retrying (the producer failed or closed). */
  cancelled?: () => boolean;
};

/** Remembers one coordinator per key and sends requests to it with the retry rules above. */
export class CoordinatorClient {
  private readonly known = new Map<string, number>();
  private lastVia: number | undefined;

  constructor(
    private readonly kind: CoordinatorKind,
    private readonly connection: Connection,
  ) {}

  forget(key: string): void {
    this.known.delete(key);
  }

  async find(key: string, timeoutMs: number): Promise<number> {
    const cached = this.known.get(key);
    if (cached !== undefined) return cached;
    const via = this.connection.pickBroker(this.lastVia);
    this.lastVia = via;
    const reply = await this.connection.node.ask<unknown, FindReply>({ node: String(via), path: this.kind.path }, (replyTo) => ({ ...this.kind.find(key), replyTo }), { timeoutMs });
    if (typeof reply !== 'object' || reply === null || typeof reply.errorCode !== 'number') throw new KactusError(ErrorCode.CORRUPT_MESSAGE, `malformed coordinator lookup answer from broker ${via}`);
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `coordinator lookup for ${key} via broker ${via}: ${reply.errorMessage ?? 'refused'}`);
    if (!Number.isInteger(reply.nodeId) || reply.nodeId < 0) throw new KactusError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `coordinator lookup for ${key}: no coordinator (node ${reply.nodeId})`);
    if (this.connection.node.peerStatus(String(reply.nodeId)) === 'unknown') this.connection.node.addPeer(String(reply.nodeId), brokerUrl(reply, this.connection.scheme));
    this.known.set(key, reply.nodeId);
    return reply.nodeId;
  }

  /**
   * Sends `makeBody()` to the coordinator of `key` until the reply's code
   * (per `errorOf`) is neither a coordinator error nor CONCURRENT_TRANSACTIONS.
   */
  async call<R>(key: string, what: string, makeBody: () => Record<string, unknown>, errorOf: (reply: R) => number, options: CoordinatorCallOptions): Promise<R> {
    let last: KactusError | undefined;
    for (let attempt = 0; attempt < coordinatorAttemptsMax; attempt += 1) {
      if (attempt > 0) {
        const delayMs = backoffMs(attempt - 1, options.retry, Math.random());
        if (Date.now() + delayMs > options.deadlineMs || options.cancelled?.()) break;
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      let nodeId: number;
      try {
        nodeId = await this.find(key, options.requestTimeoutMs);
      } catch (err) {
        if (!(err instanceof KactusError) || !err.retriable) throw err;
        last = err;
        continue;
      }
      let reply: R;
      try {
        reply = await this.connection.node.ask<unknown, R>({ node: String(nodeId), path: this.kind.path }, (replyTo: Ref<R>) => ({ ...makeBody(), replyTo }), { timeoutMs: options.requestTimeoutMs });
      } catch (err) {
        if (!(err instanceof KactusError) || !err.retriable) throw err;
        this.forget(key);
        last = new KactusError(err.code, `${what} to node ${nodeId}: ${err.message}`, { cause: err });
        continue;
      }
      if (typeof reply !== 'object' || reply === null) throw new KactusError(ErrorCode.CORRUPT_MESSAGE, `malformed ${what} answer from node ${nodeId}`);
      const code = errorOf(reply);
      if (coordinatorErrorCodes.has(code)) {
        this.forget(key);
        last = new KactusError(code, `${what} to node ${nodeId}`);
        continue;
      }
      if (code === ErrorCode.CONCURRENT_TRANSACTIONS) {
        last = new KactusError(code, `${what} to node ${nodeId}`);
        continue;
      }
      return reply;
    }
    throw last ?? new KactusError(ErrorCode.REQUEST_TIMED_OUT, `${what}: no answer before the deadline`);
  }
}
