/**
 * Opening a partition directory: find the segments, trust what the recovery
 * point and a clean shutdown allow, and scan and repair the rest.
 *
 * Owns: `loadSegments` and the clean-shutdown marker name. The log (log.ts)
 * reads the checkpoints and calls this once from `PartitionLog.open`.
 *
 * Procedure:
 * 1. Delete debris of interrupted operations: `*.tmp` (checkpoint or index
 *    writes), `*.cleaned` (a cleaner pass that did not reach its rename), and
 *    index files whose .log is gone (a deletion cut short).
 * 2. Open every `<20 digits>.log` in offset order.
 * 3. Trust nothing after the recovery point: the segment that contains it and
 *    every later one get a full validating scan (length, magic, CRC, offsets
 *    increasing and >= the previous segment's end). The first failure cuts
 *    the file there and deletes every later segment: after a tear, nothing
 *    that follows can be trusted to be contiguous. Indexes are rebuilt.
 * 4. Segments wholly below the recovery point were fsynced with their index
 *    files: load the index files if they pass a sanity check, else rebuild
 *    them with the same validating scan (which may also cut, if the disk rot).
 * 5. After a clean shutdown (marker present) every segment is trusted the same
 *    way, so a restart does not re-read the active segment.
 *
 * Limits of the checks: baseOffset and partitionLeaderEpoch sit outside the
 * CRC in Kafka's format. Recovery checks that offsets increase and stay within
 * int32 of the segment base, which catches torn and misplaced writes but not
 * every bit flip in those 12 bytes.
 *
 * The caller fsyncs whatever the scan touched before it moves the recovery
 * point to the new log end, so "below the recovery point" always means
 * durable.
 */
import * as path from 'node:path';
import { type LogConfig } from './config.ts';
import { type FileIo } from './file-io.ts';
import { cleanedSuffix, indexSuffix, LogSegment, logSuffix, parseSegmentFileName, timeIndexSuffix, tmpSuffix } from './segment.ts';

export const cleanShutdownFileName = 'clean-shutdown';

export interface LoadedSegments {
  segments: LogSegment[];
  /** Base offset of the first segment that was scanned (Infinity if none). */
  scannedFromOffset: number;
  truncatedBytes: number;
  deletedSegments: number;
  problems: string[];
}

export interface LoadInput {
  io: FileIo;
  dir: string;
  config: LogConfig;
  nowMs: number;
  recoveryPoint: number;
  cleanShutdown: boolean;
  /** Where an empty log starts. */
  initialOffset: number;
  /** Called for each batch the validating scan accepts (leader-epoch cache rebuild). */
  onRecoveredBatch: (partitionLeaderEpoch: number, baseOffset: number) => void;
}

export function loadSegments(input: LoadInput): LoadedSegments {
  const { io, dir, config, nowMs } = input;
  const names = io.readdirSync(dir);
  const logBases = new Set<number>();
  for (const name of names) {
    const parsed = parseSegmentFileName(name);
    if (parsed?.suffix === logSuffix) logBases.add(parsed.baseOffset);
  }
  for (const name of names) {
    const full = path.join(dir, name);
    if (name.endsWith(tmpSuffix) || name.endsWith(cleanedSuffix)) {
      io.unlinkSync(full);
      continue;
    }
    const parsed = parseSegmentFileName(name);
    if (parsed !== null && (parsed.suffix === indexSuffix || parsed.suffix === timeIndexSuffix) && !logBases.has(parsed.baseOffset)) {
      io.unlinkSync(full);
    }
  }
  const bases = [...logBases].sort((a, b) => a - b);
  const segments = bases.map((base) => LogSegment.open(io, dir, base, config, nowMs));
  const result: LoadedSegments = { segments: [], scannedFromOffset: Infinity, truncatedBytes: 0, deletedSegments: 0, problems: [] };

  let scanFrom = 0;
  if (input.cleanShutdown) scanFrom = segments.length;
  else for (let i = 0; i < segments.length; i++) if (segments[i]!.baseOffset <= input.recoveryPoint) scanFrom = i;

  let expectedNext = 0;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    let damaged = false;
    if (segment.baseOffset < expectedNext) {
      result.problems.push(`segment ${segment.baseOffset} overlaps the previous segment ending at ${expectedNext}`);
      damaged = true;
    } else {
      const trusted = i < scanFrom && segment.loadIndexes();
      if (!trusted) {
        result.scannedFromOffset = Math.min(result.scannedFromOffset, segment.baseOffset);
        const r = segment.recover(expectedNext, input.onRecoveredBatch);
        result.truncatedBytes += r.truncatedBytes;
        if (r.problem !== undefined) {
          result.problems.push(`segment ${segment.baseOffset}: ${r.problem}`);
          result.segments.push(segment);
          expectedNext = segment.nextOffset;
          damaged = true;
          i++;
        }
      }
    }
    if (damaged) {
      // Everything from here on follows a tear: delete it.
      for (let j = i; j < segments.length; j++) {
        result.truncatedBytes += segments[j]!.sizeBytes;
        segments[j]!.deleteFiles();
        result.deletedSegments++;
      }
      break;
    }
    result.segments.push(segment);
    expectedNext = segment.nextOffset;
  }
  if (result.segments.length === 0) {
    result.segments.push(LogSegment.create(io, dir, input.initialOffset, config, nowMs));
  }
  return result;
}
