/**
 * Membership: the quorum configuration that Raft itself reads from its log
 * (Config entries), and the pure helpers around it. No I/O.
 *
 * Payload of a Config entry (big-endian):
 *   0  u8  format version (1)
 *   1  u16 voter count n     3  n x u32 voter id
 *   3+4n u16 learner count m  5+4n  m x u32 learner id
 * Nothing may follow. Voters and learners are sorted, distinct and disjoint;
 * at least one voter. `decodeMembership` never throws: entries arrive from the
 * network (messages.ts validates a Config entry with it before anything is
 * persisted), so a bad payload is an error string, not an exception.
 *
 * Why a binary of our own rather than msgpack: Raft must not depend on the
 * application's codec, and the format is tiny and fixed.
 *
 * Imports only the Raft types and runtime/assert.
 */
import { assert } from '../../../runtime/assert.ts';
import type { Membership, NodeId } from './types.ts';

const formatVersion = 1;

/** Voters plus learners a configuration may name (also the validator's bound). */
export const membershipMembersMax = 64;

export function makeMembership(voters: readonly NodeId[], learners: readonly NodeId[] = []): Membership {
  const sortedVoters = [...new Set(voters)].sort((a, b) => a - b);
  const voterSet = new Set(sortedVoters);
  const sortedLearners = [...new Set(learners)].filter((id) => !voterSet.has(id)).sort((a, b) => a - b);
  return { voters: sortedVoters, learners: sortedLearners };
}

export function isVoterOf(membership: Membership, id: NodeId): boolean {
  return membership.voters.includes(id);
}

export function isMemberOf(membership: Membership, id: NodeId): boolean {
  return membership.voters.includes(id) || membership.learners.includes(id);
}

export function sameMembership(a: Membership, b: Membership): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners);
}

function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

export function encodeMembership(membership: Membership): Uint8Array {
  assert(membership.voters.length >= 1, 'membership: at least one voter');
  assert(membership.voters.length + membership.learners.length <= membershipMembersMax, 'membership: too many members');
  const bytes = new Uint8Array(5 + 4 * (membership.voters.length + membership.learners.length));
  const view = new DataView(bytes.buffer);
  view.setUint8(0, formatVersion);
  let at = 1;
  for (const ids of [membership.voters, membership.learners]) {
    view.setUint16(at, ids.length);
    at += 2;
    for (const id of ids) {
      assert(Number.isSafeInteger(id) && id >= 0 && id <= 0xffffffff, `membership: bad id ${id}`);
      view.setUint32(at, id);
      at += 4;
    }
  }
  return bytes;
}

/** The membership a Config entry carries, or why it does not carry one. */
export function decodeMembership(data: Uint8Array): Membership | string {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 5) return 'config entry too short';
  if (view.getUint8(0) !== formatVersion) return `config entry format ${view.getUint8(0)} unknown`;
  const lists: NodeId[][] = [];
  let at = 1;
  for (let list = 0; list < 2; list++) {
    if (at + 2 > data.length) return 'config entry truncated';
    const count = view.getUint16(at);
    at += 2;
    if (count > membershipMembersMax || at + 4 * count > data.length) return 'config entry member count beyond its bytes';
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++, at += 4) ids.push(view.getUint32(at));
    lists.push(ids);
  }
  if (at !== data.length) return 'config entry has trailing bytes';
  const [voters, learners] = lists as [NodeId[], NodeId[]];
  if (voters.length === 0) return 'config entry has no voter';
  if (voters.length + learners.length > membershipMembersMax) return 'config entry names too many members';
  const canonical = makeMembership(voters, learners);
  if (!sameIds(canonical.voters, voters) || !sameIds(canonical.learners, learners)) return 'config entry members must be sorted, distinct and disjoint';
  return canonical;
}
