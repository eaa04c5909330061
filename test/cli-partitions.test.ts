/**
 * `kactus partitions` and `kactus cluster remove-broker` end to end, as a
 * user runs them (`node cli/kactus.mjs ...` as child processes) against a
 * real cluster of broker processes (test/support/cluster.ts), the way
 * test/cli.test.ts tests the other commands.
 *
 * Goal: issue #17's rebalance flow works from the command line. Method: 3
 * brokers with a 6-partition RF 3 topic get a fourth broker; `reassign
 * --plan --topics` moves 4 or 5 of the 18 replicas onto it; `--execute FILE
 * --throttle --wait` completes, after which Metadata shows the plan,
 * `--status` shows nothing in progress and broker 4 leads 1 or 2 partitions; a second plan is
 * empty (the plan is a fixed point); `remove-broker 4` is refused while it
 * hosts replicas (exit 1); elect-leaders runs.
 *
 * Every wait is bounded; CLI children are SIGKILLed in afterEach, the
 * brokers in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { killAllChildren, repoRoot } from './support/processes.ts';

const cliPath = join(repoRoot, 'cli', 'kactus.mjs');
/** Longest one CLI run may take here (a --wait run moves replicas; the machine may be busy). */
const runTimeoutMs = 90_000;

type Run = { code: number | null; stdout: string; stderr: string };

const running = new Set<ChildProcess>();

function kactus(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), runTimeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

let cluster: TestCluster;
let bootstrap: string;
const dir = mkdtempSync(join(tmpdir(), 'kactus-cli-partitions-'));

beforeAll(async () => {
  cluster = await startTestCluster(3, ['offsets.topic.num.partitions=3'], { env: { LOG_LEVEL: 'warn' } });
  bootstrap = cluster.brokers.map((b) => b.url).join(',');
}, 60_000);

afterEach(async () => {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
});

afterAll(async () => {
  await killAllChildren();
  await cluster?.cleanup();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

type Described = { topic: string; partitions: { partition: number; leader: number; replicas: number[]; isr: number[] }[] }[];

describe('kactus partitions', () => {
  it('a fourth broker: plan, execute --throttle --wait, status empty, plan again empty; remove-broker refused while it hosts replicas', async () => {
    expect((await kactus(['topics', 'create', 'rebalanced', '--partitions', '6', '--replication-factor', '3', '--bootstrap', bootstrap])).code).toBe(0);
    const fourth = await cluster.addBroker();
    const withFourth = `${bootstrap},${fourth.url}`;

    const planned = await kactus(['partitions', 'reassign', '--plan', '--topics', 'rebalanced', '--bootstrap', withFourth]);
    expect({ code: planned.code, stderr: planned.stderr }).toMatchObject({ code: 0 });
    const plan = JSON.parse(planned.stdout) as { version: number; partitions: { topic: string; partition: number; replicas: number[] }[] };
    expect(plan.version).toBe(1);
    const onFourth = plan.partitions.filter((p) => p.replicas.includes(fourth.id)).length;
    expect(onFourth).toBeGreaterThanOrEqual(4);
    expect(onFourth).toBeLessThanOrEqual(5);
    expect(planned.stderr).toMatch(/^Plan: \d+ partitions? change; [45] replicas move/);
    const planFile = join(dir, 'plan.json');
    writeFileSync(planFile, planned.stdout);

    const executed = await kactus(['partitions', 'reassign', '--execute', planFile, '--throttle', '10485760', '--wait', '--timeout-ms', '60000', '--bootstrap', withFourth]);
    expect({ code: executed.code, stderr: executed.stderr.split('\n').filter((l) => l.startsWith('kactus:')) }).toEqual({ code: 0, stderr: [] });
    expect(executed.stdout).toContain('Current assignment of these partitions');
    expect(executed.stdout).toMatch(/Reassignment of \d+ partitions? complete; throttle removed\.\n$/);

    const [status, statusJson, described] = await Promise.all([
      kactus(['partitions', 'reassign', '--status', '--bootstrap', withFourth]),
      kactus(['partitions', 'reassign', '--status', '--json', '--bootstrap', withFourth]),
      kactus(['topics', 'describe', 'rebalanced', '--json', '--bootstrap', withFourth]),
    ]);
    expect(status).toMatchObject({ code: 0, stdout: 'No reassignments in progress.\n' });
    expect(JSON.parse(statusJson.stdout)).toEqual([]);
    const [topic] = JSON.parse(described.stdout) as Described;
    const wanted = new Map(plan.partitions.map((p) => [p.partition, p.replicas]));
    for (const p of topic!.partitions) if (wanted.has(p.partition)) expect(p.replicas).toEqual(wanted.get(p.partition));
    expect(topic!.partitions.filter((p) => p.replicas.includes(fourth.id))).toHaveLength(onFourth);

    // Planned again on the result: nothing to move.
    const again = await kactus(['partitions', 'reassign', '--plan', '--topics', 'rebalanced', '--json', '--bootstrap', withFourth]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ plan: { version: 1, partitions: [] }, replicasMoved: 0 });

    const elected = await kactus(['partitions', 'elect-leaders', '--topic', 'rebalanced', '--bootstrap', withFourth]);
    expect(elected).toMatchObject({ code: 0, stdout: 'Elected preferred leaders for every partition of rebalanced (partitions already led as asked are left as they are).\n' });
    // Broker 4 leads its share (1 or 2 of 6): the preferred leaders were elected (by --wait, and again here).
    // Brokers apply committed metadata asynchronously: poll describe, bounded.
    let ledByFourth = 0;
    for (let attempt = 0; attempt < 20; attempt++) {
      const [now] = JSON.parse((await kactus(['topics', 'describe', 'rebalanced', '--json', '--bootstrap', withFourth])).stdout) as Described;
      ledByFourth = now!.partitions.filter((p) => p.leader === fourth.id).length;
      if (ledByFourth >= 1 && now!.partitions.every((p) => p.leader === p.replicas[0])) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(ledByFourth).toBeGreaterThanOrEqual(1);
    expect(ledByFourth).toBeLessThanOrEqual(2);

    const refused = await kactus(['cluster', 'remove-broker', String(fourth.id), '--bootstrap', withFourth]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);

    const cancelled = await kactus(['partitions', 'reassign', '--cancel', '--bootstrap', withFourth]);
    expect(cancelled).toMatchObject({ code: 0, stdout: 'No reassignments in progress to cancel.\n' });
  }, 180_000);
});
