/**
 * Found by the chaos harness (test/chaos/, CI seed 1): after a broker process
 * was killed and started again (same node id, same address), the first ask
 * the harness sent it waited out its whole timeout although the broker was
 * up; the next ask went through at once. Why: the ask was queued for the peer
 * while the link was down; the reconnect's hello showed a new incarnation,
 * and the node dropped the queue (envelopes meant for the old incarnation,
 * rightly: a reply to `/temp/<n>` of the old one could resolve a different
 * ask of the new one), so the ask's request vanished and its caller heard
 * nothing until the timeout. Producers, consumers and brokers asking a
 * restarted node all paid that timeout once.
 *
 * The fix (node.ts, onHello): when a peer comes back as a new incarnation,
 * every ask still pending on that node fails at once with NETWORK_EXCEPTION
 * (retriable), as asks do when the failure detector declares a node down: the
 * old incarnation cannot answer them any more and their requests were
 * dropped. Callers retry and reach the new incarnation.
 *
 * Goal: an ask sent to a node while it restarts is answered or fails
 * retriably within a few heartbeats, never by its timeout. Method: two nodes
 * on the in-memory transport; b stops; a asks b (queued, no link); b starts
 * again at the same address; the ask must settle by NETWORK_EXCEPTION (or
 * an answer), never by its timeout's REQUEST_TIMED_OUT, and a retry must
 * reach the new b. The error code tells the two apart; no clock is read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { createLogger } from './logger.ts';
import { MemoryNetwork } from './memory-transport.ts';
import { Node, type Behaviour } from './node.ts';
import type { Ref } from './ref.ts';

const quietLogger = (nodeId: string) => createLogger({ node: nodeId }, process.env.LOG_LEVEL ?? 'silent');
/** a and b are peers: both hold the cluster secret. */
const secret = Buffer.from('node-restart-test-cluster-secret-0123');
const fastLimits = { heartbeatIntervalMs: 20, unreachableAfterMs: 100, downAfterMs: 200, reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 50 };

const started: Node[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

type Ping = { type: 'Ping'; replyTo: Ref<string> };
const ponger = (name: string): Behaviour<null, Ping> => ({
  accepts: { peer: { Ping: true } },
  init: () => null,
  receive: (state, msg, ctx) => (ctx.node.tell(msg.replyTo, name), state),
});

describe('asks to a node that restarts', () => {
  it('settle at once when the node comes back as a new incarnation (no wait for the timeout)', async () => {
    const network = new MemoryNetwork();
    const startB = async (): Promise<Node> => {
      const b = await Node.start({ nodeId: 'b', listen: { host: 'b', port: 1 }, transport: network, limits: fastLimits, logger: quietLogger('b'), clusterSecret: secret });
      started.push(b);
      return b;
    };
    const a = await Node.start({ nodeId: 'a', transport: network, limits: fastLimits, logger: quietLogger('a'), peers: { b: 'mem://b:1' }, clusterSecret: secret });
    started.push(a);
    const b1 = await startB();
    b1.spawn('pong', ponger('first'));
    const target: Ref<Ping> = { node: 'b', path: '/pong' };
    expect(await a.ask<Ping, string>(target, (replyTo) => ({ type: 'Ping', replyTo }), { timeoutMs: 2_000 })).toBe('first');

    await b1.stop();
    // Let a notice (the link closed); the ask below is queued with no link.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const pending = a.ask<Ping, string>(target, (replyTo) => ({ type: 'Ping', replyTo }), { timeoutMs: 10_000 }).then(
      (answer) => ({ answer, error: undefined }),
      (error: unknown) => ({ answer: undefined, error }),
    );
    const b2 = await startB();
    b2.spawn('pong', ponger('second'));
    const outcome = await pending;
    // Settled by the new incarnation: an ask that waited out its timeout fails with REQUEST_TIMED_OUT instead.
    if (outcome.error !== undefined) {
      expect(outcome.error).toBeInstanceOf(KactusError);
      expect((outcome.error as KactusError).code).toBe(ErrorCode.NETWORK_EXCEPTION);
      expect((outcome.error as KactusError).retriable).toBe(true);
    } else {
      expect(outcome.answer).toBe('second');
    }
    // A retry reaches the new incarnation.
    expect(await a.ask<Ping, string>(target, (replyTo) => ({ type: 'Ping', replyTo }), { timeoutMs: 2_000 })).toBe('second');
  });
});
