/**
 * Starting and stopping the child processes a benchmark needs, by pid only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsxLoader = join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const started = new Set<ChildProcess>();

process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

/** Starts a tsx script and resolves with its first stdout JSON line of `event`. */
export function startScript(script: string, args: string[], event = 'ready', timeoutMs = 20_000, env: Record<string, string> = {}): Promise<{ child: ChildProcess; line: Record<string, unknown> }> {
  const child = spawn(process.execPath, [...(process.env.BENCH_CHILD_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_CHILD_PROF] : []), '--import', tsxLoader, join(repoRoot, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'], cwd: repoRoot, env: { ...process.env, ...env } });
  started.add(child);
  child.once('exit', () => started.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not report ${event} in ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (line.event === event) {
          clearTimeout(timer);
          resolve({ child, line });
        }
      } catch {
        // not a control line
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before ${event}`)));
  });
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return 0;
  const index = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, index)]!;
}
