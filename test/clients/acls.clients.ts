/**
 * ACLs (#19, item 3) on a broker process with the authorizer on
 * (authorizer.class.name=StandardAuthorizer, super.users=User:admin) and
 * SASL on both listeners: the super user manages topics and ACLs; alice may
 * write and read `orders` and use groups starting `alice-`; bob may do
 * nothing. Both listeners are held to the same checks at the same point:
 * natively and through KafkaJS, alice produces to and reads `orders`, and is
 * refused `secret` (TOPIC_AUTHORIZATION_FAILED) and other groups
 * (GROUP_AUTHORIZATION_FAILED: FindCoordinator asked raw, since KafkaJS
 * reports it as "Failed to find group coordinator"); bob sees no topic in
 * a listing and is
 * refused one asked by name; creating topics or ACLs without the right is
 * refused (TOPIC_ / CLUSTER_AUTHORIZATION_FAILED). Deleting alice's Write
 * ACL takes her right away. The users are made through the cluster-secret
 * link, as an operator bootstraps them.
 */
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, logLevel, ResourcePatternTypes, type SASLOptions } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus, type ConsumerRecord } from '../../client/index.ts';
import { scramUpsertion } from '../../protocol/sasl/scram.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { kafkaBootstrap, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { scramKafkaConnection } from '../support/kafka-wire.ts';
import { encodeBatch } from '../../protocol/record-batch/index.ts';
import { killAllChildren } from '../support/processes.ts';
import { kactusCli } from '../support/kactus-cli.ts';

let cluster: TestCluster;
let bootstrap: string[];
const clients: Kactus[] = [];
const users = ['admin', 'alice', 'bob'] as const;
const passwordOf = (user: string): string => `${user}-secret`;

const native = (user: (typeof users)[number]): Kactus => {
  const kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: `acl-${user}`, requestTimeoutMs: 10_000, retriesMax: 2, sasl: { mechanism: 'SCRAM-SHA-256', username: user, password: passwordOf(user) } });
  clients.push(kactus);
  return kactus;
};
const kafkajs = (user: string): Kafka =>
  new Kafka({ clientId: `acl-kjs-${user}`, brokers: bootstrap, sasl: { mechanism: 'scram-sha-256', username: user, password: passwordOf(user) } as SASLOptions, logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 100 } });

/** The Kafka error name of a KafkaJS error (a non-retriable wrapper carries it in its cause). */
const kafkaType = (err: unknown): string | undefined => {
  const e = err as { type?: string; cause?: { type?: string } } | null;
  return e?.type ?? e?.cause?.type;
};

beforeAll(async () => {
  cluster = await startTestCluster(1, [
    'native.client.authentication=sasl',
    'listeners=SASL_PLAINTEXT://127.0.0.1:0',
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users=User:admin',
    'offsets.topic.num.partitions=1',
    'offsets.topic.replication.factor=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
  ]);
  const upsertions = users.map((name) => {
    return scramUpsertion(name, 'SCRAM-SHA-256', passwordOf(name), 4096);
  });
  await cluster.admin({ type: 'AlterUserScramCredentials', deletions: [], upsertions });
  bootstrap = await kafkaBootstrap(cluster, 'SASL_PLAINTEXT');
  const admin = native('admin').admin();
  const deadline = Date.now() + 10_000;
  while ((await admin.listTopics().then(() => true, () => false)) === false) {
    if (Date.now() > deadline) throw new Error('admin never authenticated');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 1, replicationFactor: 1 }, { topic: 'secret', numPartitions: 1, replicationFactor: 1 }] });
  const created = await admin.createAcls([
    { resourceType: 'TOPIC', resourceName: 'orders', principal: 'User:alice', operation: 'WRITE' },
    { resourceType: 'TOPIC', resourceName: 'orders', principal: 'User:alice', operation: 'READ' },
    { resourceType: 'GROUP', resourceName: 'alice-', patternType: 'PREFIXED', principal: 'User:alice', operation: 'READ' },
  ]);
  expect(created.every((r) => r.errorCode === 0)).toBe(true);
  // The ACLs reach the broker's image within a heartbeat.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
}, 90_000);

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

describe('ACLs on both listeners', () => {
  it('the super user sees the ACLs it made', async () => {
    const acls = await native('admin').admin().describeAcls({ principal: 'User:alice' });
    expect(acls.map((a) => `${a.resourceType}:${a.resourceName}:${a.patternType}:${a.operation}:${a.permissionType}`).sort()).toEqual(['GROUP:alice-:PREFIXED:READ:ALLOW', 'TOPIC:orders:LITERAL:READ:ALLOW', 'TOPIC:orders:LITERAL:WRITE:ALLOW']);
  });

  it('natively: alice writes and reads orders in her group; secret, other groups, creating topics and ACLs are refused', async () => {
    const alice = native('alice');
    expect((await alice.admin().listTopics()).sort()).toEqual(['orders']);
    await alice.producer({ acks: 'all' }).send({ topic: 'orders', messages: [{ key: 'k', value: 'native-1' }] });
    await expect(alice.producer({ acks: 'all' }).send({ topic: 'secret', messages: [{ value: 'x' }] })).rejects.toMatchObject({ type: 'TOPIC_AUTHORIZATION_FAILED' });
    const seen: string[] = [];
    const subscription = alice.consumer({ groupId: 'alice-readers', autoOffsetReset: 'earliest' }).subscribe('orders').messages$.subscribe((record: ConsumerRecord) => {
      seen.push(record.value!.toString());
      record.ack();
    });
    const deadline = Date.now() + 20_000;
    while (!seen.includes('native-1') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    subscription.unsubscribe();
    expect(seen).toContain('native-1');
    await expect(alice.admin().createTopics({ topics: [{ topic: 'mine', numPartitions: 1, replicationFactor: 1 }] })).rejects.toMatchObject({ type: 'TOPIC_AUTHORIZATION_FAILED' });
    await expect(alice.admin().createAcls([{ resourceType: 'TOPIC', resourceName: 'secret', principal: 'User:alice', operation: 'READ' }])).rejects.toMatchObject({ type: 'CLUSTER_AUTHORIZATION_FAILED' });
  }, 60_000);

  it('natively: bob lists no topic and may not write orders', async () => {
    const bob = native('bob');
    expect(await bob.admin().listTopics()).toEqual([]);
    await expect(bob.producer({ acks: 'all' }).send({ topic: 'orders', messages: [{ value: 'x' }] })).rejects.toMatchObject({ type: expect.stringMatching(/AUTHORIZATION_FAILED/) });
  });

  it('through the Kafka listener (KafkaJS): the same rights, with Kafka\'s codes', async () => {
    const producer = kafkajs('alice').producer();
    await producer.connect();
    await producer.send({ topic: 'orders', acks: -1, messages: [{ value: 'kafkajs-1' }] });
    const refused = await producer.send({ topic: 'secret', acks: -1, messages: [{ value: 'x' }] }).then(() => null, (err: { type?: string; name?: string }) => err);
    await producer.disconnect();
    expect(kafkaType(refused)).toBe('TOPIC_AUTHORIZATION_FAILED');

    const bobAdmin = kafkajs('bob').admin();
    await bobAdmin.connect();
    const listed = await bobAdmin.listTopics();
    const named = await bobAdmin.fetchTopicMetadata({ topics: ['orders'] }).then(() => null, (err: { type?: string }) => err);
    await bobAdmin.disconnect();
    expect(listed).toEqual([]);
    expect(kafkaType(named)).toBe('TOPIC_AUTHORIZATION_FAILED');

    // One Produce and one Fetch naming both topics: answered per partition, as Kafka does.
    {
      const [rawHost, rawPort] = bootstrap[0]!.split(':');
      const raw = await scramKafkaConnection(rawHost!, Number(rawPort), 'alice', passwordOf('alice'));
      try {
        const records = encodeBatch({ records: [{ key: null, value: Buffer.from('raw-1'), timestamp: Date.now() }] });
        const produced = (await raw.request('Produce', 9, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: ['orders', 'secret'].map((name) => ({ name, partitionData: [{ index: 0, records }] })) })) as { responses: { name: string; partitionResponses: { errorCode: number }[] }[] };
        expect(produced.responses.map((r) => [r.name, r.partitionResponses[0]!.errorCode])).toEqual([['orders', 0], ['secret', ErrorCode.TOPIC_AUTHORIZATION_FAILED]]);
        const fetched = (await raw.request('Fetch', 11, {
          replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 1_048_576, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
          topics: ['orders', 'secret'].map((topic) => ({ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0, logStartOffset: -1, partitionMaxBytes: 1_048_576 }] })),
          forgottenTopicsData: [], rackId: '',
        })) as { responses: { topic: string; partitions: { errorCode: number; records: Buffer | null }[] }[] };
        expect(fetched.responses.map((r) => [r.topic, r.partitions[0]!.errorCode])).toEqual([['orders', 0], ['secret', ErrorCode.TOPIC_AUTHORIZATION_FAILED]]);
        expect(fetched.responses[0]!.partitions[0]!.records?.length).toBeGreaterThan(0);
      } finally {
        raw.close();
      }
    }
    // KafkaJS hides a FindCoordinator refusal behind "Failed to find group coordinator": ask it raw, as alice.
    const [host, port] = bootstrap[0]!.split(':');
    const raw = await scramKafkaConnection(host!, Number(port), 'alice', passwordOf('alice'));
    try {
      expect(await raw.request('FindCoordinator', 2, { key: 'not-alices', keyType: 0 })).toMatchObject({ errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED });
      expect(await raw.request('FindCoordinator', 2, { key: 'alice-x', keyType: 0 })).toMatchObject({ errorCode: ErrorCode.NONE });
    } finally {
      raw.close();
    }
    const consumer = kafkajs('alice').consumer({ groupId: 'alice-kafkajs' });
    await consumer.connect();
    await consumer.subscribe({ topic: 'orders', fromBeginning: true });
    const seen = new Set<string>();
    await consumer.run({ eachMessage: async ({ message }) => void seen.add(message.value!.toString()) });
    const deadline = Date.now() + 20_000;
    while (!seen.has('kafkajs-1') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await consumer.disconnect();
    expect(seen.has('kafkajs-1')).toBe(true);
  }, 60_000);

  it('kactus acls add / list / remove, as the super user: bob sees orders while his ACL exists', async () => {
    const env = { KACTUS_SASL_USERNAME: 'admin', KACTUS_SASL_PASSWORD: passwordOf('admin') };
    const bootstrapFlag = ['--bootstrap', cluster.brokers[0]!.url];
    const added = await kactusCli(['acls', 'add', '--allow-principal', 'User:bob', '--operation', 'Read', '--operation', 'Describe', '--topic', 'orders', ...bootstrapFlag], { env });
    expect(added).toMatchObject({ code: 0, stdout: 'Added: ALLOW User:bob READ on TOPIC orders from *\nAdded: ALLOW User:bob DESCRIBE on TOPIC orders from *\n' });
    const listed = await kactusCli(['acls', 'list', '--topic', 'orders', '--principal', 'User:bob', '--json', ...bootstrapFlag], { env });
    expect(JSON.parse(listed.stdout).map((b: { operation: string }) => b.operation).sort()).toEqual(['DESCRIBE', 'READ']);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await native('bob').admin().listTopics()).toEqual(['orders']);
    const removed = await kactusCli(['acls', 'remove', '--topic', 'orders', '--principal', 'User:bob', ...bootstrapFlag], { env });
    expect(removed.code).toBe(0);
    expect(removed.stdout.split('\n').filter((l) => l.startsWith('Removed: '))).toHaveLength(2);
    expect(await kactusCli(['acls', 'remove', ...bootstrapFlag], { env })).toMatchObject({ code: 2 });
    const asBob = await kactusCli(['acls', 'list', ...bootstrapFlag], { env: { KACTUS_SASL_USERNAME: 'bob', KACTUS_SASL_PASSWORD: passwordOf('bob') } });
    expect(asBob.code).toBe(1);
    expect(asBob.stderr).toContain('CLUSTER_AUTHORIZATION_FAILED');
  }, 60_000);

  it('KafkaJS admin (the super user) creates, describes and deletes ACLs through CreateAcls / DescribeAcls / DeleteAcls', async () => {
    const admin = kafkajs('admin').admin();
    await admin.connect();
    try {
      const acl = { resourceType: AclResourceTypes.TOPIC, resourceName: 'secret', resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:bob', host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW };
      await admin.createAcls({ acl: [acl] });
      const described = await admin.describeAcls({ resourceType: AclResourceTypes.TOPIC, resourceName: 'secret', resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:bob', host: '*', operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY });
      expect(described.resources).toEqual([{ resourceType: AclResourceTypes.TOPIC, resourceName: 'secret', resourcePatternType: ResourcePatternTypes.LITERAL, acls: [{ principal: 'User:bob', host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW }] }]);
      const deleted = await admin.deleteAcls({ filters: [{ resourceType: AclResourceTypes.TOPIC, resourceName: 'secret', resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:bob', host: '*', operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY }] });
      expect(deleted.filterResponses[0]!.matchingAcls).toHaveLength(1);
    } finally {
      await admin.disconnect();
    }
    const bobAdmin = kafkajs('bob').admin();
    await bobAdmin.connect();
    const refused = await bobAdmin.createAcls({ acl: [{ resourceType: AclResourceTypes.TOPIC, resourceName: 'secret', resourcePatternType: ResourcePatternTypes.LITERAL, principal: 'User:bob', host: '*', operation: AclOperationTypes.ALL, permissionType: AclPermissionTypes.ALLOW }] }).then(() => null, (err: unknown) => err);
    await bobAdmin.disconnect();
    expect(kafkaType(refused)).toBe('CLUSTER_AUTHORIZATION_FAILED');
  }, 60_000);

  it('deleting alice\'s Write ACL takes her right away', async () => {
    const deleted = await native('admin').admin().deleteAcls([{ resourceType: 'TOPIC', resourceName: 'orders', principal: 'User:alice', operation: 'WRITE' }]);
    expect(deleted[0]!.deleted).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await expect(native('alice').producer({ acks: 'all' }).send({ topic: 'orders', messages: [{ value: 'late' }] })).rejects.toMatchObject({ type: expect.stringMatching(/AUTHORIZATION_FAILED/) });
  });
});
