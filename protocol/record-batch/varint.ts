/**
 * Zigzag varints (protobuf style, as Kafka's ByteUtils) and a bounds-checked
 * reader / growable writer for record bodies.
 *
 * Owns: `ByteWriter` (append-only, doubles its buffer when full) and
 * `ByteReader` (every read checks bounds and throws `DecodeFailure`, which the
 * codec turns into a CORRUPT_MESSAGE result: random or truncated bytes never
 * escape as a RangeError).
 *
 * varint = zigzag int32 in 1-5 bytes; varlong = zigzag int64 in 1-10 bytes.
 * Varlongs are decoded into `number` with plain arithmetic (no 32-bit bit ops)
 * and refused when outside the safe-integer range; timestamp deltas and
 * offsets never get near 2^53.
 */

/** Thrown by ByteReader on bad input; caught at the codec boundary. */
export class DecodeFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeFailure';
  }
}

export function zigzag32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

/** Bytes of the unsigned varint encoding of `u` (0 <= u < 2^53). */
export function unsignedVarintSize(u: number): number {
  let size = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

export function varintSize(n: number): number {
  return unsignedVarintSize(zigzag32(n));
}

export function zigzag64(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

export function varlongSize(n: number): number {
  return unsignedVarintSize(zigzag64(n));
}

export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  ensure(extraBytes: number): void {
    if (this.pos + extraBytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extraBytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
  }

  unsignedVarint(u: number): void {
    this.ensure(10);
    while (u >= 0x80) {
      this.buf[this.pos++] = (u % 128) | 0x80;
      u = Math.floor(u / 128);
    }
    this.buf[this.pos++] = u;
  }

  varint(n: number): void {
    this.unsignedVarint(zigzag32(n));
  }

  varlong(n: number): void {
    this.unsignedVarint(zigzag64(n));
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** The written bytes (a view, not a copy). */
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class ByteReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  int8(): number {
    if (this.pos + 1 > this.end) throw new DecodeFailure('truncated int8');
    return this.buf.readInt8(this.pos++);
  }

  int16(): number {
    if (this.pos + 2 > this.end) throw new DecodeFailure('truncated int16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    if (this.pos + 4 > this.end) throw new DecodeFailure('truncated int32');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  unsignedVarint(maxBytes: number): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < maxBytes; i++) {
      if (this.pos >= this.end) throw new DecodeFailure('truncated varint');
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new DecodeFailure('varint outside the safe integer range');
        return value;
      }
      scale *= 128;
    }
    throw new DecodeFailure(`varint longer than ${maxBytes} bytes`);
  }

  varint(): number {
    const u = this.unsignedVarint(5);
    if (u > 0xffffffff) throw new DecodeFailure('varint exceeds 32 bits');
    return (u >>> 1) ^ -(u & 1);
  }

  varlong(): number {
    const u = this.unsignedVarint(10);
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  /** A view of the next `length` bytes. */
  bytes(length: number): Buffer {
    if (length < 0 || this.pos + length > this.end) throw new DecodeFailure(`truncated bytes field of ${length}`);
    const view = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }
}
