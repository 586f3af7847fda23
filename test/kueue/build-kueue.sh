#!/usr/bin/env bash
# Builds the Kueue controller manager (sigs.k8s.io/kueue, Apache-2.0) from its pinned Go module into
# ~/.cache/loraplane and prints its bin directory. Beside it, `../config` links to the module's
# config/components in the Go module cache: Kueue's CRDs, RBAC and webhook manifests, read from there
# by test/kueue/kueue.ts (never from the internet, never copied into the repository).
# Idempotent: a built binary is reused; concurrent callers wait for the one that is building.
set -euo pipefail
# shellcheck source=../lib/go-tool.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/go-tool.sh"

KUEUE_VERSION="${KUEUE_VERSION:-v0.17.0}"
# The version ldflags of Kueue's Makefile (pkg/version), so its start-up log names the release.
kueue_ldflags() {
  echo "-X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION -X sigs.k8s.io/kueue/pkg/version.GitCommit=$KUEUE_VERSION-module -X sigs.k8s.io/kueue/pkg/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

bin=$(go_tool kueue sigs.k8s.io/kueue "$KUEUE_VERSION" sigs.k8s.io/kueue/cmd/kueue kueue_ldflags)
home=$(dirname "$(dirname "$bin")")
# The manifests come from the same module version as the binary. A cleaned module cache (with the
# binary still cached) gets the module again from the proxy.
config="$(go env GOMODCACHE)/sigs.k8s.io/kueue@$KUEUE_VERSION/config/components"
if [ ! -d "$config/crd/bases" ]; then
  ( cd "${LORAPLANE_CACHE:-$HOME/.cache/loraplane}/build/kueue-$KUEUE_VERSION" && GOFLAGS=-mod=mod go mod download sigs.k8s.io/kueue >&2 )
fi
[ -d "$config/crd/bases" ] || { echo "[build-kueue] $config/crd/bases is missing" >&2; exit 1; }
[ "$(readlink "$home/config" 2>/dev/null)" = "$config" ] || ln -sfn "$config" "$home/config"
dirname "$bin"
