#!/usr/bin/env bash
# make-user.sh NAME [GROUP...]: a client identity for RBAC tests: a certificate with CN=NAME and
# O=GROUP... signed by the cluster CA, as a kubeconfig. Prints its path ($DIR/users/NAME.kubeconfig).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 NAME [GROUP...]" >&2; exit 2; }
[ -f "$PKI/ca.key" ] || { say "no cluster in $CLUSTER_DIR (run up.sh first)"; exit 1; }
name=$1; shift
[[ "$name" =~ ^[A-Za-z0-9:._@-]+$ ]] || { say "user name '$name' has characters a file name should not"; exit 2; }
mkdir -p "$CLUSTER_DIR/users"
out="$CLUSTER_DIR/users/$name"
sign_client_cert "$name" "$out" "$@"
write_kubeconfig "$out.kubeconfig" "$name" "$out.crt" "$out.key"
echo "$out.kubeconfig"
