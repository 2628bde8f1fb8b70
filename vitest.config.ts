import { defineConfig } from 'vitest/config';

// Two projects: fast pure tests, and integration tests against the real local services
// (Temporal dev server + SeaweedFS) that tests/integration/global-setup.ts starts on its own
// ports and state folder, so a developer's running stack is never touched.
export default defineConfig({
  test: {
    pool: 'forks', // Temporal's native core-bridge is unsafe in worker threads
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          globalSetup: ['tests/integration/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false, // 2-core machines: one Temporal-touching file at a time
        },
      },
    ],
  },
});
