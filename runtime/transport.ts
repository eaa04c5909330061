/**
 * The transport boundary (nats.js style): a `Transport` dials and listens, a
 * `Link` moves whole frames in both directions.
 *
 * Two implementations: `ws-transport.ts` (the real one, WebSocket) and
 * `memory-transport.ts` (in-process, for fast deterministic tests). The node
 * above never knows which it has. Incoming frames arrive through a callback
 * rather than an AsyncIterable: a promise per frame costs more than it buys on
 * a path that carries hundreds of thousands of messages a second.
 *
 * A link never refuses a send; the caller bounds what it hands over by
 * watching `bufferedBytes()` and waiting for `onDrain`.
 */
export type LinkCloseReason = { code: number; reason: string };

export interface Link {
  /** The peer's network address, for logs. */
  readonly remoteAddress: string;
  /** The link runs over TLS (wss). Absent: no. */
  readonly secure?: boolean;
  /** An inbound TLS link whose client certificate the truststore verified: its principal (`User:CN=...`). */
  readonly certificatePrincipal?: string;
  send(frame: Uint8Array): void;
  /** Bytes handed to the link that the network has not taken yet. */
  bufferedBytes(): number;
  onFrame(handler: (frame: Uint8Array) => void): void;
  /** Called when buffered bytes have been written out. */
  onDrain(handler: () => void): void;
  /** Stops reading frames from the peer (mute) until resume(); frames already read may still arrive. */
  pause(): void;
  resume(): void;
  close(code: number, reason: string): void;
  /** Resolves once, when the link is closed by either side or fails. */
  readonly closed: Promise<LinkCloseReason>;
}

export interface Listener {
  /** The URL peers dial to reach this listener (e.g. ws://127.0.0.1:9191). */
  readonly url: string;
  close(): Promise<void>;
}

export interface Transport {
  listen(host: string, port: number, onLink: (link: Link) => void): Promise<Listener>;
  /** Rejects with an error whose `code` is 'ECONNREFUSED' when nothing listens at the address (see isConnectionRefused). */
  dial(url: string): Promise<Link>;
}

/** A dial that failed because nothing listens at the address (the kernel refused it), as opposed to a timeout or a refused handshake. */
export function isConnectionRefused(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ECONNREFUSED';
}

/** WebSocket close codes used by the runtime. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;

/** WebSocket allows 123 bytes of close reason: cut by bytes, on a character boundary. */
export function closeReasonBytes(reason: string, bytesMax = 123): string {
  if (Buffer.byteLength(reason) <= bytesMax) return reason;
  let cut = reason.slice(0, bytesMax);
  while (Buffer.byteLength(cut) > bytesMax) cut = cut.slice(0, -1);
  return cut;
}
