/**
 * Failed-authentication limiter (#19), pure: how many failed attempts an
 * address may make before it must wait, as a token bucket per address with
 * a bounded table. A listener asks `mayAttempt` before it starts an
 * exchange and reports `failed` after a refusal; a success leaves the bucket
 * as it is (a good client pays nothing, a password guesser is slowed to the
 * refill rate).
 *
 * Owns: `AttemptLimiter` and `attemptLimits`. Time is passed in (ms), so
 * tests drive it without a clock.
 */
export const attemptLimits = {
  /** Failures an address may make in a burst. */
  burst: 10,
  /** One more failure allowed per this many ms. */
  refillMs: 1_000,
  /** Addresses remembered; past it the one seen longest ago is forgotten (a spray of addresses cannot grow the table). */
  addressesMax: 10_000,
} as const;

type Bucket = { tokens: number; updatedMs: number };

export class AttemptLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly limits: { burst: number; refillMs: number; addressesMax: number } = attemptLimits) {}

  private bucket(address: string, nowMs: number): Bucket {
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      bucket = { tokens: this.limits.burst, updatedMs: nowMs };
      if (this.buckets.size >= this.limits.addressesMax) this.buckets.delete(this.buckets.keys().next().value!);
    } else {
      this.buckets.delete(address); // re-inserted below: Map order is recency
      bucket.tokens = Math.min(this.limits.burst, bucket.tokens + Math.max(0, nowMs - bucket.updatedMs) / this.limits.refillMs);
      bucket.updatedMs = nowMs;
    }
    this.buckets.set(address, bucket);
    return bucket;
  }

  /** Whether `address` may start an authentication now; when not, how long until it may. */
  mayAttempt(address: string, nowMs: number): { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number } {
    const bucket = this.bucket(address, nowMs);
    if (bucket.tokens >= 1) return { ok: true };
    return { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) * this.limits.refillMs) };
  }

  /** A refused attempt from `address`: it costs one token. */
  failed(address: string, nowMs: number): void {
    const bucket = this.bucket(address, nowMs);
    bucket.tokens = Math.max(0, bucket.tokens - 1);
  }

  get addressCount(): number {
    return this.buckets.size;
  }
}
