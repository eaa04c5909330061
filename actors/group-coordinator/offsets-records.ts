/**
 * The records of the compacted `__consumer_offsets` topic, and where a group lives.
 *
 * Owns: the key/value shapes (offset commit, group metadata, tombstones), their
 * byte encoding with validation of untrusted bytes, and
 * `coordinatorPartitionFor`, Kafka's `Utils.abs(groupId.hashCode) % n`.
 *
 * Layout (msgpack, exported `pack`/`unpack`, no shared structures):
 * - offset commit key: [1, group, topic, partition]
 *   value: { v: 1, offset, leaderEpoch, metadata, commitTimestampMs }
 * - group metadata key: [2, group]
 *   value: { v: 1, protocolType, generationId, protocol, leader, currentStateTimestampMs,
 *            members: [{ memberId, groupInstanceId, clientId, clientHost,
 *                        sessionTimeoutMs, rebalanceTimeoutMs, subscription, assignment }] }
 * - a null value is a tombstone: the offset, or the group's metadata, is deleted.
 * Keys are arrays so equal keys encode to equal bytes: compaction keeps the
 * last record per key byte string. Key versions 1 and 2 mirror Kafka's (0/1 for
 * offsets, 2 for group metadata); an unknown key version is a decode error.
 *
 * Invariants: offsets are safe integers >= 0; leaderEpoch >= -1 (-1 unknown);
 * generationId >= 0; decoded binary fields are copies (never views into the
 * log's buffers). Decoding never throws: it returns CORRUPT_MESSAGE.
 *
 * `loadGroups` replays a partition's records into group states (what a new
 * coordinator does while it answers COORDINATOR_LOAD_IN_PROGRESS); the state
 * itself is built by group-logic.ts `restoreGroup`. `replayOffsetsLog` does
 * the same from the log's batches, transactions included: the offset records
 * of a transactional batch (TxnOffsetCommit) are staged per producer id with
 * actors/txn-coordinator/txn-offsets.ts, exactly as the live coordinator
 * stages them, until that producer's control batch: COMMIT applies them at
 * the marker's place in the log, ABORT drops them. Those still open at the
 * end of the log stay staged in the group (a later marker decides them).
 */
import { pack, unpack } from 'msgpackr';
import { ErrorCode } from '../../protocol/errors.ts';
import { assert } from '../../runtime/assert.ts';
import type { Decoded } from '../../protocol/consumer/consumer-protocol.ts';
import { restoreGroup } from './group-logic.ts';
import type { GroupConfig, GroupState } from './group-logic.ts';
import { completeTxnOffsets, noStagedTxnOffsets, stageTxnOffsets, type StagedTxnOffsets, type TxnOffset } from '../txn-coordinator/txn-offsets.ts';

export const offsetCommitKeyVersion = 1;
export const groupMetadataKeyVersion = 2;
const valueVersion = 1;

export type OffsetCommitKey = { readonly type: 'OffsetCommit'; readonly group: string; readonly topic: string; readonly partition: number };

export type OffsetCommitValue = {
  readonly offset: number;
  /** The leader epoch of the committed record, -1 when unknown. */
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
};

export type GroupMetadataKey = { readonly type: 'GroupMetadata'; readonly group: string };

export type GroupMemberRecord = {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  /** The member's metadata for the group's selected protocol. */
  readonly subscription: Uint8Array;
  readonly assignment: Uint8Array;
};

export type GroupMetadataValue = {
  readonly protocolType: string | null;
  readonly generationId: number;
  readonly protocol: string | null;
  readonly leader: string | null;
  readonly currentStateTimestampMs: number;
  readonly members: readonly GroupMemberRecord[];
};

export type OffsetCommitRecord = { readonly key: OffsetCommitKey; readonly value: OffsetCommitValue | null };
export type GroupMetadataRecord = { readonly key: GroupMetadataKey; readonly value: GroupMetadataValue | null };
export type OffsetsTopicRecord = OffsetCommitRecord | GroupMetadataRecord;

export type EncodedRecord = { readonly key: Uint8Array; readonly value: Uint8Array | null };

function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function encodeKey(key: OffsetCommitKey | GroupMetadataKey): Uint8Array {
  return key.type === 'OffsetCommit'
    ? copyBytes(pack([offsetCommitKeyVersion, key.group, key.topic, key.partition]))
    : copyBytes(pack([groupMetadataKeyVersion, key.group]));
}

export function encodeRecord(record: OffsetsTopicRecord): EncodedRecord {
  const key = encodeKey(record.key);
  if (record.value === null) return { key, value: null };
  if (record.key.type === 'OffsetCommit') {
    const v = record.value as OffsetCommitValue;
    return {
      key,
      value: copyBytes(pack({ v: valueVersion, offset: v.offset, leaderEpoch: v.leaderEpoch, metadata: v.metadata, commitTimestampMs: v.commitTimestampMs })),
    };
  }
  const g = record.value as GroupMetadataValue;
  return {
    key,
    value: copyBytes(
      pack({
        v: valueVersion,
        protocolType: g.protocolType,
        generationId: g.generationId,
        protocol: g.protocol,
        leader: g.leader,
        currentStateTimestampMs: g.currentStateTimestampMs,
        members: g.members.map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          sessionTimeoutMs: m.sessionTimeoutMs,
          rebalanceTimeoutMs: m.rebalanceTimeoutMs,
          subscription: m.subscription,
          assignment: m.assignment,
        })),
      }),
    ),
  };
}

class Invalid extends Error {}

function fail(message: string): never {
  throw new Invalid(message);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function str(x: unknown, what: string): string {
  if (typeof x !== 'string') fail(`${what} is not a string`);
  return x;
}

function strOrNull(x: unknown, what: string): string | null {
  return x === null || x === undefined ? null : str(x, what);
}

function int(x: unknown, what: string, min: number): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) fail(`${what} is not an integer >= ${min}`);
  return x;
}

function bytes(x: unknown, what: string): Uint8Array {
  if (!(x instanceof Uint8Array)) fail(`${what} is not bytes`);
  return copyBytes(x);
}

/**
 * A decoded value, printable in an error message without calling into it (String() of `{ toString: 0 }` throws).
 * Like protocol/validate.ts printable, kept here so the pure modules import nothing more.
 */
export function printableValue(value: unknown): string {
  if (typeof value === 'string') return value.slice(0, 64);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === undefined) return `${value}`;
  if (value === null) return 'null';
  return Array.isArray(value) ? '<array>' : `<${typeof value}>`;
}

function decodeKey(keyBytes: Uint8Array): OffsetCommitKey | GroupMetadataKey {
  const raw: unknown = unpack(keyBytes);
  if (!Array.isArray(raw)) fail('key is not an array');
  const version = raw[0];
  if (version === offsetCommitKeyVersion && raw.length === 4) {
    const group = str(raw[1], 'key.group');
    const topic = str(raw[2], 'key.topic');
    if (topic.length === 0) fail('key.topic is empty');
    return { type: 'OffsetCommit', group, topic, partition: int(raw[3], 'key.partition', 0) };
  }
  if (version === groupMetadataKeyVersion && raw.length === 2) return { type: 'GroupMetadata', group: str(raw[1], 'key.group') };
  return fail(`unknown key version ${printableValue(version)}`);
}

function decodeOffsetValue(raw: unknown): OffsetCommitValue {
  if (!isRecord(raw)) fail('value is not a map');
  int(raw.v, 'value.v', 0);
  return {
    offset: int(raw.offset, 'offset', 0),
    leaderEpoch: int(raw.leaderEpoch, 'leaderEpoch', -1),
    metadata: str(raw.metadata, 'metadata'),
    commitTimestampMs: int(raw.commitTimestampMs, 'commitTimestampMs', 0),
  };
}

function decodeGroupValue(raw: unknown): GroupMetadataValue {
  if (!isRecord(raw)) fail('value is not a map');
  int(raw.v, 'value.v', 0);
  if (!Array.isArray(raw.members)) fail('members is not an array');
  const members = raw.members.map((m: unknown): GroupMemberRecord => {
    if (!isRecord(m)) fail('member is not a map');
    return {
      memberId: str(m.memberId, 'memberId'),
      groupInstanceId: strOrNull(m.groupInstanceId, 'groupInstanceId'),
      clientId: str(m.clientId, 'clientId'),
      clientHost: str(m.clientHost, 'clientHost'),
      sessionTimeoutMs: int(m.sessionTimeoutMs, 'sessionTimeoutMs', 1),
      rebalanceTimeoutMs: int(m.rebalanceTimeoutMs, 'rebalanceTimeoutMs', 1),
      subscription: bytes(m.subscription, 'subscription'),
      assignment: bytes(m.assignment, 'assignment'),
    };
  });
  const memberIds = new Set(members.map((m) => m.memberId));
  if (memberIds.size !== members.length) fail('duplicate member ids');
  const leader = strOrNull(raw.leader, 'leader');
  if (members.length > 0 && (leader === null || !memberIds.has(leader))) fail('leader is not a member');
  const protocol = strOrNull(raw.protocol, 'protocol');
  if (members.length > 0 && protocol === null) fail('a group with members has no protocol');
  return {
    protocolType: strOrNull(raw.protocolType, 'protocolType'),
    generationId: int(raw.generationId, 'generationId', 0),
    protocol,
    leader,
    currentStateTimestampMs: int(raw.currentStateTimestampMs, 'currentStateTimestampMs', 0),
    members,
  };
}

/** Decodes one record read back from `__consumer_offsets`; never throws. */
export function decodeRecord(keyBytes: Uint8Array, valueBytes: Uint8Array | null): Decoded<OffsetsTopicRecord> {
  try {
    const key = decodeKey(keyBytes);
    if (valueBytes === null) return { ok: true, value: key.type === 'OffsetCommit' ? { key, value: null } : { key, value: null } };
    const raw: unknown = unpack(valueBytes);
    if (key.type === 'OffsetCommit') return { ok: true, value: { key, value: decodeOffsetValue(raw) } };
    return { ok: true, value: { key, value: decodeGroupValue(raw) } };
  } catch (err) {
    const message = err instanceof Invalid ? err.message : `undecodable record: ${String(err)}`;
    return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message };
  }
}

/** Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, in 32-bit two's complement. */
export function javaStringHashCode(s: string): number {
  let hash = 0;
  for (let i = 0; i < s.length; i++) hash = (Math.imul(31, hash) + s.charCodeAt(i)) | 0;
  return hash;
}

/** Kafka's Utils.abs: Math.abs, except Integer.MIN_VALUE (whose abs overflows) maps to 0. */
export function kafkaAbs(n: number): number {
  return n === -2_147_483_648 ? 0 : Math.abs(n);
}

/** The `__consumer_offsets` partition whose leader coordinates `groupId` (Kafka's GroupMetadataManager.partitionFor). */
export function coordinatorPartitionFor(groupId: string, partitionCount: number): number {
  assert(Number.isInteger(partitionCount), 'coordinatorPartitionFor: partitionCount is an integer');
  assert(partitionCount > 0, 'coordinatorPartitionFor: partitionCount is positive');
  return kafkaAbs(javaStringHashCode(groupId)) % partitionCount;
}

/**
 * What the loader takes from one `__consumer_offsets` partition, in log order:
 * the records of a plain batch, the offset records of one transactional batch
 * (one TxnOffsetCommit write of producer `producerId` at `producerEpoch`), and
 * the end-transaction markers of control batches.
 */
export type OffsetsLogEntry =
  | { readonly type: 'Record'; readonly record: OffsetsTopicRecord }
  | { readonly type: 'TxnOffsets'; readonly producerId: number; readonly producerEpoch: number; readonly records: readonly OffsetsTopicRecord[] }
  | { readonly type: 'TxnMarker'; readonly producerId: number; readonly producerEpoch: number; readonly result: 'commit' | 'abort' };

/**
 * Rebuilds every group of one `__consumer_offsets` partition from its records,
 * in log order (what a new coordinator does while it answers
 * COORDINATOR_LOAD_IN_PROGRESS). The last record per key wins; a tombstone
 * deletes. A group with neither metadata nor offsets left is absent.
 */
export function loadGroups(
  records: Iterable<OffsetsTopicRecord>,
  options: { readonly nowMs: number; readonly config?: GroupConfig },
): Map<string, GroupState> {
  const entries: OffsetsLogEntry[] = [];
  for (const record of records) entries.push({ type: 'Record', record });
  return replayOffsetsLog(entries, options).groups;
}

/**
 * `loadGroups` over the log's entries, transactions included (see the
 * header). `skipped` counts transactional records that staging refused (a
 * fenced epoch, a tombstone or group record in a transactional batch, more
 * than stagedOffsetsPerProducerMax partitions): the live coordinator never
 * writes those, so they are ignored as it would have ignored them.
 */
export function replayOffsetsLog(
  entries: Iterable<OffsetsLogEntry>,
  options: { readonly nowMs: number; readonly config?: GroupConfig },
): { readonly groups: Map<string, GroupState>; readonly skipped: number } {
  const metadataByGroup = new Map<string, GroupMetadataValue>();
  const offsetsByGroup = new Map<string, Map<string, Map<number, OffsetCommitValue>>>();
  const stagedByGroup = new Map<string, StagedTxnOffsets>();
  /** producer id -> the groups that hold staged offsets of it. */
  const groupsByProducer = new Map<number, Set<string>>();
  let skipped = 0;

  const setOffset = (group: string, topic: string, partition: number, value: OffsetCommitValue): void => {
    const byTopic = offsetsByGroup.get(group) ?? new Map<string, Map<number, OffsetCommitValue>>();
    offsetsByGroup.set(group, byTopic);
    const byPartition = byTopic.get(topic) ?? new Map<number, OffsetCommitValue>();
    byTopic.set(topic, byPartition);
    byPartition.set(partition, value);
  };
  const apply = (record: OffsetsTopicRecord): void => {
    const group = record.key.group;
    if (record.key.type === 'GroupMetadata') {
      if (record.value === null) metadataByGroup.delete(group);
      else metadataByGroup.set(group, record.value as GroupMetadataValue);
      return;
    }
    const { topic, partition } = record.key;
    if (record.value === null) {
      const byTopic = offsetsByGroup.get(group);
      const byPartition = byTopic?.get(topic);
      byPartition?.delete(partition);
      if (byPartition?.size === 0) byTopic!.delete(topic);
      if (byTopic?.size === 0) offsetsByGroup.delete(group);
      return;
    }
    setOffset(group, topic, partition, record.value as OffsetCommitValue);
  };

  for (const entry of entries) {
    switch (entry.type) {
      case 'Record':
        apply(entry.record);
        break;
      case 'TxnOffsets': {
        const byGroup = new Map<string, TxnOffset[]>();
        for (const record of entry.records) {
          if (record.key.type !== 'OffsetCommit' || record.value === null) {
            skipped += 1;
            continue;
          }
          const key = record.key;
          const v = record.value as OffsetCommitValue;
          const list = byGroup.get(key.group) ?? [];
          byGroup.set(key.group, list);
          list.push({ topic: key.topic, partition: key.partition, offset: v.offset, leaderEpoch: v.leaderEpoch, metadata: v.metadata, commitTimestampMs: v.commitTimestampMs });
        }
        for (const [group, offsets] of byGroup) {
          // bumpEpochOnEnd false: the log does not say how the transaction ends, so a marker after the stage ends it (txn-offsets.ts).
          const staged = stageTxnOffsets(stagedByGroup.get(group) ?? noStagedTxnOffsets, entry.producerId, entry.producerEpoch, offsets, false);
          if (staged.results.some((r) => r.errorCode !== ErrorCode.NONE)) {
            skipped += offsets.length;
            continue;
          }
          stagedByGroup.set(group, staged.staged);
          const groups = groupsByProducer.get(entry.producerId) ?? new Set<string>();
          groupsByProducer.set(entry.producerId, groups);
          groups.add(group);
        }
        break;
      }
      case 'TxnMarker': {
        const groups = groupsByProducer.get(entry.producerId);
        if (groups === undefined) break;
        for (const group of [...groups]) {
          const done = completeTxnOffsets(stagedByGroup.get(group)!, entry.producerId, entry.producerEpoch, entry.result === 'commit' ? 'COMMIT' : 'ABORT');
          for (const o of done.committed) {
            setOffset(group, o.topic, o.partition, { offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata, commitTimestampMs: o.commitTimestampMs });
          }
          stagedByGroup.set(group, done.staged);
          if (!done.staged.has(entry.producerId)) groups.delete(group);
        }
        if (groups.size === 0) groupsByProducer.delete(entry.producerId);
        break;
      }
    }
  }
  const groups = new Map<string, GroupState>();
  const withStaged = [...stagedByGroup].filter(([, staged]) => staged.size > 0).map(([group]) => group);
  for (const groupId of new Set([...metadataByGroup.keys(), ...offsetsByGroup.keys(), ...withStaged])) {
    groups.set(
      groupId,
      restoreGroup(
        groupId,
        metadataByGroup.get(groupId) ?? null,
        offsetsByGroup.get(groupId) ?? new Map(),
        options.nowMs,
        options.config,
        stagedByGroup.get(groupId) ?? noStagedTxnOffsets,
      ),
    );
  }
  return { groups, skipped };
}
