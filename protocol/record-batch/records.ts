/**
 * The records inside a RecordBatch v2: encode and decode of the record list.
 *
 * Owns: `RecordInput`, `DecodedRecord`, `RecordHeader`, `encodeRecords` and
 * `decodeRecords`. The batch header and compression live in header.ts and
 * codec.ts; this module sees only the (uncompressed) record bytes.
 *
 * Record layout (varint = zigzag int32, varlong = zigzag int64):
 *
 *   length          varint   bytes that follow in this record
 *   attributes      int8     unused, 0
 *   timestampDelta  varlong  timestamp - batch baseTimestamp
 *   offsetDelta     varint   offset - batch baseOffset
 *   keyLength       varint   -1 = null key
 *   key             bytes
 *   valueLength     varint   -1 = null value (a tombstone in compacted topics)
 *   value           bytes
 *   headerCount     varint
 *   headers         [headerKeyLength varint, headerKey utf8 (never null),
 *                    headerValueLength varint (-1 = null), headerValue]
 *
 * Decoding checks every length against its enclosing bound and that each
 * record ends exactly where its length says; any mismatch is a DecodeFailure
 * (CORRUPT_MESSAGE at the codec boundary). Decoded keys and values are views
 * into the input buffer, not copies: copy what you keep beyond the buffer.
 */
import { ByteReader, type ByteWriter, DecodeFailure, unsignedVarintSize, varintSize, varlongSize, zigzag32 } from './varint.ts';

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface RecordInput {
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers?: readonly RecordHeader[];
  /** Create time in epoch ms (time is an input; the encoder never reads a clock). */
  timestamp: number;
  /**
   * Offset relative to the batch's base offset. Defaults to the record's
   * index; the compaction cleaner passes the original deltas, which leave gaps.
   */
  offsetDelta?: number;
}

export interface DecodedRecord {
  offset: number;
  offsetDelta: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

const emptyHeaders: readonly RecordHeader[] = [];

/** Appends the encoded records to `w`. Deltas are relative to `baseTimestamp` and the record index (or `offsetDelta`). */
export function encodeRecords(w: ByteWriter, records: readonly RecordInput[], baseTimestamp: number): void {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const headers = r.headers ?? emptyHeaders;
    const timestampDelta = r.timestamp - baseTimestamp;
    const offsetDelta = r.offsetDelta ?? i;
    const headerKeys = headers.length === 0 ? undefined : headers.map((h) => Buffer.from(h.key, 'utf8'));
    let bodyBytes = 1 + varlongSize(timestampDelta) + varintSize(offsetDelta);
    bodyBytes += r.key === null ? 1 : varintSize(r.key.length) + r.key.length;
    bodyBytes += r.value === null ? 1 : varintSize(r.value.length) + r.value.length;
    bodyBytes += varintSize(headers.length);
    for (let h = 0; h < headers.length; h++) {
      const keyBytes = headerKeys![h]!;
      const value = headers[h]!.value;
      bodyBytes += varintSize(keyBytes.length) + keyBytes.length;
      bodyBytes += value === null ? 1 : varintSize(value.length) + value.length;
    }
    w.ensure(unsignedVarintSize(zigzag32(bodyBytes)) + bodyBytes);
    const start = w.pos;
    w.varint(bodyBytes);
    const bodyStart = w.pos;
    w.int8(0);
    w.varlong(timestampDelta);
    w.varint(offsetDelta);
    if (r.key === null) w.varint(-1);
    else {
      w.varint(r.key.length);
      w.bytes(r.key);
    }
    if (r.value === null) w.varint(-1);
    else {
      w.varint(r.value.length);
      w.bytes(r.value);
    }
    w.varint(headers.length);
    for (let h = 0; h < headers.length; h++) {
      const keyBytes = headerKeys![h]!;
      const value = headers[h]!.value;
      w.varint(keyBytes.length);
      w.bytes(keyBytes);
      if (value === null) w.varint(-1);
      else {
        w.varint(value.length);
        w.bytes(value);
      }
    }
    if (w.pos - bodyStart !== bodyBytes) throw new Error(`record size mismatch at ${start}`);
  }
}

function nullableBytes(r: ByteReader, what: string): Buffer | null {
  const length = r.varint();
  if (length === -1) return null;
  if (length < -1) throw new DecodeFailure(`negative ${what} length ${length}`);
  return r.bytes(length);
}

/**
 * Decodes exactly `recordCount` records from `buf[start, end)`. With
 * `timestampOverride` (LogAppendTime batches) every record takes that
 * timestamp, as Kafka consumers do.
 */
export function decodeRecords(
  buf: Buffer,
  start: number,
  end: number,
  recordCount: number,
  baseOffset: number,
  baseTimestamp: number,
  timestampOverride: number | null,
): DecodedRecord[] {
  const r = new ByteReader(buf, start, end);
  const records: DecodedRecord[] = [];
  for (let i = 0; i < recordCount; i++) {
    const length = r.varint();
    if (length < 0) throw new DecodeFailure(`negative record length ${length}`);
    if (length > r.remaining()) throw new DecodeFailure(`record length ${length} exceeds the ${r.remaining()} bytes left`);
    const recordEnd = r.pos + length;
    const body = new ByteReader(buf, r.pos, recordEnd);
    body.int8(); // attributes: unused
    const timestampDelta = body.varlong();
    const offsetDelta = body.varint();
    const key = nullableBytes(body, 'key');
    const value = nullableBytes(body, 'value');
    const headerCount = body.varint();
    if (headerCount < 0) throw new DecodeFailure(`negative header count ${headerCount}`);
    if (headerCount > body.remaining()) throw new DecodeFailure(`header count ${headerCount} exceeds the bytes left`);
    const headers: RecordHeader[] = [];
    for (let h = 0; h < headerCount; h++) {
      const keyLength = body.varint();
      if (keyLength < 0) throw new DecodeFailure('null or negative header key length');
      const headerKey = body.bytes(keyLength).toString('utf8');
      headers.push({ key: headerKey, value: nullableBytes(body, 'header value') });
    }
    if (body.pos !== recordEnd) throw new DecodeFailure(`record ends at ${body.pos}, its length says ${recordEnd}`);
    r.pos = recordEnd;
    const timestamp = timestampOverride ?? baseTimestamp + timestampDelta;
    if (!Number.isSafeInteger(timestamp)) throw new DecodeFailure('record timestamp outside the safe integer range');
    records.push({ offset: baseOffset + offsetDelta, offsetDelta, timestamp, key, value, headers });
  }
  if (r.pos !== end) throw new DecodeFailure(`${end - r.pos} bytes left after ${recordCount} records`);
  return records;
}
