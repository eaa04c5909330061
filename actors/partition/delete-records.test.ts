/**
 * DeleteRecords on a leader as pure tables (delete-records.ts): where the log
 * start goes, the low watermark over live replicas, and the waiting requests
 * answered when the low watermark gets there, at their deadline, or on
 * resignation. No timers: time is the nowMs argument.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { awaitLowWatermark, deleteRecordsLimits, deleteRecordsTarget, lowWatermark, resignDeleteRecords, settleDeleteRecords, type DeleteRecordsWaiting } from './delete-records.ts';

describe('deleteRecordsTarget (Partition.deleteRecordsOnLeader, UnifiedLog.maybeIncrementLogStartOffset)', () => {
  const target = (requestedOffset: number, deleteEnabled = true) => deleteRecordsTarget({ requestedOffset, highWatermark: 10, deleteEnabled, key: 't-0' });
  it.each([
    [4, { type: 'Advance', offset: 4 }],
    [10, { type: 'Advance', offset: 10 }],
    [0, { type: 'Advance', offset: 0 }],
    [-1, { type: 'Advance', offset: 10 }],
  ])('offset %d -> %o', (offset, expected) => expect(target(offset)).toEqual(expected));
  it('above the high watermark, or negative other than -1: OFFSET_OUT_OF_RANGE', () => {
    expect(target(11)).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.OFFSET_OUT_OF_RANGE });
    expect(target(-2)).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.OFFSET_OUT_OF_RANGE });
  });
  it('a compact-only log: POLICY_VIOLATION, before any offset check', () => {
    expect(target(4, false)).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.POLICY_VIOLATION });
    expect(target(11, false)).toMatchObject({ type: 'Refuse', errorCode: ErrorCode.POLICY_VIOLATION });
  });
});

describe('lowWatermark (Partition.lowWatermarkIfLeader)', () => {
  const alive = (id: number) => id !== 3;
  it('the smallest log start over the leader and the followers on live brokers', () => {
    expect(lowWatermark(8, 1, [1, 2, 3], new Map([[2, 5], [3, 0]]), alive)).toBe(5);
    expect(lowWatermark(8, 1, [1, 2, 3], new Map([[2, 9], [3, 0]]), alive)).toBe(8);
  });
  it('a live follower not heard from counts as -1 (Kafka UnknownOffset); a dead one not at all', () => {
    expect(lowWatermark(8, 1, [1, 2, 3], new Map(), alive)).toBe(-1);
    expect(lowWatermark(8, 1, [1, 3], new Map(), alive)).toBe(8);
  });
  it('a single-replica partition: the leader\'s own log start', () => expect(lowWatermark(7, 1, [1], new Map(), alive)).toBe(7));
});

describe('waiting DeleteRecords (DelayedDeleteRecords)', () => {
  type W = DeleteRecordsWaiting<string>;
  it('answers at once when the low watermark is there; timeout 0 answers REQUEST_TIMED_OUT with what there is', () => {
    expect(awaitLowWatermark<string>([], { requestedOffset: 5, timeoutMs: 100, replyTo: 'a' }, 5, 0)).toEqual([[], [{ replyTo: 'a', errorCode: 0, lowWatermark: 5 }]]);
    expect(awaitLowWatermark<string>([], { requestedOffset: 5, timeoutMs: 0, replyTo: 'a' }, 2, 0)).toEqual([[], [{ replyTo: 'a', errorCode: ErrorCode.REQUEST_TIMED_OUT, lowWatermark: 2 }]]);
  });
  it('waits, then answers when a follower reports, or REQUEST_TIMED_OUT at its deadline', () => {
    let waiting: W = [];
    [waiting] = awaitLowWatermark(waiting, { requestedOffset: 5, timeoutMs: 100, replyTo: 'a' }, 0, 1_000);
    [waiting] = awaitLowWatermark(waiting, { requestedOffset: 9, timeoutMs: 50, replyTo: 'b' }, 0, 1_000);
    expect(waiting).toHaveLength(2);
    let answers;
    [waiting, answers] = settleDeleteRecords(waiting, 4, 1_010);
    expect(answers).toEqual([]);
    [waiting, answers] = settleDeleteRecords(waiting, 6, 1_020);
    expect(answers).toEqual([{ replyTo: 'a', errorCode: 0, lowWatermark: 6 }]);
    [waiting, answers] = settleDeleteRecords(waiting, 6, 1_050);
    expect(answers).toEqual([{ replyTo: 'b', errorCode: ErrorCode.REQUEST_TIMED_OUT, lowWatermark: 6 }]);
    expect(waiting).toEqual([]);
  });
  it('resigning answers every waiting one NOT_LEADER_OR_FOLLOWER with low watermark -1', () => {
    const [waiting] = awaitLowWatermark<string>([], { requestedOffset: 5, timeoutMs: 100, replyTo: 'a' }, 0, 0);
    expect(resignDeleteRecords(waiting)).toEqual([{ replyTo: 'a', errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, lowWatermark: -1 }]);
  });
  it(`at most ${deleteRecordsLimits.waitingMax} wait; past it THROTTLING_QUOTA_EXCEEDED (retriable)`, () => {
    const full: W = Array.from({ length: deleteRecordsLimits.waitingMax }, (_, i) => ({ requestedOffset: 5, deadlineMs: 100, replyTo: String(i) }));
    const [waiting, answers] = awaitLowWatermark(full, { requestedOffset: 5, timeoutMs: 100, replyTo: 'late' }, 0, 0);
    expect(waiting).toBe(full);
    expect(answers).toEqual([{ replyTo: 'late', errorCode: ErrorCode.THROTTLING_QUOTA_EXCEEDED, lowWatermark: 0 }]);
  });
});
