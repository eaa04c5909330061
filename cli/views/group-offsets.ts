/**
 * A consumer group's offsets as data: per partition its committed offset,
 * log end offset, lag and owner (kafka-consumer-groups --describe), and the
 * plan of a reset (kafka-consumer-groups --reset-offsets: new offsets clamped
 * into each partition's [earliest, latest], committed only when asked).
 * `kactus groups` prints these; the web console's /api/groups serves them.
 */
import type { Admin } from '../../client/admin.ts';

export type GroupPartitionRow = { group: string; topic: string; partition: number; currentOffset: number | null; logEndOffset: number | null; lag: number | null; memberId: string | null; clientId: string | null; host: string | null };

/** Log end offsets (high watermarks) of the named partitions, by "topic\0partition"; topics that cannot be read are left out. */
export async function logEndOffsets(admin: Admin, partitions: { topic: string; partition: number }[]): Promise<Map<string, number>> {
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

/** The group's committed offsets, flat. */
export async function committedOffsets(admin: Admin, groupId: string, topics?: readonly string[]): Promise<{ topic: string; partition: number; offset: number }[]> {
  const byTopic = await admin.fetchOffsets({ groupId, ...(topics === undefined ? {} : { topics }) });
  return byTopic.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset })));
}

/** Every partition the group has an offset for or a member owns: committed offset, log end, lag, owner. */
export async function groupOffsetRows(admin: Admin, groupId: string): Promise<{ state: string; members: number; rows: GroupPartitionRow[]; exists: boolean }> {
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

/** Where a reset moves each chosen partition (kafka-consumer-groups' --to-* / --shift-by / --from-file). */
export type ResetTarget =
  | { kind: 'to-earliest' }
  | { kind: 'to-latest' }
  | { kind: 'to-current' }
  | { kind: 'to-offset'; offset: number }
  | { kind: 'to-timestamp'; timestampMs: number }
  | { kind: 'shift-by'; by: number }
  | { kind: 'from-file'; offsets: ReadonlyMap<string, ReadonlyMap<number, number>> };

export type ResetPlanRow = { group: string; topic: string; partition: number; currentOffset: number | null; newOffset: number };

/** Thrown when a reset must not go ahead (an active group, a partition that does not exist): the message says why. */
export class ResetRefused extends Error {}

/**
 * The plan of a reset of `topics` (undefined partitions: all of the topic's; `allTopics`: every topic the group
 * has committed offsets for, Kafka's meaning), committed when `execute`. An active group is refused, as Kafka
 * refuses it: its members would overwrite the new offsets with their positions.
 */
export async function resetOffsetsPlan(
  admin: Admin,
  request: { groupId: string; topics: readonly { topic: string; partitions: readonly number[] | undefined }[] | 'all'; target: ResetTarget; execute: boolean },
): Promise<ResetPlanRow[]> {
  const { groupId, target } = request;
  const view = (await admin.describeGroups([groupId])).groups[0]!;
  if (view.members.length > 0) throw new ResetRefused(`group "${groupId}" is active (${view.state}, ${view.members.length} member${view.members.length === 1 ? '' : 's'}): stop its consumers before resetting offsets`);
  const committedAll = await committedOffsets(admin, groupId);
  const chosen = request.topics === 'all' ? [...new Set(committedAll.map((c) => c.topic))].map((topic) => ({ topic, partitions: undefined })) : request.topics;
  const plan: ResetPlanRow[] = [];
  for (const { topic, partitions: named } of chosen) {
    const [described] = await admin.describeTopics({ topics: [topic] });
    const all = described!.partitions.map((p) => p.partition).sort((a, b) => a - b);
    const unknown = (named ?? []).filter((p) => !all.includes(p));
    if (unknown.length > 0) throw new ResetRefused(`topic "${topic}" has partitions 0..${all.length - 1}, not ${unknown.join(',')}`);
    const partitions = named ?? all;
    const [earliest, latest] = await Promise.all([admin.listOffsets({ topic, partitions, at: 'earliest' }), admin.listOffsets({ topic, partitions, at: 'latest' })]);
    const byTime = target.kind === 'to-timestamp' ? await admin.listOffsets({ topic, partitions, at: { timestamp: target.timestampMs } }) : [];
    partitions.forEach((partition, i) => {
      const low = earliest[i]!.offset;
      const high = latest[i]!.offset;
      const committed = committedAll.find((c) => c.topic === topic && c.partition === partition)?.offset ?? -1;
      const current = committed >= 0 ? committed : null;
      let offset: number;
      switch (target.kind) {
        case 'to-earliest': offset = low; break;
        case 'to-latest': offset = high; break;
        case 'to-current': offset = current ?? high; break;
        case 'to-offset': offset = target.offset; break;
        case 'shift-by': offset = (current ?? high) + target.by; break;
        case 'to-timestamp': offset = byTime[i]!.offset >= 0 ? byTime[i]!.offset : high; break;
        case 'from-file': {
          const fromLine = target.offsets.get(topic)?.get(partition);
          if (fromLine === undefined) return; // a partition the file does not name keeps its offset
          offset = fromLine;
        }
      }
      // Kafka clamps every target into [earliest, latest] of the partition.
      plan.push({ group: groupId, topic, partition, currentOffset: current, newOffset: Math.min(high, Math.max(low, offset)) });
    });
  }
  if (request.execute) {
    const byTopic = new Map<string, { partition: number; offset: number }[]>();
    for (const p of plan) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), { partition: p.partition, offset: p.newOffset }]);
    for (const [topic, partitions] of byTopic) await admin.setOffsets({ groupId, topic, partitions });
  }
  return plan;
}
