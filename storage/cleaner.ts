/**
 * Log compaction (cleanup.policy=compact): keep the newest record per key.
 *
 * Owns: `planCleaning` (pure: which range, and whether it is worth it) and
 * `cleanSegments` (the worker: build the key map, rewrite segments).
 *
 * Model (Kafka's LogCleaner): the log splits into a clean prefix
 * [logStart, firstDirtyOffset), already compacted, and a dirty part
 * [firstDirtyOffset, firstUncleanableOffset) written since. The first
 * uncleanable offset is the smaller of the active segment's base and the high
 * watermark: the active segment is never touched and nothing unreplicated is
 * compacted. A pass
 * 1. reads the dirty segments and maps each key to its newest offset
 *    (bounded by cleanerKeysMax: when the map is full the pass stops at a
 *    segment boundary and cleans less);
 * 2. rewrites every segment in [logStart, cleanUpTo), keeping a record unless
 *    the map holds a newer offset for its key; offsets never change, batches
 *    keep their base offset, last offset delta and producer fields, so
 *    offsets, sequence numbers and epochs survive compaction;
 * 3. tombstones (null values) are kept and stamped with a delete horizon
 *    (now + deleteRetentionMs, in the batch's baseTimestamp with attribute
 *    bit 6, as Kafka 3 does); a later pass after the horizon drops them, so
 *    consumers have delete.retention.ms to see the delete.
 *
 * A rewritten batch is compressed with the codec it had (any of Kafka's
 * five). A batch that does not decode (corrupt, or a codec whose library did
 * not load on this broker: compression/native.ts) is kept as it is and its
 * keys do not enter the map, so nothing is dropped on its account.
 *
 * Left as they are (safe, not minimal): control batches and transactional
 * batches (dropping aborted data needs the transaction index, not built yet);
 * records with a null key. Transactional records do not enter the key map, so
 * an aborted transactional write never causes an older committed value to be
 * removed. A batch that loses all its records is dropped, except the newest
 * one of an idempotent producer, kept empty so the producer's last sequence
 * survives. Segments are not merged after cleaning.
 *
 * Crash behaviour: each segment is rewritten into `<base>.log.cleaned`,
 * fsynced, its index files deleted, then renamed over `<base>.log` (atomic
 * replace) and the directory fsynced; indexes are rebuilt from the new file.
 * A crash leaves either the old or the new segment (both valid), a
 * `.cleaned` file that open deletes, or missing index files that open
 * rebuilds. The firstDirtyOffset checkpoint is written after the pass; a
 * crash before it just repeats the (idempotent) pass.
 *
 * The worker is synchronous and does a whole pass at once; the owner calls
 * it from a background schedule, not on the request path.
 */
import * as path from 'node:path';
import { decodeBatch, encodeBatch } from '../protocol/record-batch/codec.ts';
import type { RecordInput } from '../protocol/record-batch/records.ts';
import { type CompressionCodec, readBatchHeader, TimestampType } from '../protocol/record-batch/header.ts';
import { assert } from '../runtime/assert.ts';
import { type LogConfig, storageLimits } from './config.ts';
import { type FileIo, fsyncDirectory, writeFully } from './file-io.ts';
import { cleanedSuffix, type LogSegment, logSuffix, segmentFileName } from './segment.ts';
import { scanBatches } from './scan.ts';

export interface CleanerSegmentInfo {
  baseOffset: number;
  nextBaseOffset: number;
  sizeBytes: number;
}

export interface CleaningPlan {
  /** Segments [0, segmentCount) of the closed list are rewritten. */
  segmentCount: number;
  cleanUpToOffset: number;
  dirtyBytes: number;
  cleanBytes: number;
  dirtyRatio: number;
}

export interface PlanInput {
  firstDirtyOffset: number;
  firstUncleanableOffset: number;
  minCleanableDirtyRatio: number;
  /** A tombstone's delete horizon has passed: clean even if little is dirty. */
  deleteHorizonDue: boolean;
  force: boolean;
}

/** `closed` are the closed segments in offset order. Null: nothing worth cleaning. */
export function planCleaning(closed: readonly CleanerSegmentInfo[], input: PlanInput): CleaningPlan | null {
  let count = 0;
  while (count < closed.length && closed[count]!.nextBaseOffset <= input.firstUncleanableOffset) count++;
  if (count === 0) return null;
  let dirtyBytes = 0;
  let cleanBytes = 0;
  for (let i = 0; i < count; i++) {
    const s = closed[i]!;
    if (s.nextBaseOffset > input.firstDirtyOffset) dirtyBytes += s.sizeBytes;
    else cleanBytes += s.sizeBytes;
  }
  const total = dirtyBytes + cleanBytes;
  const dirtyRatio = total === 0 ? 0 : dirtyBytes / total;
  const worthIt = dirtyBytes > 0 && dirtyRatio >= input.minCleanableDirtyRatio;
  if (!input.force && !input.deleteHorizonDue && !worthIt) return null;
  return { segmentCount: count, cleanUpToOffset: closed[count - 1]!.nextBaseOffset, dirtyBytes, cleanBytes, dirtyRatio };
}

export interface CleanResult {
  /** The new firstDirtyOffset. */
  cleanUpToOffset: number;
  segmentsCleaned: number;
  bytesBefore: number;
  bytesAfter: number;
  recordsRemoved: number;
  tombstonesRemoved: number;
  /** Earliest delete horizon now stamped on a kept tombstone (Infinity if none). */
  earliestDeleteHorizonMs: number;
}

export interface CleanInput {
  io: FileIo;
  dir: string;
  config: LogConfig;
  nowMs: number;
  /** Closed segments to consider, in offset order; `nextBaseOffsets[i]` is the base of the segment after `segments[i]`. */
  segments: readonly LogSegment[];
  nextBaseOffsets: readonly number[];
  firstDirtyOffset: number;
}

const scanOptions = { chunkBytes: storageLimits.scanChunkBytes, batchBytesMax: storageLimits.recoveryBatchBytesMax };
const outputChunkBytes = storageLimits.scanChunkBytes;

function keyOf(key: Buffer): string {
  return key.toString('latin1');
}

export function cleanSegments(input: CleanInput): CleanResult {
  const { io, config, nowMs, segments, nextBaseOffsets } = input;
  assert(segments.length === nextBaseOffsets.length, 'cleaner: one next base offset per segment');

  // 1. Key map over the dirty segments, bounded by cleanerKeysMax at segment granularity.
  const newestOffsetOfKey = new Map<string, number>();
  const lastBatchOfProducer = new Map<number, number>();
  let segmentCount = segments.length;
  let mappedDirty = 0;
  for (let i = 0; i < segments.length; i++) {
    if (nextBaseOffsets[i]! <= input.firstDirtyOffset) continue;
    if (mappedDirty > 0 && newestOffsetOfKey.size >= config.cleanerKeysMax) {
      segmentCount = i;
      break;
    }
    const segment = segments[i]!;
    scanBatches(io, segment.fd, 0, segment.sizeBytes, scanOptions, (buf, off, size) => {
      const header = readBatchHeader(buf, off);
      if (header.producerId >= 0) lastBatchOfProducer.set(header.producerId, header.baseOffset);
      if (header.isControl || header.isTransactional) return true;
      const decoded = decodeBatch(buf.subarray(off, off + size), 0, { verifyCrc: false });
      if (!decoded.ok) return true;
      for (const r of decoded.value.records) if (r.key !== null) newestOffsetOfKey.set(keyOf(r.key), r.offset);
      return true;
    });
    mappedDirty++;
  }

  const result: CleanResult = {
    cleanUpToOffset: segmentCount === 0 ? input.firstDirtyOffset : nextBaseOffsets[segmentCount - 1]!,
    segmentsCleaned: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    recordsRemoved: 0,
    tombstonesRemoved: 0,
    earliestDeleteHorizonMs: Infinity,
  };

  // 2. Rewrite each segment in [0, segmentCount).
  for (let i = 0; i < segmentCount; i++) {
    const segment = segments[i]!;
    result.bytesBefore += segment.sizeBytes;
    const cleanedPath = path.join(input.dir, segmentFileName(segment.baseOffset, logSuffix + cleanedSuffix));
    const outFd = io.openSync(cleanedPath, 'w');
    let outPos = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flushPending = (): void => {
      if (pendingBytes === 0) return;
      const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      writeFully(io, outFd, chunk, outPos);
      outPos += pendingBytes;
      pending = [];
      pendingBytes = 0;
    };
    const emit = (bytes: Buffer): void => {
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= outputChunkBytes) flushPending();
    };
    try {
      scanBatches(io, segment.fd, 0, segment.sizeBytes, scanOptions, (buf, off, size) => {
        const bytes = buf.subarray(off, off + size);
        const header = readBatchHeader(buf, off);
        if (header.isControl || header.isTransactional) {
          emit(bytes);
          return true;
        }
        const decoded = decodeBatch(bytes, 0, { verifyCrc: false });
        if (!decoded.ok) {
          emit(bytes); // never lose data we cannot read
          return true;
        }
        const records = decoded.value.records;
        const horizonPassed = header.hasDeleteHorizon && nowMs >= header.baseTimestamp;
        const kept = records.filter((r) => {
          if (r.key === null) return true;
          const newest = newestOffsetOfKey.get(keyOf(r.key));
          if (newest !== undefined && newest > r.offset) return false;
          if (r.value === null && horizonPassed) {
            result.tombstonesRemoved++;
            return false;
          }
          return true;
        });
        result.recordsRemoved += records.length - kept.length;
        const hasTombstone = kept.some((r) => r.value === null);
        if (hasTombstone) {
          const horizon = header.hasDeleteHorizon ? header.baseTimestamp : nowMs + config.deleteRetentionMs;
          result.earliestDeleteHorizonMs = Math.min(result.earliestDeleteHorizonMs, horizon);
        }
        if (kept.length === records.length && (!hasTombstone || header.hasDeleteHorizon)) {
          emit(bytes);
          return true;
        }
        if (kept.length === 0) {
          const newestOfProducer = lastBatchOfProducer.get(header.producerId);
          const keepEmpty = header.producerId >= 0 && (newestOfProducer === undefined || newestOfProducer === header.baseOffset);
          if (!keepEmpty) return true;
        }
        const logAppendTime = header.timestampType === TimestampType.logAppendTime;
        const rewritten = encodeBatch({
          records: kept.map(
            (r): RecordInput => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp, offsetDelta: r.offsetDelta }),
          ),
          baseOffset: header.baseOffset,
          partitionLeaderEpoch: header.partitionLeaderEpoch,
          // The batch keeps its codec (validated 0-4 when it was appended), as Kafka's cleaner keeps it.
          compression: header.compression as CompressionCodec,
          timestampType: header.timestampType,
          ...(logAppendTime ? { logAppendTimeMs: header.maxTimestamp } : {}),
          producerId: header.producerId,
          producerEpoch: header.producerEpoch,
          baseSequence: header.baseSequence,
          lastOffsetDelta: header.lastOffsetDelta,
          ...(hasTombstone ? { deleteHorizonMs: header.hasDeleteHorizon ? header.baseTimestamp : nowMs + config.deleteRetentionMs } : {}),
        });
        emit(rewritten);
        return true;
      });
      flushPending();
      io.fsyncSync(outFd);
    } finally {
      io.closeSync(outFd);
    }
    // Swap: drop the old indexes (a crash now rebuilds them), then atomically replace the .log.
    segment.deleteIndexFiles();
    io.renameSync(cleanedPath, segment.logPath);
    fsyncDirectory(io, input.dir);
    segment.replaceFile(io.openSync(segment.logPath, 'r+'));
    const check = segment.recover(segment.baseOffset);
    assert(check.problem === undefined, `cleaner: rewritten segment ${segment.baseOffset} does not verify: ${check.problem}`);
    segment.onRoll();
    segment.writeIndexFiles();
    segment.syncedGeneration = segment.writeGeneration;
    result.bytesAfter += segment.sizeBytes;
    result.segmentsCleaned++;
  }
  if (result.segmentsCleaned > 0) fsyncDirectory(io, input.dir);
  return result;
}
