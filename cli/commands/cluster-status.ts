/**
 * `kactus cluster status`: the brokers, the active controller, the metadata
 * quorum (each voter's Raft role, term, commit and applied index), and the
 * counts of under-replicated, under-min-ISR and offline partitions.
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
import type { DescribeQuorum, DescribeQuorumReply } from '../../actors/controller/messages.ts';
import { printJson, printLine, printTable } from '../output.ts';
import { withClient } from '../common.ts';
import type { CommandSpec, Parsed } from '../parser.ts';
import { minInsyncReplicasOf, partitionHealth } from './topics.ts';

/** How long one voter may take to describe its quorum state. */
export const quorumAskTimeoutMs = 2_000;

export const clusterStatusSpec: CommandSpec = {
  name: 'status',
  description: `Prints the brokers, the active controller, the metadata quorum (role, term,
commit index of each voter) and the counts of under-replicated, under-min-ISR
and offline partitions.`,
  cluster: true,
  run: clusterStatus,
};

async function clusterStatus(parsed: Parsed): Promise<number> {
  return withClient(parsed.values, async (kactus, context) => {
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
    const node = context.connection.node;
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
    const quorum = {
      leaderId: leader?.brokerId ?? voters.find((v) => v.leaderId !== null)?.leaderId ?? null,
      term: Math.max(0, ...voters.map((v) => v.term)),
      learners,
      observers,
      voters: [
        ...voters.filter((v) => named.size === 0 || named.has(v.brokerId)).sort((a, b) => a.brokerId - b.brokerId).map((v) => ({ brokerId: v.brokerId, role: v.role, active: v.active, term: v.term, commitIndex: v.commitIndex, appliedIndex: v.appliedIndex, lastIndex: v.lastIndex, reachable: true })),
        ...missing.map((id) => ({ brokerId: id, role: 'Unknown', active: false, term: 0, commitIndex: 0, appliedIndex: 0, lastIndex: 0, reachable: false })),
      ],
    };
    // Metadata's controllerId is -1 when the answering broker's image does not name it: the quorum knows.
    const controllerId = cluster.controllerId >= 0 ? cluster.controllerId : (voters.find((v) => v.active)?.brokerId ?? -1);
    const brokers = cluster.brokers.sort((a, b) => a.brokerId - b.brokerId).map((b) => ({ brokerId: b.brokerId, host: b.host, port: b.port, rack: b.rack }));
    if (parsed.values.json) {
      printJson({ brokers, controllerId: controllerId, quorum, ...counts });
      return 0;
    }
    printLine(`Brokers: ${brokers.length}`);
    printTable(['ID', 'ADDRESS', 'RACK', 'ROLE'], brokers.map((b) => [b.brokerId, `${b.host}:${b.port}`, b.rack ?? '-', b.brokerId === controllerId ? 'broker, active controller' : named.has(b.brokerId) ? 'broker, voter' : learners.includes(b.brokerId) ? 'broker, learner' : observers.includes(b.brokerId) ? 'broker, observer' : 'broker']));
    printLine(`Active controller: ${controllerId < 0 ? 'none' : controllerId}`);
    printLine(`Quorum: leader ${quorum.leaderId ?? 'none'}, term ${quorum.term}, ${voters.length}/${named.size || voters.length} voters answering`);
    if (learners.length > 0 || observers.length > 0) printLine(`Learners: ${learners.join(', ') || 'none'}; observers: ${observers.join(', ') || 'none'}`);
    printTable(['VOTER', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAST'], quorum.voters.map((v) => [v.brokerId, v.reachable ? v.role : 'unreachable', v.term, v.commitIndex, v.appliedIndex, v.lastIndex]));
    printLine(`Topics: ${counts.topics}, partitions: ${counts.partitions}`);
    printLine(`Under-replicated partitions: ${counts.underReplicated}`);
    printLine(`Under-min-ISR partitions: ${counts.underMinIsr}`);
    printLine(`Offline partitions: ${counts.offline}`);
    return 0;
  });
}
