import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OffsetIndex } from './offset-index.ts';
import { TimeIndex } from './time-index.ts';

describe('offset index', () => {
  it('looks up the last entry at or below an offset, and round-trips its file image', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 100_000 }), { maxLength: 50 }), fc.nat(110_000), (raw, target) => {
        const rels = [...raw].sort((a, b) => a - b);
        const index = new OffsetIndex(1000);
        rels.forEach((rel, i) => index.append(1000 + rel, (i + 1) * 100));
        const hit = index.lookup(1000 + target);
        const expectedIdx = rels.filter((r) => r <= target).length - 1;
        expect(hit).toEqual(expectedIdx < 0 ? { offset: 1000, position: 0 } : { offset: 1000 + rels[expectedIdx]!, position: (expectedIdx + 1) * 100 });
        const copy = OffsetIndex.fromBytes(1000, index.toBytes(), (rels.length + 1) * 100);
        expect(copy?.lookup(1000 + target)).toEqual(hit);
      }),
    );
  });

  it('asserts increasing entries and rejects implausible files', () => {
    const index = new OffsetIndex(0);
    index.append(5, 100);
    expect(() => index.append(5, 200)).toThrow(/increase/);
    expect(() => index.append(6, 100)).toThrow(/increase/);
    expect(OffsetIndex.fromBytes(0, Buffer.alloc(7), 1000)).toBeNull(); // not a whole entry
    expect(OffsetIndex.fromBytes(0, index.toBytes(), 100)).toBeNull(); // position past the log end
    const swapped = Buffer.concat([Buffer.from([0, 0, 0, 9, 0, 0, 1, 0]), Buffer.from([0, 0, 0, 3, 0, 0, 2, 0])]);
    expect(OffsetIndex.fromBytes(0, swapped, 10_000)).toBeNull(); // offsets go back
    index.truncateToPosition(100);
    expect(index.entryCount).toBe(0);
  });
});

describe('time index', () => {
  it('keeps only growing timestamps and finds where to start a timestamp scan', () => {
    const index = new TimeIndex(100);
    index.maybeAppend(1000, 100);
    index.maybeAppend(900, 110); // not newer: ignored
    index.maybeAppend(2000, 120);
    index.maybeAppend(3000, 150);
    expect(index.entryCount).toBe(3);
    expect(index.scanStartFor(500)).toBe(100);
    expect(index.scanStartFor(2000)).toBe(100);
    expect(index.scanStartFor(2500)).toBe(120);
    expect(index.lastEntry()).toEqual({ timestampMs: 3000, offset: 150 });
    const copy = TimeIndex.fromBytes(100, index.toBytes(), 1000);
    expect(copy?.lastEntry()).toEqual({ timestampMs: 3000, offset: 150 });
    expect(TimeIndex.fromBytes(100, index.toBytes().subarray(0, 13), 1000)).toBeNull();
    index.truncateToOffset(120);
    expect(index.lastEntry()).toEqual({ timestampMs: 1000, offset: 100 });
  });
});
