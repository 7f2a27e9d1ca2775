#!/usr/bin/env bash
# Scenario 00 — the lab itself (issue #2 item 5).
# Brings up the default six-host lab, runs tests/lab/check.yml through the controller
# namespace, tears the lab down and proves the machine is as it was before: same global
# sysctls, same links in the root namespace, no namespace, mount, cgroup or dir of the lab
# left. Prints the time of each phase; fails when up takes over 60 s or down over 15 s.
# Env: GW_LAB_NAME (default smoke), GW_LAB_HOSTS (default: the lab's own default).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LAB=$ROOT/tests/lab/lab
NAME=${GW_LAB_NAME:-smoke}
HOSTS=${GW_LAB_HOSTS:-}
UP_BUDGET=60 DOWN_BUDGET=15
cd "$ROOT" || exit 1
[ -x "$ROOT/.venv/bin/ansible-playbook" ] && export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.collections}
export ANSIBLE_CALLBACKS_ENABLED=${ANSIBLE_CALLBACKS_ENABLED:-ansible.posix.profile_tasks}
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}

log() { printf '[00-lab-smoke] %s\n' "$*"; }
failures=()
fail() { failures+=("$*"); log "FAIL: $*"; }
timings=()
timed() { # label cmd... -> runs cmd, records its time in T
  local label=$1 t0; shift
  t0=$(date +%s.%N)
  "$@"; local rc=$?
  T=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  timings+=("$label ${T}s")
  return $rc
}
over() { awk -v t="$1" -v b="$2" 'BEGIN { exit !(t > b) }'; }

# The machine's state that the lab must not change (global) or must leave nothing in (lab's own).
machine_state() {
  echo "## global sysctls"; python3 "$ROOT/tests/lab/files/sysctl_snapshot.py"
  echo "## root namespace links"; ip -o link show | awk -F': ' '{ print $2 }' | sort
  echo "## root namespace addresses"; ip -o addr show | awk '{ print $2, $4 }' | sort
  echo "## root namespace routes"; ip route show | sort
  echo "## lab namespaces"; ip netns list | awk '{ print $1 }' | grep -E "^$NAME-" || true
  echo "## lab mounts"; grep -E "groundwork-lab/$NAME/|netns/$NAME-" /proc/self/mountinfo || true
  echo "## lab cgroups"; ls -d /sys/fs/cgroup/*/"$NAME"-* 2>/dev/null || true
  echo "## lab dirs"; ls -d "/var/lib/groundwork-lab/$NAME" "$ROOT/tests/lab/.state/$NAME" 2>/dev/null || true
  echo "## lab processes"; pgrep -af "machine=$NAME-" || true
}

if ip netns list | grep -q "^$NAME-"; then
  log "a lab named $NAME is up already; taking it down first"
  "$LAB" down --name "$NAME" >/dev/null
fi
before=$(machine_state)

timed "rootfs cache (build if missing)" "$LAB" build-rootfs || { log "rootfs build failed"; exit 1; }
timed "check artifacts (containerd, runc .debs; busybox OCI image)" "$ROOT/tests/lab/check-artifacts.sh" > /tmp/.gw-artifacts.$$ \
  || { log "could not fetch the check artifacts"; exit 1; }
ARTIFACTS=$(cat /tmp/.gw-artifacts.$$); rm -f /tmp/.gw-artifacts.$$

down_done=0
trap '[ "$down_done" = 1 ] || "$LAB" down --name "$NAME" >/dev/null 2>&1' EXIT

up_args=(--name "$NAME"); [ -z "$HOSTS" ] || up_args+=(--hosts "$HOSTS")
if timed "lab up" "$LAB" up "${up_args[@]}"; then
  over "$T" "$UP_BUDGET" && fail "lab up took ${T}s (budget ${UP_BUDGET}s)"
  if ! timed "check.yml (over ssh from $NAME-ctl)" "$LAB" ctl --name "$NAME" -- \
      ansible-playbook -i "$("$LAB" inventory --name "$NAME")" tests/lab/check.yml \
      -e "lab_check_artifacts_dir=$ARTIFACTS"; then
    fail "check.yml failed"
    "$LAB" status --name "$NAME" || true
  fi
else
  fail "lab up failed"
fi

if timed "lab down" "$LAB" down --name "$NAME"; then
  over "$T" "$DOWN_BUDGET" && fail "lab down took ${T}s (budget ${DOWN_BUDGET}s)"
else
  fail "lab down failed"
fi

# A lab whose run was killed (a stopped session, a reboot: CI then runs on the same machine) is left
# as files, namespaces and cgroups with nothing running. `lab up` of that name must remove it and
# start afresh; a lab that still runs must be refused. One host, killed as a session's end kills it.
lab_pids() { # every process of lab $NAME: its hosts' cgroups (supervisors included) and namespaces
  { cat /sys/fs/cgroup/*/"$NAME"-*/cgroup.procs /sys/fs/cgroup/*/"$NAME"-*/*/cgroup.procs 2>/dev/null
    for ns in $(ip netns list | awk '{ print $1 }' | grep -E "^$NAME-"); do ip netns pids "$ns"; done
  } 2>/dev/null | sort -un
}
stale_check() {
  "$LAB" up --name "$NAME" --hosts st1 > "/tmp/.gw-stale.$$" 2>&1 || { cat "/tmp/.gw-stale.$$"; return 1; }
  if "$LAB" up --name "$NAME" --hosts st1 > "/tmp/.gw-stale.$$" 2>&1; then
    log "a second 'lab up' of a running lab did not fail"; return 1
  fi
  grep -q "exists already and is running" "/tmp/.gw-stale.$$" || { cat "/tmp/.gw-stale.$$"; return 1; }
  local pids n=0
  pids=$(lab_pids)
  [ -n "$pids" ] || { log "no process of lab $NAME found to kill"; return 1; }
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
  while [ -n "$(lab_pids)" ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n + 1)); done
  [ -z "$(lab_pids)" ] || { log "lab $NAME still has processes after kill -9: $(lab_pids | tr '\n' ' ')"; return 1; }
  [ -d "/var/lib/groundwork-lab/$NAME" ] || { log "the killed lab left no state (nothing to test)"; return 1; }
  "$LAB" up --name "$NAME" --hosts st1 > "/tmp/.gw-stale.$$" 2>&1 || { cat "/tmp/.gw-stale.$$"; return 1; }
  grep -q "left behind by a run that ended" "/tmp/.gw-stale.$$" || { cat "/tmp/.gw-stale.$$"; return 1; }
  "$LAB" ssh --name "$NAME" st1 -- hostname | grep -qx st1 || { log "st1 does not answer after the new up"; return 1; }
  "$LAB" down --name "$NAME" > /dev/null
}
if timed "killed lab: refused while running, removed by the next up" stale_check; then
  log "a running lab is refused; a killed one (kill -9 of all its processes) is removed by the next 'lab up'"
else
  fail "lab up over a killed lab"
fi
rm -f "/tmp/.gw-stale.$$"
down_done=1
timed "lab down again (idempotent)" "$LAB" down --name "$NAME" >/dev/null || fail "second lab down failed"

after=$(machine_state)
if [ "$before" != "$after" ]; then
  fail "the machine is not as it was before the lab:"
  diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
else
  log "machine state before and after identical ($(grep -c ' = ' <<<"$before") global sysctls, links, addresses, routes; no lab leftovers)"
fi

log "timings:"
printf '    %s\n' "${timings[@]}"
if [ ${#failures[@]} -gt 0 ]; then
  log "${#failures[@]} failure(s):"; printf '    %s\n' "${failures[@]}"
  exit 1
fi
log "PASS"
