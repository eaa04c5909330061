/**
 * A strict parser of Prometheus' text exposition format (version 0.0.4), for
 * tests that read a broker's /metrics: they assert on parsed samples, never on
 * substrings of the text.
 *
 * Owns: `parsePrometheusText`, `sampleValue`, `PrometheusParseError`.
 *
 * Strict means it refuses what Prometheus would refuse or what hides a bug:
 * a malformed line, a bad metric or label name, a bad escape or an unclosed
 * label value, a value that is not a float (+Inf, -Inf and NaN are floats), a
 * TYPE that is unknown or comes after its family's samples or twice, a sample
 * whose name does not belong to its family's type (a histogram's
 * `_bucket`/`_sum`/`_count`, a counter's name or `_total`), the same series
 * twice, and histograms whose buckets are not cumulative, lack `le="+Inf"`,
 * or whose +Inf bucket differs from `_count`. Samples of a family without a
 * TYPE are `untyped`, as Prometheus reads them.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export type Sample = { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number; readonly timestampMs?: number };

export type MetricFamily = { readonly name: string; type: MetricType; help: string | undefined; readonly samples: Sample[] };

export class PrometheusParseError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'PrometheusParseError';
  }
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const types: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * Parses a float as Prometheus does (Go's strconv.ParseFloat): decimal or exponent notation, and Inf,
 * Infinity and NaN in any case with an optional sign (prom-client writes NaN as "Nan").
 */
function parseFloatStrict(text: string, line: number): number {
  const word = text.toLowerCase();
  if (word === '+inf' || word === 'inf' || word === '+infinity' || word === 'infinity') return Infinity;
  if (word === '-inf' || word === '-infinity') return -Infinity;
  if (word === 'nan') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new PrometheusParseError(line, `"${text}" is not a float`);
  return Number(text);
}

/** Reads `{a="x",b="y"}` starting at `at` (the brace); returns the labels and the index after the closing brace. */
function parseLabels(text: string, at: number, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = at + 1;
  const skipSpaces = (): void => {
    while (text[i] === ' ' || text[i] === '\t') i += 1;
  };
  skipSpaces();
  if (text[i] === '}') return { labels, end: i + 1 };
  for (;;) {
    skipSpaces();
    const nameStart = i;
    while (i < text.length && /[a-zA-Z0-9_]/.test(text[i]!)) i += 1;
    const name = text.slice(nameStart, i);
    if (!labelName.test(name)) throw new PrometheusParseError(line, `bad label name "${name}"`);
    if (Object.hasOwn(labels, name)) throw new PrometheusParseError(line, `label ${name} given twice`);
    skipSpaces();
    if (text[i] !== '=') throw new PrometheusParseError(line, `expected = after label ${name}`);
    i += 1;
    skipSpaces();
    if (text[i] !== '"') throw new PrometheusParseError(line, `label ${name}: the value must be quoted`);
    i += 1;
    let value = '';
    for (;;) {
      if (i >= text.length) throw new PrometheusParseError(line, `label ${name}: unclosed value`);
      const c = text[i]!;
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else throw new PrometheusParseError(line, `label ${name}: bad escape \\${next ?? ''}`);
        i += 2;
        continue;
      }
      value += c;
      i += 1;
    }
    i += 1;
    labels[name] = value;
    skipSpaces();
    if (text[i] === ',') {
      i += 1;
      skipSpaces();
      if (text[i] === '}') return { labels, end: i + 1 };
      continue;
    }
    if (text[i] === '}') return { labels, end: i + 1 };
    throw new PrometheusParseError(line, `expected , or } after label ${name}`);
  }
}

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(name: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const exact = families.get(name);
  if (exact !== undefined && exact.type !== 'histogram' && exact.type !== 'summary') return exact;
  for (const suffix of ['_bucket', '_sum', '_count', '_total']) {
    if (!name.endsWith(suffix)) continue;
    const family = families.get(name.slice(0, -suffix.length));
    if (family === undefined) continue;
    if (suffix === '_bucket' && family.type === 'histogram') return family;
    if ((suffix === '_sum' || suffix === '_count') && (family.type === 'histogram' || family.type === 'summary')) return family;
    if (suffix === '_total' && family.type === 'counter') return family;
  }
  return exact !== undefined && exact.type === 'summary' ? exact : undefined;
}

const seriesKey = (name: string, labels: Readonly<Record<string, string>>): string =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;

/** Parses the whole text; throws PrometheusParseError naming the first problem's line. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const seen = new Set<string>();
  const typed = new Set<string>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '') return;
    if (trimmed.startsWith('#')) {
      const match = /^#\s*(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(trimmed);
      if (match === null) return; // a plain comment
      const [, keyword, name, rest] = match as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!metricName.test(name)) throw new PrometheusParseError(line, `bad metric name "${name}"`);
      let family = families.get(name);
      if (keyword === 'TYPE') {
        const type = (rest ?? '').trim();
        if (!types.has(type)) throw new PrometheusParseError(line, `unknown type "${type}" for ${name}`);
        if (typed.has(name)) throw new PrometheusParseError(line, `a second TYPE for ${name}`);
        if (family !== undefined && family.samples.length > 0) throw new PrometheusParseError(line, `TYPE for ${name} after its samples`);
        typed.add(name);
        if (family === undefined) families.set(name, { name, type: type as MetricType, help: undefined, samples: [] });
        else family.type = type as MetricType;
        return;
      }
      if (family === undefined) {
        family = { name, type: 'untyped', help: undefined, samples: [] };
        families.set(name, family);
      }
      if (family.help !== undefined) throw new PrometheusParseError(line, `a second HELP for ${name}`);
      family.help = (rest ?? '').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(trimmed);
    if (nameMatch === null) throw new PrometheusParseError(line, `not a sample: "${trimmed.slice(0, 60)}"`);
    const name = nameMatch[0];
    let at = name.length;
    let labels: Record<string, string> = {};
    if (trimmed[at] === '{') {
      const parsed = parseLabels(trimmed, at, line);
      labels = parsed.labels;
      at = parsed.end;
    }
    const fields = trimmed.slice(at).trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new PrometheusParseError(line, `${name}: expected a value and an optional timestamp`);
    const value = parseFloatStrict(fields[0]!, line);
    let timestampMs: number | undefined;
    if (fields[1] !== undefined) {
      if (!/^-?\d+$/.test(fields[1])) throw new PrometheusParseError(line, `${name}: timestamp "${fields[1]}" is not an integer`);
      timestampMs = Number(fields[1]);
    }
    let family = familyOf(name, families);
    if (family === undefined) {
      if (families.has(name)) throw new PrometheusParseError(line, `${name} does not belong to its family's type`);
      family = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, family);
    }
    if (family.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) throw new PrometheusParseError(line, `${name}: a bucket needs le`);
    const key = seriesKey(name, labels);
    if (seen.has(key)) throw new PrometheusParseError(line, `series ${key} given twice`);
    seen.add(key);
    family.samples.push({ name, labels, value, ...(timestampMs === undefined ? {} : { timestampMs }) });
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** Buckets cumulative in le order, a +Inf bucket equal to _count, per label set. */
function checkHistogram(family: MetricFamily): void {
  const groups = new Map<string, { buckets: { le: number; value: number }[]; count: number | undefined }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = seriesKey('', rest);
    const group = groups.get(key) ?? { buckets: [], count: undefined };
    groups.set(key, group);
    if (sample.name === `${family.name}_bucket`) group.buckets.push({ le: parseFloatStrict(le!, 0), value: sample.value });
    else if (sample.name === `${family.name}_count`) group.count = sample.value;
  }
  for (const [key, group] of groups) {
    const sorted = [...group.buckets].sort((a, b) => a.le - b.le);
    for (let i = 1; i < sorted.length; i += 1) if (sorted[i]!.value < sorted[i - 1]!.value) throw new PrometheusParseError(0, `${family.name}${key}: buckets are not cumulative`);
    const inf = sorted[sorted.length - 1];
    if (inf === undefined || inf.le !== Infinity) throw new PrometheusParseError(0, `${family.name}${key}: no le="+Inf" bucket`);
    if (group.count === undefined || group.count !== inf.value) throw new PrometheusParseError(0, `${family.name}${key}: the +Inf bucket (${inf.value}) is not _count (${group.count})`);
  }
}

/**
 * The value of the one sample named `name` whose labels include `labels`; undefined when there is none;
 * throws when several match (the test must say which it means).
 */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const matching = samplesOf(families, name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matching[0]?.value;
}

/** Every sample named `name` (a family's own name, or `x_bucket` / `x_count` of a histogram). */
export function samplesOf(families: Map<string, MetricFamily>, name: string): Sample[] {
  const out: Sample[] = [];
  for (const family of families.values()) for (const sample of family.samples) if (sample.name === name) out.push(sample);
  return out;
}
