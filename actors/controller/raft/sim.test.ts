/**
 * The Raft simulation (sim.ts) over many seeds.
 *
 * Goal: safety (one leader per term, committed entries never lost or
 * changed, identical apply sequences) and liveness after healing, under
 * random loss, delay, reordering, duplication, partitions and crash/restart,
 * while voters are added (through the learner stage) and removed (the leader
 * included).
 * Method: CI runs RAFT_SIM_SEEDS (default 200) seeds x RAFT_SIM_STEPS (default
 * 2,000) steps; a failure names its seed and the command that replays it:
 *
 *   SEED=1234 RAFT_SIM_STEPS=2000 npx vitest run actors/controller/raft/sim.test.ts
 *
 * Longer runs: RAFT_SIM_SEEDS=5000 RAFT_SIM_STEPS=10000 (and RAFT_SIM_FIRST_SEED
 * to start elsewhere). RAFT_SIM_NODES forces the cluster size.
 */
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../runtime/assert.ts';
import { runSimulation, SafetyChecker, SimulationFailure, type SimulationReport } from './sim.ts';

const envNumber = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return value;
};

const steps = envNumber('RAFT_SIM_STEPS', 2_000);
const seedCount = envNumber('RAFT_SIM_SEEDS', 200);
const firstSeed = envNumber('RAFT_SIM_FIRST_SEED', 1);
const nodeCount = process.env.RAFT_SIM_NODES === undefined ? undefined : envNumber('RAFT_SIM_NODES', 3);
const singleSeed = process.env.SEED === undefined ? undefined : envNumber('SEED', 0);

/** Seeds per test case: keeps each case's duration well inside the test timeout. */
const seedsPerCase = 25;

function runSeeds(seeds: number[]): SimulationReport[] {
  return seeds.map((seed) => runSimulation({ seed, steps, ...(nodeCount === undefined ? {} : { nodeCount }) }));
}

describe('raft simulation', () => {
  if (singleSeed !== undefined) {
    it(`seed ${singleSeed} x ${steps} steps`, () => {
      const [report] = runSeeds([singleSeed]);
      console.log(JSON.stringify(report));
    });
    return;
  }

  const seeds = Array.from({ length: seedCount }, (_, i) => firstSeed + i);
  for (let start = 0; start < seeds.length; start += seedsPerCase) {
    const chunk = seeds.slice(start, start + seedsPerCase);
    it(`seeds ${chunk[0]}..${chunk.at(-1)} x ${steps} steps`, { timeout: 600_000 }, () => {
      const reports = runSeeds(chunk);
      // The runs must actually exercise the system, not idle.
      for (const report of reports) expect(report.appliedEntryCount).toBeGreaterThan(0);
      // ... and change voters (AddVoter of spares, RemoveVoter of leaders and followers) under the same faults.
      expect(reports.reduce((sum, report) => sum + report.voterChangesCommittedCount, 0)).toBeGreaterThan(0);
    });
  }
});

describe('raft simulation: the checkers catch violations', () => {
  const entry = (index: number, term: number, key: number) => {
    const data = new Uint8Array(4);
    new DataView(data.buffer).setUint32(0, key);
    return { index, term, data };
  };

  it('two leaders in one term', () => {
    const checker = new SafetyChecker();
    checker.observeLeader(3, 1);
    checker.observeLeader(3, 1);
    expect(() => checker.observeLeader(3, 2)).toThrow(AssertionError);
  });

  it('a different entry applied at a committed index', () => {
    const checker = new SafetyChecker();
    const a = checker.observeApply(1, { appliedIndex: 0, digest: 0 }, entry(1, 1, 7));
    expect(a.appliedIndex).toBe(1);
    expect(() => checker.observeApply(2, { appliedIndex: 0, digest: 0 }, entry(1, 1, 8))).toThrow('state machine safety');
    expect(() => checker.observeApply(2, { appliedIndex: 0, digest: 0 }, entry(1, 2, 7))).toThrow('state machine safety');
  });

  it('a leader committing an entry of an older term by counting replicas', () => {
    const checker = new SafetyChecker();
    checker.observeLeaderCommit(1, 4, 10, 4);
    checker.observeLeaderCommit(1, 4, 11, undefined); // compacted: nothing to compare
    expect(() => checker.observeLeaderCommit(1, 4, 9, 3)).toThrow('leader commit rule');
  });

  it('a gap in a node applied sequence', () => {
    const checker = new SafetyChecker();
    expect(() => checker.observeApply(1, { appliedIndex: 0, digest: 0 }, entry(2, 1, 7))).toThrow('gap');
  });

  it('a failure names the seed and the replay command', () => {
    const failure = new SimulationFailure(42, 'x');
    expect(failure.seed).toBe(42);
  });
});
