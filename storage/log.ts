/**
 * The partition log: a directory of segments with one active segment at the
 * end, and the offsets, checkpoints, flushing, retention and compaction that
 * go with it. Every partition, the metadata quorum, `__consumer_offsets` and
 * `__transaction_state` are one of these.
 *
 * Owns: the segment list, logStartOffset, logEndOffset (LEO), the high
 * watermark, the recovery point, the leader-epoch cache, the offline state,
 * and the checkpoint files of its directory:
 *   <dir>/<20-digit base>.log|.index|.timeindex   segments (segment.ts)
 *   <dir>/recovery-point-offset-checkpoint        flushed (durable) prefix
 *   <dir>/replication-offset-checkpoint           high watermark
 *   <dir>/log-start-offset-checkpoint
 *   <dir>/leader-epoch-checkpoint                 epoch -> start offset
 *   <dir>/cleaner-offset-checkpoint               first dirty offset
 *   <dir>/clean-shutdown                          present only between close and open
 *
 * Offsets are `number` (int64 on the wire, see protocol/record-batch/header.ts):
 * exact below 2^53, which no log reaches, and cheap on the hot path.
 *
 * Hot path, per byte not per record: `append` validates each batch's header
 * and CRC (records are never decoded), assigns offsets in memory, rewrites
 * baseOffset and partitionLeaderEpoch in place (outside the CRC), and writes
 * all batches of the call with one positioned `writeSync`. The caller's
 * buffer is modified in place: it must own it (not a view into a frame that
 * is forwarded elsewhere). Being synchronous, an append that returns is in
 * the page cache and an I/O error reaches the appender, never a later reader.
 *
 * Durability: `flush()` returns a promise and runs async fdatasync with group
 * commit: all flush requests that arrive while one is in flight share the
 * next single round (DESIGN.md: fdatasyncSync blocks the event loop for
 * 0.5-13 ms). The policy (flush.messages, flush.ms, fsyncEveryAppend) only
 * decides when the log starts a round itself; by default none (Kafka's
 * default: durability from replication, the OS writes back). A roll flushes
 * the finished segment in the background, as Kafka does. The recovery point
 * moves only after a round completes and never past a truncation that
 * happened during it.
 *
 * Faults: an OS error (ENOSPC, EIO, ...) takes the log offline. Every later
 * call fails fast with KAFKA_STORAGE_ERROR; a failed append first cuts its
 * partial write back, and anything left on disk is cut by recovery on the
 * next open. Bad input is refused before anything is written:
 * CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, UNSUPPORTED_COMPRESSION_TYPE,
 * RECORD_LIST_TOO_LARGE; an append in an epoch older than the log's latest is
 * FENCED_LEADER_EPOCH. The log stays online.
 *
 * Time comes from the injected Clock (retention, segment.ms, compaction
 * horizons, LogAppendTime), so tests move time without waiting.
 *
 * Imports: protocol/ (codec, errors), runtime/assert.ts, runtime/clock.ts.
 */
import * as path from 'node:path';
import { decodeBatch } from '../protocol/record-batch/codec.ts';
import {
  batchSizeAt,
  lastOffsetDeltaAt,
  maxTimestampAt,
  readInt64,
  setBaseOffset,
  setLogAppendTime,
  setPartitionLeaderEpoch,
  validateBatch,
  baseOffsetAt,
  field,
  readBatchHeader,
  type BatchHeader,
} from '../protocol/record-batch/header.ts';
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { assert } from '../runtime/assert.ts';
import { type Clock, systemClock } from '../runtime/clock.ts';
import { checkpointNames, readCheckpoint, readOffsetCheckpoint, writeCheckpoint, writeOffsetCheckpoint } from './checkpoint.ts';
import { cleanSegments, type CleanResult, planCleaning } from './cleaner.ts';
import { compacts, deletes, type LogConfig, resolveLogConfig, storageLimits } from './config.ts';
import { type FileIo, fsyncDirectory, isIoError, nodeFileIo } from './file-io.ts';
import { type EpochEntry, LeaderEpochCache } from './leader-epoch-cache.ts';
import { cleanShutdownFileName, loadSegments } from './recovery.ts';
import { planRetention, type RetentionReason } from './retention.ts';
import { scanBatches } from './scan.ts';
import { LogSegment } from './segment.ts';

export interface PartitionLogOptions {
  dir: string;
  config?: Partial<LogConfig>;
  clock?: Clock;
  /** File-system seam (fault injection in tests); node:fs by default. */
  io?: FileIo;
}

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** The broker's append time for LogAppendTime logs; -1 for CreateTime (as Kafka's ProduceResponse). */
  logAppendTime: number;
}

export interface ReadOptions {
  /** Exclusive upper bound, e.g. the high watermark for consumers. Default: the log end offset. */
  maxOffset?: number;
}

export interface OpenReport {
  cleanShutdown: boolean;
  scannedFromOffset: number;
  truncatedBytes: number;
  deletedSegments: number;
  problems: string[];
}

export interface SegmentSummary {
  baseOffset: number;
  nextOffset: number;
  sizeBytes: number;
  largestTimestampMs: number;
  offsetIndexEntries: number;
  timeIndexEntries: number;
}

interface BatchPlacement {
  position: number;
  sizeBytes: number;
  baseOffset: number;
  lastOffset: number;
  maxTimestampMs: number;
  partitionLeaderEpoch: number;
  recordCount: number;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a background round's failure is also reported by offline state
  return { promise, resolve, reject };
}

export class PartitionLog {
  private currentConfig: LogConfig;
  readonly leaderEpochCache: LeaderEpochCache;
  readonly openReport: OpenReport;
  private segments: LogSegment[];
  private _logStartOffset: number;
  private _highWatermark: number;
  private _recoveryPoint: number;
  private checkpointedRecoveryPoint: number;
  /** What replication-offset-checkpoint holds (-1: nothing readable), so checkpoint() rewrites only what moved. */
  private checkpointedHighWatermark: number;
  /** What log-start-offset-checkpoint holds (-1: nothing readable). */
  private checkpointedLogStartOffset: number;
  private firstDirtyOffset: number;
  private earliestDeleteHorizonMs = Infinity;
  private offlineError: KactusError | null = null;
  private closed = false;
  private dirDirty = false;
  private writeCount = 0;
  private truncationCount = 0;
  private unflushedRecords = 0;
  private lastFlushMs: number;
  private flushInflight: { writeCount: number; promise: Promise<void> } | null = null;
  private flushQueued: Deferred | null = null;

  /** The log's settings now; reconfigure() replaces them (a topic or dynamic broker config changed). */
  get config(): LogConfig {
    return this.currentConfig;
  }

  /**
   * New settings for the open log, from an altered topic config or dynamic broker config (Kafka applies those
   * without a restart). Each takes effect where it is read: retention and compaction on their next pass, segment
   * size and age at the next roll, the batch size bound and timestamp type at the next append. Segments already
   * written keep the index settings they were created with.
   */
  reconfigure(overrides: Partial<LogConfig>): void {
    this.currentConfig = resolveLogConfig({ ...this.currentConfig, ...overrides });
  }

  private constructor(
    readonly dir: string,
    config: LogConfig,
    private readonly clock: Clock,
    private readonly io: FileIo,
  ) {
    this.currentConfig = config;
    this.io.mkdirSync(dir, { recursive: true });
    const markerPath = path.join(dir, cleanShutdownFileName);
    const cleanShutdown = io.existsSync(markerPath);
    const recoveryPoint = readOffsetCheckpoint(io, dir, checkpointNames.recoveryPoint) ?? 0;
    const startCheckpoint = readOffsetCheckpoint(io, dir, checkpointNames.logStartOffset);
    const epochRows = readCheckpoint(io, dir, checkpointNames.leaderEpochs, 2) ?? [];
    this.leaderEpochCache = LeaderEpochCache.fromUntrusted(
      epochRows.map(([leaderEpoch, startOffset]) => ({ leaderEpoch: leaderEpoch!, startOffset: startOffset! })),
      (entries) => this.persistEpochs(entries),
    );
    const loaded = loadSegments({
      io,
      dir,
      config,
      nowMs: clock.nowMs(),
      recoveryPoint,
      cleanShutdown,
      initialOffset: startCheckpoint ?? 0,
      onRecoveredBatch: (epoch, baseOffset) => {
        if (epoch >= 0 && epoch > this.leaderEpochCache.latestEpoch()) this.leaderEpochCache.assign(epoch, baseOffset);
      },
    });
    this.segments = loaded.segments;
    this.openReport = {
      cleanShutdown,
      scannedFromOffset: loaded.scannedFromOffset,
      truncatedBytes: loaded.truncatedBytes,
      deletedSegments: loaded.deletedSegments,
      problems: loaded.problems,
    };
    const leo = this.logEndOffset;
    this._logStartOffset = Math.min(Math.max(startCheckpoint ?? 0, this.segments[0]!.baseOffset), leo);
    this.leaderEpochCache.truncateFromEnd(leo);
    this.leaderEpochCache.truncateFromStart(this._logStartOffset);
    this.checkpointedLogStartOffset = startCheckpoint ?? -1;
    const hwCheckpoint = readOffsetCheckpoint(io, dir, checkpointNames.highWatermark);
    this.checkpointedHighWatermark = hwCheckpoint ?? -1;
    const hw = hwCheckpoint ?? this._logStartOffset;
    this._highWatermark = Math.min(Math.max(hw, this._logStartOffset), leo);
    const dirty = readOffsetCheckpoint(io, dir, checkpointNames.cleanerOffset) ?? this._logStartOffset;
    this.firstDirtyOffset = Math.min(Math.max(dirty, this._logStartOffset), leo);
    this.lastFlushMs = clock.monotonicMs();

    // Make what the scan accepted durable before calling it recovered, then
    // forget the clean-shutdown marker: from here on a crash is unclean.
    if (loaded.scannedFromOffset !== Infinity || loaded.truncatedBytes > 0 || loaded.deletedSegments > 0) {
      for (const s of this.segments) {
        if (s.baseOffset >= loaded.scannedFromOffset || s.needsSync()) io.fsyncSync(s.fd);
        s.syncedGeneration = s.writeGeneration;
        if (s !== this.activeSegment && !s.indexFilesCurrent) {
          s.onRoll();
          s.writeIndexFiles();
        }
      }
      this.dirDirty = true;
    }
    if (this.segments.length === 1 && this.segments[0]!.sizeBytes === 0) this.dirDirty = true;
    this._recoveryPoint = leo;
    if (cleanShutdown) io.unlinkSync(markerPath);
    if (this.dirDirty || cleanShutdown) {
      fsyncDirectory(io, dir);
      this.dirDirty = false;
    }
    writeOffsetCheckpoint(io, dir, checkpointNames.recoveryPoint, leo);
    this.checkpointedRecoveryPoint = leo;
  }

  /** Opens (creating if needed) and recovers the log in `dir`. Synchronous. */
  static open(options: PartitionLogOptions): PartitionLog {
    const io = options.io ?? nodeFileIo;
    const config = resolveLogConfig(options.config);
    try {
      return new PartitionLog(options.dir, config, options.clock ?? systemClock, io);
    } catch (err) {
      if (isIoError(err)) throw new KactusError(ErrorCode.KAFKA_STORAGE_ERROR, `open ${options.dir}: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  }

  // ---- offsets and state -------------------------------------------------

  private get activeSegment(): LogSegment {
    return this.segments[this.segments.length - 1]!;
  }

  get logStartOffset(): number {
    return this._logStartOffset;
  }

  /** One past the last offset in the log. */
  get logEndOffset(): number {
    return this.activeSegment.nextOffset;
  }

  get highWatermark(): number {
    return this._highWatermark;
  }

  /** Every offset below this is on disk (fdatasync completed). */
  get recoveryPoint(): number {
    return this._recoveryPoint;
  }

  get isOffline(): boolean {
    return this.offlineError !== null;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.sizeBytes;
    return total;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  segmentSummaries(): SegmentSummary[] {
    return this.segments.map((s) => ({
      baseOffset: s.baseOffset,
      nextOffset: s.nextOffset,
      sizeBytes: s.sizeBytes,
      largestTimestampMs: s.largestTimestampMs(),
      offsetIndexEntries: s.offsetIndex.entryCount,
      timeIndexEntries: s.timeIndex.entryCount,
    }));
  }

  /** Sets the high watermark, clamped to [logStartOffset, logEndOffset]. Persisted by checkpoint()/close(). */
  setHighWatermark(offset: number): void {
    assert(Number.isSafeInteger(offset), 'high watermark must be an integer');
    this._highWatermark = Math.min(Math.max(offset, this._logStartOffset), this.logEndOffset);
  }

  /**
   * A new leader's epoch starts at the log end (Kafka's maybeAssignEpochStartOffset on
   * becoming leader), before it appends anything: a follower whose last epoch this leader
   * never wrote in then learns where to truncate, instead of an undefined answer.
   */
  assignLeaderEpochStart(leaderEpoch: number): void {
    this.checkOnline();
    if (leaderEpoch > this.leaderEpochCache.latestEpoch()) this.leaderEpochCache.assign(leaderEpoch, this.logEndOffset);
  }

  /** OffsetsForLeaderEpoch for this log. */
  endOffsetForEpoch(leaderEpoch: number): { leaderEpoch: number; endOffset: number } {
    return this.leaderEpochCache.endOffsetFor(leaderEpoch, this.logEndOffset);
  }

  // ---- errors ------------------------------------------------------------

  private checkOnline(): void {
    assert(!this.closed, 'log used after close');
    if (this.offlineError !== null) throw this.offlineError;
  }

  private goOffline(err: unknown): KactusError {
    if (this.offlineError === null) {
      this.offlineError = new KactusError(ErrorCode.KAFKA_STORAGE_ERROR, `log ${this.dir} is offline: ${(err as Error).message}`, { cause: err });
      for (const s of this.segments) {
        try {
          s.close();
        } catch {
          // already failing; nothing more to do
        }
      }
    }
    return this.offlineError;
  }

  /** Runs `fn`; an OS error takes the log offline and becomes KAFKA_STORAGE_ERROR. */
  private guard<T>(fn: () => T): T {
    this.checkOnline();
    try {
      return fn();
    } catch (err) {
      if (isIoError(err)) throw this.goOffline(err);
      throw err;
    }
  }

  private persistEpochs(entries: readonly EpochEntry[]): void {
    writeCheckpoint(this.io, this.dir, checkpointNames.leaderEpochs, entries.map((e) => [e.leaderEpoch, e.startOffset]));
  }

  // ---- append --------------------------------------------------------------

  /**
   * Appends producer batches as leader: validates every batch (nothing is
   * written if any fails), assigns offsets from the log end, stamps
   * `leaderEpoch` into each header, and writes them in one call.
   * `bytes` holds one or more whole batches and is modified in place.
   */
  append(bytes: Buffer, options: { leaderEpoch: number }): AppendResult {
    return this.guard(() => {
      assert(Number.isInteger(options.leaderEpoch), 'leaderEpoch must be an integer');
      assert(options.leaderEpoch >= 0, 'leaderEpoch must be >= 0');
      const latestEpoch = this.leaderEpochCache.latestEpoch();
      if (options.leaderEpoch < latestEpoch) {
        throw new KactusError(ErrorCode.FENCED_LEADER_EPOCH, `append in leader epoch ${options.leaderEpoch}, the log is at ${latestEpoch}`);
      }
      const placements = this.validate(bytes, 'producer');
      const nowMs = this.clock.nowMs();
      const logAppendTime = this.config.messageTimestampType === 'LogAppendTime';
      let next = this.logEndOffset;
      for (const p of placements) {
        const delta = p.lastOffset - p.baseOffset;
        p.baseOffset = next;
        p.lastOffset = next + delta;
        p.partitionLeaderEpoch = options.leaderEpoch;
        next = p.lastOffset + 1;
      }
      for (const p of placements) {
        setBaseOffset(bytes, p.position, p.baseOffset);
        setPartitionLeaderEpoch(bytes, p.position, options.leaderEpoch);
        if (logAppendTime) {
          setLogAppendTime(bytes, p.position, nowMs);
          p.maxTimestampMs = nowMs;
        }
      }
      this.write(bytes, placements, nowMs);
      return { baseOffset: placements[0]!.baseOffset, lastOffset: placements[placements.length - 1]!.lastOffset, logAppendTime: logAppendTime ? nowMs : -1 };
    });
  }

  /**
   * Appends batches fetched from the leader, keeping their offsets and leader
   * epochs. Offsets must start at or after the log end and increase.
   */
  appendAsFollower(bytes: Buffer): AppendResult {
    return this.guard(() => {
      const placements = this.validate(bytes, 'replica');
      let expected = this.logEndOffset;
      for (const p of placements) {
        if (p.baseOffset < expected) {
          throw new KactusError(ErrorCode.CORRUPT_MESSAGE, `follower batch at offset ${p.baseOffset} is below the expected ${expected}`);
        }
        expected = p.lastOffset + 1;
      }
      this.write(bytes, placements, this.clock.nowMs());
      return { baseOffset: placements[0]!.baseOffset, lastOffset: placements[placements.length - 1]!.lastOffset, logAppendTime: -1 };
    });
  }

  private validate(bytes: Buffer, origin: 'producer' | 'replica'): BatchPlacement[] {
    if (bytes.length === 0) throw new KactusError(ErrorCode.CORRUPT_MESSAGE, 'no batches to append');
    if (bytes.length > this.config.segmentBytesMax) {
      throw new KactusError(ErrorCode.RECORD_LIST_TOO_LARGE, `${bytes.length} bytes exceed segmentBytesMax ${this.config.segmentBytesMax}`);
    }
    const placements: BatchPlacement[] = [];
    let pos = 0;
    while (pos < bytes.length) {
      const check = validateBatch(bytes, pos, { messageBytesMax: this.config.messageBytesMax, origin });
      if (!check.ok) throw new KactusError(check.errorCode, check.message);
      const baseOffset = baseOffsetAt(bytes, pos);
      const lastOffset = baseOffset + lastOffsetDeltaAt(bytes, pos);
      placements.push({
        position: pos,
        sizeBytes: check.sizeBytes,
        baseOffset,
        lastOffset,
        maxTimestampMs: maxTimestampAt(bytes, pos),
        partitionLeaderEpoch: bytes.readInt32BE(pos + field.partitionLeaderEpoch),
        recordCount: bytes.readInt32BE(pos + field.recordCount),
      });
      pos += check.sizeBytes;
    }
    for (let i = 1; i < placements.length; i++) {
      if (placements[i]!.baseOffset <= placements[i - 1]!.lastOffset && origin === 'replica') {
        throw new KactusError(ErrorCode.CORRUPT_MESSAGE, 'batch offsets do not increase');
      }
    }
    return placements;
  }

  private write(bytes: Buffer, placements: BatchPlacement[], nowMs: number): void {
    const first = placements[0]!;
    const last = placements[placements.length - 1]!;
    let active = this.activeSegment;
    const farFromEmptyBase = active.isEmpty() && last.lastOffset - active.baseOffset > storageLimits.relativeOffsetMax;
    if (active.shouldRoll(bytes.length, last.lastOffset, nowMs, this.config) || farFromEmptyBase) active = this.roll(first.baseOffset, nowMs);
    for (const p of placements) {
      if (p.partitionLeaderEpoch >= 0 && p.partitionLeaderEpoch > this.leaderEpochCache.latestEpoch()) {
        this.leaderEpochCache.assign(p.partitionLeaderEpoch, p.baseOffset);
      }
    }
    active.append(bytes, placements, nowMs);
    this.writeCount++;
    let records = 0;
    for (const p of placements) records += p.recordCount;
    this.unflushedRecords += records;
    if (
      this.config.fsyncEveryAppend ||
      this.unflushedRecords >= this.config.flushIntervalMessages ||
      this.clock.monotonicMs() - this.lastFlushMs >= this.config.flushIntervalMs
    ) {
      this.flushInBackground();
    }
  }

  /** Starts a new active segment at `baseOffset` (>= LEO) and flushes the finished one in the background. */
  private roll(baseOffset: number, nowMs: number): LogSegment {
    const previous = this.activeSegment;
    assert(baseOffset >= previous.nextOffset, 'roll: new segment must start at or after the log end');
    previous.onRoll();
    if (previous.isEmpty()) {
      previous.deleteFiles();
      this.segments.pop();
    }
    const segment = LogSegment.create(this.io, this.dir, baseOffset, this.config, nowMs);
    this.segments.push(segment);
    this.dirDirty = true;
    if (!previous.isEmpty()) queueMicrotask(() => this.flushInBackground());
    return segment;
  }

  /** Rolls the active segment now if segment.ms has passed (an owner's timer calls this with maybeFlush). */
  maybeRoll(): void {
    this.guard(() => {
      const nowMs = this.clock.nowMs();
      const active = this.activeSegment;
      if (!active.isEmpty() && nowMs - active.createdMs > this.config.segmentRollMs) this.roll(this.logEndOffset, nowMs);
    });
  }

  // ---- read ----------------------------------------------------------------

  /**
   * Raw bytes of whole batches starting with the batch that contains
   * `fromOffset` (or the first one after it, past compaction gaps), up to
   * `maxBytes` but at least one batch, never crossing a segment, never a
   * batch with an offset at or past `maxOffset` (default: the log end).
   * An empty buffer at the log end. OFFSET_OUT_OF_RANGE outside
   * [logStartOffset, logEndOffset].
   */
  read(fromOffset: number, maxBytes: number, options: ReadOptions = {}): Buffer {
    return this.guard(() => {
      assert(Number.isSafeInteger(fromOffset), 'read: fromOffset must be an integer');
      assert(maxBytes >= 1, 'read: maxBytes must be >= 1');
      const leo = this.logEndOffset;
      if (fromOffset < this._logStartOffset || fromOffset > leo) {
        throw new KactusError(ErrorCode.OFFSET_OUT_OF_RANGE, `offset ${fromOffset} outside [${this._logStartOffset}, ${leo}]`);
      }
      const maxOffset = Math.min(options.maxOffset ?? leo, leo);
      if (fromOffset >= maxOffset) return Buffer.alloc(0);
      const clampedMaxBytes = Math.min(maxBytes, storageLimits.readBytesMax);
      for (let i = this.segmentIndexFor(fromOffset); i < this.segments.length; i++) {
        const s = this.segments[i]!;
        const bytes = s.read(Math.max(fromOffset, s.baseOffset), clampedMaxBytes, maxOffset);
        if (bytes !== null) return bytes;
      }
      return Buffer.alloc(0);
    });
  }

  private segmentIndexFor(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid]!.baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /**
   * Visits the header of every batch from the one holding `fromOffset` to
   * the log end, without decoding records: producer-state rebuild (producer
   * id, epoch, base sequence, last offset, transactional/control flags) and
   * transaction index rebuild read the log this way. Stop early by returning
   * false. Reads a segment at a time in large chunks (synchronous).
   */
  forEachBatchHeader(fromOffset: number, visit: (header: BatchHeader) => boolean | void): void {
    this.guard(() => {
      const start = Math.max(fromOffset, this._logStartOffset);
      for (let i = this.segmentIndexFor(start); i < this.segments.length; i++) {
        const s = this.segments[i]!;
        let stopped = false;
        const from = s.offsetIndex.lookup(Math.max(start, s.baseOffset)).position;
        scanBatches(this.io, s.fd, from, s.sizeBytes, { chunkBytes: storageLimits.scanChunkBytes, batchBytesMax: storageLimits.recoveryBatchBytesMax }, (buf, off) => {
          const header = readBatchHeader(buf, off);
          if (header.lastOffset < start) return true;
          if (visit(header) === false) {
            stopped = true;
            return false;
          }
          return true;
        });
        if (stopped) return;
      }
    });
  }

  /** ListOffsets by time: the first record with timestamp >= `timestampMs`, or null. */
  offsetForTimestamp(timestampMs: number): { offset: number; timestamp: number } | null {
    return this.guard(() => {
      for (const s of this.segments) {
        if (s.maxTimestampMs < timestampMs) continue;
        const found = s.findByTimestamp(timestampMs);
        if (found === null) continue;
        const bytes = s.readBytes(found.position, found.sizeBytes);
        const decoded = decodeBatch(bytes, 0, { verifyCrc: false });
        if (decoded.ok) {
          for (const r of decoded.value.records) {
            if (r.timestamp >= timestampMs && r.offset >= this._logStartOffset) return { offset: r.offset, timestamp: r.timestamp };
          }
        }
        const maxTs = readInt64(bytes, field.maxTimestamp);
        return { offset: Math.max(found.baseOffset, this._logStartOffset), timestamp: maxTs };
      }
      return null;
    });
  }

  // ---- flush ---------------------------------------------------------------

  /**
   * Makes everything appended so far durable (fdatasync), then moves the
   * recovery point. Concurrent calls share rounds (group commit): a call made
   * while a round is in flight joins it if nothing was written since it
   * started, else waits for the single next round.
   */
  flush(): Promise<void> {
    if (this.offlineError !== null) return Promise.reject(this.offlineError);
    assert(!this.closed, 'flush after close');
    if (this.flushInflight !== null && this.flushInflight.writeCount === this.writeCount && !this.dirDirty) {
      return this.flushInflight.promise;
    }
    if (this.flushInflight === null && !this.isDirty()) return Promise.resolve();
    const queued = this.flushQueued ?? (this.flushQueued = deferred());
    if (this.flushInflight === null) this.startFlushRound();
    return queued.promise;
  }

  private isDirty(): boolean {
    if (this.dirDirty || this._recoveryPoint < this.logEndOffset) return true;
    for (const s of this.segments) if (s.needsSync()) return true;
    return false;
  }

  private flushInBackground(): void {
    if (this.offlineError !== null || this.closed) return;
    this.flush().catch(() => {
      // The round took the log offline; callers see KAFKA_STORAGE_ERROR on their next call.
    });
  }

  /** For the owner's timer: flushes when flush.ms has passed since the last round. */
  maybeFlush(): void {
    if (this.offlineError !== null || this.closed) return;
    if (this.clock.monotonicMs() - this.lastFlushMs >= this.config.flushIntervalMs && this.isDirty()) this.flushInBackground();
  }

  private startFlushRound(): void {
    const waiters = this.flushQueued!;
    this.flushQueued = null;
    const round = { writeCount: this.writeCount, promise: waiters.promise };
    this.flushInflight = round;
    this.runFlushRound().then(
      () => waiters.resolve(),
      (err) => waiters.reject(err),
    ).finally(() => {
      this.flushInflight = null;
      if (this.flushQueued !== null) {
        if (this.offlineError !== null) {
          const q = this.flushQueued;
          this.flushQueued = null;
          q.reject(this.offlineError);
        } else this.startFlushRound();
      }
    });
  }

  private async runFlushRound(): Promise<void> {
    if (this.offlineError !== null) throw this.offlineError;
    const target = this.logEndOffset;
    const truncations = this.truncationCount;
    this.unflushedRecords = 0;
    this.lastFlushMs = this.clock.monotonicMs();
    try {
      const segments = this.segments.slice();
      const active = segments[segments.length - 1]!;
      for (const s of segments) {
        if (s !== active && !s.indexFilesCurrent && !s.isClosed) {
          s.writeIndexFiles();
          this.dirDirty = true;
        }
      }
      if (this.dirDirty) {
        this.dirDirty = false;
        fsyncDirectory(this.io, this.dir);
      }
      await Promise.all(segments.filter((s) => s.needsSync() && !s.isClosed).map((s) => s.sync()));
    } catch (err) {
      if (isIoError(err)) throw this.goOffline(err);
      throw err;
    }
    if (this.closed || this.offlineError !== null) return;
    if (this.truncationCount === truncations && target > this._recoveryPoint) {
      this._recoveryPoint = Math.min(target, this.logEndOffset);
      // Persist when the durable prefix crossed into a later segment, so a
      // restart trusts whole finished segments instead of rescanning them.
      if (this.segmentIndexFor(this._recoveryPoint) !== this.segmentIndexFor(this.checkpointedRecoveryPoint)) {
        this.guard(() => this.writeRecoveryPointCheckpoint());
      }
    }
  }

  private writeRecoveryPointCheckpoint(): void {
    writeOffsetCheckpoint(this.io, this.dir, checkpointNames.recoveryPoint, this._recoveryPoint);
    this.checkpointedRecoveryPoint = this._recoveryPoint;
  }

  private writeLogStartOffsetCheckpoint(offset: number): void {
    writeOffsetCheckpoint(this.io, this.dir, checkpointNames.logStartOffset, offset);
    this.checkpointedLogStartOffset = offset;
  }

  /**
   * Writes the recovery point, high watermark and log start offset
   * checkpoints that moved since they were last written (an owner's periodic
   * task). Returns how many files it wrote: an idle partition costs no fsync,
   * so a broker with thousands of partitions does not stall on its tick.
   */
  checkpoint(): number {
    return this.guard(() => {
      let written = 0;
      if (this._recoveryPoint !== this.checkpointedRecoveryPoint) {
        this.writeRecoveryPointCheckpoint();
        written += 1;
      }
      if (this._highWatermark !== this.checkpointedHighWatermark) {
        writeOffsetCheckpoint(this.io, this.dir, checkpointNames.highWatermark, this._highWatermark);
        this.checkpointedHighWatermark = this._highWatermark;
        written += 1;
      }
      if (this._logStartOffset !== this.checkpointedLogStartOffset) {
        this.writeLogStartOffsetCheckpoint(this._logStartOffset);
        written += 1;
      }
      return written;
    });
  }

  // ---- truncation ----------------------------------------------------------

  /**
   * Follower truncation: removes every batch whose last offset is >=
   * `offset` (a batch that straddles `offset` goes whole). The log end
   * becomes the end of the last batch kept.
   */
  truncateTo(offset: number): void {
    this.guard(() => {
      assert(Number.isSafeInteger(offset), 'truncateTo: offset must be an integer');
      assert(offset >= 0, 'truncateTo: offset must be >= 0');
      if (offset >= this.logEndOffset) {
        // An epoch entry may start at the log end with nothing appended in it (we led that epoch, wrote
        // nothing, and lost leadership): drop it, or a follower keeps naming an epoch the leader never had
        // and loops on divergence (Kafka's UnifiedLog.truncateTo does the same).
        this.leaderEpochCache.truncateFromEnd(this.logEndOffset);
        return;
      }
      if (offset < this._logStartOffset) {
        this.truncateFullyAndStartAtUnguarded(offset);
        return;
      }
      this.truncationCount++;
      while (this.segments.length > 1 && this.activeSegment.baseOffset > offset) {
        this.activeSegment.deleteFiles();
        this.segments.pop();
        this.dirDirty = true;
      }
      this.activeSegment.truncateTo(offset);
      this.afterTruncation();
    });
  }

  /** Empties the log and restarts it at `offset` (a follower far behind the leader's log start). */
  truncateFullyAndStartAt(offset: number): void {
    this.guard(() => this.truncateFullyAndStartAtUnguarded(offset));
  }

  private truncateFullyAndStartAtUnguarded(offset: number): void {
    assert(Number.isSafeInteger(offset), 'truncateFullyAndStartAt: offset must be an integer');
    assert(offset >= 0, 'truncateFullyAndStartAt: offset must be >= 0');
    this.truncationCount++;
    for (const s of this.segments) s.deleteFiles();
    this.segments = [LogSegment.create(this.io, this.dir, offset, this.config, this.clock.nowMs())];
    this.dirDirty = true;
    this._logStartOffset = offset;
    this.writeLogStartOffsetCheckpoint(offset);
    this.leaderEpochCache.clear();
    this.afterTruncation();
  }

  private afterTruncation(): void {
    const leo = this.logEndOffset;
    this._highWatermark = Math.min(this._highWatermark, leo);
    this.firstDirtyOffset = Math.min(this.firstDirtyOffset, leo);
    this.leaderEpochCache.truncateFromEnd(leo);
    if (this._recoveryPoint > leo || this.checkpointedRecoveryPoint > leo) {
      // The on-disk checkpoint must not vouch for offsets that may be rewritten.
      this._recoveryPoint = Math.min(this._recoveryPoint, leo);
      this.writeRecoveryPointCheckpoint();
    }
    this.writeCount++;
  }

  // ---- retention -----------------------------------------------------------

  /**
   * Moves the log start offset forward (DeleteRecords). Offsets above the
   * high watermark cannot be deleted. Whole segments below it go on the next
   * enforceRetention().
   */
  advanceLogStartOffset(offset: number): void {
    this.guard(() => {
      if (offset > this._highWatermark) {
        throw new KactusError(ErrorCode.OFFSET_OUT_OF_RANGE, `cannot delete records up to ${offset} above the high watermark ${this._highWatermark}`);
      }
      if (offset <= this._logStartOffset) return;
      this._logStartOffset = offset;
      this.writeLogStartOffsetCheckpoint(offset);
      this.leaderEpochCache.truncateFromStart(offset);
      this.firstDirtyOffset = Math.max(this.firstDirtyOffset, offset);
    });
  }

  /**
   * Deletes closed segments past retention.ms / retention.bytes / the log
   * start. Only segments wholly below the high watermark go, so an owner that
   * never sets the high watermark (setHighWatermark) never loses data to
   * retention. Returns what went.
   */
  enforceRetention(): { deletedSegments: number; deletedBytes: number; reasons: RetentionReason[] } {
    return this.guard(() => {
      const closed = this.segments.slice(0, -1).map((s, i) => ({
        baseOffset: s.baseOffset,
        nextBaseOffset: this.segments[i + 1]!.baseOffset,
        sizeBytes: s.sizeBytes,
        largestTimestampMs: s.largestTimestampMs(),
      }));
      const plan = planRetention(closed, {
        nowMs: this.clock.nowMs(),
        retentionMs: this.config.retentionMs,
        retentionBytes: this.config.retentionBytes,
        deleteEnabled: deletes(this.config),
        highWatermark: this._highWatermark,
        logStartOffset: this._logStartOffset,
        totalSizeBytes: this.sizeBytes,
      });
      if (plan.deleteCount === 0) return { deletedSegments: 0, deletedBytes: 0, reasons: [] };
      const doomed = this.segments.slice(0, plan.deleteCount);
      const newStart = Math.max(this._logStartOffset, this.segments[plan.deleteCount]!.baseOffset);
      // Checkpoint first: a crash mid-deletion leaves segments below the start, deleted again next time.
      this._logStartOffset = newStart;
      this.writeLogStartOffsetCheckpoint(newStart);
      this.leaderEpochCache.truncateFromStart(newStart);
      this.firstDirtyOffset = Math.max(this.firstDirtyOffset, newStart);
      let deletedBytes = 0;
      for (const s of doomed) {
        deletedBytes += s.sizeBytes;
        s.deleteFiles();
      }
      this.segments = this.segments.slice(plan.deleteCount);
      this.dirDirty = true;
      return { deletedSegments: doomed.length, deletedBytes, reasons: plan.reasons };
    });
  }

  // ---- compaction ----------------------------------------------------------

  /**
   * One compaction pass if the log compacts and the dirty ratio (or a due
   * tombstone horizon, or `force`) says so. Synchronous; run it from a
   * background schedule. Null when there was nothing to do.
   */
  clean(options: { force?: boolean } = {}): CleanResult | null {
    return this.guard(() => {
      if (!compacts(this.config)) return null;
      const nowMs = this.clock.nowMs();
      const closedSegments = this.segments.slice(0, -1);
      const nextBases = closedSegments.map((_, i) => this.segments[i + 1]!.baseOffset);
      const plan = planCleaning(
        closedSegments.map((s, i) => ({ baseOffset: s.baseOffset, nextBaseOffset: nextBases[i]!, sizeBytes: s.sizeBytes })),
        {
          firstDirtyOffset: this.firstDirtyOffset,
          firstUncleanableOffset: Math.min(this.activeSegment.baseOffset, this._highWatermark),
          minCleanableDirtyRatio: this.config.minCleanableDirtyRatio,
          deleteHorizonDue: nowMs >= this.earliestDeleteHorizonMs,
          force: options.force === true,
        },
      );
      if (plan === null) return null;
      const result = cleanSegments({
        io: this.io,
        dir: this.dir,
        config: this.config,
        nowMs,
        segments: closedSegments.slice(0, plan.segmentCount),
        nextBaseOffsets: nextBases.slice(0, plan.segmentCount),
        firstDirtyOffset: this.firstDirtyOffset,
      });
      this.firstDirtyOffset = Math.max(this.firstDirtyOffset, result.cleanUpToOffset);
      this.earliestDeleteHorizonMs = result.earliestDeleteHorizonMs;
      writeOffsetCheckpoint(this.io, this.dir, checkpointNames.cleanerOffset, this.firstDirtyOffset);
      return result;
    });
  }

  // ---- close ---------------------------------------------------------------

  /**
   * Drops the log at once: no flush, no index files, no checkpoints, no
   * clean-shutdown marker; background flush rounds stop. The files stay as
   * the OS has them, exactly as after a process crash (used by crash tests,
   * and by an owner that must let go of a failing disk without touching it).
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.segments) {
      try {
        s.close();
      } catch {
        // best effort
      }
    }
  }

  /**
   * Flushes everything, writes every index file and checkpoint, and leaves a
   * clean-shutdown marker so the next open trusts the files without a scan.
   * An offline log just releases its descriptors.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.offlineError === null) {
        await this.flush();
        this.guard(() => {
          for (const s of this.segments) {
            s.onRoll();
            if (!s.indexFilesCurrent) s.writeIndexFiles();
          }
          this._recoveryPoint = this.logEndOffset;
          this.checkpoint();
          writeOffsetCheckpoint(this.io, this.dir, checkpointNames.cleanerOffset, this.firstDirtyOffset);
          const marker = path.join(this.dir, cleanShutdownFileName);
          this.io.closeSync(this.io.openSync(marker, 'w'));
          fsyncDirectory(this.io, this.dir);
        });
      }
    } finally {
      this.closed = true;
      for (const s of this.segments) {
        try {
          s.close();
        } catch {
          // closing descriptors of an offline log: best effort
        }
      }
    }
  }
}

/** The size of the batch at `pos` (re-exported for callers that walk read results). */
export { batchSizeAt };
