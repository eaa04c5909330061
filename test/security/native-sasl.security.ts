/**
 * SASL on the native listener (#19, item 2) on a broker process with
 * native.client.authentication=sasl: a Kactus client with a SCRAM user's
 * credentials (SCRAM-SHA-256 or -512) creates a topic, produces acks=all and
 * reads every record back through a consumer group; the CLI does the same
 * with $KACTUS_SASL_USERNAME / $KACTUS_SASL_PASSWORD. A client without
 * credentials gets SASL_AUTHENTICATION_FAILED naming what to set, a wrong
 * password SASL_AUTHENTICATION_FAILED at once (not retried), PLAIN over
 * ws:// UNSUPPORTED_SASL_MECHANISM. The first user is made through the
 * cluster-secret link, as an operator bootstraps one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus, type ConsumerRecord } from '../../client/index.ts';
import { scramUpsertion } from '../../protocol/sasl/scram.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { kactusCli } from '../support/kactus-cli.ts';

let cluster: TestCluster;
const clients: Kactus[] = [];
const password = 'alice-secret';
const topic = 'native-sasl';

const open = (sasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'PLAIN'; username: string; password: string }): Kactus => {
  const kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'native-sasl', requestTimeoutMs: 10_000, ...(sasl ? { sasl } : {}) });
  clients.push(kactus);
  return kactus;
};


beforeAll(async () => {
  cluster = await startTestCluster(1, ['native.client.authentication=sasl', 'offsets.topic.num.partitions=1', 'offsets.topic.replication.factor=1', 'group.initial.rebalance.delay.ms=0']);
  const upsertions = (['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const).map((mechanism) => {
    return scramUpsertion('alice', mechanism, password, 4096);
  });
  const reply = await cluster.admin<{ results: { errorCode: number }[] }>({ type: 'AlterUserScramCredentials', deletions: [], upsertions });
  expect(reply.results.every((r) => r.errorCode === 0)).toBe(true);
  // The controller committed; the broker's image (and so its authenticator) follows within a heartbeat.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'probe', retriesMax: 0, sasl: { mechanism: 'SCRAM-SHA-256', username: 'alice', password } });
    const ok = await probe.admin().listTopics().then(() => true, () => false);
    await probe.close().catch(() => undefined);
    if (ok) break;
    if (Date.now() > deadline) throw new Error('alice never authenticated');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}, 60_000);

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

describe('SASL on the native listener', () => {
  it('a SCRAM user produces acks=all and reads every record back through a group', async () => {
    const kactus = open({ mechanism: 'SCRAM-SHA-256', username: 'alice', password });
    await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] });
    const producer = kactus.producer({ acks: 'all' });
    const values = Array.from({ length: 200 }, (_, i) => `v${i}`);
    await producer.send({ topic, messages: values.map((value) => ({ key: value, value })) });
    const seen = new Set<string>();
    const consumer = open({ mechanism: 'SCRAM-SHA-512', username: 'alice', password }).consumer({ groupId: 'sasl-native', autoOffsetReset: 'earliest' }).subscribe(topic);
    const subscription = consumer.messages$.subscribe((record: ConsumerRecord) => {
      seen.add(record.value!.toString());
      record.ack();
    });
    const deadline = Date.now() + 30_000;
    while (seen.size < values.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    subscription.unsubscribe();
    expect(values.filter((v) => !seen.has(v))).toEqual([]);
  }, 60_000);

  it('refused: no credentials (naming what to set), a wrong password (not retried), PLAIN over ws://', async () => {
    await expect(open().admin().listTopics()).rejects.toMatchObject({ type: 'SASL_AUTHENTICATION_FAILED', message: expect.stringContaining('give the client its sasl credentials') });
    const startedMs = Date.now();
    await expect(open({ mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'wrong' }).admin().listTopics()).rejects.toMatchObject({ type: 'SASL_AUTHENTICATION_FAILED', message: expect.stringContaining('invalid credentials') });
    console.log(`native-sasl: a wrong password was refused in ${Date.now() - startedMs} ms`);
    await expect(open({ mechanism: 'PLAIN', username: 'alice', password }).admin().listTopics()).rejects.toMatchObject({ type: 'UNSUPPORTED_SASL_MECHANISM' });
  });

  it('the CLI authenticates with $KACTUS_SASL_USERNAME / $KACTUS_SASL_PASSWORD', async () => {
    const bootstrap = ['--bootstrap', cluster.brokers[0]!.url];
    const listed = await kactusCli(['topics', 'list', ...bootstrap], { env: { KACTUS_SASL_USERNAME: 'alice', KACTUS_SASL_PASSWORD: password, KACTUS_SASL_MECHANISM: 'SCRAM-SHA-512' } });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(topic);
    const refused = await kactusCli(['topics', 'list', ...bootstrap], { env: {} });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('SASL_AUTHENTICATION_FAILED');
  }, 60_000);
});
