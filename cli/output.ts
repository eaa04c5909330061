/**
 * What the CLI prints: data on stdout (text, or JSON with --json), one-line
 * errors on stderr, and a usage error type that makes main() exit with 2.
 *
 * These print to the process's streams, unless called inside withOutput():
 * then to its sink. Tests use that to run main() in-process for --help and
 * bad arguments (a child process per case costs ~0.7 s of tsx start-up);
 * AsyncLocalStorage, not a global, so concurrent runs cannot see each
 * other's output. (A few commands write progress or notes to process.stderr
 * directly; those bypass the sink.)
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export type OutputSink = { stdout: (text: string) => void; stderr: (text: string) => void };

const sinks = new AsyncLocalStorage<OutputSink>();

/** Runs `run` with everything printLine/printJson/printError print sent to `sink`. */
export function withOutput<T>(sink: OutputSink, run: () => T): T {
  return sinks.run(sink, run);
}

function write(stream: 'stdout' | 'stderr', text: string): void {
  const sink = sinks.getStore();
  if (sink !== undefined) sink[stream](text);
  else process[stream].write(text);
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function printLine(text: string): void {
  write('stdout', `${text}\n`);
}

/** Text as it is, no newline added (kcat-style format strings carry their own). */
export function printRaw(text: string): void {
  write('stdout', text);
}

export function printJson(value: unknown): void {
  write('stdout', `${JSON.stringify(value)}\n`);
}

export function printError(text: string): void {
  write('stderr', `kactus: ${text}\n`);
}

/** A table with aligned columns, like kafka-topics prints. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells: (string | number)[]) => cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd();
  printLine(line(header));
  for (const row of rows) printLine(line(row));
}
