/**
 * exactlyOnce() (exactly-once.ts) with a scripted consumer and producer.
 * Goal: every input batch's output and offset are committed in one
 * transaction, once; a failed transaction is aborted and its partition
 * rewound to the committed offset; batches delivered before the rewind (even
 * while the committed offset is being looked up) are skipped, so nothing is
 * written twice; a fenced producer ends the pipeline with PRODUCER_FENCED.
 * Method: fakes for the consumer (batches pushed by the test) and the
 * producer (transactions recorded), no broker.
 */
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { Producer, ProducerRecord } from '../producer/producer.ts';
import type { Consumer, ConsumerBatch } from './consumer.ts';
import { exactlyOnce } from './exactly-once.ts';
import type { AssignmentEvent } from './types.ts';

type TxnLog = { sent: string[]; offsets: number[]; ended: 'committed' | 'aborted' | null };

function fakes(options: { committedOffset: () => number; onCommittedLookup?: () => void; onSeek?: (offset: number) => void; commitError?: () => KactusError | undefined }) {
  const batches = new Subject<ConsumerBatch>();
  const assignments = new Subject<AssignmentEvent>();
  const seeks: number[] = [];
  const acked: number[] = [];
  const consumer = {
    config: { isolationLevel: 'read_committed', autoCommit: false, groupId: 'g' },
    batches$: batches.asObservable(),
    assignments$: assignments.asObservable(),
    assignment: () => [{ topic: 'in', partition: 0 }],
    commitOffsetsInTransactions: () => undefined,
    groupMetadata: () => ({ groupId: 'g', memberId: 'm', generationId: 1, groupInstanceId: null }),
    committed: async (tps: { topic: string; partition: number }[]) => {
      options.onCommittedLookup?.();
      await Promise.resolve();
      return tps.map((tp) => ({ ...tp, offset: options.committedOffset() }));
    },
    seek: (target: { offset: number }) => {
      seeks.push(target.offset);
      options.onSeek?.(target.offset);
    },
  } as unknown as Consumer;
  const txns: TxnLog[] = [];
  const producer = {
    config: { transactionalId: 'tx' },
    initTransactions: async () => undefined,
    transaction: async () => {
      const log: TxnLog = { sent: [], offsets: [], ended: null };
      txns.push(log);
      return {
        isActive: () => log.ended === null,
        send: async (record: ProducerRecord) => void log.sent.push(...record.messages.map((m) => String(m.value))),
        sendOffsets: async (args: { offsets: { offset: number }[] }) => void log.offsets.push(...args.offsets.map((o) => o.offset)),
        commit: async () => {
          const error = options.commitError?.();
          if (error) throw error;
          log.ended = 'committed';
        },
        abort: async () => void (log.ended = 'aborted'),
      };
    },
  } as unknown as Producer;
  const batch = (from: number, to: number): ConsumerBatch => {
    const records = Array.from({ length: to - from + 1 }, (_, i) => ({ topic: 'in', partition: 0, offset: from + i, key: null, value: Buffer.from(`v${from + i}`), headers: [], timestamp: 0, ack: () => undefined }));
    // Only what exactlyOnce reads of a batch.
    return { topic: 'in', partition: 0, records, highWatermark: to + 1, ack: () => void acked.push(from) } as unknown as ConsumerBatch;
  };
  return { batches, assignments, consumer, producer, txns, seeks, acked, batch };
}

const copy = (batch: ConsumerBatch): ProducerRecord[] => [{ topic: 'out', messages: batch.records.map((r) => ({ value: r.value!.toString() })) }];
const committedOutput = (txns: TxnLog[]): string[] => txns.filter((t) => t.ended === 'committed').flatMap((t) => t.sent);

describe('exactlyOnce', () => {
  it('commits each batch with its output and the offset after its last record', async () => {
    const f = fakes({ committedOffset: () => -1 });
    const done = lastValueFrom(exactlyOnce({ consumer: f.consumer, producer: f.producer, transform: copy }).pipe(toArray()));
    await Promise.resolve();
    f.batches.next(f.batch(0, 2));
    f.batches.next(f.batch(3, 4));
    await new Promise((r) => setTimeout(r, 10));
    f.batches.complete();
    const commits = await done;
    expect(commits.map((c) => [c.firstOffset, c.lastOffset, c.inputCount, c.outputCount])).toEqual([
      [0, 2, 3, 3],
      [3, 4, 2, 2],
    ]);
    expect(f.txns.map((t) => t.offsets)).toEqual([[3], [5]]);
    expect(committedOutput(f.txns)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    expect(f.acked).toEqual([0, 3]);
  });

  it('a failed transaction aborts and rewinds; batches delivered before the seek, even during the offset lookup, are skipped', async () => {
    let failed = false;
    const f = fakes({
      committedOffset: () => 100,
      // The old position keeps delivering while the committed offset is looked up...
      onCommittedLookup: () => f.batches.next(f.batch(200, 299)),
      // ...and after the seek the new position delivers from the committed offset.
      onSeek: (offset) => {
        expect(offset).toBe(100);
        f.batches.next(f.batch(100, 199));
        f.batches.next(f.batch(200, 299));
      },
    });
    const transform = (batch: ConsumerBatch): ProducerRecord[] => {
      if (!failed && batch.records[0]!.offset === 100) {
        failed = true;
        throw new Error('transform failed once');
      }
      return copy(batch);
    };
    const done = lastValueFrom(exactlyOnce({ consumer: f.consumer, producer: f.producer, transform, retryBackoffMs: 1 }).pipe(toArray()));
    await Promise.resolve();
    f.batches.next(f.batch(100, 199));
    await new Promise((r) => setTimeout(r, 50));
    f.batches.complete();
    const commits = await done;
    expect(commits.map((c) => c.firstOffset)).toEqual([100, 200]);
    expect(f.seeks).toEqual([100]);
    expect(f.txns[0]!.ended).toBe('aborted');
    const output = committedOutput(f.txns);
    expect(output.length).toBe(200);
    expect(new Set(output).size).toBe(200);
    expect(f.txns.filter((t) => t.ended === 'committed').map((t) => t.offsets)).toEqual([[200], [300]]);
  });

  it('PRODUCER_FENCED ends the pipeline with that error', async () => {
    const f = fakes({ committedOffset: () => -1, commitError: () => new KactusError(ErrorCode.PRODUCER_FENCED, 'a newer producer took the transactional id') });
    const done = lastValueFrom(exactlyOnce({ consumer: f.consumer, producer: f.producer, transform: copy }));
    await Promise.resolve();
    f.batches.next(f.batch(0, 1));
    await expect(done).rejects.toMatchObject({ code: ErrorCode.PRODUCER_FENCED });
    expect(f.seeks).toEqual([]);
  });

  it('batches of a revoked partition queued behind a running transaction are skipped and acked', async () => {
    const f = fakes({ committedOffset: () => -1 });
    let owned = true;
    (f.consumer as unknown as { assignment: () => unknown[] }).assignment = () => (owned ? [{ topic: 'in', partition: 0 }] : []);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const transform = async (batch: ConsumerBatch): Promise<ProducerRecord[]> => {
      if (batch.records[0]!.offset === 0) await gate; // the first transaction runs while the next batch queues
      return copy(batch);
    };
    const done = lastValueFrom(exactlyOnce({ consumer: f.consumer, producer: f.producer, transform }).pipe(toArray()));
    await Promise.resolve();
    f.batches.next(f.batch(0, 1));
    f.batches.next(f.batch(2, 3));
    owned = false;
    f.assignments.next({ type: 'revoked', partitions: [{ topic: 'in', partition: 0 }], generationId: 1 });
    release();
    await new Promise((r) => setTimeout(r, 10));
    f.batches.complete();
    const commits = await done;
    // The first was started while owned (a revocation waits for it, as Kafka's does); the queued one is skipped.
    expect(commits.map((c) => c.firstOffset)).toEqual([0]);
    expect(f.txns).toHaveLength(1);
    expect(f.acked).toEqual([0, 2]);
  });
});
