/**
 * The sparse time index of one segment: timestamp -> offset.
 *
 * Owns: entries in memory, lookup, truncation, and the file image
 * `<base>.timeindex`.
 *
 * File layout: N entries of 12 bytes, big-endian:
 *   timestamp      int64  the largest batch maxTimestamp seen so far
 *   relativeOffset int32  base offset of the batch that carried it, minus the segment base
 *
 * Entries are added next to offset-index entries (every indexIntervalBytes)
 * when the running maximum timestamp grew, plus a final one when the segment
 * is rolled or closed, so the last entry is the segment's largest timestamp
 * (retention reads it). Timestamps strictly increase along the file.
 *
 * Lookup for the first batch with maxTimestamp >= T: every batch before the
 * offset of the last entry with timestamp < T has maxTimestamp < T, so a scan
 * may start there.
 *
 * Crash behaviour: like the offset index, a cache; rebuilt from the log when
 * untrusted or damaged.
 */
import { assert } from '../runtime/assert.ts';

export const timeIndexEntryBytes = 12;

export class TimeIndex {
  private timestamps: number[] = [];
  private relOffsets: number[] = [];

  constructor(readonly baseOffset: number) {}

  get entryCount(): number {
    return this.timestamps.length;
  }

  /** Adds an entry when `timestampMs` is newer than the last one. */
  maybeAppend(timestampMs: number, offset: number): void {
    const n = this.timestamps.length;
    if (timestampMs < 0) return;
    if (n > 0 && timestampMs <= this.timestamps[n - 1]!) return;
    const rel = offset - this.baseOffset;
    assert(rel >= 0, 'time index: offset below the segment base');
    assert(rel <= 0x7fffffff, 'time index: relative offset exceeds int32');
    if (n > 0) assert(rel >= this.relOffsets[n - 1]!, 'time index: offsets must not decrease');
    this.timestamps.push(timestampMs);
    this.relOffsets.push(rel);
  }

  lastEntry(): { timestampMs: number; offset: number } | undefined {
    const n = this.timestamps.length;
    if (n === 0) return undefined;
    return { timestampMs: this.timestamps[n - 1]!, offset: this.baseOffset + this.relOffsets[n - 1]! };
  }

  /** Offset to start scanning for the first batch with maxTimestamp >= `timestampMs`. */
  scanStartFor(timestampMs: number): number {
    let lo = 0;
    let hi = this.timestamps.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timestamps[mid]! < timestampMs) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? this.baseOffset : this.baseOffset + this.relOffsets[found]!;
  }

  /** Drops entries whose offset is >= `offset`. */
  truncateToOffset(offset: number): void {
    while (this.relOffsets.length > 0 && this.baseOffset + this.relOffsets[this.relOffsets.length - 1]! >= offset) {
      this.relOffsets.pop();
      this.timestamps.pop();
    }
  }

  clear(): void {
    this.timestamps = [];
    this.relOffsets = [];
  }

  toBytes(): Buffer {
    const n = this.timestamps.length;
    const buf = Buffer.allocUnsafe(n * timeIndexEntryBytes);
    for (let i = 0; i < n; i++) {
      buf.writeBigInt64BE(BigInt(this.timestamps[i]!), i * 12);
      buf.writeInt32BE(this.relOffsets[i]!, i * 12 + 8);
    }
    return buf;
  }

  /** Parses a file image; null when it fails the sanity check. */
  static fromBytes(baseOffset: number, bytes: Buffer, lastOffsetMax: number): TimeIndex | null {
    if (bytes.length % timeIndexEntryBytes !== 0) return null;
    const index = new TimeIndex(baseOffset);
    let lastTs = -1;
    let lastRel = 0;
    for (let i = 0; i < bytes.length; i += timeIndexEntryBytes) {
      const big = bytes.readBigInt64BE(i);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) return null;
      const ts = Number(big);
      const rel = bytes.readInt32BE(i + 8);
      if (ts <= lastTs || rel < lastRel || baseOffset + rel > lastOffsetMax) return null;
      index.timestamps.push(ts);
      index.relOffsets.push(rel);
      lastTs = ts;
      lastRel = rel;
    }
    return index;
  }
}
