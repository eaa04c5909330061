/**
 * The Kafka listener's socket side: a TCP server speaking Kafka's framing,
 * handing each decoded request to a handler and writing the answers back in
 * request order (Kafka clients pipeline requests on one connection and match
 * answers by order as well as by correlation id).
 *
 * Owns: `startKafkaListener`, `kafkaListenerLimitsDefault`, and per
 * connection the frame splitter, the ordered response queue and the
 * backpressure. What a request means is the handler's (handlers.ts); this
 * module knows only frames, headers and versions.
 *
 * Per connection:
 * - Frames over socket.request.max.bytes, or a request that does not parse,
 *   or an API / version we do not serve: the connection is closed, as Kafka
 *   does (one log line per connection says why). An ApiVersions newer than
 *   ours is answered (v0, UNSUPPORTED_VERSION, our versions: KIP-511).
 * - A handler answer of null sends nothing (Produce with acks=0), and keeps
 *   the order of the others. A handler that throws closes the connection:
 *   handlers answer every error they know with a Kafka error code, so a
 *   throw is a bug, and a connection is cheaper to lose than a broker.
 * - Backpressure: at most `inFlightRequestsPerConnectionMax` requests wait
 *   for answers; frames of the same chunk beyond that wait unparsed (one
 *   chunk's worth at most), and while any wait, or more than
 *   `pendingResponseBytesMax` of answers sit in the socket, the socket is not
 *   read (TCP pushes back on the client): never a growing buffer.
 * - Idle connections close after connections.max.idle.ms (Kafka's 10 min).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { listenerTlsProblem, tlsServerOptions, type TlsSettings } from '../../runtime/tls.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { FrameSplitter, kafkaFrameLimits } from '../../protocol/kafka/frames.ts';
import { apiKeys, apis, decodeRequest, encodeResponse, type ApiInfo, type RequestHeader } from '../../protocol/kafka/messages.ts';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import type { Logger } from '../../runtime/logger.ts';

export const kafkaListenerLimitsDefault = {
  /** socket.request.max.bytes: the largest request frame. */
  socketRequestMaxBytes: kafkaFrameLimits.socketRequestMaxBytes,
  /** Open Kafka connections; past it new ones are closed at once (Kafka's max.connections). */
  connectionsMax: 4_096,
  /** Requests of one connection waiting for their answers; past it the connection is not read. */
  inFlightRequestsPerConnectionMax: 100,
  /** Answer bytes waiting in one connection's socket past which it is not read. */
  pendingResponseBytesMax: 16 * 1024 * 1024,
  /** connections.max.idle.ms: a connection silent this long is closed. */
  connectionsMaxIdleMs: 600_000,
} as const;

export type KafkaListenerLimits = { -readonly [K in keyof typeof kafkaListenerLimitsDefault]: number };

export type KafkaConnectionInfo = { readonly id: number; readonly remoteAddress: string; readonly localPort: number };

export type KafkaRequest = {
  readonly api: ApiInfo;
  readonly version: number;
  readonly header: RequestHeader;
  readonly body: KafkaValue;
  readonly connection: KafkaConnectionInfo;
};

/** Answers one request: the response body, or null for none (acks=0). */
export type KafkaRequestHandler = (request: KafkaRequest) => Promise<KafkaValue | null>;

export type KafkaListenerOptions = {
  readonly host: string;
  readonly port: number;
  readonly handler: KafkaRequestHandler;
  /** The versions ApiVersions advertises, for the answer to a too-new ApiVersions. */
  readonly apiVersions: () => readonly { apiKey: number; minVersion: number; maxVersion: number }[];
  readonly log: Logger;
  readonly limits?: Partial<KafkaListenerLimits>;
  /** An SSL listener (Kafka's security.protocol SSL): TLS with these settings, else PLAINTEXT. */
  readonly tls?: TlsSettings;
};

/** How long a connection to an SSL listener may take to finish its TLS handshake. */
export const kafkaTlsHandshakeTimeoutMs = 10_000;

export type KafkaListener = {
  readonly host: string;
  readonly port: number;
  connectionCount(): number;
  close(): Promise<void>;
};

type Slot = { readonly api: ApiInfo; readonly version: number; readonly correlationId: number; done: boolean; body: KafkaValue | null };

export async function startKafkaListener(options: KafkaListenerOptions): Promise<KafkaListener> {
  const limits: KafkaListenerLimits = { ...kafkaListenerLimitsDefault, ...options.limits };
  const sockets = new Set<Socket>();
  let nextConnectionId = 1;
  const onConnection = (socket: Socket): void => {
    if (sockets.size >= limits.connectionsMax) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serveConnection(socket, { id: nextConnectionId++, remoteAddress: socket.remoteAddress ?? '', localPort: socket.localPort ?? 0 }, options, limits);
  };
  const tls = options.tls;
  const problem = tls === undefined ? null : listenerTlsProblem(tls);
  if (problem !== null) throw new Error(`Kafka SSL listener: ${problem}`);
  const server: Server =
    tls === undefined
      ? createServer({ noDelay: true }, onConnection)
      : createTlsServer({ ...tlsServerOptions(tls), handshakeTimeout: kafkaTlsHandshakeTimeoutMs, noDelay: true }, onConnection);
  // Sockets still in their TLS handshake count too (the handshake is bounded by kafkaTlsHandshakeTimeoutMs).
  server.maxConnections = limits.connectionsMax;
  if (tls !== undefined) server.on('tlsClientError', (err: Error, socket: Socket) => {
    options.log.debug({ err: err.message, remoteAddress: socket.remoteAddress }, 'kafka_listener.tls_handshake_failed');
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => options.log.error({ err }, 'kafka_listener.error'));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  options.log.info({ host: options.host, port }, 'kafka_listener.listening');
  return {
    host: options.host,
    port,
    connectionCount: () => sockets.size,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function serveConnection(socket: Socket, connection: KafkaConnectionInfo, options: KafkaListenerOptions, limits: KafkaListenerLimits): void {
  const splitter = new FrameSplitter(limits.socketRequestMaxBytes);
  const slots: Slot[] = [];
  /** Frames split off the last chunk that did not fit the in-flight window: at most one chunk's worth (reading is paused). */
  const backlog: Buffer[] = [];
  let closed = false;
  let paused = false;
  const log = options.log.child({ kafkaConnection: connection.id, remoteAddress: connection.remoteAddress });

  const close = (reason: string, level: 'info' | 'warn' = 'warn'): void => {
    if (closed) return;
    closed = true;
    log[level]({ reason: reason.slice(0, 512) }, 'kafka_listener.connection_closed');
    socket.destroy();
  };

  const updateFlow = (): void => {
    if (closed) return;
    const shouldPause = backlog.length > 0 || slots.length >= limits.inFlightRequestsPerConnectionMax || socket.writableLength > limits.pendingResponseBytesMax;
    if (shouldPause && !paused) {
      paused = true;
      socket.pause();
    } else if (!shouldPause && paused) {
      paused = false;
      socket.resume();
    }
  };

  const flush = (): void => {
    while (slots.length > 0 && slots[0]!.done) {
      const slot = slots.shift()!;
      if (slot.body === null || closed) continue;
      try {
        socket.write(encodeResponse(slot.api, slot.version, slot.correlationId, slot.body));
      } catch (err) {
        close(`encoding the ${slot.api.name} v${slot.version} answer failed: ${(err as Error).message}`);
        return;
      }
    }
    serveBacklog();
    updateFlow();
  };

  const answerLater = (api: ApiInfo, version: number, correlationId: number, answer: Promise<KafkaValue | null>): void => {
    const slot: Slot = { api, version, correlationId, done: false, body: null };
    slots.push(slot);
    answer.then(
      (body) => {
        slot.done = true;
        slot.body = body;
        flush();
      },
      (err: unknown) => close(`the ${api.name} v${version} handler failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  };

  socket.setTimeout(limits.connectionsMaxIdleMs, () => close(`idle for ${limits.connectionsMaxIdleMs} ms`, 'info'));
  socket.on('drain', updateFlow);
  socket.on('error', (err) => close(`socket error: ${err.message}`, 'info'));
  socket.on('close', () => {
    closed = true;
  });
  const serveBacklog = (): void => {
    while (!closed && backlog.length > 0 && slots.length < limits.inFlightRequestsPerConnectionMax) serveFrame(backlog.shift()!);
  };

  const serveFrame = (frame: Buffer): void => {
    {
      const decoded = decodeRequest(frame);
      if (decoded.kind === 'close') {
        close(decoded.reason);
        return;
      }
      if (decoded.kind === 'unsupported-api-versions') {
        const apiVersionsInfo = apis.get(apiKeys.ApiVersions ?? 18)!;
        answerLater(apiVersionsInfo, 0, decoded.header.correlationId, Promise.resolve({ errorCode: ErrorCode.UNSUPPORTED_VERSION, apiKeys: options.apiVersions().map((v) => ({ ...v })) }));
        return;
      }
      const { api, header, body } = decoded;
      let answer: Promise<KafkaValue | null>;
      try {
        answer = options.handler({ api, version: header.apiVersion, header, body, connection });
      } catch (err) {
        close(`the ${api.name} v${header.apiVersion} handler threw: ${(err as Error).message}`);
        return;
      }
      answerLater(api, header.apiVersion, header.correlationId, answer);
    }
  };

  socket.on('data', (chunk: Buffer) => {
    if (closed) return;
    const { frames, error } = splitter.push(chunk);
    backlog.push(...frames);
    serveBacklog();
    if (error !== null) close(error);
    updateFlow();
  });
}
