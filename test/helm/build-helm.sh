#!/usr/bin/env bash
# Builds helm from its pinned Go module (helm.sh/helm/v3) into a cache outside the repository, so a
# fresh machine needs only Go and the module proxy. Prints the binary's path. Idempotent: a built
# binary is reused; concurrent callers wait for the one that is building.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}"
BIN="$CACHE/helm-$HELM_VERSION/bin/helm"

if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

mkdir -p "$(dirname "$BIN")"
exec 9>"$CACHE/.build-helm.lock"
flock 9
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

log() { echo "[build-helm] $*" >&2; }
work="$CACHE/build/helm-$HELM_VERSION"
mkdir -p "$work"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
started=$SECONDS
( cd "$work"
  # A wrapper module keeps the resolved versions in one go.sum for later rebuilds.
  if [ ! -f go.mod ] || ! grep -q "helm.sh/helm/v3 $HELM_VERSION" go.mod; then
    log "resolving helm.sh/helm/v3 $HELM_VERSION"
    rm -f go.mod go.sum tools.go
    go mod init loraplane.io/helm-build >/dev/null 2>&1
    printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v3/cmd/helm"\n' >tools.go
    go get "helm.sh/helm/v3@$HELM_VERSION" >&2
    go mod tidy >&2
  fi
  # As helm's Makefile does: the version it reports, and the Kubernetes version `helm template` and
  # `helm lint` assume (.Capabilities.KubeVersion) taken from the client-go it is built with.
  k8s=$(go list -m -f '{{.Version}}' k8s.io/client-go)   # v0.MINOR.PATCH
  k8s_minor="${k8s#v0.}"; k8s_minor="${k8s_minor%%.*}"
  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld="$ld -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  log "building helm $HELM_VERSION (Kubernetes 1.$k8s_minor)"
  go build -p 2 -trimpath -ldflags "$ld" -o "$BIN.tmp" helm.sh/helm/v3/cmd/helm >&2
  mv "$BIN.tmp" "$BIN" )
log "built in $((SECONDS - started)) s"
echo "$BIN"
