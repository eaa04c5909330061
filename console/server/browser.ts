/**
 * The console's message browser: the records of one partition, the latest N
 * or N from an offset or a time, read with the CLI's group-less reader
 * (cli/fetch-reader.ts: Fetch from the partition's leader, read_uncommitted,
 * control batches skipped). Nothing is committed and no group is joined.
 *
 * A record's key, value and header values are bytes: each is sent as base64
 * plus its UTF-8 text when the bytes are valid UTF-8, so the page can show
 * text, JSON or hex without guessing wrong about binary data.
 *
 * Bounds: at most recordsMax records per request; the read stops at the high
 * watermark seen when it started, or after pollsMax polls of at most
 * pollWaitMs each (so a request never waits on records that are not there).
 */
import { isUtf8 } from 'node:buffer';
import type { ClientContext } from '../../client/kactus.ts';
import type { Admin } from '../../client/admin.ts';
import { FetchReader } from '../../cli/fetch-reader.ts';
import { HttpError } from './http.ts';

export const browserLimits = {
  recordsMax: 500,
  recordsDefault: 50,
  pollsMax: 20,
  pollWaitMs: 200,
} as const;

export type BrowseFrom = 'latest' | 'earliest' | { offset: number } | { timestampMs: number };
export type BrowseQuery = { partition: number; from: BrowseFrom; limit: number };

export type BrowsedBytes = { base64: string; text: string | null } | null;
export type BrowsedRecord = { partition: number; offset: number; timestamp: number; key: BrowsedBytes; value: BrowsedBytes; headers: { key: string; value: BrowsedBytes }[] };

/** `?partition=P&from=latest|earliest|OFFSET|time:MS&limit=N`; 400 naming the bad parameter. */
export function parseBrowseQuery(params: URLSearchParams): BrowseQuery {
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    const text = params.get(key);
    if (text === null || text === '') return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) throw new HttpError(400, 'INVALID_REQUEST', `${key} must be an integer in [${min}, ${max}], got "${text.slice(0, 40)}"`);
    return n;
  };
  const partition = integer('partition', 0, 0, 2 ** 31 - 1);
  const limit = integer('limit', browserLimits.recordsDefault, 1, browserLimits.recordsMax);
  const text = params.get('from') ?? 'latest';
  let from: BrowseFrom;
  if (text === 'latest' || text === 'earliest') from = text;
  else if (/^\d{1,16}$/.test(text)) from = { offset: Number(text) };
  else if (/^time:\d{1,16}$/.test(text)) from = { timestampMs: Number(text.slice(5)) };
  else throw new HttpError(400, 'INVALID_REQUEST', `from must be latest (the last N records), earliest, an offset or time:MS, got "${text.slice(0, 40)}"`);
  return { partition, from, limit };
}

function bytesView(bytes: Uint8Array | null): BrowsedBytes {
  if (bytes === null) return null;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { base64: buffer.toString('base64'), text: isUtf8(buffer) ? buffer.toString('utf8') : null };
}

export async function browseMessages(context: ClientContext, admin: Admin, topic: string, query: BrowseQuery): Promise<{ topic: string; partition: number; startOffset: number; logStartOffset: number; highWatermark: number; records: BrowsedRecord[] }> {
  const { partition, limit } = query;
  const reader = new FetchReader(context, admin, topic, 'latest');
  const partitions = await reader.partitions();
  if (!partitions.includes(partition)) throw new HttpError(404, 'UNKNOWN_TOPIC_OR_PARTITION', `${topic} has partitions 0..${partitions.length - 1}, not ${partition}`);
  const [[earliest], [latest]] = await Promise.all([admin.listOffsets({ topic, partitions: [partition], at: 'earliest' }), admin.listOffsets({ topic, partitions: [partition], at: 'latest' })]);
  const logStartOffset = earliest!.offset;
  const highWatermark = latest!.offset;
  let start: number;
  const from = query.from;
  if (from === 'latest') start = Math.max(logStartOffset, highWatermark - limit);
  else if (from === 'earliest') start = logStartOffset;
  else if ('offset' in from) start = Math.min(highWatermark, Math.max(logStartOffset, from.offset));
  else {
    const [found] = await admin.listOffsets({ topic, partitions: [partition], at: { timestamp: from.timestampMs } });
    start = found!.offset >= 0 ? found!.offset : highWatermark;
  }
  const records: BrowsedRecord[] = [];
  if (start < highWatermark) {
    await reader.seek([partition], start);
    for (let poll = 0; poll < browserLimits.pollsMax && records.length < limit; poll++) {
      for (const r of await reader.poll(browserLimits.pollWaitMs)) {
        if (r.offset >= highWatermark || records.length >= limit) continue;
        records.push({ partition, offset: r.offset, timestamp: r.timestamp, key: bytesView(r.key), value: bytesView(r.value), headers: r.headers.map((h) => ({ key: h.key, value: bytesView(h.value) })) });
      }
      if ((reader.positions.get(partition) ?? start) >= highWatermark) break;
    }
  }
  return { topic, partition, startOffset: start, logStartOffset, highWatermark, records };
}
