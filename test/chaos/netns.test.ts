/**
 * The pure parts of `--net netns` (netns.ts): names, addresses, and the ip/tc
 * command lists of setup, cut, heal and teardown. Needs no root and touches
 * no network: the real mode is run by hand (README).
 */
import { describe, expect, it } from 'vitest';
import { cutCommands, droppedByCut, healCommands, netnsPlan, partitionLinks, setupCommands, subnetsIn, teardownCommands, type Resource } from './netns.ts';

describe('netnsPlan', () => {
  it('derives short, valid, run-unique names and addresses from seed and pid', () => {
    const plan = netnsPlan(21, 12345, 3);
    expect(plan).toEqual(netnsPlan(21, 12345, 3));
    expect(plan.tag).toMatch(/^[0-9a-z]{5}$/);
    expect(plan.bridge).toBe(`kc${plan.tag}br`);
    expect(plan.subnet).toMatch(/^10\.(2[0-4]\d)\.\d{1,3}$/);
    expect(plan.bridgeAddress).toBe(`${plan.subnet}.1`);
    expect(plan.brokers.map((b) => b.id)).toEqual([1, 2, 3]);
    for (const b of plan.brokers) {
      expect(b.ns).toBe(`kc${plan.tag}n${b.id}`);
      expect(b.vethOuter).toBe(`kc${plan.tag}v${b.id}`);
      expect(b.address).toBe(`${plan.subnet}.${10 + b.id}`);
    }
    // Linux interface names are at most 15 bytes.
    for (const name of [plan.bridge, ...plan.brokers.map((b) => b.vethOuter), 'eth0']) expect(name.length).toBeLessThanOrEqual(15);
    expect(netnsPlan(21, 12346, 3).tag).not.toBe(plan.tag);
    expect(netnsPlan(22, 12345, 3).tag).not.toBe(plan.tag);
  });

  it('moves past a /24 already in use', () => {
    const plan = netnsPlan(21, 12345, 3);
    const other = netnsPlan(21, 12345, 3, new Set([plan.subnet]));
    expect(other.subnet).not.toBe(plan.subnet);
    expect(other.tag).toBe(plan.tag);
  });

  it('reads the /24s in use from ip output', () => {
    const text = '2: eth0    inet 10.243.208.1/24 brd 10.243.208.255 scope global\n10.0.5.0/24 dev x proto kernel\ndefault via 192.0.2.1 dev eth0\n';
    expect([...subnetsIn(text)].sort()).toEqual(['10.0.5', '10.243.208']);
  });
});

describe('setup and teardown', () => {
  const plan = netnsPlan(1, 100, 2);

  it('builds the bridge, then per broker a namespace, a veth into it, addresses, lo, a default route', () => {
    const cmds = setupCommands(plan);
    const n1 = plan.brokers[0]!;
    expect(cmds.slice(0, 3).map((c) => c.argv)).toEqual([
      ['ip', 'link', 'add', plan.bridge, 'type', 'bridge'],
      ['ip', 'addr', 'add', `${plan.bridgeAddress}/24`, 'dev', plan.bridge],
      ['ip', 'link', 'set', plan.bridge, 'up'],
    ]);
    expect(cmds.slice(3, 10).map((c) => c.argv)).toEqual([
      ['ip', 'netns', 'add', n1.ns],
      ['ip', 'link', 'add', n1.vethOuter, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n1.ns],
      ['ip', 'link', 'set', n1.vethOuter, 'master', plan.bridge, 'up'],
      ['ip', '-n', n1.ns, 'addr', 'add', `${n1.address}/24`, 'dev', 'eth0'],
      ['ip', '-n', n1.ns, 'link', 'set', 'eth0', 'up'],
      ['ip', '-n', n1.ns, 'link', 'set', 'lo', 'up'],
      ['ip', '-n', n1.ns, 'route', 'add', 'default', 'via', plan.bridgeAddress],
    ]);
    expect(cmds).toHaveLength(3 + 7 * 2);
    expect(cmds.filter((c) => c.creates).map((c) => c.creates)).toEqual([
      { kind: 'bridge', name: plan.bridge },
      { kind: 'netns', name: n1.ns },
      { kind: 'veth', name: n1.vethOuter },
      { kind: 'netns', name: plan.brokers[1]!.ns },
      { kind: 'veth', name: plan.brokers[1]!.vethOuter },
    ]);
  });

  it('deletes exactly what was created: namespaces, veths, then the bridge', () => {
    const created: Resource[] = setupCommands(plan).flatMap((c) => (c.creates ? [c.creates] : []));
    expect(teardownCommands(created)).toEqual([
      ['ip', 'netns', 'del', plan.brokers[0]!.ns],
      ['ip', 'netns', 'del', plan.brokers[1]!.ns],
      ['ip', 'link', 'del', plan.brokers[0]!.vethOuter],
      ['ip', 'link', 'del', plan.brokers[1]!.vethOuter],
      ['ip', 'link', 'del', plan.bridge],
    ]);
    // A setup that failed after the bridge and one namespace deletes only those.
    expect(teardownCommands(created.slice(0, 2))).toEqual([
      ['ip', 'netns', 'del', plan.brokers[0]!.ns],
      ['ip', 'link', 'del', plan.bridge],
    ]);
    expect(teardownCommands([])).toEqual([]);
  });
});

describe('cut and heal', () => {
  const plan = netnsPlan(7, 4242, 3);
  const [n1, n2, n3] = plan.brokers as [(typeof plan.brokers)[0], (typeof plan.brokers)[0], (typeof plan.brokers)[0]];
  const exec = (ns: string, ...argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];
  const qdisc = (ns: string): string[][] => [
    exec(ns, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '0'),
    exec(ns, 'tc', 'class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:2', 'htb', 'rate', '10gbit', 'quantum', '1514'),
    exec(ns, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'parent', '1:2', 'handle', '2:', 'pfifo', 'limit', '0'),
  ];
  const drop = (ns: string, dst: string): string[] => exec(ns, 'tc', 'filter', 'add', 'dev', 'eth0', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${dst}/32`, 'flowid', '1:2');

  it('picks the one-way links of a partition', () => {
    expect(partitionLinks(1, [2, 3], 'out')).toEqual([{ from: 1, to: 2 }, { from: 1, to: 3 }]);
    expect(partitionLinks(1, [2, 3], 'in')).toEqual([{ from: 2, to: 1 }, { from: 3, to: 1 }]);
    expect(partitionLinks(2, [1, 3], 'both')).toEqual([{ from: 2, to: 1 }, { from: 2, to: 3 }, { from: 1, to: 2 }, { from: 3, to: 2 }]);
  });

  it('a one-way cut A -> B: a dropping qdisc on A and a filter on dst B', () => {
    const { commands, installed } = cutCommands(plan, [{ from: 1, to: 2 }], new Set());
    expect(commands).toEqual([...qdisc(n1.ns), drop(n1.ns, n2.address)]);
    expect([...installed]).toEqual([n1.ns]);
  });

  it('both ways: both sides; the qdisc once per namespace; none again where it is installed', () => {
    const { commands, installed } = cutCommands(plan, partitionLinks(1, [2, 3], 'both'), new Set([n3.ns]));
    expect(commands).toEqual([
      ...qdisc(n1.ns),
      drop(n1.ns, n2.address),
      drop(n1.ns, n3.address),
      ...qdisc(n2.ns),
      drop(n2.ns, n1.address),
      drop(n3.ns, n1.address),
    ]);
    expect([...installed].sort()).toEqual([n1.ns, n2.ns, n3.ns].sort());
    // The harness's own address (the bridge's) is never a filter's destination.
    expect(commands.some((c) => c.includes(`${plan.bridgeAddress}/32`))).toBe(false);
  });

  it('refuses a broker that is not in the network', () => {
    expect(() => cutCommands(plan, [{ from: 1, to: 9 }], new Set())).toThrow(/no broker 9/);
  });

  it('heal deletes the root qdisc in every namespace that has one', () => {
    expect(healCommands(new Set([n2.ns, n1.ns]))).toEqual([exec(n1.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'), exec(n2.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root')]);
    expect(healCommands(new Set())).toEqual([]);
  });
});

describe('droppedByCut', () => {
  it('reads the drop count of the pfifo limit 0 leaf', () => {
    const text = [
      'qdisc htb 1: root refcnt 3 r2q 10 default 0 direct_packets_stat 4 direct_qlen 1000',
      ' Sent 292 bytes 4 pkt (dropped 5, overlimits 0 requeues 0) ',
      ' backlog 0b 0p requeues 0',
      'qdisc pfifo 2: parent 1:2 limit 0p',
      ' Sent 0 bytes 0 pkt (dropped 7, overlimits 0 requeues 0) ',
      ' backlog 0b 0p requeues 0',
    ].join('\n');
    expect(droppedByCut(text)).toBe(7);
    expect(droppedByCut('qdisc noqueue 0: root refcnt 2\n')).toBe(0);
  });
});
