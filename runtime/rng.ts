/**
 * A seeded pseudo-random source (STYLE rule 2): randomness is an input, so a
 * simulation replays exactly from its seed. mulberry32: tiny, fast, and good
 * enough for timeouts, fault plans and jitter (not for cryptography).
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [minInclusive, maxExclusive). */
  int(minInclusive: number, maxExclusive: number): number;
}

export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (minInclusive, maxExclusive) => minInclusive + Math.floor(next() * (maxExclusive - minInclusive)),
  };
}
