/**
 * Small validators that turn untrusted `unknown` (a decoded msgpack value)
 * into typed messages, or say what is wrong with a path to the bad field.
 *
 * Why hand-rolled: the shapes are few and flat, the hot path (produce,
 * fetch) must not pay for a general schema engine, and every failure must
 * become a Kafka error code (INVALID_REQUEST unless a field says otherwise),
 * never an exception that reaches an actor.
 */
import { ErrorCode } from './errors.ts';

export type Invalid = { readonly invalid: true; readonly errorCode: number; readonly errorMessage: string };
export type Validator<T> = (value: unknown, path: string) => T | Invalid;

export function invalid(path: string, problem: string, errorCode: number = ErrorCode.INVALID_REQUEST): Invalid {
  return { invalid: true, errorCode, errorMessage: `${path}: ${problem}` };
}

/**
 * A short printable form of an untrusted value, for error messages and logs.
 * Never calls into the value: `String(x)` or a template of an object runs its
 * `toString`/`valueOf` (a decoded `{ toString: 0 }` throws, a deep array
 * overflows the stack), so objects are named by their kind only.
 */
export function printable(value: unknown, maxChars = 64): string {
  switch (typeof value) {
    case 'string':
      return value.length > maxChars ? `${value.slice(0, maxChars)}...` : value;
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return `${value}`;
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return '<array>';
      if (value instanceof Uint8Array) return '<binary>';
      return '<map>';
    default:
      return `<${typeof value}>`;
  }
}

export function isInvalid(value: unknown): value is Invalid {
  return typeof value === 'object' && value !== null && (value as { invalid?: unknown }).invalid === true;
}

export const int = (min: number, max: number): Validator<number> => (value, path) =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : invalid(path, `must be an integer in [${min}, ${max}]`);

export const int32 = int(-(2 ** 31), 2 ** 31 - 1);
export const nonNegativeInt32 = int(0, 2 ** 31 - 1);
/** Offsets and ids are JS numbers: exact up to 2^53, far beyond any log we hold. */
export const offset = int(-2, Number.MAX_SAFE_INTEGER);
export const int64 = int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

export const string = (maxLength: number): Validator<string> => (value, path) =>
  typeof value === 'string' && value.length <= maxLength ? value : invalid(path, `must be a string of at most ${maxLength} characters`);

export const boolean: Validator<boolean> = (value, path) => (typeof value === 'boolean' ? value : invalid(path, 'must be a boolean'));

export const bytes = (maxBytes: number, tooLargeCode: number = ErrorCode.INVALID_REQUEST): Validator<Uint8Array> => (value, path) => {
  if (!(value instanceof Uint8Array)) return invalid(path, 'must be binary');
  return value.length <= maxBytes ? value : invalid(path, `is ${value.length} bytes, over the ${maxBytes} byte limit`, tooLargeCode);
};

export const oneOf = <T extends string | number>(...allowed: T[]): Validator<T> => (value, path) =>
  allowed.includes(value as T) ? (value as T) : invalid(path, `must be one of ${allowed.join(', ')}`);

export const nullable = <T>(inner: Validator<T>): Validator<T | null> => (value, path) => (value === null || value === undefined ? null : inner(value, path));

export const optional = <T>(inner: Validator<T>, fallback: T): Validator<T> => (value, path) => (value === undefined || value === null ? fallback : inner(value, path));

export const array = <T>(item: Validator<T>, maxItems: number): Validator<T[]> => (value, path) => {
  if (!Array.isArray(value)) return invalid(path, 'must be an array');
  if (value.length > maxItems) return invalid(path, `has ${value.length} items, over the limit of ${maxItems}`);
  const out: T[] = [];
  for (let i = 0; i < value.length; i += 1) {
    const checked = item(value[i], `${path}[${i}]`);
    if (isInvalid(checked)) return checked;
    out.push(checked);
  }
  return out;
};

export const record = <T>(item: Validator<T>, maxEntries: number): Validator<Record<string, T>> => (value, path) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return invalid(path, 'must be a map');
  const entries = Object.entries(value);
  if (entries.length > maxEntries) return invalid(path, `has ${entries.length} entries, over the limit of ${maxEntries}`);
  const out: Record<string, T> = {};
  for (const [key, v] of entries) {
    const checked = item(v, `${path}.${key}`);
    if (isInvalid(checked)) return checked;
    out[key] = checked;
  }
  return out;
};

type Shape = Record<string, Validator<unknown>>;
type Out<S extends Shape> = { [K in keyof S]: Exclude<ReturnType<S[K]>, Invalid> };

/** An object with exactly these fields checked; unknown extra fields are ignored (forward compatibility). */
export const object = <S extends Shape>(shape: S): Validator<Out<S>> => (value, path) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid(path, 'must be a map');
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(shape)) {
    const checked = shape[key]!(source[key], path === '' ? key : `${path}.${key}`);
    if (isInvalid(checked)) return checked;
    out[key] = checked;
  }
  return out as Out<S>;
};

/** A runtime Ref ({ node, path }) inside a message, e.g. replyTo. */
export const ref: Validator<{ node: string; path: string }> = (value, path) => {
  if (typeof value !== 'object' || value === null) return invalid(path, 'must be a ref');
  const candidate = value as { node?: unknown; path?: unknown };
  if (typeof candidate.node !== 'string' || candidate.node.length === 0 || candidate.node.length > 256) return invalid(path, 'ref.node must be a string');
  if (typeof candidate.path !== 'string' || !candidate.path.startsWith('/') || candidate.path.length > 1024) return invalid(path, 'ref.path must be an absolute path');
  return { node: candidate.node, path: candidate.path };
};
