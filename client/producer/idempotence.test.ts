import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '../../protocol/record-batch/index.ts';
import { IdempotenceState, nextSequence, sequenceMax, stampProducerState } from './idempotence.ts';

describe('idempotence', () => {
  it('sequences advance by record count per partition and wrap past 2^31-1 to 0 (Kafka incrementSequence)', () => {
    expect(nextSequence(0, 5)).toBe(5);
    expect(nextSequence(sequenceMax - 2, 2)).toBe(sequenceMax);
    expect(nextSequence(sequenceMax - 2, 3)).toBe(0);
    expect(nextSequence(sequenceMax, 1)).toBe(0);
    expect(nextSequence(sequenceMax - 1, 10)).toBe(8);
    const state = new IdempotenceState();
    state.reset(42, 0);
    expect([state.take('a', 3), state.take('a', 2), state.take('b', 1), state.take('a', 1)]).toEqual([0, 3, 0, 5]);
    const generation = state.generation;
    state.reset(43, 0);
    expect(state.generation).toBe(generation + 1);
    expect(state.take('a', 1)).toBe(0);
  });

  it('stamping a new producer id and sequence keeps the records and a valid CRC', () => {
    const batch = encodeBatch({ records: [{ key: null, value: Buffer.from('x'), timestamp: 1 }, { key: Buffer.from('k'), value: null, timestamp: 2 }], producerId: 1, producerEpoch: 0, baseSequence: 0 });
    const before = Buffer.from(batch);
    stampProducerState(batch, 9_007_199_254, 3, 77);
    const decoded = decodeBatch(batch);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.header).toMatchObject({ producerId: 9_007_199_254, producerEpoch: 3, baseSequence: 77, recordCount: 2 });
    expect(decoded.value.records.map((r) => r.value?.toString() ?? null)).toEqual(['x', null]);
    // Only the header changed: the record bytes are the same bytes.
    expect(batch.subarray(61).equals(before.subarray(61))).toBe(true);
  });
});
