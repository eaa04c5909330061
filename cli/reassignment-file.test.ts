/**
 * `kactus partitions` without a cluster: plan-file parsing and its checks
 * against a cluster's shape (cli/reassignment-file.ts), the reassign mode
 * and flag rules (reassignMode), the plan summary, and bad arguments through
 * main() in-process (exit 2, one line on stderr), including a bad plan file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './main.ts';
import { UsageError, withOutput } from './output.ts';
import { brokerIdList, parseReassignmentFile, reassignmentProblems } from './reassignment-file.ts';
import { parsePartitionsCommand, planSummary, reassignMode, reassignmentWaitMsDefault } from './commands/partitions.ts';

const dir = mkdtempSync(join(tmpdir(), 'kactus-reassign-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await withOutput({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, () => main(args));
  return { code, stdout, stderr };
}

describe('plan files', () => {
  it('parses Kafka\'s format, log_dirs included', () => {
    const text = JSON.stringify({ version: 1, partitions: [{ topic: 'orders', partition: 0, replicas: [1, 2, 4], log_dirs: ['any', 'any', 'any'] }, { topic: 'orders', partition: 1, replicas: [4] }] });
    expect(parseReassignmentFile(text, 'plan.json')).toEqual([
      { topic: 'orders', partition: 0, replicas: [1, 2, 4] },
      { topic: 'orders', partition: 1, replicas: [4] },
    ]);
  });

  it.each([
    { name: 'not JSON', text: '{"version":1,', error: /plan\.json: not JSON/ },
    { name: 'an array', text: '[]', error: /expected \{"version":1/ },
    { name: 'version 2', text: '{"version":2,"partitions":[]}', error: /"version" must be 1/ },
    { name: 'no partitions', text: '{"version":1}', error: /"partitions" must be an array/ },
    { name: 'an entry not an object', text: '{"version":1,"partitions":[3]}', error: /partitions\[0\] is not an object/ },
    { name: 'a typo\'d key', text: '{"version":1,"partitions":[{"topic":"t","partition":0,"replica":[1]}]}', error: /unknown key "replica"/ },
    { name: 'no topic', text: '{"version":1,"partitions":[{"partition":0,"replicas":[1]}]}', error: /"topic" must be a topic name/ },
    { name: 'a negative partition', text: '{"version":1,"partitions":[{"topic":"t","partition":-1,"replicas":[1]}]}', error: /"partition" must be a partition number/ },
    { name: 'a fractional partition', text: '{"version":1,"partitions":[{"topic":"t","partition":1.5,"replicas":[1]}]}', error: /"partition" must be a partition number/ },
    { name: 'empty replicas', text: '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[]}]}', error: /non-empty list of broker ids/ },
    { name: 'a string replica', text: '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":["1"]}]}', error: /replica "1" is not a broker id/ },
    { name: 'a duplicate replica', text: '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}', error: /list a broker twice/ },
    { name: 'a partition twice', text: '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}', error: /t-0 is listed twice/ },
  ])('refuses $name', ({ text, error }) => {
    expect(() => parseReassignmentFile(text, 'plan.json')).toThrow(UsageError);
    expect(() => parseReassignmentFile(text, 'plan.json')).toThrow(error);
  });

  it('a cancel file may leave out replicas', () => {
    expect(parseReassignmentFile('{"version":1,"partitions":[{"topic":"t","partition":2}]}', 'c.json', { replicasRequired: false })).toEqual([{ topic: 't', partition: 2 }]);
    expect(() => parseReassignmentFile('{"version":1,"partitions":[{"topic":"t","partition":2}]}', 'c.json')).toThrow(/"replicas" must be/);
  });

  it('checks topics, partitions and brokers against the cluster', () => {
    const counts = new Map([['orders', 6]]);
    const live = new Set([1, 2, 3, 4]);
    expect(reassignmentProblems([{ topic: 'orders', partition: 5, replicas: [1, 4] }], counts, live)).toEqual([]);
    expect(reassignmentProblems([{ topic: 'nope', partition: 0, replicas: [1] }], counts, live)).toEqual(['topic nope does not exist']);
    expect(reassignmentProblems([{ topic: 'orders', partition: 6, replicas: [1] }], counts, live)).toEqual(['partition orders-6 does not exist (the topic has 6)']);
    expect(reassignmentProblems([{ topic: 'orders', partition: 0, replicas: [1, 7, 9] }], counts, live)).toEqual(['orders-0: brokers 7,9 are not live (live: 1,2,3,4)']);
    expect(reassignmentProblems([{ topic: 'orders', partition: 0 }], counts, live)).toEqual([]);
  });

  it('broker id lists', () => {
    expect(brokerIdList('1, 2,4', 'brokers')).toEqual([1, 2, 4]);
    expect(() => brokerIdList('1,x', 'brokers')).toThrow(/"x" is not a broker id/);
    expect(() => brokerIdList('1,1', 'brokers')).toThrow(/lists a broker twice/);
    expect(() => brokerIdList(',', 'brokers')).toThrow(/at least one broker id/);
  });
});

describe('partitions reassign arguments', () => {
  const mode = (...argv: string[]) => reassignMode(parsePartitionsCommand('reassign', argv));

  it('one mode per run, with its own flags', () => {
    expect(mode('--plan')).toEqual({ mode: 'plan', topics: [], brokers: null, drainBrokers: [] });
    expect(mode('--plan', '--topics', 'a,b', '--brokers', '1,2,3,4', '--drain-broker', '2', '--drain-broker', '3,2')).toEqual({ mode: 'plan', topics: ['a', 'b'], brokers: [1, 2, 3, 4], drainBrokers: [2, 3] });
    expect(mode('--execute', 'p.json')).toEqual({ mode: 'execute', file: 'p.json', throttleBytesPerSec: null, wait: false, timeoutMs: reassignmentWaitMsDefault });
    expect(mode('--execute', 'p.json', '--throttle', '1048576', '--wait', '--timeout-ms', '60000')).toEqual({ mode: 'execute', file: 'p.json', throttleBytesPerSec: 1048576, wait: true, timeoutMs: 60000 });
    expect(mode('--status', '--topics', 'orders')).toEqual({ mode: 'status', topics: ['orders'] });
    expect(mode('--cancel')).toEqual({ mode: 'cancel', file: null });
    expect(mode('--cancel', 'p.json')).toEqual({ mode: 'cancel', file: 'p.json' });
    expect(mode('--remove-throttle')).toEqual({ mode: 'remove-throttle' });
  });

  it.each([
    { argv: [], error: /give one of --plan/ },
    { argv: ['--plan', '--cancel'], error: /--plan and --cancel exclude each other/ },
    { argv: ['--status', '--throttle', '5'], error: /--throttle goes with --execute, not --status/ },
    { argv: ['--plan', '--wait'], error: /--wait goes with --execute/ },
    { argv: ['--execute', 'p.json', '--drain-broker', '2'], error: /--drain-broker goes with --plan/ },
    { argv: ['--execute', 'p.json', '--throttle', '0'], error: /--throttle must be an integer/ },
    { argv: ['--execute', 'p.json', '--timeout-ms', '5'], error: /--timeout-ms goes with --wait/ },
    { argv: ['--plan', 'extra'], error: /unexpected argument "extra"/ },
    { argv: ['--plan', '--brokers', '1,-2'], error: /not a broker id/ },
  ])('refuses $argv', ({ argv, error }) => {
    expect(() => mode(...argv)).toThrow(error);
  });

  it('the plan summary names every broker before -> after, or says there is nothing to do', () => {
    expect(planSummary({ partitions: [], replicasMoved: 0, leadersChanged: 0, brokers: [] })).toEqual(['Already balanced: nothing to move.']);
    const lines = planSummary({
      partitions: [{ topic: 't', partition: 0, replicas: [4, 2, 3] }],
      replicasMoved: 1,
      leadersChanged: 1,
      brokers: [{ brokerId: 1, replicasBefore: 1, replicasAfter: 0, leadersBefore: 1, leadersAfter: 0 }, { brokerId: 4, replicasBefore: 0, replicasAfter: 1, leadersBefore: 0, leadersAfter: 1 }],
    });
    expect(lines[0]).toBe('Plan: 1 partition change; 1 replica move, 1 preferred leader change.');
    expect(lines[1]).toBe('  broker 1: replicas 1 -> 0, preferred leader of 1 -> 0');
    expect(lines[2]).toBe('  broker 4: replicas 0 -> 1, preferred leader of 0 -> 1');
  });
});

describe('kactus partitions / cluster remove-broker through main()', () => {
  it('every help prints usage and exits 0', async () => {
    for (const args of [['partitions', '--help'], ['partitions', 'reassign', '--help'], ['partitions', 'elect-leaders', '--help'], ['cluster', 'remove-broker', '--help']]) {
      const r = await run(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
      expect(r.stdout).toMatch(/^Usage: kactus /);
    }
    expect((await run(['--help'])).stdout).toMatch(/partitions +reassign/);
    expect((await run(['cluster', '--help'])).stdout).toContain('cluster remove-broker');
  });

  it('bad arguments and bad plan files exit 2 with one line, before any cluster is asked', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,1]}]}');
    // An unreachable bootstrap: reaching it would take seconds and exit 1, so exit 2 proves nothing was asked.
    const unreachable = ['--bootstrap', 'ws://127.0.0.1:1'];
    const cases: [string[], RegExp][] = [
      [['partitions'], /a subcommand is required/],
      [['partitions', 'move'], /^kactus partitions: unknown subcommand "move"; see kactus partitions --help$/],
      [['partitions', 'reassign', '--plan', '--bogus'], /^kactus partitions reassign: unknown option --bogus; see kactus partitions reassign --help$/],
      [['partitions', 'reassign', '--execute', join(dir, 'missing.json'), ...unreachable], /missing\.json: no such file/],
      [['partitions', 'elect-leaders', '--partition', '0'], /--partition goes with --topic/],
      [['partitions', 'elect-leaders', '--topic', 't', '--partition', 'x'], /--partition must be an integer/],
      [['cluster', 'remove-broker'], /missing N \(the broker id\)/],
      [['cluster', 'remove-broker', '-1'], /not a broker id/],
      [['cluster', 'remove-broker', '1', '2'], /unexpected argument "2"/],
    ];
    for (const [args, error] of cases) {
      const r = await run(args);
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(error);
    }
  });
});
