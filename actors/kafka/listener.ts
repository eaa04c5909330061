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
 * - SASL (a SASL_PLAINTEXT or SASL_SSL listener, `options.sasl`): until the
 *   connection authenticated, only ApiVersions, SaslHandshake (v1) and
 *   SaslAuthenticate are served, here, by a SaslServerSession
 *   (protocol/sasl/server-session.ts); anything else closes it, as Kafka's
 *   SaslServerAuthenticator does. A failed authentication, or a mechanism
 *   not offered, is answered (SASL_AUTHENTICATION_FAILED /
 *   UNSUPPORTED_SASL_MECHANISM with a message) and the connection closed
 *   after connection.failed.authentication.delay.ms, unread meanwhile.
 * - Every request carries its connection's principal: `User:<name>` after
 *   SASL, `User:<subject DN>` for a TLS client certificate, else
 *   `User:ANONYMOUS` (Kafka's).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { anonymousPrincipal, certificatePrincipal, listenerTlsProblem, tlsServerOptions, type TlsSettings } from '../../runtime/tls.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { FrameSplitter, kafkaFrameLimits } from '../../protocol/kafka/frames.ts';
import { apiKeys, apis, decodeRequest, encodeResponse, type ApiInfo, type RequestHeader } from '../../protocol/kafka/messages.ts';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { TLSSocket } from 'node:tls';
import { isSaslMechanism, type SaslMechanism, type SaslServerSession } from '../../protocol/sasl/server-session.ts';

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
  /** Who the connection authenticated as (Kafka's KafkaPrincipal string, `User:NAME`). */
  readonly principal: string;
};


/** SASL on a listener (SASL_PLAINTEXT, SASL_SSL). */
export type KafkaListenerSasl = {
  /** The mechanisms this listener offers (PLAIN only where TLS protects it: saslMechanismsOffered). */
  readonly mechanisms: readonly SaslMechanism[];
  /** One authentication by `mechanism` (offered) from `address`: the broker's, shared with the native listener. */
  readonly startSession: (mechanism: SaslMechanism, address: string) => SaslServerSession;
  /** connection.failed.authentication.delay.ms: how long a failed connection stays (unread) before it is closed. */
  readonly failedAuthenticationDelayMs: number;
};

/**
 * The versions of the SASL APIs a SASL listener serves itself. SaslHandshake v0 is advertised, as
 * Kafka does, because librdkafka enables SaslHandshake only when v0 is in the range (then sends v1);
 * a v0 handshake itself (unframed tokens after it) is refused with ILLEGAL_SASL_STATE and a close.
 */
export const saslApiVersions = { SaslHandshake: { minVersion: 0, maxVersion: 1 }, SaslAuthenticate: { minVersion: 0, maxVersion: 2 } } as const;

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
  /** A SASL listener: connections authenticate before anything else. */
  readonly sasl?: KafkaListenerSasl;
};

/** How long a connection to an SSL listener may take to finish its TLS handshake. */
export const kafkaTlsHandshakeTimeoutMs = 10_000;

export type KafkaListener = {
  readonly host: string;
  readonly port: number;
  connectionCount(): number;
  close(): Promise<void>;
};

type Slot = { readonly api: ApiInfo; readonly version: number; readonly correlationId: number; done: boolean; body: KafkaValue | null; closeAfter?: string };

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
    serveConnection(socket, { id: nextConnectionId++, remoteAddress: socket.remoteAddress ?? '', localPort: socket.localPort ?? 0 }, options, limits, tls === undefined ? anonymousPrincipal : certificatePrincipal(socket as TLSSocket));
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

function serveConnection(socket: Socket, connection: KafkaConnectionInfo, options: KafkaListenerOptions, limits: KafkaListenerLimits, connectionPrincipal: string): void {
  const splitter = new FrameSplitter(limits.socketRequestMaxBytes);
  const sasl = options.sasl;
  /** The principal requests run as; null while a SASL listener's connection has not authenticated. */
  let principal: string | null = sasl === undefined ? connectionPrincipal : null;
  let saslSession: SaslServerSession | null = null;
  /** Set once an answer that ends the connection is queued: nothing more is read or served. */
  let closing = false;
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
      if (slot.closeAfter !== undefined) {
        const reason = slot.closeAfter;
        const timer = setTimeout(() => close(reason, 'info'), sasl?.failedAuthenticationDelayMs ?? 0);
        timer.unref();
        return;
      }
    }
    serveBacklog();
    updateFlow();
  };

  const answerLater = (api: ApiInfo, version: number, correlationId: number, answer: Promise<KafkaValue | null>, closeAfter?: string): void => {
    const slot: Slot = { api, version, correlationId, done: false, body: null, ...(closeAfter === undefined ? {} : { closeAfter }) };
    if (closeAfter !== undefined) {
      closing = true;
      backlog.length = 0;
      socket.pause();
    }
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
    while (!closed && !closing && backlog.length > 0 && slots.length < limits.inFlightRequestsPerConnectionMax) serveFrame(backlog.shift()!);
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
      if (sasl !== undefined && (principal === null || api.name === 'SaslHandshake' || api.name === 'SaslAuthenticate')) {
        if (serveSasl(api, header, body, sasl)) return;
      }
      let answer: Promise<KafkaValue | null>;
      try {
        answer = options.handler({ api, version: header.apiVersion, header, body, connection, principal: principal! });
      } catch (err) {
        close(`the ${api.name} v${header.apiVersion} handler threw: ${(err as Error).message}`);
        return;
      }
      answerLater(api, header.apiVersion, header.correlationId, answer);
    }
  };

  /**
   * A request on a SASL listener before (or a SASL request after) authentication: answered here, or
   * the connection closed. Returns false for an ApiVersions, which the handler answers.
   */
  const serveSasl = (api: ApiInfo, header: RequestHeader, body: KafkaValue, settings: KafkaListenerSasl): boolean => {
    const answer = (value: KafkaValue, closeAfter?: string): true => {
      answerLater(api, header.apiVersion, header.correlationId, Promise.resolve(value), closeAfter);
      return true;
    };
    const fields = body as Record<string, unknown>;
    if (api.name === 'ApiVersions' && principal === null) return false;
    if (api.name !== 'SaslHandshake' && api.name !== 'SaslAuthenticate') {
      close(`${api.name} before SASL authentication (only ApiVersions, SaslHandshake and SaslAuthenticate are served until then)`);
      return true;
    }
    const served = saslApiVersions[api.name];
    if (header.apiVersion < served.minVersion || header.apiVersion > served.maxVersion) {
      close(`${api.name} v${header.apiVersion} is not served (v${served.minVersion}-${served.maxVersion})`);
      return true;
    }
    if (api.name === 'SaslHandshake') {
      const mechanism = fields.mechanism;
      if (header.apiVersion === 0) return answer({ errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: [...settings.mechanisms] }, 'SaslHandshake v0 (unframed SASL tokens) is not served: use v1 and SaslAuthenticate');
      if (principal !== null || saslSession !== null) return answer({ errorCode: ErrorCode.ILLEGAL_SASL_STATE, mechanisms: [...settings.mechanisms] }, 'SaslHandshake after the handshake (re-authentication is not served)');
      if (!isSaslMechanism(mechanism) || !settings.mechanisms.includes(mechanism)) {
        return answer({ errorCode: ErrorCode.UNSUPPORTED_SASL_MECHANISM, mechanisms: [...settings.mechanisms] }, `SASL mechanism ${String(mechanism).slice(0, 64)} is not offered here (${settings.mechanisms.join(', ')})`);
      }
      saslSession = settings.startSession(mechanism, connection.remoteAddress);
      return answer({ errorCode: ErrorCode.NONE, mechanisms: [...settings.mechanisms] });
    }
    const failed = (errorCode: number, errorMessage: string): true => {
      log.info({ errorCode, why: errorMessage }, 'kafka_listener.authentication_failed');
      return answer({ errorCode, errorMessage, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0 }, `authentication failed: ${errorMessage}`);
    };
    if (saslSession === null || principal !== null) return failed(ErrorCode.ILLEGAL_SASL_STATE, 'SaslAuthenticate without a SaslHandshake first');
    const authBytes = fields.authBytes;
    if (!(authBytes instanceof Uint8Array)) return failed(ErrorCode.ILLEGAL_SASL_STATE, 'SaslAuthenticate without authBytes');
    const step = saslSession.step(authBytes);
    if (step.kind === 'failed') return failed(step.errorCode, step.errorMessage);
    if (step.kind === 'done') {
      principal = step.principal;
      log.info({ principal, mechanism: saslSession.mechanism }, 'kafka_listener.authenticated');
    }
    return answer({ errorCode: ErrorCode.NONE, errorMessage: null, authBytes: step.bytes, sessionLifetimeMs: 0 });
  };

  socket.on('data', (chunk: Buffer) => {
    if (closed || closing) return;
    const { frames, error } = splitter.push(chunk);
    backlog.push(...frames);
    serveBacklog();
    if (error !== null) close(error);
    updateFlow();
  });
}
