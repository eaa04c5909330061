/**
 * Assertions that stay on in production (TigerBeetle style).
 *
 * A failed assert is a bug in our code, never bad input: it throws, and
 * supervision resets the actor. Bad input from the network is validated and
 * answered with an error code instead (protocol/). Split compound conditions
 * into separate asserts so a failure names the broken one.
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Exhaustiveness check for discriminated unions: ends every `switch (msg.type)`. */
export function assertNever(value: never, what = 'value'): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`);
}
