/**
 * Supervision policies: what happens when an actor's handler throws.
 *
 * nact's default logs to the console and stops the actor; ours decides by a
 * policy and logs through pino. The helper `restartWithBackoff` is the OTP
 * intensity/period rule: restart (reset state, stop children, re-run init)
 * after an exponential backoff, at most `restartsMax` times within
 * `windowMs`, then escalate to the parent. A top-level actor that escalates
 * is stopped and reported to the node's `onGiveUp` hook, so a process can
 * choose to exit and let its own supervisor restart it.
 *
 * Decision table (the default for domain actors, set per actor in its module):
 *   failed assert / bug   -> restart with backoff, then escalate
 *   decode error          -> resume (the message is dropped)
 *   storage I/O error     -> stop (the actor reports to its parent first)
 */
export type SupervisionDecision = 'restart' | 'resume' | 'stop' | 'escalate';

export type CrashInfo = {
  path: string;
  error: unknown;
  message: unknown;
  /** Set when the crash was escalated from this child. */
  childPath?: string;
  /** Restarts of this actor already done within the policy's window. */
  restartsInWindow: number;
};

/** Returns a decision and, for restarts, how long to wait first. */
export type SupervisionPolicy = (crash: CrashInfo, nowMs: number) => { decision: SupervisionDecision; delayMs?: number };

export type RestartWithBackoffOptions = {
  restartsMax?: number;
  windowMs?: number;
  backoffMsMin?: number;
  backoffMsMax?: number;
};

export const restartDefaults = { restartsMax: 5, windowMs: 60_000, backoffMsMin: 10, backoffMsMax: 5_000 } as const;

export function restartWithBackoff(options: RestartWithBackoffOptions = {}): SupervisionPolicy & { windowMs: number } {
  const { restartsMax, windowMs, backoffMsMin, backoffMsMax } = { ...restartDefaults, ...options };
  const policy = (crash: CrashInfo): { decision: SupervisionDecision; delayMs?: number } => {
    if (crash.restartsInWindow >= restartsMax) return { decision: 'escalate' };
    const delayMs = Math.min(backoffMsMax, backoffMsMin * 2 ** crash.restartsInWindow);
    return { decision: 'restart', delayMs };
  };
  return Object.assign(policy, { windowMs });
}

export const resumeAlways: SupervisionPolicy = () => ({ decision: 'resume' });
export const stopAlways: SupervisionPolicy = () => ({ decision: 'stop' });

/** Counts restarts in a sliding window. */
export class RestartWindow {
  private readonly restartTimesMs: number[] = [];
  constructor(private readonly windowMs: number) {}

  countAt(nowMs: number): number {
    while (this.restartTimesMs.length > 0 && nowMs - this.restartTimesMs[0]! > this.windowMs) this.restartTimesMs.shift();
    return this.restartTimesMs.length;
  }

  record(nowMs: number): void {
    this.restartTimesMs.push(nowMs);
  }
}
