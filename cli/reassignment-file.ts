/**
 * Reassignment plan files, as `kactus partitions reassign --plan` writes them
 * and `--execute FILE` / `--cancel FILE` read them: Kafka's format
 * (kafka-reassign-partitions --reassignment-json-file), so a plan made by one
 * tool runs with the other:
 *
 *   {"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[1,2,4]}, ...]}
 *
 * Owns the two checks before anything reaches the cluster:
 * - `parseReassignmentFile`: the JSON shape. version 1; each entry a topic
 *   name, a partition number and a non-empty list of distinct broker ids; no
 *   partition twice. `log_dirs` (Kafka writes it, all "any") is accepted and
 *   ignored; any other key is refused, so a typo ("replica") is not a silent
 *   no-op. A file for --cancel may leave out `replicas`.
 * - `reassignmentProblems`: the entries against the cluster: known topics
 *   and partitions, replicas on live brokers.
 *
 * Both are pure (the caller reads the file and the metadata), so they are
 * unit-tested without a cluster. Problems are UsageErrors: a bad plan file is
 * a bad argument (exit 2).
 */
import { UsageError } from './output.ts';

export type ReassignmentEntry = { topic: string; partition: number; replicas: number[] };
export type CancelEntry = { topic: string; partition: number };

/** Entries a plan file may hold (a typo'd huge file fails fast instead of asking the controller for a million moves). */
export const reassignmentEntriesMax = 100_000;

const entryKeys = new Set(['topic', 'partition', 'replicas', 'log_dirs']);

/** The entries of a plan file's text; UsageError naming `source` (the file name) and the first problem. */
export function parseReassignmentFile(text: string, source: string, options: { replicasRequired?: boolean } = {}): ReassignmentEntry[] | CancelEntry[] {
  const replicasRequired = options.replicasRequired ?? true;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${source}: not JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`${source}: expected {"version":1,"partitions":[...]}`);
  const file = json as Record<string, unknown>;
  if (file.version !== 1) throw new UsageError(`${source}: "version" must be 1, got ${JSON.stringify(file.version)}`);
  if (!Array.isArray(file.partitions)) throw new UsageError(`${source}: "partitions" must be an array`);
  if (file.partitions.length > reassignmentEntriesMax) throw new UsageError(`${source}: ${file.partitions.length} partitions is more than ${reassignmentEntriesMax}`);
  const seen = new Set<string>();
  const entries: (ReassignmentEntry | CancelEntry)[] = [];
  for (const [i, raw] of file.partitions.entries()) {
    const at = `${source}: partitions[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`${at} is not an object`);
    const entry = raw as Record<string, unknown>;
    const unknown = Object.keys(entry).filter((k) => !entryKeys.has(k));
    if (unknown.length > 0) throw new UsageError(`${at}: unknown key "${unknown[0]}" (keys: topic, partition, replicas)`);
    if (typeof entry.topic !== 'string' || entry.topic.length === 0) throw new UsageError(`${at}: "topic" must be a topic name`);
    if (typeof entry.partition !== 'number' || !Number.isSafeInteger(entry.partition) || entry.partition < 0) throw new UsageError(`${at}: "partition" must be a partition number, got ${JSON.stringify(entry.partition)}`);
    const name = `${entry.topic}-${entry.partition}`;
    if (seen.has(`${entry.topic}\0${entry.partition}`)) throw new UsageError(`${source}: partition ${name} is listed twice`);
    seen.add(`${entry.topic}\0${entry.partition}`);
    if (entry.replicas === undefined && !replicasRequired) {
      entries.push({ topic: entry.topic, partition: entry.partition });
      continue;
    }
    const replicas = entry.replicas;
    if (!Array.isArray(replicas) || replicas.length === 0) throw new UsageError(`${at} (${name}): "replicas" must be a non-empty list of broker ids`);
    for (const r of replicas) if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 0) throw new UsageError(`${at} (${name}): replica ${JSON.stringify(r)} is not a broker id`);
    if (new Set(replicas).size !== replicas.length) throw new UsageError(`${at} (${name}): replicas list a broker twice: ${replicas.join(',')}`);
    entries.push({ topic: entry.topic, partition: entry.partition, replicas: [...(replicas as number[])] });
  }
  return entries as ReassignmentEntry[] | CancelEntry[];
}

/**
 * What is wrong with `entries` for this cluster: topics and partitions it
 * does not have, replicas on brokers that are not live (a move onto a
 * broker that is down would never finish). Empty when nothing is.
 */
export function reassignmentProblems(entries: readonly (ReassignmentEntry | CancelEntry)[], partitionCounts: ReadonlyMap<string, number>, liveBrokers: ReadonlySet<number>): string[] {
  const problems: string[] = [];
  for (const e of entries) {
    const count = partitionCounts.get(e.topic);
    if (count === undefined) problems.push(`topic ${e.topic} does not exist`);
    else if (e.partition >= count) problems.push(`partition ${e.topic}-${e.partition} does not exist (the topic has ${count})`);
    if ('replicas' in e) {
      const notLive = e.replicas.filter((r) => !liveBrokers.has(r));
      if (notLive.length > 0) problems.push(`${e.topic}-${e.partition}: broker${notLive.length > 1 ? 's' : ''} ${notLive.join(',')} ${notLive.length > 1 ? 'are' : 'is'} not live (live: ${[...liveBrokers].sort((a, b) => a - b).join(',')})`);
    }
  }
  return problems;
}

/** A comma-separated flag value as a list: `a,b` -> ['a', 'b'] (empty items dropped). */
export function commaList(value: unknown): string[] {
  return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : [];
}

/** A comma-separated list of broker ids; UsageError naming the flag for anything else. */
export function brokerIdList(value: unknown, flag: string): number[] {
  const items = commaList(value);
  if (typeof value === 'string' && items.length === 0) throw new UsageError(`--${flag} needs at least one broker id`);
  const ids = items.map((item) => {
    if (!/^\d+$/.test(item) || !Number.isSafeInteger(Number(item))) throw new UsageError(`--${flag}: "${item}" is not a broker id`);
    return Number(item);
  });
  if (new Set(ids).size !== ids.length) throw new UsageError(`--${flag} lists a broker twice`);
  return ids;
}
