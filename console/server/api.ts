/**
 * The console's JSON API under /api/, which the page and scripts both use.
 * Every answer is computed from the cluster through the public client
 * (clients.ts), so any broker's console shows the whole cluster and every
 * write passes the checks (and ACLs) a CLI command passes.
 *
 *   GET    /api/cluster                         brokers, controller, quorum (lag per voter), partition health counts
 *   GET    /api/topics                          every topic: partitions, leader, replicas, ISR, health, offsets, bytes
 *   POST   /api/topics                          { name, partitions?, replicationFactor?, configs? }  -> 201
 *   GET    /api/topics/NAME                     one topic as above, plus its configs
 *   DELETE /api/topics/NAME
 *   POST   /api/topics/NAME/configs             { set?: { name: value }, delete?: [name] }  (incremental)
 *   POST   /api/topics/NAME/partitions          { count }
 *   GET    /api/topics/NAME/messages            ?partition=P&from=latest|earliest|OFFSET|time:MS&limit=N  (browser.ts)
 *   GET    /api/groups                          every group: id, state, protocol type
 *   GET    /api/groups/ID                       state, members and their assignments, per partition offset, end, lag
 *   POST   /api/groups/ID/reset-offsets         { topic, partitions?, to: earliest|latest|current|{offset}|{timestamp}|{shiftBy}, execute? }
 *                                               the plan; committed only with execute: true (a dry run by default, as Kafka)
 *   GET    /api/offsets                         every partition's high watermark now, from the leaders' log dirs (the page's throughput from two reads)
 *
 * Writes are POST/DELETE with a JSON body (readJsonBody: application/json only), and a request whose Origin
 * names another host is refused: a page of another site cannot drive the console with the user's credentials.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { Admin, TopicDescription } from '../../client/admin.ts';
import type { BrokerLogDir } from '../../client/admin-log-dirs.ts';
import { clusterStatusView } from '../../cli/views/cluster-status.ts';
import { groupOffsetRows, resetOffsetsPlan, ResetRefused, type ResetTarget } from '../../cli/views/group-offsets.ts';
import { minInsyncReplicasOf, partitionHealth } from '../../cli/commands/topics.ts';
import type { ConsoleClient, ConsoleClients } from './clients.ts';
import { browseMessages, parseBrowseQuery } from './browser.ts';
import { HttpError, readJsonBody, answerError, sendJson, type HttpHandler } from './http.ts';

type Route = { method: string; pattern: RegExp; run: (call: Call) => Promise<unknown> };
type Call = { request: IncomingMessage; response: ServerResponse; url: URL; params: string[]; client: () => Promise<ConsoleClient> };

/** Topic names are [a-zA-Z0-9._-]; group ids may hold anything but a slash here (they come URL-encoded). */
const name = '([^/]{1,255})';

const routes: Route[] = [
  { method: 'GET', pattern: /^\/api\/cluster$/, run: async ({ client }) => { const c = await client(); return clusterStatusView(c.kactus, c.context.connection.node); } },
  { method: 'GET', pattern: /^\/api\/topics$/, run: async ({ client, url }) => topicsView((await client()).kactus.admin(), undefined, url.searchParams.get('internal') === 'true') },
  { method: 'POST', pattern: /^\/api\/topics$/, run: createTopic },
  { method: 'GET', pattern: new RegExp(`^/api/topics/${name}$`), run: topicView },
  { method: 'DELETE', pattern: new RegExp(`^/api/topics/${name}$`), run: async ({ client, params }) => { await (await client()).kactus.admin().deleteTopics({ topics: [params[0]!] }); return { deleted: params[0] }; } },
  { method: 'POST', pattern: new RegExp(`^/api/topics/${name}/configs$`), run: alterTopicConfigs },
  { method: 'POST', pattern: new RegExp(`^/api/topics/${name}/partitions$`), run: addPartitions },
  { method: 'GET', pattern: new RegExp(`^/api/topics/${name}/messages$`), run: async ({ client, params, url }) => { const c = await client(); return browseMessages(c.context, c.kactus.admin(), params[0]!, parseBrowseQuery(url.searchParams)); } },
  { method: 'GET', pattern: /^\/api\/groups$/, run: async ({ client }) => (await (await client()).kactus.admin().listGroups()).groups.sort((a, b) => a.groupId.localeCompare(b.groupId)) },
  { method: 'GET', pattern: new RegExp(`^/api/groups/${name}$`), run: groupView },
  { method: 'POST', pattern: new RegExp(`^/api/groups/${name}/reset-offsets$`), run: resetGroupOffsets },
  { method: 'GET', pattern: /^\/api\/offsets$/, run: endOffsets },
];

export function consoleApiHandler(clients: ConsoleClients): HttpHandler {
  return async (request, response, url) => {
    if (!url.pathname.startsWith('/api/')) return false;
    try {
      const matching = routes.filter((r) => r.pattern.test(url.pathname));
      if (matching.length === 0) throw new HttpError(404, 'NOT_FOUND', `no API at ${url.pathname}`);
      const route = matching.find((r) => r.method === request.method);
      if (route === undefined) {
        response.setHeader('allow', matching.map((r) => r.method).join(', '));
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${url.pathname}`);
      }
      if (request.method !== 'GET') refuseCrossSite(request);
      const params = route.pattern.exec(url.pathname)!.slice(1).map((p) => decodeURIComponent(p));
      const result = await route.run({ request, response, url, params, client: () => clients.clientFor(request) });
      if (!response.headersSent) sendJson(response, request.method === 'POST' && url.pathname === '/api/topics' ? 201 : 200, result);
    } catch (err) {
      if (err instanceof HttpError && err.status === 401 && clients.authenticates) response.setHeader('www-authenticate', 'Basic realm="kactus", charset="UTF-8"');
      // The rest of a body too large is not read: the connection cannot carry another request after it.
      if (err instanceof HttpError && err.status === 413) response.setHeader('connection', 'close');
      answerError(response, err instanceof ResetRefused ? new HttpError(409, 'REBALANCE_IN_PROGRESS', err.message) : err);
    }
    return true;
  };
}

/** A write whose Origin is another host than the one it was sent to came from another site's page. */
function refuseCrossSite(request: IncomingMessage): void {
  const origin = request.headers.origin;
  if (origin === undefined) return; // curl, scripts
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new HttpError(403, 'CROSS_SITE_REQUEST', `Origin ${origin.slice(0, 100)} is not a URL`);
  }
  if (host !== request.headers.host) throw new HttpError(403, 'CROSS_SITE_REQUEST', `a page of ${origin.slice(0, 100)} may not write through this console`);
}

// ---------------------------------------------------------------- topics

/** A partition as the topic description has it, with its health, offsets and bytes on disk. */
export type PartitionRow = Omit<TopicDescription['partitions'][number], 'errorCode'> & {
  underReplicated: boolean;
  underMinIsr: boolean;
  offline: boolean;
  logStartOffset: number | null;
  highWatermark: number | null;
  /** Bytes on the leader's disk. */
  sizeBytes: number | null;
  /** Per replica: bytes on its disk and log end offset. */
  replicaLogs: { brokerId: number; sizeBytes: number; logEndOffset: number }[];
};

export type TopicRow = { name: string; topicId: string; internal: boolean; minInsyncReplicas: number; sizeBytes: number; messages: number; partitions: PartitionRow[] };

/** The log dirs of the brokers that answer: one broker down leaves its partitions out, not the page. */
async function answeringLogDirs(admin: Admin, brokerIds: readonly number[]): Promise<BrokerLogDir[]> {
  const dirs = await Promise.all(brokerIds.map((brokerId) => admin.describeLogDirs({ brokerIds: [brokerId] }).then((d) => d[0]!, () => null)));
  return dirs.filter((d): d is BrokerLogDir => d !== null);
}

async function topicsView(admin: Admin, names: readonly string[] | undefined, includeInternal: boolean): Promise<TopicRow[]> {
  const [cluster, described] = await Promise.all([admin.describeCluster(), admin.describeTopics(names === undefined ? {} : { topics: names })]);
  const topics = described.filter((t) => includeInternal || names !== undefined || !t.isInternal).sort((a, b) => a.name.localeCompare(b.name));
  const live = new Set(cluster.brokers.map((b) => b.brokerId));
  const [minIsr, dirs] = await Promise.all([
    minInsyncReplicasOf(admin, topics.map((t) => t.name)),
    answeringLogDirs(admin, cluster.brokers.map((b) => b.brokerId)),
  ]);
  const logs = new Map<string, { brokerId: number; sizeBytes: number; logEndOffset: number; logStartOffset: number; highWatermark: number }[]>();
  for (const dir of dirs) {
    for (const p of dir.partitions) {
      const key = `${p.topic}\0${p.partition}`;
      logs.set(key, [...(logs.get(key) ?? []), { brokerId: dir.brokerId, sizeBytes: p.sizeBytes, logEndOffset: p.logEndOffset, logStartOffset: p.logStartOffset, highWatermark: p.highWatermark }]);
    }
  }
  return topics.map((t) => {
    const minInsyncReplicas = minIsr.get(t.name) ?? 1;
    const partitions = t.partitions
      .map((p): PartitionRow => {
        const health = partitionHealth(p, minInsyncReplicas, live);
        const replicaLogs = (logs.get(`${t.name}\0${p.partition}`) ?? []).sort((a, b) => a.brokerId - b.brokerId);
        const leaderLog = replicaLogs.find((r) => r.brokerId === p.leader);
        return {
          partition: p.partition,
          leader: p.leader,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: p.offlineReplicas,
          underReplicated: health.underReplicated,
          underMinIsr: health.underMinIsr,
          offline: health.unavailable,
          logStartOffset: leaderLog?.logStartOffset ?? null,
          highWatermark: leaderLog?.highWatermark ?? null,
          sizeBytes: leaderLog?.sizeBytes ?? null,
          replicaLogs: replicaLogs.map((r) => ({ brokerId: r.brokerId, sizeBytes: r.sizeBytes, logEndOffset: r.logEndOffset })),
        };
      })
      .sort((a, b) => a.partition - b.partition);
    return {
      name: t.name,
      topicId: t.topicId,
      internal: t.isInternal,
      minInsyncReplicas,
      sizeBytes: partitions.reduce((sum, p) => sum + (p.sizeBytes ?? 0), 0),
      messages: partitions.reduce((sum, p) => sum + Math.max(0, (p.highWatermark ?? 0) - (p.logStartOffset ?? 0)), 0),
      partitions,
    };
  });
}

async function topicView({ client, params }: Call): Promise<unknown> {
  const admin = (await client()).kactus.admin();
  const [topic] = await topicsView(admin, [params[0]!], true);
  const [configs] = await admin.describeConfigs({ resources: [{ type: 'topic', name: params[0]! }] });
  return { ...topic!, configs: configs!.configs.sort((a, b) => a.name.localeCompare(b.name)) };
}

/** A body field: `kind` says what it must be; a missing optional one is undefined. */
function field<T>(body: Record<string, unknown>, key: string, check: (v: unknown) => v is T, what: string, required = false): T | undefined {
  const value = body[key];
  if (value === undefined || value === null) {
    if (required) throw new HttpError(400, 'INVALID_REQUEST', `${key} is required (${what})`);
    return undefined;
  }
  if (!check(value)) throw new HttpError(400, 'INVALID_REQUEST', `${key} must be ${what}`);
  return value;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isOffset = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isStringMap = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every(isString);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isPartitionList = (v: unknown): v is number[] => Array.isArray(v) && v.every(isOffset);

async function body(request: IncomingMessage): Promise<Record<string, unknown>> {
  const value = await readJsonBody(request);
  if (!isObject(value)) throw new HttpError(400, 'INVALID_REQUEST', 'the body must be a JSON object');
  return value;
}

async function createTopic({ request, client }: Call): Promise<unknown> {
  const b = await body(request);
  const topic = field(b, 'name', isString, 'a topic name', true)!;
  const numPartitions = field(b, 'partitions', isCount, 'an integer >= 1');
  const replicationFactor = field(b, 'replicationFactor', isCount, 'an integer >= 1');
  const configs = field(b, 'configs', isStringMap, 'an object of config names to string values');
  const [created] = await (await client()).kactus.admin().createTopics({ topics: [{ topic, ...(numPartitions === undefined ? {} : { numPartitions }), ...(replicationFactor === undefined ? {} : { replicationFactor }), ...(configs === undefined ? {} : { configs }) }] });
  return created;
}

async function alterTopicConfigs({ request, client, params }: Call): Promise<unknown> {
  const b = await body(request);
  const set = field(b, 'set', isStringMap, 'an object of config names to string values');
  const remove = field(b, 'delete', isStringList, 'a list of config names');
  if (set === undefined && remove === undefined) throw new HttpError(400, 'INVALID_REQUEST', 'give set and/or delete');
  await (await client()).kactus.admin().alterConfigs({ resources: [{ type: 'topic', name: params[0]!, ...(set === undefined ? {} : { set }), ...(remove === undefined ? {} : { delete: remove }) }] });
  return { topic: params[0], set: set ?? {}, deleted: remove ?? [] };
}

async function addPartitions({ request, client, params }: Call): Promise<unknown> {
  const count = field(await body(request), 'count', isCount, 'the new partition count, an integer >= 1', true)!;
  await (await client()).kactus.admin().createPartitions({ topicPartitions: [{ topic: params[0]!, count }] });
  return { topic: params[0], partitions: count };
}

/**
 * Every partition's high watermark now, from its leader's log dir: one request per broker whatever the number of
 * topics (the page asks every second), not one ListOffsets per topic.
 */
async function endOffsets({ client }: Call): Promise<unknown> {
  const admin = (await client()).kactus.admin();
  const [topics, cluster] = await Promise.all([admin.describeTopics({}), admin.describeCluster()]);
  const dirs = await answeringLogDirs(admin, cluster.brokers.map((b) => b.brokerId));
  const internal = new Set(topics.filter((t) => t.isInternal).map((t) => t.name));
  const byTopic = new Map<string, number[]>();
  for (const dir of dirs)
    for (const p of dir.partitions) {
      if (p.role !== 'leader' || internal.has(p.topic)) continue;
      const offsets = byTopic.get(p.topic) ?? [];
      offsets[p.partition] = p.highWatermark;
      byTopic.set(p.topic, offsets);
    }
  return { atMs: Date.now(), topics: [...byTopic].map(([topic, offsets]) => ({ topic, offsets: Array.from(offsets, (o) => o ?? 0) })) };
}

// ---------------------------------------------------------------- groups

async function groupView({ client, params }: Call): Promise<unknown> {
  const admin = (await client()).kactus.admin();
  const groupId = params[0]!;
  const [{ groups }, offsets] = await Promise.all([admin.describeGroups([groupId]), groupOffsetRows(admin, groupId)]);
  const view = groups[0]!;
  if (!offsets.exists) throw new KactusError(ErrorCode.GROUP_ID_NOT_FOUND, `group "${groupId}" does not exist`);
  return {
    groupId,
    state: view.state,
    protocolType: view.protocolType,
    protocol: view.protocol,
    members: view.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost, assignment: m.assignment })),
    partitions: offsets.rows.map(({ group: _group, ...row }) => row),
    // Lag is known only where the group has committed an offset (kafka-consumer-groups prints "-" otherwise):
    // null until one is, so a group that has not committed yet never reads as caught up.
    totalLag: offsets.rows.some((r) => r.lag !== null) ? offsets.rows.reduce((sum, r) => sum + (r.lag ?? 0), 0) : null,
  };
}

function resetTarget(to: unknown): ResetTarget {
  if (to === 'earliest' || to === 'latest' || to === 'current') return { kind: `to-${to}` };
  if (isObject(to)) {
    if (isOffset(to.offset)) return { kind: 'to-offset', offset: to.offset };
    if (isOffset(to.timestamp)) return { kind: 'to-timestamp', timestampMs: to.timestamp };
    if (Number.isSafeInteger(to.shiftBy)) return { kind: 'shift-by', by: to.shiftBy as number };
  }
  throw new HttpError(400, 'INVALID_REQUEST', 'to must be "earliest", "latest", "current", { offset: N }, { timestamp: MS } or { shiftBy: N }');
}

async function resetGroupOffsets({ request, client, params }: Call): Promise<unknown> {
  const b = await body(request);
  const topic = field(b, 'topic', isString, 'a topic name', true)!;
  const partitions = field(b, 'partitions', isPartitionList, 'a list of partition numbers');
  const execute = field(b, 'execute', (v): v is boolean => typeof v === 'boolean', 'true or false') ?? false;
  const plan = await resetOffsetsPlan((await client()).kactus.admin(), { groupId: params[0]!, topics: [{ topic, partitions }], target: resetTarget(b.to), execute });
  return { groupId: params[0], executed: execute, partitions: plan.map(({ group: _group, ...row }) => row) };
}
