/**
 * Brokers in this process for fast cluster tests: real data planes (broker,
 * fetch, replicas, fetchers, groups) over real ws sockets on 127.0.0.1, with
 * FakeQuorum (the real controller logic, committing at once) as the
 * controller. The one place that starts and stops such a cluster; test files
 * and helpers (client-cluster.ts, fixtures/consumer-cluster.ts) build on it.
 */
import { testClusterSecret } from './secret.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import { makeBrokerConfig, type BrokerConfig } from '../../actors/broker/config.ts';
import { startDataPlane, type DataPlane, type DataPlaneOptions } from '../../actors/broker/data-plane.ts';
import { FakeQuorum } from './fake-quorum.ts';

export type InProcessCluster = {
  quorum: FakeQuorum;
  nodes: Node[];
  planes: DataPlane[];
  urls: string[];
  dir: string;
  /** Closes broker `brokerId`'s logs and stops its node (once). */
  stopBroker(brokerId: number): Promise<void>;
  /** Stops every broker and removes the data directory. */
  stop(): Promise<void>;
};

export type InProcessClusterOptions = {
  brokers?: number;
  /** Prefix of the temp data directory. */
  dirPrefix?: string;
  config?: Partial<BrokerConfig>;
  dataPlane?: DataPlaneOptions;
  /** Log to stderr (fd 2) instead of stdout. */
  logToStderr?: boolean;
};

export async function startInProcessCluster(options: InProcessClusterOptions = {}): Promise<InProcessCluster> {
  const count = options.brokers ?? 3;
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix ?? 'kactus-inprocess-'));
  const quorum = new FakeQuorum();
  const nodes: Node[] = [];
  const planes: DataPlane[] = [];
  for (let brokerId = 1; brokerId <= count; brokerId += 1) {
    const node = await Node.start({ nodeId: String(brokerId), listen: { host: '127.0.0.1', port: 0 }, clusterSecret: testClusterSecret(), logger: createLogger({ node: brokerId }, process.env.LOG_LEVEL ?? 'silent', options.logToStderr ? 2 : 1) });
    const config = makeBrokerConfig({ brokerId, listenHost: '127.0.0.1', listenPort: 0, dataDir: join(dir, `broker-${brokerId}`), controllerQuorumVoters: new Map() }, options.config);
    planes.push(startDataPlane(node, config, quorum.attach(node), undefined, options.dataPlane));
    nodes.push(node);
  }
  for (const node of nodes) for (const other of nodes) if (other !== node) node.addPeer(other.nodeId, other.url!);
  for (const node of nodes) quorum.registerBroker(Number(node.nodeId), node.url!);
  const stopped = new Set<number>();
  const stopBroker = async (brokerId: number): Promise<void> => {
    if (stopped.has(brokerId)) return;
    stopped.add(brokerId);
    await planes[brokerId - 1]!.close().catch(() => undefined);
    await nodes[brokerId - 1]!.stop();
  };
  return {
    quorum,
    nodes,
    planes,
    urls: nodes.map((n) => n.url!),
    dir,
    stopBroker,
    async stop() {
      for (let id = 1; id <= count; id += 1) await stopBroker(id);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
