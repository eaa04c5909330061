/**
 * Topic name rules, checked on the client before anything is sent (Kafka's
 * `Topic.validate`): 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
 * The broker checks again; this copy exists so bad input fails fast with
 * INVALID_TOPIC_EXCEPTION and a clear message (client/ may not import
 * actors/, where the controller's copy lives).
 */
import { ErrorCode, KactusError } from '../protocol/errors.ts';

export const topicNameLengthMax = 249;
const legal = /^[a-zA-Z0-9._-]+$/;
const checked = new Set<string>();
const checkedMax = 10_000;

/** Returns the name, or throws INVALID_TOPIC_EXCEPTION naming the problem. */
export function checkTopicName(name: unknown): string {
  if (typeof name === 'string' && checked.has(name)) return name;
  if (typeof name !== 'string') throw new KactusError(ErrorCode.INVALID_TOPIC_EXCEPTION, `a topic name must be a string, got ${name === null ? 'null' : typeof name}`);
  if (name.length === 0) throw new KactusError(ErrorCode.INVALID_TOPIC_EXCEPTION, 'a topic name cannot be empty');
  if (name === '.' || name === '..') throw new KactusError(ErrorCode.INVALID_TOPIC_EXCEPTION, `topic name "${name}" is not allowed`);
  if (name.length > topicNameLengthMax) throw new KactusError(ErrorCode.INVALID_TOPIC_EXCEPTION, `topic name is ${name.length} characters, over the limit of ${topicNameLengthMax}`);
  if (!legal.test(name)) throw new KactusError(ErrorCode.INVALID_TOPIC_EXCEPTION, `topic name ${JSON.stringify(name)} contains a character other than ASCII alphanumerics, '.', '_' and '-'`);
  if (checked.size < checkedMax) checked.add(name);
  return name;
}
