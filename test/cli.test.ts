/**
 * The `kactus` CLI end to end: a real 3-broker cluster (test/support/cluster.ts)
 * and the CLI run as child processes (`node cli/kactus.mjs ...`), as a user
 * runs it. Checks outputs and exit codes: topics create/describe/list/alter/
 * add-partitions/delete, produce from stdin, consume (from the beginning, by
 * partition and offset), cluster status; bad arguments exit 2 with one line
 * on stderr; an unreachable cluster exits 1 with one line, in bounded time;
 * `kactus cluster up` (what npm start runs) then SIGINT leaves no process
 * behind (brokers and their helpers), and a second `cluster up` on the same
 * data dir serves the first one's topic and records. The README's generated
 * sections (CLI reference, config table) match the code.
 *
 * --help of every command and the bad-argument cases run main() in-process
 * (cli/output.ts withOutput captures what it prints): a child process per
 * case costs ~0.7 s of tsx start-up. One case of each still runs as a real
 * process, so the bin's exit code and streams stay tested end to end.
 *
 * Every wait is bounded; every CLI child is SIGKILLed in afterEach (by pid),
 * the cluster's brokers in afterAll.
 */
import { kafkaRequest } from './support/kafka-wire.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import { withOutput } from '../cli/output.ts';
import { configProblems, readmePath, regenerated } from '../cli/reference.ts';
import { Kactus } from '../client/index.ts';
import { readPartition } from './client-read.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { freePort, killAllChildren, repoRoot } from './support/processes.ts';

const cliPath = join(repoRoot, 'cli', 'kactus.mjs');
/** Longest one CLI run may take in these tests (the machine may be busy). */
const runTimeoutMs = 30_000;

type Run = { code: number | null; stdout: string; stderr: string; elapsedMs: number; /** stdout as bytes (bin runs only). */ stdoutBytes?: Buffer };

const running = new Set<ChildProcess>();

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Runs the CLI with `args`, feeding `input` on stdin; resolves when it exits (SIGKILL after timeoutMs). */
function kactus(args: string[], options: { input?: string; env?: Record<string, string>; timeoutMs?: number; started?: (child: ChildProcess) => void } = {}): Promise<Run> {
  const startedMs = Date.now();
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  const stdoutChunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(options.input ?? '');
  options.started?.(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? runTimeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      const stdoutBytes = Buffer.concat(stdoutChunks);
      resolve({ code, stdout: stdoutBytes.toString('utf8'), stderr, elapsedMs: Date.now() - startedMs, stdoutBytes });
    });
  });
}

/** Runs every argument list through the CLI, at most `parallel` at once (the machine has 2 cores). */
async function kactusAll(cases: string[][], parallel = 3): Promise<Run[]> {
  const results: Run[] = new Array(cases.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < cases.length) {
        const i = next++;
        results[i] = await kactus(cases[i]!);
      }
    }),
  );
  return results;
}

/**
 * Runs main(args) in this process, capturing what it prints. Only for runs
 * that end without touching a cluster (--help, bad arguments): main() never
 * calls process.exit (the bin does), so the exit code is its return value.
 */
async function kactusInProcess(args: string[]): Promise<Run> {
  const startedMs = Date.now();
  let stdout = '';
  let stderr = '';
  const code = await withOutput({ stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) }, () => main(args));
  return { code, stdout, stderr, elapsedMs: Date.now() - startedMs };
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

let cluster: TestCluster;
let bootstrap: string;

beforeAll(async () => {
  // A small offsets topic and no initial rebalance delay keep the group tests quick.
  cluster = await startTestCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0'], { env: { LOG_LEVEL: 'warn' } });
  bootstrap = cluster.brokers.map((b) => b.url).join(',');
}, 60_000);

afterEach(async () => {
  await Promise.all([...running].map(kill));
});

afterAll(async () => {
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

describe('kactus CLI', () => {
  it('help lists every command, and each command has --help', async () => {
    // The top-level help through the real bin (exit code, stdout end to end); every command's help in-process.
    const top = await kactus(['--help']);
    expect({ code: top.code, stderr: top.stderr }).toEqual({ code: 0, stderr: '' });
    for (const command of ['cluster up', 'cluster status', 'broker', 'topics', 'produce', 'consume', 'groups', 'perf produce', 'perf consume', 'perf e2e']) expect(top.stdout).toContain(command);
    const helpCases = [
      ['cluster', '--help'], ['cluster', 'up', '--help'], ['cluster', 'status', '--help'], ['broker', '--help'],
      ['topics', '--help'], ['topics', 'create', '--help'], ['topics', 'describe', '--help'], ['produce', '--help'], ['consume', '--help'],
      ['groups', '--help'], ['groups', 'reset-offsets', '--help'], ['perf', '--help'], ['perf', 'produce', '--help'], ['perf', 'consume', '--help'], ['perf', 'e2e', '--help'],
    ];
    const helps = await Promise.all(helpCases.map(kactusInProcess));
    helps.forEach((run, i) => {
      expect({ args: helpCases[i], code: run.code, stderr: run.stderr }).toEqual({ args: helpCases[i], code: 0, stderr: '' });
      expect(run.stdout).toMatch(/^Usage: kactus /);
    });
  }, 60_000);

  it('bad arguments exit 2 with one line on stderr', async () => {
    const cases = [
      ['frobnicate'],
      [],
      ['topics'],
      ['topics', 'create', 'x', '--partitions', 'zero', '--replication-factor', '1'],
      ['topics', 'list', '--no-such-flag'],
      ['produce'],
      ['produce', 't', '--acks', '2'],
      ['produce', 't', '--compression', 'brotli'],
      ['consume', 't', '--format', 'xml'],
      ['topics', 'list', '--bootstrap', 'http://x'],
      ['perf', 'nope'],
      ['perf', 'produce', '--topic', 't', '--records', '1', '--record-size', '1', '--throughput', '0'],
      ['consume', 't', '--partition', '-1'],
      ['groups', 'reset-offsets', 'g', '--topic', 't', '--to-earliest', '--to-latest'],
      ['cluster', 'up', '--brokers', '0'],
      ['cluster', 'up', '--no-such-flag'],
      ['broker', '--node-id', '1', '--listen', '127.0.0.1:1', '--controller-quorum', '1@127.0.0.1:1', '--data', '/nonexistent', '--set', 'no.such.config=1'],
    ];
    // The last case through the real bin (exit code 2, stderr end to end), the others in-process. It is the
    // one that would start a broker if its config check regressed: better in a child than in this test process.
    const runs = await Promise.all(cases.map((args, i) => (i === cases.length - 1 ? kactus(args) : kactusInProcess(args))));
    runs.forEach((run, i) => {
      expect({ args: cases[i], code: run.code }).toEqual({ args: cases[i], code: 2 });
      expect(lines(run.stderr)).toHaveLength(1);
      // kactus <command>: <what is wrong>; see kactus <command> --help (the same command twice; none before one is recognised)
      const form = /^kactus((?: [a-z-]+)*): .+; see kactus((?: [a-z-]+)*) --help\n$/.exec(run.stderr);
      expect({ args: cases[i], stderr: run.stderr, form: form !== null && form[1] === form[2] }).toEqual({ args: cases[i], stderr: run.stderr, form: true });
    });
    expect(runs.map((run) => run.stderr.split(':')[0])).toEqual([
      'kactus', 'kactus', 'kactus topics', 'kactus topics create', 'kactus topics list', 'kactus produce', 'kactus produce', 'kactus produce', 'kactus consume', 'kactus topics list', 'kactus perf',
      'kactus perf produce', 'kactus consume', 'kactus groups reset-offsets', 'kactus cluster up', 'kactus cluster up', 'kactus broker',
    ]);
    expect(runs.at(-1)!.stderr).toContain('no.such.config');
  }, 60_000);

  it('an unreachable cluster exits 1 with one line, in bounded time', async () => {
    const port = await freePort();
    const runs = await Promise.all([kactus(['topics', 'list', '--bootstrap', `ws://127.0.0.1:${port}`]), kactus(['cluster', 'status'], { env: { KACTUS_BOOTSTRAP: `ws://127.0.0.1:${port}` } })]);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr).toContain('could not reach');
      expect(run.elapsedMs).toBeLessThan(20_000);
    }
  }, 60_000);

  it('topics create, describe, list; produce from stdin; consume; cluster status', async () => {
    const created = await kactus(['topics', 'create', 'cli-orders', '--partitions', '3', '--replication-factor', '3', '--config', 'min.insync.replicas=2', '--bootstrap', bootstrap]);
    expect(created).toMatchObject({ code: 0, stdout: 'Created topic cli-orders.\n' });
    const again = await kactus(['topics', 'create', 'cli-orders', '--partitions', '3', '--replication-factor', '3', '--bootstrap', bootstrap]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('TOPIC_ALREADY_EXISTS');

    const [described, describedJson, listed, underReplicated] = await Promise.all([
      kactus(['topics', 'describe', 'cli-orders', '--bootstrap', bootstrap]),
      kactus(['topics', 'describe', 'cli-orders', '--json', '--bootstrap', bootstrap]),
      kactus(['topics', 'list', '--bootstrap', bootstrap]),
      kactus(['topics', 'describe', '--under-replicated', '--bootstrap', bootstrap]),
    ]);
    expect(described.code).toBe(0);
    const describedLines = lines(described.stdout);
    expect(describedLines[0]).toMatch(/^Topic: cli-orders\tTopicId: \S+\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: min.insync.replicas=2$/);
    expect(describedLines.slice(1)).toHaveLength(3);
    for (const line of describedLines.slice(1)) expect(line).toMatch(/^\tTopic: cli-orders\tPartition: \d\tLeader: [123]\tReplicas: [123],[123],[123]\tIsr: [123],[123],[123]$/);
    const [topic] = JSON.parse(describedJson.stdout) as { topic: string; partitions: { partition: number; leader: number; replicas: number[]; isr: number[] }[] }[];
    expect(topic!.partitions.map((p) => p.partition)).toEqual([0, 1, 2]);
    for (const p of topic!.partitions) {
      expect(p.replicas).toHaveLength(3);
      expect(p.replicas).toContain(p.leader);
    }
    expect(lines(listed.stdout)).toContain('cli-orders');
    expect(underReplicated).toMatchObject({ code: 0, stdout: '' });

    const input = Array.from({ length: 30 }, (_, i) => `key-${i % 5}:value-${i}`).join('\n') + '\n';
    const produced = await kactus(['produce', 'cli-orders', '--key-separator', ':', '--header', 'source=cli-test', '--json', '--bootstrap', bootstrap], { input });
    expect(produced.stderr).toBe('');
    expect(produced.code).toBe(0);
    expect(JSON.parse(produced.stdout)).toMatchObject({ topic: 'cli-orders', records: 30 });

    const consumed = await kactus(['consume', 'cli-orders', '--from-beginning', '--max-messages', '30', '--format', 'json', '--bootstrap', bootstrap]);
    expect(consumed.code).toBe(0);
    const records = lines(consumed.stdout).map((l) => JSON.parse(l) as { partition: number; offset: number; key: string; value: string; headers: { key: string; value: string }[] });
    expect(records).toHaveLength(30);
    expect(records.map((r) => r.value).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `value-${i}`).sort());
    for (const r of records) {
      expect(r.headers).toEqual([{ key: 'source', value: 'cli-test' }]);
      expect(Number(r.value.slice(6)) % 5).toBe(Number(r.key.slice(4)));
    }
    // Same key, same partition, in the order produced.
    for (let k = 0; k < 5; k += 1) {
      const mine = records.filter((r) => r.key === `key-${k}`);
      expect(new Set(mine.map((r) => r.partition)).size).toBe(1);
      expect(mine.map((r) => Number(r.value.slice(6)))).toEqual([...mine.map((r) => Number(r.value.slice(6)))].sort((a, b) => a - b));
    }

    const first = records.find((r) => r.offset === 1)!;
    const [byOffset, status, quiet] = await Promise.all([
      kactus(['consume', 'cli-orders', '--partition', String(first.partition), '--offset', '1', '--max-messages', '1', '--bootstrap', bootstrap]),
      kactus(['cluster', 'status', '--json', '--bootstrap', bootstrap]),
      kactus(['consume', 'cli-orders', '--timeout-ms', '1000', '--bootstrap', bootstrap]),
    ]);
    expect(byOffset).toMatchObject({ code: 0, stdout: `${first.value}\n` });

    // kcat's -o forms over every partition, and -e: exactly what was there when reading began, then exit 0.
    const perPartition = [0, 1, 2].map((p) => records.filter((r) => r.partition === p).sort((a, b) => a.offset - b.offset));
    const beforeProduceMs = Date.now() + 60_000; // no record is that young: s@ then starts every partition at its end
    const [lastTwo, atEnd, fromTime, allOfIt, badOffset] = await kactusAll([
      ['consume', 'cli-orders', '--offset', '-2', '--exit-at-end', '--format', 'json', '--bootstrap', bootstrap],
      ['consume', 'cli-orders', '--offset', 'end', '-e', '--bootstrap', bootstrap],
      ['consume', 'cli-orders', '--offset', `s@${beforeProduceMs}`, '-e', '--bootstrap', bootstrap],
      ['consume', 'cli-orders', '--offset', 'beginning', '-e', '--bootstrap', bootstrap],
      ['consume', 'cli-orders', '--offset', 'yesterday', '--bootstrap', bootstrap],
    ]);
    expect(lastTwo!.code).toBe(0);
    const lastTwoValues = lines(lastTwo!.stdout).map((l) => (JSON.parse(l) as { value: string }).value).sort();
    expect(lastTwoValues).toEqual(perPartition.flatMap((rs) => rs.slice(-2).map((r) => r.value)).sort());
    expect(atEnd).toMatchObject({ code: 0, stdout: '' });
    expect(fromTime).toMatchObject({ code: 0, stdout: '' });
    expect(lines(allOfIt!.stdout)).toHaveLength(30);
    expect(badOffset!.code).toBe(2);
    expect(badOffset!.stderr).toContain('-N (N before the end)');
    expect(status.code).toBe(0);
    const statusJson = JSON.parse(status.stdout) as { brokers: { brokerId: number }[]; controllerId: number; quorum: { voters: { role: string }[] }; underReplicated: number; underMinIsr: number; offline: number };
    expect(statusJson.brokers.map((b) => b.brokerId)).toEqual([1, 2, 3]);
    expect([1, 2, 3]).toContain(statusJson.controllerId);
    expect(statusJson.quorum.voters.filter((v) => v.role === 'Leader')).toHaveLength(1);
    expect(statusJson).toMatchObject({ underReplicated: 0, underMinIsr: 0, offline: 0 });
    expect(quiet).toMatchObject({ code: 0, stdout: '' });

    const altered = await kactus(['topics', 'alter', 'cli-orders', '--config', 'retention.ms=86400000', '--bootstrap', bootstrap]);
    expect(altered.code).toBe(0);
    const grown = await kactus(['topics', 'add-partitions', 'cli-orders', '--partitions', '4', '--bootstrap', bootstrap]);
    expect(grown.code).toBe(0);
    const after = await kactus(['topics', 'describe', 'cli-orders', '--bootstrap', bootstrap]);
    expect(lines(after.stdout)[0]).toContain('PartitionCount: 4');
    expect(lines(after.stdout)[0]).toContain('retention.ms=86400000');
    const deleted = await kactus(['topics', 'delete', 'cli-orders', '--bootstrap', bootstrap]);
    expect(deleted).toMatchObject({ code: 0, stdout: 'Deleted topic cli-orders.\n' });
    const gone = await kactus(['topics', 'describe', 'cli-orders', '--bootstrap', bootstrap]);
    expect(gone.code).toBe(1);
    expect(lines(gone.stderr)).toHaveLength(1);
  }, 150_000);
});

/** Is `port` on 127.0.0.1 free right now? */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Pids of every descendant of `pid` (from /proc): brokers, and helpers such as tsx's esbuild service. */
function descendantPids(pid: number): number[] {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  } catch {
    return [];
  }
  const children = text.length === 0 ? [] : text.split(/\s+/).map(Number);
  return children.flatMap((child) => [child, ...descendantPids(child)]);
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Is `pid` a running process? A zombie (exited, not yet reaped by its new parent) counts as gone. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('kactus consume: several topics, a pattern, binary-safe output', () => {
  it('reads every named topic, or every topic a pattern matches; keys, values and headers that are not UTF-8 come out as their bytes, or base64 in JSON', async () => {
    const client = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'cli-binary' });
    try {
      const admin = client.admin();
      await admin.createTopics({ topics: ['multi-a', 'multi-b', 'other-c'].map((topic) => ({ topic, numPartitions: 2, replicationFactor: 3 })) });
      const binary = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x80, 0x41]); // NUL, invalid UTF-8, a newline
      const producer = client.producer({ acks: 'all' });
      await producer.send({ topic: 'multi-a', messages: [{ key: 'ka', value: 'a-text', partition: 0 }, { key: binary, value: binary, headers: [{ key: 'h', value: binary }, { key: 'h', value: 'again' }], partition: 1 }] });
      await producer.send({ topic: 'multi-b', messages: [{ key: 'kb', value: 'b-text', partition: 0 }] });
      await producer.send({ topic: 'other-c', messages: [{ key: 'kc', value: 'c-text', partition: 0 }] });
      await producer.close();

      type JsonRecord = { topic: string; partition: number; key: string | null; keyEncoding?: string; value: string | null; valueEncoding?: string; headers: { key: string; value: string | null; valueEncoding?: string }[] };
      const read = async (args: string[]): Promise<JsonRecord[]> => {
        const run = await kactus(['consume', ...args, '--from-beginning', '--exit-at-end', '--format', 'json', '--bootstrap', bootstrap]);
        expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
        return lines(run.stdout).map((l) => JSON.parse(l) as JsonRecord);
      };
      const [named, included, caret] = await Promise.all([read(['multi-a', 'multi-b']), read(['--include', '^multi-']), read(['^multi-'])]);
      for (const records of [named, included, caret]) {
        expect(records.map((r) => `${r.topic}:${r.value === null ? null : r.valueEncoding === 'base64' ? Buffer.from(r.value, 'base64').toString('hex') : r.value}`).sort()).toEqual(['multi-a:00fffe0a8041', 'multi-a:a-text', 'multi-b:b-text']);
      }
      const odd = named.find((r) => r.valueEncoding === 'base64')!;
      expect(odd).toMatchObject({ keyEncoding: 'base64', key: binary.toString('base64'), value: binary.toString('base64') });
      // Headers in order, the repeated key kept, each value's encoding its own.
      expect(odd.headers).toEqual([{ key: 'h', value: binary.toString('base64'), valueEncoding: 'base64' }, { key: 'h', value: 'again' }]);
      const text = named.find((r) => r.value === 'a-text')!;
      expect(text.keyEncoding).toBeUndefined();
      expect(text.valueEncoding).toBeUndefined();

      // The text format and format strings write the bytes themselves.
      const raw = await kactus(['consume', 'multi-a', '--partition', '1', '--from-beginning', '--exit-at-end', '--bootstrap', bootstrap]);
      expect(raw.code).toBe(0);
      expect(raw.stdoutBytes).toEqual(Buffer.concat([binary, Buffer.from('\n')]));
      const formatted = await kactus(['consume', 'multi-a', '--partition', '1', '--from-beginning', '-e', '-f', '[%k|%s|%h]', '--bootstrap', bootstrap]);
      expect(formatted.code).toBe(0);
      expect(formatted.stdoutBytes).toEqual(Buffer.concat([Buffer.from('['), binary, Buffer.from('|'), binary, Buffer.from('|h='), binary, Buffer.from(',h=again]')]));

      // Refusals: nothing to read, two patterns, a pattern beside names, --partition over several topics, a bad pattern, no match.
      const refusals = await kactusAll([
        ['consume', '--bootstrap', bootstrap],
        ['consume', '^a', '--include', 'b', '--bootstrap', bootstrap],
        ['consume', 'multi-a', '^multi', '--bootstrap', bootstrap],
        ['consume', 'multi-a', 'multi-b', '--partition', '0', '--bootstrap', bootstrap],
        ['consume', '--include', '(', '--bootstrap', bootstrap],
      ]);
      for (const r of refusals) expect({ code: r.code, lines: lines(r.stderr).length }).toEqual({ code: 2, lines: 1 });
      expect(refusals[0]!.stderr).toContain('name a TOPIC');
      expect(refusals[4]!.stderr).toContain('is not a regular expression');
      const none = await kactus(['consume', '--include', '^no-such-', '--from-beginning', '-e', '--bootstrap', bootstrap]);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('no topic matches ^no-such-');
    } finally {
      await client.close();
    }
  }, 90_000);

  it('produce is binary-safe too: lines of bytes that are not UTF-8 are sent as they are, split at the separator\'s bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kactus-cli-binary-'));
    try {
      const key = Buffer.from([0xc3, 0x28, 0x00]); // an invalid UTF-8 sequence and a NUL
      const value = Buffer.from([0xff, 0x3d, 0xfe, 0x09]); // 0x3d is '=': only the first separator splits
      const file = join(dir, 'lines.bin');
      writeFileSync(file, Buffer.concat([key, Buffer.from('='), value, Buffer.from('\r\n'), Buffer.from('plain=text')]));
      const created = await kactus(['topics', 'create', 'binary-in', '--partitions', '1', '--bootstrap', bootstrap]);
      expect(created.code).toBe(0);
      const produced = await kactus(['produce', 'binary-in', '--file', file, '--key-separator', '=', '--bootstrap', bootstrap]);
      expect({ code: produced.code, stderr: produced.stderr }).toEqual({ code: 0, stderr: '' });
      const read = await kactus(['consume', 'binary-in', '--from-beginning', '-e', '--format', 'json', '--bootstrap', bootstrap]);
      const records = lines(read.stdout).map((l) => JSON.parse(l) as { key: string; keyEncoding?: string; value: string; valueEncoding?: string });
      expect(records.map((r) => [r.keyEncoding === 'base64' ? Buffer.from(r.key, 'base64').toString('hex') : r.key, r.valueEncoding === 'base64' ? Buffer.from(r.value, 'base64').toString('hex') : r.value])).toEqual([
        [key.toString('hex'), value.toString('hex')],
        ['plain', 'text'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('with --group, a pattern subscription reads the matching topics as a group member', async () => {
    const client = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'cli-pattern' });
    try {
      await client.admin().createTopics({ topics: ['gpat-a', 'gpat-b', 'gother'].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 3 })) });
      const producer = client.producer({ acks: 'all' });
      for (const topic of ['gpat-a', 'gpat-b', 'gother']) await producer.send({ topic, messages: [{ value: `in ${topic}` }] });
      await producer.close();
    } finally {
      await client.close();
    }
    const run = await kactus(['consume', '--include', '^gpat-', '--group', 'cli-pattern-group', '--from-beginning', '--max-messages', '2', '--format', 'json', '--bootstrap', bootstrap]);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(lines(run.stdout).map((l) => (JSON.parse(l) as { value: string }).value).sort()).toEqual(['in gpat-a', 'in gpat-b']);
  }, 60_000);
});

describe('kactus produce flags', () => {
  it('--compression / -z: each codec lands in the log as that codec, and consume reads it back', async () => {
    const codecs = ['gzip', 'snappy', 'lz4', 'zstd'];
    expect((await kactus(['topics', 'create', 'cli-codecs', '--partitions', String(codecs.length), '--replication-factor', '1', '--bootstrap', bootstrap])).code).toBe(0);
    const input = (codec: string): string => Array.from({ length: 20 }, (_, i) => `${codec}-${i}:${`value ${i} of ${codec} `.repeat(4)}`).join('\n') + '\n';
    const produced = await Promise.all(codecs.map((codec, p) => kactus(['produce', 'cli-codecs', p % 2 === 0 ? '-z' : '--compression', codec, '--partition', String(p), '--key-separator', ':', '--bootstrap', bootstrap], { input: input(codec) })));
    expect(produced.map((r) => [r.code, r.stderr])).toEqual(codecs.map(() => [0, '']));
    const read = await kactus(['consume', 'cli-codecs', '--offset', 'beginning', '-e', '-f', '%p %k:%s\n', '--bootstrap', bootstrap]);
    expect(read.code).toBe(0);
    for (const [p, codec] of codecs.entries()) {
      expect(lines(read.stdout).filter((l) => l.startsWith(`${p} `)).map((l) => l.slice(2))).toEqual(lines(input(codec)));
    }
    const client = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'cli-codecs-check' });
    try {
      const stored = await Promise.all(codecs.map(async (_, p) => new Set((await readPartition(client, 'cli-codecs', p)).map((r) => r.compression))));
      expect(stored).toEqual(codecs.map((_, i) => new Set([i + 1])));
    } finally {
      await client.close();
    }
  });

  it('--partition, --file, --null-marker and --parse-headers: what is read back is what the lines said', async () => {
    expect((await kactus(['topics', 'create', 'cli-produce', '--partitions', '3', '--replication-factor', '1', '--bootstrap', bootstrap])).code).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'kactus-cli-produce-'));
    const file = join(dir, 'lines.txt');
    writeFileSync(file, ['trace:1,trace:2,app:web\tk1=v1', '\tk2=NULL', 'app:batch\tNULL=v3'].join('\n') + '\n');
    const produced = await kactus(['produce', 'cli-produce', '--file', file, '--partition', '2', '--key-separator', '=', '--null-marker', 'NULL', '--parse-headers', '--header', 'source=file', '--json', '--bootstrap', bootstrap]);
    expect(produced.stderr).toBe('');
    expect(JSON.parse(produced.stdout)).toMatchObject({ records: 3, partitions: { 2: 3 } });
    const read = await kactus(['consume', 'cli-produce', '--partition', '2', '--offset', 'beginning', '-e', '--format', 'json', '--bootstrap', bootstrap]);
    expect(read.code).toBe(0);
    const records = lines(read.stdout).map((l) => JSON.parse(l) as { key: string | null; value: string | null; headers: Record<string, string> }).map((r) => ({ ...r, headers: Object.fromEntries((r.headers as unknown as { key: string; value: string }[]).map((h) => [h.key, h.value])) }));
    expect(records.map((r) => [r.key, r.value])).toEqual([['k1', 'v1'], ['k2', null], [null, 'v3']]);
    expect(records[0]!.headers).toMatchObject({ source: 'file', app: 'web' });
    expect(records[2]!.headers).toEqual({ source: 'file', app: 'batch' });
    const formatted = await kactus(['consume', 'cli-produce', '--partition', '2', '--offset', 'beginning', '-e', '-f', '%p:%o %k=%s (%K/%S) %h\\n', '--bootstrap', bootstrap]);
    expect(lines(formatted.stdout)).toEqual(['2:0 k1=v1 (2/2) source=file,trace=1,trace=2,app=web', '2:1 k2= (2/-1) source=file', '2:2 =v3 (-1/2) source=file,app=batch']);
    const unknownDirective = await kactus(['consume', 'cli-produce', '-f', '%q', '--bootstrap', bootstrap]);
    expect(unknownDirective.code).toBe(2);
    expect(unknownDirective.stderr).toContain('unknown directive "%q"');

    writeFileSync(file, 'no tab here\n');
    const [noTab, missing, badPartition] = await kactusAll([
      ['produce', 'cli-produce', '--file', file, '--parse-headers', '--bootstrap', bootstrap],
      ['produce', 'cli-produce', '--file', join(dir, 'absent.txt'), '--bootstrap', bootstrap],
      ['produce', 'cli-produce', '--file', file, '--partition', '7', '--bootstrap', bootstrap],
    ]);
    expect(noTab!.code).toBe(1);
    expect(noTab!.stderr).toContain('no tab after its headers');
    expect(missing!.code).toBe(2);
    expect(missing!.stderr).toContain('absent.txt');
    expect(badPartition!.code).toBe(1);
    expect(badPartition!.stderr).toMatch(/partition/i);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('kactus with Kafka tool habits', () => {
  it('--bootstrap-server HOST:PORT,...; topics create with the brokers\' defaults, --if-not-exists, delete --if-exists; consume --property print.*; errors from the cluster as JSON', async () => {
    // A plain host:port list, as kafka-topics takes it (ws:// implied).
    const servers = cluster.brokers.map((b) => b.url.replace(/^ws:\/\//, '')).join(',');
    const created = await kactus(['topics', 'create', 'cli-habits', '--json', '--bootstrap-server', servers]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const made = JSON.parse(created.stdout) as { topic: string; created: boolean; partitions: number; replicationFactor: number };
    expect(made).toMatchObject({ topic: 'cli-habits', created: true });
    const [described] = JSON.parse((await kactus(['topics', 'describe', 'cli-habits', '--json', '--bootstrap-server', servers])).stdout) as { partitionCount: number; replicationFactor: number }[];
    // Neither given: the brokers' num.partitions and default.replication.factor, which the reply reports.
    expect(described).toMatchObject({ partitionCount: made.partitions, replicationFactor: made.replicationFactor });
    expect(made.partitions).toBeGreaterThan(0);

    const [again, existing, existingJson, deleteMissing, deleteMissingQuiet] = await kactusAll([
      ['topics', 'create', 'cli-habits', '--if-not-exists', '--bootstrap-server', servers],
      ['topics', 'create', 'cli-habits', '--bootstrap-server', servers],
      ['topics', 'create', 'cli-habits', '--json', '--bootstrap', servers],
      ['topics', 'delete', 'cli-no-such-topic', '--bootstrap-server', servers],
      ['topics', 'delete', 'cli-no-such-topic', '--if-exists', '--bootstrap-server', servers],
    ]);
    expect(again).toMatchObject({ code: 0, stdout: 'Topic cli-habits already exists.\n', stderr: '' });
    expect(existing!.code).toBe(1);
    expect(existing!.stderr).toMatch(/^kactus topics create: TOPIC_ALREADY_EXISTS: .*\n$/);
    expect(existingJson!.code).toBe(1);
    expect(JSON.parse(existingJson!.stderr)).toMatchObject({ error: { code: 'TOPIC_ALREADY_EXISTS', command: 'topics create', exitCode: 1 } });
    expect(deleteMissing!.code).toBe(1);
    expect(deleteMissing!.stderr).toMatch(/^kactus topics delete: UNKNOWN_TOPIC_OR_PARTITION/);
    expect(deleteMissingQuiet).toMatchObject({ code: 0, stdout: 'Topic cli-no-such-topic does not exist.\n' });

    const produced = await kactus(['produce', 'cli-habits', '--partition', '0', '--key-separator', ':', '--header', 'app=cli', '--bootstrap-server', servers], { input: 'k1:v1\nk2:v2\n' });
    expect(produced).toMatchObject({ code: 0, stderr: '' });
    const [keys, everything, separated] = await kactusAll([
      ['print.key=true'],
      ['print.timestamp=true', 'print.partition=true', 'print.offset=true', 'print.headers=true', 'print.key=true'],
      ['print.key=true', 'key.separator= -> '],
    ].map((properties) => ['consume', 'cli-habits', '--partition', '0', '--offset', 'beginning', '-e', ...properties.flatMap((p) => ['--property', p]), '--bootstrap-server', servers]));
    expect(keys).toMatchObject({ code: 0, stdout: 'k1\tv1\nk2\tv2\n' });
    expect(lines(everything!.stdout).map((l) => l.replace(/^CreateTime:\d+\t/, 'CreateTime:T\t'))).toEqual(['CreateTime:T\tPartition:0\tOffset:0\tapp:cli\tk1\tv1', 'CreateTime:T\tPartition:0\tOffset:1\tapp:cli\tk2\tv2']);
    expect(separated).toMatchObject({ code: 0, stdout: 'k1 -> v1\nk2 -> v2\n' });
    expect((await kactus(['topics', 'delete', 'cli-habits', '--if-exists', '--bootstrap-server', servers])).stdout).toBe('Deleted topic cli-habits.\n');
  }, 90_000);
});

describe('kactus configs', () => {
  it('describes and alters topic configs and the broker default; refuses a bad entity', async () => {
    expect((await kactus(['topics', 'create', 'cli-configs', '--partitions', '1', '--replication-factor', '1', '--bootstrap', bootstrap])).code).toBe(0);
    const topic = ['--entity-type', 'topics', '--entity-name', 'cli-configs', '--bootstrap', bootstrap];
    const altered = await kactus(['configs', 'alter', ...topic, '--add-config', 'retention.ms=3600000,cleanup.policy=compact']);
    expect(altered.code).toBe(0);
    expect(altered.stdout).toContain('Completed updating config for topic cli-configs');
    const described = JSON.parse((await kactus(['configs', 'describe', ...topic, '--json'])).stdout) as { configs: { name: string; value: string; source: string }[] };
    expect(described.configs).toEqual(expect.arrayContaining([{ name: 'retention.ms', value: '3600000', source: 'TOPIC_CONFIG', readOnly: false }, { name: 'cleanup.policy', value: 'compact', source: 'TOPIC_CONFIG', readOnly: false }]));
    expect((await kactus(['configs', 'alter', ...topic, '--delete-config', 'cleanup.policy'])).code).toBe(0);
    const after = JSON.parse((await kactus(['configs', 'describe', ...topic, '--json'])).stdout) as { configs: { name: string }[] };
    expect(after.configs.map((c) => c.name)).toEqual(['retention.ms']);

    const brokerDefault = ['--entity-type', 'brokers', '--entity-default', '--bootstrap', bootstrap];
    expect((await kactus(['configs', 'alter', ...brokerDefault, '--add-config', 'leader.replication.throttled.rate=10000000'])).code).toBe(0);
    const broker = JSON.parse((await kactus(['configs', 'describe', ...brokerDefault, '--json'])).stdout) as { configs: { name: string; value: string }[] };
    expect(broker.configs).toContainEqual(expect.objectContaining({ name: 'leader.replication.throttled.rate', value: '10000000' }));
    expect((await kactus(['configs', 'alter', ...brokerDefault, '--delete-config', 'leader.replication.throttled.rate'])).code).toBe(0);

    const [noType, bothNames, topicDefault, notAnId, nothing] = await kactusAll([
      ['configs', 'describe', '--entity-name', 'x', '--bootstrap', bootstrap],
      ['configs', 'describe', '--entity-type', 'brokers', '--entity-name', '1', '--entity-default', '--bootstrap', bootstrap],
      ['configs', 'describe', '--entity-type', 'topics', '--entity-default', '--bootstrap', bootstrap],
      ['configs', 'describe', '--entity-type', 'brokers', '--entity-name', 'one', '--bootstrap', bootstrap],
      ['configs', 'alter', ...topic],
    ]);
    for (const run of [noType, bothNames, topicDefault, notAnId, nothing]) {
      expect(run!.code).toBe(2);
      expect(run!.stderr).toMatch(/^kactus configs (describe|alter): .*; see kactus configs (describe|alter) --help\n$/);
    }
  });
});

describe('kactus groups', () => {
  type Described = { group: string; state: string; members: number; partitions: { topic: string; partition: number; currentOffset: number | null; logEndOffset: number | null; lag: number | null; memberId: string | null }[] };
  const describeGroup = async (group: string): Promise<Described> => {
    const run = await kactus(['groups', 'describe', group, '--json', '--bootstrap', bootstrap]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as Described;
  };

  it('consume --group commits what it printed; describe shows lag; reset-offsets dry run, execute, refused while active; delete-offsets refused while subscribed, then deleted; delete', async () => {
    expect((await kactus(['topics', 'create', 'cli-groups', '--partitions', '2', '--replication-factor', '3', '--bootstrap', bootstrap])).code).toBe(0);
    const input = Array.from({ length: 20 }, (_, i) => `k${i % 2}:v${i}`).join('\n') + '\n';
    expect((await kactus(['produce', 'cli-groups', '--key-separator', ':', '--bootstrap', bootstrap], { input })).code).toBe(0);

    const consumed = await kactus(['consume', 'cli-groups', '--group', 'cli-g', '--from-beginning', '--max-messages', '8', '--bootstrap', bootstrap]);
    expect(consumed.stderr).toBe('');
    expect(consumed.code).toBe(0);
    expect(lines(consumed.stdout)).toHaveLength(8);

    const [dryRun, text, listed] = await kactusAll([
      ['groups', 'reset-offsets', 'cli-g', '--topic', 'cli-groups', '--to-earliest', '--json', '--bootstrap', bootstrap],
      ['groups', 'describe', 'cli-g', '--bootstrap', bootstrap],
      ['groups', 'list', '--bootstrap', bootstrap],
    ]);
    expect(dryRun!.code).toBe(0);
    expect(JSON.parse(dryRun!.stdout)).toMatchObject({ executed: false, partitions: [{ partition: 0, newOffset: 0 }, { partition: 1, newOffset: 0 }] });
    expect(lines(text!.stdout)[1]).toMatch(/^GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG\s+CONSUMER-ID\s+HOST\s+CLIENT-ID$/);
    expect(lines(listed!.stdout)).toContain('cli-g');

    // After the dry run: still the 8 offsets the consumer committed, and lag = log end - committed.
    const before = await describeGroup('cli-g');
    expect(before.members).toBe(0);
    expect(before.partitions.reduce((sum, p) => sum + (p.currentOffset ?? 0), 0)).toBe(8);
    for (const p of before.partitions) {
      expect(p.logEndOffset).not.toBeNull();
      if (p.currentOffset !== null) expect(p.lag).toBe(p.logEndOffset! - p.currentOffset);
    }

    const executed = await kactus(['groups', 'reset-offsets', 'cli-g', '--topic', 'cli-groups', '--to-offset', '3', '--execute', '--bootstrap', bootstrap]);
    expect(executed.code).toBe(0);
    const after = await describeGroup('cli-g');
    // --to-offset is clamped into each partition's [earliest, latest].
    expect(after.partitions.map((p) => [p.partition, p.currentOffset, p.lag])).toEqual(after.partitions.map((p) => [p.partition, Math.min(3, p.logEndOffset!), p.logEndOffset! - Math.min(3, p.logEndOffset!)]));
    const unread = after.partitions.reduce((sum, p) => sum + p.lag!, 0);

    // Kafka's other targets and topic forms, as dry runs (nothing moves): every target clamped into [earliest, latest].
    const planOf = (run: { code: number | null; stdout: string }) => {
      expect(run.code).toBe(0);
      const plan = JSON.parse(run.stdout) as { executed: boolean; partitions: { topic: string; partition: number; currentOffset: number | null; newOffset: number }[] };
      expect(plan.executed).toBe(false);
      return plan.partitions.map((p) => [p.partition, p.newOffset]);
    };
    const current = after.partitions.map((p) => [p.partition, p.currentOffset!]);
    const dry = (...flags: string[]) => ['groups', 'reset-offsets', 'cli-g', ...flags, '--json', '--bootstrap', bootstrap];
    const [shifted, same, onlyOne, everyTopic, byDuration, badDuration, bothForms] = await kactusAll([
      dry('--topic', 'cli-groups', '--shift-by', '-1'),
      dry('--topic', 'cli-groups', '--to-current'),
      dry('--topic', 'cli-groups:1', '--to-earliest'),
      dry('--all-topics', '--to-latest'),
      dry('--topic', 'cli-groups', '--by-duration', 'PT1H'),
      dry('--topic', 'cli-groups', '--by-duration', '1h'),
      dry('--topic', 'cli-groups', '--all-topics', '--to-latest'),
    ]);
    expect(planOf(shifted!)).toEqual(current.map(([p, o]) => [p, Math.max(0, o! - 1)]));
    expect(planOf(same!)).toEqual(current);
    expect(planOf(onlyOne!)).toEqual([[1, 0]]);
    expect(planOf(everyTopic!)).toEqual(after.partitions.map((p) => [p.partition, p.logEndOffset!]));
    expect(planOf(byDuration!)).toEqual(after.partitions.map((p) => [p.partition, 0])); // every record is younger than an hour
    expect(badDuration!.code).toBe(2);
    expect(badDuration!.stderr).toContain('ISO 8601 duration');
    expect(bothForms!.code).toBe(2);
    // --export prints the plan in kafka-consumer-groups' CSV, which --from-file reads back.
    const exported = await kactus(['groups', 'reset-offsets', 'cli-g', '--topic', 'cli-groups', '--to-earliest', '--export', '--bootstrap', bootstrap]);
    expect(exported.code).toBe(0);
    expect(lines(exported.stdout)).toEqual(['cli-groups,0,0', 'cli-groups,1,0']);
    const csv = join(mkdtempSync(join(tmpdir(), 'kactus-cli-reset-')), 'offsets.csv');
    writeFileSync(csv, 'cli-groups,1,2\n');
    expect(planOf(await kactus(dry('--from-file', csv)))).toEqual([[1, 2]]);
    writeFileSync(csv, 'cli-groups;1;2\n');
    const badFile = await kactus(dry('--from-file', csv));
    expect(badFile.code).toBe(2);
    expect(badFile.stderr).toContain('line 1 is not topic,partition,offset');
    rmSync(join(csv, '..'), { recursive: true, force: true });
    const listedStates = await kactus(['groups', 'list', '--state', '--bootstrap', bootstrap]);
    expect(lines(listedStates.stdout)).toContainEqual(expect.stringMatching(/^cli-g\s+Empty\s+consumer$/));
    const state = await kactus(['groups', 'describe', 'cli-g', '--state', '--json', '--bootstrap', bootstrap]);
    expect(JSON.parse(state.stdout)).toMatchObject({ group: 'cli-g', state: 'Empty', members: 0 });

    // A member joins (it prints once it has its partitions): resetting is refused while it is there.
    let member: ChildProcess | undefined;
    let printedByMember = '';
    const memberRun = kactus(['consume', 'cli-groups', '--group', 'cli-g', '--bootstrap', bootstrap], {
      timeoutMs: 60_000,
      started: (child) => {
        member = child;
        child.stdout!.on('data', (chunk: Buffer) => (printedByMember += chunk.toString()));
      },
    });
    const deadlineMs = Date.now() + 40_000;
    while (printedByMember.length === 0 && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(printedByMember.length).toBeGreaterThan(0);
    const members = await kactus(['groups', 'describe', 'cli-g', '--members', '--json', '--bootstrap', bootstrap]);
    expect(JSON.parse(members.stdout)).toMatchObject({ group: 'cli-g', state: 'Stable', members: [{ partitions: 2, assignment: ['cli-groups:0', 'cli-groups:1'] }] });
    const refused = await kactus(['groups', 'reset-offsets', 'cli-g', '--topic', 'cli-groups', '--to-latest', '--execute', '--bootstrap', bootstrap]);
    expect(refused.code).toBe(1);
    expect(lines(refused.stderr)).toHaveLength(1);
    expect(refused.stderr).toContain('active');
    // delete-offsets of a topic the member subscribes to: refused per partition (Kafka's GROUP_SUBSCRIBED_TO_TOPIC), exit 1.
    const subscribed = await kactus(['groups', 'delete-offsets', 'cli-g', '--topic', 'cli-groups', '--partitions', '0', '--json', '--bootstrap', bootstrap]);
    expect(subscribed.code).toBe(1);
    expect(JSON.parse(subscribed.stdout)).toMatchObject({ group: 'cli-g', partitions: [{ topic: 'cli-groups', partition: 0, status: 'GROUP_SUBSCRIBED_TO_TOPIC' }] });
    member!.kill('SIGINT');
    const memberDone = await memberRun;
    expect(memberDone.code).toBe(0);
    expect(lines(memberDone.stdout)).toHaveLength(unread); // from the reset offsets to the end

    // With no member left, delete-offsets deletes partition 0's commit: describe no longer lists it.
    const offsetsDeleted = await kactus(['groups', 'delete-offsets', 'cli-g', '--topic', 'cli-groups', '--partitions', '0', '--bootstrap', bootstrap]);
    expect(offsetsDeleted.code).toBe(0);
    expect(lines(offsetsDeleted.stdout)[1]).toMatch(/^cli-g\s+cli-groups\s+0\s+Successful$/);
    expect((await describeGroup('cli-g')).partitions.map((p) => p.partition)).toEqual([1]);

    const deleted = await kactus(['groups', 'delete', 'cli-g', '--bootstrap', bootstrap]);
    expect(deleted).toMatchObject({ code: 0, stdout: 'Deleted group cli-g.\n' });
    const gone = await kactus(['groups', 'describe', 'cli-g', '--bootstrap', bootstrap]);
    expect(gone.code).toBe(1);
  }, 150_000);
});

describe('kactus perf', () => {
  it('perf produce, then perf consume and perf e2e, report records/s, MB/s and latency percentiles', async () => {
    const produced = await kactus(['perf', 'produce', '--topic', 'cli-perf', '--records', '2000', '--record-size', '100', '--keys', '10', '--throughput', '-1', '--json', '--bootstrap', bootstrap]);
    expect(produced.stderr).toBe('');
    expect(produced.code).toBe(0);
    const p = JSON.parse(produced.stdout) as { records: number; bytes: number; recordsPerSec: number; mbPerSec: number; latencyMs: Record<string, number> };
    expect(p).toMatchObject({ records: 2000, bytes: 200_000 });
    expect(p.recordsPerSec).toBeGreaterThan(0);
    expect(Object.keys(p.latencyMs)).toEqual(['p50', 'p95', 'p99', 'p999', 'max', 'mean']);
    expect(p.latencyMs.p50!).toBeLessThanOrEqual(p.latencyMs.p999!);
    expect(p.latencyMs.p999!).toBeLessThanOrEqual(p.latencyMs.max!);
    const [consumed, e2e] = await kactusAll([
      ['perf', 'consume', '--topic', 'cli-perf', '--records', '2000', '--json', '--bootstrap', bootstrap],
      ['perf', 'e2e', '--topic', 'cli-e2e', '--rate', '200', '--seconds', '2', '--json', '--bootstrap', bootstrap],
    ]);
    expect(consumed!.code).toBe(0);
    expect(JSON.parse(consumed!.stdout)).toMatchObject({ test: 'consume', records: 2000 });
    expect(e2e!.stderr).toBe('');
    expect(e2e!.code).toBe(0);
    const end = JSON.parse(e2e!.stdout) as { test: string; records: number; latencyMs: { p50: number; max: number } };
    expect(end).toMatchObject({ test: 'e2e', records: 400 });
    expect(end.latencyMs.p50).toBeLessThanOrEqual(end.latencyMs.max);
    const text = await kactus(['perf', 'consume', '--topic', 'cli-perf', '--records', '10', '--bootstrap', bootstrap]);
    expect(text.stdout).toMatch(/^10 records received in [\d.]+ s: [\d.]+ records\/s \([\d.]+ MB\/s\)\nlatency \(fetch round trip\) ms: p50 [\d.]+, p95 [\d.]+, p99 [\d.]+, p99.9 [\d.]+/);
  }, 60_000);
});

describe('kactus with a broker down', () => {
  // Runs last against the shared cluster: it SIGKILLs broker 3.
  it('describe --under-replicated / --under-min-isr / --unavailable and cluster status count the damage', async () => {
    const created = await kactusAll([
      ['topics', 'create', 'cli-strict', '--partitions', '3', '--replication-factor', '3', '--config', 'min.insync.replicas=3', '--bootstrap', bootstrap],
      ['topics', 'create', 'cli-single', '--partitions', '3', '--replication-factor', '1', '--bootstrap', bootstrap],
    ]);
    for (const run of created) expect(run.code).toBe(0);
    const single = await cluster.waitForLeaders('cli-single', 3);
    const onBroker3 = single.partitions.filter((p) => p.replicas[0] === 3).map((p) => p.partition);
    expect(onBroker3.length).toBeGreaterThan(0);
    await cluster.killBroker(3);
    const live = `${cluster.brokers[0]!.url},${cluster.brokers[1]!.url}`;
    // The controller fences broker 3 after the session timeout, then shrinks the ISRs.
    type Status = { brokers: unknown[]; underReplicated: number; underMinIsr: number; offline: number };
    const deadlineMs = Date.now() + 30_000;
    let status: Status | undefined;
    for (;;) {
      const run = await kactus(['cluster', 'status', '--json', '--bootstrap', live]);
      status = run.code === 0 ? (JSON.parse(run.stdout) as Status) : undefined;
      if ((status !== undefined && status.brokers.length === 2 && status.offline >= onBroker3.length && status.underMinIsr >= 3) || Date.now() > deadlineMs) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(status!.brokers).toHaveLength(2);
    expect(status!.offline).toBeGreaterThanOrEqual(onBroker3.length); // other RF 1 topics of earlier tests may sit on broker 3 too
    expect(status!.underReplicated).toBeGreaterThanOrEqual(3);
    expect(status!.underMinIsr).toBeGreaterThanOrEqual(3);
    const [underReplicated, underMinIsr, unavailable] = await kactusAll([
      ['topics', 'describe', '--under-replicated', '--bootstrap', live],
      ['topics', 'describe', '--under-min-isr', '--bootstrap', live],
      ['topics', 'describe', '--unavailable', '--bootstrap', live],
    ]);
    expect(lines(underReplicated!.stdout).filter((l) => l.includes('Topic: cli-strict\t'))).toHaveLength(3);
    expect(lines(underMinIsr!.stdout).filter((l) => l.includes('Topic: cli-strict\t'))).toHaveLength(3);
    expect(lines(unavailable!.stdout).filter((l) => l.includes('Topic: cli-single\t')).map((l) => l.split('\t').slice(1, 4).join(' '))).toEqual(onBroker3.map((p) => `Topic: cli-single Partition: ${p} Leader: none`));
  }, 90_000);
});

describe('kactus broker', () => {
  it('runs one node with --config FILE, KACTUS_* environment, --advertise and --rack; Ctrl-C stops it', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'kactus-cli-broker-'));
    const configFile = join(dataDir, 'broker.json');
    writeFileSync(configFile, JSON.stringify({ 'default.replication.factor': 1, 'offsets.topic.replication.factor': 1 }));
    const child = spawn(
      process.execPath,
      [cliPath, 'broker', '--node-id', '1', '--listen', `127.0.0.1:${port}`, '--advertise', `localhost:${port}`, '--rack', 'rack-a', '--controller-quorum', `1@127.0.0.1:${port}`, '--data', join(dataDir, 'data'), '--config', configFile],
      { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent', KACTUS_NUM_PARTITIONS: '2' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('kactus broker: no ready line within 30 s')), 30_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(line) as Record<string, unknown>;
          } catch {
            return; // not a control line
          }
          if (parsed.event === 'ready') {
            clearTimeout(timer);
            resolve(parsed);
          }
        });
        void exited.then((code) => reject(new Error(`kactus broker exited (${code}) before ready`)));
      });
      expect(ready).toMatchObject({ event: 'ready', brokerId: 1, url: `ws://localhost:${port}` });
      const single = `ws://127.0.0.1:${port}`;
      // Auto-created by the producer's metadata request: num.partitions (from KACTUS_NUM_PARTITIONS) partitions.
      const deadlineMs = Date.now() + 30_000;
      let produced = await kactus(['produce', 'auto-topic', '--bootstrap', single], { input: 'one\n' });
      while (produced.code !== 0 && Date.now() < deadlineMs) produced = await kactus(['produce', 'auto-topic', '--bootstrap', single], { input: 'one\n' });
      expect(produced.code).toBe(0);
      const [status, described] = await kactusAll([
        ['cluster', 'status', '--json', '--bootstrap', single],
        ['topics', 'describe', 'auto-topic', '--json', '--bootstrap', single],
      ]);
      expect(JSON.parse(status!.stdout)).toMatchObject({ brokers: [{ brokerId: 1, host: 'localhost', port, rack: 'rack-a' }], controllerId: 1 });
      expect(JSON.parse(described!.stdout)).toMatchObject([{ topic: 'auto-topic', partitionCount: 2, replicationFactor: 1 }]);
      child.kill('SIGINT');
      expect(await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 20_000))])).toBe(0);
    } finally {
      await kill(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('kactus cluster up (npm start)', () => {
  /** `kactus cluster up` on `basePort`, resolved once it printed "cluster ready"; its pid tree is recorded for the checks. */
  const clusterUp = async (basePort: number, dataDir: string): Promise<{ child: ChildProcess; exited: Promise<number | null>; pids: number[] }> => {
    const child = spawn(process.execPath, [cliPath, 'cluster', 'up', '--data', dataDir, '--base-port', String(basePort), '--kafka-base-port', String(basePort + 11), '--http-base-port', String(basePort + 21)], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('cluster up: not ready within 45 s')), 45_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('cluster ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`cluster up exited (${code}) before ready`)));
    });
    return { child, exited, pids: descendantPids(child.pid!) };
  };

  /** Ctrl-C: SIGINT to cluster up, which must exit 0 and leave none of its descendants running. */
  const interrupt = async (up: { child: ChildProcess; exited: Promise<number | null>; pids: number[] }): Promise<void> => {
    up.child.kill('SIGINT');
    const code = await Promise.race([up.exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 25_000))]);
    expect(code).toBe(0);
    const deadlineMs = Date.now() + 10_000;
    while (up.pids.some(alive) && Date.now() < deadlineMs) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(up.pids.filter(alive).map((pid) => `${pid} ${commandLine(pid)}`)).toEqual([]);
  };

  it('Ctrl-C (SIGINT) stops every broker, no process left behind; a second run on the same data dir finds the topics and records of the first', async () => {
    let basePort = 0;
    for (let attempt = 0; attempt < 20 && basePort === 0; attempt += 1) {
      const candidate = 20_000 + Math.floor(Math.random() * 30_000);
      // Native ports base+1..base+3, Kafka ports base+11..base+13, HTTP ports base+21..base+23.
      const free = await Promise.all([1, 2, 3, 11, 12, 13, 21, 22, 23].map((i) => portFree(candidate + i)));
      if (free.every(Boolean)) basePort = candidate;
    }
    expect(basePort).toBeGreaterThan(0);
    const upBootstrap = [1, 2, 3].map((i) => `ws://127.0.0.1:${basePort + i}`).join(',');
    const dataDir = mkdtempSync(join(tmpdir(), 'kactus-cli-up-'));
    const started: number[] = [];
    try {
      const first = await clusterUp(basePort, dataDir);
      started.push(...first.pids);
      expect(first.pids.filter((pid) => commandLine(pid).includes('broker-main.ts'))).toHaveLength(3);
      expect((await kactus(['topics', 'create', 'kept', '--partitions', '3', '--replication-factor', '3', '--bootstrap', upBootstrap])).code).toBe(0);
      // Each broker has a Kafka listener: Metadata there lists the three brokers at their Kafka ports, and the topic.
      const kafkaMetadata = await kafkaRequest('127.0.0.1', basePort + 11, 'Metadata', 9, { topics: null, allowAutoTopicCreation: false });
      expect((kafkaMetadata.brokers as { nodeId: number; port: number }[]).map((b) => [b.nodeId, b.port]).sort()).toEqual([[1, basePort + 11], [2, basePort + 12], [3, basePort + 13]]);
      expect((kafkaMetadata.topics as { name: string; partitions: unknown[] }[]).find((t) => t.name === 'kept')?.partitions).toHaveLength(3);
      // Each broker serves HTTP on http-base-port+i-1: once the cluster is ready, every one answers /ready 200.
      for (const i of [0, 1, 2]) expect((await fetch(`http://127.0.0.1:${basePort + 21 + i}/ready`)).status).toBe(200);
      const produced = await kactus(['produce', 'kept', '--bootstrap', upBootstrap], { input: 'one\ntwo\nthree\n' });
      expect(produced).toMatchObject({ code: 0, stderr: '' });
      await interrupt(first);

      const second = await clusterUp(basePort, dataDir);
      started.push(...second.pids);
      // Leaders are elected again once the brokers have registered: retry a read that comes too early, within bounds.
      const deadlineMs = Date.now() + 30_000;
      let read = await kactus(['consume', 'kept', '--from-beginning', '--max-messages', '3', '--timeout-ms', '10000', '--bootstrap', upBootstrap]);
      while (read.code !== 0 && Date.now() < deadlineMs) {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        read = await kactus(['consume', 'kept', '--from-beginning', '--max-messages', '3', '--timeout-ms', '10000', '--bootstrap', upBootstrap]);
      }
      expect(read.stderr).toBe('');
      expect(lines(read.stdout).sort()).toEqual(['one', 'three', 'two']);
      await interrupt(second);
    } finally {
      for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('README', () => {
  it('its CLI reference and configuration table are what the code prints (npx tsx cli/reference.ts --write)', async () => {
    expect(configProblems()).toEqual([]);
    const readme = readFileSync(readmePath, 'utf8');
    expect(await regenerated(readme)).toBe(readme);
  });
});

describe('examples/chaos-demo.ts', () => {
  // Runs the demo as a user does (it starts and stops its own three brokers): it must exit 0, report lost 0, and leave no broker behind.
  it('kills a broker mid-stream and reports nothing acknowledged lost', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', 'chaos-demo.ts'), '--seconds', '3'], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let brokers: number[] = [];
    const watcher = setInterval(() => {
      const now = descendantPids(child.pid!).filter((pid) => commandLine(pid).includes(' broker '));
      if (now.length > brokers.length) brokers = now;
    }, 200);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    clearInterval(watcher);
    running.delete(child);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const summary = /acknowledged: (\d+)\s+read back: (\d+) of (\d+)\s+lost: (\d+)/.exec(stdout);
    expect(summary).not.toBeNull();
    expect(Number(summary![1])).toBeGreaterThan(0);
    expect(Number(summary![4])).toBe(0);
    expect(stdout).toMatch(/SIGKILL broker \d/);
    expect(brokers.length).toBeGreaterThan(0);
    expect(brokers.filter(alive)).toEqual([]);
  }, 150_000);
});
