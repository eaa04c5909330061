/**
 * The envelope codec: round trips of every kind, and random or truncated
 * bytes that always give an error code, never a throw.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr, isNativeAccelerationEnabled } from 'msgpackr';
import { Kind, decodeFrame, encodeEnvelope, envelopePackLimits, isDecodeFailure, validateEnvelope, type Envelope } from './envelope.ts';

const path = fc.string({ minLength: 0, maxLength: 30 }).map((s) => `/${s}`);
const id = fc.string({ minLength: 1, maxLength: 20 });
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));
const message = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.uint8Array().map((a) => Buffer.from(a)), fc.dictionary(fc.string({ minLength: 1 }), fc.integer()));

const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({
    kind: fc.constant(Kind.Hello),
    nodeId: id.filter((s) => !s.includes('/')),
    incarnation: id,
    listenUrl: fc.option(id, { nil: null }),
    role: fc.constantFrom('peer' as const, 'client' as const),
    challenge: bytes32,
    proof: fc.option(bytes32, { nil: null }),
  }),
  fc.record({ kind: fc.constant(Kind.Auth), proof: bytes32 }),
  fc.constant({ kind: Kind.Heartbeat }),
  fc.record({ kind: fc.constant(Kind.Tell), targetPath: path, message }),
  fc.record({ kind: fc.constant(Kind.Ask), targetPath: path, replyToPath: path, message }),
  fc.record({ kind: fc.constant(Kind.ErrorReply), replyToPath: path, errorCode: fc.integer({ min: -1, max: 130 }), errorMessage: fc.string() }),
  fc.record({ kind: fc.constant(Kind.Watch), watcherPath: path, targetPath: path }),
  fc.record({ kind: fc.constant(Kind.Terminated), watcherPath: path, targetPath: path, reason: fc.constantFrom('stopped' as const, 'node-down' as const) }),
  fc.record({ kind: fc.constant(Kind.LinkError), errorCode: fc.integer({ min: -1, max: 130 }), errorMessage: fc.string() }),
) as fc.Arbitrary<Envelope>;

const MiB = 1024 * 1024;

/** The bytes an encoded envelope keeps alive: its whole backing allocation. */
const retainedBytes = (packed: Buffer): number => packed.buffer.byteLength;

describe('envelope buffer sizing', () => {
  const fetchReply = (recordBytes: number, partitions = 1): unknown => ({
    type: 'FetchReply',
    errorCode: 0,
    partitions: Array.from({ length: partitions }, (_, partition) => ({ topic: 'orders', partition, errorCode: 0, highWatermark: 10, records: Buffer.alloc(recordBytes / partitions, 7) })),
  });

  it('a large message keeps no more than about its own size alive, and small ones packed after it do not share it', () => {
    for (const size of [300 * 1024, 4 * MiB, 16 * MiB]) {
      const large = encodeEnvelope({ kind: Kind.Tell, targetPath: '/temp/r', message: fetchReply(size, 3) });
      expect(retainedBytes(large), `${size} bytes of records`).toBeLessThanOrEqual(large.length * 1.13 + 4096);
      const small = encodeEnvelope({ kind: Kind.Heartbeat });
      expect(small.buffer).not.toBe(large.buffer);
      expect(retainedBytes(small)).toBeLessThanOrEqual(envelopePackLimits.sharedBufferBytes);
      const decoded = decodeFrame(Buffer.concat([large, small]));
      expect(isDecodeFailure(decoded)).toBe(false);
    }
  });

  it('a message too wide to estimate, and an envelope packed after another module grew msgpackr\'s buffer, are copied out', () => {
    const wide = { type: 'Listing', names: Array.from({ length: envelopePackLimits.estimateNodesMax + 10 }, (_, i) => `topic-${i}-${'x'.repeat(100)}`) };
    const packedWide = encodeEnvelope({ kind: Kind.Tell, targetPath: '/x', message: wide });
    expect(retainedBytes(packedWide)).toBeLessThanOrEqual(packedWide.length * 1.13 + 4096);
    // Any Packr shares msgpackr's module buffer: a 20 MiB pack elsewhere grows it for everyone.
    new Packr({ useRecords: false }).pack({ blob: Buffer.alloc(20 * MiB) });
    const heartbeat = encodeEnvelope({ kind: Kind.Heartbeat });
    expect(retainedBytes(heartbeat)).toBeLessThanOrEqual(envelopePackLimits.sharedBufferBytes);
  });
});

describe('envelope codec', () => {
  it('uses msgpackr native acceleration', () => {
    expect(isNativeAccelerationEnabled).toBe(true);
  });

  it('round-trips frames of many envelopes', () => {
    fc.assert(
      fc.property(fc.array(envelope, { minLength: 1, maxLength: 20 }), (envelopes) => {
        const frame = Buffer.concat(envelopes.map(encodeEnvelope));
        const values = decodeFrame(frame);
        expect(isDecodeFailure(values)).toBe(false);
        const decoded = (values as unknown[]).map(validateEnvelope);
        expect(decoded).toEqual(envelopes);
      }),
    );
  });

  it('never throws on random or truncated bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(envelope, { minLength: 1, maxLength: 3 }), fc.nat(), (noise, envelopes, cut) => {
        const frames = [Buffer.from(noise), Buffer.concat(envelopes.map(encodeEnvelope))];
        frames.push(frames[1]!.subarray(0, cut % frames[1]!.length));
        for (const frame of frames) {
          const values = decodeFrame(frame);
          if (isDecodeFailure(values)) {
            expect(values.errorCode).toBeGreaterThan(0);
            continue;
          }
          for (const value of values) {
            const result = validateEnvelope(value);
            if (isDecodeFailure(result)) expect(result.errorCode).toBeGreaterThan(0);
          }
        }
      }),
    );
  });
});
