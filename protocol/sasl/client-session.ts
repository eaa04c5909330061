/**
 * The client's side of SASL on the native link (#19): SCRAM-SHA-256/512 or
 * PLAIN as the runtime's `ClientCredentials` (runtime/client-auth.ts), a
 * fresh exchange per link. SCRAM checks the server's signature before the
 * link is used: a broker that does not hold the user's keys cannot pass for
 * one (RFC 5802 mutual authentication).
 */
import type { ClientAuthStep, ClientCredentials } from '../../runtime/client-auth.ts';
import { scramClientFinal, scramClientFirst, scramClientVerify } from './scram.ts';
import type { SaslMechanism } from './server-session.ts';

export type SaslClientSettings = { readonly mechanism: SaslMechanism; readonly username: string; readonly password: string };

export function saslClientCredentials(settings: SaslClientSettings): ClientCredentials {
  const { mechanism, username, password } = settings;
  return {
    mechanism,
    start() {
      if (mechanism === 'PLAIN') {
        return {
          first: () => Buffer.from(`\u0000${username}\u0000${password}`, 'utf8'),
          next: (_bytes, complete): ClientAuthStep => (complete ? { kind: 'done' } : { kind: 'failed', reason: 'PLAIN takes one step' }),
        };
      }
      const client = scramClientFirst(mechanism, username);
      let serverSignature: Buffer | undefined;
      return {
        first: () => client.message,
        next: (bytes, complete): ClientAuthStep => {
          if (serverSignature === undefined) {
            if (complete) return { kind: 'failed', reason: 'the server ended SCRAM after one step' };
            const final = scramClientFinal(client.exchange, password, bytes);
            if (!final.ok) return { kind: 'failed', reason: final.reason };
            serverSignature = final.serverSignature;
            return { kind: 'send', bytes: final.message };
          }
          if (!complete) return { kind: 'failed', reason: 'SCRAM takes two steps' };
          return scramClientVerify(serverSignature, bytes) ? { kind: 'done' } : { kind: 'failed', reason: 'the server\'s SCRAM signature is wrong: it does not hold this user\'s keys' };
        },
      };
    },
  };
}
