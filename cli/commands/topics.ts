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
 */
import type { Admin, TopicDescription } from '../../client/admin.ts';
import { UsageError, printJson, printLine } from '../output.ts';
import { helpRequested, integerFlag, keyValues, parseCommand, withClient, type Parsed } from '../common.ts';

const common = '  --bootstrap ws://HOST:PORT[,...]  (default $KACTUS_BOOTSTRAP or ws://127.0.0.1:9191)\n  --json  print JSON';

export const topicsHelp = `Usage: kactus topics <create|list|describe|delete|alter|add-partitions> [options]

  create NAME --partitions N --replication-factor R [--config k=v ...]
  list [--include-internal]
  describe [NAME] [--under-replicated | --under-min-isr | --unavailable]
  delete NAME
  alter NAME --config k=v ... [--delete-config k ...]
  add-partitions NAME --partitions N     (the new total)
${common}`;

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
  const partitions = integerFlag(parsed.values.partitions, 'partitions', 1, partitionsMax);
  const replicationFactor = integerFlag(parsed.values['replication-factor'], 'replication-factor', 1, replicationFactorMax);
  const configs = keyValues(parsed.values.config, 'config');
  return withClient(parsed.values, async (kactus) => {
    const [created] = await kactus.admin().createTopics({ topics: [{ topic: name!, numPartitions: partitions, replicationFactor, configs }] });
    if (parsed.values.json) printJson({ topic: name, topicId: created?.topicId ?? null, partitions, replicationFactor, configs });
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
    await kactus.admin().deleteTopics({ topics: [name!] });
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

const subcommands: Record<string, { options: Parameters<typeof parseCommand>[2]; positionals: { min: number; max: number; names?: string }; run: (parsed: Parsed) => Promise<number> }> = {
  create: { options: { partitions: { type: 'string' }, 'replication-factor': { type: 'string' }, config: { type: 'string', multiple: true } }, positionals: { min: 1, max: 1, names: 'NAME' }, run: create },
  list: { options: { 'include-internal': { type: 'boolean', default: false } }, positionals: { min: 0, max: 0 }, run: list },
  describe: { options: { 'under-replicated': { type: 'boolean', default: false }, 'under-min-isr': { type: 'boolean', default: false }, unavailable: { type: 'boolean', default: false } }, positionals: { min: 0, max: 1 }, run: describe },
  delete: { options: {}, positionals: { min: 1, max: 1, names: 'NAME' }, run: remove },
  alter: { options: { config: { type: 'string', multiple: true }, 'delete-config': { type: 'string', multiple: true } }, positionals: { min: 1, max: 1, names: 'NAME' }, run: alter },
  'add-partitions': { options: { partitions: { type: 'string' } }, positionals: { min: 1, max: 1, names: 'NAME' }, run: addPartitions },
};

export async function topics(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    printLine(topicsHelp);
    return 0;
  }
  if (name === undefined) throw new UsageError(`topics: a subcommand is required (${Object.keys(subcommands).join(', ')}); see kactus topics --help`);
  const sub = subcommands[name];
  if (sub === undefined) throw new UsageError(`topics: unknown subcommand "${name}"; see kactus topics --help`);
  const parsed = parseCommand(`topics ${name}`, rest, sub.options, sub.positionals);
  if (helpRequested(parsed, topicsHelp)) return 0;
  return sub.run(parsed);
}
