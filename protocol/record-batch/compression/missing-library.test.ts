import Module from 'node:module';
import { describe, expect, it } from 'vitest';
import { ErrorCode, KactusError } from '../../errors.ts';

// Goal: a codec library that is not installed (zstd-napi is an optional
// dependency whose native build may fail) costs that codec only, and says
// why: encoding throws UNSUPPORTED_COMPRESSION_TYPE, decoding answers it,
// the other codecs work, and a producer asking for it fails when created.
// Method: this file runs in its own process (vitest's forks pool), where
// resolving 'zstd-napi' is made to fail, as on a machine without it, before
// the compression modules are first loaded. Node 22.15+ has zstd in zlib and
// never loads zstd-napi, so there is nothing to take away there.
const zlibHasZstd = typeof (await import('node:zlib') as unknown as Record<string, unknown>).zstdCompressSync === 'function';

type Resolver = (request: string, ...rest: unknown[]) => string;
const moduleInternals = Module as unknown as { _resolveFilename: Resolver };
const resolve = moduleInternals._resolveFilename;
moduleInternals._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  if (request.startsWith('zstd-napi')) throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};

const { Compression, decodeBatch, encodeBatch, field } = await import('../index.ts');
const { crc32c } = await import('../../crc32c.ts');
const { Kactus } = await import('../../../client/index.ts');

describe.skipIf(zlibHasZstd)('compression without the zstd-napi package (Node < 22.15)', () => {
  it('encoding zstd throws UNSUPPORTED_COMPRESSION_TYPE naming the package, every other codec still encodes', () => {
    const records = [{ key: null, value: Buffer.from('v'), timestamp: 1 }];
    let thrown: unknown;
    try {
      encodeBatch({ records, compression: Compression.zstd });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(KactusError);
    expect((thrown as KactusError).code).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
    expect((thrown as KactusError).message).toMatch(/zstd: its library did not load here .*zstd-napi/);
    for (const compression of [Compression.none, Compression.gzip, Compression.snappy, Compression.lz4]) {
      expect(decodeBatch(encodeBatch({ records, compression })).ok).toBe(true);
    }
  });

  it('decoding a zstd batch answers UNSUPPORTED_COMPRESSION_TYPE (not corrupt: the bytes may be fine), without a throw', () => {
    const bytes = encodeBatch({ records: [{ key: null, value: Buffer.from('v'), timestamp: 1 }] });
    bytes.writeInt16BE(Compression.zstd, field.attributes);
    bytes.writeUInt32BE(crc32c(bytes.subarray(field.attributes)), field.crc);
    expect(decodeBatch(bytes)).toMatchObject({ ok: false, errorCode: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE });
  });

  it("a producer asking for zstd fails when it is created; one asking for lz4 does not", async () => {
    const kactus = new Kactus({ brokers: ['ws://127.0.0.1:1'], clientId: 'missing-library' });
    try {
      expect(() => kactus.producer({ compression: 'zstd' })).toThrow(/UNSUPPORTED_COMPRESSION_TYPE: zstd: its library did not load here/);
      expect(() => kactus.producer({ compression: 'lz4' })).not.toThrow();
    } finally {
      await kactus.close();
    }
  });
});
