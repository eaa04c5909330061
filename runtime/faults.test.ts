/**
 * Fault injection over the in-memory transport: the same seed gives the same
 * drops and duplicates; a partition makes both sides see each other down and
 * a heal brings them back. Method: two nodes in this process, one FaultPlan.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { filter, firstValueFrom } from 'rxjs';
import { FaultPlan } from './faults.ts';
import { MemoryNetwork } from './memory-transport.ts';
import { Node } from './node.ts';
import { createLogger } from './logger.ts';
import type { Ref } from './ref.ts';

/** Both nodes hold it: they are peers, and their actors take peer messages. */
const secret = Buffer.from('faults-test-cluster-secret-0123456789');

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function twoNodes(faults: FaultPlan, limits: Record<string, number>): Promise<[Node, Node]> {
  const network = new MemoryNetwork();
  const quiet = (id: string) => createLogger({ node: id }, 'silent');
  const a = await Node.start({ nodeId: 'a', listen: { host: 'a', port: 1 }, transport: network, faults, limits, logger: quiet('a'), clusterSecret: secret });
  const b = await Node.start({ nodeId: 'b', listen: { host: 'b', port: 1 }, transport: network, faults, limits, logger: quiet('b'), clusterSecret: secret });
  a.addPeer('b', b.url!);
  b.addPeer('a', a.url!);
  nodes.push(a, b);
  return [a, b];
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Heartbeats slow enough that none fire during a run, so only our frames consume random draws. */
const quietLimits = { heartbeatIntervalMs: 5_000, unreachableAfterMs: 10_000, downAfterMs: 20_000 };

async function deliveredSequence(seed: number): Promise<number[]> {
  const faults = new FaultPlan(seed);
  const [a, b] = await twoNodes(faults, quietLimits);
  const received: number[] = [];
  type N = { type: 'N'; n: number };
  const sink = b.spawn<null, N>('sink', { accepts: { peer: { N: true } }, init: () => null, receive: (s, m) => (received.push(m.n), s) });
  // Connect without faults, then turn them on: the hello exchange is not part of the sequence.
  await a.ask({ node: 'b', path: '/sink' }, (): N => ({ type: 'N', n: -1 }), { timeoutMs: 50 }).catch(() => undefined);
  faults.set('a', 'b', { dropRate: 0.3, duplicateRate: 0.2 });
  for (let i = 0; i < 300; i += 1) {
    a.tell(sink as Ref<N>, { type: 'N', n: i });
    await turn();
    await turn();
  }
  for (let i = 0; i < 20; i += 1) await turn();
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
  return received.filter((n) => n >= 0);
}

describe('fault plan over the in-memory transport', () => {
  it('drops and duplicates deterministically from a seed', async () => {
    const first = await deliveredSequence(42);
    const again = await deliveredSequence(42);
    const other = await deliveredSequence(7);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(first.length).toBeGreaterThan(150);
    expect(new Set(first).size).toBeLessThan(300); // some dropped
    expect(first.length).toBeGreaterThan(new Set(first).size); // some duplicated
  });

  it('a partition makes both sides see each other down; a heal brings them back', async () => {
    const faults = new FaultPlan(1);
    const [a, b] = await twoNodes(faults, { heartbeatIntervalMs: 20, unreachableAfterMs: 100, downAfterMs: 200, reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 50 });
    type Ping = { type: 'Ping'; replyTo: Ref<string> };
    b.spawn<null, Ping>('echo', { accepts: { peer: { Ping: true } }, init: () => null, receive: (s, m, ctx) => (ctx.node.tell(m.replyTo, 'pong'), s) });
    expect(await a.ask({ node: 'b', path: '/echo' }, (replyTo: Ref<string>): Ping => ({ type: 'Ping', replyTo }))).toBe('pong');

    const aSeesDown = firstValueFrom(a.statusChanges.pipe(filter((e) => e.nodeId === 'b' && e.status === 'down')));
    const bSeesDown = firstValueFrom(b.statusChanges.pipe(filter((e) => e.nodeId === 'a' && e.status === 'down')));
    faults.partition(['a'], ['b']);
    await Promise.all([aSeesDown, bSeesDown]);
    await expect(a.ask({ node: 'b', path: '/echo' }, (replyTo: Ref<string>): Ping => ({ type: 'Ping', replyTo }), { timeoutMs: 100 })).rejects.toMatchObject({ type: 'REQUEST_TIMED_OUT' });

    const aSeesUp = firstValueFrom(a.statusChanges.pipe(filter((e) => e.nodeId === 'b' && e.status === 'up')));
    faults.heal();
    await aSeesUp;
    expect(await a.ask({ node: 'b', path: '/echo' }, (replyTo: Ref<string>): Ping => ({ type: 'Ping', replyTo }))).toBe('pong');
  });
});
