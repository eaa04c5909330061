/**
 * The group side of TxnOffsetCommit, pure: offsets a transactional producer
 * commits for a group are staged per producer id, invisible to OffsetFetch,
 * until the transaction's marker reaches the group's `__consumer_offsets`
 * partition (AddOffsetsToTxn put it in the transaction): a COMMIT marker makes
 * them the group's committed offsets, an ABORT marker drops them. This is
 * Kafka's GroupMetadata pendingTransactionalOffsetCommits; the group
 * coordinator (actors/group-coordinator/) holds one `StagedTxnOffsets` per
 * group and calls these functions (group-logic.ts on each request and marker,
 * offsets-records.ts `replayOffsetsLog` when it replays the log, so a reload
 * decides exactly as the live coordinator did); it lives here, beside the
 * coordinator that writes the markers, because the two must agree on
 * producer ids and epochs.
 *
 * Rules:
 * - A stage from an epoch older than the one staged for the producer id is a
 *   zombie: PRODUCER_FENCED, nothing staged. A newer epoch replaces what an
 *   older one staged (that transaction ended without reaching this group;
 *   its marker, if it comes, is older than the stage and is ignored).
 * - A marker ends the producer's staged offsets only if its epoch is above the
 *   staged one: with KIP-890 (transaction version 2, the native protocol) the
 *   marker carries the transaction's epoch + 1 and the next transaction runs
 *   at that epoch, so a marker AT the staged epoch is the previous
 *   transaction's, told late (or told again while the partition reloaded),
 *   and must not decide the new transaction's offsets.
 *   Except for a stage whose transaction ends without the bump
 *   (`bumpEpochOnEnd` false: transaction version 1, Kafka's EndTxn v0-4 and
 *   TxnOffsetCommit v0-4 through the Kafka listener): its marker keeps the
 *   epoch, so a marker at the staged epoch ends it (Kafka's
 *   completePendingTxnOffsetCommit, which checks no epoch). Without this a
 *   KafkaJS sendOffsets never became visible. A replay of the log stages
 *   with `bumpEpochOnEnd` false, as Kafka's loader does (a control record
 *   ends whatever its producer staged before it): the log does not say how a
 *   transaction ends, and a version 1 stage replayed with the epoch rule
 *   would stay staged for ever. The price: a version 2 stage written before
 *   the previous transaction's marker (a client that did not wait for it) is
 *   ended by that marker on replay, where the live coordinator keeps it; and
 *   a replayed stage takes a late tell at its epoch as its end.
 * - Per partition: offset a safe integer >= 0, else INVALID_COMMIT_OFFSET_SIZE,
 *   and then nothing of that request is staged (no partial effects).
 * - `hasPendingOffset` tells OffsetFetch(requireStable) to answer
 *   UNSTABLE_OFFSET_COMMIT for a partition with a staged offset (KIP-447).
 * - Bounded: at most `stagedOffsetsPerProducerMax` partitions per producer id
 *   (more: INVALID_REQUEST).
 *
 * Values are immutable; every function returns a new map. Imports:
 * protocol/errors.ts, runtime/assert.ts only.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import { assert } from '../../runtime/assert.ts';

export const stagedOffsetsPerProducerMax = 10_000;

export type TxnOffset = {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** -1 when unknown. */
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
};

type Staged = {
  readonly producerEpoch: number;
  /** false: the transaction's marker keeps `producerEpoch` (transaction version 1), so one at that epoch ends it. */
  readonly bumpEpochOnEnd: boolean;
  readonly offsets: ReadonlyMap<string, TxnOffset>;
};
export type StagedTxnOffsets = ReadonlyMap<number, Staged>;

export const noStagedTxnOffsets: StagedTxnOffsets = new Map();

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export type StageResult = {
  readonly staged: StagedTxnOffsets;
  readonly results: readonly { readonly topic: string; readonly partition: number; readonly errorCode: number }[];
};

/** TxnOffsetCommit: stage `offsets` for (producerId, producerEpoch); `bumpEpochOnEnd` as the transaction's EndTxn. */
export function stageTxnOffsets(staged: StagedTxnOffsets, producerId: number, producerEpoch: number, offsets: readonly TxnOffset[], bumpEpochOnEnd = true): StageResult {
  const answer = (errorOf: (o: TxnOffset) => number): StageResult => ({
    staged,
    results: offsets.map((o) => ({ topic: o.topic, partition: o.partition, errorCode: errorOf(o) })),
  });
  const current = staged.get(producerId);
  if (current !== undefined && producerEpoch < current.producerEpoch) return answer(() => ErrorCode.PRODUCER_FENCED);
  const bad = (o: TxnOffset): boolean => !Number.isSafeInteger(o.offset) || o.offset < 0;
  if (offsets.some(bad)) return answer((o) => (bad(o) ? ErrorCode.INVALID_COMMIT_OFFSET_SIZE : ErrorCode.OPERATION_NOT_ATTEMPTED));
  const merged = new Map(current !== undefined && current.producerEpoch === producerEpoch ? current.offsets : []);
  for (const o of offsets) merged.set(key(o.topic, o.partition), o);
  if (merged.size > stagedOffsetsPerProducerMax) return answer(() => ErrorCode.INVALID_REQUEST);
  const next = new Map(staged);
  next.set(producerId, { producerEpoch, bumpEpochOnEnd, offsets: merged });
  return { staged: next, results: offsets.map((o) => ({ topic: o.topic, partition: o.partition, errorCode: ErrorCode.NONE })) };
}

/** A transaction marker reached the group's partition: the committed offsets to apply (empty on abort or a stale marker). */
export function completeTxnOffsets(
  staged: StagedTxnOffsets,
  producerId: number,
  markerProducerEpoch: number,
  result: 'COMMIT' | 'ABORT',
): { readonly staged: StagedTxnOffsets; readonly committed: readonly TxnOffset[] } {
  assert(Number.isInteger(markerProducerEpoch), 'txn offsets: marker epoch is an integer');
  const current = staged.get(producerId);
  if (current === undefined || markerProducerEpoch < current.producerEpoch) return { staged, committed: [] };
  if (markerProducerEpoch === current.producerEpoch && current.bumpEpochOnEnd) return { staged, committed: [] };
  const next = new Map(staged);
  next.delete(producerId);
  return { staged: next, committed: result === 'COMMIT' ? [...current.offsets.values()] : [] };
}

/** OffsetFetch(requireStable): a transaction has an offset for this partition that is not decided yet. */
export function hasPendingOffset(staged: StagedTxnOffsets, topic: string, partition: number): boolean {
  for (const s of staged.values()) if (s.offsets.has(key(topic, partition))) return true;
  return false;
}
