/**
 * LZ4 as Kafka uses it: the LZ4 frame format (KIP-57), written by the
 * lz4-napi package (lz4_flex), read only after the frame's structure has
 * been walked and bounded here.
 *
 * Owns: `compressLz4`, `decompressLz4` and `lz4FrameBound` (the walk).
 *
 * Frame layout (little-endian, the LZ4 frame spec):
 *
 *   magic         4  0x184D2204 (0x184D2A50-5F: a skippable frame, then its
 *                    4-byte size and that many bytes)
 *   FLG           1  bits 7-6 version (01), 5 block independence, 4 block
 *                    checksum, 3 content size present, 2 content checksum,
 *                    1 reserved (0), 0 dictionary id present
 *   BD            1  bits 6-4 block max size: 4 = 64 KiB, 5 = 256 KiB,
 *                    6 = 1 MiB, 7 = 4 MiB; the other bits reserved (0)
 *   content size  8  if FLG bit 3: the uncompressed size
 *   dict id       4  if FLG bit 0
 *   HC            1  header checksum
 *   blocks           4-byte size (high bit set: stored uncompressed), the
 *                    data, a 4-byte checksum if FLG bit 4; size 0 ends them
 *   checksum      4  if FLG bit 2
 *
 * Writing: lz4_flex's frame encoder (independent blocks, no checksums, block
 * size by input size), which Kafka's Java reader, librdkafka and KafkaJS's
 * lz4 codec read. Magic v0/v1's broken header checksum (pre-KIP-57 Kafka)
 * never arises for v2 batches.
 *
 * Bound: the frame format states no decompressed size that can be trusted
 * (the content size is optional and only a claim), so before calling the
 * decoder the walk adds, per block, what it can at most decompress to: its
 * own size if stored, else the smaller of the frame's block max size and
 * 255 times its size (an LZ4 sequence costs at least one input byte per 255
 * output bytes: a match length grows by at most 255 per extension byte).
 * The decoder refuses a block that decompresses past the block max size
 * (lz4_flex: OutputTooSmall), so the sum bounds what it can write. An
 * encoder fills every block but the last, so the sum exceeds the true size
 * by less than one block max size; the frames are refused unread when it
 * passes `decompressedBytesMax` plus the largest block max size (4 MiB at
 * most: the most the decoder may allocate past the limit, briefly), and
 * refused after decoding when the true size passes the limit. So a frame
 * within the limit is refused only if it is cut into many small blocks,
 * which no Kafka client does (each compresses a batch in one go). A stated
 * content size over the limit is refused at once.
 * The walk is strict where lz4_flex is lenient: a frame must end with its
 * end mark, and bytes after a frame must be another frame (librdkafka reads
 * concatenated frames; lz4_flex alone would ignore all but the first, so
 * each frame is decoded on its own).
 */
import { ErrorCode } from '../../errors.ts';
import { CodecFailure } from './failure.ts';
import { lz4Library } from './native.ts';

const frameMagic = 0x184d2204;
const skippableMagicMask = 0xfffffff0;
const skippableMagic = 0x184d2a50;
const blockMaxBytesById: Readonly<Record<number, number>> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };
/** An LZ4 sequence writes at most 255 bytes per byte it takes (see the module comment). */
const expansionMax = 255;

const flg = { versionShift: 6, blockChecksum: 0x10, contentSize: 0x08, contentChecksum: 0x04, reserved: 0x02, dictionaryId: 0x01 } as const;
const bdReservedMask = 0x8f;

function corrupt(message: string): CodecFailure {
  return new CodecFailure(ErrorCode.CORRUPT_MESSAGE, `lz4: ${message}`);
}

export function compressLz4(records: Buffer): Buffer {
  return lz4Library().compressFrameSync(records);
}

export type Lz4Frame = { start: number; end: number; contentBytes: number | null };

/**
 * Walks every frame in `bytes` without decompressing: the data frames' spans
 * and the most they can decompress to. Throws CodecFailure(CORRUPT_MESSAGE)
 * on a malformed structure, a stated content size over the limit, or a
 * bound over `decompressedBytesMax` plus the largest block max size.
 */
export function lz4FrameBound(bytes: Buffer, decompressedBytesMax: number): { frames: Lz4Frame[]; boundBytes: number } {
  const need = (pos: number, count: number, what: string): void => {
    if (bytes.length - pos < count) throw corrupt(`${what} at byte ${pos} is cut short`);
  };
  const frames: Lz4Frame[] = [];
  let boundBytes = 0;
  let slackBytes = 0;
  let pos = 0;
  if (bytes.length === 0) throw corrupt('no frame');
  while (pos < bytes.length) {
    need(pos, 4, 'the frame magic');
    const magic = bytes.readUInt32LE(pos);
    if (((magic & skippableMagicMask) >>> 0) === skippableMagic) {
      need(pos + 4, 4, 'the skippable frame size');
      const size = bytes.readUInt32LE(pos + 4);
      need(pos + 8, size, 'the skippable frame');
      pos += 8 + size;
      continue;
    }
    if (magic !== frameMagic) throw corrupt(`bad frame magic 0x${magic.toString(16)} at byte ${pos}`);
    const start = pos;
    need(pos + 4, 3, 'the frame descriptor');
    const flags = bytes[pos + 4]!;
    const bd = bytes[pos + 5]!;
    if (flags >> flg.versionShift !== 1) throw corrupt(`frame version ${flags >> flg.versionShift} at byte ${pos}, expected 1`);
    if ((flags & flg.reserved) !== 0 || (bd & bdReservedMask) !== 0) throw corrupt(`reserved descriptor bits set at byte ${pos}`);
    const blockMaxBytes = blockMaxBytesById[(bd >> 4) & 0x07];
    if (blockMaxBytes === undefined) throw corrupt(`block max size id ${(bd >> 4) & 0x07} at byte ${pos}`);
    slackBytes = Math.max(slackBytes, blockMaxBytes);
    pos += 6;
    let contentBytes: number | null = null;
    if ((flags & flg.contentSize) !== 0) {
      need(pos, 8, 'the content size');
      const stated = bytes.readBigUInt64LE(pos);
      if (stated > BigInt(decompressedBytesMax)) throw corrupt(`a frame states ${stated} decompressed bytes, over the ${decompressedBytesMax} allowed`);
      contentBytes = Number(stated);
      pos += 8;
    }
    if ((flags & flg.dictionaryId) !== 0) pos += 4;
    need(pos, 1, 'the header checksum');
    pos += 1;
    const blockChecksumBytes = (flags & flg.blockChecksum) !== 0 ? 4 : 0;
    for (;;) {
      need(pos, 4, 'a block size (or the end mark)');
      const word = bytes.readUInt32LE(pos);
      pos += 4;
      if (word === 0) break;
      const size = word & 0x7fff_ffff;
      const stored = word >>> 31 === 1;
      if (size > blockMaxBytes) throw corrupt(`a block of ${size} bytes at byte ${pos - 4}, over the frame's ${blockMaxBytes}`);
      need(pos, size + blockChecksumBytes, 'a block');
      pos += size + blockChecksumBytes;
      boundBytes += stored ? size : Math.min(blockMaxBytes, expansionMax * size);
      if (boundBytes > decompressedBytesMax + slackBytes) throw corrupt(`the blocks can decompress to ${boundBytes} bytes, over the ${decompressedBytesMax} allowed`);
    }
    if ((flags & flg.contentChecksum) !== 0) {
      need(pos, 4, 'the content checksum');
      pos += 4;
    }
    frames.push({ start, end: pos, contentBytes });
  }
  return { frames, boundBytes };
}

/** Decompresses LZ4 frames; CodecFailure(CORRUPT_MESSAGE) on bad bytes or past `decompressedBytesMax`. */
export function decompressLz4(bytes: Buffer, decompressedBytesMax: number): Buffer {
  const { frames } = lz4FrameBound(bytes, decompressedBytesMax);
  const lz4 = lz4Library();
  const outputs: Buffer[] = [];
  let totalBytes = 0;
  for (const frame of frames) {
    let out: Buffer;
    try {
      out = lz4.decompressFrameSync(bytes.subarray(frame.start, frame.end));
    } catch (err) {
      throw corrupt(`the frame at byte ${frame.start}: ${(err as Error).message}`);
    }
    if (frame.contentBytes !== null && out.length !== frame.contentBytes) {
      throw corrupt(`the frame at byte ${frame.start} decompressed to ${out.length} bytes, it states ${frame.contentBytes}`);
    }
    totalBytes += out.length;
    outputs.push(out);
  }
  // The walk allowed up to one block max size of slack; the true size must be within the limit.
  if (totalBytes > decompressedBytesMax) throw corrupt(`decompressed to ${totalBytes} bytes, over the ${decompressedBytesMax} allowed`);
  return outputs.length === 1 ? outputs[0]! : Buffer.concat(outputs, totalBytes);
}
