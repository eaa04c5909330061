/**
 * Whether a broker is ready to serve: the one definition /ready answers with
 * (actors/http/probes.ts) and the `kactus_broker_ready` gauge reports
 * (actors/metrics/broker-metrics.ts).
 *
 * Owns: `readinessLimits` and `readiness(status, config)`, a pure function of
 * the controller client's status (actors/controller/client.ts
 * `controllerClientStatus`).
 *
 * Ready means all three hold (each is reported on its own, so a 503 says
 * which one fails):
 * 1. registered: the controller accepted this broker's registration
 *    (RegisterBroker answered; the broker has an epoch);
 * 2. unfenced: the last heartbeat answer said not fenced, and it came less
 *    than broker.session.timeout.ms ago. A broker that cannot reach the
 *    controller any more is fenced there once its session expires, but never
 *    hears it; the age of the last answer is what tells it. A broker in a
 *    controlled shutdown is not ready either (it is moving its leadership
 *    away on purpose);
 * 3. metadata caught up: the image is within `metadataLagEntriesMax` entries
 *    of the committed offset the controller last named, and a metadata fetch
 *    was answered within `metadataFetchAgeMsMax` (the long poll answers at
 *    least every clientLimits.fetchMaxWaitMs, 5 s, while the quorum is
 *    reachable). Why a margin and not 0: a fetch answer carries up to 1,024
 *    entries, so a broker replaying a long log is behind for a few answers,
 *    while a broker that follows the log is at 0 after each answer; a
 *    handful of entries behind is serving the current metadata for any
 *    client's purpose.
 *
 * Must not import the runtime or any actor: it reads a status snapshot only.
 */
import type { BrokerConfig } from './config.ts';
import type { ControllerClientStatus } from '../controller/client.ts';

export const readinessLimits = {
  /** Metadata log entries the image may be behind the committed offset last heard and still be ready. */
  metadataLagEntriesMax: 100,
  /** A metadata fetch answered longer ago than this (the long poll answers every 5 s at most): not caught up. */
  metadataFetchAgeMsMax: 15_000,
} as const;

export type ReadinessCheck = { readonly ok: boolean; readonly detail: string };

export type Readiness = {
  readonly ready: boolean;
  readonly checks: { readonly registered: ReadinessCheck; readonly unfenced: ReadinessCheck; readonly metadataCaughtUp: ReadinessCheck };
};

/** Readiness from the controller client's status (null: the node has no controller client yet). */
export function readiness(status: ControllerClientStatus | null, config: Pick<BrokerConfig, 'brokerSessionTimeoutMs'>): Readiness {
  if (status === null) {
    const missing: ReadinessCheck = { ok: false, detail: 'the controller client is not running yet' };
    return { ready: false, checks: { registered: missing, unfenced: missing, metadataCaughtUp: missing } };
  }
  const registered: ReadinessCheck =
    status.registration === 'registered'
      ? { ok: true, detail: `registered with broker epoch ${status.brokerEpoch}` }
      : { ok: false, detail: status.registration === 'registering' ? 'registration sent, not answered yet (no controller reachable?)' : 'not registered with the controller' };
  const heartbeatFresh = status.heartbeatAgeMs < config.brokerSessionTimeoutMs;
  const unfenced: ReadinessCheck = status.shuttingDown
    ? { ok: false, detail: 'in a controlled shutdown' }
    : !status.unfenced
      ? { ok: false, detail: status.registration === 'registered' ? 'fenced: the controller has not unfenced this broker' : 'not registered, so fenced' }
      : !heartbeatFresh
        ? { ok: false, detail: `no heartbeat answer for ${Math.round(status.heartbeatAgeMs)} ms (broker.session.timeout.ms ${config.brokerSessionTimeoutMs}): the controller may have fenced this broker` }
        : { ok: true, detail: `unfenced, last heartbeat answered ${Math.round(status.heartbeatAgeMs)} ms ago` };
  const lagEntries = status.committedOffsetHeard < 0 ? Infinity : Math.max(0, status.committedOffsetHeard - status.position);
  const metadataCaughtUp: ReadinessCheck =
    status.committedOffsetHeard < 0
      ? { ok: false, detail: 'no metadata fetch answered yet' }
      : status.fetchAgeMs > readinessLimits.metadataFetchAgeMsMax
        ? { ok: false, detail: `no metadata fetch answered for ${Math.round(status.fetchAgeMs)} ms (more than ${readinessLimits.metadataFetchAgeMsMax})` }
        : lagEntries > readinessLimits.metadataLagEntriesMax
          ? { ok: false, detail: `image at offset ${status.position}, ${lagEntries} entries behind the committed ${status.committedOffsetHeard} (more than ${readinessLimits.metadataLagEntriesMax})` }
          : { ok: true, detail: `image at offset ${status.position}, ${lagEntries} behind the committed ${status.committedOffsetHeard}` };
  return { ready: registered.ok && unfenced.ok && metadataCaughtUp.ok, checks: { registered, unfenced, metadataCaughtUp } };
}
