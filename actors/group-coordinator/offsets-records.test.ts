/**
 * __consumer_offsets records and the consumer protocol codec: round trips
 * (fast-check), untrusted bytes (random, truncated, wrong shapes) always give
 * CORRUPT_MESSAGE and never throw, equal keys encode to equal bytes (what
 * compaction needs), and the coordinator partition of a group id against
 * values computed by hand from Java's String.hashCode definition.
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription, type Subscription } from '../../protocol/consumer/consumer-protocol.ts';
import {
  coordinatorPartitionFor,
  decodeRecord,
  encodeKey,
  encodeRecord,
  javaStringHashCode,
  kafkaAbs,
  loadGroups,
  type OffsetsTopicRecord,
} from './offsets-records.ts';

describe('coordinatorPartitionFor: abs(groupId.hashCode()) % n as Kafka computes it', () => {
  // Java: s.hashCode() = s[0]*31^(n-1) + s[1]*31^(n-2) + ... + s[n-1], over UTF-16 code units, int arithmetic.
  it.each([
    ['', 0, 0], // empty string hashes to 0
    ['a', 97, 47], // 'a' = 97
    ['ab', 3105, 5], // 97*31 + 98 = 3007 + 98
    ['abc', 96354, 4], // 3105*31 + 99 = 96255 + 99
    ['hello', 99162322, 22], // the classic; 99162322 mod 50 = 22
    ['é', 233, 33], // U+00E9 is one code unit, 233
    ['😀', 1772899, 49], // surrogates 0xD83D, 0xDE00: 55357*31 + 56832 = 1716067 + 56832
    ['Hello World', -862545276, 26], // overflows to negative; abs 862545276 = 50*17250905 + 26
    ['my-group', -1906497762, 12], // abs 1906497762 = 50*38129955 + 12
    ['polygenelubricants', -2147483648, 0], // Integer.MIN_VALUE: Utils.abs maps it to 0
  ])('%j hashes to %i, partition %i of 50', (groupId, hash, partition) => {
    expect(javaStringHashCode(groupId)).toBe(hash);
    expect(coordinatorPartitionFor(groupId, 50)).toBe(partition);
  });

  it('Utils.abs', () => {
    expect(kafkaAbs(-2147483648)).toBe(0);
    expect(kafkaAbs(-5)).toBe(5);
    expect(kafkaAbs(2147483647)).toBe(2147483647);
  });

  it('agrees with an arbitrary-precision evaluation of the definition', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer({ min: 1, max: 200 }), (s, n) => {
        let h = 0n;
        for (let i = 0; i < s.length; i++) h = (h * 31n + BigInt(s.charCodeAt(i))) % 2n ** 32n;
        const signed = Number(h >= 2n ** 31n ? h - 2n ** 32n : h);
        expect(javaStringHashCode(s)).toBe(signed);
        const partition = coordinatorPartitionFor(s, n);
        expect(partition).toBe((signed === -2147483648 ? 0 : Math.abs(signed)) % n);
      }),
    );
  });
});

const bytesArb = fc.uint8Array({ maxLength: 32 }).map((b) => new Uint8Array(b));
const name = fc.string({ minLength: 1, maxLength: 20 });

const recordArb: fc.Arbitrary<OffsetsTopicRecord> = fc.oneof(
  fc.record({
    key: fc.record({ type: fc.constant('OffsetCommit' as const), group: fc.string(), topic: name, partition: fc.nat(1000) }),
    value: fc.option(
      fc.record({ offset: fc.maxSafeNat(), leaderEpoch: fc.integer({ min: -1, max: 1000 }), metadata: fc.string(), commitTimestampMs: fc.nat() }),
      { nil: null },
    ),
  }),
  fc.record({
    key: fc.record({ type: fc.constant('GroupMetadata' as const), group: fc.string() }),
    value: fc.option(
      fc.uniqueArray(name, { maxLength: 4 }).chain((ids) =>
        fc.record({
          protocolType: fc.option(name, { nil: null }),
          generationId: fc.nat(),
          protocol: ids.length > 0 ? name.map((p): string | null => p) : fc.constant(null),
          leader: ids.length > 0 ? fc.constantFrom(...ids).map((l): string | null => l) : fc.constant(null),
          currentStateTimestampMs: fc.nat(),
          members: fc.tuple(
            ...ids.map((memberId) =>
              fc.record({
                memberId: fc.constant(memberId),
                groupInstanceId: fc.option(name, { nil: null }),
                clientId: fc.string(),
                clientHost: fc.string(),
                sessionTimeoutMs: fc.integer({ min: 1, max: 100_000 }),
                rebalanceTimeoutMs: fc.integer({ min: 1, max: 100_000 }),
                subscription: bytesArb,
                assignment: bytesArb,
              }),
            ),
          ),
        }),
      ),
      { nil: null },
    ),
  }),
);

describe('__consumer_offsets records', () => {
  it('decode(encode(record)) is the record', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const encoded = encodeRecord(record);
        expect(decodeRecord(encoded.key, encoded.value)).toEqual({ ok: true, value: record });
      }),
    );
  });

  it('equal keys encode to equal bytes (compaction keeps the last per key)', () => {
    const a = encodeKey({ type: 'OffsetCommit', group: 'g', topic: 't', partition: 3 });
    const b = encodeKey({ type: 'OffsetCommit', group: 'g', topic: 't', partition: 3 });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(encodeKey({ type: 'GroupMetadata', group: 'g' })).equals(Buffer.from(a))).toBe(false);
  });

  it('random or truncated bytes give CORRUPT_MESSAGE, never a throw', () => {
    fc.assert(
      fc.property(recordArb, fc.nat(), fc.uint8Array({ maxLength: 64 }), (record, cut, noise) => {
        const encoded = encodeRecord(record);
        const results = [
          decodeRecord(noise, noise),
          decodeRecord(encoded.key.subarray(0, cut % Math.max(1, encoded.key.length)), encoded.value),
          encoded.value === null ? decodeRecord(encoded.key, null) : decodeRecord(encoded.key, encoded.value.subarray(0, cut % encoded.value.length)),
        ];
        for (const r of results) if (!r.ok) expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
      }),
    );
  });

  it.each([
    ['unknown key version', pack([9, 'g']), null],
    ['negative offset', pack([1, 'g', 't', 0]), pack({ v: 1, offset: -1, leaderEpoch: -1, metadata: '', commitTimestampMs: 0 })],
    ['offset not an integer', pack([1, 'g', 't', 0]), pack({ v: 1, offset: 1.5, leaderEpoch: -1, metadata: '', commitTimestampMs: 0 })],
    ['leader not a member', pack([2, 'g']), pack({ v: 1, protocolType: 'consumer', generationId: 1, protocol: 'range', leader: 'x', currentStateTimestampMs: 0, members: [{ memberId: 'm', groupInstanceId: null, clientId: 'c', clientHost: 'h', sessionTimeoutMs: 1, rebalanceTimeoutMs: 1, subscription: new Uint8Array(0), assignment: new Uint8Array(0) }] })],
    ['members not an array', pack([2, 'g']), pack({ v: 1, generationId: 1, currentStateTimestampMs: 0, members: 'no' })],
  ])('rejects %s', (_what, key, value) => {
    const result = decodeRecord(key, value);
    expect(result).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
  });

  it('decoded bytes are copies, not views into the log buffer', () => {
    const record: OffsetsTopicRecord = {
      key: { type: 'GroupMetadata', group: 'g' },
      value: {
        protocolType: 'consumer', generationId: 1, protocol: 'range', leader: 'm', currentStateTimestampMs: 0,
        members: [{ memberId: 'm', groupInstanceId: null, clientId: 'c', clientHost: 'h', sessionTimeoutMs: 1, rebalanceTimeoutMs: 1, subscription: new Uint8Array([1, 2]), assignment: new Uint8Array([3]) }],
      },
    };
    const encoded = encodeRecord(record);
    const decoded = decodeRecord(encoded.key, encoded.value);
    encoded.value!.fill(0);
    expect(decoded).toEqual({ ok: true, value: record });
  });

  it('loadGroups: the last record per key wins, tombstones delete, empty groups vanish', () => {
    const commit = (group: string, partition: number, offset: number | null): OffsetsTopicRecord => ({
      key: { type: 'OffsetCommit', group, topic: 't', partition },
      value: offset === null ? null : { offset, leaderEpoch: -1, metadata: '', commitTimestampMs: 0 },
    });
    const groups = loadGroups(
      [
        commit('a', 0, 1),
        commit('a', 0, 2),
        commit('a', 1, 5),
        commit('a', 1, null),
        commit('b', 0, 7),
        commit('b', 0, null),
        { key: { type: 'GroupMetadata', group: 'c' }, value: { protocolType: 'consumer', generationId: 4, protocol: null, leader: null, currentStateTimestampMs: 0, members: [] } },
      ],
      { nowMs: 0 },
    );
    expect([...groups.keys()].sort()).toEqual(['a', 'c']);
    expect([...groups.get('a')!.offsets.get('t')!.entries()]).toEqual([[0, { offset: 2, leaderEpoch: -1, metadata: '', commitTimestampMs: 0 }]]);
    expect(groups.get('c')).toMatchObject({ phase: 'Empty', generationId: 4, protocolType: 'consumer' });
  });
});

const subscriptionArb: fc.Arbitrary<Subscription> = fc.record({
  topics: fc.array(name, { maxLength: 5 }),
  userData: fc.option(bytesArb, { nil: null }),
  ownedPartitions: fc
    .uniqueArray(fc.record({ topic: name, partition: fc.nat(100) }), { maxLength: 6, selector: (p) => `${p.topic}/${p.partition}` })
    .map((ps) => ps.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))),
  generationId: fc.integer({ min: -1, max: 1_000_000 }),
  rackId: fc.option(fc.string(), { nil: null }),
});

describe('consumer protocol metadata', () => {
  it('subscription and assignment round trip', () => {
    fc.assert(
      fc.property(subscriptionArb, (s) => {
        expect(decodeSubscription(encodeSubscription(s))).toEqual({ ok: true, value: s });
        const assignment = { assignedPartitions: s.ownedPartitions, userData: s.userData };
        expect(decodeAssignment(encodeAssignment(assignment))).toEqual({ ok: true, value: assignment });
      }),
    );
  });

  it('a newer version with extra fields still decodes; missing optional fields take defaults', () => {
    const bytes = pack({ v: 7, topics: ['t'], futureField: [1, 2, 3] });
    expect(decodeSubscription(bytes)).toEqual({ ok: true, value: { topics: ['t'], userData: null, ownedPartitions: [], generationId: -1, rackId: null } });
  });

  it('random bytes and wrong shapes give CORRUPT_MESSAGE, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (noise) => {
        for (const r of [decodeSubscription(noise), decodeAssignment(noise)]) if (!r.ok) expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
      }),
    );
    expect(decodeSubscription(pack({ v: 3, topics: [1] }))).toMatchObject({ ok: false });
    expect(decodeSubscription(pack({ v: 3, topics: ['t'], ownedPartitions: [{ topic: 't', partitions: [-1] }] }))).toMatchObject({ ok: false });
    expect(decodeAssignment(pack(['not', 'a', 'map']))).toMatchObject({ ok: false });
  });
});

describe('golden bytes (compaction needs keys to stay byte-identical across versions)', () => {
  const hex = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('hex'));
  const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
  const ocKey = '9401a26731a66f726465727303';
  const ocValue =
    'de0005a17601a66f6666736574cd1092ab6c656164657245706f636807a86d65746164617461a16db1636f6d6d697454696d657374616d704d73cb4278bcfe56800000';
  const gmKey = '9202a26731';
  const gmValue =
    'de0007a17601ac70726f746f636f6c54797065a8636f6e73756d6572ac67656e65726174696f6e496405a870726f746f636f6ca572616e6765a66c6561646572a3632d31' +
    'b763757272656e74537461746554696d657374616d704d73cb4278bcfe56800000a76d656d6265727391de0008a86d656d6265724964a3632d31af67726f7570496e7374616e63654964c0' +
    'a8636c69656e744964a163aa636c69656e74486f7374a831302e302e302e31b073657373696f6e54696d656f75744d73cd2710b2726562616c616e636554696d656f75744d73ce000493e0' +
    'ac737562736372697074696f6ec4020102aa61737369676e6d656e74c40103';
  const offsetCommit: OffsetsTopicRecord = {
    key: { type: 'OffsetCommit', group: 'g1', topic: 'orders', partition: 3 },
    value: { offset: 4242, leaderEpoch: 7, metadata: 'm', commitTimestampMs: 1_700_000_000_000 },
  };
  const groupMetadata: OffsetsTopicRecord = {
    key: { type: 'GroupMetadata', group: 'g1' },
    value: {
      protocolType: 'consumer', generationId: 5, protocol: 'range', leader: 'c-1', currentStateTimestampMs: 1_700_000_000_000,
      members: [{ memberId: 'c-1', groupInstanceId: null, clientId: 'c', clientHost: '10.0.0.1', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 300_000, subscription: new Uint8Array([1, 2]), assignment: new Uint8Array([3]) }],
    },
  };

  it.each([
    ['offset commit', offsetCommit, ocKey, ocValue],
    ['group metadata', groupMetadata, gmKey, gmValue],
  ] as const)('%s', (_name, record, key, value) => {
    expect(hex(encodeRecord(record).key)).toBe(key);
    expect(hex(encodeRecord(record).value)).toBe(value);
    expect(decodeRecord(bytes(key), bytes(value))).toEqual({ ok: true, value: record });
  });

  it('subscription and assignment', () => {
    const sub = 'de0006a17603a6746f7069637391a66f7264657273a87573657244617461c0af6f776e6564506172746974696f6e7391de0002a5746f706963a66f7264657273aa706172746974696f6e73920002ac67656e65726174696f6e496404a67261636b4964c0';
    const subscription: Subscription = { topics: ['orders'], userData: null, ownedPartitions: [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 2 }], generationId: 4, rackId: null };
    expect(hex(encodeSubscription(subscription))).toBe(sub);
    expect(decodeSubscription(bytes(sub))).toEqual({ ok: true, value: subscription });
    const asg = 'de0003a17603b261737369676e6564506172746974696f6e7391de0002a5746f706963a66f7264657273aa706172746974696f6e739101a87573657244617461c40109';
    const assignment = { assignedPartitions: [{ topic: 'orders', partition: 1 }], userData: new Uint8Array([9]) };
    expect(hex(encodeAssignment(assignment))).toBe(asg);
    expect(decodeAssignment(bytes(asg))).toEqual({ ok: true, value: assignment });
  });
});
