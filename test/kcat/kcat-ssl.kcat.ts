/**
 * kcat (librdkafka) over TLS (#19): the brokers' Kafka listener is
 * `SSL://` (listeners=SSL://..., the broker's ssl.keystore.location and
 * ssl.truststore.location, certificates from cli/dev-certs.ts). With
 * `-X security.protocol=ssl -X ssl.ca.location=CA` kcat lists the three
 * brokers, produces and reads back; without the CA its handshake fails and
 * it gets no metadata. Fails, never skips, when kcat is missing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDevCertificates, type DevCertificates } from '../../cli/dev-certs.ts';
import { readPemTruststore } from '../../runtime/tls.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { killKcats, requireKcat, runKcat, type KcatRun } from '../support/kcat.ts';

const kcatTimeoutMs = 30_000;
let cluster: TestCluster;
let certs: DevCertificates;
let certDir = '';
let bootstrap = '';


const kcat = (args: string[], input = ''): Promise<KcatRun> => runKcat(bootstrap, args, { input, timeoutMs: kcatTimeoutMs });

beforeAll(async () => {
  requireKcat();
  certDir = mkdtempSync(join(tmpdir(), 'kactus-kcat-ssl-'));
  certs = makeDevCertificates(certDir, ['broker']);
  cluster = await startTestCluster(3, ['listeners=SSL://127.0.0.1:0', `ssl.keystore.location=${certs.keystores.broker}`, `ssl.truststore.location=${certs.caPath}`], { clientTls: { ca: readPemTruststore(certs.caPath) } });
  const metadata = (await cluster.metadata(null)) as unknown as { brokers: { brokerId: number; listeners: { name: string; port: number }[] }[] };
  bootstrap = metadata.brokers.map((b) => `127.0.0.1:${b.listeners.find((l) => l.name === 'SSL')!.port}`).join(',');
  await cluster.admin({ type: 'CreateTopics', validateOnly: false, topics: [{ name: 'kcat-ssl', numPartitions: 1, replicationFactor: 3, assignments: null, configs: [] }] });
  await cluster.waitForLeaders('kcat-ssl', 1, 3);
});

afterAll(async () => {
  killKcats();
  await killAllChildren();
  await cluster?.cleanup();
  if (certDir !== '') rmSync(certDir, { recursive: true, force: true });
});

describe('kcat over an SSL listener', () => {
  it('with the CA: -L lists three brokers; -P then -C -e round-trips keyed records', async () => {
    const ssl = ['-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${certs.caPath}`];
    const listing = await kcat([...ssl, '-L', '-J']);
    expect(listing.code, listing.stderr).toBe(0);
    expect((JSON.parse(listing.stdout) as { brokers: { id: number }[] }).brokers.map((b) => b.id).sort()).toEqual([1, 2, 3]);
    const lines = Array.from({ length: 10 }, (_, i) => `k${i}:secure-${i}`);
    const produced = await kcat([...ssl, '-P', '-t', 'kcat-ssl', '-K:'], `${lines.join('\n')}\n`);
    expect(produced.code, produced.stderr).toBe(0);
    const consumed = await kcat([...ssl, '-C', '-t', 'kcat-ssl', '-o', 'beginning', '-e', '-f', '%k:%s\\n']);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(consumed.stdout.trim().split('\n')).toEqual(lines);
  });

  it('without the CA the handshake fails: no metadata', async () => {
    const refused = await kcat(['-X', 'security.protocol=ssl', '-m', '5', '-L']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/certificate|SSL|handshake/i);
  });
});
