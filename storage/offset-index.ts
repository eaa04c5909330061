/**
 * The sparse offset index of one segment: offset -> file position.
 *
 * Owns: the entries in memory (two growable typed arrays), lookup, truncation,
 * and the file image `<base>.index`.
 *
 * File layout: N entries of 8 bytes, big-endian:
 *   relativeOffset int32  (batch base offset - segment base offset)
 *   position       int32  (byte position of that batch in the .log file)
 *
 * One entry is added per `indexIntervalBytes` of log (the first batch of a
 * segment is implicitly at position 0 and not indexed). A lookup returns the
 * position of the last indexed batch whose base offset is <= the target; the
 * reader then scans batch headers forward from there, at most about one
 * interval of bytes.
 *
 * Invariants (asserted on append, STYLE rule 7): relative offsets and
 * positions strictly increase. Crash behaviour: the file is a cache. It is
 * written (temp file + rename) only when its segment is flushed or closed, is
 * trusted only for segments below the recovery point, passes a sanity check
 * on load (size, monotonic entries, positions inside the log), and is rebuilt
 * from the log otherwise.
 */
import { assert } from '../runtime/assert.ts';

export const offsetIndexEntryBytes = 8;

export class OffsetIndex {
  private relOffsets: Int32Array;
  private positions: Int32Array;
  private count = 0;

  constructor(
    readonly baseOffset: number,
    initialCapacity = 16,
  ) {
    this.relOffsets = new Int32Array(initialCapacity);
    this.positions = new Int32Array(initialCapacity);
  }

  get entryCount(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.count * offsetIndexEntryBytes;
  }

  append(offset: number, position: number): void {
    const rel = offset - this.baseOffset;
    assert(rel >= 0, 'offset index: offset below the segment base');
    assert(rel <= 0x7fffffff, 'offset index: relative offset exceeds int32');
    assert(position >= 0, 'offset index: negative position');
    if (this.count > 0) {
      assert(rel > this.relOffsets[this.count - 1]!, 'offset index: offsets must increase');
      assert(position > this.positions[this.count - 1]!, 'offset index: positions must increase');
    }
    if (this.count === this.relOffsets.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.relOffsets = grow(this.relOffsets);
      this.positions = grow(this.positions);
    }
    this.relOffsets[this.count] = rel;
    this.positions[this.count] = position;
    this.count++;
  }

  /** Position of the last indexed batch with base offset <= `offset` (0 if none). */
  lookup(offset: number): { offset: number; position: number } {
    const rel = offset - this.baseOffset;
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.relOffsets[mid]! <= rel) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return { offset: this.baseOffset, position: 0 };
    return { offset: this.baseOffset + this.relOffsets[found]!, position: this.positions[found]! };
  }

  lastEntry(): { offset: number; position: number } | undefined {
    if (this.count === 0) return undefined;
    return { offset: this.baseOffset + this.relOffsets[this.count - 1]!, position: this.positions[this.count - 1]! };
  }

  /** Drops entries at or beyond `position` (the log was cut there). */
  truncateToPosition(position: number): void {
    while (this.count > 0 && this.positions[this.count - 1]! >= position) this.count--;
  }

  clear(): void {
    this.count = 0;
  }

  toBytes(): Buffer {
    const buf = Buffer.allocUnsafe(this.count * offsetIndexEntryBytes);
    for (let i = 0; i < this.count; i++) {
      buf.writeInt32BE(this.relOffsets[i]!, i * 8);
      buf.writeInt32BE(this.positions[i]!, i * 8 + 4);
    }
    return buf;
  }

  /** Parses a file image; null when it fails the sanity check (then the caller rebuilds). */
  static fromBytes(baseOffset: number, bytes: Buffer, logSizeBytes: number): OffsetIndex | null {
    if (bytes.length % offsetIndexEntryBytes !== 0) return null;
    const n = bytes.length / offsetIndexEntryBytes;
    const index = new OffsetIndex(baseOffset, Math.max(16, n));
    let lastRel = -1;
    let lastPos = 0;
    for (let i = 0; i < n; i++) {
      const rel = bytes.readInt32BE(i * 8);
      const pos = bytes.readInt32BE(i * 8 + 4);
      if (rel <= lastRel || pos <= lastPos || pos >= logSizeBytes) return null;
      index.relOffsets[i] = rel;
      index.positions[i] = pos;
      lastRel = rel;
      lastPos = pos;
    }
    index.count = n;
    return index;
  }
}
