import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../runtime/clock.ts';
import { PartitionLog } from './log.ts';
import { planRetention, type RetentionSegment } from './retention.ts';
import { batchHeaders, makeBatch, makeTempDir, removeDir } from './testing.ts';

// Goal: retention deletes only whole closed segments, oldest first, below the
// high watermark. Method: planner tables, then real logs with a ManualClock.

const seg = (baseOffset: number, nextBaseOffset: number, sizeBytes: number, largestTimestampMs: number): RetentionSegment => ({
  baseOffset,
  nextBaseOffset,
  sizeBytes,
  largestTimestampMs,
});
const base = { nowMs: 10_000, retentionMs: 1_000, retentionBytes: -1, deleteEnabled: true, highWatermark: 1_000, logStartOffset: 0, totalSizeBytes: 400 };

describe('retention planner', () => {
  const closed = [seg(0, 10, 100, 8_000), seg(10, 20, 100, 9_500), seg(20, 30, 100, 8_500)];
  it.each([
    ['time: deletes the expired prefix only (stops at the first kept segment)', {}, 1],
    ['bytes: deletes oldest while the rest is still >= retention.bytes', { retentionMs: -1, retentionBytes: 200 }, 2],
    ['log start offset: deletes segments wholly below it', { retentionMs: -1, logStartOffset: 20 }, 2],
    ['high watermark: never deletes unreplicated segments', { retentionMs: 0, highWatermark: 15 }, 1],
    ['compact-only policy: nothing by time or size', { deleteEnabled: false, retentionMs: 0, retentionBytes: 0 }, 0],
    ['unlimited', { retentionMs: -1 }, 0],
  ])('%s', (_name, overrides, count) => {
    expect(planRetention(closed, { ...base, ...overrides }).deleteCount).toBe(count);
  });
});

describe('retention on a log with a fake clock', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('deletes whole closed segments older than retention.ms, moving the log start; never the active one', async () => {
    const clock = new ManualClock(1_000_000);
    const log = PartitionLog.open({ dir, clock, config: { segmentBytesMax: 2048, retentionMs: 60_000 } });
    for (let i = 0; i < 20; i++) {
      log.append(makeBatch(2, { valueBytes: 200, timestamp: clock.nowMs() }), { leaderEpoch: 0 });
      clock.advance(5_000);
    }
    log.setHighWatermark(log.logEndOffset);
    const segmentsBefore = log.segmentSummaries();
    expect(segmentsBefore.length).toBeGreaterThan(3);
    const expired = (ts: number) => clock.nowMs() - ts > 60_000;
    const expectedCount = segmentsBefore.slice(0, -1).findIndex((s) => !expired(s.largestTimestampMs));
    const r = log.enforceRetention();
    const after = log.segmentSummaries();
    expect(r.deletedSegments).toBe(expectedCount);
    expect(r.deletedSegments).toBeGreaterThan(0);
    expect(r.reasons.every((x) => x === 'retention-ms')).toBe(true);
    for (const s of after.slice(0, -1)) expect(expired(s.largestTimestampMs)).toBe(false);
    expect(log.logStartOffset).toBe(after[0]!.baseOffset);
    expect(batchHeaders(log.read(log.logStartOffset, 1 << 20))[0]!.baseOffset).toBe(log.logStartOffset);
    clock.advance(10 * 60_000);
    log.enforceRetention();
    expect(log.segmentCount).toBe(1); // only the active segment survives
    await log.close();
    const reopened = PartitionLog.open({ dir, clock, config: { segmentBytesMax: 2048, retentionMs: 60_000 } });
    expect(reopened.logStartOffset).toBe(log.logStartOffset);
    await reopened.close();
  });

  it('deletes by retention.bytes and by an advanced log start offset (DeleteRecords)', async () => {
    const clock = new ManualClock();
    const log = PartitionLog.open({ dir, clock, config: { segmentBytesMax: 2048, retentionMs: -1, retentionBytes: 5000 } });
    for (let i = 0; i < 30; i++) log.append(makeBatch(2, { valueBytes: 200 }), { leaderEpoch: 0 });
    log.setHighWatermark(log.logEndOffset);
    log.enforceRetention();
    expect(log.sizeBytes).toBeGreaterThanOrEqual(5000);
    expect(log.sizeBytes - log.segmentSummaries()[0]!.sizeBytes).toBeLessThan(5000);
    const target = log.segmentSummaries()[2]!.baseOffset + 1;
    log.advanceLogStartOffset(target);
    expect(log.logStartOffset).toBe(target);
    expect(() => log.read(target - 1, 100)).toThrow(/OFFSET_OUT_OF_RANGE/);
    expect(() => log.advanceLogStartOffset(log.logEndOffset + 1)).toThrow(/OFFSET_OUT_OF_RANGE/);
    log.enforceRetention();
    expect(log.segmentSummaries()[0]!.baseOffset).toBe(target - 1);
    await log.close();
  });
});
