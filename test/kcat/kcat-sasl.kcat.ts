/**
 * kcat (librdkafka) over SASL (#19): one broker with a SASL_PLAINTEXT and a
 * SASL_SSL Kafka listener (sasl.enabled.mechanisms=SCRAM-SHA-256,
 * SCRAM-SHA-512,PLAIN; certificates from cli/dev-certs.ts), user alice made
 * with the native admin's alterUserScramCredentials. kcat authenticates with
 * SCRAM-SHA-256 over SASL_PLAINTEXT (lists the broker, produces lines and
 * reads them back in order) and SCRAM-SHA-512 (lists), and with PLAIN over
 * SASL_SSL with the CA (lists, reads the same lines). Refused: a wrong
 * password (librdkafka's "SASL authentication error" with Kafka's
 * invalid-credentials message) and PLAIN over SASL_PLAINTEXT (not offered
 * without TLS: the handshake answers UNSUPPORTED_SASL_MECHANISM). Every kcat
 * run is bounded (-m for metadata, a kill after kcatTimeoutMs). Fails, never
 * skips, when kcat is missing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDevCertificates, type DevCertificates } from '../../cli/dev-certs.ts';
import { Kactus } from '../../client/index.ts';
import { readPemTruststore } from '../../runtime/tls.ts';
import { kafkaBootstrap, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { killKcats, requireKcat, runKcat, type KcatRun } from '../support/kcat.ts';

const kcatTimeoutMs = 20_000;
const topic = 'kcat-sasl';
const password = 'alice-secret';
const lines = Array.from({ length: 8 }, (_, i) => `sasl-line-${i}`);
let cluster: TestCluster;
let kactus: Kactus;
let certs: DevCertificates;
let certDir = '';
let plaintextBootstrap = '';
let sslBootstrap = '';

const kcat = (bootstrap: string, args: string[], input = ''): Promise<KcatRun> => runKcat(bootstrap, args, { input, timeoutMs: kcatTimeoutMs });

const sasl = (protocol: 'sasl_plaintext' | 'sasl_ssl', mechanism: string, pass = password): string[] => [
  '-X', `security.protocol=${protocol}`,
  ...(protocol === 'sasl_ssl' ? ['-X', `ssl.ca.location=${certs.caPath}`] : []),
  '-X', `sasl.mechanisms=${mechanism}`,
  '-X', 'sasl.username=alice',
  '-X', `sasl.password=${pass}`,
];

/** `kcat -L -J` (metadata wait -m 5 s): the broker ids and topic names it lists. */
async function listing(bootstrap: string, auth: string[]): Promise<{ brokers: number[]; topics: string[] }> {
  const run = await kcat(bootstrap, [...auth, '-m', '5', '-L', '-J']);
  expect(run.code, run.stderr).toBe(0);
  const parsed = JSON.parse(run.stdout) as { brokers: { id: number }[]; topics: { topic: string }[] };
  return { brokers: parsed.brokers.map((b) => b.id), topics: parsed.topics.map((t) => t.topic) };
}

beforeAll(async () => {
  requireKcat();
  certDir = mkdtempSync(join(tmpdir(), 'kactus-kcat-sasl-'));
  certs = makeDevCertificates(certDir, ['broker']);
  const ca = readPemTruststore(certs.caPath);
  cluster = await startTestCluster(
    1,
    [
      'listeners=SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0',
      'sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN',
      'ssl.keystore.type=PEM',
      `ssl.keystore.location=${certs.keystores.broker}`,
      `ssl.truststore.location=${certs.caPath}`,
    ],
    { clientTls: { ca } },
  );
  kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'kcat-sasl', requestTimeoutMs: 10_000, ssl: { ca } });
  const admin = kactus.admin();
  await admin.alterUserScramCredentials([
    { user: 'alice', mechanism: 'SCRAM-SHA-256', password },
    { user: 'alice', mechanism: 'SCRAM-SHA-512', password },
  ]);
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
  await cluster.waitForLeaders(topic, 1, 1);
  plaintextBootstrap = (await kafkaBootstrap(cluster, 'SASL_PLAINTEXT')).join(',');
  sslBootstrap = (await kafkaBootstrap(cluster, 'SASL_SSL')).join(',');
  if (plaintextBootstrap === '' || sslBootstrap === '') throw new Error(`listeners missing from metadata: SASL_PLAINTEXT ${plaintextBootstrap}, SASL_SSL ${sslBootstrap}`);
  // The admin call returns once the controller committed; the broker's image follows within a heartbeat.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = await kcat(plaintextBootstrap, [...sasl('sasl_plaintext', 'SCRAM-SHA-256'), '-m', '2', '-L']);
    if (probe.code === 0) break;
    if (Date.now() > deadline) throw new Error(`alice never authenticated with kcat; stderr: ${probe.stderr.slice(-2_000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});

afterAll(async () => {
  killKcats();
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
  if (certDir !== '') rmSync(certDir, { recursive: true, force: true });
});

describe('kcat over SASL_PLAINTEXT and SASL_SSL listeners', () => {
  it('SCRAM-SHA-256 over SASL_PLAINTEXT: -L lists the broker; -P then -C -e reads the lines back in order', async () => {
    const auth = sasl('sasl_plaintext', 'SCRAM-SHA-256');
    expect(await listing(plaintextBootstrap, auth)).toMatchObject({ brokers: [1], topics: expect.arrayContaining([topic]) });
    const produced = await kcat(plaintextBootstrap, [...auth, '-P', '-t', topic], `${lines.join('\n')}\n`);
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await kcat(plaintextBootstrap, [...auth, '-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%s\\n']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trim().split('\n')).toEqual(lines);
  });

  it('SCRAM-SHA-512 over SASL_PLAINTEXT: -L lists the broker', async () => {
    expect(await listing(plaintextBootstrap, sasl('sasl_plaintext', 'SCRAM-SHA-512'))).toMatchObject({ brokers: [1], topics: expect.arrayContaining([topic]) });
  });

  it('PLAIN over SASL_SSL with the CA: -L lists the broker; -C -e reads the same lines', async () => {
    const auth = sasl('sasl_ssl', 'PLAIN');
    expect(await listing(sslBootstrap, auth)).toMatchObject({ brokers: [1], topics: expect.arrayContaining([topic]) });
    const consumed = await kcat(sslBootstrap, [...auth, '-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%s\\n']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trim().split('\n')).toEqual(lines);
  });

  // The refusals last: a wrong password costs 127.0.0.1 tokens of the broker's failed-attempt limiter.
  it('a wrong password: kcat gets no metadata and exits non-zero with the authentication failure', async () => {
    const refused = await kcat(plaintextBootstrap, [...sasl('sasl_plaintext', 'SCRAM-SHA-256', 'not-the-password'), '-m', '5', '-L']);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256/);
  });

  it('PLAIN over SASL_PLAINTEXT is not offered: the handshake fails, kcat exits non-zero', async () => {
    const refused = await kcat(plaintextBootstrap, [...sasl('sasl_plaintext', 'PLAIN'), '-m', '5', '-L']);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/SASL PLAIN mechanism handshake failed: Broker: Unsupported SASL mechanism/);
    expect(refused.stderr).toMatch(/supported mechanisms: SCRAM-SHA-256,SCRAM-SHA-512/);
  });
});
