#!/usr/bin/env bash
# Stops the versitygw started by up.sh (SIGTERM, then SIGKILL after 5 s) and removes its directory.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$STORAGE_DIR" ] || exit 0
# Not while an up.sh for this directory is starting it (up.sh itself calls us holding the lock).
if [ -z "${LORAPLANE_STORAGE_LOCKED:-}" ]; then
  exec 9>"$STORAGE_DIR.lock"
  flock 9
fi
if pid=$(gateway_pid); then
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do running "$pid" || break; sleep 0.1; done
  running "$pid" && kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$STORAGE_DIR"
say "versitygw in $STORAGE_DIR stopped"
