#!/usr/bin/env bash
# README command 1: install what is needed, start the built-in lab (3 control planes + 2 workers, real
# systemd, SSH, containerd, haproxy) and run site.yml against it from the lab's controller namespace
# (which has no route anywhere but the lab).
#   With the Kubernetes media (GW_K8S_MEDIA, default ../shared/k8s/v1.33.3): REAL Kubernetes, fed as an
#   air-gapped site is fed: media -> artifacts dir -> bundle (mirror.yml build) -> a 6th lab host, the
#   site mirror, serves it (mirror.yml serve) -> site.yml with the mirror variables (tests/scenarios/70-real).
#   Without it (or GW_LAB_DOUBLES=1): kubeadm/kubelet/kubectl are the test doubles from tests/doubles,
#   and it says so.
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

# shellcheck source=tests/scenarios/70-real/lib.sh
. "$ROOT/tests/scenarios/70-real/lib.sh"

"$LAB" down --name "$NAME" >/dev/null 2>&1
rm -rf "$WORK"; mkdir -p "$WORK"
t0=$SECONDS
REAL=0
if [ "${GW_LAB_DOUBLES:-0}" != 1 ] && why=$(media_present); then
  REAL=1
  log "real Kubernetes: media $MEDIA, installed through the air-gap path (bundle, site mirror host, site.yml)"
else
  [ "${GW_LAB_DOUBLES:-0}" = 1 ] && why="GW_LAB_DOUBLES=1"
  log "no real Kubernetes media ($why): kubeadm/kubelet/kubectl are the test doubles from tests/doubles"
fi
export GW_LAB_INOTIFY_INSTANCES=${GW_LAB_INOTIFY_INSTANCES:-1024} GW_LAB_INOTIFY_WATCHES=${GW_LAB_INOTIFY_WATCHES:-524288}
if [ "$REAL" = 1 ]; then
  log "media -> site artifacts dir -> bundle (cached in $RWORK) ..."
  build_bundle "$MEDIA" || { log "bundle build failed"; exit 1; }
  log "bundle ready ($BUNDLE_INFO; media ${T_MEDIA}s, bundle ${T_BUNDLE}s); starting the lab '$NAME' (cp1 cp2 cp3 w1 w2 mirror) ..."
  lab_up cp1,cp2,cp3,w1,w2,mirror || { log "lab up failed"; exit 1; }
  trap '[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null' EXIT
  log "the mirror host serves the bundle (mirror.yml --tags serve) ..."
  serve_mirror || { log "mirror serve failed"; exit 1; }
  write_groups cp1,cp2,cp3 w1,w2 haproxy "" mirror
  write_real_vars
else
  log "staging the site files (APT repo, doubles) ..."
  if ! { build_apt_repo && stage_doubles; }; then log "staging failed"; exit 1; fi
  log "starting the lab '$NAME' (cp1 cp2 cp3 w1 w2) ..."
  lab_up cp1,cp2,cp3,w1,w2 || { log "lab up failed"; exit 1; }
  trap '[ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null' EXIT
  write_groups cp1,cp2,cp3 w1,w2 haproxy
  write_vars
fi
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
