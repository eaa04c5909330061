/**
 * The "consumer" protocol's member metadata: what a member puts in JoinGroup
 * (its subscription) and what the leader hands out in SyncGroup (its
 * assignment), as opaque bytes the coordinator stores and forwards.
 *
 * Fields follow Kafka's ConsumerProtocolSubscription v3 (topics, userData,
 * ownedPartitions, generationId, rackId) and ConsumerProtocolAssignment
 * (assignedPartitions, userData), encoded as a msgpack map instead of Kafka's
 * binary layout: { v, topics, userData, ownedPartitions: [{topic, partitions}],
 * generationId, rackId } and { v, assignedPartitions: [{topic, partitions}],
 * userData }. As in Kafka, a decoder reads any version with the current
 * format: later versions may add fields, never remove or reorder them, so
 * unknown fields are ignored and missing optional ones take their defaults
 * (ownedPartitions [], generationId -1, rackId null, userData null).
 *
 * The bytes come from clients: decoding validates every field and returns a
 * CORRUPT_MESSAGE result instead of throwing. Decoded binary fields are
 * copied, so a result never pins the frame it came from.
 */
import { pack, unpack } from 'msgpackr';
import { ErrorCode } from '../../protocol/errors.ts';
import { compareTopicPartitions } from './assignors/types.ts';
import type { TopicPartition } from './assignors/types.ts';

export const consumerProtocolType = 'consumer';
export const consumerProtocolVersion = 3;

export type Subscription = {
  readonly topics: readonly string[];
  readonly userData: Uint8Array | null;
  readonly ownedPartitions: readonly TopicPartition[];
  /** The generation ownedPartitions belong to; -1 when unknown. */
  readonly generationId: number;
  readonly rackId: string | null;
};

export type MemberAssignment = {
  readonly assignedPartitions: readonly TopicPartition[];
  readonly userData: Uint8Array | null;
};

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly errorCode: number; readonly message: string };

/** Bounds on what a decoder accepts (a subscription or assignment is small). */
export const consumerProtocolLimits = Object.freeze({
  topicsMax: 100_000,
  partitionsPerTopicMax: 1_000_000,
  topicNameLengthMax: 249,
});

type TopicPartitions = { topic: string; partitions: number[] };

function groupByTopic(partitions: readonly TopicPartition[]): TopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const tp of [...partitions].sort(compareTopicPartitions)) {
    const list = byTopic.get(tp.topic) ?? [];
    list.push(tp.partition);
    byTopic.set(tp.topic, list);
  }
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list }));
}

function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function encodeSubscription(subscription: Subscription): Uint8Array {
  return copyBytes(
    pack({
      v: consumerProtocolVersion,
      topics: [...subscription.topics],
      userData: subscription.userData,
      ownedPartitions: groupByTopic(subscription.ownedPartitions),
      generationId: subscription.generationId,
      rackId: subscription.rackId,
    }),
  );
}

export function encodeAssignment(assignment: MemberAssignment): Uint8Array {
  return copyBytes(
    pack({ v: consumerProtocolVersion, assignedPartitions: groupByTopic(assignment.assignedPartitions), userData: assignment.userData }),
  );
}

class Invalid extends Error {}

function fail(message: string): never {
  throw new Invalid(message);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function readString(x: unknown, what: string): string {
  if (typeof x !== 'string') fail(`${what} is not a string`);
  return x;
}

function readTopic(x: unknown, what: string): string {
  const topic = readString(x, what);
  if (topic.length === 0 || topic.length > consumerProtocolLimits.topicNameLengthMax) fail(`${what} has a bad length`);
  return topic;
}

function readInt32(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < -2_147_483_648 || x > 2_147_483_647) fail(`${what} is not an int32`);
  return x;
}

function readBytesOrNull(x: unknown, what: string): Uint8Array | null {
  if (x === null || x === undefined) return null;
  if (!(x instanceof Uint8Array)) fail(`${what} is not bytes`);
  return copyBytes(x);
}

function readArray(x: unknown, what: string, lengthMax: number): unknown[] {
  if (!Array.isArray(x)) fail(`${what} is not an array`);
  if (x.length > lengthMax) fail(`${what} is too long`);
  return x;
}

function readTopicPartitions(x: unknown, what: string): TopicPartition[] {
  if (x === undefined || x === null) return [];
  const out: TopicPartition[] = [];
  for (const entry of readArray(x, what, consumerProtocolLimits.topicsMax)) {
    if (!isRecord(entry)) fail(`${what} entry is not a map`);
    const topic = readTopic(entry.topic, `${what}.topic`);
    for (const p of readArray(entry.partitions, `${what}.partitions`, consumerProtocolLimits.partitionsPerTopicMax)) {
      const partition = readInt32(p, `${what}.partition`);
      if (partition < 0) fail(`${what}.partition is negative`);
      out.push({ topic, partition });
    }
  }
  return out;
}

function decodeWith<T>(bytes: Uint8Array, read: (root: Record<string, unknown>) => T): Decoded<T> {
  try {
    const root: unknown = unpack(bytes);
    if (!isRecord(root)) fail('metadata is not a map');
    const version = readInt32(root.v, 'v');
    if (version < 0) fail('negative version');
    return { ok: true, value: read(root) };
  } catch (err) {
    const message = err instanceof Invalid ? err.message : `undecodable metadata: ${String(err)}`;
    return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message };
  }
}

export function decodeSubscription(bytes: Uint8Array): Decoded<Subscription> {
  return decodeWith(bytes, (root) => ({
    topics: readArray(root.topics, 'topics', consumerProtocolLimits.topicsMax).map((t) => readTopic(t, 'topics[]')),
    userData: readBytesOrNull(root.userData, 'userData'),
    ownedPartitions: readTopicPartitions(root.ownedPartitions, 'ownedPartitions'),
    generationId: root.generationId === undefined ? -1 : readInt32(root.generationId, 'generationId'),
    rackId: root.rackId === undefined || root.rackId === null ? null : readString(root.rackId, 'rackId'),
  }));
}

export function decodeAssignment(bytes: Uint8Array): Decoded<MemberAssignment> {
  return decodeWith(bytes, (root) => ({
    assignedPartitions: readTopicPartitions(root.assignedPartitions, 'assignedPartitions'),
    userData: readBytesOrNull(root.userData, 'userData'),
  }));
}
