/**
 * The schema-driven Kafka codec: byte-exact vectors for the encodings that
 * differ between versions (non-flexible vs compact, tagged fields, headers),
 * a round-trip property over every served request and response at every
 * version with values generated from the schema itself, a decoder that never
 * throws on mutated or truncated frames, and the committed schemas matching
 * Kafka's JSON.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSchemas, renderSchemas, schemasOutPath } from '../../scripts/gen-kafka-schemas.ts';
import { readFileSync } from 'node:fs';
import { codecFor, KafkaReader, KafkaWriter, zeroUuid, type KafkaValue } from './codec.ts';
import { apiKeys, apis, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './messages.ts';
import type { FieldSchema, MessageSchema } from './schema-types.ts';

const api = (name: string) => apis.get(apiKeys[name]!)!;

describe('Kafka codec: byte vectors', () => {
  it('Metadata v0 request (non-flexible): int32 array count, int16 string lengths', () => {
    const frame = encodeRequest(api('Metadata'), 0, { correlationId: 7, clientId: 'c' }, { topics: [{ name: 'ab' }] });
    expect(frame.toString('hex')).toBe(
      [
        '00000013', // size 19
        '0003', '0000', '00000007', '0001', '63', // header v1: key 3, version 0, correlation 7, client id "c"
        '00000001', '0002', '6162', // topics: 1 x "ab"
      ].join(''),
    );
    const decoded = decodeRequest(frame.subarray(4));
    expect(decoded).toMatchObject({ kind: 'request', header: { apiKey: 3, apiVersion: 0, correlationId: 7, clientId: 'c' }, body: { topics: [{ name: 'ab' }] } });
  });

  it('Metadata v9 request (flexible): header v2, compact arrays and strings, tagged field sections', () => {
    const frame = encodeRequest(api('Metadata'), 9, { correlationId: 1, clientId: null }, { topics: [{ name: 'x' }], allowAutoTopicCreation: true, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    expect(frame.subarray(4).toString('hex')).toBe(
      [
        '0003', '0009', '00000001', 'ffff', '00', // header v2: client id null (never compact), no tagged fields
        '02', '0278', '00', // topics: compact 1 x compact "x", topic's tagged fields
        '01', '00', '00', // allowAutoTopicCreation, two authorized-operations flags
        '00', // the request's tagged fields
      ].join(''),
    );
  });

  it('a tagged field travels in the tagged section and unknown tags are skipped', () => {
    // ApiVersions v3 response: SupportedFeatures is tag 0, FinalizedFeaturesEpoch tag 1, FinalizedFeatures tag 2, ZkMigrationReady tag 3.
    const schema = api('ApiVersions').response;
    const codec = codecFor(schema, 3);
    const writer = new KafkaWriter();
    codec.write(writer, { errorCode: 0, apiKeys: [], throttleTimeMs: 0, finalizedFeaturesEpoch: 5 });
    const bytes = Buffer.from(writer.view());
    expect(bytes.toString('hex')).toBe(['0000', '01', '00000000', '01', '01', '08', '0000000000000005'].join(''));
    expect(codec.read(new KafkaReader(bytes))).toMatchObject({ finalizedFeaturesEpoch: 5, supportedFeatures: [], zkMigrationReady: false });
    // The same with an unknown tag 9 after it: skipped.
    const withUnknown = Buffer.from(['0000', '01', '00000000', '02', '01', '08', '0000000000000005', '09', '02', 'abcd'].join(''), 'hex');
    expect(codec.read(new KafkaReader(withUnknown))).toMatchObject({ finalizedFeaturesEpoch: 5 });
  });

  it('ApiVersions responses always have header v0, other flexible responses header v1', () => {
    const apiVersions = encodeResponse(api('ApiVersions'), 3, 9, { errorCode: 0, apiKeys: [], throttleTimeMs: 0 });
    expect(apiVersions.subarray(4, 8).toString('hex')).toBe('00000009');
    expect(apiVersions.subarray(8, 10).toString('hex')).toBe('0000'); // the body starts at once: errorCode
    const metadata = encodeResponse(api('Metadata'), 9, 9, { brokers: [], topics: [], clusterId: null, controllerId: -1 });
    expect(metadata.subarray(4, 9).toString('hex')).toBe('0000000900'); // correlation id, then the header's tagged fields
  });

  it('a newer ApiVersions is answered, anything else unknown closes the connection', () => {
    const header = (key: number, version: number) => Buffer.from([key >> 8, key & 0xff, version >> 8, version & 0xff, 0, 0, 0, 1, 0xff, 0xff, 0]);
    expect(decodeRequest(header(18, 99))).toMatchObject({ kind: 'unsupported-api-versions', header: { correlationId: 1 } });
    expect(decodeRequest(header(3, 99))).toMatchObject({ kind: 'close', reason: expect.stringContaining('Metadata v99') });
    expect(decodeRequest(header(999, 0))).toMatchObject({ kind: 'close', reason: 'unknown api key 999' });
    expect(decodeRequest(Buffer.from([0, 3]))).toMatchObject({ kind: 'close', header: null });
  });
});

// ---------------------------------------------------------------- generated values

const inRange = (range: readonly [number, number] | null, version: number) => range !== null && version >= range[0] && version <= range[1];

function valueArbitrary(fields: readonly FieldSchema[], version: number, flexible: boolean, depth: number): fc.Arbitrary<KafkaValue> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of fields) {
    if (!inRange(field.versions, version)) continue;
    shape[field.name] = fieldArbitrary(field, version, flexible, depth);
  }
  return fc.record(shape);
}

function fieldArbitrary(field: FieldSchema, version: number, flexible: boolean, depth: number): fc.Arbitrary<unknown> {
  const nullable = inRange(field.nullable, version);
  const orNull = (arb: fc.Arbitrary<unknown>) => (nullable ? fc.option(arb, { nil: null, freq: 4 }) : arb);
  if (field.type.startsWith('[]')) {
    const element = field.type === '[]struct' ? valueArbitrary(field.fields ?? [], version, flexible, depth + 1) : primitiveArbitrary(field.type.slice(2), false);
    return orNull(fc.array(element, { maxLength: depth > 2 ? 1 : 3 }));
  }
  if (field.type === 'struct') return orNull(valueArbitrary(field.fields ?? [], version, flexible, depth + 1));
  return primitiveArbitrary(field.type, nullable);
}

function primitiveArbitrary(type: string, nullable: boolean): fc.Arbitrary<unknown> {
  const orNull = (arb: fc.Arbitrary<unknown>) => (nullable ? fc.option(arb, { nil: null, freq: 4 }) : arb);
  switch (type) {
    case 'bool':
      return fc.boolean();
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32_768, max: 32_767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65_535 });
    case 'int32':
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'uint32':
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case 'int64':
      return fc.maxSafeInteger();
    case 'float64':
      return fc.double({ noNaN: true });
    case 'uuid':
      return fc.uuid();
    case 'string':
      return orNull(fc.string({ maxLength: 12 }));
    case 'bytes':
    case 'records':
      return orNull(fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)));
    default:
      throw new Error(`no arbitrary for ${type}`);
  }
}

describe('Kafka codec: round trip of every served message at every version', () => {
  const messages = [...apis.values()].flatMap((a) => [a.request, a.response]);
  for (const schema of messages) {
    it(`${schema.name} v${schema.versions[0]}-${schema.versions[1]}`, () => {
      for (let version = schema.versions[0]; version <= schema.versions[1]; version += 1) {
        const flexible = inRange(schema.flexible, version);
        fc.assert(
          fc.property(valueArbitrary(schema.fields, version, flexible, 0), (value) => {
            const writer = new KafkaWriter(16);
            codecFor(schema, version).write(writer, value);
            const bytes = Buffer.from(writer.view());
            const reader = new KafkaReader(bytes);
            const decoded = codecFor(schema, version).read(reader);
            expect(reader.remaining()).toBe(0);
            // Every field given comes back (absent ones at their defaults), and the decoded value encodes to the same bytes.
            expect(normalizeNested(decoded)).toMatchObject(normalizeNested(value) as object);
            const again = new KafkaWriter(16);
            codecFor(schema, version).write(again, decoded);
            expect(Buffer.from(again.view()).equals(bytes)).toBe(true);
          }),
          { numRuns: 25 },
        );
      }
    });
  }
});

/** Buffers as hex strings, so that values compare by content. */
function normalizeNested(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array || (typeof v === 'object' && v !== null && (v as { type?: string }).type === 'Buffer') ? `bytes:${Buffer.from(v as Uint8Array).toString('hex')}` : v)));
}

describe('Kafka codec: hostile frames', () => {
  it('decodeRequest never throws on random, truncated and mutated frames', () => {
    const seeds = [
      encodeRequest(api('Metadata'), 12, { correlationId: 1, clientId: 'k' }, { topics: [{ name: 't', topicId: zeroUuid }], allowAutoTopicCreation: false }),
      encodeRequest(api('Produce'), 9, { correlationId: 2, clientId: 'k' }, { acks: -1, timeoutMs: 1000, topicData: [{ name: 't', partitionData: [{ index: 0, records: Buffer.alloc(70, 1) }] }] }),
      encodeRequest(api('Fetch'), 11, { correlationId: 3, clientId: 'k' }, { maxWaitMs: 100, minBytes: 1, topics: [{ topic: 't', partitions: [{ partition: 0, fetchOffset: 5, partitionMaxBytes: 1000 }] }] }),
    ].map((frame) => frame.subarray(4));
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), (seed, flips, cut) => {
        const frame = Buffer.from(seed.subarray(0, seed.length - (cut % (seed.length + 1))));
        for (const [at, byte] of flips) if (frame.length > 0) frame[at % frame.length] = byte;
        const decoded = decodeRequest(frame);
        expect(['request', 'close', 'unsupported-api-versions']).toContain(decoded.kind);
      }),
      { numRuns: 3_000 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => void decodeRequest(Buffer.from(bytes))), { numRuns: 3_000 });
  });

  it('a count beyond the bytes left is refused before anything is allocated', () => {
    const frame = Buffer.from([0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff]);
    expect(decodeRequest(frame)).toMatchObject({ kind: 'close', reason: expect.stringContaining('items claimed') });
  });

  it('decodeResponse reads what encodeResponse wrote', () => {
    const frame = encodeResponse(api('FindCoordinator'), 4, 42, { throttleTimeMs: 0, coordinators: [{ key: 'g', nodeId: 1, host: 'h', port: 9092, errorCode: 0, errorMessage: null }] });
    expect(decodeResponse(api('FindCoordinator'), 4, frame.subarray(4))).toMatchObject({ correlationId: 42, body: { coordinators: [{ key: 'g', nodeId: 1, port: 9092 }] } });
  });
});

describe('the committed schemas', () => {
  it('match Kafka\'s JSON (run npx tsx scripts/gen-kafka-schemas.ts after changing the generator)', () => {
    expect(readFileSync(schemasOutPath, 'utf8')).toBe(renderSchemas(loadSchemas()));
  });
});
