import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ErrorCode } from '../errors.ts';
import { crc32c } from '../crc32c.ts';
import {
  Compression,
  decodeBatch,
  decodeBatches,
  decodeControlRecord,
  encodeBatch,
  encodeEndTxnMarker,
  field,
  readBatchHeader,
  setBaseOffset,
  setLogAppendTime,
  setPartitionLeaderEpoch,
  TimestampType,
  validateBatch,
  type BatchInput,
  type RecordInput,
} from './index.ts';

const utf8 = (s: string) => Buffer.from(s, 'utf8');
const producerCheck = { messageBytesMax: 1024 * 1024, origin: 'producer' as const };

/** One record, key "k", value "v", timestamp 1000; every byte written out by hand. */
const goldenHex =
  '0000000000000000' + // baseOffset 0
  '0000003a' + // batchLength 58 = 70 - 12
  'ffffffff' + // partitionLeaderEpoch -1
  '02' + // magic
  'CRC_HERE' + // crc32c of [21, 70)
  '0000' + // attributes
  '00000000' + // lastOffsetDelta
  '00000000000003e8' + // baseTimestamp 1000
  '00000000000003e8' + // maxTimestamp 1000
  'ffffffffffffffff' + // producerId -1
  'ffff' + // producerEpoch -1
  'ffffffff' + // baseSequence -1
  '00000001' + // recordCount
  '10' + // record length 8 (zigzag 16)
  '00' + // attributes
  '00' + // timestampDelta 0
  '00' + // offsetDelta 0
  '02' + '6b' + // key length 1, "k"
  '02' + '76' + // value length 1, "v"
  '00'; // header count 0

describe('record batch codec', () => {
  it('encodes a simple batch to the exact bytes of the v2 layout', () => {
    const bytes = encodeBatch({ records: [{ key: utf8('k'), value: utf8('v'), timestamp: 1000 }] });
    const expected = Buffer.from(goldenHex.replace('CRC_HERE', '00000000'), 'hex');
    expected.writeUInt32BE(crc32c(expected.subarray(21)), 17);
    expect(bytes.toString('hex')).toBe(expected.toString('hex'));
    // The CRC itself, pinned so a change in the CRC'd range cannot go unnoticed.
    expect(bytes.readUInt32BE(17)).toBe(crc32c(bytes.subarray(21)));
    expect(bytes.length).toBe(70);
  });

  const headerArb = fc.record({
    key: fc.string({ unit: 'binary', maxLength: 8 }),
    value: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }),
  });
  const recordArb = (baseTs: number) =>
    fc.record({
      key: fc.option(fc.uint8Array({ maxLength: 24 }), { nil: null }),
      value: fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }),
      headers: fc.array(headerArb, { maxLength: 3 }),
      timestamp: fc.oneof(
        fc.integer({ min: Math.max(0, baseTs - 1_000_000), max: baseTs + 1_000_000 }),
        fc.constant(-1),
        fc.integer({ min: 0, max: 2 ** 50 }),
      ),
    });
  const batchArb = fc.integer({ min: 0, max: 2 ** 44 }).chain((baseTs) =>
    fc.record({
      records: fc.array(recordArb(baseTs), { minLength: 1, maxLength: 20 }),
      baseOffset: fc.integer({ min: 0, max: 2 ** 50 }),
      partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
      compression: fc.constantFrom(Compression.none, Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd),
      isTransactional: fc.boolean(),
      producerId: fc.integer({ min: -1, max: 2 ** 50 }),
      producerEpoch: fc.integer({ min: -1, max: 32767 }),
      baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    }),
  );

  it('round-trips random batches: decode(encode(x)) = x', () => {
    fc.assert(
      fc.property(batchArb, (input) => {
        const bytes = encodeBatch(input);
        const decoded = decodeBatch(bytes);
        if (!decoded.ok) throw new Error(decoded.message);
        const { header, records } = decoded.value;
        expect(header.baseOffset).toBe(input.baseOffset);
        expect(header.sizeBytes).toBe(bytes.length);
        expect(header.partitionLeaderEpoch).toBe(input.partitionLeaderEpoch);
        expect(header.compression).toBe(input.compression);
        expect(header.isTransactional).toBe(input.isTransactional);
        expect(header.isControl).toBe(false);
        expect(header.producerId).toBe(input.producerId);
        expect(header.producerEpoch).toBe(input.producerEpoch);
        expect(header.baseSequence).toBe(input.baseSequence);
        expect(header.recordCount).toBe(input.records.length);
        expect(header.lastOffset).toBe(input.baseOffset + input.records.length - 1);
        expect(header.maxTimestamp).toBe(Math.max(...input.records.map((r) => r.timestamp)));
        expect(records.length).toBe(input.records.length);
        records.forEach((r, i) => {
          const want = input.records[i]!;
          expect(r.offset).toBe(input.baseOffset + i);
          expect(r.timestamp).toBe(want.timestamp);
          expect(r.key === null ? null : [...r.key]).toEqual(want.key === null ? null : [...want.key]);
          expect(r.value === null ? null : [...r.value]).toEqual(want.value === null ? null : [...want.value]);
          expect(r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : [...h.value] }))).toEqual(
            want.headers.map((h) => ({ key: h.key, value: h.value === null ? null : [...h.value] })),
          );
        });
        expect(validateBatch(bytes, 0, producerCheck).ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('reads the header without decoding, and rewrites base offset and leader epoch in place', () => {
    const bytes = encodeBatch({
      records: [1, 2, 3].map((i) => ({ key: null, value: utf8(`v${i}`), timestamp: 5000 + i })),
      producerId: 77,
      producerEpoch: 3,
      baseSequence: 40,
      isTransactional: true,
    });
    const crcBefore = bytes.readUInt32BE(field.crc);
    setBaseOffset(bytes, 0, 123_456_789_012);
    setPartitionLeaderEpoch(bytes, 0, 9);
    const h = readBatchHeader(bytes);
    expect(h).toMatchObject({
      baseOffset: 123_456_789_012,
      lastOffset: 123_456_789_014,
      partitionLeaderEpoch: 9,
      producerId: 77,
      producerEpoch: 3,
      baseSequence: 40,
      isTransactional: true,
      isControl: false,
      recordCount: 3,
      lastOffsetDelta: 2,
      baseTimestamp: 5001,
      maxTimestamp: 5003,
      crc: crcBefore,
    });
    expect(validateBatch(bytes, 0, producerCheck).ok).toBe(true);
    const decoded = decodeBatch(bytes);
    expect(decoded.ok && decoded.value.records.map((r) => r.offset)).toEqual([123_456_789_012, 123_456_789_013, 123_456_789_014]);
  });

  it('LogAppendTime rewrites maxTimestamp, keeps the CRC valid, and records read that time', () => {
    const bytes = encodeBatch({ records: [{ key: null, value: utf8('a'), timestamp: 1 }, { key: null, value: utf8('b'), timestamp: 2 }] });
    setLogAppendTime(bytes, 0, 99_999);
    expect(validateBatch(bytes, 0, producerCheck).ok).toBe(true);
    const decoded = decodeBatch(bytes);
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.value.header.timestampType).toBe(TimestampType.logAppendTime);
    expect(decoded.value.records.map((r) => r.timestamp)).toEqual([99_999, 99_999]);
  });

  it('keeps explicit offset deltas (compaction gaps) and delete horizons', () => {
    const records: RecordInput[] = [
      { key: utf8('a'), value: null, timestamp: 10, offsetDelta: 2 },
      { key: utf8('b'), value: utf8('x'), timestamp: 12, offsetDelta: 7 },
    ];
    const bytes = encodeBatch({ records, baseOffset: 100, lastOffsetDelta: 9, deleteHorizonMs: 86_400_010 });
    expect(validateBatch(bytes, 0, { ...producerCheck, origin: 'replica' }).ok).toBe(true);
    expect(validateBatch(bytes, 0, producerCheck).ok).toBe(false);
    const decoded = decodeBatch(bytes);
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.value.header.hasDeleteHorizon).toBe(true);
    expect(decoded.value.header.baseTimestamp).toBe(86_400_010);
    expect(decoded.value.header.lastOffset).toBe(109);
    expect(decoded.value.records.map((r) => [r.offset, r.timestamp])).toEqual([[102, 10], [107, 12]]);
  });

  it('represents commit and abort markers as control batches', () => {
    for (const type of ['commit', 'abort'] as const) {
      const bytes = encodeEndTxnMarker({ type, coordinatorEpoch: 5, producerId: 42, producerEpoch: 1, timestamp: 777 });
      const decoded = decodeBatch(bytes);
      if (!decoded.ok) throw new Error(decoded.message);
      expect(decoded.value.header.isControl).toBe(true);
      expect(decoded.value.header.isTransactional).toBe(true);
      expect(decoded.value.header.producerId).toBe(42);
      const marker = decodeControlRecord(decoded.value.records[0]!);
      expect(marker).toEqual({ ok: true, value: { type, coordinatorEpoch: 5 } });
    }
    const bogus = decodeControlRecord({ offset: 0, offsetDelta: 0, timestamp: 0, key: Buffer.from([0, 0, 0, 9]), value: null, headers: [] });
    expect(bogus.ok).toBe(false);
  });

  it('decodes concatenated batches', () => {
    const a = encodeBatch({ records: [{ key: null, value: utf8('1'), timestamp: 1 }], baseOffset: 0 });
    const compressed = [Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd].map((compression, i) =>
      encodeBatch({ records: [{ key: null, value: utf8(`${i + 2}`), timestamp: 2 }], baseOffset: i + 1, compression }),
    );
    const decoded = decodeBatches(Buffer.concat([a, ...compressed]));
    expect(decoded.ok && decoded.value.map((x) => x.records[0]!.value!.toString())).toEqual(['1', '2', '3', '4', '5']);
  });
});

describe('record batch refusals', () => {
  const sample = (): Buffer =>
    encodeBatch({ records: [0, 1, 2].map((i) => ({ key: utf8(`k${i}`), value: Buffer.alloc(50, i), timestamp: 1000 + i })) });

  it('refuses a bad CRC anywhere in the CRC-covered range', () => {
    fc.assert(
      fc.property(fc.integer({ min: field.crc, max: 200 }), fc.integer({ min: 1, max: 255 }), (posRaw, xor) => {
        const bytes = sample();
        const pos = posRaw % bytes.length;
        if (pos < field.crc) return;
        bytes[pos] = bytes[pos]! ^ xor;
        const check = validateBatch(bytes, 0, producerCheck);
        expect(check.ok).toBe(false);
        if (!check.ok) expect(check.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
        expect(decodeBatch(bytes).ok).toBe(false);
      }),
    );
  });

  it('refuses a wrong magic, a lying length, and an oversized batch', () => {
    const wrongMagic = sample();
    wrongMagic[field.magic] = 1;
    expect(validateBatch(wrongMagic, 0, producerCheck)).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });

    const tooLong = sample();
    tooLong.writeInt32BE(tooLong.length, field.batchLength); // claims 12 more bytes than exist
    expect(validateBatch(tooLong, 0, producerCheck)).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });

    const tooShort = sample();
    tooShort.writeInt32BE(10, field.batchLength);
    expect(validateBatch(tooShort, 0, producerCheck)).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });

    const big = sample();
    expect(validateBatch(big, 0, { ...producerCheck, messageBytesMax: big.length - 1 })).toMatchObject({
      ok: false,
      errorCode: ErrorCode.MESSAGE_TOO_LARGE,
    });
  });

  it('refuses codec ids 5-7 as corrupt, in the header check and in decoding', () => {
    for (const codec of [5, 6, 7]) {
      const bytes = sample();
      bytes.writeInt16BE(codec, field.attributes);
      bytes.writeUInt32BE(crc32c(bytes.subarray(field.attributes)), field.crc);
      expect(validateBatch(bytes, 0, producerCheck)).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
      expect(decodeBatch(bytes)).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: `unknown compression codec id ${codec}` });
    }
    expect(() => encodeBatch({ records: [], compression: 5 } as unknown as BatchInput)).toThrow(/unknown compression 5/);
  });

  it('a batch that says snappy, lz4 or zstd but holds plain records passes the header check and fails decoding as CORRUPT_MESSAGE naming the codec', () => {
    for (const [codec, name] of [[2, 'snappy'], [3, 'lz4'], [4, 'zstd']] as const) {
      const bytes = sample();
      bytes.writeInt16BE(codec, field.attributes);
      bytes.writeUInt32BE(crc32c(bytes.subarray(field.attributes)), field.crc);
      expect(validateBatch(bytes, 0, producerCheck).ok).toBe(true);
      const decoded = decodeBatch(bytes);
      expect(decoded).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
      if (!decoded.ok) expect(decoded.message.startsWith(`${name}:`)).toBe(true);
    }
  });

  it('every truncation and random garbage gives an error code, never a throw', () => {
    for (const compression of [Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd]) {
      const whole = Buffer.concat([sample(), encodeBatch({ records: [{ key: null, value: Buffer.alloc(300, 7), timestamp: 5 }], compression })]);
      for (let cut = 0; cut < whole.length; cut++) {
        const r = decodeBatches(whole.subarray(0, cut));
        if (cut === 0 || cut === sample().length) expect(r.ok).toBe(true);
        else expect(r).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const r = decodeBatches(Buffer.from(bytes));
        expect(typeof r.ok).toBe('boolean');
      }),
    );
    // Garbage records behind a valid header and CRC: the record decoder must refuse, not throw.
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 40 }), (body, count) => {
        const bytes = Buffer.concat([sample().subarray(0, 61), Buffer.from(body)]);
        bytes.writeInt32BE(bytes.length - 12, field.batchLength);
        bytes.writeInt32BE(count, field.recordCount);
        bytes.writeInt32BE(Math.max(0, count - 1), field.lastOffsetDelta);
        bytes.writeUInt32BE(crc32c(bytes.subarray(field.attributes)), field.crc);
        const r = decodeBatch(bytes);
        if (!r.ok) expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
      }),
    );
  });

  it('bounds gzip decompression', () => {
    const bytes = encodeBatch({ records: [{ key: null, value: Buffer.alloc(100_000), timestamp: 1 }], compression: Compression.gzip });
    expect(bytes.length).toBeLessThan(2000);
    expect(decodeBatch(bytes, 0, { decompressedBytesMax: 10_000 })).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
    expect(decodeBatch(bytes).ok).toBe(true);
  });
});
