#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, then
#   unit tests · ansible-test sanity · ansible-lint (production) · collection build ·
#   localhost integration (real etcd, openssl) · lab scenarios (real SSH hosts with systemd)
# Usage: scripts/test.sh [stage ...]   stages: unit sanity lint build integration lab
# Exits non-zero if any stage fails; prints "N passed, N failed" over the stages last.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
bash scripts/bootstrap.sh || { echo "bootstrap failed"; exit 1; }
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
export GW_ROOT="$ROOT"
export GW_SHARED="${GW_SHARED:-$(cd "$ROOT/.." && pwd)/shared}"

STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(unit sanity lint build integration lab)

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
    integration) stage integration pytest -q -p no:cacheprovider tests/integration ;;
    lab)         stage lab bash tests/scenarios/run-all.sh ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done

printf '\n===== summary =====\n'
printf '%s\n' "${RESULTS[@]}"
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
