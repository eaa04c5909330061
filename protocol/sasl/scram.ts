/**
 * SASL/SCRAM (RFC 5802, SHA-256/512 per RFC 7677), both sides, as pure
 * functions over the four messages (#19). No I/O: the listeners carry the
 * bytes (SaslAuthenticate on the Kafka listener, a handshake on the native
 * one) and the metadata log stores the credentials.
 *
 * Owns: the credential a server stores (`scramCredential`: salt,
 * iterations, StoredKey, ServerKey; never the password, as Kafka's
 * ScramCredential), the server's two steps (`scramServerFirst`,
 * `scramServerFinal`) and the client's two (`scramClientFirst`,
 * `scramClientFinal`), and the bounds on what they accept.
 *
 * Choices:
 * - No channel binding: a gs2 header of `n,,` or `y,,` (and an authzid equal
 *   to the user, as Kafka allows); `p=` is refused.
 * - Usernames are saslnames (`=2C` for ',', `=3D` for '='); passwords are
 *   used as UTF-8 bytes, without SASLprep (Kafka's ScramFormatter does none
 *   either, so the same password gives the same keys on both).
 * - An unknown user is not told apart from a wrong password: the exchange
 *   goes on with a credential made from random bytes and fails at the proof
 *   (RFC 5802 section 5.1), so usernames cannot be probed.
 * - The server nonce is fresh per exchange and the final message must echo
 *   client + server nonce exactly, so a recorded client-final never verifies
 *   again (no nonce is accepted twice).
 * - Keys are compared with timingSafeEqual.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
export const scramMechanisms: readonly ScramMechanism[] = ['SCRAM-SHA-256', 'SCRAM-SHA-512'];

export const scramLimits = {
  /** Kafka's ScramMechanism minimum and maximum iteration counts. */
  iterationsMin: 4_096,
  iterationsMax: 16_384,
  /** Longest SCRAM message accepted from the other side. */
  messageBytesMax: 4_096,
  /** Longest username (after decoding the saslname). */
  usernameBytesMax: 256,
  /** Shortest client nonce accepted (printable characters). */
  clientNonceMin: 16,
} as const;

export type ScramCredential = {
  readonly mechanism: ScramMechanism;
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
};

const hashOf = (mechanism: ScramMechanism): 'sha256' | 'sha512' => (mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512');
const hashBytes = (mechanism: ScramMechanism): number => (mechanism === 'SCRAM-SHA-256' ? 32 : 64);
const hmac = (mechanism: ScramMechanism, key: Buffer, text: string | Buffer): Buffer => createHmac(hashOf(mechanism), key).update(text).digest();
const hash = (mechanism: ScramMechanism, data: Buffer): Buffer => createHash(hashOf(mechanism)).update(data).digest();

function saltedPassword(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, hashBytes(mechanism), hashOf(mechanism));
}

/** The salted password a client sends (Kafka's AlterUserScramCredentials carries it, never the password). */
export function scramSaltedPassword(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  return saltedPassword(mechanism, password, salt, iterations);
}

/** StoredKey and ServerKey from a salted password: what the server keeps. */
/**
 * What a client sends to set a password (AlterUserScramCredentials' upsertion): a fresh salt and the
 * salted password (PBKDF2 done here), never the password.
 */
export function scramUpsertion(name: string, mechanism: ScramMechanism, password: string, iterations: number, salt: Buffer = randomBytes(32)): { name: string; mechanism: ScramMechanism; iterations: number; salt: Buffer; saltedPassword: Buffer } {
  return { name, mechanism, iterations, salt, saltedPassword: scramSaltedPassword(mechanism, password, salt, iterations) };
}

export function scramKeysFromSaltedPassword(mechanism: ScramMechanism, salted: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  return { storedKey: hash(mechanism, hmac(mechanism, salted, 'Client Key')), serverKey: hmac(mechanism, salted, 'Server Key') };
}

/** The credential a server stores for `password` (a random 32-byte salt unless given). */
export function scramCredential(mechanism: ScramMechanism, password: string, iterations: number, salt: Buffer = randomBytes(32)): ScramCredential {
  if (!Number.isInteger(iterations) || iterations < scramLimits.iterationsMin || iterations > scramLimits.iterationsMax) {
    throw new RangeError(`SCRAM iterations must be ${scramLimits.iterationsMin}-${scramLimits.iterationsMax}, got ${iterations}`);
  }
  const salted = saltedPassword(mechanism, password, salt, iterations);
  return { mechanism, salt, iterations, storedKey: hash(mechanism, hmac(mechanism, salted, 'Client Key')), serverKey: hmac(mechanism, salted, 'Server Key') };
}

// ---------------------------------------------------------------- message syntax

/** `name=value` attributes of a SCRAM message, in order; null when one is not `x=...`. */
function attributes(message: string): [string, string][] | null {
  const out: [string, string][] = [];
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0]!)) return null;
    out.push([part[0]!, part.slice(2)]);
  }
  return out;
}

function decodeSaslname(name: string): string | null {
  if (name.length === 0 || /=(?!2C|3D)/.test(name)) return null;
  return name.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

export function encodeSaslname(name: string): string {
  return name.replaceAll('=', '=3D').replaceAll(',', '=2C');
}

const printableNonce = /^[\x21-\x2b\x2d-\x7e]+$/;

function textOf(bytes: Uint8Array, what: string): string | ScramRefusal {
  if (bytes.length === 0 || bytes.length > scramLimits.messageBytesMax) return refuse(`${what}: ${bytes.length} bytes (1-${scramLimits.messageBytesMax})`);
  const text = Buffer.from(bytes).toString('utf8');
  if (Buffer.byteLength(text, 'utf8') !== bytes.length || text.includes('\u0000')) return refuse(`${what}: not UTF-8 text`);
  return text;
}

export type ScramRefusal = { readonly ok: false; readonly reason: string };
const refuse = (reason: string): ScramRefusal => ({ ok: false, reason });
const isRefusal = (value: unknown): value is ScramRefusal => typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;

// ---------------------------------------------------------------- server

/** Between the server's two steps: what the final message must match. */
export type ScramServerExchange = {
  readonly mechanism: ScramMechanism;
  readonly username: string;
  /** Null for an unknown user: the proof check then fails like a wrong password. */
  readonly credential: ScramCredential | null;
  readonly fakeCredential: ScramCredential;
  readonly gs2Header: string;
  readonly nonce: string;
  /** The client's part of `nonce` (for librdkafka's doubled form, see scramServerFinal). */
  readonly clientNonce: string;
  readonly clientFirstBare: string;
  readonly serverFirst: string;
};

/**
 * Step 1: the client-first message in, the server-first message out.
 * `lookup` gives the user's stored credential for this mechanism, or
 * undefined. Refuses a malformed message, channel binding, an authzid that
 * is not the user, an unknown mandatory extension, a short nonce.
 */
export function scramServerFirst(
  mechanism: ScramMechanism,
  clientFirstBytes: Uint8Array,
  lookup: (username: string) => ScramCredential | undefined,
  serverNonce: string = randomBytes(24).toString('base64'),
): { readonly ok: true; readonly exchange: ScramServerExchange; readonly message: Buffer } | ScramRefusal {
  const text = textOf(clientFirstBytes, 'client-first');
  if (isRefusal(text)) return text;
  const match = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(text);
  if (match === null) return refuse(text.startsWith('p=') ? 'channel binding is not supported' : 'client-first: bad gs2 header');
  const [, , authzid, bare] = match;
  const attrs = attributes(bare!);
  if (attrs === null || attrs.length < 2 || attrs[0]![0] !== 'n' || attrs[1]![0] !== 'r') return refuse('client-first: expected n=USER,r=NONCE');
  if (attrs.slice(2).some(([name]) => name === 'm')) return refuse('client-first: mandatory extension not supported');
  const username = decodeSaslname(attrs[0]![1]);
  if (username === null || Buffer.byteLength(username, 'utf8') > scramLimits.usernameBytesMax) return refuse('client-first: bad username');
  if (authzid !== undefined && decodeSaslname(authzid.slice(2)) !== username) return refuse('client-first: authorization id differs from the username');
  const clientNonce = attrs[1]![1];
  if (clientNonce.length < scramLimits.clientNonceMin || !printableNonce.test(clientNonce)) return refuse('client-first: bad nonce');
  if (!printableNonce.test(serverNonce)) throw new Error('server nonce must be printable and without commas');
  const credential = lookup(username) ?? null;
  const usable = credential !== null && credential.mechanism === mechanism ? credential : null;
  const fakeCredential = scramCredential(mechanism, randomBytes(16).toString('hex'), scramLimits.iterationsMin, usable?.salt ?? randomBytes(32));
  const shown = usable ?? fakeCredential;
  const nonce = clientNonce + serverNonce;
  const serverFirst = `r=${nonce},s=${shown.salt.toString('base64')},i=${shown.iterations}`;
  return {
    ok: true,
    exchange: { mechanism, username, credential: usable, fakeCredential, gs2Header: text.slice(0, text.length - bare!.length), nonce, clientNonce, clientFirstBare: bare!, serverFirst },
    message: Buffer.from(serverFirst, 'utf8'),
  };
}

/**
 * Step 2: the client-final message in; the server-final message out and the
 * authenticated username, or a refusal (a wrong proof, a nonce that is not
 * this exchange's, a channel-binding value that is not the gs2 header).
 */
export function scramServerFinal(exchange: ScramServerExchange, clientFinalBytes: Uint8Array): { readonly ok: true; readonly username: string; readonly message: Buffer } | ScramRefusal {
  const text = textOf(clientFinalBytes, 'client-final');
  if (isRefusal(text)) return text;
  const attrs = attributes(text);
  if (attrs === null || attrs.length < 3 || attrs[0]![0] !== 'c' || attrs[1]![0] !== 'r' || attrs[attrs.length - 1]![0] !== 'p') return refuse('client-final: expected c=...,r=...,p=...');
  if (attrs[0]![1] !== Buffer.from(exchange.gs2Header, 'utf8').toString('base64')) return refuse('client-final: channel binding differs from the gs2 header');
  // librdkafka before 2.6.1 (confluentinc/librdkafka#4895; Debian's kcat 1.7.1 has 2.0.2) sends its own nonce again in
  // front of the combined one. Taken in exactly that form, as Kafka 3.8.1 takes it: the fresh server nonce is still
  // there and the proof is computed over the message as sent, so a recorded message still never verifies again.
  const nonce = attrs[1]![1];
  if (nonce !== exchange.nonce && nonce !== exchange.clientNonce + exchange.nonce) return refuse('client-final: nonce is not this exchange\'s');
  const proofText = attrs[attrs.length - 1]![1];
  const proof = Buffer.from(proofText, 'base64');
  const mechanism = exchange.mechanism;
  if (proof.length !== hashBytes(mechanism) || proof.toString('base64') !== proofText) return refuse('client-final: bad proof encoding');
  const withoutProof = text.slice(0, text.length - proofText.length - 3);
  const authMessage = `${exchange.clientFirstBare},${exchange.serverFirst},${withoutProof}`;
  const credential = exchange.credential ?? exchange.fakeCredential;
  const clientSignature = hmac(mechanism, credential.storedKey, authMessage);
  const clientKey = Buffer.alloc(proof.length);
  for (let i = 0; i < proof.length; i += 1) clientKey[i] = proof[i]! ^ clientSignature[i]!;
  const matches = timingSafeEqual(hash(mechanism, clientKey), credential.storedKey);
  if (!matches || exchange.credential === null) return refuse('authentication failed: invalid credentials');
  const serverSignature = hmac(mechanism, credential.serverKey, authMessage);
  return { ok: true, username: exchange.username, message: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8') };
}

// ---------------------------------------------------------------- client

export type ScramClientExchange = { readonly mechanism: ScramMechanism; readonly username: string; readonly clientNonce: string; readonly clientFirstBare: string };

/** The client-first message (`n,,n=USER,r=NONCE`). */
export function scramClientFirst(mechanism: ScramMechanism, username: string, clientNonce: string = randomBytes(24).toString('base64')): { exchange: ScramClientExchange; message: Buffer } {
  const clientFirstBare = `n=${encodeSaslname(username)},r=${clientNonce}`;
  return { exchange: { mechanism, username, clientNonce, clientFirstBare }, message: Buffer.from(`n,,${clientFirstBare}`, 'utf8') };
}

/**
 * The client-final message for the server-first message, and the server
 * signature the server-final message must carry (checked by
 * `scramClientVerify`): a server that does not know the password cannot
 * make it.
 */
export function scramClientFinal(exchange: ScramClientExchange, password: string, serverFirstBytes: Uint8Array): { readonly ok: true; readonly message: Buffer; readonly serverSignature: Buffer } | ScramRefusal {
  const text = textOf(serverFirstBytes, 'server-first');
  if (isRefusal(text)) return text;
  const attrs = attributes(text);
  if (attrs === null || attrs.length < 3 || attrs[0]![0] !== 'r' || attrs[1]![0] !== 's' || attrs[2]![0] !== 'i') return refuse('server-first: expected r=...,s=...,i=...');
  const nonce = attrs[0]![1];
  if (!nonce.startsWith(exchange.clientNonce) || nonce.length === exchange.clientNonce.length) return refuse('server-first: nonce does not extend ours');
  const salt = Buffer.from(attrs[1]![1], 'base64');
  const iterations = Number(attrs[2]![1]);
  if (salt.length === 0 || !Number.isInteger(iterations) || iterations < scramLimits.iterationsMin || iterations > scramLimits.iterationsMax) return refuse('server-first: bad salt or iteration count');
  const mechanism = exchange.mechanism;
  const salted = saltedPassword(mechanism, password, salt, iterations);
  const clientKey = hmac(mechanism, salted, 'Client Key');
  const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${nonce}`;
  const authMessage = `${exchange.clientFirstBare},${text},${withoutProof}`;
  const clientSignature = hmac(mechanism, hash(mechanism, clientKey), authMessage);
  const proof = Buffer.alloc(clientKey.length);
  for (let i = 0; i < proof.length; i += 1) proof[i] = clientKey[i]! ^ clientSignature[i]!;
  const serverSignature = hmac(mechanism, hmac(mechanism, salted, 'Server Key'), authMessage);
  return { ok: true, message: Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8'), serverSignature };
}

/** Whether the server-final message proves the server knew the credential. */
export function scramClientVerify(serverSignature: Buffer, serverFinalBytes: Uint8Array): boolean {
  const text = Buffer.from(serverFinalBytes).toString('utf8');
  if (!text.startsWith('v=')) return false;
  const got = Buffer.from(text.slice(2), 'base64');
  return got.length === serverSignature.length && timingSafeEqual(got, serverSignature);
}
