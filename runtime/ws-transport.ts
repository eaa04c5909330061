/**
 * The real transport: WebSocket (`ws`) between processes and machines.
 *
 * Choices, measured in DESIGN.md:
 * - Frames are binary, per-message deflate is off (batches are already as
 *   small as the producer made them, and deflate costs CPU on every byte).
 * - `maxPayload` is the runtime's frameBytesMax: a bigger frame closes the
 *   link with 1009 and the node goes on serving everyone else.
 * - Client-side frames use a zero mask. Masking protects browsers from
 *   cache-poisoning proxies; every client of a Kactus node is our own code,
 *   and masking cost the sender half its throughput in the prototype.
 * - `bufferutil` (installed) gives ws native masking/unmasking anyway.
 * - Drain comes from the underlying socket's 'drain' event: ws has none.
 */
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Link, LinkCloseReason, Listener, Transport } from './transport.ts';

const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

class WsLink implements Link {
  readonly remoteAddress: string;
  readonly closed: Promise<LinkCloseReason>;
  private frameHandler: (frame: Uint8Array) => void = () => {};
  private drainHandler: () => void = () => {};

  constructor(private readonly socket: WebSocket, remoteAddress: string) {
    this.remoteAddress = remoteAddress;
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      // 'error' is always followed by 'close'; listening keeps it from being an uncaught error.
      socket.on('error', () => {});
    });
    socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        socket.close(1003, 'text frames are not accepted');
        return;
      }
      this.frameHandler(toBuffer(data));
    });
    const raw = (socket as unknown as { _socket?: NodeJS.EventEmitter })._socket;
    raw?.on('drain', () => this.drainHandler());
  }

  send(frame: Uint8Array): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(frame, { binary: true });
  }

  bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
  }

  onDrain(handler: () => void): void {
    this.drainHandler = handler;
  }

  close(code: number, reason: string): void {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    if (this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.terminate();
      return;
    }
    this.socket.close(code, reason.slice(0, 120));
    // A peer that does not answer the close handshake is cut off.
    const timer = setTimeout(() => this.socket.terminate(), 2_000);
    timer.unref();
  }
}

export class WsTransport implements Transport {
  constructor(private readonly frameBytesMax: number) {}

  listen(host: string, port: number, onLink: (link: Link) => void): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const server = new WebSocketServer({ host, port, maxPayload: this.frameBytesMax, perMessageDeflate: false });
      server.once('error', reject);
      server.on('connection', (socket, request) => {
        const address = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
        socket.binaryType = 'nodebuffer';
        onLink(new WsLink(socket, address));
      });
      server.once('listening', () => {
        server.off('error', reject);
        server.on('error', () => {});
        const bound = server.address();
        const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
        resolve({
          url: `ws://${host}:${boundPort}`,
          close: () =>
            new Promise<void>((done) => {
              for (const client of server.clients) client.terminate();
              server.close(() => done());
            }),
        });
      });
    });
  }

  dial(url: string): Promise<Link> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, {
        maxPayload: this.frameBytesMax,
        perMessageDeflate: false,
        generateMask: zeroMask,
        handshakeTimeout: 5_000,
      });
      socket.binaryType = 'nodebuffer';
      const fail = (err: Error): void => reject(err);
      socket.once('error', fail);
      socket.once('open', () => {
        socket.off('error', fail);
        resolve(new WsLink(socket, url));
      });
    });
  }
}
