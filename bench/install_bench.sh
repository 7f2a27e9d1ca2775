#!/usr/bin/env bash
# Install benchmark on the lab: wall time of site.yml on 3 control planes + 2 workers (stacked etcd,
# haproxy endpoint), wall time of the no-op re-run, and the task executions per host (each one is an
# SSH round trip; skipped tasks are not counted; a delegated task counts for the host it ran on).
# Same lab, software and variables as tests/scenarios/30-install. Env: GW_LAB_NAME (default kbench).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export NAME=${GW_LAB_NAME:-kbench}
SITE=${GW_SITE_PLAYBOOK:-site.yml}
WORK=$(mktemp -d /tmp/gw-install-bench.XXXXXX)
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$ROOT/tests/scenarios/30-install/lib.sh"
cd "$ROOT" || exit 1
trap 'lab_down; rm -rf "$WORK"' EXIT

if ! { build_apt_repo && stage_doubles; }; then echo "staging failed"; exit 1; fi
lab_up cp1,cp2,cp3,w1,w2 || exit 1
write_groups cp1,cp2,cp3 w1,w2 haproxy
write_vars

run_json() { # label -> wall seconds in $WALL, JSON in $WORK/label.json
  local t0
  t0=$(date +%s.%N)
  ctl env ANSIBLE_STDOUT_CALLBACK=ansible.posix.json ansible-playbook -i "$INV" -i "$WORK/groups.yml" \
    -e "@$WORK/vars.yml" "$SITE" > "$WORK/$1.json" 2>"$WORK/$1.err"
  RC=$?
  WALL=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}
count() { # json -> "host=N ..." task executions, and changed total
  python3 - "$1" <<'PY'
import collections, json, sys
data = json.load(open(sys.argv[1]))
runs, changed = collections.Counter(), 0
for play in data["plays"]:
    for task in play["tasks"]:
        for host, res in task["hosts"].items():
            items = res.get("results") or [res]
            for r in items:
                if r.get("skipped"):
                    continue
                target = (r.get("_ansible_delegated_vars") or {}).get("ansible_delegated_host") or host
                runs[target] += 1
            changed += bool(res.get("changed"))
print(" ".join("%s=%d" % kv for kv in sorted(runs.items())), "| total", sum(runs.values()), "| changed", changed)
PY
}

run_json install; INSTALL=$WALL; IRC=$RC
run_json rerun; RERUN=$WALL; RRC=$RC
echo "install: ${INSTALL}s (rc=$IRC)   task executions per host: $(count "$WORK/install.json")"
echo "no-op re-run: ${RERUN}s (rc=$RRC)   task executions per host: $(count "$WORK/rerun.json")"
[ "$IRC" -eq 0 ] && [ "$RRC" -eq 0 ]
