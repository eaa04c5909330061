/**
 * SASL on the Kafka listener (#19, item 2) against a broker process with a
 * SASL_PLAINTEXT listener only: users made with Admin
 * alterUserScramCredentials (stored in the metadata log) authenticate
 * unmodified KafkaJS (SCRAM-SHA-256 and -512) and @platformatic/kafka
 * (SCRAM-SHA-512), which then produce and consume. Refused, each with
 * Kafka's code and a closed connection: a wrong password and an unknown
 * user (the same message: usernames cannot be probed), any API but
 * ApiVersions before authentication, PLAIN over a plaintext listener, a
 * SaslAuthenticate without a handshake, a recorded client-final message
 * replayed on a new connection. Then a guesser from one address is held to
 * the attempt limiter's rate, while the right password goes through once
 * the bucket refills.
 */
import { Producer as PlatformaticProducer, ProduceAcks, stringSerializers } from '@platformatic/kafka';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { scramClientFinal, scramClientFirst } from '../../protocol/sasl/scram.ts';
import { kafkaBootstrap, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { kafkaConnection } from '../support/kafka-wire.ts';
import { killAllChildren } from '../support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
let bootstrap: string[];
const topic = 'sasl-orders';
const password = 'alice-secret';

const kafkajs = (mechanism: 'scram-sha-256' | 'scram-sha-512', username: string, pass: string): Kafka =>
  new Kafka({ clientId: `sasl-${mechanism}`, brokers: bootstrap, sasl: { mechanism, username, password: pass } as SASLOptions, logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 200 }, connectionTimeout: 5_000 });

const hostPort = (): { host: string; port: number } => {
  const [host, port] = bootstrap[0]!.split(':');
  return { host: host!, port: Number(port) };
};

beforeAll(async () => {
  cluster = await startTestCluster(1, ['listeners=SASL_PLAINTEXT://127.0.0.1:0', 'offsets.topic.num.partitions=1', 'offsets.topic.replication.factor=1', 'group.initial.rebalance.delay.ms=0']);
  kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'sasl-admin' });
  const admin = kactus.admin();
  await admin.alterUserScramCredentials([
    { user: 'alice', mechanism: 'SCRAM-SHA-256', password },
    { user: 'alice', mechanism: 'SCRAM-SHA-512', password },
  ]);
  await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] });
  bootstrap = await kafkaBootstrap(cluster, 'SASL_PLAINTEXT');
  // The admin call returns once the controller committed; the broker's image follows within a heartbeat.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = kafkajs('scram-sha-256', 'alice', password).admin();
    const ok = await probe.connect().then(() => true, () => false);
    await probe.disconnect().catch(() => undefined);
    if (ok) break;
    if (Date.now() > deadline) throw new Error('alice never authenticated');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}, 60_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

describe('SASL/SCRAM on a SASL_PLAINTEXT Kafka listener', () => {
  it('KafkaJS authenticates with SCRAM-SHA-256 and SCRAM-SHA-512, then produces and consumes', async () => {
    const producer = kafkajs('scram-sha-512', 'alice', password).producer();
    await producer.connect();
    const values = Array.from({ length: 50 }, (_, i) => `order-${i}`);
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ key: value, value })) });
    await producer.disconnect();

    const consumer = kafkajs('scram-sha-256', 'alice', password).consumer({ groupId: 'sasl-readers', sessionTimeout: 10_000 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen = new Set<string>();
    await consumer.run({ eachMessage: async ({ message }) => void seen.add(message.value!.toString()) });
    const deadline = Date.now() + 30_000;
    while (seen.size < values.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await consumer.disconnect();
    expect([...seen].sort()).toEqual([...values].sort());
  }, 60_000);

  it('@platformatic/kafka authenticates with SCRAM-SHA-512 and produces', async () => {
    const producer = new PlatformaticProducer({ clientId: 'sasl-plt', bootstrapBrokers: bootstrap, serializers: stringSerializers, acks: ProduceAcks.ALL, sasl: { mechanism: 'SCRAM-SHA-512', username: 'alice', password }, retries: 3 });
    try {
      const result = await producer.send({ messages: [{ topic, key: 'plt', value: 'from platformatic', partition: 0 }] });
      expect(result.offsets?.[0]?.partition).toBe(0);
    } finally {
      await producer.close();
    }
  }, 30_000);

  it('a wrong password and an unknown user are refused alike, with SASL_AUTHENTICATION_FAILED', async () => {
    const wrong = kafkajs('scram-sha-256', 'alice', 'not-the-password').admin();
    const unknown = kafkajs('scram-sha-256', 'mallory', 'whatever').admin();
    const wrongError = await wrong.connect().then(() => null, (err: Error) => err);
    const unknownError = await unknown.connect().then(() => null, (err: Error) => err);
    expect(wrongError?.name).toBe('KafkaJSSASLAuthenticationError');
    expect(unknownError?.name).toBe('KafkaJSSASLAuthenticationError');
    expect(wrongError?.message).toContain('due to invalid credentials with SASL mechanism SCRAM-SHA-256');
    expect(unknownError?.message).toBe(wrongError?.message);
  });

  it('before authentication only ApiVersions and the SASL APIs are served; PLAIN is not offered without TLS', async () => {
    const { host, port } = hostPort();
    const first = await kafkaConnection(host, port);
    const versions = (await first.request('ApiVersions', 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' })) as { apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[] };
    expect(versions.apiKeys.find((k) => k.apiKey === 17)).toMatchObject({ minVersion: 0, maxVersion: 1 });
    expect(versions.apiKeys.find((k) => k.apiKey === 36)).toMatchObject({ minVersion: 0, maxVersion: 2 });
    await expect(first.request('Metadata', 9, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false })).rejects.toThrow(/closed/);

    const plain = await kafkaConnection(host, port);
    expect(await plain.request('SaslHandshake', 1, { mechanism: 'PLAIN' })).toEqual({ errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-512'] });
    await plain.closed;

    const v0 = await kafkaConnection(host, port);
    expect(await v0.request('SaslHandshake', 0, { mechanism: 'SCRAM-SHA-256' })).toMatchObject({ errorCode: ErrorCode.ILLEGAL_SASL_STATE });
    await v0.closed;

    const noHandshake = await kafkaConnection(host, port);
    expect(await noHandshake.request('SaslAuthenticate', 2, { authBytes: Buffer.from('n,,n=alice,r=abcdefghijklmnopq') })).toMatchObject({ errorCode: ErrorCode.ILLEGAL_SASL_STATE });
    await noHandshake.closed;
  });

  it('a recorded client-final message does not authenticate a second connection (no nonce is accepted twice)', async () => {
    const { host, port } = hostPort();
    const authenticate = async (replayed?: Buffer): Promise<{ final: Buffer; answer: { errorCode: number; errorMessage: string | null } }> => {
      const connection = await kafkaConnection(host, port);
      try {
        expect(await connection.request('SaslHandshake', 1, { mechanism: 'SCRAM-SHA-256' })).toMatchObject({ errorCode: 0 });
        const client = scramClientFirst('SCRAM-SHA-256', 'alice');
        const serverFirst = (await connection.request('SaslAuthenticate', 2, { authBytes: client.message })) as { errorCode: number; authBytes: Buffer };
        expect(serverFirst.errorCode).toBe(0);
        const final = scramClientFinal(client.exchange, password, serverFirst.authBytes);
        if (!final.ok) throw new Error(final.reason);
        const answer = (await connection.request('SaslAuthenticate', 2, { authBytes: replayed ?? final.message })) as { errorCode: number; errorMessage: string | null };
        if (answer.errorCode === 0) {
          // Authenticated: the connection now serves the rest.
          const metadata = (await connection.request('Metadata', 9, { topics: [{ name: topic }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false })) as { topics: { name: string; errorCode: number }[] };
          expect(metadata.topics[0]).toMatchObject({ name: topic, errorCode: 0 });
        }
        return { final: final.message, answer };
      } finally {
        connection.close();
      }
    };
    const honest = await authenticate();
    expect(honest.answer.errorCode).toBe(0);
    const replay = await authenticate(honest.final);
    expect(replay.answer).toMatchObject({ errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
    expect(replay.answer.errorMessage).toContain('nonce');
  });

  it('malformed SASL messages (random bytes at either step) are refused one by one; the broker serves on', async () => {
    const { host, port } = hostPort();
    let seed = 7;
    const random = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >> 16) & 0xff));
    for (let i = 0; i < 8; i += 1) {
      const connection = await kafkaConnection(host, port);
      expect(await connection.request('SaslHandshake', 1, { mechanism: i % 2 === 0 ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512' })).toMatchObject({ errorCode: 0 });
      const first = i < 4 ? random(1 + i * 40) : scramClientFirst('SCRAM-SHA-256', 'alice').message;
      const answer = (await connection.request('SaslAuthenticate', 2, { authBytes: first })) as { errorCode: number };
      if (answer.errorCode === 0) expect(await connection.request('SaslAuthenticate', 2, { authBytes: random(64 + i) })).toMatchObject({ errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
      else expect(answer.errorCode).toBe(ErrorCode.SASL_AUTHENTICATION_FAILED);
      await connection.closed;
    }
    const probe = await kafkaConnection(host, port);
    expect(await probe.request('ApiVersions', 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' })).toMatchObject({ errorCode: 0 });
    probe.close();
  });

  // Last: it empties 127.0.0.1's bucket of failed attempts.
  it('a password guesser is held to the attempt limiter: refused before any check once its failures are spent; the right password passes after the refill', async () => {
    const messages: string[] = [];
    for (let attempt = 0; attempt < 14; attempt += 1) {
      const guess = kafkajs('scram-sha-256', 'alice', `guess-${attempt}`).admin();
      const error = await guess.connect().then(() => null, (err: Error) => err);
      expect(error?.name).toBe('KafkaJSSASLAuthenticationError');
      messages.push(error!.message);
    }
    // The bucket holds 10 failures (fewer remain after the tests above): the later guesses are not even checked.
    expect(messages.slice(-3).every((m) => m.includes('too many failed authentications'))).toBe(true);
    const right = kafkajs('scram-sha-256', 'alice', password).admin();
    const deadline = Date.now() + 10_000;
    let connected = false;
    while (!connected && Date.now() < deadline) {
      connected = await right.connect().then(() => true, () => false);
      if (!connected) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await right.disconnect().catch(() => undefined);
    expect(connected).toBe(true);
  }, 60_000);
});
