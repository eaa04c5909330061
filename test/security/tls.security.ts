/**
 * TLS between brokers and to clients (#19, item 1) on 3 broker processes:
 * every broker serves wss:// only (ssl.keystore.location, certificates from
 * cli/dev-certs.ts via openssl), registers, heartbeats and replicates over
 * TLS; a client that trusts the CA creates a topic, produces acks=all while
 * a partition leader is SIGKILLed, and reads every acknowledged record back
 * over wss:// (brokers learned from metadata keep wss://). A client without
 * the CA, or dialing plain ws://, gets NETWORK_EXCEPTION.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeDevCertificates } from '../../cli/dev-certs.ts';
import { Kactus, type ConsumerRecord } from '../../client/index.ts';
import { readPemTruststore } from '../../runtime/tls.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';

const certDir = mkdtempSync(join(tmpdir(), 'kactus-tls-process-'));
const certs = makeDevCertificates(certDir, ['broker']);
const ca = readPemTruststore(certs.caPath);
let cluster: TestCluster | undefined;
const clients: Kactus[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) await client.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
  cluster = undefined;
});
afterAll(() => rmSync(certDir, { recursive: true, force: true }));

describe('TLS (3 broker processes)', () => {
  it('brokers and clients talk wss:// only; a leader SIGKILLed mid-stream loses nothing acknowledged', async () => {
    cluster = await startTestCluster(3, [`ssl.keystore.type=PEM`, `ssl.keystore.location=${certs.keystores.broker}`, `ssl.truststore.type=PEM`, `ssl.truststore.location=${certs.caPath}`], { clientTls: { ca } });
    expect(cluster.brokers.every((b) => b.url.startsWith('wss://'))).toBe(true);
    // Every broker registered and unfenced: RegisterBroker, heartbeats and the metadata fetches went over TLS.
    const kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'tls-test', requestTimeoutMs: 10_000, ssl: { ca } });
    clients.push(kactus);
    const admin = kactus.admin();
    expect((await admin.describeCluster()).brokers.map((b) => b.brokerId).sort()).toEqual([1, 2, 3]);
    await admin.createTopics({ topics: [{ topic: 'secure', numPartitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
    const topic = await cluster.waitForLeaders('secure', 3, 3);

    const phaseStartMs = Date.now();
    const phases: string[] = [];
    const phase = (name: string): void => void phases.push(`${name} ${Date.now() - phaseStartMs} ms`);
    const producer = kactus.producer({ acks: 'all' });
    const acked: string[] = [];
    const victim = topic.partitions.find((p) => p.leader !== 1)!.leader; // not the bootstrap broker
    for (let round = 0; round < 20; round += 1) {
      if (round === 8) await cluster.killBroker(victim);
      const values = Array.from({ length: 50 }, (_, i) => `r${round}-${i}`);
      const results = await producer.send({ topic: 'secure', messages: values.map((value) => ({ key: value, value })) });
      expect(results).toHaveLength(values.length);
      acked.push(...values);
    }
    phase('produced');
    await cluster.startBroker(victim);

    const seen = new Set<string>();
    const consumer = kactus.consumer({ groupId: 'tls-readers', autoOffsetReset: 'earliest' }).subscribe('secure');
    const subscription = consumer.messages$.subscribe((record: ConsumerRecord) => {
      seen.add(record.value!.toString());
      record.ack();
    });
    const deadline = Date.now() + 30_000;
    while (seen.size < acked.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    subscription.unsubscribe();
    phase('read back');
    expect(acked.filter((v) => !seen.has(v))).toEqual([]);

    // Without the CA, or over plain ws://, no way in.
    const noCa = new Kactus({ brokers: [cluster.brokers[1]!.url], clientId: 'tls-no-ca', connectTimeoutMs: 3_000, retriesMax: 0 });
    clients.push(noCa);
    await expect(noCa.admin().listTopics()).rejects.toMatchObject({ type: 'NETWORK_EXCEPTION' });
    const plain = new Kactus({ brokers: [cluster.brokers[1]!.url.replace('wss:', 'ws:')], clientId: 'tls-plain', connectTimeoutMs: 3_000, retriesMax: 0, ssl: { ca } });
    clients.push(plain);
    await expect(plain.admin().listTopics()).rejects.toMatchObject({ type: 'NETWORK_EXCEPTION' });
    phase('refused');
    // Where the time goes (one CI run took 41 s against 9 s usually): printed, never asserted.
    process.stdout.write(`tls-process: ${phases.join(', ')}\n`);
  }, 120_000);
});
