/**
 * The broker's HTTP listener: a plain node:http server that hands each request
 * to a list of handlers, tried in order, the first that answers wins. It is an
 * edge like the ws and Kafka listeners: what a path means belongs to the
 * handlers (probes.ts for /health and /ready, the metrics handler, the web
 * console and its JSON API), and this module knows only HTTP.
 *
 * Owns: `startHttpListener`, `httpListenerLimitsDefault`, `HttpError`, and the
 * JSON answers every handler shares (`sendJson`, `readRequestBody`).
 *
 * Answers it gives itself, always JSON `{"error":{"code","message"}}`:
 * - no handler answered: 404 NOT_FOUND;
 * - a handler threw an `HttpError`: its status and code (a handler's way to
 *   say 400, 405, 413 without writing the answer itself);
 * - a handler threw anything else, or its promise rejected: 500
 *   INTERNAL_ERROR, logged with the error; the message names no internals
 *   (stacks stay in the logs), and the listener goes on serving;
 * - a handler that has not answered after `handlerTimeoutMs`: 503
 *   HANDLER_TIMEOUT (a scrape waiting on a stuck peer must not hold the
 *   connection for ever);
 * - a request whose Content-Length is over `requestBodyBytesMax`: 413
 *   PAYLOAD_TOO_LARGE before any handler runs (a chunked body is bounded by
 *   `readRequestBody` as it is read).
 * A handler that answers (writes headers) and then fails only costs that
 * response: the socket is destroyed, nothing else is written.
 *
 * Bounds (all in `httpListenerLimitsDefault`, overridable per listener):
 * header and whole-request receive timeouts (slowloris), keep-alive idle
 * timeout, concurrent connections (past it new sockets are closed at once),
 * header bytes, body bytes, handler time. It binds the host it is given and no
 * other (a console on 127.0.0.1 is not reachable from the network).
 *
 * Must not import actors or domain modules: handlers come in as functions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { assert } from '../../runtime/assert.ts';
import type { Logger } from '../../runtime/logger.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

export const httpListenerLimitsDefault = {
  /** Time allowed to receive a request's headers (node's server.headersTimeout). */
  headersTimeoutMs: 10_000,
  /** Time allowed to receive a whole request, headers and body (server.requestTimeout). */
  requestTimeoutMs: 30_000,
  /** An idle keep-alive connection is closed after this long (server.keepAliveTimeout). */
  keepAliveTimeoutMs: 5_000,
  /** Open HTTP connections; past it new ones are closed at once. */
  connectionsMax: 256,
  /** Bytes of a request's headers (node's maxHeaderSize). */
  headerBytesMax: 16 * KiB,
  /** Bytes of a request body (the console posts small JSON). */
  requestBodyBytesMax: 1 * MiB,
  /** A handler that has not answered after this long is answered 503 for it. */
  handlerTimeoutMs: 20_000,
} as const;

export type HttpListenerLimits = { -readonly [K in keyof typeof httpListenerLimitsDefault]: number };

function checkLimits(limits: HttpListenerLimits): void {
  assert(limits.headersTimeoutMs > 0 && limits.headersTimeoutMs <= limits.requestTimeoutMs, 'http: headersTimeoutMs must be positive and at most requestTimeoutMs');
  assert(limits.keepAliveTimeoutMs > 0, 'http: keepAliveTimeoutMs must be positive');
  assert(limits.connectionsMax > 0, 'http: connectionsMax must be positive');
  assert(limits.requestBodyBytesMax >= 0 && limits.headerBytesMax > 0, 'http: byte bounds must not be negative');
  assert(limits.handlerTimeoutMs > 0, 'http: handlerTimeoutMs must be positive');
}
checkLimits(httpListenerLimitsDefault);

/**
 * Answers a request when it is one of its own: returns true when it answered (or will: it wrote or
 * started writing the response), false to let the next handler try. Handlers are tried in order.
 */
export type HttpHandler = (request: IncomingMessage, response: ServerResponse, url: URL) => boolean | Promise<boolean>;

export type HttpListener = {
  /** The port bound (the one asked, or the OS's pick for port 0). */
  readonly port: number;
  /** `http://HOST:PORT` (IPv6 hosts in brackets). */
  readonly url: string;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
};

export type HttpListenerOptions = {
  readonly host: string;
  readonly port: number;
  readonly handlers: readonly HttpHandler[];
  readonly log: Logger;
  readonly limits?: Partial<HttpListenerLimits>;
};

/** A handler's refusal with an HTTP status and a stable code; the listener answers it as JSON. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Writes `body` as a JSON answer (no caching: every answer here is the state of now). */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}

/** The JSON error shape of every refusal: `{"error":{"code","message"}}`. */
export function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  sendJson(response, status, { error: { code, message } });
}

/**
 * Reads a request's body, at most `bytesMax` (default requestBodyBytesMax): past it the request is
 * refused with HttpError 413 and the rest is not read.
 */
export async function readRequestBody(request: IncomingMessage, bytesMax: number = httpListenerLimitsDefault.requestBodyBytesMax): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > bytesMax) throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `the request body is larger than ${bytesMax} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, bytes);
}

/** Starts the listener on host:port (port 0: a free one) and resolves once it listens. */
export async function startHttpListener(options: HttpListenerOptions): Promise<HttpListener> {
  const limits: HttpListenerLimits = { ...httpListenerLimitsDefault, ...options.limits };
  checkLimits(limits);
  const { log, handlers } = options;
  const sockets = new Set<Socket>();

  const server: Server = createServer({ maxHeaderSize: limits.headerBytesMax, requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.headersTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs }, (request, response) => {
    void serve(request, response, handlers, limits, log);
  });
  server.on('connection', (socket: Socket) => {
    if (sockets.size >= limits.connectionsMax) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // A malformed request (bad headers, headers over headerBytesMax): node answers 400/431 itself when it can.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    log.debug({ err: err.message, code: err.code ?? null }, 'http_listener.client_error');
    if (socket.writable && !socket.writableEnded) socket.end(err.code === 'HPE_HEADER_OVERFLOW' ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'http_listener.error'));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  log.info({ url }, 'http_listener.started');

  let closing: Promise<void> | undefined;
  return {
    port,
    url,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

/** One request through the handlers, with the listener's own answers around them (see the header). */
async function serve(request: IncomingMessage, response: ServerResponse, handlers: readonly HttpHandler[], limits: HttpListenerLimits, log: Logger): Promise<void> {
  let url: URL;
  try {
    // Only the path and query are the client's; the host part is ours (a Host header is not trusted for anything).
    url = new URL(request.url ?? '/', 'http://listener');
  } catch {
    sendError(response, 400, 'BAD_REQUEST', 'the request target is not a URL path');
    return;
  }
  const declaredBytes = Number(request.headers['content-length'] ?? 0);
  if (Number.isFinite(declaredBytes) && declaredBytes > limits.requestBodyBytesMax) {
    response.setHeader('connection', 'close');
    sendError(response, 413, 'PAYLOAD_TOO_LARGE', `the request body is larger than ${limits.requestBodyBytesMax} bytes`);
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), limits.handlerTimeoutMs);
  });
  try {
    const outcome = await Promise.race([runHandlers(request, response, url, handlers), timedOut]);
    if (outcome === 'timed-out') {
      log.warn({ method: request.method, path: url.pathname, handlerTimeoutMs: limits.handlerTimeoutMs }, 'http_listener.handler_timeout');
      if (!response.headersSent) sendError(response, 503, 'HANDLER_TIMEOUT', `no answer within ${limits.handlerTimeoutMs} ms`);
      else response.destroy();
      return;
    }
    if (!outcome && !response.headersSent) sendError(response, 404, 'NOT_FOUND', `nothing at ${request.method ?? 'GET'} ${url.pathname}`);
  } catch (err) {
    if (err instanceof HttpError) {
      if (!response.headersSent) sendError(response, err.status, err.code, err.message);
      else response.destroy();
      return;
    }
    log.error({ err, method: request.method, path: url.pathname }, 'http_listener.handler_failed');
    if (!response.headersSent) sendError(response, 500, 'INTERNAL_ERROR', 'the handler failed; see the broker log');
    else response.destroy();
  } finally {
    clearTimeout(timer);
  }
}

async function runHandlers(request: IncomingMessage, response: ServerResponse, url: URL, handlers: readonly HttpHandler[]): Promise<boolean> {
  for (const handler of handlers) if (await handler(request, response, url)) return true;
  return false;
}
