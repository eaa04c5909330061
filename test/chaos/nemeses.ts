/**
 * The nemeses: the faults a chaos run applies to a real multi-process
 * cluster, each as `start() -> heal()`, recording `fault-start` when the fault
 * takes effect and `fault-end` once it is healed (for kill: once the broker
 * is back and ready).
 *
 * - kill:        SIGKILL a broker; heal = start it again (same node id, port, data dir).
 * - pause:       SIGSTOP a broker; heal = SIGCONT.
 * - partition:   cut one broker from the other brokers through its
 *                `/fault-control` (runtime/fault-control.ts): both ways, or
 *                only what it sends ('out') or only what it receives ('in');
 *                heal = Heal. The harness's own client links are never cut.
 *                With `--net netns` (ctx.network) the same choice is cut on
 *                real links with tc in the brokers' namespaces (netns.ts);
 *                heal = delete those qdiscs.
 * - crash-actor: make a partition replica, a fetcher, the group coordinator
 *                or the controller throw (Node.crashActor through
 *                `/fault-control`), then check that supervision brought it
 *                back (`/fault-control` ActorStatus), recorded in `crashChecks`.
 * - controller:  SIGKILL the active controller; heal = start it again. The
 *                time until another controller is active is recorded.
 * - hostile:     a client without the cluster secret sends fuzzed frames and
 *                forged internal messages to random brokers (hostile.ts);
 *                heal = stop it. What it sent is counted in `hostile`; a
 *                broker process that exits meanwhile is a problem.
 *
 * One fault at a time, targets drawn from the run's seeded Rng: the promise
 * under test is "one broker of three may fail" (DESIGN.md). Every wait is
 * bounded; the harness heals whatever is left at the end (`healAll`).
 *
 * Processes: only the brokers this run started (TestCluster children), by
 * their Child handle, never by name.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FaultControlReply } from '../../runtime/fault-control.ts';
import { faultControlPath } from '../../runtime/fault-control.ts';
import { KactusError } from '../../protocol/errors.ts';
import type { Rng } from '../../runtime/rng.ts';
import type { TestCluster } from '../support/cluster.ts';
import type { FaultKind } from './history.ts';
import type { LiveRecorder } from './recorder.ts';
import type { NetnsNetwork } from './netns.ts';
import { HostileClient, emptyHostileStats, type HostileStats } from './hostile.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Attempts at one fault-control command when the link fails retriably. */
export const faultControlAttemptsMax = 3;
/** Attempts at restarting a killed broker (a port still held, a slow start). */
export const restartAttemptsMax = 5;
/** How long a crashed actor has to come back before the check fails. */
export const crashRecoveryWaitMs = 10_000;
/** How long to look for a new active controller after killing one. */
export const controllerFailoverWaitMs = 30_000;

export type CrashCheck = { node: number; path: string; role: string; existed: boolean; cameBack: boolean | null; atMs: number };
export type ControllerFailover = { killed: number; newController: number | null; failoverMs: number | null; atMs: number };

/** What the nemeses share: the cluster, the recorder, which brokers are impaired now. */
export class ChaosContext {
  /** Brokers killed or paused right now (not to be used as a metadata source). */
  readonly impaired = new Set<number>();
  /** Brokers paused right now (healAll sends SIGCONT). */
  readonly paused = new Set<number>();
  /** Brokers with links cut right now (healAll sends Heal). */
  readonly cut = new Set<number>();
  readonly crashChecks: CrashCheck[] = [];
  readonly controllerFailovers: ControllerFailover[] = [];
  readonly restarts: { broker: number; attempts: number; ok: boolean }[] = [];
  /** crash-actor takes the roles in turn from a seeded start (0: not chosen yet), so a short run covers each. */
  crashRoleIndex = 0;
  /** Partitions of the workload topic (the hostile nemesis aims forged messages at them). */
  partitions = 6;
  /** What the hostile nemesis sent, over all its faults. */
  readonly hostile: HostileStats = emptyHostileStats();
  /** What the slow background hostile client sent through the whole schedule (harness.ts). */
  readonly hostileBackground: HostileStats = emptyHostileStats();
  /** Failures the hostile nemesis saw (a broker process that exited while it held). */
  readonly hostileProblems: string[] = [];

  constructor(
    readonly cluster: TestCluster,
    readonly recorder: LiveRecorder,
    readonly rng: Rng,
    readonly topic: string,
    readonly group: string,
    readonly log: (line: string) => void,
    /** Where broker stderr (their JSON logs) is appended, one file per broker; null: not kept. */
    readonly logDir: string | null = null,
    /** `--net netns`: the namespaces; partitions are then cut with tc on real links, not through `/fault-control`. */
    readonly network: NetnsNetwork | null = null,
  ) {
    if (logDir !== null) mkdirSync(logDir, { recursive: true });
    for (const b of cluster.brokers) this.attachLogs(b.id);
  }

  /** Appends the broker's current process's stderr to its log file (called after every start). */
  attachLogs(broker: number): void {
    const child = this.cluster.brokers.find((b) => b.id === broker)?.child;
    if (this.logDir === null || !child) return;
    const file = join(this.logDir, `broker-${broker}.log`);
    appendFileSync(file, `${JSON.stringify({ chaos: 'process-started', broker, pid: child.pid, atMs: this.recorder.nowMs(), time: Date.now() })}\n`);
    child.process.stderr?.on('data', (chunk: Buffer) => appendFileSync(file, chunk));
  }

  brokerIds(): number[] {
    return this.cluster.brokers.map((b) => b.id);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('nothing to pick from');
    return items[this.rng.int(0, items.length)]!;
  }

  /** A broker that is up and not impaired, to ask things through. */
  healthyBroker(): number | undefined {
    const ids = this.cluster.brokers.filter((b) => b.child !== null && !this.impaired.has(b.id)).map((b) => b.id);
    return ids.length === 0 ? undefined : ids[0];
  }

  /** The active controller as the metadata of a healthy broker says (-1: none known), or undefined when no answer. */
  async controllerId(): Promise<number | undefined> {
    const via = this.healthyBroker();
    if (via === undefined) return undefined;
    const answer = await this.cluster.metadata(null, via).catch(() => undefined);
    return answer?.controllerId;
  }

  /** Asks a broker's `/fault-control`; retries a retriable failure (a link to a restarted broker) a few times. */
  async faultControl(broker: number, command: Record<string, unknown>, timeoutMs = 10_000): Promise<FaultControlReply> {
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await this.cluster.client.ask<unknown, FaultControlReply>({ node: String(broker), path: faultControlPath }, (replyTo) => ({ ...command, replyTo }), { timeoutMs });
        if (reply.errorCode !== 0) throw new Error(`fault-control on broker ${broker} refused ${String(command['type'])}: ${reply.errorMessage ?? reply.errorCode}`);
        return reply;
      } catch (err) {
        if (!(err instanceof KactusError) || !err.retriable || attempt >= faultControlAttemptsMax) throw err;
        await sleep(200);
      }
    }
  }

  start(kind: FaultKind, target: string, detail?: string): void {
    this.recorder.add('nemesis', { type: 'fault-start', kind, target, ...(detail === undefined ? {} : { detail }) });
    this.log(`fault ${kind} ${target}${detail === undefined ? '' : ` (${detail})`}`);
  }

  end(kind: FaultKind, target: string): void {
    this.recorder.add('nemesis', { type: 'fault-end', kind, target });
    this.log(`healed ${kind} ${target}`);
  }

  async kill(broker: number): Promise<void> {
    this.impaired.add(broker);
    await this.cluster.killBroker(broker);
  }

  /** Starts a killed broker again (bounded attempts); it stays impaired if it never comes back. */
  async restart(broker: number): Promise<boolean> {
    for (let attempt = 1; attempt <= restartAttemptsMax; attempt++) {
      try {
        await this.cluster.startBroker(broker);
        this.attachLogs(broker);
        this.impaired.delete(broker);
        this.restarts.push({ broker, attempts: attempt, ok: true });
        return true;
      } catch (err) {
        this.log(`restart of broker ${broker}, attempt ${attempt}: ${String(err).slice(0, 500)}`);
        await this.cluster.killBroker(broker).catch(() => undefined);
        await sleep(1_000);
      }
    }
    this.restarts.push({ broker, attempts: restartAttemptsMax, ok: false });
    return false;
  }

  pause(broker: number): void {
    const child = this.cluster.brokers.find((b) => b.id === broker)?.child;
    if (!child) return;
    this.impaired.add(broker);
    this.paused.add(broker);
    child.process.kill('SIGSTOP');
  }

  resume(broker: number): void {
    const child = this.cluster.brokers.find((b) => b.id === broker)?.child;
    this.paused.delete(broker);
    this.impaired.delete(broker);
    child?.process.kill('SIGCONT');
  }

  /** Ends every fault still in effect: resumes paused brokers, starts killed ones, heals every cut. */
  async healAll(): Promise<void> {
    for (const broker of [...this.paused]) this.resume(broker);
    for (const b of this.cluster.brokers) if (b.child === null) await this.restart(b.id);
    if (this.network !== null) {
      await this.network.heal().catch((err: unknown) => this.log(`heal of the tc cuts: ${String(err)}`));
      this.cut.clear();
      return;
    }
    for (const broker of this.brokerIds()) {
      await this.faultControl(broker, { type: 'Heal' }).catch((err: unknown) => this.log(`heal of broker ${broker}: ${String(err)}`));
    }
    this.cut.clear();
  }
}

/** A fault in effect; `heal` ends it and records `fault-end`. */
export type ActiveFault = { heal(): Promise<void> };

export type Nemesis = { kind: FaultKind; start(ctx: ChaosContext): Promise<ActiveFault | null> };

const kill: Nemesis = {
  kind: 'kill',
  async start(ctx) {
    const candidates = ctx.cluster.brokers.filter((b) => b.child !== null && !ctx.impaired.has(b.id)).map((b) => b.id);
    if (candidates.length === 0) return null;
    const broker = ctx.pick(candidates);
    const target = `n${broker}`;
    ctx.start('kill', target);
    await ctx.kill(broker);
    return {
      async heal() {
        await ctx.restart(broker);
        ctx.end('kill', target);
      },
    };
  },
};

const pause: Nemesis = {
  kind: 'pause',
  async start(ctx) {
    const candidates = ctx.cluster.brokers.filter((b) => b.child !== null && !ctx.impaired.has(b.id)).map((b) => b.id);
    if (candidates.length === 0) return null;
    const broker = ctx.pick(candidates);
    const target = `n${broker}`;
    ctx.start('pause', target);
    ctx.pause(broker);
    return {
      async heal() {
        ctx.resume(broker);
        ctx.end('pause', target);
      },
    };
  },
};

const partition: Nemesis = {
  kind: 'partition',
  async start(ctx) {
    const candidates = ctx.cluster.brokers.filter((b) => b.child !== null && !ctx.impaired.has(b.id)).map((b) => b.id);
    if (candidates.length === 0) return null;
    const broker = ctx.pick(candidates);
    const others = ctx.brokerIds().filter((id) => id !== broker);
    const roll = ctx.rng.next();
    const direction = roll < 0.6 ? 'both' : roll < 0.8 ? 'in' : 'out';
    const target = `${broker}|${others.join(',')}`;
    const network = ctx.network;
    if (network !== null) {
      // Real links: tc drops in the namespaces (netns.ts); the harness's links are not touched.
      try {
        await network.cut(broker, others, direction);
      } catch (err) {
        ctx.log(`partition: tc cut of broker ${broker} failed: ${String(err)}`);
        await network.heal().catch(() => undefined);
        return null;
      }
      ctx.cut.add(broker);
      ctx.start('partition', target, `${direction} (tc)`);
      return {
        async heal() {
          for (let attempt = 1; attempt <= 5; attempt++) {
            try {
              const dropped = await network.heal();
              ctx.log(`partition: tc dropped ${dropped} packets of broker links during the cut`);
              break;
            } catch (err) {
              ctx.log(`partition: tc heal, attempt ${attempt}: ${String(err)}`);
              await sleep(500);
            }
          }
          ctx.cut.delete(broker);
          ctx.end('partition', target);
        },
      };
    }
    try {
      await ctx.faultControl(broker, { type: 'Cut', peers: others.map(String), direction });
    } catch (err) {
      ctx.log(`partition: cut on broker ${broker} failed: ${String(err)}`);
      return null;
    }
    ctx.cut.add(broker);
    ctx.start('partition', target, direction);
    return {
      async heal() {
        for (let attempt = 1; attempt <= 5; attempt++) {
          try {
            await ctx.faultControl(broker, { type: 'Heal' });
            break;
          } catch (err) {
            ctx.log(`partition: heal on broker ${broker}, attempt ${attempt}: ${String(err)}`);
            await sleep(500);
          }
        }
        ctx.cut.delete(broker);
        ctx.end('partition', target);
      },
    };
  },
};

type CrashRole = 'replica' | 'fetcher' | 'group-coordinator' | 'controller';
const crashRoles: readonly CrashRole[] = ['replica', 'fetcher', 'group-coordinator', 'controller'];

/** Chooses the node and actor path of a crash target of `role`; undefined when none exists now. */
async function crashTarget(ctx: ChaosContext, role: CrashRole): Promise<{ node: number; path: string } | undefined> {
  const healthy = ctx.cluster.brokers.filter((b) => b.child !== null && !ctx.impaired.has(b.id)).map((b) => b.id);
  if (healthy.length === 0) return undefined;
  switch (role) {
    case 'replica':
    case 'fetcher': {
      const prefix = role === 'replica' ? `/replicas/${ctx.topic}-` : '/fetchers/';
      const node = ctx.pick(healthy);
      const paths = (await ctx.faultControl(node, { type: 'ListActors', prefix }).catch(() => undefined))?.paths ?? [];
      return paths.length === 0 ? undefined : { node, path: ctx.pick(paths) };
    }
    case 'group-coordinator':
      return { node: ctx.pick(healthy), path: '/groups' };
    case 'controller': {
      // The active controller's, when it is known and healthy; else any voter's.
      const active = await ctx.controllerId();
      const node = active !== undefined && healthy.includes(active) && ctx.rng.next() < 0.7 ? active : ctx.pick(healthy);
      return { node, path: '/controller' };
    }
  }
}

const crashActor: Nemesis = {
  kind: 'crash-actor',
  async start(ctx) {
    if (ctx.crashRoleIndex === 0) ctx.crashRoleIndex = ctx.rng.int(0, crashRoles.length) + 1;
    let chosen: { node: number; path: string; role: CrashRole } | undefined;
    for (let tries = 0; tries < crashRoles.length && chosen === undefined; tries++) {
      const role = crashRoles[ctx.crashRoleIndex++ % crashRoles.length]!;
      const found = await crashTarget(ctx, role);
      if (found) chosen = { ...found, role };
    }
    if (chosen === undefined) return null;
    const { node, path, role } = chosen;
    const target = `n${node}:${path}`;
    const reply = await ctx.faultControl(node, { type: 'CrashActor', path }).catch((err: unknown) => {
      ctx.log(`crash-actor: ${target}: ${String(err)}`);
      return undefined;
    });
    if (reply === undefined) return null;
    ctx.start('crash-actor', target, role);
    const check: CrashCheck = { node, path, role, existed: reply.existed === true, cameBack: null, atMs: ctx.recorder.nowMs() };
    ctx.crashChecks.push(check);
    return {
      async heal() {
        if (check.existed) {
          // Supervision restarts at once or after a backoff; a stop or a give-up leaves no actor (or no process).
          const deadline = Date.now() + crashRecoveryWaitMs;
          await sleep(500);
          for (;;) {
            const status = await ctx.faultControl(node, { type: 'ActorStatus', path }, 3_000).catch(() => undefined);
            if (status?.existed === true) {
              check.cameBack = true;
              break;
            }
            if (Date.now() > deadline) {
              check.cameBack = false;
              ctx.log(`crash-actor: ${target} did not come back within ${crashRecoveryWaitMs} ms`);
              break;
            }
            await sleep(250);
          }
        }
        ctx.end('crash-actor', target);
      },
    };
  },
};

const controller: Nemesis = {
  kind: 'controller',
  async start(ctx) {
    let active: number | undefined;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const id = await ctx.controllerId();
      if (id !== undefined && id >= 0 && !ctx.impaired.has(id) && ctx.cluster.brokers.some((b) => b.id === id && b.child !== null)) {
        active = id;
        break;
      }
      await sleep(200);
    }
    if (active === undefined) {
      ctx.log('controller: no active controller found to kill');
      return null;
    }
    const broker = active;
    const target = `n${broker}`;
    ctx.start('controller', target, 'active controller');
    const killedAt = Date.now();
    await ctx.kill(broker);
    const failover: ControllerFailover = { killed: broker, newController: null, failoverMs: null, atMs: ctx.recorder.nowMs() };
    ctx.controllerFailovers.push(failover);
    // Watch for the new controller in the background while the fault holds.
    const watching = (async () => {
      while (Date.now() - killedAt < controllerFailoverWaitMs) {
        const id = await ctx.controllerId();
        if (id !== undefined && id >= 0 && id !== broker) {
          failover.newController = id;
          failover.failoverMs = Date.now() - killedAt;
          return;
        }
        await sleep(100);
      }
    })();
    return {
      async heal() {
        await watching;
        await ctx.restart(broker);
        ctx.end('controller', target);
      },
    };
  },
};

const hostile: Nemesis = {
  kind: 'hostile',
  async start(ctx) {
    // Brokers up now (faults come one at a time: none is killed or paused while this one holds).
    const targets = (): { id: number; url: string }[] => ctx.cluster.brokers.filter((b) => b.child !== null).map((b) => ({ id: b.id, url: b.url }));
    if (targets().length === 0) return null;
    const alive = new Map(ctx.cluster.brokers.filter((b) => b.child !== null).map((b) => [b.id, b.child!] as const));
    const client = new HostileClient(targets, ctx.rng.int(0, 2 ** 31), ctx.hostile.faults, ctx.hostile, { topic: ctx.topic, partitions: ctx.partitions });
    const target = targets().map((t) => `n${t.id}`).join(',');
    const before = { frames: ctx.hostile.frames, forged: ctx.hostile.forged };
    ctx.start('hostile', target, 'fuzzed frames and forged internal messages');
    client.start();
    return {
      async heal() {
        await client.stop();
        for (const [id, child] of alive) {
          // The same process still running (not killed by another nemesis: faults come one at a time).
          if (child.process.exitCode !== null || child.process.signalCode !== null) ctx.hostileProblems.push(`broker ${id} exited (${child.process.exitCode ?? child.process.signalCode}) while the hostile client was sending`);
        }
        ctx.log(`hostile: sent ${ctx.hostile.frames - before.frames} frames, ${ctx.hostile.forged - before.forged} of them forged internal messages`);
        ctx.end('hostile', target);
      },
    };
  },
};

/**
 * Moves replicas while the workloads run (partition reassignment): the fault
 * takes the current leader of a seeded partition out of its replica list (the
 * move completes at once, leadership moves in the same record, the removed
 * broker deletes its copy); healing puts that broker back at the end of the
 * list, so it copies the partition again from offset 0 and rejoins the ISR
 * while the next faults strike. Nothing acknowledged may be lost by either.
 */
const reassign: Nemesis = {
  kind: 'reassign',
  async start(ctx) {
    const via = ctx.healthyBroker();
    if (via === undefined) return null;
    const answer = await ctx.cluster.metadata([ctx.topic], via).catch(() => undefined);
    const partitions = answer?.topics.find((t) => t.name === ctx.topic)?.partitions ?? [];
    // A partition with its full replica list and a leader (a move still copying is left alone).
    const candidates = partitions.filter((p) => p.replicas.length === 3 && p.isr.length === 3 && p.leader >= 0);
    if (candidates.length === 0) return null;
    const chosen = ctx.pick(candidates);
    const victim = chosen.leader;
    const kept = chosen.replicas.filter((id) => id !== victim);
    const target = `${ctx.topic}-${chosen.partition}`;
    type MoveReply = { type: string; results?: { errorCode: number; errorMessage: string | null }[]; errorMessage?: string };
    const move = async (replicas: number[]): Promise<string | null> => {
      const reply: MoveReply = await ctx.cluster
        .admin<MoveReply>({ type: 'AlterPartitionReassignments', reassignments: [{ topic: ctx.topic, partition: chosen.partition, replicas }] }, ctx.healthyBroker())
        .catch((err: unknown) => ({ type: 'failed', errorMessage: String(err) }));
      const result = reply.results?.[0];
      if (reply.type !== 'AlterPartitionReassignmentsReply' || result === undefined) return `${reply.type}: ${reply.errorMessage ?? ''}`;
      return result.errorCode === 0 ? null : `error ${result.errorCode}: ${result.errorMessage ?? ''}`;
    };
    const refused = await move(kept);
    if (refused !== null) {
      ctx.log(`reassign: ${target} -> ${kept.join(',')} refused: ${refused}`);
      return null;
    }
    ctx.start('reassign', target, `leader n${victim} dropped: replicas ${kept.join(',')}`);
    return {
      async heal() {
        const back = [...kept, victim];
        const again = await move(back);
        if (again !== null) ctx.log(`reassign: ${target} -> ${back.join(',')} refused: ${again}`);
        ctx.end('reassign', target);
      },
    };
  },
};

export const NEMESES: Record<FaultKind, Nemesis> = { kill, pause, partition, 'crash-actor': crashActor, controller, hostile, reassign };

