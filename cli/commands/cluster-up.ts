/**
 * `kactus cluster up`: a local cluster of N broker processes on this machine,
 * each a broker and a controller voter, ports base+1..base+N on 127.0.0.1,
 * data under --data/broker-<id>. Each broker also runs an HTTP listener
 * (/metrics, /health, /ready, the web console) on 127.0.0.1, broker i on
 * http-base-port+i-1 (9291, 9292, 9293 by default); `--no-http` runs none.
 *
 * It supervises its brokers the OTP way: a broker that exits unexpectedly is
 * restarted with exponential backoff (at most restartsMax within
 * restartWindowMs, then the cluster gives up and stops). It prints a
 * status line as each broker listens, then "cluster ready" with the
 * bootstrap addresses once the controller has registered them all. On Ctrl-C
 * (SIGINT) or SIGTERM it stops every broker with SIGTERM, waits for them
 * (SIGKILL after stopTimeoutMs), and exits: nothing is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import { UsageError, printError, printLine } from '../output.ts';
import type { CommandSpec, Parsed } from '../parser.ts';
import { brokerProcessArgs } from '../broker-process.ts';
import { devCertificateDays, makeDevCertificates } from '../dev-certs.ts';

export const clusterUpLimits = {
  brokersMax: 9,
  restartsMax: 5,
  restartWindowMs: 60_000,
  restartBackoffMsMin: 500,
  restartBackoffMsMax: 10_000,
  stopTimeoutMs: 10_000,
  /** Longest wait, once every broker listens, for all of them to be registered and unfenced. */
  registrationWaitMsMax: 30_000,
  /** Pause between two metadata reads while waiting. */
  registrationPollMs: 250,
} as const;

/** A broker's log line saying a client's link went unreachable or down (the client closed): routine, not a warning. */
export function isClientDeparture(line: string): boolean {
  if (!line.includes('"peer":"client-')) return false;
  try {
    const entry = JSON.parse(line) as { msg?: unknown; peer?: unknown };
    return typeof entry.peer === 'string' && entry.peer.startsWith('client-') && (entry.msg === 'peer.unreachable' || entry.msg === 'peer.down');
  } catch {
    return false;
  }
}

/** How many brokers the cluster's metadata lists (registered, unfenced), polled until `count`, `giveUp()` or the bound. */
async function registeredBrokers(bootstrap: string, count: number, giveUp: () => boolean, ca: string | undefined): Promise<number> {
  // Loaded here: `cluster up --help` and bad arguments stay quick.
  const { Kactus } = await import('../../client/kactus.ts');
  const { createLogger } = await import('../../runtime/logger.ts');
  const kactus = new Kactus({ ...(ca === undefined ? {} : { ssl: { ca } }), brokers: bootstrap.split(','), clientId: 'kactus-cluster-up', connectTimeoutMs: 5_000, requestTimeoutMs: 5_000, retriesMax: 1, logger: createLogger({ client: 'kactus-cluster-up' }, 'silent', 2) });
  let registered = 0;
  try {
    const deadlineMs = Date.now() + clusterUpLimits.registrationWaitMsMax;
    while (!giveUp() && Date.now() < deadlineMs) {
      registered = await kactus.admin().describeCluster().then((c) => c.brokers.length, () => registered);
      if (registered >= count) break;
      await new Promise((resolve) => setTimeout(resolve, clusterUpLimits.registrationPollMs));
    }
  } finally {
    await kactus.close({ timeoutMs: 2_000 }).catch(() => undefined);
  }
  return registered;
}

/** `--tls` remakes the development certificates when they are older than this (they are valid devCertificateDays). */
export const tlsRemakeAfterDays = 20;

export const clusterUpSpec: CommandSpec = {
  name: 'up',
  description: `Starts a local cluster: N broker processes (each also a controller voter) on
127.0.0.1, native ports base+1..base+N, data under DIR/broker-<id>. Each broker
also has a Kafka-protocol listener: broker i on kafka-base-port+i-1 (9092,
9093, 9094 by default), so Kafka tools connect to 127.0.0.1:9092.
Each broker serves HTTP (Prometheus /metrics, /health, /ready, the web
console) on 127.0.0.1, broker i on http-base-port+i-1 (9291, 9292, 9293 by
default; --no-http for none); the console is at http://127.0.0.1:9291/.
Ctrl-C stops them all. A second run on the same data directory finds the topics
and records of the first. Without --tls it is plaintext with no authentication
and no authorizer (every client may do everything): for this machine only.`,
  options: {
    brokers: { type: 'string', value: 'N', default: '3', help: `broker processes (1-${clusterUpLimits.brokersMax})` },
    data: { type: 'string', value: 'DIR', default: './data', help: 'where the brokers keep their data' },
    'base-port': { type: 'string', value: 'PORT', default: '9190', help: 'broker i listens on PORT+i (native protocol)' },
    'kafka-base-port': { type: 'string', value: 'PORT', default: '9092', help: 'broker i\'s Kafka listener is on PORT+i-1' },
    'http-base-port': { type: 'string', value: 'PORT', default: '9291', help: 'broker i\'s HTTP listener (metrics, health, console) is on PORT+i-1' },
    'no-http': { type: 'boolean', help: 'run no HTTP listener (no /metrics, no console)' },
    tls: { type: 'boolean', default: false, help: 'TLS everywhere, with a throwaway local CA (below)' },
    set: { type: 'string', value: 'key=value', multiple: true, default: [], help: 'a Kafka config for every broker' },
  },
  notes: `--tls  a throwaway local CA and broker certificate in DIR/tls (made with the
       openssl command, valid ${devCertificateDays} days, remade when older than ${tlsRemakeAfterDays}): the native
       listeners serve wss://, brokers talk TLS to each other, the Kafka
       listeners are SSL://. Clients trust DIR/tls/ca.pem (KACTUS_SSL_CA for
       kactus commands, ssl.ca.location for kcat).`,
  run: clusterUp,
};

/** The development CA and broker keystore in `dir`: kept from an earlier run while young enough, else made anew. */
function developmentTls(dir: string): { caPath: string; keystore: string; ca: string } {
  const caPath = join(dir, 'ca.pem');
  const keystore = join(dir, 'broker.keystore.pem');
  const young = (path: string): boolean => existsSync(path) && Date.now() - statSync(path).mtimeMs < tlsRemakeAfterDays * 86_400_000;
  if (!young(caPath) || !young(keystore)) {
    try {
      makeDevCertificates(dir, ['broker']);
    } catch (err) {
      throw new UsageError(`--tls: ${(err as Error).message}`);
    }
    printLine(`kactus: made a development CA and broker certificate in ${dir} (openssl, valid ${devCertificateDays} days)`);
  }
  return { caPath, keystore, ca: readFileSync(caPath, 'utf8') };
}

type Broker = { id: number; port: number; kafkaPort: number; httpPort: number | null; child: ChildProcess | null; restarts: number[]; ready: boolean };

async function clusterUp(parsed: Parsed): Promise<number> {
  const values = parsed.values as { brokers: string; data: string; 'base-port': string; 'kafka-base-port': string; 'http-base-port': string; 'no-http'?: boolean; set: string[]; tls: boolean };
  const count = Number(values.brokers);
  const basePort = Number(values['base-port']);
  if (!Number.isInteger(count) || count < 1 || count > clusterUpLimits.brokersMax) throw new UsageError(`--brokers must be 1-${clusterUpLimits.brokersMax}, got "${values.brokers}"`);
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort + count > 65_535) throw new UsageError(`--base-port must be 1024-${65_535 - count}, got "${values['base-port']}"`);
  const kafkaBasePort = Number(values['kafka-base-port']);
  if (!Number.isInteger(kafkaBasePort) || kafkaBasePort < 1024 || kafkaBasePort + count - 1 > 65_535) throw new UsageError(`--kafka-base-port must be 1024-${65_536 - count}, got "${values['kafka-base-port']}"`);
  if (kafkaBasePort <= basePort + count && basePort + 1 <= kafkaBasePort + count - 1) throw new UsageError(`--kafka-base-port ${kafkaBasePort}: the Kafka ports ${kafkaBasePort}-${kafkaBasePort + count - 1} overlap the native ports ${basePort + 1}-${basePort + count}`);
  // commander reads a lone --no-http as "http is false": the value is false when given, and true (or unset) when not.
  const httpOn = values['no-http'] !== false;
  const httpBasePort = Number(values['http-base-port']);
  if (httpOn) {
    if (!Number.isInteger(httpBasePort) || httpBasePort < 1024 || httpBasePort + count - 1 > 65_535) throw new UsageError(`--http-base-port must be 1024-${65_536 - count}, got "${values['http-base-port']}" (--no-http for no HTTP listener)`);
    const overlaps = (from: number, to: number): boolean => httpBasePort <= to && from <= httpBasePort + count - 1;
    if (overlaps(basePort + 1, basePort + count) || overlaps(kafkaBasePort, kafkaBasePort + count - 1)) throw new UsageError(`--http-base-port ${httpBasePort}: the HTTP ports ${httpBasePort}-${httpBasePort + count - 1} overlap the native or Kafka ports`);
  }
  const dataDir = resolve(values.data);
  mkdirSync(dataDir, { recursive: true });
  const brokers: Broker[] = Array.from({ length: count }, (_, i) => ({ id: i + 1, port: basePort + i + 1, kafkaPort: kafkaBasePort + i, httpPort: httpOn ? httpBasePort + i : null, child: null, restarts: [], ready: false }));
  const quorum = brokers.map((b) => `${b.id}@127.0.0.1:${b.port}`).join(',');
  const scheme = values.tls ? 'wss' : 'ws';
  const bootstrap = brokers.map((b) => `${scheme}://127.0.0.1:${b.port}`).join(',');
  const kafkaBootstrap = brokers.map((b) => `127.0.0.1:${b.kafkaPort}`).join(',');
  let stopping = false;

  printLine(`kactus: starting ${count} broker${count > 1 ? 's' : ''}, data in ${dataDir}`);
  const tls = values.tls ? developmentTls(join(dataDir, 'tls')) : undefined;
  const tlsSettings = tls === undefined ? [] : [`ssl.keystore.location=${tls.keystore}`, `ssl.truststore.location=${tls.caPath}`];
  const kafkaListenerName = tls === undefined ? 'PLAINTEXT' : 'SSL';
  // The brokers' shared secret (peer authentication): made once, kept with the data, so a second run finds it.
  const { ensureClusterSecretFile, clusterSecretFileName } = await import('../../actors/broker/cluster-secret.ts');
  const secretFile = ensureClusterSecretFile(join(dataDir, clusterSecretFileName));

  const start = (broker: Broker): void => {
    const args = [...brokerProcessArgs(), '--node-id', String(broker.id), '--listen', `127.0.0.1:${broker.port}`, '--controller-quorum', quorum, '--data', join(dataDir, `broker-${broker.id}`)];
    args.push('--set', `cluster.secret.file=${secretFile}`, '--set', `listeners=${kafkaListenerName}://127.0.0.1:${broker.kafkaPort}`);
    if (broker.httpPort !== null) args.push('--set', `http.listener=127.0.0.1:${broker.httpPort}`);
    for (const setting of tlsSettings) args.push('--set', setting);
    for (const setting of values.set ?? []) args.push('--set', setting);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } });
    broker.child = child;
    broker.ready = false;
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as { event?: string; http?: string };
        if (line.event === 'ready') {
          broker.ready = true;
          const up = brokers.filter((b) => b.ready).length;
          printLine(`kactus: broker ${broker.id} up on ${scheme}://127.0.0.1:${broker.port}${typeof line.http === 'string' ? `, HTTP ${line.http}` : ''} (${up}/${count} up)`);
          if (up === count) void announceReady();
        }
      } catch {
        // not a control line
      }
    });
    // Broker logs (pino JSON on stderr) go to our stderr, prefixed by nothing: pipe them to pino-pretty to read.
    // Except a client going away (every `kactus` command, every example): the runtime logs its link
    // becoming unreachable, then down, at warn, which here would be two lines per command in npm start's terminal.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (isClientDeparture(line)) return;
      process.stderr.write(`${line}\n`);
    });
    child.once('exit', (code, signal) => {
      broker.child = null;
      broker.ready = false;
      if (stopping) return;
      const nowMs = Date.now();
      broker.restarts = broker.restarts.filter((t) => nowMs - t < clusterUpLimits.restartWindowMs);
      if (broker.restarts.length >= clusterUpLimits.restartsMax) {
        printError(`broker ${broker.id} exited (${code ?? signal}) ${broker.restarts.length} times in ${clusterUpLimits.restartWindowMs / 1000} s; giving up`);
        void stopAll(1);
        return;
      }
      const delayMs = Math.min(clusterUpLimits.restartBackoffMsMax, clusterUpLimits.restartBackoffMsMin * 2 ** broker.restarts.length);
      broker.restarts.push(nowMs);
      printError(`broker ${broker.id} exited (${code ?? signal}); restarting in ${delayMs} ms`);
      setTimeout(() => {
        if (!stopping) start(broker);
      }, delayMs);
    });
  };

  /**
   * Listening is not yet serving: a broker must also register with the
   * controller and be unfenced before topics can be placed on it (a
   * replication factor 3 topic created earlier is refused). "cluster ready"
   * is printed once the metadata lists every broker, at most
   * registrationWaitMsMax after the last one listened.
   */
  let announcing = false;
  const announceReady = async (): Promise<void> => {
    if (announcing) return;
    announcing = true;
    const registered = await registeredBrokers(bootstrap, count, () => stopping || brokers.some((b) => !b.ready), tls?.ca).catch(() => 0);
    announcing = false;
    if (stopping || brokers.some((b) => !b.ready)) return;
    if (registered < count) printError(`only ${registered} of ${count} brokers registered with the controller after ${clusterUpLimits.registrationWaitMsMax / 1000} s; see the broker logs above`);
    const first = brokers[0]!;
    if (first.httpPort !== null) printLine(`kactus: console http://127.0.0.1:${first.httpPort}/  (each broker serves /metrics, /health and /ready at its HTTP URL above)`);
    if (tls === undefined) {
      printLine(`kactus: cluster ready. Connect with bootstrap ${bootstrap}  (KACTUS_BOOTSTRAP=${bootstrap}); Kafka clients: ${kafkaBootstrap}. Plaintext, no authentication, no authorizer (every client may do everything): for this machine only (--tls for TLS; a secure cluster: README, Running across machines)`);
    } else {
      printLine(`kactus: cluster ready (TLS, development CA ${tls.caPath}). Connect with bootstrap ${bootstrap}  (KACTUS_BOOTSTRAP=${bootstrap} KACTUS_SSL_CA=${tls.caPath}); Kafka clients: ${kafkaBootstrap} (security.protocol=ssl, ssl.ca.location=${tls.caPath})`);
    }
  };

  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });

  const stopAll = async (exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    printLine('kactus: stopping the cluster');
    const running = brokers.filter((b) => b.child !== null).map((b) => b.child!);
    await Promise.all(
      running.map(
        (child) =>
          new Promise<void>((resolveExit) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolveExit();
            const timer = setTimeout(() => child.kill('SIGKILL'), clusterUpLimits.stopTimeoutMs);
            child.once('exit', () => {
              clearTimeout(timer);
              resolveExit();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    printLine('kactus: cluster stopped');
    resolveDone(exitCode);
  };

  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));
  for (const broker of brokers) start(broker);
  return done;
}
