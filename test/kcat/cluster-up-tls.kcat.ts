/**
 * `kactus cluster up --tls` (#19) as a user runs it: it makes a development
 * CA with openssl in DATA/tls, its ready line says TLS and names the CA, the
 * `kactus` commands reach it over wss:// with KACTUS_SSL_CA, and kcat reaches
 * its SSL:// Kafka listeners with ssl.ca.location. Ctrl-C stops it. Lives in
 * the kcat tier because kcat is one of its clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/processes.ts';

const cliPath = join(repoRoot, 'cli', 'kactus.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'kactus-up-tls-'));
let up: ChildProcess | undefined;

afterAll(async () => {
  if (up?.pid !== undefined && up.exitCode === null) {
    up.kill('SIGINT');
    const exited = await Promise.race([new Promise((resolve) => up!.once('exit', resolve)), new Promise((resolve) => setTimeout(() => resolve('timeout'), 20_000))]);
    // Its own process group (detached): a stuck stop is ended there, never by name.
    if (exited === 'timeout') process.kill(-up.pid, 'SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: no exit within 30 s; ${stderr.slice(-1_000)}`));
    }, 30_000);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('kactus cluster up --tls', () => {
  it('serves wss:// and SSL:// with a development CA; kactus and kcat connect with it', async () => {
    let base = 0;
    for (let attempt = 0; attempt < 20 && base === 0; attempt += 1) {
      const candidate = 20_000 + Math.floor(Math.random() * 30_000);
      if ((await Promise.all([1, 2, 3, 11, 12, 13].map((i) => portFree(candidate + i)))).every(Boolean)) base = candidate;
    }
    expect(base).toBeGreaterThan(0);
    up = spawn(process.execPath, [cliPath, 'cluster', 'up', '--tls', '--data', dataDir, '--base-port', String(base), '--kafka-base-port', String(base + 11)], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const ready = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('cluster up --tls: not ready within 60 s')), 60_000);
      createInterface({ input: up!.stdout! }).on('line', (line) => {
        if (line.includes('cluster ready')) {
          clearTimeout(timer);
          resolve(line);
        }
      });
      up!.once('exit', (code) => reject(new Error(`cluster up --tls exited (${code}) before ready`)));
    });
    const caPath = join(dataDir, 'tls', 'ca.pem');
    expect(existsSync(caPath)).toBe(true);
    expect(ready).toContain(`TLS, development CA ${caPath}`);
    const bootstrap = [1, 2, 3].map((i) => `wss://127.0.0.1:${base + i}`).join(',');
    expect(ready).toContain(`KACTUS_BOOTSTRAP=${bootstrap}`);

    const created = await run(process.execPath, [cliPath, 'topics', 'create', 'secure', '--partitions', '3', '--replication-factor', '3', '--bootstrap', bootstrap], { KACTUS_SSL_CA: caPath });
    expect(created, created.stderr).toMatchObject({ code: 0 });
    const refused = await run(process.execPath, [cliPath, 'topics', 'list', '--bootstrap', bootstrap]);
    expect(refused.code).toBe(1);

    const kafka = [11, 12, 13].map((i) => `127.0.0.1:${base + i}`).join(',');
    const listing = await run('kcat', ['-b', kafka, '-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${caPath}`, '-L', '-J']);
    expect(listing.code, listing.stderr).toBe(0);
    const metadata = JSON.parse(listing.stdout) as { brokers: { id: number }[]; topics: { topic: string }[] };
    expect(metadata.brokers.map((b) => b.id).sort()).toEqual([1, 2, 3]);
    expect(metadata.topics.map((t) => t.topic)).toContain('secure');

    up.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => up!.once('exit', resolve));
    expect(code).toBe(0);
  }, 120_000);
});
