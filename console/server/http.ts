/**
 * The HTTP plumbing of the console's handlers: the handler type the broker's
 * HTTP listener runs (actors/http/listener.ts takes the same shape), JSON
 * answers and errors, and reading a bounded JSON body.
 *
 * Errors are JSON `{"error":{"code","message"}}` with Kafka's error names
 * where a Kafka error is the cause (UNKNOWN_TOPIC_OR_PARTITION,
 * TOPIC_AUTHORIZATION_FAILED, ...), so scripts branch on the code as they do
 * on the CLI's `--json` errors.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, KactusError, errorName } from '../../protocol/errors.ts';

/** Answers the request and returns true, or returns false: the next handler's turn. */
export type HttpHandler = (request: IncomingMessage, response: ServerResponse, url: URL) => boolean | Promise<boolean>;

export const consoleHttpLimits = {
  /** A JSON body the console sends (a topic's configs, an offset reset) is small. */
  requestBodyBytesMax: 1024 * 1024,
} as const;

/** A refusal with its HTTP status and a code scripts can test. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** The HTTP status of a Kafka error: the caller's fault (4xx) or the cluster's (5xx/503 when retriable). */
function statusOf(error: KactusError): number {
  switch (error.code) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.GROUP_ID_NOT_FOUND:
      return 404;
    case ErrorCode.TOPIC_AUTHORIZATION_FAILED:
    case ErrorCode.GROUP_AUTHORIZATION_FAILED:
    case ErrorCode.CLUSTER_AUTHORIZATION_FAILED:
    case ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return 403;
    case ErrorCode.SASL_AUTHENTICATION_FAILED:
      return 401;
    case ErrorCode.TOPIC_ALREADY_EXISTS:
    case ErrorCode.NON_EMPTY_GROUP:
      return 409;
    default:
      return error.retriable ? 503 : 400;
  }
}

export function sendError(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (error instanceof HttpError) return sendJson(response, error.status, { error: { code: error.code, message: error.message } });
  if (error instanceof KactusError) return sendJson(response, statusOf(error), { error: { code: errorName(error.code), message: error.message } });
  sendJson(response, 500, { error: { code: 'UNKNOWN_SERVER_ERROR', message: error instanceof Error ? error.message : String(error) } });
}

/** The request's JSON body (at most requestBodyBytesMax); 413 past it, 400 when it is not JSON, 415 when not sent as JSON. */
export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const type = request.headers['content-type'] ?? '';
  // Only application/json: a cross-site form or fetch without a preflight cannot send it (the CSRF guard).
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > consoleHttpLimits.requestBodyBytesMax) throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `the body is over ${consoleHttpLimits.requestBodyBytesMax} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  } catch (err) {
    throw new HttpError(400, 'INVALID_REQUEST', `the body is not JSON: ${(err as Error).message}`);
  }
}
