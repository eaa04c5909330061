/**
 * Structured logs through pino: JSON by default (pipe to `pino-pretty` to
 * read), level from LOG_LEVEL (default info). One root logger per node bound
 * to its id; one child per actor bound to its path.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(bindings: Record<string, unknown> = {}, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}
