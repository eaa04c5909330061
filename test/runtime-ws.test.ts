/**
 * The runtime across real processes over ws on 127.0.0.1: tells and asks,
 * death watch on SIGKILL, a restarted node seen as a new incarnation, and bad
 * input from the network that never takes a node down.
 * Method: this test process runs one Node; the peers are child processes
 * (test/fixtures/runtime-peer.ts) or raw ws clients that misbehave on purpose.
 * This node and the children share the test cluster secret (they are peers);
 * the raw clients and the healthy client of the bad-input section hold none.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { pack } from 'msgpackr';
import { Node, type Terminated } from '../runtime/node.ts';
import { createLogger } from '../runtime/logger.ts';
import { Kind, decodeFrame, encodeEnvelope, protocolVersion, type Envelope } from '../runtime/envelope.ts';
import type { ProtocolRules } from '../runtime/protocol.ts';
import type { Ref } from '../runtime/ref.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { freePort, killAllChildren, startChild, until, type Child } from './support/processes.ts';
import { testClusterSecret } from './support/secret.ts';

const logger = (id: string) => createLogger({ node: id }, process.env.LOG_LEVEL ?? 'silent');
const nodes: Node[] = [];
/** The test cluster's secret (vitest.config.ts): this node and the children prove it to each other. */
const secret = testClusterSecret();

afterEach(async () => {
  await killAllChildren();
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

async function localNode(nodeId: string, limits = {}): Promise<Node> {
  const node = await Node.start({ nodeId, listen: { host: '127.0.0.1', port: 0 }, logger: logger(nodeId), limits, clusterSecret: secret });
  nodes.push(node);
  return node;
}

async function startPeer(nodeId: string, port: number): Promise<{ child: Child; url: string; incarnation: string }> {
  const child = startChild('test/fixtures/runtime-peer.ts', [nodeId, String(port)], { KACTUS_CLUSTER_SECRET: secret.toString('utf8') });
  const ready = await child.waitFor('ready');
  return { child, url: ready.url as string, incarnation: ready.incarnation as string };
}

/** Keeps what it receives; `peer` lists the types it takes from peers (none: local messages only, as Terminated). */
function collector<T>(node: Node, name: string, peer?: ProtocolRules): { ref: Ref<T>; received: T[] } {
  const received: T[] = [];
  const ref = node.spawn<null, T>(name, { ...(peer ? { accepts: { peer } } : {}), init: () => null, receive: (s, m) => (received.push(m), s) });
  return { ref, received };
}

describe('runtime over ws between processes', () => {
  it('exchanges asks and ordered tells with a node in another process', async () => {
    const port = await freePort();
    const peer = await startPeer('b', port);
    const a = await localNode('a');
    a.addPeer('b', peer.url);
    const reply = await a.ask<unknown, { text: string; nodeId: string }>({ node: 'b', path: '/echo' }, (replyTo) => ({ type: 'Echo', text: 'hi', replyTo }));
    expect(reply).toMatchObject({ text: 'hi', nodeId: 'b' });

    // Below the mailbox bound (a burst past it would be refused, by design).
    const count = a.limits.mailboxDepthMax - 1;
    const sink = collector<{ type: 'N'; n: number }>(a, 'sink', { N: true });
    a.tell({ node: 'b', path: '/forwarder' }, { type: 'Forward', to: sink.ref, count });
    await until(() => sink.received.length === count, 15_000, 'tells from the other process');
    expect(sink.received.every((m, i) => m.type === 'N' && m.n === i)).toBe(true);
    expect(a.stats.refusedMailboxFull).toBe(0);
  });

  it('delivers Terminated(node-down) to a watcher after a SIGKILL', async () => {
    const port = await freePort();
    const peer = await startPeer('b', port);
    const a = await localNode('a');
    a.addPeer('b', peer.url);
    await a.ask({ node: 'b', path: '/echo' }, (replyTo) => ({ type: 'Echo', text: 'warm', replyTo }));
    const watcher = collector<Terminated>(a, 'watcher');
    a.watch(watcher.ref, { node: 'b', path: '/echo' });
    await new Promise((r) => setTimeout(r, 100));
    peer.child.process.kill('SIGKILL');
    // A hang bound, not a latency limit: the refused re-dial declares b down at once, silence after downAfterMs.
    const terminatedHangBoundMs = a.limits.downAfterMs + 10_000;
    await until(() => watcher.received.length === 1, terminatedHangBoundMs, 'Terminated after SIGKILL');
    expect(watcher.received).toEqual([expect.objectContaining({ type: 'Terminated', ref: { node: 'b', path: '/echo' }, reason: 'node-down' })]);
  });

  it('sees a node restarted with the same id as a new incarnation: old watches fire, new ones work', async () => {
    const port = await freePort();
    const first = await startPeer('b', port);
    const a = await localNode('a', { downAfterMs: 60_000, unreachableAfterMs: 30_000 });
    a.addPeer('b', first.url);
    await a.ask({ node: 'b', path: '/echo' }, (replyTo) => ({ type: 'Echo', text: '1', replyTo }));
    expect(a.peerIncarnation('b')).toBe(first.incarnation);
    const watcher = collector<Terminated>(a, 'watcher');
    a.watch(watcher.ref, { node: 'b', path: '/echo' });
    await new Promise((r) => setTimeout(r, 100));

    first.child.process.kill('SIGKILL');
    await first.child.exited;
    const second = await startPeer('b', port);
    expect(second.incarnation).not.toBe(first.incarnation);
    // The old watch fires by the refused re-dial after the SIGKILL or, at the latest, the new incarnation's hello;
    // the down timeout is 60 s here, far past these waits, so silence is never what fires it.
    await until(() => a.peerIncarnation('b') === second.incarnation, 10_000, 'the new incarnation to be seen');
    await until(() => watcher.received.length === 1, 5_000, 'the old watch to fire');
    expect(watcher.received[0]).toMatchObject({ reason: 'node-down' });
    const reply = await a.ask<unknown, { incarnation: string }>({ node: 'b', path: '/echo' }, (replyTo) => ({ type: 'Echo', text: '2', replyTo }));
    expect(reply.incarnation).toBe(second.incarnation);
  });
});

/** A raw ws client that speaks (or breaks) the envelope protocol by hand. */
async function rawClient(url: string): Promise<{ socket: WebSocket; frames: Envelope[]; closed: Promise<number> }> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  const frames: Envelope[] = [];
  socket.on('message', (data) => {
    const values = decodeFrame(data as Buffer);
    if (Array.isArray(values)) frames.push(...(values as unknown[]).map((v) => envelopeOf(v)));
  });
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  socket.on('error', () => {});
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  return { socket, frames, closed };
}

function envelopeOf(value: unknown): Envelope {
  const [, kind, a, b, c] = value as [number, number, unknown, unknown, unknown];
  if (kind === Kind.LinkError) return { kind, errorCode: a as number, errorMessage: b as string };
  if (kind === Kind.ErrorReply) return { kind, replyToPath: a as string, errorCode: b as number, errorMessage: c as string };
  if (kind === Kind.Tell) return { kind, targetPath: a as string, message: b };
  if (kind === Kind.Hello) {
    const [, , , , , role, challenge, proof] = value as unknown[];
    return { kind, nodeId: a as string, incarnation: b as string, listenUrl: c as string | null, role: role as 'peer' | 'client', challenge: challenge as Uint8Array, proof: proof as Uint8Array | null };
  }
  return { kind: Kind.Heartbeat };
}

const hello = encodeEnvelope({ kind: Kind.Hello, nodeId: 'raw', incarnation: 'raw-1', listenUrl: null, role: 'client', challenge: Buffer.alloc(32, 7), proof: null });

type Ping = { type: 'Ping'; replyTo: Ref<string> };

describe('bad input from the network never takes a node down', () => {
  let server: Node;
  let healthyPeer: Node;

  async function setup(): Promise<void> {
    server = await localNode('server', { frameBytesMax: 1024 * 1024, frameBytesTarget: 256 * 1024 });
    // Clients may ping it: the healthy client (no secret) and the raw ones.
    server.spawn<null, Ping>('echo', { accepts: { client: { Ping: true } }, init: () => null, receive: (s, m, ctx) => (ctx.node.tell(m.replyTo, 'ok'), s) });
    healthyPeer = await Node.start({ nodeId: 'healthy', logger: logger('healthy'), peers: { server: server.url! } });
    nodes.push(healthyPeer);
  }

  async function stillServing(): Promise<void> {
    const reply = await healthyPeer.ask<Ping, string>({ node: 'server', path: '/echo' }, (replyTo) => ({ type: 'Ping', replyTo }), { timeoutMs: 3_000 });
    expect(reply).toBe('ok');
  }

  it('malformed msgpack: error frame, link closed', async () => {
    await setup();
    const raw = await rawClient(server.url!);
    raw.socket.send(hello);
    // An array header that promises two items and delivers one: not decodable.
    raw.socket.send(Buffer.from([0x92, 0x01]));
    expect(await raw.closed).toBe(1008);
    expect(raw.frames.find((f) => f.kind === Kind.LinkError)).toMatchObject({ errorCode: ErrorCode.CORRUPT_MESSAGE });
    await stillServing();
  });

  it('unknown envelope kind: INVALID_REQUEST, link kept', async () => {
    await setup();
    const raw = await rawClient(server.url!);
    raw.socket.send(hello);
    raw.socket.send(pack([protocolVersion, 99, 'what']));
    raw.socket.send(encodeEnvelope({ kind: Kind.Ask, targetPath: '/echo', replyToPath: '/temp/1', message: { type: 'Ping', replyTo: { node: 'raw', path: '/temp/1' } } }));
    await until(() => raw.frames.some((f) => f.kind === Kind.LinkError), 3_000, 'an error frame');
    expect(raw.frames.find((f) => f.kind === Kind.LinkError)).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST });
    // The link is kept: the ask after the bad envelope is answered on it.
    await until(() => raw.frames.some((f) => f.kind === Kind.Tell && f.targetPath === '/temp/1' && f.message === 'ok'), 3_000, 'the reply to the ask');
    expect(raw.socket.readyState).toBe(WebSocket.OPEN);
    raw.socket.close();
    await stillServing();
  });

  it('wrong protocol version: UNSUPPORTED_VERSION, link closed', async () => {
    await setup();
    const raw = await rawClient(server.url!);
    raw.socket.send(pack([7, Kind.Hello, 'raw', 'raw-1', null]));
    expect(await raw.closed).toBe(1002);
    expect(raw.frames.find((f) => f.kind === Kind.LinkError)).toMatchObject({ errorCode: ErrorCode.UNSUPPORTED_VERSION });
    await stillServing();
  });

  it('oversized frame: link closed with 1009', async () => {
    await setup();
    const raw = await rawClient(server.url!);
    raw.socket.send(hello);
    raw.socket.send(Buffer.alloc(2 * 1024 * 1024));
    expect(await raw.closed).toBe(1009);
    await stillServing();
  });

  it('a message for an actor that does not exist: an error reply naming it', async () => {
    await setup();
    const raw = await rawClient(server.url!);
    raw.socket.send(hello);
    raw.socket.send(encodeEnvelope({ kind: Kind.Ask, targetPath: '/nobody', replyToPath: '/temp/9', message: {} }));
    await until(() => raw.frames.some((f) => f.kind === Kind.ErrorReply), 3_000, 'an error reply');
    const reply = raw.frames.find((f) => f.kind === Kind.ErrorReply) as Extract<Envelope, { kind: typeof Kind.ErrorReply }>;
    expect(reply.errorCode).toBe(ErrorCode.BROKER_NOT_AVAILABLE);
    expect(reply.errorMessage).toContain('/nobody');
    raw.socket.close();
    await stillServing();
  });

  it('no hello first, or a text frame: link closed', async () => {
    await setup();
    const first = await rawClient(server.url!);
    first.socket.send(encodeEnvelope({ kind: Kind.Tell, targetPath: '/echo', message: {} }));
    expect(await first.closed).toBe(1008);
    const second = await rawClient(server.url!);
    second.socket.send('hello?');
    expect(await second.closed).toBe(1003);
    await stillServing();
  });
});
