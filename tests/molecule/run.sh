#!/usr/bin/env bash
# Role tests: `molecule test -s X` for each scenario in extensions/molecule (or the ones named), one after the
# other (each brings its own lab up and down), then one line per scenario: PASS/FAIL and seconds.
#   tests/molecule/run.sh [SCENARIO...]      as root, from anywhere; exits 1 if any scenario failed
# Env: GW_MOLECULE_LAB (lab name, default mol), GW_MOLECULE_LOGS (directory for each scenario's log,
# default a new /tmp/gw-molecule.XXXXXX, kept).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections" NO_COLOR=1 ANSIBLE_NOCOLOR=1
LOGS=${GW_MOLECULE_LOGS:-$(mktemp -d /tmp/gw-molecule.XXXXXX)}
mkdir -p "$LOGS"
if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  mapfile -t scenarios < <(find extensions/molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' \
                           | xargs -n1 basename | sort)
fi
results=() failed=0 T0=$SECONDS
for s in "${scenarios[@]}"; do
  t=$SECONDS
  if molecule test -s "$s" > "$LOGS/$s.log" 2>&1; then r=PASS; else r=FAIL; failed=1; fi
  results+=("$(printf '%-22s %s %4ss' "$s" "$r" $((SECONDS - t)))")
  printf '[molecule] %s\n' "${results[-1]}"
  # the first lines that say why (molecule's note that there is no "default" scenario is not one of them)
  [ "$r" = PASS ] || sed 's/\x1b\[[0-9;]*m//g' "$LOGS/$s.log" | grep -E 'fatal:|FAILED!|CRITICAL|Executed: Failed' \
    | grep -v 'default/molecule.yml' | head -8 | sed 's/^/[molecule]   /'
done
printf '[molecule] ---- %d scenario(s) in %ss, logs in %s\n' "${#scenarios[@]}" $((SECONDS - T0)) "$LOGS"
printf '[molecule] %s\n' "${results[@]}"
exit "$failed"
