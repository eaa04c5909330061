/**
 * Checkpoint files: small text files written atomically.
 *
 * Owns: `writeCheckpoint` / `readCheckpoint` and the single-offset helpers.
 * Format (Kafka's OffsetCheckpointFile / LeaderEpochCheckpointFile):
 *
 *   <version>\n          always 0
 *   <count>\n
 *   <field> <field>...\n  count lines of space-separated integers
 *
 * Atomicity: write `<name>.tmp`, fsync it, rename over `<name>`, fsync the
 * directory. A crash leaves either the old or the new file, never a mix; a
 * leftover `.tmp` is ignored and deleted on open. A file that does not parse
 * reads as missing; every caller falls back to a safe value (recovery point 0
 * means "recover everything").
 *
 * Writes are synchronous (about three fsyncs): they happen on open, close,
 * truncation, epoch change, retention, cleaning, when a flush moves the
 * recovery point into a later segment, and on the owner's checkpoint() tick;
 * never per append.
 */
import * as path from 'node:path';
import { type FileIo, fsyncDirectory, writeFully } from './file-io.ts';

export const checkpointVersion = 0;

export const checkpointNames = {
  recoveryPoint: 'recovery-point-offset-checkpoint',
  highWatermark: 'replication-offset-checkpoint',
  logStartOffset: 'log-start-offset-checkpoint',
  leaderEpochs: 'leader-epoch-checkpoint',
  cleanerOffset: 'cleaner-offset-checkpoint',
} as const;

export function writeCheckpoint(io: FileIo, dir: string, name: string, rows: readonly (readonly number[])[]): void {
  for (const row of rows) for (const v of row) if (!Number.isSafeInteger(v)) throw new Error(`checkpoint ${name}: ${v} is not an integer`);
  const text = `${checkpointVersion}\n${rows.length}\n${rows.map((r) => r.join(' ') + '\n').join('')}`;
  const target = path.join(dir, name);
  const tmp = target + '.tmp';
  const fd = io.openSync(tmp, 'w');
  try {
    writeFully(io, fd, Buffer.from(text, 'utf8'), 0);
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
  io.renameSync(tmp, target);
  fsyncDirectory(io, dir);
}

/** The rows of a checkpoint, or null when it is missing or does not parse. */
export function readCheckpoint(io: FileIo, dir: string, name: string, fieldsPerRow: number): number[][] | null {
  const file = path.join(dir, name);
  if (!io.existsSync(file)) return null;
  const lines = io.readFileSync(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length < 2 || lines[0] !== String(checkpointVersion)) return null;
  const count = Number(lines[1]);
  if (!Number.isInteger(count) || count < 0 || lines.length !== count + 2) return null;
  const rows: number[][] = [];
  for (let i = 2; i < lines.length; i++) {
    const parts = lines[i]!.split(' ');
    if (parts.length !== fieldsPerRow) return null;
    const row = parts.map(Number);
    if (!row.every(Number.isSafeInteger)) return null;
    rows.push(row);
  }
  return rows;
}

export function writeOffsetCheckpoint(io: FileIo, dir: string, name: string, offset: number): void {
  writeCheckpoint(io, dir, name, [[offset]]);
}

export function readOffsetCheckpoint(io: FileIo, dir: string, name: string): number | null {
  const rows = readCheckpoint(io, dir, name, 1);
  if (rows === null || rows.length !== 1) return null;
  const v = rows[0]![0]!;
  return v >= 0 ? v : null;
}
