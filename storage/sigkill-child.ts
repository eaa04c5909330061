/**
 * Child process for sigkill.test.ts (not a test itself): appends batches to
 * the log in argv[2], fsyncs each one (fsyncEveryAppend + awaiting flush),
 * and prints `synced <batchIndex> <lastOffset>` once the flush resolved.
 * Runs until SIGKILLed, bounded by argv[3] batches and 20 s.
 */
import { PartitionLog } from './log.ts';
import { makeBatch } from './testing.ts';

const dir = process.argv[2]!;
const batchCountMax = Number(process.argv[3] ?? 100_000);
const deadlineMs = Date.now() + 20_000;

const log = PartitionLog.open({ dir, config: { fsyncEveryAppend: true, segmentBytesMax: 64 * 1024 } });
process.stdout.write(`ready ${log.logEndOffset}\n`);
let batchIndex = 0;
while (batchIndex < batchCountMax && Date.now() < deadlineMs) {
  const records = 1 + (batchIndex % 7);
  const r = log.append(makeBatch(records, { tag: `b${batchIndex}`, valueBytes: 100 + (batchIndex % 300) }), { leaderEpoch: 1 });
  await log.flush();
  process.stdout.write(`synced ${batchIndex} ${r.lastOffset}\n`);
  batchIndex++;
}
await log.close();
process.stdout.write('done\n');
