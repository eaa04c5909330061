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
 * - The listener owns its HTTP server, so it bounds the raw TCP side before
 *   ws sees anything: connectionsMax in all and connectionsPerAddressMax per
 *   IP (past them a socket is destroyed at once), and upgradeTimeoutMs for a
 *   connection to finish its HTTP upgrade (a socket that sends nothing, or a
 *   slow header, is destroyed). Plain HTTP requests get 426.
 * - Every handler that sees network input is guarded: a throw costs that
 *   connection (closed 1011), never the process.
 * - TLS (#19, runtime/tls.ts): with `tls` the listener is an HTTPS server
 *   (`wss://`) and dials verify the server's certificate against `tls.ca`;
 *   the connection caps and the upgrade timeout count from the TCP accept,
 *   so a client stuck in the TLS handshake is bounded the same way.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { RuntimeLimits } from './limits.ts';
import { anonymousPrincipal, certificatePrincipal, listenerTlsProblem, tlsServerOptions, type TlsSettings } from './tls.ts';
import { CloseCode, closeReasonBytes, type Link, type LinkCloseReason, type Listener, type Transport } from './transport.ts';

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
  readonly secure: boolean;
  readonly certificatePrincipal?: string;
  private frameHandler: (frame: Uint8Array) => void = () => {};
  private drainHandler: () => void = () => {};

  constructor(private readonly socket: WebSocket, remoteAddress: string, secure: boolean, certificatePrincipal?: string) {
    this.remoteAddress = remoteAddress;
    this.secure = secure;
    if (certificatePrincipal !== undefined) this.certificatePrincipal = certificatePrincipal;
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
      try {
        this.frameHandler(toBuffer(data));
      } catch {
        // The node guards its own handler; this is the last line, so a frame can never end the process.
        this.close(CloseCode.internalError, 'internal error');
      }
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

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  close(code: number, reason: string): void {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    if (this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.terminate();
      return;
    }
    this.socket.close(code, closeReasonBytes(reason));
    // A peer that does not answer the close handshake is cut off.
    const timer = setTimeout(() => this.socket.terminate(), 2_000);
    timer.unref();
  }
}

export type WsTransportLimits = Pick<RuntimeLimits, 'frameBytesMax' | 'upgradeTimeoutMs' | 'connectionsMax' | 'connectionsPerAddressMax'>;

export class WsTransport implements Transport {
  private readonly limits: WsTransportLimits;
  /** Connections refused by a cap, and sockets destroyed for not upgrading in time (tests). */
  readonly stats = { refusedConnections: 0, upgradeTimeouts: 0 };

  private readonly tls: TlsSettings | undefined;

  constructor(limits: WsTransportLimits, tls?: TlsSettings) {
    this.limits = limits;
    this.tls = tls;
  }

  private get frameBytesMax(): number {
    return this.limits.frameBytesMax;
  }

  listen(host: string, port: number, onLink: (link: Link) => void): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const { upgradeTimeoutMs, connectionsMax, connectionsPerAddressMax } = this.limits;
      const tls = this.tls;
      const problem = tls === undefined ? null : listenerTlsProblem(tls);
      if (problem !== null) {
        reject(new Error(problem));
        return;
      }
      const onRequest = (_request: IncomingMessage, response: ServerResponse): void => {
        response.writeHead(426, { 'content-type': 'text/plain', connection: 'close' }).end('this port speaks WebSocket (kactus native protocol)\n');
      };
      const http: Server = tls === undefined ? createServer(onRequest) : createHttpsServer(tlsServerOptions(tls), onRequest);
      http.headersTimeout = upgradeTimeoutMs;
      http.requestTimeout = upgradeTimeoutMs;
      const wss = new WebSocketServer({ noServer: true, maxPayload: this.frameBytesMax, perMessageDeflate: false });
      const sockets = new Set<Socket>();
      const perAddress = new Map<string, number>();
      // By address and port, not by socket: behind TLS the upgrade sees the TLSSocket, the accept its raw TCP socket.
      const upgraded = new Set<string>();
      const socketKey = (socket: Socket): string => `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      http.on('connection', (socket: Socket) => {
        const address = socket.remoteAddress ?? '?';
        const fromAddress = perAddress.get(address) ?? 0;
        if (sockets.size >= connectionsMax || fromAddress >= connectionsPerAddressMax) {
          this.stats.refusedConnections += 1;
          socket.destroy();
          return;
        }
        sockets.add(socket);
        perAddress.set(address, fromAddress + 1);
        socket.once('close', () => {
          sockets.delete(socket);
          const left = (perAddress.get(address) ?? 1) - 1;
          if (left <= 0) perAddress.delete(address);
          else perAddress.set(address, left);
        });
        socket.on('error', () => {});
        // Until the upgrade completes the socket must not stay open for free.
        const key = socketKey(socket);
        socket.once('close', () => upgraded.delete(key));
        const timer = setTimeout(() => {
          if (!upgraded.has(key)) {
            this.stats.upgradeTimeouts += 1;
            socket.destroy();
          }
        }, upgradeTimeoutMs);
        timer.unref();
        socket.once('close', () => clearTimeout(timer));
      });
      http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
        try {
          wss.handleUpgrade(request, socket, head, (ws) => {
            upgraded.add(socketKey(socket));
            const address = `${request.socket.remoteAddress ?? '?'}:${request.socket.remotePort ?? '?'}`;
            ws.binaryType = 'nodebuffer';
            const tlsSocket = request.socket instanceof TLSSocket ? request.socket : undefined;
            const principal = tlsSocket === undefined ? undefined : certificatePrincipal(tlsSocket);
            onLink(new WsLink(ws, address, tlsSocket !== undefined, principal === anonymousPrincipal ? undefined : principal));
          });
        } catch {
          socket.destroy();
        }
      });
      http.on('clientError', (_err, socket) => socket.destroy());
      // A failed TLS handshake (wrong CA, no client certificate when required, plain bytes): that socket only.
      http.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
      http.once('error', reject);
      http.listen(port, host, () => {
        http.off('error', reject);
        http.on('error', () => {});
        const bound = http.address();
        const boundPort = typeof bound === 'object' && bound !== null ? bound.port : port;
        resolve({
          url: `${tls === undefined ? 'ws' : 'wss'}://${host}:${boundPort}`,
          close: () =>
            new Promise<void>((done) => {
              for (const client of wss.clients) client.terminate();
              for (const socket of sockets) socket.destroy();
              wss.close();
              http.close(() => done());
            }),
        });
      });
    });
  }

  /** What a `wss://` dial trusts and presents: our CA (else Node's roots) and, for client-certificate auth, our certificate. */
  private dialTls(): { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean; minVersion: 'TLSv1.2' } {
    const tls = this.tls ?? {};
    return {
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.cert === undefined || tls.key === undefined ? {} : { cert: tls.cert, key: tls.key }),
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
      minVersion: 'TLSv1.2',
    };
  }

  dial(url: string): Promise<Link> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, {
        maxPayload: this.frameBytesMax,
        perMessageDeflate: false,
        generateMask: zeroMask,
        handshakeTimeout: 5_000,
        ...(url.startsWith('wss:') ? this.dialTls() : {}),
      });
      socket.binaryType = 'nodebuffer';
      const fail = (err: Error): void => reject(err);
      socket.once('error', fail);
      socket.once('open', () => {
        socket.off('error', fail);
        resolve(new WsLink(socket, url, url.startsWith('wss:')));
      });
    });
  }
}
