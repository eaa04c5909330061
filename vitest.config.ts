import { defineConfig } from 'vitest/config';

// Multi-process tests spawn brokers as child processes; give them room but keep
// the whole suite well under CI's 10-minute budget.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'data/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two test files at a time. Vitest's default on a 2-core machine is one (cores - 1), and the suite then
    // spends most of its time waiting: on sessions, elections, long polls and child processes starting, not on
    // CPU. Tests assert behaviour, never speed (#24), and their bounds are hang bounds, so sharing the cores is safe.
    maxWorkers: 2,
    // The cluster secret of every broker a test starts (actors/broker/cluster-secret.ts), in process
    // or as a child (children inherit it); test harness nodes that act as peers use it too
    // (test/support/secret.ts). Kactus client nodes never have it: they are clients.
    env: { KACTUS_CLUSTER_SECRET: 'kactus-test-cluster-secret-7f3a9c1e5b' },
  },
});
