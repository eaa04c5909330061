/**
 * Topics: CreateTopics, DeleteTopics, CreatePartitions.
 *
 * Owns: `validateTopicName`, `topicIdForSequence`, `generateCreateTopics`,
 * `generateDeleteTopics`, `generateCreatePartitions`, the topic defaults
 * (`topicDefaults`) and the per-request partition bound.
 *
 * Rules (Kafka's):
 * - A name is 1..249 characters of [a-zA-Z0-9._-], and not "." or "..".
 *   Names that differ only by '.' vs '_' collide (they map to the same metric
 *   names) and are refused with INVALID_TOPIC_EXCEPTION.
 * - numPartitions >= 1 (INVALID_PARTITIONS); 1 <= replicationFactor <= active
 *   brokers (INVALID_REPLICATION_FACTOR); -1 means the default for either.
 * - A manual assignment replaces numPartitions/replicationFactor (both must be
 *   -1); its partitions are 0..n-1, each a non-empty list of distinct
 *   registered brokers of one common length, with at least one active broker
 *   (INVALID_REPLICA_ASSIGNMENT).
 * - Each topic in a request succeeds or fails alone; `validateOnly` answers
 *   without writing.
 *
 * New partitions start with ISR = their active replicas, leader = the first
 * of those, leaderEpoch 0, partitionEpoch 0. Placement is placement.ts's.
 *
 * Topic ids come from a counter in the image (never reused, even after a
 * delete), formatted as a UUID so they can become Kafka's 16-byte ids on the
 * wire later. Deterministic, so every replica of the controller agrees.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import { validateTopicConfigs } from './configs.ts';
import { activeBrokers, replay, topicByName, type MetadataImage } from './image.ts';
import { placeReplicas } from './placement.ts';
import type { ConfigEntry, ControlResult, ItemError, MetadataRecord } from './records.ts';

export const topicNameLengthMax = 249;
/** Kafka's MAX_PARTITIONS_PER_BATCH: partitions one CreateTopics/CreatePartitions may add. */
export const partitionsPerRequestMax = 10_000;

export interface TopicDefaults {
  /** num.partitions */
  readonly numPartitions: number;
  /** default.replication.factor */
  readonly replicationFactor: number;
}

/** Kafka's broker defaults. */
export const topicDefaults: TopicDefaults = Object.freeze({ numPartitions: 1, replicationFactor: 1 });

const legalTopicName = /^[a-zA-Z0-9._-]+$/;

/** Returns null for a legal name, else Kafka's explanation. */
export function validateTopicName(name: string): string | null {
  if (name.length === 0) return 'Topic name is illegal, it can\'t be empty';
  if (name === '.' || name === '..') return 'Topic name cannot be "." or ".."';
  if (name.length > topicNameLengthMax) {
    return `Topic name is illegal, it can't be longer than ${topicNameLengthMax} characters, topic name: ${name}`;
  }
  if (!legalTopicName.test(name)) {
    return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  }
  return null;
}

function hasCollisionChars(name: string): boolean {
  return name.includes('.') || name.includes('_');
}

function collisionKey(name: string): string {
  return name.replaceAll('.', '_');
}

export function topicIdForSequence(sequence: number): string {
  return `a0000000-0000-4000-8000-${sequence.toString(16).padStart(12, '0')}`;
}

// ---------------------------------------------------------------- CreateTopics

export interface CreatableTopic {
  readonly name: string;
  /** -1 = default; must be -1 with `assignments`. */
  readonly numPartitions: number;
  /** -1 = default; must be -1 with `assignments`. */
  readonly replicationFactor: number;
  /** Manual placement, or null to let placement.ts decide. */
  readonly assignments: readonly { readonly partition: number; readonly brokerIds: readonly number[] }[] | null;
  readonly configs: readonly ConfigEntry[];
}

export interface CreateTopicsCommand {
  readonly type: 'CreateTopics';
  readonly topics: readonly CreatableTopic[];
  readonly validateOnly: boolean;
}

export interface CreateTopicResult extends ItemError {
  readonly name: string;
  /** null on error. */
  readonly topicId: string | null;
  readonly numPartitions: number;
  readonly replicationFactor: number;
}

export interface CreateTopicsReply {
  readonly type: 'CreateTopicsReply';
  readonly topics: readonly CreateTopicResult[];
}

export function generateCreateTopics(
  image: MetadataImage,
  command: CreateTopicsCommand,
  defaults: TopicDefaults = topicDefaults,
): ControlResult<CreateTopicsReply> {
  const records: MetadataRecord[] = [];
  const nameCounts = new Map<string, number>();
  for (const t of command.topics) nameCounts.set(t.name, (nameCounts.get(t.name) ?? 0) + 1);
  let working = image;
  let partitionsAdded = 0;

  const topics = command.topics.map((topic): CreateTopicResult => {
    const fail = (errorCode: number, errorMessage: string): CreateTopicResult => ({
      name: topic.name,
      topicId: null,
      errorCode,
      errorMessage,
      numPartitions: -1,
      replicationFactor: -1,
    });
    if ((nameCounts.get(topic.name) ?? 0) > 1) {
      return fail(ErrorCode.INVALID_REQUEST, `Topic ${topic.name} appears more than once in the request`);
    }
    const nameProblem = validateTopicName(topic.name);
    if (nameProblem !== null) return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, nameProblem);
    if (working.topicIdsByName.has(topic.name)) {
      return fail(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${topic.name}' already exists.`);
    }
    // Only a name with '.' or '_' can collide with another name (an exact match was refused above): skip the scan of
    // every topic for the others, as Kafka keeps its topicsWithCollisionChars apart.
    if (hasCollisionChars(topic.name)) {
      const key = collisionKey(topic.name);
      for (const existing of working.topicIdsByName.keys()) {
        if (hasCollisionChars(existing) && collisionKey(existing) === key) {
          return fail(ErrorCode.INVALID_TOPIC_EXCEPTION, `Topic '${topic.name}' collides with existing topic: ${existing}`);
        }
      }
    }

    const placed = topic.assignments === null ? placeNew(working, topic, defaults) : checkAssignments(working, topic);
    if ('errorCode' in placed) return fail(placed.errorCode, placed.errorMessage ?? '');
    if (partitionsAdded + placed.replicas.length > partitionsPerRequestMax) {
      return fail(ErrorCode.POLICY_VIOLATION, `A request may add at most ${partitionsPerRequestMax} partitions`);
    }
    const configProblem = validateTopicConfigs(topic.configs);
    if (configProblem !== null) return fail(configProblem.errorCode, configProblem.errorMessage ?? '');

    partitionsAdded += placed.replicas.length;
    const topicId = topicIdForSequence(working.topicsCreatedCount + 1);
    const topicRecords = [
      { type: 'Topic', name: topic.name, topicId, configs: topic.configs.map((c) => ({ name: c.name, value: c.value })) },
      ...newPartitionRecords(working, topicId, 0, placed.replicas),
    ] satisfies MetadataRecord[];
    // Replay even when validateOnly, so later topics in this request see this one (collisions, ids).
    for (const record of topicRecords) working = replay(working, record);
    if (!command.validateOnly) records.push(...topicRecords);
    return {
      name: topic.name,
      topicId: command.validateOnly ? null : topicId,
      errorCode: 0,
      errorMessage: null,
      numPartitions: placed.replicas.length,
      replicationFactor: placed.replicas[0]?.length ?? -1,
    };
  });
  return { records, reply: { type: 'CreateTopicsReply', topics } };
}

function placeNew(image: MetadataImage, topic: CreatableTopic, defaults: TopicDefaults): { replicas: number[][] } | ItemError {
  const numPartitions = topic.numPartitions === -1 ? defaults.numPartitions : topic.numPartitions;
  const replicationFactor = topic.replicationFactor === -1 ? defaults.replicationFactor : topic.replicationFactor;
  if (!Number.isInteger(numPartitions) || numPartitions < 1) {
    return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Number of partitions was set to an invalid non-positive value (${numPartitions}).` };
  }
  if (numPartitions > partitionsPerRequestMax) {
    return { errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: `A request may add at most ${partitionsPerRequestMax} partitions` };
  }
  const rfProblem = checkReplicationFactor(image, replicationFactor);
  if (rfProblem !== null) return rfProblem;
  const brokers = activeBrokers(image);
  return { replicas: placeReplicas({ brokers, firstPartition: 0, partitionCount: numPartitions, replicationFactor }) };
}

function checkReplicationFactor(image: MetadataImage, replicationFactor: number): ItemError | null {
  if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
    return {
      errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
      errorMessage: `Replication factor must be larger than 0, or -1 to use the default value (got ${replicationFactor}).`,
    };
  }
  const activeCount = activeBrokers(image).length;
  if (replicationFactor > activeCount) {
    return {
      errorCode: ErrorCode.INVALID_REPLICATION_FACTOR,
      errorMessage:
        `Unable to replicate the partition ${replicationFactor} time(s): the target replication factor of ` +
        `${replicationFactor} cannot be reached because only ${activeCount} broker(s) are registered and unfenced.`,
    };
  }
  return null;
}

function checkAssignments(image: MetadataImage, topic: CreatableTopic): { replicas: number[][] } | ItemError {
  const bad = (errorMessage: string): ItemError => ({ errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage });
  if (topic.numPartitions !== -1 || topic.replicationFactor !== -1) {
    return {
      errorCode: ErrorCode.INVALID_REQUEST,
      errorMessage: 'Both numPartitions and replicationFactor must be -1 when a manual assignment is given',
    };
  }
  const assignments = topic.assignments ?? [];
  if (assignments.length === 0) return bad('The manual assignment is empty');
  if (assignments.length > partitionsPerRequestMax) {
    return { errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: `A request may add at most ${partitionsPerRequestMax} partitions` };
  }
  const byPartition = new Map<number, readonly number[]>();
  for (const a of assignments) {
    if (byPartition.has(a.partition)) return bad(`Partition ${a.partition} is assigned more than once`);
    byPartition.set(a.partition, a.brokerIds);
  }
  const replicas: number[][] = [];
  for (let p = 0; p < assignments.length; p++) {
    const brokerIds = byPartition.get(p);
    if (brokerIds === undefined) return bad(`Partitions must be numbered 0..${assignments.length - 1}; ${p} is missing`);
    const problem = checkReplicaList(image, p, brokerIds, replicas[0]?.length ?? null);
    if (problem !== null) return problem;
    replicas.push([...brokerIds]);
  }
  return { replicas };
}

/** Checks one manually assigned replica list. `expectedLength` null = any (first partition). */
function checkReplicaList(
  image: MetadataImage,
  partition: number,
  brokerIds: readonly number[],
  expectedLength: number | null,
): ItemError | null {
  const bad = (errorMessage: string): ItemError => ({ errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage });
  if (brokerIds.length === 0) return bad(`Partition ${partition} has no replicas`);
  if (expectedLength !== null && brokerIds.length !== expectedLength) {
    return bad(`Partition ${partition} has ${brokerIds.length} replicas; the others have ${expectedLength}`);
  }
  if (new Set(brokerIds).size !== brokerIds.length) return bad(`Partition ${partition} lists a broker twice: ${brokerIds}`);
  for (const id of brokerIds) {
    if (!image.brokers.has(id)) {
      return bad(`The manual partition assignment includes broker ${id}, but no such broker is registered.`);
    }
  }
  if (!brokerIds.some((id) => image.brokers.get(id)?.fenced === false)) {
    return bad(`All brokers specified in the manual partition assignment for partition ${partition} are fenced.`);
  }
  return null;
}

function newPartitionRecords(
  image: MetadataImage,
  topicId: string,
  firstPartition: number,
  replicaLists: readonly (readonly number[])[],
): MetadataRecord[] {
  return replicaLists.map((replicas, i) => {
    const isr = replicas.filter((id) => image.brokers.get(id)?.fenced === false);
    return {
      type: 'Partition',
      topicId,
      partition: firstPartition + i,
      replicas: [...replicas],
      isr,
      leader: isr[0] ?? -1,
      leaderEpoch: 0,
      partitionEpoch: 0,
    };
  });
}

// ---------------------------------------------------------------- DeleteTopics

export interface DeleteTopicsCommand {
  readonly type: 'DeleteTopics';
  readonly topics: readonly string[];
}

export interface DeleteTopicsReply {
  readonly type: 'DeleteTopicsReply';
  readonly topics: readonly (ItemError & { readonly name: string; readonly topicId: string | null })[];
}

export function generateDeleteTopics(image: MetadataImage, command: DeleteTopicsCommand): ControlResult<DeleteTopicsReply> {
  const records: MetadataRecord[] = [];
  const nameCounts = new Map<string, number>();
  for (const name of command.topics) nameCounts.set(name, (nameCounts.get(name) ?? 0) + 1);
  const topics = command.topics.map((name) => {
    if ((nameCounts.get(name) ?? 0) > 1) {
      return { name, topicId: null, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Topic ${name} appears more than once in the request` };
    }
    const topic = topicByName(image, name);
    if (topic === undefined) {
      return { name, topicId: null, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: `Topic ${name} does not exist` };
    }
    records.push({ type: 'RemoveTopic', topicId: topic.topicId });
    return { name, topicId: topic.topicId, errorCode: 0, errorMessage: null };
  });
  return { records, reply: { type: 'DeleteTopicsReply', topics } };
}

// ---------------------------------------------------------------- CreatePartitions

export interface CreatePartitionsCommand {
  readonly type: 'CreatePartitions';
  readonly topics: readonly {
    readonly name: string;
    /** The new total partition count. */
    readonly count: number;
    /** Replica lists for the new partitions only, or null for placement.ts. */
    readonly assignments: readonly (readonly number[])[] | null;
  }[];
  readonly validateOnly: boolean;
}

export interface CreatePartitionsReply {
  readonly type: 'CreatePartitionsReply';
  readonly topics: readonly (ItemError & { readonly name: string })[];
}

export function generateCreatePartitions(
  image: MetadataImage,
  command: CreatePartitionsCommand,
): ControlResult<CreatePartitionsReply> {
  const records: MetadataRecord[] = [];
  const nameCounts = new Map<string, number>();
  for (const t of command.topics) nameCounts.set(t.name, (nameCounts.get(t.name) ?? 0) + 1);
  let partitionsAdded = 0;
  const topics = command.topics.map((request) => {
    const fail = (errorCode: number, errorMessage: string) => ({ name: request.name, errorCode, errorMessage });
    if ((nameCounts.get(request.name) ?? 0) > 1) {
      return fail(ErrorCode.INVALID_REQUEST, `Topic ${request.name} appears more than once in the request`);
    }
    const topic = topicByName(image, request.name);
    if (topic === undefined) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic ${request.name} does not exist`);
    const current = topic.partitions.length;
    if (!Number.isInteger(request.count) || request.count < current) {
      return fail(
        ErrorCode.INVALID_PARTITIONS,
        `The topic ${topic.name} currently has ${current} partition(s); ${request.count} would not be an increase.`,
      );
    }
    if (request.count === current) return fail(ErrorCode.INVALID_PARTITIONS, `Topic already has ${current} partition(s).`);
    const added = request.count - current;
    if (partitionsAdded + added > partitionsPerRequestMax) {
      return fail(ErrorCode.POLICY_VIOLATION, `A request may add at most ${partitionsPerRequestMax} partitions`);
    }
    const replicationFactor = topic.partitions[0]?.replicas.length ?? 1;
    let replicaLists: number[][];
    if (request.assignments === null) {
      const problem = checkReplicationFactor(image, replicationFactor);
      if (problem !== null) return fail(problem.errorCode, problem.errorMessage ?? '');
      replicaLists = placeReplicas({
        brokers: activeBrokers(image),
        firstPartition: current,
        partitionCount: added,
        replicationFactor,
      });
    } else {
      if (request.assignments.length !== added) {
        return fail(
          ErrorCode.INVALID_REPLICA_ASSIGNMENT,
          `Attempted to add ${added} partition(s), but only ${request.assignments.length} assignment(s) were given.`,
        );
      }
      replicaLists = [];
      for (const [i, brokerIds] of request.assignments.entries()) {
        const problem = checkReplicaList(image, current + i, brokerIds, replicationFactor);
        if (problem !== null) return fail(problem.errorCode, problem.errorMessage ?? '');
        replicaLists.push([...brokerIds]);
      }
    }
    partitionsAdded += added;
    if (!command.validateOnly) records.push(...newPartitionRecords(image, topic.topicId, current, replicaLists));
    return { name: request.name, errorCode: 0, errorMessage: null };
  });
  return { records, reply: { type: 'CreatePartitionsReply', topics } };
}
