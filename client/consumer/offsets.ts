/**
 * Processed and committable offsets per partition, and the commit policy
 * (auto-commit timer, manual commit, commit on revoke and on stop).
 *
 * Owns: `PartitionProgress` (pure: which delivered offsets are finished and
 * what may be committed) and `OffsetCommitter` (when to commit; the commit
 * request itself is a dependency, sent by the group member, which knows the
 * member id, generation and coordinator).
 *
 * The at-least-once rule: the committable offset of a partition is the
 * smallest delivered offset that is not yet finished (acked), or, when every
 * delivered record is finished, the offset after the last delivered one.
 * Records may be finished out of order (a user may process one partition's
 * records concurrently): a finished record after an unfinished one does not
 * move the committable offset, so a crash re-delivers the unfinished one and
 * those after it, never skips it.
 *
 * Invariants: delivered offsets of a partition strictly increase (asserted);
 * the committable offset never goes backwards except through `reset` (seek
 * or a new assignment). `reset` bumps `resetCount`, so an ack of a record
 * delivered before the reset is ignored.
 *
 * Imports: runtime/assert.ts, ./types.ts.
 */
import { assert } from '../../runtime/assert.ts';
import { tpKey, tpOf, type TopicPartition } from './types.ts';

/** Compact the finished prefix once it is this long (and half the array). */
const compactAfterCount = 1_024;

export class PartitionProgress {
  /** Offsets delivered and not yet known finished, ascending; entries before `head` are finished. */
  private offsets: number[] = [];
  private finished: boolean[] = [];
  private head = 0;
  /** The offset after the last delivered record (the consume position as far as commits go); -1: unknown, nothing to commit. */
  private nextOffset: number;
  /** Last offset committed (or known committed at assignment); -1 when none. */
  committedOffset: number;
  /** Bumped by reset: acks of records delivered before are ignored. */
  resetCount = 0;

  constructor(startOffset: number, committedOffset = -1) {
    assert(Number.isSafeInteger(startOffset) && startOffset >= -1, 'progress: start offset is an offset or -1 (unknown until the first record)');
    this.nextOffset = startOffset;
    this.committedOffset = committedOffset;
  }

  /** Records delivered to the subscriber and not finished yet. */
  get pendingCount(): number {
    let count = 0;
    for (let i = this.head; i < this.offsets.length; i++) if (!this.finished[i]) count += 1;
    return count;
  }

  delivered(offset: number): void {
    assert(offset >= this.nextOffset, 'progress: delivered offsets increase');
    this.offsets.push(offset);
    this.finished.push(false);
    this.nextOffset = offset + 1;
  }

  /** Moves the position without delivering (control records, gaps): committable once earlier records finish. */
  skipTo(offset: number): void {
    if (offset > this.nextOffset) this.nextOffset = offset;
  }

  /** Marks `offset` finished; false if it was not pending (already finished, or from before a reset). */
  finish(offset: number, resetCount: number): boolean {
    if (resetCount !== this.resetCount) return false;
    let lo = this.head;
    let hi = this.offsets.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.offsets[mid]!;
      if (at === offset) {
        if (this.finished[mid]) return false;
        this.finished[mid] = true;
        while (this.head < this.offsets.length && this.finished[this.head]) this.head += 1;
        if (this.head >= compactAfterCount && this.head * 2 >= this.offsets.length) {
          this.offsets = this.offsets.slice(this.head);
          this.finished = this.finished.slice(this.head);
          this.head = 0;
        }
        return true;
      }
      if (at < offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** What may be committed now (see the module comment). */
  committable(): number {
    return this.head < this.offsets.length ? this.offsets[this.head]! : this.nextOffset;
  }

  needsCommit(): boolean {
    return this.committable() > this.committedOffset;
  }

  /** Seek or re-assignment: forget what was delivered; the position is `offset`. */
  reset(offset: number): void {
    this.offsets = [];
    this.finished = [];
    this.head = 0;
    this.nextOffset = offset;
    this.resetCount += 1;
    // A seek backwards must be committable even though it is below the last commit.
    this.committedOffset = Math.min(this.committedOffset, offset - 1);
  }
}

export type OffsetToCommit = { readonly topic: string; readonly partition: number; readonly offset: number };

/** Sends one OffsetCommit for these partitions; rejects with a KactusError. */
export type CommitFunction = (offsets: readonly OffsetToCommit[]) => Promise<void>;

/**
 * Which partitions the member owns and how far each is finished; commits on
 * a timer (only finished records), on demand, and for partitions about to be
 * revoked. Commits never overlap: a commit asked for while one is in flight
 * runs after it (and covers whatever finished meanwhile).
 */
export class OffsetCommitter {
  private readonly progress = new Map<string, PartitionProgress>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** When the last commit (of anything) succeeded; commitIfDue measures the auto-commit interval from it. */
  private lastCommitMs = Date.now();

  constructor(
    private readonly commitFn: CommitFunction,
    private readonly options: { autoCommit: boolean; autoCommitIntervalMs: number; onAutoCommitError: (err: unknown) => void },
  ) {}

  start(): void {
    if (!this.options.autoCommit || this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.commit().catch((err: unknown) => this.options.onAutoCommitError(err));
    }, this.options.autoCommitIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get(key: string): PartitionProgress | undefined {
    return this.progress.get(key);
  }

  add(key: string, progress: PartitionProgress): void {
    this.progress.set(key, progress);
  }

  remove(key: string): void {
    this.progress.delete(key);
  }

  keys(): string[] {
    return [...this.progress.keys()];
  }

  /** Commits every owned partition with finished records not yet committed (or only `keys`). */
  commit(keys?: readonly string[]): Promise<void> {
    const run = async (): Promise<void> => {
      const wanted: { key: string; progress: PartitionProgress; offset: number }[] = [];
      for (const key of keys ?? [...this.progress.keys()]) {
        const progress = this.progress.get(key);
        if (progress === undefined || !progress.needsCommit()) continue;
        wanted.push({ key, progress, offset: progress.committable() });
      }
      if (wanted.length === 0) return;
      await this.commitFn(wanted.map((w) => ({ ...tpOf(w.key), offset: w.offset })));
      this.lastCommitMs = Date.now();
      for (const w of wanted) if (w.offset > w.progress.committedOffset) w.progress.committedOffset = w.offset;
    };
    return this.enqueue(run);
  }

  /**
   * KafkaJS's commitOffsetsIfNecessary(): with auto-commit on, commits what finished once autoCommitIntervalMs
   * passed since the last commit; with it off, nothing.
   */
  commitIfDue(): Promise<void> {
    if (!this.options.autoCommit || Date.now() - this.lastCommitMs < this.options.autoCommitIntervalMs) return Promise.resolve();
    return this.commit();
  }

  /**
   * Commits offsets the app names (eachBatch's commitOffsetsIfNecessary(offsets)), in order with the other
   * commits (the coordinator checks the generation, as for any commit); an owned partition remembers the offset as
   * committed, so the next automatic commit does not send it again.
   */
  commitOffsets(offsets: readonly OffsetToCommit[]): Promise<void> {
    const run = async (): Promise<void> => {
      if (offsets.length === 0) return;
      await this.commitFn(offsets);
      this.lastCommitMs = Date.now();
      for (const o of offsets) {
        const progress = this.progress.get(tpKey(o.topic, o.partition));
        if (progress !== undefined && o.offset > progress.committedOffset) progress.committedOffset = o.offset;
      }
    };
    return this.enqueue(run);
  }

  /** Finished offsets not committed yet (what the next commit would send), per owned partition. */
  uncommitted(): OffsetToCommit[] {
    const out: OffsetToCommit[] = [];
    for (const [key, progress] of this.progress) if (progress.needsCommit()) out.push({ ...tpOf(key), offset: progress.committable() });
    return out;
  }

  /** Commits never overlap: each runs after the one before, whatever became of it. */
  private enqueue(run: () => Promise<void>): Promise<void> {
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

export function partitionsOf(keys: Iterable<string>): TopicPartition[] {
  return [...keys].map(tpOf);
}
