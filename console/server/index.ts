/**
 * The web console of a broker, served by its HTTP listener (#21): the page
 * (assets.ts), the JSON API under /api/ (api.ts, browser.ts, stats.ts), and
 * the clients through which the API reaches the cluster (clients.ts).
 * `consoleHandlers` returns them in the order the listener tries them;
 * `close` ends the clients.
 */
import type { Logger } from '../../runtime/logger.ts';
import type { SaslOptions } from '../../client/options.ts';
import { consoleApiHandler } from './api.ts';
import { consoleAssetsHandler } from './assets.ts';
import { ConsoleClients } from './clients.ts';
import { consoleStatsHandler, type LatencySource } from './stats.ts';
import type { HttpHandler } from './http.ts';

export type ConsoleOptions = {
  /** The broker's own native URL. */
  url: string;
  ca?: string;
  saslMechanism?: SaslOptions['mechanism'];
  /** The broker's request-duration histogram, for the latency chart (null: metrics off). */
  latency: LatencySource | null;
  log: Logger;
};

export function consoleHandlers(options: ConsoleOptions): { handlers: HttpHandler[]; close(): Promise<void> } {
  const clients = new ConsoleClients({ url: options.url, log: options.log, ...(options.ca === undefined ? {} : { ca: options.ca }), ...(options.saslMechanism === undefined ? {} : { saslMechanism: options.saslMechanism }) });
  return {
    handlers: [consoleStatsHandler(options.latency), consoleApiHandler(clients), consoleAssetsHandler()],
    close: () => clients.close(),
  };
}

export type { HttpHandler } from './http.ts';
