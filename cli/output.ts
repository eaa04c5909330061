/**
 * What the CLI prints: data on stdout (text, or JSON with --json), one-line
 * errors on stderr, and a usage error type that makes main() exit with 2.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function printLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printError(text: string): void {
  process.stderr.write(`kactus: ${text}\n`);
}

/** A table with aligned columns, like kafka-topics prints. */
export function printTable(header: string[], rows: (string | number)[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells: (string | number)[]) => cells.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd();
  printLine(line(header));
  for (const row of rows) printLine(line(row));
}
