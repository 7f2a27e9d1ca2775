# shellcheck shell=bash
# Test helper (fault scenarios): the controller SIGKILLed at EVERY task boundary of one node's part of a play, and
# the playbook run again each time (tests/helpers/callback_plugins/gw_kill.py does the kill).
#
#   kill_sweep RUNNER HOST PLAYRE MAX DIR -- PLAYBOOK [ARGS...]
#
# Run k (k = 1, 2, ...) is killed at the k-th task start HOST has in the plays whose name matches PLAYRE. Every run
# enters HOST's part again from its first task (a resumed phase re-runs its tasks; done work is found done), so run
# k is cut at boundary k with boundaries 1..k-1 already behind it - each boundary is cut once, in order, and each
# run also resumes what the run before it left. The sweep ends with the first run whose HOST part ends before its
# k-th task start: nothing left to cut, and that run is the final resume (its rc is the sweep's rc).
# RUNNER is the scenario's function that runs ansible-playbook in this environment (70-real: play; 50: run).
# Sets SWEEP_KILLS (runs killed), SWEEP_RC (the final run's rc, or "max" when MAX runs were all killed),
# SWEEP_STARTS (task starts of HOST in the final run), SWEEP_TASKS ("k:task name" of each cut, in order).
# DIR keeps each run's kill log (kill.K.log: "N<TAB>play<TAB>task" per counted start, "KILLED N" when cut).
# shellcheck disable=SC2034  # SWEEP_* are read by the caller
kill_sweep() {
  local runner=$1 host=$2 playre=$3 max=$4 dir=$5 k=1 rc
  shift 5
  [ "${1:-}" = -- ] && shift
  SWEEP_KILLS=0; SWEEP_RC=""; SWEEP_STARTS=0; SWEEP_TASKS=()
  mkdir -p "$dir"
  while [ "$k" -le "$max" ]; do
    rm -f "$dir/kill.$k.log"
    ANSIBLE_CALLBACK_PLUGINS=$ROOT/tests/helpers/callback_plugins ANSIBLE_CALLBACKS_ENABLED=gw_kill \
      GW_KILL_HOST=$host GW_KILL_PLAY=$playre GW_KILL_AT=$k GW_KILL_LOG=$dir/kill.$k.log "$runner" "$@"
    rc=$?
    if grep -q '^KILLED' "$dir/kill.$k.log" 2>/dev/null; then
      SWEEP_TASKS+=("$k:$(awk -F'\t' '!/^KILLED/ { t = $3 } END { print t }' "$dir/kill.$k.log")")
      SWEEP_KILLS=$k
      k=$((k + 1))
      continue
    fi
    SWEEP_RC=$rc
    SWEEP_STARTS=$(grep -vc '^KILLED' "$dir/kill.$k.log" 2>/dev/null)
    return "$rc"
  done
  SWEEP_RC=max
  return 1
}
