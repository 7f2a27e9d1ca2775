# shellcheck shell=bash
# Part speed (issue #20; a bench, not a test: it times, it does not judge speed): on the real cluster that
# is up (CLUSTER=ha: 3 CP + 2 W), re-runs site.yml GW_BENCH_RERUNS times (default 3) with the
# ansible.posix.json callback; every re-run must report changed=0 (that is checked). Writes a bench result
# (bench/_noop_report.py: wall median/spread, task executions per host, time per play/role/task) into
# GW_BENCH_RESULTS (default: a scratch dir; bench/real_install.sh points it at bench/results/) with part
# ha's install time when it ran in the same scenario.
#   GW_LAB_NAME=hspd GW_SCENARIO_PARTS=ha,speed tests/helpers/lab-slot.sh bash tests/scenarios/70-real/run.sh
part_speed() {
  local i t0 wall runs=() install=null hosts=5 m label
  [ "$CLUSTER" = ha ] || hosts=1
  for m in "${timings[@]}"; do
    case $m in "$CLUSTER-site.yml "*) install=${m#* }; install=${install%s} ;; esac
  done
  for i in $(seq 1 "${GW_BENCH_RERUNS:-3}"); do
    t0=$(date +%s.%N)
    ANSIBLE_STDOUT_CALLBACK=ansible.posix.json play site.yml
    local rc=$?
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    cp "$WORK/last.log" "$WORK/speed-rerun$i.json"
    if [ $rc -ne 0 ]; then fail "speed: re-run $i failed"; tail -c 2000 "$WORK/last.log"; return 1; fi
    log "speed: site.yml re-run $i: ${wall}s"
    runs+=("$wall:$WORK/speed-rerun$i.json")
  done
  label="no-op site.yml ($hosts hosts, real v1.33.3)"
  mkdir -p "${GW_BENCH_RESULTS:=$WORK/bench-results}"
  if python3 "$ROOT/bench/_noop_report.py" --bench "real_noop_$CLUSTER" --label "$label" --install "$install" \
       --hosts "$hosts" --target 30 --install-target 180 \
       --note "scenario timings so far (cold cache: media+bundle, lab-up, mirror-serve): ${timings[*]}" --out "$GW_BENCH_RESULTS/real_noop_$CLUSTER-$(date -u +%Y%m%dT%H%M%SZ).json" \
       "${runs[@]}"; then
    log "ok: speed: every re-run changed=0"
  else
    fail "speed: a re-run reported changes"
  fi
}
