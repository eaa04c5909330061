/**
 * `--net netns`: the chaos cluster in Linux network namespaces, partitions cut
 * on real links (opt-in; needs root and iproute2's `ip` and `tc`).
 *
 * Per run (names from the seed and the harness's pid, see `netnsPlan`):
 *   - a bridge `kc<tag>br` in the root namespace with 10.<x>.<y>.1/24 (the
 *     harness, in the root namespace, reaches the brokers through it);
 *   - per broker a namespace `kc<tag>n<id>` holding the inner end (`eth0`,
 *     10.<x>.<y>.<10+id>/24, default route via the bridge) of a veth pair whose
 *     outer end `kc<tag>v<id>` is a port of the bridge, and `lo` up;
 *   - brokers started with `ip netns exec <ns> node ...` (exec, no fork: the
 *     pid is node's, so SIGKILL/SIGSTOP reach the broker), listening and
 *     advertising on <namespace address>:9092.
 *
 * A cut of the traffic from broker A to broker B: in A's namespace an `htb`
 * root qdisc on eth0 (`default 0`: unclassified packets pass unshaped), a
 * class 1:2 whose leaf is `pfifo limit 0` (drops every packet), and a u32
 * filter `ip dst <B>/32 -> 1:2`. (This kernel has no `prio` qdisc and no
 * gact `action drop`; htb + pfifo limit 0 is what drops here.) Both
 * directions = filters on both sides. Heal = delete the root qdisc in every
 * namespace that has one. The harness's own links (to 10.<x>.<y>.1) are never
 * matched.
 *
 * Teardown deletes only what this run created (recorded as each command
 * succeeds): the namespaces, the outer veth ends, the bridge. It runs in the
 * harness's `finally`, and synchronously on process exit (run.ts turns
 * SIGINT/SIGTERM into an exit), so a SIGKILLed harness is the only way to
 * leave them behind.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchCluster, type TestCluster } from '../support/cluster.ts';

export type NetMode = 'loopback' | 'netns';
export const NET_MODES: readonly NetMode[] = ['loopback', 'netns'];

/** A setup problem (not root, no `ip`, a command refused): run.ts prints its message as one line. */
export class NetnsSetupError extends Error {}

export const brokerPort = 9092;
export const innerDevice = 'eth0';

export type NetnsPlan = {
  tag: string;
  bridge: string;
  /** 10.x.y */
  subnet: string;
  bridgeAddress: string;
  brokers: { id: number; ns: string; vethOuter: string; address: string }[];
};

function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Names and addresses of a run: tag = 5 base-36 chars of a hash of seed and
 * pid; subnet 10.<200-249>.<0-255> from the same hash, moved on past any /24
 * in `takenSubnets` ("10.x.y" strings: what the root namespace already uses).
 */
export function netnsPlan(seed: number, pid: number, count: number, takenSubnets: ReadonlySet<string> = new Set()): NetnsPlan {
  const h = hash32(`kactus-chaos:${seed}:${pid}`);
  const tag = (h % 36 ** 5).toString(36).padStart(5, '0');
  let slot = (h >>> 8) % (50 * 256);
  let subnet = '';
  for (let tries = 0; tries < 50 * 256; tries++, slot = (slot + 1) % (50 * 256)) {
    subnet = `10.${200 + Math.floor(slot / 256)}.${slot % 256}`;
    if (!takenSubnets.has(subnet)) break;
  }
  const brokers = [];
  for (let id = 1; id <= count; id++) brokers.push({ id, ns: `kc${tag}n${id}`, vethOuter: `kc${tag}v${id}`, address: `${subnet}.${10 + id}` });
  return { tag, bridge: `kc${tag}br`, subnet, bridgeAddress: `${subnet}.1`, brokers };
}

/** The /24s ("10.x.y") among `ip -4 -o addr` / `ip -4 route` output lines. */
export function subnetsIn(text: string): Set<string> {
  const found = new Set<string>();
  for (const m of text.matchAll(/\b10\.(\d{1,3})\.(\d{1,3})\.\d{1,3}/g)) found.add(`10.${m[1]}.${m[2]}`);
  return found;
}

export type Resource = { kind: 'netns' | 'veth' | 'bridge'; name: string };
export type Command = { argv: string[]; creates?: Resource };

/** The commands that build the network, in order; each one that creates something says what. */
export function setupCommands(plan: NetnsPlan): Command[] {
  const cmds: Command[] = [
    { argv: ['ip', 'link', 'add', plan.bridge, 'type', 'bridge'], creates: { kind: 'bridge', name: plan.bridge } },
    { argv: ['ip', 'addr', 'add', `${plan.bridgeAddress}/24`, 'dev', plan.bridge] },
    { argv: ['ip', 'link', 'set', plan.bridge, 'up'] },
  ];
  for (const b of plan.brokers) {
    cmds.push(
      { argv: ['ip', 'netns', 'add', b.ns], creates: { kind: 'netns', name: b.ns } },
      { argv: ['ip', 'link', 'add', b.vethOuter, 'type', 'veth', 'peer', 'name', innerDevice, 'netns', b.ns], creates: { kind: 'veth', name: b.vethOuter } },
      { argv: ['ip', 'link', 'set', b.vethOuter, 'master', plan.bridge, 'up'] },
      { argv: ['ip', '-n', b.ns, 'addr', 'add', `${b.address}/24`, 'dev', innerDevice] },
      { argv: ['ip', '-n', b.ns, 'link', 'set', innerDevice, 'up'] },
      { argv: ['ip', '-n', b.ns, 'link', 'set', 'lo', 'up'] },
      { argv: ['ip', '-n', b.ns, 'route', 'add', 'default', 'via', plan.bridgeAddress] },
    );
  }
  return cmds;
}

/** Deletes exactly `created` (what setup recorded), namespaces first, then veths, then the bridge. */
export function teardownCommands(created: readonly Resource[]): string[][] {
  const ns = created.filter((r) => r.kind === 'netns').map((r) => ['ip', 'netns', 'del', r.name]);
  // Veths (deleting one end deletes the pair) before the bridge they are ports of.
  const ordered = [...created.filter((r) => r.kind === 'veth'), ...created.filter((r) => r.kind === 'bridge')];
  return [...ns, ...ordered.map((r) => ['ip', 'link', 'del', r.name])];
}

export type CutDirection = 'both' | 'in' | 'out';

/** The one-way links a partition of `broker` from `others` cuts: 'out' = what it sends, 'in' = what it receives. */
export function partitionLinks(broker: number, others: readonly number[], direction: CutDirection): { from: number; to: number }[] {
  const links: { from: number; to: number }[] = [];
  if (direction !== 'in') for (const o of others) links.push({ from: broker, to: o });
  if (direction !== 'out') for (const o of others) links.push({ from: o, to: broker });
  return links;
}

const inNs = (ns: string, argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];

/**
 * The commands that cut `links`; `installed`: namespaces that already have
 * the dropping qdisc (they only get filters). Returns the commands and the
 * namespaces that have the qdisc afterwards.
 */
export function cutCommands(plan: NetnsPlan, links: readonly { from: number; to: number }[], installed: ReadonlySet<string>): { commands: string[][]; installed: Set<string> } {
  const byId = new Map(plan.brokers.map((b) => [b.id, b]));
  const now = new Set(installed);
  const commands: string[][] = [];
  for (const { from, to } of links) {
    const src = byId.get(from);
    const dst = byId.get(to);
    if (!src || !dst) throw new Error(`no broker ${src ? to : from} in the network`);
    if (!now.has(src.ns)) {
      commands.push(
        inNs(src.ns, ['tc', 'qdisc', 'add', 'dev', innerDevice, 'root', 'handle', '1:', 'htb', 'default', '0']),
        inNs(src.ns, ['tc', 'class', 'add', 'dev', innerDevice, 'parent', '1:', 'classid', '1:2', 'htb', 'rate', '10gbit', 'quantum', '1514']),
        inNs(src.ns, ['tc', 'qdisc', 'add', 'dev', innerDevice, 'parent', '1:2', 'handle', '2:', 'pfifo', 'limit', '0']),
      );
      now.add(src.ns);
    }
    commands.push(inNs(src.ns, ['tc', 'filter', 'add', 'dev', innerDevice, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${dst.address}/32`, 'flowid', '1:2']));
  }
  return { commands, installed: now };
}

/** Heal: delete the root qdisc (and so every filter) in each namespace that has one. */
export function healCommands(installed: ReadonlySet<string>): string[][] {
  return [...installed].sort().map((ns) => inNs(ns, ['tc', 'qdisc', 'del', 'dev', innerDevice, 'root']));
}

/** Packets dropped by the cut (the `pfifo limit 0` leaf, handle 2:) in `tc -s qdisc show` output. */
export function droppedByCut(text: string): number {
  const m = /qdisc pfifo 2:[^\n]*\n[^\n]*\(dropped (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

function run(argv: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

/** Every network set up by this process and not yet torn down (the exit hook tears them down). */
const activeNetworks = new Set<NetnsNetwork>();

/** A run's namespaces and bridge: cut, heal, tear down. */
export class NetnsNetwork {
  readonly created: Resource[] = [];
  private installed = new Set<string>();
  private tornDown = false;

  private constructor(readonly plan: NetnsPlan) {}

  /** Checks root, `ip` and `tc`, then builds the network; a failure tears down what was built and throws NetnsSetupError. */
  static async setUp(seed: number, count: number): Promise<NetnsNetwork> {
    netnsPreflight();
    let taken = new Set<string>();
    try {
      taken = subnetsIn(execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'route'], { encoding: 'utf8' }));
    } catch (err) {
      throw new NetnsSetupError(`--net netns: cannot list addresses with ip: ${(err as Error).message.split('\n')[0]}`);
    }
    const net = new NetnsNetwork(netnsPlan(seed, process.pid, count, taken));
    activeNetworks.add(net);
    try {
      for (const cmd of setupCommands(net.plan)) {
        await run(cmd.argv);
        if (cmd.creates) net.created.push(cmd.creates);
      }
    } catch (err) {
      await net.tearDown();
      throw new NetnsSetupError(`--net netns: network setup failed: ${(err as Error).message.split('\n')[0]}`);
    }
    return net;
  }

  address(id: number): string {
    const b = this.plan.brokers.find((x) => x.id === id);
    if (!b) throw new Error(`no broker ${id} in the network`);
    return b.address;
  }

  ns(id: number): string {
    const b = this.plan.brokers.find((x) => x.id === id);
    if (!b) throw new Error(`no broker ${id} in the network`);
    return b.ns;
  }

  /** Cuts the links of a partition of `broker` from `others` (tc in the namespaces). */
  async cut(broker: number, others: readonly number[], direction: CutDirection): Promise<void> {
    const { commands, installed } = cutCommands(this.plan, partitionLinks(broker, others, direction), this.installed);
    try {
      for (const argv of commands) await run(argv);
    } finally {
      // What may have been installed, even partly, is healed later.
      for (const ns of installed) this.installed.add(ns);
    }
  }

  /**
   * Removes every cut (the root qdisc in every namespace that has one) and
   * returns how many packets the cuts dropped. Throws if a delete failed for
   * a reason other than "none there".
   */
  async heal(): Promise<number> {
    let dropped = 0;
    for (const ns of this.installed) dropped += droppedByCut(await run(inNs(ns, ['tc', '-s', 'qdisc', 'show', 'dev', innerDevice])).catch(() => ''));
    const failures: string[] = [];
    for (const argv of healCommands(this.installed)) {
      await run(argv).catch((err: Error) => {
        if (!/Cannot find specified qdisc|handle of zero/i.test(err.message)) failures.push(err.message);
      });
    }
    if (failures.length > 0) throw new Error(failures.join('; '));
    this.installed.clear();
    return dropped;
  }

  /** Deletes what setup created (only that); idempotent. */
  async tearDown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    activeNetworks.delete(this);
    for (const argv of teardownCommands(this.created)) await run(argv).catch(() => undefined);
  }

  /** The same, synchronously (process exit). */
  tearDownSync(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    activeNetworks.delete(this);
    for (const argv of teardownCommands(this.created)) {
      try {
        execFileSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10_000 });
      } catch {
        // already gone
      }
    }
  }
}

/** Root, `ip` and `tc` present; else a NetnsSetupError naming the problem. */
export function netnsPreflight(): void {
  if (process.platform !== 'linux') throw new NetnsSetupError(`--net netns needs Linux (this is ${process.platform})`);
  const uid = process.getuid?.();
  if (uid !== 0) throw new NetnsSetupError(`--net netns needs root (uid ${uid ?? 'unknown'}): it creates network namespaces, veths, a bridge and tc qdiscs`);
  for (const tool of ['ip', 'tc']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch {
      throw new NetnsSetupError(`--net netns needs the \`${tool}\` command (iproute2), not found or not runnable`);
    }
  }
}

// ---- broker processes inside the namespaces ----


/** The command prefix that runs a child inside namespace `ns` (`ip netns exec` execs node, so the pid is node's). */
export function netnsExecPrefix(ns: string): readonly string[] {
  return ['ip', 'netns', 'exec', ns];
}

/** Synchronous last resort (process exit, signals): delete every network still set up (processes.ts kills the brokers). */
export function tearDownAllNetnsSync(): void {
  for (const net of [...activeNetworks]) net.tearDownSync();
}

process.once('exit', tearDownAllNetnsSync);

// ---- the cluster ----

/**
 * test/support/cluster.ts's TestCluster, with broker `id` in namespace
 * `network.ns(id)` listening and advertising on `network.address(id)`:9092.
 */
export async function startNetnsCluster(network: NetnsNetwork, settings: string[], options: { env?: Record<string, string> } = {}): Promise<TestCluster> {
  return launchCluster({
    brokers: network.plan.brokers.map((b) => ({ id: b.id, port: brokerPort, url: `ws://${b.address}:${brokerPort}`, child: null })),
    hostOf: (id) => network.address(id),
    dataDir: mkdtempSync(join(tmpdir(), 'kactus-chaos-netns-')),
    settings,
    env: options.env ?? {},
    commandPrefixOf: (id) => netnsExecPrefix(network.ns(id)),
    clientNodeId: `chaos-netns-client-${process.pid}-${Date.now()}`,
  });
}
