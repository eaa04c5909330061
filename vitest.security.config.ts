import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// The security tier (`npm run test:security`, run by .ci/run after `npm test`): TLS, SASL and ACL
// scenarios on multi-process clusters (certificates from the openssl command, which .ci/run installs
// when missing), the README's secure setup run as written, and brokers under resource exhaustion.
// Long, so outside `npm test`'s 10-minute budget; its files end in .security.ts. The base config's
// test settings are spread, not merged (mergeConfig would append the default include).
export default defineConfig({ test: { ...base.test, include: ['test/security/**/*.security.ts'], testTimeout: 180_000, hookTimeout: 180_000 } });
