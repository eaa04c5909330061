/**
 * The HTTP plumbing of the console's handlers on the broker's HTTP listener
 * (actors/http/listener.ts: its handler type, refusals and JSON answers):
 * Kafka errors as HTTP answers, and reading a bounded JSON body.
 *
 * Errors are JSON `{"error":{"code","message"}}` with Kafka's error names
 * where a Kafka error is the cause (UNKNOWN_TOPIC_OR_PARTITION,
 * TOPIC_AUTHORIZATION_FAILED, ...), so scripts branch on the code as they do
 * on the CLI's `--json` errors.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, KactusError, errorName } from '../../protocol/errors.ts';
import { HttpError, readRequestBody, sendJson } from '../../actors/http/listener.ts';

// The listener's own handler type, refusal and JSON answer: the console's handlers run on that listener.
export { HttpError, sendJson, type HttpHandler } from '../../actors/http/listener.ts';

export const consoleHttpLimits = {
  /** A JSON body the console sends (a topic's configs, an offset reset) is small. */
  requestBodyBytesMax: 1024 * 1024,
} as const;

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

/** Answers any failure of a console handler: its HttpError, a Kafka error with its HTTP status, or a 500. */
export function answerError(response: ServerResponse, error: unknown): void {
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
  const body = await readRequestBody(request, consoleHttpLimits.requestBodyBytesMax);
  try {
    return JSON.parse(body.toString('utf8') || 'null');
  } catch (err) {
    throw new HttpError(400, 'INVALID_REQUEST', `the body is not JSON: ${(err as Error).message}`);
  }
}
