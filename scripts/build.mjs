// `npm run build` (and `prepare`): compiles the sources a package user needs
// (runtime, protocol, storage, actors, client, cli, console; not tests,
// benches, examples or test helpers: tsconfig.build.json) to dist/ as ES modules with
// declarations and source maps. tsc's rewriteRelativeImportExtensions turns
// the sources' `./x.ts` imports into `./x.js` in the JavaScript; declaration
// emit keeps `./x.ts`, so the .d.ts files get the same rewrite here (same
// length, so their .d.ts.map files stay exact). Plain JavaScript: it runs
// where tsx is not installed.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(repoRoot, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(dist, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) {
  process.stderr.write(`build: tsc failed (exit ${result.status ?? result.signal})\n`);
  process.exit(1);
}

/** `from './a.ts'`, `import('../b.ts')`: relative specifiers only; packages are left alone. */
const relativeTs = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g;
let files = 0;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const path = join(entry.parentPath, entry.name);
  const text = readFileSync(path, 'utf8');
  const rewritten = text.replace(relativeTs, '$1$2.js$3');
  if (rewritten !== text) writeFileSync(path, rewritten);
  files += 1;
}
// The web console's page is plain files next to its server code (console/server/assets.ts reads ../public/).
cpSync(join(repoRoot, 'console', 'public'), join(dist, 'console', 'public'), { recursive: true });
process.stdout.write(`build: dist/ written (${files} declaration files, the console's page)\n`);
