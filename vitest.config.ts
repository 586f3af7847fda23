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
            'test/trainer/**/*.test.ts',
            'trainer/**/*.test.ts',
            'storage/**/*.test.ts',
            'test/unit/**/*.test.ts',
            // The node agent's pure parts (env, paths, images...) need no cluster.
            'test/cluster/node-agent/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', '**/dist/**'],
          // The pinned Prometheus and Pushgateway (test/metrics/build-prometheus.sh) for the trainer's metrics tests.
          globalSetup: ['test/metrics/global-setup.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/cluster/**/*.test.ts', 'test/helm/**/*.e2e.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', 'test/cluster/node-agent/**'],
          // One real control plane and one real S3 server (test/storage/up.sh) for the whole run, shared by every file;
          // the pinned Prometheus (test/metrics/build-prometheus.sh) that finetune-to-adapter starts; the pinned
          // Kueue (test/kueue/build-kueue.sh) that the kueue-* files start.
          globalSetup: ['test/cluster/global-setup.ts', 'test/storage/global-setup.ts', 'test/metrics/global-setup.ts', 'test/kueue/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Files share the cluster and the fake GPUs: one at a time keeps them from starving each other.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'helm',
          // The chart rendered and linted by the pinned helm (test/helm/build-helm.sh); no cluster.
          include: ['test/helm/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', 'test/helm/**/*.e2e.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'storage',
          include: ['test/storage/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          // One real S3-compatible server (versitygw, test/storage/up.sh) for the run; each test uses its own bucket.
          globalSetup: ['test/storage/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
