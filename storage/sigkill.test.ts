import { afterEach, describe, expect, it } from 'vitest';
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeBatches } from '../protocol/record-batch/codec.ts';
import { PartitionLog } from './log.ts';
import { makeTempDir, removeDir } from './testing.ts';

// Goal: an append the log reported as synced survives the death of the
// process at any instant. Method: a child appends with an fsync per append
// and reports each synced batch on stdout; the parent SIGKILLs it at a random
// moment, reopens the log, and checks every reported batch is there, intact,
// followed by nothing torn.

const childPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sigkill-child.ts');
let child: ChildProcess | null = null;
const dirs: string[] = [];

afterEach(() => {
  if (child !== null && child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
  child = null;
  for (const d of dirs.splice(0)) removeDir(d);
});

function runUntilKilled(dir: string, killAfterReports: number): Promise<{ synced: Map<number, number> }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', childPath, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const synced = new Map<number, number>();
    let buffered = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      if (!killed) {
        killed = true;
        proc.kill('SIGKILL');
      }
    }, 15_000);
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = /^synced (\d+) (\d+)$/.exec(line);
        if (m !== null) synced.set(Number(m[1]), Number(m[2]));
        if (!killed && synced.size >= killAfterReports) {
          killed = true;
          proc.kill('SIGKILL'); // only our child, by its handle
        }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ synced });
      else reject(new Error(`child exited with ${code}/${signal} before being killed: ${stderr}`));
    });
  });
}

describe('durability under SIGKILL', () => {
  it('every append reported as synced is present after a SIGKILL and reopen', async () => {
    const seed = Date.now();
    console.info(`sigkill test seed ${seed}`);
    let rng = seed % 2147483647;
    const next = () => (rng = (rng * 48271) % 2147483647);
    const dir = makeTempDir('kactus-sigkill-');
    dirs.push(dir);
    let reportedTotal = 0;
    for (let round = 0; round < 3; round++) {
      const { synced } = await runUntilKilled(dir, 20 + (next() % 150));
      reportedTotal += synced.size;
      const log = PartitionLog.open({ dir });
      try {
        const maxSynced = Math.max(-1, ...synced.values());
        expect(log.logEndOffset).toBeGreaterThan(maxSynced);
        // Every batch in the log decodes (no torn tail is served), offsets are contiguous.
        let at = log.logStartOffset;
        let expectedOffset = 0;
        const firstValueByLastOffset = new Map<number, string>();
        for (let guard = 0; at < log.logEndOffset && guard < 100_000; guard++) {
          const decoded = decodeBatches(log.read(at, 1 << 20));
          if (!decoded.ok) throw new Error(`seed ${seed}: ${decoded.message}`);
          for (const b of decoded.value) {
            expect(b.header.baseOffset).toBe(expectedOffset);
            expectedOffset = b.header.lastOffset + 1;
            firstValueByLastOffset.set(b.header.lastOffset, b.records[0]!.value!.toString().split('-')[0]!);
          }
          at = expectedOffset;
        }
        expect(at).toBe(log.logEndOffset);
        // Each synced batch is there with its own content.
        for (const [batchIndex, lastOffset] of synced) expect(firstValueByLastOffset.get(lastOffset)).toBe(`b${batchIndex}`);
      } finally {
        await log.close();
      }
    }
    expect(reportedTotal).toBeGreaterThan(0);
  }, 60_000);
});
