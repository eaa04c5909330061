import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// The tests StrykerJS runs against each mutant (`npm run test:mutation`, stryker.config.mjs): the unit, property
// and simulation tests of the safety cores, which are pure and fast. No process, socket or in-process cluster:
// a mutant is judged by the tests that pin its module's behaviour, thousands of times over.
export default defineConfig({
  test: {
    ...base.test,
    include: [
      'protocol/**/*.test.ts',
      'client/producer/partitioner.test.ts',
      'storage/*.test.ts',
      'actors/partition/*.test.ts',
      'actors/controller/raft/*.test.ts',
      'actors/controller/metadata/*.test.ts',
      'actors/group-coordinator/{group-logic,group-logic.fuzz,coordinator-logic,offsets-records,txn-offset-commit}.test.ts',
      'actors/txn-coordinator/{txn-logic,txn-logic.fuzz,txn-offsets,txn-records,load-order,txn-describe}.test.ts',
    ],
    // A SIGKILL of a child process mid-write (slow, and about the file system more than the code), and the Kafka
    // wire codecs (not a safety core; they also read ../shared, which Stryker's sandbox copy does not have).
    exclude: [...(base.test?.exclude ?? []), 'storage/sigkill.test.ts', 'protocol/kafka/**'],
    // One worker per Stryker process: Stryker runs its own processes side by side.
    maxWorkers: 1,
  },
});
