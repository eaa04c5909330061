/**
 * `kactus partitions reassign|elect-leaders`: moving replicas between
 * brokers (KIP-455 reassignment, like kafka-reassign-partitions) and
 * electing leaders (like kafka-leader-election), through the client's Admin.
 *
 * reassign has one mode per run:
 * - --plan: a balanced assignment (actors/controller/metadata/
 *   reassignment-plan.ts) of the current replicas (Metadata) over the live
 *   brokers and their racks (or --brokers), minus --drain-broker ones. The
 *   plan JSON (Kafka's file format) is all that goes to stdout, so
 *   `--plan > plan.json` writes a file --execute takes; the figures (replicas
 *   moved, leaders changed, per broker) go to stderr. All topics, internal
 *   ones included (draining a broker must move those too), unless --topics.
 *   Refused while reassignments are in progress: Metadata then shows the
 *   merged lists (target plus replicas being removed), not an assignment.
 * - --execute FILE: checks the file (cli/reassignment-file.ts) against the
 *   cluster, sets the replication throttle if --throttle, submits it, and
 *   prints the current assignment of those partitions (the rollback plan).
 *   With --wait it polls until no partition of the file is moving, checks
 *   Metadata shows the targets, elects the preferred leaders of the moved
 *   partitions (a new first replica leads only after an election), and
 *   removes the throttle it set.
 * - --status: the reassignments in progress. --cancel [FILE]: cancels those
 *   of FILE, or all in progress. --remove-throttle: clears the throttle.
 *
 * The throttle is the cluster-wide broker default (resource broker ''):
 * leader.replication.throttled.rate and follower.replication.throttled.rate,
 * in bytes/s, applied by every broker to the catch-up traffic of replicas a
 * reassignment adds.
 *
 * Exit codes as cli/main.ts: a refused partition or a --wait that times out
 * is 1; a bad flag or plan file is 2.
 */
import { readFileSync } from 'node:fs';
import type { Admin, PartitionReassignment } from '../../client/admin.ts';
import { ErrorCode, errorInfo } from '../../client/errors.ts';
import { planReassignment, reassignmentJson, type ReassignmentPlan } from '../../actors/controller/metadata/reassignment-plan.ts';
import { UsageError, printError, printJson, printLine, printTable } from '../output.ts';
import { integerFlag, withClient } from '../common.ts';
import { parseArguments, type CommandSpec, type Parsed } from '../parser.ts';
import { brokerIdList, commaList, parseReassignmentFile, reassignmentProblems, type CancelEntry, type ReassignmentEntry } from '../reassignment-file.ts';

/** How often --wait asks for the reassignments in progress. */
export const reassignmentPollIntervalMs = 500;
/** Default longest --wait (a large partition under a low throttle may need --timeout-ms). */
export const reassignmentWaitMsDefault = 10 * 60_000;
const reassignmentWaitMsMax = 7 * 24 * 3_600_000;
/** The replication throttle configs (bytes/s), set on the cluster-wide broker default. */
export const throttleConfigs = ['leader.replication.throttled.rate', 'follower.replication.throttled.rate'] as const;

export type ReassignMode =
  | { mode: 'plan'; topics: string[]; brokers: number[] | null; drainBrokers: number[] }
  | { mode: 'execute'; file: string; throttleBytesPerSec: number | null; wait: boolean; timeoutMs: number }
  | { mode: 'status'; topics: string[] }
  | { mode: 'cancel'; file: string | null }
  | { mode: 'remove-throttle' };

const modeFlags = ['plan', 'execute', 'status', 'cancel', 'remove-throttle'] as const;
/** Which flags each mode takes (besides the common ones); any other is a usage error. */
const modeOptions: Record<(typeof modeFlags)[number], readonly string[]> = {
  plan: ['topics', 'brokers', 'drain-broker'],
  execute: ['throttle', 'wait', 'timeout-ms'],
  status: ['topics'],
  cancel: [],
  'remove-throttle': [],
};

/** The mode and its arguments from parsed flags; UsageError for none, two, or a flag the mode does not take. */
export function reassignMode(parsed: Parsed): ReassignMode {
  const v = parsed.values;
  const given = modeFlags.filter((m) => v[m] !== undefined && v[m] !== false);
  if (given.length === 0) throw new UsageError('partitions reassign: give one of --plan, --execute FILE, --status, --cancel, --remove-throttle; see kactus partitions reassign --help');
  if (given.length > 1) throw new UsageError(`partitions reassign: --${given[0]} and --${given[1]} exclude each other`);
  const mode = given[0]!;
  for (const flag of Object.values(modeOptions).flat()) {
    if (v[flag] !== undefined && v[flag] !== false && !modeOptions[mode].includes(flag)) throw new UsageError(`partitions reassign: --${flag} goes with --${Object.entries(modeOptions).find(([, flags]) => flags.includes(flag))![0]}, not --${mode}`);
  }
  if (parsed.positionals.length > 0 && mode !== 'cancel') throw new UsageError(`partitions reassign: unexpected argument "${parsed.positionals[0]}"; see kactus partitions reassign --help`);
  switch (mode) {
    case 'plan': {
      const drains = ((v['drain-broker'] as string[] | undefined) ?? []).flatMap((d) => brokerIdList(d, 'drain-broker'));
      return { mode, topics: commaList(v.topics), brokers: v.brokers === undefined ? null : brokerIdList(v.brokers, 'brokers'), drainBrokers: [...new Set(drains)] };
    }
    case 'execute':
      if (v['timeout-ms'] !== undefined && v.wait !== true) throw new UsageError('partitions reassign: --timeout-ms goes with --wait');
      return {
        mode,
        file: v.execute as string,
        throttleBytesPerSec: v.throttle === undefined ? null : integerFlag(v.throttle, 'throttle', 1, Number.MAX_SAFE_INTEGER),
        wait: v.wait === true,
        timeoutMs: integerFlag(v['timeout-ms'], 'timeout-ms', 1, reassignmentWaitMsMax, reassignmentWaitMsDefault),
      };
    case 'status':
      return { mode, topics: commaList(v.topics) };
    case 'cancel':
      return { mode, file: parsed.positionals[0] ?? null };
    case 'remove-throttle':
      return { mode };
  }
}

/** A plan file's text; UsageError when it cannot be read. */
function readPlanFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** A note for the person at the terminal, kept off stdout (which may be a plan file). */
function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

async function plan(admin: Admin, mode: Extract<ReassignMode, { mode: 'plan' }>, json: boolean): Promise<number> {
  const [cluster, topics] = await Promise.all([admin.describeCluster(), admin.describeTopics(mode.topics.length > 0 ? { topics: mode.topics } : {})]);
  const live = new Map(cluster.brokers.map((b) => [b.brokerId, b]));
  const notLive = (mode.brokers ?? []).filter((id) => !live.has(id));
  if (notLive.length > 0) throw new UsageError(`--brokers: ${notLive.join(',')} ${notLive.length > 1 ? 'are' : 'is'} not live (live: ${[...live.keys()].sort((a, b) => a - b).join(',')})`);
  const inProgress = await admin.listPartitionReassignments(mode.topics.length > 0 ? { topics: mode.topics.map((topic) => ({ topic })) } : {});
  if (inProgress.length > 0) {
    printError(`partitions reassign: ${inProgress.length} reassignment${inProgress.length > 1 ? 's are' : ' is'} in progress; wait for ${inProgress.length > 1 ? 'them' : 'it'} (--status) or cancel (--cancel) before planning`);
    return 1;
  }
  const placeOn = (mode.brokers ?? [...live.keys()]).map((id) => ({ brokerId: id, rack: live.get(id)!.rack }));
  const result = planReassignment({
    partitions: topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition, replicas: [...p.replicas] }))),
    brokers: placeOn,
    drainBrokers: mode.drainBrokers,
  });
  if (!result.ok) {
    printError(`--plan: ${result.error}`);
    return 1;
  }
  const file = reassignmentJson(result.plan);
  if (json) {
    printJson({ plan: file, replicasMoved: result.plan.replicasMoved, leadersChanged: result.plan.leadersChanged, brokers: result.plan.brokers });
    return 0;
  }
  printJson(file);
  for (const line of planSummary(result.plan)) note(line);
  return 0;
}

/** The figures of a plan, for people: what moves, and each broker's replicas and leaders before -> after. */
export function planSummary(p: ReassignmentPlan): string[] {
  if (p.partitions.length === 0) return ['Already balanced: nothing to move.'];
  const lines = [`Plan: ${p.partitions.length} partition${p.partitions.length > 1 ? 's' : ''} change; ${p.replicasMoved} replica${p.replicasMoved === 1 ? '' : 's'} move, ${p.leadersChanged} preferred leader${p.leadersChanged === 1 ? '' : 's'} change.`];
  const width = Math.max(...p.brokers.map((b) => String(b.brokerId).length));
  for (const b of p.brokers) lines.push(`  broker ${String(b.brokerId).padStart(width)}: replicas ${b.replicasBefore} -> ${b.replicasAfter}, preferred leader of ${b.leadersBefore} -> ${b.leadersAfter}`);
  lines.push('Save the JSON (--plan > plan.json) and apply it with: kactus partitions reassign --execute plan.json');
  return lines;
}

/** Partition counts of every topic and the live broker ids, for checking a plan file. */
async function clusterShape(admin: Admin): Promise<{ partitionCounts: Map<string, number>; live: Set<number>; replicas: Map<string, readonly number[]> }> {
  const [cluster, topics] = await Promise.all([admin.describeCluster(), admin.describeTopics({})]);
  const replicas = new Map<string, readonly number[]>();
  for (const t of topics) for (const p of t.partitions) replicas.set(`${t.name}\0${p.partition}`, p.replicas);
  return { partitionCounts: new Map(topics.map((t) => [t.name, t.partitions.length])), live: new Set(cluster.brokers.map((b) => b.brokerId)), replicas };
}

function checkedAgainstCluster(entries: readonly (ReassignmentEntry | CancelEntry)[], file: string, shape: Awaited<ReturnType<typeof clusterShape>>): void {
  const problems = reassignmentProblems(entries, shape.partitionCounts, shape.live);
  if (problems.length > 0) throw new UsageError(`${file}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; and ${problems.length - 3} more` : ''}`);
}

/** Prints refused partitions as errors; returns how many were refused. */
function reportRefusals(results: readonly { topic: string; partition: number; errorCode: number; errorMessage: string | null }[], what: string, ignore: readonly number[] = []): number {
  const refused = results.filter((r) => r.errorCode !== 0 && !ignore.includes(r.errorCode));
  for (const r of refused) printError(`${what} ${r.topic}-${r.partition}: ${errorInfo(r.errorCode).name}${r.errorMessage ? ` ${r.errorMessage}` : ''}`);
  return refused.length;
}

async function execute(admin: Admin, mode: Extract<ReassignMode, { mode: 'execute' }>, entries: ReassignmentEntry[], json: boolean): Promise<number> {
  const shape = await clusterShape(admin);
  checkedAgainstCluster(entries, mode.file, shape);
  if (entries.length === 0) {
    if (json) printJson({ started: [], refused: [], rollback: reassignmentJson({ partitions: [] }) });
    else printLine(`${mode.file} moves nothing.`);
    return 0;
  }
  const rollback = reassignmentJson({ partitions: entries.map((e) => ({ topic: e.topic, partition: e.partition, replicas: [...shape.replicas.get(`${e.topic}\0${e.partition}`)!] })) });
  if (mode.throttleBytesPerSec !== null) {
    const rate = String(mode.throttleBytesPerSec);
    await admin.alterConfigs({ resources: [{ type: 'broker', name: '', set: Object.fromEntries(throttleConfigs.map((c) => [c, rate])) }] });
  }
  const results = await admin.alterPartitionReassignments({ reassignments: entries.map((e) => ({ topic: e.topic, partition: e.partition, replicas: e.replicas })) });
  const started = results.filter((r) => r.errorCode === 0);
  if (json && !mode.wait) printJson({ started: started.map((r) => ({ topic: r.topic, partition: r.partition })), refused: results.filter((r) => r.errorCode !== 0), rollback, throttleBytesPerSec: mode.throttleBytesPerSec });
  if (!json) {
    printLine('Current assignment of these partitions (save it to roll back with --execute):');
    printLine(JSON.stringify(rollback));
    printLine(`Started the reassignment of ${started.length} partition${started.length === 1 ? '' : 's'}${mode.throttleBytesPerSec !== null ? `, replication throttled to ${mode.throttleBytesPerSec} bytes/s` : ''}.`);
  }
  const refused = reportRefusals(results, 'reassignment refused for');
  if (!mode.wait) return refused > 0 ? 1 : 0;

  const moving = started.map((r) => ({ topic: r.topic, partition: r.partition }));
  const waited = await waitForReassignments(admin, moving, entries, mode.timeoutMs, json);
  if (!waited.done) {
    printError(`partitions reassign: ${waited.remaining} partition${waited.remaining === 1 ? ' is' : 's are'} still moving after ${mode.timeoutMs} ms (see --status; the throttle stays set)`);
    return 1;
  }
  // A new first replica leads only after an election (the controller keeps a leader that stays a replica).
  const electionErrors: string[] = [];
  if (moving.length > 0) {
    await admin.electLeaders({ electionType: 'PREFERRED', topicPartitions: groupByTopic(moving) }).catch((err: unknown) => electionErrors.push(err instanceof Error ? err.message : String(err)));
  }
  if (mode.throttleBytesPerSec !== null) await admin.alterConfigs({ resources: [{ type: 'broker', name: '', delete: [...throttleConfigs] }] });
  for (const e of electionErrors) note(`kactus: note: preferred leader election after the move: ${e.split('\n')[0]} (retry with kactus partitions elect-leaders)`);
  if (json) printJson({ started: moving, refused: results.filter((r) => r.errorCode !== 0), rollback, throttleBytesPerSec: mode.throttleBytesPerSec, completed: true, preferredLeadersElected: electionErrors.length === 0 });
  else printLine(`Reassignment of ${moving.length} partition${moving.length === 1 ? '' : 's'} complete${mode.throttleBytesPerSec !== null ? '; throttle removed' : ''}.`);
  return refused > 0 ? 1 : 0;
}

function groupByTopic(partitions: readonly { topic: string; partition: number }[]): { topic: string; partitions: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const p of partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
  return [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps.sort((a, b) => a - b) }));
}

/**
 * Polls until none of `moving` is in progress and Metadata shows each
 * partition's target replicas (brokers apply committed metadata
 * asynchronously), or `timeoutMs` passes.
 */
async function waitForReassignments(admin: Admin, moving: readonly { topic: string; partition: number }[], targets: readonly ReassignmentEntry[], timeoutMs: number, quiet: boolean): Promise<{ done: boolean; remaining: number }> {
  const deadline = Date.now() + timeoutMs;
  const wanted = new Map(targets.map((t) => [`${t.topic}\0${t.partition}`, t.replicas.join(',')]));
  const topics = groupByTopic(moving);
  let lastReported = -1;
  let remaining = moving.length;
  for (;;) {
    const inProgress = moving.length === 0 ? [] : await admin.listPartitionReassignments({ topics });
    remaining = inProgress.length;
    if (remaining === 0) {
      const described = await admin.describeTopics({ topics: topics.map((t) => t.topic) });
      const pending = described.flatMap((t) => t.partitions.filter((p) => wanted.has(`${t.name}\0${p.partition}`) && moving.some((m) => m.topic === t.name && m.partition === p.partition) && p.replicas.join(',') !== wanted.get(`${t.name}\0${p.partition}`)));
      if (pending.length === 0) return { done: true, remaining: 0 };
      remaining = pending.length;
    }
    if (!quiet && remaining !== lastReported) {
      note(`Waiting: ${remaining} partition${remaining === 1 ? '' : 's'} still moving.`);
      lastReported = remaining;
    }
    if (Date.now() >= deadline) return { done: false, remaining };
    await new Promise((resolve) => setTimeout(resolve, reassignmentPollIntervalMs));
  }
}

function printReassignments(list: readonly PartitionReassignment[], json: boolean): void {
  const sorted = [...list].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  if (json) {
    printJson(sorted);
    return;
  }
  if (sorted.length === 0) {
    printLine('No reassignments in progress.');
    return;
  }
  printTable(['TOPIC', 'PARTITION', 'REPLICAS', 'ADDING', 'REMOVING'], sorted.map((r) => [r.topic, r.partition, r.replicas.join(','), r.addingReplicas.join(',') || '-', r.removingReplicas.join(',') || '-']));
}

async function status(admin: Admin, mode: Extract<ReassignMode, { mode: 'status' }>, json: boolean): Promise<number> {
  printReassignments(await admin.listPartitionReassignments(mode.topics.length > 0 ? { topics: mode.topics.map((topic) => ({ topic })) } : {}), json);
  return 0;
}

async function cancel(admin: Admin, mode: Extract<ReassignMode, { mode: 'cancel' }>, fromFile: CancelEntry[] | null, json: boolean): Promise<number> {
  let targets: CancelEntry[];
  if (mode.file !== null && fromFile !== null) {
    targets = fromFile.map((e) => ({ topic: e.topic, partition: e.partition }));
    checkedAgainstCluster(targets, mode.file, await clusterShape(admin));
  } else {
    targets = (await admin.listPartitionReassignments()).map((r) => ({ topic: r.topic, partition: r.partition }));
  }
  if (targets.length === 0) {
    if (json) printJson({ cancelled: [], notInProgress: [] });
    else printLine('No reassignments in progress to cancel.');
    return 0;
  }
  const results = await admin.alterPartitionReassignments({ reassignments: targets.map((t) => ({ ...t, replicas: null })) });
  const cancelled = results.filter((r) => r.errorCode === 0).map((r) => ({ topic: r.topic, partition: r.partition }));
  const notInProgress = results.filter((r) => r.errorCode === ErrorCode.NO_REASSIGNMENT_IN_PROGRESS).map((r) => ({ topic: r.topic, partition: r.partition }));
  if (json) printJson({ cancelled, notInProgress });
  else {
    printLine(`Cancelled the reassignment of ${cancelled.length} partition${cancelled.length === 1 ? '' : 's'}${notInProgress.length > 0 ? ` (${notInProgress.length} had none in progress)` : ''}.`);
  }
  return reportRefusals(results, 'cancel refused for', [ErrorCode.NO_REASSIGNMENT_IN_PROGRESS]) > 0 ? 1 : 0;
}

async function removeThrottle(admin: Admin, json: boolean): Promise<number> {
  await admin.alterConfigs({ resources: [{ type: 'broker', name: '', delete: [...throttleConfigs] }] });
  if (json) printJson({ throttleRemoved: true });
  else printLine('Replication throttle removed.');
  return 0;
}

async function reassign(parsed: Parsed): Promise<number> {
  const mode = reassignMode(parsed);
  const json = parsed.values.json === true;
  // The file is read and checked before connecting: a bad file is exit 2 at once, even with no cluster up.
  const planEntries = mode.mode === 'execute' ? (parseReassignmentFile(readPlanFile(mode.file), mode.file) as ReassignmentEntry[]) : null;
  const cancelEntries = mode.mode === 'cancel' && mode.file !== null ? (parseReassignmentFile(readPlanFile(mode.file), mode.file, { replicasRequired: false }) as CancelEntry[]) : null;
  // --wait outlives one request: the client's request timeout bounds each poll, not the whole wait.
  return withClient(parsed.values, async (kactus) => {
    const admin = kactus.admin();
    switch (mode.mode) {
      case 'plan':
        return plan(admin, mode, json);
      case 'execute':
        return execute(admin, mode, planEntries!, json);
      case 'status':
        return status(admin, mode, json);
      case 'cancel':
        return cancel(admin, mode, cancelEntries, json);
      case 'remove-throttle':
        return removeThrottle(admin, json);
    }
  });
}

async function electLeaders(parsed: Parsed): Promise<number> {
  const v = parsed.values;
  const type = (v.type as string | undefined) ?? 'preferred';
  if (type !== 'preferred' && type !== 'unclean') throw new UsageError(`partitions elect-leaders: --type must be preferred or unclean, got "${type}"`);
  if (v.partition !== undefined && v.topic === undefined) throw new UsageError('partitions elect-leaders: --partition goes with --topic');
  const topic = v.topic as string | undefined;
  const partition = v.partition === undefined ? undefined : integerFlag(v.partition, 'partition', 0, 1_000_000);
  return withClient(v, async (kactus) => {
    const admin = kactus.admin();
    let topicPartitions: { topic: string; partitions: number[] }[] | null = null;
    if (topic !== undefined) {
      const [described] = await admin.describeTopics({ topics: [topic] });
      const count = described?.partitions.length ?? 0;
      if (partition !== undefined && partition >= count) {
        printError(`partitions elect-leaders: ${topic} has no partition ${partition} (it has ${count})`);
        return 1;
      }
      topicPartitions = [{ topic, partitions: partition !== undefined ? [partition] : Array.from({ length: count }, (_, i) => i) }];
    }
    await admin.electLeaders({ electionType: type === 'preferred' ? 'PREFERRED' : 'UNCLEAN', topicPartitions });
    const scope = topic === undefined ? 'every partition' : partition === undefined ? `every partition of ${topic}` : `${topic}-${partition}`;
    if (v.json) printJson({ electionType: type, topic: topic ?? null, partition: partition ?? null, elected: true });
    else printLine(`Elected ${type} leaders for ${scope} (partitions already led as asked are left as they are).`);
    return 0;
  });
}

export const partitionsSpec: CommandSpec = {
  name: 'partitions',
  description: 'Moves partition replicas between brokers (kafka-reassign-partitions) and elects leaders (kafka-leader-election).',
  subcommands: [
    {
      name: 'reassign',
      summary: 'plan, execute, follow or cancel a reassignment (one mode per run)',
      description: `Moves partition replicas between brokers. One mode per run:
  --plan      print a balanced assignment as JSON (Kafka's reassignment file format): replicas and
              preferred leaders spread evenly over the brokers (default: the live ones), racks
              respected, fewest replicas moved. The figures go to stderr, so "--plan > plan.json"
              writes a file for --execute.
  --execute   start the moves of FILE and print the current assignment (to roll back)
  --status    the reassignments in progress
  --cancel    cancel those of FILE, or all in progress
  --remove-throttle  clear the replication throttle`,
      arguments: [{ name: 'FILE', help: 'with --cancel: the reassignments to cancel (default: all in progress)', required: false }],
      options: {
        plan: { type: 'boolean', help: 'mode: print a balanced assignment' },
        execute: { type: 'string', value: 'FILE', help: 'mode: start the moves of FILE' },
        status: { type: 'boolean', help: 'mode: the reassignments in progress' },
        cancel: { type: 'boolean', help: 'mode: cancel reassignments in progress' },
        'remove-throttle': { type: 'boolean', help: 'mode: clear the replication throttle' },
        topics: { type: 'string', value: 'A,B', help: '--plan, --status: only these topics' },
        brokers: { type: 'string', value: '1,2,3', help: '--plan: place replicas on these brokers (default: the live ones)' },
        'drain-broker': { type: 'string', value: 'N', multiple: true, help: '--plan: move every replica off broker N' },
        throttle: { type: 'string', value: 'BYTES_PER_SEC', help: '--execute: cap replication catch-up traffic on every broker' },
        wait: { type: 'boolean', help: '--execute: poll until done, elect the preferred leaders of the moved partitions, remove the throttle' },
        'timeout-ms': { type: 'string', value: 'MS', help: '--wait: give up after MS', defaultHelp: String(reassignmentWaitMsDefault) },
      },
      cluster: true,
      run: reassign,
    },
    {
      name: 'elect-leaders',
      summary: 'move leadership to preferred replicas, or elect unclean leaders',
      description: `Elects leaders: preferred (the default) moves leadership to each partition's
first replica where it is in the ISR; unclean lets a replica outside the ISR
lead a partition that has no live ISR member (records it lacks are lost).
Without --topic, every partition.`,
      options: {
        type: { type: 'string', value: 'TYPE', choices: ['preferred', 'unclean'], help: 'the election', defaultHelp: 'preferred' },
        topic: { type: 'string', value: 'T', help: 'only the partitions of T' },
        partition: { type: 'string', value: 'P', help: 'with --topic: only partition P' },
      },
      cluster: true,
      run: electLeaders,
    },
  ],
};

/** Parses a `partitions` command line (exported for tests: arguments only, no cluster). */
export function parsePartitionsCommand(name: string, argv: string[]): Parsed {
  return parseArguments(partitionsSpec, [name, ...argv]);
}
