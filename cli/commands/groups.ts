/**
 * `kactus groups list|describe|reset-offsets|delete-offsets|delete`, like
 * kafka-consumer-groups, through the client's Admin (listGroups,
 * describeGroups, fetchOffsets, setOffsets, deleteOffsets, deleteGroups;
 * client/admin-groups.ts).
 *
 * describe G: per partition the group has committed or is assigned: current
 * (committed) offset, log end offset (the high watermark), lag, and the
 * member that owns it. A group with neither members nor offsets does not
 * exist (exit 1).
 *
 * describe G --members | --state: kafka-consumer-groups' views of the members
 * (id, host, client id, assigned partitions) and of the group (strategy,
 * state, member count).
 *
 * reset-offsets G (--topic T[:P,P] ... | --all-topics) with one target:
 * --to-earliest, --to-latest, --to-current (the committed offset), --to-offset
 * N, --shift-by N (from the committed offset, or the latest when none),
 * --to-datetime ISO or --by-duration PnDTnHnMnS (the first offset whose
 * timestamp is at or after that time; latest when there is none). Prints the
 * planned offsets (--dry-run, the default, as in Kafka) or commits them
 * (--execute). Refused while the group has members: their commits would race
 * ours, and Kafka refuses it too. Every target is clamped into [earliest,
 * latest] of each partition, as Kafka does.
 *
 * delete-offsets G --topic T [--partitions P,P...]: deletes the group's
 * committed offsets of those partitions (all of T's by default), Kafka's
 * OffsetDelete. Partitions of a topic an active member subscribes to are
 * refused (GROUP_SUBSCRIBED_TO_TOPIC) and printed with their error; the
 * exit code is 1 if any partition was refused.
 */
import type { Admin } from '../../client/admin.ts';
import type { ClientContext } from '../../client/kactus.ts';
import { readFileSync } from 'node:fs';
import { errorName } from '../../protocol/errors.ts';
import { UsageError, printJson, printLine, printTable } from '../output.ts';
import { integerFlag, withClient } from '../common.ts';
import type { CommandSpec, Parsed } from '../parser.ts';
import { groupOffsetRows, ResetRefused, resetOffsetsPlan, type ResetTarget } from '../views/group-offsets.ts';

async function list(parsed: Parsed): Promise<number> {
  return withClient(parsed.values, async (kactus) => {
    const { groups } = await kactus.admin().listGroups();
    if (parsed.values.json) printJson(groups);
    else if (parsed.values.state === true) printTable(['GROUP', 'STATE', 'PROTOCOL-TYPE'], groups.map((g) => [g.groupId, g.state, g.protocolType || '-']));
    else for (const g of groups) printLine(g.groupId);
    return 0;
  });
}

/** `describe G --members` / `--state`: kafka-consumer-groups' member and state views. */
async function describeView(parsed: Parsed, admin: Admin, groupId: string): Promise<number> {
  const view = (await admin.describeGroups([groupId])).groups[0]!;
  if (view.errorCode !== 0) throw new Error(`group "${groupId}" does not exist`);
  if (parsed.values.state === true) {
    const state = { group: groupId, assignmentStrategy: view.protocol, state: view.state, members: view.members.length };
    if (parsed.values.json) printJson(state);
    else printTable(['GROUP', 'ASSIGNMENT-STRATEGY', 'STATE', '#MEMBERS'], [[state.group, state.assignmentStrategy || '-', state.state, state.members]]);
    return 0;
  }
  const members = view.members.map((m) => ({
    group: groupId,
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId,
    host: m.clientHost,
    clientId: m.clientId,
    partitions: m.assignment.length,
    assignment: m.assignment.map((p) => `${p.topic}:${p.partition}`).sort(),
  }));
  if (parsed.values.json) printJson({ group: groupId, state: view.state, members });
  else printTable(['GROUP', 'CONSUMER-ID', 'HOST', 'CLIENT-ID', '#PARTITIONS', 'ASSIGNMENT'], members.map((m) => [m.group, m.memberId, m.host, m.clientId, m.partitions, m.assignment.join(',') || '-']));
  return 0;
}

async function describe(parsed: Parsed): Promise<number> {
  const groupId = parsed.positionals[0]!;
  if (parsed.values.members === true && parsed.values.state === true) throw new UsageError('groups describe: --members and --state exclude each other');
  if (parsed.values.members === true || parsed.values.state === true) return withClient(parsed.values, (kactus) => describeView(parsed, kactus.admin(), groupId));
  return withClient(parsed.values, async (kactus) => {
    const { state, members, rows, exists } = await groupOffsetRows(kactus.admin(), groupId);
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

/** Kafka's reset targets, one per run. */
const resetTargets = ['to-earliest', 'to-latest', 'to-current', 'to-offset', 'to-datetime', 'by-duration', 'shift-by', 'from-file'] as const;

/** Lines a --from-file CSV may have. */
const resetFileLinesMax = 1_000_000;

/** kafka-consumer-groups' reset CSV (`--export` writes it, `--from-file` reads it): `topic,partition,offset` per line. */
function parseResetFile(path: string): Map<string, Map<number, number>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`groups reset-offsets: --from-file ${path}: ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  if (lines.length > resetFileLinesMax) throw new UsageError(`groups reset-offsets: --from-file ${path} has ${lines.length} lines, at most ${resetFileLinesMax}`);
  const out = new Map<string, Map<number, number>>();
  lines.forEach((line, i) => {
    const match = /^([^,]+),(0|[1-9]\d{0,9}),(0|[1-9]\d{0,15})$/.exec(line.trim());
    if (match === null) throw new UsageError(`groups reset-offsets: --from-file ${path} line ${i + 1} is not topic,partition,offset: "${line.slice(0, 80)}"`);
    const partitions = out.get(match[1]!) ?? new Map<number, number>();
    partitions.set(Number(match[2]), Number(match[3]));
    out.set(match[1]!, partitions);
  });
  return out;
}

/** An ISO 8601 duration as kafka-consumer-groups takes it (PnDTnHnMnS, e.g. PT1H30M or P1DT12H), in ms. */
export function durationMs(text: string): number | undefined {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (match === null || text === 'P' || text.endsWith('T')) return undefined;
  const [, days, hours, minutes, seconds] = match;
  return ((Number(days ?? 0) * 24 + Number(hours ?? 0)) * 60 + Number(minutes ?? 0)) * 60_000 + Number(seconds ?? 0) * 1_000;
}

/** `--topic T` or `--topic T:0,2` (Kafka's form): the topic and the partitions named (undefined: all). */
function topicSpec(text: string): { topic: string; partitions: number[] | undefined } {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { topic: text, partitions: undefined };
  const topic = text.slice(0, colon);
  if (topic.length === 0) throw new UsageError(`groups reset-offsets: --topic "${text}" names no topic (TOPIC or TOPIC:P,P...)`);
  return { topic, partitions: partitionList(text.slice(colon + 1), 'reset-offsets', '--topic') };
}

async function resetOffsets(parsed: Parsed): Promise<number> {
  const groupId = parsed.positionals[0]!;
  const v = parsed.values;
  const topicFlags = (Array.isArray(v.topic) ? v.topic : typeof v.topic === 'string' ? [v.topic] : []) as string[];
  const allTopics = v['all-topics'] === true;
  const fromFile = typeof v['from-file'] === 'string' ? parseResetFile(v['from-file']) : undefined;
  if (topicFlags.length === 0 && !allTopics && fromFile === undefined) throw new UsageError('groups reset-offsets: --topic T[:P,P...] (repeatable) or --all-topics is required');
  if (topicFlags.length > 0 && allTopics) throw new UsageError('groups reset-offsets: --topic and --all-topics exclude each other');
  const targets = resetTargets.filter((t) => v[t] !== undefined && v[t] !== false);
  if (targets.length !== 1) throw new UsageError(`groups reset-offsets: give exactly one of ${resetTargets.map((t) => `--${t}`).join(', ')}`);
  if (v['dry-run'] === true && v.execute === true) throw new UsageError('groups reset-offsets: --dry-run and --execute exclude each other');
  const target = targets[0]!;
  const toOffset = target === 'to-offset' ? integerFlag(v['to-offset'], 'to-offset', 0, Number.MAX_SAFE_INTEGER) : undefined;
  const shiftBy = target === 'shift-by' ? integerFlag(v['shift-by'], 'shift-by', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) : undefined;
  let toTimestampMs: number | undefined;
  if (target === 'to-datetime') {
    const text = String(v['to-datetime']);
    toTimestampMs = Date.parse(text);
    if (!Number.isFinite(toTimestampMs) || toTimestampMs < 0) throw new UsageError(`groups reset-offsets: --to-datetime "${text}" is not an ISO date-time (e.g. 2026-11-25T20:00:00Z)`);
  }
  if (target === 'by-duration') {
    const text = String(v['by-duration']);
    const ms = durationMs(text);
    if (ms === undefined) throw new UsageError(`groups reset-offsets: --by-duration "${text}" is not an ISO 8601 duration (e.g. PT1H30M, P1DT12H)`);
    toTimestampMs = Math.max(0, Date.now() - ms);
  }
  const specs = topicFlags.map(topicSpec);
  const execute = v.execute === true;
  const resetTarget: ResetTarget =
    target === 'to-offset' ? { kind: 'to-offset', offset: toOffset! }
    : target === 'shift-by' ? { kind: 'shift-by', by: shiftBy! }
    : target === 'to-datetime' || target === 'by-duration' ? { kind: 'to-timestamp', timestampMs: toTimestampMs! }
    : target === 'from-file' ? { kind: 'from-file', offsets: fromFile! }
    : { kind: target };
  // --from-file alone: the topics and partitions the file names.
  const fileSpecs = fromFile !== undefined && specs.length === 0 && !allTopics ? [...fromFile].map(([topic, ps]) => ({ topic, partitions: [...ps.keys()].sort((a, b) => a - b) as number[] | undefined })) : undefined;
  return withClient(v, async (kactus) => {
    const admin = kactus.admin();
    const plan = await resetOffsetsPlan(admin, { groupId, topics: fileSpecs ?? (allTopics ? 'all' : specs), target: resetTarget, execute }).catch((err: unknown) => {
      throw err instanceof ResetRefused ? new Error(err.message) : err;
    });
    if (v.export === true) {
      for (const p of plan) printLine(`${p.topic},${p.partition},${p.newOffset}`);
      if (!execute) process.stderr.write('kactus: dry run: nothing committed (add --execute to commit these offsets)\n');
    } else if (v.json) printJson({ group: groupId, executed: execute, partitions: plan });
    else {
      printTable(['GROUP', 'TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'NEW-OFFSET'], plan.map((p) => [p.group, p.topic, p.partition, p.currentOffset ?? '-', p.newOffset]));
      if (!execute) process.stderr.write('kactus: dry run: nothing committed (add --execute to commit these offsets)\n');
    }
    return 0;
  });
}

/** "0,2,5" as partition numbers. */
function partitionList(text: string, subcommand = 'delete-offsets', flag = '--partitions'): number[] {
  const partitions = text.split(',').map((p) => p.trim());
  for (const p of partitions) if (!/^(0|[1-9]\d{0,9})$/.test(p) || Number(p) > 2_147_483_647) throw new UsageError(`groups ${subcommand}: ${flag} "${text}" is not a list of partition numbers (e.g. 0,1,2)`);
  return [...new Set(partitions.map(Number))].sort((a, b) => a - b);
}

async function deleteOffsets(parsed: Parsed): Promise<number> {
  const groupId = parsed.positionals[0]!;
  const v = parsed.values;
  const topic = v.topic;
  if (typeof topic !== 'string' || topic.length === 0) throw new UsageError('groups delete-offsets: --topic is required');
  const named = typeof v.partitions === 'string' ? partitionList(v.partitions) : null;
  return withClient(v, async (kactus) => {
    const results = await kactus.admin().deleteOffsets({ groupId, topic, ...(named === null ? {} : { partitions: named }) });
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

const groupArgument = { name: 'GROUP', help: 'the consumer group' } as const;

export const groupsSpec: CommandSpec = {
  name: 'groups',
  description: 'Consumer groups, like kafka-consumer-groups: their members, committed offsets and lag; resetting and deleting offsets.',
  subcommands: [
    { name: 'list', summary: 'list the groups', options: { state: { type: 'boolean', help: 'each group\'s state and protocol type too' } }, cluster: true, run: list },
    {
      name: 'describe',
      summary: 'per partition: committed offset, log end offset, lag, owner',
      arguments: [groupArgument],
      options: { members: { type: 'boolean', help: 'each member and its partitions instead' }, state: { type: 'boolean', help: 'the group\'s state, assignment strategy and member count instead' } },
      cluster: true,
      run: describe,
    },
    {
      name: 'reset-offsets',
      summary: 'plan (the default, --dry-run) or commit (--execute) new committed offsets',
      description: `Moves the group's committed offsets to one target, Kafka's way: every target is clamped into each
partition's [earliest, latest]. Prints the plan (--dry-run, the default) or commits it (--execute).
Refused while the group has members (their commits would race these).`,
      arguments: [groupArgument],
      options: {
        topic: { type: 'string', value: 'T[:P,P...]', multiple: true, help: 'a topic, or some of its partitions' },
        'all-topics': { type: 'boolean', help: 'every topic the group has committed offsets for' },
        'to-earliest': { type: 'boolean', help: 'target: the earliest offset' },
        'to-latest': { type: 'boolean', help: 'target: the latest offset' },
        'to-current': { type: 'boolean', help: 'target: the committed offset (the latest where none)' },
        'to-offset': { type: 'string', value: 'N', help: 'target: offset N' },
        'to-datetime': { type: 'string', value: 'ISO', help: 'target: the first offset at or after an ISO date-time (2026-11-25T20:00:00Z)' },
        'by-duration': { type: 'string', value: 'PnDTnHnMnS', help: 'target: the first offset at or after that long ago (PT1H30M, P1DT12H)' },
        'shift-by': { type: 'string', value: 'N', help: 'target: the committed offset (else the latest) plus N (N may be negative)' },
        'from-file': { type: 'string', value: 'CSV', help: 'target: the offsets of topic,partition,offset lines (alone, it resets just the partitions it names)' },
        export: { type: 'boolean', help: 'print the plan as topic,partition,offset lines (what --from-file reads)' },
        'dry-run': { type: 'boolean', help: 'print the plan, commit nothing (the default)' },
        execute: { type: 'boolean', help: 'commit the plan' },
      },
      cluster: true,
      run: resetOffsets,
    },
    {
      name: 'delete-offsets',
      summary: 'delete the group\'s committed offsets of a topic',
      arguments: [groupArgument],
      options: {
        topic: { type: 'string', value: 'T', required: true, help: 'the topic' },
        partitions: { type: 'string', value: 'P,P...', help: 'only these partitions (default: all of the topic\'s)' },
      },
      notes: 'Refused, per partition, for a topic an active member subscribes to (exit 1).',
      cluster: true,
      run: deleteOffsets,
    },
    { name: 'delete', summary: 'delete a group (its committed offsets too)', arguments: [groupArgument], cluster: true, run: remove },
  ],
};
