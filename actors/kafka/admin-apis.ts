/**
 * Kafka's admin APIs over the native admin commands: CreateTopics,
 * DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
 * IncrementalAlterConfigs, ElectLeaders, AlterPartitionReassignments,
 * ListPartitionReassignments, DescribeCluster and DeleteRecords.
 *
 * Owns: `adminApis` (the ServedApis table) and the pure translations
 * (`…Command` builds the native command from a decoded request, `…Body` the
 * Kafka response from the native reply), exported for the tests.
 *
 * Every command goes as `Admin { command }` to this node's `/broker` through
 * `node.askAsClient`, held to brokerProtocol exactly as a native client's
 * request is: the internal-topic guard (no client deletes, repartitions or
 * reconfigures `__consumer_offsets` / `__transaction_state`) answers Kafka
 * clients too. The guard refuses a whole command, so the items naming an
 * internal topic are sent as a command of their own: the guard's code lands on
 * those items only and the others are served (Kafka answers per item).
 *
 * Kafka's rules kept here (the controller's logic keeps the rest):
 * - A failure of the whole call (controller unreachable, timeout, refusal)
 *   is answered on every item with its code, as Kafka does per topic.
 * - Resource types are Kafka's numbers: topic 2, broker 4. Any other type
 *   gets INVALID_REQUEST on its resource ("Unsupported resource type").
 * - CreateTopics v5+ returns the new topic's configs: computed from the
 *   schema and the request's overrides (what a DescribeConfigs would say).
 *   A null config value is INVALID_CONFIG, as Kafka's controller answers.
 * - DeleteTopics v6 may name topics by id: ids are resolved through this
 *   broker's Metadata (UNKNOWN_TOPIC_ID when none has it); a name and an id
 *   together is INVALID_REQUEST, as in Kafka.
 * - AlterConfigs (the legacy, non-incremental one) replaces every override of
 *   a resource: the configs it names are SET, every other config of the
 *   resource's schema is DELETEd (back to its default), in one native
 *   command, so it is atomic like Kafka's.
 * - IncrementalAlterConfigs: SET (0), DELETE (1); APPEND (2) / SUBTRACT (3)
 *   only for list configs (else INVALID_CONFIG, Kafka's answer), computed from
 *   a DescribeConfigs first and written as a SET: not atomic with a
 *   concurrent change of the same key (Kafka's is). Another op: INVALID_REQUEST.
 * - DescribeCluster: the brokers at the addresses of the listener asked, the
 *   active controller; clusterId is the empty string (Kactus has no cluster
 *   id yet; Metadata says null, this field is not nullable). endpointType 2
 *   (controllers) is UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers.
 * - Authorized operations are not computed (no ACLs yet): Kafka's "omitted".
 *
 * - DeleteRecords goes as the native `DeleteRecords` to this node's
 *   `/broker` (not an admin command: the partition's leader serves it, as in
 *   Kafka, where the client sends it to each partition's leader). A partition
 *   this broker does not lead is NOT_LEADER_OR_FOLLOWER; the leader's answer
 *   (low watermark, OFFSET_OUT_OF_RANGE, POLICY_VIOLATION, REQUEST_TIMED_OUT)
 *   is passed through. An offset below -1 or past 2^53 is answered here with
 *   OFFSET_OUT_OF_RANGE (Kafka's answer to both, though Kafka would say
 *   NOT_LEADER_OR_FOLLOWER first on a broker that does not lead). Internal
 *   topics go in a request of their own, which the broker's guard refuses
 *   (INVALID_TOPIC_EXCEPTION, Kafka's "Cannot delete records of internal
 *   topic"). timeoutMs is clamped into [0, the native bound].
 *
 * Untrusted input: the codec bounds every count and gives values of the
 * schema's types. The native command validators refuse a whole command for
 * one item out of their bounds (a negative count, a name over nameCharsMax),
 * so such items are answered here first with the code Kafka gives for them
 * (INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT,
 * INVALID_CONFIG, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION) and
 * the rest are served. Only a list past commandItemsMax is still refused
 * whole (INVALID_REQUEST on every item). Never a throw.
 */
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { zeroUuid, type KafkaValue } from '../../protocol/kafka/codec.ts';
import { internalTopics } from '../broker/actor.ts';
import {
  brokerConfigSchema,
  topicConfigSchema,
  type AlterConfigOp,
  type AlterConfigsReply,
  type CreatePartitionsReply,
  type CreateTopicsReply,
  type DeleteTopicsReply,
  type DescribeConfigsReply,
  type ElectLeadersReply,
  type AlterPartitionReassignmentsReply,
  type ListPartitionReassignmentsReply,
  type MetadataResponse,
} from '../controller/metadata/index.ts';
import { messageLimits } from '../controller/messages.ts';
import { reassignmentReplicasMax } from '../controller/metadata/reassignment.ts';
import { authorizedOperationsOmitted } from './metadata.ts';
import { deleteRecordsLimits, type DeleteRecords, type DeleteRecordsPartitionResult, type DeleteRecordsReply } from '../../protocol/apis/delete-records.ts';
import { kafkaGatewayAskTimeoutMs, type HandlerDeps, type ServedApis } from './served.ts';

/** Kafka's ConfigResource.Type numbers. */
export const kafkaResourceType = Object.freeze({ topic: 2, broker: 4 });
/** Kafka's DescribeConfigsResponse.ConfigSource numbers. */
const configSourceNumber = Object.freeze({ TOPIC_CONFIG: 1, DYNAMIC_BROKER_CONFIG: 2, DYNAMIC_DEFAULT_BROKER_CONFIG: 3, STATIC_BROKER_CONFIG: 4, DEFAULT_CONFIG: 5 });
/** Kafka's ConfigEntry.ConfigType numbers, by our schema's kinds. */
const configTypeNumber = Object.freeze({ boolean: 1, enum: 2, int: 3, long: 5, double: 6, list: 7 });

type Failure = { readonly failed: true; readonly errorCode: number; readonly errorMessage: string };
type Item = { errorCode: number; errorMessage: string | null };

const failureOf = (err: unknown): Failure =>
  err instanceof KactusError ? { failed: true, errorCode: err.code, errorMessage: err.message } : { failed: true, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: 'the admin call failed' };

/** One admin command through `/broker`, held to brokerProtocol; a failure of the whole call as data. */
export async function askAdmin<R>(deps: HandlerDeps, command: Record<string, unknown> & { type: string }, replyType: string): Promise<R | Failure> {
  try {
    const reply = await deps.node.askAsClient<unknown, { type?: unknown; errorCode?: unknown; errorMessage?: unknown }>('/broker', (replyTo) => ({ type: 'Admin', command, replyTo }), { timeoutMs: kafkaGatewayAskTimeoutMs, caller: deps.caller });
    if (reply?.type === replyType) return reply as R;
    const errorCode = typeof reply?.errorCode === 'number' ? reply.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR;
    return { failed: true, errorCode, errorMessage: typeof reply?.errorMessage === 'string' ? reply.errorMessage : `${command.type} failed` };
  } catch (err) {
    return failureOf(err);
  }
}

export const isFailure = (value: unknown): value is Failure => typeof value === 'object' && value !== null && (value as Failure).failed === true;

/**
 * Sends the items of a command in two commands: those naming no internal topic, and those that do (which the
 * broker's guard answers). `results(reply, count)` gives one result per item sent, in order; a failed call
 * gives every one of its items the failure. Returns the results in the items' order.
 */
async function askSplit<T, R>(
  deps: HandlerDeps,
  items: readonly T[],
  isInternal: (item: T) => boolean,
  command: (items: T[]) => Record<string, unknown> & { type: string },
  replyType: string,
  results: (reply: R) => readonly unknown[],
): Promise<(unknown | Failure)[]> {
  const out = new Array<unknown | Failure>(items.length);
  const groups: number[][] = [[], []];
  items.forEach((item, i) => groups[isInternal(item) ? 1 : 0]!.push(i));
  await Promise.all(
    groups
      .filter((g) => g.length > 0)
      .map(async (indexes) => {
        const reply = await askAdmin<R>(deps, command(indexes.map((i) => items[i]!)), replyType);
        const answered = isFailure(reply) ? [] : results(reply);
        indexes.forEach((itemIndex, k) => {
          out[itemIndex] = isFailure(reply) ? reply : (answered[k] ?? { failed: true, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: 'no answer for this item' });
        });
      }),
  );
  return out;
}

const internal = (name: unknown): boolean => typeof name === 'string' && internalTopics.has(name);

/** A name the native validators accept (longer ones cannot name anything: Kafka's topic names stop at 249). */
const nameFits = (name: string): boolean => name.length <= messageLimits.nameCharsMax;

/** Why a CreateTopics item cannot go to the controller as it is, in Kafka's code; null when it can. */
export function createTopicRefusal(t: KafkaCreatableTopic): Item | null {
  if (!nameFits(t.name)) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: `Topic name is longer than ${messageLimits.nameCharsMax} characters` };
  if (t.numPartitions < -1) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Number of partitions was set to an invalid non-positive value (${t.numPartitions}).` };
  if (t.replicationFactor < -1) return { errorCode: ErrorCode.INVALID_REPLICATION_FACTOR, errorMessage: `Replication factor must be larger than 0, or -1 to use the default value (got ${t.replicationFactor}).` };
  if (t.assignments.some((a) => a.partitionIndex < 0 || a.brokerIds.some((b) => b < 0))) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: 'A manual assignment names a negative partition or broker id' };
  const nullValued = t.configs.find((c) => c.value === null);
  if (nullValued !== undefined) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Null value not supported for topic configs: ${nullValued.name}` };
  const tooLong = t.configs.find((c) => !nameFits(c.name) || (c.value ?? '').length > messageLimits.configValueCharsMax);
  if (tooLong !== undefined) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Config ${tooLong.name.slice(0, 64)} is too long` };
  return null;
}

// ---------------------------------------------------------------- CreateTopics

type KafkaCreatableTopic = { name: string; numPartitions: number; replicationFactor: number; assignments: { partitionIndex: number; brokerIds: number[] }[]; configs: { name: string; value: string | null }[] };

/** The created topic's configs as CreateTopics v5+ lists them: every config, the request's overrides first in force. */
export function createdTopicConfigs(configs: readonly { name: string; value: string | null }[]): KafkaValue[] {
  const overrides = new Map(configs.map((c) => [c.name, c.value]));
  return [...topicConfigSchema.values()].map((d) => {
    const override = overrides.get(d.name);
    return { name: d.name, value: override ?? d.defaultValue, readOnly: false, configSource: override === undefined || override === null ? configSourceNumber.DEFAULT_CONFIG : configSourceNumber.TOPIC_CONFIG, isSensitive: false };
  });
}

async function createTopics(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const topics = body.topics as KafkaCreatableTopic[];
  const validateOnly = body.validateOnly === true;
  const local = topics.map(createTopicRefusal);
  const toSend = topics.filter((_, i) => local[i] === null);
  const answers = await askSplit<KafkaCreatableTopic, CreateTopicsReply>(
    deps,
    toSend,
    (t) => internal(t.name),
    (ts) => ({
      type: 'CreateTopics',
      validateOnly,
      topics: ts.map((t) => ({
        name: t.name,
        numPartitions: t.numPartitions,
        replicationFactor: t.replicationFactor,
        assignments: t.assignments.length === 0 ? null : t.assignments.map((a) => ({ partition: a.partitionIndex, brokerIds: a.brokerIds })),
        configs: t.configs.map((c) => ({ name: c.name, value: c.value as string })),
      })),
    }),
    'CreateTopicsReply',
    (reply) => reply.topics,
  );
  let sent = 0;
  return {
    throttleTimeMs: 0,
    topics: topics.map((t, i) => {
      const refused = local[i] ?? null;
      const answer = refused === null ? (answers[sent++] as CreateTopicsReply['topics'][number] | Failure) : null;
      const error: Item = refused ?? (answer as Item);
      const ok = error.errorCode === ErrorCode.NONE;
      const created = ok ? (answer as CreateTopicsReply['topics'][number]) : null;
      return {
        name: t.name,
        topicId: created?.topicId ?? zeroUuid,
        errorCode: error.errorCode,
        errorMessage: ok ? null : error.errorMessage,
        numPartitions: created?.numPartitions ?? -1,
        replicationFactor: created?.replicationFactor ?? -1,
        configs: ok ? createdTopicConfigs(t.configs) : null,
      };
    }),
  };
}

// ---------------------------------------------------------------- DeleteTopics

type DeleteTarget = { name: string | null; topicId: string };

/** Which topics a DeleteTopics names: by name (v0-5, or v6 with a name), or by id (v6). */
export function deleteTopicsTargets(version: number, body: KafkaValue): DeleteTarget[] {
  if (version < 6) return (body.topicNames as string[]).map((name) => ({ name, topicId: zeroUuid }));
  return (body.topics as DeleteTarget[]).map((t) => ({ name: t.name, topicId: t.topicId }));
}

async function deleteTopics(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const targets = deleteTopicsTargets(version, body);
  // Ids (v6) are resolved through this broker's metadata; Kafka answers UNKNOWN_TOPIC_ID for an id it does not know.
  const namesById = new Map<string, string>();
  if (targets.some((t) => t.name === null)) {
    try {
      const metadata = await deps.node.askAsClient<unknown, MetadataResponse>('/broker', (replyTo) => ({ type: 'Metadata', topics: null, allowAutoTopicCreation: false, replyTo }), { timeoutMs: kafkaGatewayAskTimeoutMs, caller: deps.caller });
      for (const t of metadata.topics) if (t.topicId !== null && t.errorCode === ErrorCode.NONE) namesById.set(t.topicId, t.name);
    } catch {
      // Left unresolved: those items get UNKNOWN_TOPIC_ID; names are deleted as asked.
    }
  }
  const local = targets.map((t): Item | null => {
    if (t.name !== null && t.topicId !== zeroUuid) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'You may not specify both topic name and topic id.' };
    if (t.name === null && !namesById.has(t.topicId)) return { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, errorMessage: `Topic id ${t.topicId} does not exist` };
    if (t.name !== null && !nameFits(t.name)) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'This server does not host this topic' };
    return null;
  });
  const names = targets.flatMap((t, i) => (local[i] === null ? [t.name ?? namesById.get(t.topicId)!] : []));
  const answers = await askSplit<string, DeleteTopicsReply>(deps, names, internal, (ns) => ({ type: 'DeleteTopics', topics: ns }), 'DeleteTopicsReply', (reply) => reply.topics);
  let sent = 0;
  return {
    throttleTimeMs: 0,
    responses: targets.map((t, i) => {
      const refused = local[i] ?? null;
      if (refused !== null) return { name: version >= 6 ? t.name : (t.name ?? ''), topicId: t.topicId, ...refused };
      const name = names[sent]!;
      const answer = answers[sent++] as Item & { topicId?: string | null };
      return { name, topicId: t.topicId !== zeroUuid ? t.topicId : (answer.topicId ?? zeroUuid), errorCode: answer.errorCode, errorMessage: answer.errorCode === ErrorCode.NONE ? null : answer.errorMessage };
    }),
  };
}

// ---------------------------------------------------------------- CreatePartitions

type KafkaPartitionsRequest = { name: string; count: number; assignments: { brokerIds: number[] }[] | null };

/** Why a CreatePartitions item cannot go to the controller as it is, in Kafka's code; null when it can. */
export function createPartitionsRefusal(t: KafkaPartitionsRequest): Item | null {
  if (!nameFits(t.name)) return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'This server does not host this topic' };
  if (t.count < 0) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Partition count ${t.count} is negative` };
  if (t.assignments !== null && t.assignments.some((a) => a.brokerIds.some((b) => b < 0))) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: 'An assignment names a negative broker id' };
  return null;
}

async function createPartitions(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const topics = body.topics as KafkaPartitionsRequest[];
  const local = topics.map(createPartitionsRefusal);
  const answers = await askSplit<KafkaPartitionsRequest, CreatePartitionsReply>(
    deps,
    topics.filter((_, i) => local[i] === null),
    (t) => internal(t.name),
    (ts) => ({ type: 'CreatePartitions', validateOnly: body.validateOnly === true, topics: ts.map((t) => ({ name: t.name, count: t.count, assignments: t.assignments === null ? null : t.assignments.map((a) => a.brokerIds) })) }),
    'CreatePartitionsReply',
    (reply) => reply.topics,
  );
  let sent = 0;
  return {
    throttleTimeMs: 0,
    results: topics.map((t, i) => {
      const error = local[i] ?? (answers[sent++] as Item);
      return { name: t.name, errorCode: error.errorCode, errorMessage: error.errorMessage };
    }),
  };
}

// ---------------------------------------------------------------- configs

type NativeResourceType = 'topic' | 'broker';

/** Kafka's resource type number as ours, or null for one we do not serve. */
export function nativeResourceType(kafkaType: number): NativeResourceType | null {
  return kafkaType === kafkaResourceType.topic ? 'topic' : kafkaType === kafkaResourceType.broker ? 'broker' : null;
}

/** A resource name longer than any the native side holds: no such topic, or not a broker id. */
const resourceNameRefusal = (kafkaType: number): Item =>
  kafkaType === kafkaResourceType.topic ? { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'This server does not host this topic' } : { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'The broker config resource is not a broker id' };

/** Why a resource of an alter cannot go to the controller as it is; null when it can. */
function alterResourceRefusal(r: KafkaAlterResource): Item | null {
  if (!nameFits(r.resourceName)) return resourceNameRefusal(r.resourceType);
  const tooLong = r.configs.find((c) => !nameFits(c.name) || (c.value ?? '').length > messageLimits.configValueCharsMax);
  return tooLong === undefined ? null : { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Config ${tooLong.name.slice(0, 64)} is too long` };
}

const unsupportedResource = (kafkaType: number): Item => ({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unsupported resource type: ${kafkaType}` });

type DescribedResource = DescribeConfigsReply['results'][number];

/** One native DescribeConfigs result as Kafka's, at `version`. */
export function describeConfigsResult(kafkaType: number, result: DescribedResource | Failure, options: { includeSynonyms: boolean; includeDocumentation: boolean }): KafkaValue {
  const schema = kafkaType === kafkaResourceType.topic ? topicConfigSchema : brokerConfigSchema;
  const failed = isFailure(result) || result.errorCode !== ErrorCode.NONE;
  const configs = failed
    ? []
    : (result as DescribedResource).configs.map((c) => {
        const definition = schema.get(c.name);
        const source = configSourceNumber[c.source];
        const synonyms = !options.includeSynonyms
          ? []
          : [
              { name: c.name, value: c.value, source },
              ...(source === configSourceNumber.DEFAULT_CONFIG || definition === undefined ? [] : [{ name: c.name, value: definition.defaultValue, source: configSourceNumber.DEFAULT_CONFIG }]),
            ];
        return {
          name: c.name,
          value: c.value,
          readOnly: c.readOnly,
          isDefault: c.isDefault,
          configSource: source,
          isSensitive: false,
          synonyms,
          configType: definition === undefined ? 0 : configTypeNumber[definition.type.kind],
          documentation: options.includeDocumentation ? c.documentation : null,
        };
      });
  const error: Item = result;
  return { errorCode: error.errorCode, errorMessage: error.errorCode === ErrorCode.NONE ? null : error.errorMessage, resourceType: kafkaType, resourceName: isFailure(result) ? '' : result.resourceName, configs };
}

type KafkaDescribeResource = { resourceType: number; resourceName: string; configurationKeys: string[] | null };

async function describeConfigs(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const resources = body.resources as KafkaDescribeResource[];
  const asked = (r: KafkaDescribeResource) => nativeResourceType(r.resourceType) !== null && nameFits(r.resourceName);
  const served = resources.filter(asked);
  const reply = served.length === 0 ? null : await askAdmin<DescribeConfigsReply>(deps, { type: 'DescribeConfigs', resources: served.map((r) => ({ resourceType: nativeResourceType(r.resourceType)!, resourceName: r.resourceName, configNames: r.configurationKeys === null ? null : r.configurationKeys.filter(nameFits) })) }, 'DescribeConfigsReply');
  const options = { includeSynonyms: version >= 1 && body.includeSynonyms === true, includeDocumentation: version >= 3 && body.includeDocumentation === true };
  let sent = 0;
  return {
    throttleTimeMs: 0,
    results: resources.map((r) => {
      if (nativeResourceType(r.resourceType) === null) return { ...unsupportedResource(r.resourceType), resourceType: r.resourceType, resourceName: r.resourceName, configs: [] };
      if (!asked(r)) return { ...resourceNameRefusal(r.resourceType), resourceType: r.resourceType, resourceName: r.resourceName, configs: [] };
      const result = isFailure(reply) ? reply : reply!.results[sent] ?? { failed: true as const, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: 'no answer for this resource' };
      sent += 1;
      return { ...describeConfigsResult(r.resourceType, result, options), resourceName: r.resourceName };
    }),
  };
}

type KafkaAlterResource = { resourceType: number; resourceName: string; configs: { name: string; value: string | null; configOperation?: number }[] };
type NativeAlterResource = { resourceType: NativeResourceType; resourceName: string; ops: AlterConfigOp[] };

/** The legacy AlterConfigs of one resource as SET/DELETE ops: what it names is set, every other config of the schema deleted. */
export function legacyAlterOps(resourceType: NativeResourceType, configs: readonly { name: string; value: string | null }[]): AlterConfigOp[] | Item {
  const nullValued = configs.find((c) => c.value === null);
  if (nullValued !== undefined) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Null value not supported for : ${nullValued.name}` };
  const named = new Set(configs.map((c) => c.name));
  const schema = resourceType === 'topic' ? topicConfigSchema : brokerConfigSchema;
  return [...configs.map((c): AlterConfigOp => ({ name: c.name, op: 'SET', value: c.value })), ...[...schema.keys()].filter((name) => !named.has(name)).map((name): AlterConfigOp => ({ name, op: 'DELETE', value: null }))];
}

/** Kafka's incremental op numbers. */
const incrementalOp = Object.freeze({ SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 });

/**
 * One resource's incremental ops as SET/DELETE, given the current values of the list configs it appends to or
 * subtracts from (`current`, by name). An op we cannot serve is the resource's error.
 */
export function incrementalAlterOps(resourceType: NativeResourceType, configs: readonly { name: string; value: string | null; configOperation: number }[], current: ReadonlyMap<string, string>): AlterConfigOp[] | Item {
  const schema = resourceType === 'topic' ? topicConfigSchema : brokerConfigSchema;
  const ops: AlterConfigOp[] = [];
  for (const c of configs) {
    switch (c.configOperation) {
      case incrementalOp.SET:
        ops.push({ name: c.name, op: 'SET', value: c.value });
        break;
      case incrementalOp.DELETE:
        ops.push({ name: c.name, op: 'DELETE', value: null });
        break;
      case incrementalOp.APPEND:
      case incrementalOp.SUBTRACT: {
        const definition = schema.get(c.name);
        if (definition === undefined) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Unknown ${resourceType} config name: ${c.name}` };
        if (definition.type.kind !== 'list') return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Config value ${c.configOperation === incrementalOp.APPEND ? 'append' : 'subtract'} is not allowed for config key: ${c.name}` };
        if (c.value === null) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Null value not supported for : ${c.name}` };
        const items = (current.get(c.name) ?? definition.defaultValue).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
        const given = c.value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
        const next = c.configOperation === incrementalOp.APPEND ? [...items, ...given.filter((g) => !items.includes(g))] : items.filter((item) => !given.includes(item));
        ops.push(next.length === 0 ? { name: c.name, op: 'SET', value: '' } : { name: c.name, op: 'SET', value: next.join(',') });
        break;
      }
      default:
        return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown config operation ${c.configOperation} for ${c.name}` };
    }
  }
  return ops;
}

/** Sends native AlterConfigs for the resources that translated; answers the rest with their own error. */
async function alterConfigs(body: KafkaValue, deps: HandlerDeps, translated: readonly (NativeAlterResource | Item)[], kafkaResources: readonly KafkaAlterResource[]): Promise<KafkaValue> {
  const isNative = (r: NativeAlterResource | Item): r is NativeAlterResource => 'ops' in r;
  const toSend = translated.filter(isNative);
  const answers = await askSplit<NativeAlterResource, AlterConfigsReply>(
    deps,
    toSend,
    (r) => internal(r.resourceName),
    (rs) => ({ type: 'AlterConfigs', validateOnly: body.validateOnly === true, resources: rs }),
    'AlterConfigsReply',
    (reply) => reply.results,
  );
  let sent = 0;
  return {
    throttleTimeMs: 0,
    responses: kafkaResources.map((r, i) => {
      const t = translated[i]!;
      const error = isNative(t) ? (answers[sent++] as Item) : t;
      return { errorCode: error.errorCode, errorMessage: error.errorCode === ErrorCode.NONE ? null : error.errorMessage, resourceType: r.resourceType, resourceName: r.resourceName };
    }),
  };
}

async function legacyAlterConfigs(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const resources = body.resources as KafkaAlterResource[];
  const translated = resources.map((r): NativeAlterResource | Item => {
    const type = nativeResourceType(r.resourceType);
    if (type === null) return unsupportedResource(r.resourceType);
    const refused = alterResourceRefusal(r);
    if (refused !== null) return refused;
    const ops = legacyAlterOps(type, r.configs);
    return Array.isArray(ops) ? { resourceType: type, resourceName: r.resourceName, ops } : ops;
  });
  return alterConfigs(body, deps, translated, resources);
}

async function incrementalAlterConfigs(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const resources = body.resources as (KafkaAlterResource & { configs: { name: string; value: string | null; configOperation: number }[] })[];
  const needsCurrent = (r: (typeof resources)[number]) => nativeResourceType(r.resourceType) !== null && alterResourceRefusal(r) === null && r.configs.some((c) => c.configOperation === incrementalOp.APPEND || c.configOperation === incrementalOp.SUBTRACT);
  const lookups = resources.flatMap((r, index) => (needsCurrent(r) ? [index] : []));
  const current = new Map<number, ReadonlyMap<string, string> | Failure>();
  if (lookups.length > 0) {
    const reply = await askAdmin<DescribeConfigsReply>(deps, { type: 'DescribeConfigs', resources: lookups.map((i) => ({ resourceType: nativeResourceType(resources[i]!.resourceType)!, resourceName: resources[i]!.resourceName, configNames: resources[i]!.configs.map((c) => c.name) })) }, 'DescribeConfigsReply');
    lookups.forEach((index, k) => {
      const result = isFailure(reply) ? reply : reply.results[k];
      if (result === undefined) current.set(index, { failed: true, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: 'no answer for this resource' });
      else if (isFailure(result) || result.errorCode !== ErrorCode.NONE) current.set(index, isFailure(result) ? result : { failed: true, errorCode: result.errorCode, errorMessage: result.errorMessage ?? '' });
      else current.set(index, new Map(result.configs.map((c) => [c.name, c.value])));
    });
  }
  const translated = resources.map((r, i): NativeAlterResource | Item => {
    const type = nativeResourceType(r.resourceType);
    if (type === null) return unsupportedResource(r.resourceType);
    const refused = alterResourceRefusal(r);
    if (refused !== null) return refused;
    const values = current.get(i) ?? new Map<string, string>();
    if (isFailure(values)) return values;
    const ops = incrementalAlterOps(type, r.configs, values);
    return Array.isArray(ops) ? { resourceType: type, resourceName: r.resourceName, ops } : ops;
  });
  return alterConfigs(body, deps, translated, resources);
}

// ---------------------------------------------------------------- ElectLeaders

const noSuchPartition: Item = { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'This server does not host this topic-partition' };
/** A topic-partition the native validators refuse (negative index, over-long name): no such partition, for Kafka. */
const partitionFits = (topic: string, partition: number): boolean => nameFits(topic) && partition >= 0;

async function electLeaders(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const electionTypeNumber = version >= 1 ? (body.electionType as number) : 0;
  const requested = body.topicPartitions as { topic: string; partitions: number[] }[] | null;
  const perPartition = (error: Item) => (requested ?? []).map((t) => ({ topic: t.topic, partitionResult: t.partitions.map((p) => ({ partitionId: p, errorCode: error.errorCode, errorMessage: error.errorMessage })) }));
  const wholeFailure = (error: Item): KafkaValue => ({ throttleTimeMs: 0, errorCode: version >= 1 ? error.errorCode : 0, replicaElectionResults: version >= 1 ? [] : perPartition(error) });
  if (electionTypeNumber !== 0 && electionTypeNumber !== 1) return wholeFailure({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown election type ${electionTypeNumber}` });
  const asked = requested === null ? null : requested.map((t) => ({ topic: t.topic, partitions: t.partitions.filter((p) => partitionFits(t.topic, p)) })).filter((t) => t.partitions.length > 0);
  const reply = asked !== null && asked.length === 0 ? ({ type: 'ElectLeadersReply', results: [] } as ElectLeadersReply) : await askAdmin<ElectLeadersReply>(deps, { type: 'ElectLeaders', electionType: electionTypeNumber === 0 ? 'PREFERRED' : 'UNCLEAN', topicPartitions: asked }, 'ElectLeadersReply');
  if (isFailure(reply)) return wholeFailure(reply);
  const byTopic = new Map<string, KafkaValue[]>();
  for (const r of reply.results) {
    const list = byTopic.get(r.topic) ?? [];
    for (const p of r.partitions) list.push({ partitionId: p.partition, errorCode: p.errorCode, errorMessage: p.errorCode === 0 ? null : p.errorMessage });
    byTopic.set(r.topic, list);
  }
  for (const t of requested ?? []) {
    for (const p of t.partitions) {
      if (partitionFits(t.topic, p)) continue;
      const list = byTopic.get(t.topic) ?? [];
      list.push({ partitionId: p, ...noSuchPartition });
      byTopic.set(t.topic, list);
    }
  }
  return { throttleTimeMs: 0, errorCode: 0, replicaElectionResults: [...byTopic].map(([topic, partitionResult]) => ({ topic, partitionResult })) };
}

// ---------------------------------------------------------------- reassignments

/** Why one partition of an AlterPartitionReassignments cannot go to the controller as it is; null when it can. */
function reassignmentRefusal(topic: string, partition: number, replicas: number[] | null): Item | null {
  if (!partitionFits(topic, partition)) return noSuchPartition;
  if (replicas !== null && (replicas.length > reassignmentReplicasMax || replicas.some((b) => b < 0))) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `The target replicas must be at most ${reassignmentReplicasMax} non-negative broker ids` };
  return null;
}

async function alterPartitionReassignments(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const topics = body.topics as { name: string; partitions: { partitionIndex: number; replicas: number[] | null }[] }[];
  const flat = topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, replicas: p.replicas, refused: reassignmentRefusal(t.name, p.partitionIndex, p.replicas) })));
  const toSend = flat.filter((r) => r.refused === null).map(({ topic, partition, replicas }) => ({ topic, partition, replicas }));
  const reply = toSend.length === 0 ? null : await askAdmin<AlterPartitionReassignmentsReply>(deps, { type: 'AlterPartitionReassignments', reassignments: toSend }, 'AlterPartitionReassignmentsReply');
  if (isFailure(reply)) return { throttleTimeMs: 0, errorCode: reply.errorCode, errorMessage: reply.errorMessage, responses: [] };
  let k = 0;
  let sent = 0;
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    responses: topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        const item = flat[k++]!;
        const result = item.refused ?? reply?.results[sent++] ?? { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: 'no answer for this partition' };
        return { partitionIndex: p.partitionIndex, errorCode: result.errorCode, errorMessage: result.errorCode === 0 ? null : result.errorMessage };
      }),
    })),
  };
}

async function listPartitionReassignments(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const topics = body.topics as { name: string; partitionIndexes: number[] }[] | null;
  // Partitions that cannot exist are left out of the answer, as unknown ones are (Kafka's rule).
  const asked = topics === null ? null : topics.map((t) => ({ topic: t.name, partitions: t.partitionIndexes.filter((p) => partitionFits(t.name, p)) })).filter((t) => t.partitions.length > 0);
  const reply = asked !== null && asked.length === 0 ? ({ type: 'ListPartitionReassignmentsReply', reassignments: [] } as ListPartitionReassignmentsReply) : await askAdmin<ListPartitionReassignmentsReply>(deps, { type: 'ListPartitionReassignments', topics: asked }, 'ListPartitionReassignmentsReply');
  if (isFailure(reply)) return { throttleTimeMs: 0, errorCode: reply.errorCode, errorMessage: reply.errorMessage, topics: [] };
  const byTopic = new Map<string, KafkaValue[]>();
  for (const r of reply.reassignments) {
    const list = byTopic.get(r.topic) ?? [];
    list.push({ partitionIndex: r.partition, replicas: [...r.replicas], addingReplicas: [...r.addingReplicas], removingReplicas: [...r.removingReplicas] });
    byTopic.set(r.topic, list);
  }
  return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) };
}

// ---------------------------------------------------------------- DescribeCluster

/** Kafka's DescribeClusterRequest.EndpointType: 1 brokers, 2 controllers. */
const endpointTypeBrokers = 1;

export function describeClusterBody(metadata: MetadataResponse, listenerName: string): KafkaValue {
  const brokers = metadata.brokers.flatMap((b) => {
    const endpoint = b.listeners.find((l) => l.name === listenerName);
    return endpoint === undefined ? [] : [{ brokerId: b.brokerId, host: endpoint.host, port: endpoint.port, rack: b.rack }];
  });
  return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, endpointType: endpointTypeBrokers, clusterId: '', controllerId: metadata.controllerId, brokers, clusterAuthorizedOperations: authorizedOperationsOmitted };
}

async function describeCluster(version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const endpointType = version >= 1 ? (body.endpointType as number) : endpointTypeBrokers;
  const empty = { throttleTimeMs: 0, endpointType, clusterId: '', controllerId: -1, brokers: [], clusterAuthorizedOperations: authorizedOperationsOmitted };
  if (endpointType !== endpointTypeBrokers) return { ...empty, errorCode: ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, errorMessage: `Endpoint type ${endpointType} is not served by a broker` };
  try {
    const metadata = await deps.node.askAsClient<unknown, MetadataResponse>('/broker', (replyTo) => ({ type: 'Metadata', topics: [], allowAutoTopicCreation: false, replyTo }), { timeoutMs: kafkaGatewayAskTimeoutMs, caller: deps.caller });
    return describeClusterBody(metadata, deps.listenerName);
  } catch (err) {
    const failure = failureOf(err);
    return { ...empty, errorCode: failure.errorCode, errorMessage: failure.errorMessage };
  }
}

// ---------------------------------------------------------------- DeleteRecords

/** Kafka's longest topic name (the native DeleteRecords validator's bound): a longer one names no partition. */
const kafkaTopicNameCharsMax = 249;

type KafkaDeleteRecordsTopic = { name: string; partitions: { partitionIndex: number; offset: number }[] };
type DeleteRecordsItem = { topic: string; partition: number; offset: number; refused: Item | null };

/** The partitions of a DeleteRecords in request order, each with the refusal it gets here (null: ask the broker). */
export function deleteRecordsItems(body: KafkaValue): DeleteRecordsItem[] {
  const topics = body.topics as KafkaDeleteRecordsTopic[];
  const count = topics.reduce((n, t) => n + t.partitions.length, 0);
  return topics.flatMap((t) =>
    t.partitions.map((p): DeleteRecordsItem => {
      let refused: Item | null = null;
      if (count > deleteRecordsLimits.partitionsMax) refused = { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `A DeleteRecords names at most ${deleteRecordsLimits.partitionsMax} partitions` };
      else if (t.name.length === 0 || t.name.length > kafkaTopicNameCharsMax || p.partitionIndex < 0) refused = noSuchPartition;
      else if (p.offset < -1 || !Number.isSafeInteger(p.offset)) refused = { errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, errorMessage: `The offset ${p.offset} for partition ${t.name}-${p.partitionIndex} is not valid` };
      return { topic: t.name, partition: p.partitionIndex, offset: p.offset, refused };
    }),
  );
}

/** The Kafka response: one result per asked partition, grouped under its topic in request order. */
export function deleteRecordsBody(items: readonly DeleteRecordsItem[], results: readonly { errorCode: number; lowWatermark: number }[]): KafkaValue {
  const topics: { name: string; partitions: KafkaValue[] }[] = [];
  items.forEach((item, i) => {
    const r = results[i]!;
    let topic = topics.at(-1);
    if (topic === undefined || topic.name !== item.topic) {
      topic = { name: item.topic, partitions: [] };
      topics.push(topic);
    }
    topic.partitions.push({ partitionIndex: item.partition, lowWatermark: r.errorCode === ErrorCode.NONE ? r.lowWatermark : -1, errorCode: r.errorCode });
  });
  return { throttleTimeMs: 0, topics };
}

async function deleteRecords(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const items = deleteRecordsItems(body);
  const timeoutMs = Math.min(deleteRecordsLimits.timeoutMsMax, Math.max(0, body.timeoutMs as number));
  const results: { errorCode: number; lowWatermark: number }[] = items.map((item) => ({ errorCode: item.refused?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR, lowWatermark: -1 }));
  // Two native requests at most: the partitions of internal topics alone, so the broker's guard refuses only those.
  const groups: number[][] = [[], []];
  items.forEach((item, i) => {
    if (item.refused === null) groups[internal(item.topic) ? 1 : 0]!.push(i);
  });
  await Promise.all(
    groups
      .filter((g) => g.length > 0)
      .map(async (indexes) => {
        try {
          const reply = await deps.node.askAsClient<DeleteRecords, DeleteRecordsReply | { type: string; errorCode?: unknown }>(
            '/broker',
            (replyTo) => ({ type: 'DeleteRecords', partitions: indexes.map((i) => ({ topic: items[i]!.topic, partition: items[i]!.partition, offset: items[i]!.offset })), timeoutMs, replyTo }),
            { timeoutMs: timeoutMs + kafkaGatewayAskTimeoutMs, caller: deps.caller },
          );
          const answered: readonly DeleteRecordsPartitionResult[] = reply.type === 'DeleteRecordsReply' ? (reply as DeleteRecordsReply).partitions : [];
          const wholeCode = typeof (reply as { errorCode?: unknown }).errorCode === 'number' ? ((reply as { errorCode: number }).errorCode) : ErrorCode.UNKNOWN_SERVER_ERROR;
          indexes.forEach((itemIndex, k) => {
            const r = answered[k];
            results[itemIndex] = r === undefined || r.topic !== items[itemIndex]!.topic || r.partition !== items[itemIndex]!.partition ? { errorCode: wholeCode, lowWatermark: -1 } : { errorCode: r.errorCode, lowWatermark: r.lowWatermark };
          });
        } catch (err) {
          const { errorCode } = failureOf(err);
          for (const i of indexes) results[i] = { errorCode, lowWatermark: -1 };
        }
      }),
  );
  return deleteRecordsBody(items, results);
}

// ---------------------------------------------------------------- the table

export const served = (minVersion: number, maxVersion: number, translate: (version: number, body: KafkaValue, deps: HandlerDeps) => Promise<KafkaValue>) => ({
  minVersion,
  maxVersion,
  handle: ({ version, body }: { version: number; body: KafkaValue }, deps: HandlerDeps) => translate(version, body, deps),
});

/**
 * Versions: from 0 (the oldest any client sends; KafkaJS 2.x and librdkafka pick the newest both sides know)
 * to the newest in shared/kafka-protocol whose every field is answered.
 */
export const adminApis: ServedApis = {
  CreateTopics: served(0, 7, createTopics),
  DeleteTopics: served(0, 6, deleteTopics),
  CreatePartitions: served(0, 3, createPartitions),
  DescribeConfigs: served(0, 4, describeConfigs),
  AlterConfigs: served(0, 2, legacyAlterConfigs),
  IncrementalAlterConfigs: served(0, 1, incrementalAlterConfigs),
  ElectLeaders: served(0, 2, electLeaders),
  AlterPartitionReassignments: served(0, 0, alterPartitionReassignments),
  ListPartitionReassignments: served(0, 0, listPartitionReassignments),
  DescribeCluster: served(0, 1, describeCluster),
  DeleteRecords: served(0, 2, deleteRecords),
};
