import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { murmur2, partitionForKey, toPositive } from './murmur2.ts';

const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('murmur2', () => {
  // Vectors from Kafka's UtilsTest.testMurmur2.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ])('murmur2(%j) = %d', (key, expected) => {
    expect(murmur2(utf8(key))).toBe(expected);
  });

  it('is a signed 32-bit integer for any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const h = murmur2(bytes);
        expect(Number.isInteger(h)).toBe(true);
        expect(h | 0).toBe(h);
      }),
    );
  });

  it('toPositive clears the sign bit like Kafka (not Math.abs)', () => {
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(-1)).toBe(2147483647);
    expect(toPositive(5)).toBe(5);
  });

  it('partitionForKey is toPositive(murmur2(key)) % n and in range', () => {
    expect(partitionForKey(utf8('21'), 3)).toBe((-973932308 & 0x7fffffff) % 3);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.integer({ min: 1, max: 1000 }), (key, n) => {
        const p = partitionForKey(key, n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
      }),
    );
    expect(() => partitionForKey(utf8('x'), 0)).toThrow(/numPartitions must be positive/);
    expect(() => partitionForKey(utf8('x'), 1.5)).toThrow(/numPartitions must be an integer/);
  });
});
