/**
 * SASL/PLAIN (RFC 4616), the server side, pure (#19): parses the one
 * message `[authzid] NUL authcid NUL passwd` and checks the password against
 * a SCRAM credential, so PLAIN needs no second store of secrets (the
 * password is salted and hashed as SCRAM would, then compared in constant
 * time). PLAIN sends the password itself: listeners offer it over TLS only.
 *
 * Owns: `parsePlain`, `plainMatches`, `plainLimits`.
 */
import { timingSafeEqual } from 'node:crypto';
import { scramKeysFromSaltedPassword, scramSaltedPassword, type ScramCredential } from './scram.ts';

export const plainLimits = {
  /** Longest PLAIN message accepted (Kafka's PlainSaslServer takes up to the SASL frame's size; 255 per part is RFC 4616's). */
  messageBytesMax: 1_024,
  partBytesMax: 255,
} as const;

export type PlainMessage = { readonly authzid: string; readonly username: string; readonly password: string };

/** The three parts, or why the message is not PLAIN (empty user or password, too long, an authzid that is not the user). */
export function parsePlain(bytes: Uint8Array): { readonly ok: true; readonly message: PlainMessage } | { readonly ok: false; readonly reason: string } {
  if (bytes.length === 0 || bytes.length > plainLimits.messageBytesMax) return { ok: false, reason: `PLAIN: ${bytes.length} bytes (1-${plainLimits.messageBytesMax})` };
  const text = Buffer.from(bytes).toString('utf8');
  if (Buffer.byteLength(text, 'utf8') !== bytes.length) return { ok: false, reason: 'PLAIN: not UTF-8' };
  const parts = text.split('\u0000');
  if (parts.length !== 3) return { ok: false, reason: 'PLAIN: expected [authzid] NUL user NUL password' };
  const [authzid, username, password] = parts as [string, string, string];
  if (username.length === 0 || password.length === 0) return { ok: false, reason: 'PLAIN: empty username or password' };
  if ([authzid, username, password].some((p) => Buffer.byteLength(p, 'utf8') > plainLimits.partBytesMax)) return { ok: false, reason: `PLAIN: a part over ${plainLimits.partBytesMax} bytes` };
  if (authzid !== '' && authzid !== username) return { ok: false, reason: 'PLAIN: authorization id differs from the username' };
  return { ok: true, message: { authzid, username, password } };
}

/** Whether `password` is the one `credential` was made from (constant time in the keys' length). */
export function plainMatches(credential: ScramCredential, password: string): boolean {
  const salted = scramSaltedPassword(credential.mechanism, password, credential.salt, credential.iterations);
  const { storedKey } = scramKeysFromSaltedPassword(credential.mechanism, salted);
  return storedKey.length === credential.storedKey.length && timingSafeEqual(storedKey, credential.storedKey);
}
