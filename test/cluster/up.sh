#!/usr/bin/env bash
# Starts a real control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) and the
# test node agent as background processes under $LORAPLANE_CLUSTER_DIR (default /tmp/loraplane-cluster).
# Shared by the e2e tests (global-setup.ts), `npm run demo` and .ci/run. Prints the env file to source.
# Idempotent: a healthy cluster in the directory is reused; a broken one is torn down and restarted.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN=$(bash "$CLUSTER_SRC/build-binaries.sh" | tail -n 1)
[ -x "$BIN/kube-apiserver" ] || { say "build-binaries.sh gave no bin directory"; exit 1; }

mkdir -p "$(dirname "$CLUSTER_DIR")"
# One starter per directory: a second caller waits here and then finds the cluster healthy.
# The lock fd is closed in every daemon (8>&-) so a daemon never holds it.
exec 8>"$CLUSTER_DIR.lock"
flock 8

curl_admin() {
  curl -fsS --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"
}

healthy() {
  [ -f "$CLUSTER_DIR/env" ] && [ -f "$CLUSTER_DIR/ports" ] || return 1
  local c
  for c in "${COMPONENTS[@]}"; do pid_alive "$c" || return 1; done
  # shellcheck disable=SC1091
  . "$CLUSTER_DIR/ports"
  curl_admin "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1
}

if healthy; then
  say "cluster in $CLUSTER_DIR is already up"
  echo "$CLUSTER_DIR/env"
  exit 0
fi
if [ -d "$CLUSTER_DIR" ]; then
  say "cluster in $CLUSTER_DIR is not healthy: restarting it"
  LORAPLANE_CLUSTER_LOCKED=1 bash "$CLUSTER_SRC/down.sh" 8>&-
fi

started=$(date +%s%N)
mkdir -p "$PKI" "$LOGS" "$PIDS" "$CLUSTER_DIR/etcd" "$CLUSTER_DIR/node-agent" "$CLUSTER_DIR/users"

# start NAME CMD...: own session (a Ctrl-C or a test runner killing its group leaves it alone),
# stdio to the log so no caller waits on an inherited pipe. The process writes its own pid: setsid
# forks when it starts as a group leader (under a job-control shell), so $! may not be the daemon.
start() {
  local name=$1; shift
  rm -f "$PIDS/$name.pid"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDS/$name.pid" "$@" </dev/null >"$LOGS/$name.log" 2>&1 8>&- &
  local i
  for ((i = 0; i < 50; i++)); do [ -s "$PIDS/$name.pid" ] && return 0; sleep 0.02; done
  say "$name did not start"; exit 1
}

elapsed() { echo "$(( ($(date +%s%N) - started) / 1000000 )) ms"; }

# wait_for NAME SECONDS CMD...: poll every 100 ms; on timeout show the component's log and fail.
wait_for() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$name" || [ $SECONDS -ge $deadline ]; then
      say "$name did not become healthy (log: $LOGS/$name.log):"
      tail -n 30 "$LOGS/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
  say "$name ready after $(elapsed)"
}

# --- ports: ask the kernel for free ones, all held open together so they differ -----------------
node -e '
  const net = require("node:net");
  const names = ["ETCD_PORT", "ETCD_PEER_PORT", "APISERVER_PORT", "KCM_PORT", "SCHEDULER_PORT"];
  Promise.all(names.map(() => new Promise((ok) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => ok(s)); })))
    .then((servers) => { servers.forEach((s, i) => console.log(`${names[i]}=${s.address().port}`)); servers.forEach((s) => s.close()); });
' >"$CLUSTER_DIR/ports"
# shellcheck disable=SC1091
. "$CLUSTER_DIR/ports"

start etcd "$BIN/etcd" --name=node0 --data-dir="$CLUSTER_DIR/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="node0=http://127.0.0.1:$ETCD_PEER_PORT" --auto-compaction-retention=1 \
  --unsafe-no-fsync=true --log-level=warn

# --- PKI (while etcd starts): one CA, one admin leaf for serving + client auth; its key signs service-account tokens --
openssl genrsa -traditional -out "$PKI/ca.key" 2048 2>/dev/null
openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=loraplane-test-ca" -days 3650 -sha256 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
  -out "$PKI/ca.crt" 2>/dev/null
openssl genrsa -traditional -out "$PKI/admin.key" 2048 2>/dev/null
openssl req -new -key "$PKI/admin.key" -subj "/O=system:masters/CN=admin" -out "$PKI/admin.csr" 2>/dev/null
cat >"$PKI/admin.ext" <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:::1
EOF
openssl x509 -req -in "$PKI/admin.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 \
  -sha256 -extfile "$PKI/admin.ext" -out "$PKI/admin.crt" 2>/dev/null
write_kubeconfig "$CLUSTER_DIR/kubeconfig" admin "$PKI/admin.crt" "$PKI/admin.key"
KUBECONFIG_FILE="$CLUSTER_DIR/kubeconfig"

wait_for etcd 30 curl -fsS --max-time 1 "http://127.0.0.1:$ETCD_PORT/health"

start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --etcd-prefix=/registry \
  --allow-privileged=true --endpoint-reconciler-type=none --authorization-mode=Node,RBAC \
  --bind-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$PKI/admin.crt" --tls-private-key-file="$PKI/admin.key" --client-ca-file="$PKI/ca.crt" \
  --service-account-key-file="$PKI/admin.key" --service-account-signing-key-file="$PKI/admin.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-cluster-ip-range=10.0.0.0/24 \
  --profiling=false
# The node agent plays the kubelet for the nodes in nodes.yaml (see node-agent/main.ts). Node and
# client-node take a second or two to load, so it starts with the apiserver and retries its
# registration until the API answers.
AGENT_ROOT="$CLUSTER_DIR/node-agent"
# From the repository root, where `--import tsx` resolves.
( cd "$REPO_ROOT" && start node-agent env KUBECONFIG="$KUBECONFIG_FILE" NODE_AGENT_ROOT="$AGENT_ROOT" \
    NODE_AGENT_NODES="${NODE_AGENT_NODES:-$CLUSTER_SRC/nodes.yaml}" \
    node --import tsx "$CLUSTER_SRC/node-agent/main.ts" )

wait_for kube-apiserver 60 curl_admin "https://127.0.0.1:$APISERVER_PORT/readyz"

# Faster than a production control plane where flags allow: no leader election (one replica, no
# lease to acquire), a 2 s node monitor with a 40 s grace (the agent renews leases every 10 s),
# higher client QPS so bursts of Jobs/Pods in tests are not throttled.
start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG_FILE" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/admin.key" \
  --leader-elect=false --node-monitor-period=2s --node-monitor-grace-period=40s \
  --kube-api-qps=100 --kube-api-burst=200 --profiling=false

# The scheduler's knobs live in its config file (its --kubeconfig/--leader-elect flags are
# deprecated): short pod back-off so a pod that becomes schedulable is retried within seconds.
cat >"$CLUSTER_DIR/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $KUBECONFIG_FILE
  qps: 100
  burst: 200
leaderElection:
  leaderElect: false
podInitialBackoffSeconds: 1
podMaxBackoffSeconds: 2
EOF
start kube-scheduler "$BIN/kube-scheduler" --config="$CLUSTER_DIR/scheduler.yaml" \
  --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" \
  --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics

wait_for kube-controller-manager 60 curl -fsSk --max-time 1 "https://127.0.0.1:$KCM_PORT/healthz"
wait_for kube-scheduler 60 curl -fsSk --max-time 1 "https://127.0.0.1:$SCHEDULER_PORT/healthz"

# Ready: every node the agent registered reports Ready=True and the node lifecycle controller has
# lifted the not-ready taint, so the scheduler will place pods on it.
nodes_ready() {
  [ -s "$AGENT_ROOT/nodes" ] || return 1
  local want got
  want=$(sort "$AGENT_ROOT/nodes" | tr '\n' ' ')
  got=$("$BIN/kubectl" --kubeconfig="$KUBECONFIG_FILE" get nodes -o \
    go-template='{{range .items}}{{$n := .metadata.name}}{{range .status.conditions}}{{if and (eq .type "Ready") (eq .status "True")}}{{$n}}{{"\n"}}{{end}}{{end}}{{end}}' \
    --field-selector=spec.unschedulable=false 2>/dev/null) || return 1
  local tainted
  tainted=$("$BIN/kubectl" --kubeconfig="$KUBECONFIG_FILE" get nodes -o \
    jsonpath='{range .items[*]}{.spec.taints[*].key}{"\n"}{end}' 2>/dev/null) || return 1
  [ "$(echo "$got" | sort | tr '\n' ' ')" = "$want" ] && ! grep -q node.kubernetes.io/not-ready <<<"$tainted"
}
wait_for node-agent 60 nodes_ready

cat >"$CLUSTER_DIR/env" <<EOF
export LORAPLANE_CLUSTER_DIR=$CLUSTER_DIR
export LORAPLANE_NODE_AGENT_ROOT=$AGENT_ROOT
export LORAPLANE_BIN_DIR=$BIN
export KUBECONFIG=$KUBECONFIG_FILE
export PATH=$BIN:\$PATH
EOF
say "cluster up in $(elapsed): source $CLUSTER_DIR/env"
echo "$CLUSTER_DIR/env"
