#!/usr/bin/env bash
# Runs every lab scenario (tests/scenarios/NN-name/run.sh) in name order.
# Each scenario brings up the lab it needs and tears it down. Prints one line per
# scenario with its time and a final "N passed, N failed".
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
passed=0; failed=0; lines=()
only=${GW_SCENARIOS:-}
for dir in "$HERE"/*/; do
  name=$(basename "$dir")
  [ -x "$dir/run.sh" ] || continue
  if [ -n "$only" ] && ! grep -qw -- "$name" <<<"$only"; then continue; fi
  t0=$SECONDS
  printf '\n----- scenario %s -----\n' "$name"
  if "$dir/run.sh"; then
    lines+=("PASS $name ($((SECONDS - t0)) s)"); passed=$((passed + 1))
  else
    lines+=("FAIL $name ($((SECONDS - t0)) s)"); failed=$((failed + 1))
    # never leave a broken lab behind for the next scenario
    "$HERE/../lab/lab" down >/dev/null 2>&1 || true
  fi
done
printf '%s\n' "${lines[@]}"
echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
