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
 * Invariants (asserted on every replay; a failure is a bug, never bad input):
 * - An image is never mutated after it is returned: every object and array in
 *   it is frozen; a change copies the path to the root (structural sharing).
 * - A partition's `isr` is a non-empty subset of its `replicas`, with no
 *   duplicates; `leader` is `noLeader` or a member of `isr`.
 * - `leaderEpoch` and `partitionEpoch` never decrease; `brokerEpoch` of a
 *   broker never decreases; `nextProducerId` only increases.
 * - Topic names and ids are unique; a topic's partitions are exactly 0..n-1.
 *
 * Why Maps and not plain objects: topic names come from users, and `__proto__`
 * is a legal Kafka topic name. ReadonlyMap keeps the types immutable; the Maps
 * themselves are fresh copies per change and never handed out for writing.
 *
 * Cost: a change copies the topic's partition array and the topic Map, O(T+P)
 * per record. Fine for thousands of partitions; a persistent map can replace
 * the Maps later without changing this API.
 *
 * Imports: records.ts and runtime/assert.ts only.
 */
import { assert, assertNever } from '../../../runtime/assert.ts';
import {
  noLeader,
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
}

export interface PartitionState {
  readonly partition: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
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
}

export const emptyImage: MetadataImage = Object.freeze({
  appliedOffset: -1,
  brokers: new Map(),
  topicsById: new Map(),
  topicIdsByName: new Map(),
  brokerEpochMax: 0,
  topicsCreatedCount: 0,
  nextProducerId: 0,
});

// ---------------------------------------------------------------- replay

/** Applies one record. Pure: returns a new image, or the same one when nothing changed. */
export function replay(image: MetadataImage, record: MetadataRecord): MetadataImage {
  switch (record.type) {
    case 'RegisterBroker':
      return replayRegisterBroker(image, record);
    case 'FenceBroker':
    case 'UnfenceBroker': {
      const broker = image.brokers.get(record.brokerId);
      assert(broker !== undefined, `${record.type}: broker ${record.brokerId} is not registered`);
      assert(
        broker.brokerEpoch === record.brokerEpoch,
        `${record.type}: broker ${record.brokerId} epoch ${record.brokerEpoch} != registered ${broker.brokerEpoch}`,
      );
      const fenced = record.type === 'FenceBroker';
      if (broker.fenced === fenced) return image;
      return Object.freeze({ ...image, brokers: mapWith(image.brokers, broker.brokerId, Object.freeze({ ...broker, fenced })) });
    }
    case 'Topic': {
      assert(!image.topicIdsByName.has(record.name), `Topic: name ${record.name} already exists`);
      assert(!image.topicsById.has(record.topicId), `Topic: id ${record.topicId} already exists`);
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
      assert(topic !== undefined, `RemoveTopic: unknown topic id ${record.topicId}`);
      return Object.freeze({
        ...image,
        topicsById: mapWithout(image.topicsById, record.topicId),
        topicIdsByName: mapWithout(image.topicIdsByName, topic.name),
      });
    }
    case 'Config': {
      const topicId = image.topicIdsByName.get(record.resourceName);
      assert(topicId !== undefined, `Config: unknown topic ${record.resourceName}`);
      const topic = image.topicsById.get(topicId);
      assert(topic !== undefined, `Config: topic id ${topicId} missing`);
      const configs =
        record.value === null
          ? mapWithout(topic.configs, record.name)
          : mapWith(topic.configs, record.name, record.value);
      return withTopic(image, Object.freeze({ ...topic, configs }));
    }
    case 'ProducerIds': {
      assert(
        record.nextProducerId > image.nextProducerId,
        `ProducerIds: next ${record.nextProducerId} does not exceed ${image.nextProducerId}`,
      );
      assert(Number.isSafeInteger(record.nextProducerId), `ProducerIds: ${record.nextProducerId} is not a safe integer`);
      return Object.freeze({ ...image, nextProducerId: record.nextProducerId });
    }
    case 'NoOp':
      return image;
    default:
      return assertNever(record, 'metadata record');
  }
}

/**
 * Applies the records of one committed log entry (or one command, speculatively).
 * With `offset`, also records it as the applied offset, which must increase.
 */
export function replayBatch(image: MetadataImage, records: readonly MetadataRecord[], offset?: number): MetadataImage {
  let next = image;
  for (const record of records) next = replay(next, record);
  if (offset === undefined) return next;
  assert(offset > image.appliedOffset, `replayBatch: offset ${offset} <= applied ${image.appliedOffset}`);
  return Object.freeze({ ...next, appliedOffset: offset });
}

function replayRegisterBroker(image: MetadataImage, record: RegisterBrokerRecord): MetadataImage {
  const previous = image.brokers.get(record.brokerId);
  assert(
    previous === undefined || record.brokerEpoch > previous.brokerEpoch,
    `RegisterBroker: broker ${record.brokerId} epoch ${record.brokerEpoch} does not exceed ${previous?.brokerEpoch}`,
  );
  assert(Number.isInteger(record.brokerId) && record.brokerId >= 0, `RegisterBroker: bad broker id ${record.brokerId}`);
  const broker: BrokerRegistration = Object.freeze({
    brokerId: record.brokerId,
    incarnationId: record.incarnationId,
    brokerEpoch: record.brokerEpoch,
    host: record.host,
    port: record.port,
    rack: record.rack,
    fenced: record.fenced,
  });
  return Object.freeze({
    ...image,
    brokers: mapWith(image.brokers, record.brokerId, broker),
    brokerEpochMax: Math.max(image.brokerEpochMax, record.brokerEpoch),
  });
}

function replayPartition(image: MetadataImage, record: PartitionRecord): MetadataImage {
  const topic = image.topicsById.get(record.topicId);
  assert(topic !== undefined, `Partition: unknown topic id ${record.topicId}`);
  assert(
    record.partition === topic.partitions.length,
    `Partition: ${topic.name}-${record.partition} is not the next partition (${topic.partitions.length})`,
  );
  const state: PartitionState = Object.freeze({
    partition: record.partition,
    replicas: Object.freeze([...record.replicas]),
    isr: Object.freeze([...record.isr]),
    leader: record.leader,
    leaderEpoch: record.leaderEpoch,
    partitionEpoch: record.partitionEpoch,
  });
  assertPartitionValid(topic.name, state);
  return withTopic(image, Object.freeze({ ...topic, partitions: Object.freeze([...topic.partitions, state]) }));
}

function replayPartitionChange(image: MetadataImage, record: PartitionChangeRecord): MetadataImage {
  const topic = image.topicsById.get(record.topicId);
  assert(topic !== undefined, `PartitionChange: unknown topic id ${record.topicId}`);
  const current = topic.partitions[record.partition];
  assert(current !== undefined, `PartitionChange: unknown partition ${topic.name}-${record.partition}`);
  const next: PartitionState = Object.freeze({
    ...current,
    isr: record.isr === undefined ? current.isr : Object.freeze([...record.isr]),
    leader: record.leader === undefined ? current.leader : record.leader,
    leaderEpoch: record.leader === undefined ? current.leaderEpoch : current.leaderEpoch + 1,
    partitionEpoch: current.partitionEpoch + 1,
  });
  assertPartitionValid(topic.name, next);
  const partitions = topic.partitions.slice();
  partitions[record.partition] = next;
  return withTopic(image, Object.freeze({ ...topic, partitions: Object.freeze(partitions) }));
}

function assertPartitionValid(topicName: string, p: PartitionState): void {
  const name = `${topicName}-${p.partition}`;
  assert(p.replicas.length > 0, `${name}: no replicas`);
  assert(new Set(p.replicas).size === p.replicas.length, `${name}: duplicate replicas ${p.replicas}`);
  assert(p.isr.length > 0, `${name}: empty ISR`);
  assert(new Set(p.isr).size === p.isr.length, `${name}: duplicate ISR members ${p.isr}`);
  for (const member of p.isr) assert(p.replicas.includes(member), `${name}: ISR member ${member} is not a replica`);
  assert(p.leader === noLeader || p.isr.includes(p.leader), `${name}: leader ${p.leader} is not in ISR ${p.isr}`);
  assert(p.leaderEpoch >= 0, `${name}: negative leader epoch`);
  assert(p.partitionEpoch >= 0, `${name}: negative partition epoch`);
}

function withTopic(image: MetadataImage, topic: TopicImage): MetadataImage {
  return Object.freeze({ ...image, topicsById: mapWith(image.topicsById, topic.topicId, topic) });
}

function configMap(entries: readonly ConfigEntry[]): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const entry of entries) map.set(entry.name, entry.value);
  return map;
}

function mapWith<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> {
  const copy = new Map(map);
  copy.set(key, value);
  return copy;
}

function mapWithout<K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> {
  if (!map.has(key)) return map;
  const copy = new Map(map);
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

/** Topics sorted by name, for deterministic iteration. */
export function topicsSortedByName(image: MetadataImage): TopicImage[] {
  return [...image.topicsById.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
