/**
 * SASL/PLAIN parsing and checking against a SCRAM credential, and the
 * failed-attempt limiter: a guesser is held to the refill rate, a good
 * client is never slowed, and a spray of addresses cannot grow the table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AttemptLimiter } from './attempt-limiter.ts';
import { parsePlain, plainMatches } from './plain.ts';
import { scramCredential } from './scram.ts';

const plain = (text: string) => Buffer.from(text, 'utf8');

describe('SASL/PLAIN', () => {
  it('parses [authzid] NUL user NUL password and checks the password against the SCRAM credential', () => {
    const parsed = parsePlain(plain('\u0000alice\u0000s3cret'));
    expect(parsed).toEqual({ ok: true, message: { authzid: '', username: 'alice', password: 's3cret' } });
    expect(parsePlain(plain('alice\u0000alice\u0000s3cret')).ok).toBe(true);
    const credential = scramCredential('SCRAM-SHA-512', 's3cret', 4096);
    expect(plainMatches(credential, 's3cret')).toBe(true);
    expect(plainMatches(credential, 's3cret ')).toBe(false);
  });

  it('refuses what is not PLAIN, never throwing (fast-check)', () => {
    for (const bad of ['', 'alice', '\u0000\u0000pw', '\u0000alice\u0000', 'bob\u0000alice\u0000pw', '\u0000a\u0000b\u0000c', `\u0000${'x'.repeat(300)}\u0000pw`]) expect(parsePlain(plain(bad)).ok).toBe(false);
    expect(parsePlain(new Uint8Array([0, 0xff, 0, 0x61])).ok).toBe(false);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2_000 }), (bytes) => {
          expect(typeof parsePlain(bytes).ok).toBe('boolean');
        }), { numRuns: 500 });
  });
});

describe('failed-attempt limiter', () => {
  it('a guesser gets its burst, then one attempt per refill; others are not affected', () => {
    const limiter = new AttemptLimiter({ burst: 3, refillMs: 1_000, addressesMax: 100 });
    let now = 0;
    for (let i = 0; i < 3; i += 1) {
      expect(limiter.mayAttempt('10.0.0.1', now).ok).toBe(true);
      limiter.failed('10.0.0.1', now);
    }
    expect(limiter.mayAttempt('10.0.0.1', now)).toEqual({ ok: false, retryAfterMs: 1_000 });
    expect(limiter.mayAttempt('10.0.0.2', now).ok).toBe(true);
    now += 1_000;
    expect(limiter.mayAttempt('10.0.0.1', now).ok).toBe(true);
    limiter.failed('10.0.0.1', now);
    expect(limiter.mayAttempt('10.0.0.1', now + 500)).toEqual({ ok: false, retryAfterMs: 500 });
    // Successes cost nothing: a good client authenticates as often as it likes.
    for (let i = 0; i < 100; i += 1) expect(limiter.mayAttempt('10.0.0.3', now).ok).toBe(true);
  });

  it('a spray of addresses is bounded by addressesMax, forgetting the least recent', () => {
    const limiter = new AttemptLimiter({ burst: 1, refillMs: 60_000, addressesMax: 50 });
    limiter.failed('guesser', 0);
    for (let i = 0; i < 49; i += 1) limiter.failed(`spray-${i}`, 0);
    expect(limiter.mayAttempt('guesser', 1).ok).toBe(false); // touched: now the most recent
    for (let i = 49; i < 1_000; i += 1) limiter.failed(`spray-${i}`, 2);
    expect(limiter.addressCount).toBe(50);
  });
});
