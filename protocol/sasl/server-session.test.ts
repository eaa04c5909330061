/**
 * SaslServerSession, pure: SCRAM-SHA-256/512 and PLAIN to a principal, the
 * one error per failure, single use, the limiter charged for refusals only,
 * PLAIN kept off plaintext, and any bytes at any step answered, never thrown.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.ts';
import { AttemptLimiter } from './attempt-limiter.ts';
import { scramClientFinal, scramClientFirst, scramClientVerify, scramCredential, type ScramCredential, type ScramMechanism } from './scram.ts';
import { SaslServerSession, saslMechanismsOffered, type SaslMechanism } from './server-session.ts';

const credentials = new Map<string, ScramCredential>([
  ['alice/SCRAM-SHA-256', scramCredential('SCRAM-SHA-256', 'alice-pw', 4096)],
  ['alice/SCRAM-SHA-512', scramCredential('SCRAM-SHA-512', 'alice-pw', 4096)],
]);
let nowMs = 0;
const session = (mechanism: SaslMechanism, limiter = new AttemptLimiter()): SaslServerSession =>
  new SaslServerSession(mechanism, { lookup: (user, m) => credentials.get(`${user}/${m}`), limiter, address: '10.0.0.1', nowMs: () => nowMs });

function scramLogin(mechanism: ScramMechanism, user: string, password: string, server = session(mechanism)) {
  const client = scramClientFirst(mechanism, user);
  const first = server.step(client.message);
  if (first.kind !== 'continue') return first;
  const final = scramClientFinal(client.exchange, password, first.bytes);
  if (!final.ok) throw new Error(final.reason);
  const done = server.step(final.message);
  if (done.kind === 'done') expect(scramClientVerify(final.serverSignature, done.bytes)).toBe(true);
  return done;
}

describe('SaslServerSession', () => {
  it('SCRAM-SHA-256 and -512 end with the principal User:<name>; a wrong password or unknown user with one message', () => {
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
      expect(scramLogin(mechanism, 'alice', 'alice-pw')).toMatchObject({ kind: 'done', principal: 'User:alice', user: 'alice' });
      const wrong = scramLogin(mechanism, 'alice', 'nope');
      const unknown = scramLogin(mechanism, 'mallory', 'nope');
      expect(wrong).toMatchObject({ kind: 'failed', errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
      expect(unknown).toEqual(wrong);
    }
  });

  it('PLAIN checks the password against the SCRAM credential', () => {
    expect(session('PLAIN').step(Buffer.from('\u0000alice\u0000alice-pw'))).toMatchObject({ kind: 'done', principal: 'User:alice' });
    expect(session('PLAIN').step(Buffer.from('\u0000alice\u0000wrong'))).toMatchObject({ kind: 'failed', errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
    expect(session('PLAIN').step(Buffer.from('no nul bytes'))).toMatchObject({ kind: 'failed', errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
  });

  it('is single-use: a step after success or failure fails with ILLEGAL_SASL_STATE', () => {
    const server = session('PLAIN');
    expect(server.step(Buffer.from('\u0000alice\u0000alice-pw')).kind).toBe('done');
    expect(server.step(Buffer.from('\u0000alice\u0000alice-pw'))).toMatchObject({ kind: 'failed', errorCode: ErrorCode.ILLEGAL_SASL_STATE });
    expect(server.over).toBe(true);
  });

  it('failures spend the address\'s bucket, successes do not; an empty bucket refuses before any check', () => {
    const limiter = new AttemptLimiter({ burst: 3, refillMs: 1_000, addressesMax: 10 });
    for (let i = 0; i < 5; i += 1) expect(scramLogin('SCRAM-SHA-256', 'alice', 'alice-pw', session('SCRAM-SHA-256', limiter)).kind).toBe('done');
    for (let i = 0; i < 3; i += 1) expect(scramLogin('SCRAM-SHA-256', 'alice', 'guess', session('SCRAM-SHA-256', limiter)).kind).toBe('failed');
    const refused = session('SCRAM-SHA-256', limiter).step(scramClientFirst('SCRAM-SHA-256', 'alice').message);
    expect(refused).toMatchObject({ kind: 'failed', errorCode: ErrorCode.SASL_AUTHENTICATION_FAILED });
    expect(refused.kind === 'failed' && refused.errorMessage).toMatch(/too many failed authentications from 10\.0\.0\.1: retry in \d+ ms/);
    nowMs += 1_000;
    expect(scramLogin('SCRAM-SHA-256', 'alice', 'alice-pw', session('SCRAM-SHA-256', limiter)).kind).toBe('done');
  });

  it('PLAIN is offered over TLS only', () => {
    expect(saslMechanismsOffered(['SCRAM-SHA-256', 'PLAIN'], false)).toEqual(['SCRAM-SHA-256']);
    expect(saslMechanismsOffered(['SCRAM-SHA-256', 'PLAIN'], true)).toEqual(['SCRAM-SHA-256', 'PLAIN']);
  });

  it('never throws on any bytes at either step', () => {
    fc.assert(
      fc.property(fc.constantFrom<SaslMechanism>('SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN'), fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (mechanism, first, second) => {
        const server = session(mechanism, new AttemptLimiter({ burst: 1_000_000, refillMs: 1, addressesMax: 10 }));
        expect(['continue', 'done', 'failed']).toContain(server.step(first).kind);
        expect(['continue', 'done', 'failed']).toContain(server.step(second).kind);
      }),
      { numRuns: 300 },
    );
  });
});
