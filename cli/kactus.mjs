#!/usr/bin/env node
// The `kactus` command (package.json "bin"). Two modes, chosen by what sits
// beside this file:
//   - in the repository, the TypeScript sources: register tsx and run
//     cli/bin.ts as it is (no build step);
//   - in an installed package (package.json "files" ships dist/ and this
//     file, no sources): run the compiled dist/cli/bin.js with plain node.
// The processes it spawns (`cluster up`'s brokers) follow the same mode
// (cli/broker-process.ts).
import { existsSync } from 'node:fs';

if (existsSync(new URL('./bin.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./bin.ts');
} else {
  await import('../dist/cli/bin.js');
}
