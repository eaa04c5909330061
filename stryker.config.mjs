// Mutation testing of the safety cores (`npm run test:mutation`, #24): StrykerJS changes the code one mutant at
// a time (a `<` for a `<=`, a dropped condition, ...) and runs the tests of vitest.mutation.config.ts; a mutant
// no test notices survives. scripts/mutation-report.mjs then holds every module to 85% and names the survivors;
// test/MUTATION.md lists the ones that are equivalent (no behaviour a user relies on changes).
//
//   npm run test:mutation                                       # every module below (long: tens of minutes)
//   npm run test:mutation -- --mutate protocol/murmur2.ts       # one module
/** The modules held to the bar: the code whose mistakes lose or duplicate data, or split a cluster's brain. */
export const safetyCores = [
  'actors/partition/leader-logic.ts',
  'actors/partition/producer-state.ts',
  'storage/log.ts',
  'storage/recovery.ts',
  'storage/leader-epoch-cache.ts',
  'actors/controller/raft/raft.ts',
  'actors/controller/metadata/partitions.ts',
  'actors/controller/metadata/brokers.ts',
  'actors/group-coordinator/group-logic.ts',
  'actors/txn-coordinator/txn-logic.ts',
  'protocol/consumer/assignors/range.ts',
  'protocol/consumer/assignors/round-robin.ts',
  'protocol/consumer/assignors/cooperative-sticky.ts',
  'protocol/record-batch/codec.ts',
  'protocol/record-batch/records.ts',
  'protocol/murmur2.ts',
  'client/producer/partitioner.ts',
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: safetyCores,
  coverageAnalysis: 'perTest',
  concurrency: 2,
  timeoutMS: 20_000,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 85, break: null },
};
