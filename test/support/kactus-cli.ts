/**
 * Test helper: the `kactus` command as a user runs it (cli/kactus.mjs in a
 * child process, logs silent), bounded to 30 s, with stdin and extra
 * environment. Not a test file itself.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './processes.ts';

export type CliRun = { code: number | null; stdout: string; stderr: string };

export function kactusCli(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'cli', 'kactus.mjs'), ...args], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}
