/**
 * The trust boundary of the runtime: where a delivery came from (its origin)
 * and which messages an actor takes from each origin (its declared protocol).
 *
 * Three origins:
 *   local   code of this node (other actors, timers, adapted replies). Trusted:
 *           the runtime delivers it as it is.
 *   peer    a link that proved cluster membership (an HMAC over the shared
 *           cluster secret, peer-auth.ts): another broker, or a tool holding
 *           the secret. Trusted to be one of us, not to be bug-free.
 *   client  every other link: our client library, Kafka tools, or anyone with
 *           a socket. Trusted with nothing.
 *
 * An actor declares `accepts: { peer?: Rules; client?: Rules }` (Behaviour in
 * node.ts): message type -> true, or a guard that names what is wrong. A peer
 * may also send whatever a client may (brokers act as clients of each other).
 * The runtime admits a message from the network only when:
 *   - it is a plain object whose `type` is a string the origin's rules list
 *     (an own property of the rules: `toString` or `__proto__` never match),
 *   - it is not a system message (`Terminated` comes from the runtime alone),
 *   - its `replyTo`, if it has one, is a ref on the origin's own node (and, for
 *     a client, an ask's reply slot): a client cannot make a broker tell a
 *     reply to a third node's actor (a confused deputy),
 *   - the guard, if any, says nothing against it.
 * Everything else is refused before the actor runs: an error reply where the
 * message expects one, one log line per link and type (bounded).
 *
 * An actor without `accepts` takes nothing from the network.
 *
 * Imports nothing from the domain: the rules are data the actors give.
 */
import { isTempPath } from './ref.ts';

/**
 * Who a client is (a client origin only): its principal (`User:NAME` after SASL, the certificate
 * subject, `User:ANONYMOUS`) and the host it connects from. The runtime stamps it on every message a
 * client origin delivers as `caller`, overwriting whatever the client put there, so an actor that
 * declares `caller` in its validator knows who asked; local messages carry none (this node's own).
 */
export type Caller = { readonly principal: string; readonly host: string };

export type RemoteOrigin = { readonly kind: 'peer' | 'client'; readonly nodeId: string; readonly caller?: Caller };

/**
 * Decides whether a client may deliver `message` to `path` (the authorizer: ACLs, #19): null, or
 * the refusal. Called after the protocol admitted the message, for client origins only.
 */
export type RequestAuthorizer = (caller: Caller, path: string, message: Readonly<Record<string, unknown>>) => { readonly errorCode: number; readonly why: string } | null;
export type Origin = { readonly kind: 'local' } | RemoteOrigin;

export const localOrigin: Origin = Object.freeze({ kind: 'local' });

/**
 * Returns null when the message may pass, else why not (one short sentence, for the error reply),
 * with the error code to answer if it is not CLUSTER_AUTHORIZATION_FAILED.
 */
export type MessageGuard = (message: Readonly<Record<string, unknown>>, origin: RemoteOrigin) => string | { readonly errorCode: number; readonly why: string } | null;

export type ProtocolRules = Readonly<Record<string, true | MessageGuard>>;

/** Which message types each remote origin may send an actor. */
export type RemoteProtocol = {
  readonly peer?: ProtocolRules;
  readonly client?: ProtocolRules;
};

/** Types only the runtime itself delivers; no protocol may list them. */
export const systemMessageTypes: ReadonlySet<string> = new Set(['Terminated']);

export type Admission =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly reason: 'malformed' | 'forbidden'; readonly type: string; readonly why: string; readonly errorCode?: number };

const typeNameMax = 64;

/** A printable name for a message's type that is safe to log: never calls into the value. */
export function describeType(message: unknown): string {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return `<${message === null ? 'null' : Array.isArray(message) ? 'array' : typeof message}>`;
  const type = (message as { type?: unknown }).type;
  if (typeof type !== 'string') return `<type is ${type === null ? 'null' : typeof type}>`;
  return type.length > typeNameMax ? `${type.slice(0, typeNameMax)}...` : type;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function ruleFor(rules: ProtocolRules | undefined, type: string): true | MessageGuard | undefined {
  if (rules === undefined || !Object.hasOwn(rules, type)) return undefined;
  return rules[type];
}

/** Decides whether `message` from `origin` may reach an actor that declared `protocol`. Pure. */
export function admit(protocol: RemoteProtocol | undefined, message: unknown, origin: RemoteOrigin, targetPath: string): Admission {
  if (!isPlainRecord(message)) return { admitted: false, reason: 'malformed', type: describeType(message), why: 'a message must be a map with a string type' };
  const type = message.type;
  if (typeof type !== 'string' || type.length === 0 || type.length > typeNameMax) {
    return { admitted: false, reason: 'malformed', type: describeType(message), why: 'a message must be a map with a string type' };
  }
  if (systemMessageTypes.has(type)) return { admitted: false, reason: 'forbidden', type, why: `${type} comes only from the runtime` };
  const rule = ruleFor(origin.kind === 'peer' ? protocol?.peer : undefined, type) ?? ruleFor(protocol?.client, type);
  if (rule === undefined) return { admitted: false, reason: 'forbidden', type, why: `${targetPath} takes no ${type} from a ${origin.kind}` };
  if (Object.hasOwn(message, 'replyTo') && message.replyTo !== null && message.replyTo !== undefined) {
    const replyTo = message.replyTo as { node?: unknown; path?: unknown };
    if (typeof replyTo !== 'object' || typeof replyTo.node !== 'string' || typeof replyTo.path !== 'string') {
      return { admitted: false, reason: 'malformed', type, why: 'replyTo must be a ref' };
    }
    if (replyTo.node !== origin.nodeId) return { admitted: false, reason: 'forbidden', type, why: 'replyTo must name the sender\'s own node' };
    if (origin.kind === 'client' && !isTempPath(replyTo.path)) return { admitted: false, reason: 'forbidden', type, why: 'a client\'s replyTo must be a reply slot (/temp/...)' };
  }
  if (rule !== true) {
    const refusal = rule(message, origin);
    if (typeof refusal === 'string') return { admitted: false, reason: 'forbidden', type, why: refusal };
    if (refusal !== null) return { admitted: false, reason: 'forbidden', type, why: refusal.why, errorCode: refusal.errorCode };
  }
  return { admitted: true };
}

/** Asserts a protocol lists no system message; called when an actor is spawned. */
export function protocolProblems(protocol: RemoteProtocol | undefined): string[] {
  const problems: string[] = [];
  for (const rules of [protocol?.peer, protocol?.client]) {
    if (rules === undefined) continue;
    for (const type of Object.keys(rules)) if (systemMessageTypes.has(type)) problems.push(`${type} is a system message`);
  }
  return problems;
}
