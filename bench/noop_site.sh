#!/usr/bin/env bash
# No-op site.yml on the 5-host doubles lab (3 control planes, stacked etcd, haproxy endpoint, 2 workers;
# the same lab, software and variables as tests/scenarios/30-install): brings the lab up, installs once
# (timed), then re-runs site.yml N times (changed must be 0 every time) and reports the median and spread
# of the re-run wall time, the task executions per host, and where the time goes (per role and the
# slowest tasks, from the ansible.posix.json callback's per-task start/end). Writes
# bench/results/noop_site-<UTC stamp>.json. One way only (there is nothing to interleave it with): the
# ratio reported is median / the 30 s target of issue #20. Then (GW_BENCH_ADD_NODE=1, the default) one worker
# is added with add_node.yml, timed (issue #20's "adding one worker <= 45 s, touching only it"; the result is
# only equivalent if no other host changed): w3, a fresh host brought up with the lab and in no group until
# then (preflight, which runs on every host, reads it in the re-runs); on a reused lab, w2 after
# remove_node.yml (untimed) took it out.
#   bench/noop_site.sh                GW_LAB_NAME (default hspd), GW_BENCH_RERUNS (default 3)
#   GW_KEEP_LAB=1   leave the lab up (and its work dir /tmp/gw-bench-NAME) for another run
#   GW_BENCH_REUSE=1  use the lab left up by GW_KEEP_LAB=1: no lab up; one converging site.yml (untimed), then
#                     the re-runs; GW_BENCH_REUSE=2: the re-runs only
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export NAME=${GW_LAB_NAME:-hspd}
SITE=${GW_SITE_PLAYBOOK:-site.yml}
RERUNS=${GW_BENCH_RERUNS:-3}
WORK=/tmp/gw-bench-$NAME
OUTDIR=${GW_BENCH_RESULTS:-$ROOT/bench/results}
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$ROOT/tests/scenarios/30-install/lib.sh"
cd "$ROOT" || exit 1
finish() {
  if [ "${GW_KEEP_LAB:-0}" = 1 ]; then
    [ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
    echo "lab $NAME kept up (work dir $WORK); tests/lab/lab down --name $NAME when done"
  else
    lab_down; rm -rf "$WORK"
  fi
}
trap finish EXIT

if [ "${GW_BENCH_REUSE:-0}" != 0 ]; then
  INV=$("$LAB" inventory --name "$NAME") || { echo "no lab $NAME to reuse"; exit 1; }
  mkdir -p "$WORK"
  if [ ! -s "$WORK/vars.yml" ]; then { build_apt_repo && stage_doubles; } || { echo "staging failed"; exit 1; }; fi
  # a server left by the run that kept the lab still serves the same directory
  serve || ctl python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \
    "http://$CTL_IP:$HTTP_PORT/" || { echo "cannot serve the lab's files"; exit 1; }
  if [ ! -s "$WORK/vars.yml" ]; then
    write_groups cp1,cp2,cp3 w1,w2 haproxy
    write_vars
    [ -z "${GW_BENCH_VARS:-}" ] || printf '%s\n' "$GW_BENCH_VARS" >> "$WORK/vars.yml"
  fi
  INSTALL=null
else
  rm -rf "$WORK"; mkdir -p "$WORK"
  if ! { build_apt_repo && stage_doubles; }; then echo "staging failed"; exit 1; fi
  SPARE=
  [ "${GW_BENCH_ADD_NODE:-1}" = 1 ] && SPARE=w3
  lab_up "cp1,cp2,cp3,w1,w2${SPARE:+,$SPARE}" || exit 1
  write_groups cp1,cp2,cp3 w1,w2 haproxy
  write_vars
  # GW_BENCH_VARS: more lab variables (YAML lines) appended to the scenario's, e.g. while the scenario's own
  # lib.sh lags a new preflight refusal
  [ -z "${GW_BENCH_VARS:-}" ] || printf '%s\n' "$GW_BENCH_VARS" >> "$WORK/vars.yml"
fi

run_json() { # label [playbook [args...]] -> wall seconds in $WALL, rc in $RC, callback JSON in $WORK/label.json
  local t0 label=$1 book=${2:-$SITE}
  shift; [ $# -eq 0 ] || shift
  t0=$(date +%s.%N)
  ctl env ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ansible-playbook -i "$INV" -i "$WORK/groups.yml" \
    -e "@$WORK/vars.yml" "$book" "$@" > "$WORK/$label.json" 2>"$WORK/$label.err"
  RC=$?
  WALL=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  echo "$label: ${WALL}s rc=$RC"
}

if [ "${GW_BENCH_REUSE:-0}" = 1 ]; then
  run_json converge
  [ "$RC" -eq 0 ] || { echo "converge failed"; tail -c 3000 "$WORK/converge.json"; exit 1; }
fi
if [ "${INSTALL:-}" != null ]; then
  run_json install; INSTALL=$WALL
  [ "$RC" -eq 0 ] || { echo "install failed"; tail -c 3000 "$WORK/install.json"; exit 1; }
fi
runs=()
for i in $(seq 1 "$RERUNS"); do
  run_json "rerun$i"
  [ "$RC" -eq 0 ] || { echo "re-run $i failed"; tail -c 3000 "$WORK/rerun$i.json"; exit 1; }
  runs+=("$WALL:$WORK/rerun$i.json")
done

add=()
if [ "${GW_BENCH_ADD_NODE:-1}" = 1 ]; then
  if [ -n "${SPARE:-}" ]; then
    w=$SPARE how="add one fresh worker"
    write_groups cp1,cp2,cp3 "w1,w2,$SPARE" haproxy
  else
    w=w2 how="re-add a removed worker"
    run_json remove-w2 playbooks/remove_node.yml --limit w2 -e groundwork_confirm=remove_node
    [ "$RC" -eq 0 ] || { echo "remove_node.yml w2 failed"; tail -c 3000 "$WORK/remove-w2.json"; exit 1; }
  fi
  run_json "add-$w" playbooks/add_node.yml --limit "$w"
  [ "$RC" -eq 0 ] || { echo "add_node.yml $w failed"; tail -c 3000 "$WORK/add-$w.json"; exit 1; }
  add=(--add-node "$w:$WALL:$WORK/add-$w.json" --add-label "$how" ${SPARE:+--spare})
fi

mkdir -p "$OUTDIR"
# GW_BENCH_NOTE: recorded in the result (e.g. which lab variables differ from the scenario's)
python3 "$ROOT/bench/_noop_report.py" --install "$INSTALL" --hosts 5 --target 30 ${GW_BENCH_NOTE:+--note "$GW_BENCH_NOTE"} \
  "${add[@]}" --out "$OUTDIR/noop_site-$(date -u +%Y%m%dT%H%M%SZ).json" "${runs[@]}"
