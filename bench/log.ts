/**
 * Benchmark of the partition log (issue #3): `npm run bench:log`.
 *
 * Prints exactly one JSON line:
 *   appendMBps          PartitionLog.append of 64 KiB batches of 100-byte records (page cache, no fsync)
 *   appendRecordsPerSec the same, in records
 *   readMBps            sequential PartitionLog.read(offset, 1 MiB) of what was appended
 *   rawWriteMBps        plain sequential fs.writeSync of the same 64 KiB chunks, same run, same disk
 *   appendToRawRatio    appendMBps / rawWriteMBps (aim: >= 0.7)
 *   appendFsyncP99Ms    p99 latency of append + flush (fdatasync) of one 64 KiB batch
 *   crc32cMBps          CRC32C throughput over the same batches, same run: the append path checks
 *                       the CRC of every byte before writing it, on the same thread, so
 *                       appendMBps <= 1 / (1/rawWriteMBps + 1/crc32cMBps) (serialBoundMBps)
 *
 * Method: raw and log writes alternate for `rounds` rounds on fresh files and
 * the best round of each is reported, so page-cache writeback from one phase
 * hurts both alike. The append path is the real one: header + CRC validation
 * of every batch, offset and epoch rewrite in place, index bookkeeping, one
 * positioned write per batch. Size with BENCH_LOG_MB (default 512 per round).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32c } from '../protocol/crc32c.ts';
import { encodeBatch } from '../protocol/record-batch/codec.ts';
import { PartitionLog } from '../storage/log.ts';
import { makeTempDir, removeDir } from '../storage/testing.ts';

const MiB = 1024 * 1024;
const batchBytesTarget = 64 * 1024;
const recordValueBytes = 100;
const roundBytes = Number(process.env.BENCH_LOG_MB ?? 512) * MiB;
const rounds = 2;
const fsyncSamples = 300;

function buildBatch(): { bytes: Buffer; records: number } {
  const value = Buffer.alloc(recordValueBytes, 0x6b);
  const make = (n: number) =>
    encodeBatch({ records: Array.from({ length: n }, (_, i) => ({ key: null, value, timestamp: 1_700_000_000_000 + i })) });
  let n = Math.floor(batchBytesTarget / (recordValueBytes + 10));
  while (make(n + 1).length <= batchBytesTarget) n++;
  while (make(n).length > batchBytesTarget) n--;
  return { bytes: make(n), records: n };
}

function rawWriteMBps(dir: string, chunk: Buffer, chunkCount: number): number {
  const file = path.join(dir, 'raw.bin');
  const fd = fs.openSync(file, 'w');
  const start = process.hrtime.bigint();
  let pos = 0;
  for (let i = 0; i < chunkCount; i++) {
    let done = 0;
    while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done, pos + done);
    pos += chunk.length;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  fs.closeSync(fd);
  fs.unlinkSync(file);
  return pos / MiB / seconds;
}

function appendMBps(dir: string, template: Buffer, chunkCount: number): { mbps: number; log: PartitionLog } {
  const log = PartitionLog.open({ dir });
  const batch = Buffer.from(template);
  const start = process.hrtime.bigint();
  for (let i = 0; i < chunkCount; i++) log.append(batch, { leaderEpoch: 0 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { mbps: (chunkCount * template.length) / MiB / seconds, log };
}

function readMBps(log: PartitionLog): number {
  let at = log.logStartOffset;
  let bytes = 0;
  const start = process.hrtime.bigint();
  while (at < log.logEndOffset) {
    const chunk = log.read(at, MiB);
    bytes += chunk.length;
    // Next offset: the last batch's last offset + 1, from headers only.
    let pos = 0;
    let last = at;
    while (pos < chunk.length) {
      const base = Number(chunk.readBigInt64BE(pos));
      last = base + chunk.readInt32BE(pos + 23);
      pos += chunk.readInt32BE(pos + 8) + 12;
    }
    at = last + 1;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return bytes / MiB / seconds;
}

function crcMBps(template: Buffer, chunkCount: number): number {
  const start = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < chunkCount; i++) sink ^= crc32c(template.subarray(21));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink === 0.5) process.stdout.write(''); // keep the loop observable
  return (chunkCount * template.length) / MiB / seconds;
}

async function fsyncP99Ms(dir: string, template: Buffer): Promise<number> {
  const log = PartitionLog.open({ dir });
  const batch = Buffer.from(template);
  const samples: number[] = [];
  for (let i = 0; i < fsyncSamples; i++) {
    const start = process.hrtime.bigint();
    log.append(batch, { leaderEpoch: 0 });
    await log.flush();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  await log.close();
  samples.sort((a, b) => a - b);
  return samples[Math.min(samples.length - 1, Math.ceil(samples.length * 0.99) - 1)]!;
}

async function main(): Promise<void> {
  const { bytes: template, records } = buildBatch();
  const chunkCount = Math.max(1, Math.floor(roundBytes / template.length));
  const root = makeTempDir('kactus-bench-log-');
  try {
    let bestRaw = 0;
    let bestAppend = 0;
    let bestRead = 0;
    let bestCrc = 0;
    for (let round = 0; round < rounds; round++) {
      bestCrc = Math.max(bestCrc, crcMBps(template, Math.min(chunkCount, 4096)));
      bestRaw = Math.max(bestRaw, rawWriteMBps(root, template, chunkCount));
      const logDir = path.join(root, `log-${round}`);
      const { mbps, log } = appendMBps(logDir, template, chunkCount);
      bestAppend = Math.max(bestAppend, mbps);
      bestRead = Math.max(bestRead, readMBps(log));
      log.abandon(); // no final flush of hundreds of MB: not what is measured
      removeDir(logDir);
    }
    const p99 = await fsyncP99Ms(path.join(root, 'fsync'), template);
    const round2 = (x: number) => Math.round(x * 100) / 100;
    const result = {
      appendMBps: round2(bestAppend),
      appendRecordsPerSec: Math.round((bestAppend * MiB * records) / template.length),
      readMBps: round2(bestRead),
      rawWriteMBps: round2(bestRaw),
      appendToRawRatio: round2(bestAppend / bestRaw),
      appendFsyncP99Ms: round2(p99),
      crc32cMBps: round2(bestCrc),
      serialBoundMBps: round2(1 / (1 / bestRaw + 1 / bestCrc)),
      batchBytes: template.length,
      recordsPerBatch: records,
      roundMB: Math.round((chunkCount * template.length) / MiB),
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    removeDir(root);
  }
}

await main();
