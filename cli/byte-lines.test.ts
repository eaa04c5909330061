/**
 * ByteLines: lines of a byte stream, undecoded, whatever the chunking; \r\n
 * and a last line without \n; the line bound; pause, resume and close.
 */
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteLines } from './byte-lines.ts';

function collect(chunks: Buffer[], lineBytesMax = 1024): Promise<{ lines: Buffer[]; error: Error | undefined }> {
  const source = new PassThrough();
  const lines: Buffer[] = [];
  let error: Error | undefined;
  return new Promise((resolve) => {
    new ByteLines(source, lineBytesMax, { line: (l) => lines.push(Buffer.from(l)), error: (err) => (error = err), close: () => resolve({ lines, error }) });
    for (const c of chunks) source.write(c);
    source.end();
  });
}

describe('ByteLines', () => {
  it('gives back every line byte for byte, however the input is cut into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).filter((x) => x !== 0x0a && x !== 0x0d)), { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 8 }), async (lines, cuts) => {
        const input = Buffer.concat(lines.map((l) => Buffer.concat([Buffer.from(l), Buffer.from('\n')])));
        const chunks: Buffer[] = [];
        for (let at = 0, i = 0; at < input.length; i += 1) {
          const size = cuts[i % cuts.length]!;
          chunks.push(input.subarray(at, at + size));
          at += size;
        }
        const got = await collect(chunks);
        expect(got.error).toBeUndefined();
        expect(got.lines.map((l) => l.toString('hex'))).toEqual(lines.map((l) => Buffer.from(l).toString('hex')));
      }),
    );
  });

  it('drops a \\r before \\n, keeps one elsewhere, and reads a last line without \\n', async () => {
    const got = await collect([Buffer.from('a\r\nb\rc\n\xff\xfe'.split('').map((c) => c.charCodeAt(0)))]);
    expect(got.lines.map((l) => [...l])).toEqual([[0x61], [0x62, 0x0d, 0x63], [0xff, 0xfe]]);
  });

  it('refuses a line over the bound instead of buffering it', async () => {
    const got = await collect([Buffer.alloc(600, 0x61), Buffer.alloc(600, 0x61), Buffer.from('\nnext\n')], 1000);
    expect(got.error?.message).toBe('a line is longer than 1000 bytes');
    expect(got.lines).toEqual([]);
  });

  it('close() ends the lines early', async () => {
    const source = new PassThrough();
    const lines: string[] = [];
    await new Promise<void>((resolve) => {
      const reader = new ByteLines(source, 100, { line: (l) => (lines.push(l.toString()), l.toString() === 'stop' ? reader.close() : undefined), error: () => undefined, close: resolve });
      source.write('one\nstop\nnever\n');
    });
    expect(lines).toEqual(['one', 'stop']);
  });
});
