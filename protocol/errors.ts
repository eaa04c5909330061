/**
 * Error codes that cross the wire, numbered as Kafka numbers them.
 *
 * Owns: the `ErrorCode` name -> number map, lookups by number, and `KactusError`,
 * the one error class the client edge throws. Errors never cross the wire as
 * Error objects: replies carry `errorCode` (0 = none) plus an optional message,
 * so a partial failure is data. An unknown number maps to UNKNOWN_SERVER_ERROR.
 * Retry decisions read `retriable` only; a JS TypeError is never retriable.
 * Imports nothing but the generated table.
 */
import { errorTable, type ErrorName } from './error-codes.ts';

export type { ErrorName };

type CodeOf<N extends ErrorName> = Extract<(typeof errorTable)[number], { name: N }>['code'];

/** `ErrorCode.NOT_LEADER_OR_FOLLOWER === 6`, and so on for every Kafka error. */
export const ErrorCode = Object.freeze(
  Object.fromEntries(errorTable.map((e) => [e.name, e.code])),
) as { readonly [N in ErrorName]: CodeOf<N> };

export type ErrorCodeNumber = (typeof errorTable)[number]['code'];

type ErrorInfo = { code: number; name: ErrorName; retriable: boolean; message: string };

const byCode = new Map<number, ErrorInfo>(errorTable.map((e) => [e.code, e]));
const unknownServerError = byCode.get(-1)!;

/** Describes an error code; unknown numbers describe as UNKNOWN_SERVER_ERROR. */
export function errorInfo(code: number): ErrorInfo {
  return byCode.get(code) ?? unknownServerError;
}

export function isRetriable(code: number): boolean {
  return errorInfo(code).retriable;
}

export function errorName(code: number): ErrorName {
  return errorInfo(code).name;
}

/** The error users see: a Kafka code name, whether a retry may help, and a message naming the problem. */
export class KactusError extends Error {
  readonly code: number;
  readonly type: ErrorName;
  readonly retriable: boolean;

  constructor(code: number, message?: string, options?: { cause?: unknown }) {
    const info = errorInfo(code);
    super(message ? `${info.name}: ${message}` : `${info.name}: ${info.message}`, options);
    this.name = 'KactusError';
    this.code = info.code;
    this.type = info.name;
    this.retriable = info.retriable;
  }
}

export function errorFromCode(code: number, message?: string, cause?: unknown): KactusError {
  return new KactusError(code, message, cause === undefined ? undefined : { cause });
}

/** Maps anything thrown to a wire code: KactusError keeps its code, everything else is UNKNOWN_SERVER_ERROR. */
export function toErrorCode(err: unknown): number {
  return err instanceof KactusError ? err.code : ErrorCode.UNKNOWN_SERVER_ERROR;
}
