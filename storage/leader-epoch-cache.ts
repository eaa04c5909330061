/**
 * The leader-epoch cache: for each leader epoch, the first offset written in it.
 *
 * Owns: the ordered list of `{ leaderEpoch, startOffset }` entries, the
 * operations replication needs, and persisting them through a callback (the
 * log writes `leader-epoch-checkpoint` atomically; see checkpoint.ts).
 *
 * Invariants (asserted): epochs strictly increase and start offsets never
 * decrease along the list.
 *
 * Operations (Kafka's LeaderEpochFileCache):
 * - `assign(epoch, startOffset)` when a batch of a newer epoch is appended.
 *   Entries that conflict (epoch >= the new one, or start offset >= the new
 *   one) are removed first, so a follower that learns a different history
 *   keeps the list consistent.
 * - `endOffsetFor(epoch, logEndOffset)` answers OffsetsForLeaderEpoch: the
 *   largest epoch <= the requested one and the start offset of the next
 *   higher epoch (or the log end offset for the latest epoch). A follower
 *   truncates to this offset when its history diverged from the leader's.
 * - `truncateFromEnd(endOffset)` after the log is truncated to endOffset.
 * - `truncateFromStart(startOffset)` after retention moves the log start.
 *
 * Crash behaviour: persisted after every change, before the append that
 * caused it returns; a lost update is repaired because `assign` is replayed
 * from batch headers only for new appends, so the log calls `assign` before
 * writing the batch of a new epoch.
 */
import { assert } from '../runtime/assert.ts';

export interface EpochEntry {
  leaderEpoch: number;
  startOffset: number;
}

export const undefinedEpoch = -1;
export const undefinedEpochOffset = -1;

export class LeaderEpochCache {
  private epochs: EpochEntry[];

  constructor(
    entries: readonly EpochEntry[],
    private readonly persist: (entries: readonly EpochEntry[]) => void,
  ) {
    this.epochs = [];
    for (const e of entries) this.checkedPush(e);
  }

  /** Builds a cache, dropping invalid entries (from a damaged checkpoint) instead of asserting. */
  static fromUntrusted(entries: readonly EpochEntry[], persist: (entries: readonly EpochEntry[]) => void): LeaderEpochCache {
    const clean: EpochEntry[] = [];
    for (const e of entries) {
      const last = clean[clean.length - 1];
      if (e.leaderEpoch < 0 || e.startOffset < 0) continue;
      if (last !== undefined && (e.leaderEpoch <= last.leaderEpoch || e.startOffset < last.startOffset)) continue;
      clean.push(e);
    }
    return new LeaderEpochCache(clean, persist);
  }

  private checkedPush(e: EpochEntry): void {
    assert(e.leaderEpoch >= 0, 'leader epoch must be >= 0');
    assert(e.startOffset >= 0, 'epoch start offset must be >= 0');
    const last = this.epochs[this.epochs.length - 1];
    if (last !== undefined) {
      assert(e.leaderEpoch > last.leaderEpoch, 'leader epochs must increase');
      assert(e.startOffset >= last.startOffset, 'epoch start offsets must not decrease');
    }
    this.epochs.push({ leaderEpoch: e.leaderEpoch, startOffset: e.startOffset });
  }

  entries(): readonly EpochEntry[] {
    return this.epochs;
  }

  latestEpoch(): number {
    return this.epochs[this.epochs.length - 1]?.leaderEpoch ?? undefinedEpoch;
  }

  latestEntry(): EpochEntry | undefined {
    return this.epochs[this.epochs.length - 1];
  }

  /** Records that `epoch` starts at `startOffset`. No-op when nothing changes. */
  assign(epoch: number, startOffset: number): void {
    assert(epoch >= 0, 'assign: epoch must be >= 0');
    assert(startOffset >= 0, 'assign: start offset must be >= 0');
    const last = this.latestEntry();
    if (last !== undefined && last.leaderEpoch === epoch && last.startOffset <= startOffset) return;
    if (last !== undefined && epoch < last.leaderEpoch && startOffset >= last.startOffset) {
      // An append of an older epoch after a newer one: a stale batch, keep the history.
      return;
    }
    while (this.epochs.length > 0) {
      const tail = this.epochs[this.epochs.length - 1]!;
      if (tail.leaderEpoch >= epoch || tail.startOffset >= startOffset) this.epochs.pop();
      else break;
    }
    this.checkedPush({ leaderEpoch: epoch, startOffset });
    this.persist(this.epochs);
  }

  /**
   * OffsetsForLeaderEpoch: `{ leaderEpoch, endOffset }` where endOffset is the
   * first offset after `requestedEpoch` ended. Unknown epochs answer
   * `{ -1, -1 }`, as Kafka does.
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: number): { leaderEpoch: number; endOffset: number } {
    const undefinedAnswer = { leaderEpoch: undefinedEpoch, endOffset: undefinedEpochOffset };
    if (requestedEpoch === undefinedEpoch) return undefinedAnswer;
    const latest = this.latestEntry();
    if (latest === undefined) return undefinedAnswer;
    if (requestedEpoch === latest.leaderEpoch) return { leaderEpoch: latest.leaderEpoch, endOffset: logEndOffset };
    let floor: EpochEntry | undefined;
    let higher: EpochEntry | undefined;
    for (const e of this.epochs) {
      if (e.leaderEpoch <= requestedEpoch) floor = e;
      else {
        higher = e;
        break;
      }
    }
    if (higher === undefined) return undefinedAnswer; // newer than anything we know
    if (floor === undefined) return { leaderEpoch: requestedEpoch, endOffset: higher.startOffset };
    return { leaderEpoch: floor.leaderEpoch, endOffset: higher.startOffset };
  }

  /** The epoch that wrote `offset`, or -1 if before the first entry. */
  epochForOffset(offset: number): number {
    let epoch = undefinedEpoch;
    for (const e of this.epochs) {
      if (e.startOffset <= offset) epoch = e.leaderEpoch;
      else break;
    }
    return epoch;
  }

  /** Drops entries starting at or after `endOffset` (the log was truncated to it). */
  truncateFromEnd(endOffset: number): void {
    const before = this.epochs.length;
    this.epochs = this.epochs.filter((e) => e.startOffset < endOffset);
    if (this.epochs.length !== before) this.persist(this.epochs);
  }

  /**
   * Drops entries wholly before `startOffset` (retention moved the log start);
   * the entry covering it is kept and moved to start there.
   */
  truncateFromStart(startOffset: number): void {
    let cover = -1;
    for (let i = 0; i < this.epochs.length; i++) if (this.epochs[i]!.startOffset <= startOffset) cover = i;
    if (cover < 0) return;
    const kept = this.epochs.slice(cover);
    kept[0] = { leaderEpoch: kept[0]!.leaderEpoch, startOffset };
    const changed = cover > 0 || this.epochs[0]!.startOffset !== startOffset;
    this.epochs = kept;
    if (changed) this.persist(this.epochs);
  }

  clear(): void {
    if (this.epochs.length === 0) return;
    this.epochs = [];
    this.persist(this.epochs);
  }
}
