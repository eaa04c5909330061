/**
 * A 3-broker cluster in this process for client tests and the producer
 * benchmark: real broker data planes over real ws sockets, the controller
 * replaced by FakeQuorum (test/support/fake-quorum.ts: the real controller
 * logic, committing at once). Not a test file itself.
 *
 * `fenceAndStop(brokerId)` is the failover tool: the controller fences the
 * broker (moving its leaderships to other ISR members and bumping leader
 * epochs), then its node stops, so clients see their links drop and must
 * find the new leaders through metadata.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node } from '../runtime/node.ts';
import { createLogger } from '../runtime/logger.ts';
import { makeBrokerConfig } from '../actors/broker/config.ts';
import { startDataPlane, type DataPlane } from '../actors/broker/data-plane.ts';
import { FakeQuorum } from './support/fake-quorum.ts';

export type TestCluster = {
  quorum: FakeQuorum;
  nodes: Node[];
  planes: DataPlane[];
  urls: string[];
  dir: string;
  fenceAndStop(brokerId: number): Promise<void>;
  stop(): Promise<void>;
};

export async function startTestCluster(options: { brokers?: number; config?: Record<string, number | boolean> } = {}): Promise<TestCluster> {
  const count = options.brokers ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'kactus-client-'));
  const quorum = new FakeQuorum();
  const nodes: Node[] = [];
  const planes: DataPlane[] = [];
  for (let brokerId = 1; brokerId <= count; brokerId += 1) {
    const node = await Node.start({ nodeId: String(brokerId), listen: { host: '127.0.0.1', port: 0 }, logger: createLogger({ node: brokerId }, process.env.LOG_LEVEL ?? 'silent', 2) });
    const config = makeBrokerConfig(
      { brokerId, listenHost: '127.0.0.1', listenPort: 0, dataDir: join(dir, `broker-${brokerId}`), controllerQuorumVoters: new Map() },
      { replicaFetchWaitMaxMs: 100, ...(options.config ?? {}) } as never,
    );
    planes.push(startDataPlane(node, config, quorum.attach(node)));
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
    async fenceAndStop(brokerId) {
      quorum.call({ type: 'FenceBroker', brokerId, brokerEpoch: null });
      await stopBroker(brokerId);
    },
    async stop() {
      for (let id = 1; id <= count; id += 1) await stopBroker(id);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
