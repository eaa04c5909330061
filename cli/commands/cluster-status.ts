/**
 * `kactus cluster status`: prints the view of cli/views/cluster-status.ts
 * (brokers, the active controller, the metadata quorum, and the counts of
 * under-replicated, under-min-ISR and offline partitions) as tables or JSON.
 */
import { printJson, printLine, printTable } from '../output.ts';
import { withClient } from '../common.ts';
import type { CommandSpec, Parsed } from '../parser.ts';
import { clusterStatusView } from '../views/cluster-status.ts';

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
    const view = await clusterStatusView(kactus, context.connection.node);
    const { brokers, controllerId, quorum } = view;
    const counts = { topics: view.topics, partitions: view.partitions, underReplicated: view.underReplicated, underMinIsr: view.underMinIsr, offline: view.offline };
    if (parsed.values.json) {
      printJson({ brokers, controllerId, quorum: { leaderId: quorum.leaderId, term: quorum.term, learners: quorum.learners, observers: quorum.observers, voters: quorum.voters.map(({ lag: _lag, ...v }) => v) }, ...counts });
      return 0;
    }
    const named = new Set(quorum.voters.map((v) => v.brokerId));
    printLine(`Brokers: ${brokers.length}`);
    printTable(['ID', 'ADDRESS', 'RACK', 'ROLE'], brokers.map((b) => [b.brokerId, `${b.host}:${b.port}`, b.rack ?? '-', b.brokerId === controllerId ? 'broker, active controller' : named.has(b.brokerId) ? 'broker, voter' : quorum.learners.includes(b.brokerId) ? 'broker, learner' : quorum.observers.includes(b.brokerId) ? 'broker, observer' : 'broker']));
    printLine(`Active controller: ${controllerId < 0 ? 'none' : controllerId}`);
    printLine(`Quorum: leader ${quorum.leaderId ?? 'none'}, term ${quorum.term}, ${quorum.answering}/${quorum.named} voters answering`);
    if (quorum.learners.length > 0 || quorum.observers.length > 0) printLine(`Learners: ${quorum.learners.join(', ') || 'none'}; observers: ${quorum.observers.join(', ') || 'none'}`);
    printTable(['VOTER', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAST'], quorum.voters.map((v) => [v.brokerId, v.reachable ? v.role : 'unreachable', v.term, v.commitIndex, v.appliedIndex, v.lastIndex]));
    printLine(`Topics: ${counts.topics}, partitions: ${counts.partitions}`);
    printLine(`Under-replicated partitions: ${counts.underReplicated}`);
    printLine(`Under-min-ISR partitions: ${counts.underMinIsr}`);
    printLine(`Offline partitions: ${counts.offline}`);
    return 0;
  });
}
