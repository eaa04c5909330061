/**
 * The node's messaging, asks, death watch and supervision, over the in-memory
 * transport: fast tests of logic. The same behaviour over ws between real
 * processes is tested in test/runtime-ws.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom, filter } from 'rxjs';
import { MemoryNetwork } from './memory-transport.ts';
import { Node, type Behaviour, type Terminated } from './node.ts';
import type { Ref } from './ref.ts';
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { createLogger } from './logger.ts';

const quietLogger = (nodeId: string) => createLogger({ node: nodeId }, process.env.LOG_LEVEL ?? 'silent');
/** Both nodes of a pair hold this secret: they are peers of each other. */
const secret = Buffer.from('node-test-cluster-secret-0123456789');
const fastLimits = { heartbeatIntervalMs: 20, unreachableAfterMs: 100, downAfterMs: 200, reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 50 };

const started: Node[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

async function pair(network = new MemoryNetwork(), limits = fastLimits): Promise<[Node, Node]> {
  const a = await Node.start({ nodeId: 'a', listen: { host: 'a', port: 1 }, transport: network, limits, logger: quietLogger('a'), clusterSecret: secret });
  const b = await Node.start({ nodeId: 'b', listen: { host: 'b', port: 1 }, transport: network, limits, logger: quietLogger('b'), peers: { a: a.url! }, clusterSecret: secret });
  a.addPeer('b', b.url!);
  started.push(a, b);
  return [a, b];
}

type EchoMsg = { type: 'Echo'; text: string; replyTo: Ref<string> } | { type: 'Boom' };
const echo: Behaviour<number, EchoMsg> = {
  accepts: { peer: { Echo: true, Boom: true } },
  init: () => 0,
  receive: (count, msg, ctx) => {
    if (msg.type === 'Boom') throw new Error('boom');
    ctx.node.tell(msg.replyTo, `${msg.text}#${count}`);
    return count + 1;
  },
};

type WatcherMsg = Terminated | { type: 'Watch'; target: Ref<unknown> };
function watcherBehaviour(seen: Terminated[]): Behaviour<null, WatcherMsg> {
  return {
    init: () => null,
    receive: (state, msg, ctx) => {
      if (msg.type === 'Watch') ctx.node.watch(ctx.self, msg.target);
      else seen.push(msg);
      return state;
    },
  };
}

const until = async (cond: () => boolean, timeoutMs = 3_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('runtime node (in-memory transport)', () => {
  it('asks a local and a remote actor with the same API', async () => {
    const [a, b] = await pair();
    const echoRef = b.spawn('echo', echo);
    expect(await b.ask<EchoMsg, string>(echoRef, (replyTo) => ({ type: 'Echo', text: 'local', replyTo }))).toBe('local#0');
    expect(await a.ask<EchoMsg, string>(echoRef, (replyTo) => ({ type: 'Echo', text: 'remote', replyTo }))).toBe('remote#1');
  });

  it('keeps per-sender order for many tells and batches them into few frames', async () => {
    const [a, b] = await pair();
    const received: number[] = [];
    const sink = b.spawn<null, { type: 'N'; n: number }>('sink', { accepts: { peer: { N: true } }, init: () => null, receive: (s, m) => (received.push(m.n), s) });
    for (let i = 0; i < 5_000; i += 1) expect(a.tell(sink, { type: 'N', n: i })).toBe(0);
    await until(() => received.length === 5_000);
    expect(received).toEqual([...Array(5_000).keys()]);
  });

  it('rejects an ask to a missing actor with a retriable error, and times out a silent one', async () => {
    const [a, b] = await pair();
    const missing = a.ask({ node: 'b', path: '/nobody' }, () => ({ type: 'Anything' }), { timeoutMs: 1_000 });
    await expect(missing).rejects.toMatchObject({ type: 'BROKER_NOT_AVAILABLE', retriable: true });
    const silent = b.spawn<null, unknown>('silent', { accepts: { peer: { Anything: true } }, init: () => null, receive: (s) => s });
    await expect(a.ask(silent, () => ({ type: 'Anything' }), { timeoutMs: 50 })).rejects.toMatchObject({ type: 'REQUEST_TIMED_OUT' });
  });

  it('refuses messages from the network to an actor that accepts only local ones', async () => {
    const [a, b] = await pair();
    type Ping = { type: 'Ping'; replyTo: Ref<string> };
    const internal = b.spawn<null, Ping>('internal', { init: () => null, receive: (s, m, ctx) => (ctx.node.tell(m.replyTo, 'ok'), s) });
    expect(await b.ask<Ping, string>(internal, (replyTo) => ({ type: 'Ping', replyTo }))).toBe('ok');
    await expect(a.ask<Ping, string>(internal, (replyTo) => ({ type: 'Ping', replyTo }))).rejects.toMatchObject({ type: 'CLUSTER_AUTHORIZATION_FAILED' });
  });

  it('stopping a parent stops its children (watchers of a child hear of it), and init may tell itself', async () => {
    const [a] = await pair();
    const seen: Terminated[] = [];
    const started: string[] = [];
    const parent = a.spawn<null, string>('parent', {
      init: (ctx) => {
        ctx.node.tell(ctx.self, 'hello from init');
        ctx.spawn('child', { init: () => null, receive: (s) => s });
        return null;
      },
      receive: (state, msg) => (started.push(msg), state),
    });
    const watcher = a.spawn('watcher', watcherBehaviour(seen));
    a.tell(watcher, { type: 'Watch', target: { node: 'a', path: '/parent/child' } });
    await until(() => started.length === 1);
    expect(started).toEqual(['hello from init']);
    a.stopActor(parent);
    await until(() => seen.length === 1);
    expect(seen[0]).toMatchObject({ ref: { node: 'a', path: '/parent/child' }, reason: 'stopped' });
    expect(a.hasActor('/parent/child')).toBe(false);
  });

  it('refuses tells past the mailbox bound instead of queueing without end', async () => {
    const network = new MemoryNetwork();
    const node = await Node.start({ nodeId: 'solo', transport: network, limits: { mailboxDepthMax: 10 }, logger: quietLogger('solo') });
    started.push(node);
    const slow = node.spawn<null, number>('slow', { init: () => null, receive: async (s) => (await new Promise((r) => setTimeout(r, 5)), s) });
    const results = Array.from({ length: 20 }, (_, i) => node.tell(slow, i));
    expect(results.filter((r) => r === 0)).toHaveLength(10);
    expect(results.filter((r) => r === ErrorCode.THROTTLING_QUOTA_EXCEEDED)).toHaveLength(10);
    await expect(node.ask(slow, () => 1)).rejects.toBeInstanceOf(KactusError);
  });

  it('delivers Terminated(stopped) to local and remote watchers, and at once for a missing target', async () => {
    const [a, b] = await pair();
    const seenA: Terminated[] = [];
    const seenB: Terminated[] = [];
    const target = b.spawn('target', echo);
    const watcherA = a.spawn('watcher', watcherBehaviour(seenA));
    const watcherB = b.spawn('watcher', watcherBehaviour(seenB));
    a.tell(watcherA, { type: 'Watch', target });
    b.tell(watcherB, { type: 'Watch', target });
    a.tell(watcherA, { type: 'Watch', target: { node: 'b', path: '/never-existed' } });
    await until(() => seenA.length === 1);
    expect(seenA[0]).toMatchObject({ ref: { node: 'b', path: '/never-existed' }, reason: 'stopped' });
    await new Promise((r) => setTimeout(r, 20));
    b.stopActor(target);
    await until(() => seenA.length === 2 && seenB.length === 1);
    expect(seenA[1]).toMatchObject({ ref: target, reason: 'stopped' });
    expect(seenB[0]).toMatchObject({ ref: target, reason: 'stopped' });
  });

  it('declares a silent node down and fires node-down watches', async () => {
    const [a, b] = await pair();
    const seen: Terminated[] = [];
    const target = b.spawn('target', echo);
    const watcher = a.spawn('watcher', watcherBehaviour(seen));
    a.tell(watcher, { type: 'Watch', target });
    await until(() => a.peerStatus('b') === 'up');
    const down = firstValueFrom(a.statusChanges.pipe(filter((e) => e.nodeId === 'b' && e.status === 'down')));
    await b.stop();
    await down;
    await until(() => seen.length === 1);
    expect(seen[0]).toMatchObject({ ref: target, reason: 'node-down' });
  });

  it('restarts a crashing actor with its initial state (supervision) and keeps serving', async () => {
    const [a, b] = await pair();
    const echoRef = b.spawn('echo', echo);
    expect(await a.ask<EchoMsg, string>(echoRef, (replyTo) => ({ type: 'Echo', text: 'x', replyTo }))).toBe('x#0');
    expect(await a.ask<EchoMsg, string>(echoRef, (replyTo) => ({ type: 'Echo', text: 'x', replyTo }))).toBe('x#1');
    a.tell(echoRef, { type: 'Boom' });
    expect(await a.ask<EchoMsg, string>(echoRef, (replyTo) => ({ type: 'Echo', text: 'y', replyTo }))).toBe('y#0');
    expect(b.crashActor('/echo')).toBe(true);
    expect(await a.ask<EchoMsg, string>(echoRef, (replyTo) => ({ type: 'Echo', text: 'z', replyTo }))).toBe('z#0');
  });
});
