import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources (the `source` export condition), so tests run
// without a build; Node itself resolves them to the compiled dist/.
const resolve = { conditions: ['source', 'node', 'development|production'] };
const ignored = ['**/node_modules/**', '**/dist/**'];
// The pinned Prometheus and Pushgateway (test/metrics/build-prometheus.sh) for the trainer's metrics tests.
const prometheus = 'test/metrics/global-setup.ts';
const clusterSetup = ['test/cluster/global-setup.ts', 'test/storage/global-setup.ts', prometheus, 'test/kueue/global-setup.ts'];
/** A package's own tests, colocated with its sources: `npm test -w <package>` runs this project. */
const packageProject = (name: string, dir: string) => ({
  resolve,
  ssr: { resolve },
  test: { name, include: [`${dir}/**/*.test.ts`], exclude: ignored },
});

export default defineConfig({
  resolve,
  ssr: { resolve },
  test: {
    projects: [
      packageProject('api', 'api'),
      packageProject('storage', 'storage'),
      packageProject('native', 'native'),
      packageProject('operator', 'operator'),
      packageProject('trainer', 'trainer'),
      {
        resolve,
        ssr: { resolve },
        test: {
          name: 'unit',
          include: [
            'test/reference/**/*.test.ts',
            'test/trainer/**/*.test.ts',
            'test/unit/**/*.test.ts',
            // The node agent's pure parts (env, paths, images...) need no cluster.
            'test/cluster/node-agent/**/*.test.ts',
          ],
          exclude: ignored,
          globalSetup: [prometheus],
        },
      },
      {
        resolve,
        ssr: { resolve },
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/cluster/**/*.test.ts', 'test/helm/**/*.e2e.test.ts'],
          exclude: [...ignored, 'test/cluster/node-agent/**'],
          // One real control plane and one real S3 server (test/storage/up.sh) for the whole run, shared by every file;
          // the pinned Prometheus (test/metrics/build-prometheus.sh) that finetune-to-adapter starts; the pinned
          // Kueue (test/kueue/build-kueue.sh) that the kueue-* files start.
          globalSetup: clusterSetup,
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Files share the cluster and the fake GPUs: one at a time keeps them from starving each other.
          fileParallelism: false,
        },
      },
      {
        resolve,
        ssr: { resolve },
        test: {
          // 1,000 FineTuneJobs with the real Kueue (8 minutes here), beside the e2e files; `npm run test:scale` alone.
          name: 'scale',
          include: ['test/scale/**/*.test.ts'],
          exclude: ignored,
          globalSetup: clusterSetup,
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        resolve,
        ssr: { resolve },
        test: {
          name: 'helm',
          // The chart rendered and linted by the pinned helm (test/helm/build-helm.sh); no cluster.
          include: ['test/helm/**/*.test.ts'],
          exclude: [...ignored, 'test/helm/**/*.e2e.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        resolve,
        ssr: { resolve },
        test: {
          name: 'storage-s3',
          include: ['test/storage/**/*.test.ts'],
          exclude: ignored,
          // One real S3-compatible server (versitygw, test/storage/up.sh) for the run; each test uses its own bucket.
          globalSetup: ['test/storage/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
