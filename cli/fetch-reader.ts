/**
 * A group-less reader of one topic for the CLI (`consume` without --group,
 * `perf consume`, `perf e2e`): it keeps a position per partition and pulls
 * from each partition's leader with `/fetch` Fetch requests, decoding the
 * record batches with protocol/record-batch.
 *
 * Each leader is polled on its own (issue #20): one Fetch in flight per
 * leader (all of that leader's partitions in it), long-polling up to
 * fetchWaitMsMax. `poll` starts the leaders' fetches that are not in flight
 * and returns as soon as one of them answers, with the records at or past
 * each position, in offset order per partition; the other leaders' long
 * polls go on meanwhile. (It waited for every leader's answer before: a
 * record on one leader waited for the others' long polls.) A partition is in
 * at most one fetch at a time, also while its leader moves. Bounds:
 * fetchBytesMax per response, partitionFetchBytesMax per partition.
 *
 * What a reply's error means:
 *   NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, FENCED/UNKNOWN_LEADER_EPOCH,
 *   a link or timeout failure  -> refresh metadata, try again next poll
 *   OFFSET_OUT_OF_RANGE        -> move to the earliest or latest offset (resetTo)
 *   anything else              -> thrown (the command fails with it)
 *
 * A fetch may end with a partial batch (the size bound cut it): it is left
 * for the next fetch. The records are filtered by the consumer's own code
 * (client/consumer/read-committed.ts): control batches (transaction markers)
 * are skipped, and read_committed, which asks the broker to stop at the last
 * stable offset, also drops the records of the aborted transactions the
 * answer names.
 */
import type { ClientContext } from '../client/kactus.ts';
import type { Admin } from '../client/admin.ts';
import { ErrorCode, KactusError, errorInfo } from '../protocol/errors.ts';
import type { Fetch, FetchReply } from '../protocol/apis/data.ts';
import { batchSizeAt, decodeBatch, logOverheadBytes, type DecodedRecord, type RecordBatch } from '../protocol/record-batch/index.ts';
import { filterFetchedBatches, type AbortedTransaction } from '../client/consumer/read-committed.ts';

export const fetchReaderLimits = {
  /** Longest long-poll of one Fetch. */
  fetchWaitMsMax: 500,
  /** Bytes of one Fetch response. */
  fetchBytesMax: 16 * 1024 * 1024,
  /** Bytes of one partition in a Fetch response. */
  partitionFetchBytesMax: 4 * 1024 * 1024,
  /** Time a Fetch may take beyond its long-poll before it counts as failed. */
  fetchSlackMs: 5_000,
} as const;

export type ConsumedRecord = DecodedRecord & { partition: number };

/** Errors after which the leader we fetched from is probably not the leader. */
const refreshCodes: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.REPLICA_NOT_AVAILABLE,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.KAFKA_STORAGE_ERROR,
]);

export type StartAt = 'earliest' | 'latest' | number;

export class FetchReader {
  /** Next offset to read, per partition. */
  readonly positions = new Map<number, number>();
  /** High watermark seen in the last reply, per partition. */
  readonly highWatermarks = new Map<number, number>();

  constructor(
    private readonly context: ClientContext,
    private readonly admin: Admin,
    readonly topic: string,
    private readonly resetTo: 'earliest' | 'latest',
    private readonly isolationLevel: 0 | 1 = 0,
  ) {}

  /** The topic's partitions (rejects when the topic does not exist; never creates it). */
  async partitions(): Promise<number[]> {
    const [described] = await this.admin.describeTopics({ topics: [this.topic] });
    return described!.partitions.map((p) => p.partition).sort((a, b) => a - b);
  }

  /** Sets the positions of `partitions`: an offset as given, or the earliest/latest offset now. */
  async seek(partitions: readonly number[], at: StartAt): Promise<void> {
    if (typeof at === 'number') {
      for (const p of partitions) this.positions.set(p, at);
      return;
    }
    const offsets = await this.admin.listOffsets({ topic: this.topic, partitions, at });
    for (const o of offsets) this.positions.set(o.partition, o.offset);
  }

  /** Fetches in flight, by leader; each resolves once its answer is applied (records in `ready`). */
  private readonly inFlight = new Map<number, Promise<void>>();
  /** Partitions in a fetch in flight (or being reset): never in two at once. */
  private readonly busy = new Set<number>();
  /** Records fetched and not yet returned by poll. */
  private ready: ConsumedRecord[] = [];
  /** A fetch's failure that is not retriable: thrown by the next poll. */
  private failure: unknown = null;

  /**
   * Records past the positions (which advance past them): what one leader's answer brought, at the
   * latest after `waitMs` plus its round trip; possibly none (the caller polls again).
   */
  async poll(waitMs: number = fetchReaderLimits.fetchWaitMsMax): Promise<ConsumedRecord[]> {
    if (this.ready.length === 0 && this.failure === null) {
      await this.startFetches(waitMs);
      if (this.inFlight.size > 0 && this.ready.length === 0 && this.failure === null) await Promise.race(this.inFlight.values());
    }
    if (this.failure !== null) {
      const failure = this.failure;
      this.failure = null;
      throw failure;
    }
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** Starts a fetch for every leader that has idle partitions and none in flight. */
  private async startFetches(waitMs: number): Promise<void> {
    const { metadata } = this.context;
    const byLeader = new Map<number, number[]>();
    for (const partition of this.positions.keys()) {
      if (this.busy.has(partition)) continue;
      const leader = metadata.leaderOf(this.topic, partition) ?? (await metadata.leaderFor(this.topic, partition)).leader;
      if (this.inFlight.has(leader)) continue;
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition]);
    }
    for (const [leader, partitions] of byLeader) {
      for (const partition of partitions) this.busy.add(partition);
      const done = this.fetchFrom(leader, partitions, waitMs)
        .catch((err: unknown) => {
          this.failure ??= err;
        })
        .finally(() => {
          for (const partition of partitions) this.busy.delete(partition);
          this.inFlight.delete(leader);
        });
      this.inFlight.set(leader, done);
    }
  }

  /** One Fetch of `partitions` from `leader`; its records go to `ready`. Throws what no retry can change. */
  private async fetchFrom(leader: number, partitions: readonly number[], waitMs: number): Promise<void> {
    const { connection, metadata } = this.context;
    let reply: FetchReply;
    try {
      reply = await connection.ask<Fetch, FetchReply>(
        leader,
        '/fetch',
        (replyTo) => ({
          type: 'Fetch',
          replicaId: -1,
          maxWaitMs: waitMs,
          minBytes: 1,
          maxBytes: fetchReaderLimits.fetchBytesMax,
          isolationLevel: this.isolationLevel,
          partitions: partitions.map((partition) => ({ topic: this.topic, partition, fetchOffset: this.positions.get(partition)!, partitionMaxBytes: fetchReaderLimits.partitionFetchBytesMax, currentLeaderEpoch: -1, lastFetchedEpoch: -1 })),
          replyTo,
        }),
        waitMs + fetchReaderLimits.fetchSlackMs,
      );
    } catch (err) {
      if (err instanceof KactusError && err.retriable) {
        metadata.onError(this.topic, ErrorCode.NETWORK_EXCEPTION);
        return;
      }
      throw err;
    }
    if (reply.errorCode !== 0) {
      if (errorInfo(reply.errorCode).retriable || refreshCodes.has(reply.errorCode)) {
        metadata.onError(this.topic, reply.errorCode);
        return;
      }
      throw new KactusError(reply.errorCode, `fetch from broker ${leader}: ${reply.errorMessage ?? ''}`);
    }
    const resets: number[] = [];
    const out: ConsumedRecord[] = [];
    for (const p of reply.partitions) {
      if (p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
        resets.push(p.partition);
        continue;
      }
      if (p.errorCode !== 0) {
        if (refreshCodes.has(p.errorCode) || errorInfo(p.errorCode).retriable) {
          metadata.onError(this.topic, p.errorCode);
          continue;
        }
        throw new KactusError(p.errorCode, `fetch of topic "${this.topic}" partition ${p.partition} from broker ${leader}`);
      }
      this.highWatermarks.set(p.partition, p.highWatermark);
      if (p.records === null || p.records.byteLength === 0) continue;
      const position = this.positions.get(p.partition)!;
      const next = this.decode(Buffer.from(p.records.buffer, p.records.byteOffset, p.records.byteLength), p.partition, position, out, p.abortedTransactions ?? null);
      this.positions.set(p.partition, next);
    }
    this.ready = this.ready.length === 0 ? out : this.ready.concat(out);
    // Still busy (this fetch's partitions) until the reset is done: no fetch from the old position meanwhile.
    if (resets.length > 0) await this.seek(resets, this.resetTo);
  }

  /**
   * Appends the records at or past `position` to `out`, filtered as the consumer filters them
   * (client/consumer/read-committed.ts: control batches never, and under read_committed the records of
   * the transactions `aborted` names); returns the next position.
   */
  private decode(bytes: Buffer, partition: number, position: number, out: ConsumedRecord[], aborted: readonly AbortedTransaction[] | null): number {
    const batches: RecordBatch[] = [];
    let pos = 0;
    while (pos + logOverheadBytes <= bytes.length) {
      const sizeBytes = batchSizeAt(bytes, pos);
      if (pos + sizeBytes > bytes.length) break; // a partial batch at the end: the next fetch brings it whole
      const decoded = decodeBatch(bytes, pos);
      if (!decoded.ok) throw new KactusError(decoded.errorCode, `topic "${this.topic}" partition ${partition} at byte ${pos}: ${decoded.message}`);
      batches.push(decoded.value);
      pos += sizeBytes;
    }
    if (batches.length === 0) return position;
    const { records, nextOffset } = filterFetchedBatches(batches, { fetchOffset: position, readCommitted: this.isolationLevel === 1, abortedTransactions: aborted });
    for (const record of records) out.push({ ...record, partition });
    return Math.max(position, nextOffset);
  }
}
