/**
 * Test helpers for storage/ (used only by *.test.ts and the benchmark):
 * temporary directories, batch builders, a fault-injecting FileIo, and a
 * walker over the batches a read returns.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeBatch, type BatchInput } from '../protocol/record-batch/codec.ts';
import { batchSizeAt, readBatchHeader, type BatchHeader } from '../protocol/record-batch/header.ts';
import type { FileIo } from './file-io.ts';

export function makeTempDir(prefix = 'kactus-storage-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A batch of `count` records with values `${tag}-${i}` of about `valueBytes` bytes. */
export function makeBatch(count: number, options: { tag?: string; valueBytes?: number; timestamp?: number; keys?: (string | null)[]; values?: (string | null)[] } & Partial<BatchInput> = {}): Buffer {
  const { tag = 'v', valueBytes = 0, timestamp = 1_700_000_000_000, keys, values, ...rest } = options;
  const records = Array.from({ length: count }, (_, i) => {
    const text = `${tag}-${i}`;
    const valueText = values === undefined ? text : values[i];
    const value =
      valueText === null || valueText === undefined
        ? null
        : valueBytes > valueText.length
          ? Buffer.concat([Buffer.from(valueText), Buffer.alloc(valueBytes - valueText.length, 0x61)])
          : Buffer.from(valueText);
    const key = keys?.[i];
    return { key: key === null || key === undefined ? null : Buffer.from(key), value, timestamp };
  });
  return encodeBatch({ ...rest, records });
}

/** Headers of the whole batches in `bytes` (a read result). */
export function batchHeaders(bytes: Buffer): BatchHeader[] {
  const out: BatchHeader[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    out.push(readBatchHeader(bytes, pos));
    pos += batchSizeAt(bytes, pos);
  }
  if (pos !== bytes.length) throw new Error('read returned a partial batch');
  return out;
}

export interface FaultPlan {
  /** Fail writes (ENOSPC) once this many more bytes have been written; the failing write writes half its bytes first. */
  writeBytesBeforeFailure?: number;
  /** Fail every fdatasync with EIO. */
  failFdatasync?: boolean;
}

function osError(code: string, syscall: string): Error {
  return Object.assign(new Error(`${code}: simulated, ${syscall}`), { code, syscall, errno: -1 });
}

/** node:fs with injectable faults; `plan` can be changed while the test runs. */
export function faultyFileIo(plan: FaultPlan): FileIo {
  let written = 0;
  const io: FileIo = {
    ...fs,
    writeSync: ((fd: number, buffer: Uint8Array, offset?: number, length?: number, position?: number | null) => {
      const len = length ?? buffer.length - (offset ?? 0);
      if (plan.writeBytesBeforeFailure !== undefined && written + len > plan.writeBytesBeforeFailure) {
        const half = Math.floor(len / 2);
        if (half > 0) fs.writeSync(fd, buffer, offset ?? 0, half, position ?? null);
        throw osError('ENOSPC', 'write');
      }
      written += len;
      return fs.writeSync(fd, buffer, offset ?? 0, len, position ?? null);
    }) as FileIo['writeSync'],
    fdatasync: ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      if (plan.failFdatasync === true) {
        setImmediate(() => cb(osError('EIO', 'fdatasync') as NodeJS.ErrnoException));
        return;
      }
      fs.fdatasync(fd, cb);
    }) as FileIo['fdatasync'],
  };
  return io;
}
