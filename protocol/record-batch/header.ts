/**
 * The 61-byte header of a Kafka RecordBatch v2: layout, reading, in-place
 * rewrites, and validation of untrusted bytes.
 *
 * Owns: the field offsets below, `readBatchHeader`, `validateBatch`,
 * `setBaseOffset`, `setPartitionLeaderEpoch`, `setLogAppendTime`, and the
 * attribute bits. It never decodes records: the broker's hot path is
 * header + CRC only, so its cost is per byte, not per record (DESIGN.md).
 *
 * Byte layout (big-endian, as Kafka):
 *
 *   offset size field
 *        0    8 baseOffset            int64   (not covered by the CRC)
 *        8    4 batchLength           int32   bytes after this field = total - 12
 *       12    4 partitionLeaderEpoch  int32   (not covered by the CRC)
 *       16    1 magic                 int8    always 2
 *       17    4 crc                   uint32  CRC32C of bytes [21, end)
 *       21    2 attributes            int16   see below
 *       23    4 lastOffsetDelta       int32
 *       27    8 baseTimestamp         int64   (the delete horizon if bit 6 is set)
 *       35    8 maxTimestamp          int64
 *       43    8 producerId            int64   -1 = none
 *       51    2 producerEpoch         int16   -1 = none
 *       53    4 baseSequence          int32   -1 = none
 *       57    4 recordCount           int32
 *       61      records...
 *
 *   attributes: bits 0-2 compression codec (0 none, 1 gzip, 2 snappy, 3 lz4,
 *   4 zstd), bit 3 timestamp type (0 CreateTime, 1 LogAppendTime), bit 4
 *   transactional, bit 5 control, bit 6 delete horizon set (compaction).
 *
 * Numbers: offsets and timestamps are int64 on the wire and `number` in the
 * API. Offsets and epoch-millisecond timestamps stay far below 2^53 in any
 * real log, so `number` is exact and avoids BigInt's cost on the hot path.
 * The int64 is read with BigInt and converted once; a value outside the safe
 * range is refused as CORRUPT_MESSAGE rather than silently rounded.
 *
 * Because baseOffset and partitionLeaderEpoch sit before the CRC'd region,
 * the leader rewrites them in place without touching the CRC. LogAppendTime
 * changes maxTimestamp, which the CRC covers, so `setLogAppendTime`
 * recomputes it (per byte, once per batch).
 *
 * Imports: ../crc32c.ts, ../errors.ts, runtime/assert.ts.
 */
import { crc32c } from '../crc32c.ts';
import { ErrorCode } from '../errors.ts';
import { assert } from '../../runtime/assert.ts';

export const batchHeaderBytes = 61;
/** baseOffset + batchLength: the bytes not counted in batchLength. */
export const logOverheadBytes = 12;
export const magicV2 = 2;

export const field = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
  records: 61,
} as const;

/** Compression codec ids, as Kafka numbers them (attribute bits 0-2). */
export const Compression = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionCodec = (typeof Compression)[keyof typeof Compression];
/** Kafka's names (compression.type), indexed by codec id. */
export const compressionNames = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type CompressionName = (typeof compressionNames)[number];

export const TimestampType = { createTime: 0, logAppendTime: 1 } as const;
export type TimestampTypeValue = (typeof TimestampType)[keyof typeof TimestampType];

export const attributeBit = {
  compressionMask: 0x07,
  timestampType: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const;

export const noProducerId = -1;
export const noProducerEpoch = -1;
export const noSequence = -1;
export const noTimestamp = -1;
export const noPartitionLeaderEpoch = -1;

/** The header fields, decoded; what producer-state rebuild, the log and fetchers need. */
export interface BatchHeader {
  baseOffset: number;
  /** Total bytes of the batch, header included (batchLength + 12). */
  sizeBytes: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  compression: number;
  timestampType: TimestampTypeValue;
  isTransactional: boolean;
  isControl: boolean;
  hasDeleteHorizon: boolean;
  lastOffsetDelta: number;
  /** baseOffset + lastOffsetDelta. */
  lastOffset: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/** Reads a signed int64 as a number; returns NaN when it is outside the safe-integer range. */
export function readInt64(buf: Buffer, pos: number): number {
  const hi = buf.readInt32BE(pos);
  const lo = buf.readUInt32BE(pos + 4);
  // Fast path: |value| < 2^53 means hi fits in 21 signed bits.
  if (hi >= -0x200000 && hi < 0x200000) return hi * 0x1_0000_0000 + lo;
  const big = buf.readBigInt64BE(pos);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : NaN;
}

export function writeInt64(buf: Buffer, pos: number, value: number): void {
  assert(Number.isSafeInteger(value), `int64 field must be a safe integer, got ${value}`);
  if (value >= 0) {
    // Fast path without a BigInt allocation (offsets on the append path).
    buf.writeUInt32BE(Math.floor(value / 0x1_0000_0000), pos);
    buf.writeUInt32BE(value >>> 0, pos + 4);
  } else buf.writeBigInt64BE(BigInt(value), pos);
}

/** Reads the header of the batch at `pos`. The caller has checked that 61 bytes are there. */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  assert(pos + batchHeaderBytes <= buf.length, 'readBatchHeader: fewer than 61 bytes');
  const attributes = buf.readInt16BE(pos + field.attributes);
  const baseOffset = readInt64(buf, pos + field.baseOffset);
  const lastOffsetDelta = buf.readInt32BE(pos + field.lastOffsetDelta);
  return {
    baseOffset,
    sizeBytes: buf.readInt32BE(pos + field.batchLength) + logOverheadBytes,
    partitionLeaderEpoch: buf.readInt32BE(pos + field.partitionLeaderEpoch),
    magic: buf.readInt8(pos + field.magic),
    crc: buf.readUInt32BE(pos + field.crc),
    attributes,
    compression: attributes & attributeBit.compressionMask,
    timestampType: (attributes & attributeBit.timestampType) !== 0 ? TimestampType.logAppendTime : TimestampType.createTime,
    isTransactional: (attributes & attributeBit.transactional) !== 0,
    isControl: (attributes & attributeBit.control) !== 0,
    hasDeleteHorizon: (attributes & attributeBit.deleteHorizon) !== 0,
    lastOffsetDelta,
    lastOffset: baseOffset + lastOffsetDelta,
    baseTimestamp: readInt64(buf, pos + field.baseTimestamp),
    maxTimestamp: readInt64(buf, pos + field.maxTimestamp),
    producerId: readInt64(buf, pos + field.producerId),
    producerEpoch: buf.readInt16BE(pos + field.producerEpoch),
    baseSequence: buf.readInt32BE(pos + field.baseSequence),
    recordCount: buf.readInt32BE(pos + field.recordCount),
  };
}

/** Total size of the batch at `pos` from its length field (no checks). */
export function batchSizeAt(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + field.batchLength) + logOverheadBytes;
}

export function baseOffsetAt(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + field.baseOffset);
}

export function lastOffsetDeltaAt(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos + field.lastOffsetDelta);
}

export function maxTimestampAt(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + field.maxTimestamp);
}

export function computeBatchCrc(buf: Buffer, pos: number, sizeBytes: number): number {
  return crc32c(buf.subarray(pos + field.attributes, pos + sizeBytes));
}

/** Rewrites baseOffset in place (outside the CRC). */
export function setBaseOffset(buf: Buffer, pos: number, baseOffset: number): void {
  writeInt64(buf, pos + field.baseOffset, baseOffset);
}

/** Rewrites partitionLeaderEpoch in place (outside the CRC). */
export function setPartitionLeaderEpoch(buf: Buffer, pos: number, leaderEpoch: number): void {
  buf.writeInt32BE(leaderEpoch, pos + field.partitionLeaderEpoch);
}

/**
 * Marks the batch LogAppendTime and sets maxTimestamp to `timestampMs`, as a
 * Kafka leader does for topics with message.timestamp.type=LogAppendTime.
 * Both are inside the CRC, so the CRC is recomputed.
 */
export function setLogAppendTime(buf: Buffer, pos: number, timestampMs: number): void {
  const sizeBytes = batchSizeAt(buf, pos);
  const attributes = buf.readInt16BE(pos + field.attributes);
  buf.writeInt16BE(attributes | attributeBit.timestampType, pos + field.attributes);
  writeInt64(buf, pos + field.maxTimestamp, timestampMs);
  buf.writeUInt32BE(computeBatchCrc(buf, pos, sizeBytes), pos + field.crc);
}

/** The verdict on untrusted bytes: 0 and the batch size, or an error code and why. */
export type BatchCheck = { ok: true; sizeBytes: number } | { ok: false; errorCode: number; message: string };

export interface ValidateOptions {
  /** Largest accepted batch, header included (max.message.bytes). */
  messageBytesMax: number;
  /**
   * 'producer': a fresh batch from a producer; records must be dense
   * (lastOffsetDelta = recordCount - 1, recordCount >= 1).
   * 'replica': a batch already in some log (follower fetch, recovery);
   * compaction may have left fewer records than offsets, or none.
   */
  origin: 'producer' | 'replica';
  /** Skip the CRC (callers that already checked it). Default false. */
  skipCrc?: boolean;
}

function refuse(errorCode: number, message: string): BatchCheck {
  return { ok: false, errorCode, message };
}

/**
 * Checks the batch starting at `pos` in `buf` without trusting anything in
 * it: enough bytes, a length that does not lie, magic 2, a CRC that matches,
 * a known codec (ids 0-4; the records are not decompressed here), sane
 * counts and offsets, and a size within `messageBytesMax`. Never throws on
 * bad bytes; returns CORRUPT_MESSAGE or MESSAGE_TOO_LARGE instead.
 */
export function validateBatch(buf: Buffer, pos: number, options: ValidateOptions): BatchCheck {
  const available = buf.length - pos;
  if (available < batchHeaderBytes) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, `batch needs ${batchHeaderBytes} header bytes, has ${available}`);
  }
  const batchLength = buf.readInt32BE(pos + field.batchLength);
  const sizeBytes = batchLength + logOverheadBytes;
  if (batchLength < batchHeaderBytes - logOverheadBytes) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, `batch length ${batchLength} is shorter than the header`);
  }
  if (sizeBytes > options.messageBytesMax) {
    return refuse(ErrorCode.MESSAGE_TOO_LARGE, `batch of ${sizeBytes} bytes exceeds ${options.messageBytesMax}`);
  }
  if (sizeBytes > available) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, `batch length says ${sizeBytes} bytes, only ${available} present`);
  }
  const magic = buf.readInt8(pos + field.magic);
  if (magic !== magicV2) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, `magic ${magic}, expected ${magicV2}`);
  }
  if (options.skipCrc !== true) {
    const stored = buf.readUInt32BE(pos + field.crc);
    const computed = computeBatchCrc(buf, pos, sizeBytes);
    if (stored !== computed) {
      return refuse(ErrorCode.CORRUPT_MESSAGE, `CRC mismatch: stored ${stored.toString(16)}, computed ${computed.toString(16)}`);
    }
  }
  const attributes = buf.readInt16BE(pos + field.attributes);
  const codec = attributes & attributeBit.compressionMask;
  if (codec > Compression.zstd) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, `unknown compression codec id ${codec}`);
  }
  const baseOffset = readInt64(buf, pos + field.baseOffset);
  if (Number.isNaN(baseOffset)) return refuse(ErrorCode.CORRUPT_MESSAGE, 'base offset outside the safe integer range');
  const lastOffsetDelta = buf.readInt32BE(pos + field.lastOffsetDelta);
  const recordCount = buf.readInt32BE(pos + field.recordCount);
  if (lastOffsetDelta < 0) return refuse(ErrorCode.CORRUPT_MESSAGE, `negative last offset delta ${lastOffsetDelta}`);
  if (recordCount < 0) return refuse(ErrorCode.CORRUPT_MESSAGE, `negative record count ${recordCount}`);
  // Each record takes at least 7 bytes (length, attributes, timestamp delta,
  // offset delta, key length, value length, header count); uncompressed
  // batches cannot claim more records than fit.
  if (codec === Compression.none && recordCount * 7 > sizeBytes - batchHeaderBytes) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, `record count ${recordCount} does not fit in ${sizeBytes} bytes`);
  }
  if (options.origin === 'producer') {
    if (recordCount < 1) return refuse(ErrorCode.CORRUPT_MESSAGE, 'a produced batch must hold at least one record');
    if (lastOffsetDelta !== recordCount - 1) {
      return refuse(ErrorCode.CORRUPT_MESSAGE, `last offset delta ${lastOffsetDelta} != record count ${recordCount} - 1`);
    }
  } else if (recordCount > lastOffsetDelta + 1) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, `record count ${recordCount} exceeds the offset span ${lastOffsetDelta + 1}`);
  }
  if (Number.isNaN(readInt64(buf, pos + field.baseTimestamp)) || Number.isNaN(readInt64(buf, pos + field.maxTimestamp))) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, 'timestamp outside the safe integer range');
  }
  if (Number.isNaN(readInt64(buf, pos + field.producerId))) {
    return refuse(ErrorCode.CORRUPT_MESSAGE, 'producer id outside the safe integer range');
  }
  return { ok: true, sizeBytes };
}
