/**
 * SCRAM credentials in the metadata log (#19), as KRaft keeps them
 * (UserScramCredentialRecord / RemoveUserScramCredentialRecord): the
 * AlterUserScramCredentials and DescribeUserScramCredentials commands.
 *
 * Owns: `generateAlterUserScramCredentials`, `generateDescribeUserScramCredentials`,
 * their command and reply types, and the bounds on what they accept.
 *
 * As Kafka's API: the client sends the salt and the salted password (it ran
 * PBKDF2 itself), never the password; the controller derives StoredKey and
 * ServerKey and the log holds those (protocol/sasl/scram.ts), so neither the
 * log nor a snapshot can give a password back. Per-user errors, Kafka's
 * codes: an unknown mechanism UNSUPPORTED_SASL_MECHANISM; iterations outside
 * [4096, 16384], an empty user or salt, a salted password of the wrong length
 * UNACCEPTABLE_CREDENTIAL; a user named twice in one request
 * DUPLICATE_RESOURCE; deleting or describing what does not exist
 * RESOURCE_NOT_FOUND. A user whose every change is accepted is written in
 * one batch with the others; a refused user writes nothing.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import { scramKeysFromSaltedPassword, scramLimits, scramMechanisms, type ScramMechanism } from '../../../protocol/sasl/scram.ts';
import type { MetadataImage } from './image.ts';
import type { ControlResult, MetadataRecord } from './records.ts';

export const scramCommandLimits = {
  /** Users in one Alter or Describe command. */
  usersPerRequestMax: 1_000,
  /** Salt bytes accepted. */
  saltBytesMax: 1_024,
} as const;

export interface AlterUserScramCredentialsCommand {
  readonly type: 'AlterUserScramCredentials';
  readonly deletions: readonly { readonly name: string; readonly mechanism: string }[];
  readonly upsertions: readonly { readonly name: string; readonly mechanism: string; readonly iterations: number; readonly salt: Uint8Array; readonly saltedPassword: Uint8Array }[];
}

export interface AlterUserScramCredentialsReply {
  readonly type: 'AlterUserScramCredentialsReply';
  readonly results: readonly { readonly user: string; readonly errorCode: number; readonly errorMessage: string | null }[];
}

export interface DescribeUserScramCredentialsCommand {
  readonly type: 'DescribeUserScramCredentials';
  /** Null: every user with a credential. */
  readonly users: readonly string[] | null;
}

export interface DescribeUserScramCredentialsReply {
  readonly type: 'DescribeUserScramCredentialsReply';
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly results: readonly {
    readonly user: string;
    readonly errorCode: number;
    readonly errorMessage: string | null;
    readonly credentialInfos: readonly { readonly mechanism: ScramMechanism; readonly iterations: number }[];
  }[];
}

const isMechanism = (name: string): name is ScramMechanism => (scramMechanisms as readonly string[]).includes(name);
const hashBytes = (mechanism: ScramMechanism): number => (mechanism === 'SCRAM-SHA-256' ? 32 : 64);

export function generateAlterUserScramCredentials(image: MetadataImage, command: AlterUserScramCredentialsCommand): ControlResult<AlterUserScramCredentialsReply> {
  const reply = (results: AlterUserScramCredentialsReply['results']): AlterUserScramCredentialsReply => ({ type: 'AlterUserScramCredentialsReply', results });
  const changes = [...command.deletions.map((d) => ({ kind: 'delete' as const, ...d })), ...command.upsertions.map((u) => ({ kind: 'upsert' as const, ...u }))];
  if (new Set(changes.map((c) => c.name)).size > scramCommandLimits.usersPerRequestMax) {
    return { records: [], reply: reply([...new Set(changes.map((c) => c.name))].map((user) => ({ user, errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: `at most ${scramCommandLimits.usersPerRequestMax} users per request` }))) };
  }
  const byUser = new Map<string, typeof changes>();
  for (const change of changes) byUser.set(change.name, [...(byUser.get(change.name) ?? []), change]);
  const records: MetadataRecord[] = [];
  const results: { user: string; errorCode: number; errorMessage: string | null }[] = [];
  for (const [user, userChanges] of byUser) {
    const fail = (errorCode: number, errorMessage: string): void => void results.push({ user, errorCode, errorMessage });
    if (user.length === 0) {
      fail(ErrorCode.UNACCEPTABLE_CREDENTIAL, 'Username must not be empty');
      continue;
    }
    if (Buffer.byteLength(user, 'utf8') > scramLimits.usernameBytesMax) {
      fail(ErrorCode.UNACCEPTABLE_CREDENTIAL, `Username is longer than ${scramLimits.usernameBytesMax} bytes`);
      continue;
    }
    const mechanisms = userChanges.map((c) => c.mechanism);
    if (new Set(mechanisms).size !== mechanisms.length) {
      fail(ErrorCode.DUPLICATE_RESOURCE, `A user credential cannot be altered twice in the same request`);
      continue;
    }
    const userRecords: MetadataRecord[] = [];
    let problem: [number, string] | null = null;
    for (const change of userChanges) {
      if (!isMechanism(change.mechanism)) {
        problem = [ErrorCode.UNSUPPORTED_SASL_MECHANISM, `Unknown SCRAM mechanism ${change.mechanism}`];
        break;
      }
      if (change.kind === 'delete') {
        if (image.scramCredentials.get(user)?.get(change.mechanism) === undefined) {
          problem = [ErrorCode.RESOURCE_NOT_FOUND, `Attempt to delete a user credential that does not exist`];
          break;
        }
        userRecords.push({ type: 'RemoveUserScramCredential', name: user, mechanism: change.mechanism });
        continue;
      }
      if (!Number.isInteger(change.iterations) || change.iterations < scramLimits.iterationsMin || change.iterations > scramLimits.iterationsMax) {
        problem = [ErrorCode.UNACCEPTABLE_CREDENTIAL, `Iterations ${change.iterations} not in [${scramLimits.iterationsMin}, ${scramLimits.iterationsMax}]`];
        break;
      }
      if (change.salt.length === 0 || change.salt.length > scramCommandLimits.saltBytesMax) {
        problem = [ErrorCode.UNACCEPTABLE_CREDENTIAL, `Salt must be 1-${scramCommandLimits.saltBytesMax} bytes`];
        break;
      }
      if (change.saltedPassword.length !== hashBytes(change.mechanism)) {
        problem = [ErrorCode.UNACCEPTABLE_CREDENTIAL, `Salted password must be ${hashBytes(change.mechanism)} bytes for ${change.mechanism}`];
        break;
      }
      const keys = scramKeysFromSaltedPassword(change.mechanism, Buffer.from(change.saltedPassword));
      userRecords.push({ type: 'UserScramCredential', name: user, mechanism: change.mechanism, salt: Buffer.from(change.salt), storedKey: keys.storedKey, serverKey: keys.serverKey, iterations: change.iterations });
    }
    if (problem !== null) {
      fail(problem[0], problem[1]);
      continue;
    }
    records.push(...userRecords);
    results.push({ user, errorCode: ErrorCode.NONE, errorMessage: null });
  }
  return { records, reply: reply(results) };
}

export function generateDescribeUserScramCredentials(image: MetadataImage, command: DescribeUserScramCredentialsCommand): ControlResult<DescribeUserScramCredentialsReply> {
  const info = (user: string) =>
    [...(image.scramCredentials.get(user)?.values() ?? [])].map((c) => ({ mechanism: c.mechanism, iterations: c.iterations })).sort((a, b) => (a.mechanism < b.mechanism ? -1 : 1));
  const reply = (results: DescribeUserScramCredentialsReply['results']): DescribeUserScramCredentialsReply => ({ type: 'DescribeUserScramCredentialsReply', errorCode: ErrorCode.NONE, errorMessage: null, results });
  if (command.users === null) {
    return { records: [], reply: reply([...image.scramCredentials.keys()].sort().map((user) => ({ user, errorCode: ErrorCode.NONE, errorMessage: null, credentialInfos: info(user) }))) };
  }
  const seen = new Map<string, number>();
  for (const user of command.users) seen.set(user, (seen.get(user) ?? 0) + 1);
  return {
    records: [],
    reply: reply(
      [...seen].map(([user, count]) => {
        if (count > 1) return { user, errorCode: ErrorCode.DUPLICATE_RESOURCE, errorMessage: 'Cannot describe SCRAM credentials for the same user twice in a single request', credentialInfos: [] };
        const credentialInfos = info(user);
        if (credentialInfos.length === 0) return { user, errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: 'Attempt to describe a user credential that does not exist', credentialInfos: [] };
        return { user, errorCode: ErrorCode.NONE, errorMessage: null, credentialInfos };
      }),
    ),
  };
}
