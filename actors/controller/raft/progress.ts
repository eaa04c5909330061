/**
 * Progress: the leader's view of one follower's log (etcd's tracker), pure.
 *
 * States (a `type`-like tag with guarded transitions):
 * - Probe: we do not know where the follower's log matches ours. Send one
 *   AppendEntries at nextIndex and wait for its reply (or a heartbeat reply)
 *   before sending another; a rejection moves nextIndex back.
 * - Replicate: the follower matched; stream entries optimistically, advancing
 *   nextIndex as we send, with at most `maxInflightAppends` unacknowledged
 *   messages (flow control). A rejection falls back to Probe at matchIndex + 1.
 * - Snapshot: the entries the follower needs were compacted; an
 *   InstallSnapshot is outstanding. Nothing else is sent until it is
 *   acknowledged, or until it is presumed lost after `snapshotTimeoutTicks`
 *   (the network may drop it, and we have no transport-level failure report).
 *
 * Invariants: matchIndex < nextIndex; matchIndex only grows within a term.
 * `recentActive` is set by any reply from the follower and cleared by the
 * leader's check-quorum round every election timeout.
 */
import { assert } from '../../../runtime/assert.ts';

export type ProgressState = 'Probe' | 'Replicate' | 'Snapshot';

export class Progress {
  state: ProgressState = 'Probe';
  matchIndex: number;
  nextIndex: number;
  /** In Probe: an append was sent and no reply came back yet. */
  probeSent = false;
  /** In Snapshot: the index of the snapshot in flight, and how long it has been. */
  pendingSnapshotIndex = 0;
  pendingSnapshotAgeTicks = 0;
  /** In Replicate: the last index of each unacknowledged append, oldest first. */
  readonly inflightLastIndexes: number[] = [];
  recentActive = true;

  constructor(
    matchIndex: number,
    nextIndex: number,
    private readonly maxInflightAppends: number,
  ) {
    assert(matchIndex < nextIndex, 'progress: matchIndex < nextIndex');
    this.matchIndex = matchIndex;
    this.nextIndex = nextIndex;
  }

  /** Nothing more may be sent to this follower right now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'Probe':
        return this.probeSent;
      case 'Replicate':
        return this.inflightLastIndexes.length >= this.maxInflightAppends;
      case 'Snapshot':
        return true;
    }
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot's entries.
    if (this.state === 'Snapshot') {
      this.nextIndex = Math.max(this.matchIndex + 1, this.pendingSnapshotIndex + 1);
    } else {
      this.nextIndex = this.matchIndex + 1;
    }
    this.resetState('Probe');
  }

  becomeReplicate(): void {
    assert(this.state === 'Probe', 'progress: replicate only from probe');
    this.nextIndex = this.matchIndex + 1;
    this.resetState('Replicate');
  }

  becomeSnapshot(snapshotIndex: number): void {
    assert(snapshotIndex > this.matchIndex, 'progress: snapshot behind matchIndex');
    this.resetState('Snapshot');
    this.pendingSnapshotIndex = snapshotIndex;
  }

  /** Records that an append ending at `lastIndex` (with entries) was sent. */
  sentEntries(lastIndex: number): void {
    switch (this.state) {
      case 'Replicate':
        assert(lastIndex >= this.nextIndex, 'progress: sent entries before nextIndex');
        this.nextIndex = lastIndex + 1;
        this.inflightLastIndexes.push(lastIndex);
        return;
      case 'Probe':
        this.probeSent = true;
        return;
      case 'Snapshot':
        assert(false, 'progress: entries sent while a snapshot is in flight');
    }
  }

  /** An append without entries went out (probe with nothing new). */
  sentProbe(): void {
    if (this.state === 'Probe') this.probeSent = true;
  }

  /**
   * A success reply: the follower matches up to `index`. Returns false when
   * the reply is stale (it tells us nothing new).
   */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.matchIndex) {
      this.matchIndex = index;
      this.probeSent = false;
      updated = true;
    }
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    // Acknowledged appends leave the window.
    while (this.inflightLastIndexes.length > 0 && this.inflightLastIndexes[0]! <= index) this.inflightLastIndexes.shift();
    return updated;
  }

  /**
   * A rejection of the append whose prevLogIndex was `rejectedIndex`;
   * `matchHint` is an index at which the logs may match. Returns false for a
   * stale rejection (one that does not concern the latest probe).
   */
  maybeDecreaseTo(rejectedIndex: number, matchHint: number): boolean {
    if (this.state === 'Replicate') {
      if (rejectedIndex <= this.matchIndex) return false;
      this.nextIndex = this.matchIndex + 1;
      return true;
    }
    if (this.nextIndex - 1 !== rejectedIndex) return false;
    this.nextIndex = Math.max(Math.min(rejectedIndex, matchHint + 1), this.matchIndex + 1);
    this.probeSent = false;
    return true;
  }

  /** A heartbeat reply proves the follower is alive: let a stalled stream resume. */
  onHeartbeatReply(): void {
    this.probeSent = false;
    // Appends may have been lost; free one slot so the leader can send again.
    if (this.state === 'Replicate' && this.inflightLastIndexes.length >= this.maxInflightAppends) {
      this.inflightLastIndexes.shift();
    }
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshotIndex = 0;
    this.pendingSnapshotAgeTicks = 0;
    this.inflightLastIndexes.length = 0;
  }
}
