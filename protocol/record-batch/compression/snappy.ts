/**
 * Snappy as Kafka clients frame it: written in xerial framing, read in
 * xerial framing or as one raw snappy block.
 *
 * Owns: `compressSnappy`, `decompressSnappy` and the xerial framing; the
 * raw block format itself is the snappy package's (snappyLibrary()).
 *
 * Layouts:
 *
 *   raw snappy block   varint32 uncompressedLength, then the compressed body
 *                      (the length is little-endian base 128, 1-5 bytes)
 *
 *   xerial framing     bytes 0-7   0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00 (magic)
 *   (snappy-java's     bytes 8-11  int32 BE version (1)
 *   SnappyOutputStream) bytes 12-15 int32 BE minimum compatible version (1)
 *                      then blocks: int32 BE length, a raw snappy block of
 *                      that many bytes; none at all for empty input
 *
 * Why xerial when writing: the Java client writes it (snappy-java's stream,
 * 32 KiB of input per block, which we copy), and old Java consumers read
 * only it. Why both when reading: librdkafka (kcat) writes one raw block and
 * reads both, and so does the Java reader (snappy-java falls back to raw
 * when the magic is absent); a raw block that happened to begin with the
 * 8-byte magic would be misread, by them as by us. The version fields are
 * not checked, as neither librdkafka nor the Java reader checks them.
 *
 * Bound: every raw block states its uncompressed length first, so the total
 * is known before anything is decompressed. Pass 1 walks the framing and
 * adds the stated lengths, refusing past `decompressedBytesMax`; pass 2
 * decompresses into one buffer of exactly that size. The snappy library
 * allocates the stated length and fails if the body does not fill it
 * exactly, so nothing larger than the checked size is ever allocated.
 */
import { ErrorCode } from '../../errors.ts';
import { CodecFailure } from './failure.ts';
import { snappyLibrary } from './native.ts';

const xerialMagic = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
export const xerialHeaderBytes = 16;
/** Input bytes per xerial block: snappy-java's default block size, which the Java client uses. */
export const xerialBlockBytes = 32 * 1024;
/** A varint32 takes at most 5 bytes. */
const preambleBytesMax = 5;

const xerialHeader = (() => {
  const header = Buffer.alloc(xerialHeaderBytes);
  xerialMagic.copy(header, 0);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  return header;
})();

function corrupt(message: string): CodecFailure {
  return new CodecFailure(ErrorCode.CORRUPT_MESSAGE, `snappy: ${message}`);
}

/** `records` in xerial framing, in blocks of xerialBlockBytes of input. */
export function compressSnappy(records: Buffer): Buffer {
  const snappy = snappyLibrary();
  const parts: Buffer[] = [xerialHeader];
  for (let pos = 0; pos < records.length; pos += xerialBlockBytes) {
    const block = snappy.compressSync(records.subarray(pos, pos + xerialBlockBytes));
    const length = Buffer.allocUnsafe(4);
    length.writeInt32BE(block.length, 0);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

/** True when `bytes` begin with the xerial magic. */
export function isXerialFramed(bytes: Buffer): boolean {
  return bytes.length >= xerialMagic.length && bytes.subarray(0, xerialMagic.length).equals(xerialMagic);
}

/** The uncompressed length a raw snappy block states in its preamble. */
export function rawSnappyLength(block: Buffer, where: string): number {
  let length = 0;
  for (let i = 0; i < preambleBytesMax; i++) {
    if (i >= block.length) throw corrupt(`${where}: the length preamble is cut short`);
    const byte = block[i]!;
    length += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) {
      if (length > 0xffff_ffff) throw corrupt(`${where}: the length preamble exceeds 32 bits`);
      return length;
    }
  }
  throw corrupt(`${where}: the length preamble is longer than ${preambleBytesMax} bytes`);
}

function uncompressBlock(block: Buffer, statedBytes: number, where: string): Buffer {
  let out: Buffer;
  try {
    out = snappyLibrary().uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (err) {
    if (err instanceof CodecFailure) throw err;
    throw corrupt(`${where}: ${(err as Error).message}`);
  }
  if (out.length !== statedBytes) throw corrupt(`${where}: decompressed to ${out.length} bytes, its preamble said ${statedBytes}`);
  return out;
}

/** Decompresses xerial-framed or raw snappy; CodecFailure(CORRUPT_MESSAGE) on bad bytes or past `decompressedBytesMax`. */
export function decompressSnappy(bytes: Buffer, decompressedBytesMax: number): Buffer {
  if (!isXerialFramed(bytes)) {
    const stated = rawSnappyLength(bytes, 'raw block');
    if (stated > decompressedBytesMax) throw corrupt(`raw block states ${stated} decompressed bytes, over the ${decompressedBytesMax} allowed`);
    return uncompressBlock(bytes, stated, 'raw block');
  }
  if (bytes.length < xerialHeaderBytes) throw corrupt(`the xerial header is cut short (${bytes.length} of ${xerialHeaderBytes} bytes)`);
  // Pass 1: the framing and the stated lengths; nothing is decompressed yet.
  const blocks: { block: Buffer; statedBytes: number; position: number }[] = [];
  let totalBytes = 0;
  let pos = xerialHeaderBytes;
  while (pos < bytes.length) {
    if (bytes.length - pos < 4) throw corrupt(`the xerial block length at byte ${pos} is cut short`);
    const size = bytes.readInt32BE(pos);
    if (size <= 0 || size > bytes.length - pos - 4) throw corrupt(`the xerial block at byte ${pos} claims ${size} bytes, ${bytes.length - pos - 4} follow`);
    const block = bytes.subarray(pos + 4, pos + 4 + size);
    const statedBytes = rawSnappyLength(block, `xerial block at byte ${pos}`);
    totalBytes += statedBytes;
    if (totalBytes > decompressedBytesMax) throw corrupt(`the xerial blocks state over ${decompressedBytesMax} decompressed bytes (the limit)`);
    blocks.push({ block, statedBytes, position: pos });
    pos += 4 + size;
  }
  // Pass 2: decompress into one buffer of the checked size.
  if (blocks.length === 1) return uncompressBlock(blocks[0]!.block, blocks[0]!.statedBytes, `xerial block at byte ${blocks[0]!.position}`);
  const out = Buffer.allocUnsafe(totalBytes);
  let at = 0;
  for (const { block, statedBytes, position } of blocks) {
    at += uncompressBlock(block, statedBytes, `xerial block at byte ${position}`).copy(out, at);
  }
  return out;
}
