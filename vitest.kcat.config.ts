import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// The kcat tier (`npm run test:kcat`): kcat (librdkafka) against a real cluster. Its files end in
// .kcat.ts, outside the default include (**/*.test.ts), so `npm test` stays self-contained and needs
// no kcat. The base config's test settings are spread, not merged: mergeConfig would append the
// default include and run the whole suite.
export default defineConfig({ test: { ...base.test, include: ['test/kcat/**/*.kcat.ts'], testTimeout: 120_000, hookTimeout: 90_000 } });
