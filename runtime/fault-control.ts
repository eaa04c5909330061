/**
 * Remote fault control: the actor `/fault-control` that lets a chaos harness
 * in another process drive this node's fault plan and its supervision
 * fault-injection hook over the ordinary transport.
 *
 * Owns: the command protocol below, its validation, and the mapping of each
 * command onto `FaultPlan` (runtime/faults.ts) and `Node.crashActor`.
 *
 * Protocol (every command carries `replyTo` and gets exactly one
 * `FaultControlReply`; `errorCode` 0 = done):
 *   Cut { peers: node ids, direction: 'both' | 'in' | 'out' }
 *       'out': frames this node sends to each peer are dropped;
 *       'in':  frames this node receives from each peer are dropped;
 *       'both': both. Rules add up until Heal. Reply: `cut` = the directed
 *       links now cut, as "source>target".
 *   Heal {}              removes every rule of the plan (all links deliver).
 *   CrashActor { path }  makes the actor at `path` throw on its next message
 *       (supervision decides what happens then). Reply: `existed`.
 *   ActorStatus { path } Reply: `existed` (a live actor is at `path`), so a
 *       harness can check that supervision brought a crashed actor back.
 *   ListActors { prefix } Reply: `paths`, the live actor paths starting with
 *       `prefix` (at most listPathsMax, sorted), to choose crash targets.
 *
 * Why an actor and not a side channel: the harness already speaks to brokers
 * through a runtime Node; an actor needs no extra port, and the cut rules are
 * applied where every frame already passes (peer.ts on send, node.ts on
 * receive). A cut never blocks this actor itself: rules name peers, and the
 * harness's own node is never one of them (a Cut naming this node's own id or
 * the sender's node is refused, so the harness cannot lock itself out).
 *
 * Safety: the actor exists only on nodes started with fault injection on
 * (broker processes read KACTUS_FAULT_INJECTION=1, actors/broker/start.ts);
 * elsewhere `/fault-control` is a dead letter. Every message is untrusted
 * input: a malformed one gets an INVALID_REQUEST reply when it has a usable
 * `replyTo`, and is logged and dropped otherwise. The handler never throws.
 *
 * Must not import: anything Kafka-specific beyond protocol/errors.ts (as node.ts).
 */
import { ErrorCode } from '../protocol/errors.ts';
import { assert } from './assert.ts';
import type { FaultPlan } from './faults.ts';
import type { Behaviour, Node } from './node.ts';
import { asRef, isTempPath, type Ref } from './ref.ts';
import type { RemoteProtocol } from './protocol.ts';

export const faultControlPath = '/fault-control';
export const faultControlName = 'fault-control';

/** Peers one Cut may name. */
export const cutPeersMax = 64;
/** Longest node id or actor path accepted (as ref.ts bounds them). */
export const nodeIdCharsMax = 256;
export const actorPathCharsMax = 1024;
/** Paths one ListActors reply carries at most. */
export const listPathsMax = 1_000;

export type CutDirection = 'both' | 'in' | 'out';

export type FaultControlReply = {
  type: 'FaultControlReply';
  /** 0, or INVALID_REQUEST for a malformed command. */
  errorCode: number;
  errorMessage: string | null;
  /** CrashActor, ActorStatus: whether a live actor was at the path. */
  existed?: boolean;
  /** Cut: every directed link of this node now cut, "source>target". */
  cut?: string[];
  /** ListActors: the matching live actor paths. */
  paths?: string[];
};

export type FaultControlCommand =
  | { type: 'Cut'; peers: string[]; direction: CutDirection; replyTo: Ref<FaultControlReply> }
  | { type: 'Heal'; replyTo: Ref<FaultControlReply> }
  | { type: 'CrashActor'; path: string; replyTo: Ref<FaultControlReply> }
  | { type: 'ActorStatus'; path: string; replyTo: Ref<FaultControlReply> }
  | { type: 'ListActors'; prefix: string; replyTo: Ref<FaultControlReply> };

type Parsed = { ok: true; command: FaultControlCommand } | { ok: false; replyTo: Ref<FaultControlReply> | undefined; errorMessage: string };

const directions: readonly CutDirection[] = ['both', 'in', 'out'];

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function actorPathProblem(path: unknown, what: string): string | null {
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > actorPathCharsMax) return `${what} must be an absolute actor path of at most ${actorPathCharsMax} characters`;
  if (isTempPath(path)) return `${what} names an ask reply slot, not an actor`;
  return null;
}

/** Validates untrusted input as a command (exported for tests). */
export function parseFaultControlCommand(message: unknown): Parsed {
  if (!isObject(message)) return { ok: false, replyTo: undefined, errorMessage: 'a fault-control command must be an object' };
  const replyTo = asRef(message['replyTo']) as Ref<FaultControlReply> | undefined;
  const fail = (errorMessage: string): Parsed => ({ ok: false, replyTo, errorMessage });
  if (replyTo === undefined) return fail('replyTo must be a ref');
  switch (message['type']) {
    case 'Cut': {
      const peers = message['peers'];
      const direction = message['direction'];
      if (!Array.isArray(peers) || peers.length === 0 || peers.length > cutPeersMax) return fail(`Cut.peers must be an array of 1-${cutPeersMax} node ids`);
      for (const peer of peers) {
        if (typeof peer !== 'string' || peer.length === 0 || peer.length > nodeIdCharsMax || peer.includes('/')) return fail('Cut.peers must hold node ids (1-256 characters, no slash)');
      }
      if (typeof direction !== 'string' || !directions.includes(direction as CutDirection)) return fail(`Cut.direction must be one of ${directions.join(', ')}`);
      return { ok: true, command: { type: 'Cut', peers: [...new Set(peers as string[])], direction: direction as CutDirection, replyTo } };
    }
    case 'Heal':
      return { ok: true, command: { type: 'Heal', replyTo } };
    case 'CrashActor':
    case 'ActorStatus': {
      const problem = actorPathProblem(message['path'], `${message['type']}.path`);
      if (problem !== null) return fail(problem);
      return { ok: true, command: { type: message['type'], path: message['path'] as string, replyTo } };
    }
    case 'ListActors': {
      const prefix = message['prefix'];
      if (typeof prefix !== 'string' || prefix.length > actorPathCharsMax) return fail(`ListActors.prefix must be a string of at most ${actorPathCharsMax} characters`);
      return { ok: true, command: { type: 'ListActors', prefix, replyTo } };
    }
    default:
      return fail(`unknown fault-control command ${JSON.stringify(message['type'])}`);
  }
}

function reply(extra: Partial<FaultControlReply> = {}): FaultControlReply {
  return { type: 'FaultControlReply', errorCode: 0, errorMessage: null, ...extra };
}

/** The directed links of `plan` involving `self` that are cut, among `peers`. */
function cutLinks(plan: FaultPlan, self: string, peers: Iterable<string>): string[] {
  const out: string[] = [];
  for (const peer of peers) {
    if (plan.isCut(self, peer)) out.push(`${self}>${peer}`);
    if (plan.isCut(peer, self)) out.push(`${peer}>${self}`);
  }
  return out.sort();
}

export function faultControlBehaviour(node: Node, plan: FaultPlan): Behaviour<Set<string>, unknown> {
  return {
    accepts: faultControlProtocol,
    // The peers ever named in a Cut, to report what is cut (FaultPlan keeps no list).
    init: () => new Set<string>(),
    receive(named, message, ctx) {
      const parsed = parseFaultControlCommand(message);
      if (!parsed.ok) {
        ctx.log.warn({ problem: parsed.errorMessage }, 'fault_control.bad_command');
        if (parsed.replyTo !== undefined) node.tell(parsed.replyTo, { type: 'FaultControlReply', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: parsed.errorMessage } satisfies FaultControlReply);
        return named;
      }
      const command = parsed.command;
      const self = node.nodeId;
      switch (command.type) {
        case 'Cut': {
          if (command.peers.includes(self)) {
            node.tell(command.replyTo, { type: 'FaultControlReply', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Cut.peers names this node (${self})` });
            return named;
          }
          if (command.peers.includes(command.replyTo.node)) {
            node.tell(command.replyTo, { type: 'FaultControlReply', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Cut.peers names the sender's node (${command.replyTo.node}): its reply could not arrive` });
            return named;
          }
          for (const peer of command.peers) {
            if (command.direction !== 'in') plan.partition([self], [peer], 'one-way');
            if (command.direction !== 'out') plan.partition([peer], [self], 'one-way');
            named.add(peer);
          }
          ctx.log.warn({ peers: command.peers, direction: command.direction }, 'fault_control.cut');
          node.tell(command.replyTo, reply({ cut: cutLinks(plan, self, named) }));
          return named;
        }
        case 'Heal':
          plan.heal();
          ctx.log.warn('fault_control.healed');
          node.tell(command.replyTo, reply({ cut: [] }));
          return new Set<string>();
        case 'CrashActor': {
          const existed = node.crashActor(command.path);
          ctx.log.warn({ target: command.path, existed }, 'fault_control.crash_actor');
          node.tell(command.replyTo, reply({ existed }));
          return named;
        }
        case 'ActorStatus':
          node.tell(command.replyTo, reply({ existed: node.hasActor(command.path) }));
          return named;
        case 'ListActors': {
          const paths = node
            .actorPaths()
            .filter((p) => p.startsWith(command.prefix))
            .sort()
            .slice(0, listPathsMax);
          node.tell(command.replyTo, reply({ paths }));
          return named;
        }
      }
    },
  };
}

/** Only peers (the test harness holds the cluster secret) may inject faults: never a client. */
export const faultControlProtocol: RemoteProtocol = { peer: { Cut: true, Heal: true, CrashActor: true, ActorStatus: true, ListActors: true } };

/** Spawns `/fault-control` on a node started with a fault plan. */
export function spawnFaultControl(node: Node): Ref<FaultControlCommand> {
  const plan = node.faults;
  assert(plan !== undefined, 'fault control needs a node started with a FaultPlan (NodeOptions.faults)');
  return node.spawn(faultControlName, faultControlBehaviour(node, plan)) as Ref<FaultControlCommand>;
}
