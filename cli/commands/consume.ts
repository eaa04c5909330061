/**
 * `kactus consume TOPIC`: prints records as they arrive, like
 * kafka-console-consumer.
 *
 * Without --group it reads every partition (or only --partition P) from the
 * leaders directly (cli/fetch-reader.ts): from the latest offset, or the
 * earliest with --from-beginning, or --offset O (a number, earliest or
 * latest) with --partition. Nothing is committed.
 *
 * With --group it needs the client's consumer (issue #7), which is not in
 * the client yet: the command refuses --group with a clear error (exit 1).
 *
 * It stops after --max-messages N records, after --timeout-ms T without a
 * record, or on Ctrl-C (SIGINT/SIGTERM), with exit code 0. Output: --format
 * text prints the value (key SEP value with --print-key), one per line;
 * --format json (or --json) prints one JSON object per record: topic,
 * partition, offset, timestamp, key, value (UTF-8 text) and headers.
 */
import { UsageError, printLine } from '../output.ts';
import { helpRequested, integerFlag, parseCommand, withClient } from '../common.ts';
import { FetchReader, type ConsumedRecord, type StartAt } from '../fetch-reader.ts';

export const consumeHelp = `Usage: kactus consume TOPIC [--group G] [--from-beginning] [--max-messages N] [--partition P --offset O]
                      [--isolation-level read_uncommitted|read_committed] [--format text|json] [--print-key]
                      [--key-separator S] [--timeout-ms T] [--bootstrap ws://HOST:PORT[,...]]

Prints records of TOPIC as they arrive, until --max-messages, --timeout-ms of silence, or Ctrl-C.
  --from-beginning     start at the earliest offset (default: the latest)
  --partition P        read only partition P; --offset O starts it at O (a number, earliest or latest)
  --group G            consume as a member of group G (needs the client's consumer: not available yet)
  --format json        one JSON object per record (same as --json)`;

/** Largest --max-messages accepted. */
const messagesMax = Number.MAX_SAFE_INTEGER;

function utf8(bytes: Buffer | Uint8Array | null): string | null {
  return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

export function formatRecord(topic: string, r: ConsumedRecord, format: 'text' | 'json', printKey: boolean, keySeparator: string): string {
  if (format === 'json') {
    return JSON.stringify({ topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: utf8(r.key), value: utf8(r.value), headers: Object.fromEntries(r.headers.map((h) => [h.key, utf8(h.value)])) });
  }
  const value = utf8(r.value) ?? 'null';
  return printKey ? `${utf8(r.key) ?? 'null'}${keySeparator}${value}` : value;
}

export async function consume(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'consume',
    argv,
    {
      group: { type: 'string' },
      'from-beginning': { type: 'boolean', default: false },
      'max-messages': { type: 'string' },
      partition: { type: 'string' },
      offset: { type: 'string' },
      'isolation-level': { type: 'string', default: 'read_uncommitted' },
      format: { type: 'string' },
      'print-key': { type: 'boolean', default: false },
      'key-separator': { type: 'string', default: '\t' },
      'timeout-ms': { type: 'string' },
    },
    { min: 1, max: 1, names: 'TOPIC' },
  );
  if (helpRequested(parsed, consumeHelp)) return 0;
  const topic = parsed.positionals[0]!;
  const v = parsed.values;
  const formatText = (v.format as string | undefined) ?? (v.json ? 'json' : 'text');
  if (formatText !== 'text' && formatText !== 'json') throw new UsageError(`consume: --format must be text or json, got "${formatText}"`);
  const format = formatText;
  const isolation = v['isolation-level'] as string;
  if (isolation !== 'read_uncommitted' && isolation !== 'read_committed') throw new UsageError(`consume: --isolation-level must be read_uncommitted or read_committed, got "${isolation}"`);
  const maxMessages = integerFlag(v['max-messages'], 'max-messages', 1, messagesMax, messagesMax);
  const timeoutMs = v['timeout-ms'] === undefined ? undefined : integerFlag(v['timeout-ms'], 'timeout-ms', 1, 86_400_000);
  const partition = v.partition === undefined ? undefined : integerFlag(v.partition, 'partition', 0, 2 ** 31 - 1);
  const offsetText = v.offset as string | undefined;
  if (offsetText !== undefined && partition === undefined) throw new UsageError('consume: --offset needs --partition');
  if (offsetText !== undefined && v['from-beginning']) throw new UsageError('consume: --offset and --from-beginning exclude each other');
  let start: StartAt = v['from-beginning'] ? 'earliest' : 'latest';
  if (offsetText === 'earliest' || offsetText === 'latest') start = offsetText;
  else if (offsetText !== undefined) start = integerFlag(offsetText, 'offset', 0, Number.MAX_SAFE_INTEGER);
  if (v.group !== undefined) {
    if (partition !== undefined) throw new UsageError('consume: --group and --partition exclude each other (the group assigns partitions)');
    throw new Error(`consume --group: not available yet (the client's group consumer, issue #7, is not in this build); consume without --group reads every partition`);
  }

  return withClient(v, async (kactus, context) => {
    const reader = new FetchReader(context, kactus.admin(), topic, v['from-beginning'] ? 'earliest' : 'latest', isolation === 'read_committed' ? 1 : 0);
    const partitions = await reader.partitions();
    if (partition !== undefined && !partitions.includes(partition)) throw new UsageError(`consume: topic "${topic}" has no partition ${partition} (it has ${partitions.length})`);
    await reader.seek(partition === undefined ? partitions : [partition], start);
    let stopping = false;
    const stop = (): void => {
      stopping = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      let printed = 0;
      let lastRecordAtMs = Date.now();
      while (!stopping && printed < maxMessages) {
        const records = await reader.poll();
        if (records.length > 0) lastRecordAtMs = Date.now();
        else if (timeoutMs !== undefined && Date.now() - lastRecordAtMs >= timeoutMs) break;
        for (const record of records) {
          if (printed >= maxMessages) break;
          printLine(formatRecord(topic, record, format, v['print-key'] === true, v['key-separator'] as string));
          printed += 1;
        }
      }
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}
