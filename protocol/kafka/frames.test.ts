/**
 * FrameSplitter: frames come out whole and in order however the bytes are
 * split, and an oversized or negative size ends the connection before any of
 * its bytes are held.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameSplitter } from './frames.ts';

const framed = (body: Uint8Array) => {
  const out = Buffer.alloc(4 + body.length);
  out.writeInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
};

describe('FrameSplitter', () => {
  it('property: any split of any sequence of frames gives back the frames', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (bodies, cuts) => {
        const stream = Buffer.concat(bodies.map(framed));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const splitter = new FrameSplitter(1_000);
        const frames: Buffer[] = [];
        let from = 0;
        for (const point of [...points, stream.length]) {
          const result = splitter.push(stream.subarray(from, point));
          expect(result.error).toBeNull();
          frames.push(...result.frames);
          from = point;
        }
        expect(frames.map((f) => [...f])).toEqual(bodies.map((b) => [...b]));
        expect(splitter.bufferedBytes()).toBe(0);
      }),
    );
  });

  it('refuses a frame over the limit and a negative size, holding nothing', () => {
    const splitter = new FrameSplitter(10);
    const oversized = Buffer.alloc(4);
    oversized.writeInt32BE(11, 0);
    expect(splitter.push(oversized).error).toMatch(/11 bytes exceeds socket.request.max.bytes 10/);
    expect(splitter.bufferedBytes()).toBe(0);
    expect(splitter.push(framed(new Uint8Array(1))).error).toMatch(/already failed/);
    expect(new FrameSplitter(10).push(Buffer.from([0xff, 0xff, 0xff, 0xff])).error).toMatch(/negative/);
  });

  it('frames inside one chunk are views, frames over chunks are copied once', () => {
    const stream = Buffer.concat([framed(Buffer.from('abc')), framed(Buffer.from('defg'))]);
    const splitter = new FrameSplitter();
    const first = splitter.push(stream.subarray(0, 9));
    expect(first.frames.map(String)).toEqual(['abc']);
    expect(first.frames[0]!.buffer).toBe(stream.buffer);
    expect(splitter.push(stream.subarray(9)).frames.map(String)).toEqual(['defg']);
  });
});
