import { describe, expect, it } from 'vitest';
import { decodeBatches } from './codec.ts';
import { decodeControlRecord } from './control.ts';
import { validateBatch } from './header.ts';

// Goal: byte-for-byte compatibility with real Kafka. Method: decode batches a
// Kafka 0.11 broker returned (published as test data by kafka-python's
// test/record/test_records.py) and check every CRC, offset, timestamp, value
// and header.
const kafkaBrokerBatchesHex =
  '00000000000000000000003b00000001020318a2700000000000000000015dff7b063c0000015dff7b063cffffffffff' +
  'ffffffffffffffffff00000001120000000106313233000000000000000001000000400000000202c85cbd2300000000' +
  '00010000015dff7cdd6c0000015dff7cde14ffffffffffffffffffffffffffff000000020c0000000100000e00d00202' +
  '01000000000000000000030000003b00000002022e0b85b70000000000000000015dff7ce79d0000015dff7ce79dffff' +
  'ffffffffffffffffffffffff000000011200000001063132330000000000000000000000004500000000025cd8ef5200' +
  '00000000000000016585b6f3c10000016585b6f3c1ffffffffffffffffffffffffffff00000001260000000106686472' +
  '0208686b6579086876616c';

// A single abort marker (control batch) from the same source; hand-made there,
// its CRC field is not a real checksum, so the CRC check is skipped for it.
const kafkaControlBatchHex =
  '00000000000000000000005200000000026597ffd0002000000000000000000098967f000000000098967fffffffffff' +
  'ffffffffffffffffff000000014000000008000000002c6f70617175652d636f6e74726f6c2d6d65737361676500';

describe('real Kafka bytes', () => {
  it('decodes four batches from a Kafka broker with valid CRCs', () => {
    const bytes = Buffer.from(kafkaBrokerBatchesHex, 'hex');
    let pos = 0;
    while (pos < bytes.length) {
      const check = validateBatch(bytes, pos, { messageBytesMax: 1 << 20, origin: 'replica' });
      expect(check.ok).toBe(true);
      if (!check.ok) return;
      pos += check.sizeBytes;
    }
    const decoded = decodeBatches(bytes);
    if (!decoded.ok) throw new Error(decoded.message);
    const batches = decoded.value;
    expect(batches.map((b) => b.header.baseOffset)).toEqual([0, 1, 3, 0]);
    expect(batches.map((b) => b.header.partitionLeaderEpoch)).toEqual([1, 2, 2, 0]);
    const first = batches[0]!.records[0]!;
    expect(first.value?.toString()).toBe('123');
    expect(first.key).toBeNull();
    expect(first.timestamp).toBe(1503229838908);
    expect(batches[1]!.records.map((r) => [r.offset, r.value?.toString()])).toEqual([
      [1, ''],
      [2, ''],
    ]);
    const last = batches[3]!.records[0]!;
    expect(last.value?.toString()).toBe('hdr');
    expect(last.headers.map((h) => [h.key, h.value && Buffer.from(h.value).toString()])).toEqual([['hkey', 'hval']]);
  });

  it('decodes an abort marker control batch', () => {
    const decoded = decodeBatches(Buffer.from(kafkaControlBatchHex, 'hex'), { verifyCrc: false });
    if (!decoded.ok) throw new Error(decoded.message);
    const batch = decoded.value[0]!;
    expect(batch.header.isControl).toBe(true);
    const marker = decodeControlRecord(batch.records[0]!);
    expect(marker.ok && marker.value.type).toBe('abort');
  });
});
