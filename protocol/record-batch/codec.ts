/**
 * Encode and decode whole RecordBatch v2 batches, with compression.
 *
 * Owns: `encodeBatch(input)` -> Buffer and `decodeBatch(bytes)` /
 * `decodeBatches(bytes)` -> a result that is either the batch or an error
 * code (never a throw on bad bytes: STYLE rule 15). The header layout is in
 * header.ts, the record layout in records.ts.
 *
 * Compression: Kafka's five codecs, none, gzip, snappy (xerial framing),
 * lz4 (frame format) and zstd, through compression/ (synchronous: encoding
 * happens in producers and decoding in consumers, not on the broker's
 * append path). Ids 5-7 are CORRUPT_MESSAGE. Decompression is bounded by
 * `decompressedBytesMax` for every codec, so a small compression bomb
 * cannot take memory: it is CORRUPT_MESSAGE naming the codec.
 *
 * Timestamps: baseTimestamp is the first record's timestamp (Kafka's choice)
 * unless a delete horizon is given (compaction, attribute bit 6), in which
 * case baseTimestamp holds the horizon and record deltas are relative to it.
 * maxTimestamp is the largest record timestamp, or the given log-append time.
 */
import { ErrorCode } from '../errors.ts';
import { assert } from '../../runtime/assert.ts';
import {
  attributeBit,
  batchHeaderBytes,
  Compression,
  type BatchHeader,
  type CompressionCodec,
  computeBatchCrc,
  field,
  logOverheadBytes,
  magicV2,
  noPartitionLeaderEpoch,
  noProducerEpoch,
  noProducerId,
  noSequence,
  noTimestamp,
  readBatchHeader,
  TimestampType,
  type TimestampTypeValue,
  validateBatch,
  writeInt64,
} from './header.ts';
import { compressRecords, decompressRecords } from './compression/index.ts';
import { decodeRecords, type DecodedRecord, encodeRecords, type RecordInput } from './records.ts';
import { ByteWriter, DecodeFailure } from './varint.ts';

/** Upper bound on one batch's decompressed records (a defence against compression bombs). */
export const decompressedBytesMaxDefault = 64 * 1024 * 1024;
/** Decoding accepts batches up to this size unless told otherwise. */
export const decodeBatchBytesMaxDefault = 64 * 1024 * 1024;

export interface BatchInput {
  records: readonly RecordInput[];
  baseOffset?: number;
  partitionLeaderEpoch?: number;
  compression?: CompressionCodec;
  timestampType?: TimestampTypeValue;
  isTransactional?: boolean;
  isControl?: boolean;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  /** Defaults to the largest record offset delta (records.length - 1 when dense). */
  lastOffsetDelta?: number;
  /** Sets attribute bit 6 and stores the horizon as baseTimestamp (compaction). */
  deleteHorizonMs?: number;
  /** For LogAppendTime batches: the append time, stored as maxTimestamp. */
  logAppendTimeMs?: number;
  /** gzip level 1-9 (default zlib's 6) or zstd level -131072 to 22 (default 3); snappy and lz4 take none. */
  compressionLevel?: number;
}

export interface RecordBatch {
  header: BatchHeader;
  records: DecodedRecord[];
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; errorCode: number; message: string };

export interface DecodeOptions {
  /** Largest accepted batch, header included. */
  batchBytesMax?: number;
  decompressedBytesMax?: number;
  /** Check the CRC (default true). */
  verifyCrc?: boolean;
}

/** Encodes one batch. Throws KactusError(UNSUPPORTED_COMPRESSION_TYPE) when the codec's library did not load; AssertionError on caller bugs. */
export function encodeBatch(input: BatchInput): Buffer {
  const compression = input.compression ?? Compression.none;
  assert(compression >= 0 && compression <= Compression.zstd, `unknown compression ${compression}`);
  const records = input.records;
  let lastOffsetDelta = input.lastOffsetDelta;
  if (lastOffsetDelta === undefined) {
    lastOffsetDelta = records.length - 1;
    for (const r of records) if (r.offsetDelta !== undefined && r.offsetDelta > lastOffsetDelta) lastOffsetDelta = r.offsetDelta;
    if (lastOffsetDelta < 0) lastOffsetDelta = 0;
  }
  let maxTimestamp = noTimestamp;
  for (const r of records) {
    assert(Number.isSafeInteger(r.timestamp), 'record timestamp must be a safe integer');
    assert(r.timestamp >= noTimestamp, 'record timestamp must be >= -1 (Kafka refuses other negatives)');
    if (r.timestamp > maxTimestamp) maxTimestamp = r.timestamp;
  }
  const timestampType = input.timestampType ?? TimestampType.createTime;
  if (timestampType === TimestampType.logAppendTime && input.logAppendTimeMs !== undefined) maxTimestamp = input.logAppendTimeMs;
  const hasDeleteHorizon = input.deleteHorizonMs !== undefined;
  const baseTimestamp = hasDeleteHorizon ? input.deleteHorizonMs! : records.length > 0 ? records[0]!.timestamp : noTimestamp;

  const w = new ByteWriter(batchHeaderBytes + 64 + records.length * 32);
  w.pos = batchHeaderBytes;
  if (compression === Compression.none) {
    encodeRecords(w, records, baseTimestamp);
  } else {
    const body = new ByteWriter(64 + records.length * 32);
    encodeRecords(body, records, baseTimestamp);
    w.bytes(compressRecords(compression, body.result(), input.compressionLevel));
  }
  const buf = w.result();
  let attributes = compression;
  if (timestampType === TimestampType.logAppendTime) attributes |= attributeBit.timestampType;
  if (input.isTransactional === true) attributes |= attributeBit.transactional;
  if (input.isControl === true) attributes |= attributeBit.control;
  if (hasDeleteHorizon) attributes |= attributeBit.deleteHorizon;
  writeInt64(buf, field.baseOffset, input.baseOffset ?? 0);
  buf.writeInt32BE(buf.length - logOverheadBytes, field.batchLength);
  buf.writeInt32BE(input.partitionLeaderEpoch ?? noPartitionLeaderEpoch, field.partitionLeaderEpoch);
  buf.writeInt8(magicV2, field.magic);
  buf.writeInt16BE(attributes, field.attributes);
  buf.writeInt32BE(lastOffsetDelta, field.lastOffsetDelta);
  writeInt64(buf, field.baseTimestamp, baseTimestamp);
  writeInt64(buf, field.maxTimestamp, maxTimestamp);
  writeInt64(buf, field.producerId, input.producerId ?? noProducerId);
  buf.writeInt16BE(input.producerEpoch ?? noProducerEpoch, field.producerEpoch);
  buf.writeInt32BE(input.baseSequence ?? noSequence, field.baseSequence);
  buf.writeInt32BE(records.length, field.recordCount);
  buf.writeUInt32BE(computeBatchCrc(buf, 0, buf.length), field.crc);
  return buf;
}

function fail<T>(errorCode: number, message: string): Decoded<T> {
  return { ok: false, errorCode, message };
}

/** Decodes the one batch at `pos`; it may be followed by more bytes. */
export function decodeBatch(bytes: Buffer, pos = 0, options: DecodeOptions = {}): Decoded<RecordBatch> {
  const check = validateBatch(bytes, pos, {
    messageBytesMax: options.batchBytesMax ?? decodeBatchBytesMaxDefault,
    origin: 'replica',
    skipCrc: options.verifyCrc === false,
  });
  if (!check.ok) return fail(check.errorCode, check.message);
  const header = readBatchHeader(bytes, pos);
  const end = pos + header.sizeBytes;
  try {
    let recordBytes = bytes;
    let start = pos + batchHeaderBytes;
    let stop = end;
    if (header.compression !== Compression.none) {
      const inflated = decompressRecords(header.compression, bytes.subarray(start, end), options.decompressedBytesMax ?? decompressedBytesMaxDefault);
      if (!inflated.ok) return fail(inflated.errorCode, inflated.message);
      recordBytes = inflated.value;
      start = 0;
      stop = recordBytes.length;
    }
    if (header.recordCount * 7 > stop - start) {
      return fail(ErrorCode.CORRUPT_MESSAGE, `record count ${header.recordCount} does not fit in ${stop - start} bytes`);
    }
    const override = header.timestampType === TimestampType.logAppendTime ? header.maxTimestamp : null;
    const records = decodeRecords(recordBytes, start, stop, header.recordCount, header.baseOffset, header.baseTimestamp, override);
    for (const r of records) {
      if (r.offsetDelta < 0 || r.offsetDelta > header.lastOffsetDelta) {
        return fail(ErrorCode.CORRUPT_MESSAGE, `record offset delta ${r.offsetDelta} outside [0, ${header.lastOffsetDelta}]`);
      }
    }
    return { ok: true, value: { header, records } };
  } catch (err) {
    if (err instanceof DecodeFailure) return fail(ErrorCode.CORRUPT_MESSAGE, err.message);
    throw err;
  }
}

/** Decodes every batch in `bytes` (as a fetch returns them: concatenated, whole). */
export function decodeBatches(bytes: Buffer, options: DecodeOptions = {}): Decoded<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const result = decodeBatch(bytes, pos, options);
    if (!result.ok) return result;
    batches.push(result.value);
    pos += result.value.header.sizeBytes;
  }
  return { ok: true, value: batches };
}
