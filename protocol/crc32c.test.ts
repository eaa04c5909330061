import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32c } from './crc32c.ts';

describe('crc32c', () => {
  it('matches the standard check vector "123456789" -> 0xE3069283', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('matches RFC 3720 (iSCSI) vectors', () => {
    expect(crc32c(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(crc32c(ascending)).toBe(0x46dd794e);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('works on a subarray view and continues a running checksum', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, cutRaw) => {
        const cut = Math.min(cutRaw, bytes.length);
        const whole = crc32c(bytes);
        expect(crc32c(bytes.subarray(cut), crc32c(bytes.subarray(0, cut)))).toBe(whole);
        const padded = new Uint8Array(bytes.length + 7);
        padded.set(bytes, 3);
        expect(crc32c(padded.subarray(3, 3 + bytes.length))).toBe(whole);
      }),
    );
  });
});
