/**
 * What the native fuzzer knows of the system under test: every message type
 * the code knows and the fields each one has, collected from the sources
 * (the actor message unions, protocol/apis, runtime), and the actor paths a
 * broker serves.
 *
 * Collected by reading the .ts sources, not by hand, so a message type added
 * tomorrow is fuzzed tomorrow: every `type: 'Name'` literal inside braces is
 * a message type, and the names before a `:` at the first level of those
 * braces are its fields. Tests and this folder are skipped. The scan is crude
 * on purpose (a regex and a brace counter); what it misses the value
 * generator covers with random field names.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '../support/processes.ts';

/** Source folders whose message types are collected. */
export const scannedFolders = ['actors', 'runtime', 'protocol', 'client'] as const;

export type MessageSchema = { readonly type: string; readonly fields: readonly string[]; readonly files: readonly string[] };

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The first-level field names of the braces around `at` in `text` ('' when none). */
function fieldsAround(text: string, at: number): string[] {
  // Walk back to the unmatched '{' before `at`, then forward to its '}'.
  let depth = 0;
  let start = -1;
  for (let i = at; i >= 0 && at - i < 4_000; i--) {
    const c = text[i];
    if (c === '}') depth += 1;
    else if (c === '{') {
      if (depth === 0) {
        start = i;
        break;
      }
      depth -= 1;
    }
  }
  if (start < 0) return [];
  const fields: string[] = [];
  depth = 0;
  let token = '';
  for (let i = start + 1; i < text.length && i - start < 4_000; i++) {
    const c = text[i]!;
    if (c === '{' || c === '(' || c === '[' || c === '<') depth += 1;
    else if (c === '}' || c === ')' || c === ']' || c === '>') {
      if (depth === 0) break;
      depth -= 1;
    }
    if (depth !== 0) {
      token = '';
      continue;
    }
    if (/[A-Za-z0-9_$]/.test(c)) token += c;
    else if (c === ':' && token.length > 0) {
      if (/^[a-z]/.test(token) && token !== 'type') fields.push(token);
      token = '';
    } else if (c !== '?') token = '';
  }
  return [...new Set(fields)];
}

let cached: MessageSchema[] | undefined;

/** Every message type in the sources, with its fields (union of every declaration found), sorted by type. */
export function collectMessageSchemas(): MessageSchema[] {
  if (cached) return cached;
  const byType = new Map<string, { fields: Set<string>; files: Set<string> }>();
  const literal = /\btype: '([A-Z][A-Za-z0-9]*)'/g;
  for (const folder of scannedFolders) {
    for (const file of sourceFiles(join(repoRoot, folder))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(literal)) {
        const type = match[1]!;
        const entry = byType.get(type) ?? { fields: new Set<string>(), files: new Set<string>() };
        for (const f of fieldsAround(text, match.index)) entry.fields.add(f);
        entry.files.add(relative(repoRoot, file));
        byType.set(type, entry);
      }
    }
  }
  cached = [...byType.entries()]
    .map(([type, e]) => ({ type, fields: [...e.fields].sort(), files: [...e.files].sort() }))
    .sort((a, b) => (a.type < b.type ? -1 : 1));
  return cached;
}

/** Paths every broker serves (plus per-partition and per-leader children, added at run time). */
export const brokerActorPaths = [
  '/broker',
  '/fetch',
  '/controller',
  '/controller-client',
  '/groups',
  '/groups-inbox',
  '/transactions',
  '/transactions-inbox',
  '/replicas',
  '/fetchers',
  '/fault-control',
] as const;

/** Paths no broker serves, or that abuse the path syntax. */
export const nonsensePaths = ['/', '//', '/broker/', '/broker/../controller', '/temp', '/temp/', '/temp/1', '/temp/../broker', '/replicas/', '/replicas/nope-0', '/fetchers/99', '/fetchers/-1', `/${'x'.repeat(1_000)}`, '/\u0000', '/é', '/__proto__', '/constructor', '/toString'] as const;
