/**
 * Child processes for multi-process tests: free ports on 127.0.0.1, spawn
 * through tsx, wait for a JSON line on stdout, and kill every child this test
 * file started (by its pid, never by name), also when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsxLoader = join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs');

/** Asks the OS for a free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export type Child = {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves with the first stdout JSON line whose `event` matches. */
  waitFor(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Every JSON line seen so far. */
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderrTail(): string;
};

const children = new Set<ChildProcess>();

/**
 * Starts `script` (a .ts file under the repo) with tsx. Its stdout must be JSON lines.
 * `commandPrefix` runs node through another command that execs it (e.g. `ip netns exec NS`),
 * so the child's pid is still node's.
 */
export function startChild(script: string, args: string[] = [], env: Record<string, string> = {}, options: { commandPrefix?: readonly string[] } = {}): Child {
  const command = [...(options.commandPrefix ?? []), process.execPath, '--import', tsxLoader, join(repoRoot, script), ...args];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: Record<string, unknown>[] = [];
  const waiters: { event: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-256_000);
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(line);
    for (const waiter of waiters.splice(0)) {
      if (waiter.event === line.event) waiter.resolve(line);
      else waiters.push(waiter);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    process: child,
    pid: child.pid!,
    lines,
    exited,
    stderrTail: () => stderr,
    waitFor(event, timeoutMs = 20_000) {
      const seen = lines.find((l) => l.event === event);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child ${child.pid} did not report ${event} within ${timeoutMs} ms; stderr: ${stderr.slice(-2_000)}`)), timeoutMs);
        waiters.push({ event, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`child ${child.pid} exited (${code ?? signal}) before ${event}; stderr: ${stderr.slice(-2_000)}`));
        });
      });
    },
  };
}

/** Kills every child started by this module that is still running (SIGKILL), and waits for them. */
export async function killAllChildren(): Promise<void> {
  const running = [...children];
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

// A test runner that dies still takes its children with it.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Polls `probe` (which may ask a broker) until it returns something other than undefined, and returns that; throws after `timeoutMs`. */
export async function untilValue<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
