/**
 * `kactus produce TOPIC`: one record per stdin line, through the client
 * Producer (idempotent, acks=all by default), like kafka-console-producer.
 *
 * Lines read in one go (everything one stdin chunk holds) become one send()
 * call of at most sendRecordsMax records, so a piped file moves in batches and
 * an interactive line goes out at once. At most inflightSendsMax sends are
 * outstanding; past that, stdin is paused until one completes (memory stays
 * bounded whatever the input size). The first failed send stops the command:
 * the error is printed and the exit code is 1; records acknowledged before it
 * stay written.
 *
 * --key-separator S splits each line at the first S into key and value (a
 * line without S is an error, as in Kafka's console producer); --header k=v
 * (repeatable) adds the same headers to every record, --parse-headers reads
 * each line's own (`k:v,k:v<TAB>` first, Kafka's parse.headers), and
 * --null-marker S sends a key or value that is exactly S as null (a
 * tombstone). --partition P sends everything to P; --file F reads F instead
 * of stdin. With --json, a summary `{"topic","records","partitions":{p:
 * count}}` is printed at the end.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ProducerMessage, RecordMetadata } from '../../client/producer/producer.ts';
import { UsageError, printJson } from '../output.ts';
import { compressionFlag, helpRequested, integerFlag, keyValues, parseCommand, withClient } from '../common.ts';

/** A readable stream of `path`, once it is open (so an unreadable file fails here, before any connection). */
function openFile(path: string): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    const stream = createReadStream(path);
    stream.once('open', () => resolve(stream));
    stream.once('error', reject);
  });
}

export const produceLimits = {
  /** Lines in one send() call. */
  sendRecordsMax: 1_000,
  /** Sends awaiting acknowledgement before stdin is paused. */
  inflightSendsMax: 16,
} as const;

export const produceHelp = `Usage: kactus produce TOPIC [--key-separator S] [--acks all|1|0] [--header k=v ...] [--partition P] [--file F]
                      [--null-marker S] [--parse-headers] [--compression C] [--bootstrap ws://HOST:PORT[,...]] [--json]

Sends one record per line of stdin, or of --file (idempotent, acks=all by default).
  --key-separator S   split each line at the first S into key and value
  --acks all|1|0      acknowledgement (all: every in-sync replica has it)
  --header k=v        a header on every record (repeatable)
  --partition P       send every record to partition P (default: by key, or sticky without one)
  --file F            read the lines of file F instead of stdin
  --null-marker S     a key or value that is exactly S is sent as null (a tombstone, for a value)
  --parse-headers     each line starts with its own headers, k:v,k:v, then a tab (Kafka's parse.headers)
  --compression C, -z C  none (default), gzip, snappy, lz4 or zstd (Kafka's compression.type)
  --json              print a summary {"topic","records","partitions"} at the end`;

/** `k:v,k2:v2` (Kafka's parse.headers defaults: headers.separator ',', headers.key.separator ':'). */
function lineHeaders(text: string, lineNumber: number): { key: string; value: string }[] {
  if (text.length === 0) return [];
  return text.split(',').map((pair) => {
    const at = pair.indexOf(':');
    if (at <= 0) throw new Error(`line ${lineNumber}: header "${pair}" is not key:value`);
    return { key: pair.slice(0, at), value: pair.slice(at + 1) };
  });
}

export async function produce(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'produce',
    argv,
    { 'key-separator': { type: 'string' }, acks: { type: 'string', default: 'all' }, header: { type: 'string', multiple: true }, partition: { type: 'string' }, file: { type: 'string' }, 'null-marker': { type: 'string' }, 'parse-headers': { type: 'boolean' }, compression: { type: 'string', short: 'z' } },
    { min: 1, max: 1, names: 'TOPIC' },
  );
  if (helpRequested(parsed, produceHelp)) return 0;
  const topic = parsed.positionals[0]!;
  const acksText = String(parsed.values.acks);
  const acks = acksText === 'all' || acksText === '-1' ? 'all' : acksText === '1' ? 1 : acksText === '0' ? 0 : undefined;
  if (acks === undefined) throw new UsageError(`produce: --acks must be all, 1 or 0, got "${acksText}"`);
  const separator = parsed.values['key-separator'] as string | undefined;
  if (separator !== undefined && separator.length === 0) throw new UsageError('produce: --key-separator must not be empty');
  const headers = keyValues(parsed.values.header, 'header');
  const hasHeaders = Object.keys(headers).length > 0;
  const partition = parsed.values.partition === undefined ? undefined : integerFlag(parsed.values.partition, 'partition', 0, 2 ** 31 - 1);
  const nullMarker = parsed.values['null-marker'] as string | undefined;
  if (nullMarker !== undefined && nullMarker.length === 0) throw new UsageError('produce: --null-marker must not be empty');
  const parseHeaders = parsed.values['parse-headers'] === true;
  const compression = compressionFlag(parsed.values.compression);
  const file = parsed.values.file as string | undefined;
  let source: NodeJS.ReadableStream = process.stdin;
  if (file !== undefined) {
    // Opened before connecting, so a missing file is a usage error, not a half-run.
    try {
      source = await openFile(file);
    } catch (err) {
      throw new UsageError(`produce: --file ${file}: ${(err as Error).message}`);
    }
  }
  const nulled = (text: string): string | null => (nullMarker !== undefined && text === nullMarker ? null : text);

  return withClient(parsed.values, async (kactus) => {
    const producer = kactus.producer({ acks, compression });
    const counts = new Map<number, number>();
    let records = 0;
    let lineNumber = 0;
    let failure: Error | undefined;
    let chunk: ProducerMessage[] = [];
    let flushScheduled = false;
    const inflight = new Set<Promise<void>>();
    const input = createInterface({ input: source, crlfDelay: Infinity, terminal: false });
    let paused = false;

    const track = (results: RecordMetadata[]): void => {
      for (const r of results) counts.set(r.partition, (counts.get(r.partition) ?? 0) + 1);
      records += results.length;
    };
    const sendChunk = (): void => {
      flushScheduled = false;
      if (chunk.length === 0 || failure) return;
      const messages = chunk;
      chunk = [];
      const sent: Promise<void> = producer.send({ topic, messages }).then(track, (err: Error) => {
        failure ??= err;
        input.close();
      });
      inflight.add(sent);
      void sent.finally(() => {
        inflight.delete(sent);
        if (paused && inflight.size < produceLimits.inflightSendsMax) {
          paused = false;
          input.resume();
        }
      });
      if (inflight.size >= produceLimits.inflightSendsMax && !paused) {
        paused = true;
        input.pause();
      }
    };

    input.on('line', (line) => {
      lineNumber += 1;
      if (failure) return;
      let message: ProducerMessage;
      let rest = line;
      let ownHeaders: { key: string; value: string }[] | undefined;
      if (parseHeaders) {
        const tab = rest.indexOf('\t');
        if (tab < 0) {
          failure = new Error(`line ${lineNumber} has no tab after its headers (--parse-headers)`);
          input.close();
          return;
        }
        try {
          ownHeaders = lineHeaders(rest.slice(0, tab), lineNumber);
        } catch (err) {
          failure = err as Error;
          input.close();
          return;
        }
        rest = rest.slice(tab + 1);
      }
      if (separator !== undefined) {
        const at = rest.indexOf(separator);
        if (at < 0) {
          failure = new Error(`line ${lineNumber} has no key separator "${separator}"`);
          input.close();
          return;
        }
        message = { key: nulled(rest.slice(0, at)), value: nulled(rest.slice(at + separator.length)) };
      } else {
        message = { value: nulled(rest) };
      }
      if (partition !== undefined) message.partition = partition;
      if (hasHeaders || ownHeaders !== undefined) message.headers = [...Object.entries(headers).map(([key, value]) => ({ key, value })), ...(ownHeaders ?? [])];
      chunk.push(message);
      if (chunk.length >= produceLimits.sendRecordsMax) sendChunk();
      else if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(sendChunk);
      }
    });
    await new Promise<void>((resolve) => input.once('close', resolve));
    sendChunk();
    while (inflight.size > 0) await Promise.all([...inflight]);
    if (!failure) await producer.flush().catch((err: Error) => (failure ??= err));
    await producer.close({ timeoutMs: 5_000 }).catch((err: Error) => (failure ??= err));
    if (failure) throw failure;
    if (parsed.values.json) printJson({ topic, records, partitions: Object.fromEntries([...counts].sort((a, b) => a[0] - b[0])) });
    return 0;
  });
}
