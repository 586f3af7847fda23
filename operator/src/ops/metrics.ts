// The operator's Prometheus metrics (prom-client), named per Prometheus conventions (base units,
// `_total` for counters, `_seconds`). The FineTuneJob metrics for the platform team, by namespace and
// queue, are in finetunejob-metrics.ts.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createFineTuneJobMetrics } from './finetunejob-metrics.js';

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;

/**
 * `fineTuneJobs` lists the FineTuneJobs in the operator's cache, read when Prometheus scrapes; give
 * `metrics.fineTuneJobs.observe` every informer event of them too (the queued-time histogram).
 */
export function createOperatorMetrics(fineTuneJobs: () => Iterable<unknown>, now: () => number = Date.now) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    reconciles: new Counter({
      name: 'loraplane_operator_reconcile_total',
      help: 'Reconciles by controller and result (success, requeue_after, error, terminal_error).',
      labelNames: ['controller', 'result'] as const,
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: 'loraplane_operator_reconcile_errors_total',
      help: 'Reconciles that returned an error.',
      labelNames: ['controller'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'loraplane_operator_reconcile_duration_seconds',
      help: 'Time spent in one reconcile.',
      labelNames: ['controller'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'loraplane_operator_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      labelNames: ['controller'] as const,
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'loraplane_operator_leader',
      help: '1 when this replica holds the leader Lease, else 0.',
      registers: [registry],
    }),
    fineTuneJobs: createFineTuneJobMetrics(registry, fineTuneJobs, now),
  };
}
