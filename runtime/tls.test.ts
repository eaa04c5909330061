/**
 * TLS on the ws transport (#19), over real sockets on 127.0.0.1 with
 * certificates made by `openssl` (cli/dev-certs.ts): a node listening wss://
 * serves a dialer that trusts its CA, and refuses the rest (no CA, another
 * CA, plain ws://, no client certificate when ssl.client.auth=required).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeDevCertificates, type DevCertificates } from '../cli/dev-certs.ts';
import { createLogger } from './logger.ts';
import { Node, type Behaviour } from './node.ts';
import type { Ref } from './ref.ts';
import { listenerTlsProblem, readPemKeystore, readPemTruststore, type TlsSettings } from './tls.ts';

const quiet = (nodeId: string) => createLogger({ node: nodeId }, process.env.LOG_LEVEL ?? 'silent');
let dir: string;
let certs: DevCertificates;
let otherCa: DevCertificates;
const started: Node[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kactus-tls-'));
  certs = makeDevCertificates(join(dir, 'ours'), ['server', 'client']);
  otherCa = makeDevCertificates(join(dir, 'theirs'), ['stranger']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

type Echo = { type: 'Echo'; text: string; replyTo: Ref<string> };
const echo: Behaviour<null, Echo> = {
  accepts: { client: { Echo: true } },
  init: () => null,
  receive: (state, msg, ctx) => {
    ctx.node.tell(msg.replyTo, `echo ${msg.text}`);
    return state;
  },
};

const keystore = (name: string, from = certs): { cert: string; key: string } => readPemKeystore(from.keystores[name]!);

async function server(tls: TlsSettings, limits: { upgradeTimeoutMs?: number } = {}): Promise<Node> {
  const node = await Node.start({ nodeId: 'server', listen: { host: '127.0.0.1', port: 0 }, tls, logger: quiet('server'), limits });
  started.push(node);
  node.spawn('echo', echo);
  return node;
}

async function client(tls: TlsSettings | undefined): Promise<Node> {
  const node = await Node.start({ nodeId: `client-${started.length}`, ...(tls ? { tls } : {}), logger: quiet('client'), limits: { handshakeTimeoutMs: 3_000 } });
  started.push(node);
  return node;
}

describe('TLS on the ws transport', () => {
  it('a wss:// listener serves a client that trusts its CA', async () => {
    const s = await server({ ...keystore('server') });
    expect(s.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const c = await client({ ca: readPemTruststore(certs.caPath) });
    expect(await c.connect(s.url!)).toBe('server');
    const answer = await c.ask<Echo, string>({ node: 'server', path: '/echo' }, (replyTo) => ({ type: 'Echo', text: 'hi', replyTo }), { timeoutMs: 3_000 });
    expect(answer).toBe('echo hi');
  });

  it('an upgraded TLS link outlives the upgrade timeout (the timer sees the raw socket, the upgrade the TLS one)', async () => {
    const s = await server({ ...keystore('server') }, { upgradeTimeoutMs: 300 });
    const c = await client({ ca: readPemTruststore(certs.caPath) });
    await c.connect(s.url!);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const answer = await c.ask<Echo, string>({ node: 'server', path: '/echo' }, (replyTo) => ({ type: 'Echo', text: 'later', replyTo }), { timeoutMs: 3_000 });
    expect(answer).toBe('echo later');
  });

  it('refuses a client without the CA, with another CA, and one dialing plain ws://', async () => {
    const s = await server({ ...keystore('server') });
    await expect((await client(undefined)).connect(s.url!)).rejects.toThrow();
    await expect((await client({ ca: readPemTruststore(otherCa.caPath) })).connect(s.url!)).rejects.toThrow();
    await expect((await client({ ca: readPemTruststore(certs.caPath) })).connect(s.url!.replace('wss:', 'ws:'))).rejects.toThrow();
    // The listener goes on serving: a good client still gets in.
    const good = await client({ ca: readPemTruststore(certs.caPath) });
    expect(await good.connect(s.url!)).toBe('server');
  });

  it('ssl.client.auth=required refuses a client without a certificate signed by the CA, and takes one with it', async () => {
    const s = await server({ ...keystore('server'), ca: readPemTruststore(certs.caPath), clientAuth: 'required' });
    const ca = readPemTruststore(certs.caPath);
    await expect((await client({ ca })).connect(s.url!)).rejects.toThrow();
    await expect((await client({ ca, ...keystore('stranger', otherCa) })).connect(s.url!)).rejects.toThrow();
    const good = await client({ ca, ...keystore('client') });
    expect(await good.connect(s.url!)).toBe('server');
  });

  it('settings are checked: a listener needs a key and certificate; required client auth needs a CA; PEM files are split and named', () => {
    expect(listenerTlsProblem({ ca: 'x' })).toMatch(/certificate and its private key/);
    expect(listenerTlsProblem({ cert: 'c', key: 'k', clientAuth: 'required' })).toMatch(/ssl.truststore.location/);
    const store = readPemKeystore(certs.keystores.server!);
    expect(store.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(store.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(() => readPemKeystore(certs.caPath)).toThrow(/no PRIVATE KEY block/);
    expect(() => readPemTruststore(join(dir, 'missing.pem'))).toThrow(/ssl.truststore.location .*missing.pem/);
    expect(readFileSync(certs.caPath, 'utf8')).toContain('BEGIN CERTIFICATE');
  });
});
