/**
 * CRC32C (Castagnoli), the checksum of Kafka's RecordBatch v2.
 *
 * Owns: one function, `crc32c(bytes, initial?)`, returning the unsigned 32-bit
 * checksum. It wraps `@node-rs/crc32` (native, SSE4.2/ARM CRC instructions:
 * ~6.4 GB/s here against ~1.5 GB/s for pure JS, DESIGN.md), because the leader
 * checks the CRC of every appended byte and that check must stay per-byte cheap.
 *
 * `initial` continues a running checksum, so `crc32c(b, crc32c(a))` equals
 * `crc32c(a ++ b)`. Known vector: "123456789" -> 0xE3069283.
 *
 * Imports: only the native library. No runtime, no actors.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** Unsigned CRC32C of `bytes`, optionally continuing from a previous checksum. */
export function crc32c(bytes: Uint8Array, initial = 0): number {
  return nativeCrc32c(bytes, initial) >>> 0;
}
