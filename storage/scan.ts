/**
 * Sequential scan of the batches in a segment file, in large reads.
 *
 * Owns: `scanBatches`, the one loop recovery, index rebuild and the cleaner
 * use to walk a .log file. It reads `chunkBytes` at a time (one syscall per
 * chunk, not per batch), hands each whole batch to the visitor as a view into
 * the chunk, and stops at the first batch whose length field cannot be right
 * (shorter than a header, larger than `batchBytesMax`, or past the end): that
 * is a torn or corrupt tail, and the caller decides what to cut.
 *
 * The visitor may keep the view: every chunk is a fresh allocation.
 */
import { batchHeaderBytes, batchSizeAt } from '../protocol/record-batch/header.ts';
import { type FileIo, readFully } from './file-io.ts';

export type ScanStop = 'end' | 'torn' | 'stopped';

export interface ScanResult {
  /** File position after the last batch the visitor accepted. */
  endPosition: number;
  stop: ScanStop;
}

/** Visits whole batches in [startPosition, endPosition). Return false from the visitor to stop. */
export function scanBatches(
  io: FileIo,
  fd: number,
  startPosition: number,
  endPosition: number,
  options: { chunkBytes: number; batchBytesMax: number },
  visit: (buf: Buffer, offsetInBuf: number, sizeBytes: number, filePosition: number) => boolean,
): ScanResult {
  let filePos = startPosition;
  let buf = Buffer.alloc(0);
  let bufStart = startPosition;
  const refill = (pos: number, wantBytes: number): void => {
    const n = Math.min(Math.max(wantBytes, options.chunkBytes), endPosition - pos);
    buf = Buffer.allocUnsafe(n);
    readFully(io, fd, buf, 0, n, pos);
    bufStart = pos;
  };
  while (filePos < endPosition) {
    if (endPosition - filePos < batchHeaderBytes) return { endPosition: filePos, stop: 'torn' };
    if (filePos - bufStart + batchHeaderBytes > buf.length || filePos < bufStart) {
      refill(filePos, batchHeaderBytes);
      continue;
    }
    const off = filePos - bufStart;
    const size = batchSizeAt(buf, off);
    if (size < batchHeaderBytes || size > options.batchBytesMax || filePos + size > endPosition) {
      return { endPosition: filePos, stop: 'torn' };
    }
    if (off + size > buf.length) {
      refill(filePos, size);
      continue;
    }
    if (!visit(buf, off, size, filePos)) return { endPosition: filePos, stop: 'stopped' };
    filePos += size;
  }
  return { endPosition: filePos, stop: 'end' };
}
