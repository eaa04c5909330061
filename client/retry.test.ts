import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { backoffMs, retryPolicyDefault, withRetry } from './retry.ts';

const policy = { ...retryPolicyDefault, retriesMax: 4, backoffMsInitial: 100, backoffMsMax: 1_000, multiplier: 2, jitterRatio: 0.2 };

describe('retry', () => {
  it('backs off exponentially with jitter inside [1-r, 1+r] and a cap', () => {
    expect(backoffMs(0, policy, 0.5)).toBe(100);
    expect(backoffMs(1, policy, 0.5)).toBe(200);
    expect(backoffMs(3, policy, 0.5)).toBe(800);
    expect(backoffMs(10, policy, 0.5)).toBe(1_000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.double({ min: 0, max: 0.999_999, noNaN: true }), (attempt, r) => {
        const base = Math.min(1_000, 100 * 2 ** attempt);
        const delay = backoffMs(attempt, policy, r);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
        expect(delay).toBeLessThanOrEqual(Math.ceil(base * 1.2));
      }),
    );
  });

  it('retries retriable KactusErrors up to retriesMax, then throws the last one', async () => {
    const delays: number[] = [];
    let calls = 0;
    const err = await withRetry(
      async () => {
        calls += 1;
        throw new KactusError(ErrorCode.NOT_LEADER_OR_FOLLOWER, `try ${calls}`);
      },
      policy,
      { sleep: async (ms) => void delays.push(ms), random: () => 0.5 },
    ).catch((e: unknown) => e as KactusError);
    expect(calls).toBe(5);
    expect(err.message).toContain('try 5');
    expect(delays).toEqual([100, 200, 400, 800]);
  });

  it('never retries a non-retriable code, a TypeError or anything that is not a KactusError', async () => {
    for (const thrown of [new KactusError(ErrorCode.TOPIC_ALREADY_EXISTS), new TypeError('bug'), new Error('plain')]) {
      let calls = 0;
      await expect(withRetry(async () => {
        calls += 1;
        throw thrown;
      }, policy, { sleep: async () => undefined })).rejects.toBe(thrown);
      expect(calls).toBe(1);
    }
  });

  it('stops at the deadline and calls onRetriable before each retry', async () => {
    let now = 0;
    const seen: number[] = [];
    let calls = 0;
    await expect(withRetry(async () => {
      calls += 1;
      throw new KactusError(ErrorCode.REQUEST_TIMED_OUT);
    }, { ...policy, retriesMax: 100 }, { deadlineMs: 350, nowMs: () => now, sleep: async (ms) => void (now += ms), random: () => 0.5, onRetriable: (_e, attempt) => void seen.push(attempt) })).rejects.toThrow(/REQUEST_TIMED_OUT/);
    expect(calls).toBe(3); // 0 -> +100 -> +200 = 300; the next (+400) would pass 350
    expect(seen).toEqual([0, 1]);
    expect(await withRetry(async (attempt) => (attempt < 2 ? Promise.reject(new KactusError(ErrorCode.NETWORK_EXCEPTION)) : 'ok'), policy, { sleep: async () => undefined })).toBe('ok');
  });
});
