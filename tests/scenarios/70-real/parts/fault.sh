# shellcheck shell=bash
# Part fault (tests/scenarios/70-real, on the HA cluster: GW_SCENARIO_PARTS="ha,fault"): rolling playbooks under the
# faults of issue 17, with invariants checked after each and a table printed at the end.
#   gate     one control plane (cp3) stopped before the start: rotate_ca.yml and upgrade.yml refused, nothing changed
#   kill     the controller SIGKILLed (ansible-playbook and everything under it: tests/helpers/callback_plugins/gw_kill.py)
#            at a task boundary of cp2's critical section, then the same playbook re-run to resume it:
#            rotate_certs.yml and rotate_ca.yml phases 1 and 2 (GW_FAULT_KILLS: the boundaries, task-name regexes)
#   cut      cp3's network cut (its veth on the lab bridge down) while phase 3 runs on the other nodes; restored; resumed
#   join     w2 removed before the rotation, joined after phase 1; a member through phases 2 and 3, it leaves and joins
#            again after each (add_node.yml, pinned CA hashes, cluster-info): a join in every phase
#   backup   the backup host's network cut: backup.yml fails naming it, the snapshot is verified and kept on the
#            member, the textfile metric says offnode_ok 0
# Invariants (every row): an etcd health + write probe every second from the controller's namespace
# (tests/helpers/fault-probe.sh: failed writes, seconds with fewer than 2 of 3 healthy members), the API probe on w1
# (failed requests), every API server /readyz at the end, no manifest left paused, no renewal record, no CA rotation
# phase in progress and every node in the same phase, and the next run of the playbook changed=0.
# GW_FAULT_HOLD=DIR (development): instead of fault_all, source each DIR/*.sh dropped there in this shell (output
# in DIR/NAME.out, then renamed NAME.done) until DIR/stop exists, so the part can be iterated on a live cluster.
# (kept when the file is sourced again: GW_FAULT_HOLD scripts may reload it)
[ -n "${FAULT_INIT:-}" ] || { FAULT_ROWS=(); FAULT_P=""; FAULT_INIT=1; }

fault_row() { FAULT_ROWS+=("$(printf '%-22s %-34s %-9s %s' "$1" "$2" "$3" "$4")"); log "fault: ROW $1 | $2 | $3 | $4"; }

fault_client_cert() { # the etcd probe's client certificate, fresh from cp1 (a CA rotation reissues it)
  ssh_host cp1 -- cat /etc/kubernetes/pki/etcd/healthcheck-client.crt > "$FAULT_P/client.crt.new" &&
    ssh_host cp1 -- cat /etc/kubernetes/pki/etcd/healthcheck-client.key > "$FAULT_P/client.key.new" &&
    chmod 600 "$FAULT_P"/client.*.new && mv "$FAULT_P/client.key.new" "$FAULT_P/client.key" && mv "$FAULT_P/client.crt.new" "$FAULT_P/client.crt"
}
fault_probes_start() {
  FAULT_P=$WORK/fprobe.$1; mkdir -p "$FAULT_P"; rm -f "$FAULT_P"/{stop,etcd.out,etcd.events}
  fault_client_cert
  ctl bash "$ROOT/tests/helpers/fault-probe.sh" "$FAULT_P" "$(host_addr cp1)" "$(host_addr cp2)" "$(host_addr cp3)" >/dev/null 2>&1 &
  FAULT_PROBE_PID=$!
  probe_start
}
fault_probes_stop() { # -> "writes_failed/ticks noquorum_s api_failed/requests" in FAULT_COUNTS
  local p e
  touch "$FAULT_P/stop"; wait "$FAULT_PROBE_PID" 2>/dev/null
  p=$(probe_stop); e=$(cat "$FAULT_P/etcd.out" 2>/dev/null || echo "0 0 0 0")
  read -r en ewf enq emin <<<"$e"
  FAULT_COUNTS="writes failed $ewf/$en, <2 healthy ${enq}s (min $emin), API failed ${p#* }/${p% *}"
  [ ! -s "$FAULT_P/etcd.events" ] || log "fault: etcd probe events: $(tr '\n' ';' < "$FAULT_P/etcd.events" | cut -c1-400)"
}

# play_killed HOST PLAYRE TASKRE playbook args...: run it, SIGKILL at the first start of a task matching TASKRE on HOST
play_killed() {
  local host=$1 playre=$2 taskre=$3; shift 3
  rm -f "$WORK/kill.log"
  ANSIBLE_CALLBACK_PLUGINS=$ROOT/tests/helpers/callback_plugins ANSIBLE_CALLBACKS_ENABLED=gw_kill \
    GW_KILL_HOST=$host GW_KILL_PLAY=$playre GW_KILL_TASK=$taskre GW_KILL_LOG=$WORK/kill.log play "$@"
  local rc=$?
  KILLED_AT=$(awk -F'\t' '/^KILLED/ { k = 1 } !/^KILLED/ { last = $3 } END { if (k) print last; else print "(not killed)" }' "$WORK/kill.log" 2>/dev/null)
  log "fault: $1 rc $rc; killed at $host's task: $KILLED_AT ($(grep -c . "$WORK/kill.log" 2>/dev/null) task starts counted)"
  grep -q '^KILLED' "$WORK/kill.log" 2>/dev/null
}

api_all_ready() { local h; for h in cp1 cp2 cp3; do api_ready_on "$h" || return 1; done; }
# shellcheck disable=SC2016  # expands on the host
no_paused() { local h; for h in cp1 cp2 cp3; do ssh_host "$h" -- 'test -z "$(ls -A /etc/kubernetes/manifests-paused 2>/dev/null)"' || return 1; done; }
no_renewal_record() { local h; for h in cp1 cp2 cp3; do ssh_host "$h" -- test ! -e /etc/kubernetes/pki/.rotation/renewal.json || return 1; done; }
rotation_phases() { # -> "host:phase:in_progress ..." for every node
  local h
  for h in cp1 cp2 cp3 w1 w2; do
    printf '%s:%s ' "$h" "$(ssh_host "$h" -- cat /etc/kubernetes/pki/.rotation/state.json 2>/dev/null | python3 -c 'import json, sys
try:
    d = json.load(sys.stdin)
    print("%s:%s" % (d["phase"], d.get("in_progress") or "-"))
except Exception:
    print("none:-")')"
  done
}
fault_invariants() { # label [expected phase on every node] -> "ok" or the failed checks, in FAULT_INV
  local label=$1 phase=${2:-} bad=() ph
  wait_for 240 api_all_ready || bad+=("API servers not all ready")
  wait_for 180 controllers_ready || bad+=("controller-managers not all Ready: $(controllers_ready_list)")
  no_paused || bad+=("manifests left paused")
  no_renewal_record || bad+=("renewal record left")
  if [ -n "$phase" ]; then
    ph=$(rotation_phases)
    log "fault: $label: rotation state per node: $ph"
    [ "$(tr ' ' '\n' <<<"$ph" | grep -c ":$phase:-$")" = 5 ] || bad+=("rotation state not $phase/done everywhere: $ph")
  fi
  wait_for 180 all_ready "cp1 cp2 cp3 w1 w2" || bad+=("Nodes not all Ready: $(ready_nodes cp1)")
  if [ ${#bad[@]} -eq 0 ]; then FAULT_INV=ok; else FAULT_INV=$(printf '%s; ' "${bad[@]}"); fi
  check "fault: $label: invariants ($FAULT_INV)" [ "$FAULT_INV" = ok ]
}
fault_rerun_zero() { # label playbook args -> checks the next run changed=0
  local label=$1; shift
  if play "$@"; then check "fault: $label: the next run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -30
  else fail "fault: $label: the next run failed"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40; fi
  RERUN="next run changed=$(changed_sum)"
}

# One kill + resume: label host playre taskre playbook args... (the resume runs the same command, or the words of
# FAULT_RESUME when set: rotate_certs.yml resumes without rotate_certs_all, as docs/rotation.md says)
fault_kill_resume() {
  local label=$1 host=$2 playre=$3 taskre=$4 t rc outcome resume; shift 4
  t=$SECONDS
  fault_probes_start "$label"
  if play_killed "$host" "$playre" "$taskre" "$@"; then
    if [ -n "${FAULT_RESUME:-}" ]; then read -ra resume <<<"$FAULT_RESUME"; else resume=("$@"); fi
    if play "${resume[@]}"; then outcome=resumed; else outcome="resume FAILED"; fail "fault: $label: resume failed"
      grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; fi
  else outcome="no kill"; fail "fault: $label: the kill point '$taskre' on $host was never reached"
    grep -B2 -A25 'fatal:\|FAILED!\|refused' "$WORK/last.log" | head -60; fi
  fault_probes_stop
  mark "fault-$label" "$t"
  log "fault: $label: kill + resume took $(( SECONDS - t ))s; $FAULT_COUNTS"
  FAULT_LAST="$outcome"
}

# w2 leaves (remove_node.yml) and joins (add_node.yml, CA hash pinned from cp1's ca.crt, cluster-info discovery)
w2_leave() {
  play playbooks/remove_node.yml --limit w2 -e groundwork_confirm=remove_node || { fail "fault: remove w2"; return 1; }
}
w2_join() { # label: w2 (a member through the phase) leaves and joins again, so the join happens in this phase
  local t n
  if kc cp1 get node w2 >/dev/null 2>&1; then w2_leave || { JOIN="w2 LEAVE FAILED"; return 1; }; fi
  t=$SECONDS
  n=$(ssh_host cp1 -- "grep -c 'BEGIN CERTIFICATE' /etc/kubernetes/pki/ca.crt")  # one string: ssh joins words
  log "fault: $1: cluster-info carries $(kc cp1 -n kube-public get configmap cluster-info -o jsonpath='{.data.kubeconfig}' | awk '/certificate-authority-data/ { print $2 }' | base64 -d | grep -c 'BEGIN CERTIFICATE') CA(s); cp1's ca.crt $n"
  if play playbooks/add_node.yml --limit w2; then
    check "fault: $1: w2 joined (add_node.yml, $(( SECONDS - t ))s) and is Ready" wait_for 180 all_ready "cp1 cp2 cp3 w1 w2"
    JOIN="w2 joined"
  else
    fail "fault: $1: w2 did not join"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -50; JOIN="w2 JOIN FAILED"
  fi
}

link_of() { echo "v$(host_addr "$1" | awk -F. '{ print $4 }')"; }
# shellcheck disable=SC2153  # NAME: the lab's name (run.sh)
cut_link() { ip -n "$NAME-lan" link set "$(link_of "$1")" "$2"; }

fault_gate() {
  local before after pb rc
  before=$(ssh_host cp1 -- sha256sum /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml)
  # shellcheck disable=SC2016  # expands on cp3
  ssh_host cp3 -- 'systemctl stop kubelet; for c in $(ctr -n k8s.io task ls -q); do ctr -n k8s.io task kill -s KILL "$c"; done' >/dev/null 2>&1
  wait_for 60 port_closed cp3 6443
  for pb in "playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=1" playbooks/upgrade.yml; do
    # shellcheck disable=SC2086  # playbook and its -e words
    play $pb; rc=$?
    if [ "$rc" -ne 0 ] && grep -q "cp3's API server does not answer" "$WORK/last.log"; then
      fault_row "${pb%% *}" "cp3 stopped before start" refused "names cp3, changed=$(changed_sum)"
    else fail "fault: gate: ${pb%% *} with cp3 down not refused naming cp3 (rc $rc)"; fault_row "${pb%% *}" "cp3 stopped before start" NOT-REFUSED "rc $rc"; fi
  done
  after=$(ssh_host cp1 -- sha256sum /etc/kubernetes/pki/ca.crt /etc/kubernetes/manifests/kube-apiserver.yaml)
  check "fault: gate: refused runs changed nothing on cp1" [ "$before" = "$after" ]
  ssh_host cp3 -- systemctl start kubelet
  check "fault: gate: cp3 back" wait_for 240 api_ready_on cp3
}

fault_certs() {
  FAULT_RESUME=playbooks/rotate_certs.yml fault_kill_resume certs-kill cp2 'Renew, one node' 'Wait until they stopped' \
    playbooks/rotate_certs.yml -e rotate_certs_all=true
  fault_invariants rotate_certs
  fault_rerun_zero rotate_certs playbooks/rotate_certs.yml
  fault_row rotate_certs.yml "kill@cp2:$KILLED_AT" "$FAULT_LAST" "$FAULT_COUNTS; $FAULT_INV; $RERUN"
}

# phase N: kill cp2 at TASKRE, resume, invariants, next run changed=0, w2 joins
fault_ca_phase() {
  local n=$1 taskre=$2 name
  name=$(cut -d' ' -f"$n" <<<"trusted reissued retired")
  fault_kill_resume "ca$n-kill" cp2 'One CA rotation phase' "$taskre" playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase="$n" -e rotate_ca_sa_grace_seconds=0
  w2_join "ca phase $n"
  fault_invariants "ca phase $n" "$name"
  fault_rerun_zero "ca phase $n" playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase="$n" -e rotate_ca_sa_grace_seconds=0
  fault_row "rotate_ca.yml phase $n" "kill@cp2:$KILLED_AT" "$FAULT_LAST" "$FAULT_COUNTS; $JOIN; $FAULT_INV; $RERUN"
}

# phase 3 with cp3's network cut for 40 s once cp2 passed its health gate (cp3 is the next node; cp1 and cp2 keep
# quorum): the run stops on cp3 UNREACHABLE within seconds (SSH keep-alive, ConnectTimeout), the link comes back,
# the phase is run again and resumes
fault_ca_cut() {
  local t=$SECONDS rc
  fault_probes_start ca3-cut
  rm -f "$WORK/cut.watch"
  ( while ! grep -q 'Record the phase done' "$WORK/cut.watch" 2>/dev/null; do sleep 1; done
    cut_link cp3 down; sleep 40; cut_link cp3 up ) &
  local cutter=$!
  ANSIBLE_CALLBACK_PLUGINS=$ROOT/tests/helpers/callback_plugins ANSIBLE_CALLBACKS_ENABLED=gw_kill \
    GW_KILL_HOST=cp2 GW_KILL_PLAY='One CA rotation phase' GW_KILL_AT=0 GW_KILL_LOG=$WORK/cut.watch \
    play playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=3 -e rotate_ca_sa_grace_seconds=0; rc=$?
  wait "$cutter"; rm -f "$WORK/cut.watch"
  log "fault: ca3-cut: first run rc $rc: $(grep -o "UNREACHABLE[^\"]*\|cp3[^\"]*refused[^\"]*" "$WORK/last.log" | head -2 | cut -c1-200 | tr '\n' ' ')"
  wait_for 120 api_ready_on cp3
  if play playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=3 -e rotate_ca_sa_grace_seconds=0; then FAULT_LAST="rc $rc, resumed"
  else FAULT_LAST="resume FAILED"; fail "fault: ca3-cut: resume failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -50; fi
  fault_probes_stop; mark fault-ca3-cut "$t"
  w2_join "ca phase 3"
  fault_invariants "ca phase 3" retired
  fault_rerun_zero "ca phase 3" playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=3 -e rotate_ca_sa_grace_seconds=0
  fault_row "rotate_ca.yml phase 3" "cp3 net cut 40s after cp2" "$FAULT_LAST" "$FAULT_COUNTS; $JOIN; $FAULT_INV; $RERUN"
}

fault_backup() {
  local rc last prom
  ssh_host cp1 -- mkdir -p /var/lib/node_exporter/textfile_collector
  cut_link mirror down
  play playbooks/backup.yml; rc=$?
  cut_link mirror up
  last=$(ssh_host cp1 -- cat /var/lib/groundwork/etcd-backup/last.json 2>/dev/null)
  prom=$(ssh_host cp1 -- cat /var/lib/node_exporter/textfile_collector/groundwork_etcd_backup.prom 2>/dev/null)
  log "fault: backup: rc $rc; $(grep -o 'LOCAL ONLY[^"]*\|off-node copy[^"]*' "$WORK/last.log" | head -1 | cut -c1-300)"
  log "fault: backup: last.json: $(cut -c1-400 <<<"$last")"
  log "fault: backup: metric: $(grep -v '^#' <<<"$prom" | tr '\n' ';')"
  check "fault: backup: backup.yml fails with the backup host unreachable" [ "$rc" -ne 0 ]
  check "fault: backup: the failure names the backup host" grep -q "$(host_addr mirror)\|mirror" <<<"$(grep -i 'backup host\|off-node' "$WORK/last.log")"
  check "fault: backup: snapshot verified and kept locally (last.json result local_only)" grep -q '"local_only"' <<<"$last"
  check "fault: backup: the metric shows the off-node copy failed (offnode_ok 0)" grep -q 'groundwork_etcd_backup_offnode_ok{.*} 0' <<<"$prom"
  fault_row backup.yml "backup host net cut" "$( [ "$rc" -ne 0 ] && echo failed-named || echo "rc 0")" "$(grep -o '"result": *"[a-z_]*"' <<<"$last" | head -1); offnode_ok $(grep -o 'offnode_ok{[^}]*} [0-9]' <<<"$prom" | awk '{print $2}')"
}

# upgrade (the HA cluster installed from the older media: GW_SCENARIO_PARTS="ha,fault,upgrade" installs
# GW_K8S_MEDIA_FROM): the newer media served, upgrade.yml killed on cp2 when it is about to be uncordoned (drained,
# kubelet upgraded), resumed; no Node left unschedulable
fault_upgrade() {
  if ! { build_bundle "$MEDIA" && serve_mirror; }; then fail "fault: upgrade: bundle/serve of $MEDIA"; return 1; fi
  write_real_vars
  fault_kill_resume upgrade-kill cp2 'Upgrade the control planes' 'Uncordon the node' playbooks/upgrade.yml
  fault_invariants upgrade
  check "fault: upgrade: no Node left unschedulable" [ -z "$(kc cp1 get nodes -o jsonpath='{.items[?(@.spec.unschedulable==true)].metadata.name}')" ]
  check "fault: upgrade: every kubelet at $KUBE_VERSION" [ "$(kc cp1 get nodes -o jsonpath='{.items[*].status.nodeInfo.kubeletVersion}' | tr ' ' '\n' | sort -u)" = "$KUBE_VERSION" ]
  fault_rerun_zero upgrade playbooks/upgrade.yml
  fault_row upgrade.yml "kill@cp2:$KILLED_AT" "$FAULT_LAST" "$FAULT_COUNTS; $FAULT_INV; $RERUN"
}

fault_table() {
  log "fault: table (playbook | fault | outcome | counts, invariants, next run):"
  printf '    %s\n' "${FAULT_ROWS[@]}"
}

fault_all() {
  fault_gate
  w2_leave
  fault_ca_phase 1 'Wait until they stopped'
  # w2 stays a member through phases 2 and 3 (a host of the inventory that is not in the cluster is refused:
  # "w2: phase none, needs trusted first"); it leaves and joins again after each phase (w2_join)
  fault_ca_phase 2 'Record the phase done'
  fault_ca_cut
  fault_certs
  fault_backup
  [[ " $PARTS " != *" upgrade "* ]] || fault_upgrade
  fault_table
}

part_fault() {
  if [ -n "${GW_FAULT_HOLD:-}" ]; then
    log "fault: holding the cluster; sourcing $GW_FAULT_HOLD/*.sh until $GW_FAULT_HOLD/stop exists"
    local f
    while [ ! -e "$GW_FAULT_HOLD/stop" ]; do
      for f in "$GW_FAULT_HOLD"/*.sh; do
        [ -e "$f" ] || continue
        mv "$f" "$f.run"
        log "fault: sourcing $f"
        # shellcheck disable=SC1090
        . "$f.run" > "${f%.sh}.out" 2>&1
        mv "$f.run" "${f%.sh}.done"
        log "fault: done $f"
      done
      sleep 2
    done
    return 0
  fi
  fault_all
}
