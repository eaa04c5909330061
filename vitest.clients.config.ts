import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// The Kafka-clients tier (`npm run test:clients`, run by .ci/run after `npm test`): unmodified
// third-party Kafka clients (KafkaJS, @platformatic/kafka; devDependencies, so no system package is
// needed) in long scenarios against real multi-process clusters through the Kafka listener. Its files
// end in .clients.ts, outside the default include, to keep `npm test` inside its 10-minute budget.
// The base config's test settings are spread, not merged (mergeConfig would append the default include).
export default defineConfig({ test: { ...base.test, include: ['test/clients/**/*.clients.ts'], testTimeout: 180_000, hookTimeout: 90_000 } });
