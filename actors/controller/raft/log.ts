/**
 * RaftLog: the in-memory view of one node's Raft log, pure (no I/O).
 *
 *   snapshot (index S, term T_S) | entries S+1 ... stableIndex | stableIndex+1 ... lastIndex
 *        compacted away          |   persisted ("stable")      |  not yet persisted ("unstable")
 *
 * Owns: the entries after the latest snapshot, the snapshot offset and term,
 * which prefix is known to be persisted, the commit index and the applied
 * index. The metadata log is small and compacted regularly, so every retained
 * entry is kept in memory; the caller's storage holds the durable copy.
 *
 * Invariants (asserted):
 * - entries[i].index === snapshotIndex + 1 + i; terms never decrease along the log.
 * - snapshotIndex <= appliedIndex <= commitIndex <= lastIndex.
 * - snapshotIndex <= stableIndex <= lastIndex.
 * - Committed entries are never truncated (Raft's State Machine Safety rests on it).
 *
 * Configuration entries (kind 'Config') are indexed as they come and go
 * (`configIndexes`), so Raft finds the configuration in force at the end of
 * the log, or at any retained index, without scanning: appended = in force at
 * once; truncated = the previous one is in force again (Raft thesis §4.1).
 *
 * A snapshot received from the leader (`restore`) is "pending" until the
 * caller persists it; until then `stableIndex` equals its index only in
 * intent, and `pendingSnapshot` is handed out by the next Ready.
 */
import { assert } from '../../../runtime/assert.ts';
import type { Entry, Snapshot } from './types.ts';

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0, 0 if none). */
  private snapshotIndexValue: number;
  private snapshotTermValue: number;
  /** The latest snapshot (null while snapshotIndex is 0): what a leader sends a lagging follower. */
  private snapshotValue: Snapshot | null;
  /** A snapshot received from the leader and not yet persisted by the caller. */
  private pendingSnapshotValue: Snapshot | null = null;
  private entries: Entry[];
  /** Entries up to here are persisted. */
  private stableIndexValue: number;
  private commitIndexValue: number;
  private appliedIndexValue: number;
  /** Indexes of the retained Config entries, ascending. */
  private configIndexes: number[] = [];

  /** Builds a log from what the caller persisted (all of it stable). */
  constructor(snapshot: Snapshot | null, entries: readonly Entry[], commitIndex: number) {
    this.snapshotValue = snapshot;
    this.snapshotIndexValue = snapshot?.index ?? 0;
    this.snapshotTermValue = snapshot?.term ?? 0;
    // Persisted entries may overlap the snapshot if storage compacts lazily: drop those.
    this.entries = entries.filter((entry) => entry.index > this.snapshotIndexValue);
    for (let i = 0; i < this.entries.length; i++) {
      assert(this.entries[i]!.index === this.snapshotIndexValue + 1 + i, 'raft log: persisted entries must be contiguous after the snapshot');
    }
    this.checkTermsMonotonic(this.snapshotTermValue, this.entries);
    this.stableIndexValue = this.lastIndex();
    // The hard state may lag a snapshot that was persisted just before a crash.
    this.commitIndexValue = Math.max(commitIndex, this.snapshotIndexValue);
    assert(this.commitIndexValue <= this.lastIndex(), 'raft log: persisted commitIndex beyond the persisted log');
    this.appliedIndexValue = this.snapshotIndexValue;
    for (const entry of this.entries) if (entry.kind === 'Config') this.configIndexes.push(entry.index);
  }

  /** The index of the last retained Config entry at or before `index`, or 0 when none is retained. */
  configIndexAtOrBefore(index: number): number {
    for (let i = this.configIndexes.length - 1; i >= 0; i--) if (this.configIndexes[i]! <= index) return this.configIndexes[i]!;
    return 0;
  }

  /** The index of the last retained Config entry, or 0. */
  lastConfigIndex(): number {
    return this.configIndexes[this.configIndexes.length - 1] ?? 0;
  }

  snapshotIndex(): number {
    return this.snapshotIndexValue;
  }

  snapshotTerm(): number {
    return this.snapshotTermValue;
  }

  snapshot(): Snapshot | null {
    return this.snapshotValue;
  }

  pendingSnapshot(): Snapshot | null {
    return this.pendingSnapshotValue;
  }

  /** The first index still held as an entry. */
  firstIndex(): number {
    return this.snapshotIndexValue + 1;
  }

  lastIndex(): number {
    return this.snapshotIndexValue + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.snapshotTermValue : this.entries[this.entries.length - 1]!.term;
  }

  stableIndex(): number {
    return this.stableIndexValue;
  }

  commitIndex(): number {
    return this.commitIndexValue;
  }

  appliedIndex(): number {
    return this.appliedIndexValue;
  }

  /** The term of the entry at `index`, or undefined if compacted away or beyond the end. 0 for index 0. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndexValue) return this.snapshotTermValue;
    if (index < this.snapshotIndexValue || index > this.lastIndex()) return undefined;
    return this.entries[index - this.snapshotIndexValue - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.snapshotIndexValue) return undefined;
    return this.entries[index - this.snapshotIndexValue - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourLastTerm = this.lastTerm();
    return lastTerm > ourLastTerm || (lastTerm === ourLastTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [fromIndex, toIndexExclusive), at most maxCount of them. All must be retained. */
  slice(fromIndex: number, toIndexExclusive: number, maxCount: number): Entry[] {
    assert(fromIndex > this.snapshotIndexValue, 'raft log: slice of compacted entries');
    assert(toIndexExclusive <= this.lastIndex() + 1, 'raft log: slice beyond the last index');
    const end = Math.min(toIndexExclusive, fromIndex + maxCount);
    if (end <= fromIndex) return [];
    const offset = this.snapshotIndexValue + 1;
    return this.entries.slice(fromIndex - offset, end - offset);
  }

  unstableEntries(): Entry[] {
    return this.entries.slice(this.stableIndexValue - this.snapshotIndexValue);
  }

  /**
   * The index of the first entry in `entries` that is not in our log with the
   * same term (a conflict, or simply new), or 0 when all of them are present.
   * `entries` must be contiguous.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (entry.index <= this.snapshotIndexValue) continue; // covered by the snapshot, hence committed and matching
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The last index <= `index` whose term is <= `term` (fast backtracking), and
   * its term. Stops at the snapshot: below it nothing is known.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let candidate = Math.min(index, this.lastIndex());
    for (; candidate > this.snapshotIndexValue; candidate--) {
      const candidateTerm = this.term(candidate)!;
      if (candidateTerm <= term) return { index: candidate, term: candidateTerm };
    }
    return { index: candidate, term: this.term(candidate) ?? 0 };
  }

  /**
   * The follower side of AppendEntries: if we hold (prevIndex, prevTerm),
   * append the entries that are new, replacing a conflicting uncommitted
   * suffix, and commit up to min(leaderCommit, last index the message proved).
   * Returns the last index proved to match the leader, or null on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNewIndex = prevIndex + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      assert(conflictIndex > this.commitIndexValue, 'raft log: a leader tried to overwrite a committed entry');
      const first = entries[0]!;
      this.truncateAndAppend(entries.slice(conflictIndex - first.index));
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return lastNewIndex;
  }

  /**
   * Appends `entries` (contiguous, non-empty), discarding any entries at or
   * after the first one's index. The caller ensures nothing committed is lost.
   */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.snapshotIndexValue, 'raft log: append below the snapshot');
    assert(first.index <= this.lastIndex() + 1, 'raft log: append leaves a gap');
    assert(first.index > this.commitIndexValue, 'raft log: append truncates committed entries');
    for (let i = 1; i < entries.length; i++) {
      assert(entries[i]!.index === first.index + i, 'raft log: appended entries must be contiguous');
    }
    const previousTerm = this.term(first.index - 1)!;
    this.checkTermsMonotonic(previousTerm, entries);
    this.entries.length = first.index - this.snapshotIndexValue - 1;
    while (this.configIndexes.length > 0 && this.configIndexes[this.configIndexes.length - 1]! >= first.index) this.configIndexes.pop();
    for (const entry of entries) {
      this.entries.push(entry);
      if (entry.kind === 'Config') this.configIndexes.push(entry.index);
    }
    this.stableIndexValue = Math.min(this.stableIndexValue, first.index - 1);
  }

  commitTo(index: number): void {
    if (index <= this.commitIndexValue) return; // commit never moves back
    assert(index <= this.lastIndex(), 'raft log: commit beyond the last index');
    this.commitIndexValue = index;
  }

  appliedTo(index: number): void {
    assert(index >= this.appliedIndexValue, 'raft log: applied index moves back');
    assert(index <= this.commitIndexValue, 'raft log: applied beyond commit');
    this.appliedIndexValue = index;
  }

  /** The caller persisted entries up to (index, term). Ignored if that entry was since replaced. */
  stableTo(index: number, term: number): void {
    if (index <= this.stableIndexValue) return;
    if (this.term(index) !== term) return;
    this.stableIndexValue = index;
  }

  /** The caller persisted the pending snapshot `index` and restored its state machine from it. */
  snapshotStableTo(index: number): void {
    const pending = this.pendingSnapshotValue;
    if (pending === null || pending.index !== index) return;
    this.pendingSnapshotValue = null;
    if (this.appliedIndexValue < index) this.appliedIndexValue = index;
  }

  /**
   * Compaction requested by the application: the state at `snapshot.index`
   * (applied and persisted) replaces the entries up to it.
   */
  compact(snapshot: Snapshot): void {
    assert(snapshot.index > this.snapshotIndexValue, 'raft log: compaction must move forward');
    assert(snapshot.index <= this.appliedIndexValue, 'raft log: compaction beyond the applied index');
    assert(snapshot.index <= this.stableIndexValue, 'raft log: compaction of unpersisted entries');
    assert(this.term(snapshot.index) === snapshot.term, 'raft log: snapshot term mismatch');
    this.entries = this.entries.slice(snapshot.index - this.snapshotIndexValue);
    this.configIndexes = this.configIndexes.filter((index) => index > snapshot.index);
    this.snapshotIndexValue = snapshot.index;
    this.snapshotTermValue = snapshot.term;
    this.snapshotValue = snapshot;
  }

  /**
   * A snapshot from the leader that goes beyond our commit index and does not
   * match our log: it replaces the whole log (Raft §7). The caller persists it
   * and restores the state machine from it via the next Ready.
   */
  restore(snapshot: Snapshot): void {
    assert(snapshot.index > this.commitIndexValue, 'raft log: restore of a snapshot at or below commit');
    this.entries = [];
    this.configIndexes = [];
    this.snapshotIndexValue = snapshot.index;
    this.snapshotTermValue = snapshot.term;
    this.snapshotValue = snapshot;
    this.pendingSnapshotValue = snapshot;
    this.stableIndexValue = snapshot.index;
    this.commitIndexValue = snapshot.index;
  }

  private checkTermsMonotonic(previousTerm: number, entries: readonly Entry[]): void {
    let term = previousTerm;
    for (const entry of entries) {
      assert(entry.term >= term, 'raft log: entry terms must not decrease');
      term = entry.term;
    }
  }
}
