/**
 * SASL on the native link (client-auth.ts, node.ts), over the in-memory
 * transport with the real SaslServerSession: a node that requires it serves
 * a client only after SCRAM succeeded (the principal is the link's); a
 * client without credentials gets SASL_AUTHENTICATION_FAILED on its first
 * ask, not a closed link; a wrong password, an unoffered mechanism and SASL
 * toward a node that does not take it each fail the dial with their code;
 * an authenticated link refuses a second exchange.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../protocol/errors.ts';
import { AttemptLimiter } from '../protocol/sasl/attempt-limiter.ts';
import { saslClientCredentials } from '../protocol/sasl/client-session.ts';
import { scramCredential } from '../protocol/sasl/scram.ts';
import { SaslServerSession, saslMechanismsOffered, type SaslMechanism } from '../protocol/sasl/server-session.ts';
import type { ClientAuthenticator } from './client-auth.ts';
import type { RequestAuthorizer } from './protocol.ts';
import { addressOnly } from './client-auth.ts';
import { createLogger } from './logger.ts';
import { MemoryNetwork } from './memory-transport.ts';
import { Node, type Behaviour } from './node.ts';
import { Kind, decodeFrame, encodeEnvelope } from './envelope.ts';
import { newChallenge } from './peer-auth.ts';
import type { Ref } from './ref.ts';

const quiet = (nodeId: string) => createLogger({ node: nodeId }, process.env.LOG_LEVEL ?? 'silent');
const started: Node[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

const users = new Map([['alice/SCRAM-SHA-256', scramCredential('SCRAM-SHA-256', 'alice-pw', 4096)]]);

function authenticator(): ClientAuthenticator {
  // Generous: the malformed-input property fails many times from one address, and a good login follows.
  const limiter = new AttemptLimiter({ burst: 1_000, refillMs: 1, addressesMax: 100 });
  return {
    mechanisms: (secure) => saslMechanismsOffered(['SCRAM-SHA-256', 'PLAIN'], secure),
    start: (mechanism, address) => new SaslServerSession(mechanism as SaslMechanism, { lookup: (user, m) => users.get(`${user}/${m}`), limiter, address, nowMs: () => 0 }),
    // Above 0: the in-memory link drops what is still in flight when it closes (ws sends it first).
    failedDelayMs: 20,
  };
}

type Whoami = { type: 'Whoami'; replyTo: Ref<string>; caller?: { principal: string; host: string } };
const whoami: Behaviour<null, Whoami> = {
  accepts: { client: { Whoami: true } },
  init: () => null,
  receive: (state, message, ctx) => {
    ctx.node.tell(message.replyTo, message.caller === undefined ? 'hello' : `hello ${message.caller.principal}`);
    return state;
  },
};

async function broker(network: MemoryNetwork, withAuth = true, authorizer?: RequestAuthorizer): Promise<Node> {
  const node = await Node.start({ nodeId: '1', listen: { host: 'broker', port: 1 }, transport: network, logger: quiet('1'), ...(withAuth ? { clientAuthenticator: authenticator() } : {}), ...(authorizer ? { authorizer } : {}) });
  node.spawn('whoami', whoami);
  started.push(node);
  return node;
}

async function client(network: MemoryNetwork, credentials?: { mechanism: SaslMechanism; username: string; password: string }): Promise<Node> {
  const node = await Node.start({ nodeId: `client-${started.length}`, transport: network, logger: quiet('client'), limits: { handshakeTimeoutMs: 2_000 }, ...(credentials ? { clientCredentials: saslClientCredentials(credentials) } : {}) });
  started.push(node);
  return node;
}

const ask = (from: Node, to: Node, extra: Record<string, unknown> = {}): Promise<string> => from.ask<Whoami, string>({ node: to.nodeId, path: '/whoami' }, (replyTo) => ({ type: 'Whoami', replyTo, ...extra }), { timeoutMs: 2_000 });

describe('SASL on the native link', () => {
  it('a client with the right SCRAM credentials is served', async () => {
    const network = new MemoryNetwork();
    const server = await broker(network);
    const alice = await client(network, { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-pw' });
    expect(await alice.connect(server.url!)).toBe('1');
    expect(await ask(alice, server)).toBe('hello User:alice');
  });

  it('the authenticated principal is stamped on every message (a forged caller is overwritten) and the authorizer sees it', async () => {
    const network = new MemoryNetwork();
    const seen: string[] = [];
    const server = await broker(network, true, (caller, path, message) => {
      seen.push(`${caller.principal} ${path} ${String(message.type)}`);
      return message.refuseMe === true ? { errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, why: `${caller.principal} may not` } : null;
    });
    const alice = await client(network, { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-pw' });
    await alice.connect(server.url!);
    expect(await ask(alice, server, { caller: { principal: 'User:admin', host: '*' } })).toBe('hello User:alice');
    await expect(ask(alice, server, { refuseMe: true })).rejects.toMatchObject({ code: ErrorCode.TOPIC_AUTHORIZATION_FAILED, message: expect.stringContaining('User:alice may not') });
    expect(seen).toEqual(['User:alice /whoami Whoami', 'User:alice /whoami Whoami']);
    expect(server.stats.refusedByAuthorizer).toBe(1);
    // askAsClient with the Kafka listener's caller goes through the same check; without one it is this node's own.
    await expect(server.askAsClient<Whoami, string>('/whoami', (replyTo) => ({ type: 'Whoami', replyTo, refuseMe: true } as Whoami), { caller: { principal: 'User:bob', host: '10.0.0.2' } })).rejects.toMatchObject({ code: ErrorCode.TOPIC_AUTHORIZATION_FAILED });
    expect(await server.askAsClient<Whoami, string>('/whoami', (replyTo) => ({ type: 'Whoami', replyTo, caller: { principal: 'User:forged', host: 'x' } }))).toBe('hello');
  });

  it('a client without credentials gets SASL_AUTHENTICATION_FAILED on its first ask', async () => {
    const network = new MemoryNetwork();
    const server = await broker(network);
    const anonymous = await client(network);
    await anonymous.connect(server.url!);
    await expect(ask(anonymous, server)).rejects.toMatchObject({ code: ErrorCode.SASL_AUTHENTICATION_FAILED, message: expect.stringContaining('requires SASL authentication') });
    expect(server.stats.authFailures).toBe(1);
  });

  it('a wrong password, an unknown user, PLAIN without TLS: the dial fails with the code', async () => {
    const network = new MemoryNetwork();
    const server = await broker(network);
    for (const [credentials, code] of [
      [{ mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'wrong' }, ErrorCode.SASL_AUTHENTICATION_FAILED],
      [{ mechanism: 'SCRAM-SHA-256', username: 'mallory', password: 'x' }, ErrorCode.SASL_AUTHENTICATION_FAILED],
      [{ mechanism: 'PLAIN', username: 'alice', password: 'alice-pw' }, ErrorCode.UNSUPPORTED_SASL_MECHANISM],
    ] as const) {
      const node = await client(network, credentials);
      await expect(node.connect(server.url!)).rejects.toMatchObject({ code });
    }
  });

  it('SASL toward a node that does not take it fails with ILLEGAL_SASL_STATE', async () => {
    const network = new MemoryNetwork();
    const server = await broker(network, false);
    const alice = await client(network, { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-pw' });
    await expect(alice.connect(server.url!)).rejects.toMatchObject({ code: ErrorCode.ILLEGAL_SASL_STATE });
  });

  it('malformed and out-of-order SASL envelopes are refused, each on its own link, without harm to the node', async () => {
    const network = new MemoryNetwork();
    const server = await broker(network);
    const fc = await import('fast-check');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN', 'GSSAPI', null), fc.uint8Array({ maxLength: 200 }), fc.boolean(), async (mechanism, bytes, resultFirst) => {
        const link = await network.dial(server.url!);
        const received: unknown[][] = [];
        link.onFrame((frame) => {
          const values = decodeFrame(frame);
          if (Array.isArray(values)) received.push(...(values as unknown[][]));
        });
        link.send(encodeEnvelope({ kind: Kind.Hello, nodeId: `raw-${Math.random().toString(36).slice(2)}`, incarnation: 'i-1', listenUrl: null, role: 'client', challenge: newChallenge(), proof: null }));
        // Out of order (a result sent to the server), or a first step of any mechanism with any bytes.
        if (resultFirst) link.send(encodeEnvelope({ kind: Kind.SaslResult, errorCode: 0, errorMessage: null, bytes, complete: true, mechanisms: [] }));
        else link.send(encodeEnvelope({ kind: Kind.SaslAuthenticate, mechanism, bytes }));
        const closed = await Promise.race([link.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1_000))]);
        const results = received.filter((v) => v[1] === Kind.SaslResult);
        // Either refused and closed, or (a well-formed client-first) answered with the server-first: never accepted.
        if (closed) expect(results.every((r) => r[2] !== 0)).toBe(true);
        else {
          expect(results).toHaveLength(1);
          expect(results[0]![5]).toBe(false);
          link.close(1000, 'done');
        }
      }),
      { numRuns: 60 },
    );
    const alice = await client(network, { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'alice-pw' });
    await alice.connect(server.url!);
    expect(await ask(alice, server)).toBe('hello User:alice');
  });

  it('addressOnly keeps the IP of ip:port', () => {
    expect(addressOnly('10.0.0.1:5432')).toBe('10.0.0.1');
    expect(addressOnly('::1:5432')).toBe('::1');
    expect(addressOnly('mem://x')).toBe('mem://x');
  });
});
