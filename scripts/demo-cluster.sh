#!/usr/bin/env bash
# npm run demo:cluster: the whole control-plane path on this machine. Starts a local Kubernetes control plane
# with fake GPU nodes (test/cluster/up.sh), installs the CRDs, runs the operator, applies
# examples/finetune.yaml and follows the FineTuneJob to Succeeded.
# Until the trainer lands (the trainer issue), the pod runs the stand-in trainer in test/fixtures/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
export LORAPLANE_CLUSTER_DIR="${LORAPLANE_CLUSTER_DIR:-/tmp/loraplane-demo}"

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
bash test/cluster/up.sh
# shellcheck disable=SC1091
. "$LORAPLANE_CLUSTER_DIR/env"

kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established crd/finetunejobs.loraplane.io >/dev/null
kubectl create namespace loraplane-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl delete ftj --all -n demo --wait=true >/dev/null 2>&1 || true

LOG="$LORAPLANE_CLUSTER_DIR/logs/operator-demo.log"
POD_NAMESPACE=loraplane-system HTTP_PORT=0 LOG_FORMAT=json node dist/operator/src/main.js >"$LOG" 2>&1 &
OPERATOR=$!
trap 'kill $OPERATOR 2>/dev/null; wait $OPERATOR 2>/dev/null || true; echo "cluster left running; stop it with: LORAPLANE_CLUSTER_DIR=$LORAPLANE_CLUSTER_DIR bash test/cluster/down.sh"' EXIT

echo "\$ kubectl get nodes -L nvidia.com/gpu.product"
kubectl get nodes -L nvidia.com/gpu.product
echo "\$ kubectl apply -n demo -f examples/finetune.yaml"
kubectl apply -n demo -f examples/finetune.yaml
for _ in $(seq 1 120); do
  phase=$(kubectl get ftj support-assistant -n demo -o jsonpath='{.status.phase}' 2>/dev/null || true)
  echo "  phase: ${phase:-<none>}  $(kubectl get ftj support-assistant -n demo -o jsonpath='{.status.message}' 2>/dev/null)"
  case "$phase" in Succeeded|Failed) break ;; esac
  sleep 1
done
echo "\$ kubectl get ftj,jobs,pods -n demo -o wide"
kubectl get ftj,jobs,pods -n demo -o wide
echo "\$ kubectl get events -n demo --field-selector involvedObject.kind=FineTuneJob"
kubectl get events -n demo --field-selector involvedObject.kind=FineTuneJob
[ "$phase" = Succeeded ]
