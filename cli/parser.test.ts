/**
 * The CLI's parsing and help, without a cluster: main() run in-process
 * (cli/output.ts withOutput captures what it prints), and the pieces it is
 * made of (bootstrap lists, the consume text layout).
 *
 * Goal: the help is generated from what a command accepts, never a second
 * list beside it: each command's --help lists exactly its own options (every
 * one it declares), errors have one form (`kactus <command>: ...; see kactus
 * <command> --help`, or one JSON object with --json) and exit 2, typos get a
 * suggestion, and --version prints the package's version.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootstrapList } from './common.ts';
import { formatRecord, textLayout } from './commands/consume.ts';
import { groupsSpec } from './commands/groups.ts';
import { allSpecs, main, programOf } from './main.ts';
import { withOutput } from './output.ts';
import { clusterOptions, optionsOf, parseArguments, type Command, type CommandSpec } from './parser.ts';

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await withOutput({ stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, () => main(args));
  return { code, stdout, stderr };
}

/** Every runnable command of the tree, by its words. */
function leaves(specs: readonly CommandSpec[], words: string[] = []): { words: string[]; spec: CommandSpec }[] {
  return specs.flatMap((spec) => (spec.subcommands === undefined ? [{ words: [...words, spec.name], spec }] : leaves(spec.subcommands, [...words, spec.name])));
}

/** The long flags a help text lists in its option tables (`Options:`, `Cluster options:`, up to a blank line). */
const flagsIn = (help: string): string[] =>
  [...help.matchAll(/^(?:Options|Cluster options):\n((?:.+\n?)*)/gm)].flatMap((table) => [...table[1]!.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]!));

describe('kactus --version and help', () => {
  it('--version and -V print the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) expect(await run([flag])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('every command\'s --help lists exactly the options it accepts, and `help COMMAND` prints the same', async () => {
    const commands = leaves(await allSpecs());
    expect(commands.length).toBeGreaterThan(30);
    for (const { words, spec } of commands) {
      const help = await run([...words, '--help']);
      expect({ words, code: help.code, stderr: help.stderr }).toEqual({ words, code: 0, stderr: '' });
      expect(help.stdout.startsWith(`Usage: kactus ${words.join(' ')} `)).toBe(true);
      const accepted = optionsOf(spec).filter(([, o]) => o.aliasOf === undefined && o.hidden !== true).map(([name]) => `--${name}`);
      expect({ words, flags: flagsIn(help.stdout).sort() }).toEqual({ words, flags: [...accepted, '--help'].sort() });
      expect((await run(['help', ...words])).stdout).toBe(help.stdout);
    }
  });

  it('perf produce --help is perf produce\'s alone; perf e2e\'s lists --acks (it takes it)', async () => {
    const produce = (await run(['perf', 'produce', '--help'])).stdout;
    expect(flagsIn(produce).sort()).toEqual(['--acks', '--bootstrap', '--compression', '--help', '--json', '--keys', '--record-size', '--records', '--throughput', '--topic']);
    expect(produce).not.toContain('--rate');
    expect(produce).not.toContain('--timeout-ms');
    expect(flagsIn((await run(['perf', 'e2e', '--help'])).stdout)).toContain('--acks');
  });

  it('the top level lists every command without loading one; a group lists its subcommands', async () => {
    const top = await run(['--help']);
    for (const command of ['cluster up', 'cluster status', 'broker', 'topics', 'produce', 'consume', 'groups', 'configs', 'users', 'acls', 'partitions', 'perf produce', 'perf e2e']) expect(top.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    const topics = await run(['topics', '--help']);
    for (const sub of ['create <NAME>', 'list', 'describe [NAME]', 'delete <NAME>', 'alter <NAME>', 'add-partitions <NAME>']) expect(topics.stdout).toContain(`  ${sub} `);
  });
});

describe('option values', () => {
  it('a string option takes one word, whatever its value name says (P,P..., k=v[,k=v...]); repeated ones collect', async () => {
    expect(parseArguments(groupsSpec, ['delete-offsets', 'g', '--topic', 't', '--partitions', '0,1']).values.partitions).toBe('0,1');
    expect(() => parseArguments(groupsSpec, ['delete-offsets', 'g', '--topic', 't', '--partitions', '0', 'h'])).toThrow(/unexpected argument "h"/);
    expect(parseArguments(groupsSpec, ['reset-offsets', 'g', '--topic', 'a', '--topic', 'b:1', '--to-earliest']).values.topic).toEqual(['a', 'b:1']);
    const all = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(all)];
    const variadic = all(programOf(await allSpecs())).flatMap((cmd) => cmd.options.filter((o) => o.variadic).map((o) => `${cmd.name()} ${o.long}`));
    expect(variadic).toEqual([]);
  });

  it('a negative number is a value (--throughput -1, --offset -2), not an option', () => {
    expect(parseArguments({ name: 'x', options: { offset: { type: 'string', help: '' } }, run: async () => 0 }, ['--offset', '-2']).values.offset).toBe('-2');
  });
});

describe('kactus bad arguments', () => {
  it('a misspelt option: exit 2, one line, "did you mean", in the one form', async () => {
    expect(await run(['topics', 'create', '--partitons', '3', 'x'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'kactus topics create: unknown option --partitons (did you mean --partitions?); see kactus topics create --help\n',
    });
    expect((await run(['consume', 't', '--from-begining'])).stderr).toContain('(did you mean --from-beginning?)');
  });

  it('a misspelt command or subcommand gets a suggestion, not the whole help', async () => {
    expect(await run(['topcis'])).toEqual({ code: 2, stdout: '', stderr: 'kactus: unknown command "topcis" (did you mean topics?); see kactus --help\n' });
    expect(await run(['topics', 'craete', 'x'])).toEqual({ code: 2, stdout: '', stderr: 'kactus topics: unknown subcommand "craete" (did you mean create?); see kactus topics --help\n' });
    expect((await run(['cluster', 'stauts'])).stderr).toBe('kactus cluster: unknown subcommand "stauts" (did you mean status?); see kactus cluster --help\n');
  });

  it.each([
    [['produce'], 'produce', 'missing TOPIC (the topic to send to)'],
    [['produce', 't', '--acks', '2'], 'produce', '--acks must be all, 1 or 0, got "2"'],
    [['consume', 't', '--format', 'xml'], 'consume', '--format must be one of text, json, got "xml"'],
    [['consume', 't', '--property', 'print.nope=true'], 'consume', '--property print.nope: unknown (known: print.timestamp, print.partition, print.offset, print.headers, print.key, print.value, key.separator)'],
    [['perf', 'produce', '--topic', 't', '--record-size', '1'], 'perf produce', '--records is required'],
    [['groups', 'describe', 'g', 'h'], 'groups describe', 'unexpected argument "h"'],
    [['topics', 'create', 'x', '--partitions'], 'topics create', '--partitions needs a value'],
    [['topics', 'list', '--bootstrap', 'http://x:1'], 'topics list', '--bootstrap: "http://x:1" is not HOST:PORT, ws://HOST:PORT or wss://HOST:PORT'],
    [['topics', 'list', '--bootstrap', 'a:1', '--bootstrap-server', 'b:2'], 'topics list', '--bootstrap and --bootstrap-server name different values'],
    [['acls'], 'acls', 'a subcommand is required (add, list, remove)'],
  ])('%j: kactus %s: %s', async (args, command, message) => {
    expect(await run(args)).toEqual({ code: 2, stdout: '', stderr: `kactus ${command}: ${message}; see kactus ${command} --help\n` });
  });

  it('with --json, the error is one JSON object on stderr: {"error":{"code","message","command","exitCode"}}', async () => {
    const cases: [string[], object][] = [
      [['topics', 'create', 'x', '--partitons', '3', '--json'], { code: 'UNKNOWN_OPTION', message: 'unknown option --partitons (did you mean --partitions?)', command: 'topics create', exitCode: 2 }],
      [['topcis', '--json'], { code: 'UNKNOWN_COMMAND', message: 'unknown command "topcis" (did you mean topics?)', command: null, exitCode: 2 }],
      [['produce', '--json'], { code: 'MISSING_ARGUMENT', message: 'missing TOPIC (the topic to send to)', command: 'produce', exitCode: 2 }],
      [['groups', 'describe', '--json', 'g', 'h'], { code: 'UNEXPECTED_ARGUMENT', message: 'unexpected argument "h"', command: 'groups describe', exitCode: 2 }],
      [['consume', 't', '--json', '--partition', 'x'], { code: 'INVALID_ARGUMENT', message: '--partition must be an integer in [0, 2147483647], got "x"', command: 'consume', exitCode: 2 }],
    ];
    for (const [args, error] of cases) {
      const result = await run(args);
      expect({ args, code: result.code, stdout: result.stdout, lines: result.stderr.trimEnd().split('\n').length }).toEqual({ args, code: 2, stdout: '', lines: 1 });
      expect(JSON.parse(result.stderr)).toEqual({ error });
    }
    // After `--`, --json is an argument, not the flag.
    expect((await run(['produce', '--', '--json'])).stderr).toMatch(/^kactus produce: /);
  });

  it('an unreachable cluster is exit 1, named by the command; with --json its code is the Kafka error name', async () => {
    const text = await run(['topics', 'list', '--bootstrap', '127.0.0.1:1']);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/^kactus topics list: NETWORK_EXCEPTION: could not reach any bootstrap broker .*\n$/);
    const json = await run(['topics', 'list', '--bootstrap-server', '127.0.0.1:1', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'NETWORK_EXCEPTION', command: 'topics list', exitCode: 1, message: expect.stringContaining('could not reach') } });
  }, 30_000);
});

describe('bootstrap lists', () => {
  it('HOST:PORT means ws://HOST:PORT; ws:// and wss:// are kept; comma-separated lists of either', () => {
    expect(bootstrapList('127.0.0.1:9191')).toEqual(['ws://127.0.0.1:9191']);
    expect(bootstrapList('a:1, wss://b:2,ws://c:3,[::1]:4')).toEqual(['ws://a:1', 'wss://b:2', 'ws://c:3', 'ws://[::1]:4']);
    expect(bootstrapList('ws://host')).toEqual(['ws://host']);
    for (const bad of ['host', 'http://a:1', 'a:b', ',']) expect(() => bootstrapList(bad)).toThrow(/--bootstrap/);
    expect(clusterOptions['bootstrap-server']?.aliasOf).toBe('bootstrap');
  });
});

describe('consume --property (kafka-console-consumer\'s formatter)', () => {
  const record = { partition: 2, offset: 7, offsetDelta: 0, timestamp: 1_700_000_000_000, key: Buffer.from('k1'), value: Buffer.from('v1'), headers: [{ key: 'h', value: Buffer.from('x') }] };

  it('print.* fields in Kafka\'s order, key.separator between them; --print-key is print.key', () => {
    const line = (properties: string[], printKey = false, separator?: string) => formatRecord('t', record, 'text', textLayout(properties, printKey, separator)).toString();
    expect(line([])).toBe('v1');
    expect(line(['print.key=true'])).toBe('k1\tv1');
    expect(line([], true)).toBe('k1\tv1');
    expect(line(['print.key=true', 'key.separator=:'])).toBe('k1:v1');
    expect(line(['print.key=true'], false, ' | ')).toBe('k1 | v1');
    expect(line(['print.timestamp=true', 'print.partition=true', 'print.offset=true', 'print.headers=true', 'print.key=true'])).toBe('CreateTime:1700000000000\tPartition:2\tOffset:7\th:x\tk1\tv1');
    expect(line(['print.headers=true', 'print.value=false'])).toBe('h:x');
    expect(formatRecord('t', { ...record, headers: [], key: null }, 'text', textLayout(['print.headers=TRUE', 'print.key=true'], false, undefined)).toString()).toBe('NO_HEADERS\tnull\tv1');
  });

  it('refuses an unknown property, a value other than true/false, and two different separators', () => {
    expect(() => textLayout(['print.nope=true'], false, undefined)).toThrow(/unknown/);
    expect(() => textLayout(['print.key=yes'], false, undefined)).toThrow(/true or false/);
    expect(() => textLayout(['key.separator=:'], false, ',')).toThrow(/differ/);
  });
});
