/**
 * The README's "A secure cluster, step by step" (#19, item 4), run as it is
 * written on 3 broker processes: the block between the `secure-setup`
 * markers is read from README.md and each line executed in order, with only
 * hosts, ports and paths replaced for one machine (/etc/kactus and
 * /var/lib/kactus become temp dirs; host1:9191 the first broker's URL; the
 * Kafka listener's fixed port a free one). The broker line's `--set`
 * settings are the brokers' settings; every `kactus` line runs the real CLI
 * and must exit 0. Then what the section promises (and #19's item 5):
 * orders-writer produces to orders and cannot consume it; billing consumes
 * it in its group and cannot produce; a client without credentials, with a
 * wrong password or without the CA is refused; a DENY beats the ALLOW; a
 * prefixed ACL covers a topic created after it; users and ACLs survive
 * every broker SIGKILLed and restarted, and a controller failover.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDevCertificates } from '../../cli/dev-certs.ts';
import { Kactus, type ConsumerRecord } from '../../client/index.ts';
import { readPemTruststore } from '../../runtime/tls.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { kactusCli } from '../support/kactus-cli.ts';
import { killAllChildren, repoRoot } from '../support/processes.ts';

const root = mkdtempSync(join(tmpdir(), 'kactus-secure-setup-'));
const etc = join(root, 'etc');
mkdirSync(etc);
const certs = makeDevCertificates(etc, ['broker']);
const ca = readPemTruststore(certs.caPath);
const passwords: Record<string, string> = { ADMIN_PASSWORD: 'admin-pw-1', WRITER_PASSWORD: 'writer-pw-2', BILLING_PASSWORD: 'billing-pw-3' };
const savedSecret = process.env.KACTUS_CLUSTER_SECRET;
let cluster: TestCluster | undefined;
const clients: Kactus[] = [];

/** The README's block, one command per entry (continuations joined, comments dropped). */
function readmeBlock(): string[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const match = /<!-- secure-setup: begin -->\n```sh\n([\s\S]*?)```\n<!-- secure-setup: end -->/.exec(readme);
  if (match === null) throw new Error('README.md has no secure-setup block');
  return match[1]!
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

/** Shell words: spaces split, double quotes group, $NAME expands from `vars`. */
function words(text: string, vars: Record<string, string>): string[] {
  const out: string[] = [];
  let word: string | null = null;
  let quoted = false;
  for (const char of text) {
    if (char === '"') {
      quoted = !quoted;
      word ??= '';
    } else if (/\s/.test(char) && !quoted) {
      if (word !== null) out.push(word);
      word = null;
    } else word = (word ?? '') + char;
  }
  if (word !== null) out.push(word);
  return out.map((w) => w.replace(/\$([A-Z_]+)/g, (_, name: string) => vars[name] ?? ''));
}

const forThisMachine = (text: string): string =>
  text
    .replaceAll('/etc/kactus/host1.keystore.pem', certs.keystores.broker!)
    .replaceAll('/etc/kactus/ca.pem', certs.caPath)
    .replaceAll('/etc/kactus', etc)
    .replaceAll('/var/lib/kactus', join(root, 'data'))
    .replace('SASL_SSL://0.0.0.0:9093', 'SASL_SSL://127.0.0.1:0')
    .replace(/wss:\/\/host1:9191/g, () => cluster?.brokers[0]!.url ?? 'wss://unknown');

const open = (user: string | null, password?: string, tls = true): Kactus => {
  const kactus = new Kactus({
    brokers: cluster!.brokers.map((b) => b.url),
    clientId: `secure-${user ?? 'anonymous'}`,
    requestTimeoutMs: 10_000,
    retriesMax: 2,
    connectTimeoutMs: 5_000,
    ...(tls ? { ssl: { ca } } : {}),
    ...(user === null ? {} : { sasl: { mechanism: 'SCRAM-SHA-256' as const, username: user, password: password ?? '' } }),
  });
  clients.push(kactus);
  return kactus;
};
const writer = (): Kactus => open('orders-writer', passwords.WRITER_PASSWORD);
const billing = (): Kactus => open('billing', passwords.BILLING_PASSWORD);

/** Reads `topic` in `groupId` until every value of `want` arrived (bounded: 30 s); returns what arrived. */
async function consumeAll(kactus: Kactus, groupId: string, topic: string, want: readonly string[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const subscription = kactus.consumer({ groupId, autoOffsetReset: 'earliest' }).subscribe(topic).messages$.subscribe((record: ConsumerRecord) => {
    seen.add(record.value!.toString());
    record.ack();
  });
  const deadline = Date.now() + 30_000;
  while (want.some((v) => !seen.has(v)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  subscription.unsubscribe();
  return seen;
}

/** What a consumer of `topic` in `groupId` ends with: its error, 'a record' if it gets one, or 'timeout' (20 s). */
async function firstFailure(kactus: Kactus, groupId: string, topic: string): Promise<unknown> {
  const consumer = kactus.consumer({ groupId, autoOffsetReset: 'earliest' }).subscribe(topic);
  return new Promise<unknown>((resolve) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      resolve('timeout');
    }, 20_000);
    const subscription = consumer.messages$.subscribe({
      next: () => {
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve('a record');
      },
      error: (err: unknown) => {
        clearTimeout(timer);
        resolve(err);
      },
    });
  });
}

/** Retries `attempt` until it stops failing with `code` (an ACL or user reaches every broker's image within a heartbeat); bounded: 10 s. */
async function eventually<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

const cli = (args: string[], input?: string) => kactusCli(args, { env: { KACTUS_BOOTSTRAP: cluster!.brokers.map((b) => b.url).join(','), KACTUS_SSL_CA: certs.caPath, KACTUS_SASL_USERNAME: 'admin', KACTUS_SASL_PASSWORD: passwords.ADMIN_PASSWORD! }, ...(input === undefined ? {} : { input }) });

beforeAll(async () => {
  const vars: Record<string, string> = { ...passwords };
  let env: Record<string, string> = {};
  for (const written of readmeBlock()) {
    const line = forThisMachine(written);
    if (line.startsWith('openssl ')) {
      execFileSync('bash', ['-c', line], { cwd: etc, stdio: 'pipe' });
      // The harness passes the brokers their secret as KACTUS_CLUSTER_SECRET: the one the README made.
      process.env.KACTUS_CLUSTER_SECRET = readFileSync(join(etc, 'cluster.secret'), 'utf8').trim();
      continue;
    }
    if (line.startsWith('npx kactus broker ')) {
      for (const flag of ['--node-id', '--listen', '--advertise', '--controller-quorum', '--data']) expect(line).toContain(flag);
      const settings = [...line.matchAll(/--set (\S+)/g)].map((m) => m[1]!);
      cluster = await startTestCluster(3, settings, { clientTls: { ca } });
      continue;
    }
    if (line.startsWith('export ')) {
      for (const assignment of words(forThisMachine(line.slice('export '.length)), vars)) {
        const at = assignment.indexOf('=');
        env = { ...env, [assignment.slice(0, at)]: assignment.slice(at + 1) };
      }
      continue;
    }
    const piped = /^echo "\$([A-Z_]+)" \| (.*)$/.exec(line);
    const command = piped === null ? line : piped[2]!;
    const parts = words(command, vars);
    const inline: Record<string, string> = {};
    while (parts[0]?.includes('=') && !parts[0].startsWith('-')) {
      const assignment = parts.shift()!;
      inline[assignment.slice(0, assignment.indexOf('='))] = assignment.slice(assignment.indexOf('=') + 1);
    }
    expect(parts.slice(0, 2), line).toEqual(['npx', 'kactus']);
    const result = await eventually(async () => {
      const run = await kactusCli(parts.slice(2), { env: { ...env, ...inline }, ...(piped === null ? {} : { input: `${vars[piped[1]!]}\n` }) });
      if (run.code !== 0) throw new Error(`${line}: exit ${run.code}: ${run.stderr.slice(0, 500)}`);
      return run;
    });
    expect(result.code).toBe(0);
  }
  expect(cluster).toBeDefined();
}, 180_000);

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
  if (savedSecret === undefined) delete process.env.KACTUS_CLUSTER_SECRET;
  else process.env.KACTUS_CLUSTER_SECRET = savedSecret;
  rmSync(root, { recursive: true, force: true });
});

describe('the README\'s secure cluster', () => {
  const produced: string[] = [];

  it('orders-writer produces to orders and cannot consume it; billing consumes it in its group and cannot produce', async () => {
    const values = Array.from({ length: 30 }, (_, i) => `order-${i}`);
    await eventually(() => writer().producer({ acks: 'all' }).send({ topic: 'orders', messages: values.map((value) => ({ key: value, value })) }));
    produced.push(...values);
    await expect(writer().admin().listOffsets({ topic: 'orders' })).resolves.toBeDefined(); // Describe comes with Write
    const seen = await consumeAll(billing(), 'billing', 'orders', values);
    expect(values.filter((v) => !seen.has(v))).toEqual([]);
    await expect(billing().producer({ acks: 'all' }).send({ topic: 'orders', messages: [{ value: 'x' }] })).rejects.toMatchObject({ type: expect.stringMatching(/AUTHORIZATION_FAILED/) });
    expect(await firstFailure(writer(), 'billing', 'orders')).toMatchObject({ type: 'GROUP_AUTHORIZATION_FAILED' });
  }, 90_000);

  it('no credentials, a wrong password, no CA: refused', async () => {
    await expect(open(null).admin().listTopics()).rejects.toMatchObject({ type: 'SASL_AUTHENTICATION_FAILED' });
    await expect(open('billing', 'wrong').admin().listTopics()).rejects.toMatchObject({ type: 'SASL_AUTHENTICATION_FAILED' });
    await expect(open('billing', passwords.BILLING_PASSWORD, false).admin().listTopics()).rejects.toMatchObject({ type: 'NETWORK_EXCEPTION' });
  });

  it('a DENY beats the ALLOW; a prefixed ACL covers a topic created after it', async () => {
    expect(await cli(['acls', 'add', '--deny-principal', 'User:billing', '--operation', 'Read', '--topic', 'orders'])).toMatchObject({ code: 0 });
    // Read denied (Describe, which Read implied, stays): billing's consumer is refused its fetches.
    await eventually(async () => expect(await firstFailure(billing(), 'billing', 'orders')).toMatchObject({ type: 'TOPIC_AUTHORIZATION_FAILED' }));
    expect(await cli(['acls', 'remove', '--topic', 'orders', '--principal', 'User:billing', '--operation', 'Read'])).toMatchObject({ code: 0 });
    expect(await cli(['acls', 'add', '--allow-principal', 'User:billing', '--operation', 'Read', '--topic', 'orders'])).toMatchObject({ code: 0 });

    expect(await cli(['acls', 'add', '--allow-principal', 'User:orders-writer', '--operation', 'Write', '--topic', 'orders-', '--resource-pattern-type', 'prefixed'])).toMatchObject({ code: 0 });
    expect(await cli(['topics', 'create', 'orders-eu', '--partitions', '1', '--replication-factor', '3'])).toMatchObject({ code: 0 });
    await eventually(() => writer().producer({ acks: 'all' }).send({ topic: 'orders-eu', messages: [{ value: 'eu-1' }] }));
  }, 60_000);

  it('users and ACLs survive every broker SIGKILLed and restarted, and a controller failover', async () => {
    for (const client of clients.splice(0)) await client.close().catch(() => undefined);
    for (const broker of cluster!.brokers) await cluster!.killBroker(broker.id);
    await Promise.all(cluster!.brokers.map((b) => cluster!.startBroker(b.id)));
    const after = ['after-restart-1', 'after-restart-2'];
    await eventually(() => writer().producer({ acks: 'all' }).send({ topic: 'orders', messages: after.map((value) => ({ value })) }));
    produced.push(...after);
    const again = await consumeAll(billing(), 'billing', 'orders', after);
    expect(after.filter((v) => !again.has(v))).toEqual([]);

    const { controllerId } = await cluster!.metadata(null);
    await cluster!.killBroker(controllerId);
    expect(await eventually(async () => {
      const run = await cli(['acls', 'add', '--allow-principal', 'User:billing', '--operation', 'Describe', '--topic', 'orders-eu']);
      if (run.code !== 0) throw new Error(run.stderr);
      return run;
    })).toMatchObject({ code: 0 });
    await cluster!.startBroker(controllerId);
    await eventually(async () => expect((await billing().admin().listTopics()).sort()).toEqual(['orders', 'orders-eu']));
  }, 180_000);
});
