import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../errors.ts';
import { crc32c } from '../../crc32c.ts';
import { Compression, type CompressionCodec, compressionNames, decodeBatch, encodeBatch, field } from '../index.ts';
import { compressRecords, decompressRecords } from './index.ts';
import { lz4FrameBound } from './lz4.ts';
import { zlibZstd, zstdNapiLibrary, type ZstdLibrary } from './native.ts';
import { isXerialFramed, xerialBlockBytes, xerialHeaderBytes } from './snappy.ts';
import { compressZstdWith, decompressZstdWith, windowLogMaxFor } from './zstd.ts';

// Goal: each codec round-trips whatever bytes it is given, frames them as
// Kafka's other clients read them, and never inflates past the limit: a
// compression bomb of every codec is CORRUPT_MESSAGE naming the codec, found
// before the bomb's size is allocated. Method: the real libraries (no
// mocks); bombs are built from real compressed blocks repeated or from
// headers that lie, far larger than the limit each test sets.

const MiB = 1024 * 1024;
const codecs = [Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd] as const;
const names = (codec: number): string => compressionNames[codec]!;

/** Bytes that compress well and bytes that do not, of every small length, and a few large ones. */
const payloadArb = fc.oneof(
  fc.uint8Array({ maxLength: 3_000 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.string({ maxLength: 40 }), fc.integer({ min: 1, max: 5_000 })).map(([s, n]) => Buffer.from(s.repeat(n))),
  fc.integer({ min: 0, max: 300_000 }).map((n) => Buffer.alloc(n, n % 251)),
);

function expectCorrupt(result: ReturnType<typeof decompressRecords>, codec: number, pattern?: RegExp): void {
  expect(result).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
  if (result.ok) return;
  expect(result.message.startsWith(`${names(codec)}: `)).toBe(true);
  if (pattern !== undefined) expect(result.message).toMatch(pattern);
}

/**
 * Bytes of buffer memory (JS and native) this process holds now. A collection during the measured
 * call can only lower the growth seen, so each bomb is built leaving far less garbage than it
 * would inflate to.
 */
const heldBytes = (): number => {
  const m = process.memoryUsage();
  return m.arrayBuffers + m.external;
};

/** Decompresses a bomb with a 1 MiB limit: refused naming the codec, while holding far less than the bomb's size. */
function expectBombRefused(codec: number, bomb: Buffer, inflatedBytes: number): void {
  const limitBytes = MiB;
  expect(inflatedBytes).toBeGreaterThanOrEqual(64 * limitBytes);
  const before = heldBytes();
  const result = decompressRecords(codec, bomb, limitBytes);
  const grew = heldBytes() - before;
  expectCorrupt(result, codec, /over|exceed/);
  expect(grew).toBeLessThan(32 * limitBytes);
}

/** A batch of one record whose compressed body is replaced by `body` (CRC fixed), as a hostile producer could send. */
function batchWithBody(codec: CompressionCodec, body: Buffer): Buffer {
  const header = encodeBatch({ records: [{ key: null, value: Buffer.from('x'), timestamp: 1 }] }).subarray(0, 61);
  const bytes = Buffer.concat([header, body]);
  bytes.writeInt32BE(bytes.length - 12, field.batchLength);
  bytes.writeInt16BE(codec, field.attributes);
  bytes.writeUInt32BE(crc32c(bytes.subarray(field.attributes)), field.crc);
  return bytes;
}

describe('compression: round trips', () => {
  for (const codec of codecs) {
    it(`${names(codec)}: decompress(compress(x)) = x, within a limit of exactly x's size`, () => {
      fc.assert(
        fc.property(payloadArb, (payload) => {
          const compressed = compressRecords(codec, payload);
          const back = decompressRecords(codec, compressed, Math.max(payload.length, 1));
          if (!back.ok) throw new Error(back.message);
          expect(back.value.equals(payload)).toBe(true);
        }),
        { numRuns: 60 },
      );
    });

    it(`${names(codec)}: mutated and truncated compressed bytes give an error code, never a throw`, () => {
      const compressed = compressRecords(codec, Buffer.from('kactus stores batches opaque '.repeat(400)));
      fc.assert(
        fc.property(fc.integer({ min: 0, max: compressed.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: compressed.length }), (pos, xor, cut) => {
          const mutated = Buffer.from(compressed);
          mutated[pos] = mutated[pos]! ^ xor;
          for (const bytes of [mutated, compressed.subarray(0, cut)]) {
            const r = decompressRecords(codec, bytes, MiB);
            if (!r.ok) expect([ErrorCode.CORRUPT_MESSAGE]).toContain(r.errorCode);
          }
        }),
        { numRuns: 200 },
      );
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
          const r = decompressRecords(codec, Buffer.from(bytes), MiB);
          if (!r.ok) expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('whole batches of every codec round-trip through encodeBatch and decodeBatch, empty ones too', () => {
    for (const codec of codecs) {
      const records = Array.from({ length: 300 }, (_, i) => ({ key: Buffer.from(`k${i % 7}`), value: Buffer.from(`value ${i} `.repeat(i % 13)), headers: [{ key: 'h', value: Buffer.from([i % 256]) }], timestamp: 1_700_000_000_000 + i }));
      for (const input of [records, []]) {
        const decoded = decodeBatch(encodeBatch({ records: input, compression: codec }));
        if (!decoded.ok) throw new Error(`${names(codec)}: ${decoded.message}`);
        expect(decoded.value.header.compression).toBe(codec);
        expect(decoded.value.records.map((r) => [r.key?.toString(), r.value?.toString(), r.headers[0]!.value![0], r.timestamp])).toEqual(
          input.map((r) => [r.key.toString(), r.value.toString(), r.headers[0]!.value[0], r.timestamp]),
        );
      }
    }
  });

  it('levels: gzip and zstd take one (a higher level is no larger here), snappy and lz4 refuse one as a caller bug', () => {
    const text = Buffer.from(Array.from({ length: 2_000 }, (_, i) => `record ${i % 97} of a topic`).join(' '));
    expect(compressRecords(Compression.gzip, text, 9).length).toBeLessThanOrEqual(compressRecords(Compression.gzip, text, 1).length);
    expect(compressRecords(Compression.zstd, text, 19).length).toBeLessThanOrEqual(compressRecords(Compression.zstd, text, 1).length);
    expect(() => compressRecords(Compression.snappy, text, 3)).toThrow(/takes no compression level/);
    expect(() => compressRecords(Compression.lz4, text, 3)).toThrow(/takes no compression level/);
    expect(() => compressRecords(Compression.zstd, text, 23)).toThrow(/zstd level 23/);
  });
});

describe('compression: Kafka framing', () => {
  it('snappy is written in xerial framing, 32 KiB of input per block, and raw snappy reads too', () => {
    const payload = Buffer.from(Array.from({ length: 9_000 }, (_, i) => `${i},`).join(''));
    const framed = compressRecords(Compression.snappy, payload);
    expect(isXerialFramed(framed)).toBe(true);
    expect(framed.subarray(0, xerialHeaderBytes).toString('hex')).toBe('82534e415050590000000001' + '00000001');
    let blocks = 0;
    for (let pos = xerialHeaderBytes; pos < framed.length; pos += 4 + framed.readInt32BE(pos)) blocks += 1;
    expect(blocks).toBe(Math.ceil(payload.length / xerialBlockBytes));
    expect(compressRecords(Compression.snappy, Buffer.alloc(0))).toHaveLength(xerialHeaderBytes);
    // The raw block format (what librdkafka and kafkajs-snappy write): the body of a xerial block, alone.
    const raw = framed.subarray(xerialHeaderBytes + 4, xerialHeaderBytes + 4 + framed.readInt32BE(xerialHeaderBytes));
    const back = decompressRecords(Compression.snappy, raw, MiB);
    expect(back.ok && back.value.equals(payload.subarray(0, xerialBlockBytes))).toBe(true);
  });

  it('snappy: a cut xerial header, a block length that lies, and an empty block are CORRUPT_MESSAGE', () => {
    const framed = compressRecords(Compression.snappy, Buffer.alloc(50_000, 7));
    expectCorrupt(decompressRecords(Compression.snappy, framed.subarray(0, 12), MiB), Compression.snappy, /header is cut short/);
    const lying = Buffer.from(framed);
    lying.writeInt32BE(framed.length, xerialHeaderBytes);
    expectCorrupt(decompressRecords(Compression.snappy, lying, MiB), Compression.snappy, /claims/);
    const emptyBlock = Buffer.concat([framed.subarray(0, xerialHeaderBytes), Buffer.alloc(4)]);
    expectCorrupt(decompressRecords(Compression.snappy, emptyBlock, MiB), Compression.snappy, /claims 0 bytes/);
  });

  it('lz4 is written as an LZ4 frame with independent blocks; concatenated and skippable frames read; a missing end mark or trailing bytes are CORRUPT_MESSAGE', () => {
    const a = compressRecords(Compression.lz4, Buffer.from('first frame '.repeat(100)));
    const b = compressRecords(Compression.lz4, Buffer.from('second frame '.repeat(100)));
    expect(a.readUInt32LE(0)).toBe(0x184d2204);
    expect(a[4]! >> 6).toBe(1); // version 01
    expect(a[4]! & 0x20).toBe(0x20); // block independence: Kafka's Java reader needs it (KIP-57)
    const skippable = Buffer.concat([Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]);
    const both = decompressRecords(Compression.lz4, Buffer.concat([a, skippable, b]), MiB);
    expect(both.ok && both.value.toString()).toBe('first frame '.repeat(100) + 'second frame '.repeat(100));
    expectCorrupt(decompressRecords(Compression.lz4, a.subarray(0, a.length - 4), MiB), Compression.lz4, /cut short/);
    expectCorrupt(decompressRecords(Compression.lz4, Buffer.concat([a, Buffer.from('junk')]), MiB), Compression.lz4, /bad frame magic/);
    expectCorrupt(decompressRecords(Compression.lz4, Buffer.alloc(0), MiB), Compression.lz4, /no frame/);
  });

  it('lz4: the walk bounds a frame before decoding it: stored blocks count their size, compressed ones at most 255x or the block max', () => {
    const frame = compressRecords(Compression.lz4, Buffer.alloc(10_000, 1));
    const { frames, boundBytes } = lz4FrameBound(frame, MiB);
    expect(frames).toHaveLength(1);
    expect(boundBytes).toBeGreaterThanOrEqual(10_000);
    const blockBytes = frame.readUInt32LE(7) & 0x7fff_ffff;
    expect(boundBytes).toBe(Math.min(255 * blockBytes, 64 * 1024 * 4 ** ((frame[5]! >> 4) - 4)));
  });
});

const zstdLibraries: [string, () => ZstdLibrary][] = [['zstd-napi', zstdNapiLibrary]];
if (zlibZstd !== null) zstdLibraries.push(['zlib', () => zlibZstd!]);

/**
 * A zstd frame written as a stream by zstd-napi: no content size in its header (as the Java client
 * writes), unless `pledgedBytes` is given (then stated, as a one-shot compressor does).
 */
function streamedZstdFrame(chunks: Iterable<Buffer>, windowLog?: number, pledgedBytes?: number): Buffer {
  const binding = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof import('zstd-napi/binding.js');
  const cctx = new binding.CCtx();
  cctx.setParameter(binding.CParameter.compressionLevel, 1);
  if (windowLog !== undefined) cctx.setParameter(binding.CParameter.windowLog, windowLog);
  if (pledgedBytes !== undefined) cctx.setPledgedSrcSize(pledgedBytes);
  const out: Buffer[] = [];
  const pump = (input: Buffer, end: boolean): void => {
    let rest = input;
    for (;;) {
      const dst = Buffer.allocUnsafe(binding.cStreamOutSize());
      const [remaining, produced, consumed] = cctx.compressStream2(dst, rest, end ? binding.EndDirective.end : binding.EndDirective.continue);
      out.push(dst.subarray(0, produced));
      rest = rest.subarray(consumed);
      if (end ? remaining === 0 : rest.length === 0) return;
    }
  };
  for (const chunk of chunks) pump(chunk, false);
  pump(Buffer.alloc(0), true);
  return Buffer.concat(out);
}

describe('compression: zstd', () => {
  for (const [name, library] of zstdLibraries) {
    it(`${name}: round-trips; frames without a content size (streamed) and concatenated frames read`, () => {
      const payload = Buffer.from('zstd frame body '.repeat(5_000));
      const oneShot = compressZstdWith(library(), payload);
      expect(oneShot.readUInt32LE(0)).toBe(0xfd2fb528);
      expect(decompressZstdWith(library(), oneShot, payload.length).equals(payload)).toBe(true);
      const streamed = streamedZstdFrame([payload.subarray(0, 1000), payload.subarray(1000)]);
      expect((streamed[4]! & 0xc0) >> 6).toBe(0); // frame content size flag 0: not stated
      expect(decompressZstdWith(library(), streamed, payload.length).equals(payload)).toBe(true);
      expect(decompressZstdWith(library(), Buffer.concat([oneShot, streamed]), 2 * payload.length).equals(Buffer.concat([payload, payload]))).toBe(true);
      expect(() => decompressZstdWith(library(), streamed, payload.length - 1)).toThrow(/^zstd: decompresses to over/);
      expect(() => decompressZstdWith(library(), streamed.subarray(0, streamed.length - 3), MiB)).toThrow(/^zstd: /);
    });

    it(`${name}: a streamed frame asking for a window over the cap is refused, and passes under a larger limit`, () => {
      expect(windowLogMaxFor(MiB)).toBe(23);
      expect(windowLogMaxFor(64 * MiB)).toBe(26);
      expect(windowLogMaxFor(2 ** 40)).toBe(27);
      const wide = streamedZstdFrame([Buffer.from('a small frame with a 32 MiB window')], 25);
      expect(() => decompressZstdWith(library(), wide, MiB)).toThrow(/^zstd: /);
      expect(decompressZstdWith(library(), wide, 64 * MiB).toString()).toBe('a small frame with a 32 MiB window');
    });
  }
});

describe('compression: bombs are refused unread or cut off at the limit', () => {
  it('gzip: 64 members of 16 MiB of zeros (1 GiB from about 1 MiB)', () => {
    const member = gzipSync(Buffer.alloc(16 * MiB));
    expectBombRefused(Compression.gzip, Buffer.concat(Array.from({ length: 64 }, () => member)), 64 * 16 * MiB);
  });

  it('snappy: a raw block whose preamble states 4 GiB, and xerial blocks stating 128 MiB in all', () => {
    const lyingRaw = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(100)]);
    expectBombRefused(Compression.snappy, lyingRaw, 2 ** 32 - 1);
    const framed = compressRecords(Compression.snappy, Buffer.alloc(xerialBlockBytes));
    const block = framed.subarray(xerialHeaderBytes);
    expectBombRefused(Compression.snappy, Buffer.concat([framed.subarray(0, xerialHeaderBytes), ...Array.from({ length: 4096 }, () => block)]), 4096 * xerialBlockBytes);
  });

  it('lz4: a frame of 64 blocks of 4 MiB of zeros (256 MiB), and a frame stating a 1 TiB content size', () => {
    const frame = compressRecords(Compression.lz4, Buffer.alloc(4 * MiB));
    expect(frame[5]).toBe(0x70); // 4 MiB blocks
    expect(frame[4]! & 0x0c).toBe(0); // no content size, no content checksum: header 7 bytes, then blocks, then the end mark
    const block = frame.subarray(7, frame.length - 4);
    const bomb = Buffer.concat([frame.subarray(0, 7), ...Array.from({ length: 64 }, () => block), Buffer.alloc(4)]);
    expectBombRefused(Compression.lz4, bomb, 256 * MiB);
    const stating = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x68, 0x40]), Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]), Buffer.from([0]), Buffer.alloc(4)]);
    expectBombRefused(Compression.lz4, stating, 2 ** 40);
  });

  it('zstd: a frame of 1 GiB of zeros without its content size (cut off at the limit), and one stating it (refused unread)', () => {
    const zeros = Buffer.alloc(MiB);
    const gibibyte = function* (): Generator<Buffer> {
      for (let i = 0; i < 1024; i++) yield zeros;
    };
    expectBombRefused(Compression.zstd, streamedZstdFrame(gibibyte()), 1024 * MiB);
    const stated = streamedZstdFrame(gibibyte(), undefined, 1024 * MiB);
    expect(stated[4]! >> 6).not.toBe(0); // frame content size stated
    expectBombRefused(Compression.zstd, stated, 1024 * MiB);
  });

  it('a bomb inside a batch is CORRUPT_MESSAGE naming the codec at decodeBatch, at the default 64 MiB limit', () => {
    const zstdBomb = streamedZstdFrame((function* () {
      for (let i = 0; i < 96; i++) yield Buffer.alloc(MiB);
    })());
    const lz4Frame = compressRecords(Compression.lz4, Buffer.alloc(4 * MiB));
    const lz4Bomb = Buffer.concat([lz4Frame.subarray(0, 7), ...Array.from({ length: 24 }, () => lz4Frame.subarray(7, lz4Frame.length - 4)), Buffer.alloc(4)]);
    const bombs: [CompressionCodec, Buffer][] = [
      [Compression.gzip, gzipSync(Buffer.alloc(96 * MiB))],
      [Compression.snappy, Buffer.concat([Buffer.from([0x80, 0x80, 0x80, 0x40]), Buffer.alloc(10)])], // states 128 MiB
      [Compression.lz4, lz4Bomb],
      [Compression.zstd, zstdBomb],
    ];
    for (const [codec, body] of bombs) {
      const decoded = decodeBatch(batchWithBody(codec, body));
      expect(decoded).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
      if (!decoded.ok) expect(decoded.message.startsWith(`${names(codec)}: `)).toBe(true);
    }
  });
});
