import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.ts';
import { decompressRecords } from './compression/index.ts';
import { batchHeaderBytes, compressionNames, decodeBatch, decodeBatches, encodeBatch, readBatchHeader, validateBatch, type RecordBatch } from './index.ts';

// Goal: we read what other Kafka clients write, for every codec, and what we
// write from their records reads back the same. Method: the golden batches
// of fixtures/ (made by kcat, KafkaJS with its codec plugins and
// kafka-python; fixtures/README.md says which exercises what) are decoded
// and checked record by record against fixtures/records.json; each is then
// re-encoded with the same codec by us and decoded again.
const fixturesDir = join(import.meta.dirname, 'fixtures');
const expected = JSON.parse(readFileSync(join(fixturesDir, 'records.json'), 'utf8')) as { key: string; value: string }[];
const fixtures = readdirSync(fixturesDir)
  .filter((f) => f.endsWith('.hex'))
  .map((file) => {
    const [, client, codec] = /^(.+)-(gzip|snappy|lz4|zstd)\.hex$/.exec(file)!;
    return { file, client: client!, codec: codec!, bytes: Buffer.from(readFileSync(join(fixturesDir, file), 'utf8').replace(/\s+/g, ''), 'hex') };
  });

const text = (b: Uint8Array | null): string | null => (b === null ? null : Buffer.from(b).toString('utf8'));

function only(decoded: ReturnType<typeof decodeBatches>): RecordBatch {
  if (!decoded.ok) throw new Error(decoded.message);
  expect(decoded.value).toHaveLength(1);
  return decoded.value[0]!;
}

describe('batches compressed by other Kafka clients', () => {
  it('has a fixture of every codec, from at least two clients each', () => {
    for (const codec of ['gzip', 'snappy', 'lz4', 'zstd']) {
      expect(new Set(fixtures.filter((f) => f.codec === codec).map((f) => f.client)).size, codec).toBeGreaterThanOrEqual(2);
    }
  });

  for (const fixture of fixtures) {
    it(`${fixture.file}: the CRC holds and every record decodes as the client sent it`, () => {
      expect(validateBatch(fixture.bytes, 0, { messageBytesMax: 1 << 20, origin: 'replica' })).toEqual({ ok: true, sizeBytes: fixture.bytes.length });
      const batch = only(decodeBatches(fixture.bytes));
      expect(compressionNames[batch.header.compression]).toBe(fixture.codec);
      expect(batch.header.recordCount).toBe(expected.length);
      expect(batch.records.map((r) => r.offset)).toEqual(expected.map((_, i) => i));
      expect(batch.records.map((r) => ({ key: text(r.key), value: text(r.value) }))).toEqual(expected);
      for (const r of batch.records) {
        expect(r.headers.map((h) => [h.key, text(h.value)])).toEqual([['fixture', fixture.client]]);
        expect(r.timestamp).toBeGreaterThan(Date.UTC(2020, 0, 1));
      }
    });

    it(`${fixture.file}: our encoding of the same records with ${fixture.codec} decodes to the same records`, () => {
      const theirs = only(decodeBatches(fixture.bytes));
      const ours = encodeBatch({
        records: theirs.records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, timestamp: r.timestamp })),
        compression: theirs.header.compression as 0 | 1 | 2 | 3 | 4,
      });
      const again = only(decodeBatches(ours));
      expect(again.header.compression).toBe(theirs.header.compression);
      expect(again.records).toEqual(theirs.records);
    });

    it(`${fixture.file}: decompression with the exact size as the limit passes, one byte less is CORRUPT_MESSAGE naming ${fixture.codec}`, () => {
      const header = readBatchHeader(fixture.bytes, 0);
      const inflated = decompressRecords(header.compression, fixture.bytes.subarray(batchHeaderBytes), 1 << 20);
      if (!inflated.ok) throw new Error(inflated.message);
      const exactBytes = inflated.value.length;
      expect(decodeBatch(fixture.bytes, 0, { decompressedBytesMax: exactBytes }).ok).toBe(true);
      const refused = decodeBatch(fixture.bytes, 0, { decompressedBytesMax: exactBytes - 1 });
      expect(refused).toMatchObject({ ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE });
      if (!refused.ok) expect(refused.message.startsWith(`${fixture.codec}:`)).toBe(true);
    });
  }
});
