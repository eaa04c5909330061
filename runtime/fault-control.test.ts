/**
 * `/fault-control` (runtime/fault-control.ts) over the in-memory transport.
 * Goal: a harness on another node can cut and heal links of a node in either
 * direction, crash an actor and see supervision bring it back, and no input,
 * however malformed, crashes the actor or goes unanswered when it can be
 * answered. Method: three nodes, `h` (the harness, no fault plan), `b1` (with
 * a FaultPlan and /fault-control) and `b2` (its peer); recorders on b1 and b2
 * show which frames arrive.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../protocol/errors.ts';
import { faultControlPath, parseFaultControlCommand, spawnFaultControl, type FaultControlReply } from './fault-control.ts';
import { FaultPlan } from './faults.ts';
import { createLogger } from './logger.ts';
import { MemoryNetwork } from './memory-transport.ts';
import { Node, type Behaviour } from './node.ts';
import type { Ref } from './ref.ts';

const quietLogger = (nodeId: string) => createLogger({ node: nodeId }, process.env.LOG_LEVEL ?? 'silent');
/**
 * Every node of the trio holds it: fault control takes commands from peers only,
 * so the harness must prove the secret, and the test actors take peer messages.
 */
const secret = Buffer.from('fault-control-test-cluster-secret-012');
const fastLimits = { heartbeatIntervalMs: 20, unreachableAfterMs: 100, downAfterMs: 200, reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 50 };

const started: Node[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

type Trio = { network: MemoryNetwork; h: Node; b1: Node; b2: Node; control: Ref<unknown> };

async function trio(): Promise<Trio> {
  const network = new MemoryNetwork();
  const start = (nodeId: string, faults?: FaultPlan) =>
    Node.start({ nodeId, listen: { host: nodeId, port: 1 }, transport: network, limits: fastLimits, logger: quietLogger(nodeId), clusterSecret: secret, ...(faults ? { faults } : {}) });
  const b1 = await start('b1', new FaultPlan(7));
  const b2 = await start('b2');
  const h = await start('h');
  started.push(h, b1, b2);
  for (const [node, others] of [
    [h, [b1, b2]],
    [b1, [b2, h]],
    [b2, [b1, h]],
  ] as const) {
    for (const other of others) node.addPeer(other.nodeId, other.url!);
  }
  const control = spawnFaultControl(b1);
  return { network, h, b1, b2, control };
}

const ask = (t: Trio, message: Record<string, unknown>): Promise<FaultControlReply> =>
  t.h.ask<unknown, FaultControlReply>({ node: 'b1', path: faultControlPath }, (replyTo) => ({ ...message, replyTo }), { timeoutMs: 2_000 });

type Recorded = { type: 'Note'; text: string };
function recorder(seen: string[]): Behaviour<null, Recorded> {
  return { accepts: { peer: { Note: true } }, init: () => null, receive: (state, msg) => (seen.push(msg.text), state) };
}

type CountMsg = { type: 'Count'; replyTo: Ref<number> };
const counter: Behaviour<number, CountMsg> = {
  accepts: { peer: { Count: true } },
  init: () => 0,
  receive: (count, msg, ctx) => {
    ctx.node.tell(msg.replyTo, count);
    return count + 1;
  },
};

const until = async (cond: () => boolean, timeoutMs = 3_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fault control: commands', () => {
  it('cuts both directions between two nodes, leaves the harness link alone, and heals', async () => {
    const t = await trio();
    const atB1: string[] = [];
    const atB2: string[] = [];
    const r1 = t.b1.spawn('rec', recorder(atB1));
    const r2 = t.b2.spawn('rec', recorder(atB2));
    t.b1.tell(r2, { type: 'Note', text: 'before' });
    t.b2.tell(r1, { type: 'Note', text: 'before' });
    await until(() => atB1.length === 1 && atB2.length === 1);

    const cut = await ask(t, { type: 'Cut', peers: ['b2'], direction: 'both' });
    expect(cut).toMatchObject({ errorCode: 0, cut: ['b1>b2', 'b2>b1'] });
    t.b1.tell(r2, { type: 'Note', text: 'during' });
    t.b2.tell(r1, { type: 'Note', text: 'during' });
    await sleep(100);
    expect(atB1).toEqual(['before']);
    expect(atB2).toEqual(['before']);
    // The harness still reaches b1 (its node is not cut).
    expect((await ask(t, { type: 'ActorStatus', path: '/rec' })).existed).toBe(true);

    expect(await ask(t, { type: 'Heal' })).toMatchObject({ errorCode: 0, cut: [] });
    t.b1.tell(r2, { type: 'Note', text: 'after' });
    t.b2.tell(r1, { type: 'Note', text: 'after' });
    await until(() => atB1.includes('after') && atB2.includes('after'));
  });

  it("cuts one direction: 'out' drops what b1 sends, 'in' what it receives", async () => {
    const t = await trio();
    const atB1: string[] = [];
    const atB2: string[] = [];
    const r1 = t.b1.spawn('rec', recorder(atB1));
    const r2 = t.b2.spawn('rec', recorder(atB2));
    // Links first: a one-way cut also stops new handshakes (the hello cannot come back), as it would over TCP.
    t.b1.tell(r2, { type: 'Note', text: 'link' });
    t.b2.tell(r1, { type: 'Note', text: 'link' });
    await until(() => atB1.length === 1 && atB2.length === 1);

    expect(await ask(t, { type: 'Cut', peers: ['b2'], direction: 'out' })).toMatchObject({ errorCode: 0, cut: ['b1>b2'] });
    t.b1.tell(r2, { type: 'Note', text: 'out-1' });
    t.b2.tell(r1, { type: 'Note', text: 'in-1' });
    await until(() => atB1.includes('in-1'));
    await sleep(50);
    expect(atB2).toEqual(['link']);

    await ask(t, { type: 'Heal' });
    expect(await ask(t, { type: 'Cut', peers: ['b2'], direction: 'in' })).toMatchObject({ errorCode: 0, cut: ['b2>b1'] });
    t.b1.tell(r2, { type: 'Note', text: 'out-2' });
    t.b2.tell(r1, { type: 'Note', text: 'in-2' });
    await until(() => atB2.includes('out-2'));
    await sleep(50);
    expect(atB1).toEqual(['link', 'in-1']);
    await ask(t, { type: 'Heal' });
  });

  it('crashes an actor, which supervision restarts with its initial state; a missing actor is reported', async () => {
    const t = await trio();
    const counterRef = t.b1.spawn('counter', counter);
    const count = () => t.h.ask<CountMsg, number>(counterRef, (replyTo) => ({ type: 'Count', replyTo }), { timeoutMs: 2_000 });
    expect(await count()).toBe(0);
    expect(await count()).toBe(1);
    expect(await ask(t, { type: 'CrashActor', path: '/counter' })).toMatchObject({ errorCode: 0, existed: true });
    expect(await count()).toBe(0);
    expect((await ask(t, { type: 'ActorStatus', path: '/counter' })).existed).toBe(true);
    expect(await ask(t, { type: 'CrashActor', path: '/nobody' })).toMatchObject({ errorCode: 0, existed: false });
    expect((await ask(t, { type: 'ActorStatus', path: '/nobody' })).existed).toBe(false);
    expect((await ask(t, { type: 'ListActors', prefix: '/c' })).paths).toEqual(['/counter']);
    expect((await ask(t, { type: 'ListActors', prefix: '' })).paths).toEqual(['/counter', '/fault-control']);
  });

  it('takes no command from a client (a node without the cluster secret)', async () => {
    const t = await trio();
    const client = await Node.start({ nodeId: 'app', transport: t.network, limits: fastLimits, logger: quietLogger('app'), peers: { b1: t.b1.url! } });
    started.push(client);
    const counterRef = t.b1.spawn('counter', counter);
    const count = () => t.h.ask<CountMsg, number>(counterRef, (replyTo) => ({ type: 'Count', replyTo }), { timeoutMs: 2_000 });
    expect(await count()).toBe(0);
    for (const message of [{ type: 'Cut', peers: ['b2'], direction: 'both' }, { type: 'Heal' }, { type: 'CrashActor', path: '/counter' }, { type: 'ListActors', prefix: '' }]) {
      const answer = client.ask<unknown, FaultControlReply>({ node: 'b1', path: faultControlPath }, (replyTo) => ({ ...message, replyTo }), { timeoutMs: 2_000 });
      await expect(answer, message.type).rejects.toMatchObject({ code: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
    }
    expect(t.b1.faults!.isCut('b1', 'b2')).toBe(false);
    // The CrashActor did not reach /counter: it was not restarted, it counts on.
    expect(await count()).toBe(1);
  });

  it('answers bad commands with INVALID_REQUEST, drops those it cannot answer, and keeps serving', async () => {
    const t = await trio();
    const bad: Record<string, unknown>[] = [
      { type: 'Cut', peers: [], direction: 'both' },
      { type: 'Cut', peers: ['b2'], direction: 'sideways' },
      { type: 'Cut', peers: [42], direction: 'both' },
      { type: 'Cut', peers: 'b2', direction: 'both' },
      { type: 'Cut', peers: ['b1'], direction: 'both' },
      { type: 'Cut', peers: ['h'], direction: 'both' },
      { type: 'CrashActor', path: 'relative' },
      { type: 'CrashActor', path: '/temp/1' },
      { type: 'CrashActor' },
      { type: 'ActorStatus', path: 7 },
      { type: 'ListActors' },
    ];
    for (const message of bad) {
      const answer = await ask(t, message);
      expect(answer.errorCode, JSON.stringify(message)).toBe(ErrorCode.INVALID_REQUEST);
      expect(answer.errorMessage).toBeTypeOf('string');
    }
    // A type the protocol does not list, or no type at all, is refused by the runtime before the
    // actor runs (protocol.ts): the ask fails with the refusal's code and a reason.
    const refusedBefore = t.b1.stats.refusedByProtocol;
    await expect(ask(t, { type: 'Reboot' })).rejects.toMatchObject({ code: ErrorCode.CLUSTER_AUTHORIZATION_FAILED, message: expect.stringContaining('Reboot') });
    await expect(ask(t, {})).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST });
    expect(t.b1.stats.refusedByProtocol - refusedBefore).toBe(2);
    // Unanswerable input: no replyTo, not an object. Nothing to reply to; the actor survives.
    // All but { type: 'Heal' } (which the actor drops) are refused by the runtime already.
    for (const message of [null, 3, 'Heal', [1, 2], { type: 'Heal' }, { type: 'Heal', replyTo: { node: '', path: 'x' } }]) {
      t.h.tell({ node: 'b1', path: faultControlPath }, message);
    }
    expect(await ask(t, { type: 'Heal' })).toMatchObject({ errorCode: 0 });
    expect(t.b1.stats.refusedByProtocol - refusedBefore).toBe(2 + 5);
    expect(t.b1.hasActor(faultControlPath)).toBe(true);
  });
});

describe('fault control: validation', () => {
  const replyTo = { node: 'h', path: '/temp/1' };

  it('accepts each command and drops duplicate peers', () => {
    expect(parseFaultControlCommand({ type: 'Cut', peers: ['2', '3', '2'], direction: 'in', replyTo })).toEqual({ ok: true, command: { type: 'Cut', peers: ['2', '3'], direction: 'in', replyTo } });
    expect(parseFaultControlCommand({ type: 'Heal', replyTo, extra: 1 })).toEqual({ ok: true, command: { type: 'Heal', replyTo } });
    expect(parseFaultControlCommand({ type: 'CrashActor', path: '/replicas/t-0', replyTo })).toMatchObject({ ok: true });
  });

  it('never throws, whatever arrives', () => {
    fc.assert(
      fc.property(fc.anything(), fc.record({ type: fc.constantFrom('Cut', 'Heal', 'CrashActor', 'ActorStatus', 'ListActors'), peers: fc.anything(), direction: fc.anything(), path: fc.anything(), prefix: fc.anything(), replyTo: fc.anything() }, { requiredKeys: ['type'] }), (any, shaped) => {
        for (const input of [any, shaped]) {
          const parsed = parseFaultControlCommand(input);
          expect(typeof parsed.ok).toBe('boolean');
        }
      }),
      { numRuns: 500 },
    );
  });
});
