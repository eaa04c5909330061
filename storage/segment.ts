/**
 * One log segment: a `.log` file of whole batches plus its sparse indexes.
 *
 * Owns: the segment's file descriptor, its committed size, its next offset,
 * its in-memory offset and time indexes and their files, appends at the end,
 * reads of whole batches, truncation, the validating recovery scan, and the
 * lifecycle of the descriptor (close is deferred while an fdatasync is in
 * flight so a descriptor number is never reused under a pending sync).
 *
 * Files, named by the 20-digit zero-padded base offset (Kafka's scheme):
 *   00000000000000000000.log        batches, back to back, nothing else
 *   00000000000000000000.index      see offset-index.ts
 *   00000000000000000000.timeindex  see time-index.ts
 *
 * Invariants:
 * - bytes [0, sizeBytes) of the .log are whole, CRC-valid batches (checked on
 *   append by the log, on recovery here) with increasing offsets, all >= the
 *   base offset, each within 2^31-1 of it (int32 relative offsets);
 * - `nextOffset` is one past the last batch's last offset (base if empty);
 * - a segment is at most segmentBytesMax <= 2^31-1 bytes (int32 positions).
 *
 * Crash behaviour: appends are single positioned writes at `sizeBytes`. If a
 * write fails the segment cuts the file back to the previous size (best
 * effort) and the caller takes the log offline; whatever reached the disk is
 * cut again by the recovery scan on the next open, which stops at the first
 * batch whose length, magic, CRC or offsets are wrong and truncates there.
 * Index files are caches, written whole (temp + rename) on flush, roll and
 * close, and rebuilt whenever they are not trusted.
 *
 * Reads use synchronous `readSync` on purpose: a fetch is one or two reads of
 * a window (index position + maxBytes), mostly from the page cache, and a
 * synchronous read returns a consistent view while appends are synchronous
 * too. The cost is an event-loop block of a memcpy-sized read.
 */
import * as path from 'node:path';
import {
  baseOffsetAt,
  batchHeaderBytes,
  batchSizeAt,
  lastOffsetDeltaAt,
  maxTimestampAt,
  validateBatch,
} from '../protocol/record-batch/header.ts';
import { assert } from '../runtime/assert.ts';
import { type LogConfig, storageLimits } from './config.ts';
import { type FileIo, fdatasyncAsync, readFully, writeFully } from './file-io.ts';
import { OffsetIndex, offsetIndexEntryBytes } from './offset-index.ts';
import { scanBatches } from './scan.ts';
import { TimeIndex } from './time-index.ts';

export const logSuffix = '.log';
export const indexSuffix = '.index';
export const timeIndexSuffix = '.timeindex';
/** Output of the cleaner before it is renamed over the segment; deleted on open if left by a crash. */
export const cleanedSuffix = '.cleaned';
export const tmpSuffix = '.tmp';

export function segmentFileName(baseOffset: number, suffix: string): string {
  assert(Number.isSafeInteger(baseOffset), 'segment base offset must be a safe integer');
  assert(baseOffset >= 0, 'segment base offset must be >= 0');
  return String(baseOffset).padStart(20, '0') + suffix;
}

/** `{ baseOffset, suffix }` for names like 00000000000000000042.log, else null. */
export function parseSegmentFileName(name: string): { baseOffset: number; suffix: string } | null {
  const m = /^(\d{20})(\.[a-z.]+)$/.exec(name);
  if (m === null) return null;
  const baseOffset = Number(m[1]);
  if (!Number.isSafeInteger(baseOffset)) return null;
  return { baseOffset, suffix: m[2]! };
}

/** The verdict of a recovery scan. */
export interface RecoverResult {
  /** Bytes cut from the end of the file (torn or corrupt tail). */
  truncatedBytes: number;
  /** Why the scan stopped early, if it did. */
  problem?: string;
}

export class LogSegment {
  sizeBytes = 0;
  nextOffset: number;
  offsetIndex: OffsetIndex;
  timeIndex: TimeIndex;
  maxTimestampMs = -1;
  offsetOfMaxTimestamp: number;
  bytesSinceLastIndexEntry = 0;
  /** Clock time the segment got its first batch (or was opened): drives segment.ms. */
  createdMs: number;
  /** Clock time of the last append (or file mtime): stands in for timestamps of records without one. */
  lastModifiedMs: number;
  /** Bumped by every write; `syncedGeneration` catches up when an fdatasync that began after it completes. */
  writeGeneration = 0;
  syncedGeneration = 0;
  /** The .index/.timeindex files match memory. */
  indexFilesCurrent = false;
  private inflightSyncs = 0;
  private closeRequested = false;
  /** Descriptors replaced by the cleaner while an fdatasync was in flight; closed when it finishes. */
  private retiredFds: number[] = [];
  private fdClosed = false;

  private constructor(
    private readonly io: FileIo,
    readonly dir: string,
    readonly baseOffset: number,
    private readonly config: LogConfig,
    public fd: number,
    nowMs: number,
  ) {
    this.nextOffset = baseOffset;
    this.offsetOfMaxTimestamp = baseOffset;
    this.offsetIndex = new OffsetIndex(baseOffset);
    this.timeIndex = new TimeIndex(baseOffset);
    this.createdMs = nowMs;
    this.lastModifiedMs = nowMs;
  }

  /** Creates a new, empty segment (replacing any leftover files of the same name). */
  static create(io: FileIo, dir: string, baseOffset: number, config: LogConfig, nowMs: number): LogSegment {
    for (const suffix of [indexSuffix, timeIndexSuffix]) {
      const p = path.join(dir, segmentFileName(baseOffset, suffix));
      if (io.existsSync(p)) io.unlinkSync(p);
    }
    const fd = io.openSync(path.join(dir, segmentFileName(baseOffset, logSuffix)), 'w+');
    const segment = new LogSegment(io, dir, baseOffset, config, fd, nowMs);
    segment.indexFilesCurrent = false;
    return segment;
  }

  /** Opens an existing .log; indexes are empty until `recover()` or `loadIndexes()`. */
  static open(io: FileIo, dir: string, baseOffset: number, config: LogConfig, nowMs: number): LogSegment {
    const fd = io.openSync(path.join(dir, segmentFileName(baseOffset, logSuffix)), 'r+');
    const segment = new LogSegment(io, dir, baseOffset, config, fd, nowMs);
    const stat = io.fstatSync(fd);
    segment.sizeBytes = stat.size;
    segment.lastModifiedMs = Math.floor(stat.mtimeMs);
    return segment;
  }

  get logPath(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, logSuffix));
  }
  get indexPath(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, indexSuffix));
  }
  get timeIndexPath(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, timeIndexSuffix));
  }

  /** Newest timestamp in the segment for retention; the last write time when no batch had one. */
  largestTimestampMs(): number {
    return this.maxTimestampMs >= 0 ? this.maxTimestampMs : this.lastModifiedMs;
  }

  isEmpty(): boolean {
    return this.sizeBytes === 0;
  }

  /**
   * Whether an append of `appendBytes` ending at `lastOffset` must go to a new segment. Size and age are the log's
   * settings now (`limits`: they may have changed since this segment was created); the index bound is this
   * segment's own (its index file was sized with it).
   */
  shouldRoll(appendBytes: number, lastOffset: number, nowMs: number, limits: Pick<LogConfig, 'segmentBytesMax' | 'segmentRollMs'> = this.config): boolean {
    if (this.sizeBytes === 0) return false;
    if (this.sizeBytes + appendBytes > limits.segmentBytesMax) return true;
    if (nowMs - this.createdMs > limits.segmentRollMs) return true;
    if (this.offsetIndex.sizeBytes + offsetIndexEntryBytes > this.config.indexBytesMax) return true;
    if (lastOffset - this.baseOffset > storageLimits.relativeOffsetMax) return true;
    return false;
  }

  /** Index bookkeeping for one batch that is (or is about to be) at `filePos`. */
  indexBatch(filePos: number, sizeBytes: number, baseOffset: number, lastOffset: number, maxTimestampMs: number): void {
    assert(baseOffset >= this.nextOffset, 'segment: batch offsets must increase');
    assert(lastOffset >= baseOffset, 'segment: last offset before base offset');
    assert(lastOffset - this.baseOffset <= storageLimits.relativeOffsetMax, 'segment: relative offset exceeds int32');
    if (maxTimestampMs > this.maxTimestampMs) {
      this.maxTimestampMs = maxTimestampMs;
      this.offsetOfMaxTimestamp = baseOffset;
    }
    if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes) {
      this.offsetIndex.append(baseOffset, filePos);
      this.timeIndex.maybeAppend(this.maxTimestampMs, this.offsetOfMaxTimestamp);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += sizeBytes;
    this.nextOffset = lastOffset + 1;
    this.indexFilesCurrent = false;
  }

  /**
   * Writes validated, offset-assigned batches at the end. `batches` describes
   * each batch inside `bytes`. On an I/O error the file is cut back (best
   * effort) and the error is rethrown for the log to go offline.
   */
  append(bytes: Buffer, batches: readonly { position: number; sizeBytes: number; baseOffset: number; lastOffset: number; maxTimestampMs: number }[], nowMs: number): void {
    assert(!this.fdClosed, 'segment: append after close');
    assert(this.sizeBytes + bytes.length <= storageLimits.segmentBytesLimit, 'segment: position exceeds int32');
    const start = this.sizeBytes;
    try {
      writeFully(this.io, this.fd, bytes, start);
    } catch (err) {
      try {
        this.io.ftruncateSync(this.fd, start);
      } catch {
        // The disk is failing; recovery cuts the partial batch on the next open.
      }
      throw err;
    }
    if (start === 0) this.createdMs = nowMs;
    for (const b of batches) this.indexBatch(start + b.position, b.sizeBytes, b.baseOffset, b.lastOffset, b.maxTimestampMs);
    this.sizeBytes = start + bytes.length;
    this.lastModifiedMs = nowMs;
    this.writeGeneration++;
  }

  private readAt(position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    readFully(this.io, this.fd, buf, 0, length, position);
    return buf;
  }

  /**
   * File position of the first batch whose last offset is >= `offset`, with
   * that batch's header fields; null when every batch ends before `offset`.
   * `window` (a buffer starting at `windowStart`) is used when it holds the header.
   */
  private findBatch(offset: number, window?: { buf: Buffer; start: number }): { position: number; sizeBytes: number; baseOffset: number; lastOffset: number } | null {
    let pos = this.offsetIndex.lookup(offset).position;
    while (pos < this.sizeBytes) {
      let buf: Buffer;
      let off: number;
      if (window !== undefined && pos >= window.start && pos + batchHeaderBytes <= window.start + window.buf.length) {
        buf = window.buf;
        off = pos - window.start;
      } else {
        buf = this.readAt(pos, batchHeaderBytes);
        off = 0;
      }
      const size = batchSizeAt(buf, off);
      assert(size >= batchHeaderBytes, 'segment: committed batch shorter than a header');
      const base = baseOffsetAt(buf, off);
      const last = base + lastOffsetDeltaAt(buf, off);
      if (last >= offset) return { position: pos, sizeBytes: size, baseOffset: base, lastOffset: last };
      pos += size;
    }
    return null;
  }

  /**
   * Whole batches starting with the one that holds `fromOffset` (or the next
   * one after a gap), up to `maxBytes` but always at least one batch, and only
   * batches whose last offset is below `maxOffsetExclusive`. Returns null when
   * this segment has nothing at or after `fromOffset`, an empty buffer when the
   * first batch is beyond `maxOffsetExclusive`.
   */
  read(fromOffset: number, maxBytes: number, maxOffsetExclusive: number): Buffer | null {
    assert(!this.fdClosed, 'segment: read after close');
    if (this.sizeBytes === 0 || fromOffset >= this.nextOffset) return null;
    const indexPos = this.offsetIndex.lookup(fromOffset).position;
    const windowBytes = Math.min(this.sizeBytes - indexPos, this.config.indexIntervalBytes + maxBytes + batchHeaderBytes);
    const window = { buf: this.readAt(indexPos, windowBytes), start: indexPos };
    const first = this.findBatch(fromOffset, window);
    if (first === null) return null;
    if (first.lastOffset >= maxOffsetExclusive) return Buffer.alloc(0);
    let end = first.position + first.sizeBytes;
    while (end < this.sizeBytes) {
      let buf: Buffer;
      let off: number;
      if (end + batchHeaderBytes <= window.start + window.buf.length) {
        buf = window.buf;
        off = end - window.start;
      } else if (end - first.position + batchHeaderBytes <= maxBytes) {
        buf = this.readAt(end, batchHeaderBytes);
        off = 0;
      } else break;
      const size = batchSizeAt(buf, off);
      assert(size >= batchHeaderBytes, 'segment: committed batch shorter than a header');
      if (end - first.position + size > maxBytes) break;
      const last = baseOffsetAt(buf, off) + lastOffsetDeltaAt(buf, off);
      if (last >= maxOffsetExclusive) break;
      end += size;
    }
    if (first.position >= window.start && end <= window.start + window.buf.length) {
      return window.buf.subarray(first.position - window.start, end - window.start);
    }
    return this.readAt(first.position, end - first.position);
  }

  /** First batch with maxTimestamp >= `timestampMs`: its base offset, or null. */
  findByTimestamp(timestampMs: number): { position: number; baseOffset: number; sizeBytes: number } | null {
    const startOffset = this.timeIndex.scanStartFor(timestampMs);
    let pos = this.offsetIndex.lookup(startOffset).position;
    let found: { position: number; baseOffset: number; sizeBytes: number } | null = null;
    scanBatches(this.io, this.fd, pos, this.sizeBytes, { chunkBytes: storageLimits.scanChunkBytes, batchBytesMax: storageLimits.recoveryBatchBytesMax }, (buf, off, size, filePos) => {
      if (maxTimestampAt(buf, off) >= timestampMs) {
        found = { position: filePos, baseOffset: baseOffsetAt(buf, off), sizeBytes: size };
        return false;
      }
      pos = filePos + size;
      return true;
    });
    return found;
  }

  /** Reads `sizeBytes` at `position` (a batch located by findBatch/findByTimestamp). */
  readBytes(position: number, sizeBytes: number): Buffer {
    return this.readAt(position, sizeBytes);
  }

  /**
   * Full validating scan from the start: lengths, magic, CRC, increasing
   * offsets >= `expectedFirstOffset`. Rebuilds the indexes, and truncates the
   * file at the first batch that fails.
   */
  recover(expectedFirstOffset: number, onBatch?: (partitionLeaderEpoch: number, baseOffset: number) => void): RecoverResult {
    this.resetIndexState();
    const fileSize = this.io.fstatSync(this.fd).size;
    let expected = Math.max(this.baseOffset, expectedFirstOffset);
    let problem: string | undefined;
    const result = scanBatches(
      this.io,
      this.fd,
      0,
      fileSize,
      { chunkBytes: storageLimits.scanChunkBytes, batchBytesMax: storageLimits.recoveryBatchBytesMax },
      (buf, off, size, filePos) => {
        const check = validateBatch(buf, off, { messageBytesMax: storageLimits.recoveryBatchBytesMax, origin: 'replica' });
        if (!check.ok) {
          problem = `batch at position ${filePos}: ${check.message}`;
          return false;
        }
        const base = baseOffsetAt(buf, off);
        const last = base + lastOffsetDeltaAt(buf, off);
        if (base < expected) {
          problem = `batch at position ${filePos}: offset ${base} below the expected ${expected}`;
          return false;
        }
        if (last - this.baseOffset > storageLimits.relativeOffsetMax) {
          problem = `batch at position ${filePos}: offset ${last} too far from the segment base`;
          return false;
        }
        this.indexBatch(filePos, size, base, last, maxTimestampAt(buf, off));
        onBatch?.(buf.readInt32BE(off + 12), base);
        expected = last + 1;
        return true;
      },
    );
    if (result.stop === 'torn' && problem === undefined) problem = `torn batch at position ${result.endPosition}`;
    const truncatedBytes = fileSize - result.endPosition;
    if (truncatedBytes > 0) this.io.ftruncateSync(this.fd, result.endPosition);
    this.sizeBytes = result.endPosition;
    this.indexFilesCurrent = false;
    if (this.sizeBytes > 0) this.writeGeneration++;
    return problem === undefined ? { truncatedBytes } : { truncatedBytes, problem };
  }

  private resetIndexState(): void {
    this.offsetIndex.clear();
    this.timeIndex.clear();
    this.maxTimestampMs = -1;
    this.offsetOfMaxTimestamp = this.baseOffset;
    this.bytesSinceLastIndexEntry = 0;
    this.nextOffset = this.baseOffset;
  }

  /**
   * The trusted path (segments below the recovery point): loads the index
   * files if they pass the sanity check, then walks the headers after the
   * last index entry to restore the tail state. Returns false (and leaves the
   * segment for `recover`) when the files are missing or implausible.
   */
  loadIndexes(): boolean {
    if (!this.io.existsSync(this.indexPath) || !this.io.existsSync(this.timeIndexPath)) return false;
    const offsetIndex = OffsetIndex.fromBytes(this.baseOffset, this.io.readFileSync(this.indexPath), this.sizeBytes);
    if (offsetIndex === null) return false;
    const timeIndex = TimeIndex.fromBytes(this.baseOffset, this.io.readFileSync(this.timeIndexPath), this.baseOffset + storageLimits.relativeOffsetMax);
    if (timeIndex === null) return false;
    this.offsetIndex = offsetIndex;
    this.timeIndex = timeIndex;
    const lastEntry = offsetIndex.lastEntry();
    const ok = this.restoreTail(lastEntry?.position ?? 0, lastEntry?.offset);
    if (!ok) {
      this.offsetIndex = new OffsetIndex(this.baseOffset);
      this.timeIndex = new TimeIndex(this.baseOffset);
      return false;
    }
    this.indexFilesCurrent = true;
    return true;
  }

  /**
   * Restores nextOffset, maxTimestamp and bytesSinceLastIndexEntry by walking
   * headers from `fromPos` (the last offset-index entry, whose batch must have
   * base offset `expectedBase`) to the end. False if the headers do not add up.
   */
  private restoreTail(fromPos: number, expectedBase: number | undefined): boolean {
    const lastTime = this.timeIndex.lastEntry();
    this.maxTimestampMs = lastTime?.timestampMs ?? -1;
    this.offsetOfMaxTimestamp = lastTime?.offset ?? this.baseOffset;
    this.bytesSinceLastIndexEntry = 0;
    this.nextOffset = expectedBase ?? this.baseOffset;
    let first = true;
    let ok = true;
    const result = scanBatches(this.io, this.fd, fromPos, this.sizeBytes, { chunkBytes: storageLimits.scanChunkBytes, batchBytesMax: storageLimits.recoveryBatchBytesMax }, (buf, off, size) => {
      const base = baseOffsetAt(buf, off);
      if (first && expectedBase !== undefined && base !== expectedBase) {
        ok = false;
        return false;
      }
      first = false;
      const last = base + lastOffsetDeltaAt(buf, off);
      if (base < this.nextOffset || last < base) {
        ok = false;
        return false;
      }
      const ts = maxTimestampAt(buf, off);
      if (ts > this.maxTimestampMs) {
        this.maxTimestampMs = ts;
        this.offsetOfMaxTimestamp = base;
      }
      this.bytesSinceLastIndexEntry += size;
      this.nextOffset = last + 1;
      return true;
    });
    return ok && result.stop === 'end';
  }

  /**
   * Removes every batch whose last offset is >= `offset`. Returns the bytes
   * removed. The batch holding `offset` goes entirely (batches are atomic).
   */
  truncateTo(offset: number): number {
    const cut = this.findBatch(offset);
    if (cut === null) return 0;
    const removed = this.sizeBytes - cut.position;
    this.io.ftruncateSync(this.fd, cut.position);
    this.sizeBytes = cut.position;
    this.offsetIndex.truncateToPosition(cut.position);
    this.timeIndex.truncateToOffset(cut.baseOffset);
    const lastEntry = this.offsetIndex.lastEntry();
    const ok = this.restoreTail(lastEntry?.position ?? 0, lastEntry?.offset);
    assert(ok, 'segment: committed batches do not add up after truncation');
    if (this.sizeBytes === 0) this.nextOffset = this.baseOffset;
    this.indexFilesCurrent = false;
    this.writeGeneration++;
    return removed;
  }

  /** Called when the segment stops being active: the last time-index entry becomes its largest timestamp. */
  onRoll(): void {
    const before = this.timeIndex.entryCount;
    this.timeIndex.maybeAppend(this.maxTimestampMs, this.offsetOfMaxTimestamp);
    if (this.timeIndex.entryCount !== before) this.indexFilesCurrent = false;
  }

  /** Writes both index files whole, each via temp file + fsync + rename. The caller fsyncs the directory. */
  writeIndexFiles(): void {
    this.writeFileAtomically(this.indexPath, this.offsetIndex.toBytes());
    this.writeFileAtomically(this.timeIndexPath, this.timeIndex.toBytes());
    this.indexFilesCurrent = true;
  }

  private writeFileAtomically(target: string, bytes: Buffer): void {
    const tmp = target + tmpSuffix;
    const fd = this.io.openSync(tmp, 'w');
    try {
      writeFully(this.io, fd, bytes, 0);
      this.io.fsyncSync(fd);
    } finally {
      this.io.closeSync(fd);
    }
    this.io.renameSync(tmp, target);
  }

  deleteIndexFiles(): void {
    for (const p of [this.indexPath, this.timeIndexPath]) if (this.io.existsSync(p)) this.io.unlinkSync(p);
    this.indexFilesCurrent = false;
  }

  /** fdatasync of the .log; resolves to the write generation it covers. */
  async sync(): Promise<number> {
    assert(!this.fdClosed, 'segment: sync after close');
    const generation = this.writeGeneration;
    this.inflightSyncs++;
    try {
      await fdatasyncAsync(this.io, this.fd);
      if (generation > this.syncedGeneration) this.syncedGeneration = generation;
      return generation;
    } finally {
      this.inflightSyncs--;
      if (this.inflightSyncs === 0) {
        for (const fd of this.retiredFds.splice(0)) this.io.closeSync(fd);
        if (this.closeRequested) this.closeNow();
      }
    }
  }

  needsSync(): boolean {
    return this.syncedGeneration < this.writeGeneration;
  }

  /** Closes the descriptor now, or when the in-flight fdatasync finishes. */
  close(): void {
    if (this.fdClosed || this.closeRequested) return;
    if (this.inflightSyncs > 0) this.closeRequested = true;
    else this.closeNow();
  }

  private closeNow(): void {
    if (this.fdClosed) return;
    this.fdClosed = true;
    this.io.closeSync(this.fd);
  }

  get isClosed(): boolean {
    return this.fdClosed || this.closeRequested;
  }

  /** Closes and removes the segment's files. */
  deleteFiles(): void {
    this.close();
    this.io.unlinkSync(this.logPath);
    this.deleteIndexFiles();
  }

  /**
   * Points this segment at a new, already-synced descriptor after the cleaner
   * renamed a new file over the .log. The caller re-indexes it (recover()).
   */
  replaceFile(fd: number): void {
    assert(!this.fdClosed, 'segment: replaceFile after close');
    assert(!this.closeRequested, 'segment: replaceFile while closing');
    if (this.inflightSyncs > 0) this.retiredFds.push(this.fd);
    else this.io.closeSync(this.fd);
    this.fd = fd;
    this.sizeBytes = this.io.fstatSync(fd).size;
    this.resetIndexState();
    this.writeGeneration++;
    this.syncedGeneration = this.writeGeneration;
  }
}
