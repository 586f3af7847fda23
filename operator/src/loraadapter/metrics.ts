// The LoraAdapter controller's Prometheus metrics, on the operator's registry: adapters by phase,
// every verification by outcome and duration, bytes hashed (the weights are re-read only when their
// ETag or size moved), phase transitions, drift (Ready → not Ready) and reclaims.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { loraAdapterStatus } from '@loraplane/api/loraadapter';

export type AdapterMetrics = ReturnType<typeof createAdapterMetrics>;

const PHASES = loraAdapterStatus.shape.phase.unwrap().options;

export function createAdapterMetrics(registry: Registry, statuses: () => unknown[]) {
  return {
    adapters: new Gauge({
      name: 'loraplane_adapters',
      help: 'LoraAdapters in the operator cache by status phase.',
      labelNames: ['phase'] as const,
      registers: [registry],
      collect() {
        const counts = new Map<string, number>();
        for (const s of statuses()) {
          const phase = loraAdapterStatus.safeParse(s).data?.phase ?? 'Pending';
          counts.set(phase, (counts.get(phase) ?? 0) + 1);
        }
        for (const phase of PHASES) this.set({ phase }, counts.get(phase) ?? 0);
      },
    }),
    verifications: new Counter({
      name: 'loraplane_adapter_verifications_total',
      help: 'Verifications of stored adapters by result (Verified, or the reason it was not).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    verificationDuration: new Histogram({
      name: 'loraplane_adapter_verification_duration_seconds',
      help: 'Time one verification of a stored adapter took.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    hashedBytes: new Counter({
      name: 'loraplane_adapter_hashed_bytes_total',
      help: 'Bytes of adapter weights read from storage and hashed.',
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'loraplane_adapter_transitions_total',
      help: 'Status transitions by the phase and reason entered.',
      labelNames: ['phase', 'reason'] as const,
      registers: [registry],
    }),
    drift: new Counter({
      name: 'loraplane_adapter_drift_total',
      help: 'Ready adapters found changed or gone, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    reclaims: new Counter({
      name: 'loraplane_adapter_reclaims_total',
      help: 'Deleted adapters with reclaimPolicy Delete, by result (deleted, skipped, failed).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}
