/**
 * TLS settings of a node's WebSocket transport (#19): what a listener serves
 * (`wss://`) and what a dialer trusts and presents.
 *
 * Owns: `TlsSettings`, their checks, and reading Kafka's PEM store files
 * (`ssl.keystore.type=PEM`: one file with the private key and its
 * certificate chain; `ssl.truststore.type=PEM`: one file of CA
 * certificates). Node's `tls` does the cryptography; nothing here parses a
 * certificate beyond splitting PEM blocks.
 *
 * Defaults are the safe ones: a dialer verifies the server's certificate
 * against `ca` (or Node's bundled roots when `ca` is absent) and its host
 * name, unless `rejectUnauthorized` is false; a listener asks no client
 * certificate unless `clientAuth` says so (Kafka's `ssl.client.auth`).
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';

/** ssl.client.auth: whether a listener asks for, or insists on, a client certificate. */
export type ClientAuth = 'none' | 'requested' | 'required';

export type TlsSettings = {
  /** PEM certificate chain this side presents (a listener must have one; a dialer only for client-certificate auth). */
  readonly cert?: string;
  /** PEM private key of `cert`. */
  readonly key?: string;
  /** PEM CA certificates trusted for the other side; absent: Node's bundled roots. */
  readonly ca?: string;
  /** A dialer: refuse a server whose certificate does not verify (default true). */
  readonly rejectUnauthorized?: boolean;
  /** A listener: ssl.client.auth (default 'none'). */
  readonly clientAuth?: ClientAuth;
};

const pemBlock = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g;

/** The PEM blocks of `text` whose label matches `label`, joined, or '' when there are none. */
function blocksOf(text: string, label: (name: string) => boolean): string {
  const out: string[] = [];
  for (const match of text.matchAll(pemBlock)) if (label(match[1]!)) out.push(match[0]);
  return out.join('\n');
}

/**
 * Reads a PEM keystore (Kafka's `ssl.keystore.location` with type PEM): the
 * private key (PKCS#8, RSA or EC, unencrypted) and the certificate chain, in
 * one file. Throws an Error naming the file and what is missing.
 */
export function readPemKeystore(path: string): { cert: string; key: string } {
  const text = readPem(path, 'ssl.keystore.location');
  const key = blocksOf(text, (label) => label.endsWith('PRIVATE KEY') && !label.startsWith('ENCRYPTED'));
  const cert = blocksOf(text, (label) => label === 'CERTIFICATE');
  if (key === '') {
    const encrypted = blocksOf(text, (label) => label.startsWith('ENCRYPTED')) !== '';
    throw new Error(`ssl.keystore.location ${path}: ${encrypted ? 'the private key is encrypted (ssl.key.password is not supported: use an unencrypted key with file permissions)' : 'no PRIVATE KEY block'}`);
  }
  if (cert === '') throw new Error(`ssl.keystore.location ${path}: no CERTIFICATE block`);
  return { cert, key };
}

/** Reads a PEM truststore (`ssl.truststore.location` with type PEM): CA certificates. */
export function readPemTruststore(path: string): string {
  const cert = blocksOf(readPem(path, 'ssl.truststore.location'), (label) => label === 'CERTIFICATE');
  if (cert === '') throw new Error(`ssl.truststore.location ${path}: no CERTIFICATE block`);
  return cert;
}

function readPem(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${setting} ${path}: ${(err as Error).message}`);
  }
}

/** Why `settings` cannot serve a listener, or null. */
export function listenerTlsProblem(settings: TlsSettings): string | null {
  if (settings.cert === undefined || settings.key === undefined) return 'a TLS listener needs a certificate and its private key (ssl.keystore.location)';
  if ((settings.clientAuth ?? 'none') !== 'none' && settings.ca === undefined) return `ssl.client.auth=${settings.clientAuth} needs the CA that signs client certificates (ssl.truststore.location)`;
  return null;
}

/** Node's `tls` server options for a listener with these settings (checked first with listenerTlsProblem). */
export function tlsServerOptions(settings: TlsSettings): { cert?: string; key?: string; ca?: string; requestCert: boolean; rejectUnauthorized: boolean; minVersion: 'TLSv1.2' } {
  const clientAuth = settings.clientAuth ?? 'none';
  return {
    ...(settings.cert === undefined ? {} : { cert: settings.cert }),
    ...(settings.key === undefined ? {} : { key: settings.key }),
    ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    requestCert: clientAuth !== 'none',
    rejectUnauthorized: clientAuth === 'required',
    minVersion: 'TLSv1.2',
  };
}

/** A ws/wss URL for host:port (an IPv6 host in brackets). */
export function wsUrl(scheme: 'ws' | 'wss', host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Kafka's principal of a connection that did not authenticate. */
export const anonymousPrincipal = 'User:ANONYMOUS';

/**
 * Kafka's principal for a TLS connection: `User:` and the client certificate's subject as an
 * RFC 2253 name (most specific first: `CN=app,O=Acme`), or ANONYMOUS without a certificate.
 */
export function certificatePrincipal(socket: TLSSocket): string {
  const certificate = socket.getPeerX509Certificate?.();
  if (certificate === undefined || !socket.authorized) return anonymousPrincipal;
  const escape = (value: string): string => value.replace(/([,+"\\<>;])/g, '\\$1');
  const parts = certificate.subject.split('\n').filter(Boolean).map((part) => {
    const at = part.indexOf('=');
    return at < 0 ? escape(part) : `${part.slice(0, at)}=${escape(part.slice(at + 1))}`;
  });
  return `User:${parts.reverse().join(',')}`;
}
