// After `stryker run` (npm run test:mutation): the mutation score of each safety-core module from
// reports/mutation/mutation.json (mutation-testing-report-schema), a table on stdout and one JSON line, and an
// exit code of 1 when a module is under the bar. A surviving mutant counts against its module unless
// test/MUTATION.md lists it as equivalent, by file, line and mutator ("| storage/log.ts | 120 | EqualityOperator | why |").
// Score = killed (incl. timeouts and compile errors the checker found) / (all mutants - equivalent - ignored).
import { existsSync, readFileSync } from 'node:fs';

const barPercent = 85;
const report = JSON.parse(readFileSync('reports/mutation/mutation.json', 'utf8'));
const equivalent = new Set();
if (existsSync('test/MUTATION.md')) {
  for (const line of readFileSync('test/MUTATION.md', 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | file | line | mutator | reason |
    if (cells.length >= 5 && /^\d+$/.test(cells[2])) equivalent.add(`${cells[1]}:${cells[2]}:${cells[3]}`);
  }
}

const rows = [];
const survivors = [];
for (const [file, result] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  const counts = { killed: 0, survived: 0, noCoverage: 0, timeout: 0, compileError: 0, equivalent: 0, ignored: 0 };
  for (const m of result.mutants) {
    const key = `${file}:${m.location.start.line}:${m.mutatorName}`;
    switch (m.status) {
      case 'Killed': counts.killed++; break;
      case 'Timeout': counts.timeout++; break;
      case 'CompileError': counts.compileError++; break;
      case 'Ignored': counts.ignored++; break;
      case 'Survived':
      case 'NoCoverage':
        if (equivalent.has(key)) counts.equivalent++;
        else {
          if (m.status === 'Survived') counts.survived++;
          else counts.noCoverage++;
          survivors.push(`${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} ${m.status}: ${String(m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 100)}`);
        }
        break;
      default: break;
    }
  }
  const detected = counts.killed + counts.timeout;
  // Compile errors are mutants the type checker refuses: they never run, and count neither way (Stryker's own score).
  const valid = detected + counts.survived + counts.noCoverage;
  const scorePercent = valid === 0 ? 100 : (100 * detected) / valid;
  rows.push({ file, scorePercent: Math.round(scorePercent * 10) / 10, ...counts });
}

const pad = (text, width) => String(text).padEnd(width);
process.stdout.write(`${pad('module', 48)} ${pad('score', 7)} killed survived no-cov timeout equiv\n`);
for (const r of rows) process.stdout.write(`${pad(r.file, 48)} ${pad(`${r.scorePercent}%`, 7)} ${pad(r.killed, 6)} ${pad(r.survived, 8)} ${pad(r.noCoverage, 6)} ${pad(r.timeout, 7)} ${r.equivalent}\n`);
if (survivors.length > 0) process.stdout.write(`\nsurviving mutants (kill them with a test, or list them in test/MUTATION.md with the reason they are equivalent):\n${survivors.map((s) => `  ${s}`).join('\n')}\n`);
const under = rows.filter((r) => r.scorePercent < barPercent);
process.stdout.write(`${JSON.stringify({ bench: 'mutation', barPercent, modules: rows, under: under.map((r) => r.file) })}\n`);
process.exitCode = under.length > 0 ? 1 : 0;
