/**
 * SCRAM (RFC 5802 / 7677): the RFC 7677 SCRAM-SHA-256 example byte for byte
 * on both sides, SHA-512 round trips, and the refusals a server relies on:
 * wrong password and unknown user alike, a replayed client-final, channel
 * binding, malformed messages (fast-check: random bytes never throw).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { scramClientFinal, scramClientFirst, scramClientVerify, scramCredential, scramSaltedPassword, scramServerFinal, scramServerFirst, type ScramCredential } from './scram.ts';

const rfc = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};
const pencil = scramCredential('SCRAM-SHA-256', 'pencil', 4096, rfc.salt);
const users = (map: Record<string, ScramCredential>) => (name: string) => map[name];

describe('SCRAM-SHA-256, the RFC 7677 example', () => {
  it('the server answers it byte for byte and accepts the proof', () => {
    const first = scramServerFirst('SCRAM-SHA-256', Buffer.from(rfc.clientFirst), users({ user: pencil }), rfc.serverNonce);
    if (!first.ok) throw new Error(first.reason);
    expect(first.message.toString()).toBe(rfc.serverFirst);
    const final = scramServerFinal(first.exchange, Buffer.from(rfc.clientFinal));
    if (!final.ok) throw new Error(final.reason);
    expect(final).toMatchObject({ username: 'user' });
    expect(final.message.toString()).toBe(rfc.serverFinal);
  });

  it('the client writes it byte for byte and verifies the server', () => {
    const { exchange, message } = scramClientFirst('SCRAM-SHA-256', 'user', rfc.clientNonce);
    expect(message.toString()).toBe(rfc.clientFirst);
    const final = scramClientFinal(exchange, 'pencil', Buffer.from(rfc.serverFirst));
    if (!final.ok) throw new Error(final.reason);
    expect(final.message.toString()).toBe(rfc.clientFinal);
    expect(scramClientVerify(final.serverSignature, Buffer.from(rfc.serverFinal))).toBe(true);
    expect(scramClientVerify(final.serverSignature, Buffer.from('v=AAAA'))).toBe(false);
  });
});

describe('librdkafka before 2.6.1 (confluentinc/librdkafka#4895)', () => {
  /** A client-final as that librdkafka writes it: its own nonce again in front of the combined one, the proof over that text. */
  const doubledFinal = (nonce: string, serverFirst: string, clientFirstBare: string): Buffer => {
    const withoutProof = `c=biws,r=${nonce}`;
    const salted = scramSaltedPassword('SCRAM-SHA-256', 'pencil', rfc.salt, 4096);
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const signature = createHmac('sha256', storedKey).update(`${clientFirstBare},${serverFirst},${withoutProof}`).digest();
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  };

  it('its doubled nonce is taken in exactly that form; any other prefix is not', () => {
    const first = scramServerFirst('SCRAM-SHA-256', Buffer.from(rfc.clientFirst), users({ user: pencil }), rfc.serverNonce);
    if (!first.ok) throw new Error(first.reason);
    const doubled = rfc.clientNonce + rfc.clientNonce + rfc.serverNonce;
    expect(scramServerFinal(first.exchange, doubledFinal(doubled, rfc.serverFirst, first.exchange.clientFirstBare))).toMatchObject({ ok: true, username: 'user' });
    const other = `x${rfc.clientNonce}${rfc.serverNonce}`;
    expect(scramServerFinal(first.exchange, doubledFinal(other, rfc.serverFirst, first.exchange.clientFirstBare))).toEqual({ ok: false, reason: "client-final: nonce is not this exchange's" });
  });
});

/** A whole exchange: client and server, `password` typed by the client, `stored` what the server has. */
function exchange(mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', username: string, password: string, stored: Record<string, ScramCredential>) {
  const client = scramClientFirst(mechanism, username);
  const first = scramServerFirst(mechanism, client.message, users(stored));
  if (!first.ok) return { step: 'first', result: first } as const;
  const clientFinal = scramClientFinal(client.exchange, password, first.message);
  if (!clientFinal.ok) return { step: 'client', result: clientFinal } as const;
  return { step: 'final', result: scramServerFinal(first.exchange, clientFinal.message), clientFinal, first } as const;
}

describe('SCRAM exchanges', () => {
  const alice512 = scramCredential('SCRAM-SHA-512', 'wonder,land=1', 4096);

  it('SHA-512 round trip, with ",", "=" in names and passwords', () => {
    const stored = { 'al,i=ce': alice512 };
    const run = exchange('SCRAM-SHA-512', 'al,i=ce', 'wonder,land=1', stored);
    expect(run.step).toBe('final');
    expect(run.result).toMatchObject({ ok: true, username: 'al,i=ce' });
  });

  it('a wrong password and an unknown user fail the same way, at the proof (usernames cannot be probed)', () => {
    const wrong = exchange('SCRAM-SHA-512', 'alice', 'guess', { alice: alice512 });
    const unknown = exchange('SCRAM-SHA-512', 'mallory', 'guess', { alice: alice512 });
    expect(wrong.step).toBe('final');
    expect(unknown.step).toBe('final');
    expect(wrong.result).toEqual({ ok: false, reason: 'authentication failed: invalid credentials' });
    expect(unknown.result).toEqual(wrong.result);
    // A credential for another mechanism does not authenticate this one.
    const otherMechanism = exchange('SCRAM-SHA-256', 'alice', 'wonder,land=1', { alice: alice512 });
    expect(otherMechanism.result).toEqual(wrong.result);
  });

  it('a recorded client-final never verifies again: a new exchange has a new server nonce', () => {
    const stored = { alice: alice512 };
    const run = exchange('SCRAM-SHA-512', 'alice', 'wonder,land=1', stored);
    if (run.step !== 'final' || !run.result.ok) throw new Error('first exchange failed');
    // The attacker replays the same client-first and then the recorded client-final.
    const clientFirst = Buffer.from(`n,,${run.first.exchange.clientFirstBare}`);
    const again = scramServerFirst('SCRAM-SHA-512', clientFirst, users(stored));
    if (!again.ok) throw new Error(again.reason);
    expect(scramServerFinal(again.exchange, run.clientFinal.message)).toEqual({ ok: false, reason: "client-final: nonce is not this exchange's" });
  });

  it('refuses channel binding, an authzid for someone else, mandatory extensions, short nonces, bad names', () => {
    const first = (text: string) => scramServerFirst('SCRAM-SHA-256', Buffer.from(text), users({ user: pencil }));
    expect(first('p=tls-unique,,n=user,r=rOprNGfwEbeRWgbNEkqO')).toMatchObject({ ok: false, reason: 'channel binding is not supported' });
    expect(first('n,a=admin,n=user,r=rOprNGfwEbeRWgbNEkqO')).toMatchObject({ ok: false, reason: 'client-first: authorization id differs from the username' });
    expect(first('n,a=user,n=user,r=rOprNGfwEbeRWgbNEkqO')).toMatchObject({ ok: true });
    expect(first('n,,n=user,r=rOprNGfwEbeRWgbNEkqO,m=ext')).toMatchObject({ ok: false });
    expect(first('n,,n=user,r=short')).toMatchObject({ ok: false, reason: 'client-first: bad nonce' });
    expect(first('n,,n=us=er,r=rOprNGfwEbeRWgbNEkqO')).toMatchObject({ ok: false, reason: 'client-first: bad username' });
    expect(first('n,,r=rOprNGfwEbeRWgbNEkqO,n=user')).toMatchObject({ ok: false });
    expect(scramServerFirst('SCRAM-SHA-256', Buffer.alloc(5_000, 0x61), users({}))).toMatchObject({ ok: false });
  });

  it('random bytes as any message are refused, never thrown (fast-check)', () => {
    const first = scramServerFirst('SCRAM-SHA-256', Buffer.from(rfc.clientFirst), users({ user: pencil }), rfc.serverNonce);
    if (!first.ok) throw new Error(first.reason);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 200 }), (bytes, text) => {
        for (const input of [bytes, Buffer.from(text)]) {
          const a = scramServerFirst('SCRAM-SHA-256', input, users({ user: pencil }));
          expect(typeof a.ok).toBe('boolean');
          expect(scramServerFinal(first.exchange, input).ok).toBe(false);
          expect(scramClientFinal(scramClientFirst('SCRAM-SHA-256', 'user', rfc.clientNonce).exchange, 'pencil', input).ok === false || input.length > 0).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stores no password: iterations are bounded as Kafka bounds them', () => {
    expect(Object.keys(pencil).sort()).toEqual(['iterations', 'mechanism', 'salt', 'serverKey', 'storedKey']);
    expect(() => scramCredential('SCRAM-SHA-256', 'x', 4095)).toThrow(RangeError);
    expect(() => scramCredential('SCRAM-SHA-256', 'x', 16_385)).toThrow(RangeError);
  });
});
