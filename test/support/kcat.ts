/**
 * Test helper for the kcat tier: the kcat binary run with a bounded time
 * (killed past it), stdin from `input`; every run still going can be killed
 * by `killKcats` (afterAll, also on failure); `requireKcat` fails the tier
 * (never skips it) when kcat is not installed. Not a test file itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export type KcatRun = { code: number | null; stdout: string; stderr: string };

const running = new Set<ChildProcess>();

export function requireKcat(): void {
  const found = spawnSync('kcat', ['-V'], { encoding: 'utf8' });
  if (found.error !== undefined || found.status !== 0) throw new Error('kcat not found: install it (Debian: apt-get install -y kcat); this tier fails rather than skips without it');
}

/** kcat -b `bootstrap` `args`: its exit code and output; rejects only when it does not exit within `timeoutMs`. */
export function runKcat(bootstrap: string, args: string[], options: { input?: string; timeoutMs: number }): Promise<KcatRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', bootstrap, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kcat ${args.join(' ')}: no exit within ${options.timeoutMs} ms; stderr: ${stderr.slice(-2_000)}`));
    }, options.timeoutMs);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Kills every kcat this process started that is still running. */
export function killKcats(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}
