/**
 * A raw WebSocket client for boundary tests: speaks (or breaks) the runtime's
 * envelope protocol by hand, as an outside client with nothing but `ws` and
 * msgpackr would. It can send any bytes, any envelope, a client hello, or,
 * given the cluster secret, a peer hello with its Auth (to show what an
 * authenticated peer may do that a client may not).
 *
 * Everything it receives is decoded leniently and kept in `received` (raw
 * values), so a test can look for an ErrorReply, a LinkError or a reply.
 */
import { randomUUID } from 'node:crypto';
import { pack } from 'msgpackr';
import { WebSocket } from 'ws';
import { Kind, decodeFrame, encodeEnvelope, type Envelope } from '../../runtime/envelope.ts';
import { newChallenge, proofFor } from '../../runtime/peer-auth.ts';

export type RawClient = {
  readonly socket: WebSocket;
  readonly nodeId: string;
  readonly incarnation: string;
  /** Every value received, decoded. */
  readonly received: unknown[];
  readonly closed: Promise<{ code: number; reason: string }>;
  isOpen(): boolean;
  sendBytes(bytes: Uint8Array): void;
  sendValue(value: unknown): void;
  send(envelope: Envelope): void;
  /** Sends a client hello and waits for the server's hello. */
  helloAsClient(): Promise<void>;
  /** Sends a peer hello, checks nothing, answers with Auth proven by `secret`; resolves once sent. */
  helloAsPeer(secret: Uint8Array): Promise<void>;
  tell(targetPath: string, message: unknown): void;
  /** Asks and resolves with the first value told to the reply slot (or an ErrorReply envelope), or undefined after timeoutMs. */
  ask(targetPath: string, makeMessage: (replyTo: { node: string; path: string }) => unknown, timeoutMs?: number): Promise<unknown>;
  close(): void;
};

export type RawClientOptions = { nodeId?: string; incarnation?: string; readReplies?: boolean };

let replyCounter = 0;

export async function rawClient(url: string, options: RawClientOptions = {}): Promise<RawClient> {
  const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  const nodeId = options.nodeId ?? `raw-${randomUUID().slice(0, 8)}`;
  const incarnation = options.incarnation ?? randomUUID();
  const received: unknown[] = [];
  const waiters: ((value: unknown) => void)[] = [];
  socket.on('message', (data) => {
    const values = decodeFrame(data as Buffer);
    if (!Array.isArray(values)) return;
    for (const value of values) {
      received.push(value);
      for (const waiter of waiters.slice()) waiter(value);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  socket.on('error', () => {});
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  if (options.readReplies === false) socket.pause();

  const waitFor = (match: (value: unknown) => boolean, timeoutMs: number): Promise<unknown> =>
    new Promise((resolve) => {
      const existing = received.find(match);
      if (existing !== undefined) return resolve(existing);
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        resolve(undefined);
      }, timeoutMs);
      const waiter = (value: unknown): void => {
        if (!match(value)) return;
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(waiter), 1);
        resolve(value);
      };
      waiters.push(waiter);
    });

  const challenge = newChallenge();
  const client: RawClient = {
    socket,
    nodeId,
    incarnation,
    received,
    closed,
    isOpen: () => socket.readyState === WebSocket.OPEN,
    sendBytes: (bytes) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(bytes, { binary: true });
    },
    sendValue: (value) => client.sendBytes(pack(value)),
    send: (envelope) => client.sendBytes(encodeEnvelope(envelope)),
    async helloAsClient() {
      client.send({ kind: Kind.Hello, nodeId, incarnation, listenUrl: null, role: 'client', challenge, proof: null });
      const answer = await waitFor((v) => Array.isArray(v) && v[1] === Kind.Hello, 5_000);
      if (answer === undefined) throw new Error('no hello from the server');
    },
    async helloAsPeer(secret) {
      client.send({ kind: Kind.Hello, nodeId, incarnation, listenUrl: null, role: 'peer', challenge, proof: null });
      const answer = (await waitFor((v) => Array.isArray(v) && v[1] === Kind.Hello, 5_000)) as unknown[] | undefined;
      if (answer === undefined) throw new Error('no hello from the server');
      const [, , serverId, serverIncarnation, , , serverChallenge] = answer as [number, number, string, string, unknown, unknown, Uint8Array];
      client.send({ kind: Kind.Auth, proof: proofFor(secret, 'dialer', serverChallenge, { nodeId, incarnation }, { nodeId: serverId, incarnation: serverIncarnation }) });
    },
    tell: (targetPath, message) => client.send({ kind: Kind.Tell, targetPath, message }),
    async ask(targetPath, makeMessage, timeoutMs = 5_000) {
      replyCounter += 1;
      const replyTo = { node: nodeId, path: `/temp/raw-${replyCounter}` };
      client.send({ kind: Kind.Ask, targetPath, replyToPath: replyTo.path, message: makeMessage(replyTo) });
      return waitFor(
        (v) => Array.isArray(v) && ((v[1] === Kind.Tell && v[2] === replyTo.path) || (v[1] === Kind.ErrorReply && v[2] === replyTo.path)),
        timeoutMs,
      ).then((v) => {
        if (v === undefined) return undefined;
        const envelope = v as unknown[];
        return envelope[1] === Kind.Tell ? envelope[3] : { errorReply: true, errorCode: envelope[3], errorMessage: envelope[4] };
      });
    },
    close: () => socket.terminate(),
  };
  return client;
}
