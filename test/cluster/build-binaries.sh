#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from pinned Go
# modules into a cache outside the repository, so a fresh machine needs only Go and the module proxy.
# Prints the bin directory. Idempotent: a complete cache is reused.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}"
BIN="$CACHE/control-plane-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
TOOLS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

complete() { for t in etcd "${TOOLS[@]}"; do [ -x "$BIN/$t" ] || return 1; done; }
if complete; then echo "$BIN"; exit 0; fi

mkdir -p "$BIN"
# Serialize builders: concurrent callers (parallel test runs, demo + CI) wait for the one that is
# building instead of building twice; once the lock is ours, another caller may have finished.
exec 9>"$CACHE/.build.lock"
flock 9
if complete; then echo "$BIN"; exit 0; fi
work="$CACHE/build"
mkdir -p "$work/k8s" "$work/etcd"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { echo "[build-binaries] $*" >&2; }

if [ ! -x "$BIN/etcd" ]; then
  log "building etcd $ETCD_VERSION"
  ( cd "$work/etcd"
    [ -f go.mod ] || go mod init loraplane.io/etcd-build >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
    go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3 >&2 )
fi

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
staging="v0.${K8S_VERSION#v1.}"
( cd "$work/k8s"
  if [ ! -f go.mod ] || ! grep -q "k8s.io/kubernetes $K8S_VERSION" go.mod; then
    log "resolving k8s.io/kubernetes $K8S_VERSION"
    rm -f go.mod go.sum
    go mod init loraplane.io/k8s-build >/dev/null 2>&1
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/tmp/k8s-mod.json
    modfile=$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' /tmp/k8s-mod.json)
    # Every staging module k8s.io/kubernetes requires at v0.0.0 is replaced by its published tag.
    { echo "require k8s.io/kubernetes $K8S_VERSION"
      grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$modfile" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
    } >>go.mod
    printf 'package tools\n\nimport (\n' >tools.go
    for t in "${TOOLS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$t" >>tools.go; done
    printf ')\n' >>tools.go
    sed -i '1s/^/\/\/go:build tools\n\n/' tools.go
    go mod tidy >&2
  fi
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=$now"
  done
  for t in "${TOOLS[@]}"; do
    [ -x "$BIN/$t" ] && continue
    log "building $t $K8S_VERSION"
    go build -p 2 -trimpath -ldflags "$ld" -o "$BIN/$t.tmp" "k8s.io/kubernetes/cmd/$t" >&2
    mv "$BIN/$t.tmp" "$BIN/$t"
  done )

complete
echo "$BIN"
