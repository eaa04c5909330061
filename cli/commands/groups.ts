/**
 * `kactus groups list|describe|reset-offsets|delete-offsets|delete`, like
 * kafka-consumer-groups, through the client's Admin (listGroups,
 * describeGroups, fetchOffsets, setOffsets, deleteGroups; client/admin-groups.ts)
 * and, for delete-offsets' per-partition answer, cli/group-admin.ts.
 *
 * describe G: per partition the group has committed or is assigned: current
 * (committed) offset, log end offset (the high watermark), lag, and the
 * member that owns it. A group with neither members nor offsets does not
 * exist (exit 1).
 *
 * reset-offsets G --topic T --to-earliest|--to-latest|--to-offset N|--to-datetime ISO:
 * prints the planned offsets (--dry-run, the default, as in Kafka) or commits
 * them (--execute). Refused while the group has members: their commits would
 * race ours, and Kafka refuses it too. --to-offset is clamped into
 * [earliest, latest] of each partition; --to-datetime takes the first offset
 * whose timestamp is at or after it (latest when there is none).
 *
 * delete-offsets G --topic T [--partitions P,P...]: deletes the group's
 * committed offsets of those partitions (all of T's by default), Kafka's
 * OffsetDelete. Partitions of a topic an active member subscribes to are
 * refused (GROUP_SUBSCRIBED_TO_TOPIC) and printed with their error; the
 * exit code is 1 if any partition was refused.
 */
import type { Admin } from '../../client/admin.ts';
import type { ClientContext } from '../../client/kactus.ts';
import { errorName } from '../../protocol/errors.ts';
import { UsageError, printJson, printLine, printTable } from '../output.ts';
import { helpRequested, integerFlag, parseCommand, withClient, type Parsed } from '../common.ts';
import { GroupAdmin } from '../group-admin.ts';

export const groupsHelp = `Usage: kactus groups <list|describe|reset-offsets|delete-offsets|delete> [options]

  list
  describe G
  reset-offsets G --topic T (--to-earliest | --to-latest | --to-offset N | --to-datetime ISO) [--dry-run | --execute]
      (refused while the group has members; --dry-run is the default)
  delete-offsets G --topic T [--partitions P,P...]
      (all of T's partitions by default; refused for a topic an active member subscribes to)
  delete G
  --bootstrap ws://HOST:PORT[,...]   --json  print JSON`;

type Row = { group: string; topic: string; partition: number; currentOffset: number | null; logEndOffset: number | null; lag: number | null; memberId: string | null; clientId: string | null; host: string | null };

/** Log end offsets (high watermarks) of the named partitions, by "topic\0partition"; topics that cannot be read are left out. */
async function logEndOffsets(admin: Admin, partitions: { topic: string; partition: number }[]): Promise<Map<string, number>> {
  const byTopic = new Map<string, number[]>();
  for (const p of partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
  const out = new Map<string, number>();
  await Promise.all(
    [...byTopic].map(async ([topic, ps]) => {
      const offsets = await admin.listOffsets({ topic, partitions: ps, at: 'latest' }).catch(() => []);
      for (const o of offsets) out.set(`${topic}\0${o.partition}`, o.offset);
    }),
  );
  return out;
}

async function list(parsed: Parsed): Promise<number> {
  return withClient(parsed.values, async (kactus) => {
    const { groups } = await kactus.admin().listGroups();
    if (parsed.values.json) printJson(groups);
    else for (const g of groups) printLine(g.groupId);
    return 0;
  });
}

/** The group's committed offsets, flat. */
async function committedOffsets(admin: Admin, groupId: string, topics?: readonly string[]): Promise<{ topic: string; partition: number; offset: number }[]> {
  const byTopic = await admin.fetchOffsets({ groupId, ...(topics === undefined ? {} : { topics }) });
  return byTopic.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset })));
}

async function describeRows(admin: Admin, groupId: string): Promise<{ state: string; members: number; rows: Row[]; exists: boolean }> {
  const [{ groups }, committed] = await Promise.all([admin.describeGroups([groupId]), committedOffsets(admin, groupId)]);
  const view = groups[0]!;
  const owner = new Map<string, (typeof view.members)[number]>();
  for (const m of view.members) for (const p of m.assignment) owner.set(`${p.topic}\0${p.partition}`, m);
  const keys = new Map<string, { topic: string; partition: number }>();
  for (const c of committed) keys.set(`${c.topic}\0${c.partition}`, { topic: c.topic, partition: c.partition });
  for (const m of view.members) for (const p of m.assignment) keys.set(`${p.topic}\0${p.partition}`, p);
  const ends = await logEndOffsets(admin, [...keys.values()]);
  const committedBy = new Map(committed.map((c) => [`${c.topic}\0${c.partition}`, c.offset]));
  const rows = [...keys].map(([key, tp]) => {
    const current = committedBy.get(key);
    const currentOffset = current !== undefined && current >= 0 ? current : null;
    const logEndOffset = ends.get(key) ?? null;
    const member = owner.get(key);
    return {
      group: groupId,
      topic: tp.topic,
      partition: tp.partition,
      currentOffset,
      logEndOffset,
      lag: currentOffset !== null && logEndOffset !== null ? Math.max(0, logEndOffset - currentOffset) : null,
      memberId: member?.memberId ?? null,
      clientId: member?.clientId ?? null,
      host: member?.clientHost ?? null,
    };
  });
  rows.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return { state: view.state, members: view.members.length, rows, exists: view.errorCode === 0 || committed.length > 0 };
}

async function describe(parsed: Parsed): Promise<number> {
  const groupId = parsed.positionals[0]!;
  return withClient(parsed.values, async (kactus) => {
    const { state, members, rows, exists } = await describeRows(kactus.admin(), groupId);
    if (!exists) throw new Error(`group "${groupId}" does not exist`);
    if (parsed.values.json) {
      printJson({ group: groupId, state, members, partitions: rows });
      return 0;
    }
    printLine(`Group ${groupId}: ${state}, ${members} member${members === 1 ? '' : 's'}`);
    const dash = (v: string | number | null): string | number => v ?? '-';
    printTable(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'LOG-END-OFFSET', 'LAG', 'CONSUMER-ID', 'HOST', 'CLIENT-ID'], rows.map((r) => [r.group, r.topic, r.partition, dash(r.currentOffset), dash(r.logEndOffset), dash(r.lag), dash(r.memberId), dash(r.host), dash(r.clientId)]));
    return 0;
  });
}

async function resetOffsets(parsed: Parsed): Promise<number> {
  const groupId = parsed.positionals[0]!;
  const v = parsed.values;
  const topic = v.topic;
  if (typeof topic !== 'string' || topic.length === 0) throw new UsageError('groups reset-offsets: --topic is required');
  const targets = (['to-earliest', 'to-latest', 'to-offset', 'to-datetime'] as const).filter((t) => v[t] !== undefined && v[t] !== false);
  if (targets.length !== 1) throw new UsageError('groups reset-offsets: give exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime ISO');
  if (v['dry-run'] === true && v.execute === true) throw new UsageError('groups reset-offsets: --dry-run and --execute exclude each other');
  const target = targets[0]!;
  const toOffset = target === 'to-offset' ? integerFlag(v['to-offset'], 'to-offset', 0, Number.MAX_SAFE_INTEGER) : undefined;
  let toTimestampMs: number | undefined;
  if (target === 'to-datetime') {
    const text = String(v['to-datetime']);
    toTimestampMs = Date.parse(text);
    if (!Number.isFinite(toTimestampMs) || toTimestampMs < 0) throw new UsageError(`groups reset-offsets: --to-datetime "${text}" is not an ISO date-time (e.g. 2026-11-25T20:00:00Z)`);
  }
  const execute = v.execute === true;
  return withClient(v, async (kactus) => {
    const admin = kactus.admin();
    const view = (await admin.describeGroups([groupId])).groups[0]!;
    if (view.members.length > 0) throw new Error(`group "${groupId}" is active (${view.state}, ${view.members.length} member${view.members.length === 1 ? '' : 's'}): stop its consumers before resetting offsets`);
    const [described] = await admin.describeTopics({ topics: [topic] });
    const partitions = described!.partitions.map((p) => p.partition).sort((a, b) => a - b);
    const [earliest, latest] = await Promise.all([admin.listOffsets({ topic, partitions, at: 'earliest' }), admin.listOffsets({ topic, partitions, at: 'latest' })]);
    const byTime = toTimestampMs !== undefined ? await admin.listOffsets({ topic, partitions, at: { timestamp: toTimestampMs } }) : [];
    const committed = await committedOffsets(admin, groupId, [topic]);
    const plan = partitions.map((partition, i) => {
      const low = earliest[i]!.offset;
      const high = latest[i]!.offset;
      let offset: number;
      if (target === 'to-earliest') offset = low;
      else if (target === 'to-latest') offset = high;
      else if (target === 'to-offset') offset = Math.min(high, Math.max(low, toOffset!));
      else offset = byTime[i]!.offset >= 0 ? byTime[i]!.offset : high;
      const current = committed.find((c) => c.partition === partition)?.offset ?? -1;
      return { group: groupId, topic, partition, currentOffset: current >= 0 ? current : null, newOffset: offset };
    });
    if (execute) await admin.setOffsets({ groupId, topic, partitions: plan.map((p) => ({ partition: p.partition, offset: p.newOffset })) });
    if (v.json) printJson({ group: groupId, executed: execute, partitions: plan });
    else {
      printTable(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'NEW-OFFSET'], plan.map((p) => [p.group, p.topic, p.partition, p.currentOffset ?? '-', p.newOffset]));
      if (!execute) process.stderr.write('kactus: dry run: nothing committed (add --execute to commit these offsets)\n');
    }
    return 0;
  });
}

/** "0,2,5" as partition numbers. */
function partitionList(text: string): number[] {
  const partitions = text.split(',').map((p) => p.trim());
  for (const p of partitions) if (!/^(0|[1-9]\d{0,9})$/.test(p) || Number(p) > 2_147_483_647) throw new UsageError(`groups delete-offsets: --partitions "${text}" is not a list of partition numbers (e.g. 0,1,2)`);
  return [...new Set(partitions.map(Number))].sort((a, b) => a - b);
}

async function deleteOffsets(parsed: Parsed): Promise<number> {
  const groupId = parsed.positionals[0]!;
  const v = parsed.values;
  const topic = v.topic;
  if (typeof topic !== 'string' || topic.length === 0) throw new UsageError('groups delete-offsets: --topic is required');
  const named = typeof v.partitions === 'string' ? partitionList(v.partitions) : null;
  return withClient(v, async (kactus, context) => {
    const admin = kactus.admin();
    await admin.describeCluster(); // learns every broker's address (the coordinator may be any)
    const partitions = named ?? (await admin.describeTopics({ topics: [topic] }))[0]!.partitions.map((p) => p.partition).sort((a, b) => a - b);
    const results = await new GroupAdmin(context, groupId).deleteOffsets(partitions.map((partition) => ({ topic, partition })));
    const rows = results.map((r) => ({ group: groupId, topic: r.topic, partition: r.partition, errorCode: r.errorCode, status: r.errorCode === 0 ? 'Successful' : errorName(r.errorCode) }));
    if (v.json) printJson({ group: groupId, partitions: rows });
    else printTable(['GROUP', 'TOPIC', 'PARTITION', 'STATUS'], rows.map((r) => [r.group, r.topic, r.partition, r.status]));
    return rows.some((r) => r.errorCode !== 0) ? 1 : 0;
  });
}

async function remove(parsed: Parsed): Promise<number> {
  const groupId = parsed.positionals[0]!;
  return withClient(parsed.values, async (kactus) => {
    await kactus.admin().deleteGroups([groupId]);
    if (parsed.values.json) printJson({ group: groupId, deleted: true });
    else printLine(`Deleted group ${groupId}.`);
    return 0;
  });
}

const subcommands: Record<string, { options: Parameters<typeof parseCommand>[2]; positionals: { min: number; max: number; names?: string }; run: (parsed: Parsed) => Promise<number> }> = {
  list: { options: {}, positionals: { min: 0, max: 0 }, run: list },
  describe: { options: {}, positionals: { min: 1, max: 1, names: 'GROUP' }, run: describe },
  'reset-offsets': {
    options: { topic: { type: 'string' }, 'to-earliest': { type: 'boolean' }, 'to-latest': { type: 'boolean' }, 'to-offset': { type: 'string' }, 'to-datetime': { type: 'string' }, 'dry-run': { type: 'boolean' }, execute: { type: 'boolean' } },
    positionals: { min: 1, max: 1, names: 'GROUP' },
    run: resetOffsets,
  },
  'delete-offsets': { options: { topic: { type: 'string' }, partitions: { type: 'string' } }, positionals: { min: 1, max: 1, names: 'GROUP' }, run: deleteOffsets },
  delete: { options: {}, positionals: { min: 1, max: 1, names: 'GROUP' }, run: remove },
};

export async function groups(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    printLine(groupsHelp);
    return 0;
  }
  if (name === undefined) throw new UsageError(`groups: a subcommand is required (${Object.keys(subcommands).join(', ')}); see kactus groups --help`);
  const sub = subcommands[name];
  if (sub === undefined) throw new UsageError(`groups: unknown subcommand "${name}"; see kactus groups --help`);
  const parsed = parseCommand(`groups ${name}`, rest, sub.options, sub.positionals);
  if (helpRequested(parsed, groupsHelp)) return 0;
  return sub.run(parsed);
}
