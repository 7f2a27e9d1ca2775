#!/usr/bin/env bash
# Scenario 60 — Groundwork jobs as AWX runs them (issue #8): ansible-runner with a private data dir
# laid out as AWX lays it out (project/ with the collection installed from its tarball under
# project/collections, inventory/hosts as an inventory script, env/extravars with the survey's
# example answers and the injected backup key, env/ssh_key loaded into ssh-agent, env/settings,
# env/envvars, env/cmdline), run inside the lab's controller namespace over real SSH:
#   install   playbooks/site.yml (its preflight part while an install role is missing), then again:
#             changed=0
#   set-up    playbooks/etcd.yml (backup program, key, timers, backup host), then again: changed=0
#   backup    playbooks/backup.yml to the off-node backup host
#   report    playbooks/cert_report.yml
#   upgrade   playbooks/upgrade.yml to v1.35.1 (the inventory's version and binaries set to it): a verified
#             etcd backup by the program etcd.yml installed, then cp1 upgraded
#   refusal   a dangerous playbook with a wrong groundwork_confirm fails on the check, nothing changes
# Checks the job events (runner_on_ok / changed / failed / unreachable / skipped) against
# playbook_on_stats and prints the counts and run times of each job.
# The lab's software comes the way 30-install serves it (tests/scenarios/30-install/lib.sh:
# site APT repository, kubeadm/kubelet/kubectl doubles, the lab's quirk variables).
# Hosts: cp1 (control plane), e1-e3 (external etcd, real etcd 3.4), bk1 (off-node backup host).
# Env: GW_LAB_NAME (default awx), GW_AWX_KEEP_LAB=1 keeps the lab up afterwards,
# GW_AWX_RERUN=0 skips the second (changed=0) run of site.yml and etcd.yml.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
NAME=${GW_LAB_NAME:-awx}
WORK=$(mktemp -d /tmp/gw-awx.XXXXXX)
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$ROOT/tests/scenarios/30-install/lib.sh"
cd "$ROOT" || exit 1

log() { printf '[60-awx-runner] %s\n' "$*"; }
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "${GW_AWX_KEEP_LAB:-}" ]; then
    log "lab $NAME and $WORK kept (http server pid ${HTTP_PID:-none}); tests/lab/lab down --name $NAME"
  else
    lab_down; rm -rf "$WORK"
  fi
}
trap cleanup EXIT
T0=$SECONDS

if ! { build_apt_repo && stage_doubles; }; then log "FAIL: preparing the site files"; exit 1; fi
# Real etcd members (external etcd on e1-e3, from Debian's etcd 3.4 packed as the upstream tarball):
# the control plane's stacked etcd would be the kubelet double, and a backup must snapshot a real one.
mkdir -p "$WORK/etcd-v3.4-linux-amd64"
cp /usr/bin/etcd /usr/bin/etcdctl "$WORK/etcd-v3.4-linux-amd64/"
tar -C "$WORK" -czf "$WORK/etcd-v3.4-linux-amd64.tar.gz" etcd-v3.4-linux-amd64
ETCD_SHA=$(sha256sum "$WORK/etcd-v3.4-linux-amd64.tar.gz" | cut -d' ' -f1)
lab_up cp1,e1,e2,e3,bk1 || { log "FAIL: lab up"; exit 1; }
write_groups cp1 "" none e1,e2,e3
write_vars
# The next release's doubles for the upgrade job (its inventory variables, as docs/upgrade.md asks)
# shellcheck source=tests/scenarios/30-install/upgrade.sh
. "$ROOT/tests/scenarios/30-install/upgrade.sh"
stage_upgrade || { log "FAIL: staging the upgrade doubles"; exit 1; }
GW_AWX_LAB_UPGRADE_VARS=$(python3 -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$WORK/upgrade-vars.yml")
export GW_AWX_LAB_UPGRADE_VARS
cat >> "$WORK/vars.yml" <<EOV
etcd_binary_source: tarball
etcd_tarball_src: $WORK/etcd-v3.4-linux-amd64.tar.gz
etcd_tarball_sha256: $ETCD_SHA
# the machine's RLIMIT_NOFILE hard limit is 20000 (no CAP_SYS_RESOURCE)
etcd_limit_nofile: 16384
groundwork_cluster_name: awx
EOV
log "lab up in $(( SECONDS - T0 ))s"

# The AWX inventory: the lab's hosts in Groundwork's groups, the lab's variables as inventory
# variables. The backup key comes as the "Groundwork secrets" credential injects it: an extra var.
export GW_AWX_LAB=$NAME
# One inventory for every job, as in AWX: external etcd with 3 members (preflight refuses 1).
export GW_AWX_LAB_GROUPS="kube_control_plane=cp1;kube_node=;etcd=e1,e2,e3;backup=bk1"
GW_AWX_LAB_VARS=$(python3 -c 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$WORK/vars.yml")
export GW_AWX_LAB_VARS
export GW_AWX_LAB_EXTRAVARS='{"groundwork_backup_encryption_key": "lab-only-awx-backup-key-0123456789"}'
export GW_AWX_LAB_PDD=$WORK/pdd
export GW_AWX_RESULTS=$WORK/results.jsonl
export GW_CERT_REPORT_DIR=$WORK/cert-report

T1=$SECONDS
pytest -q -p no:cacheprovider -rs "$ROOT/tests/integration/test_ansible_runner.py" -k "lab" 2>&1 | tail -40
rc=${PIPESTATUS[0]}
log "jobs ran in $(( SECONDS - T1 ))s"

python3 - "$GW_AWX_RESULTS" <<'PY'
import json, sys
try:
    rows = [json.loads(line) for line in open(sys.argv[1])]
except FileNotFoundError:
    rows = []
for r in rows:
    e = r["events"]
    print("[60-awx-runner] %-45s %-10s %5.1fs  ok=%-3d changed=%-3d failed=%-2d unreachable=%-2d skipped=%-3d tasks=%d hosts=%s"
          % (r["job"], r["status"], r["seconds"], e.get("runner_on_ok", 0), r["runner_on_changed"],
             e.get("runner_on_failed", 0), e.get("runner_on_unreachable", 0), e.get("runner_on_skipped", 0),
             e.get("playbook_on_task_start", 0), ",".join(sorted((r["stats"] or {}).get("processed", {})))))
PY
log "total $(( SECONDS - T0 ))s"
exit "$rc"
