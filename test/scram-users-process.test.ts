/**
 * SCRAM users in the metadata log (#19) on 3 broker processes: Admin
 * alterUserScramCredentials / describeUserScramCredentials through any
 * broker; the users survive every broker being SIGKILLed and restarted (a
 * new controller replays the log), and a deletion is seen by all.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus } from '../client/index.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { killAllChildren, repoRoot } from './support/processes.ts';

/** The kactus command as a user runs it: exit code and output. */
function kactusCli(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'cli', 'kactus.mjs'), ...args], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

let cluster: TestCluster | undefined;
const clients: Kactus[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
  cluster = undefined;
});

describe('SCRAM users (3 broker processes)', () => {
  it('are stored through the controller, survive a restart of every broker, and are deleted everywhere', async () => {
    cluster = await startTestCluster(3);
    const open = (via: number): Kactus => {
      const client = new Kactus({ brokers: [cluster!.brokers[via]!.url], clientId: `scram-${via}`, requestTimeoutMs: 15_000 });
      clients.push(client);
      return client;
    };
    const admin = open(0).admin();
    expect(
      await admin.alterUserScramCredentials([
        { user: 'alice', mechanism: 'SCRAM-SHA-256', password: 'alice-secret' },
        { user: 'alice', mechanism: 'SCRAM-SHA-512', password: 'alice-secret', iterations: 4096 },
        { user: 'bob', mechanism: 'SCRAM-SHA-512', password: 'bob-secret' },
      ]),
    ).toEqual([
      { user: 'alice', errorCode: 0, errorMessage: null },
      { user: 'bob', errorCode: 0, errorMessage: null },
    ]);
    const expected = [
      { user: 'alice', errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 'SCRAM-SHA-256', iterations: 8192 }, { mechanism: 'SCRAM-SHA-512', iterations: 4096 }] },
      { user: 'bob', errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 'SCRAM-SHA-512', iterations: 8192 }] },
    ];
    expect(await open(2).admin().describeUserScramCredentials()).toEqual(expected);

    for (const broker of cluster.brokers) await cluster.killBroker(broker.id);
    for (const client of clients.splice(0)) await client.close().catch(() => undefined);
    await Promise.all(cluster.brokers.map((b) => cluster!.startBroker(b.id)));
    const after = open(1).admin();
    const deadline = Date.now() + 30_000;
    let described = await after.describeUserScramCredentials().catch(() => []);
    while (described.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      described = await after.describeUserScramCredentials().catch(() => []);
    }
    expect(described).toEqual(expected);

    expect(await after.alterUserScramCredentials([{ user: 'bob', mechanism: 'SCRAM-SHA-512', delete: true }])).toEqual([{ user: 'bob', errorCode: 0, errorMessage: null }]);
    expect((await open(0).admin().describeUserScramCredentials(['bob']))[0]).toMatchObject({ user: 'bob', errorCode: 91 });

    // The same through `kactus users`: the password from stdin, never a flag.
    const bootstrap = ['--bootstrap', cluster.brokers[0]!.url];
    expect(await kactusCli(['users', 'create', 'carol', ...bootstrap], 'carol-secret\n')).toMatchObject({ code: 0, stdout: 'Set SCRAM-SHA-256 and SCRAM-SHA-512 for user carol.\n' });
    expect(await kactusCli(['users', 'delete', 'carol', '--mechanism', 'SCRAM-SHA-256', ...bootstrap])).toMatchObject({ code: 0 });
    const listed = await kactusCli(['users', 'list', 'carol', '--json', ...bootstrap]);
    expect(JSON.parse(listed.stdout)).toEqual([{ user: 'carol', errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 'SCRAM-SHA-512', iterations: 8192 }] }]);
    expect(await kactusCli(['users', 'create', 'dave', ...bootstrap], '')).toMatchObject({ code: 2 });
    const missing = await kactusCli(['users', 'delete', 'nobody', ...bootstrap]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('does not exist');
  }, 120_000);
});
