/**
 * Consumers as separate processes against broker processes (3 brokers,
 * RF 3, 3 offsets partitions). Goal: the group behaves as Kafka's does when a
 * member dies and when all restart. Method: three member processes
 * (test/fixtures/consumer-member.ts) on a 6-partition topic must get two
 * partitions each; one is SIGKILLed mid-stream and the other two must own
 * all six once its session expires (waited for under a hang bound, not
 * timed); every produced record is
 * reported processed at least once, and no (generation, partition) is
 * processed by two processes. Then all stop gracefully (commit, leave),
 * more records are produced, and three new members process exactly those.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../client/index.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { killAllChildren, startChild, until, type Child } from './support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
const topic = 'mp-orders';
const sessionMs = 6_000;
/** A hang bound, not a latency limit: the survivors take over one session timeout and a rebalance after the kill. */
const takeoverHangBoundMs = sessionMs + 15_000;

beforeAll(async () => {
  cluster = await startTestCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'mp-test', requestTimeoutMs: 5_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 3 }] });
}, 60_000);

afterEach(async () => {
  await killAllChildren();
});

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

async function produce(from: number, count: number): Promise<void> {
  const producer = kactus.producer({ lingerMs: 2 });
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ value: `r${from + i}`, partition: (from + i) % 6 })) });
  await producer.close();
}

function member(): Child {
  return startChild('test/fixtures/consumer-member.ts', ['--brokers', cluster.brokers.map((b) => b.url).join(','), '--group', 'mp-group', '--topic', topic, '--delay-ms', '2', '--session-ms', String(sessionMs)]);
}

const lastAssignment = (c: Child): number[] => {
  const lines = c.lines.filter((l) => l.event === 'assignment');
  return (lines.at(-1)?.partitions as number[] | undefined) ?? [];
};
const processed = (c: Child): [number, number, number][] => c.lines.filter((l) => l.event === 'records').flatMap((l) => l.items as [number, number, number][]);

describe('consumer group across processes', () => {
  it('splits, survives a SIGKILLed member, processes everything at least once, and resumes from commits after a restart', async () => {
    const members = [member(), member(), member()];
    await Promise.all(members.map((m) => m.waitFor('ready', 20_000)));
    await until(() => members.every((m) => lastAssignment(m).length === 2), 25_000, 'two partitions per member');
    // Records only now: on a loaded machine the first member to join used to take all six partitions and process
    // every record before the others joined, leaving member 0 nothing to process (the test timed out waiting).
    await produce(0, 3_000);

    await until(() => processed(members[0]!).length > 50, 30_000, 'member 0 processing');
    members[0]!.process.kill('SIGKILL');
    await members[0]!.exited;
    await until(() => lastAssignment(members[1]!).length === 3 && lastAssignment(members[2]!).length === 3, takeoverHangBoundMs, 'the survivors own all six partitions');
    await produce(3_000, 1_200);

    const all = (): [number, number, number][] => members.flatMap(processed);
    const count = 4_200;
    await until(() => new Set(all().map(([p, o]) => `${p}:${o}`)).size >= count, 30_000, 'every record processed');
    const seen = new Set(all().map(([p, o]) => `${p}:${o}`));
    for (let p = 0; p < 6; p++) for (let o = 0; o < count / 6; o++) expect(seen.has(`${p}:${o}`)).toBe(true);
    // No partition processed by two members in one generation.
    const owner = new Map<string, number>();
    members.forEach((m, i) =>
      processed(m).forEach(([p, , g]) => {
        const key = `${g}:${p}`;
        expect(owner.get(key) ?? i).toBe(i);
        owner.set(key, i);
      }),
    );

    // Graceful stop: commit and leave; then restart three and feed more.
    await Promise.all(members.slice(1).map(async (m) => (m.process.kill('SIGTERM'), m.waitFor('closed', 20_000))));
    await produce(count, 600);
    const again = [member(), member(), member()];
    await until(() => new Set(again.flatMap(processed).map(([p, o]) => `${p}:${o}`)).size >= 600, 30_000, 'the new records processed after the restart');
    const replayed = again.flatMap(processed).filter(([p, o]) => o < count / 6);
    expect(replayed).toEqual([]);
  }, 90_000);
});
