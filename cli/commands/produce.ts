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
 *
 * Binary-safe: lines are bytes (cli/byte-lines.ts), split at \n and at the
 * separator's bytes, and sent as they are; only header keys and values read
 * with --parse-headers are taken as UTF-8 text.
 */
import { createReadStream } from 'node:fs';
import { ByteLines } from '../byte-lines.ts';
import type { ProducerMessage, RecordMetadata } from '../../client/producer/producer.ts';
import { UsageError, printJson } from '../output.ts';
import { compressionFlag, integerFlag, keyValues, withClient } from '../common.ts';
import type { CommandSpec, Parsed } from '../parser.ts';

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
  /** The longest line read (the producer's own bound on a record, maxRequestSizeBytes, is 1 MiB too). */
  lineBytesMax: 1024 * 1024,
  /** Sends awaiting acknowledgement before stdin is paused. */
  inflightSendsMax: 16,
} as const;

export const produceSpec: CommandSpec = {
  name: 'produce',
  description: 'Sends one record per line of stdin, or of --file (idempotent, acks=all by default).',
  arguments: [{ name: 'TOPIC', help: 'the topic to send to' }],
  options: {
    'key-separator': { type: 'string', value: 'S', help: 'split each line at the first S into key and value' },
    acks: { type: 'string', value: 'ACKS', default: 'all', help: 'acknowledgement: all (every in-sync replica has it), 1 (the leader) or 0 (none)' },
    header: { type: 'string', value: 'k=v', multiple: true, help: 'a header on every record' },
    partition: { type: 'string', value: 'P', help: 'send every record to partition P (default: by key, or sticky without one)' },
    file: { type: 'string', value: 'F', help: 'read the lines of file F instead of stdin' },
    'null-marker': { type: 'string', value: 'S', help: 'a key or value that is exactly S is sent as null (a tombstone, for a value)' },
    'parse-headers': { type: 'boolean', help: 'each line starts with its own headers, k:v,k:v, then a tab (Kafka\'s parse.headers)' },
    compression: { type: 'string', value: 'C', short: 'z', choices: ['none', 'gzip', 'snappy', 'lz4', 'zstd'], help: "the batches' codec (Kafka's compression.type, kcat's -z)", defaultHelp: 'none' },
  },
  cluster: true,
  notes: 'With --json, a summary {"topic","records","partitions"} is printed at the end.',
  run: produce,
};

/** `k:v,k2:v2` (Kafka's parse.headers defaults: headers.separator ',', headers.key.separator ':'). */
function lineHeaders(text: string, lineNumber: number): { key: string; value: string }[] {
  if (text.length === 0) return [];
  return text.split(',').map((pair) => {
    const at = pair.indexOf(':');
    if (at <= 0) throw new Error(`line ${lineNumber}: header "${pair}" is not key:value`);
    return { key: pair.slice(0, at), value: pair.slice(at + 1) };
  });
}

async function produce(parsed: Parsed): Promise<number> {
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
  const separatorBytes = separator === undefined ? undefined : Buffer.from(separator);
  const nullBytes = nullMarker === undefined ? undefined : Buffer.from(nullMarker);
  const nulled = (bytes: Buffer): Buffer | null => (nullBytes !== undefined && bytes.equals(nullBytes) ? null : bytes);

  return withClient(parsed.values, async (kactus) => {
    const producer = kactus.producer({ acks, compression });
    const counts = new Map<number, number>();
    let records = 0;
    let lineNumber = 0;
    let failure: Error | undefined;
    let chunk: ProducerMessage[] = [];
    let flushScheduled = false;
    const inflight = new Set<Promise<void>>();
    let paused = false;
    let closed!: () => void;
    const inputClosed = new Promise<void>((resolve) => (closed = resolve));
    const input = new ByteLines(source, produceLimits.lineBytesMax, {
      line: (line) => onLine(line),
      close: () => closed(),
      error: (err) => (failure ??= err),
    });

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

    const onLine = (line: Buffer): void => {
      lineNumber += 1;
      if (failure) return;
      let message: ProducerMessage;
      let rest = line;
      let ownHeaders: { key: string; value: string }[] | undefined;
      if (parseHeaders) {
        const tab = rest.indexOf(0x09);
        if (tab < 0) {
          failure = new Error(`line ${lineNumber} has no tab after its headers (--parse-headers)`);
          input.close();
          return;
        }
        try {
          ownHeaders = lineHeaders(rest.subarray(0, tab).toString('utf8'), lineNumber);
        } catch (err) {
          failure = err as Error;
          input.close();
          return;
        }
        rest = rest.subarray(tab + 1);
      }
      if (separatorBytes !== undefined) {
        const at = rest.indexOf(separatorBytes);
        if (at < 0) {
          failure = new Error(`line ${lineNumber} has no key separator "${separator}"`);
          input.close();
          return;
        }
        message = { key: nulled(rest.subarray(0, at)), value: nulled(rest.subarray(at + separatorBytes.length)) };
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
    };
    await inputClosed;
    sendChunk();
    while (inflight.size > 0) await Promise.all([...inflight]);
    if (!failure) await producer.flush().catch((err: Error) => (failure ??= err));
    await producer.close({ timeoutMs: 5_000 }).catch((err: Error) => (failure ??= err));
    if (failure) throw failure;
    if (parsed.values.json) printJson({ topic, records, partitions: Object.fromEntries([...counts].sort((a, b) => a[0] - b[0])) });
    return 0;
  });
}
