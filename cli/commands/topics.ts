/**
 * `kactus topics create|list|describe|delete|alter|add-partitions`, through
 * the client's Admin, printed like kafka-topics.
 *
 * describe shows, per partition, the leader, replicas and ISR; the filters
 * --under-replicated (ISR smaller than the replicas), --under-min-isr (ISR
 * smaller than the topic's min.insync.replicas) and --unavailable (no
 * leader, or a leader that is not a live broker) keep only those partitions,
 * as kafka-topics' flags of the same names do. A topic that does not set
 * min.insync.replicas counts with 1, the topic default: the brokers' own
 * default (their min.insync.replicas setting) is not visible to clients.
 *
 * Internal topics (__consumer_offsets) are listed only with --include-internal,
 * but `describe` without a name counts them in its filters.
 *
 * create without --partitions or --replication-factor leaves them to the
 * brokers (num.partitions, default.replication.factor), as kafka-topics does;
 * --if-not-exists makes an existing topic no failure, and --if-exists a
 * missing one on delete.
 */
import type { Admin, TopicDescription } from '../../client/admin.ts';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { UsageError, printJson, printLine } from '../output.ts';
import { integerFlag, keyValues, withClient } from '../common.ts';
import type { CommandSpec, Parsed } from '../parser.ts';

/** Partitions per topic a CLI user may ask for in one call (Kafka has no hard cap; this one catches typos). */
const partitionsMax = 10_000;
/** Replication factor bound (brokers in a cluster). */
const replicationFactorMax = 100;

export type PartitionHealth = { underReplicated: boolean; underMinIsr: boolean; unavailable: boolean };

/** Health of one partition given the topic's min.insync.replicas and the live broker ids. */
export function partitionHealth(p: TopicDescription['partitions'][number], minInsyncReplicas: number, liveBrokers: ReadonlySet<number>): PartitionHealth {
  return {
    underReplicated: p.isr.length < p.replicas.length,
    underMinIsr: p.isr.length < minInsyncReplicas,
    unavailable: p.leader < 0 || !liveBrokers.has(p.leader),
  };
}

/** min.insync.replicas of each topic (1 where the topic does not set it); topics whose configs cannot be read count 1. */
export async function minInsyncReplicasOf(admin: Admin, topics: readonly string[]): Promise<Map<string, number>> {
  const result = new Map<string, number>(topics.map((t) => [t, 1]));
  if (topics.length === 0) return result;
  const described = await admin.describeConfigs({ resources: topics.map((name) => ({ type: 'topic' as const, name, configNames: ['min.insync.replicas'] })) }).catch(() => []);
  for (const d of described) {
    const value = Number(d.configs.find((c) => c.name === 'min.insync.replicas')?.value);
    if (Number.isInteger(value) && value > 0) result.set(d.name, value);
  }
  return result;
}

async function create(parsed: Parsed): Promise<number> {
  const [name] = parsed.positionals;
  // Either left out: the brokers' num.partitions / default.replication.factor.
  const partitions = parsed.values.partitions === undefined ? undefined : integerFlag(parsed.values.partitions, 'partitions', 1, partitionsMax);
  const replicationFactor = parsed.values['replication-factor'] === undefined ? undefined : integerFlag(parsed.values['replication-factor'], 'replication-factor', 1, replicationFactorMax);
  const configs = keyValues(parsed.values.config, 'config');
  return withClient(parsed.values, async (kactus) => {
    const topic = { topic: name!, configs, ...(partitions === undefined ? {} : { numPartitions: partitions }), ...(replicationFactor === undefined ? {} : { replicationFactor }) };
    let created: Awaited<ReturnType<Admin['createTopics']>>[number] | undefined;
    try {
      [created] = await kactus.admin().createTopics({ topics: [topic] });
    } catch (err) {
      if (!(parsed.values['if-not-exists'] === true && err instanceof KactusError && err.code === ErrorCode.TOPIC_ALREADY_EXISTS)) throw err;
      if (parsed.values.json) printJson({ topic: name, created: false });
      else printLine(`Topic ${name} already exists.`);
      return 0;
    }
    if (parsed.values.json) printJson({ topic: name, created: true, topicId: created?.topicId ?? null, partitions: partitions ?? created?.numPartitions ?? null, replicationFactor: replicationFactor ?? created?.replicationFactor ?? null, configs });
    else printLine(`Created topic ${name}.`);
    return 0;
  });
}

async function list(parsed: Parsed): Promise<number> {
  return withClient(parsed.values, async (kactus) => {
    const names = (await kactus.admin().listTopics({ includeInternal: parsed.values['include-internal'] === true })).sort();
    if (parsed.values.json) printJson(names);
    else for (const name of names) printLine(name);
    return 0;
  });
}

async function describe(parsed: Parsed): Promise<number> {
  const filters = (['under-replicated', 'under-min-isr', 'unavailable'] as const).filter((f) => parsed.values[f] === true);
  if (filters.length > 1) throw new UsageError(`topics describe: --${filters.join(' and --')} exclude each other`);
  const filter = filters[0];
  const name = parsed.positionals[0];
  return withClient(parsed.values, async (kactus) => {
    const admin = kactus.admin();
    const [topics, cluster] = await Promise.all([admin.describeTopics(name === undefined ? {} : { topics: [name] }), admin.describeCluster()]);
    const live = new Set(cluster.brokers.map((b) => b.brokerId));
    topics.sort((a, b) => a.name.localeCompare(b.name));
    const visible = name === undefined && filter === undefined ? topics.filter((t) => !t.isInternal) : topics;
    const configs = await topicConfigs(admin, visible.map((t) => t.name));
    const minIsr = new Map([...configs].map(([topic, entries]) => [topic, Number(entries['min.insync.replicas'] ?? 1)]));
    const rows = visible.map((t) => {
      const partitions = t.partitions
        .map((p) => ({ ...p, health: partitionHealth(p, minIsr.get(t.name) ?? 1, live) }))
        .filter((p) => filter === undefined || (filter === 'under-replicated' ? p.health.underReplicated : filter === 'under-min-isr' ? p.health.underMinIsr : p.health.unavailable))
        .sort((a, b) => a.partition - b.partition);
      return { topic: t, partitions };
    }).filter((row) => filter === undefined || row.partitions.length > 0);
    if (parsed.values.json) {
      printJson(rows.map(({ topic, partitions }) => ({
        topic: topic.name,
        topicId: topic.topicId,
        isInternal: topic.isInternal,
        partitionCount: topic.partitions.length,
        replicationFactor: topic.partitions[0]?.replicas.length ?? 0,
        configs: configs.get(topic.name) ?? {},
        partitions: partitions.map((p) => ({ partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr, offlineReplicas: p.offlineReplicas, ...p.health })),
      })));
      return 0;
    }
    for (const { topic, partitions } of rows) {
      const configText = Object.entries(configs.get(topic.name) ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
      if (filter === undefined) printLine(`Topic: ${topic.name}\tTopicId: ${topic.topicId}\tPartitionCount: ${topic.partitions.length}\tReplicationFactor: ${topic.partitions[0]?.replicas.length ?? 0}\tConfigs: ${configText}`);
      for (const p of partitions) {
        const offline = p.offlineReplicas.length > 0 ? `\tOffline: ${p.offlineReplicas.join(',')}` : '';
        printLine(`\tTopic: ${topic.name}\tPartition: ${p.partition}\tLeader: ${p.leader < 0 ? 'none' : p.leader}\tReplicas: ${p.replicas.join(',')}\tIsr: ${p.isr.join(',')}${offline}`);
      }
    }
    return 0;
  });
}

/** Configs each topic sets itself (not defaults), as name -> value. */
async function topicConfigs(admin: Admin, topics: readonly string[]): Promise<Map<string, Record<string, string>>> {
  const result = new Map<string, Record<string, string>>(topics.map((t) => [t, {}]));
  if (topics.length === 0) return result;
  const described = await admin.describeConfigs({ resources: topics.map((name) => ({ type: 'topic' as const, name })) });
  for (const d of described) result.set(d.name, Object.fromEntries(d.configs.filter((c) => c.source === 'TOPIC_CONFIG').map((c) => [c.name, c.value])));
  return result;
}

async function remove(parsed: Parsed): Promise<number> {
  const [name] = parsed.positionals;
  return withClient(parsed.values, async (kactus) => {
    try {
      await kactus.admin().deleteTopics({ topics: [name!] });
    } catch (err) {
      if (!(parsed.values['if-exists'] === true && err instanceof KactusError && err.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)) throw err;
      if (parsed.values.json) printJson({ topic: name, deleted: false });
      else printLine(`Topic ${name} does not exist.`);
      return 0;
    }
    if (parsed.values.json) printJson({ topic: name, deleted: true });
    else printLine(`Deleted topic ${name}.`);
    return 0;
  });
}

async function alter(parsed: Parsed): Promise<number> {
  const [name] = parsed.positionals;
  const set = keyValues(parsed.values.config, 'config');
  const deleted = (parsed.values['delete-config'] as string[] | undefined) ?? [];
  if (Object.keys(set).length === 0 && deleted.length === 0) throw new UsageError('topics alter: give --config k=v or --delete-config k');
  return withClient(parsed.values, async (kactus) => {
    await kactus.admin().alterConfigs({ resources: [{ type: 'topic', name: name!, set, delete: deleted }] });
    if (parsed.values.json) printJson({ topic: name, set, deleted });
    else printLine(`Altered configs of topic ${name}.`);
    return 0;
  });
}

async function addPartitions(parsed: Parsed): Promise<number> {
  const [name] = parsed.positionals;
  const count = integerFlag(parsed.values.partitions, 'partitions', 1, partitionsMax);
  return withClient(parsed.values, async (kactus) => {
    await kactus.admin().createPartitions({ topicPartitions: [{ topic: name!, count }] });
    if (parsed.values.json) printJson({ topic: name, partitions: count });
    else printLine(`Topic ${name} now has ${count} partitions.`);
    return 0;
  });
}

const topicArgument = { name: 'NAME', help: 'the topic' } as const;
const config = { type: 'string', value: 'k=v', multiple: true, help: 'a topic config, e.g. min.insync.replicas=2' } as const;

export const topicsSpec: CommandSpec = {
  name: 'topics',
  description: 'Creates, lists, describes, deletes and alters topics, like kafka-topics.',
  subcommands: [
    {
      name: 'create',
      summary: 'create a topic',
      arguments: [topicArgument],
      options: {
        partitions: { type: 'string', value: 'N', help: 'partitions (default: the brokers\' num.partitions)' },
        'replication-factor': { type: 'string', value: 'R', help: 'replicas of each partition (default: the brokers\' default.replication.factor)' },
        config,
        'if-not-exists': { type: 'boolean', help: 'an existing topic is no error (left as it is)' },
      },
      cluster: true,
      run: create,
    },
    { name: 'list', summary: 'list the topics\' names', options: { 'include-internal': { type: 'boolean', default: false, help: 'internal topics too (__consumer_offsets, __transaction_state)' } }, cluster: true, run: list },
    {
      name: 'describe',
      summary: 'partitions with leader, replicas and ISR (of every topic without NAME)',
      arguments: [{ ...topicArgument, required: false, help: 'the topic (default: every topic)' }],
      options: {
        'under-replicated': { type: 'boolean', default: false, help: 'only partitions whose ISR is smaller than their replicas' },
        'under-min-isr': { type: 'boolean', default: false, help: 'only partitions whose ISR is smaller than the topic\'s min.insync.replicas' },
        unavailable: { type: 'boolean', default: false, help: 'only partitions with no live leader' },
      },
      cluster: true,
      run: describe,
    },
    { name: 'delete', summary: 'delete a topic and its records', arguments: [topicArgument], options: { 'if-exists': { type: 'boolean', help: 'a missing topic is no error' } }, cluster: true, run: remove },
    {
      name: 'alter',
      summary: 'set or delete topic configs',
      arguments: [topicArgument],
      options: { config: { ...config, help: 'set a topic config' }, 'delete-config': { type: 'string', value: 'k', multiple: true, help: 'delete a topic config (back to the broker default)' } },
      cluster: true,
      run: alter,
    },
    { name: 'add-partitions', summary: 'grow a topic to N partitions', arguments: [topicArgument], options: { partitions: { type: 'string', value: 'N', required: true, help: 'the new total' } }, cluster: true, run: addPartitions },
  ],
};
