/**
 * Actor references as plain data.
 *
 * A `Ref<M>` names a node and an actor path and nothing else, so it crosses the
 * wire inside any message (a `replyTo`, a watcher) and compares by value. `M`
 * is a phantom type: the messages the actor accepts. Paths are absolute and
 * slash-separated (`/broker/replicas/orders-0`); `/temp/<id>` paths name the
 * reply slot of a pending ask and never an actor.
 */
export type Ref<M> = {
  readonly node: string;
  readonly path: string;
  /** Phantom: never present at run time. A method, so that it is bivariant and any Ref fits Ref<unknown>. */
  __message?(m: M): void;
};

export function ref<M>(node: string, path: string): Ref<M> {
  return { node, path };
}

export function refKey(target: Ref<unknown>): string {
  return `${target.node}${target.path}`;
}

export function sameRef(a: Ref<unknown>, b: Ref<unknown>): boolean {
  return a.node === b.node && a.path === b.path;
}

export const tempPathPrefix = '/temp/';

export function isTempPath(path: string): boolean {
  return path.startsWith(tempPathPrefix);
}

/** Validates untrusted data as a Ref; returns undefined when it is not one. */
export function asRef(value: unknown): Ref<unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const candidate = value as { node?: unknown; path?: unknown };
  if (typeof candidate.node !== 'string' || typeof candidate.path !== 'string') return undefined;
  if (candidate.node.length === 0 || candidate.node.length > 256) return undefined;
  if (!candidate.path.startsWith('/') || candidate.path.length > 1024) return undefined;
  return { node: candidate.node, path: candidate.path };
}
