/**
 * Kafka's binary protocol, schema-driven: one reader and one writer for every
 * API and version, interpreting the message definitions in
 * schemas.generated.ts (Kafka's JSON, normalized). Nothing here is written
 * per API.
 *
 * Owns: `codecFor(schema, version)` (compiled once per message and version,
 * then cached), `decodeMessage`, `encodeMessage`, `KafkaDecodeError`, and the
 * primitive `KafkaReader` / `KafkaWriter` (also used for frame headers).
 *
 * Encoding rules (Kafka's protocol guide):
 * - Fixed-width big-endian ints; int64 decodes to a JS number (exact up to
 *   2^53, which offsets, ids and timestamps stay under).
 * - Non-flexible versions: string = int16 length (-1 null), bytes and records
 *   = int32 length (-1 null), array = int32 count (-1 null).
 * - Flexible versions: compact forms, an unsigned varint of length + 1 (0 =
 *   null), and every struct ends with tagged fields: a count, then for each
 *   (tag, size, value) in increasing tag order. Unknown tags are skipped.
 * - A field absent in a version decodes as its default and is not written.
 *   A nullable struct is preceded by an int8 presence byte (-1 null, 1 present).
 *
 * Decoded values are plain objects keyed by the camelCase field names;
 * `bytes` and `records` are Buffer views into the frame (zero copy: a batch
 * stays the opaque Buffer it arrived as). uuid is the 8-4-4-4-12 hex string.
 *
 * Untrusted input: every read checks the bytes left, so a malformed or
 * truncated frame is a `KafkaDecodeError` naming the field, never a crash or
 * a huge allocation (a count can never exceed the bytes left: each element
 * takes at least one byte). Encoding trusts its input (our own replies) and
 * throws on a value that cannot be encoded: that is our bug.
 */
import type { FieldSchema, MessageSchema } from './schema-types.ts';

export class KafkaDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KafkaDecodeError';
  }
}

export const zeroUuid = '00000000-0000-0000-0000-000000000000';

// ---------------------------------------------------------------- reader

export class KafkaReader {
  offset: number;
  readonly end: number;

  constructor(readonly buffer: Buffer, offset = 0, end = buffer.length) {
    this.offset = offset;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.offset;
  }

  private need(bytes: number, what: string): number {
    if (bytes > this.end - this.offset) throw new KafkaDecodeError(`${what}: needs ${bytes} bytes, ${this.end - this.offset} left`);
    const at = this.offset;
    this.offset += bytes;
    return at;
  }

  int8(what: string): number {
    return this.buffer.readInt8(this.need(1, what));
  }
  int16(what: string): number {
    return this.buffer.readInt16BE(this.need(2, what));
  }
  uint16(what: string): number {
    return this.buffer.readUInt16BE(this.need(2, what));
  }
  int32(what: string): number {
    return this.buffer.readInt32BE(this.need(4, what));
  }
  uint32(what: string): number {
    return this.buffer.readUInt32BE(this.need(4, what));
  }
  int64(what: string): number {
    return Number(this.buffer.readBigInt64BE(this.need(8, what)));
  }
  float64(what: string): number {
    return this.buffer.readDoubleBE(this.need(8, what));
  }

  /** Unsigned varint of at most 5 bytes (a 32-bit value), as compact lengths and tags are. */
  uvarint(what: string): number {
    let value = 0;
    for (let shift = 0; shift <= 28; shift += 7) {
      const byte = this.buffer.readUInt8(this.need(1, what));
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    throw new KafkaDecodeError(`${what}: varint longer than 5 bytes`);
  }

  bytes(length: number, what: string): Buffer {
    const at = this.need(length, what);
    return this.buffer.subarray(at, at + length);
  }

  uuid(what: string): string {
    const hex = this.buffer.toString('hex', this.need(16, what), this.offset);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** A length that must fit in the bytes left (each counted item takes at least one byte). */
  count(raw: number, what: string): number {
    if (raw > this.end - this.offset) throw new KafkaDecodeError(`${what}: ${raw} items claimed, ${this.end - this.offset} bytes left`);
    return raw;
  }
}

// ---------------------------------------------------------------- writer

export class KafkaWriter {
  private buffer: Buffer;
  length = 0;

  constructor(initialBytes = 256) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  private room(bytes: number): number {
    if (this.length + bytes > this.buffer.length) {
      let size = this.buffer.length * 2;
      while (size < this.length + bytes) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    const at = this.length;
    this.length += bytes;
    return at;
  }

  int8(value: number): void {
    const at = this.room(1);
    this.buffer.writeInt8(value, at);
  }
  int16(value: number): void {
    const at = this.room(2);
    this.buffer.writeInt16BE(value, at);
  }
  uint16(value: number): void {
    const at = this.room(2);
    this.buffer.writeUInt16BE(value, at);
  }
  int32(value: number): void {
    const at = this.room(4);
    this.buffer.writeInt32BE(value, at);
  }
  uint32(value: number): void {
    const at = this.room(4);
    this.buffer.writeUInt32BE(value, at);
  }
  int64(value: number): void {
    if (!Number.isInteger(value)) throw new TypeError(`int64: ${value} is not an integer`);
    const at = this.room(8);
    this.buffer.writeBigInt64BE(BigInt(value), at);
  }
  float64(value: number): void {
    const at = this.room(8);
    this.buffer.writeDoubleBE(value, at);
  }
  uvarint(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new TypeError(`uvarint: ${value} out of range`);
    let rest = value;
    while (rest >= 0x80) {
      const at = this.room(1);
    this.buffer.writeUInt8((rest % 0x80) | 0x80, at);
      rest = Math.floor(rest / 0x80);
    }
    const at = this.room(1);
    this.buffer.writeUInt8(rest, at);
  }
  raw(bytes: Uint8Array): void {
    const at = this.room(bytes.length);
    this.buffer.set(bytes, at);
  }
  uuid(value: string): void {
    const hex = value.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`uuid: ${JSON.stringify(value)} is not a uuid`);
    const at = this.room(16);
    this.buffer.write(hex, at, 'hex');
  }
  // Every write takes its offset from room() first: room() may replace this.buffer, and
  // `this.buffer.write(v, this.room(n))` would write into the old one.

  /** Reserves an int32 to fill in later (a frame's size prefix). */
  reserveInt32(): number {
    return this.room(4);
  }
  patchInt32(at: number, value: number): void {
    this.buffer.writeInt32BE(value, at);
  }

  /** The bytes written, as a view (valid until the writer writes again). */
  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

// ---------------------------------------------------------------- compiled codecs

export type KafkaValue = Record<string, unknown>;

export type Codec = {
  read(reader: KafkaReader): KafkaValue;
  write(writer: KafkaWriter, value: KafkaValue): void;
};

const inRange = (range: readonly [number, number] | null, version: number): boolean => range !== null && version >= range[0] && version <= range[1];

type ValueCodec = {
  read(reader: KafkaReader, what: string): unknown;
  write(writer: KafkaWriter, value: unknown, what: string): void;
  /** The value a field has when it is absent from the version (or not sent as a tagged field). */
  defaultValue(): unknown;
  /** Whether `value` equals the default (a tagged field at its default is not written). */
  isDefault(value: unknown): boolean;
};

const cache = new Map<MessageSchema, Map<number, Codec>>();

/** The codec of `schema` at `version` (compiled on first use). Throws for a version outside the schema's range. */
export function codecFor(schema: MessageSchema, version: number): Codec {
  let byVersion = cache.get(schema);
  if (byVersion === undefined) {
    byVersion = new Map();
    cache.set(schema, byVersion);
  }
  let codec = byVersion.get(version);
  if (codec === undefined) {
    if (!inRange(schema.versions, version)) throw new RangeError(`${schema.name} has no version ${version} (${schema.versions[0]}-${schema.versions[1]})`);
    const flexible = inRange(schema.flexible, version);
    const struct = structCodec(schema.fields, version, flexible, schema.name);
    codec = { read: (reader) => struct.read(reader, schema.name) as KafkaValue, write: (writer, value) => struct.write(writer, value, schema.name) };
    byVersion.set(version, codec);
  }
  return codec;
}

export function decodeMessage(schema: MessageSchema, version: number, reader: KafkaReader): KafkaValue {
  return codecFor(schema, version).read(reader);
}

export function encodeMessage(schema: MessageSchema, version: number, value: KafkaValue, writer = new KafkaWriter()): KafkaWriter {
  codecFor(schema, version).write(writer, value);
  return writer;
}

function structCodec(fields: readonly FieldSchema[], version: number, flexible: boolean, where: string): ValueCodec {
  const present = fields.filter((f) => inRange(f.versions, version));
  const absent = fields.filter((f) => !inRange(f.versions, version));
  const regular = present.filter((f) => !(flexible && inRange(f.tagged, version)));
  const tagged = present.filter((f) => flexible && inRange(f.tagged, version)).sort((a, b) => (a.tag ?? 0) - (b.tag ?? 0));
  const codecs = new Map<FieldSchema, ValueCodec>();
  for (const field of [...present, ...absent]) codecs.set(field, fieldCodec(field, version, flexible, `${where}.${field.name}`));
  const regularCodecs = regular.map((f) => [f.name, codecs.get(f)!] as const);
  const taggedByTag = new Map(tagged.map((f) => [f.tag!, [f.name, codecs.get(f)!] as const]));
  const taggedCodecs = tagged.map((f) => [f.tag!, f.name, codecs.get(f)!] as const);
  const defaults = [...absent, ...tagged].map((f) => [f.name, codecs.get(f)!] as const);
  const makeDefault = (): KafkaValue => {
    const value: KafkaValue = {};
    for (const field of fields) value[field.name] = codecs.get(field)!.defaultValue();
    return value;
  };
  return {
    read(reader, what) {
      const value: KafkaValue = {};
      for (const [name, codec] of defaults) value[name] = codec.defaultValue();
      for (const [name, codec] of regularCodecs) value[name] = codec.read(reader, `${what}.${name}`);
      if (flexible) {
        const count = reader.count(reader.uvarint(`${what} tagged field count`), `${what} tagged fields`);
        let lastTag = -1;
        for (let i = 0; i < count; i += 1) {
          const tag = reader.uvarint(`${what} tag`);
          if (tag <= lastTag) throw new KafkaDecodeError(`${what}: tagged fields out of order (${tag} after ${lastTag})`);
          lastTag = tag;
          const size = reader.uvarint(`${what} tag ${tag} size`);
          const known = taggedByTag.get(tag);
          const body = reader.bytes(size, `${what} tag ${tag}`);
          if (known === undefined) continue;
          const inner = new KafkaReader(body);
          value[known[0]] = known[1].read(inner, `${what}.${known[0]}`);
          if (inner.remaining() !== 0) throw new KafkaDecodeError(`${what}.${known[0]}: ${inner.remaining()} bytes left over in tagged field ${tag}`);
        }
      }
      return value;
    },
    write(writer, raw, what) {
      const value = (raw ?? {}) as KafkaValue;
      for (const [name, codec] of regularCodecs) {
        const field = value[name];
        codec.write(writer, field === undefined ? codec.defaultValue() : field, `${what}.${name}`);
      }
      if (!flexible) return;
      const toWrite = taggedCodecs.filter(([, name, codec]) => value[name] !== undefined && !codec.isDefault(value[name]));
      writer.uvarint(toWrite.length);
      for (const [tag, name, codec] of toWrite) {
        const inner = new KafkaWriter(64);
        codec.write(inner, value[name], `${what}.${name}`);
        writer.uvarint(tag);
        writer.uvarint(inner.length);
        writer.raw(inner.view());
      }
    },
    defaultValue: makeDefault,
    // A tagged struct at its default is not written (Kafka's rule); undefined fields count as default.
    isDefault: (raw) => {
      if (raw === null || typeof raw !== 'object') return false;
      const value = raw as KafkaValue;
      return [...regularCodecs, ...taggedCodecs.map(([, name, codec]) => [name, codec] as const)].every(([name, codec]) => value[name] === undefined || codec.isDefault(value[name]));
    },
  };
}

function fieldCodec(field: FieldSchema, version: number, messageFlexible: boolean, what: string): ValueCodec {
  const flexible = messageFlexible && !field.neverFlexible;
  const nullable = inRange(field.nullable, version);
  if (field.type.startsWith('[]')) {
    const elementType = field.type.slice(2);
    const element = elementType === 'struct' ? structCodec(field.fields ?? [], version, messageFlexible, what) : primitiveCodec(elementType, false, flexible, undefined, what);
    return arrayCodec(element, nullable, flexible, field.default === null);
  }
  if (field.type === 'struct') {
    const struct = structCodec(field.fields ?? [], version, messageFlexible, what);
    if (!nullable) return struct;
    return {
      read(reader, at) {
        const marker = reader.int8(`${at} presence`);
        return marker < 0 ? null : struct.read(reader, at);
      },
      write(writer, value, at) {
        if (value === null) return writer.int8(-1);
        writer.int8(1);
        struct.write(writer, value, at);
      },
      defaultValue: () => (field.default === null ? null : struct.defaultValue()),
      isDefault: (value) => value === null,
    };
  }
  return primitiveCodec(field.type, nullable, flexible, field.default, what);
}

function arrayCodec(element: ValueCodec, nullable: boolean, flexible: boolean, defaultNull: boolean): ValueCodec {
  return {
    read(reader, what) {
      const raw = flexible ? reader.uvarint(`${what} length`) - 1 : reader.int32(`${what} length`);
      if (raw < 0) {
        if (!nullable) throw new KafkaDecodeError(`${what}: null array where none is allowed`);
        return null;
      }
      const length = reader.count(raw, what);
      const items = new Array<unknown>(length);
      for (let i = 0; i < length; i += 1) items[i] = element.read(reader, what);
      return items;
    },
    write(writer, value, what) {
      if (value === null || value === undefined) {
        if (!nullable && value === null) throw new TypeError(`${what}: null for a non-nullable array`);
        if (value === undefined && !nullable) {
          if (flexible) writer.uvarint(1);
          else writer.int32(0);
          return;
        }
        if (flexible) writer.uvarint(0);
        else writer.int32(-1);
        return;
      }
      if (!Array.isArray(value)) throw new TypeError(`${what}: not an array`);
      if (flexible) writer.uvarint(value.length + 1);
      else writer.int32(value.length);
      for (const item of value) element.write(writer, item, what);
    },
    defaultValue: () => (nullable && defaultNull ? null : []),
    isDefault: (value) => value === null || (Array.isArray(value) && value.length === 0 && !(nullable && defaultNull)),
  };
}

function primitiveCodec(type: string, nullable: boolean, flexible: boolean, fieldDefault: FieldSchema['default'], what: string): ValueCodec {
  const numeric = (read: (r: KafkaReader, at: string) => number, write: (w: KafkaWriter, v: number) => void, min: number, max: number): ValueCodec => {
    const zero = typeof fieldDefault === 'number' ? fieldDefault : 0;
    return {
      read,
      write(writer, value, at) {
        const n = value as number;
        if (typeof n !== 'number' || !(n >= min && n <= max) || (max !== Infinity && !Number.isInteger(n))) throw new TypeError(`${at}: ${String(value)} is not a ${type}`);
        write(writer, n);
      },
      defaultValue: () => zero,
      isDefault: (value) => value === zero,
    };
  };
  switch (type) {
    case 'bool': {
      const zero = fieldDefault === true;
      return {
        read: (reader, at) => reader.int8(at) !== 0,
        write: (writer, value) => writer.int8(value ? 1 : 0),
        defaultValue: () => zero,
        isDefault: (value) => value === zero,
      };
    }
    case 'int8':
      return numeric((r, at) => r.int8(at), (w, v) => w.int8(v), -128, 127);
    case 'int16':
      return numeric((r, at) => r.int16(at), (w, v) => w.int16(v), -32_768, 32_767);
    case 'uint16':
      return numeric((r, at) => r.uint16(at), (w, v) => w.uint16(v), 0, 65_535);
    case 'int32':
      return numeric((r, at) => r.int32(at), (w, v) => w.int32(v), -2_147_483_648, 2_147_483_647);
    case 'uint32':
      return numeric((r, at) => r.uint32(at), (w, v) => w.uint32(v), 0, 4_294_967_295);
    case 'int64':
      return numeric((r, at) => r.int64(at), (w, v) => w.int64(v), -(2 ** 63), 2 ** 63);
    case 'float64': {
      const codec = numeric((r, at) => r.float64(at), (w, v) => w.float64(v), -Infinity, Infinity);
      return { ...codec, write: (writer, value, at) => (typeof value === 'number' ? writer.float64(value) : codec.write(writer, value, at)) };
    }
    case 'uuid':
      return {
        read: (reader, at) => reader.uuid(at),
        write: (writer, value) => writer.uuid(typeof value === 'string' ? value : zeroUuid),
        defaultValue: () => zeroUuid,
        isDefault: (value) => value === zeroUuid,
      };
    case 'string': {
      const zero = fieldDefault === null && nullable ? null : typeof fieldDefault === 'string' ? fieldDefault : '';
      return {
        read(reader, at) {
          const length = flexible ? reader.uvarint(`${at} length`) - 1 : reader.int16(`${at} length`);
          if (length < 0) {
            if (!nullable) throw new KafkaDecodeError(`${at}: null string where none is allowed`);
            return null;
          }
          const bytes = reader.bytes(length, at);
          return bytes.toString('utf8');
        },
        write(writer, value, at) {
          if (value === null || value === undefined) {
            if (!nullable) throw new TypeError(`${at}: null for a non-nullable string`);
            if (flexible) writer.uvarint(0);
            else writer.int16(-1);
            return;
          }
          if (typeof value !== 'string') throw new TypeError(`${at}: not a string`);
          const bytes = Buffer.from(value, 'utf8');
          if (flexible) writer.uvarint(bytes.length + 1);
          else {
            if (bytes.length > 32_767) throw new TypeError(`${at}: string of ${bytes.length} bytes is too long for int16 length`);
            writer.int16(bytes.length);
          }
          writer.raw(bytes);
        },
        defaultValue: () => zero,
        isDefault: (value) => value === zero,
      };
    }
    case 'bytes':
    case 'records': {
      const empty = Buffer.alloc(0);
      return {
        read(reader, at) {
          const length = flexible ? reader.uvarint(`${at} length`) - 1 : reader.int32(`${at} length`);
          if (length < 0) {
            if (!nullable) throw new KafkaDecodeError(`${at}: null bytes where none is allowed`);
            return null;
          }
          return reader.bytes(length, at);
        },
        write(writer, value, at) {
          if (value === null || value === undefined) {
            if (!nullable) {
              if (value === undefined) {
                if (flexible) writer.uvarint(1);
                else writer.int32(0);
                return;
              }
              throw new TypeError(`${at}: null for non-nullable bytes`);
            }
            if (flexible) writer.uvarint(0);
            else writer.int32(-1);
            return;
          }
          if (!(value instanceof Uint8Array)) throw new TypeError(`${at}: not bytes`);
          if (flexible) writer.uvarint(value.length + 1);
          else writer.int32(value.length);
          writer.raw(value);
        },
        defaultValue: () => (nullable ? null : empty),
        isDefault: (value) => value === null || (value instanceof Uint8Array && value.length === 0 && !nullable),
      };
    }
    default:
      throw new Error(`${what}: unknown primitive type ${type}`);
  }
}
