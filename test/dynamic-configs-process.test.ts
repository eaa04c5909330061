/**
 * Dynamic broker configs on 3 broker processes: set with Admin.alterConfigs
 * (cluster default or one broker), applied by the running brokers without a
 * restart, and undone by deleting them. Each check is what a user sees:
 *  - min.insync.replicas as the cluster default: acks=all writes to a topic
 *    without its own value are refused (NOT_ENOUGH_REPLICAS) while the ISR is
 *    smaller, and accepted again once the default is deleted;
 *  - log.segment.bytes and log.retention.ms: an open log rolls small
 *    segments, then drops the old ones (its earliest offset moves up);
 *  - replica.lag.time.max.ms: a paused follower leaves the ISR long before
 *    the static 30 s (broker sessions here last 60 s, so fencing cannot be
 *    what removed it), and comes back once resumed;
 *  - log.level on one broker: it logs at debug, the others do not change,
 *    and deleting the config puts it back.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Kactus, KactusError, type Admin } from '../client/index.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { killAllChildren } from './support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
let admin: Admin;
const topic = 'dyn';

beforeAll(async () => {
  cluster = await startTestCluster(3, ['log.retention.check.interval.ms=300', 'replica.lag.time.max.ms=30000', 'broker.session.timeout.ms=60000']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'dynamic-configs', requestTimeoutMs: 5_000 });
  admin = kactus.admin();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 3 }] });
  await cluster.waitForLeaders(topic, 1, 3);
}, 60_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadlineMs = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadlineMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function partitionState() {
  const answer = await cluster.metadata([topic]);
  return answer.topics[0]!.partitions[0]!;
}

const setDefault = (configs: Record<string, string>) => admin.alterConfigs({ resources: [{ type: 'broker', name: '', set: configs }] });
const deleteDefault = (names: string[]) => admin.alterConfigs({ resources: [{ type: 'broker', name: '', delete: names }] });

describe('dynamic broker configs (broker processes)', () => {
  it('min.insync.replicas as the cluster default refuses acks=all writes at once, and deleting it lets them through', async () => {
    const producer = kactus.producer({ acks: 'all', retriesMax: 0, lingerMs: 0 });
    await producer.send({ topic, messages: [{ value: 'before' }] });
    await setDefault({ 'min.insync.replicas': '4' });
    const refusal = await until('an acks=all write refused for the ISR size', async () => {
      const err = await producer.send({ topic, messages: [{ value: 'refused?' }] }).then(() => undefined, (e: unknown) => e);
      return err instanceof KactusError && err.code === ErrorCode.NOT_ENOUGH_REPLICAS ? err : undefined;
    });
    expect(refusal.message).toMatch(/min\.insync\.replicas 4/);
    await deleteDefault(['min.insync.replicas']);
    await until('acks=all writes accepted again', async () => producer.send({ topic, messages: [{ value: 'after' }] }).then(() => true, () => undefined));
    await producer.close();
  }, 40_000);

  it('log.segment.bytes and log.retention.ms reach the open log: small segments roll, then the old ones go', async () => {
    const { leader } = await partitionState();
    const dir = join(cluster.dataDir, `broker-${leader}`, 'partitions', `${topic}-0`);
    const segments = () => readdirSync(dir).filter((f) => f.endsWith('.log')).length;
    expect(segments()).toBe(1);
    await setDefault({ 'log.segment.bytes': '1024' });
    // Each send is its own batch of about 600 bytes: two fill a 1 KiB segment.
    const producer = kactus.producer({ acks: 'all', lingerMs: 0 });
    await until('the log to roll 1 KiB segments', async () => {
      await producer.send({ topic, messages: [{ value: 'x'.repeat(500) }] });
      return segments() >= 4 ? true : undefined;
    });
    const earliestBefore = (await admin.listOffsets({ topic, at: 'earliest' }))[0]!.offset;
    await setDefault({ 'log.retention.ms': '1000' });
    const earliestAfter = await until('retention to drop old segments', async () => {
      const offset = (await admin.listOffsets({ topic, at: 'earliest' }))[0]!.offset;
      return offset > earliestBefore ? offset : undefined;
    });
    expect(earliestAfter).toBeGreaterThan(earliestBefore);
    await deleteDefault(['log.segment.bytes', 'log.retention.ms']);
    await producer.close();
  }, 40_000);

  it('replica.lag.time.max.ms takes a paused follower out of the ISR within seconds, not the static 30 s; it returns once resumed', async () => {
    const { controllerId } = await admin.describeCluster();
    const { leader } = await partitionState();
    const follower = [1, 2, 3].find((id) => id !== leader && id !== controllerId)!;
    await setDefault({ 'replica.lag.time.max.ms': '1000' });
    const child = cluster.brokers.find((b) => b.id === follower)!.child!;
    child.process.kill('SIGSTOP');
    try {
      // The static bound is 30 s and broker sessions last 60 s: within 20 s, only the dynamic 1 s explains it.
      const isr = await until('the paused follower to leave the ISR', async () => {
        const p = await partitionState();
        return p.isr.includes(follower) ? undefined : p.isr;
      }, 20_000);
      expect(isr.length).toBe(2);
    } finally {
      child.process.kill('SIGCONT');
    }
    await until('the follower back in the ISR', async () => ((await partitionState()).isr.includes(follower) ? true : undefined), 30_000);
    await deleteDefault(['replica.lag.time.max.ms']);
  }, 80_000);

  it('log.level set for one broker changes its level only, and deleting it restores the level it started with', async () => {
    const stderrLines = (id: number) => cluster.brokers.find((b) => b.id === id)!.child!.stderrTail().split('\n');
    const debugLines = (id: number) => stderrLines(id).filter((l) => l.startsWith('{"level":20')).length;
    const changedTo = (id: number, to: string) => stderrLines(id).filter((l) => l.includes('broker.log_level_changed') && l.includes(`"to":"${to}"`)).length;
    // A message to a path nobody holds is a dead letter, which a broker logs at debug: something to log on demand.
    const poke = () => {
      for (const id of [1, 2, 3]) cluster.client.tell({ node: String(id), path: '/no-such-actor' }, { type: 'Nothing' });
    };
    await admin.alterConfigs({ resources: [{ type: 'broker', name: '2', set: { 'log.level': 'debug' } }] });
    await until('broker 2 to log at debug', async () => {
      poke();
      return debugLines(2) > 0 ? true : undefined;
    });
    const described = await admin.describeConfigs({ resources: [{ type: 'broker', name: '2', configNames: ['log.level'] }] });
    expect(described[0]!.configs).toEqual([expect.objectContaining({ name: 'log.level', value: 'debug', source: 'DYNAMIC_BROKER_CONFIG' })]);
    // Brokers 1 and 3 got the same dead letters and stayed at info.
    expect(debugLines(1) + debugLines(3)).toBe(0);
    expect(changedTo(1, 'debug') + changedTo(3, 'debug')).toBe(0);
    await admin.alterConfigs({ resources: [{ type: 'broker', name: '2', delete: ['log.level'] }] });
    await until('broker 2 back at info', async () => (changedTo(2, 'info') > 0 ? true : undefined));
  }, 40_000);
});
