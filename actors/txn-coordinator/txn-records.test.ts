/**
 * __transaction_state records: round trips (fast-check), untrusted bytes
 * (random, truncated, wrong shapes, broken invariants) always give
 * CORRUPT_MESSAGE and never throw, equal keys encode to equal bytes (what
 * compaction needs), the coordinator partition against Kafka's formula, and
 * loading (last record per key wins, tombstones delete, Prepare* resumes its
 * markers).
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { nextDeadlineMs } from './txn-logic.ts';
import { coordinatorPartitionFor, decodeRecord, encodeKey, encodeRecord, loadTransactions } from './txn-records.ts';
import type { TxnRecord, TxnRecordState, TxnValue } from './txn-records.ts';

const partitionArb = fc.record({ topic: fc.string({ minLength: 1, maxLength: 12 }), partition: fc.integer({ min: 0, max: 1_000 }) });

const valueArb: fc.Arbitrary<TxnValue> = fc
  .record({
    producerId: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    previousProducerId: fc.integer({ min: -1, max: 1_000_000 }),
    nextProducerId: fc.integer({ min: -1, max: 1_000_000 }),
    producerEpoch: fc.integer({ min: 0, max: 32_767 }),
    lastProducerEpoch: fc.integer({ min: -1, max: 32_767 }),
    timeoutMs: fc.integer({ min: 1, max: 900_000 }),
    state: fc.constantFrom<TxnRecordState>('Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort'),
    partitions: fc.uniqueArray(partitionArb, { minLength: 1, maxLength: 5, selector: (p) => `${p.topic}\u0000${p.partition}` }),
    txnStartMs: fc.integer({ min: -1, max: 2 ** 42 }),
    lastUpdateMs: fc.integer({ min: 0, max: 2 ** 42 }),
    keptEpoch: fc.boolean(),
  })
  .map(({ keptEpoch, ...v }): TxnValue => {
    const preparing = v.state === 'PrepareCommit' || v.state === 'PrepareAbort';
    const inTxn = preparing || v.state === 'Ongoing';
    const value: TxnValue = { ...v, partitions: inTxn ? v.partitions : [], nextProducerId: preparing ? v.nextProducerId : -1 };
    // endBumpedEpoch: false only where an end that kept the epoch can leave it (Prepare*/Complete*, no rotation).
    const ended = v.state !== 'Empty' && v.state !== 'Ongoing';
    return keptEpoch && ended && value.nextProducerId === -1 ? { ...value, endBumpedEpoch: false } : value;
  });

const recordArb: fc.Arbitrary<TxnRecord> = fc.record({
  key: fc.record({ transactionalId: fc.string({ minLength: 1, maxLength: 20 }) }),
  value: fc.option(valueArb, { nil: null }),
});

const good: TxnValue = {
  producerId: 7,
  previousProducerId: -1,
  nextProducerId: -1,
  producerEpoch: 3,
  lastProducerEpoch: 2,
  timeoutMs: 60_000,
  state: 'PrepareCommit',
  partitions: [
    { topic: 'orders', partition: 0 },
    { topic: 'orders', partition: 1 },
  ],
  txnStartMs: 1_000,
  lastUpdateMs: 2_000,
};

function decodeRaw(value: unknown): ReturnType<typeof decodeRecord> {
  return decodeRecord(encodeKey({ transactionalId: 'tx' }), pack(value));
}

describe('txn records: encode/decode', () => {
  it('round-trips every valid record', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const encoded = encodeRecord(record);
        expect(decodeRecord(encoded.key, encoded.value)).toEqual({ ok: true, value: record });
      }),
    );
  });

  it('equal keys encode to equal bytes', () => {
    expect(Buffer.from(encodeKey({ transactionalId: 'a' }))).toEqual(Buffer.from(encodeRecord({ key: { transactionalId: 'a' }, value: good }).key));
  });

  it('random bytes and truncations give CORRUPT_MESSAGE or a valid record, never a throw', () => {
    const encoded = encodeRecord({ key: { transactionalId: 'tx' }, value: good });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.option(fc.uint8Array({ maxLength: 128 }), { nil: null }), (key, value) => {
        const r = decodeRecord(key, value);
        if (!r.ok) expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
      }),
    );
    for (let cut = 0; cut < encoded.value!.length; cut++) {
      const r = decodeRecord(encoded.key, encoded.value!.subarray(0, cut));
      expect(r.ok).toBe(false);
    }
  });

  const { v: _unused, ...noVersion } = { v: 1, ...good };
  const raw = { v: 1, ...good, partitions: good.partitions.map((p) => [p.topic, p.partition]) };
  it.each([
    ['unknown value version', { ...raw, v: 2 }],
    ['no version', { ...noVersion, partitions: raw.partitions }],
    ['negative producer id', { ...raw, producerId: -1 }],
    ['epoch above int16', { ...raw, producerEpoch: 32_768 }],
    ['fractional epoch', { ...raw, producerEpoch: 1.5 }],
    ['unknown state', { ...raw, state: 'Dead' }],
    ['Ongoing without partitions', { ...raw, state: 'Ongoing', partitions: [] }],
    ['CompleteCommit with partitions', { ...raw, state: 'CompleteCommit' }],
    ['nextProducerId outside Prepare*', { ...raw, state: 'Ongoing', nextProducerId: 9 }],
    ['duplicate partitions', { ...raw, partitions: [['orders', 0], ['orders', 0]] }],
    ['empty topic', { ...raw, partitions: [['', 0]] }],
    ['partition not a pair', { ...raw, partitions: [['orders']] }],
    ['timeout 0', { ...raw, timeoutMs: 0 }],
    ['string field', { ...raw, lastUpdateMs: '5' }],
    ['an array', [1, 2, 3]],
    ['endBumpedEpoch true (only false is written)', { ...raw, endBumpedEpoch: true }],
    ['endBumpedEpoch not a boolean', { ...raw, endBumpedEpoch: 0 }],
    ['endBumpedEpoch in Ongoing', { ...raw, state: 'Ongoing', endBumpedEpoch: false }],
    ['endBumpedEpoch with a nextProducerId', { ...raw, nextProducerId: 9, endBumpedEpoch: false }],
  ])('%s: CORRUPT_MESSAGE', (_name, value) => {
    const r = decodeRaw(value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });

  it.each([
    ['unknown key version', pack([2, 'tx'])],
    ['empty transactional id', pack([1, ''])],
    ['key not an array', pack({ transactionalId: 'tx' })],
  ])('%s: CORRUPT_MESSAGE', (_name, key) => {
    expect(decodeRecord(key, null)).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
  });

  it('golden bytes: the layout does not drift (a change here needs a new value version)', () => {
    const encoded = encodeRecord({ key: { transactionalId: 'tx-1' }, value: good });
    expect(Buffer.from(encoded.key).toString('hex')).toBe('9201a474782d31');
    expect(Buffer.from(encoded.value!).toString('hex')).toBe(
      'de000ba17601aa70726f6475636572496407b270726576696f757350726f64756365724964ffae6e65787450726f64756365724964ffad70726f647563657245706f636803b16c61737450726f647563657245706f636802a974696d656f75744d73cdea60a57374617465ad50726570617265436f6d6d6974aa706172746974696f6e739292a66f72646572730092a66f726465727301aa74786e53746172744d73cd03e8ac6c6173745570646174654d73cd07d0',
    );
  });

  it('endBumpedEpoch (transaction version 1) round-trips; a record without it, as every record before the field, decodes without it', () => {
    const kept: TxnValue = { ...good, lastProducerEpoch: good.producerEpoch, endBumpedEpoch: false };
    const encoded = encodeRecord({ key: { transactionalId: 'tx-1' }, value: kept });
    expect(decodeRecord(encoded.key, encoded.value)).toEqual({ ok: true, value: { key: { transactionalId: 'tx-1' }, value: kept } });
    const old = decodeRaw({ v: 1, ...good, partitions: good.partitions.map((p) => [p.topic, p.partition]) });
    expect(old.ok && old.value.value).not.toHaveProperty('endBumpedEpoch');
  });

  it('encoding a record that breaks an invariant is a bug (assert)', () => {
    expect(() => encodeRecord({ key: { transactionalId: 'tx' }, value: { ...good, partitions: [] } })).toThrow(/without partitions/);
  });
});

describe('coordinatorPartitionFor: abs(transactionalId.hashCode()) % n as Kafka computes it', () => {
  it.each([
    ['', 0],
    ['hello', 22],
    ['my-group', 12],
    ['polygenelubricants', 0], // hashCode is Integer.MIN_VALUE: Utils.abs maps it to 0
  ])('%j -> partition %i of 50', (id, partition) => {
    expect(coordinatorPartitionFor(id, 50)).toBe(partition);
  });
});

describe('loadTransactions', () => {
  it('the last record per id wins, a tombstone deletes, and a Prepare* id resumes its markers at once', () => {
    const empty: TxnValue = { ...good, state: 'Empty', partitions: [], txnStartMs: -1 };
    const states = loadTransactions(
      [
        { key: { transactionalId: 'a' }, value: empty },
        { key: { transactionalId: 'b' }, value: empty },
        { key: { transactionalId: 'a' }, value: good },
        { key: { transactionalId: 'b' }, value: null },
        { key: { transactionalId: 'c' }, value: null },
      ],
      { nowMs: 5_000 },
    );
    expect([...states.keys()]).toEqual(['a']);
    const a = states.get('a')!;
    expect(a.phase).toBe('PrepareCommit');
    expect(a.markers).toMatchObject({ result: 'COMMIT', producerId: 7, producerEpoch: 3, waiting: good.partitions, retryAtMs: 5_000 });
    expect(nextDeadlineMs(a)).toBe(5_000);
  });
});
