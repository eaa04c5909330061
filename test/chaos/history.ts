/**
 * The history of a chaos run, as plain data.
 *
 * Owns: the event types a chaos harness records while it drives a real
 * cluster (sends and their outcomes, every record a reader saw, the final
 * read-back, consumer-group offset commits, transaction outcomes, faults),
 * and `parseHistory`, which turns untrusted JSON (a saved run) back into a
 * typed `History` or throws a `HistoryFormatError` naming the bad event.
 *
 * Why plain data: a run is expensive and a failure is rare. Saving the
 * history as JSON lets anyone re-check it with a newer checker, shrink it by
 * hand, or turn it into a regression test. So: no classes, no Maps, no
 * bigint, no undefined-vs-missing subtleties that JSON loses.
 *
 * Conventions the harness must keep (the checker asserts the first three and
 * throws `HistoryError` when one is broken, because a broken history is a
 * harness bug, not a finding about the cluster):
 *   1. `atMs` never decreases along `events` (one recorder, one clock; the
 *      array order is the time order, ties keep array order).
 *   2. Every sent `value` is unique across the whole run (e.g.
 *      `${process}-${seq}`): values are how the checker joins a send to its
 *      acknowledgement and to what readers saw. One `send-invoke` per value,
 *      then at most one completion (`send-ok` or `send-fail`) after it. An
 *      invoke with no completion by the end is in flight: indeterminate.
 *   3. A value listed in a transaction outcome (`txn-commit`, `txn-abort`,
 *      `txn-unknown`) was sent earlier with a `txnId`, and is in at most one
 *      of `txn-commit` / `txn-abort`.
 *   4. Offsets are JSON numbers (exact up to 2^53, far beyond any test log).
 *   5. `final-read` is a read_uncommitted read-back of the whole partition
 *      from offset 0 (or from the log start, if nothing was ever deleted)
 *      after every fault healed; aborted transactional records are in it,
 *      because they are in the log. Several final reads of one partition are
 *      merged.
 *   6. `read` is recorded for every record a consumer or reader delivered to
 *      the workload (not records prefetched and dropped).
 *   7. Consumer groups start from the earliest offset (auto.offset.reset =
 *      earliest), so a group's committed offset is a claim that it processed
 *      every record below it (see `unseen` in checker.ts).
 *
 * Must not import: anything that does I/O. This file is data and validation.
 */

/** Kafka isolation levels, as the Fetch request names them. */
export type Isolation = 'read_committed' | 'read_uncommitted';

/** What a nemesis did. `target` says to whom (a node id, a link "1|2,3", an actor path). */
export type FaultKind = 'kill' | 'pause' | 'partition' | 'crash-actor' | 'controller' | 'hostile' | 'reassign';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'crash-actor', 'controller', 'hostile', 'reassign'];

/** Fields every event carries. `process` is the harness worker id (a producer, consumer or nemesis). */
export type EventBase = { atMs: number; process: string };

/** A producer starts sending `value`. `partition` is absent when the partitioner chooses (keyed). */
export type SendInvoke = EventBase & {
  type: 'send-invoke';
  topic: string;
  partition?: number;
  key: string | null;
  value: string;
  producerId: string;
  /** Present when sent inside a transaction. */
  txnId?: string;
};

/** The broker acknowledged `value` (acks=all) at this position. */
export type SendOk = EventBase & { type: 'send-ok'; value: string; topic: string; partition: number; offset: number };

/**
 * The send of `value` failed. `definite`: the write certainly did not happen
 * (refused before any append, e.g. INVALID_RECORD, or the client never sent
 * it). Otherwise (timeout, connection lost, NOT_ENOUGH_REPLICAS_AFTER_APPEND)
 * it may have happened: the checker counts it as indeterminate.
 */
export type SendFail = EventBase & { type: 'send-fail'; value: string; errorCode: number; definite: boolean };

/** One record a consumer (with `consumerGroup`) or a plain reader delivered to the workload. */
export type Read = EventBase & {
  type: 'read';
  topic: string;
  partition: number;
  offset: number;
  value: string;
  isolation: Isolation;
  consumerGroup?: string;
  /** The group generation the consumer was in when it read, when it is in a group. */
  generation?: number;
};

/** One record of the final read-back. */
export type FinalRecord = { offset: number; value: string };

/** The full read-back of one partition after healing (see convention 5). */
export type FinalRead = EventBase & { type: 'final-read'; topic: string; partition: number; records: FinalRecord[] };

/** A successful OffsetCommit: the group claims it processed every record below `offset`. */
export type Commit = EventBase & {
  type: 'commit';
  group: string;
  topic: string;
  partition: number;
  offset: number;
  generation: number;
};

/** What OffsetFetch returned later. -1 means "no committed offset", as Kafka says it. */
export type CommittedFetch = EventBase & {
  type: 'committed-fetch';
  group: string;
  topic: string;
  partition: number;
  offset: number;
};

/** commitTransaction succeeded: these values are committed. */
export type TxnCommit = EventBase & { type: 'txn-commit'; txnId: string; values: string[] };

/** abortTransaction succeeded (or the coordinator aborted it and said so): these values are aborted. */
export type TxnAbort = EventBase & { type: 'txn-abort'; txnId: string; values: string[] };

/**
 * commitTransaction or abortTransaction failed indefinitely (timeout,
 * connection lost): the transaction may have gone either way, so
 * read_committed reads of these values are not flagged. An addition to the
 * issue's list: without it an indefinite commit would be a false
 * `aborted-read`.
 */
export type TxnUnknown = EventBase & { type: 'txn-unknown'; txnId: string; values: string[] };

/** A nemesis began a fault. */
export type FaultStart = EventBase & { type: 'fault-start'; kind: FaultKind; target: string; detail?: string };

/** A nemesis healed the fault with this kind and target (the most recent open one). */
export type FaultEnd = EventBase & { type: 'fault-end'; kind: FaultKind; target: string };

export type HistoryEvent =
  | SendInvoke
  | SendOk
  | SendFail
  | Read
  | FinalRead
  | Commit
  | CommittedFetch
  | TxnCommit
  | TxnAbort
  | TxnUnknown
  | FaultStart
  | FaultEnd;

export type HistoryEventType = HistoryEvent['type'];

export const HISTORY_FORMAT_VERSION = 1;

/** A saved run: the format version and the events in time order. */
export type History = { version: typeof HISTORY_FORMAT_VERSION; events: HistoryEvent[] };

/** A saved history that is not valid JSON of this format. `index` is the bad event's index, or -1. */
export class HistoryFormatError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(index >= 0 ? `event ${index}: ${message}` : message);
    this.name = 'HistoryFormatError';
  }
}

// ---------------------------------------------------------------------------
// Validation of untrusted JSON. Field checks are table-driven: one spec per
// event type, so adding a field is one line.

type FieldKind = 'string' | 'int' | 'offset' | 'number' | 'boolean' | 'string|null' | 'isolation' | 'fault' | 'strings' | 'records';
type FieldSpec = Record<string, FieldKind>;
type EventSpec = { required: FieldSpec; optional?: FieldSpec };

const EVENT_SPECS: Record<HistoryEventType, EventSpec> = {
  'send-invoke': {
    required: { topic: 'string', key: 'string|null', value: 'string', producerId: 'string' },
    optional: { partition: 'int', txnId: 'string' },
  },
  'send-ok': { required: { value: 'string', topic: 'string', partition: 'int', offset: 'offset' } },
  'send-fail': { required: { value: 'string', errorCode: 'int', definite: 'boolean' } },
  read: {
    required: { topic: 'string', partition: 'int', offset: 'offset', value: 'string', isolation: 'isolation' },
    optional: { consumerGroup: 'string', generation: 'int' },
  },
  'final-read': { required: { topic: 'string', partition: 'int', records: 'records' } },
  commit: { required: { group: 'string', topic: 'string', partition: 'int', offset: 'int', generation: 'int' } },
  'committed-fetch': { required: { group: 'string', topic: 'string', partition: 'int', offset: 'int' } },
  'txn-commit': { required: { txnId: 'string', values: 'strings' } },
  'txn-abort': { required: { txnId: 'string', values: 'strings' } },
  'txn-unknown': { required: { txnId: 'string', values: 'strings' } },
  'fault-start': { required: { kind: 'fault', target: 'string' }, optional: { detail: 'string' } },
  'fault-end': { required: { kind: 'fault', target: 'string' } },
};

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isOffset(x: unknown): boolean {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

function fieldOk(kind: FieldKind, x: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof x === 'string';
    case 'int':
      return Number.isSafeInteger(x);
    case 'offset':
      return isOffset(x);
    case 'number':
      return typeof x === 'number' && Number.isFinite(x);
    case 'boolean':
      return typeof x === 'boolean';
    case 'string|null':
      return x === null || typeof x === 'string';
    case 'isolation':
      return x === 'read_committed' || x === 'read_uncommitted';
    case 'fault':
      return typeof x === 'string' && (FAULT_KINDS as readonly string[]).includes(x);
    case 'strings':
      return Array.isArray(x) && x.every((v) => typeof v === 'string');
    case 'records':
      return Array.isArray(x) && x.every((r) => isRecord(r) && isOffset(r['offset']) && typeof r['value'] === 'string');
  }
}

function checkFields(event: Record<string, unknown>, spec: FieldSpec, optional: boolean, index: number): void {
  for (const [name, kind] of Object.entries(spec)) {
    const x = event[name];
    if (optional && x === undefined) continue;
    if (!fieldOk(kind, x)) throw new HistoryFormatError(`${String(event['type'])}.${name} must be ${kind}`, index);
  }
}

/** Validates one untrusted event; returns it typed or throws `HistoryFormatError`. */
export function parseEvent(x: unknown, index = -1): HistoryEvent {
  if (!isRecord(x)) throw new HistoryFormatError('event must be an object', index);
  const type = x['type'];
  if (typeof type !== 'string' || !Object.hasOwn(EVENT_SPECS, type)) {
    throw new HistoryFormatError(`unknown event type ${JSON.stringify(type)}`, index);
  }
  const spec = EVENT_SPECS[type as HistoryEventType];
  checkFields(x, { atMs: 'number', process: 'string' }, false, index);
  checkFields(x, spec.required, false, index);
  if (spec.optional) checkFields(x, spec.optional, true, index);
  return x as HistoryEvent;
}

/**
 * Validates a parsed JSON value as a `History`. Checks shapes and
 * convention 1 (time order); the joins (conventions 2-3) are checked by the
 * checker, which builds the maps anyway.
 */
export function parseHistory(x: unknown): History {
  if (!isRecord(x)) throw new HistoryFormatError('history must be an object', -1);
  if (x['version'] !== HISTORY_FORMAT_VERSION) {
    throw new HistoryFormatError(`unsupported history version ${JSON.stringify(x['version'])}`, -1);
  }
  const raw = x['events'];
  if (!Array.isArray(raw)) throw new HistoryFormatError('history.events must be an array', -1);
  const events: HistoryEvent[] = new Array<HistoryEvent>(raw.length);
  let lastAtMs = -Infinity;
  for (let i = 0; i < raw.length; i++) {
    const event = parseEvent(raw[i], i);
    if (event.atMs < lastAtMs) throw new HistoryFormatError(`atMs ${event.atMs} goes back from ${lastAtMs}`, i);
    lastAtMs = event.atMs;
    events[i] = event;
  }
  return { version: HISTORY_FORMAT_VERSION, events };
}

/** Wraps events as a saveable history. */
export function makeHistory(events: HistoryEvent[]): History {
  return { version: HISTORY_FORMAT_VERSION, events };
}
