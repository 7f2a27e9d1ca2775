#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, then
#   unit tests · ansible-test sanity · ansible-lint (production) · collection build ·
#   localhost integration (real etcd, openssl) · lab scenarios (real SSH hosts with systemd)
# Usage: scripts/test.sh [stage ...]   stages: unit sanity lint build integration lab
# The lab scenarios' lane 2 runs beside the other stages (see below); the whole run is timed.
# Exits non-zero if any stage fails; prints "N passed, N failed" over the stages last.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
bash scripts/bootstrap.sh || { echo "bootstrap failed"; exit 1; }
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
export GW_ROOT="$ROOT"

STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(unit sanity lint build integration lab)

# The lab scenarios are in lanes (tests/scenarios/ci.list). With the lab stage and others, lane 2
# starts at once in the background, beside the other stages; the lab stage runs lane 1 and then
# waits for lane 2. GW_CI_LANES=1 runs every lane in the lab stage, one after the other.
LANE2_PID=
# the last lines of every failed scenario (both lanes), printed again in the summary
mkdir -p "$ROOT/tests/output"
export GW_FAILURE_LOG="$ROOT/tests/output/scenario-failures.txt"
rm -f "$GW_FAILURE_LOG"
if [[ " ${STAGES[*]} " == *" lab "* ]] && [ "${#STAGES[@]}" -gt 1 ] && [ "${GW_CI_LANES:-2}" -gt 1 ] \
   && [ -z "${GW_SCENARIOS:-}" ]; then
  mkdir -p "$ROOT/tests/output"
  rm -f "$ROOT/tests/output/lane2.rc"
  ( GW_SCENARIO_LANE=2 bash tests/scenarios/run-all.sh 2>&1 | sed -u 's/^/[lab lane 2] /'
    echo "${PIPESTATUS[0]}" > "$ROOT/tests/output/lane2.rc" ) &
  LANE2_PID=$!
  echo "lab lane 2 started in the background (pid $LANE2_PID); its lines are prefixed [lab lane 2]"
fi
lab_stage() {
  if [ -z "$LANE2_PID" ]; then bash tests/scenarios/run-all.sh; return; fi
  local rc=0
  GW_SCENARIO_LANE=1 bash tests/scenarios/run-all.sh || rc=1
  echo "lab lane 1 done (rc $rc); waiting for lab lane 2"
  wait "$LANE2_PID"
  [ "$(cat "$ROOT/tests/output/lane2.rc" 2>/dev/null)" = 0 ] || { echo "lab lane 2 failed"; rc=1; }
  return $rc
}

declare -a RESULTS
passed=0; failed=0
stage() {
  local name=$1; shift
  local t0=$SECONDS
  printf '\n===== stage %s =====\n' "$name"
  if "$@"; then
    RESULTS+=("PASS $name ($((SECONDS - t0)) s)"); passed=$((passed + 1))
  else
    RESULTS+=("FAIL $name ($((SECONDS - t0)) s)"); failed=$((failed + 1))
  fi
}

for s in "${STAGES[@]}"; do
  case "$s" in
    unit)        stage unit pytest -q -p no:cacheprovider tests/unit ;;
    sanity)      stage sanity bash scripts/sanity.sh ;;
    lint)        stage lint ansible-lint --offline --profile production ;;
    build)       stage build bash scripts/build-check.sh ;;
    integration) stage integration pytest -q -p no:cacheprovider --durations=15 tests/integration ;;
    lab)         stage lab lab_stage ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done

printf '\n===== summary =====\n'
[ ! -s "$GW_FAILURE_LOG" ] || cat "$GW_FAILURE_LOG"
printf '%s\n' "${RESULTS[@]}"
echo "total: $SECONDS s (bootstrap included)"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
