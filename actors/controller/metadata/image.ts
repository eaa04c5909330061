/**
 * The metadata image: an immutable snapshot of cluster metadata, and `replay`,
 * the one function that changes it.
 *
 * Owns: `MetadataImage` (brokers, topics with their partitions and config
 * overrides, the producer id cursor, id counters, the highest applied log
 * offset), `emptyImage`, `replay`, `replayBatch`, and read helpers.
 *
 * The controller and every broker build their image with this same `replay`
 * from the same committed records, so they agree by construction. The active
 * controller may also replay records it has proposed but not yet seen commit
 * (a speculative image, as KRaft's timeline data structures do) so that a
 * second command sees the first one's effects; on losing leadership it drops
 * that image and goes back to the committed one. Immutability makes both cheap.
 *
 * Two ways in, one set of rules (`applyRecord`): `replay`/`replayBatch`
 * assert, for the records this controller just generated (a record that does
 * not apply is a bug here); `replayCommitted` skips a committed record that
 * does not apply, with the reason, for the callers to log and count: records
 * arrive over the network (a leader's AppendEntries, a voter's fetch reply),
 * and a replay that asserted on one would crash every node on every restart.
 *
 * Invariants (kept by every replay: checked before a record is applied):
 * - An image is never mutated after it is returned: every object and array in
 *   it is frozen; a change copies the path to the root (structural sharing).
 * - A partition's `isr` is a non-empty subset of its `replicas`, with no
 *   duplicates; `leader` is `noLeader` or a member of `isr`.
 * - `leaderEpoch` and `partitionEpoch` never decrease; `brokerEpoch` of a
 *   broker never decreases; `nextProducerId` only increases.
 * - Topic names and ids are unique; a topic's partitions are exactly 0..n-1.
 * - `addingReplicas` and `removingReplicas` are disjoint subsets of
 *   `replicas`, and not every replica is being removed.
 *
 * Why Maps and not plain objects: topic names come from users, and `__proto__`
 * is a legal Kafka topic name. ReadonlyMap keeps the types immutable; the Maps
 * themselves are fresh copies per change and never handed out for writing.
 *
 * Cost: a change copies the topic's partition array and the topic Map, O(T+P),
 * but only once per batch: `replayBatch` and `replayCommitted` replay inside
 * a replay scope (`inReplayScope`), where a Map or partition array already
 * copied by this scope is changed in place (nothing outside the scope can
 * hold it: only the batch's final image is returned, and the arrays are
 * frozen when the scope ends). Fencing a broker that leads 10,000 partitions
 * is one PartitionChange per partition: per record copies made that
 * O(P x T), which stalled every broker of a cluster with thousands of topics.
 *
 * Imports: records.ts and runtime/assert.ts only.
 */
import type { AclEntry } from '../../security/acl-authorizer.ts';
import { AssertionError, assert } from '../../../runtime/assert.ts';
import {
  noLeader,
  type BrokerListener,
  type ConfigEntry,
  type MetadataRecord,
  type PartitionChangeRecord,
  type PartitionRecord,
  type RegisterBrokerRecord,
} from './records.ts';

export interface BrokerRegistration {
  readonly brokerId: number;
  readonly incarnationId: string;
  readonly brokerEpoch: number;
  readonly host: string;
  readonly port: number;
  readonly rack: string | null;
  readonly fenced: boolean;
  /** Other listeners (the Kafka listener), by name; [] when none. */
  readonly listeners: readonly BrokerListener[];
}

export interface PartitionState {
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  /** Reassignment in progress (KIP-455): replicas being added and removed; [] and [] when none. */
  readonly addingReplicas: readonly number[];
  readonly removingReplicas: readonly number[];
}

export interface TopicImage {
  readonly name: string;
  readonly topicId: string;
  /** Indexed by partition number. */
  readonly partitions: readonly PartitionState[];
  /** Overrides only; defaults live in configs.ts. */
  readonly configs: ReadonlyMap<string, string>;
}

export interface MetadataImage {
  /** Offset of the last committed entry applied, -1 for none (speculative replays leave it alone). */
  readonly appliedOffset: number;
  readonly brokers: ReadonlyMap<number, BrokerRegistration>;
  readonly topicsById: ReadonlyMap<string, TopicImage>;
  readonly topicIdsByName: ReadonlyMap<string, string>;
  /** The largest brokerEpoch ever registered: the next registration gets a larger one. */
  readonly brokerEpochMax: number;
  /** How many topics were ever created: the seed of the next topic id, so ids are never reused. */
  readonly topicsCreatedCount: number;
  /** The first producer id of the next block to hand out. */
  readonly nextProducerId: number;
  /** Dynamic broker config overrides by resource name: a broker id, or '' for the cluster default. */
  readonly brokerConfigs: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** SCRAM credentials by user, then mechanism (StoredKey and ServerKey, never a password). */
  readonly scramCredentials: ReadonlyMap<string, ReadonlyMap<ScramMechanismName, ScramCredentialImage>>;
  /** ACLs by id (actors/security/acl-authorizer.ts decides with them). */
  readonly acls: ReadonlyMap<string, AclEntry>;
  /** How many ACLs were ever created: the seed of the next ACL id, so ids are never reused. */
  readonly aclsCreatedCount: number;
}

export type ScramMechanismName = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export interface ScramCredentialImage {
  readonly mechanism: ScramMechanismName;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
  readonly iterations: number;
}

export const emptyImage: MetadataImage = Object.freeze({
  appliedOffset: -1,
  brokers: new Map(),
  topicsById: new Map(),
  topicIdsByName: new Map(),
  brokerEpochMax: 0,
  topicsCreatedCount: 0,
  nextProducerId: 0,
  brokerConfigs: new Map(),
  scramCredentials: new Map(),
  acls: new Map(),
  aclsCreatedCount: 0,
});

const noReplicas: readonly number[] = Object.freeze([]);

// ---------------------------------------------------------------- replay

/**
 * Applies one record: the new image (the same one when nothing changed), or
 * why the record cannot apply to this image (an unknown topic id, a partition
 * that does not exist, an epoch that goes back, a result that would break an
 * invariant). Pure; the one place the rules live, for both `replay` (which
 * asserts) and `replayCommitted` (which skips).
 */
export function applyRecord(image: MetadataImage, record: MetadataRecord): MetadataImage | string {
  switch (record.type) {
    case 'RegisterBroker':
      return replayRegisterBroker(image, record);
    case 'FenceBroker':
    case 'UnfenceBroker': {
      const broker = image.brokers.get(record.brokerId);
      if (broker === undefined) return `${record.type}: broker ${record.brokerId} is not registered`;
      if (broker.brokerEpoch !== record.brokerEpoch) return `${record.type}: broker ${record.brokerId} epoch ${record.brokerEpoch} != registered ${broker.brokerEpoch}`;
      const fenced = record.type === 'FenceBroker';
      if (broker.fenced === fenced) return image;
      return Object.freeze({ ...image, brokers: mapWith(image.brokers, broker.brokerId, Object.freeze({ ...broker, fenced })) });
    }
    case 'UnregisterBroker': {
      const broker = image.brokers.get(record.brokerId);
      if (broker === undefined) return `UnregisterBroker: broker ${record.brokerId} is not registered`;
      if (broker.brokerEpoch !== record.brokerEpoch) return `UnregisterBroker: broker ${record.brokerId} epoch ${record.brokerEpoch} != registered ${broker.brokerEpoch}`;
      return Object.freeze({ ...image, brokers: mapWithout(image.brokers, record.brokerId) });
    }
    case 'Topic': {
      if (image.topicIdsByName.has(record.name)) return `Topic: name ${record.name} already exists`;
      if (image.topicsById.has(record.topicId)) return `Topic: id ${record.topicId} already exists`;
      const topic: TopicImage = Object.freeze({
        name: record.name,
        topicId: record.topicId,
        partitions: Object.freeze([]),
        configs: configMap(record.configs),
      });
      return Object.freeze({
        ...image,
        topicsById: mapWith(image.topicsById, record.topicId, topic),
        topicIdsByName: mapWith(image.topicIdsByName, record.name, record.topicId),
        topicsCreatedCount: image.topicsCreatedCount + 1,
      });
    }
    case 'Partition':
      return replayPartition(image, record);
    case 'PartitionChange':
      return replayPartitionChange(image, record);
    case 'RemoveTopic': {
      const topic = image.topicsById.get(record.topicId);
      if (topic === undefined) return `RemoveTopic: unknown topic id ${record.topicId}`;
      return Object.freeze({
        ...image,
        topicsById: mapWithout(image.topicsById, record.topicId),
        topicIdsByName: mapWithout(image.topicIdsByName, topic.name),
      });
    }
    case 'Config': {
      if (record.resourceType === 'broker') {
        if (record.resourceName !== '' && !/^(0|[1-9]\d{0,9})$/.test(record.resourceName)) return `Config: broker resource ${record.resourceName} is not a broker id or ''`;
        const current = image.brokerConfigs.get(record.resourceName) ?? new Map<string, string>();
        const configs = record.value === null ? mapWithout(current, record.name) : mapWith(current, record.name, record.value);
        const brokerConfigs = configs.size === 0 ? mapWithout(image.brokerConfigs, record.resourceName) : mapWith(image.brokerConfigs, record.resourceName, configs);
        return Object.freeze({ ...image, brokerConfigs });
      }
      const topicId = image.topicIdsByName.get(record.resourceName);
      if (topicId === undefined) return `Config: unknown topic ${record.resourceName}`;
      const topic = image.topicsById.get(topicId);
      if (topic === undefined) return `Config: topic id ${topicId} missing`;
      const configs =
        record.value === null
          ? mapWithout(topic.configs, record.name)
          : mapWith(topic.configs, record.name, record.value);
      return withTopic(image, Object.freeze({ ...topic, configs }));
    }
    case 'ProducerIds': {
      if (!Number.isSafeInteger(record.nextProducerId)) return `ProducerIds: ${record.nextProducerId} is not a safe integer`;
      if (record.nextProducerId <= image.nextProducerId) return `ProducerIds: next ${record.nextProducerId} does not exceed ${image.nextProducerId}`;
      return Object.freeze({ ...image, nextProducerId: record.nextProducerId });
    }
    case 'UserScramCredential': {
      if (record.name.length === 0) return 'UserScramCredential: empty user name';
      const credential: ScramCredentialImage = Object.freeze({
        mechanism: record.mechanism,
        salt: Buffer.from(record.salt),
        storedKey: Buffer.from(record.storedKey),
        serverKey: Buffer.from(record.serverKey),
        iterations: record.iterations,
      });
      const current = image.scramCredentials.get(record.name) ?? new Map<ScramMechanismName, ScramCredentialImage>();
      return Object.freeze({ ...image, scramCredentials: mapWith(image.scramCredentials, record.name, mapWith(current, record.mechanism, credential)) });
    }
    case 'RemoveUserScramCredential': {
      const current = image.scramCredentials.get(record.name);
      if (current?.get(record.mechanism) === undefined) return `RemoveUserScramCredential: ${record.name} has no ${record.mechanism} credential`;
      const left = mapWithout(current, record.mechanism);
      return Object.freeze({ ...image, scramCredentials: left.size === 0 ? mapWithout(image.scramCredentials, record.name) : mapWith(image.scramCredentials, record.name, left) });
    }
    case 'AccessControlEntry': {
      if (image.acls.has(record.id)) return `AccessControlEntry: id ${record.id} exists`;
      const { type: _type, id, ...entry } = record;
      return Object.freeze({ ...image, acls: mapWith(image.acls, id, Object.freeze(entry)), aclsCreatedCount: image.aclsCreatedCount + 1 });
    }
    case 'RemoveAccessControlEntry':
      if (!image.acls.has(record.id)) return `RemoveAccessControlEntry: no ACL ${record.id}`;
      return Object.freeze({ ...image, acls: mapWithout(image.acls, record.id) });
    case 'NoOp':
      return image;
    default:
      // Records are validated where they enter the log (messages.ts validateRecords); never read into an unknown one.
      return 'unknown record type';
  }
}

/**
 * Applies one record this controller generated (or a test built): a record
 * that does not apply is a bug here, so it asserts.
 */
export function replay(image: MetadataImage, record: MetadataRecord): MetadataImage {
  const next = applyRecord(image, record);
  if (typeof next === 'string') throw new AssertionError(next);
  return next;
}

/**
 * Applies the records of one command (speculatively, or in tests).
 * With `offset`, also records it as the applied offset, which must increase.
 * Asserts like `replay`; committed entries go through `replayCommitted`.
 */
export function replayBatch(image: MetadataImage, records: readonly MetadataRecord[], offset?: number): MetadataImage {
  let next = image;
  inReplayScope(() => {
    for (const record of records) next = replay(next, record);
  });
  if (offset === undefined) return next;
  assert(offset > image.appliedOffset, `replayBatch: offset ${offset} <= applied ${image.appliedOffset}`);
  return Object.freeze({ ...next, appliedOffset: offset });
}

/** A committed record replay could not apply, and skipped. */
export type SkippedRecord = { readonly offset: number; readonly index: number; readonly type: string; readonly problem: string };

/**
 * Applies one committed entry (offset `offset`), skipping each record that
 * does not apply (Kafka's replay ignores what it cannot apply): the image
 * stays consistent, every node skips the same records of the same log, and a
 * record that came over the network (a buggy or hostile leader's) can never
 * make replay assert and so brick the metadata on every restart. Callers log
 * and count what was skipped. An offset that does not increase is skipped
 * whole (the image keeps its applied offset).
 */
export function replayCommitted(
  image: MetadataImage,
  records: readonly MetadataRecord[],
  offset: number,
): { readonly image: MetadataImage; readonly skipped: readonly SkippedRecord[] } {
  if (!(offset > image.appliedOffset)) {
    return { image, skipped: records.map((record, index) => ({ offset, index, type: record.type, problem: `offset ${offset} <= applied ${image.appliedOffset}` })) };
  }
  let next = image;
  const skipped: SkippedRecord[] = [];
  inReplayScope(() => {
    for (const [index, record] of records.entries()) {
      const applied = applyRecord(next, record);
      if (typeof applied === 'string') skipped.push({ offset, index, type: record.type, problem: applied });
      else next = applied;
    }
  });
  return { image: Object.freeze({ ...next, appliedOffset: offset }), skipped };
}

function replayRegisterBroker(image: MetadataImage, record: RegisterBrokerRecord): MetadataImage | string {
  const previous = image.brokers.get(record.brokerId);
  if (previous !== undefined && !(record.brokerEpoch > previous.brokerEpoch)) {
    return `RegisterBroker: broker ${record.brokerId} epoch ${record.brokerEpoch} does not exceed ${previous.brokerEpoch}`;
  }
  if (!Number.isInteger(record.brokerId) || record.brokerId < 0) return `RegisterBroker: bad broker id ${record.brokerId}`;
  const broker: BrokerRegistration = Object.freeze({
    brokerId: record.brokerId,
    incarnationId: record.incarnationId,
    brokerEpoch: record.brokerEpoch,
    host: record.host,
    port: record.port,
    rack: record.rack,
    fenced: record.fenced,
    listeners: Object.freeze((record.listeners ?? []).map((l) => Object.freeze({ name: l.name, host: l.host, port: l.port }))),
  });
  return Object.freeze({
    ...image,
    brokers: mapWith(image.brokers, record.brokerId, broker),
    brokerEpochMax: Math.max(image.brokerEpochMax, record.brokerEpoch),
  });
}

function replayPartition(image: MetadataImage, record: PartitionRecord): MetadataImage | string {
  const topic = image.topicsById.get(record.topicId);
  if (topic === undefined) return `Partition: unknown topic id ${record.topicId}`;
  if (record.partition !== topic.partitions.length) return `Partition: ${topic.name}-${record.partition} is not the next partition (${topic.partitions.length})`;
  const state: PartitionState = Object.freeze({
    partition: record.partition,
    replicas: Object.freeze([...record.replicas]),
    isr: Object.freeze([...record.isr]),
    leader: record.leader,
    leaderEpoch: record.leaderEpoch,
    partitionEpoch: record.partitionEpoch,
    addingReplicas: frozenList(record.addingReplicas),
    removingReplicas: frozenList(record.removingReplicas),
  });
  const problem = partitionProblem(topic.name, state);
  if (problem !== null) return problem;
  return withTopic(image, Object.freeze({ ...topic, partitions: partitionsWith(topic.partitions, state) }));
}

function replayPartitionChange(image: MetadataImage, record: PartitionChangeRecord): MetadataImage | string {
  const topic = image.topicsById.get(record.topicId);
  if (topic === undefined) return `PartitionChange: unknown topic id ${record.topicId}`;
  const current = Object.hasOwn(topic.partitions, record.partition) ? topic.partitions[record.partition] : undefined;
  if (current === undefined) return `PartitionChange: unknown partition ${topic.name}-${record.partition}`;
  const replicasChange = record.replicas !== undefined || record.addingReplicas !== undefined || record.removingReplicas !== undefined;
  if (replicasChange && (record.replicas === undefined || record.addingReplicas === undefined || record.removingReplicas === undefined)) {
    return `PartitionChange: ${topic.name}-${record.partition} changes replicas without all of replicas, addingReplicas and removingReplicas`;
  }
  const next: PartitionState = Object.freeze({
    ...current,
    replicas: record.replicas === undefined ? current.replicas : Object.freeze([...record.replicas]),
    addingReplicas: record.addingReplicas === undefined ? current.addingReplicas : frozenList(record.addingReplicas),
    removingReplicas: record.removingReplicas === undefined ? current.removingReplicas : frozenList(record.removingReplicas),
    isr: record.isr === undefined ? current.isr : Object.freeze([...record.isr]),
    leader: record.leader === undefined ? current.leader : record.leader,
    leaderEpoch: record.leader === undefined ? current.leaderEpoch : current.leaderEpoch + 1,
    partitionEpoch: current.partitionEpoch + 1,
  });
  const problem = partitionProblem(topic.name, next);
  if (problem !== null) return problem;
  return withTopic(image, Object.freeze({ ...topic, partitions: partitionsWith(topic.partitions, next) }));
}

/** Why `p` breaks a partition invariant (see the header), or null. Also checks snapshots (image-codec.ts). */
export function partitionProblem(topicName: string, p: PartitionState): string | null {
  const name = `${topicName}-${p.partition}`;
  if (p.replicas.length === 0) return `${name}: no replicas`;
  if (new Set(p.replicas).size !== p.replicas.length) return `${name}: duplicate replicas ${p.replicas.join(',')}`;
  if (p.isr.length === 0) return `${name}: empty ISR`;
  if (new Set(p.isr).size !== p.isr.length) return `${name}: duplicate ISR members ${p.isr.join(',')}`;
  for (const member of p.isr) if (!p.replicas.includes(member)) return `${name}: ISR member ${member} is not a replica`;
  if (p.leader !== noLeader && !p.isr.includes(p.leader)) return `${name}: leader ${p.leader} is not in ISR ${p.isr.join(',')}`;
  for (const member of p.addingReplicas) if (!p.replicas.includes(member)) return `${name}: adding replica ${member} is not a replica`;
  for (const member of p.removingReplicas) if (!p.replicas.includes(member)) return `${name}: removing replica ${member} is not a replica`;
  if (new Set([...p.addingReplicas, ...p.removingReplicas]).size !== p.addingReplicas.length + p.removingReplicas.length) {
    return `${name}: adding ${p.addingReplicas.join(',')} and removing ${p.removingReplicas.join(',')} overlap or repeat`;
  }
  if (p.removingReplicas.length >= p.replicas.length) return `${name}: every replica is being removed`;
  if (p.leaderEpoch < 0) return `${name}: negative leader epoch`;
  if (p.partitionEpoch < 0) return `${name}: negative partition epoch`;
  return null;
}

function frozenList(list: readonly number[] | undefined): readonly number[] {
  return list === undefined || list.length === 0 ? noReplicas : Object.freeze([...list]);
}

/**
 * The running replay scope: the Maps and partition arrays it made (so it may
 * change them in place), and the arrays to freeze when it ends. Null outside
 * one: every change copies, as a single `replay` or `applyRecord` must.
 */
let scope: { readonly owned: WeakSet<object>; readonly unfrozen: object[] } | null = null;

/**
 * Runs `fn` in a replay scope (a nested call joins the running one). `fn`
 * must hand out only the last image it made: earlier ones of the same scope
 * share the Maps and arrays later records change in place.
 */
export function inReplayScope<T>(fn: () => T): T {
  if (scope !== null) return fn();
  const running = { owned: new WeakSet<object>(), unfrozen: [] as object[] };
  scope = running;
  try {
    return fn();
  } finally {
    scope = null;
    for (const value of running.unfrozen) Object.freeze(value);
  }
}

/** `partitions` with `state` at its index (appended when it is the next one). */
function partitionsWith(partitions: readonly PartitionState[], state: PartitionState): readonly PartitionState[] {
  if (scope !== null && scope.owned.has(partitions)) {
    (partitions as PartitionState[])[state.partition] = state;
    return partitions;
  }
  const copy = partitions.slice();
  copy[state.partition] = state;
  if (scope === null) return Object.freeze(copy);
  scope.owned.add(copy);
  scope.unfrozen.push(copy);
  return copy;
}

function withTopic(image: MetadataImage, topic: TopicImage): MetadataImage {
  return Object.freeze({ ...image, topicsById: mapWith(image.topicsById, topic.topicId, topic) });
}

function configMap(entries: readonly ConfigEntry[]): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const entry of entries) map.set(entry.name, entry.value);
  return map;
}

/** A Map this scope may change: `map` itself when the scope made it, else a copy the scope now owns. */
function writable<K, V>(map: ReadonlyMap<K, V>): Map<K, V> {
  if (scope !== null && scope.owned.has(map)) return map as Map<K, V>;
  const copy = new Map(map);
  scope?.owned.add(copy);
  return copy;
}

function mapWith<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> {
  const copy = writable(map);
  copy.set(key, value);
  return copy;
}

function mapWithout<K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> {
  if (!map.has(key)) return map;
  const copy = writable(map);
  copy.delete(key);
  return copy;
}

// ---------------------------------------------------------------- reads

export function topicByName(image: MetadataImage, name: string): TopicImage | undefined {
  const topicId = image.topicIdsByName.get(name);
  return topicId === undefined ? undefined : image.topicsById.get(topicId);
}

export function partitionOf(image: MetadataImage, topicName: string, partition: number): PartitionState | undefined {
  return topicByName(image, topicName)?.partitions[partition];
}

/** Registered and not fenced: may lead, may be in an ISR, may get new replicas. */
export function isBrokerActive(image: MetadataImage, brokerId: number): boolean {
  const broker = image.brokers.get(brokerId);
  return broker !== undefined && !broker.fenced;
}

/** Active brokers, sorted by id: the candidates for placement. */
export function activeBrokers(image: MetadataImage): BrokerRegistration[] {
  return [...image.brokers.values()].filter((b) => !b.fenced).sort((a, b) => a.brokerId - b.brokerId);
}

/** The replica list a reassignment in progress moves to: replicas less the ones being removed. */
export function targetReplicas(state: PartitionState): readonly number[] {
  return state.removingReplicas.length === 0 ? state.replicas : state.replicas.filter((id) => !state.removingReplicas.includes(id));
}

/** The replica list before the reassignment in progress: replicas less the ones being added. */
export function originalReplicas(state: PartitionState): readonly number[] {
  return state.addingReplicas.length === 0 ? state.replicas : state.replicas.filter((id) => !state.addingReplicas.includes(id));
}

export function isReassigning(state: PartitionState): boolean {
  return state.addingReplicas.length > 0 || state.removingReplicas.length > 0;
}

/** A broker config override as set for this broker, else the cluster default, else undefined. */
export function brokerConfigOverride(image: MetadataImage, brokerId: number, name: string): string | undefined {
  return image.brokerConfigs.get(String(brokerId))?.get(name) ?? image.brokerConfigs.get('')?.get(name);
}

/** topicsSortedByName's answers: an image never changes once handed out, so neither does its order. */
const sortedTopics = new WeakMap<MetadataImage, readonly TopicImage[]>();

/** Topics sorted by name, for deterministic iteration (sorted once per image: Metadata asks it per request). */
export function topicsSortedByName(image: MetadataImage): readonly TopicImage[] {
  let sorted = sortedTopics.get(image);
  if (sorted === undefined) {
    sorted = Object.freeze([...image.topicsById.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
    if (scope === null) sortedTopics.set(image, sorted); // an image of a running scope may still be changed in place
  }
  return sorted;
}
