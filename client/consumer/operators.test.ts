/**
 * The consumer operators on virtual time (TestScheduler marbles): commitAfter
 * processes one record at a time and acks each when its processing completes;
 * processPartitionsInParallel keeps per-partition order, runs partitions side
 * by side up to the concurrency, and acks after processing.
 */
import { describe, expect, it } from 'vitest';
import { TestScheduler } from 'rxjs/testing';
import { map, timer, of, throwError, Subject, firstValueFrom, toArray } from 'rxjs';
import { commitAfter, processPartitionsInParallel, type Ackable } from './operators.ts';

type Item = Ackable & { id: string };

function items(acked: string[]): Record<string, Item> {
  const make = (id: string, partition: number): Item => ({ id, topic: 't', partition, ack: () => acked.push(id) });
  return { a: make('a', 0), b: make('b', 0), c: make('c', 1), d: make('d', 1), e: make('e', 2) };
}

const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('commitAfter', () => {
  it('processes one record at a time and acks when its processing completes', () => {
    const acked: string[] = [];
    const values = items(acked);
    scheduler().run(({ cold, expectObservable, flush }) => {
      const source = cold('abc|', values);
      // each record takes 3 frames; output the id when done
      const out = source.pipe(commitAfter((r: Item) => timer(3).pipe(map(() => r.id))));
      expectObservable(out).toBe('---a--b--(c|)', { a: 'a', b: 'b', c: 'c' });
      flush();
      expect(acked).toEqual(['a', 'b', 'c']);
    });
  });

  it('does not ack a record whose processing failed', () => {
    const acked: string[] = [];
    const values = items(acked);
    scheduler().run(({ cold, expectObservable, flush }) => {
      const out = cold('ab|', values).pipe(commitAfter((r: Item) => (r.id === 'b' ? throwError(() => new Error('boom')) : of(r.id))));
      expectObservable(out).toBe('a#', { a: 'a' }, new Error('boom'));
      flush();
      expect(acked).toEqual(['a']);
    });
  });
});

describe('processPartitionsInParallel', () => {
  it('runs partitions in parallel, each in order', () => {
    const acked: string[] = [];
    const values = items(acked);
    scheduler().run(({ cold, expectObservable, flush }) => {
      // a, b on partition 0; c, d on partition 1; each takes 4 frames
      const out = cold('abcd|', values).pipe(processPartitionsInParallel((r: Item) => timer(4).pipe(map(() => r.id)), 4));
      // a starts at 0 done 4; c starts at 2 done 6; b starts at 4 (after a) done 8; d starts at 6 done 10
      expectObservable(out).toBe('----a-c-b-(d|)', { a: 'a', b: 'b', c: 'c', d: 'd' });
      flush();
      expect(acked).toEqual(['a', 'c', 'b', 'd']);
    });
  });

  it('bounds the partitions processed at once', () => {
    const acked: string[] = [];
    const values = items(acked);
    scheduler().run(({ cold, expectObservable }) => {
      // concurrency 1: strictly one at a time; partitions served in arrival order
      const out = cold('(ace)|', values).pipe(processPartitionsInParallel((r: Item) => timer(2).pipe(map(() => r.id)), 1));
      expectObservable(out).toBe('--a-c-(e|)', { a: 'a', c: 'c', e: 'e' });
    });
  });

  it('never runs two records of one partition at once, with promises', async () => {
    const running = new Map<number, number>();
    let violations = 0;
    const order: string[] = [];
    const source = new Subject<Item>();
    const done = firstValueFrom(
      source.pipe(
        processPartitionsInParallel(async (r: Item) => {
          const now = (running.get(r.partition) ?? 0) + 1;
          running.set(r.partition, now);
          if (now > 1) violations += 1;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
          running.set(r.partition, now - 1);
          order.push(r.id);
          return r.id;
        }, 3),
        toArray(),
      ),
    );
    for (let i = 0; i < 60; i++) source.next({ id: `${i % 5}:${i}`, topic: 't', partition: i % 5, ack: () => undefined });
    source.complete();
    await done;
    expect(violations).toBe(0);
    for (let p = 0; p < 5; p++) {
      const seq = order.filter((id) => id.startsWith(`${p}:`)).map((id) => Number(id.split(':')[1]));
      expect(seq).toEqual([...seq].sort((x, y) => x - y));
    }
  });
});
