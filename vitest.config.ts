import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'operator/**/*.test.ts',
            'native/**/*.test.ts',
            'test/reference/**/*.test.ts',
            'trainer/**/*.test.ts',
            'test/unit/**/*.test.ts',
            // The node agent's pure parts (env, paths, images...) need no cluster.
            'test/cluster/node-agent/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', '**/dist/**'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/cluster/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', 'test/cluster/node-agent/**'],
          // One real control plane for the whole run (test/cluster/up.sh), shared by every file.
          globalSetup: ['test/cluster/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Files share the cluster and the fake GPUs: one at a time keeps them from starving each other.
          fileParallelism: false,
        },
      },
    ],
  },
});
