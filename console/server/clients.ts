/**
 * The console's clients of its own broker: the API reads and writes the
 * cluster through the public client (Admin, the group-less reader), over the
 * broker's own native listener, so a console request passes exactly the
 * checks a CLI command passes: validation, internal-topic guards, and, where
 * the broker authenticates its native clients (native.client.authentication
 * =sasl), SASL and the ACLs of the user who asked. Such a broker asks the
 * browser for HTTP Basic credentials and logs in with them (SCRAM-SHA-256 or
 * the first mechanism it offers); each user gets a client of their own.
 *
 * Bounds: at most clientsMax clients (the least recently used one is closed
 * for a newcomer); one idle for clientIdleMsMax is closed.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Kactus, type ClientContext } from '../../client/kactus.ts';
import type { SaslOptions } from '../../client/options.ts';
import type { Logger } from '../../runtime/logger.ts';
import { HttpError } from './http.ts';

export const consoleClientLimits = {
  /** Distinct users with a client at once. */
  clientsMax: 16,
  /** A client nobody used for this long is closed. */
  clientIdleMsMax: 5 * 60_000,
  connectTimeoutMs: 5_000,
  requestTimeoutMs: 15_000,
} as const;

export type ConsoleClient = { kactus: Kactus; context: ClientContext };

export type ConsoleClientsOptions = {
  /** The broker's own native URL (ws:// or wss://). */
  url: string;
  /** The CA that signed the native listener's certificate (wss://). */
  ca?: string;
  /** Set when the broker authenticates native clients: the mechanism the console logs in with. */
  saslMechanism?: SaslOptions['mechanism'];
  log: Logger;
};

type Entry = { client: Promise<ConsoleClient>; lastUsedMs: number };

export class ConsoleClients {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: ConsoleClientsOptions) {
    this.sweeper = setInterval(() => this.sweep(), consoleClientLimits.clientIdleMsMax / 4);
    this.sweeper.unref();
  }

  /** Whether requests must carry credentials (the page asks for them on a 401). */
  get authenticates(): boolean {
    return this.options.saslMechanism !== undefined;
  }

  /** The client for this request's user; 401 when credentials are needed and missing or refused. */
  async clientFor(request: IncomingMessage): Promise<ConsoleClient> {
    const sasl = this.credentials(request);
    const key = sasl === undefined ? '' : createHash('sha256').update(`${sasl.username}\0${sasl.password}`).digest('hex');
    let entry = this.entries.get(key);
    if (entry === undefined) {
      if (this.entries.size >= consoleClientLimits.clientsMax) this.closeOldest();
      entry = { client: this.open(sasl), lastUsedMs: Date.now() };
      this.entries.set(key, entry);
      // A login that fails is forgotten, so the next request tries again (with other credentials, say).
      entry.client.catch(() => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      });
    }
    entry.lastUsedMs = Date.now();
    try {
      return await entry.client;
    } catch (err) {
      if (sasl !== undefined) throw new HttpError(401, 'SASL_AUTHENTICATION_FAILED', `the broker refused the login of ${sasl.username}: ${(err as Error).message}`);
      throw err;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.client.then((c) => c.kactus.close({ timeoutMs: 2_000 }), () => undefined).catch(() => undefined)));
  }

  private credentials(request: IncomingMessage): SaslOptions | undefined {
    if (this.options.saslMechanism === undefined) return undefined;
    const header = request.headers.authorization ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(header);
    const decoded = match === null ? '' : Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new HttpError(401, 'SASL_AUTHENTICATION_FAILED', 'this broker authenticates its clients: sign in with a SCRAM user of the cluster');
    return { mechanism: this.options.saslMechanism, username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }

  private async open(sasl: SaslOptions | undefined): Promise<ConsoleClient> {
    const kactus = new Kactus({
      brokers: [this.options.url],
      clientId: 'kactus-console',
      connectTimeoutMs: consoleClientLimits.connectTimeoutMs,
      requestTimeoutMs: consoleClientLimits.requestTimeoutMs,
      retriesMax: 2,
      logger: this.options.log,
      ...(this.options.ca === undefined ? {} : { ssl: { ca: this.options.ca } }),
      ...(sasl === undefined ? {} : { sasl }),
    });
    try {
      return { kactus, context: await kactus.context() };
    } catch (err) {
      await kactus.close({ timeoutMs: 1_000 }).catch(() => undefined);
      throw err;
    }
  }

  private closeOldest(): void {
    let oldest: [string, Entry] | undefined;
    for (const item of this.entries) if (oldest === undefined || item[1].lastUsedMs < oldest[1].lastUsedMs) oldest = item;
    if (oldest === undefined) return;
    this.entries.delete(oldest[0]);
    void oldest[1].client.then((c) => c.kactus.close({ timeoutMs: 2_000 }), () => undefined).catch(() => undefined);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, entry] of [...this.entries]) {
      if (now - entry.lastUsedMs < consoleClientLimits.clientIdleMsMax) continue;
      this.entries.delete(key);
      void entry.client.then((c) => c.kactus.close({ timeoutMs: 2_000 }), () => undefined).catch(() => undefined);
    }
  }
}
