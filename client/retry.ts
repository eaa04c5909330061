/**
 * Bounded retries with exponential backoff and jitter.
 *
 * Owns: `RetryPolicy` (bounds with units last), `backoffMs` (pure: attempt
 * number and a random draw in, delay out) and `withRetry` (runs an async
 * operation until it succeeds, fails with a non-retriable error, runs out of
 * attempts, or passes its deadline).
 *
 * Rules (STYLE rule 6, kafkajs): the decision to retry reads `retriable` on a
 * KactusError and nothing else. Anything that is not a KactusError (a
 * TypeError, an AssertionError: bugs) is never retried. The delay grows as
 * `backoffMsInitial * multiplier^attempt`, capped at `backoffMsMax`, then
 * scaled by a uniform factor in [1 - jitterRatio, 1 + jitterRatio] so many
 * clients that failed together do not retry together (Kafka's
 * retry.backoff.ms / retry.backoff.max.ms with its 20% jitter).
 *
 * Imports: protocol/errors.ts only (the clock and randomness are parameters).
 */
import { KactusError } from '../protocol/errors.ts';

export type RetryPolicy = {
  /** Retries after the first attempt (so attempts = retriesMax + 1). */
  retriesMax: number;
  /** Delay before the first retry. */
  backoffMsInitial: number;
  /** Cap of the exponential delay. */
  backoffMsMax: number;
  /** Growth per attempt. */
  multiplier: number;
  /** Relative jitter: the delay is scaled by a factor in [1 - r, 1 + r]. */
  jitterRatio: number;
};

export const retryPolicyDefault: RetryPolicy = Object.freeze({
  retriesMax: 5,
  backoffMsInitial: 100,
  backoffMsMax: 1_000,
  multiplier: 2,
  jitterRatio: 0.2,
});

/** True only for a KactusError whose code Kafka calls retriable. */
export function isRetriableError(err: unknown): boolean {
  return err instanceof KactusError && err.retriable;
}

/** The delay before retry number `attempt` (0 = the first retry). `random` is uniform in [0, 1). */
export function backoffMs(attempt: number, policy: RetryPolicy, random: number): number {
  const exponential = policy.backoffMsInitial * Math.pow(policy.multiplier, Math.max(0, attempt));
  const capped = Math.min(policy.backoffMsMax, exponential);
  const factor = 1 - policy.jitterRatio + 2 * policy.jitterRatio * random;
  return Math.max(0, Math.round(capped * factor));
}

export type RetryOptions = {
  /** Absolute time (per `nowMs`) after which no retry starts; the last error is thrown. */
  deadlineMs?: number;
  /** Called before each retry with the retriable error (e.g. to refresh metadata). Errors from it are ignored. */
  onRetriable?: (err: KactusError, attempt: number) => void | Promise<void>;
  random?: () => number;
  nowMs?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Stops retrying (e.g. the client is closing): the last error is thrown. */
  cancelled?: () => boolean;
};

const sleepReal = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `operation` with retries per `policy`; see the module comment for when it stops. */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, policy: RetryPolicy, options: RetryOptions = {}): Promise<T> {
  const random = options.random ?? Math.random;
  const nowMs = options.nowMs ?? Date.now;
  const sleep = options.sleep ?? sleepReal;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await operation(attempt);
    } catch (err) {
      if (!isRetriableError(err)) throw err;
      if (attempt >= policy.retriesMax) throw err;
      if (options.cancelled?.()) throw err;
      const delayMs = backoffMs(attempt, policy, random());
      if (options.deadlineMs !== undefined && nowMs() + delayMs > options.deadlineMs) throw err;
      try {
        await options.onRetriable?.(err as KactusError, attempt);
      } catch {
        // A failed side action (a metadata refresh) must not replace the error we are retrying.
      }
      await sleep(delayMs);
    }
  }
}
