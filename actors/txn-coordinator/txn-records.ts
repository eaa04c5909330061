/**
 * The records of the compacted `__transaction_state` topic, and where a
 * transactional id lives.
 *
 * Owns: the key/value shapes (one record per transactional id; a null value is
 * a tombstone), their byte encoding with validation of untrusted bytes,
 * `loadTransactions` (replay a partition into per-id states) and
 * `coordinatorPartitionFor`, Kafka's `Utils.abs(transactionalId.hashCode) % n`
 * (TransactionStateManager.partitionFor; the hash is the group coordinator's,
 * imported from offsets-records.ts so the two can never disagree).
 *
 * Layout (msgpack, exported `pack`/`unpack`, no shared structures):
 * - key:   [1, transactionalId]
 * - value: { v: 1, producerId, previousProducerId, nextProducerId, producerEpoch,
 *            lastProducerEpoch, timeoutMs, state, partitions: [[topic, partition], ...],
 *            txnStartMs, lastUpdateMs[, endBumpedEpoch: false] }
 * - a null value is a tombstone: the transactional id expired (Kafka's Dead).
 * Keys are arrays so equal keys encode to equal bytes: compaction keeps the
 * last record per key byte string. An unknown key version is a decode error.
 *
 * Fields beyond the list, and why (Kafka's TransactionMetadata keeps
 * the same two): `nextProducerId` is the id a transaction ending with an
 * exhausted epoch rotates to; it must be in the Prepare* record so a new
 * coordinator completes the rotation the old one promised in its EndTxn reply.
 * `previousProducerId` is the id before the last rotation, so a retried EndTxn
 * that still carries it is recognised.
 *
 * `endBumpedEpoch` (optional, written only as false): the Prepare* of a
 * client's EndTxn in transaction version 1 (a Kafka client before EndTxn v5)
 * and the Complete* that follows it, whose end kept the producer epoch; the
 * coordinator then answers that end's retries at the current epoch instead of
 * at lastProducerEpoch. Absent: the end bumped, or the record is not the
 * result of a client's end; every record written before the field replays
 * as before, and a node without it reads the record and ignores the key.
 *
 * Invariants (checked when decoding, asserted when encoding):
 * - producerId >= 0; previousProducerId, nextProducerId >= -1 (-1 none);
 *   0 <= producerEpoch <= 32767; -1 <= lastProducerEpoch <= 32767; timeoutMs >= 1.
 * - state is Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit or
 *   CompleteAbort (Dead is written as a tombstone, never as a state).
 * - Ongoing and Prepare* name at least one partition; Empty and Complete* none.
 *   Partitions are distinct, topic non-empty, partition >= 0.
 * - nextProducerId is -1 outside Prepare*.
 * - endBumpedEpoch, when present, is false, in Prepare* or Complete* only,
 *   with nextProducerId -1 (an end that keeps the epoch never rotates).
 * - txnStartMs is -1 (no transaction) or >= 0; lastUpdateMs >= 0.
 * Decoding never throws: it returns CORRUPT_MESSAGE.
 *
 * Imports: protocol/errors.ts, runtime/assert.ts, msgpackr, the hash of
 * actors/group-coordinator/offsets-records.ts and this folder only.
 */
import { pack, unpack } from 'msgpackr';
import { ErrorCode } from '../../protocol/errors.ts';
import { assert } from '../../runtime/assert.ts';
import { javaStringHashCode, kafkaAbs, printableValue } from '../group-coordinator/offsets-records.ts';
import { restoreTxn, txnConfigDefault } from './txn-logic.ts';
import type { TxnConfig, TxnState } from './txn-logic.ts';

export const transactionStateTopic = '__transaction_state';
/** transaction.state.log.num.partitions */
export const transactionStatePartitionCountDefault = 50;
export const txnKeyVersion = 1;
const valueVersion = 1;
/** Kafka's Short.MAX_VALUE: the producer epoch is an int16 on the wire. */
export const producerEpochLimit = 32_767;

/** The states a record may hold (Dead is a tombstone). */
export type TxnRecordState = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort';
const recordStates: readonly TxnRecordState[] = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort'];

export type TopicPartition = { readonly topic: string; readonly partition: number };

export type TxnKey = { readonly transactionalId: string };

export type TxnValue = {
  readonly producerId: number;
  /** The producer id before the last rotation (-1 none). */
  readonly previousProducerId: number;
  /** Prepare* only: the id the transaction rotates to when it completes (-1 none). */
  readonly nextProducerId: number;
  readonly producerEpoch: number;
  /** The epoch the client used for the transaction it last ended itself (-1: none, or the producer was fenced since). */
  readonly lastProducerEpoch: number;
  /** transaction.timeout.ms the producer asked for. */
  readonly timeoutMs: number;
  readonly state: TxnRecordState;
  readonly partitions: readonly TopicPartition[];
  /** When the ongoing transaction added its first partition (-1 when none). */
  readonly txnStartMs: number;
  readonly lastUpdateMs: number;
  /** false: this Prepare* or Complete* record ended a transaction in its own epoch (transaction version 1); absent otherwise. */
  readonly endBumpedEpoch?: false;
};

export type TxnRecord = { readonly key: TxnKey; readonly value: TxnValue | null };
export type EncodedRecord = { readonly key: Uint8Array; readonly value: Uint8Array | null };
export type Decoded<T> = { ok: true; value: T } | { ok: false; errorCode: number; message: string };

function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function encodeKey(key: TxnKey): Uint8Array {
  return copyBytes(pack([txnKeyVersion, key.transactionalId]));
}

class Invalid extends Error {}

function fail(message: string): never {
  throw new Invalid(message);
}

/** The value invariants; returns the first broken one, or null. Shared by encode (assert) and decode (error). */
export function valueProblem(v: TxnValue): string | null {
  const intIn = (x: number, min: number, max: number): boolean => Number.isSafeInteger(x) && x >= min && x <= max;
  if (!intIn(v.producerId, 0, Number.MAX_SAFE_INTEGER)) return 'producerId is not an integer >= 0';
  if (!intIn(v.previousProducerId, -1, Number.MAX_SAFE_INTEGER)) return 'previousProducerId is not an integer >= -1';
  if (!intIn(v.nextProducerId, -1, Number.MAX_SAFE_INTEGER)) return 'nextProducerId is not an integer >= -1';
  if (!intIn(v.producerEpoch, 0, producerEpochLimit)) return 'producerEpoch is not in [0, 32767]';
  if (!intIn(v.lastProducerEpoch, -1, producerEpochLimit)) return 'lastProducerEpoch is not in [-1, 32767]';
  if (!intIn(v.timeoutMs, 1, Number.MAX_SAFE_INTEGER)) return 'timeoutMs is not an integer >= 1';
  if (!recordStates.includes(v.state)) return `unknown state ${printableValue(v.state)}`;
  if (!intIn(v.txnStartMs, -1, Number.MAX_SAFE_INTEGER)) return 'txnStartMs is not an integer >= -1';
  if (!intIn(v.lastUpdateMs, 0, Number.MAX_SAFE_INTEGER)) return 'lastUpdateMs is not an integer >= 0';
  const seen = new Set<string>();
  for (const p of v.partitions) {
    if (typeof p.topic !== 'string' || p.topic.length === 0) return 'a partition topic is empty';
    if (!intIn(p.partition, 0, Number.MAX_SAFE_INTEGER)) return 'a partition number is not an integer >= 0';
    const key = `${p.topic}\u0000${p.partition}`;
    if (seen.has(key)) return 'duplicate partition';
    seen.add(key);
  }
  const inTxn = v.state === 'Ongoing' || v.state === 'PrepareCommit' || v.state === 'PrepareAbort';
  if (inTxn && v.partitions.length === 0) return `${v.state} without partitions`;
  if (!inTxn && v.partitions.length > 0) return `${v.state} with partitions`;
  if (v.nextProducerId !== -1 && v.state !== 'PrepareCommit' && v.state !== 'PrepareAbort') return 'nextProducerId outside Prepare*';
  if (v.endBumpedEpoch !== undefined) {
    if (v.endBumpedEpoch !== false) return 'endBumpedEpoch is present but not false';
    if (v.state === 'Empty' || v.state === 'Ongoing') return `endBumpedEpoch in ${v.state}`;
    if (v.nextProducerId !== -1) return 'endBumpedEpoch with a nextProducerId';
  }
  return null;
}

export function encodeRecord(record: TxnRecord): EncodedRecord {
  const key = encodeKey(record.key);
  const v = record.value;
  if (v === null) return { key, value: null };
  const problem = valueProblem(v);
  assert(problem === null, `txn record: ${problem ?? ''}`);
  return {
    key,
    value: copyBytes(
      pack({
        v: valueVersion,
        producerId: v.producerId,
        previousProducerId: v.previousProducerId,
        nextProducerId: v.nextProducerId,
        producerEpoch: v.producerEpoch,
        lastProducerEpoch: v.lastProducerEpoch,
        timeoutMs: v.timeoutMs,
        state: v.state,
        partitions: v.partitions.map((p) => [p.topic, p.partition]),
        txnStartMs: v.txnStartMs,
        lastUpdateMs: v.lastUpdateMs,
        ...(v.endBumpedEpoch === false ? { endBumpedEpoch: false } : {}),
      }),
    ),
  };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function num(x: unknown, what: string): number {
  if (typeof x !== 'number') fail(`${what} is not a number`);
  return x;
}

function decodeKey(keyBytes: Uint8Array): TxnKey {
  const raw: unknown = unpack(keyBytes);
  if (!Array.isArray(raw)) fail('key is not an array');
  if (raw[0] !== txnKeyVersion || raw.length !== 2) fail(`unknown key version ${printableValue(raw[0])}`);
  const transactionalId: unknown = raw[1];
  if (typeof transactionalId !== 'string' || transactionalId.length === 0) fail('key.transactionalId is not a non-empty string');
  return { transactionalId };
}

function decodeValue(raw: unknown): TxnValue {
  if (!isRecord(raw)) fail('value is not a map');
  if (raw.v !== valueVersion) fail(`unknown value version ${printableValue(raw.v)}`);
  if (!Array.isArray(raw.partitions)) fail('partitions is not an array');
  const partitions = raw.partitions.map((p: unknown): TopicPartition => {
    if (!Array.isArray(p) || p.length !== 2) fail('a partition is not [topic, partition]');
    const topic: unknown = p[0];
    if (typeof topic !== 'string') fail('a partition topic is not a string');
    return { topic, partition: num(p[1], 'partition') };
  });
  if (typeof raw.state !== 'string') fail('state is not a string');
  if (raw.endBumpedEpoch !== undefined && raw.endBumpedEpoch !== false) fail('endBumpedEpoch is present but not false');
  const value: TxnValue = {
    producerId: num(raw.producerId, 'producerId'),
    previousProducerId: num(raw.previousProducerId, 'previousProducerId'),
    nextProducerId: num(raw.nextProducerId, 'nextProducerId'),
    producerEpoch: num(raw.producerEpoch, 'producerEpoch'),
    lastProducerEpoch: num(raw.lastProducerEpoch, 'lastProducerEpoch'),
    timeoutMs: num(raw.timeoutMs, 'timeoutMs'),
    state: raw.state as TxnRecordState,
    partitions,
    txnStartMs: num(raw.txnStartMs, 'txnStartMs'),
    lastUpdateMs: num(raw.lastUpdateMs, 'lastUpdateMs'),
    ...(raw.endBumpedEpoch === false ? { endBumpedEpoch: false as const } : {}),
  };
  const problem = valueProblem(value);
  if (problem !== null) fail(problem);
  return value;
}

/** Decodes one record read back from `__transaction_state`; never throws. */
export function decodeRecord(keyBytes: Uint8Array, valueBytes: Uint8Array | null): Decoded<TxnRecord> {
  try {
    const key = decodeKey(keyBytes);
    if (valueBytes === null) return { ok: true, value: { key, value: null } };
    return { ok: true, value: { key, value: decodeValue(unpack(valueBytes)) } };
  } catch (err) {
    const message = err instanceof Invalid ? err.message : `undecodable record: ${String(err)}`;
    return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message };
  }
}

/** The `__transaction_state` partition whose leader coordinates `transactionalId` (TransactionStateManager.partitionFor). */
export function coordinatorPartitionFor(transactionalId: string, partitionCount: number): number {
  assert(Number.isInteger(partitionCount), 'coordinatorPartitionFor: partitionCount is an integer');
  assert(partitionCount > 0, 'coordinatorPartitionFor: partitionCount is positive');
  return kafkaAbs(javaStringHashCode(transactionalId)) % partitionCount;
}

/**
 * Rebuilds every transactional id of one `__transaction_state` partition
 * from its records, in log order (what a new coordinator does while it
 * answers COORDINATOR_LOAD_IN_PROGRESS). The last record per key wins; a
 * tombstone deletes. An id found in PrepareCommit/PrepareAbort comes back with
 * its markers due at `nowMs`: the shell Ticks each loaded state once (or at
 * `nextDeadlineMs`) and the markers go out, which is how a new coordinator
 * finishes what the old one started.
 */
export function loadTransactions(
  records: Iterable<TxnRecord>,
  options: { readonly nowMs: number; readonly config?: TxnConfig },
): Map<string, TxnState> {
  const last = new Map<string, TxnValue>();
  for (const record of records) {
    if (record.value === null) last.delete(record.key.transactionalId);
    else last.set(record.key.transactionalId, record.value);
  }
  const states = new Map<string, TxnState>();
  for (const [transactionalId, value] of last) {
    states.set(transactionalId, restoreTxn(transactionalId, value, options.nowMs, options.config ?? txnConfigDefault));
  }
  return states;
}
