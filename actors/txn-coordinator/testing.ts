/**
 * Test driver for txn-logic.ts (tests only): plays the shell. It steps the
 * state, keeps the records the "log" acknowledged, parks writes and marker
 * requests until a test acknowledges or fails them (or acknowledges them
 * automatically), hands out producer ids from a block, and keeps every reply.
 * A crash is modelled as `failover()`: a new state from `loadTransactions` of
 * the acknowledged records, ticked once.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import { emptyTxn, step, txnConfigDefault } from './txn-logic.ts';
import type { ReplyTarget, TxnConfig, TxnEffect, TxnInput, TxnReply, TxnResult, TxnState } from './txn-logic.ts';
import { loadTransactions } from './txn-records.ts';
import type { TopicPartition, TxnRecord } from './txn-records.ts';

export type MarkerRequest = Extract<TxnEffect, { type: 'WriteTxnMarkers' }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A request as a test writes it; an EndTxn without `bumpEpochOnEnd` is the native one (true). */
export type RequestInput = DistributiveOmit<Extract<TxnInput, { replyTo: ReplyTarget }>, 'transactionalId' | 'replyTo' | 'freshProducerId' | 'bumpEpochOnEnd'> & {
  readonly bumpEpochOnEnd?: boolean;
};

export const client: ReplyTarget = { node: 'client', path: '/producer' };

export class Driver {
  state: TxnState;
  nowMs = 1_000;
  /** Acknowledged records, in log order. */
  readonly log: TxnRecord[] = [];
  readonly replies: TxnReply[] = [];
  readonly effects: TxnEffect[] = [];
  /** Writes issued, not acknowledged yet. */
  readonly persists: { persistId: number; record: TxnRecord }[] = [];
  /** Marker requests issued, not answered yet. */
  readonly markerRequests: MarkerRequest[] = [];
  /** Every marker the partitions acknowledged: what each partition saw. */
  readonly markersWritten: { partition: TopicPartition; producerId: number; producerEpoch: number; result: TxnResult }[] = [];
  nextProducerId = 1_000;
  autoPersist = true;
  autoMarkers = true;

  constructor(
    readonly transactionalId = 'tx-1',
    readonly config: TxnConfig = txnConfigDefault,
  ) {
    this.state = emptyTxn(transactionalId, config);
  }

  /** Steps one input; then settles automatic writes and markers. Returns the replies it produced. */
  send(input: TxnInput): TxnReply[] {
    const before = this.replies.length;
    this.apply(input);
    this.settle();
    return this.replies.slice(before);
  }

  /** The whole input of a test request, from `client`. */
  input(request: RequestInput): TxnInput {
    const base = { ...request, transactionalId: this.transactionalId, replyTo: client, freshProducerId: this.nextProducerId };
    return (request.type === 'EndTxn' ? { ...base, bumpEpochOnEnd: request.bumpEpochOnEnd ?? true } : base) as TxnInput;
  }

  request(input: RequestInput): TxnReply {
    const replies = this.send(this.input(input));
    if (replies.length !== 1) throw new Error(`expected one reply, got ${replies.length}: ${JSON.stringify(replies)}`);
    return replies[0]!;
  }

  tick(atMs: number): TxnReply[] {
    this.nowMs = Math.max(this.nowMs, atMs);
    return this.send({ type: 'Tick' });
  }

  apply(input: TxnInput): void {
    const [next, effects] = step(this.state, input, this.nowMs);
    this.state = next;
    for (const e of effects) {
      this.effects.push(e);
      switch (e.type) {
        case 'Reply':
          this.replies.push(e.reply);
          break;
        case 'PersistTxnState':
          this.persists.push({ persistId: e.persistId, record: e.record });
          break;
        case 'WriteTxnMarkers':
          this.markerRequests.push(e);
          break;
        case 'ProducerIdTaken':
          if (e.producerId !== this.nextProducerId) throw new Error(`took ${e.producerId}, offered ${this.nextProducerId}`);
          this.nextProducerId += 1;
          break;
        case 'ScheduleDeadline':
          break;
      }
    }
  }

  settle(): void {
    for (let rounds = 0; rounds < 100; rounds++) {
      if (this.autoPersist && this.persists.length > 0) this.completePersist();
      else if (this.autoMarkers && this.markerRequests.length > 0) this.ackMarkers();
      else return;
    }
    throw new Error('driver: did not settle');
  }

  /** Acknowledges (or fails) the oldest write. */
  completePersist(errorCode: number = ErrorCode.NONE): void {
    const write = this.persists.shift();
    if (write === undefined) throw new Error('no write in flight');
    if (errorCode === ErrorCode.NONE) this.log.push(write.record);
    this.apply({ type: 'PersistCompleted', persistId: write.persistId, errorCode });
  }

  /** Acknowledges the oldest marker request (all of its partitions, or those given). */
  ackMarkers(only?: readonly TopicPartition[]): void {
    const request = this.markerRequests.shift();
    if (request === undefined) throw new Error('no marker request');
    const keys = only?.map((p) => `${p.topic}/${p.partition}`);
    const acked = request.partitions.filter((p) => keys === undefined || keys.includes(`${p.topic}/${p.partition}`));
    const failed = request.partitions.filter((p) => !acked.includes(p));
    for (const partition of acked) this.markersWritten.push({ partition, producerId: request.producerId, producerEpoch: request.producerEpoch, result: request.result });
    const id = { producerId: request.producerId, producerEpoch: request.producerEpoch, result: request.result };
    if (acked.length > 0) this.apply({ type: 'MarkersWritten', ...id, partitions: acked });
    if (failed.length > 0) this.apply({ type: 'MarkersFailed', ...id, partitions: failed, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER });
  }

  /** Fails the oldest marker request for every partition. */
  failMarkers(errorCode: number = ErrorCode.NOT_LEADER_OR_FOLLOWER): void {
    const request = this.markerRequests.shift();
    if (request === undefined) throw new Error('no marker request');
    this.apply({ type: 'MarkersFailed', producerId: request.producerId, producerEpoch: request.producerEpoch, result: request.result, partitions: request.partitions, errorCode });
  }

  /** The coordinator crashes: unanswered writes and marker requests are lost; a new one loads the log and ticks. */
  failover(): void {
    this.persists.length = 0;
    this.markerRequests.length = 0;
    const loaded = loadTransactions(this.log, { nowMs: this.nowMs, config: this.config }).get(this.transactionalId);
    this.state = loaded ?? emptyTxn(this.transactionalId, this.config);
    this.send({ type: 'Tick' });
  }
}
