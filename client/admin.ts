/**
 * The admin client: topics, partitions, configs, cluster and offsets.
 *
 * Owns: `Admin` and the shapes of its arguments and results. Topic and
 * config commands travel as `{ type: 'Admin', command }` to any broker's
 * `/broker`, which forwards them to the active controller; the reply is the
 * controller's (`<Command>Reply`) or `ControllerCallFailed` / `AdminError`
 * with a code. Reads of the cluster come from Metadata; offsets from the
 * partition leaders' `/fetch` (ListOffsets).
 *
 * Errors: each topic in a reply succeeds or fails alone (data, not an
 * exception, on the wire). A call whose topics all succeeded resolves; one
 * with a failure rejects with a PartitionError (a KactusError) for the first
 * failed topic, whose message lists every failure. Retriable failures of the
 * whole call (no controller, timeout, link down) are retried with backoff;
 * note that a retried CreateTopics whose first attempt did commit answers
 * TOPIC_ALREADY_EXISTS, as in Kafka.
 *
 * createTopics / createPartitions wait (by default) until metadata shows a
 * leader for every new partition, so a producer started next finds them;
 * deleteTopics waits until metadata no longer lists the topics. (Brokers
 * apply committed metadata asynchronously; without the wait a read right
 * after the call may still see the old state, as in Kafka.)
 *
 * The transaction reads (describeProducers, describeTransactions,
 * listTransactions) live in admin-txn.ts, deleteRecords (each partition at
 * its leader) in admin-delete-records.ts; the methods here check arguments.
 *
 * Imports: connection.ts, metadata-cache.ts, retry.ts, errors.ts,
 * topic-name.ts, admin-txn.ts, admin-delete-records.ts, protocol/apis/data.ts
 * (types), protocol/apis/delete-records.ts (limits).
 */
import type { Ref } from '../runtime/ref.ts';
import { randomBytes } from 'node:crypto';
import { scramMechanisms, scramUpsertion, type ScramMechanism } from '../protocol/sasl/scram.ts';
import { earliestTimestamp, latestTimestamp, type ListOffsets, type ListOffsetsReply } from '../protocol/apis/data.ts';
import { ErrorCode, KactusError, PartitionError, describePartition, errorInfo, partitionError } from './errors.ts';
import type { Connection } from './connection.ts';
import type { BrokerMetadata, MetadataCache, MetadataReply, PartitionMetadata } from './metadata-cache.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { checkTopicName } from './topic-name.ts';
import { adminReplyEnvelopeValidator, checkReply, listOffsetsReplyValidator, metadataReplyValidator } from './replies.ts';
import { describeProducers, describeTransactions, listTransactions, type PartitionProducers, type TransactionDescription, type TransactionListing } from './admin-txn.ts';
import { deleteConsumerGroupOffsets, deleteGroups, describeGroups, fetchOffsets, listGroups, offsetDeleteResults, setOffsets, type GroupDescription, type GroupOverview, type GroupTopicOffsets, type OffsetDeleteResult } from './admin-groups.ts';
import { deleteRecords, type DeletedRecords, type RecordsToDelete } from './admin-delete-records.ts';
import { describeLogDirs, type BrokerLogDir } from './admin-log-dirs.ts';
import { deleteRecordsLimits } from '../protocol/apis/delete-records.ts';
import { bindingFromCodes, bindingToCodes, filterToCodes, type AclBinding, type AclBindingFilter, type AclEntryCodes, type AclFilterCodes } from './admin-acls.ts';

export type ConfigEntries = Record<string, string> | readonly { name: string; value: string }[];

export type NewTopic = {
  topic: string;
  /** Default: the broker's num.partitions (-1). */
  numPartitions?: number;
  /** Default: the broker's default.replication.factor (-1). */
  replicationFactor?: number;
  /** Manual placement: partition -> broker ids. Replaces numPartitions/replicationFactor. */
  replicaAssignment?: readonly { partition: number; replicas: readonly number[] }[];
  configs?: ConfigEntries;
};

export type CreatedTopic = { topic: string; topicId: string | null; numPartitions: number; replicationFactor: number };

export type TopicDescription = {
  name: string;
  topicId: string;
  isInternal: boolean;
  partitions: {
    partition: number;
    leader: number;
    leaderEpoch: number;
    replicas: readonly number[];
    isr: readonly number[];
    offlineReplicas: readonly number[];
    errorCode: number;
  }[];
};

export type ClusterDescription = { brokers: BrokerMetadata[]; controllerId: number };

/**
 * A config resource: a topic by name, or a broker by id ('1') or all brokers
 * ('': the cluster-wide default, Kafka's --entity-default). Brokers have the
 * dynamic configs leader.replication.throttled.rate and
 * follower.replication.throttled.rate (bytes/s for replicas a reassignment
 * is adding).
 */
export type ConfigResourceType = 'topic' | 'broker';

export type ConfigDescription = {
  type: ConfigResourceType;
  name: string;
  configs: { name: string; value: string; source: 'TOPIC_CONFIG' | 'DYNAMIC_BROKER_CONFIG' | 'DYNAMIC_DEFAULT_BROKER_CONFIG' | 'STATIC_BROKER_CONFIG' | 'DEFAULT_CONFIG'; isDefault: boolean; readOnly: boolean; documentation: string }[];
};

export type ConfigAlteration = {
  type: ConfigResourceType;
  name: string;
  /** Configs to set: name -> value. */
  set?: Record<string, string>;
  /** Configs to revert to their defaults. */
  delete?: readonly string[];
};

/** A reassignment in progress (listPartitionReassignments): replicas is the merged list, target first. */
export type PartitionReassignment = { topic: string; partition: number; replicas: number[]; addingReplicas: number[]; removingReplicas: number[] };

/** The outcome of one partition of alterPartitionReassignments (errorCode 0: accepted). */
export type ReassignmentResult = { topic: string; partition: number; errorCode: number; errorMessage: string | null };

export type OffsetSpec = 'earliest' | 'latest' | { timestamp: number };

/** One SCRAM credential a user has (describeUserScramCredentials): never its secret. */
export type ScramCredentialInfo = { mechanism: ScramMechanism; iterations: number };

/** alterUserScramCredentials: set a password (the salted password is computed here; the password never leaves) or delete a mechanism. */
export type ScramCredentialAlteration =
  | { user: string; mechanism: ScramMechanism; password: string; iterations?: number }
  | { user: string; mechanism: ScramMechanism; delete: true };

/** Kafka's default iteration count for a new SCRAM credential. */
export const scramIterationsDefault = 8_192;

export type PartitionOffset = { partition: number; offset: number; timestamp: number; leaderEpoch: number };

type AdminCommand =
  | { type: 'CreateTopics'; topics: { name: string; numPartitions: number; replicationFactor: number; assignments: { partition: number; brokerIds: number[] }[] | null; configs: { name: string; value: string }[] }[]; validateOnly: boolean }
  | { type: 'DeleteTopics'; topics: string[] }
  | { type: 'CreatePartitions'; topics: { name: string; count: number; assignments: number[][] | null }[]; validateOnly: boolean }
  | { type: 'DescribeConfigs'; resources: { resourceType: ConfigResourceType; resourceName: string; configNames: string[] | null }[] }
  | { type: 'AlterConfigs'; resources: { resourceType: ConfigResourceType; resourceName: string; ops: { name: string; op: 'SET' | 'DELETE'; value: string | null }[] }[]; validateOnly: boolean }
  | { type: 'ElectLeaders'; electionType: 'PREFERRED' | 'UNCLEAN'; topicPartitions: { topic: string; partitions: number[] }[] | null }
  | { type: 'AlterPartitionReassignments'; reassignments: { topic: string; partition: number; replicas: number[] | null }[] }
  | { type: 'ListPartitionReassignments'; topics: { topic: string; partitions: number[] }[] | null }
  | { type: 'UnregisterBroker'; brokerId: number; force: boolean }
  | { type: 'AlterUserScramCredentials'; deletions: { name: string; mechanism: string }[]; upsertions: { name: string; mechanism: string; iterations: number; salt: Buffer; saltedPassword: Buffer }[] }
  | { type: 'DescribeUserScramCredentials'; users: string[] | null }
  | { type: 'CreateAcls'; creations: AclEntryCodes[] }
  | { type: 'DescribeAcls'; filter: AclFilterCodes }
  | { type: 'DeleteAcls'; filters: AclFilterCodes[] };

type ItemError = { errorCode: number; errorMessage: string | null };
type AdminReply =
  | { type: 'CreateTopicsReply'; topics: (ItemError & { name: string; topicId: string | null; numPartitions: number; replicationFactor: number })[] }
  | { type: 'DeleteTopicsReply'; topics: (ItemError & { name: string })[] }
  | { type: 'CreatePartitionsReply'; topics: (ItemError & { name: string })[] }
  | { type: 'DescribeConfigsReply'; results: (ItemError & { resourceName: string; configs: ConfigDescription['configs'] })[] }
  | { type: 'AlterConfigsReply'; results: (ItemError & { resourceName: string })[] }
  | { type: 'ElectLeadersReply'; results: { topic: string; partitions: (ItemError & { partition: number })[] }[] }
  | { type: 'AlterPartitionReassignmentsReply'; results: (ItemError & { topic: string; partition: number })[] }
  | { type: 'ListPartitionReassignmentsReply'; reassignments: PartitionReassignment[] }
  | ({ type: 'UnregisterBrokerReply' } & ItemError)
  | { type: 'AlterUserScramCredentialsReply'; results: (ItemError & { user: string })[] }
  | ({ type: 'DescribeUserScramCredentialsReply'; results: (ItemError & { user: string; credentialInfos: ScramCredentialInfo[] })[] } & ItemError)
  | { type: 'CreateAclsReply'; results: ItemError[] }
  | ({ type: 'DescribeAclsReply'; resources: { resourceType: number; resourceName: string; patternType: number; acls: { principal: string; host: string; operation: number; permissionType: number }[] }[] } & ItemError)
  | { type: 'DeleteAclsReply'; filterResults: (ItemError & { matchingAcls: AclEntryCodes[] })[] }
  | { type: 'ControllerCallFailed' | 'AdminError'; errorCode: number; errorMessage: string };

type AdminRequest = { type: 'Admin'; command: AdminCommand; replyTo: Ref<AdminReply> };

export type AdminDeps = {
  connection: () => Promise<{ connection: Connection; metadata: MetadataCache }>;
  requestTimeoutMs: number;
  retry: RetryPolicy;
};

/** How often createTopics polls metadata while waiting for leaders. */
const leaderPollIntervalMs = 50;
/** Longest wait for one broker's metadata while polling every broker (a dead broker is skipped after it). */
const everyBrokerTimeoutMs = 2_000;

function toConfigList(configs: ConfigEntries | undefined, what: string): { name: string; value: string }[] {
  if (configs === undefined) return [];
  const list = Array.isArray(configs) ? (configs as { name: string; value: string }[]) : Object.entries(configs as Record<string, string>).map(([name, value]) => ({ name, value }));
  for (const entry of list) {
    if (typeof entry.name !== 'string' || typeof entry.value !== 'string') throw new KactusError(ErrorCode.INVALID_CONFIG, `${what}: config entries are name/value strings, got ${JSON.stringify(entry)}`);
  }
  return list;
}

/** The reply restricted to `names` (in that order), missing ones as UNKNOWN_TOPIC_OR_PARTITION; null keeps all. */
function onlyTopics(reply: MetadataReply, names: readonly string[] | null): MetadataReply {
  if (names === null) return reply;
  const byName = new Map(reply.topics.map((t) => [t.name, t]));
  const topics = [...new Set(names)].map(
    (name) => byName.get(name) ?? { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic ${name} does not exist`, name, topicId: null, isInternal: false, partitions: [] },
  );
  return { ...reply, topics };
}

/** A topic name, or for a broker resource its id as a string or '' (all brokers). */
function checkResourceName(type: unknown, name: unknown, operation: string): string {
  if (type === 'topic') return checkTopicName(name);
  if (type === 'broker') {
    if (typeof name === 'string' && (name === '' || /^(0|[1-9]\d{0,9})$/.test(name))) return name;
    throw new KactusError(ErrorCode.INVALID_REQUEST, `${operation}: a broker resource is named by a broker id ('1') or '' (all brokers), got ${JSON.stringify(name)}`);
  }
  throw new KactusError(ErrorCode.INVALID_REQUEST, `${operation}: resource type ${JSON.stringify(type)} is not supported ('topic' or 'broker')`);
}

function checkArray<T>(value: unknown, what: string): T[] {
  if (!Array.isArray(value)) throw new KactusError(ErrorCode.INVALID_REQUEST, `${what} must be an array`);
  return value as T[];
}

/** Throws for the first failed item, with every failure in the message; returns when none failed. */
function throwFailures(items: readonly (ItemError & { name: string; partition?: number })[], operation: string): void {
  const failed = items.filter((item) => item.errorCode !== 0);
  if (failed.length === 0) return;
  const first = failed[0]!;
  const all = failed.map((f) => `${describePartition(f.name, f.partition ?? -1)}: ${errorInfo(f.errorCode).name} ${f.errorMessage ?? ''}`.trim()).join('; ');
  throw new PartitionError(first.errorCode, first.name, first.partition ?? -1, `${operation} failed${failed.length > 1 ? ` for ${failed.length} items` : ''}: ${all}`);
}

export class Admin {
  constructor(private readonly deps: AdminDeps) {}

  private async command<R extends AdminReply>(command: AdminCommand): Promise<R> {
    const { connection } = await this.deps.connection();
    let avoid: number | undefined;
    return withRetry(async () => {
      const brokerId = connection.pickBroker(avoid);
      avoid = brokerId;
      const raw = await connection.ask<AdminRequest, unknown>(brokerId, '/broker', (replyTo) => ({ type: 'Admin', command, replyTo: replyTo as Ref<AdminReply> }), this.deps.requestTimeoutMs);
      checkReply(adminReplyEnvelopeValidator, raw, `${command.type} reply from broker ${brokerId}`);
      const reply = raw as AdminReply;
      if (reply.type === 'ControllerCallFailed' || reply.type === 'AdminError') {
        throw new KactusError(reply.errorCode, `${command.type} via broker ${brokerId}: ${reply.errorMessage}`);
      }
      if (reply.type !== `${command.type}Reply`) throw new KactusError(ErrorCode.UNKNOWN_SERVER_ERROR, `${command.type}: unexpected reply ${reply.type}`);
      return reply as R;
    }, this.deps.retry);
  }

  /** Creates topics. Resolves when every topic was created (and, by default, has leaders). */
  async createTopics(request: { topics: readonly NewTopic[]; validateOnly?: boolean; waitForLeaders?: boolean }): Promise<CreatedTopic[]> {
    const topics = checkArray<NewTopic>(request?.topics, 'createTopics topics').map((t) => {
      const name = checkTopicName(t.topic);
      const assignment = t.replicaAssignment;
      return {
        name,
        numPartitions: assignment ? -1 : (t.numPartitions ?? -1),
        replicationFactor: assignment ? -1 : (t.replicationFactor ?? -1),
        assignments: assignment ? assignment.map((a) => ({ partition: a.partition, brokerIds: [...a.replicas] })) : null,
        configs: toConfigList(t.configs, `topic ${name}`),
      };
    });
    const validateOnly = request.validateOnly ?? false;
    const reply = await this.command<Extract<AdminReply, { type: 'CreateTopicsReply' }>>({ type: 'CreateTopics', topics, validateOnly });
    throwFailures(reply.topics, 'createTopics');
    if (!validateOnly && (request.waitForLeaders ?? true)) {
      await this.waitFor(topics.map((t) => t.name), (p, meta) => meta !== undefined && p >= 0, 'leaders of new topics');
    }
    return reply.topics.map((t) => ({ topic: t.name, topicId: t.topicId, numPartitions: t.numPartitions, replicationFactor: t.replicationFactor }));
  }

  /** Deletes topics. Resolves when every topic was deleted (and, by default, metadata no longer lists it). */
  async deleteTopics(request: { topics: readonly string[]; waitForMetadata?: boolean }): Promise<void> {
    const names = checkArray<string>(request?.topics, 'deleteTopics topics').map(checkTopicName);
    const reply = await this.command<Extract<AdminReply, { type: 'DeleteTopicsReply' }>>({ type: 'DeleteTopics', topics: names });
    const { metadata } = await this.deps.connection();
    for (const name of names) metadata.forget(name);
    throwFailures(reply.topics, 'deleteTopics');
    if (request.waitForMetadata ?? true) {
      await this.poll(async () => {
        const answers = await this.everyBroker(names);
        return answers.length > 0 && answers.every((answer) => names.every((name) => answer.topics.find((t) => t.name === name)?.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
      }, `every broker's metadata to drop ${names.join(', ')}`);
      for (const name of names) metadata.forget(name);
    }
  }

  /** Names of every topic, internal ones left out unless asked for. */
  async listTopics(options: { includeInternal?: boolean } = {}): Promise<string[]> {
    const reply = await this.metadata(null);
    return reply.topics.filter((t) => t.errorCode === 0 && (options.includeInternal || !t.isInternal)).map((t) => t.name);
  }

  /** Per partition: leader, leader epoch, replicas, ISR and offline replicas. Unknown topics reject. */
  async describeTopics(request: { topics?: readonly string[] } = {}): Promise<TopicDescription[]> {
    const names = request.topics === undefined ? null : checkArray<string>(request.topics, 'describeTopics topics').map(checkTopicName);
    const reply = await this.metadata(names);
    throwFailures(reply.topics.filter((t) => t.errorCode !== ErrorCode.LEADER_NOT_AVAILABLE), 'describeTopics');
    return reply.topics.map((t) => ({
      name: t.name,
      topicId: t.topicId ?? '',
      isInternal: t.isInternal,
      partitions: t.partitions.map((p) => ({ partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch, replicas: p.replicas, isr: p.isr, offlineReplicas: p.offlineReplicas, errorCode: p.errorCode })),
    }));
  }

  /** Active brokers and the active controller (-1 when the broker does not know it). */
  async describeCluster(): Promise<ClusterDescription> {
    const reply = await this.metadata([]);
    return { brokers: reply.brokers.map((b) => ({ ...b })), controllerId: reply.controllerId };
  }

  /** Grows topics to `count` partitions in total. */
  async createPartitions(request: { topicPartitions: readonly { topic: string; count: number; assignments?: readonly (readonly number[])[] }[]; validateOnly?: boolean; waitForLeaders?: boolean }): Promise<void> {
    const topics = checkArray<{ topic: string; count: number; assignments?: readonly (readonly number[])[] }>(request?.topicPartitions, 'createPartitions topicPartitions').map((t) => ({
      name: checkTopicName(t.topic),
      count: t.count,
      assignments: t.assignments ? t.assignments.map((a) => [...a]) : null,
    }));
    const validateOnly = request.validateOnly ?? false;
    const reply = await this.command<Extract<AdminReply, { type: 'CreatePartitionsReply' }>>({ type: 'CreatePartitions', topics, validateOnly });
    throwFailures(reply.topics, 'createPartitions');
    if (!validateOnly && (request.waitForLeaders ?? true)) {
      const wanted = new Map(topics.map((t) => [t.name, t.count]));
      await this.waitFor([...wanted.keys()], (leader, meta, name) => meta !== undefined && meta.length >= wanted.get(name)! && leader >= 0, 'leaders of new partitions');
    }
  }

  async describeConfigs(request: { resources: readonly { type: ConfigResourceType; name: string; configNames?: readonly string[] }[] }): Promise<ConfigDescription[]> {
    const resources = checkArray<{ type: ConfigResourceType; name: string; configNames?: readonly string[] }>(request?.resources, 'describeConfigs resources').map((r) => ({
      resourceType: r.type,
      resourceName: checkResourceName(r.type, r.name, 'describeConfigs'),
      configNames: r.configNames ? [...r.configNames] : null,
    }));
    const reply = await this.command<Extract<AdminReply, { type: 'DescribeConfigsReply' }>>({ type: 'DescribeConfigs', resources });
    throwFailures(reply.results.map((r) => ({ ...r, name: r.resourceName })), 'describeConfigs');
    return reply.results.map((r, i) => ({ type: resources[i]!.resourceType, name: r.resourceName, configs: r.configs.map((c) => ({ ...c })) }));
  }

  /** Incremental: sets and deletes (reverts to default) the named configs; the rest are unchanged. */
  async alterConfigs(request: { resources: readonly ConfigAlteration[]; validateOnly?: boolean }): Promise<void> {
    const resources = checkArray<ConfigAlteration>(request?.resources, 'alterConfigs resources').map((r) => {
      const name = checkResourceName(r.type, r.name, 'alterConfigs');
      const ops = [
        ...toConfigList(r.set, `${r.type} ${name}`).map((c) => ({ name: c.name, op: 'SET' as const, value: c.value })),
        ...(r.delete ?? []).map((configName) => ({ name: configName, op: 'DELETE' as const, value: null })),
      ];
      return { resourceType: r.type, resourceName: name, ops };
    });
    const reply = await this.command<Extract<AdminReply, { type: 'AlterConfigsReply' }>>({ type: 'AlterConfigs', resources, validateOnly: request.validateOnly ?? false });
    throwFailures(reply.results.map((r) => ({ ...r, name: r.resourceName })), 'alterConfigs');
  }

  /** Elects preferred (or, unclean, any) leaders; null topicPartitions = all. */
  async electLeaders(request: { electionType?: 'PREFERRED' | 'UNCLEAN'; topicPartitions?: readonly { topic: string; partitions: readonly number[] }[] | null } = {}): Promise<void> {
    const topicPartitions = request.topicPartitions ? request.topicPartitions.map((tp) => ({ topic: checkTopicName(tp.topic), partitions: [...tp.partitions] })) : null;
    const reply = await this.command<Extract<AdminReply, { type: 'ElectLeadersReply' }>>({ type: 'ElectLeaders', electionType: request.electionType ?? 'PREFERRED', topicPartitions });
    throwFailures(reply.results.flatMap((r) => r.partitions.filter((p) => p.errorCode !== ErrorCode.ELECTION_NOT_NEEDED).map((p) => ({ ...p, name: r.topic }))), 'electLeaders');
  }

  /**
   * Moves partitions to new replica lists (KIP-455), or cancels the move in
   * progress (replicas null). Resolves once the controller accepted them: the
   * moves themselves go on while the new replicas catch up, see
   * listPartitionReassignments. Per-partition refusals are results, not an
   * exception (as Kafka's per-partition futures are).
   */
  async alterPartitionReassignments(request: { reassignments: readonly { topic: string; partition: number; replicas: readonly number[] | null }[] }): Promise<ReassignmentResult[]> {
    const reassignments = checkArray<{ topic: string; partition: number; replicas: readonly number[] | null }>(request?.reassignments, 'alterPartitionReassignments reassignments').map((r) => {
      if (!Number.isInteger(r.partition) || r.partition < 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `alterPartitionReassignments: partition ${JSON.stringify(r.partition)} is not a partition number`);
      if (r.replicas !== null && (!Array.isArray(r.replicas) || !r.replicas.every((id) => Number.isInteger(id) && id >= 0))) {
        throw new KactusError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `alterPartitionReassignments: ${r.topic}-${r.partition} replicas must be broker ids or null, got ${JSON.stringify(r.replicas)}`);
      }
      return { topic: checkTopicName(r.topic), partition: r.partition, replicas: r.replicas === null ? null : [...r.replicas] };
    });
    const reply = await this.command<Extract<AdminReply, { type: 'AlterPartitionReassignmentsReply' }>>({ type: 'AlterPartitionReassignments', reassignments });
    return reply.results.map((r) => ({ topic: r.topic, partition: r.partition, errorCode: r.errorCode, errorMessage: r.errorMessage ?? null }));
  }

  /** The reassignments in progress (of the named topics and partitions; all when none are named). */
  async listPartitionReassignments(request: { topics?: readonly { topic: string; partitions?: readonly number[] }[] } = {}): Promise<PartitionReassignment[]> {
    let topics: { topic: string; partitions: number[] }[] | null = null;
    if (request.topics !== undefined) {
      const named = request.topics.map((t) => ({ topic: checkTopicName(t.topic), partitions: t.partitions === undefined ? null : [...t.partitions] }));
      // A topic named without partitions means all of its partitions: ask for them by number.
      const needCounts = named.filter((t) => t.partitions === null).map((t) => t.topic);
      const counts = new Map<string, number>();
      if (needCounts.length > 0) for (const t of (await this.metadata(needCounts)).topics) counts.set(t.name, t.partitions.length);
      topics = named.map((t) => ({ topic: t.topic, partitions: t.partitions ?? Array.from({ length: counts.get(t.topic) ?? 0 }, (_, i) => i) }));
    }
    const reply = await this.command<Extract<AdminReply, { type: 'ListPartitionReassignmentsReply' }>>({ type: 'ListPartitionReassignments', topics });
    return reply.reassignments.map((r) => ({ topic: r.topic, partition: r.partition, replicas: [...r.replicas], addingReplicas: [...r.addingReplicas], removingReplicas: [...r.removingReplicas] }));
  }

  /**
   * Forgets a retired broker (Kafka's UnregisterBroker). Refused while the
   * broker still hosts replicas (drain it first) or is running, unless
   * `force`: a forced broker is fenced first, and replicas it hosted stay
   * offline until they are reassigned.
   */
  async unregisterBroker(request: { brokerId: number; force?: boolean }): Promise<void> {
    if (!Number.isInteger(request?.brokerId) || request.brokerId < 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `unregisterBroker: ${JSON.stringify(request?.brokerId)} is not a broker id`);
    const reply = await this.command<Extract<AdminReply, { type: 'UnregisterBrokerReply' }>>({ type: 'UnregisterBroker', brokerId: request.brokerId, force: request.force ?? false });
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `unregisterBroker ${request.brokerId}: ${reply.errorMessage ?? errorInfo(reply.errorCode).message}`);
  }

  /**
   * Sets or deletes SCRAM credentials (Kafka's AlterUserScramCredentials).
   * The salt is random and the salted password (PBKDF2) is computed here, so
   * only it crosses the network and the log keeps only keys derived from it.
   * Resolves with each user's outcome (errorCode 0: done); a user's changes
   * are applied all or none.
   */
  async alterUserScramCredentials(alterations: readonly ScramCredentialAlteration[]): Promise<{ user: string; errorCode: number; errorMessage: string | null }[]> {
    if (!Array.isArray(alterations) || alterations.length === 0) throw new KactusError(ErrorCode.INVALID_REQUEST, 'alterUserScramCredentials: give at least one alteration');
    const deletions: { name: string; mechanism: string }[] = [];
    const upsertions: { name: string; mechanism: string; iterations: number; salt: Buffer; saltedPassword: Buffer }[] = [];
    for (const a of alterations) {
      if (typeof a?.user !== 'string' || typeof a.mechanism !== 'string') throw new KactusError(ErrorCode.INVALID_REQUEST, 'alterUserScramCredentials: each alteration needs user and mechanism');
      if ('delete' in a && a.delete === true) {
        deletions.push({ name: a.user, mechanism: a.mechanism });
        continue;
      }
      const { password } = a as { password?: unknown };
      if (typeof password !== 'string' || password.length === 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `alterUserScramCredentials: ${a.user}: a password or delete: true`);
      const iterations = (a as { iterations?: number }).iterations ?? scramIterationsDefault;
      const known = (scramMechanisms as readonly string[]).includes(a.mechanism);
      // An unknown mechanism or an iteration count out of range goes to the controller as is: it answers
      // UNSUPPORTED_SASL_MECHANISM / UNACCEPTABLE_CREDENTIAL for that user.
      upsertions.push(known && Number.isInteger(iterations) && iterations >= 1 && iterations <= 1_000_000 ? scramUpsertion(a.user, a.mechanism, password, iterations) : { name: a.user, mechanism: a.mechanism, iterations, salt: randomBytes(32), saltedPassword: Buffer.alloc(0) });
    }
    const reply = await this.command<Extract<AdminReply, { type: 'AlterUserScramCredentialsReply' }>>({ type: 'AlterUserScramCredentials', deletions, upsertions });
    return reply.results.map((r) => ({ user: r.user, errorCode: r.errorCode, errorMessage: r.errorMessage }));
  }

  /**
   * Adds ACLs (Kafka's CreateAcls; they take effect on brokers with authorizer.class.name set).
   * Resolves with each binding's outcome in order (errorCode 0: added, or there already);
   * INVALID_REQUEST names what is wrong with a binding.
   */
  async createAcls(bindings: readonly AclBinding[]): Promise<{ errorCode: number; errorMessage: string | null }[]> {
    if (!Array.isArray(bindings) || bindings.length === 0) throw new KactusError(ErrorCode.INVALID_REQUEST, 'createAcls: give at least one ACL binding');
    const creations = bindings.map((binding, i) => bindingToCodes(binding, `createAcls[${i}]`));
    const reply = await this.command<Extract<AdminReply, { type: 'CreateAclsReply' }>>({ type: 'CreateAcls', creations });
    return reply.results.map((r) => ({ errorCode: r.errorCode, errorMessage: r.errorMessage }));
  }

  /** The ACLs `filter` matches (every ACL when omitted), one binding each. */
  async describeAcls(filter: AclBindingFilter = {}): Promise<AclBinding[]> {
    const reply = await this.command<Extract<AdminReply, { type: 'DescribeAclsReply' }>>({ type: 'DescribeAcls', filter: filterToCodes(filter, 'describeAcls') });
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `describeAcls: ${reply.errorMessage ?? errorInfo(reply.errorCode).message}`);
    return reply.resources.flatMap((resource) => resource.acls.map((acl) => bindingFromCodes({ resourceType: resource.resourceType, resourceName: resource.resourceName, patternType: resource.patternType, ...acl })));
  }

  /** Removes the ACLs each filter matches; resolves with, per filter, its outcome and the ACLs it removed. */
  async deleteAcls(filters: readonly AclBindingFilter[]): Promise<{ errorCode: number; errorMessage: string | null; deleted: AclBinding[] }[]> {
    if (!Array.isArray(filters) || filters.length === 0) throw new KactusError(ErrorCode.INVALID_REQUEST, 'deleteAcls: give at least one filter');
    const reply = await this.command<Extract<AdminReply, { type: 'DeleteAclsReply' }>>({ type: 'DeleteAcls', filters: filters.map((f, i) => filterToCodes(f, `deleteAcls[${i}]`)) });
    return reply.filterResults.map((r) => ({ errorCode: r.errorCode, errorMessage: r.errorMessage, deleted: r.matchingAcls.map(bindingFromCodes) }));
  }

  /** The SCRAM mechanisms and iteration counts of `users` (all users when omitted); an unknown user has errorCode RESOURCE_NOT_FOUND. */
  async describeUserScramCredentials(users?: readonly string[]): Promise<{ user: string; errorCode: number; errorMessage: string | null; credentialInfos: ScramCredentialInfo[] }[]> {
    const reply = await this.command<Extract<AdminReply, { type: 'DescribeUserScramCredentialsReply' }>>({ type: 'DescribeUserScramCredentials', users: users === undefined ? null : [...users] });
    if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `describeUserScramCredentials: ${reply.errorMessage ?? errorInfo(reply.errorCode).message}`);
    return reply.results.map((r) => ({ user: r.user, errorCode: r.errorCode, errorMessage: r.errorMessage, credentialInfos: r.credentialInfos.map((c) => ({ mechanism: c.mechanism, iterations: c.iterations })) }));
  }

  /**
   * The offset of each partition of `topic` (all partitions unless named):
   * earliest (log start), latest (high watermark), or the first offset whose
   * timestamp is >= the given one (-1 when there is none).
   */
  async listOffsets(request: { topic: string; partitions?: readonly number[]; at?: OffsetSpec }): Promise<PartitionOffset[]> {
    const topic = checkTopicName(request?.topic);
    const at = request.at ?? 'latest';
    const timestamp = at === 'earliest' ? earliestTimestamp : at === 'latest' ? latestTimestamp : at.timestamp;
    if (!Number.isSafeInteger(timestamp) || timestamp < -2) throw new KactusError(ErrorCode.INVALID_REQUEST, `listOffsets: timestamp must be a non-negative integer, got ${String(timestamp)}`);
    const { connection, metadata } = await this.deps.connection();
    const [described] = (await this.metadata([topic])).topics;
    throwFailures(described ? [described] : [], 'listOffsets');
    const partitions = request.partitions ? [...request.partitions] : described!.partitions.map((p) => p.partition);
    const results = new Map<number, PartitionOffset>();
    await withRetry(
      async () => {
        const pending = partitions.filter((p) => !results.has(p));
        const byLeader = new Map<number, number[]>();
        for (const partition of pending) {
          const { leader } = await metadata.leaderFor(topic, partition);
          byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition]);
        }
        let retriable: KactusError | undefined;
        await Promise.all(
          [...byLeader].map(async ([leader, ps]) => {
            const raw = await connection.ask<ListOffsets, unknown>(leader, '/fetch', (replyTo) => ({ type: 'ListOffsets', isolationLevel: 0, partitions: ps.map((partition) => ({ topic, partition, timestamp })), replyTo: replyTo as Ref<ListOffsetsReply> }), this.deps.requestTimeoutMs);
            const reply = checkReply(listOffsetsReplyValidator, raw, `ListOffsets reply from broker ${leader}`);
            for (const p of reply.partitions) {
              if (p.errorCode === 0) {
                results.set(p.partition, { partition: p.partition, offset: p.offset, timestamp: p.timestamp, leaderEpoch: p.leaderEpoch });
                continue;
              }
              const error = partitionError(p.errorCode, topic, p.partition, `listOffsets from broker ${leader}`);
              if (!error.retriable) throw error;
              metadata.onError(topic, p.errorCode);
              retriable = error;
            }
          }),
        );
        if (retriable) throw retriable;
      },
      this.deps.retry,
      { onRetriable: () => metadata.refresh([topic]).then(() => undefined) },
    );
    return partitions.map((p) => results.get(p)!);
  }

  /**
   * Deletes the records before `offset` of each partition ('highWatermark': every committed record), Kafka Admin's
   * deleteRecords: the log start moves there on every replica. Resolves with each partition's low watermark once
   * every live replica got there (at most `timeoutMs`, default requestTimeoutMs). admin-delete-records.ts.
   */
  async deleteRecords(request: { partitions: readonly RecordsToDelete[]; timeoutMs?: number }): Promise<DeletedRecords[]> {
    const partitions = checkArray<RecordsToDelete>(request?.partitions, 'deleteRecords: partitions').map((p) => {
      if (!Number.isSafeInteger(p?.partition) || p.partition < 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `deleteRecords: partition must be an integer >= 0, got ${String(p?.partition)}`);
      const offset = p.offset === 'highWatermark' ? -1 : p.offset;
      if (!Number.isSafeInteger(offset) || offset < -1) throw new KactusError(ErrorCode.INVALID_REQUEST, `deleteRecords: offset must be an integer >= 0 or 'highWatermark', got ${String(p.offset)}`);
      return { topic: checkTopicName(p.topic), partition: p.partition, offset };
    });
    const timeoutMs = request.timeoutMs ?? this.deps.requestTimeoutMs;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > deleteRecordsLimits.timeoutMsMax) throw new KactusError(ErrorCode.INVALID_REQUEST, `deleteRecords: timeoutMs must be an integer in [0, ${deleteRecordsLimits.timeoutMsMax}], got ${String(timeoutMs)}`);
    return deleteRecords({ ...(await this.deps.connection()), requestTimeoutMs: this.deps.requestTimeoutMs, retry: this.deps.retry }, partitions, timeoutMs);
  }

  /**
   * Deletes a consumer group's committed offsets of `partitions` (Kafka Admin deleteConsumerGroupOffsets, the
   * OffsetDelete request). Rejects for partitions of a topic an active member subscribes to
   * (GROUP_SUBSCRIBED_TO_TOPIC) and for an unknown group (GROUP_ID_NOT_FOUND). admin-groups.ts.
   */
  async deleteConsumerGroupOffsets(request: { groupId: string; partitions: readonly { topic: string; partition: number }[] }): Promise<void> {
    const partitions = checkArray<{ topic: string; partition: number }>(request?.partitions, 'deleteConsumerGroupOffsets: partitions');
    const { connection } = await this.deps.connection();
    await deleteConsumerGroupOffsets({ connection, requestTimeoutMs: this.deps.requestTimeoutMs, retry: this.deps.retry }, request.groupId, partitions);
  }

  /**
   * Deletes a group's committed offsets of one topic: the partitions named, or every partition of the topic
   * (kafka-consumer-groups --delete-offsets). Resolves with each partition's answer: 0, or
   * GROUP_SUBSCRIBED_TO_TOPIC where an active member reads the topic (its offset stays); a group-level refusal
   * (GROUP_ID_NOT_FOUND, ...) rejects. admin-groups.ts.
   */
  async deleteOffsets(request: { groupId: string; topic: string; partitions?: readonly number[] }): Promise<OffsetDeleteResult[]> {
    const topic = checkTopicName(request?.topic);
    const partitions = request.partitions ?? (await this.describeTopics({ topics: [topic] }))[0]!.partitions.map((p) => p.partition).sort((a, b) => a - b);
    if (!Array.isArray(partitions)) throw new KactusError(ErrorCode.INVALID_REQUEST, `deleteOffsets: partitions must be an array of partition numbers, got ${JSON.stringify(partitions)}`);
    await this.describeCluster(); // learns every broker's address: any may coordinate the group
    const { connection } = await this.deps.connection();
    return offsetDeleteResults({ connection, requestTimeoutMs: this.deps.requestTimeoutMs, retry: this.deps.retry }, request.groupId, partitions.map((partition) => ({ topic, partition })), 'deleteOffsets');
  }

  /** Every consumer group the cluster's coordinators know, with its protocol type and state (KafkaJS listGroups). admin-groups.ts. */
  async listGroups(): Promise<{ groups: GroupOverview[] }> {
    const { brokers } = await this.describeCluster(); // learns every broker's address: any may coordinate groups
    const { connection } = await this.deps.connection();
    return { groups: await listGroups(this.groupDeps(connection), brokers.map((b) => b.brokerId)) };
  }

  /** State, protocol and members (with their assignments) of each group (KafkaJS describeGroups). admin-groups.ts. */
  async describeGroups(groupIds: readonly string[]): Promise<{ groups: GroupDescription[] }> {
    await this.describeCluster();
    const { connection } = await this.deps.connection();
    return { groups: await describeGroups(this.groupDeps(connection), groupIds) };
  }

  /**
   * A group's committed offsets (KafkaJS fetchOffsets): of every partition of `topics` (offset -1 where
   * nothing is committed), or without `topics` of every partition the group has committed. admin-groups.ts.
   */
  async fetchOffsets(request: { groupId: string; topics?: readonly string[] }): Promise<GroupTopicOffsets[]> {
    await this.describeCluster();
    const { connection } = await this.deps.connection();
    let partitions: { topic: string; partition: number }[] | null = null;
    if (request?.topics !== undefined) {
      const names = checkArray<string>(request.topics, 'fetchOffsets: topics').map((t) => checkTopicName(t));
      const described = names.length === 0 ? [] : await this.describeTopics({ topics: names });
      partitions = described.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
      if (partitions.length === 0) return [];
    }
    return fetchOffsets(this.groupDeps(connection), request?.groupId, partitions);
  }

  /** Commits offsets of `topic` for a group with no active members (KafkaJS setOffsets). admin-groups.ts. */
  async setOffsets(request: { groupId: string; topic: string; partitions: readonly { partition: number; offset: number | string }[] }): Promise<void> {
    await this.describeCluster();
    const { connection } = await this.deps.connection();
    const topic = checkTopicName(request?.topic);
    const offsets = checkArray<{ partition: number; offset: number | string }>(request?.partitions, 'setOffsets: partitions').map((p) => ({ topic, partition: p?.partition, offset: typeof p?.offset === 'string' ? Number(p.offset) : p?.offset }));
    await setOffsets(this.groupDeps(connection), request?.groupId, offsets);
  }

  /** Moves a group with no active members to the earliest (or, by default, the latest) offset of every partition of `topic` (KafkaJS resetOffsets). */
  async resetOffsets(request: { groupId: string; topic: string; earliest?: boolean }): Promise<void> {
    const topic = checkTopicName(request?.topic);
    const ends = await this.listOffsets({ topic, at: request?.earliest === true ? 'earliest' : 'latest' });
    await this.setOffsets({ groupId: request?.groupId, topic, partitions: ends.map((e) => ({ partition: e.partition, offset: e.offset })) });
  }

  /** Deletes groups that have no active members, with their committed offsets (KafkaJS deleteGroups). admin-groups.ts. */
  async deleteGroups(groupIds: readonly string[]): Promise<{ groupId: string; errorCode: number }[]> {
    await this.describeCluster();
    const { connection } = await this.deps.connection();
    return deleteGroups(this.groupDeps(connection), groupIds);
  }

  private groupDeps(connection: Connection) {
    return { connection, requestTimeoutMs: this.deps.requestTimeoutMs, retry: this.deps.retry };
  }

  /** The producers each partition's leader remembers (KIP-664; Kafka Admin describeProducers). admin-txn.ts. */
  async describeProducers(request: { topicPartitions: readonly { topic: string; partition: number }[] }): Promise<PartitionProducers[]> {
    const partitions = checkArray<{ topic: string; partition: number }>(request?.topicPartitions, 'describeProducers: topicPartitions').map((p) => {
      if (!Number.isSafeInteger(p?.partition) || p.partition < 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `describeProducers: partition must be an integer >= 0, got ${String(p?.partition)}`);
      return { topic: checkTopicName(p.topic), partition: p.partition };
    });
    return describeProducers({ ...(await this.deps.connection()), requestTimeoutMs: this.deps.requestTimeoutMs, retry: this.deps.retry }, partitions);
  }

  /** Each transactional id's state at its coordinator (KIP-664; Kafka Admin describeTransactions). admin-txn.ts. */
  async describeTransactions(request: { transactionalIds: readonly string[] }): Promise<TransactionDescription[]> {
    const ids = checkArray<string>(request?.transactionalIds, 'describeTransactions: transactionalIds');
    for (const id of ids) if (typeof id !== 'string' || id.length === 0) throw new KactusError(ErrorCode.INVALID_REQUEST, 'describeTransactions: a transactional id is a non-empty string');
    return describeTransactions({ ...(await this.deps.connection()), requestTimeoutMs: this.deps.requestTimeoutMs, retry: this.deps.retry }, ids);
  }

  /** What each broker stores: per hosted partition its bytes on disk and offsets (Kafka Admin describeLogDirs). admin-log-dirs.ts. */
  async describeLogDirs(request: { brokerIds?: readonly number[] } = {}): Promise<BrokerLogDir[]> {
    const ids = request?.brokerIds === undefined ? undefined : checkArray<number>(request.brokerIds, 'describeLogDirs: brokerIds');
    for (const id of ids ?? []) if (!Number.isSafeInteger(id) || id < 0) throw new KactusError(ErrorCode.INVALID_REQUEST, `describeLogDirs: a broker id is an integer >= 0, got ${String(id)}`);
    return describeLogDirs({ ...(await this.deps.connection()), requestTimeoutMs: this.deps.requestTimeoutMs, retry: this.deps.retry }, ids);
  }

  /** The transactions every broker coordinates, filtered (KIP-664; Kafka Admin listTransactions). admin-txn.ts. */
  async listTransactions(request: { states?: readonly string[]; producerIds?: readonly number[]; durationMs?: number } = {}): Promise<TransactionListing[]> {
    return listTransactions({ ...(await this.deps.connection()), requestTimeoutMs: this.deps.requestTimeoutMs, retry: this.deps.retry }, request);
  }

  /**
   * Metadata for admin reads: always of every topic (a request naming topics
   * would make brokers auto-create missing ones, see metadata-cache.ts),
   * filtered to `topics`, with UNKNOWN_TOPIC_OR_PARTITION for missing names.
   */
  private async metadata(topics: string[] | null): Promise<MetadataReply> {
    const { metadata } = await this.deps.connection();
    return onlyTopics(await metadata.refresh(null), topics);
  }

  /** Polls metadata until `ready` holds for every partition of every topic, or requestTimeoutMs passes. */
  private async waitFor(topics: readonly string[], ready: (leader: number, partitions: readonly PartitionMetadata[] | undefined, topic: string) => boolean, what: string): Promise<void> {
    await this.poll(async () => {
      const answers = await this.everyBroker([...topics]);
      return answers.length > 0 && answers.every((reply) => topics.every((name) => {
        const t = reply.topics.find((x) => x.name === name);
        if (t === undefined || t.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return false;
        return ready(t.partitions.length > 0 ? 0 : -1, t.partitions, name) && t.partitions.every((p) => ready(p.leader, t.partitions, name));
      }));
    }, `${what} on every broker (${topics.join(', ')})`);
  }

  /** Metadata of `topics` from every known broker that answers (a broker that does not answer is skipped). */
  private async everyBroker(topics: string[]): Promise<MetadataReply[]> {
    const { connection } = await this.deps.connection();
    const timeoutMs = Math.min(this.deps.requestTimeoutMs, everyBrokerTimeoutMs);
    const answers = await Promise.all(
      connection.brokerIds().map((brokerId) =>
        connection
          .ask<{ type: 'Metadata'; topics: null; replyTo: Ref<unknown> }, unknown>(brokerId, '/broker', (replyTo) => ({ type: 'Metadata', topics: null, replyTo }), timeoutMs)
          .then((raw): MetadataReply => ({ type: 'MetadataReply', ...checkReply(metadataReplyValidator, raw, `Metadata reply from broker ${brokerId}`) }))
          .catch(() => undefined),
      ),
    );
    return answers.filter((a): a is MetadataReply => a !== undefined).map((a) => onlyTopics(a, topics));
  }

  /** Brokers apply committed metadata asynchronously: poll until `done`, at most requestTimeoutMs. */
  private async poll(done: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + this.deps.requestTimeoutMs;
    for (;;) {
      if (await done()) return;
      if (Date.now() > deadline) throw new KactusError(ErrorCode.REQUEST_TIMED_OUT, `waited ${this.deps.requestTimeoutMs} ms for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, leaderPollIntervalMs));
    }
  }
}
