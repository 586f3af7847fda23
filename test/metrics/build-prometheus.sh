#!/usr/bin/env bash
# Builds prometheus and pushgateway (Apache-2.0) from their pinned Go modules into a cache outside the
# repository, so the metrics tests need only Go and the module proxy, no distribution packages.
# Prints the bin directory. Idempotent: a complete cache is reused; concurrent callers wait for the
# one that is building.
#
# Prometheus 3.x tags its Go module v0.3XX.Y for release v3.XX.Y (Go semver would otherwise demand a
# /v3 module path): v3.16.0 is built from github.com/prometheus/prometheus@v0.316.0.
# The module zip holds no compiled web UI (release tarballs embed it with the builtinassets tag after
# an npm build), so this prometheus serves the HTTP API (/api/v1/*, /-/ready, /-/healthy) and no UI
# pages; the tests use only the API.
# No build tag removes service discovery (`remove_all_sd` would leave only file and http): kubernetes_sd_configs
# is in, and test/e2e/finetune-to-adapter.test.ts finds the trainer pod through it.
set -euo pipefail

PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v3.16.0}"
PUSHGATEWAY_VERSION="${PUSHGATEWAY_VERSION:-v1.11.5}"
CACHE="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}"
BIN="$CACHE/prometheus-$PROMETHEUS_VERSION-pushgateway-$PUSHGATEWAY_VERSION/bin"

complete() { [ -x "$BIN/prometheus" ] && [ -x "$BIN/pushgateway" ]; }
if complete; then echo "$BIN"; exit 0; fi

mkdir -p "$BIN"
exec 9>"$CACHE/.build-prometheus.lock"
flock 9
if complete; then echo "$BIN"; exit 0; fi
log() { echo "[build-prometheus] $*" >&2; }

IFS=. read -r major minor patch <<<"${PROMETHEUS_VERSION#v}"
prometheus_module_version=$(printf 'v0.%d%02d.%d' "$major" "$minor" "$patch")

# install NAME MODULE_PACKAGE@VERSION RELEASE: `go install pkg@version` builds with the module's own
# go.mod (exactly the dependency versions upstream released), outside any workspace. The version
# variables are those promu sets for release builds (`prometheus --version` reports them).
install() {
  local name=$1 target=$2 release=$3 started=$SECONDS tmp
  tmp=$(mktemp -d "$BIN/.$name.XXXXXX")
  local v=github.com/prometheus/common/version
  local ld="-s -w -X $v.Version=${release#v} -X $v.Branch=HEAD -X $v.Revision=${target#*@}"
  ld="$ld -X $v.BuildUser=loraplane -X $v.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  log "building $name $release ($target)"
  ( cd "$tmp"
    CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false GOBIN="$tmp" \
      go install -p 2 -trimpath -tags netgo -ldflags "$ld" "$target" >&2 )
  mv "$tmp/$name" "$BIN/$name"
  rmdir "$tmp"
  log "built $name in $((SECONDS - started)) s"
}

[ -x "$BIN/prometheus" ] ||
  install prometheus "github.com/prometheus/prometheus/cmd/prometheus@$prometheus_module_version" "$PROMETHEUS_VERSION"
[ -x "$BIN/pushgateway" ] ||
  install pushgateway "github.com/prometheus/pushgateway@$PUSHGATEWAY_VERSION" "$PUSHGATEWAY_VERSION"

complete
echo "$BIN"
