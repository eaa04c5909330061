/**
 * Failure detection by silence: a narrow interface (like nats' heartbeat PH)
 * and a deadline implementation.
 *
 * Every frame from a peer counts as a sign of life, heartbeats included. A
 * peer silent for `unreachableAfterMs` is suspected (`unreachable`); silent
 * for `downAfterMs` it is `down`, and death watches on its actors fire. A
 * down peer that is heard again with the same incarnation is `up` again
 * (a healed partition); its actors' old watches have already fired and
 * watchers re-watch if they care. A new incarnation is a new node.
 *
 * Silence is the only evidence for a peer that may still run (a partition, a
 * paused process, a machine that lost power): `declareDown` is for the
 * stronger evidence a caller may have, a peer whose connection closed and
 * whose address now refuses connections (its process is gone: on SIGKILL the
 * kernel closes its sockets and nothing listens on its port). It stays down
 * until it is heard again.
 * Pure: time comes in as arguments.
 */
export type PeerStatus = 'up' | 'unreachable' | 'down';

export interface FailureDetector {
  /** Records a sign of life at `nowMs`. */
  heartbeat(nowMs: number): void;
  /** Down now, without waiting out the silence, until the next sign of life. */
  declareDown(nowMs: number): void;
  status(nowMs: number): PeerStatus;
  /** Milliseconds since the last sign of life (or since detection started). */
  silenceMs(nowMs: number): number;
}

export class DeadlineFailureDetector implements FailureDetector {
  private lastHeardMs: number;

  constructor(
    startMs: number,
    private readonly unreachableAfterMs: number,
    private readonly downAfterMs: number,
  ) {
    this.lastHeardMs = startMs;
  }

  heartbeat(nowMs: number): void {
    if (nowMs > this.lastHeardMs) this.lastHeardMs = nowMs;
  }

  declareDown(nowMs: number): void {
    this.lastHeardMs = Math.min(this.lastHeardMs, nowMs - this.downAfterMs);
  }

  silenceMs(nowMs: number): number {
    return Math.max(0, nowMs - this.lastHeardMs);
  }

  status(nowMs: number): PeerStatus {
    const silenceMs = this.silenceMs(nowMs);
    if (silenceMs >= this.downAfterMs) return 'down';
    if (silenceMs >= this.unreachableAfterMs) return 'unreachable';
    return 'up';
  }
}
