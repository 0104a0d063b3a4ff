import { defineConfig } from 'vitest/config';

// Integration tests share one throwaway nats-server and redis-server started by globalSetup
// (unless NATS_URL / REDIS_URL point at existing ones); each test isolates itself with a unique prefix.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/faults/**/*.test.ts', 'test/fuzz/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
