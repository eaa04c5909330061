/**
 * A 3-broker cluster in this process for client tests and the producer
 * benchmark: real broker data planes over real ws sockets, the controller
 * replaced by FakeQuorum (test/support/fake-quorum.ts: the real controller
 * logic, committing at once). Not a test file itself.
 *
 * `fenceAndStop(brokerId)` moves leadership away, it does not crash anything:
 * the controller fences the broker (moving its leaderships to other ISR
 * members and bumping leader epochs), then its logs close and its node stops
 * gracefully in this process, so clients see their links drop and must find
 * the new leaders through metadata. A SIGKILLed broker process is what
 * test/support/cluster.ts (killBroker) gives.
 */
import type { Node } from '../runtime/node.ts';
import type { DataPlane } from '../actors/broker/data-plane.ts';
import type { BrokerConfig } from '../actors/broker/config.ts';
import type { FakeQuorum } from './support/fake-quorum.ts';
import { startInProcessCluster } from './support/inprocess-cluster.ts';

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
  const cluster = await startInProcessCluster({
    brokers: options.brokers ?? 3,
    dirPrefix: 'kactus-client-',
    config: { replicaFetchWaitMaxMs: 100, ...(options.config ?? {}) } as Partial<BrokerConfig>,
    logToStderr: true,
  });
  return {
    ...cluster,
    async fenceAndStop(brokerId) {
      cluster.quorum.call({ type: 'FenceBroker', brokerId, brokerEpoch: null });
      await cluster.stopBroker(brokerId);
    },
  };
}
