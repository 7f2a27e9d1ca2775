#!/usr/bin/env bash
# Runs lab scenarios (tests/scenarios/NN-name/run.sh) in name order. Each scenario brings up the
# lab it needs and tears it down. Prints one line per scenario with its time, then
# "scenarios: N passed, N failed".
#   GW_SCENARIOS="00-lab-smoke 30-install"   only these (by name)
#   GW_SCENARIOS=ci                           the CI set in tests/scenarios/ci.list (default)
#   GW_SCENARIOS=all                          every scenario
# ci.list lines are "NAME [VAR=value ...]": the variables are set for that scenario only.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sel=${GW_SCENARIOS:-ci}
declare -A envs=()
names=()
case "$sel" in
  all) for d in "$HERE"/*/; do [ -x "$d/run.sh" ] && names+=("$(basename "$d")"); done ;;
  ci)
    while read -r name rest; do
      case "$name" in ''|'#'*) continue ;; esac
      names+=("$name"); envs[$name]=$rest
    done < "$HERE/ci.list" ;;
  *) read -r -a names <<<"$sel" ;;
esac
passed=0; failed=0; lines=()
for name in "${names[@]}"; do
  dir=$HERE/$name
  if [ ! -x "$dir/run.sh" ]; then lines+=("FAIL $name (no such scenario)"); failed=$((failed + 1)); continue; fi
  t0=$SECONDS
  before=$("$HERE/../lab/lab" list 2>/dev/null | awk '{print $1}')
  printf '\n----- scenario %s %s -----\n' "$name" "${envs[$name]:-}"
  # shellcheck disable=SC2086
  if env ${envs[$name]:-} "$dir/run.sh"; then
    lines+=("PASS $name ($((SECONDS - t0)) s)"); passed=$((passed + 1))
  else
    lines+=("FAIL $name ($((SECONDS - t0)) s)"); failed=$((failed + 1))
    # never leave a broken lab behind for the next scenario: remove the labs this scenario
    # started (those that did not exist before it), not other people's
    for lab in $("$HERE/../lab/lab" list 2>/dev/null | awk '{print $1}'); do
      grep -qxF "$lab" <<<"$before" || "$HERE/../lab/lab" down --name "$lab" >/dev/null 2>&1 || true
    done
  fi
done
printf '%s\n' "${lines[@]}"
echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
