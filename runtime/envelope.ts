/**
 * The runtime's wire format: msgpack envelopes, many per WebSocket frame.
 *
 * A frame is a plain concatenation of msgpack values, one envelope each, so a
 * link packs each envelope once when it is sent and flushes whatever queued up
 * during an event-loop turn as one frame (no re-encoding, one ws.send).
 * Envelopes are arrays, positional for compactness:
 *
 *   [version, Kind.Hello, nodeId, incarnation, listenUrl | null]
 *   [version, Kind.Heartbeat]
 *   [version, Kind.Tell, targetPath, message]
 *   [version, Kind.Ask, targetPath, replyToPath, message]
 *   [version, Kind.ErrorReply, replyToPath, errorCode, errorMessage]
 *   [version, Kind.Watch, watcherPath, targetPath]
 *   [version, Kind.Unwatch, watcherPath, targetPath]
 *   [version, Kind.Terminated, watcherPath, targetPath, reason]
 *   [version, Kind.LinkError, errorCode, errorMessage]
 *
 * The sender's node id is not repeated: a link knows its peer from the hello.
 * Decoding is `unknown` until `validateEnvelope` says otherwise; bad input is
 * a `DecodeFailure` carrying a Kafka error code, never an exception.
 *
 * msgpackr choices (DESIGN.md traps): records (shared structures) are off so
 * the two ends never need the same structure set; a decoded binary field is a
 * view into the received frame, which is fine for forwarding but a receiver
 * that keeps a small part long-term should copy it.
 */
import { Packr } from 'msgpackr';
import { ErrorCode } from '../protocol/errors.ts';

export const protocolVersion = 1;

export const Kind = {
  Hello: 0,
  Heartbeat: 1,
  Tell: 2,
  Ask: 3,
  ErrorReply: 4,
  Watch: 5,
  Unwatch: 6,
  Terminated: 7,
  LinkError: 8,
} as const;

export type TerminationReason = 'stopped' | 'node-down';

export type Envelope =
  | { kind: typeof Kind.Hello; nodeId: string; incarnation: string; listenUrl: string | null }
  | { kind: typeof Kind.Heartbeat }
  | { kind: typeof Kind.Tell; targetPath: string; message: unknown }
  | { kind: typeof Kind.Ask; targetPath: string; replyToPath: string; message: unknown }
  | { kind: typeof Kind.ErrorReply; replyToPath: string; errorCode: number; errorMessage: string }
  | { kind: typeof Kind.Watch; watcherPath: string; targetPath: string }
  | { kind: typeof Kind.Unwatch; watcherPath: string; targetPath: string }
  | { kind: typeof Kind.Terminated; watcherPath: string; targetPath: string; reason: TerminationReason }
  | { kind: typeof Kind.LinkError; errorCode: number; errorMessage: string };

export type DecodeFailure = { errorCode: number; errorMessage: string; fatal: boolean };

const packr = new Packr({ useRecords: false, bundleStrings: false, moreTypes: false });

export function encodeEnvelope(envelope: Envelope): Buffer {
  switch (envelope.kind) {
    case Kind.Hello:
      return packr.pack([protocolVersion, envelope.kind, envelope.nodeId, envelope.incarnation, envelope.listenUrl]);
    case Kind.Heartbeat:
      return packr.pack([protocolVersion, envelope.kind]);
    case Kind.Tell:
      return packr.pack([protocolVersion, envelope.kind, envelope.targetPath, envelope.message]);
    case Kind.Ask:
      return packr.pack([protocolVersion, envelope.kind, envelope.targetPath, envelope.replyToPath, envelope.message]);
    case Kind.ErrorReply:
      return packr.pack([protocolVersion, envelope.kind, envelope.replyToPath, envelope.errorCode, envelope.errorMessage]);
    case Kind.Watch:
    case Kind.Unwatch:
      return packr.pack([protocolVersion, envelope.kind, envelope.watcherPath, envelope.targetPath]);
    case Kind.Terminated:
      return packr.pack([protocolVersion, envelope.kind, envelope.watcherPath, envelope.targetPath, envelope.reason]);
    case Kind.LinkError:
      return packr.pack([protocolVersion, envelope.kind, envelope.errorCode, envelope.errorMessage]);
  }
}

/** Splits a frame into raw values. Malformed msgpack is a fatal failure for the link. */
export function decodeFrame(frame: Uint8Array): unknown[] | DecodeFailure {
  try {
    const values = packr.unpackMultiple(frame as Buffer) as unknown[] | undefined;
    return values ?? [];
  } catch (err) {
    return { errorCode: ErrorCode.CORRUPT_MESSAGE, errorMessage: `malformed msgpack frame: ${(err as Error).message}`, fatal: true };
  }
}

const isPath = (v: unknown): v is string => typeof v === 'string' && v.startsWith('/') && v.length <= 1024;
const isShortString = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;

/** Turns one decoded value into an envelope, or says what is wrong with it. */
export function validateEnvelope(value: unknown): Envelope | DecodeFailure {
  if (!Array.isArray(value) || value.length < 2) {
    return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'envelope is not an array of at least two items', fatal: false };
  }
  const [version, kind] = value as [unknown, unknown];
  if (version !== protocolVersion) {
    return { errorCode: ErrorCode.UNSUPPORTED_VERSION, errorMessage: `protocol version ${String(version)} is not supported (this node speaks ${protocolVersion})`, fatal: true };
  }
  const bad = (what: string): DecodeFailure => ({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `malformed ${what} envelope`, fatal: false });
  switch (kind) {
    case Kind.Hello: {
      const [, , nodeId, incarnation, listenUrl] = value;
      if (!isShortString(nodeId) || !isShortString(incarnation)) return bad('hello');
      if (listenUrl !== null && !isShortString(listenUrl)) return bad('hello');
      return { kind, nodeId, incarnation, listenUrl };
    }
    case Kind.Heartbeat:
      return { kind };
    case Kind.Tell: {
      const [, , targetPath, message] = value;
      if (!isPath(targetPath) || value.length !== 4) return bad('tell');
      return { kind, targetPath, message };
    }
    case Kind.Ask: {
      const [, , targetPath, replyToPath, message] = value;
      if (!isPath(targetPath) || !isPath(replyToPath) || value.length !== 5) return bad('ask');
      return { kind, targetPath, replyToPath, message };
    }
    case Kind.ErrorReply: {
      const [, , replyToPath, errorCode, errorMessage] = value;
      if (!isPath(replyToPath) || typeof errorCode !== 'number' || typeof errorMessage !== 'string') return bad('error reply');
      return { kind, replyToPath, errorCode, errorMessage };
    }
    case Kind.Watch:
    case Kind.Unwatch: {
      const [, , watcherPath, targetPath] = value;
      if (!isPath(watcherPath) || !isPath(targetPath)) return bad('watch');
      return { kind, watcherPath, targetPath };
    }
    case Kind.Terminated: {
      const [, , watcherPath, targetPath, reason] = value;
      if (!isPath(watcherPath) || !isPath(targetPath) || (reason !== 'stopped' && reason !== 'node-down')) return bad('terminated');
      return { kind, watcherPath, targetPath, reason };
    }
    case Kind.LinkError: {
      const [, , errorCode, errorMessage] = value;
      if (typeof errorCode !== 'number' || typeof errorMessage !== 'string') return bad('link error');
      return { kind, errorCode, errorMessage };
    }
    default:
      return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `unknown envelope kind ${JSON.stringify(kind)}`, fatal: false };
  }
}

export function isDecodeFailure(value: unknown): value is DecodeFailure {
  return typeof value === 'object' && value !== null && 'errorCode' in value && 'fatal' in value;
}
