# Sourced, never run. go_tool NAME MODULE VERSION PACKAGE [LDFLAGS_FN]: builds a Go command from its
# pinned module into ~/.cache/loraplane/NAME-VERSION/bin/NAME (outside the repository, so a fresh
# machine needs only Go and the module proxy) and prints the binary's path. Idempotent: a built binary
# is reused; concurrent callers wait for the one that is building. LDFLAGS_FN, when given, runs in the
# resolved wrapper module and prints extra -ldflags (e.g. versions read with `go list -m`).
go_tool() {
  local name=$1 module=$2 version=$3 pkg=$4 ldflags_fn=${5:-}
  local cache="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}"
  local bin="$cache/$name-$version/bin/$name"
  if [ -x "$bin" ]; then echo "$bin"; return 0; fi
  mkdir -p "$(dirname "$bin")"
  exec 9>"$cache/.build-$name.lock"
  flock 9
  if [ -x "$bin" ]; then echo "$bin"; return 0; fi
  local work="$cache/build/$name-$version" started=$SECONDS
  mkdir -p "$work"
  ( cd "$work"
    export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
    # A wrapper module: `go build module/cmd@version` would ignore the module's replace directives;
    # the wrapper also keeps the resolved versions in one go.sum for later rebuilds.
    if [ ! -f go.mod ] || ! grep -q "$module $version" go.mod; then
      echo "[build-$name] resolving $module $version" >&2
      rm -f go.mod go.sum tools.go
      go mod init "loraplane.io/$name-build" >/dev/null 2>&1
      printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >tools.go
      go get "$module@$version" >&2
      go mod tidy >&2
    fi
    local ld="-s -w"
    if [ -n "$ldflags_fn" ]; then ld="$ld $("$ldflags_fn")"; fi
    echo "[build-$name] building $name $version" >&2
    go build -p 2 -trimpath -ldflags "$ld" -o "$bin.tmp" "$pkg" >&2
    mv "$bin.tmp" "$bin" )
  echo "[build-$name] built in $((SECONDS - started)) s" >&2
  echo "$bin"
}
