/**
 * SCRAM users in the metadata log (#19) on 3 broker processes: Admin
 * alterUserScramCredentials / describeUserScramCredentials through any
 * broker; the users survive every broker being SIGKILLed and restarted (a
 * new controller replays the log), and a deletion is seen by all.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { kactusCli } from '../support/kactus-cli.ts';


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
    expect(await kactusCli(['users', 'create', 'carol', ...bootstrap], { input: 'carol-secret\n' })).toMatchObject({ code: 0, stdout: 'Set SCRAM-SHA-256 and SCRAM-SHA-512 for user carol.\n' });
    expect(await kactusCli(['users', 'delete', 'carol', '--mechanism', 'SCRAM-SHA-256', ...bootstrap])).toMatchObject({ code: 0 });
    const listed = await kactusCli(['users', 'list', 'carol', '--json', ...bootstrap]);
    expect(JSON.parse(listed.stdout)).toEqual([{ user: 'carol', errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 'SCRAM-SHA-512', iterations: 8192 }] }]);
    expect(await kactusCli(['users', 'create', 'dave', ...bootstrap], { input: '' })).toMatchObject({ code: 2 });
    const missing = await kactusCli(['users', 'delete', 'nobody', ...bootstrap]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('does not exist');
  }, 120_000);
});
