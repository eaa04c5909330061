/**
 * Seeded fault injection between nodes (the raft `network` / TigerBeetle
 * packet simulator idea), applied by a node to every frame it sends.
 *
 * Rules are per directed pair of node ids: drop with a probability, delay by
 * a random time in a range (which also reorders frames), duplicate with a
 * probability, or cut the direction entirely (partition). `heal()` removes
 * every rule. Decisions come from a seeded Rng, so a run that sends the same
 * frames in the same order makes the same decisions. Works over any
 * transport: tests use it with the in-memory one, the chaos harness with ws.
 */
import { assert } from './assert.ts';
import { seededRng, type Rng } from './rng.ts';

export type LinkFaultRule = {
  /** Probability in [0, 1] that a frame is dropped. */
  dropRate?: number;
  /** Probability in [0, 1] that a frame is delivered twice. */
  duplicateRate?: number;
  /** Extra delay drawn uniformly from [min, max] milliseconds. */
  delayMs?: readonly [number, number];
  /** Drop everything in this direction. */
  partitioned?: boolean;
};

export type FaultDecision = { deliver: false } | { deliver: true; delayMs: number; copies: 1 | 2 };

const deliverNow: FaultDecision = { deliver: true, delayMs: 0, copies: 1 };

export class FaultPlan {
  private readonly rules = new Map<string, LinkFaultRule>();
  private readonly rng: Rng;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed;
    this.rng = seededRng(seed);
  }

  /** Sets the rule for frames sent from `source` to `target` (replaces any earlier rule). */
  set(source: string, target: string, rule: LinkFaultRule): void {
    assert((rule.dropRate ?? 0) >= 0 && (rule.dropRate ?? 0) <= 1, 'dropRate must be in [0, 1]');
    assert((rule.duplicateRate ?? 0) >= 0 && (rule.duplicateRate ?? 0) <= 1, 'duplicateRate must be in [0, 1]');
    if (rule.delayMs) assert(rule.delayMs[0] >= 0 && rule.delayMs[0] <= rule.delayMs[1], 'delayMs must be a range [min, max]');
    this.rules.set(`${source}>${target}`, rule);
  }

  /** Cuts every link between the two groups; one-way cuts only frames from `groupA` to `groupB`. */
  partition(groupA: readonly string[], groupB: readonly string[], direction: 'both' | 'one-way' = 'both'): void {
    for (const a of groupA) {
      for (const b of groupB) {
        this.set(a, b, { ...this.rules.get(`${a}>${b}`), partitioned: true });
        if (direction === 'both') this.set(b, a, { ...this.rules.get(`${b}>${a}`), partitioned: true });
      }
    }
  }

  /** Removes every rule: all links deliver normally again. */
  heal(): void {
    this.rules.clear();
  }

  isCut(source: string, target: string): boolean {
    return this.rules.get(`${source}>${target}`)?.partitioned === true;
  }

  decide(source: string, target: string): FaultDecision {
    const rule = this.rules.get(`${source}>${target}`);
    if (rule === undefined) return deliverNow;
    if (rule.partitioned) return { deliver: false };
    if (rule.dropRate && this.rng.next() < rule.dropRate) return { deliver: false };
    const delayMs = rule.delayMs ? rule.delayMs[0] + this.rng.next() * (rule.delayMs[1] - rule.delayMs[0]) : 0;
    const copies = rule.duplicateRate && this.rng.next() < rule.duplicateRate ? 2 : 1;
    return { deliver: true, delayMs, copies };
  }
}
