# Shared by up.sh and down.sh: the storage directory contract and small helpers. Sourced, never run.
# Layout under $STORAGE_DIR (LORAPLANE_STORAGE_DIR, default /tmp/loraplane-storage):
#   env                 what clients read: endpoint, region, root access key and secret, data dir, access log
#   versitygw.pid       the gateway's pid; versitygw.log its stdout/stderr
#   access.log          one line per S3 request, in completion order (the tests read it)
#   data/<bucket>/...   the posix backend: a bucket is a directory, an object a file (metadata in xattrs)
#   meta/               object metadata, only where the filesystem has no user xattrs

STORAGE_DIR="${LORAPLANE_STORAGE_DIR:-/tmp/loraplane-storage}"
STORAGE_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PID_FILE="$STORAGE_DIR/versitygw.pid"

say() { echo "[storage] $*" >&2; }

# shellcheck source=../lib/proc.sh
. "$STORAGE_SRC/../lib/proc.sh"

# gateway_pid: the pid in the pid file when it is a running versitygw (a recycled pid is not ours).
gateway_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  running "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q versitygw || return 1
  echo "$pid"
}

# answers ENDPOINT: the S3 API answers HTTP (an anonymous request gets 403 AccessDenied: that is up).
answers() {
  local code
  code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$1/") || true
  [ -n "$code" ] && [ "$code" != 000 ]
}

# xattrs_supported DIR: a user xattr can be set on a file in DIR (setfattr or python3; assumed when
# neither is installed, and versitygw then says so in its log).
xattrs_supported() {
  local f="$1/.xattr-probe" ok=0
  : >"$f"
  if command -v setfattr >/dev/null 2>&1; then
    setfattr -n user.loraplane -v 1 "$f" 2>/dev/null || ok=1
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.loraplane", b"1")' "$f" 2>/dev/null || ok=1
  fi
  rm -f "$f"
  return $ok
}
