/**
 * Throwaway certificates for development and tests (#19): a local CA and one
 * certificate per name, signed by it, valid for the given hosts.
 *
 * Owns: `makeDevCertificates`, which writes PEM files Kafka's PEM settings
 * read (runtime/tls.ts): `ca.pem` (the truststore) and `<name>.keystore.pem`
 * (private key + certificate chain) per name.
 *
 * Made with the `openssl` command (OpenSSL 1.1.1 or 3.x), not a library:
 * it is on every Debian, macOS and CI image, it is what operators use to
 * make real certificates (so what this does is also the README's recipe),
 * and it adds no dependency to the package for a development-only feature.
 * Keys are EC P-256, unencrypted (0600), certificates valid for 30 days.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type DevCertificates = {
  dir: string;
  /** The CA certificate (ssl.truststore.location). */
  caPath: string;
  /** name -> its keystore (ssl.keystore.location): key and certificate chain. */
  keystores: Record<string, string>;
};

export const devCertificateDays = 30;

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the openssl command is not installed (apt-get install openssl, brew install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? e.message}`);
  }
}

/**
 * Writes a CA and, for each of `names`, a certificate with CN=name valid for
 * `hosts` (IP addresses and DNS names) as server and client, into `dir`.
 * An existing CA in `dir` is replaced.
 */
export function makeDevCertificates(dir: string, names: readonly string[], hosts: readonly string[] = ['127.0.0.1', 'localhost']): DevCertificates {
  mkdirSync(dir, { recursive: true });
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...curve, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', String(devCertificateDays), '-subj', '/CN=kactus development CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  chmodSync(join(dir, 'ca.key'), 0o600);
  const altNames = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  writeFileSync(join(dir, 'leaf.ext'), `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`);
  const keystores: Record<string, string> = {};
  for (const name of names) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`certificate name ${JSON.stringify(name)}: 1-64 characters of [A-Za-z0-9._-]`);
    openssl(['req', ...curve, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-out', `${name}.crt`, '-days', String(devCertificateDays), '-extfile', 'leaf.ext'], dir);
    const keystore = join(dir, `${name}.keystore.pem`);
    writeFileSync(keystore, readFileSync(join(dir, `${name}.key`), 'utf8') + readFileSync(join(dir, `${name}.crt`), 'utf8'), { mode: 0o600 });
    for (const leftover of [`${name}.key`, `${name}.csr`, `${name}.crt`]) rmSync(join(dir, leftover), { force: true });
    keystores[name] = keystore;
  }
  rmSync(join(dir, 'leaf.ext'), { force: true });
  return { dir, caPath: join(dir, 'ca.pem'), keystores };
}
