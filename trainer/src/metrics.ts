// The trainer's Prometheus metrics (prom-client), served on /metrics for the operator and Prometheus,
// and pushed once at the end to a Pushgateway when one is configured (a run that ends between two
// scrapes would otherwise leave its final values unseen).
import { createServer, type Server } from 'node:http';
import { TRAINER_METRICS } from '@loraplane/api/trainer-metrics';
import { Counter, Gauge, Pushgateway, Registry, collectDefaultMetrics } from 'prom-client';

/** The Pushgateway's base URL (e.g. http://pushgateway:9091); unset, nothing is pushed. */
export const PUSHGATEWAY_URL_ENV = 'LORAPLANE_PUSHGATEWAY_URL';
/** The `job` grouping label of the pushed metrics. */
export const PUSH_JOB = 'loraplane-trainer';

export interface JobLabels {
  namespace: string;
  finetunejob: string;
}

export type TrainerMetrics = ReturnType<typeof createTrainerMetrics>;

export function createTrainerMetrics(labels: JobLabels) {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  const gauge = ({ name, help }: { name: string; help: string }) => new Gauge({ name, help, registers: [registry] });
  const counter = ({ name, help }: { name: string; help: string }) => new Counter({ name, help, registers: [registry] });
  const m = TRAINER_METRICS;
  return {
    registry,
    loss: gauge(m.loss),
    evalLoss: gauge(m.evalLoss),
    learningRate: gauge(m.learningRate),
    gradNorm: gauge(m.gradNorm),
    step: gauge(m.step),
    totalSteps: gauge(m.totalSteps),
    epoch: gauge(m.epoch),
    tokensPerSecond: gauge(m.tokensPerSecond),
    etaSeconds: gauge(m.etaSeconds),
    tokens: counter(m.tokens),
    checkpoints: counter(m.checkpoints),
  };
}

export function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url?.split('?')[0] !== '/metrics') return void res.writeHead(404).end();
    registry
      .metrics()
      .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
      .catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/**
 * Replaces this job's group on the Pushgateway (PUT /metrics/job/loraplane-trainer/namespace/<ns>/finetunejob/<name>)
 * with every metric in the registry.
 */
export async function pushMetrics(registry: Registry, url: string, labels: JobLabels, timeoutMs = 10_000): Promise<void> {
  await new Pushgateway(url, { timeout: timeoutMs }, registry).push({ jobName: PUSH_JOB, groupings: { ...labels } });
}
