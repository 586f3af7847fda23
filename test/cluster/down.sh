#!/usr/bin/env bash
# Stops the cluster started by up.sh (SIGTERM, then SIGKILL after a grace) and removes its directory.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# stop NAME...: TERM them together, wait up to 10 s, then KILL what is left. A pid is signalled only
# while its command line still names the component, so a recycled pid is never hit.
stop() {
  local name pid pids=()
  for name in "$@"; do
    pid_alive "$name" || continue
    pid=$(cat "$PIDS/$name.pid")
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "${name/node-agent/node-agent\/main.ts}" || continue
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  local i
  for ((i = 0; i < 100 && ${#pids[@]} > 0; i++)); do
    local alive=()
    for pid in "${pids[@]}"; do running "$pid" && alive+=("$pid"); done
    pids=("${alive[@]+"${alive[@]}"}")
    [ ${#pids[@]} -gt 0 ] && sleep 0.1
  done
  for pid in "${pids[@]+"${pids[@]}"}"; do kill -KILL "$pid" 2>/dev/null; done
}

[ -d "$CLUSTER_DIR" ] || exit 0
# Not while an up.sh for this directory is starting it (up.sh itself calls us holding the lock).
if [ -z "${LORAPLANE_CLUSTER_LOCKED:-}" ]; then
  exec 8>"$CLUSTER_DIR.lock"
  flock 8
fi
# All at once: the cluster's state is thrown away, so nothing needs an orderly hand-over, and each
# component takes 2-3 s to shut down gracefully. The agent kills its pod processes on SIGTERM.
stop "${COMPONENTS[@]}"

# Pod processes outlive an agent that was SIGKILLed; the agent puts NODE_AGENT_POD_ROOT (a path under
# this directory) in every container's environment, so they can be found and killed.
for envf in /proc/[0-9]*/environ; do
  grep -qzF "NODE_AGENT_POD_ROOT=$CLUSTER_DIR/" "$envf" 2>/dev/null || continue
  pid=${envf#/proc/}; pid=${pid%/environ}
  kill -KILL "$pid" 2>/dev/null
done

rm -rf "$CLUSTER_DIR"
say "cluster in $CLUSTER_DIR stopped"
