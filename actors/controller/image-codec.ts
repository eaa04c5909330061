/**
 * The metadata image as plain data, and back: for Raft snapshots (persisted
 * and sent to lagging voters) and for FetchMetadata replies that carry a
 * snapshot to a broker.
 *
 * Owns: `SerializedImage`, `serializeImage`, `deserializeImage`,
 * `encodeImage`/`decodeImage` (msgpack bytes of the serialized form).
 *
 * Why explicit: `MetadataImage` holds Maps (numeric broker ids, topic names
 * from users). The wire codec decodes msgpack maps as plain objects
 * (useRecords: false), which would turn broker ids into strings and make a
 * topic named `__proto__` dangerous. So every Map becomes an array of
 * entries here, in a stable order, and `deserializeImage` validates the
 * untrusted shape (a snapshot may come from a peer) before it rebuilds the
 * frozen image. It checks the same partition invariants replay does (the one
 * `partitionProblem`), but reports a failure as `Invalid`, never as a throw.
 *
 * Imports: the metadata image types and protocol/validate.ts; no runtime.
 */
import type { AclEntry } from '../security/acl-authorizer.ts';
import { aclLimits } from './metadata/acls.ts';
import { Packr } from 'msgpackr';
import {
  array,
  boolean,
  bytes,
  int,
  invalid,
  isInvalid,
  nullable,
  object,
  oneOf,
  optional,
  string,
  type Invalid,
} from '../../protocol/validate.ts';
import type { BrokerRegistration, MetadataImage, PartitionState, ScramCredentialImage, ScramMechanismName, TopicImage } from './metadata/index.ts';
import { noLeader, partitionProblem } from './metadata/index.ts';

/** Bounds on a serialized image (a snapshot from the network is untrusted). */
export const imageLimits = {
  brokersMax: 10_000,
  topicsMax: 100_000,
  partitionsPerTopicMax: 100_000,
  replicasPerPartitionMax: 1_000,
  configsPerTopicMax: 1_000,
  nameCharsMax: 1_024,
  listenersPerBrokerMax: 16,
  /** SCRAM credentials (a user and a mechanism each). */
  scramCredentialsMax: 200_000,
  aclsMax: aclLimits.aclsMax,
  scramKeyBytesMax: 1_024,
} as const;

export type SerializedPartition = {
  partition: number;
  replicas: number[];
  isr: number[];
  leader: number;
  leaderEpoch: number;
  partitionEpoch: number;
  /** Absent in snapshots written before reassignment existed: read as []. */
  addingReplicas?: number[];
  removingReplicas?: number[];
};

export type SerializedTopic = {
  name: string;
  topicId: string;
  partitions: SerializedPartition[];
  /** [name, value] pairs, sorted by name. */
  configs: [string, string][];
};

export type SerializedBroker = Omit<BrokerRegistration, 'listeners'> & { listeners?: { name: string; host: string; port: number }[] };

export type SerializedImage = {
  appliedOffset: number;
  brokerEpochMax: number;
  topicsCreatedCount: number;
  nextProducerId: number;
  /** Sorted by broker id. */
  brokers: SerializedBroker[];
  /** Sorted by topic id. */
  topics: SerializedTopic[];
  /** [resource name, [[config name, value], ...]] sorted by resource then config name; absent in older snapshots. */
  brokerConfigs?: [string, [string, string][]][];
  /** Sorted by user then mechanism; absent in older snapshots. */
  scramCredentials?: { name: string; mechanism: ScramMechanismName; salt: Uint8Array; storedKey: Uint8Array; serverKey: Uint8Array; iterations: number }[];
  /** Sorted by id; absent in older snapshots. */
  acls?: ({ id: string } & AclEntry)[];
  aclsCreatedCount?: number;
};

export function serializeImage(image: MetadataImage): SerializedImage {
  const brokers = [...image.brokers.values()]
    .sort((a, b) => a.brokerId - b.brokerId)
    .map((b) => ({ brokerId: b.brokerId, incarnationId: b.incarnationId, brokerEpoch: b.brokerEpoch, host: b.host, port: b.port, rack: b.rack, fenced: b.fenced, listeners: b.listeners.map((l) => ({ ...l })) }));
  const topics = [...image.topicsById.values()]
    .sort((a, b) => (a.topicId < b.topicId ? -1 : a.topicId > b.topicId ? 1 : 0))
    .map((t) => ({
      name: t.name,
      topicId: t.topicId,
      partitions: t.partitions.map((p) => ({
        partition: p.partition,
        replicas: [...p.replicas],
        isr: [...p.isr],
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        addingReplicas: [...p.addingReplicas],
        removingReplicas: [...p.removingReplicas],
      })),
      configs: [...t.configs.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    }));
  return {
    appliedOffset: image.appliedOffset,
    brokerEpochMax: image.brokerEpochMax,
    topicsCreatedCount: image.topicsCreatedCount,
    nextProducerId: image.nextProducerId,
    brokers,
    topics,
    brokerConfigs: [...image.brokerConfigs.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([resource, configs]) => [resource, [...configs.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))]),
    scramCredentials: [...image.scramCredentials.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .flatMap(([user, byMechanism]) =>
        [...byMechanism.values()].sort((a, b) => (a.mechanism < b.mechanism ? -1 : 1)).map((c) => ({ name: user, mechanism: c.mechanism, salt: c.salt, storedKey: c.storedKey, serverKey: c.serverKey, iterations: c.iterations })),
      ),
    acls: [...image.acls.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([id, entry]) => ({ id, ...entry })),
    aclsCreatedCount: image.aclsCreatedCount,
  };
}

const safeInt = int(-1, Number.MAX_SAFE_INTEGER);
const nonNegative = int(0, Number.MAX_SAFE_INTEGER);
const brokerIdValidator = int(0, 2 ** 31 - 1);
const leaderValidator = int(noLeader, 2 ** 31 - 1);
const name = string(imageLimits.nameCharsMax);

const brokerValidator = object({
  brokerId: brokerIdValidator,
  incarnationId: name,
  brokerEpoch: nonNegative,
  host: name,
  port: int(0, 65_535),
  rack: nullable(name),
  fenced: boolean,
  listeners: optional(array(object({ name, host: name, port: int(0, 65_535) }), imageLimits.listenersPerBrokerMax), []),
});

const partitionValidator = object({
  partition: nonNegative,
  replicas: array(brokerIdValidator, imageLimits.replicasPerPartitionMax),
  isr: array(brokerIdValidator, imageLimits.replicasPerPartitionMax),
  leader: leaderValidator,
  leaderEpoch: nonNegative,
  partitionEpoch: nonNegative,
  addingReplicas: optional(array(brokerIdValidator, imageLimits.replicasPerPartitionMax), []),
  removingReplicas: optional(array(brokerIdValidator, imageLimits.replicasPerPartitionMax), []),
});

const configPairValidator = (value: unknown, path: string): [string, string] | Invalid => {
  const pair = array(name, 2)(value, path);
  if (isInvalid(pair)) return pair;
  if (pair.length !== 2) return invalid(path, 'must be a [name, value] pair');
  return [pair[0]!, pair[1]!];
};

const topicValidator = object({
  name,
  topicId: name,
  partitions: array(partitionValidator, imageLimits.partitionsPerTopicMax),
  configs: array(configPairValidator, imageLimits.configsPerTopicMax),
});

const brokerConfigsValidator = (value: unknown, path: string): [string, [string, string][]] | Invalid => {
  const pair = array((item: unknown) => item, 2)(value, path);
  if (isInvalid(pair)) return pair;
  if (pair.length !== 2) return invalid(path, 'must be a [resource, configs] pair');
  const resource = name(pair[0], `${path}[0]`);
  if (isInvalid(resource)) return resource;
  const configs = array(configPairValidator, imageLimits.configsPerTopicMax)(pair[1], `${path}[1]`);
  return isInvalid(configs) ? configs : [resource, configs];
};

const keyBytes = bytes(imageLimits.scramKeyBytesMax);
const scramCredentialValidator = object({ name, mechanism: oneOf<ScramMechanismName>('SCRAM-SHA-256', 'SCRAM-SHA-512'), salt: keyBytes, storedKey: keyBytes, serverKey: keyBytes, iterations: int(1, 2 ** 31 - 1) });

const aclCode = int(0, 127);
const aclValidator = object({ id: name, resourceType: aclCode, resourceName: name, patternType: aclCode, principal: name, host: name, operation: aclCode, permissionType: aclCode });

const imageValidator = object({
  appliedOffset: safeInt,
  brokerEpochMax: nonNegative,
  topicsCreatedCount: nonNegative,
  nextProducerId: nonNegative,
  brokers: array(brokerValidator, imageLimits.brokersMax),
  topics: array(topicValidator, imageLimits.topicsMax),
  brokerConfigs: optional(array(brokerConfigsValidator, imageLimits.brokersMax + 1), []),
  scramCredentials: optional(array(scramCredentialValidator, imageLimits.scramCredentialsMax), []),
  acls: optional(array(aclValidator, imageLimits.aclsMax), []),
  aclsCreatedCount: optional(nonNegative, 0),
});

/** Validates an untrusted serialized image and rebuilds the frozen MetadataImage. */
export function deserializeImage(value: unknown, path = 'image'): MetadataImage | Invalid {
  const checked = imageValidator(value, path);
  if (isInvalid(checked)) return checked;
  const brokers = new Map<number, BrokerRegistration>();
  for (const broker of checked.brokers) {
    if (brokers.has(broker.brokerId)) return invalid(path, `broker ${broker.brokerId} listed twice`);
    if (broker.brokerEpoch > checked.brokerEpochMax) return invalid(path, `broker ${broker.brokerId} epoch beyond brokerEpochMax`);
    brokers.set(broker.brokerId, Object.freeze({ ...broker, listeners: Object.freeze(broker.listeners.map((l) => Object.freeze({ ...l }))) }));
  }
  const topicsById = new Map<string, TopicImage>();
  const topicIdsByName = new Map<string, string>();
  for (const topic of checked.topics) {
    if (topicsById.has(topic.topicId)) return invalid(path, `topic id ${topic.topicId} listed twice`);
    if (topicIdsByName.has(topic.name)) return invalid(path, `topic name ${topic.name} listed twice`);
    const partitions: PartitionState[] = [];
    for (const [i, p] of topic.partitions.entries()) {
      if (p.partition !== i) return invalid(`${path}.${topic.name}-${i}`, `partition ${p.partition} at position ${i}`);
      const state: PartitionState = Object.freeze({
        ...p,
        replicas: Object.freeze([...p.replicas]),
        isr: Object.freeze([...p.isr]),
        addingReplicas: Object.freeze([...p.addingReplicas]),
        removingReplicas: Object.freeze([...p.removingReplicas]),
      });
      const problem = partitionProblem(topic.name, state);
      if (problem !== null) return invalid(`${path}.${topic.name}-${i}`, problem);
      partitions.push(state);
    }
    const configs = new Map<string, string>();
    for (const [key, v] of topic.configs) configs.set(key, v);
    topicsById.set(topic.topicId, Object.freeze({ name: topic.name, topicId: topic.topicId, partitions: Object.freeze(partitions), configs }));
    topicIdsByName.set(topic.name, topic.topicId);
  }
  const brokerConfigs = new Map<string, ReadonlyMap<string, string>>();
  for (const [resource, configs] of checked.brokerConfigs) {
    if (brokerConfigs.has(resource)) return invalid(path, `broker config resource ${JSON.stringify(resource)} listed twice`);
    if (resource !== '' && !/^\d+$/.test(resource)) return invalid(path, `broker config resource ${JSON.stringify(resource)} is not a broker id or ''`);
    brokerConfigs.set(resource, new Map(configs));
  }
  const scramCredentials = new Map<string, Map<ScramMechanismName, ScramCredentialImage>>();
  for (const c of checked.scramCredentials) {
    const byMechanism = scramCredentials.get(c.name) ?? new Map<ScramMechanismName, ScramCredentialImage>();
    if (byMechanism.has(c.mechanism)) return invalid(path, `SCRAM credential ${c.name}/${c.mechanism} listed twice`);
    byMechanism.set(c.mechanism, Object.freeze({ mechanism: c.mechanism, salt: Buffer.from(c.salt), storedKey: Buffer.from(c.storedKey), serverKey: Buffer.from(c.serverKey), iterations: c.iterations }));
    scramCredentials.set(c.name, byMechanism);
  }
  const acls = new Map<string, AclEntry>();
  for (const { id, ...entry } of checked.acls) {
    if (acls.has(id)) return invalid(path, `ACL ${id} listed twice`);
    acls.set(id, Object.freeze(entry));
  }
  if (acls.size > checked.aclsCreatedCount) return invalid(path, `${acls.size} ACLs but only ${checked.aclsCreatedCount} ever created`);
  return Object.freeze({
    acls,
    aclsCreatedCount: checked.aclsCreatedCount,
    scramCredentials,
    appliedOffset: checked.appliedOffset,
    brokers,
    topicsById,
    topicIdsByName,
    brokerEpochMax: checked.brokerEpochMax,
    topicsCreatedCount: checked.topicsCreatedCount,
    nextProducerId: checked.nextProducerId,
    brokerConfigs,
  });
}

const packr = new Packr({ useRecords: false, bundleStrings: false, moreTypes: false });

/** The msgpack bytes of an image (a Raft snapshot's data). A copy, never a view into a shared buffer. */
export function encodeImage(image: MetadataImage): Uint8Array {
  return new Uint8Array(packr.pack(serializeImage(image)));
}

/** Decodes snapshot bytes; malformed bytes are `Invalid`, never a throw. */
export function decodeImage(bytes: Uint8Array): MetadataImage | Invalid {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    return invalid('image', `malformed msgpack: ${(err as Error).message}`);
  }
  return deserializeImage(value);
}
