#!/usr/bin/env bash
# README command 1: install what is needed, start the built-in lab (3 control planes + 2 workers,
# real systemd, SSH, containerd, haproxy; kubeadm/kubelet/kubectl are the test doubles from
# tests/doubles because no registry here has the real binaries), and run site.yml against it from
# the lab's controller namespace (which has no route anywhere but the lab).
# The lab stays up afterwards; `tests/lab/lab down --name gw` removes it.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
bash scripts/bootstrap.sh || { echo "bootstrap failed"; exit 1; }
export PATH="$ROOT/.venv/bin:$PATH"
NAME=${GW_LAB_NAME:-gw}
WORK="$ROOT/tests/lab/.state/site-$NAME"
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$ROOT/tests/scenarios/30-install/lib.sh"
log() { printf '[lab-site] %s\n' "$*"; }

"$LAB" down --name "$NAME" >/dev/null 2>&1
rm -rf "$WORK"; mkdir -p "$WORK"
t0=$SECONDS
log "staging the site files (APT repo, doubles) ..."
if ! { build_apt_repo && build_wheels && stage_doubles; }; then log "staging failed"; exit 1; fi
log "starting the lab '$NAME' (cp1 cp2 cp3 w1 w2) ..."
lab_up cp1,cp2,cp3,w1,w2 || { log "lab up failed"; exit 1; }
trap '[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null' EXIT
write_groups cp1,cp2,cp3 w1,w2 haproxy
write_vars
prepare_python >/dev/null || { log "python libraries on the hosts failed"; tail -20 "$WORK/last.log"; exit 1; }
log "running site.yml (inventory: $INV + $WORK/groups.yml, variables: $WORK/vars.yml) ..."
ctl ansible-playbook -i "$INV" -i "$WORK/groups.yml" -e "@$WORK/vars.yml" site.yml 2>&1 | tee "$WORK/site.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ]; then
  log "site.yml finished in $((SECONDS - t0)) s. Nodes as the API sees them:"
  ssh_host cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes
  log "reach a host: tests/lab/lab ssh --name $NAME cp1 ; re-run: the same command ; remove: tests/lab/lab down --name $NAME"
else
  log "site.yml failed (rc=$rc); log: $WORK/site.log; the lab is left up for inspection"
fi
exit "$rc"
