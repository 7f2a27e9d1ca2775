#!/usr/bin/env bash
# Scenario 50 — certificate rotation on the lab (issue #7).
# 3 control planes that are also the 3 external etcd members (real Debian etcd 3.4) + 1 worker,
# installed by site.yml with 2-day leaves (pki_validity_days: 2; the kubeadm binaries are the doubles).
#   renew     rotate_certs.yml renews every due leaf node by node, each node's health gate passing before
#             the next node is renewed (task order checked); every leaf and kubeconfig client certificate
#             then has 364+ days (openssl); a second run changes nothing on the nodes (same files)
#   gate      cp2's etcd client port is blocked (iptables) and a renew-all run starts: cp1 is renewed and
#             gated, cp2 is renewed and fails its gate, the run stops, cp3 is untouched (fingerprints)
#   ca        rotate_ca.yml phase 1; phase 2 interrupted at cp2 (same gate trick: cp3 and w1 stay in
#             phase 1) and resumed (cp1, cp2 not redone); phase 3;
#             phase 3 stopped on purpose on cp1 right after its manifests were paused (test hook, as a
#             killed controller leaves it): cp1 not recorded done; the same command resumes and converges;
#             after each phase pki_check.py (openssl, independent of the collection) checks every node's
#             trust files, signing keys, kubeconfig CA data, every leaf and kubeconfig client certificate
#             and the state file; after phase 3 nothing trusts or is signed by the old CAs, and the same
#             check run on the pre-rotation copy must fail (it can); re-running all phases changes nothing
#   sweep     a further rotation (the first with GW_ROTATION_PARTS=sweep): phase 1; phase 2 with the controller SIGKILLed at
#             EVERY task boundary of cp2's part, the same command run again after each kill
#             (tests/helpers/kill_sweep.sh), an etcd write + quorum probe every second throughout; then phase 3.
#             The last run completes; every node reissued, nothing in progress or paused, pki_check passes on
#             every node after phases 2 and 3; the etcd probe's failed writes are printed and must be 0
# Prints the time of each phase. Env: GW_LAB_NAME (default rotate), GW_KEEP_LAB=1 leaves the lab up,
# GW_SCENARIO_LOGS=DIR keeps every playbook's output there.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
# shellcheck disable=SC2034  # NAME is read by lib.sh
NAME=${GW_LAB_NAME:-rotate}
WORK=$(mktemp -d /tmp/gw-rotation.XXXXXX)
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$ROOT/tests/scenarios/30-install/lib.sh"
cd "$ROOT" || exit 1

log() { printf '[50-rotation] %s\n' "$*"; }
failures=()
fail() { failures+=("$*"); log "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then log "ok: $what"; else fail "$what"; fi; }
timings=()
mark() { timings+=("$1 $(( SECONDS - $2 ))s"); }
cleanup() {
  if [ -n "${GW_KEEP_LAB:-}" ]; then log "lab $NAME kept (tests/lab/lab down --name $NAME); work dir $WORK"; return; fi
  lab_down; rm -rf "$WORK"
}
trap cleanup EXIT
PKI=/etc/kubernetes/pki
HOSTS="cp1 cp2 cp3 w1"
nplays=0
run() { # playbook [args]: lib.sh's play, output kept in GW_SCENARIO_LOGS when set
  local rc; play "$@"; rc=$?
  nplays=$((nplays + 1))
  if [ -n "${GW_SCENARIO_LOGS:-}" ]; then
    mkdir -p "$GW_SCENARIO_LOGS" && cp "$WORK/last.log" "$GW_SCENARIO_LOGS/$(printf %02d $nplays)-$(basename "$1" .yml).log"
  fi
  return $rc
}
show_failure() { grep -B2 -A30 'fatal:\|FAILED!' "$WORK/last.log" | head -60; }
node_changed() { # changed= summed over the nodes (the controller's report files excluded)
  awk '/ changed=/ && $1 != "localhost" { for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }' <<<"$OUT"
}
steps() { # "work task regex" "gate task regex" -> "work cp1,gate cp1,..." in the order the last run did them
  awk -v w="$1" -v g="$2" '
    /^TASK \[/ { t = ($0 ~ w) ? "work" : ($0 ~ g) ? "gate" : "" }
    t != "" && /^(ok|changed): \[[a-z0-9]+\]/ { h = $2; gsub(/[\[\]]/, "", h); s = t " " h; if (s != last) { printf "%s%s", sep, s; sep = ","; last = s } }
  ' "$WORK/last.log"
}
fp() { ssh_host "$1" -- openssl x509 -noout -fingerprint -sha256 -in "$2" | cut -d= -f2; }
days_left() { # snapshot host cert (relative to the PKI dir) -> whole days
  local end; end=$(openssl x509 -noout -enddate -in "$WORK/snap/$1/$2$PKI/$3" | cut -d= -f2)
  echo $(( ($(date -d "$end" +%s) - $(date +%s)) / 86400 ))
}
unchanged() { # snapshot snapshot: the last run reported no change on the nodes and the files are the same
  [ "$(node_changed)" -eq 0 ] && diff -r "$WORK/snap/$1" "$WORK/snap/$2" >&2
}
stopped_at_cp2_etcd() { # rc of the last run
  [ "$1" -ne 0 ] && grep -q 'failed: \[cp2\] (item=etcd)' "$WORK/last.log"
}
block_etcd() { ssh_host "$1" -- iptables -I INPUT -p tcp --dport 2379 -j REJECT; }
unblock_etcd() { ssh_host "$1" -- iptables -D INPUT -p tcp --dport 2379 -j REJECT; }
snap() { # label: copy /etc/kubernetes of every host to $WORK/snap/label/<host>
  local h pids=()
  for h in $HOSTS; do
    mkdir -p "$WORK/snap/$1/$h"
    ssh_host "$h" -- tar -C / -cf - etc/kubernetes | tar -C "$WORK/snap/$1/$h" -xf - &
    pids+=($!)
  done
  wait "${pids[@]}"  # not a bare wait: lib.sh's HTTP server is a child too
}
found_old_leaves_and_trust() { # rc of the last pki_check
  [ "$1" -ne 0 ] && grep -Eq '"leaf": [1-9].*"trust": [1-9]' <<<"$PKI_CHECK_SUMMARY"
}
pki_check() { # phase before ref cur hosts...
  local out rc; out=$(python3 "$HERE/pki_check.py" "$1" "$WORK/snap/$2" "$WORK/snap/$3" "$WORK/snap/$4" "${@:5}"); rc=$?
  printf '%s\n' "$out" | sed 's/^/    /' >&2
  PKI_CHECK_SUMMARY=$(tail -1 <<<"$out")
  return $rc
}
etcd_tarball() {
  local d="$WORK/etcd-v3.4-linux-amd64"
  mkdir -p "$d" && cp /usr/bin/etcd /usr/bin/etcdctl "$d/"
  tar -C "$WORK" -czf "$WORK/etcd-v3.4-linux-amd64.tar.gz" "etcd-v3.4-linux-amd64"
}

lab_vars() {
  write_vars
  sed -i '/^control_plane_kubelet_config:/d' "$WORK/vars.yml"
  cat >> "$WORK/vars.yml" <<EOV
# --- scenario 50: short-lived leaves, external etcd on the control planes, the doubles' health ports
pki_validity_days: 2
etcd_binary_source: tarball
etcd_tarball_src: $WORK/etcd-v3.4-linux-amd64.tar.gz
etcd_tarball_sha256: $(sha256sum "$WORK/etcd-v3.4-linux-amd64.tar.gz" | cut -d" " -f1)
control_plane_kubelet_config: {cgroupDriver: cgroupfs, oomScoreAdj: 0, rotateCertificates: true, failCgroupV1: false}  # the lab is cgroup v1
# The doubles' components come back within a second or two: poll the gate every second.
cert_rotation_health_delay: 1
# The controller-manager and scheduler doubles serve plain-HTTP health (the real ones serve HTTPS).
cert_rotation_health_checks:
  - {name: kube-apiserver, role: control_plane, url: "https://{{ ansible_host }}:6443/livez", ca_path: $PKI/ca.crt,
     client_cert: $PKI/apiserver-kubelet-client.crt, client_key: $PKI/apiserver-kubelet-client.key, expect: ok}
  - {name: kube-controller-manager, role: control_plane, url: "http://127.0.0.1:10257/healthz", expect: ok}
  - {name: kube-scheduler, role: control_plane, url: "http://127.0.0.1:10259/livez", expect: ok}
  - {name: etcd, role: etcd, url: "https://{{ ansible_host }}:2379/health", ca_path: $PKI/etcd/ca.crt,
     client_cert: $PKI/etcd/healthcheck-client.crt, client_key: $PKI/etcd/healthcheck-client.key, expect: '"health":"true"'}
EOV
}

install() {
  local t=$SECONDS
  lab_up cp1,cp2,cp3,w1 || { fail "lab up"; return 1; }
  write_groups cp1,cp2,cp3 w1 haproxy cp1,cp2,cp3
  lab_vars
  mark "lab-up+prepare" "$t"; t=$SECONDS
  # site.yml installs the external etcd members one at a time, then the control planes and the worker.
  if ! run site.yml; then fail "install"; show_failure; return 1; fi
  mark "install" "$t"
  snap installed
  local d; d=$(days_left installed cp2 apiserver.crt)
  check "leaves issued short (cp2 apiserver: $d days)" [ "$d" -le 2 ]
}

renew() {
  local t=$SECONDS d order
  if ! run playbooks/rotate_certs.yml; then fail "rotate_certs"; show_failure; return 1; fi
  mark "rotate_certs" "$t"
  order=$(steps 'Renew due certificates' ': Health of ')
  check "renewed node by node, each gate passing before the next node ($order)" \
    [ "$order" = "work cp1,gate cp1,work cp2,gate cp2,work cp3,gate cp3" ]
  snap renewed
  d=$(python3 "$HERE/pki_check.py" days "$WORK/snap/renewed" 364 cp1 cp2 cp3)
  check "every leaf and kubeconfig client certificate renewed ($d)" grep -q '^0 of [1-9]' <<<"$d"
  check "a backup dir exists on cp3" ssh_host cp3 -- test -d /var/backups/groundwork/certs
  t=$SECONDS
  run playbooks/rotate_certs.yml || fail "rotate_certs second run"
  mark "rotate_certs second run" "$t"
  snap renewed-again
  check "second run changes nothing on the nodes (changed=$(node_changed), same files)" \
    unchanged renewed renewed-again
}

gate() {
  local t=$SECONDS before1 before3 rc
  before1=$(fp cp1 $PKI/apiserver.crt); before3=$(fp cp3 $PKI/apiserver.crt)
  block_etcd cp2
  run playbooks/rotate_certs.yml -e rotate_certs_all=true -e cert_rotation_health_retries=2; rc=$?
  unblock_etcd cp2
  mark "gate run (stopped)" "$t"
  check "the run failed at cp2's etcd gate" stopped_at_cp2_etcd $rc
  # (cp2's gate shows up: its API server check passed before the etcd check failed)
  check "cp1 renewed and gated, then cp2, whose gate stopped the run before cp3 ($(steps 'Renew due certificates' ': Health of '))" \
    [ "$(steps 'Renew due certificates' ': Health of ')" = "work cp1,gate cp1,work cp2,gate cp2" ]
  check "cp1 has a new apiserver cert" [ "$before1" != "$(fp cp1 $PKI/apiserver.crt)" ]
  check "cp3 untouched (same apiserver cert)" [ "$before3" = "$(fp cp3 $PKI/apiserver.crt)" ]
  # ... and the backup the stopped run made on cp1 puts cp1's previous certificates back
  # (GW_ROTATION_PUTBACK=0 skips it). The put-back must keep the etcd user's keys etcd's: it once
  # made them root's and etcd on cp1 did not start again.
  [ "${GW_ROTATION_PUTBACK:-1}" != 0 ] || return 0
  t=$SECONDS
  run playbooks/restore_certs.yml -e groundwork_confirm=restore_certs -e restore_certs_hosts=cp1 \
    -e restore_certs_backup=latest; rc=$?
  mark "restore_certs cp1" "$t"
  [ "$rc" = 0 ] || show_failure
  check "restore_certs.yml put cp1's previous apiserver cert back, cp1's gate passed (rc $rc)" \
    same_cert_after_rc "$rc" "$before1" "$(fp cp1 $PKI/apiserver.crt)"
  local owners; owners=$(ssh_host cp1 -- stat -c %U $PKI/etcd/peer.key $PKI/etcd/server.key | tr '\n' ' ')
  check "the etcd user still owns etcd's keys on cp1 ($owners)" [ "$owners" = "etcd etcd " ]
}
paused_list() { ssh_host "$1" -- sh -c "'ls /etc/kubernetes/manifests-paused 2>/dev/null'" | tr '\n' ' ' | sed 's/ $//'; }
flat() { tr '\n' ' ' < "$WORK/last.log" | tr -s ' '; }  # the last log on one line (YAML results fold messages)
said_resumed() { flat | grep -q "$1: .* left in /etc/kubernetes/manifests-paused by an interrupted run"; }
stopped_paused() { # host rc: the last run stopped on purpose at host, its manifests still paused
  # (the result's msg is on lines of its own: callback_result_format yaml)
  [ "$2" -ne 0 ] && grep -Eq "(fatal|failed): \[$1\]" "$WORK/last.log" && flat | grep -q "test hook: stopped after" &&
    [ -n "$(paused_list "$1")" ]
}
state_of() { # host -> "phase in_progress applied" of its state.json
  ssh_host "$1" -- cat $PKI/.rotation/state.json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["phase"], d.get("in_progress"), bool(d.get("applied")))'
}
same_cert_after_rc() { [ "$1" = 0 ] && [ "$2" = "$3" ]; }
addr() { awk -v h="$1" '$0 ~ "^        " h ":" { f = 1 } f && /ansible_host:/ { print $2; exit }' "$INV"; }
# shellcheck source=tests/helpers/kill_sweep.sh
. "$ROOT/tests/helpers/kill_sweep.sh"

ca() {
  local t=$SECONDS rc order
  local C=(-e groundwork_confirm=rotate_ca -e rotate_ca_sa_grace_seconds=0)
  snap before
  # shellcheck disable=SC2086
  check "before: every leaf verifies against the CA it came from" pki_check none before before before $HOSTS
  run playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=1 || { fail "CA phase 1"; show_failure; return 1; }
  mark "CA phase 1" "$t"; t=$SECONDS
  order=$(steps 'CA rotation phase trusted' ': Health of ')
  check "phase 1 node by node ($order)" [ "$order" = "work cp1,gate cp1,work cp2,gate cp2,work cp3,gate cp3,work w1" ]
  snap p1
  # shellcheck disable=SC2086
  check "phase 1: every trust file holds old + new (old first); old keys sign" pki_check trusted before p1 p1 $HOSTS

  block_etcd cp2
  run playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=2 -e cert_rotation_health_retries=2; rc=$?
  unblock_etcd cp2
  mark "CA phase 2 (interrupted at cp2)" "$t"; t=$SECONDS
  check "phase 2 stopped at cp2's gate" stopped_at_cp2_etcd $rc
  order=$(steps 'CA rotation phase reissued' ': Health of ')
  check "phase 2 did cp1, then cp2, and never started cp3 ($order)" [ "$order" = "work cp1,gate cp1,work cp2,gate cp2" ]
  snap p2-stopped
  check "phase 2 stopped: cp1 reissued" pki_check reissued before p1 p2-stopped cp1
  # cp2's files were reissued but its gate failed: the phase is in progress there, not recorded done
  check "phase 2 stopped: cp2 in progress, not recorded done ($(state_of cp2))" [ "$(state_of cp2 | cut -d' ' -f1,2)" = "trusted reissued" ]
  check "phase 2 stopped: cp3, w1 untouched (trusted)" pki_check trusted before p1 p2-stopped cp3 w1
  run playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=2 || { fail "CA phase 2 resume"; show_failure; return 1; }
  mark "CA phase 2 resumed" "$t"; t=$SECONDS
  check "the plan resumed the unfinished rotation ($(grep -o 'rotation ca-[0-9TZ]* (resuming)' "$WORK/last.log" | head -1))" grep -q '(resuming)' "$WORK/last.log"
  order=$(steps 'CA rotation phase reissued' ': Health of ')
  check "phase 2 resumed node by node ($order)" [ "$order" = "work cp1,gate cp1,work cp2,gate cp2,work cp3,gate cp3,work w1" ]
  snap p2
  # pki_check also requires one "begin" per phase in each node's history: cp1/cp2 were not redone.
  # shellcheck disable=SC2086
  check "phase 2: new keys sign, bundles new first, every leaf reissued from the new CAs" pki_check reissued before p1 p2 $HOSTS

  # Phase 3 killed on cp1 right after its static-pod manifests were moved out (the test hook stops there
  # and leaves them paused, as a killed controller or a cancelled AWX job would): cp1 must not be recorded
  # done; the same command then finishes it (manifests back, restarts, gate) and the other nodes.
  run playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=3 -e cert_rotation_test_interrupt=after_pause; rc=$?
  mark "CA phase 3 (killed after cp1's manifests were paused)" "$t"; t=$SECONDS
  check "phase 3 stopped at cp1 with its manifests paused ($(paused_list cp1))" stopped_paused cp1 $rc
  check "cp1's phase 3 not recorded done ($(state_of cp1))" [ "$(state_of cp1)" = "reissued retired True" ]
  check "cp2 did not start phase 3 ($(state_of cp2))" [ "$(state_of cp2)" = "reissued None False" ]
  run playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=3 || { fail "CA phase 3"; show_failure; return 1; }
  mark "CA phase 3 resumed" "$t"; t=$SECONDS
  check "the resume moved cp1's manifests back before the gate, saying why" \
    said_resumed cp1
  check "nothing left paused on cp1 ($(paused_list cp1))" [ -z "$(paused_list cp1)" ]
  snap p3
  # shellcheck disable=SC2086
  check "phase 3: nothing on cp1-3/w1 trusts or is signed by the old CAs" pki_check retired before p1 p3 $HOSTS
  # shellcheck disable=SC2086
  pki_check retired before p1 before $HOSTS 2>/dev/null; rc=$?
  check "the same check fails on the pre-rotation copy ($PKI_CHECK_SUMMARY)" \
    found_old_leaves_and_trust $rc

  run playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=all || fail "CA re-run"
  mark "CA re-run (all phases)" "$t"
  snap p3-again
  check "re-running all phases changes nothing on the nodes (changed=$(node_changed), same files)" \
    unchanged p3 p3-again
}

sweep() {
  local t=$SECONDS rc p probe h states="" e
  # a rotation after a finished one needs its own id (rotation_plan: a finished rotation is not restarted by accident)
  local C=(-e groundwork_confirm=rotate_ca -e rotate_ca_sa_grace_seconds=0 -e rotate_ca_id=ca-sweep)
  snap s-before
  run playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=1 || { fail "sweep: phase 1 of its rotation"; show_failure; return 1; }
  mark "sweep: CA phase 1" "$t"; t=$SECONDS
  snap s-p1
  # shellcheck disable=SC2086
  check "sweep: phase 1 of its rotation (ca-sweep)" pki_check trusted s-before s-p1 s-p1 $HOSTS
  # the etcd probe (the three external members on cp1-3) with cp1's etcd health client: phase 2 members trust
  # new + old, so the old client certificate keeps working through the sweep
  p=$WORK/sweep-probe; mkdir -p "$p"; rm -f "$p"/{stop,etcd.out,etcd.events}
  ssh_host cp1 -- cat $PKI/etcd/healthcheck-client.crt > "$p/client.crt"
  ssh_host cp1 -- cat $PKI/etcd/healthcheck-client.key > "$p/client.key"; chmod 600 "$p/client.key"
  # writes with etcdctl: these etcd 3.4 members run from a config file, where the JSON gateway is off
  ctl env GW_PROBE_ETCDCTL=/usr/bin/etcdctl bash "$ROOT/tests/helpers/fault-probe.sh" "$p" "$(addr cp1)" "$(addr cp2)" "$(addr cp3)" >/dev/null 2>&1 &
  probe=$!
  kill_sweep run cp2 'One CA rotation phase' "${GW_SWEEP_MAX:-150}" "$WORK/sweep" -- \
    playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=2
  rc=$?
  touch "$p/stop"; wait "$probe"
  e=$(cat "$p/etcd.out" 2>/dev/null || echo "0 0 0 0")
  mark "sweep: phase 2, $SWEEP_KILLS kills + the final run" "$t"; t=$SECONDS
  log "sweep: cp2's part of phase 2 cut at each of its $SWEEP_KILLS task boundaries, in order:"
  printf '    %s\n' "${SWEEP_TASKS[@]}" >&2
  log "sweep: the final run: rc $SWEEP_RC, $SWEEP_STARTS task starts on cp2; etcd probe (ticks failed_writes no_quorum_ticks min_healthy): $e"
  [ -s "$p/etcd.events" ] && log "sweep: etcd events: $(head -20 "$p/etcd.events" | tr '\n' ';')"
  check "sweep: the run after the last kill completed phase 2 (rc $SWEEP_RC)" [ "$rc" = 0 ]
  check "sweep: cut at more than one boundary ($SWEEP_KILLS)" [ "$SWEEP_KILLS" -gt 1 ]
  read -r _ wf nq minh <<<"$e"
  check "sweep: 0 failed etcd writes across the sweep (failed $wf, seconds without quorum $nq, fewest healthy $minh)" [ "$wf" = 0 ]
  for h in $HOSTS; do states+="$h=$(state_of "$h" | tr ' ' ':') "; done
  check "sweep: every node reissued, nothing in progress ($states)" \
    [ "$states" = "cp1=reissued:None:False cp2=reissued:None:False cp3=reissued:None:False w1=reissued:None:False " ]
  check "sweep: nothing left paused on cp2 ($(paused_list cp2))" [ -z "$(paused_list cp2)" ]
  snap s-p2
  # shellcheck disable=SC2086
  check "sweep: phase 2 after the sweep: new keys sign, every leaf reissued, each phase begun once" pki_check reissued s-before s-p1 s-p2 $HOSTS
  run playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=3 || { fail "sweep: phase 3"; show_failure; return 1; }
  mark "sweep: CA phase 3" "$t"
  snap s-p3
  # shellcheck disable=SC2086
  check "sweep: phase 3: nothing trusts or is signed by the CAs before it" pki_check retired s-before s-p1 s-p3 $HOSTS
}

t0=$SECONDS
t=$SECONDS
if ! { build_apt_repo && stage_doubles && etcd_tarball; }; then fail "staging the site files"; exit 1; fi
mark "stage" "$t"
# GW_ROTATION_PARTS (default "renew gate ca sweep"): e.g. "sweep" alone installs and runs the sweep as the first
# rotation; GW_ROTATION_SWEEP=0 leaves the sweep out
PARTS=" ${GW_ROTATION_PARTS:-renew gate ca sweep} "
[ "${GW_ROTATION_SWEEP:-1}" = 0 ] && PARTS=${PARTS/ sweep / }
if install; then
  ok=0
  [[ $PARTS != *" renew "* ]] || renew || ok=1
  [[ $PARTS != *" gate "* ]] || [ $ok != 0 ] || gate || ok=1
  [[ $PARTS != *" ca "* ]] || [ $ok != 0 ] || ca || ok=1
  [[ $PARTS != *" sweep "* ]] || [ $ok != 0 ] || sweep
fi
mark "total" "$t0"
log "timings: ${timings[*]}"
if [ ${#failures[@]} -gt 0 ]; then log "${#failures[@]} failure(s): ${failures[*]}"; exit 1; fi
log "all checks passed"
