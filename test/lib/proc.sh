# Sourced, never run. Process helpers shared by the cluster's and the storage server's scripts.

# running PID: a live process, not a zombie. Daemons outlive the script that started them and are
# re-parented to pid 1, which in some containers never reaps them, so `kill -0` alone would call a
# dead one alive.
running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
