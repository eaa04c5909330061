/**
 * The five codecs of a Kafka batch's records: none, gzip, snappy, lz4, zstd.
 *
 * Owns: `compressRecords(codec, bytes, level)` and
 * `decompressRecords(codec, bytes, decompressedBytesMax)`, the one place
 * codec.ts (and so every decoder of batches: consumer, CLI, compaction,
 * control-batch scans, coordinators) reaches a codec. The framing of each
 * codec is in its own module (snappy.ts, lz4.ts, zstd.ts; gzip is zlib's
 * own), the libraries are loaded by native.ts.
 *
 * Contract of every decompressor:
 *   - it never returns more than `decompressedBytesMax` bytes, and never
 *     allocates for output more than that (lz4: plus at most one block, 4 MiB
 *     at most), so a small compression bomb is refused, not inflated (how
 *     each one knows is in its module comment);
 *   - bad bytes, and output past the limit, are CORRUPT_MESSAGE with a
 *     message that names the codec; a library that did not load is
 *     UNSUPPORTED_COMPRESSION_TYPE; neither is ever a throw out of
 *     `decompressRecords`.
 *
 * The compressors throw KactusError(UNSUPPORTED_COMPRESSION_TYPE) only when
 * the library did not load; the caller (a producer, the cleaner) then fails
 * that batch, not the process.
 *
 * Synchronous on purpose, as gzip always was: batches are compressed in
 * producers, decompressed in consumers and by the broker only for
 * compaction and a time lookup, never on the append path.
 *
 * Imports: node:zlib, the codec packages (lazily, native.ts),
 * protocol/errors.ts, runtime/assert.ts.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { ErrorCode, KactusError } from '../../errors.ts';
import { assert } from '../../../runtime/assert.ts';
import { Compression, type CompressionCodec, compressionNames } from '../header.ts';
import { CodecFailure } from './failure.ts';
import { compressLz4, decompressLz4 } from './lz4.ts';
import { compressSnappy, decompressSnappy } from './snappy.ts';
import { compressZstd, decompressZstd, zstdLevelDefault } from './zstd.ts';

export { CodecFailure } from './failure.ts';

export type Decompressed = { ok: true; value: Buffer } | { ok: false; errorCode: number; message: string };

function gunzipBounded(bytes: Buffer, decompressedBytesMax: number): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: decompressedBytesMax });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new CodecFailure(ErrorCode.CORRUPT_MESSAGE, `gzip: decompresses to over ${decompressedBytesMax} bytes (the limit)`);
    throw new CodecFailure(ErrorCode.CORRUPT_MESSAGE, `gzip: ${(err as Error).message}`);
  }
}

/**
 * `records` (encoded records of a batch) compressed with `codec`. `level`
 * applies to gzip (1-9, default zlib's 6) and zstd (-131072 to 22, default
 * 3); snappy and lz4 take none.
 */
export function compressRecords(codec: CompressionCodec, records: Buffer, level?: number): Buffer {
  assert(level === undefined || codec === Compression.gzip || codec === Compression.zstd, `${compressionNames[codec]} takes no compression level`);
  try {
    switch (codec) {
      case Compression.none:
        return records;
      case Compression.gzip:
        return gzipSync(records, level === undefined ? {} : { level });
      case Compression.snappy:
        return compressSnappy(records);
      case Compression.lz4:
        return compressLz4(records);
      case Compression.zstd:
        return compressZstd(records, level ?? zstdLevelDefault);
    }
  } catch (err) {
    if (err instanceof CodecFailure) throw new KactusError(err.errorCode, err.message);
    throw err;
  }
}

/**
 * Loads `codec`'s library now (a producer does, when it is created, so a
 * missing library fails there and not at its first batch); throws
 * KactusError(UNSUPPORTED_COMPRESSION_TYPE) naming why it cannot.
 */
export function loadCodec(codec: CompressionCodec): void {
  compressRecords(codec, Buffer.alloc(0));
}

/** The records of a batch compressed with codec id `codec` (attribute bits 0-2), decompressed and bounded. */
export function decompressRecords(codec: number, bytes: Buffer, decompressedBytesMax: number): Decompressed {
  try {
    switch (codec) {
      case Compression.none:
        return { ok: true, value: bytes };
      case Compression.gzip:
        return { ok: true, value: gunzipBounded(bytes, decompressedBytesMax) };
      case Compression.snappy:
        return { ok: true, value: decompressSnappy(bytes, decompressedBytesMax) };
      case Compression.lz4:
        return { ok: true, value: decompressLz4(bytes, decompressedBytesMax) };
      case Compression.zstd:
        return { ok: true, value: decompressZstd(bytes, decompressedBytesMax) };
      default:
        return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: `unknown compression codec id ${codec}` };
    }
  } catch (err) {
    if (err instanceof CodecFailure) return { ok: false, errorCode: err.errorCode, message: err.message };
    throw err;
  }
}
