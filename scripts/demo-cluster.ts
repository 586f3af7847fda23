// npm run demo:cluster: the path a platform team runs, on this machine. A local control plane with
// fake GPU nodes (test/cluster/up.sh: real etcd, apiserver, controller manager, scheduler; a node agent
// runs bound pods as local processes), an S3-compatible server (test/storage/up.sh), `helm install` of
// charts/loraplane serving namespace "demo", the operator run with the installed env and ServiceAccount,
// examples/finetune.yaml applied and followed until its LoraAdapter is Ready. The trainer is the real
// one, on the CPU, with the bundled tiny model standing in for the example's base model.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { clusterDir, kubeconfigPath, kubectl, waitFor } from '../test/cluster/cluster.js';
import { exampleForTestServer, stageExampleSources } from '../test/e2e/support/example-storage.js';
import { startOperator } from '../test/e2e/support/operator-process.js';
import { getJson, mustKubectl, toYaml } from '../test/e2e/support/resources.js';
import { CHART_DIR, mustHelm } from '../test/helm/helm.js';
import { installedOperator } from '../test/helm/installed-operator.js';
import { client, storageDir, storageEnv } from '../test/storage/storage.js';

const NAMESPACE = 'demo';
const repo = join(import.meta.dirname, '..');
process.env.LORAPLANE_CLUSTER_DIR ??= '/tmp/loraplane-demo';
process.env.LORAPLANE_STORAGE_DIR ??= '/tmp/loraplane-demo-storage';
const say = (line: string) => console.log(`\n$ ${line}`);

execFileSync('bash', [join(repo, 'test/cluster/up.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
execFileSync('bash', [join(repo, 'test/storage/up.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
Object.assign(process.env, storageEnv());
await stageExampleSources(client());

say(`helm upgrade --install loraplane charts/loraplane -n loraplane-system --create-namespace --set 'watchNamespaces={${NAMESPACE}}'`);
await kubectl(['create', 'namespace', NAMESPACE]);
console.log(
  await mustHelm(
    [
      'upgrade',
      '--install',
      'loraplane',
      CHART_DIR,
      '-n',
      'loraplane-system',
      '--create-namespace',
      '--set',
      `watchNamespaces={${NAMESPACE}}`,
      '--set',
      'progressIntervalSeconds=2',
    ],
    { kubeconfig: kubeconfigPath() },
  ),
);
// The Deployment's pods cannot pull the operator image here; the same process runs beside them instead.
const installed = await installedOperator({ release: 'loraplane', namespace: 'loraplane-system', podName: 'loraplane-demo-0' });
const operator = await startOperator(installed.kubeconfig, 'loraplane-demo-0', installed.localEnv);
try {
  await kubectl(['delete', 'ftj,lora', '--all', '-n', NAMESPACE, '--wait=true']);
  say(`kubectl apply -n ${NAMESPACE} -f examples/finetune.yaml   # endpoint and keys of the local S3 server`);
  for (const doc of exampleForTestServer()) console.log((await mustKubectl(['apply', '-n', NAMESPACE, '-f', '-'], toYaml(doc))).trim());
  say(`kubectl get ftj,lora -n ${NAMESPACE}   # every 5 s until the adapter is Ready`);
  await waitFor(
    async () => {
      console.log((await mustKubectl(['get', 'ftj,lora', '-n', NAMESPACE])).trim());
      const ftj = await getJson<{ status?: { phase?: string; message?: string } }>(['get', 'ftj', 'support-assistant', '-n', NAMESPACE]);
      if (ftj.status?.phase === 'Failed') throw new Error(`FineTuneJob failed: ${ftj.status.message}`);
      const lora = await kubectl(['get', 'lora', 'support-assistant-v1', '-n', NAMESPACE, '-o', 'jsonpath={.status.phase}']);
      return lora.stdout === 'Ready';
    },
    { timeoutMs: 600_000, intervalMs: 5000, description: 'LoraAdapter support-assistant-v1 Ready' },
  );
  say(`kubectl describe lora support-assistant-v1 -n ${NAMESPACE}`);
  console.log(await mustKubectl(['describe', 'lora', 'support-assistant-v1', '-n', NAMESPACE]));
} finally {
  await operator.stop();
  console.log(`\noperator log: ${operator.logFile}`);
  console.log(`control plane and S3 server left running; stop them with:`);
  console.log(`  LORAPLANE_CLUSTER_DIR=${clusterDir()} bash test/cluster/down.sh; LORAPLANE_STORAGE_DIR=${storageDir()} bash test/storage/down.sh`);
}
