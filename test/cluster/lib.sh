# Shared by up.sh, down.sh and make-user.sh: the cluster directory contract and small helpers.
# Sourced, never run. Layout under $DIR (LORAPLANE_CLUSTER_DIR, default /tmp/loraplane-cluster):
#   kubeconfig, env, ports            what clients read
#   pki/{ca,admin}.{crt,key}          one CA; admin (O=system:masters) is also the SA signing key
#   pids/<component>.pid, logs/<component>.log
#   etcd/                             etcd data
#   node-agent/pods/<ns>_<name>_<uid>/container.log, termination-log, volumes/...
#   users/<name>.kubeconfig           identities from make-user.sh

CLUSTER_DIR="${LORAPLANE_CLUSTER_DIR:-/tmp/loraplane-cluster}"
CLUSTER_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_SRC/../.." && pwd)"
PKI="$CLUSTER_DIR/pki"
LOGS="$CLUSTER_DIR/logs"
PIDS="$CLUSTER_DIR/pids"
# Start order; down.sh stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler node-agent)

say() { echo "[cluster] $*" >&2; }

# shellcheck source=../lib/proc.sh
. "$CLUSTER_SRC/../lib/proc.sh"

# pid_alive NAME: the pid file exists and names a running process.
pid_alive() {
  local f="$PIDS/$1.pid"
  [ -f "$f" ] && running "$(cat "$f")"
}

# write_kubeconfig FILE USER CERT KEY: cluster https://127.0.0.1:$APISERVER_PORT, credentials inlined
# so the file can be copied anywhere.
write_kubeconfig() {
  local file=$1 user=$2 cert=$3 key=$4
  # shellcheck disable=SC1091
  . "$CLUSTER_DIR/ports"
  cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: loraplane
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$cert")
    client-key-data: $(base64 -w0 "$key")
contexts:
- name: $user@loraplane
  context: {cluster: loraplane, user: $user}
current-context: $user@loraplane
EOF
  mv "$file.tmp" "$file"
}

# sign_client_cert NAME OUTPREFIX [GROUP...]: RSA key + client cert (CN=NAME, O=GROUP...) from the CA.
sign_client_cert() {
  local name=$1 out=$2 subj="/CN=$1" g
  shift 2
  for g in "$@"; do subj="$subj/O=$g"; done
  openssl genrsa -traditional -out "$out.key" 2048 2>/dev/null
  openssl req -new -key "$out.key" -subj "$subj" -out "$out.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$out.ext"
  openssl x509 -req -in "$out.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$out.ext" -out "$out.crt" 2>/dev/null
  rm -f "$out.csr" "$out.ext"
}
