/**
 * One SASL authentication as a server runs it, whatever carries the bytes
 * (#19): the Kafka listener's SaslHandshake / SaslAuthenticate and the native
 * listener's SASL envelopes both drive this, so both authenticate alike.
 *
 * Owns: `SaslServerSession` (mechanism choice, the steps of SCRAM-SHA-256/512
 * and PLAIN, the failed-attempt limiter per address, the principal on
 * success), `saslMechanismsOffered` (PLAIN only over TLS) and the mechanism
 * names. The SCRAM and PLAIN arithmetic is scram.ts's and plain.ts's; the
 * credentials come from `lookup` (the metadata image), so this module does
 * no I/O and keeps no secret.
 *
 * A session is single-use: one mechanism, its steps in order, then `done`
 * (a principal) or `failed` (an error code and a message for the client).
 * Any step after either fails. Kafka's principal form: `User:<name>`.
 */
import { ErrorCode } from '../errors.ts';
import type { AttemptLimiter } from './attempt-limiter.ts';
import { parsePlain, plainMatches } from './plain.ts';
import { scramMechanisms, scramServerFinal, scramServerFirst, type ScramCredential, type ScramMechanism, type ScramServerExchange } from './scram.ts';

export type SaslMechanism = ScramMechanism | 'PLAIN';
export const saslMechanisms: readonly SaslMechanism[] = [...scramMechanisms, 'PLAIN'];

export const isSaslMechanism = (name: unknown): name is SaslMechanism => typeof name === 'string' && (saslMechanisms as readonly string[]).includes(name);

/** The mechanisms a listener offers: the enabled ones, without PLAIN unless the connection is TLS (PLAIN sends the password). */
export function saslMechanismsOffered(enabled: readonly SaslMechanism[], tls: boolean): SaslMechanism[] {
  return enabled.filter((mechanism) => mechanism !== 'PLAIN' || tls);
}

export type SaslServerDeps = {
  /** The stored credential of `user` for `mechanism`, or undefined. */
  readonly lookup: (user: string, mechanism: ScramMechanism) => ScramCredential | undefined;
  readonly limiter: AttemptLimiter;
  /** The client's address (the limiter's key). */
  readonly address: string;
  readonly nowMs: () => number;
};

export type SaslStep =
  | { readonly kind: 'continue'; readonly bytes: Buffer }
  | { readonly kind: 'done'; readonly bytes: Buffer; readonly principal: string; readonly user: string }
  | { readonly kind: 'failed'; readonly errorCode: number; readonly errorMessage: string };

type Phase =
  | { readonly name: 'first' }
  | { readonly name: 'scram-final'; readonly exchange: ScramServerExchange }
  | { readonly name: 'over' };

/** Kafka's own wording (SaslServerAuthenticator), the same for an unknown user and a wrong password. */
const invalidCredentials = (mechanism: SaslMechanism): string => `Authentication failed during authentication due to invalid credentials with SASL mechanism ${mechanism}`;

export const principalOfUser = (user: string): string => `User:${user}`;

export class SaslServerSession {
  private phase: Phase = { name: 'first' };

  constructor(
    readonly mechanism: SaslMechanism,
    private readonly deps: SaslServerDeps,
  ) {}

  /** Whether the session ended (either way): a further step fails. */
  get over(): boolean {
    return this.phase.name === 'over';
  }

  /** The client's next message in, the server's answer out. Never throws on any bytes. */
  step(bytes: Uint8Array): SaslStep {
    const phase = this.phase;
    if (phase.name === 'over') return this.fail(ErrorCode.ILLEGAL_SASL_STATE, 'the authentication is over: no further step');
    if (phase.name === 'first') {
      const allowed = this.deps.limiter.mayAttempt(this.deps.address, this.deps.nowMs());
      if (!allowed.ok) return this.fail(ErrorCode.SASL_AUTHENTICATION_FAILED, `too many failed authentications from ${this.deps.address}: retry in ${allowed.retryAfterMs} ms`, false);
      if (this.mechanism === 'PLAIN') return this.plain(bytes);
      const first = scramServerFirst(this.mechanism, bytes, (user) => this.deps.lookup(user, this.mechanism as ScramMechanism));
      if (!first.ok) return this.fail(ErrorCode.SASL_AUTHENTICATION_FAILED, `authentication failed: ${first.reason}`);
      this.phase = { name: 'scram-final', exchange: first.exchange };
      return { kind: 'continue', bytes: first.message };
    }
    const final = scramServerFinal(phase.exchange, bytes);
    if (!final.ok) return this.fail(ErrorCode.SASL_AUTHENTICATION_FAILED, final.reason.startsWith('authentication failed') ? invalidCredentials(this.mechanism) : `authentication failed: ${final.reason}`);
    this.phase = { name: 'over' };
    return { kind: 'done', bytes: final.message, principal: principalOfUser(final.username), user: final.username };
  }

  private plain(bytes: Uint8Array): SaslStep {
    const parsed = parsePlain(bytes);
    if (!parsed.ok) return this.fail(ErrorCode.SASL_AUTHENTICATION_FAILED, `authentication failed: ${parsed.reason}`);
    const { username, password } = parsed.message;
    // PLAIN is checked against the user's SCRAM credential (no second store of secrets): either mechanism's.
    const credential = this.deps.lookup(username, 'SCRAM-SHA-256') ?? this.deps.lookup(username, 'SCRAM-SHA-512');
    if (credential === undefined || !plainMatches(credential, password)) return this.fail(ErrorCode.SASL_AUTHENTICATION_FAILED, invalidCredentials('PLAIN'));
    this.phase = { name: 'over' };
    return { kind: 'done', bytes: Buffer.alloc(0), principal: principalOfUser(username), user: username };
  }

  /** Ends the session; a refused attempt costs the address a token unless it was the limiter's own refusal. */
  private fail(errorCode: number, errorMessage: string, counts = true): SaslStep {
    if (counts && this.phase.name !== 'over') this.deps.limiter.failed(this.deps.address, this.deps.nowMs());
    this.phase = { name: 'over' };
    return { kind: 'failed', errorCode, errorMessage };
  }
}
