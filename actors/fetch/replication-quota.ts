/**
 * The replication throttle's arithmetic (Kafka's ReplicationQuotaManager):
 * how many bytes of reassignment catch-up traffic one broker may still move
 * now, as leader (bytes served to replicas being added) or as follower (bytes
 * fetched for partitions it is adding), under the dynamic broker configs
 * `leader.replication.throttled.rate` / `follower.replication.throttled.rate`.
 *
 * Owns: `ReplicationQuota` (one token bucket), `replicationQuotaLimits`, and
 * `isThrottledReplica`, the one rule for which replicas are throttled.
 *
 * Pure: no clock, no timers, no I/O. Time is passed in as `nowMs` (monotonic
 * milliseconds); the fetch server and the fetcher own the I/O and the clock.
 *
 * Why a token bucket in debt, not Kafka's rate over a window: Kafka asks "is
 * the rate measured over the last ~11 one-second samples above the bound?"
 * and, when it is not, lets a fetch read as much as its max bytes allow; the
 * overshoot is paid back by the following windows. The bucket says the same
 * thing with two numbers and no sample ring: it fills at the rate, holds at
 * most `rate x burstMs` (the burst after an idle spell), and a read allowed
 * while it has any tokens takes what it read, going below zero if it read
 * more; the next read waits until the debt is paid. So over any interval T
 * the bytes moved are at most rate x T + the burst + one read, and the long
 * run rate is exactly the configured rate. `msUntilAvailable` tells a caller
 * how long to wait instead of polling.
 *
 * Invariants: tokensBytes <= capacity; a rate is > 0 (Infinity: unthrottled,
 * never exceeded); time never goes back (an earlier nowMs is taken as the
 * last one seen).
 */
import { assert } from '../../runtime/assert.ts';

export const replicationQuotaLimits = {
  /**
   * Unused rate a quota saves up, as time at its rate: after an idle spell a throttled replica may
   * move rate x burstMs bytes at once. One second: Kafka's sample window (replication.quota.window.size.seconds).
   */
  burstMs: 1_000,
  /** Shortest wait a throttled caller schedules (a tiny debt must not turn into a timer per millisecond). */
  waitMsMin: 10,
  /** Longest wait a throttled caller schedules before it looks again (a rate raised meanwhile takes effect by then). */
  waitMsMax: 1_000,
} as const;

assert(replicationQuotaLimits.waitMsMin > 0, 'replication quota: waitMsMin must be positive');
assert(replicationQuotaLimits.waitMsMin <= replicationQuotaLimits.waitMsMax, 'replication quota: waitMsMin <= waitMsMax');
assert(replicationQuotaLimits.burstMs >= replicationQuotaLimits.waitMsMax, 'replication quota: a wait of waitMsMax must not lose rate (burst >= wait)');

export class ReplicationQuota {
  private rateBytesPerSec: number;
  private tokensBytes: number;
  private updatedMs: number | null = null;

  constructor(
    rateBytesPerSec: number = Number.POSITIVE_INFINITY,
    private readonly burstMs: number = replicationQuotaLimits.burstMs,
  ) {
    assert(burstMs > 0, 'replication quota: burstMs must be positive');
    assert(rateBytesPerSec > 0, `replication quota: rate ${rateBytesPerSec} must be positive`);
    this.rateBytesPerSec = rateBytesPerSec;
    this.tokensBytes = this.capacityBytes();
  }

  /** Bytes per second; Infinity when unthrottled. */
  get rate(): number {
    return this.rateBytesPerSec;
  }

  get isUnlimited(): boolean {
    return this.rateBytesPerSec === Number.POSITIVE_INFINITY;
  }

  /**
   * A new rate (a config change, applied without a restart). Saved-up tokens are kept up to the new
   * capacity, and a debt is kept too (lowering the rate never forgives bytes already moved); leaving
   * "unthrottled" starts with a full bucket, as a fresh quota does.
   */
  setRate(rateBytesPerSec: number, nowMs: number): void {
    assert(rateBytesPerSec > 0, `replication quota: rate ${rateBytesPerSec} must be positive`);
    if (rateBytesPerSec === this.rateBytesPerSec) return;
    this.refill(nowMs);
    const wasUnlimited = this.isUnlimited;
    this.rateBytesPerSec = rateBytesPerSec;
    this.tokensBytes = wasUnlimited ? this.capacityBytes() : Math.min(this.tokensBytes, this.capacityBytes());
  }

  /** True when a throttled read must wait: the bucket is empty or in debt. */
  isExceeded(nowMs: number): boolean {
    if (this.isUnlimited) return false;
    this.refill(nowMs);
    return this.tokensBytes <= 0;
  }

  /** Bytes a throttled read moved (it may take the bucket into debt). */
  record(bytes: number, nowMs: number): void {
    assert(bytes >= 0, `replication quota: recorded ${bytes} bytes`);
    if (this.isUnlimited || bytes === 0) return;
    this.refill(nowMs);
    this.tokensBytes -= bytes;
  }

  /** Milliseconds until `isExceeded` turns false (0 when it is false now). */
  msUntilAvailable(nowMs: number): number {
    if (!this.isExceeded(nowMs)) return 0;
    // tokens + rate * t / 1000 > 0  <=>  t > -tokens * 1000 / rate. In floating point the refill at
    // that moment can still round to <= 0 (rate 1 B/s after a 2 MiB read: fast-check seed -1830492848),
    // so step on until the refill that refill() will compute really is positive; each step adds rate/1000
    // bytes, far above the rounding, so this ends within a step or two.
    let waitMs = Math.floor((-this.tokensBytes * 1000) / this.rateBytesPerSec) + 1;
    while (this.tokensBytes + (this.rateBytesPerSec * (nowMs + waitMs - nowMs)) / 1000 <= 0) waitMs += 1;
    return waitMs;
  }

  /** How long a throttled caller should wait before it looks again, within the named bounds. */
  waitMs(nowMs: number): number {
    return Math.min(replicationQuotaLimits.waitMsMax, Math.max(replicationQuotaLimits.waitMsMin, this.msUntilAvailable(nowMs)));
  }

  /** Tokens left now (negative: debt); for tests and logs. */
  availableBytes(nowMs: number): number {
    if (this.isUnlimited) return Number.POSITIVE_INFINITY;
    this.refill(nowMs);
    return this.tokensBytes;
  }

  private capacityBytes(): number {
    return (this.rateBytesPerSec * this.burstMs) / 1000;
  }

  private refill(nowMs: number): void {
    if (this.updatedMs === null || this.isUnlimited) {
      this.updatedMs = this.updatedMs === null ? nowMs : Math.max(this.updatedMs, nowMs);
      return;
    }
    const elapsedMs = nowMs - this.updatedMs;
    if (elapsedMs <= 0) return;
    this.updatedMs = nowMs;
    this.tokensBytes = Math.min(this.capacityBytes(), this.tokensBytes + (this.rateBytesPerSec * elapsedMs) / 1000);
  }
}

/**
 * Which replicas the throttles apply to (Kafka: the reassign tool marks the moving replicas
 * throttled, and `shouldLeaderThrottle` / `shouldFollowerThrottle` spare those in sync): a replica
 * a reassignment is adding that is not in the ISR yet. ISR members and consumers never are, so
 * acks=all writes and reads never wait on the throttle.
 */
export function isThrottledReplica(partition: { readonly addingReplicas: readonly number[]; readonly isr: readonly number[] }, brokerId: number): boolean {
  return partition.addingReplicas.includes(brokerId) && !partition.isr.includes(brokerId);
}
