/**
 * Client-certificate authentication (#19, item 1): with ssl.client.auth=
 * required, a client's certificate subject is its principal
 * (`User:CN=app`), on the native listener and on the Kafka SSL listener
 * alike, and the ACLs apply to it. 3 broker processes with TLS (each
 * presenting its certificate to the others: mutual TLS between brokers,
 * the RF 3 topic replicated over it), the authorizer on and
 * super.users=User:CN=admin: the admin certificate makes
 * a topic and gives `CN=app` Write and Read on it; the app certificate then
 * produces natively and through KafkaJS, and sees the topic; `CN=other`
 * sees nothing and is refused; a client without a certificate does not get
 * past the TLS handshake.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDevCertificates } from '../../cli/dev-certs.ts';
import { Kactus } from '../../client/index.ts';
import { readPemTruststore } from '../../runtime/tls.ts';
import { kafkaBootstrap, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';

const certDir = mkdtempSync(join(tmpdir(), 'kactus-cert-principal-'));
const certs = makeDevCertificates(certDir, ['broker', 'harness', 'admin', 'app', 'other']);
const ca = readPemTruststore(certs.caPath);
const pem = (name: string): string => readFileSync(certs.keystores[name]!, 'utf8');
let cluster: TestCluster;
const clients: Kactus[] = [];

const withCertificate = (name: string | null): Kactus => {
  const kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: `cert-${name ?? 'none'}`, requestTimeoutMs: 10_000, retriesMax: 1, connectTimeoutMs: 5_000, ssl: name === null ? { ca } : { ca, cert: pem(name), key: pem(name) } });
  clients.push(kactus);
  return kactus;
};

beforeAll(async () => {
  // 3 brokers: with ssl.client.auth=required they also present their certificates to each other (mutual TLS between brokers).
  cluster = await startTestCluster(
    3,
    [
      `ssl.keystore.location=${certs.keystores.broker}`,
      `ssl.truststore.location=${certs.caPath}`,
      'ssl.client.auth=required',
      'listeners=SSL://127.0.0.1:0',
      'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      'super.users=User:CN=admin',
    ],
    { clientTls: { ca, cert: pem('harness'), key: pem('harness') } },
  );
  const admin = withCertificate('admin').admin();
  await admin.createTopics({ topics: [{ topic: 'app-events', numPartitions: 3, replicationFactor: 3 }] });
  await cluster.waitForLeaders('app-events', 3, 3);
  const results = await admin.createAcls([
    { resourceType: 'TOPIC', resourceName: 'app-events', principal: 'User:CN=app', operation: 'WRITE' },
    { resourceType: 'TOPIC', resourceName: 'app-events', principal: 'User:CN=app', operation: 'READ' },
  ]);
  expect(results.every((r) => r.errorCode === 0)).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
}, 90_000);

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
  rmSync(certDir, { recursive: true, force: true });
});

describe('the client certificate is the principal', () => {
  it('natively: CN=app writes and sees its topic; CN=other sees nothing and is refused; no certificate, no link', async () => {
    const app = withCertificate('app');
    expect(await app.admin().listTopics()).toEqual(['app-events']);
    await app.producer({ acks: 'all' }).send({ topic: 'app-events', messages: [{ value: 'native' }] });
    const other = withCertificate('other');
    expect(await other.admin().listTopics()).toEqual([]);
    await expect(other.producer({ acks: 'all' }).send({ topic: 'app-events', messages: [{ value: 'x' }] })).rejects.toMatchObject({ type: expect.stringMatching(/AUTHORIZATION_FAILED/) });
    await expect(withCertificate(null).admin().listTopics()).rejects.toMatchObject({ type: 'NETWORK_EXCEPTION' });
  }, 60_000);

  it('through the Kafka SSL listener (KafkaJS with a client certificate): the same principal, the same ACLs', async () => {
    const brokers = await kafkaBootstrap(cluster, 'SSL');
    const kafka = (name: string): Kafka => new Kafka({ clientId: `kjs-${name}`, brokers, ssl: { ca: [ca], cert: pem(name), key: pem(name) }, logLevel: logLevel.NOTHING, retry: { retries: 1 } });
    const producer = kafka('app').producer();
    await producer.connect();
    await producer.send({ topic: 'app-events', acks: -1, messages: [{ value: 'kafkajs' }] });
    await producer.disconnect();
    const otherAdmin = kafka('other').admin();
    await otherAdmin.connect();
    const listed = await otherAdmin.listTopics();
    await otherAdmin.disconnect();
    expect(listed).toEqual([]);
  }, 60_000);
});
