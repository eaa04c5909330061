/**
 * Time as an input (STYLE rule 2): code that needs the time takes a `Clock`,
 * so tests drive it with a `ManualClock` and never wait for real time to pass.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (timestamps, retention). */
  nowMs(): number;
  /** Monotonic milliseconds for measuring intervals; never goes backwards. */
  monotonicMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monotonicMs: () => performance.now(),
};

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  private currentMs: number;
  constructor(startMs = 1_700_000_000_000) {
    this.currentMs = startMs;
  }
  nowMs(): number {
    return this.currentMs;
  }
  monotonicMs(): number {
    return this.currentMs;
  }
  advance(deltaMs: number): void {
    if (deltaMs < 0) throw new RangeError('a clock never goes backwards');
    this.currentMs += deltaMs;
  }
}
