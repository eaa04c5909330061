/**
 * Client authentication on the native link, as the runtime sees it (#19):
 * the shapes of a server-side authenticator and of a client's credentials,
 * which the node drives with SaslAuthenticate / SaslResult envelopes after
 * the hellos (node.ts). The runtime knows no mechanism: the broker gives it
 * an authenticator over protocol/sasl/server-session.ts, the client its
 * SCRAM or PLAIN exchange (protocol/sasl/client-session.ts).
 */

export type ServerAuthStep =
  | { readonly kind: 'continue'; readonly bytes: Uint8Array }
  | { readonly kind: 'done'; readonly bytes: Uint8Array; readonly principal: string }
  | { readonly kind: 'failed'; readonly errorCode: number; readonly errorMessage: string };

/** A node whose clients must authenticate before anything else. */
export interface ClientAuthenticator {
  /** The mechanisms offered on a link (PLAIN only where it is TLS). */
  mechanisms(secure: boolean): readonly string[];
  /** One authentication by `mechanism` (offered: the caller checked) from `address` (an IP, the limiter's key). */
  start(mechanism: string, address: string, secure: boolean): { step(bytes: Uint8Array): ServerAuthStep };
  /** How long a link that failed stays (unread) before it is closed. */
  readonly failedDelayMs: number;
}

export type ClientAuthStep =
  | { readonly kind: 'send'; readonly bytes: Uint8Array }
  | { readonly kind: 'done' }
  | { readonly kind: 'failed'; readonly reason: string };

/** What a client dialing a broker authenticates with. */
export interface ClientCredentials {
  readonly mechanism: string;
  /** A fresh exchange per link: its first message, then its answer to each server message. */
  start(): { first(): Uint8Array; next(serverBytes: Uint8Array, complete: boolean): ClientAuthStep };
}

/** The IP of `ip:port` (the address a link reports), the key failed attempts are counted by. */
export function addressOnly(remoteAddress: string): string {
  const match = /^(.*):\d+$/.exec(remoteAddress);
  return match === null ? remoteAddress : match[1]!;
}
