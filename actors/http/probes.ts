/**
 * The broker's own HTTP endpoints, tried before any handler a caller adds
 * (the web console): `/metrics`, `/health`, `/ready`.
 *
 * Owns: `brokerProbeHandlers`.
 *
 * - GET /metrics: the broker's registry in Prometheus' text format
 *   (actors/metrics/broker-metrics.ts; not served with metrics.enabled=false).
 * - GET /health: liveness, what a Kubernetes livenessProbe asks: 200
 *   `{"status":"ok"}` while the process serves (its node is not stopping),
 *   503 once it stops. It says nothing about the cluster, on purpose: a
 *   broker cut off from the controller is alive and must not be restarted
 *   for it.
 * - GET /ready: readiness (actors/broker/readiness.ts), what a readinessProbe
 *   or a load balancer asks: 200 when registered, unfenced and caught up on
 *   metadata, else 503; the JSON body names each check and whether it holds,
 *   so the 503 says which fails.
 * Any other method on these paths: 405 with an Allow header.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node } from '../../runtime/node.ts';
import type { BrokerConfig } from '../broker/config.ts';
import { readiness } from '../broker/readiness.ts';
import { controllerClientStatus } from '../controller/client.ts';
import type { BrokerMetrics } from '../metrics/broker-metrics.ts';
import { sendError, sendJson, type HttpHandler } from './listener.ts';

/** Refuses anything but GET (and HEAD) on a probe path; true when it answered. */
function refusedMethod(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false;
  response.setHeader('allow', 'GET, HEAD');
  sendError(response, 405, 'METHOD_NOT_ALLOWED', `${request.method ?? ''} is not allowed here (GET)`);
  return true;
}

export function brokerProbeHandlers(deps: { node: Node; config: BrokerConfig; metrics: BrokerMetrics }): HttpHandler[] {
  const { node, config, metrics } = deps;
  return [
    async (request, response, url) => {
      if (url.pathname !== '/metrics' || !metrics.enabled) return false;
      if (refusedMethod(request, response)) return true;
      const text = await metrics.text();
      response.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      response.end(request.method === 'HEAD' ? undefined : text);
      return true;
    },
    (request, response, url) => {
      if (url.pathname !== '/health') return false;
      if (refusedMethod(request, response)) return true;
      if (node.isStopping()) sendJson(response, 503, { status: 'stopping', brokerId: config.brokerId });
      else sendJson(response, 200, { status: 'ok', brokerId: config.brokerId });
      return true;
    },
    (request, response, url) => {
      if (url.pathname !== '/ready') return false;
      if (refusedMethod(request, response)) return true;
      const answer = readiness(controllerClientStatus(node), config);
      sendJson(response, answer.ready ? 200 : 503, { ready: answer.ready, brokerId: config.brokerId, checks: answer.checks });
      return true;
    },
  ];
}
