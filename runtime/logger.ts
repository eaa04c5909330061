/**
 * Structured logs through pino: JSON by default (pipe to `pino-pretty` to
 * read), level from LOG_LEVEL (default info). One root logger per node bound
 * to its id; one child per actor bound to its path.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** `destinationFd` 2 sends logs to stderr, for processes whose stdout is a data or control channel. */
export function createLogger(bindings: Record<string, unknown> = {}, level = process.env.LOG_LEVEL ?? 'info', destinationFd: 1 | 2 = 1): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination({ fd: destinationFd, sync: false }));
}
