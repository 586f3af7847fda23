#!/usr/bin/env bash
# Builds versitygw (github.com/versity/versitygw, Apache-2.0), a real S3 gateway whose posix backend
# serves a directory, from the pinned Go module into a cache outside the repository, so a fresh
# machine needs only Go and the module proxy. Prints the binary's path. Idempotent: a built binary is
# reused; concurrent callers wait for the one that is building.
set -euo pipefail

VERSITYGW_VERSION="${VERSITYGW_VERSION:-v1.8.0}"
CACHE="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}"
BIN="$CACHE/versitygw-$VERSITYGW_VERSION/bin/versitygw"

if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

mkdir -p "$(dirname "$BIN")"
exec 9>"$CACHE/.build-versitygw.lock"
flock 9
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

log() { echo "[build-versitygw] $*" >&2; }
work="$CACHE/build/versitygw-$VERSITYGW_VERSION"
mkdir -p "$work"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
started=$SECONDS
( cd "$work"
  # A wrapper module: `go build module/cmd@version` would ignore the module's replace directives and
  # needs no go.mod, but a wrapper keeps the resolved versions in one go.sum for later rebuilds.
  if [ ! -f go.mod ] || ! grep -q "github.com/versity/versitygw $VERSITYGW_VERSION" go.mod; then
    log "resolving github.com/versity/versitygw $VERSITYGW_VERSION"
    rm -f go.mod go.sum tools.go
    go mod init loraplane.io/versitygw-build >/dev/null 2>&1
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/versity/versitygw/cmd/versitygw"\n' >tools.go
    go get "github.com/versity/versitygw@$VERSITYGW_VERSION" >&2
    go mod tidy >&2
  fi
  log "building versitygw $VERSITYGW_VERSION"
  go build -p 2 -trimpath -ldflags "-s -w -X main.Version=$VERSITYGW_VERSION" -o "$BIN.tmp" github.com/versity/versitygw/cmd/versitygw >&2
  mv "$BIN.tmp" "$BIN" )
log "built in $((SECONDS - started)) s"
echo "$BIN"
