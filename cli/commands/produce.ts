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
 * (repeatable) adds the same headers to every record. With --json, a summary
 * `{"topic","records","partitions":{p: count}}` is printed at the end.
 */
import { createInterface } from 'node:readline';
import type { ProducerMessage, RecordMetadata } from '../../client/producer/producer.ts';
import { UsageError, printJson } from '../output.ts';
import { helpRequested, keyValues, parseCommand, withClient } from '../common.ts';

export const produceLimits = {
  /** Lines in one send() call. */
  sendRecordsMax: 1_000,
  /** Sends awaiting acknowledgement before stdin is paused. */
  inflightSendsMax: 16,
} as const;

export const produceHelp = `Usage: kactus produce TOPIC [--key-separator S] [--acks all|1|0] [--header k=v ...] [--bootstrap ws://HOST:PORT[,...]] [--json]

Sends one record per line of stdin (idempotent, acks=all by default).
  --key-separator S   split each line at the first S into key and value
  --acks all|1|0      acknowledgement (all: every in-sync replica has it)
  --header k=v        a header on every record (repeatable)
  --json              print a summary {"topic","records","partitions"} at the end`;

export async function produce(argv: string[]): Promise<number> {
  const parsed = parseCommand('produce', argv, { 'key-separator': { type: 'string' }, acks: { type: 'string', default: 'all' }, header: { type: 'string', multiple: true } }, { min: 1, max: 1, names: 'TOPIC' });
  if (helpRequested(parsed, produceHelp)) return 0;
  const topic = parsed.positionals[0]!;
  const acksText = String(parsed.values.acks);
  const acks = acksText === 'all' || acksText === '-1' ? 'all' : acksText === '1' ? 1 : acksText === '0' ? 0 : undefined;
  if (acks === undefined) throw new UsageError(`produce: --acks must be all, 1 or 0, got "${acksText}"`);
  const separator = parsed.values['key-separator'] as string | undefined;
  if (separator !== undefined && separator.length === 0) throw new UsageError('produce: --key-separator must not be empty');
  const headers = keyValues(parsed.values.header, 'header');
  const hasHeaders = Object.keys(headers).length > 0;

  return withClient(parsed.values, async (kactus) => {
    const producer = kactus.producer({ acks });
    const counts = new Map<number, number>();
    let records = 0;
    let lineNumber = 0;
    let failure: Error | undefined;
    let chunk: ProducerMessage[] = [];
    let flushScheduled = false;
    const inflight = new Set<Promise<void>>();
    const input = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
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
      if (separator !== undefined) {
        const at = line.indexOf(separator);
        if (at < 0) {
          failure = new Error(`line ${lineNumber} has no key separator "${separator}"`);
          input.close();
          return;
        }
        message = { key: line.slice(0, at), value: line.slice(at + separator.length) };
      } else {
        message = { value: line };
      }
      if (hasHeaders) message.headers = headers;
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
