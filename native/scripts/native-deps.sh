#!/usr/bin/env bash
# Gloo (the CPU backend's collectives) and GoogleTest (the native tests) when the system lacks them:
# the same Debian packages .ci/run installs system-wide, fetched with `apt-get download` (no root) into
# ~/.cache/loraplane and unpacked there, so `npm ci` and `npm test` set themselves up on a fresh machine.
# Prints the prefix for CMAKE_PREFIX_PATH, or nothing when the system has both.
# LORAPLANE_FETCH_NATIVE_DEPS=1 fetches them even then (to check this path).
set -euo pipefail
if [ -f /usr/include/gloo/allreduce.h ] && [ -f /usr/include/gtest/gtest.h ] && [ -z "${LORAPLANE_FETCH_NATIVE_DEPS:-}" ]; then exit 0; fi
# libgloo0's own dependencies come too: the addon finds them through its RPATH (native/CMakeLists.txt).
packages=(libgloo-dev libgloo0 libhiredis0.14 libibverbs1 libnl-3-200 libnl-route-3-200 libgtest-dev)
dir="${XDG_CACHE_HOME:-$HOME/.cache}/loraplane/native-deps-$(echo "${packages[*]}" | sha256sum | cut -c1-12)"
if [ ! -f "$dir/.complete" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download "${packages[@]}" >/dev/null); then
    echo "native-deps.sh: apt-get download ${packages[*]} failed; run apt-get update, or install them" >&2
    exit 1
  fi
  rm -rf "$dir" && mkdir -p "$dir"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
  touch "$dir/.complete"
fi
echo "$dir/usr"
