/**
 * The README's generated sections: the CLI reference (every command's real
 * --help text) and the broker configuration table (every config of
 * actors/broker/config.ts with its Kafka name, default and meaning). They are
 * generated so they cannot drift from the code: test/cli.test.ts fails when
 * README.md differs from what this module prints.
 *
 *   npx tsx cli/reference.ts --check   exit 1 when README.md is out of date
 *   npx tsx cli/reference.ts --write   rewrite the generated sections in place
 *
 * A section lives between `<!-- generated:NAME -->` and
 * `<!-- /generated:NAME -->` lines. The configs' names and defaults come
 * from the code (kafkaConfigNames, brokerConfigDefault, and the name -> field
 * map read from config.ts's source, which does not export it); their
 * meanings are written here, one sentence each, and a config without one
 * fails the check, so a new config cannot reach the README undocumented.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokerConfigDefault, kafkaConfigNames } from '../actors/broker/config.ts';
import { helpText } from './parser.ts';
import { allSpecs, programOf, topLevel } from './main.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const readmePath = join(repoRoot, 'README.md');
const configSourcePath = join(repoRoot, 'actors', 'broker', 'config.ts');

/** What each config means, by Kafka name. Names and defaults come from the code; this is the prose. */
const meanings: Record<string, string> = {
  'controller.quorum.voters': 'the bootstrap controller quorum, `id@host:port,...` (`--controller-quorum`): the voters until the metadata log records a voter set (then `kactus cluster add-voter` / `remove-voter` change it); a broker whose id is listed also runs a controller',
  'process.roles': '`broker`, or `broker,controller` (`--controller`): also run a controller although this id is not in controller.quorum.voters; it observes the quorum until `kactus cluster add-voter` adds it',
  listeners: 'the Kafka-protocol listeners, `PLAINTEXT://HOST:PORT` (`--kafka-listen HOST:PORT`), beside the native one (`--listen`): Kafka clients (KafkaJS, librdkafka/kcat, @platformatic/kafka) connect here. The name is the security protocol: `PLAINTEXT`, `SSL` (the ssl.* settings), `SASL_PLAINTEXT` or `SASL_SSL` (sasl.enabled.mechanisms; users from `kactus users`)',
  'advertised.listeners': 'the address Kafka clients are told to dial for each listener, `PLAINTEXT://HOST:PORT` (`--kafka-advertise HOST:PORT`; default: the listener\'s own address)',
  'node.id': 'this broker\'s id (`--node-id`)',
  'broker.rack': 'the broker\'s rack, reported in metadata (`--rack`)',
  'log.dirs': 'where partitions and the metadata log live (`--data`)',
  'broker.session.timeout.ms': 'a broker that has not heartbeated to the controller for this long is fenced and its partitions get new leaders (Kafka: 9000)',
  'broker.heartbeat.interval.ms': 'how often a broker heartbeats to the active controller (at most half the session timeout; Kafka: 2000)',
  'controlled.shutdown.enable': 'on SIGTERM a broker first asks the controller to move leadership off it and take it out of the ISRs (KRaft\'s controlled shutdown), so producers see a retriable NOT_LEADER_OR_FOLLOWER and a metadata refresh, not a dead leader',
  'controlled.shutdown.timeout.ms': 'the longest a stopping broker waits for that (no quorum, no controller answering); then it stops anyway, and the controller fences it when its death watch or the session timeout sees it gone',
  'replica.lag.time.max.ms': 'a follower that has not caught up with the leader for this long leaves the ISR',
  'replica.fetch.wait.max.ms': 'longest a follower\'s fetch waits at the leader for new data (below replica.lag.time.max.ms)',
  'replica.fetch.max.bytes': 'bytes per partition in one follower fetch',
  'replica.fetch.response.max.bytes': 'bytes in one follower fetch response, all partitions together',
  'min.insync.replicas': 'topic default: an acks=all write is refused (NOT_ENOUGH_REPLICAS) while the ISR is smaller',
  'default.replication.factor': 'replication factor of auto-created topics',
  'num.partitions': 'partitions of auto-created topics',
  'auto.leader.rebalance.enable': 'the controller moves leadership back to each partition\'s preferred (first) replica',
  'leader.imbalance.check.interval.ms': 'how often it checks (Kafka names it leader.imbalance.check.interval.seconds)',
  'unclean.leader.election.enable': 'topic default: when no ISR member is alive, may a replica outside the ISR lead (availability over acknowledged records)',
  'auto.create.topics.enable': 'a metadata request for an unknown topic (from a producer or consumer) creates it',
  'offsets.topic.num.partitions': 'partitions of `__consumer_offsets` (committed offsets; a group\'s coordinator leads partition hash(group) mod N)',
  'offsets.topic.replication.factor': 'replication factor of `__consumer_offsets` (capped by the live brokers)',
  'transaction.state.log.num.partitions': 'partitions of `__transaction_state` (transaction coordinators)',
  'group.initial.rebalance.delay.ms': 'an empty group waits this long for more members before its first rebalance',
  'log.flush.interval.messages': 'fsync a partition after this many messages; the default never does, leaving it to the OS (replication is the durability)',
  'log.segment.bytes': 'a partition\'s log rolls to a new segment file at this size',
  'log.retention.ms': 'topic default: closed segments older than this are deleted (-1: keep forever)',
  'log.retention.check.interval.ms': 'how often retention and compaction run over the hosted logs',
  'message.max.bytes': 'largest record batch a broker accepts',
  'controller.tick.ms': 'the controller\'s Raft tick; election and heartbeat timeouts count ticks (Kactus only)',
  'controller.election.ticks': 'Raft election timeout in ticks, randomised in [n, 2n) (Kactus only)',
  'controller.heartbeat.ticks': 'Raft leader heartbeat interval in ticks (Kactus only)',
  'cluster.secret.file': 'file with the secret all brokers share to authenticate each other (default: `<log.dirs>/cluster.secret`; KACTUS_CLUSTER_SECRET holds it directly) (Kactus only)',
  'ssl.keystore.location': 'PEM file with this broker\'s private key (unencrypted) and certificate chain; set, the native listener serves wss:// only and the broker dials voters and brokers over wss://',
  'ssl.truststore.location': 'PEM file of the CAs trusted for the other brokers\' certificates (and for client certificates with ssl.client.auth); none: Node\'s bundled roots',
  'sasl.enabled.mechanisms': 'what SASL_PLAINTEXT / SASL_SSL listeners offer: SCRAM-SHA-256, SCRAM-SHA-512, PLAIN (offered over TLS only: it sends the password); credentials are the SCRAM users of `kactus users`',
  'connection.failed.authentication.delay.ms': 'how long a connection that failed SASL authentication stays open (unread) before it is closed',
  'native.client.authentication': '`none`, or `sasl`: every client link of the native listener authenticates with sasl.enabled.mechanisms before anything else (the client\'s `sasl` option; the CLI\'s `KACTUS_SASL_USERNAME` / `KACTUS_SASL_PASSWORD`); brokers prove the cluster secret instead (Kactus only)',
  'authorizer.class.name': 'empty (no ACLs checked), or `org.apache.kafka.metadata.authorizer.StandardAuthorizer`: every client request of both listeners is checked against the ACLs of the metadata log (`kactus acls`, Admin `createAcls`); brokers (cluster-secret links) are not checked',
  'super.users': 'principals every ACL check allows, `User:admin;User:ops` (semicolons, as in Kafka)',
  'allow.everyone.if.no.acl.found': 'with the authorizer on: a resource no ACL names is open to every principal (false: refused)',
  'ssl.client.auth': 'none, requested or required: ask clients for a certificate signed by the truststore\'s CAs (required: refuse them without one)',
  'ssl.keystore.type': 'PEM only (JKS and PKCS12 are refused)',
  'ssl.truststore.type': 'PEM only',
  'http.listener': '`HOST:PORT` of the HTTP listener (`--http-listen`): Prometheus `/metrics`, `/health`, `/ready` and the web console; empty: none (Kactus only; `kactus cluster up` gives broker i 127.0.0.1:9290+i)',
  'metrics.enabled': 'false: the broker counts nothing on its hot path and serves no `/metrics` (the switch bench:produce measures the cost with) (Kactus only)',
};

/** Configs whose value is not a field of the kafkaNames map (parsed on their own in config.ts). */
const specialFields: Record<string, string> = {
  'controller.quorum.voters': 'controllerQuorumVoters',
  'process.roles': 'processRoles',
  listeners: 'kafkaListeners',
  'advertised.listeners': 'kafkaAdvertisedListeners',
  'sasl.enabled.mechanisms': 'saslEnabledMechanisms',
  'super.users': 'superUsers',
  'http.listener': 'httpListener',
};

/** Configs given by a required flag: no default. */
const requiredFlags: Record<string, string> = {
  'controller.quorum.voters': '(required)',
  'node.id': '(required)',
  'log.dirs': '(required)',
};

/** Kafka name -> our field name, read from config.ts (the `kafkaNames` map, which the module keeps private). */
export function configFields(): Map<string, string> {
  const source = readFileSync(configSourcePath, 'utf8');
  const fields = new Map<string, string>();
  for (const match of source.matchAll(/^\s*'([a-z.]+)': \{ key: '(\w+)'/gm)) fields.set(match[1]!, match[2]!);
  return fields;
}

function formatDefault(name: string, value: unknown): string {
  if (requiredFlags[name] !== undefined) return requiredFlags[name]!;
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'object' && !Array.isArray(value) && 'host' in value && 'port' in value) return `${(value as { host: string }).host}:${(value as { port: number }).port}`;
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((v: unknown) => (typeof v === 'object' && v !== null ? `${(v as { name: string }).name}://${(v as { host: string }).host}:${(v as { port: number }).port}` : String(v))).join(',');
  if (value === Number.MAX_SAFE_INTEGER) return 'never';
  if (typeof value === 'number' && value >= 1024 * 1024 && value % (1024 * 1024) === 0) return `${value} (${value / (1024 * 1024) >= 1024 ? `${value / 1024 ** 3} GiB` : `${value / (1024 * 1024)} MiB`})`;
  if (typeof value === 'number' && name.endsWith('.ms') && value >= 60 * 60 * 1000 && value % (60 * 60 * 1000) === 0) return `${value} (${value / 3_600_000 >= 24 ? `${value / 86_400_000} days` : `${value / 3_600_000} h`})`;
  return String(value);
}

/** Problems that make the config table wrong: a config without a meaning or a field. */
export function configProblems(): string[] {
  const fields = configFields();
  const problems: string[] = [];
  for (const name of kafkaConfigNames()) {
    if (meanings[name] === undefined) problems.push(`config ${name} has no meaning in cli/reference.ts`);
    if (specialFields[name] === undefined && !fields.has(name)) problems.push(`config ${name}: its field was not found in actors/broker/config.ts`);
  }
  for (const name of Object.keys(meanings)) if (!kafkaConfigNames().includes(name)) problems.push(`cli/reference.ts describes ${name}, which the broker does not know`);
  return problems;
}

export function configTable(): string {
  const fields = configFields();
  const defaults = brokerConfigDefault as Record<string, unknown>;
  const rows = kafkaConfigNames().map((name) => {
    const field = specialFields[name] ?? fields.get(name) ?? '?';
    return `| \`${name}\` | \`${field}\` | ${formatDefault(name, defaults[field])} | ${meanings[name] ?? '?'} |`;
  });
  return ['| Kafka name | in the code | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/**
 * Every command's --help, as a user gets it: the top level, then each command
 * in the order of `kactus --help`, a group's help before its subcommands'.
 */
export async function cliReference(): Promise<string> {
  const top = topLevel();
  const program = programOf(await allSpecs());
  const sections: [string, string][] = [['kactus --help', helpText(top)]];
  for (const command of program.commands) {
    // A family of step 1 (cluster, perf) prints step 1's list; a module's group prints its own.
    const family = top.commands.find((c) => c.name() === command.name() && c.commands.length > 0);
    const walk = (cmd: typeof command, words: string[]): void => {
      sections.push([`kactus ${words.join(' ')} --help`, helpText(words.length === 1 && family !== undefined ? family : cmd)]);
      for (const sub of cmd.commands) walk(sub, [...words, sub.name()]);
    };
    walk(command, [command.name()]);
  }
  // The top level shown, every command's help folded under its command line (GitHub renders <details>).
  const block = ([command, text]: [string, string]): string => `\`\`\`text\n$ ${command}\n${text}\n\`\`\``;
  const [first, ...rest] = sections;
  return [block(first!), ...rest.map(([command, text]) => `<details><summary><code>${command}</code></summary>\n\n${block([command, text])}\n\n</details>`)].join('\n\n');
}

export const generatedSections = { cli: cliReference, configs: async () => configTable() } as const;

/** README text with every generated section replaced by what the code prints now. */
export async function regenerated(readme: string): Promise<string> {
  let text = readme;
  for (const [name, generate] of Object.entries(generatedSections)) {
    const begin = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const from = text.indexOf(begin);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README.md has no ${begin} ... ${end} section`);
    text = `${text.slice(0, from + begin.length)}\n${await generate()}\n${text.slice(to)}`;
  }
  return text;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const mode = process.argv[2];
  const problems = configProblems();
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n`);
    process.exit(1);
  }
  const readme = readFileSync(readmePath, 'utf8');
  const next = await regenerated(readme);
  if (mode === '--write') {
    if (next !== readme) writeFileSync(readmePath, next);
    process.stdout.write(next === readme ? 'README.md is up to date\n' : 'README.md updated\n');
  } else if (mode === '--check') {
    if (next !== readme) {
      process.stderr.write('README.md is out of date: run npx tsx cli/reference.ts --write\n');
      process.exit(1);
    }
    process.stdout.write('README.md is up to date\n');
  } else {
    process.stderr.write('Usage: npx tsx cli/reference.ts --check | --write\n');
    process.exit(2);
  }
}
