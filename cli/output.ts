/**
 * What the CLI prints: data on stdout (text, or JSON with --json), one-line
 * errors on stderr, and a usage error type that makes main() exit with 2.
 *
 * An error line names the command that printed it, `kactus topics create:
 * ...` (main.ts adds `; see kactus topics create --help` to usage errors).
 * With --json every error is instead one JSON object on its own line:
 *   {"error":{"code":"UNKNOWN_OPTION","message":"...","command":"topics create","exitCode":2}}
 * code: for exit 2 one of UsageCode; for exit 1 the Kafka error name
 * (TOPIC_ALREADY_EXISTS, NETWORK_EXCEPTION when no broker answers, ...) or
 * FAILED. command: the command's words, or null before one was recognised.
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

function write(stream: 'stdout' | 'stderr', text: string | Uint8Array): void {
  const sink = sinks.getStore();
  // A sink (tests running main() in-process) takes text: bytes reach it as UTF-8, lossy for binary.
  if (sink !== undefined) sink[stream](typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8'));
  else process[stream].write(text);
}

/** Why arguments were refused (the `code` of a JSON error with exit code 2). */
export type UsageCode = 'UNKNOWN_COMMAND' | 'UNKNOWN_OPTION' | 'MISSING_ARGUMENT' | 'UNEXPECTED_ARGUMENT' | 'INVALID_ARGUMENT';

export class UsageError extends Error {
  constructor(
    message: string,
    readonly code: UsageCode = 'INVALID_ARGUMENT',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** How errors of the running command are printed: the words naming it, and whether --json was given. */
export type ErrorStyle = { command: string | null; json: boolean };

const errorStyles = new AsyncLocalStorage<ErrorStyle>();

/** Runs `run` with printError naming `style.command` (JSON objects when style.json). */
export function withErrorStyle<T>(style: ErrorStyle, run: () => T): T {
  return errorStyles.run(style, run);
}

export function printLine(text: string): void {
  write('stdout', `${text}\n`);
}

/** Text or bytes as they are, no newline added (kcat-style format strings carry their own; record bytes are not decoded). */
export function printRaw(text: string | Uint8Array): void {
  write('stdout', text);
}

export function printJson(value: unknown): void {
  write('stdout', `${JSON.stringify(value)}\n`);
}

/** One error line on stderr (one JSON object with --json); `code` and `exitCode` go only into the JSON. */
export function printError(text: string, details: { code?: string; exitCode?: number } = {}): void {
  const style = errorStyles.getStore() ?? { command: null, json: false };
  if (style.json) write('stderr', `${JSON.stringify({ error: { code: details.code ?? 'FAILED', message: text, command: style.command, exitCode: details.exitCode ?? 1 } })}\n`);
  else write('stderr', `kactus${style.command === null ? '' : ` ${style.command}`}: ${text}\n`);
}

/** A table with aligned columns, like kafka-topics prints. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells: (string | number)[]) => cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd();
  printLine(line(header));
  for (const row of rows) printLine(line(row));
}
