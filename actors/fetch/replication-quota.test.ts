/**
 * The replication quota's arithmetic, with time as an input: tables for the
 * rules, and properties (fast-check) for the bound that makes it a throttle
 * (never more than rate x T + burst + one read) and for liveness (after
 * msUntilAvailable a read is allowed again, so a throttled move always ends).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplicationQuota, isThrottledReplica, replicationQuotaLimits } from './replication-quota.ts';

describe('ReplicationQuota', () => {
  it('is never exceeded while unthrottled', () => {
    const quota = new ReplicationQuota();
    quota.record(10 ** 12, 0);
    expect(quota.isUnlimited).toBe(true);
    expect(quota.isExceeded(0)).toBe(false);
    expect(quota.msUntilAvailable(0)).toBe(0);
  });

  it('allows a burst of rate x burstMs, then waits out the debt of the read that overshot', () => {
    const quota = new ReplicationQuota(1_000, 1_000); // 1,000 B/s, 1,000 B of burst
    expect(quota.isExceeded(0)).toBe(false);
    quota.record(600, 0);
    expect(quota.isExceeded(0)).toBe(false);
    quota.record(900, 0); // 1,500 moved: 500 B of debt
    expect(quota.isExceeded(0)).toBe(true);
    expect(quota.availableBytes(0)).toBe(-500);
    expect(quota.msUntilAvailable(0)).toBe(501);
    expect(quota.isExceeded(500)).toBe(true); // exactly paid back: still nothing to spend
    expect(quota.isExceeded(501)).toBe(false);
  });

  it('saves up at most the burst while idle', () => {
    const quota = new ReplicationQuota(1_000, 1_000);
    quota.record(1_000, 0);
    expect(quota.availableBytes(60_000)).toBe(1_000);
  });

  it('takes a new rate at once: lowering keeps the debt, raising speeds the refill, unthrottled clears it', () => {
    const quota = new ReplicationQuota(1_000, 1_000);
    quota.record(3_000, 0); // 2,000 B of debt
    expect(quota.msUntilAvailable(0)).toBe(2_001);
    quota.setRate(10_000, 0);
    expect(quota.msUntilAvailable(0)).toBe(201);
    quota.setRate(500, 0);
    expect(quota.availableBytes(0)).toBe(-2_000);
    quota.setRate(Number.POSITIVE_INFINITY, 0);
    expect(quota.isExceeded(0)).toBe(false);
    quota.setRate(1_000, 5);
    expect(quota.availableBytes(5)).toBe(1_000); // a fresh throttle starts with a full bucket
  });

  it('treats a clock that goes back as standing still', () => {
    const quota = new ReplicationQuota(1_000, 1_000);
    quota.record(1_500, 100);
    expect(quota.availableBytes(50)).toBe(-500);
    expect(quota.availableBytes(600)).toBe(0);
  });

  it('bounds the wait it asks for', () => {
    const quota = new ReplicationQuota(1, 1_000);
    quota.record(10 ** 9, 0);
    expect(quota.waitMs(0)).toBe(replicationQuotaLimits.waitMsMax);
    const small = new ReplicationQuota(10 ** 9, 1_000);
    small.record(10 ** 6 + 1, 0); // 1 B of debt: 1 ns to pay
    expect(small.waitMs(0)).toBe(replicationQuotaLimits.waitMsMin);
  });

  it('property: reads allowed by the quota move at most rate x T + burst + one read', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000_000 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.array(fc.record({ advanceMs: fc.integer({ min: 0, max: 2_000 }), readBytes: fc.integer({ min: 0, max: 2 * 1024 * 1024 }) }), { maxLength: 200 }),
        (rate, burstMs, steps) => {
          const quota = new ReplicationQuota(rate, burstMs);
          let nowMs = 0;
          let moved = 0;
          let largestRead = 0;
          for (const step of steps) {
            nowMs += step.advanceMs;
            if (quota.isExceeded(nowMs)) continue;
            quota.record(step.readBytes, nowMs);
            moved += step.readBytes;
            largestRead = Math.max(largestRead, step.readBytes);
            const bound = (rate * nowMs) / 1000 + (rate * burstMs) / 1000 + largestRead;
            if (moved > bound * (1 + 1e-9) + 1e-6) return false;
          }
          return true;
        },
      ),
    );
  });

  it('property: once msUntilAvailable has passed, a read is allowed (a throttled move always progresses)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000_000 }), fc.array(fc.integer({ min: 0, max: 4 * 1024 * 1024 }), { minLength: 1, maxLength: 50 }), (rate, reads) => {
        const quota = new ReplicationQuota(rate);
        let nowMs = 0;
        for (const bytes of reads) {
          nowMs += quota.msUntilAvailable(nowMs);
          if (quota.isExceeded(nowMs)) return false;
          quota.record(bytes, nowMs);
        }
        return true;
      }),
    );
  });

  it('a 2 MiB read at 1 B/s: the computed wait is long enough despite floating-point rounding (the counterexample of seed -1830492848)', () => {
    const quota = new ReplicationQuota(1);
    let nowMs = 0;
    for (const bytes of [1, 2_097_153, 0]) {
      nowMs += quota.msUntilAvailable(nowMs);
      expect(quota.isExceeded(nowMs)).toBe(false);
      quota.record(bytes, nowMs);
    }
  });
});

describe('isThrottledReplica', () => {
  it('throttles only a replica being added that is not in the ISR', () => {
    const moving = { addingReplicas: [4, 5], isr: [1, 2, 5] };
    expect(isThrottledReplica(moving, 4)).toBe(true);
    expect(isThrottledReplica(moving, 5)).toBe(false); // caught up and in the ISR: acks=all waits on it
    expect(isThrottledReplica(moving, 1)).toBe(false);
    expect(isThrottledReplica({ addingReplicas: [], isr: [1] }, 2)).toBe(false);
  });
});
