/**
 * The runtime's wire format: msgpack envelopes, many per WebSocket frame.
 *
 * A frame is a plain concatenation of msgpack values, one envelope each, so a
 * link packs each envelope once when it is sent and flushes whatever queued up
 * during an event-loop turn as one frame (no re-encoding, one ws.send).
 * Envelopes are arrays, positional for compactness:
 *
 *   [version, Kind.Hello, nodeId, incarnation, listenUrl | null, role, challenge, proof | null]
 *   [version, Kind.Auth, proof]
 *   [version, Kind.Heartbeat]
 *   [version, Kind.Tell, targetPath, message]
 *   [version, Kind.Ask, targetPath, replyToPath, message]
 *   [version, Kind.ErrorReply, replyToPath, errorCode, errorMessage]
 *   [version, Kind.Watch, watcherPath, targetPath]
 *   [version, Kind.Unwatch, watcherPath, targetPath]
 *   [version, Kind.Terminated, watcherPath, targetPath, reason]
 *   [version, Kind.LinkError, errorCode, errorMessage]
 *   [version, Kind.SaslAuthenticate, mechanism | null, bytes]
 *   [version, Kind.SaslResult, errorCode, errorMessage | null, bytes, complete, mechanisms]
 *
 * The sender's node id is not repeated: a link knows its peer from the hello.
 * The hello's role, challenge and proof, and the Auth envelope, are the peer
 * authentication of peer-auth.ts. SaslAuthenticate / SaslResult carry a
 * client's SASL exchange after the hellos, on a node that requires it (the
 * mechanism on the first step only; `complete` on the last answer; the
 * mechanisms offered on a refusal), as Kafka's SaslHandshake +
 * SaslAuthenticate do in one.
 *
 * Decoding is `unknown` until `validateEnvelope` says otherwise; bad input is
 * a `DecodeFailure` carrying a Kafka error code, never an exception. Nothing
 * untrusted is turned into a string by calling into it (`String(x)` runs a
 * hostile `toString`, or recurses through a deep array): values are checked
 * with `typeof` and described by `describeValue`. A message nested deeper
 * than `messageDepthMax` is refused before any actor walks it.
 *
 * msgpackr choices (DESIGN.md traps): records (shared structures) are off so
 * the two ends never need the same structure set; a decoded binary field is a
 * view into the received frame, which is fine for forwarding but a receiver
 * that keeps a small part long-term should copy it.
 *
 * Buffer sizing (see packSized): msgpackr packs into one module-wide buffer
 * shared by every pack call, grows it to 2-4 times a message that does not
 * fit, keeps the grown size for all later buffers, and returns views into
 * it. Left alone, a 16 MiB fetch reply sat in a 32 MiB allocation, and every
 * heartbeat packed after it pinned another 32 MiB (found by the exhaustion
 * test's RSS). So a large message is packed into a buffer sized for it, and
 * the shared buffer is put back to its small size after one.
 */
import { Packr } from 'msgpackr';
import { ErrorCode } from '../protocol/errors.ts';
import { challengeBytes, proofBytes } from './peer-auth.ts';

export const protocolVersion = 2;

/** Deepest nesting of maps and arrays a message may have (the runtime's own messages stay under 10). */
export const messageDepthMax = 32;

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
  Auth: 9,
  SaslAuthenticate: 10,
  SaslResult: 11,
} as const;

/** Largest SASL message carried either way (SCRAM's are under 1 KiB). */
export const saslBytesMax = 8 * 1024;

export type LinkRole = 'peer' | 'client';

export type TerminationReason = 'stopped' | 'node-down';

export type Envelope =
  | { kind: typeof Kind.Hello; nodeId: string; incarnation: string; listenUrl: string | null; role: LinkRole; challenge: Uint8Array; proof: Uint8Array | null }
  | { kind: typeof Kind.Auth; proof: Uint8Array }
  | { kind: typeof Kind.Heartbeat }
  | { kind: typeof Kind.Tell; targetPath: string; message: unknown }
  | { kind: typeof Kind.Ask; targetPath: string; replyToPath: string; message: unknown }
  | { kind: typeof Kind.ErrorReply; replyToPath: string; errorCode: number; errorMessage: string }
  | { kind: typeof Kind.Watch; watcherPath: string; targetPath: string }
  | { kind: typeof Kind.Unwatch; watcherPath: string; targetPath: string }
  | { kind: typeof Kind.Terminated; watcherPath: string; targetPath: string; reason: TerminationReason }
  | { kind: typeof Kind.LinkError; errorCode: number; errorMessage: string }
  | { kind: typeof Kind.SaslAuthenticate; mechanism: string | null; bytes: Uint8Array }
  | { kind: typeof Kind.SaslResult; errorCode: number; errorMessage: string | null; bytes: Uint8Array; complete: boolean; mechanisms: string[] };

export type HelloEnvelope = Extract<Envelope, { kind: typeof Kind.Hello }>;

export type DecodeFailure = { errorCode: number; errorMessage: string; fatal: boolean };

const packr = new Packr({ useRecords: false, bundleStrings: false, moreTypes: false });

export const envelopePackLimits = {
  /** Size of the buffer small envelopes are packed into, many after one another. */
  sharedBufferBytes: 64 * 1024,
  /** A message estimated at this size or more is packed into a buffer of its own, sized for it. */
  ownBufferBytesMin: 256 * 1024,
  /** Values the size estimate visits before it gives up (a huge listing is packed, then copied if wasteful). */
  estimateNodesMax: 4_096,
} as const;

/**
 * Packed size of `value`, estimated from above for ASCII strings and exact for binaries, or -1 once
 * more than estimateNodesMax values were visited. Cost per value, never per byte.
 */
export function estimatePackedBytes(value: unknown): number {
  let bytes = 0;
  let visited = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    visited += 1;
    if (visited > envelopePackLimits.estimateNodesMax) return -1;
    const item = stack.pop();
    if (item instanceof Uint8Array) bytes += item.length + 5;
    else if (typeof item === 'string') bytes += item.length + 5;
    else if (Array.isArray(item)) {
      bytes += 5;
      for (const element of item) stack.push(element);
    } else if (item !== null && typeof item === 'object') {
      bytes += 5;
      for (const key of Object.keys(item)) {
        bytes += key.length + 5;
        stack.push((item as Record<string, unknown>)[key]);
      }
    } else bytes += 9;
  }
  return bytes;
}

/** Packs `value` into an allocation that fits it (see the module comment), not a view into a larger one. */
function packSized(value: unknown[], estimatedBytes: number): Buffer {
  const { sharedBufferBytes, ownBufferBytesMin } = envelopePackLimits;
  const ownBuffer = estimatedBytes >= ownBufferBytesMin;
  if (ownBuffer) packr.useBuffer(Buffer.allocUnsafeSlow(estimatedBytes + 1024));
  let packed = packr.pack(value);
  const backingBytes = packed.buffer.byteLength;
  if (ownBuffer || backingBytes > 4 * sharedBufferBytes) {
    // Past an under-estimate (or another module's large pack) msgpackr's buffer is larger than this
    // message needs: copy it out rather than keep the excess alive while it is queued.
    if (backingBytes > packed.length + packed.length / 8 + 4096) packed = Buffer.from(packed);
    packr.useBuffer(Buffer.allocUnsafeSlow(sharedBufferBytes));
  }
  return packed;
}

const estimateMessage = (message: unknown): number => {
  const estimate = estimatePackedBytes(message);
  return estimate < 0 ? 0 : estimate + 256;
};

export function encodeEnvelope(envelope: Envelope): Buffer {
  switch (envelope.kind) {
    case Kind.Hello:
      return packSized([protocolVersion, envelope.kind, envelope.nodeId, envelope.incarnation, envelope.listenUrl, envelope.role, envelope.challenge, envelope.proof], 0);
    case Kind.Auth:
      return packSized([protocolVersion, envelope.kind, envelope.proof], 0);
    case Kind.Heartbeat:
      return packSized([protocolVersion, envelope.kind], 0);
    case Kind.Tell:
      return packSized([protocolVersion, envelope.kind, envelope.targetPath, envelope.message], estimateMessage(envelope.message));
    case Kind.Ask:
      return packSized([protocolVersion, envelope.kind, envelope.targetPath, envelope.replyToPath, envelope.message], estimateMessage(envelope.message));
    case Kind.ErrorReply:
      return packSized([protocolVersion, envelope.kind, envelope.replyToPath, envelope.errorCode, envelope.errorMessage], 0);
    case Kind.Watch:
    case Kind.Unwatch:
      return packSized([protocolVersion, envelope.kind, envelope.watcherPath, envelope.targetPath], 0);
    case Kind.Terminated:
      return packSized([protocolVersion, envelope.kind, envelope.watcherPath, envelope.targetPath, envelope.reason], 0);
    case Kind.LinkError:
      return packSized([protocolVersion, envelope.kind, envelope.errorCode, envelope.errorMessage], 0);
    case Kind.SaslAuthenticate:
      return packSized([protocolVersion, envelope.kind, envelope.mechanism, envelope.bytes], 0);
    case Kind.SaslResult:
      return packSized([protocolVersion, envelope.kind, envelope.errorCode, envelope.errorMessage, envelope.bytes, envelope.complete, envelope.mechanisms], 0);
  }
}

/** Splits a frame into raw values. Malformed msgpack is a fatal failure for the link. */
export function decodeFrame(frame: Uint8Array): unknown[] | DecodeFailure {
  try {
    const values = packr.unpackMultiple(frame as Buffer) as unknown[] | undefined;
    return values ?? [];
  } catch (err) {
    const reason = err instanceof Error && typeof err.message === 'string' ? err.message.slice(0, 200) : 'undecodable';
    return { errorCode: ErrorCode.CORRUPT_MESSAGE, errorMessage: `malformed msgpack frame: ${reason}`, fatal: true };
  }
}

/** A short, safe description of an untrusted value for an error message or a log line. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${value.toString()}`;
    case 'string':
      return `string "${value.length > 40 ? `${value.slice(0, 40)}...` : value}"`;
    case 'undefined':
      return 'undefined';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return `array of ${value.length}`;
      if (value instanceof Uint8Array) return `binary of ${value.length} bytes`;
      return 'map';
    default:
      return typeof value;
  }
}

/** True when `value` nests maps and arrays no deeper than `depthMax`; iterative, so depth cannot overflow the stack. */
export function withinDepth(value: unknown, depthMax: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (depth > depthMax) return false;
    if (Array.isArray(item)) {
      for (const child of item) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    } else if (!(item instanceof Uint8Array)) {
      for (const key in item as Record<string, unknown>) {
        const child = (item as Record<string, unknown>)[key];
        if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
      }
    }
  }
  return true;
}

const isPath = (v: unknown): v is string => typeof v === 'string' && v.startsWith('/') && v.length <= 1024;
const isShortString = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
const isBinary = (v: unknown, bytes: number): v is Uint8Array => v instanceof Uint8Array && v.length === bytes;

/** Turns one decoded value into an envelope, or says what is wrong with it. */
export function validateEnvelope(value: unknown): Envelope | DecodeFailure {
  if (!Array.isArray(value) || value.length < 2) {
    return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'envelope is not an array of at least two items', fatal: false };
  }
  const [version, kind] = value as [unknown, unknown];
  if (version !== protocolVersion) {
    return { errorCode: ErrorCode.UNSUPPORTED_VERSION, errorMessage: `protocol version ${describeValue(version)} is not supported (this node speaks ${protocolVersion})`, fatal: true };
  }
  const bad = (what: string): DecodeFailure => ({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `malformed ${what} envelope`, fatal: false });
  switch (kind) {
    case Kind.Hello: {
      const [, , nodeId, incarnation, listenUrl, role, challenge, proof] = value;
      if (!isShortString(nodeId) || !isShortString(incarnation) || value.length !== 8) return bad('hello');
      if (nodeId.includes('/')) return bad('hello');
      if (listenUrl !== null && !isShortString(listenUrl)) return bad('hello');
      if (role !== 'peer' && role !== 'client') return bad('hello');
      if (!isBinary(challenge, challengeBytes)) return bad('hello');
      if (proof !== null && !isBinary(proof, proofBytes)) return bad('hello');
      return { kind, nodeId, incarnation, listenUrl, role, challenge, proof };
    }
    case Kind.Auth: {
      const [, , proof] = value;
      if (!isBinary(proof, proofBytes) || value.length !== 3) return bad('auth');
      return { kind, proof };
    }
    case Kind.Heartbeat:
      return { kind };
    case Kind.Tell: {
      const [, , targetPath, message] = value;
      if (!isPath(targetPath) || value.length !== 4) return bad('tell');
      if (!withinDepth(message, messageDepthMax)) return bad('tell (nested too deep)');
      return { kind, targetPath, message };
    }
    case Kind.Ask: {
      const [, , targetPath, replyToPath, message] = value;
      if (!isPath(targetPath) || !isPath(replyToPath) || value.length !== 5) return bad('ask');
      if (!withinDepth(message, messageDepthMax)) return bad('ask (nested too deep)');
      return { kind, targetPath, replyToPath, message };
    }
    case Kind.ErrorReply: {
      const [, , replyToPath, errorCode, errorMessage] = value;
      if (!isPath(replyToPath) || !Number.isInteger(errorCode) || typeof errorMessage !== 'string') return bad('error reply');
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
      if (!Number.isInteger(errorCode) || typeof errorMessage !== 'string') return bad('link error');
      return { kind, errorCode, errorMessage };
    }
    case Kind.SaslAuthenticate: {
      const [, , mechanism, bytes] = value;
      if (value.length !== 4 || (mechanism !== null && !isShortString(mechanism)) || !(bytes instanceof Uint8Array) || bytes.length > saslBytesMax) return bad('sasl authenticate');
      return { kind, mechanism, bytes };
    }
    case Kind.SaslResult: {
      const [, , errorCode, errorMessage, bytes, complete, mechanisms] = value;
      if (value.length !== 7 || !Number.isInteger(errorCode) || (errorMessage !== null && typeof errorMessage !== 'string')) return bad('sasl result');
      if (!(bytes instanceof Uint8Array) || bytes.length > saslBytesMax || typeof complete !== 'boolean') return bad('sasl result');
      if (!Array.isArray(mechanisms) || mechanisms.length > 16 || !mechanisms.every(isShortString)) return bad('sasl result');
      return { kind, errorCode, errorMessage, bytes, complete, mechanisms };
    }
    default:
      return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `unknown envelope kind (${describeValue(kind)})`, fatal: false };
  }
}

export function isDecodeFailure(value: unknown): value is DecodeFailure {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'errorCode' in value && 'fatal' in value;
}
