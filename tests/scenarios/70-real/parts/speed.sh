# shellcheck shell=bash
# Part speed (issue #20; a bench, not a test: it times, it does not judge speed): on the real cluster that
# is up (CLUSTER=ha: 3 CP + 2 W), re-runs site.yml GW_BENCH_RERUNS times (default 3) with the
# ansible.posix.json callback; every re-run must report changed=0 (that is checked). Writes a bench result
# (bench/_noop_report.py: wall median/spread, task executions per host, time per play/role/task) into
# GW_BENCH_RESULTS (default: a scratch dir; bench/real_install.sh points it at bench/results/) with part
# ha's install time when it ran in the same scenario. Then (GW_BENCH_ADD_NODE=1, the default, HA cluster
# only) one worker is added with add_node.yml, timed (issue #20: adding one worker <= 45 s, touching only it):
# the fresh spare host w3 when the lab has one (GW_REAL_HA_SPARE=1, as bench/real_install.sh sets), otherwise
# w2 after remove_node.yml took it out (untimed; its binaries and containerd stay installed). The worker must
# be Ready and no other host changed.
#   GW_LAB_NAME=hspd GW_SCENARIO_PARTS=ha,speed tests/helpers/lab-slot.sh bash tests/scenarios/70-real/run.sh
part_speed() {
  local i t0 wall runs=() install=null hosts=5 m label
  [ "$CLUSTER" = ha ] || hosts=1
  # shellcheck disable=SC2154  # timings is run.sh's (the part is sourced by it)
  for m in "${timings[@]}"; do
    case $m in "$CLUSTER-site.yml "*) install=${m#* }; install=${install%s} ;; esac
  done
  local extra=() note="" i=1 tries=0
  while [ "$i" -le "${GW_BENCH_RERUNS:-3}" ] && [ "$tries" -lt 6 ]; do
    tries=$((tries + 1))
    t0=$(date +%s.%N)
    ANSIBLE_STDOUT_CALLBACK=ansible.posix.json play site.yml "${extra[@]}"
    local rc=$?
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    cp "$WORK/last.log" "$WORK/speed-rerun$i.json"
    if [ $rc -ne 0 ]; then
      fail "speed: site.yml re-run failed: $(python3 -c 'import json, sys
t = open(sys.argv[1]).read(); d = json.loads(t[t.index("{"):])
print("; ".join("%s: %s" % (h, str(r.get("msg"))[:300]) for p in d["plays"] for k in p["tasks"]
      for h, r in k["hosts"].items() if r.get("failed") and not r.get("ignore_errors"))[:1500])' "$WORK/last.log" 2>&1)"
      # measured once more with the refusing day-2/DR preflight checks off (recorded in the result's notes)
      [ ${#extra[@]} -eq 0 ] || return 1
      extra=(-e preflight_version_guard=false -e preflight_check_existing_cluster=false)
      note="measured with ${extra[*]} (preflight refused the plain re-run)"
      continue
    fi
    log "speed: site.yml re-run $i: ${wall}s"
    runs+=("$wall:$WORK/speed-rerun$i.json")
    i=$((i + 1))
  done
  local add=() t_add w=w2 how="re-add a removed worker"
  if [ "${GW_BENCH_ADD_NODE:-1}" = 1 ] && [ "$CLUSTER" = ha ]; then
    if [ -n "${GW_REAL_HA_SPARE:-}" ]; then
      w=w3 how="add one fresh worker"
      write_groups cp1,cp2,cp3 w1,w2,w3 haproxy "" mirror
    elif ! play playbooks/remove_node.yml --limit w2 -e groundwork_confirm=remove_node; then
      fail "speed: remove_node.yml --limit w2 failed"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40
      w=
    fi
    if [ -n "$w" ]; then
      t0=$(date +%s.%N)
      ANSIBLE_STDOUT_CALLBACK=ansible.posix.json play playbooks/add_node.yml --limit "$w"
      rc=$?
      t_add=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
      cp "$WORK/last.log" "$WORK/speed-add-$w.json"
      if [ $rc -eq 0 ]; then
        log "speed: $how: add_node.yml --limit $w: ${t_add}s"
        add=(--add-node "$w:$t_add:$WORK/speed-add-$w.json" --add-label "$how" ${GW_REAL_HA_SPARE:+--spare})
        check "speed: $w Ready after add_node.yml" wait_for 180 all_ready "cp1 cp2 cp3 w1 w2${GW_REAL_HA_SPARE:+ w3}"
      else
        fail "speed: add_node.yml --limit $w failed"
      fi
    fi
  fi
  label="no-op site.yml ($hosts hosts, real v1.33.3)"
  mkdir -p "${GW_BENCH_RESULTS:=$WORK/bench-results}"
  if python3 "$ROOT/bench/_noop_report.py" --bench "real_noop_$CLUSTER" --label "$label" --install "$install" \
       --hosts "$hosts" --target 30 --install-target 180 \
       --note "scenario timings so far (cold cache: media+bundle, lab-up, mirror-serve): ${timings[*]}" \
       ${note:+--note "$note"} "${add[@]}" --out "$GW_BENCH_RESULTS/real_noop_$CLUSTER-$(date -u +%Y%m%dT%H%M%SZ).json" \
       "${runs[@]}"; then
    log "ok: speed: every re-run changed=0${add:+, add_node.yml changed no other host}"
  else
    fail "speed: a re-run reported changes${add:+, or add_node.yml changed another host}"
  fi
}
