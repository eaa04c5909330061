/**
 * SCRAM credentials in the metadata log: AlterUserScramCredentials generates
 * records that replay into the image (keys only, never a password), a
 * snapshot keeps them, a SCRAM exchange against the replayed credential
 * succeeds with the password and fails without it, and each refusal has
 * Kafka's code.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import { scramClientFinal, scramClientFirst, scramSaltedPassword, scramServerFinal, scramServerFirst, type ScramMechanism } from '../../../protocol/sasl/scram.ts';
import { decodeImage, encodeImage } from '../image-codec.ts';
import { emptyImage, replayBatch, type MetadataImage } from './image.ts';
import { generateAlterUserScramCredentials, generateDescribeUserScramCredentials } from './scram.ts';

const salt = Buffer.from('0123456789abcdef0123456789abcdef');
const upsert = (name: string, mechanism: string, password: string, iterations = 4096) => ({
  name,
  mechanism,
  iterations,
  salt,
  saltedPassword: (['SCRAM-SHA-256', 'SCRAM-SHA-512'] as string[]).includes(mechanism) ? scramSaltedPassword(mechanism as ScramMechanism, password, salt, iterations) : Buffer.alloc(32),
});

function alter(image: MetadataImage, command: Parameters<typeof generateAlterUserScramCredentials>[1]) {
  const result = generateAlterUserScramCredentials(image, command);
  return { image: replayBatch(image, result.records), reply: result.reply, records: result.records };
}

function authenticates(image: MetadataImage, mechanism: ScramMechanism, user: string, password: string): boolean {
  const client = scramClientFirst(mechanism, user);
  const first = scramServerFirst(mechanism, client.message, (name) => {
    const c = image.scramCredentials.get(name)?.get(mechanism);
    return c === undefined ? undefined : { mechanism, salt: c.salt, iterations: c.iterations, storedKey: c.storedKey, serverKey: c.serverKey };
  });
  if (!first.ok) return false;
  const final = scramClientFinal(client.exchange, password, first.message);
  return final.ok && scramServerFinal(first.exchange, final.message).ok;
}

describe('AlterUserScramCredentials / DescribeUserScramCredentials', () => {
  it('stores keys derived from the salted password; the password authenticates and nothing else does', () => {
    const { image, reply, records } = alter(emptyImage, { type: 'AlterUserScramCredentials', deletions: [], upsertions: [upsert('alice', 'SCRAM-SHA-256', 'pw-256'), upsert('alice', 'SCRAM-SHA-512', 'pw-512', 8192)] });
    expect(reply.results).toEqual([{ user: 'alice', errorCode: 0, errorMessage: null }]);
    expect(JSON.stringify(records)).not.toContain('pw-');
    expect(records.every((r) => !('saltedPassword' in r))).toBe(true);
    expect(authenticates(image, 'SCRAM-SHA-256', 'alice', 'pw-256')).toBe(true);
    expect(authenticates(image, 'SCRAM-SHA-512', 'alice', 'pw-512')).toBe(true);
    expect(authenticates(image, 'SCRAM-SHA-256', 'alice', 'pw-512')).toBe(false);
    expect(generateDescribeUserScramCredentials(image, { type: 'DescribeUserScramCredentials', users: null }).reply.results).toEqual([
      { user: 'alice', errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 'SCRAM-SHA-256', iterations: 4096 }, { mechanism: 'SCRAM-SHA-512', iterations: 8192 }] },
    ]);
    // A snapshot keeps them, byte for byte.
    const restored = decodeImage(encodeImage(image));
    if ('errorCode' in restored) throw new Error(restored.errorMessage);
    expect(authenticates(restored as MetadataImage, 'SCRAM-SHA-512', 'alice', 'pw-512')).toBe(true);
    // Deleting one mechanism keeps the other; deleting both forgets the user.
    const less = alter(image, { type: 'AlterUserScramCredentials', deletions: [{ name: 'alice', mechanism: 'SCRAM-SHA-256' }], upsertions: [] }).image;
    expect(authenticates(less, 'SCRAM-SHA-256', 'alice', 'pw-256')).toBe(false);
    expect(authenticates(less, 'SCRAM-SHA-512', 'alice', 'pw-512')).toBe(true);
    const none = alter(less, { type: 'AlterUserScramCredentials', deletions: [{ name: 'alice', mechanism: 'SCRAM-SHA-512' }], upsertions: [] }).image;
    expect(none.scramCredentials.has('alice')).toBe(false);
  });

  it("refuses per user with Kafka's codes, writing nothing for a refused user", () => {
    const { image } = alter(emptyImage, { type: 'AlterUserScramCredentials', deletions: [], upsertions: [upsert('bob', 'SCRAM-SHA-256', 'x')] });
    const { reply, records } = alter(image, {
      type: 'AlterUserScramCredentials',
      deletions: [{ name: 'carol', mechanism: 'SCRAM-SHA-256' }, { name: 'dave', mechanism: 'SCRAM-SHA-256' }],
      upsertions: [upsert('dave', 'SCRAM-SHA-256', 'y'), upsert('erin', 'SCRAM-MD5', 'z'), upsert('frank', 'SCRAM-SHA-256', 'w', 100), upsert('', 'SCRAM-SHA-256', 'v'), upsert('gina', 'SCRAM-SHA-512', 'ok')],
    });
    const code = (user: string) => reply.results.find((r) => r.user === user)?.errorCode;
    expect(code('carol')).toBe(ErrorCode.RESOURCE_NOT_FOUND);
    expect(code('dave')).toBe(ErrorCode.DUPLICATE_RESOURCE);
    expect(code('erin')).toBe(ErrorCode.UNSUPPORTED_SASL_MECHANISM);
    expect(code('frank')).toBe(ErrorCode.UNACCEPTABLE_CREDENTIAL);
    expect(code('')).toBe(ErrorCode.UNACCEPTABLE_CREDENTIAL);
    expect(code('gina')).toBe(ErrorCode.NONE);
    expect(records.map((r) => (r as { name: string }).name)).toEqual(['gina']);
    const described = generateDescribeUserScramCredentials(image, { type: 'DescribeUserScramCredentials', users: ['bob', 'nobody', 'bob2', 'bob2'] }).reply.results;
    expect(described.map((r) => [r.user, r.errorCode])).toEqual([
      ['bob', 0],
      ['nobody', ErrorCode.RESOURCE_NOT_FOUND],
      ['bob2', ErrorCode.DUPLICATE_RESOURCE],
    ]);
  });
});
