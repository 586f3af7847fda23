#!/usr/bin/env bash
# Starts a real S3-compatible server for the storage tests: versitygw (Apache-2.0) with its posix
# backend on a fresh directory, bound to 127.0.0.1 on a free port, with a random root access key and
# secret. Shared by the storage tests (global-setup.ts) and .ci/run. Prints the env file to source.
# Idempotent: a running gateway for $LORAPLANE_STORAGE_DIR is reused; a dead one is cleaned and restarted.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN=$(bash "$STORAGE_SRC/build-versitygw.sh" | tail -n 1)
[ -x "$BIN" ] || { say "build-versitygw.sh gave no binary"; exit 1; }

mkdir -p "$(dirname "$STORAGE_DIR")"
# One starter per directory; the lock fd is closed in the daemon (9>&-) so it never holds it.
exec 9>"$STORAGE_DIR.lock"
flock 9

healthy() {
  [ -f "$STORAGE_DIR/env" ] && gateway_pid >/dev/null || return 1
  # shellcheck disable=SC1091
  . "$STORAGE_DIR/env"
  answers "$LORAPLANE_S3_ENDPOINT"
}

if healthy; then
  say "versitygw in $STORAGE_DIR is already up"
  echo "$STORAGE_DIR/env"
  exit 0
fi
if [ -d "$STORAGE_DIR" ]; then
  say "versitygw in $STORAGE_DIR is not healthy: restarting it"
  LORAPLANE_STORAGE_LOCKED=1 bash "$STORAGE_SRC/down.sh" 9>&-
fi

started=$(date +%s%N)
mkdir -p "$STORAGE_DIR/data"
region=us-east-1
access_key="lp$(openssl rand -hex 8)"
# The posix backend keeps object metadata (ETag, x-amz-meta-*, checksums) in user xattrs; where the
# filesystem has none (some overlay or old tmpfs mounts), it keeps them in a sidecar directory
# (LORAPLANE_STORAGE_SIDECAR=1 forces that).
backend_opts=()
if [ "${LORAPLANE_STORAGE_SIDECAR:-}" = 1 ] || ! xattrs_supported "$STORAGE_DIR/data"; then
  backend_opts=(--sidecar "$STORAGE_DIR/meta")
  mkdir -p "$STORAGE_DIR/meta"
  say "object metadata in a sidecar directory ($STORAGE_DIR/meta): no user xattrs, or forced"
fi
secret_key=$(openssl rand -hex 20)

# The kernel picks a free port; another process may take it before versitygw binds, so a start that
# dies at once is retried on a new port.
for attempt in 1 2 3; do
  port=$(node -e 'const s = require("node:net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
  endpoint="http://127.0.0.1:$port"
  rm -f "$PID_FILE"
  # Own session (a test runner killing its process group leaves it alone); stdio to the log so no
  # caller waits on an inherited pipe; the process writes its own pid (setsid may fork).
  ROOT_ACCESS_KEY_ID="$access_key" ROOT_SECRET_ACCESS_KEY="$secret_key" \
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    "$BIN" --port "127.0.0.1:$port" --region "$region" --quiet \
    --access-log "$STORAGE_DIR/access.log" posix "${backend_opts[@]+"${backend_opts[@]}"}" "$STORAGE_DIR/data" \
    </dev/null >"$STORAGE_DIR/versitygw.log" 2>&1 9>&- &
  for ((i = 0; i < 50; i++)); do [ -s "$PID_FILE" ] && break; sleep 0.02; done
  deadline=$((SECONDS + 30))
  until answers "$endpoint"; do
    if ! gateway_pid >/dev/null || [ $SECONDS -ge $deadline ]; then break; fi
    sleep 0.05
  done
  answers "$endpoint" && gateway_pid >/dev/null && break
  say "versitygw did not come up on port $port (attempt $attempt, log: $STORAGE_DIR/versitygw.log):"
  tail -n 20 "$STORAGE_DIR/versitygw.log" >&2 || true
  pid=$(gateway_pid) && kill -KILL "$pid" 2>/dev/null
  [ "$attempt" = 3 ] && exit 1
done

# Credentials travel as a file readable by this user only; they are throwaway (random per start).
umask 077
cat >"$STORAGE_DIR/env" <<EOF2
export LORAPLANE_STORAGE_DIR=$STORAGE_DIR
export LORAPLANE_S3_ENDPOINT=$endpoint
export LORAPLANE_S3_REGION=$region
export LORAPLANE_S3_ACCESS_KEY_ID=$access_key
export LORAPLANE_S3_SECRET_ACCESS_KEY=$secret_key
export LORAPLANE_S3_DATA_DIR=$STORAGE_DIR/data
export LORAPLANE_S3_ACCESS_LOG=$STORAGE_DIR/access.log
EOF2
say "versitygw up at $endpoint in $(( ($(date +%s%N) - started) / 1000000 )) ms: source $STORAGE_DIR/env"
echo "$STORAGE_DIR/env"
