/**
 * DeleteRecords on a partition leader, as pure logic: where the log start
 * goes, what the low watermark is, and the waiting requests (Kafka's
 * DelayedDeleteRecords purgatory, one table per partition). The replica actor
 * (actor.ts) is the shell: it advances the log, feeds follower positions in,
 * and sends the replies this module returns.
 *
 * Owns: `deleteRecordsTarget` (Kafka's Partition.deleteRecordsOnLeader and
 * UnifiedLog.maybeIncrementLogStartOffset checks), `lowWatermark` (Kafka's
 * Partition.lowWatermarkIfLeader), and `DeleteRecordsWaiting` with its pure
 * transitions (`awaitLowWatermark`, `settleDeleteRecords`, `resignDeleteRecords`).
 *
 * Kafka's rules kept:
 * - offset -1 means the high watermark; any other negative offset, or one
 *   above the high watermark, is OFFSET_OUT_OF_RANGE (nothing changes).
 * - A log whose cleanup.policy has no `delete` (compact only) is
 *   POLICY_VIOLATION: its records cannot be deleted.
 * - An offset at or below the current log start is no error: nothing moves,
 *   and the answer is the low watermark.
 * - The low watermark is the smallest log start over the leader and every
 *   assigned follower on a live broker (in the ISR or not); a follower never
 *   heard from since this leader took over counts as -1, Kafka's
 *   UnknownOffset, so a fresh leader first waits for one fetch of each.
 * - The answer waits until the low watermark reaches the requested offset,
 *   at most the request's timeout: then REQUEST_TIMED_OUT with the low
 *   watermark reached so far (the leader's log start has moved regardless,
 *   as in Kafka: a timeout does not undo the deletion). Losing leadership
 *   answers the waiting ones NOT_LEADER_OR_FOLLOWER with low watermark -1.
 *
 * Bounds: deleteRecordsLimits.waitingMax requests wait per partition; past
 * it a request is answered THROTTLING_QUOTA_EXCEEDED (retriable) after its
 * log start has moved, as parked acks=all produces are bounded.
 *
 * Imports nothing from runtime/ or storage/: time is an input (nowMs).
 */
import { ErrorCode } from '../../protocol/errors.ts';

export const deleteRecordsLimits = {
  /** Requests waiting for the followers' log starts, per partition. */
  waitingMax: 1_000,
} as const;

/** Kafka's DeleteRecordsRequest.HIGH_WATERMARK. */
export const deleteToHighWatermark = -1;
/** Kafka's DeleteRecordsResponse.INVALID_LOW_WATERMARK: the answer of a partition that failed. */
export const invalidLowWatermark = -1;

export type DeleteRecordsTarget = { readonly type: 'Advance'; readonly offset: number } | { readonly type: 'Refuse'; readonly errorCode: number; readonly errorMessage: string };

/** Where the log start goes for a request of `requestedOffset`, or why it cannot. */
export function deleteRecordsTarget(input: { requestedOffset: number; highWatermark: number; deleteEnabled: boolean; key: string }): DeleteRecordsTarget {
  if (!input.deleteEnabled) return { type: 'Refuse', errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: `Records of partition ${input.key} can not be deleted due to the configured policy` };
  const offset = input.requestedOffset === deleteToHighWatermark ? input.highWatermark : input.requestedOffset;
  if (offset < 0) return { type: 'Refuse', errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, errorMessage: `The offset ${offset} for partition ${input.key} is not valid` };
  if (offset > input.highWatermark) {
    return { type: 'Refuse', errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, errorMessage: `Cannot increment the log start offset to ${offset} of partition ${input.key} since it is larger than the high watermark ${input.highWatermark}` };
  }
  return { type: 'Advance', offset };
}

/**
 * The smallest log start over the leader (`leaderLogStartOffset`) and the followers among `replicas` on live
 * brokers. `followerLogStartOffsets` holds what each follower last reported; one not in it counts as -1.
 */
export function lowWatermark(leaderLogStartOffset: number, self: number, replicas: readonly number[], followerLogStartOffsets: ReadonlyMap<number, number>, isAlive: (brokerId: number) => boolean): number {
  let low = leaderLogStartOffset;
  for (const replica of replicas) {
    if (replica === self || !isAlive(replica)) continue;
    low = Math.min(low, followerLogStartOffsets.get(replica) ?? -1);
  }
  return low;
}

export type DeleteRecordsWaiter<R> = { readonly requestedOffset: number; readonly deadlineMs: number; readonly replyTo: R };

export type DeleteRecordsAnswer<R> = { readonly replyTo: R; readonly errorCode: number; readonly lowWatermark: number };

/** The requests of one partition waiting for its low watermark, oldest first. */
export type DeleteRecordsWaiting<R> = readonly DeleteRecordsWaiter<R>[];

/**
 * A request whose log start has moved to `requestedOffset`: answered at once when the low watermark is there
 * (or, with `timeoutMs` 0, whatever it is), else it waits. Past waitingMax it is answered THROTTLING_QUOTA_EXCEEDED.
 */
export function awaitLowWatermark<R>(waiting: DeleteRecordsWaiting<R>, request: { requestedOffset: number; timeoutMs: number; replyTo: R }, low: number, nowMs: number): [DeleteRecordsWaiting<R>, DeleteRecordsAnswer<R>[]] {
  if (low >= request.requestedOffset) return [waiting, [{ replyTo: request.replyTo, errorCode: ErrorCode.NONE, lowWatermark: low }]];
  if (request.timeoutMs <= 0) return [waiting, [{ replyTo: request.replyTo, errorCode: ErrorCode.REQUEST_TIMED_OUT, lowWatermark: low }]];
  if (waiting.length >= deleteRecordsLimits.waitingMax) return [waiting, [{ replyTo: request.replyTo, errorCode: ErrorCode.THROTTLING_QUOTA_EXCEEDED, lowWatermark: low }]];
  return [[...waiting, { requestedOffset: request.requestedOffset, deadlineMs: nowMs + request.timeoutMs, replyTo: request.replyTo }], []];
}

/** After a follower reported or time passed: the ones the low watermark reached answer NONE, the expired ones REQUEST_TIMED_OUT. */
export function settleDeleteRecords<R>(waiting: DeleteRecordsWaiting<R>, low: number, nowMs: number): [DeleteRecordsWaiting<R>, DeleteRecordsAnswer<R>[]] {
  if (waiting.length === 0) return [waiting, []];
  const answers: DeleteRecordsAnswer<R>[] = [];
  const still: DeleteRecordsWaiter<R>[] = [];
  for (const w of waiting) {
    if (low >= w.requestedOffset) answers.push({ replyTo: w.replyTo, errorCode: ErrorCode.NONE, lowWatermark: low });
    else if (nowMs >= w.deadlineMs) answers.push({ replyTo: w.replyTo, errorCode: ErrorCode.REQUEST_TIMED_OUT, lowWatermark: low });
    else still.push(w);
  }
  return answers.length === 0 ? [waiting, []] : [still, answers];
}

/** Leadership lost: every waiting request is NOT_LEADER_OR_FOLLOWER (Kafka's tryComplete on a non-leader). */
export function resignDeleteRecords<R>(waiting: DeleteRecordsWaiting<R>): DeleteRecordsAnswer<R>[] {
  return waiting.map((w) => ({ replyTo: w.replyTo, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, lowWatermark: invalidLowWatermark }));
}
