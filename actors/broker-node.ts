/**
 * A broker node: one process's runtime Node with the actors every broker runs.
 *
 * Owns: starting the Node (node id = nodeIdOf(brokerId), listening on
 * listenHost:listenPort, advertising advertiseUrl or the listener's URL, the
 * voters as known peers), spawning `/controller` when this broker id is one
 * of controller.quorum.voters or process.roles names controller (#17), then `/controller-client` (always), then the
 * data path through the `extraActors` hook; and stopping it all.
 *
 * Order matters: the controller client must exist before the data path asks it
 * for metadata, and on a voter the local /controller exists before the client
 * long-polls it (a fetch that arrives while the store is still opening is
 * parked, not refused).
 *
 * Stopping (graceful, SIGTERM), in this order:
 *  1. controlled shutdown (controlled.shutdown.enable, KRaft's wantShutDown):
 *     the controller client heartbeats wantFence, the controller moves every
 *     leadership off this broker and takes it out of the ISRs in the entry
 *     that fences it, and we wait (controlled.shutdown.timeout.ms at most)
 *     until our own image shows that, so our replicas have turned followers
 *     and answer NOT_LEADER_OR_FOLLOWER (retriable: clients refresh metadata
 *     and go to the new leaders) instead of vanishing under their clients;
 *  2. a short drain (controlledShutdownDrainMs): replies already on their way
 *     (parked produces answered NOT_LEADER_OR_FOLLOWER, fetches) leave before
 *     the links close;
 *  3. a voter that leads the quorum hands Raft leadership to the most
 *     caught-up follower. This comes after 1 on purpose: on the active
 *     controller the fence must commit while we still lead, or it would wait
 *     for an election;
 *  4. every actor stops, deepest first, while the links still work (so the
 *     controller's death watch fences this broker at once if step 1 could
 *     not), the controller's store closes, and the node stops.
 * A SIGKILL skips all of it: the death watch or the session timeout fences
 * the broker, and leadership moves then.
 *
 * The HTTP listener (http.listener, off by default) starts last, once the
 * actors exist, so its handlers never see a half-built node: first
 * /metrics, /health and /ready (actors/http/probes.ts), then the caller's
 * `httpHandlers` (the web console). It closes after the controlled shutdown
 * (so /ready answers 503 while leadership moves away) and before the actors
 * stop. The metrics (actors/metrics/broker-metrics.ts) exist from the start:
 * the Node counts native requests into them, the Kafka listeners' handler is
 * wrapped by them, and the data plane gets them through `extraActors`.
 *
 * What it must not do: domain logic. The `kactus broker` CLI and
 * actors/broker-main.ts both call `startBrokerNode`.
 */
import type { Clock } from '../runtime/clock.ts';
import type { FaultPlan } from '../runtime/faults.ts';
import type { RuntimeLimits } from '../runtime/limits.ts';
import type { Logger } from '../runtime/logger.ts';
import { Node } from '../runtime/node.ts';
import type { Ref } from '../runtime/ref.ts';
import type { Transport } from '../runtime/transport.ts';
import { readPemKeystore, readPemTruststore, type TlsSettings } from '../runtime/tls.ts';
import { authorizerEnabled, listenerUsesSasl, listenerUsesTls, nodeIdOf, runsController, type BrokerConfig, type KafkaListenerAddress } from './broker/config.ts';
import { createKafkaHandler, servedApiVersions } from './kafka/handlers.ts';
import { startKafkaListener, type KafkaListener } from './kafka/listener.ts';
import { SecurityView } from './security/view.ts';
import { spawnSecurity } from './security/actor.ts';
import { AttemptLimiter } from '../protocol/sasl/attempt-limiter.ts';
import { SaslServerSession, saslMechanismsOffered, type SaslMechanism } from '../protocol/sasl/server-session.ts';
import type { ClientAuthenticator } from '../runtime/client-auth.ts';
import type { BrokerListener } from './controller/metadata/index.ts';
import { resolveClusterSecret } from './broker/cluster-secret.ts';
import { controllerStopped, resignLeadership, spawnController } from './controller/actor.ts';
import { controlledShutdown, spawnControllerClient } from './controller/client.ts';
import type { ControllerClientMessage, ControllerMessage } from './controller/messages.ts';
import { BrokerMetrics } from './metrics/broker-metrics.ts';
import { startHttpListener, type HttpHandler, type HttpListener } from './http/listener.ts';
import { brokerProbeHandlers } from './http/probes.ts';

/** What a caller's HTTP handlers (the web console) are built from: the node, its config, its controller client and metrics. */
export type BrokerHttpContext = { node: Node; config: BrokerConfig; controllerClient: Ref<ControllerClientMessage>; metrics: BrokerMetrics };

/** How long stop() waits for the controller's store to close. */
export const storeCloseWaitMsMax = 5_000;

/**
 * After a controlled shutdown, how long the broker keeps its links open for
 * replies already on their way (a few round trips on a LAN, far below any
 * client's request timeout).
 */
export const controlledShutdownDrainMs = 200;

export type BrokerNodeOptions = {
  /** Runtime plumbing, for tests: the in-memory transport, fault plan, clock, limits, logger. */
  transport?: Transport;
  faults?: FaultPlan;
  clock?: Clock;
  limits?: Partial<RuntimeLimits>;
  logger?: Logger;
  /** Seed of the controller's Raft randomness (default: from the node's incarnation). */
  seed?: number;
  /** Snapshot the metadata image after this many log entries (default: controllerLimits.logEntriesBeforeSnapshotMax). */
  controllerLogEntriesBeforeSnapshotMax?: number;
  /** Total time a ControllerCall may take (default 30 s). */
  requestTimeoutMs?: number;
  /** The cluster secret (default: resolveClusterSecret: environment, cluster.secret.file, the data dir). */
  clusterSecret?: Uint8Array;
  /** A top-level actor gave up after its restarts (default: log only). broker-main exits the process. */
  onGiveUp?: (path: string, error: unknown) => void;
  /**
   * HOOK FOR THE DATA PATH: spawn `/broker`, `/replicas`, `/fetchers` here.
   * Called once, after `/controller` (on voters) and `/controller-client` exist.
   * Use `controllerClient` for SubscribeMetadata and ControllerCall.
   */
  extraActors?: (node: Node, controllerClient: Ref<ControllerClientMessage>, security: SecurityView, metrics: BrokerMetrics) => void;
  /**
   * More handlers for the HTTP listener (when http.listener is set), tried after /metrics, /health and
   * /ready, in order: the web console and its JSON API.
   */
  httpHandlers?: (context: BrokerHttpContext) => HttpHandler[];
};

export type BrokerNode = {
  readonly node: Node;
  readonly config: BrokerConfig;
  /** `/controller` on voter nodes, else null. */
  readonly controller: Ref<ControllerMessage> | null;
  readonly controllerClient: Ref<ControllerClientMessage>;
  /** The Kafka listeners as registered (advertised addresses, bound ports). */
  readonly kafkaListeners: readonly BrokerListener[];
  /** The HTTP listener (http.listener), or null when none is configured. */
  readonly http: HttpListener | null;
  /** This broker's metrics; `metrics.registry` is the prom-client Registry /metrics serves. */
  readonly metrics: BrokerMetrics;
  /** Stops every actor and the listener. Idempotent. */
  stop(): Promise<void>;
};

export async function startBrokerNode(config: BrokerConfig, options: BrokerNodeOptions = {}): Promise<BrokerNode> {
  const nodeId = nodeIdOf(config.brokerId);
  const peers: Record<string, string> = {};
  for (const [voterId, url] of config.controllerQuorumVoters) if (voterId !== config.brokerId) peers[nodeIdOf(voterId)] = url;
  const clusterSecret = options.clusterSecret ?? resolveClusterSecret(config);
  // SASL credentials come from the metadata image (/security keeps the view current); failed attempts are limited per address across all listeners.
  const security = new SecurityView(authorizerEnabled(config) ? { superUsers: new Set(config.superUsers), allowIfNoAcl: config.allowEveryoneIfNoAclFound } : null);
  const authenticationLimiter = new AttemptLimiter();
  const saslSession = (mechanism: SaslMechanism, address: string): SaslServerSession =>
    new SaslServerSession(mechanism, { lookup: (user, m) => security.scramCredential(user, m), limiter: authenticationLimiter, address, nowMs: () => performance.now() });
  const clientAuthenticator: ClientAuthenticator | undefined =
    config.nativeClientAuthentication === 'sasl'
      ? {
          mechanisms: (secure) => saslMechanismsOffered(config.saslEnabledMechanisms, secure),
          start: (mechanism, address) => saslSession(mechanism as SaslMechanism, address),
          failedDelayMs: config.connectionFailedAuthenticationDelayMs,
        }
      : undefined;
  const metrics = new BrokerMetrics({ enabled: config.metricsEnabled });
  const node = await Node.start({
    ...(metrics.requestObserver === undefined ? {} : { requestObserver: metrics.requestObserver }),
    ...(clientAuthenticator === undefined ? {} : { clientAuthenticator }),
    ...(security.authorizer === null ? {} : { authorizer: (caller, path, message) => security.authorizeRequest(caller, path, message) }),
    nodeId,
    clusterSecret,
    ...(config.sslKeystoreLocation === null ? {} : { tls: brokerTls(config) }),
    listen: { host: config.listenHost, port: config.listenPort },
    ...(config.advertiseUrl !== null ? { advertiseUrl: config.advertiseUrl } : {}),
    peers,
    ...(options.transport ? { transport: options.transport } : {}),
    ...(options.faults ? { faults: options.faults } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    onGiveUp: (path, error) => {
      node.log.error({ path, err: error }, 'broker_node.actor_gave_up');
      options.onGiveUp?.(path, error);
    },
  });
  // The Kafka listeners bind before the broker registers, so that it registers the ports they got.
  const kafkaListeners: KafkaListener[] = [];
  try {
    for (const address of config.kafkaListeners) {
      const tls = listenerUsesTls(address.name);
      const sasl = listenerUsesSasl(address.name);
      kafkaListeners.push(
        await startKafkaListener({
          host: address.host,
          port: address.port,
          handler: metrics.instrumentKafkaHandler(createKafkaHandler({ node, listenerName: address.name, sasl, log: node.log, ...(security.authorizer === null ? {} : { security }) })),
          apiVersions: () => servedApiVersions(sasl),
          log: node.log.child({ listener: address.name }),
          ...(tls ? { tls: brokerTls(config) } : {}),
          ...(sasl
            ? {
                sasl: {
                  mechanisms: saslMechanismsOffered(config.saslEnabledMechanisms, tls),
                  startSession: saslSession,
                  failedAuthenticationDelayMs: config.connectionFailedAuthenticationDelayMs,
                },
              }
            : {}),
        }),
      );
    }
  } catch (err) {
    for (const listener of kafkaListeners) await listener.close();
    await node.stop();
    throw err;
  }
  const registeredListeners = config.kafkaListeners.map((address, i) => advertisedAddress(config, address, kafkaListeners[i]!.port));
  const isVoter = config.controllerQuorumVoters.has(config.brokerId);
  // A bootstrap voter, or a node with the controller role that joins the quorum by AddVoter (#17).
  const controller = runsController(config)
    ? spawnController(node, {
        config,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.controllerLogEntriesBeforeSnapshotMax !== undefined ? { logEntriesBeforeSnapshotMax: options.controllerLogEntriesBeforeSnapshotMax } : {}),
      })
    : null;
  const controllerClient = spawnControllerClient(node, {
    config,
    listeners: registeredListeners,
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
  });
  spawnSecurity(node, security, controllerClient);
  metrics.bindNode({ node, config, kafkaConnections: () => kafkaListeners.reduce((n, l) => n + l.connectionCount(), 0) });
  options.extraActors?.(node, controllerClient, security, metrics);
  let http: HttpListener | null = null;
  if (config.httpListener !== null) {
    const context: BrokerHttpContext = { node, config, controllerClient, metrics };
    try {
      http = await startHttpListener({
        host: config.httpListener.host,
        port: config.httpListener.port,
        handlers: [...brokerProbeHandlers({ node, config, metrics }), ...(options.httpHandlers?.(context) ?? [])],
        log: node.log.child({ listener: 'http' }),
      });
    } catch (err) {
      for (const listener of kafkaListeners) await listener.close();
      for (const path of node.actorPaths().sort((a, b) => b.split('/').length - a.split('/').length)) node.stopActor({ node: node.nodeId, path });
      await node.stop();
      throw err;
    }
  }
  node.log.info({ brokerId: config.brokerId, voter: isVoter, url: node.url ?? null, http: http?.url ?? null }, 'broker_node.started');
  let stopping: Promise<void> | undefined;
  const stopAll = async (): Promise<void> => {
    // Leadership of partitions moves off this broker first (the fence commits while we may still lead the quorum).
    if (config.controlledShutdownEnable) {
      const startedMs = node.clock.monotonicMs();
      const outcome = await controlledShutdown(node, config.controlledShutdownTimeoutMs);
      node.log.info({ outcome, waitedMs: node.clock.monotonicMs() - startedMs }, 'broker_node.controlled_shutdown');
      if (outcome === 'fenced') await new Promise((resolve) => setTimeout(resolve, controlledShutdownDrainMs));
    }
    // An active controller then hands its leadership over (TimeoutNow): the quorum need not wait an election timeout.
    if (isVoter) await resignLeadership(node, 2 * config.controllerElectionTicks * config.controllerTickMs);
    // Node.stop() does not stop the actors (nact's system stop misses them), so stop every actor
    // here, deepest first, while the links still work: watchers elsewhere get Terminated('stopped'),
    // and the controller's death watch fences this broker at once instead of after a timeout.
    await http?.close();
    for (const listener of kafkaListeners) await listener.close();
    const paths = node.actorPaths().sort((a, b) => b.split('/').length - a.split('/').length);
    for (const path of paths) node.stopActor({ node: node.nodeId, path });
    // The controller's store closes after its actor stopped: wait (bounded) so the data dir can be reopened at once.
    if (isVoter) await Promise.race([controllerStopped(node), new Promise((resolve) => setTimeout(resolve, storeCloseWaitMsMax))]);
    await node.stop();
  };
  return {
    node,
    config,
    controller,
    controllerClient,
    kafkaListeners: registeredListeners,
    http,
    metrics,
    stop: async () => {
      if (stopping === undefined) stopping = stopAll();
      return stopping;
    },
  };
}

/**
 * What Kafka clients are told to dial for a listener: its advertised.listeners entry, else the
 * listen address with the port it bound (a wildcard host is replaced by the native listener's
 * advertised host, as Kafka uses the canonical host name).
 */
function advertisedAddress(config: BrokerConfig, address: KafkaListenerAddress, boundPort: number): BrokerListener {
  const advertised = config.kafkaAdvertisedListeners.find((l) => l.name === address.name);
  if (advertised !== undefined) return { name: address.name, host: advertised.host, port: advertised.port === 0 ? boundPort : advertised.port };
  const wildcard = address.host === '0.0.0.0' || address.host === '::' || address.host === '';
  const nativeHost = config.advertiseUrl !== null ? new URL(config.advertiseUrl).hostname : config.listenHost;
  return { name: address.name, host: wildcard ? nativeHost : address.host, port: boundPort };
}

/** The native listener's TLS (config.sslKeystoreLocation set): its keystore, and the truststore for peers and clients. */
function brokerTls(config: BrokerConfig): TlsSettings {
  const store = readPemKeystore(config.sslKeystoreLocation!);
  return {
    ...store,
    ...(config.sslTruststoreLocation === null ? {} : { ca: readPemTruststore(config.sslTruststoreLocation) }),
    clientAuth: config.sslClientAuth,
  };
}
