import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// The console tier (`npm run test:console`): the web console in a real headless Chromium against broker
// processes. Its files end in .console.ts, outside the default include (**/*.test.ts), so `npm test` needs no
// browser. The base config's test settings are spread, not merged (mergeConfig would append the default include).
export default defineConfig({ test: { ...base.test, include: ['test/console/**/*.console.ts'], testTimeout: 120_000, hookTimeout: 90_000 } });
