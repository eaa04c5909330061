/**
 * Kafka's murmur2 hash and its default keyed partition choice.
 *
 * Owns: `murmur2(bytes)` (signed 32-bit, bit-for-bit Kafka's
 * `Utils.murmur2`, seed 0x9747b28c), `toPositive(n)` (`n & 0x7fffffff`, not
 * `Math.abs`, so Integer.MIN_VALUE maps to 0 as in Kafka), and
 * `partitionForKey(keyBytes, numPartitions)`, Kafka's
 * `toPositive(murmur2(keyBytes)) % numPartitions`. Records with the same key
 * land on the same partition as they would with a Java producer.
 *
 * All arithmetic is 32-bit: `Math.imul` for the wrapping multiply and `| 0`
 * to stay signed, the same as Java `int`.
 *
 * Imports: runtime/assert.ts only.
 */
import { assert } from '../runtime/assert.ts';

const seed = 0x9747b28c;
const m = 0x5bd1e995;
const r = 24;

/** Kafka's murmur2 of `bytes`, as a signed 32-bit integer. */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.length;
  let h = (seed ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (bytes[i4]! | (bytes[i4 + 1]! << 8) | (bytes[i4 + 2]! << 16) | (bytes[i4 + 3]! << 24)) | 0;
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  // Kafka's switch falls through 3 -> 2 -> 1; written out as ifs.
  if (rest === 3) h ^= bytes[tail + 2]! << 16;
  if (rest >= 2) h ^= bytes[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= bytes[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (so -2^31 -> 0). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** Kafka's default partition for a keyed record: `toPositive(murmur2(key)) % numPartitions`. */
export function partitionForKey(keyBytes: Uint8Array, numPartitions: number): number {
  assert(Number.isInteger(numPartitions), 'numPartitions must be an integer');
  assert(numPartitions > 0, 'numPartitions must be positive');
  return toPositive(murmur2(keyBytes)) % numPartitions;
}
