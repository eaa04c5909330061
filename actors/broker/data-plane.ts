/**
 * Spawns a broker node's data plane: the partition registry, `/fetch` (read
 * path), `/replicas` and `/fetchers` (supervisors that handle no messages
 * themselves, so nact's per-message copy of their children costs nothing),
 * `/groups` (the group coordinator, actors/group-coordinator/actor.ts),
 * `/transactions` (the transaction coordinator, actors/txn-coordinator/actor.ts),
 * and `/broker` (router and replica-role manager; it tells `/groups` which
 * `__consumer_offsets` partitions it leads, and `/transactions` which
 * `__transaction_state` ones). The coordinators take their local messages by
 * type: their declared protocols keep those types local-only.
 *
 * The controller client at `/controller-client` must exist on the node (it
 * gives metadata and carries ControllerCalls); in tests it may be a stand-in.
 */
import type { SecurityView } from '../security/view.ts';
import { join } from 'node:path';
import type { Node } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import { PartitionRegistry } from '../partition/registry.ts';
import { fetchServerBehaviour } from '../fetch/server.ts';
import { brokerBehaviour, type BrokerMessage } from './actor.ts';
import type { BrokerConfig } from './config.ts';
import { spawnGroupCoordinator, type GroupCoordinatorDeps } from '../group-coordinator/actor.ts';
import type { GroupConfig } from '../group-coordinator/group-logic.ts';
import { spawnTxnCoordinator } from '../txn-coordinator/actor.ts';
import type { TxnConfig } from '../txn-coordinator/txn-logic.ts';
import type { BrokerMetrics } from '../metrics/broker-metrics.ts';

export type DataPlane = {
  registry: PartitionRegistry;
  broker: Ref<BrokerMessage>;
  /** The group coordinator's public actor (`/groups`). */
  groups: Ref<unknown>;
  /** The transaction coordinator's public actor (`/transactions`). */
  transactions: Ref<unknown>;
  /** Closes every partition log (flushing it); call before the node stops. */
  close(): Promise<void>;
};

const idle = { init: () => null, receive: (state: null) => state };

export type DataPlaneOptions = {
  /** Overrides of the group coordinator's group config (tests: short session timeouts). */
  groupConfig?: Partial<GroupConfig>;
  /** Offsets retention of the group coordinator (tests: short). */
  offsetsRetention?: GroupCoordinatorDeps['offsetsRetention'];
  /** Overrides of the transaction coordinator's config (tests: short expiry). */
  txnConfig?: Partial<TxnConfig>;
  /** The node's SecurityView: /broker filters Metadata by what the caller may Describe (ACLs). Absent: no filtering. */
  security?: SecurityView;
  /** The broker's metrics (broker-node.ts makes them): the replicas, the fetch server and /broker count into them, and they read the registry when scraped. Absent: nothing counted. */
  metrics?: BrokerMetrics;
};

export function startDataPlane(node: Node, config: BrokerConfig, controllerClient: Ref<unknown>, clock: Clock = systemClock, options: DataPlaneOptions = {}): DataPlane {
  const registry = new PartitionRegistry(join(config.dataDir, 'partitions'), clock);
  options.metrics?.bindPartitions(() => registry.all());
  const replicasParent = node.spawn('replicas', idle);
  const fetchersParent = node.spawn('fetchers', idle);
  const fetchServer = node.spawn(
    'fetch',
    fetchServerBehaviour({ registry, replicaRef: (key) => ({ node: node.nodeId, path: `/replicas/${key}` }), ...(options.metrics ? { metrics: options.metrics } : {}) }),
  );
  const groups = spawnGroupCoordinator(node, {
    config,
    registry,
    clock,
    controllerClient,
    ...(options.groupConfig ? { groupConfig: options.groupConfig } : {}),
    ...(options.offsetsRetention ? { offsetsRetention: options.offsetsRetention } : {}),
  });
  const brokerRef = { node: node.nodeId, path: '/broker' };
  // The dynamic log.level moves the node's root logger; pino's children (every actor's) follow it.
  const startLevel = node.log.level;
  const setLogLevel = (level: string | null): void => {
    const next = level ?? startLevel;
    if (node.log.level === next) return;
    node.log.warn({ from: node.log.level, to: next }, 'broker.log_level_changed');
    node.log.level = next;
  };
  const transactions = spawnTxnCoordinator(node, { config, registry, clock, controllerClient, broker: brokerRef, ...(options.txnConfig ? { txnConfig: options.txnConfig } : {}) });
  const broker = node.spawn(
    'broker',
    brokerBehaviour({ config, registry, clock, controllerClient, fetchServer, replicasParent, fetchersParent, groupCoordinator: groups.groups, transactionCoordinator: transactions.transactions, setLogLevel, ...(options.security ? { security: options.security } : {}), ...(options.metrics ? { metrics: options.metrics } : {}) }),
  );
  return { registry, broker, groups: groups.groups, transactions: transactions.transactions, close: () => registry.closeAll() };
}
