/**
 * Peer authentication: a mutual HMAC challenge-response over the shared
 * cluster secret, once per link, inside the hello exchange.
 *
 *   dialer   -> Hello { id D, incarnation d, role, challenge cD }
 *   acceptor -> Hello { id A, incarnation a, role peer, challenge cA,
 *                       proof = HMAC(secret, "acceptor" | cD | A | a | D | d) }
 *   dialer   -> Auth  { proof = HMAC(secret, "dialer" | cA | D | d | A | a) }   (role peer only)
 *
 * Each proof binds the other side's fresh challenge (no replay), both
 * identities and incarnations (a proof for one link is no good on another,
 * and a restarted broker cannot be impersonated by replaying its old hello),
 * and the direction (the acceptor's proof cannot be reflected back as the
 * dialer's). Comparison is constant time.
 *
 * A node without a secret (a client) sends role client and never proves
 * anything; it cannot take a broker's identity. Secrets are at least
 * `clusterSecretBytesMin` bytes; the CLI generates 32 random bytes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const challengeBytes = 32;
export const proofBytes = 32;
export const clusterSecretBytesMin = 16;

export function newChallenge(): Buffer {
  return randomBytes(challengeBytes);
}

export type HelloParty = { readonly nodeId: string; readonly incarnation: string };

/** The proof `prover` gives in answer to `challenge` on a link to `verifier`. */
export function proofFor(secret: Uint8Array, direction: 'acceptor' | 'dialer', challenge: Uint8Array, prover: HelloParty, verifier: HelloParty): Buffer {
  const hmac = createHmac('sha256', secret);
  hmac.update(`kactus-peer-v1\0${direction}\0`);
  hmac.update(challenge);
  for (const part of [prover.nodeId, prover.incarnation, verifier.nodeId, verifier.incarnation]) {
    hmac.update('\0');
    hmac.update(part);
  }
  return hmac.digest();
}

export function proofMatches(expected: Buffer, given: Uint8Array | null): boolean {
  return given !== null && given.length === expected.length && timingSafeEqual(expected, given);
}
