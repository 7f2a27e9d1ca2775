#!/usr/bin/env bash
# Run a command while holding one of N lab slots (default 2): several people (or agents) sharing one
# small machine queue their real-Kubernetes labs instead of starving each other's control planes.
#   tests/helpers/lab-slot.sh CMD...      GW_LAB_SLOTS=N (default 2), slots in /var/tmp/gw-lab-slot.K.lock
# Not used by CI (CI runs its scenarios in its own lanes); a convenience for shared development machines.
set -euo pipefail
n=${GW_LAB_SLOTS:-2}
waited=0
while :; do
  for k in $(seq 1 "$n"); do
    exec {fd}>"/var/tmp/gw-lab-slot.$k.lock"
    if flock -n "$fd"; then
      [ "$waited" -eq 0 ] || echo "[lab-slot] got slot $k after ${waited}s" >&2
      # the command does not inherit the lock fd: a lab kept up (GW_KEEP_LAB=1) leaves processes behind
      # (nspawn, the file server) that would otherwise hold the slot until the lab is taken down
      "$@" {fd}>&-; exit $?
    fi
    exec {fd}>&-
  done
  [ "$waited" -gt 0 ] || echo "[lab-slot] all $n lab slots busy; waiting" >&2
  sleep 10; waited=$((waited + 10))
done
