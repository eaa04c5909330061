/**
 * Free RxJS operators for consumer feeds (STYLE rule 16): they finish
 * records (ack) only after the user's processing completed, which is what
 * makes commits at-least-once.
 *
 * - `commitAfter(process)`: one record at a time, in feed order (so per
 *   partition order too); acks each record when `process(record)` completes
 *   (a Promise resolves, an Observable completes). Emits what `process` emits.
 * - `processPartitionsInParallel(process, concurrency)`: up to `concurrency`
 *   records at once, but never two of the same partition: each partition's
 *   records run one after another in offset order, partitions run side by
 *   side. Partitions wait their turn in the order their records arrived
 *   (FIFO, so no partition starves). Acks each record when its processing
 *   completes. This is how to process partitions in parallel while keeping
 *   order within each; a plain `mergeMap(fn, n)` would not keep it.
 *
 * An error from `process` errors the output: the failed record is not acked,
 * so neither it nor anything after it in its partition is committed.
 *
 * Anything with `{ topic, partition, ack() }` works (records and batches).
 *
 * Imports: rxjs only.
 */
import { Observable, concatMap, from, tap, type ObservableInput, type OperatorFunction, type Subscription } from 'rxjs';

export interface Ackable {
  readonly topic: string;
  readonly partition: number;
  ack(): void;
}

/** Processes one record at a time and acks it when its processing completes. */
export function commitAfter<T extends Ackable, R>(process: (record: T) => ObservableInput<R>): OperatorFunction<T, R> {
  return (source) => source.pipe(concatMap((record) => from(process(record)).pipe(tap({ complete: () => record.ack() }))));
}

/** Per-partition order, partitions in parallel (at most `concurrency` at once); acks after each record's processing. */
export function processPartitionsInParallel<T extends Ackable, R>(process: (record: T) => ObservableInput<R>, concurrency: number): OperatorFunction<T, R> {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  return (source) =>
    new Observable<R>((subscriber) => {
      /** Waiting records per partition (a partition is present while it has waiting or running work). */
      const queues = new Map<string, T[]>();
      /** Partitions with waiting records and nothing running, in arrival order. */
      const ready: string[] = [];
      const running = new Map<string, Subscription>();
      let sourceDone = false;

      const pump = (): void => {
        while (running.size < concurrency && ready.length > 0) {
          const key = ready.shift()!;
          const queue = queues.get(key)!;
          const record = queue.shift()!;
          let finished = false;
          const inner = from(process(record)).subscribe({
            next: (value) => subscriber.next(value),
            error: (err: unknown) => subscriber.error(err),
            complete: () => {
              finished = true;
              running.delete(key);
              record.ack();
              if (queue.length > 0) ready.push(key);
              else queues.delete(key);
              pump();
            },
          });
          if (!finished) running.set(key, inner);
        }
        if (sourceDone && queues.size === 0 && running.size === 0) subscriber.complete();
      };

      const upstream = source.subscribe({
        next: (record) => {
          const key = `${record.topic}\u0000${record.partition}`;
          const queue = queues.get(key);
          if (queue === undefined) {
            queues.set(key, [record]);
            ready.push(key);
          } else {
            queue.push(record);
          }
          pump();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          pump();
        },
      });
      return () => {
        upstream.unsubscribe();
        for (const inner of running.values()) inner.unsubscribe();
        running.clear();
        queues.clear();
      };
    });
}
