import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Accumulator, batchOverheadBytes, estimateRecordBytes, type ProducerBatch, type RecordOwner } from './accumulator.ts';
import { encodeBatch } from '../../protocol/record-batch/index.ts';

const owner: RecordOwner = { complete: () => undefined, fail: () => undefined };

function record(valueBytes: number, key: string | null = null) {
  const value = Buffer.alloc(valueBytes, 0x61);
  const k = key === null ? null : Buffer.from(key);
  return { record: { key: k, value, timestamp: 1_700_000_000_000 }, sizeBytes: estimateRecordBytes(k, value, undefined) };
}

describe('accumulator', () => {
  it('closes a batch when the next record does not fit, and at once when one fills it', () => {
    const acc = new Accumulator(1_000, 5);
    const closed: ProducerBatch[] = [];
    for (let i = 0; i < 20; i += 1) {
      const r = record(100);
      closed.push(...acc.append('t', 0, r.record, r.sizeBytes, owner, i, 0));
    }
    expect(closed.length).toBeGreaterThan(0);
    for (const b of closed) expect(b.sizeBytes).toBeLessThanOrEqual(1_000);
    const big = record(5_000);
    const out = acc.append('t', 0, big.record, big.sizeBytes, owner, 99, 0);
    // The open batch closes (the big record does not fit), then the big one alone fills its own.
    expect(out.map((b) => b.recordCount)).toEqual([expect.any(Number), 1]);
    expect(acc.openBatchCount).toBe(0);
  });

  it('fits() tells whether a record joins the open batch; closeOpen() closes it early', () => {
    const acc = new Accumulator(500, 5);
    const r = record(100);
    expect(acc.fits('t', 0, r.sizeBytes)).toBe(true);
    for (let i = 0; i < 3; i += 1) acc.append('t', 0, r.record, r.sizeBytes, owner, i, 0);
    expect(acc.fits('t', 0, r.sizeBytes)).toBe(false);
    expect(acc.fits('t', 1, r.sizeBytes)).toBe(true);
    const closed = acc.closeOpen('t', 0)!;
    expect(closed.recordCount).toBe(3);
    expect(acc.closeOpen('t', 0)).toBeUndefined();
    expect(acc.fits('t', 0, r.sizeBytes)).toBe(true);
    expect(acc.openBytes).toBe(0);
  });

  it('closes batches at linger, oldest first, and all on flush', () => {
    const acc = new Accumulator(16_384, 5);
    const r = record(10);
    acc.append('t', 0, r.record, r.sizeBytes, owner, 0, 100);
    acc.append('t', 1, r.record, r.sizeBytes, owner, 1, 103);
    expect(acc.nextLingerDeadlineMs()).toBe(105);
    expect(acc.drainExpired(104)).toEqual([]);
    expect(acc.drainExpired(105).map((b) => b.partition)).toEqual([0]);
    expect(acc.nextLingerDeadlineMs()).toBe(108);
    acc.append('t', 2, r.record, r.sizeBytes, owner, 2, 104);
    expect(acc.drainAll().map((b) => b.partition)).toEqual([1, 2]);
    expect(acc.nextLingerDeadlineMs()).toBeUndefined();
    expect(acc.openBytes).toBe(0);
  });

  it('property: every record lands in exactly one batch of its partition, in append order, within the size bound, and the estimate bounds the encoding', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ partition: fc.integer({ min: 0, max: 3 }), valueBytes: fc.integer({ min: 0, max: 3_000 }), keyed: fc.boolean(), drain: fc.integer({ min: 0, max: 9 }) }), { maxLength: 150 }),
        fc.integer({ min: 200, max: 8_000 }),
        (ops, batchSizeBytes) => {
          const acc = new Accumulator(batchSizeBytes, 5);
          const closed: ProducerBatch[] = [];
          let now = 0;
          ops.forEach((op, i) => {
            const r = record(op.valueBytes, op.keyed ? `k${i}` : null);
            closed.push(...acc.append('t', op.partition, r.record, r.sizeBytes, owner, i, now));
            now += 1;
            if (op.drain === 0) closed.push(...acc.drainExpired(now));
          });
          closed.push(...acc.drainAll());
          const seen = closed.flatMap((b) => b.ownerIndexes);
          expect([...seen].sort((a, b) => a - b)).toEqual(ops.map((_, i) => i));
          for (let p = 0; p <= 3; p += 1) {
            const batches = closed.filter((b) => b.partition === p);
            const order = batches.flatMap((b) => b.ownerIndexes);
            expect(order).toEqual(ops.flatMap((op, i) => (op.partition === p ? [i] : [])));
            expect(batches.map((b) => b.ordinal)).toEqual(batches.map((_, i) => i));
          }
          for (const b of closed) {
            expect(b.recordCount).toBeGreaterThan(0);
            if (b.recordCount > 1) expect(b.sizeBytes).toBeLessThanOrEqual(batchSizeBytes);
            expect(encodeBatch({ records: b.records }).length).toBeLessThanOrEqual(b.sizeBytes);
          }
          expect(acc.openBytes).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the size estimate bounds the encoding with headers too', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ key: fc.string({ maxLength: 20 }), value: fc.option(fc.uint8Array({ maxLength: 50 }), { nil: null }) }), { maxLength: 5 }), fc.uint8Array({ maxLength: 300 }), (headers, value) => {
        const hs = headers.map((h) => ({ key: h.key, value: h.value }));
        const estimate = batchOverheadBytes + estimateRecordBytes(null, value, hs);
        expect(encodeBatch({ records: [{ key: null, value, headers: hs, timestamp: 1_700_000_000_000 }] }).length).toBeLessThanOrEqual(estimate);
      }),
    );
  });
});
