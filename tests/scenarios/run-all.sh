#!/usr/bin/env bash
# Runs lab scenarios (tests/scenarios/NN-name/run.sh) in name order. Each scenario brings up the
# lab it needs and tears it down. Prints one line per scenario with its time, then
# "scenarios: N passed, N failed".
#   GW_SCENARIOS="00-lab-smoke 30-install"   only these (by name)
#   GW_SCENARIOS=ci                           the CI set in tests/scenarios/ci.list (default)
#   GW_SCENARIOS=all                          every scenario
#   GW_FAILURE_LOG=FILE                       append the last lines of each failed scenario there
#                                             (GW_FAILURE_TAIL lines, default 40; printed at the end too)
#   GW_SCENARIO_LANE=N                        with ci: only the scenarios of lane N (scripts/test.sh
#                                             runs lanes side by side); unset: every lane, one by one
# ci.list lines are "NAME [lane=N] [VAR=value ...]": the variables are set for that scenario only;
# lane (default 1) says which of CI's parallel lanes runs it.
# A scenario that exits 77 after printing "SKIPPED: <why>" (its optional input, e.g. the real lane's
# Kubernetes media, is absent) is listed as SKIP with the reason; it neither passes nor fails.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sel=${GW_SCENARIOS:-ci}
want_lane=${GW_SCENARIO_LANE:-}
envs=()   # per entry (a scenario may be listed twice with different variables)
names=()
case "$sel" in
  all) for d in "$HERE"/*/; do [ -x "$d/run.sh" ] && names+=("$(basename "$d")"); done ;;
  ci)
    while read -r name rest; do
      case "$name" in ''|'#'*) continue ;; esac
      lane=1 vars=()
      for w in $rest; do
        case "$w" in lane=*) lane=${w#lane=} ;; *) vars+=("$w") ;; esac
      done
      [ -z "$want_lane" ] || [ "$lane" = "$want_lane" ] || continue
      names+=("$name"); envs+=("${vars[*]}")
    done < "$HERE/ci.list" ;;
  *) read -r -a names <<<"$sel" ;;
esac
if [ ${#names[@]} -eq 0 ]; then echo "scenarios: none selected (GW_SCENARIOS=$sel GW_SCENARIO_LANE=$want_lane)"; exit 0; fi
passed=0; failed=0; skipped=0; lines=(); tails=()
TAIL_LINES=${GW_FAILURE_TAIL:-40}
for i in "${!names[@]}"; do
  name=${names[$i]} ev=${envs[$i]:-}
  dir=$HERE/$name
  if [ ! -x "$dir/run.sh" ]; then lines+=("FAIL $name (no such scenario)"); failed=$((failed + 1)); continue; fi
  t0=$SECONDS
  owner="run-all-$$-$i-$name"
  printf '\n----- scenario %s %s -----\n' "$name" "$ev"
  log=$(mktemp /tmp/gw-scenario-log.XXXXXX)
  # output to the terminal and to $log (a process substitution: a stray child holding stdout
  # cannot make the run wait for it)
  # shellcheck disable=SC2086
  env GW_LAB_OWNER="$owner" $ev "$dir/run.sh" > >(tee -a "$log") 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    lines+=("PASS $name${ev:+ ($ev)} ($((SECONDS - t0)) s)"); passed=$((passed + 1))
  elif [ "$rc" -eq 77 ]; then
    # a scenario whose optional input is absent (the real lane without media): said, not counted as run
    sleep 0.5
    lines+=("SKIP $name: $(grep -o 'SKIPPED: .*' "$log" | head -1 | cut -c10-)"); skipped=$((skipped + 1))
  else
    lines+=("FAIL $name${ev:+ ($ev)} ($((SECONDS - t0)) s)"); failed=$((failed + 1))
    sleep 0.5  # let tee write the last lines
    # why it failed, where a reader of only the end of a long CI log will see it
    { printf -- '----- FAIL %s%s: its last %s lines -----\n' "$name" "${ev:+ ($ev)}" "$TAIL_LINES"
      tail -n "$TAIL_LINES" "$log"; } > "$log.tail"
    tails+=("$log.tail")
    [ -z "${GW_FAILURE_LOG:-}" ] || cat "$log.tail" >> "$GW_FAILURE_LOG"
  fi
  rm -f "$log"
  # never leave a lab behind for the next scenario: remove the labs this scenario started (their
  # owner file names it), never those of a scenario running beside it or other people's
  for f in "${GW_LAB_VAR:-/var/lib/groundwork-lab}"/*/owner; do
    if [ ! -f "$f" ] || [ "$(cat "$f")" != "$owner" ]; then continue; fi
    echo "scenario $name left lab $(basename "$(dirname "$f")") up: removing it"
    "$HERE/../lab/lab" down --name "$(basename "$(dirname "$f")")" >/dev/null 2>&1 || true
  done
done
for f in "${tails[@]}"; do cat "$f"; rm -f "$f"; done
printf '%s\n' "${lines[@]}"
echo "scenarios: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
