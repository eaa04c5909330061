/**
 * `exactlyOnce`: Kafka's consume-transform-produce loop as a cold Observable.
 *
 *   const consumer = kactus.consumer({ groupId: 'copy', isolationLevel: 'read_committed', autoCommit: false }).subscribe(['a']);
 *   const producer = kactus.producer({ transactionalId: 'copy-0' });
 *   exactlyOnce({ consumer, producer, transform: (batch) => [{ topic: 'b', messages: batch.records.map((r) => ({ key: r.key, value: r.value })) }] })
 *     .subscribe({ error: (err) => console.error(err) });
 *
 * For each batch the consumer fetched (one partition's records), in order,
 * one at a time: open a transaction; send the transformed records; add the
 * consumed offset (last record + 1) with the consumer's group metadata
 * (sendOffsets); commit. The output records and the input offset become
 * visible together or not at all, so a read_committed reader of the output
 * sees every input record's output exactly once, across crashes.
 *
 * Subscribing first calls producer.initTransactions(): that fences an older
 * process with the same transactional id and finishes (aborts) its open
 * transaction before this one reads any committed offset. The consumer's own
 * offset commits are switched off (commitOffsetsInTransactions): only
 * transactions commit offsets.
 *
 * Failures:
 * - PRODUCER_FENCED (another process took the transactional id) and the
 *   other fatal codes: the Observable errors with it; nothing more is sent.
 * - Anything else in a transaction (a send, the offsets, the transform
 *   throwing, a rebalance making the generation stale): abort, then rewind
 *   the partition to its committed offset (seek) and go on; batches of that
 *   partition delivered before the rewind are skipped. At most
 *   `failuresInARowMax` failures in a row, each after a backoff; then the
 *   Observable errors with the last one.
 * - A commit whose outcome is unknown (a retriable EndTxn failure) is retried
 *   (the coordinator answers a repeated EndTxn); after commitAttemptsMax the
 *   Observable errors.
 *
 * - A partition revoked or lost: batches of it delivered before are skipped
 *   and acked (the next owner starts at the committed offset; processing them
 *   here would write their output twice; the ack only lets the revocation
 *   go on, since this consumer commits nothing itself).
 *
 * Emits one `ExactlyOnceCommit` per committed transaction.
 *
 * Imports: rxjs, protocol/errors.ts, ../producer (types and the fatal codes), ./consumer.ts, ./types.ts.
 */
import { Observable, concatMap, defer, filter, from, map, type Subscription } from 'rxjs';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { Producer, ProducerRecord } from '../producer/producer.ts';
import { fatalTxnCodes } from '../producer/transaction-state.ts';
import type { Consumer, ConsumerBatch } from './consumer.ts';
import { tpKey } from './types.ts';

export type ExactlyOnceOptions = {
  /** Subscribed to the input topics; isolationLevel 'read_committed' and autoCommit false. */
  consumer: Consumer;
  /** A transactional producer (transactionalId set), used by this pipeline only. */
  producer: Producer;
  /** The output records of one input batch (may be empty). Throwing aborts the batch's transaction and retries it. */
  transform: (batch: ConsumerBatch) => readonly ProducerRecord[] | Promise<readonly ProducerRecord[]>;
  /** Failed transactions in a row before the pipeline gives up (default 10). */
  failuresInARowMax?: number;
  /** Backoff after a failed transaction: base, doubled per failure in a row up to 16x (default 200 ms). */
  retryBackoffMs?: number;
  /** Called once a batch's output and offsets are acknowledged, just before its commit (metrics, tests); throwing aborts it. */
  beforeCommit?: (batch: ConsumerBatch) => void | Promise<void>;
};

export type ExactlyOnceCommit = {
  topic: string;
  partition: number;
  /** First and last input offsets of the batch. */
  firstOffset: number;
  lastOffset: number;
  inputCount: number;
  outputCount: number;
};

const commitAttemptsMax = 5;

function isFatal(err: unknown): boolean {
  return err instanceof KactusError && (fatalTxnCodes.has(err.code) || err.code === ErrorCode.PRODUCER_FENCED);
}

export function exactlyOnce(options: ExactlyOnceOptions): Observable<ExactlyOnceCommit> {
  const { consumer, producer, transform } = options;
  const failuresInARowMax = options.failuresInARowMax ?? 10;
  const retryBackoffMs = options.retryBackoffMs ?? 200;
  return new Observable<ExactlyOnceCommit>((subscriber) => {
    if (consumer.config.isolationLevel !== 'read_committed') {
      subscriber.error(new KactusError(ErrorCode.INVALID_CONFIG, "exactlyOnce needs a consumer with isolationLevel: 'read_committed' (it must not read aborted output of other pipelines)"));
      return;
    }
    if (consumer.config.autoCommit) {
      subscriber.error(new KactusError(ErrorCode.INVALID_CONFIG, 'exactlyOnce needs a consumer with autoCommit: false (offsets are committed by the transactions)'));
      return;
    }
    if (producer.config.transactionalId === null) {
      subscriber.error(new KactusError(ErrorCode.INVALID_CONFIG, 'exactlyOnce needs a transactional producer: kactus.producer({ transactionalId })'));
      return;
    }
    consumer.commitOffsetsInTransactions();
    /** Bumped per partition by a rewind: batches delivered before it are stale. */
    const rewinds = new Map<string, number>();
    /** The first offset seen per partition (where a rewind goes when nothing was ever committed). */
    const firstSeen = new Map<string, number>();
    let failuresInARow = 0;
    let inner: Subscription | undefined;
    let stopped = false;
    // Revoked or lost partitions: what was delivered before is stale (the same rule as a rewind).
    const assignments = consumer.assignments$.subscribe((event) => {
      if (event.type === 'assigned') return;
      for (const p of event.partitions) rewinds.set(tpKey(p.topic, p.partition), (rewinds.get(tpKey(p.topic, p.partition)) ?? 0) + 1);
    });
    const owned = (topic: string, partition: number): boolean => consumer.assignment().some((p) => p.topic === topic && p.partition === partition);

    const rewind = async (batch: ConsumerBatch): Promise<void> => {
      const key = tpKey(batch.topic, batch.partition);
      rewinds.set(key, (rewinds.get(key) ?? 0) + 1);
      const tp = { topic: batch.topic, partition: batch.partition };
      if (!owned(tp.topic, tp.partition)) return; // revoked: the next owner starts at the committed offset
      const [committed] = await consumer.committed([tp]);
      const offset = committed !== undefined && committed.offset >= 0 ? committed.offset : (firstSeen.get(key) ?? batch.records[0]!.offset);
      // Batches delivered while the committed offset was looked up still come from the old position: stale too.
      // The seek is synchronous (it drops the old position's buffered records), so everything tagged after
      // this bump comes from the new position.
      rewinds.set(key, (rewinds.get(key) ?? 0) + 1);
      try {
        consumer.seek({ ...tp, offset });
      } catch {
        // Revoked meanwhile.
      }
    };

    const commitWithRetry = async (txn: Awaited<ReturnType<Producer['transaction']>>): Promise<void> => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          await txn.commit();
          return;
        } catch (err) {
          // Retry only a commit whose outcome is unknown (the transaction is still ours and committing).
          if (!(err instanceof KactusError) || !err.retriable || attempt >= commitAttemptsMax || !txn.isActive()) throw err;
        }
      }
    };

    const process = async (batch: ConsumerBatch, rewindSeen: number): Promise<ExactlyOnceCommit | null> => {
      const key = tpKey(batch.topic, batch.partition);
      if ((rewinds.get(key) ?? 0) !== rewindSeen || stopped || !owned(batch.topic, batch.partition)) {
        // Delivered before a rewind or revocation of its partition: skipped. The ack only frees the consumer's
        // accounting (a revocation waits for delivered records); the consumer commits nothing itself.
        batch.ack();
        return null;
      }
      if (batch.records.length === 0) return null;
      if (!firstSeen.has(key)) firstSeen.set(key, batch.records[0]!.offset);
      const first = batch.records[0]!;
      const last = batch.records[batch.records.length - 1]!;
      const txn = await producer.transaction();
      let outputCount = 0;
      try {
        const output = await transform(batch);
        const sends = output.map((record) => {
          outputCount += record.messages.length;
          return txn.send(record);
        });
        const offsets = txn.sendOffsets({ groupMetadata: consumer.groupMetadata(), offsets: [{ topic: batch.topic, partition: batch.partition, offset: last.offset + 1 }] });
        await Promise.all([...sends, offsets]);
        await options.beforeCommit?.(batch);
        await commitWithRetry(txn);
      } catch (err) {
        if (isFatal(err)) throw err;
        if (txn.isActive()) {
          try {
            await txn.abort();
          } catch (abortError) {
            if (isFatal(abortError)) throw new KactusError((abortError as KactusError).code, `exactlyOnce: the transaction failed (${String(err)}) and its abort found: ${(abortError as KactusError).message}`, { cause: abortError });
            throw new KactusError(abortError instanceof KactusError ? abortError.code : ErrorCode.UNKNOWN_SERVER_ERROR, `exactlyOnce: abort after a failed transaction failed: ${String(abortError)}`, { cause: err });
          }
        }
        failuresInARow += 1;
        if (failuresInARow >= failuresInARowMax) throw err;
        await new Promise((resolve) => setTimeout(resolve, retryBackoffMs * Math.min(16, 2 ** (failuresInARow - 1))));
        await rewind(batch);
        return null;
      }
      failuresInARow = 0;
      batch.ack(); // frees the consumer's prefetch room; its offset was committed by the transaction
      return { topic: batch.topic, partition: batch.partition, firstOffset: first.offset, lastOffset: last.offset, inputCount: batch.records.length, outputCount };
    };

    producer.initTransactions().then(
      () => {
        if (stopped) return;
        inner = consumer.batches$
          .pipe(
            // Tag each batch with its partition's rewind count when it is delivered, not when it is processed.
            map((batch) => ({ batch, rewindSeen: rewinds.get(tpKey(batch.topic, batch.partition)) ?? 0 })),
            concatMap(({ batch, rewindSeen }) => defer(() => from(process(batch, rewindSeen)))),
            filter((commit): commit is ExactlyOnceCommit => commit !== null),
          )
          .subscribe(subscriber);
      },
      (err: unknown) => subscriber.error(err),
    );
    return () => {
      stopped = true;
      assignments.unsubscribe();
      inner?.unsubscribe();
    };
  });
}
