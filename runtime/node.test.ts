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
import { Kind, decodeFrame, encodeEnvelope } from './envelope.ts';
import { newChallenge, proofFor } from './peer-auth.ts';
import { CloseCode, type Link, type LinkCloseReason, type Listener, type Transport } from './transport.ts';

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

  // downAfterMs is a minute here, beyond the test's timeout: only the refusal can make the peer down.
  const slowSilence = { ...fastLimits, unreachableAfterMs: 30_000, downAfterMs: 60_000 };

  it('declares a peer down at once when its link closes and its address refuses connections, without waiting out the silence', async () => {
    const [a, b] = await pair(new MemoryNetwork(), slowSilence);
    const seen: Terminated[] = [];
    const target = b.spawn('target', echo);
    const watcher = a.spawn('watcher', watcherBehaviour(seen));
    a.tell(watcher, { type: 'Watch', target });
    expect(await a.ask<EchoMsg, string>(target, (replyTo) => ({ type: 'Echo', text: 'x', replyTo }))).toBe('x#0');
    const down = firstValueFrom(a.statusChanges.pipe(filter((e) => e.nodeId === 'b' && e.status === 'down')));
    await b.stop();
    await down;
    await until(() => seen.length === 1);
    expect(seen[0]).toMatchObject({ ref: target, reason: 'node-down' });
    expect(a.stats.peersRefused).toBe(1);
  });

  it('dials a peer whose only link was the one it opened to us when that link closes, and declares it down when refused', async () => {
    const network = new MemoryNetwork();
    const a = await Node.start({ nodeId: 'a', listen: { host: 'a', port: 1 }, transport: network, limits: slowSilence, logger: quietLogger('a'), clusterSecret: secret });
    // c dials a; a learns c's listen address from its hello but has never dialed it.
    const c = await Node.start({ nodeId: 'c', listen: { host: 'c', port: 1 }, transport: network, limits: slowSilence, logger: quietLogger('c'), peers: { a: a.url! }, clusterSecret: secret });
    started.push(a, c);
    const target = c.spawn('target', echo);
    expect(await c.ask<EchoMsg, string>({ node: 'a', path: '/echo' }, (replyTo) => ({ type: 'Echo', text: 'hi', replyTo })).catch(() => 'no echo on a')).toBe('no echo on a');
    await until(() => a.peerStatus('c') === 'up');
    const seen: Terminated[] = [];
    const watcher = a.spawn('watcher', watcherBehaviour(seen));
    a.tell(watcher, { type: 'Watch', target });
    const down = firstValueFrom(a.statusChanges.pipe(filter((e) => e.nodeId === 'c' && e.status === 'down')));
    await c.stop();
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

/**
 * A hand-driven link to a node over the memory transport: sends any envelope,
 * keeps every value it receives (decoded), as an outside client would.
 */
async function rawLink(network: MemoryNetwork, url: string, nodeId: string) {
  const link = await network.dial(url);
  const incarnation = `${nodeId}-1`;
  const challenge = newChallenge();
  const received: unknown[][] = [];
  let closeReason: LinkCloseReason | undefined;
  link.onFrame((frame) => {
    const values = decodeFrame(frame);
    if (Array.isArray(values)) received.push(...(values as unknown[][]));
  });
  void link.closed.then((why) => (closeReason = why));
  const serverHello = async (): Promise<unknown[]> => {
    await until(() => received.some((v) => v[1] === Kind.Hello) || closeReason !== undefined);
    const hello = received.find((v) => v[1] === Kind.Hello);
    if (hello === undefined) throw new Error(`no hello: link closed ${JSON.stringify(closeReason)}`);
    return hello;
  };
  return {
    link,
    received,
    closeReason: () => closeReason,
    /** Values told to `path` on this link. */
    toldTo: (path: string) => received.filter((v) => v[1] === Kind.Tell && v[2] === path).map((v) => v[3]),
    errorRepliesTo: (path: string) => received.filter((v) => v[1] === Kind.ErrorReply && v[2] === path).map((v) => v[3] as number),
    async helloAsClient(): Promise<void> {
      link.send(encodeEnvelope({ kind: Kind.Hello, nodeId, incarnation, listenUrl: null, role: 'client', challenge, proof: null }));
      await serverHello();
    },
    /** A peer hello, answered by an Auth proven with `withSecret` (the right secret or not). */
    async helloAsPeer(withSecret: Uint8Array): Promise<void> {
      link.send(encodeEnvelope({ kind: Kind.Hello, nodeId, incarnation, listenUrl: null, role: 'peer', challenge, proof: null }));
      const [, , serverId, serverIncarnation, , , serverChallenge] = (await serverHello()) as [number, number, string, string, unknown, unknown, Uint8Array];
      const proof = proofFor(withSecret, 'dialer', serverChallenge, { nodeId, incarnation }, { nodeId: serverId, incarnation: serverIncarnation });
      link.send(encodeEnvelope({ kind: Kind.Auth, proof }));
    },
    tell(targetPath: string, message: unknown): void {
      link.send(encodeEnvelope({ kind: Kind.Tell, targetPath, message }));
    },
    ask(targetPath: string, replyToPath: string, message: unknown): void {
      link.send(encodeEnvelope({ kind: Kind.Ask, targetPath, replyToPath, message }));
    },
    errorReply(replyToPath: string, errorCode: number, errorMessage: string): void {
      link.send(encodeEnvelope({ kind: Kind.ErrorReply, replyToPath, errorCode, errorMessage }));
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The memory transport with sockets that fill up: frames a listener sends on
 * an accepted link are held (counted in bufferedBytes, not delivered) while
 * `reading` is false, as the kernel holds bytes for a peer that does not read.
 * drainAll() delivers what is held.
 */
class UnreadNetwork implements Transport {
  reading = true;
  private readonly held: { link: Link; frames: Uint8Array[]; bytes: number; drains: (() => void)[] }[] = [];
  constructor(private readonly inner: MemoryNetwork) {}

  listen(host: string, port: number, onLink: (link: Link) => void): Promise<Listener> {
    return this.inner.listen(host, port, (link) => onLink(this.wrap(link)));
  }

  dial(url: string): Promise<Link> {
    return this.inner.dial(url);
  }

  drainAll(): void {
    for (const entry of this.held) {
      for (const frame of entry.frames.splice(0)) entry.link.send(frame);
      entry.bytes = 0;
      for (const drain of entry.drains.splice(0)) drain();
    }
  }

  private wrap(inner: Link): Link {
    const entry = { link: inner, frames: [] as Uint8Array[], bytes: 0, drains: [] as (() => void)[] };
    this.held.push(entry);
    return {
      remoteAddress: inner.remoteAddress,
      closed: inner.closed,
      send: (frame) => {
        if (this.reading && entry.frames.length === 0) return inner.send(frame);
        entry.frames.push(frame);
        entry.bytes += frame.length;
      },
      bufferedBytes: () => entry.bytes,
      onFrame: (handler) => inner.onFrame(handler),
      onDrain: (handler) => entry.drains.push(handler),
      pause: () => inner.pause(),
      resume: () => inner.resume(),
      close: (code, reason) => inner.close(code, reason),
    };
  }
}

describe('runtime node: the trust boundary (in-memory transport)', () => {
  type Ping = { type: 'Ping'; replyTo: Ref<unknown> };
  /** Tells replyTo { type: 'Pong', from } — an object, so the node it reaches could take it. */
  const ponger = (accepts: Behaviour<null, Ping>['accepts']): Behaviour<null, Ping> => ({
    accepts,
    init: () => null,
    receive: (s, m, ctx) => (ctx.node.tell(m.replyTo, { type: 'Pong', from: ctx.node.nodeId }), s),
  });

  it('a client node (no secret) cannot reach a peer-only type; a type open to clients it can', async () => {
    const network = new MemoryNetwork();
    const [, b] = await pair(network);
    const app = await Node.start({ nodeId: 'app', transport: network, limits: fastLimits, logger: quietLogger('app'), peers: { b: b.url! } });
    started.push(app);
    const peerOnly = b.spawn('peer-only', ponger({ peer: { Ping: true } }));
    const open = b.spawn('open', ponger({ client: { Ping: true } }));
    expect(await app.ask<Ping, unknown>(open, (replyTo) => ({ type: 'Ping', replyTo }))).toEqual({ type: 'Pong', from: 'b' });
    const refusedBefore = b.stats.refusedByProtocol;
    await expect(app.ask<Ping, unknown>(peerOnly, (replyTo) => ({ type: 'Ping', replyTo }))).rejects.toMatchObject({ code: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
    expect(b.stats.refusedByProtocol).toBe(refusedBefore + 1);
    // b's peer a reaches it (the same message, proven origin).
    expect(await started[0]!.ask<Ping, unknown>(peerOnly, (replyTo) => ({ type: 'Ping', replyTo }))).toEqual({ type: 'Pong', from: 'b' });
    // A bare number or string is no message, even to a type open to clients.
    await expect(app.ask(open as Ref<unknown>, () => 5)).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST });
    await expect(app.ask(open as Ref<unknown>, () => 'Ping')).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST });
  });

  it('askAsClient (another listener of this node) is held to the client protocol like a client connection', async () => {
    const network = new MemoryNetwork();
    const [a] = await pair(network);
    a.spawn('peer-only', ponger({ peer: { Ping: true } }));
    a.spawn('open', ponger({ client: { Ping: true } }));
    a.spawn('guarded', ponger({ client: { Ping: () => ({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, why: 'not this one' }) } }));
    a.spawn('local-only', ponger(undefined));
    expect(await a.askAsClient<Ping, unknown>('/open', (replyTo) => ({ type: 'Ping', replyTo }))).toEqual({ type: 'Pong', from: 'a' });
    await expect(a.askAsClient<Ping, unknown>('/peer-only', (replyTo) => ({ type: 'Ping', replyTo }))).rejects.toMatchObject({ code: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
    await expect(a.askAsClient<Ping, unknown>('/local-only', (replyTo) => ({ type: 'Ping', replyTo }))).rejects.toMatchObject({ code: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
    await expect(a.askAsClient<Ping, unknown>('/guarded', (replyTo) => ({ type: 'Ping', replyTo }))).rejects.toMatchObject({ code: ErrorCode.INVALID_TOPIC_EXCEPTION });
    await expect(a.askAsClient('/open', () => ({ type: 'Ping', replyTo: { node: 'b', path: '/controller' } }))).rejects.toMatchObject({ code: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
    await expect(a.askAsClient('/nobody', (replyTo) => ({ type: 'Ping', replyTo }))).rejects.toMatchObject({ code: ErrorCode.BROKER_NOT_AVAILABLE });
    // tellAsClient: the same admission, no reply slot.
    expect(a.tellAsClient('/peer-only', { type: 'Ping', replyTo: null })).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    expect(a.tellAsClient('/guarded', { type: 'Ping', replyTo: null })).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
    expect(a.tellAsClient('/nobody', { type: 'Ping' })).toBe(ErrorCode.BROKER_NOT_AVAILABLE);
  });

  it('a node with a wrong secret is not a peer: its link closes, and it reaches nothing peer-only', async () => {
    const network = new MemoryNetwork();
    const [a] = await pair(network);
    a.spawn('peer-only', ponger({ peer: { Ping: true } }));
    const wrongSecret = Buffer.from('not-the-cluster-secret-at-all-0123456');
    const impostor = await Node.start({ nodeId: 'x', listen: { host: 'x', port: 1 }, transport: network, limits: fastLimits, logger: quietLogger('x'), peers: { a: a.url! }, clusterSecret: wrongSecret });
    started.push(impostor);
    await expect(impostor.ask<Ping, unknown>({ node: 'a', path: '/peer-only' }, (replyTo) => ({ type: 'Ping', replyTo }), { timeoutMs: 300 })).rejects.toBeInstanceOf(KactusError);
    // The dialer saw the acceptor's proof fail (it checks with its own secret) and closed the link.
    expect(impostor.stats.authFailures).toBeGreaterThan(0);
    expect(a.peerStatus('x')).not.toBe('up');

    // By hand: a peer hello whose Auth is proven with the wrong secret is refused and the link closed.
    const raw = await rawLink(network, a.url!, 'y');
    await raw.helloAsPeer(wrongSecret);
    await until(() => raw.closeReason() !== undefined);
    // (The LinkError sent before the close does not survive the memory transport's close; ws delivers it.)
    expect(raw.closeReason()).toEqual({ code: CloseCode.policyViolation, reason: 'peer authentication failed' });
    expect(a.stats.authFailures).toBeGreaterThan(0);
    expect(a.peerStatus('y')).toBe('unknown');

    // The same by hand with the right secret: a peer, which reaches the peer-only actor.
    const proven = await rawLink(network, a.url!, 'z');
    await proven.helloAsPeer(secret);
    proven.ask('/peer-only', '/temp/1', { type: 'Ping', replyTo: { node: 'z', path: '/temp/1' } });
    await until(() => proven.toldTo('/temp/1').length === 1);
    expect(proven.toldTo('/temp/1')).toEqual([{ type: 'Pong', from: 'a' }]);
    expect(proven.closeReason()).toBeUndefined();
  });

  it('a client cannot take an all-digit (broker) id, nor the id of a peer', async () => {
    const network = new MemoryNetwork();
    const [a, b] = await pair(network);
    b.spawn('peer-only', ponger({ peer: { Ping: true } }));
    await a.ask<Ping, unknown>({ node: 'b', path: '/peer-only' }, (replyTo) => ({ type: 'Ping', replyTo }));
    await until(() => a.peerStatus('b') === 'up');
    for (const nodeId of ['2', '0017', 'b']) {
      const raw = await rawLink(network, a.url!, nodeId);
      raw.link.send(encodeEnvelope({ kind: Kind.Hello, nodeId, incarnation: 'i-1', listenUrl: 'mem://reflector:1', role: 'client', challenge: newChallenge(), proof: null }));
      await until(() => raw.closeReason() !== undefined);
      expect(raw.closeReason(), nodeId).toMatchObject({ code: CloseCode.policyViolation, reason: expect.stringMatching(nodeId === 'b' ? /belongs to a peer/ : /is a broker id/) });
      expect(raw.received.some((v) => v[1] === Kind.Hello), nodeId).toBe(false);
    }
    expect(a.peerStatus('2')).toBe('unknown');
    // The hello claiming b's id (with a new incarnation) changed nothing about b.
    expect(a.peerStatus('b')).toBe('up');
    expect(a.peerIncarnation('b')).toBe(b.incarnation);
    // A client node with a broker id gets nowhere either.
    const fake = await Node.start({ nodeId: '3', transport: network, limits: fastLimits, logger: quietLogger('3'), peers: { a: a.url! } });
    started.push(fake);
    a.spawn('open', ponger({ client: { Ping: true } }));
    await expect(fake.ask<Ping, unknown>({ node: 'a', path: '/open' }, (replyTo) => ({ type: 'Ping', replyTo }), { timeoutMs: 300 })).rejects.toBeInstanceOf(KactusError);
    expect(a.peerStatus('3')).toBe('unknown');
  });

  it('refuses a replyTo on a third node (a confused deputy), from a peer as from a client', async () => {
    const network = new MemoryNetwork();
    const [a, b] = await pair(network);
    const c = await Node.start({ nodeId: 'c', listen: { host: 'c', port: 1 }, transport: network, limits: fastLimits, logger: quietLogger('c'), clusterSecret: secret });
    started.push(c);
    a.addPeer('c', c.url!);
    b.addPeer('c', c.url!);
    c.addPeer('b', b.url!);
    const atC: unknown[] = [];
    const victim = c.spawn<null, unknown>('victim', { accepts: { peer: { Pong: true } }, init: () => null, receive: (s, m) => (atC.push(m), s) });
    const pongB = b.spawn('pong', ponger({ peer: { Ping: true }, client: { Ping: true } }));
    // b may tell c's victim itself (they are peers): the deputy works when nobody confuses it.
    b.tell(victim, { type: 'Pong', from: 'b' });
    await until(() => atC.length === 1);

    await expect(a.ask(pongB, () => ({ type: 'Ping', replyTo: victim }))).rejects.toMatchObject({ code: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
    a.tell(pongB, { type: 'Ping', replyTo: victim });
    const raw = await rawLink(network, b.url!, 'app');
    await raw.helloAsClient();
    raw.tell('/pong', { type: 'Ping', replyTo: victim });
    // A client's replyTo must be a reply slot on its own node, not any actor there.
    raw.ask('/pong', '/temp/1', { type: 'Ping', replyTo: { node: 'app', path: '/inbox' } });
    await until(() => raw.errorRepliesTo('/temp/1').length === 1);
    expect(raw.errorRepliesTo('/temp/1')).toEqual([ErrorCode.CLUSTER_AUTHORIZATION_FAILED]);
    // Its own reply slot works.
    raw.ask('/pong', '/temp/2', { type: 'Ping', replyTo: { node: 'app', path: '/temp/2' } });
    await until(() => raw.toldTo('/temp/2').length === 1);
    await sleep(50);
    expect(atC).toEqual([{ type: 'Pong', from: 'b' }]);
  });

  it('drops a reply (or error reply) to a pending ask from a client that was not asked', async () => {
    const network = new MemoryNetwork();
    const [a, b] = await pair(network);
    type Slow = { type: 'Slow'; replyTo: Ref<string> };
    const slow = b.spawn<null, Slow>('slow', {
      accepts: { peer: { Slow: true } },
      init: () => null,
      receive: (s, m, ctx) => {
        setTimeout(() => ctx.node.tell(m.replyTo, 'genuine'), 150);
        return s;
      },
    });
    const intruder = await rawLink(network, a.url!, 'intruder');
    await intruder.helloAsClient();
    let replyPath = '';
    const answer = a.ask<Slow, string>(slow, (replyTo) => ((replyPath = replyTo.path), { type: 'Slow', replyTo }), { timeoutMs: 2_000 });
    const badBefore = a.stats.badInput;
    intruder.tell(replyPath, 'forged');
    intruder.errorReply(replyPath, ErrorCode.NOT_LEADER_OR_FOLLOWER, 'forged error');
    expect(await answer).toBe('genuine');
    expect(a.stats.badInput - badBefore).toBeGreaterThanOrEqual(2);
    expect(intruder.closeReason()).toBeUndefined();
  });

  /** A server whose /big answers each Get with 12 KiB; mute at 32 KiB waiting, so three unread replies mute the client. */
  async function bigServer(clientMutedMsMax: number) {
    const network = new UnreadNetwork(new MemoryNetwork());
    const limits = { ...fastLimits, frameBytesMax: 64 * 1024, frameBytesTarget: 16 * 1024, clientMuteBytes: 32 * 1024, clientPendingBytesMax: 128 * 1024, clientMutedMsMax };
    const server = await Node.start({ nodeId: 's', listen: { host: 's', port: 1 }, transport: network, limits, logger: quietLogger('s'), clusterSecret: secret });
    started.push(server);
    const handled = { count: 0 };
    type Get = { type: 'Get'; replyTo: Ref<unknown> };
    server.spawn<null, Get>('big', {
      accepts: { client: { Get: true } },
      init: () => null,
      receive: (s, m, ctx) => ((handled.count += 1), ctx.node.tell(m.replyTo, { type: 'Blob', bytes: Buffer.alloc(12 * 1024) }), s),
    });
    const raw = await rawLink(network as unknown as MemoryNetwork, server.url!, 'slow-reader');
    await raw.helloAsClient();
    const get = (i: number): void => raw.ask('/big', `/temp/${i}`, { type: 'Get', replyTo: { node: 'slow-reader', path: `/temp/${i}` } });
    network.reading = false;
    // One at a time (frames already read are handled even when muted): three replies wait unread.
    for (let i = 1; i <= 3; i += 1) {
      get(i);
      await until(() => handled.count === i);
    }
    // Muted: the fourth ask is not read.
    get(4);
    await sleep(100);
    expect(handled.count).toBe(3);
    expect(raw.toldTo('/temp/1')).toEqual([]);
    return { network, server, raw, handled };
  }

  it('mutes a client that does not read its replies, then disconnects it', async () => {
    const { server, raw, handled } = await bigServer(300);
    expect(server.stats.clientsDisconnected).toBe(0);
    // Muted past clientMutedMsMax: disconnected, its queue dropped; the fourth ask never ran.
    await until(() => raw.closeReason() !== undefined, 2_000);
    expect(raw.closeReason()).toMatchObject({ code: CloseCode.policyViolation, reason: 'not reading its replies' });
    expect(server.stats.clientsDisconnected).toBe(1);
    expect(handled.count).toBe(3);
    expect(server.peerStatus('slow-reader')).not.toBe('unknown');
  });

  it('a muted client that reads again in time is unmuted and served', async () => {
    const { network, server, raw, handled } = await bigServer(5_000);
    network.reading = true;
    network.drainAll();
    // Unmuted at the next check (a liveness tick): the fourth ask is read and answered.
    await until(() => handled.count === 4);
    await until(() => raw.toldTo('/temp/4').length === 1);
    expect([1, 2, 3].map((i) => raw.toldTo(`/temp/${i}`).length)).toEqual([1, 1, 1]);
    expect(server.stats.clientsDisconnected).toBe(0);
    expect(raw.closeReason()).toBeUndefined();
  });

  it('refuses a client past clientAsksInFlightMax unanswered asks with THROTTLING_QUOTA_EXCEEDED (a peer is not bounded so)', async () => {
    const network = new MemoryNetwork();
    const limits = { ...fastLimits, clientAsksInFlightMax: 3 };
    const a = await Node.start({ nodeId: 'a', listen: { host: 'a', port: 1 }, transport: network, limits, logger: quietLogger('a'), clusterSecret: secret });
    const b = await Node.start({ nodeId: 'b', transport: network, limits, logger: quietLogger('b'), peers: { a: a.url! }, clusterSecret: secret });
    const app = await Node.start({ nodeId: 'app', transport: network, limits, logger: quietLogger('app'), peers: { a: a.url! } });
    started.push(a, b, app);
    const silent = a.spawn<null, unknown>('silent', { accepts: { client: { Q: true } }, init: () => null, receive: (s) => s });
    const answer = a.spawn('answer', ponger({ client: { Ping: true } }));
    // A first ask that is answered frees its slot again.
    expect(await app.ask<Ping, unknown>(answer, (replyTo) => ({ type: 'Ping', replyTo }))).toEqual({ type: 'Pong', from: 'a' });
    const unanswered = [1, 2, 3].map(() => app.ask(silent, () => ({ type: 'Q' }), { timeoutMs: 500 }).catch((e: unknown) => e));
    await sleep(30);
    await expect(app.ask(silent, () => ({ type: 'Q' }), { timeoutMs: 500 })).rejects.toMatchObject({ code: ErrorCode.THROTTLING_QUOTA_EXCEEDED });
    await expect(app.ask<Ping, unknown>(answer, (replyTo) => ({ type: 'Ping', replyTo }), { timeoutMs: 500 })).rejects.toMatchObject({ code: ErrorCode.THROTTLING_QUOTA_EXCEEDED });
    for (const outcome of await Promise.all(unanswered)) expect(outcome).toMatchObject({ code: ErrorCode.REQUEST_TIMED_OUT });
    // A peer may have more asks in flight.
    const peerAsks = [1, 2, 3, 4, 5].map(() => b.ask(silent, () => ({ type: 'Q' }), { timeoutMs: 200 }).catch((e: unknown) => e));
    for (const outcome of await Promise.all(peerAsks)) expect(outcome).toMatchObject({ code: ErrorCode.REQUEST_TIMED_OUT });
  });

  it('forgets a client without links after the down timeout (the peer table is bounded); a peer with a URL stays', async () => {
    const network = new MemoryNetwork();
    const [a, b] = await pair(network);
    a.spawn('open', ponger({ client: { Ping: true } }));
    // a and b have talked: a knows b (by URL) and has seen it up.
    b.spawn('peer-only', ponger({ peer: { Ping: true } }));
    await a.ask<Ping, unknown>({ node: 'b', path: '/peer-only' }, (replyTo) => ({ type: 'Ping', replyTo }));
    await until(() => a.peerStatus('b') === 'up');
    const before = a.peerCount();
    for (const nodeId of ['app-1', 'app-2', 'app-3']) {
      const app = await Node.start({ nodeId, transport: network, limits: fastLimits, logger: quietLogger(nodeId), peers: { a: a.url! } });
      expect(await app.ask<Ping, unknown>({ node: 'a', path: '/open' }, (replyTo) => ({ type: 'Ping', replyTo }))).toEqual({ type: 'Pong', from: 'a' });
      await app.stop();
    }
    expect(a.peerCount()).toBe(before + 3);
    await until(() => a.peerCount() === before, 3_000);
    expect(a.stats.peersPruned).toBe(3);
    expect(a.peerStatus('app-1')).toBe('unknown');
    await b.stop();
    await sleep(fastLimits.downAfterMs * 2);
    expect(a.peerStatus('b')).toBe('down');
    expect(a.peerCount()).toBe(before);
  });
});
