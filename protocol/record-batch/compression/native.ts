/**
 * The compression libraries, loaded on first use.
 *
 * Owns: `snappyLibrary()`, `lz4Library()`, `zstdLibrary()`: each the loaded
 * package, or a `CodecFailure(UNSUPPORTED_COMPRESSION_TYPE)` naming why it
 * could not be loaded. The result is kept, success or failure, so a missing
 * library costs one failed `require`, not one per batch.
 *
 * Why lazily, with `require` and not `import`: the packages are native
 * addons (napi-rs prebuilt binaries for snappy and lz4; zstd-napi is an
 * optional dependency that may have failed to build). A static import would
 * make a broker or a client fail to start on a machine where one of them is
 * missing, even if no batch of that codec is ever seen. Loaded lazily, only
 * that codec is refused (UNSUPPORTED_COMPRESSION_TYPE, "zstd: ... did not
 * load"), and compaction keeps such batches as they are (storage/cleaner.ts
 * never drops what it cannot decode).
 *
 * Node's own zlib has zstd from Node 22.15 / 23.8 on; where it does,
 * `zstdLibrary()` is zlib's and zstd-napi is never loaded.
 */
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { ErrorCode } from '../../errors.ts';
import { CodecFailure } from './failure.ts';

const requireFromHere = createRequire(import.meta.url);

export type SnappyLibrary = Pick<typeof import('snappy'), 'compressSync' | 'uncompressSync'>;
export type Lz4Library = Pick<typeof import('lz4-napi'), 'compressFrameSync' | 'decompressFrameSync'>;

/** What zstd.ts needs from zstd-napi: its compressor and its low-level decompression context. */
export type ZstdNapiLibrary = {
  kind: 'zstd-napi';
  Compressor: typeof import('zstd-napi').Compressor;
  DCtx: typeof import('zstd-napi/binding.js').DCtx;
  DParameter: typeof import('zstd-napi/binding.js').DParameter;
  ResetDirective: typeof import('zstd-napi/binding.js').ResetDirective;
  getFrameContentSize: typeof import('zstd-napi/binding.js').getFrameContentSize;
  findFrameCompressedSize: typeof import('zstd-napi/binding.js').findFrameCompressedSize;
  dStreamOutSize: typeof import('zstd-napi/binding.js').dStreamOutSize;
};

/** Node's zlib zstd (22.15+), typed here because @types/node 20 does not declare it. */
export type ZlibZstdLibrary = {
  kind: 'zlib';
  zstdCompressSync(data: Buffer, options: { params: Record<number, number> }): Buffer;
  zstdDecompressSync(data: Buffer, options: { maxOutputLength: number; params: Record<number, number> }): Buffer;
  ZSTD_c_compressionLevel: number;
  ZSTD_d_windowLogMax: number;
};

export type ZstdLibrary = ZstdNapiLibrary | ZlibZstdLibrary;

type Loaded<T> = { ok: true; library: T } | { ok: false; reason: string };

/** `load`, run at the first call; later calls return its result or throw its failure again. `hint` ends the failure's message. */
function once<T>(codec: string, load: () => T, hint = ''): () => T {
  let loaded: Loaded<T> | undefined;
  return () => {
    if (loaded === undefined) {
      try {
        loaded = { ok: true, library: load() };
      } catch (err) {
        loaded = { ok: false, reason: (err as Error).message.split('\n')[0]! + hint };
      }
    }
    if (!loaded.ok) throw new CodecFailure(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `${codec}: its library did not load here (${loaded.reason})`);
    return loaded.library;
  };
}

export const snappyLibrary = once<SnappyLibrary>('snappy', () => requireFromHere('snappy') as SnappyLibrary);

export const lz4Library = once<Lz4Library>('lz4', () => requireFromHere('lz4-napi') as Lz4Library);

/** Node's zlib zstd, or null on a Node without it (before 22.15 / 23.8). Looked up once. */
export const zlibZstd: ZlibZstdLibrary | null = (() => {
  const z = zlib as unknown as Record<string, unknown> & { constants: Record<string, number> };
  if (typeof z.zstdCompressSync !== 'function' || typeof z.zstdDecompressSync !== 'function') return null;
  return {
    kind: 'zlib',
    zstdCompressSync: z.zstdCompressSync as ZlibZstdLibrary['zstdCompressSync'],
    zstdDecompressSync: z.zstdDecompressSync as ZlibZstdLibrary['zstdDecompressSync'],
    ZSTD_c_compressionLevel: z.constants.ZSTD_c_compressionLevel!,
    ZSTD_d_windowLogMax: z.constants.ZSTD_d_windowLogMax!,
  } satisfies ZlibZstdLibrary;
})();

/** The zstd-napi package (an optional dependency: its native build may be missing). */
export const zstdNapiLibrary = once<ZstdNapiLibrary>(
  'zstd',
  () => {
    const binding = requireFromHere('zstd-napi/binding.js') as typeof import('zstd-napi/binding.js');
    const { Compressor } = requireFromHere('zstd-napi') as typeof import('zstd-napi');
    return {
      kind: 'zstd-napi',
      Compressor,
      DCtx: binding.DCtx,
      DParameter: binding.DParameter,
      ResetDirective: binding.ResetDirective,
      getFrameContentSize: binding.getFrameContentSize,
      findFrameCompressedSize: binding.findFrameCompressedSize,
      dStreamOutSize: binding.dStreamOutSize,
    };
  },
  '; Node >= 22.15 has zstd in zlib, older Node needs the zstd-napi package',
);

/** zlib's zstd where this Node has it (no addon to load), else zstd-napi. */
export function zstdLibrary(): ZstdLibrary {
  return zlibZstd ?? zstdNapiLibrary();
}
