/**
 * Where a broker's cluster secret comes from: the shared secret its peers
 * prove to each other on every link (runtime/peer-auth.ts). Without it no
 * link can be a peer, so a multi-broker cluster cannot form.
 *
 * In order, the first that exists wins:
 *   1. KACTUS_CLUSTER_SECRET in the environment (the secret itself; tests,
 *      containers with a secret store);
 *   2. the file named by cluster.secret.file (the same content on every
 *      machine; `kactus cluster up` generates one for its local cluster);
 *   3. `<log.dirs>/cluster.secret`;
 *   4. none: a broker that is the only controller voter generates 32 random
 *      bytes into `<log.dirs>/cluster.secret` (mode 0600) and uses them (a
 *      one-node development cluster needs no set-up); any other broker stops
 *      with a ConfigError that says what to set.
 *
 * A secret is the file's text with surrounding whitespace trimmed, at least
 * clusterSecretBytesMin bytes. Nothing is logged of it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterSecretBytesMin } from '../../runtime/peer-auth.ts';
import { ConfigError, type BrokerConfig } from './config.ts';

export const clusterSecretVariable = 'KACTUS_CLUSTER_SECRET';
export const clusterSecretFileName = 'cluster.secret';
/** A secret file is a line of text; anything bigger is a wrong path. */
const secretFileBytesMax = 4096;

/** A new secret as `kactus cluster up` and the one-voter default write it: 64 hex characters. */
export function generateClusterSecret(): string {
  return randomBytes(32).toString('hex');
}

/** Writes a new secret to `path` (0600) unless one is there; returns the path. */
export function ensureClusterSecretFile(path: string): string {
  if (!existsSync(path)) writeFileSync(path, `${generateClusterSecret()}\n`, { mode: 0o600, flag: 'wx' });
  return path;
}

function secretFromText(text: string, where: string): Buffer {
  const secret = Buffer.from(text.trim(), 'utf8');
  if (secret.length < clusterSecretBytesMin) throw new ConfigError(`the cluster secret in ${where} has ${secret.length} bytes; at least ${clusterSecretBytesMin} are needed`);
  return secret;
}

function readSecretFile(path: string, what: string): Buffer {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new ConfigError(`${what} ${path} does not exist`);
  }
  if (size > secretFileBytesMax) throw new ConfigError(`${what} ${path} is ${size} bytes: not a secret file`);
  return secretFromText(readFileSync(path, 'utf8'), path);
}

export function resolveClusterSecret(config: BrokerConfig, environment: Readonly<Record<string, string | undefined>> = process.env): Buffer {
  const fromEnvironment = environment[clusterSecretVariable];
  if (fromEnvironment !== undefined && fromEnvironment.length > 0) return secretFromText(fromEnvironment, clusterSecretVariable);
  if (config.clusterSecretFile !== null) return readSecretFile(config.clusterSecretFile, 'cluster.secret.file');
  const inDataDir = join(config.dataDir, clusterSecretFileName);
  if (existsSync(inDataDir)) return readSecretFile(inDataDir, 'the cluster secret file');
  const voters = [...config.controllerQuorumVoters.keys()];
  if (voters.length === 1 && voters[0] === config.brokerId) {
    mkdirSync(config.dataDir, { recursive: true });
    return readSecretFile(ensureClusterSecretFile(inDataDir), 'the cluster secret file');
  }
  throw new ConfigError(
    `no cluster secret: brokers prove to each other that they belong to the cluster with a shared secret. ` +
      `Put the same secret file on every broker and set cluster.secret.file (or ${clusterSecretVariable}); ` +
      `\`kactus cluster up\` makes one for a local cluster`,
  );
}
