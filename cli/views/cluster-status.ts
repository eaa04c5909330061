/**
 * The cluster at a glance, as data: brokers, the active controller, the
 * metadata quorum (each voter's Raft role, term, commit and applied index,
 * and its lag behind the leader), and the counts of under-replicated,
 * under-min-ISR and offline partitions. `kactus cluster status` prints it;
 * the web console's /api/cluster serves it.
 *
 * Brokers and partitions come from Metadata (client Admin); the quorum from
 * `DescribeQuorum` asked of `/controller` on every live broker (non-voters
 * have no `/controller`: their asks time out after quorumAskTimeoutMs and
 * they are left out), plus any voter the answers name that did not answer
 * (shown as unreachable). Learners (being added by add-voter) and observers
 * (brokers running a controller that is in no configuration yet) are listed
 * apart from the voters, as DescribeQuorum reports them.
 */
import type { Ref } from '../../runtime/ref.ts';
import type { Node } from '../../runtime/node.ts';
import type { Kactus } from '../../client/kactus.ts';
import type { DescribeQuorum, DescribeQuorumReply } from '../../actors/controller/messages.ts';
import { minInsyncReplicasOf, partitionHealth } from '../commands/topics.ts';

/** How long one voter may take to describe its quorum state. */
export const quorumAskTimeoutMs = 2_000;

export type QuorumVoterView = { brokerId: number; role: string; active: boolean; term: number; commitIndex: number; appliedIndex: number; lastIndex: number; reachable: boolean; lag: number | null };

export type ClusterStatusView = {
  brokers: { brokerId: number; host: string; port: number; rack: string | null }[];
  controllerId: number;
  quorum: { leaderId: number | null; term: number; learners: number[]; observers: number[]; voters: QuorumVoterView[]; answering: number; named: number };
  topics: number;
  partitions: number;
  underReplicated: number;
  underMinIsr: number;
  offline: number;
};

export async function clusterStatusView(kactus: Kactus, node: Node): Promise<ClusterStatusView> {
  const admin = kactus.admin();
  const [cluster, topics] = await Promise.all([admin.describeCluster(), admin.describeTopics({})]);
  const live = new Set(cluster.brokers.map((b) => b.brokerId));
  const minIsr = await minInsyncReplicasOf(admin, topics.map((t) => t.name));
  const counts = { topics: topics.length, partitions: 0, underReplicated: 0, underMinIsr: 0, offline: 0 };
  for (const topic of topics) {
    for (const p of topic.partitions) {
      const health = partitionHealth(p, minIsr.get(topic.name) ?? 1, live);
      counts.partitions += 1;
      if (health.underReplicated) counts.underReplicated += 1;
      if (health.underMinIsr) counts.underMinIsr += 1;
      if (health.unavailable) counts.offline += 1;
    }
  }
  const answers = await Promise.all(
    cluster.brokers.map((b) =>
      node
        .ask<DescribeQuorum, DescribeQuorumReply>({ node: String(b.brokerId), path: '/controller' } as Ref<DescribeQuorum>, (replyTo) => ({ type: 'DescribeQuorum', replyTo }), { timeoutMs: quorumAskTimeoutMs })
        .catch(() => null),
    ),
  );
  const voters = answers.filter((a): a is DescribeQuorumReply => a !== null && a.type === 'DescribeQuorumReply');
  const named = new Set(voters.flatMap((v) => v.voters));
  const learners = [...new Set(voters.flatMap((v) => v.learners ?? []))].filter((id) => !named.has(id)).sort((a, b) => a - b);
  const observers = voters.filter((v) => v.observer === true && !named.has(v.brokerId) && !learners.includes(v.brokerId)).map((v) => v.brokerId).sort((a, b) => a - b);
  const missing = [...named].filter((id) => !voters.some((v) => v.brokerId === id)).sort((a, b) => a - b);
  const leader = voters.find((v) => v.active) ?? voters.find((v) => v.role === 'Leader');
  // A voter's lag: how far its log is behind the leader's (KRaft's DescribeQuorum reports the same).
  const leaderLastIndex = leader?.lastIndex ?? null;
  const quorum = {
    leaderId: leader?.brokerId ?? voters.find((v) => v.leaderId !== null)?.leaderId ?? null,
    term: Math.max(0, ...voters.map((v) => v.term)),
    learners,
    observers,
    answering: voters.length,
    named: named.size || voters.length,
    voters: [
      ...voters
        .filter((v) => named.size === 0 || named.has(v.brokerId))
        .sort((a, b) => a.brokerId - b.brokerId)
        .map((v) => ({ brokerId: v.brokerId, role: v.role, active: v.active, term: v.term, commitIndex: v.commitIndex, appliedIndex: v.appliedIndex, lastIndex: v.lastIndex, reachable: true, lag: leaderLastIndex === null ? null : Math.max(0, leaderLastIndex - v.lastIndex) })),
      ...missing.map((id) => ({ brokerId: id, role: 'Unknown', active: false, term: 0, commitIndex: 0, appliedIndex: 0, lastIndex: 0, reachable: false, lag: null })),
    ],
  };
  // Metadata's controllerId is -1 when the answering broker's image does not name it: the quorum knows.
  const controllerId = cluster.controllerId >= 0 ? cluster.controllerId : (voters.find((v) => v.active)?.brokerId ?? -1);
  const brokers = cluster.brokers.sort((a, b) => a.brokerId - b.brokerId).map((b) => ({ brokerId: b.brokerId, host: b.host, port: b.port, rack: b.rack }));
  return { brokers, controllerId, quorum, ...counts };
}
