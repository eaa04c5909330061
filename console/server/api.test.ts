/**
 * The console's JSON API over real HTTP against a real 3-broker cluster
 * (in-process brokers over ws, test/client-cluster.ts): what the page and
 * scripts rely on. Topics are created, described with their sizes, altered
 * and deleted; a record just produced is browsed back byte for byte; a
 * group's lag is reported and a reset is planned (dry run) before it is
 * committed; and bad requests are refused with a status and a code.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { createLogger } from '../../runtime/logger.ts';
import { startTestCluster, type TestCluster } from '../../test/client-cluster.ts';
import { consoleHandlers } from './index.ts';
import { quantileBetween } from './stats.ts';

let cluster: TestCluster;
let server: Server;
let closeConsole: () => Promise<void>;
let base: string;
let kactus: Kactus;

beforeAll(async () => {
  cluster = await startTestCluster();
  const console = consoleHandlers({ url: cluster.urls[0]!, latency: null, log: createLogger({ test: 'console-api' }, 'silent') });
  closeConsole = console.close;
  server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    for (const handler of console.handlers) if (await handler(request, response, url)) return;
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  kactus = new Kactus({ brokers: [cluster.urls[1]!], clientId: 'console-api-test', requestTimeoutMs: 5_000 });
});

afterAll(async () => {
  await kactus?.close();
  await closeConsole?.();
  await new Promise((resolve) => server?.close(resolve));
  await cluster?.stop();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const response = await fetch(`${base}${path}`, { method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: response.status, json: await response.json() };
}

describe('the console API', () => {
  it('creates a topic, describes it with sizes and configs, alters a config, adds partitions and deletes it', async () => {
    expect(await call('POST', '/api/topics', { name: 'web-orders', partitions: 2, replicationFactor: 3, configs: { 'retention.ms': '3600000' } })).toMatchObject({ status: 201, json: { topic: 'web-orders', numPartitions: 2 } });
    await kactus.producer({ acks: 'all' }).send({ topic: 'web-orders', messages: Array.from({ length: 10 }, () => ({ value: 'v'.repeat(200), partition: 0 })) });
    const offsets = await call('GET', '/api/offsets');
    expect(offsets.json.topics.find((t: { topic: string }) => t.topic === 'web-orders').offsets).toEqual([10, 0]);
    expect(offsets.json.topics.map((t: { topic: string }) => t.topic)).not.toContain('__consumer_offsets');
    const listed = await call('GET', '/api/topics');
    const row = listed.json.find((t: { name: string }) => t.name === 'web-orders');
    expect(row).toMatchObject({ internal: false, messages: 10 });
    expect(row.partitions[0]).toMatchObject({ partition: 0, highWatermark: 10, underReplicated: false, offline: false, replicas: expect.any(Array) });
    expect(row.partitions[0].sizeBytes).toBeGreaterThan(2_000);
    expect(row.partitions[0].replicaLogs.map((r: { brokerId: number }) => r.brokerId)).toEqual([...row.partitions[0].replicas].sort());

    const one = await call('GET', '/api/topics/web-orders');
    expect(one.json.configs.find((c: { name: string }) => c.name === 'retention.ms')).toMatchObject({ value: '3600000', source: 'TOPIC_CONFIG' });
    expect((await call('POST', '/api/topics/web-orders/configs', { set: { 'retention.ms': '7200000' } })).status).toBe(200);
    expect((await call('GET', '/api/topics/web-orders')).json.configs.find((c: { name: string }) => c.name === 'retention.ms').value).toBe('7200000');
    expect((await call('POST', '/api/topics/web-orders/partitions', { count: 3 })).status).toBe(200);
    expect((await call('GET', '/api/topics/web-orders')).json.partitions).toHaveLength(3);

    expect(await call('POST', '/api/topics', { name: 'web-orders' })).toMatchObject({ status: 409, json: { error: { code: 'TOPIC_ALREADY_EXISTS' } } });
    expect((await call('DELETE', '/api/topics/web-orders')).status).toBe(200);
    expect((await call('GET', '/api/topics')).json.map((t: { name: string }) => t.name)).not.toContain('web-orders');
  });

  it('browses the latest records of a partition, from an offset and from a time, bytes kept', async () => {
    await kactus.admin().createTopics({ topics: [{ topic: 'web-browse', numPartitions: 1, replicationFactor: 3 }] });
    const binary = Buffer.from([0xff, 0x00, 0xfe]);
    await kactus.producer({ acks: 'all' }).send({ topic: 'web-browse', messages: [...Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: JSON.stringify({ n: i }), timestamp: 1_000 + i })), { key: 'bin', value: binary, headers: { trace: 'abc' }, timestamp: 2_000 }] });
    const latest = await call('GET', '/api/topics/web-browse/messages?partition=0&limit=2');
    expect(latest.json).toMatchObject({ startOffset: 4, highWatermark: 6 });
    expect(latest.json.records.map((r: { offset: number }) => r.offset)).toEqual([4, 5]);
    const last = latest.json.records[1];
    expect(last.value).toEqual({ base64: binary.toString('base64'), text: null });
    expect(last.headers).toEqual([{ key: 'trace', value: { base64: Buffer.from('abc').toString('base64'), text: 'abc' } }]);
    expect(latest.json.records[0].value.text).toBe('{"n":4}');
    expect((await call('GET', '/api/topics/web-browse/messages?partition=0&from=1&limit=2')).json.records.map((r: { offset: number }) => r.offset)).toEqual([1, 2]);
    expect((await call('GET', '/api/topics/web-browse/messages?partition=0&from=time:1003')).json.records.map((r: { offset: number }) => r.offset)).toEqual([3, 4, 5]);
    expect(await call('GET', '/api/topics/web-browse/messages?partition=7')).toMatchObject({ status: 404, json: { error: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } } });
    expect(await call('GET', '/api/topics/web-browse/messages?limit=100000')).toMatchObject({ status: 400, json: { error: { code: 'INVALID_REQUEST', message: expect.stringContaining('limit') } } });
  });

  it("reports a group's lag, plans a reset without committing it, and commits it when asked", async () => {
    await kactus.admin().createTopics({ topics: [{ topic: 'web-lag', numPartitions: 1, replicationFactor: 3 }] });
    await kactus.producer({ acks: 'all' }).send({ topic: 'web-lag', messages: Array.from({ length: 8 }, (_, i) => ({ value: `r${i}`, partition: 0 })) });
    await kactus.admin().setOffsets({ groupId: 'web-group', topic: 'web-lag', partitions: [{ partition: 0, offset: 3 }] });
    expect((await call('GET', '/api/groups')).json.map((g: { groupId: string }) => g.groupId)).toContain('web-group');
    expect((await call('GET', '/api/groups/web-group')).json).toMatchObject({ groupId: 'web-group', totalLag: 5, partitions: [{ topic: 'web-lag', partition: 0, currentOffset: 3, logEndOffset: 8, lag: 5 }] });

    const plan = await call('POST', '/api/groups/web-group/reset-offsets', { topic: 'web-lag', to: 'earliest' });
    expect(plan.json).toEqual({ groupId: 'web-group', executed: false, partitions: [{ topic: 'web-lag', partition: 0, currentOffset: 3, newOffset: 0 }] });
    expect((await call('GET', '/api/groups/web-group')).json.totalLag).toBe(5);
    await call('POST', '/api/groups/web-group/reset-offsets', { topic: 'web-lag', to: { shiftBy: 4 }, execute: true });
    expect((await call('GET', '/api/groups/web-group')).json.partitions[0]).toMatchObject({ currentOffset: 7, lag: 1 });
    expect(await call('POST', '/api/groups/web-group/reset-offsets', { topic: 'web-lag', to: 'sideways' })).toMatchObject({ status: 400, json: { error: { code: 'INVALID_REQUEST' } } });
    expect(await call('GET', '/api/groups/no-such-group')).toMatchObject({ status: 404, json: { error: { code: 'GROUP_ID_NOT_FOUND' } } });
  });

  it('refuses what it must: unknown paths, wrong methods, non-JSON and cross-site writes, internal topics', async () => {
    expect(await call('GET', '/api/nothing')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
    expect(await call('PUT', '/api/topics')).toMatchObject({ status: 405, json: { error: { code: 'METHOD_NOT_ALLOWED' } } });
    const form = await fetch(`${base}/api/topics`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x' });
    expect(form.status).toBe(415);
    expect(await call('POST', '/api/topics', { name: 'evil' }, { origin: 'http://evil.example' })).toMatchObject({ status: 403, json: { error: { code: 'CROSS_SITE_REQUEST' } } });
    expect((await call('GET', '/api/topics')).json.map((t: { name: string }) => t.name)).not.toContain('evil');
    expect(await call('POST', '/api/topics', { name: 'x', partitions: 'many' })).toMatchObject({ status: 400, json: { error: { message: expect.stringContaining('partitions') } } });
    const internal = await call('DELETE', '/api/topics/__consumer_offsets');
    expect(internal.status).toBe(400);
    expect(internal.json.error.code).toBe('INVALID_TOPIC_EXCEPTION');
    const big = await fetch(`${base}/api/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
  });

  it('serves the page, with a policy that loads nothing from elsewhere, for any non-API path', async () => {
    for (const path of ['/', '/topics/x']) {
      const page = await fetch(`${base}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(await page.text()).toContain('<script type="module" src="/app.js">');
    }
    expect((await fetch(`${base}/app.js`)).headers.get('content-type')).toMatch(/javascript/);
  });
});

describe('latency quantiles from histogram buckets', () => {
  it('interpolates within the bucket the rank falls in, between two cumulative readings', () => {
    const before = new Map([[0.001, 10], [0.01, 10], [Number.POSITIVE_INFINITY, 10]]);
    const after = new Map([[0.001, 60], [0.01, 110], [Number.POSITIVE_INFINITY, 110]]);
    // 100 new requests: 50 under 1 ms, 50 between 1 and 10 ms.
    expect(quantileBetween(before, after, 0.5)).toBeCloseTo(0.001);
    expect(quantileBetween(before, after, 0.99)).toBeCloseTo(0.001 + 0.009 * (49 / 50));
    expect(quantileBetween(after, after, 0.5)).toBeNull();
  });
});
