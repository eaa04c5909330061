/**
 * A broker node's configuration: the one place where Kafka's dotted names
 * (`replica.lag.time.max.ms`) map to our names (`replicaLagTimeMaxMs`), with
 * every default. Unknown keys and bad values are refused with a message that
 * names them; nothing here touches the network or the disk.
 *
 * Defaults follow Kafka, except where a one-machine cluster wants faster
 * failure handling (broker.session.timeout.ms is 3 s here, as the controller
 * issue asks).
 */
import { assert } from '../../runtime/assert.ts';
import type { ClientAuth } from '../../runtime/tls.ts';
import { isSaslMechanism, saslMechanisms, saslMechanismsOffered, type SaslMechanism } from '../../protocol/sasl/server-session.ts';

export type BrokerConfig = {
  /** node.id */
  brokerId: number;
  /** listeners: host and port this node listens on. */
  listenHost: string;
  listenPort: number;
  /** advertised.listeners: the URL others dial (default: ws://listenHost:listenPort). */
  advertiseUrl: string | null;
  /** log.dirs: where partitions and the metadata log live. */
  dataDir: string;
  /** broker.rack */
  rack: string | null;
  /**
   * controller.quorum.voters: broker id -> URL of the bootstrap voters (Kafka's
   * controller.quorum.bootstrap.servers role): the voter set while the metadata
   * log holds no configuration yet; AddVoter/RemoveVoter change it after (#17).
   */
  controllerQuorumVoters: ReadonlyMap<number, string>;
  /**
   * process.roles: 'broker', or 'broker,controller' to run /controller on a node
   * outside the bootstrap voters (it starts as an observer until AddVoter). A
   * bootstrap voter always runs one.
   */
  processRoles: readonly ('broker' | 'controller')[];
  /** broker.session.timeout.ms */
  brokerSessionTimeoutMs: number;
  /** broker.heartbeat.interval.ms */
  brokerHeartbeatIntervalMs: number;
  /** controlled.shutdown.enable: on SIGTERM, move leadership off this broker before it stops. */
  controlledShutdownEnable: boolean;
  /** controlled.shutdown.timeout.ms: the longest a graceful stop waits for the controller to fence this broker. */
  controlledShutdownTimeoutMs: number;
  /** replica.lag.time.max.ms */
  replicaLagTimeMaxMs: number;
  /** replica.fetch.wait.max.ms */
  replicaFetchWaitMaxMs: number;
  /** replica.fetch.max.bytes (per partition) */
  replicaFetchMaxBytes: number;
  /** replica.fetch.response.max.bytes */
  replicaFetchResponseMaxBytes: number;
  /** min.insync.replicas (topic default) */
  minInsyncReplicas: number;
  /** default.replication.factor */
  defaultReplicationFactor: number;
  /** num.partitions */
  numPartitions: number;
  /** auto.leader.rebalance.enable */
  autoLeaderRebalanceEnable: boolean;
  /** leader.imbalance.check.interval.seconds, in ms */
  leaderImbalanceCheckIntervalMs: number;
  /** unclean.leader.election.enable (topic default) */
  uncleanLeaderElectionEnable: boolean;
  /** auto.create.topics.enable */
  autoCreateTopicsEnable: boolean;
  /** offsets.topic.num.partitions */
  offsetsTopicNumPartitions: number;
  /** offsets.topic.replication.factor (capped by the live brokers) */
  offsetsTopicReplicationFactor: number;
  /** transaction.state.log.num.partitions */
  transactionStateLogNumPartitions: number;
  /** group.initial.rebalance.delay.ms */
  groupInitialRebalanceDelayMs: number;
  /** log.flush.interval.messages: fsync after this many messages (default: leave it to the OS). */
  logFlushIntervalMessages: number;
  /** log.segment.bytes */
  logSegmentBytes: number;
  /** log.retention.ms */
  logRetentionMs: number;
  /** log.retention.check.interval.ms: how often retention and compaction run over the hosted logs. */
  logRetentionCheckIntervalMs: number;
  /** message.max.bytes */
  messageMaxBytes: number;
  /** How often the controller's Raft core ticks (election and heartbeat timeouts count these). */
  controllerTickMs: number;
  /** Raft election timeout in ticks (randomised in [n, 2n)). */
  controllerElectionTicks: number;
  /** Raft heartbeat interval in ticks. */
  controllerHeartbeatTicks: number;
  /**
   * cluster.secret.file: the file holding the secret every broker of the cluster shares (peer
   * authentication, runtime/peer-auth.ts). Default: `<log.dirs>/cluster.secret`. See cluster-secret.ts.
   */
  clusterSecretFile: string | null;
  /**
   * listeners: the Kafka-protocol listeners, Kafka's `PLAINTEXT://HOST:PORT` (none by default;
   * the native listener is listenHost/listenPort). Port 0 binds a free port.
   */
  kafkaListeners: readonly KafkaListenerAddress[];
  /** advertised.listeners: the address Kafka clients are told to dial per listener (default: its listen address). */
  kafkaAdvertisedListeners: readonly KafkaListenerAddress[];
  /**
   * ssl.keystore.location (type PEM: the private key and its certificate chain in one file). Set: the native
   * listener serves wss:// only, and this broker dials the voters and the other brokers over wss:// (#19).
   */
  sslKeystoreLocation: string | null;
  /** ssl.truststore.location (type PEM): the CAs trusted for peer brokers and, with ssl.client.auth, for clients. */
  sslTruststoreLocation: string | null;
  /** ssl.client.auth: none (default), requested or required: a client certificate signed by the truststore's CAs. */
  sslClientAuth: ClientAuth;
  /** ssl.keystore.type / ssl.truststore.type: PEM, the one store format served (no JKS or PKCS12). */
  sslKeystoreType: 'PEM';
  sslTruststoreType: 'PEM';
  /**
   * sasl.enabled.mechanisms: what SASL_PLAINTEXT / SASL_SSL listeners offer. PLAIN is offered over TLS only (it sends the password).
   */
  saslEnabledMechanisms: readonly SaslMechanism[];
  /** connection.failed.authentication.delay.ms: a connection that failed SASL is closed after this long (Kafka's 100 ms). */
  connectionFailedAuthenticationDelayMs: number;
  /**
   * native.client.authentication (Kactus only): none (default), or sasl: every client link of the
   * native listener authenticates with sasl.enabled.mechanisms before anything else (peers prove the
   * cluster secret instead).
   */
  nativeClientAuthentication: 'none' | 'sasl';
  /**
   * authorizer.class.name: empty (default, no ACLs checked), or Kafka's StandardAuthorizer
   * (`org.apache.kafka.metadata.authorizer.StandardAuthorizer`): every client request is checked
   * against the ACLs of the metadata log.
   */
  authorizerClassName: string | null;
  /** super.users: principals every check allows, `User:admin;User:ops` (Kafka's semicolons). */
  superUsers: readonly string[];
  /** allow.everyone.if.no.acl.found: a resource no ACL names is open to all (default false). */
  allowEveryoneIfNoAclFound: boolean;
  /**
   * http.listener (Kactus only; Kafka has no HTTP listener): HOST:PORT of the HTTP listener serving /metrics,
   * /health, /ready and the web console; null (empty, the default) runs none. Port 0 binds a free port.
   */
  httpListener: { readonly host: string; readonly port: number } | null;
  /** metrics.enabled (Kactus only): false makes the metrics' hot-path counting a no-op and /metrics unserved. */
  metricsEnabled: boolean;
};

/** Parses http.listener: HOST:PORT (an IPv6 host in brackets), or empty for none. */
export function parseHttpListener(text: string): { host: string; port: number } | null {
  const trimmed = text.trim();
  if (trimmed.length === 0) return null;
  const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(trimmed);
  const port = match ? Number(match[2]) : NaN;
  if (match === null || port > 65_535) throw new ConfigError(`http.listener: "${trimmed}" is not HOST:PORT (e.g. 127.0.0.1:9291; empty for none)`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** The authorizer class names that turn ACLs on (Kafka's KRaft authorizer, by its full or short name). */
export const standardAuthorizerNames: ReadonlySet<string> = new Set(['org.apache.kafka.metadata.authorizer.StandardAuthorizer', 'StandardAuthorizer']);

/** Whether this broker checks ACLs. */
export const authorizerEnabled = (config: BrokerConfig): boolean => config.authorizerClassName !== null && standardAuthorizerNames.has(config.authorizerClassName);

/** Parses super.users: `User:a;User:b` (each Type:name). */
export function parseSuperUsers(text: string): string[] {
  const users = text.split(';').map((p) => p.trim()).filter(Boolean);
  for (const user of users) if (!/^[^:]+:.+$/.test(user)) throw new ConfigError(`super.users: "${user}" is not a principal (User:NAME)`);
  return [...new Set(users)];
}

/** One `NAME://HOST:PORT` entry of listeners / advertised.listeners. */
export type KafkaListenerAddress = { readonly name: string; readonly host: string; readonly port: number };

/**
 * Listener names whose security protocol we speak (the name is the protocol, Kafka's default
 * listener.security.protocol.map): PLAINTEXT; SSL with the ssl.* settings; SASL_PLAINTEXT and
 * SASL_SSL with sasl.enabled.mechanisms.
 */
export const kafkaListenerNamesSupported: ReadonlySet<string> = new Set(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']);

/** Whether connections to this Kafka listener are TLS / authenticate with SASL. */
export const listenerUsesTls = (name: string): boolean => name === 'SSL' || name === 'SASL_SSL';
export const listenerUsesSasl = (name: string): boolean => name === 'SASL_PLAINTEXT' || name === 'SASL_SSL';

/** Parses sasl.enabled.mechanisms: a comma list of SCRAM-SHA-256, SCRAM-SHA-512, PLAIN. */
export function parseSaslMechanisms(text: string): SaslMechanism[] {
  const names = text.split(',').map((p) => p.trim()).filter(Boolean);
  for (const name of names) if (!isSaslMechanism(name)) throw new ConfigError(`sasl.enabled.mechanisms: "${name}" is not served (${saslMechanisms.join(', ')}; no GSSAPI or OAUTHBEARER)`);
  if (names.length === 0) throw new ConfigError('sasl.enabled.mechanisms: name at least one mechanism');
  return [...new Set(names)] as SaslMechanism[];
}

/** Parses Kafka's `NAME://HOST:PORT[,NAME://HOST:PORT]` (listeners, advertised.listeners). */
export function parseKafkaListeners(text: string, what: string): KafkaListenerAddress[] {
  const out: KafkaListenerAddress[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^([A-Z][A-Z0-9_]*):\/\/(\[[^\]]+\]|[^:/]*):(\d{1,5})$/.exec(part);
    if (!match) throw new ConfigError(`${what}: "${part}" is not NAME://HOST:PORT (e.g. PLAINTEXT://0.0.0.0:9092)`);
    const [, name, host, portText] = match;
    const port = Number(portText);
    if (port > 65_535) throw new ConfigError(`${what}: port ${port} is out of range`);
    if (!kafkaListenerNamesSupported.has(name!)) throw new ConfigError(`${what}: listener ${name} is not supported (only ${[...kafkaListenerNamesSupported].join(', ')})`);
    if (out.some((l) => l.name === name)) throw new ConfigError(`${what}: listener ${name} is named twice`);
    out.push({ name: name!, host: host!.replace(/^\[|\]$/g, ''), port });
  }
  return out;
}

type Field = {
  key: keyof BrokerConfig;
  kind: 'int' | 'bool' | 'string' | 'nullable-string';
  min?: number;
};

/** Kafka name -> our field. The only such map in the code base. */
const kafkaNames: Record<string, Field> = {
  'node.id': { key: 'brokerId', kind: 'int', min: 0 },
  'broker.rack': { key: 'rack', kind: 'nullable-string' },
  'log.dirs': { key: 'dataDir', kind: 'string' },
  'broker.session.timeout.ms': { key: 'brokerSessionTimeoutMs', kind: 'int', min: 100 },
  'broker.heartbeat.interval.ms': { key: 'brokerHeartbeatIntervalMs', kind: 'int', min: 10 },
  'controlled.shutdown.enable': { key: 'controlledShutdownEnable', kind: 'bool' },
  'controlled.shutdown.timeout.ms': { key: 'controlledShutdownTimeoutMs', kind: 'int', min: 0 },
  'replica.lag.time.max.ms': { key: 'replicaLagTimeMaxMs', kind: 'int', min: 100 },
  'replica.fetch.wait.max.ms': { key: 'replicaFetchWaitMaxMs', kind: 'int', min: 1 },
  'replica.fetch.max.bytes': { key: 'replicaFetchMaxBytes', kind: 'int', min: 1024 },
  'replica.fetch.response.max.bytes': { key: 'replicaFetchResponseMaxBytes', kind: 'int', min: 1024 },
  'min.insync.replicas': { key: 'minInsyncReplicas', kind: 'int', min: 1 },
  'default.replication.factor': { key: 'defaultReplicationFactor', kind: 'int', min: 1 },
  'num.partitions': { key: 'numPartitions', kind: 'int', min: 1 },
  'auto.leader.rebalance.enable': { key: 'autoLeaderRebalanceEnable', kind: 'bool' },
  'leader.imbalance.check.interval.ms': { key: 'leaderImbalanceCheckIntervalMs', kind: 'int', min: 100 },
  'unclean.leader.election.enable': { key: 'uncleanLeaderElectionEnable', kind: 'bool' },
  'auto.create.topics.enable': { key: 'autoCreateTopicsEnable', kind: 'bool' },
  'offsets.topic.num.partitions': { key: 'offsetsTopicNumPartitions', kind: 'int', min: 1 },
  'offsets.topic.replication.factor': { key: 'offsetsTopicReplicationFactor', kind: 'int', min: 1 },
  'transaction.state.log.num.partitions': { key: 'transactionStateLogNumPartitions', kind: 'int', min: 1 },
  'group.initial.rebalance.delay.ms': { key: 'groupInitialRebalanceDelayMs', kind: 'int', min: 0 },
  'log.flush.interval.messages': { key: 'logFlushIntervalMessages', kind: 'int', min: 1 },
  'log.segment.bytes': { key: 'logSegmentBytes', kind: 'int', min: 1024 },
  'log.retention.ms': { key: 'logRetentionMs', kind: 'int', min: -1 },
  'log.retention.check.interval.ms': { key: 'logRetentionCheckIntervalMs', kind: 'int', min: 100 },
  'message.max.bytes': { key: 'messageMaxBytes', kind: 'int', min: 64 },
  'controller.tick.ms': { key: 'controllerTickMs', kind: 'int', min: 5 },
  'controller.election.ticks': { key: 'controllerElectionTicks', kind: 'int', min: 2 },
  'controller.heartbeat.ticks': { key: 'controllerHeartbeatTicks', kind: 'int', min: 1 },
  'cluster.secret.file': { key: 'clusterSecretFile', kind: 'nullable-string' },
  'ssl.keystore.location': { key: 'sslKeystoreLocation', kind: 'nullable-string' },
  'ssl.truststore.location': { key: 'sslTruststoreLocation', kind: 'nullable-string' },
  'connection.failed.authentication.delay.ms': { key: 'connectionFailedAuthenticationDelayMs', kind: 'int', min: 0 },
  'authorizer.class.name': { key: 'authorizerClassName', kind: 'nullable-string' },
  'allow.everyone.if.no.acl.found': { key: 'allowEveryoneIfNoAclFound', kind: 'bool' },
  'metrics.enabled': { key: 'metricsEnabled', kind: 'bool' },
};

/** Settings whose only accepted values are listed (Kafka's names; PEM files are the one store type served). */
const enumNames: Record<string, { key: keyof BrokerConfig; values: readonly string[] }> = {
  'ssl.client.auth': { key: 'sslClientAuth', values: ['none', 'requested', 'required'] },
  'ssl.keystore.type': { key: 'sslKeystoreType', values: ['PEM'] },
  'ssl.truststore.type': { key: 'sslTruststoreType', values: ['PEM'] },
  'native.client.authentication': { key: 'nativeClientAuthentication', values: ['none', 'sasl'] },
};

export const brokerConfigDefault: Omit<BrokerConfig, 'brokerId' | 'listenHost' | 'listenPort' | 'dataDir' | 'controllerQuorumVoters'> = {
  advertiseUrl: null,
  kafkaListeners: [],
  kafkaAdvertisedListeners: [],
  rack: null,
  brokerSessionTimeoutMs: 3_000,
  brokerHeartbeatIntervalMs: 500,
  controlledShutdownEnable: true,
  controlledShutdownTimeoutMs: 5_000,
  replicaLagTimeMaxMs: 30_000,
  replicaFetchWaitMaxMs: 500,
  replicaFetchMaxBytes: 1024 * 1024,
  replicaFetchResponseMaxBytes: 10 * 1024 * 1024,
  minInsyncReplicas: 1,
  defaultReplicationFactor: 1,
  numPartitions: 1,
  autoLeaderRebalanceEnable: true,
  leaderImbalanceCheckIntervalMs: 10_000,
  uncleanLeaderElectionEnable: false,
  autoCreateTopicsEnable: true,
  offsetsTopicNumPartitions: 50,
  offsetsTopicReplicationFactor: 3,
  transactionStateLogNumPartitions: 50,
  groupInitialRebalanceDelayMs: 3_000,
  logFlushIntervalMessages: Number.MAX_SAFE_INTEGER,
  logSegmentBytes: 1024 * 1024 * 1024,
  logRetentionMs: 7 * 24 * 60 * 60 * 1000,
  // Kafka's default is 5 minutes; a broker here has few partitions, and a pass over them is cheap.
  logRetentionCheckIntervalMs: 30_000,
  messageMaxBytes: 1024 * 1024 + 12,
  processRoles: ['broker'],
  controllerTickMs: 50,
  controllerElectionTicks: 10,
  controllerHeartbeatTicks: 2,
  clusterSecretFile: null,
  sslKeystoreLocation: null,
  sslTruststoreLocation: null,
  sslClientAuth: 'none',
  sslKeystoreType: 'PEM',
  sslTruststoreType: 'PEM',
  saslEnabledMechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-512'],
  connectionFailedAuthenticationDelayMs: 100,
  nativeClientAuthentication: 'none',
  authorizerClassName: null,
  superUsers: [],
  allowEveryoneIfNoAclFound: false,
  httpListener: null,
  metricsEnabled: true,
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses `1@host:port,2@host:port` (Kafka's controller.quorum.voters) into id -> ws URL. */
export function parseQuorumVoters(text: string): Map<number, string> {
  const voters = new Map<number, string>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(\d+)@(.+):(\d+)$/.exec(part);
    if (!match) throw new ConfigError(`controller.quorum.voters: "${part}" is not id@host:port`);
    const id = Number(match[1]);
    if (voters.has(id)) throw new ConfigError(`controller.quorum.voters: voter ${id} is listed twice`);
    voters.set(id, `ws://${match[2]}:${match[3]}`);
  }
  if (voters.size === 0) throw new ConfigError('controller.quorum.voters: at least one voter is needed');
  return voters;
}

/** Parses process.roles: `broker` or `broker,controller` (every Kactus node is a broker). */
export function parseProcessRoles(text: string): ('broker' | 'controller')[] {
  const roles = new Set(text.split(',').map((r) => r.trim()).filter(Boolean));
  for (const role of roles) if (role !== 'broker' && role !== 'controller') throw new ConfigError(`process.roles: unknown role "${role}" (broker, controller)`);
  if (!roles.has('broker')) throw new ConfigError('process.roles: every Kactus node is a broker: say broker or broker,controller');
  return roles.has('controller') ? ['broker', 'controller'] : ['broker'];
}

/** Whether this node runs /controller: a bootstrap voter, or process.roles names controller. */
export function runsController(config: BrokerConfig): boolean {
  return config.controllerQuorumVoters.has(config.brokerId) || config.processRoles.includes('controller');
}

/** Applies Kafka-named settings (strings, as from a file, --set or the environment). */
export function applyKafkaSettings(config: BrokerConfig, settings: Readonly<Record<string, string | number | boolean>>): BrokerConfig {
  const next: Record<string, unknown> = { ...config };
  for (const [name, raw] of Object.entries(settings)) {
    if (name === 'controller.quorum.voters') {
      next.controllerQuorumVoters = parseQuorumVoters(String(raw));
      continue;
    }
    if (name === 'process.roles') {
      next.processRoles = parseProcessRoles(String(raw));
      continue;
    }
    if (name === 'listeners') {
      next.kafkaListeners = parseKafkaListeners(String(raw), 'listeners');
      continue;
    }
    if (name === 'http.listener') {
      next.httpListener = parseHttpListener(String(raw));
      continue;
    }
    if (name === 'super.users') {
      next.superUsers = parseSuperUsers(String(raw));
      continue;
    }
    if (name === 'sasl.enabled.mechanisms') {
      next.saslEnabledMechanisms = parseSaslMechanisms(String(raw));
      continue;
    }
    if (name === 'advertised.listeners') {
      next.kafkaAdvertisedListeners = parseKafkaListeners(String(raw), 'advertised.listeners');
      continue;
    }
    const choice = enumNames[name];
    if (choice !== undefined) {
      const text = String(raw).trim();
      if (!choice.values.includes(text)) throw new ConfigError(`config "${name}": "${text}" must be ${choice.values.join(', ')}`);
      next[choice.key] = text;
      continue;
    }
    const field = kafkaNames[name];
    if (field === undefined) throw new ConfigError(`unknown config "${name}"`);
    const text = String(raw).trim();
    switch (field.kind) {
      case 'int': {
        const value = Number(text);
        if (!Number.isSafeInteger(value) || (field.min !== undefined && value < field.min)) {
          throw new ConfigError(`config "${name}": "${text}" must be an integer${field.min !== undefined ? ` >= ${field.min}` : ''}`);
        }
        next[field.key] = value;
        break;
      }
      case 'bool':
        if (text !== 'true' && text !== 'false') throw new ConfigError(`config "${name}": "${text}" must be true or false`);
        next[field.key] = text === 'true';
        break;
      case 'string':
        if (text.length === 0) throw new ConfigError(`config "${name}" must not be empty`);
        next[field.key] = text;
        break;
      case 'nullable-string':
        next[field.key] = text.length === 0 ? null : text;
        break;
    }
  }
  return checkBrokerConfig(next as BrokerConfig);
}

export function checkBrokerConfig(config: BrokerConfig): BrokerConfig {
  const fail = (why: string): never => {
    throw new ConfigError(why);
  };
  if (config.brokerHeartbeatIntervalMs * 2 > config.brokerSessionTimeoutMs) fail('broker.heartbeat.interval.ms must be at most half of broker.session.timeout.ms');
  if (config.controllerHeartbeatTicks >= config.controllerElectionTicks) fail('controller.heartbeat.ticks must be below controller.election.ticks');
  if (config.replicaFetchWaitMaxMs >= config.replicaLagTimeMaxMs) fail('replica.fetch.wait.max.ms must be below replica.lag.time.max.ms');
  for (const advertised of config.kafkaAdvertisedListeners) {
    if (!config.kafkaListeners.some((l) => l.name === advertised.name)) fail(`advertised.listeners names ${advertised.name}, which listeners does not`);
  }
  for (const listener of config.kafkaListeners) if (config.sslKeystoreLocation === null && listenerUsesTls(listener.name)) fail(`listeners: an ${listener.name} listener needs ssl.keystore.location`);
  for (const listener of config.kafkaListeners) {
    if (listenerUsesSasl(listener.name) && saslMechanismsOffered(config.saslEnabledMechanisms, listenerUsesTls(listener.name)).length === 0) fail(`listeners: ${listener.name} would offer no SASL mechanism (PLAIN is offered over TLS only): add SCRAM-SHA-256 or SCRAM-SHA-512 to sasl.enabled.mechanisms`);
  }
  if (config.authorizerClassName !== null && !standardAuthorizerNames.has(config.authorizerClassName)) fail(`authorizer.class.name: ${config.authorizerClassName} is not served (org.apache.kafka.metadata.authorizer.StandardAuthorizer, or empty for none)`);
  if (config.nativeClientAuthentication === 'sasl' && saslMechanismsOffered(config.saslEnabledMechanisms, config.sslKeystoreLocation !== null).length === 0) fail('native.client.authentication=sasl would offer no SASL mechanism (PLAIN is offered over TLS only)');
  if (config.sslKeystoreLocation === null && config.sslClientAuth !== 'none') fail(`ssl.client.auth=${config.sslClientAuth} needs TLS: set ssl.keystore.location`);
  if (config.sslClientAuth !== 'none' && config.sslTruststoreLocation === null) fail(`ssl.client.auth=${config.sslClientAuth} needs ssl.truststore.location (the CA that signs client certificates)`);
  if (config.sslKeystoreLocation === null) return config;
  // TLS on: every native URL this broker advertises or dials is wss:// (the voters are given as id@host:port).
  const secure = (url: string): string => url.replace(/^ws:/, 'wss:');
  return {
    ...config,
    advertiseUrl: config.advertiseUrl === null ? null : secure(config.advertiseUrl),
    controllerQuorumVoters: new Map([...config.controllerQuorumVoters].map(([id, url]) => [id, secure(url)])),
  };
}

export function kafkaConfigNames(): string[] {
  return ['controller.quorum.voters', 'process.roles', 'listeners', 'advertised.listeners', 'sasl.enabled.mechanisms', 'super.users', 'http.listener', ...Object.keys(kafkaNames), ...Object.keys(enumNames)];
}

export function makeBrokerConfig(required: Pick<BrokerConfig, 'brokerId' | 'listenHost' | 'listenPort' | 'dataDir' | 'controllerQuorumVoters'>, overrides: Partial<BrokerConfig> = {}): BrokerConfig {
  const config: BrokerConfig = { ...brokerConfigDefault, ...required, ...overrides };
  assert(Number.isInteger(config.brokerId) && config.brokerId >= 0, 'broker id must be a non-negative integer');
  return checkBrokerConfig(config);
}

/** The runtime node id of a broker: its broker id as a string. */
export function nodeIdOf(brokerId: number): string {
  return String(brokerId);
}

/**
 * The broker configs DescribeConfigs reports as STATIC_BROKER_CONFIG: those of the dynamic configs' names
 * (actors/controller/metadata/configs.ts brokerConfigSchema) that this broker's static config sets away from
 * Kafka's default, as broker config name -> value.
 */
export function staticBrokerConfigValues(config: BrokerConfig): Map<string, string> {
  const values = new Map<string, string>();
  const pairs: [string, number, number][] = [
    ['min.insync.replicas', config.minInsyncReplicas, brokerConfigDefault.minInsyncReplicas],
    ['log.retention.ms', config.logRetentionMs, brokerConfigDefault.logRetentionMs],
    ['log.segment.bytes', config.logSegmentBytes, brokerConfigDefault.logSegmentBytes],
    ['replica.lag.time.max.ms', config.replicaLagTimeMaxMs, brokerConfigDefault.replicaLagTimeMaxMs],
  ];
  for (const [name, value, fallback] of pairs) if (value !== fallback) values.set(name, String(value));
  return values;
}
