/**
 * zstd for Kafka batches (KIP-110): plain zstd frames, one per batch when we
 * write, any number when we read.
 *
 * Owns: `compressZstd`, `decompressZstd`, and the same two against a given
 * library (`compressZstdWith`, `decompressZstdWith`, so tests run each one
 * this Node has). The library is Node's zlib where it has zstd (22.15+),
 * else the zstd-napi package (native/ts).
 *
 * Level: 3 unless told, Kafka's default compression.zstd.level (and zstd's).
 * Both libraries write the content size into the frame header (one-shot
 * compression knows it).
 *
 * Bound, two limits:
 *   output: at most `decompressedBytesMax` bytes. With zstd-napi, every
 *     frame header is read first (the content size, when stated, and the
 *     frame's length); if every frame states its size (our frames,
 *     librdkafka's, KafkaJS's), a stated total over the limit is refused
 *     unread and the rest is decoded in one call into a buffer of exactly
 *     that size, which the decoder cannot overrun (a frame that lies about
 *     its size fails). If any frame does not state it (the Java client
 *     streams its frames), the frames are decoded as a stream into chunks,
 *     and decoding stops as soon as the output passes the limit. With zlib,
 *     its maxOutputLength does the same.
 *   window: a streamed frame makes the decoder allocate the window size its
 *     header asks for (up to 128 MiB by zstd's default limit), whatever the
 *     frame's real size. windowLogMax caps it at the decompressed limit
 *     rounded up to a power of two, at least 8 MiB (2^23: the window of every
 *     level up to 19, so every ordinary producer's frame passes) and at most
 *     zstd's default 2^27. A frame asking for more is refused: with the
 *     64 MiB default, only streams of level 22 (a 128 MiB window).
 * Either failure is CORRUPT_MESSAGE naming zstd.
 */
import { ErrorCode } from '../../errors.ts';
import { assert, AssertionError } from '../../../runtime/assert.ts';
import { CodecFailure } from './failure.ts';
import { type ZlibZstdLibrary, type ZstdLibrary, type ZstdNapiLibrary, zstdLibrary } from './native.ts';

/** Kafka's default compression.zstd.level. */
export const zstdLevelDefault = 3;
/** Kafka's range for compression.zstd.level (zstd's negative "fast" levels to its maximum). */
export const zstdLevelMin = -131_072;
export const zstdLevelMax = 22;
const windowLogFloor = 23;
/** ZSTD_WINDOWLOG_LIMIT_DEFAULT: what a zstd decoder accepts unless told otherwise. */
const windowLogCeiling = 27;

function corrupt(message: string): CodecFailure {
  return new CodecFailure(ErrorCode.CORRUPT_MESSAGE, `zstd: ${message}`);
}

/** The largest window (as a power of two) a frame may ask for when the output is bounded by `decompressedBytesMax`. */
export function windowLogMaxFor(decompressedBytesMax: number): number {
  const needed = Math.ceil(Math.log2(Math.max(1, decompressedBytesMax)));
  return Math.min(windowLogCeiling, Math.max(windowLogFloor, needed));
}

export function compressZstd(records: Buffer, level = zstdLevelDefault): Buffer {
  return compressZstdWith(zstdLibrary(), records, level);
}

export function decompressZstd(bytes: Buffer, decompressedBytesMax: number): Buffer {
  return decompressZstdWith(zstdLibrary(), bytes, decompressedBytesMax);
}

// One compressor and one decompression context, reused: a zstd context is
// costly to create, and encoding and decoding here are synchronous, so one
// of each is never used by two calls at once.
let napiCompressor: { compressor: InstanceType<ZstdNapiLibrary['Compressor']>; level: number } | undefined;
let napiDecoder: { dctx: InstanceType<ZstdNapiLibrary['DCtx']>; windowLogMax: number } | undefined;

export function compressZstdWith(library: ZstdLibrary, records: Buffer, level = zstdLevelDefault): Buffer {
  assert(Number.isInteger(level) && level >= zstdLevelMin && level <= zstdLevelMax, `zstd level ${level} outside [${zstdLevelMin}, ${zstdLevelMax}]`);
  if (library.kind === 'zlib') return library.zstdCompressSync(records, { params: { [library.ZSTD_c_compressionLevel]: level } });
  if (napiCompressor === undefined) napiCompressor = { compressor: new library.Compressor(), level: Number.NaN };
  if (napiCompressor.level !== level) {
    napiCompressor.compressor.setParameters({ compressionLevel: level });
    napiCompressor.level = level;
  }
  return napiCompressor.compressor.compress(records);
}

/** Decompresses zstd frames; CodecFailure(CORRUPT_MESSAGE) on bad bytes, past `decompressedBytesMax`, or a window over the cap. */
export function decompressZstdWith(library: ZstdLibrary, bytes: Buffer, decompressedBytesMax: number): Buffer {
  if (bytes.length === 0) throw corrupt('no frame');
  return library.kind === 'zlib' ? decompressWithZlib(library, bytes, decompressedBytesMax) : decompressWithNapi(library, bytes, decompressedBytesMax);
}

function decompressWithZlib(library: ZlibZstdLibrary, bytes: Buffer, decompressedBytesMax: number): Buffer {
  try {
    return library.zstdDecompressSync(bytes, { maxOutputLength: decompressedBytesMax, params: { [library.ZSTD_d_windowLogMax]: windowLogMaxFor(decompressedBytesMax) } });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw corrupt(`decompresses to over ${decompressedBytesMax} bytes (the limit)`);
    throw corrupt((err as Error).message);
  }
}

function decompressWithNapi(library: ZstdNapiLibrary, bytes: Buffer, decompressedBytesMax: number): Buffer {
  // The frame headers first: each frame's length, and its content size where stated.
  let statedBytes = 0;
  let allStated = true;
  for (let pos = 0; pos < bytes.length; ) {
    const rest = bytes.subarray(pos);
    let contentBytes: number | null;
    let frameBytes: number;
    try {
      contentBytes = library.getFrameContentSize(rest);
      frameBytes = library.findFrameCompressedSize(rest);
    } catch (err) {
      throw corrupt(`the frame at byte ${pos}: ${(err as Error).message}`);
    }
    if (contentBytes === null) allStated = false;
    else statedBytes += contentBytes;
    if (statedBytes > decompressedBytesMax) throw corrupt(`the frames state over ${decompressedBytesMax} decompressed bytes (the limit)`);
    assert(frameBytes > 0, 'zstd: findFrameCompressedSize returned 0 for a frame it parsed');
    pos += frameBytes;
  }
  const windowLogMax = windowLogMaxFor(decompressedBytesMax);
  if (napiDecoder === undefined) napiDecoder = { dctx: new library.DCtx(), windowLogMax: Number.NaN };
  const decoder = napiDecoder;
  try {
    // A previous call may have failed mid-frame: start from a clean session, parameters kept.
    decoder.dctx.reset(library.ResetDirective.sessionOnly);
    if (decoder.windowLogMax !== windowLogMax) {
      decoder.dctx.setParameter(library.DParameter.windowLogMax, windowLogMax);
      decoder.windowLogMax = windowLogMax;
    }
    if (allStated) {
      const out = Buffer.allocUnsafe(statedBytes);
      const written = decoder.dctx.decompress(out, bytes);
      if (written !== statedBytes) throw corrupt(`decompressed to ${written} bytes, the frames state ${statedBytes}`);
      return out;
    }
    return streamWithNapi(library, decoder.dctx, bytes, decompressedBytesMax);
  } catch (err) {
    if (err instanceof CodecFailure || err instanceof AssertionError) throw err;
    throw corrupt((err as Error).message);
  }
}

/** Streams `bytes` through `dctx` into chunks, stopping as soon as the output passes `decompressedBytesMax`. */
function streamWithNapi(library: ZstdNapiLibrary, dctx: InstanceType<ZstdNapiLibrary['DCtx']>, bytes: Buffer, decompressedBytesMax: number): Buffer {
  const chunkBytesMax = library.dStreamOutSize();
  const chunks: Buffer[] = [];
  let outBytes = 0;
  let input = bytes;
  let frameOpen = false;
  // Each round consumes input or fills output (a round that does neither ends it), and the output is
  // bounded, so this ends; the loop bound is a second guard.
  const roundsMax = bytes.length + Math.ceil(decompressedBytesMax / chunkBytesMax) + 2;
  for (let round = 0; input.length > 0 || frameOpen; round++) {
    assert(round < roundsMax, 'zstd: the stream decoder made no progress');
    // One byte over the limit is room enough to see that the output passes it.
    const room = Math.max(1, Math.min(chunkBytesMax, decompressedBytesMax - outBytes + 1));
    const chunk = Buffer.allocUnsafe(room);
    const [toFlush, written, consumed] = dctx.decompressStream(chunk, input);
    input = input.subarray(consumed);
    outBytes += written;
    if (outBytes > decompressedBytesMax) throw corrupt(`decompresses to over ${decompressedBytesMax} bytes (the limit)`);
    if (written > 0) chunks.push(chunk.subarray(0, written));
    frameOpen = toFlush !== 0;
    if (written === 0 && consumed === 0) throw corrupt(input.length === 0 ? 'the last frame is cut short' : 'the stream decoder stopped');
    if (input.length === 0 && frameOpen && written < room) throw corrupt('the last frame is cut short');
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, outBytes);
}
