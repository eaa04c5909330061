/**
 * `kactus consume TOPIC [TOPIC...]`: prints records as they arrive, like
 * kafka-console-consumer. --include REGEX (or a TOPIC starting with ^, as in
 * kcat) reads every topic whose name matches: without --group the topics
 * matching when reading starts, with --group the group's subscription
 * follows topics created later too.
 *
 * Without --group it reads every partition (or only --partition P) from the
 * leaders directly (cli/fetch-reader.ts): from the latest offset, or the
 * earliest with --from-beginning, or --offset O (kcat's forms: an offset,
 * earliest|beginning, latest|end, -N before the end, s@TIMESTAMP_MS), for
 * every partition or --partition P; --exit-at-end stops once each reached
 * the end it had at the start. Nothing is committed.
 *
 * With --group G it is a member of consumer group G through the client's
 * consumer (client/consumer): the group assigns the partitions, reading
 * starts at the group's committed offsets (else the earliest with
 * --from-beginning, else the latest), and a record's offset is committed
 * only once it was printed (explicit ack: records fetched past
 * --max-messages are not committed, the next member reads them). Stopping
 * commits and leaves the group.
 *
 * It stops after --max-messages N records, after --timeout-ms T without a
 * record, or on Ctrl-C (SIGINT/SIGTERM), with exit code 0. Output: --format
 * text prints the value (key SEP value with --print-key), one per line;
 * --format json (or --json) prints one JSON object per record: topic,
 * partition, offset, timestamp, key, value (UTF-8 text) and headers.
 *
 * Binary-safe: the text format and --format-string write keys, values and
 * header values as their bytes, never decoded (as kcat does); --format json
 * writes each as UTF-8 text when it is valid UTF-8, else as base64 with
 * `keyEncoding` / `valueEncoding` "base64" beside it (headers: an array of
 * { key, value[, valueEncoding] }, in order, repeated keys kept).
 *
 * --property NAME=VALUE takes kafka-console-consumer's formatter properties
 * onto the text format: print.key (--print-key), key.separator
 * (--key-separator), print.value, and print.timestamp, print.partition,
 * print.offset, print.headers, each printed as Kafka's DefaultMessageFormatter
 * does and in its order: CreateTime:T, Partition:P, Offset:O, headers k:v,k:v
 * (NO_HEADERS when none), key, value, separated by the key separator. The
 * timestamp is always labelled CreateTime (the reader does not carry a
 * batch's timestamp type).
 */
import { isUtf8 } from 'node:buffer';
import type { Subscription } from 'rxjs';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { UsageError, printLine, printRaw } from '../output.ts';
import { integerFlag, withClient } from '../common.ts';
import type { CommandSpec, Parsed } from '../parser.ts';
import { FetchReader, type ConsumedRecord, type StartAt } from '../fetch-reader.ts';
import type { Admin } from '../../client/admin.ts';

/** With --group and --timeout-ms: longest wait for the group's first assignment, on top of the timeout. */
const groupJoinWaitMsMax = 30_000;

/** With --group: how often a feed that failed with REBALANCE_IN_PROGRESS is started again, and after what pause. */
const groupFeedRestartsMax = 5;
const groupFeedRestartDelayMs = 1_000;

/** Where --offset starts each partition (kcat's -o forms): an offset, the earliest or latest, N before the end, or a time. */
type StartSpec = StartAt | { fromEnd: number } | { timestampMs: number };

function startSpec(text: string): StartSpec {
  if (text === 'earliest' || text === 'beginning') return 'earliest';
  if (text === 'latest' || text === 'end') return 'latest';
  if (/^-(0|[1-9]\d{0,15})$/.test(text)) return { fromEnd: Number(text.slice(1)) };
  if (/^s@(0|[1-9]\d{0,15})$/.test(text)) return { timestampMs: Number(text.slice(2)) };
  if (/^(0|[1-9]\d{0,15})$/.test(text)) return Number(text);
  throw new UsageError(`consume: --offset "${text}" is not an offset, earliest|beginning, latest|end, -N (N before the end) or s@TIMESTAMP_MS; see kactus consume --help`);
}

/** Positions every partition of `partitions` per `start`; -N never goes below a partition's earliest offset. */
async function seekTo(reader: FetchReader, admin: Admin, topic: string, partitions: number[], start: StartSpec): Promise<void> {
  if (typeof start !== 'object') return reader.seek(partitions, start);
  if ('timestampMs' in start) {
    const found = await admin.listOffsets({ topic, partitions, at: { timestamp: start.timestampMs } });
    const latest = await admin.listOffsets({ topic, partitions, at: 'latest' });
    // No record at or after the time: start at the end, as kcat does.
    for (const o of found) await reader.seek([o.partition], o.offset >= 0 ? o.offset : latest.find((l) => l.partition === o.partition)!.offset);
    return;
  }
  const [earliest, latest] = await Promise.all([admin.listOffsets({ topic, partitions, at: 'earliest' }), admin.listOffsets({ topic, partitions, at: 'latest' })]);
  for (const l of latest) await reader.seek([l.partition], Math.max(earliest.find((e) => e.partition === l.partition)!.offset, l.offset - start.fromEnd));
}

/** Largest --max-messages accepted. */
const messagesMax = Number.MAX_SAFE_INTEGER;

function bytesOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** JSON's view of record bytes: text when they are valid UTF-8, else base64 (and the encoding says so). */
function jsonBytes(bytes: Uint8Array | null): { text: string | null; base64: boolean } {
  if (bytes === null) return { text: null, base64: false };
  const buffer = bytesOf(bytes);
  return isUtf8(buffer) ? { text: buffer.toString('utf8'), base64: false } : { text: buffer.toString('base64'), base64: true };
}

/** What the text format prints of a record, in kafka-console-consumer's order, and what goes between the fields. */
export type TextLayout = { timestamp: boolean; partition: boolean; offset: boolean; headers: boolean; key: boolean; value: boolean; separator: string };

/** The --property names taken (kafka-console-consumer's DefaultMessageFormatter), and the layout field each sets. */
const printProperties = { 'print.timestamp': 'timestamp', 'print.partition': 'partition', 'print.offset': 'offset', 'print.headers': 'headers', 'print.key': 'key', 'print.value': 'value' } as const;

/** The text layout from --print-key, --key-separator and the --property items (NAME=VALUE); UsageError for an unknown or bad one. */
export function textLayout(properties: readonly string[], printKey: boolean, keySeparator: string | undefined): TextLayout {
  const layout: TextLayout = { timestamp: false, partition: false, offset: false, headers: false, key: printKey, value: true, separator: keySeparator ?? '\t' };
  for (const item of properties) {
    const at = item.indexOf('=');
    const name = at < 0 ? item : item.slice(0, at);
    const value = at < 0 ? '' : item.slice(at + 1);
    if (name === 'key.separator') {
      if (keySeparator !== undefined && keySeparator !== value) throw new UsageError('--key-separator and --property key.separator differ');
      layout.separator = value;
      continue;
    }
    const field = (printProperties as Record<string, (typeof printProperties)[keyof typeof printProperties] | undefined>)[name];
    if (field === undefined) throw new UsageError(`--property ${name}: unknown (known: ${[...Object.keys(printProperties), 'key.separator'].join(', ')})`);
    if (!/^(true|false)$/i.test(value.trim())) throw new UsageError(`--property ${name} must be true or false, got "${value}"`);
    layout[field] = value.trim().toLowerCase() === 'true';
  }
  return layout;
}

/** One record as --format json prints it (a string), or as the text layout does (its bytes, undecoded). */
export function formatRecord(topic: string, r: ConsumedRecord, format: 'json', layout: TextLayout): string;
export function formatRecord(topic: string, r: ConsumedRecord, format: 'text', layout: TextLayout): Buffer;
export function formatRecord(topic: string, r: ConsumedRecord, format: 'text' | 'json', layout: TextLayout): string | Buffer;
export function formatRecord(topic: string, r: ConsumedRecord, format: 'text' | 'json', layout: TextLayout): string | Buffer {
  if (format === 'json') {
    const key = jsonBytes(r.key);
    const value = jsonBytes(r.value);
    const headers = r.headers.map((h) => {
      const v = jsonBytes(h.value);
      return v.base64 ? { key: h.key, value: v.text, valueEncoding: 'base64' } : { key: h.key, value: v.text };
    });
    return JSON.stringify({ topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: key.text, ...(key.base64 ? { keyEncoding: 'base64' } : {}), value: value.text, ...(value.base64 ? { valueEncoding: 'base64' } : {}), headers });
  }
  const fields: (string | Uint8Array)[] = [];
  if (layout.timestamp) fields.push(`CreateTime:${r.timestamp}`);
  if (layout.partition) fields.push(`Partition:${r.partition}`);
  if (layout.offset) fields.push(`Offset:${r.offset}`);
  if (layout.headers) {
    if (r.headers.length === 0) fields.push('NO_HEADERS');
    else fields.push(Buffer.concat(r.headers.flatMap((h, i) => [Buffer.from(`${i === 0 ? '' : ','}${h.key}:`), h.value === null ? Buffer.from('null') : bytesOf(h.value)])));
  }
  if (layout.key) fields.push(r.key ?? 'null');
  if (layout.value) fields.push(r.value ?? 'null');
  const separator = Buffer.from(layout.separator);
  return Buffer.concat(fields.flatMap((f, i) => [...(i === 0 ? [] : [separator]), typeof f === 'string' ? Buffer.from(f) : bytesOf(f)]));
}

/**
 * kcat's -f format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp (ms), %h headers
 * (k=v,k=v), %K / %S key / value length in bytes (-1 for null), %% a percent; \\n, \\t, \\r and \\\\ escapes. Null keys and
 * values print as empty (kcat's default); keys, values and header values are written as their bytes. Checked once:
 * an unknown directive is a usage error.
 */
export function compileFormat(template: string): (topic: string, r: ConsumedRecord) => Buffer {
  type Part = (topic: string, r: ConsumedRecord) => string | Uint8Array;
  const parts: Part[] = [];
  let literal = '';
  const flush = (): void => {
    if (literal.length === 0) return;
    const text = literal;
    parts.push(() => text);
    literal = '';
  };
  for (let i = 0; i < template.length; i += 1) {
    const c = template[i]!;
    const next = template[i + 1];
    if (c === '\\' && next !== undefined && 'ntr\\'.includes(next)) {
      literal += next === 'n' ? '\n' : next === 't' ? '\t' : next === 'r' ? '\r' : '\\';
      i += 1;
      continue;
    }
    if (c !== '%') {
      literal += c;
      continue;
    }
    if (next === '%') {
      literal += '%';
      i += 1;
      continue;
    }
    const directive: Part | undefined = {
      t: (topic: string) => topic,
      p: (_t: string, r: ConsumedRecord) => String(r.partition),
      o: (_t: string, r: ConsumedRecord) => String(r.offset),
      k: (_t: string, r: ConsumedRecord) => r.key ?? '',
      s: (_t: string, r: ConsumedRecord) => r.value ?? '',
      T: (_t: string, r: ConsumedRecord) => String(r.timestamp),
      h: (_t: string, r: ConsumedRecord) => Buffer.concat(r.headers.flatMap((h, i) => [Buffer.from(`${i === 0 ? '' : ','}${h.key}=`), h.value === null ? Buffer.alloc(0) : bytesOf(h.value)])),
      K: (_t: string, r: ConsumedRecord) => String(r.key === null ? -1 : r.key.byteLength),
      S: (_t: string, r: ConsumedRecord) => String(r.value === null ? -1 : r.value.byteLength),
    }[next ?? ''];
    if (directive === undefined) throw new UsageError(`consume: --format-string: unknown directive "%${next ?? ''}" (known: %t %p %o %k %s %T %h %K %S %%)`);
    flush();
    parts.push(directive);
    i += 1;
  }
  flush();
  return (topic, r) => Buffer.concat(parts.map((part) => {
    const out = part(topic, r);
    return typeof out === 'string' ? Buffer.from(out) : bytesOf(out);
  }));
}

type Printer = (topic: string, r: ConsumedRecord) => void;

/** Prints one record: through the format string, as a JSON line, or as the text layout's bytes and a newline. */
function printerOf(format: 'text' | 'json', layout: TextLayout, template: ((topic: string, r: ConsumedRecord) => Buffer) | undefined): Printer {
  if (template !== undefined) return (topic, r) => printRaw(template(topic, r));
  if (format === 'json') return (topic, r) => printLine(formatRecord(topic, r, 'json', layout));
  const newline = Buffer.from('\n');
  return (topic, r) => printRaw(Buffer.concat([formatRecord(topic, r, 'text', layout), newline]));
}

/** Waits until `stop` is called or a signal arrives; resolves with nothing. */
function stopSignal(): { stopped: Promise<void>; stop: () => void; dispose: () => void } {
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return { stopped, stop, dispose: () => (process.off('SIGINT', stop), process.off('SIGTERM', stop)) };
}

async function consumeInGroup(
  v: Parsed['values'],
  topics: TopicSelection,
  groupId: string,
  maxMessages: number,
  timeoutMs: number | undefined,
  isolation: 'read_uncommitted' | 'read_committed',
  print: Printer,
): Promise<number> {
  return withClient(v, async (kactus) => {
    // Named topics must exist: subscribing to a missing topic would wait for it forever. A pattern follows the cluster.
    if (topics.pattern === null) await kactus.admin().describeTopics({ topics: topics.names });
    const consumer = kactus.consumer({ groupId, autoOffsetReset: v['from-beginning'] ? 'earliest' : 'latest', isolationLevel: isolation, ackMode: 'explicit' }).subscribe(topics.pattern ?? topics.names);
    const signal = stopSignal();
    let printed = 0;
    let failure: unknown;
    let stopRequested = false;
    void signal.stopped.then(() => (stopRequested = true));
    // --timeout-ms counts silence once the group has assigned partitions; joining may take a rebalance first.
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = (delayMs: number | undefined): void => {
      if (delayMs === undefined) return;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(signal.stop, delayMs);
    };
    armIdle(timeoutMs === undefined ? undefined : timeoutMs + groupJoinWaitMsMax);
    const assignments = consumer.assignments$.subscribe((event) => {
      if (event.type === 'assigned') armIdle(timeoutMs);
    });
    // The group member reports REBALANCE_IN_PROGRESS (a join raced a rebalance) as fatal to the feed; a
    // fresh feed rejoins from the committed offsets (only printed records are committed), a bounded number of times.
    let feedRestarts = 0;
    let subscription: Subscription | undefined;
    const subscribeFeed = (): void => {
      subscription = consumer.messages$.subscribe({
        next: (record) => {
          if (printed >= maxMessages) return;
          const consumed: ConsumedRecord = { partition: record.partition, offset: record.offset, offsetDelta: 0, timestamp: record.timestamp, key: record.key, value: record.value, headers: [...record.headers] };
          print(record.topic, consumed);
          record.ack();
          printed += 1;
          armIdle(timeoutMs);
          if (printed >= maxMessages) signal.stop();
        },
        error: (err: unknown) => {
          if (stopRequested) return signal.stop(); // an error while leaving (a join cut short) is not the user's failure
          if (err instanceof KactusError && err.code === ErrorCode.REBALANCE_IN_PROGRESS && feedRestarts < groupFeedRestartsMax) {
            feedRestarts += 1;
            setTimeout(() => {
              if (!stopRequested) subscribeFeed();
            }, groupFeedRestartDelayMs);
            return;
          }
          failure = err;
          signal.stop();
        },
        complete: () => signal.stop(),
      });
    };
    subscribeFeed();
    try {
      await signal.stopped;
    } finally {
      clearTimeout(idleTimer);
      signal.dispose();
      assignments.unsubscribe();
      subscription?.unsubscribe(); // commits what was printed and leaves the group
      await consumer.close();
    }
    if (failure !== undefined) throw failure;
    return 0;
  });
}

export const consumeSpec: CommandSpec = {
  name: 'consume',
  description: 'Prints records of TOPIC as they arrive, until --max-messages, --timeout-ms of silence, or Ctrl-C.',
  arguments: [{ name: 'TOPIC', help: 'the topics to read (one or more; a name starting with ^ is a regular expression, as in kcat)', required: false, variadic: true }],
  options: {
    include: { type: 'string', value: 'REGEX', help: "read every topic whose name matches REGEX (kafka-console-consumer's --include); internal topics are left out" },
    group: { type: 'string', value: 'G', help: 'consume as a member of group G (committed offsets; printed records are committed)' },
    'from-beginning': { type: 'boolean', default: false, help: 'start at the earliest offset (default: the latest)' },
    'max-messages': { type: 'string', value: 'N', help: 'stop after N records' },
    partition: { type: 'string', value: 'P', help: 'read only partition P' },
    offset: { type: 'string', value: 'O', help: 'start every partition read at O: an offset, earliest|beginning, latest|end, -N (N records before the end) or s@TIMESTAMP_MS (the first record at or after it)' },
    'exit-at-end': { type: 'boolean', short: 'e', help: 'stop once every partition read reached the end it had when reading began' },
    'format-string': { type: 'string', value: 'F', short: 'f', help: 'kcat\'s format: %t topic %p partition %o offset %k key %s value %T timestamp %h headers (k=v,...) %K/%S key/value bytes (-1: null) %% percent; \\n \\t escapes (no newline added)' },
    'isolation-level': { type: 'string', value: 'LEVEL', default: 'read_uncommitted', choices: ['read_uncommitted', 'read_committed'], help: 'read_committed: only records of committed transactions' },
    format: { type: 'string', value: 'FORMAT', choices: ['text', 'json'], help: 'text: the value, one per line; json: one JSON object per record (topic, partition, offset, timestamp, key, value, headers), as --json', defaultHelp: 'text' },
    'print-key': { type: 'boolean', default: false, help: 'text format: print KEY<separator>VALUE (--property print.key=true)' },
    'key-separator': { type: 'string', value: 'S', help: 'between the fields of the text format (--property key.separator=S)', defaultHelp: 'a tab' },
    property: { type: 'string', value: 'NAME=VALUE', multiple: true, help: 'kafka-console-consumer\'s formatter properties for the text format: print.key, print.value, print.timestamp, print.partition, print.offset, print.headers (true|false), key.separator' },
    'timeout-ms': { type: 'string', value: 'T', help: 'stop after T ms without a record' },
  },
  cluster: true,
  run: consume,
};

/** What to read: topic names, or a pattern (a group follows it; without a group it is matched once, at the start). */
type TopicSelection = { names: string[]; pattern: RegExp | null };

function topicSelection(positionals: readonly string[], include: string | undefined): TopicSelection {
  const patterns = [...(include === undefined ? [] : [include]), ...positionals.filter((t) => t.startsWith('^'))];
  const names = positionals.filter((t) => !t.startsWith('^'));
  if (patterns.length === 0 && names.length === 0) throw new UsageError('consume: name a TOPIC (or several), or --include REGEX');
  if (patterns.length === 0) return { names: [...new Set(names)], pattern: null };
  if (names.length > 0 || patterns.length > 1) throw new UsageError('consume: one regular expression (--include, or a TOPIC starting with ^), and no topic names beside it');
  try {
    return { names: [], pattern: new RegExp(patterns[0]!) };
  } catch (err) {
    throw new UsageError(`consume: ${JSON.stringify(patterns[0])} is not a regular expression: ${(err as Error).message}`);
  }
}

/** The topics a pattern matches now (not the internal ones), sorted; none is an error. */
async function matchingTopics(admin: Admin, pattern: RegExp): Promise<string[]> {
  const matched = (await admin.listTopics()).filter((t) => !t.startsWith('__') && pattern.test(t)).sort();
  if (matched.length === 0) throw new KactusError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `no topic matches ${pattern.source}`);
  return matched;
}

async function consume(parsed: Parsed): Promise<number> {
  const v = parsed.values;
  const selection = topicSelection(parsed.positionals, v.include as string | undefined);
  const format = ((v.format as string | undefined) ?? (v.json ? 'json' : 'text')) as 'text' | 'json';
  const template = typeof v['format-string'] === 'string' ? compileFormat(v['format-string']) : undefined;
  if (template !== undefined && (v.format !== undefined || v.json === true)) throw new UsageError('consume: --format-string and --format/--json exclude each other');
  const properties = (v.property as string[] | undefined) ?? [];
  if (properties.length > 0 && (template !== undefined || format === 'json')) throw new UsageError('consume: --property sets the text format: not with --format json, --json or --format-string');
  const layout = textLayout(properties, v['print-key'] === true, v['key-separator'] as string | undefined);
  const print = printerOf(format, layout, template);
  const isolation = v['isolation-level'] as 'read_uncommitted' | 'read_committed';
  const maxMessages = integerFlag(v['max-messages'], 'max-messages', 1, messagesMax, messagesMax);
  const timeoutMs = v['timeout-ms'] === undefined ? undefined : integerFlag(v['timeout-ms'], 'timeout-ms', 1, 86_400_000);
  const partition = v.partition === undefined ? undefined : integerFlag(v.partition, 'partition', 0, 2 ** 31 - 1);
  if (partition !== undefined && (selection.pattern !== null || selection.names.length > 1)) throw new UsageError('consume: --partition reads one partition of one topic');
  const offsetText = v.offset as string | undefined;
  if (offsetText !== undefined && v['from-beginning']) throw new UsageError('consume: --offset and --from-beginning exclude each other');
  const start: StartSpec = offsetText === undefined ? (v['from-beginning'] ? 'earliest' : 'latest') : startSpec(offsetText);
  const exitAtEnd = v['exit-at-end'] === true;
  if (v.group !== undefined) {
    if (partition !== undefined) throw new UsageError('consume: --group and --partition exclude each other (the group assigns partitions)');
    if (offsetText !== undefined) throw new UsageError('consume: --group and --offset exclude each other (the group starts at its committed offsets)');
    if (exitAtEnd) throw new UsageError('consume: --group and --exit-at-end exclude each other (a group member has no fixed end)');
    if ((v.group as string).length === 0) throw new UsageError('consume: --group must not be empty');
    return consumeInGroup(v, selection, v.group as string, maxMessages, timeoutMs, isolation, print);
  }

  return withClient(v, async (kactus, context) => {
    const admin = kactus.admin();
    const topics = selection.pattern === null ? selection.names : await matchingTopics(admin, selection.pattern);
    // One reader per topic, each polling its partitions' leaders on its own; output interleaves, each partition in order.
    const readers = await Promise.all(
      topics.map(async (topic) => {
        const reader = new FetchReader(context, admin, topic, v['from-beginning'] ? 'earliest' : 'latest', isolation === 'read_committed' ? 1 : 0);
        const partitions = await reader.partitions();
        if (partition !== undefined && !partitions.includes(partition)) throw new UsageError(`consume: topic "${topic}" has no partition ${partition} (it has ${partitions.length})`);
        const reading = partition === undefined ? partitions : [partition];
        await seekTo(reader, admin, topic, reading, start);
        // --exit-at-end: each partition's end when reading began; this topic is done once every position reached it.
        const ends = exitAtEnd ? new Map((await admin.listOffsets({ topic, partitions: reading, at: 'latest' })).map((o) => [o.partition, o.offset])) : undefined;
        const atEnd = (): boolean => ends !== undefined && [...ends].every(([p, end]) => (reader.positions.get(p) ?? 0) >= end);
        return { topic, reader, atEnd };
      }),
    );
    let stopping = false;
    const stop = (): void => {
      stopping = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      let printed = 0;
      let lastRecordAtMs = Date.now();
      const finished = (): boolean => stopping || printed >= maxMessages || readers.every((r) => r.atEnd());
      await Promise.all(
        readers.map(async ({ topic, reader, atEnd }) => {
          while (!finished() && !atEnd()) {
            const records = await reader.poll();
            if (records.length > 0) lastRecordAtMs = Date.now();
            else if (timeoutMs !== undefined && Date.now() - lastRecordAtMs >= timeoutMs) stopping = true;
            for (const record of records) {
              if (printed >= maxMessages) break;
              print(topic, record);
              printed += 1;
            }
          }
        }),
      );
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}
