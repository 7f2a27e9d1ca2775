#!/usr/bin/env bash
# Real install and no-op re-runs on the real lane (tests/scenarios/70-real, Kubernetes v1.33.3 from the media):
# part ha installs 3 control planes + 2 workers with artifacts on the mirror (the cold cache - media ->
# bundle, lab up, mirror serve - is timed separately; the install's 25 slowest tasks are printed, from
# ansible.posix.profile_tasks), then part speed (tests/scenarios/70-real/parts/speed.sh)
# re-runs site.yml GW_BENCH_RERUNS times (changed=0 checked) and writes
# bench/results/real_noop_ha-<stamp>.json with the install time. Takes one lab slot (~15-25 min loaded).
#   bench/real_install.sh        GW_LAB_NAME (default hspd); media absent -> SKIPPED (a result file says so)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GW_LAB_NAME=${GW_LAB_NAME:-hspd} GW_SCENARIO_PARTS=ha,speed GW_REAL_CHECK_DIFF=0 GW_REAL_PROFILE_INSTALL=1
export GW_REAL_HA_SPARE=1   # a fresh w3 beside the cluster: part speed times add_node.yml on it
export GW_BENCH_RESULTS=${GW_BENCH_RESULTS:-$ROOT/bench/results}
"$ROOT/tests/helpers/lab-slot.sh" bash "$ROOT/tests/scenarios/70-real/run.sh"
rc=$?
if [ $rc -eq 77 ]; then
  BENCH_DIR=$ROOT/bench python3 - <<'PY'
import os, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
import _benchlib as B
B.skipped("real_noop_ha", "the Kubernetes media (/work/shared/k8s/v1.33.3) is absent",
          [("no-op site.yml (5 hosts, real v1.33.3), median", 30, "lower"), ("install: first site.yml", 180, "lower")])
PY
fi
exit $rc
