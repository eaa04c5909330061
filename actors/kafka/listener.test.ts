/**
 * The Kafka listener over a real TCP socket on 127.0.0.1: pipelined requests
 * are answered in request order whatever order the handler finishes in, a
 * null answer sends nothing, a too-new ApiVersions is answered, and a
 * malformed, oversized, unknown or unsupported request closes only its own
 * connection while the listener keeps serving others.
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/logger.ts';
import { FrameSplitter } from '../../protocol/kafka/frames.ts';
import { apiKeys, apis, decodeResponse, encodeRequest } from '../../protocol/kafka/messages.ts';
import { startKafkaListener, type KafkaListener, type KafkaRequestHandler } from './listener.ts';

let listener: KafkaListener | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await listener?.close();
  listener = undefined;
});

const api = (name: string) => apis.get(apiKeys[name]!)!;

async function start(handler: KafkaRequestHandler, limits = {}): Promise<KafkaListener> {
  listener = await startKafkaListener({
    host: '127.0.0.1',
    port: 0,
    handler,
    apiVersions: () => [{ apiKey: 18, minVersion: 0, maxVersion: 4 }],
    log: createLogger({}, 'silent'),
    limits,
  });
  return listener;
}

/** A client socket that collects whole response frames. */
async function client(port: number): Promise<{ socket: Socket; frames: Buffer[]; closed: Promise<void>; next(count: number): Promise<Buffer[]> }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const splitter = new FrameSplitter();
  const frames: Buffer[] = [];
  const waiters: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    frames.push(...splitter.push(chunk).frames.map((f) => Buffer.from(f)));
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  return {
    socket,
    frames,
    closed,
    async next(count) {
      const deadline = Date.now() + 5_000;
      while (frames.length < count && Date.now() < deadline) await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 100); });
      return frames.splice(0, count);
    },
  };
}

describe('Kafka listener', () => {
  it('answers pipelined requests in request order, and sends nothing for a null answer', async () => {
    const delays = [60, 0, 30];
    let n = 0;
    const { port } = await start(async ({ api: info, header }) => {
      const index = n++;
      await new Promise((resolve) => setTimeout(resolve, delays[index] ?? 0));
      if (info.name === 'Produce') return null;
      return { throttleTimeMs: 0, errorCode: 0, groupId: `g${header.correlationId}` } as never;
    });
    const c = await client(port);
    const heartbeat = (correlationId: number) => encodeRequest(api('Heartbeat'), 4, { correlationId, clientId: 'x' }, { groupId: 'g', generationId: 1, memberId: 'm', groupInstanceId: null });
    const produce = encodeRequest(api('Produce'), 3, { correlationId: 2, clientId: 'x' }, { transactionalId: null, acks: 0, timeoutMs: 1000, topicData: [] });
    c.socket.write(Buffer.concat([heartbeat(1), produce, heartbeat(3)]));
    const frames = await c.next(2);
    expect(frames.map((f) => decodeResponse(api('Heartbeat'), 4, f).correlationId)).toEqual([1, 3]);
  });

  it('answers a too-new ApiVersions with UNSUPPORTED_VERSION and its versions', async () => {
    const { port } = await start(async () => ({}));
    const c = await client(port);
    const frame = Buffer.from([0, 0, 0, 11, 0, 18, 0, 99, 0, 0, 0, 5, 0xff, 0xff, 0]);
    c.socket.write(frame);
    const [answer] = await c.next(1);
    expect(decodeResponse(api('ApiVersions'), 0, answer!)).toMatchObject({ correlationId: 5, body: { errorCode: 35, apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 4 }] } });
  });

  it('closes a connection that sends garbage, an oversized frame or an unknown API, and keeps serving others', async () => {
    const { port } = await start(async () => ({ throttleTimeMs: 0, errorCode: 0 }), { socketRequestMaxBytes: 1_000 });
    for (const bad of [
      Buffer.from([0, 0, 0, 3, 1, 2, 3]), // too short for a header
      Buffer.from([0, 0, 0x10, 0]), // 4 KiB frame over the 1,000-byte limit
      Buffer.from([0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff]), // api key 999
      Buffer.from([0, 0, 0, 10, 0, 3, 0, 99, 0, 0, 0, 1, 0xff, 0xff]), // Metadata v99
    ]) {
      const c = await client(port);
      c.socket.write(bad);
      await c.closed;
    }
    const good = await client(port);
    good.socket.write(encodeRequest(api('Heartbeat'), 0, { correlationId: 9, clientId: null }, { groupId: 'g', generationId: 1, memberId: 'm' }));
    const [answer] = await good.next(1);
    expect(decodeResponse(api('Heartbeat'), 0, answer!).correlationId).toBe(9);
  });

  it('stops reading a connection with too many requests in flight, and reads on once they are answered', async () => {
    const release: (() => void)[] = [];
    const { port } = await start(() => new Promise((resolve) => release.push(() => resolve({ throttleTimeMs: 0, errorCode: 0 }))), { inFlightRequestsPerConnectionMax: 2 });
    const c = await client(port);
    const hb = (correlationId: number) => encodeRequest(api('Heartbeat'), 0, { correlationId, clientId: null }, { groupId: 'g', generationId: 1, memberId: 'm' });
    c.socket.write(Buffer.concat([1, 2, 3, 4].map(hb)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(release.length).toBe(2);
    while (release.length > 0 || c.frames.length < 4) {
      release.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (c.frames.length >= 4) break;
    }
    const frames = await c.next(4);
    expect(frames.map((f) => decodeResponse(api('Heartbeat'), 0, f).correlationId)).toEqual([1, 2, 3, 4]);
  });
});
