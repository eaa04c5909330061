/**
 * Retention planning: which closed segments to delete. Pure: the log passes
 * in numbers and a clock reading, and deletes what the plan names.
 *
 * Owns: `planRetention`. Rules (Kafka's, cleanup.policy containing delete):
 * - only closed segments, oldest first, stopping at the first one that stays
 *   (the log stays a contiguous suffix);
 * - only segments wholly below the high watermark (a record not yet
 *   replicated is never deleted);
 * - a segment goes if it lies wholly below the log start offset
 *   (DeleteRecords), or its newest timestamp is older than retentionMs, or
 *   the log without it is still at least retentionBytes.
 * Whole segments only: retention never cuts inside a file.
 */

export interface RetentionSegment {
  baseOffset: number;
  /** Base offset of the next segment: every offset in this one is below it. */
  nextBaseOffset: number;
  sizeBytes: number;
  largestTimestampMs: number;
}

export interface RetentionInput {
  nowMs: number;
  retentionMs: number;
  retentionBytes: number;
  deleteEnabled: boolean;
  highWatermark: number;
  logStartOffset: number;
  /** Size of the whole log, active segment included. */
  totalSizeBytes: number;
}

export type RetentionReason = 'log-start-offset' | 'retention-ms' | 'retention-bytes';

export interface RetentionPlan {
  deleteCount: number;
  reasons: RetentionReason[];
}

/** `closed` are the closed segments in offset order (the active one excluded). */
export function planRetention(closed: readonly RetentionSegment[], input: RetentionInput): RetentionPlan {
  const reasons: RetentionReason[] = [];
  let remainingBytes = input.totalSizeBytes;
  for (const s of closed) {
    if (s.nextBaseOffset > input.highWatermark) break;
    let reason: RetentionReason | null = null;
    if (s.nextBaseOffset <= input.logStartOffset) reason = 'log-start-offset';
    else if (input.deleteEnabled && input.retentionMs >= 0 && input.nowMs - s.largestTimestampMs > input.retentionMs) reason = 'retention-ms';
    else if (input.deleteEnabled && input.retentionBytes >= 0 && remainingBytes - s.sizeBytes >= input.retentionBytes) reason = 'retention-bytes';
    if (reason === null) break;
    reasons.push(reason);
    remainingBytes -= s.sizeBytes;
  }
  return { deleteCount: reasons.length, reasons };
}
