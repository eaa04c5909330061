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
  },
});
