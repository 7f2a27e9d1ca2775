#!/usr/bin/env bash
# Scenario 70 — the real lane: real Kubernetes (the media in GW_K8S_MEDIA, default ../shared/k8s/v1.33.3)
# fed to Groundwork exactly as an air-gapped edge site is fed: media -> tests/airgap/make_real_media.py
# (the site's local artifacts dir, control-plane images built from the media's binaries) ->
# mirror.yml build -> lab mirror host serves it -> site.yml with the documented mirror variables.
#   ha   3 stacked control planes + 2 workers behind haproxy (localhost:8443): 3 started etcd members,
#        5 Ready Nodes, a 4-replica pause Deployment spread over the workers, pod-to-pod traffic across
#        nodes over the bridge CNI routes; a re-run reports changed=0; --check --diff changes nothing
#   rotation (on the HA cluster) cp3's control plane stopped: rotate_certs.yml refused by the gate, no
#        certificate changed; cp3 back; every leaf renewed node by node with an API probe loop through w1's
#        endpoint (failed requests counted and printed); every API server serves a new certificate;
#        a second run (nothing due) changed=0
#   upgrade (on the HA cluster, which is then installed from GW_K8S_MEDIA_FROM, default ../shared/k8s/v1.33.2)
#        the newer media's bundle served, the inventory set to its version, upgrade.yml (verified etcd backup
#        first, one node at a time, drained) with an API probe loop; every kubelet and API server at the new
#        version, no Node cordoned; a second upgrade.yml changed=0
#   ca   (on the HA cluster) rotate_ca.yml phases 1 and 2 with the API probe loop; new cluster CA on cp1,
#        5 Nodes Ready; phase 3 refused within the service-account grace period; phase 2 again changed=0
#   addremove (on the HA cluster) w2, then cp3, removed (remove_node.yml: Node deleted, cp3's etcd member
#        removed, the API still answers) and added back (add_node.yml touches only it); 5 Ready, 3 members
#   single  a lab of its own: 1 host is the whole cluster; first site.yml --check --diff on the fresh host (rc 0,
#        no file changed; GW_REAL_FRESH_CHECK=0 skips it), then the install; a workload runs; re-run changed=0
#   external  a lab of its own: 3 external etcd members + 1 control plane + 1 worker (backup host = the mirror host);
#        re-run changed=0; then the total loss of part dr with every etcd member wiped too (GW_REAL_EXTERNAL_DR=0 skips)
#   dr   (on the HA cluster) a Secret and a ConfigMap, backup.yml (the site's scheduled backups, backup host =
#        the mirror host), one more Secret; every control plane wiped (kubelet stopped, containers killed,
#        /etc/kubernetes, /etc/etcd, /var/lib/etcd); restore.yml: the first two read back with identical data
#        through the API, the third is gone, 3 etcd members, all Nodes Ready; site.yml after it changed=0
# Without the media: prints "SKIPPED: <why>" and exits 77 (run-all lists it as SKIP; a newcomer's machine). With the media, every
# failure fails. Prints the time of each phase. Env: GW_LAB_NAME (default real), GW_SCENARIO_PARTS
# (default "ha rotation"; commas work too), GW_K8S_MEDIA, GW_K8S_MEDIA_FROM (part upgrade), GW_REAL_WORK (cache of
# the artifacts dir and bundles), GW_REAL_CHECK_DIFF=0 skips the --check --diff run (CI, for time), GW_KEEP_LAB=1.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
NAME=${GW_LAB_NAME:-real}
PARTS=${GW_SCENARIO_PARTS:-ha rotation}
PARTS=${PARTS//,/ }  # ci.list passes "ha,rotation" (no spaces there)
WORK=$(mktemp -d /tmp/gw-real.XXXXXX)
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$ROOT/tests/scenarios/30-install/lib.sh"
# shellcheck source=tests/scenarios/70-real/lib.sh
. "$HERE/lib.sh"
cd "$ROOT" || exit 1
# a real control plane on every host: raise the shared inotify limits (tests/lab/lab prints old -> new)
export GW_LAB_INOTIFY_INSTANCES=${GW_LAB_INOTIFY_INSTANCES:-1024} GW_LAB_INOTIFY_WATCHES=${GW_LAB_INOTIFY_WATCHES:-524288}

log() { printf '[70-real] %s\n' "$*"; }
failures=()
fail() { failures+=("$*"); log "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then log "ok: $what"; else fail "$what"; fi; }
timings=()
mark() { timings+=("$1 $(( SECONDS - $2 ))s"); }
cleanup() { [ "${GW_KEEP_LAB:-0}" = 1 ] || lab_down; rm -rf "$WORK"; }

if ! why=$(media_present); then
  echo "70-real: SKIPPED: $why"
  exit 77
fi
trap cleanup EXIT

ready_nodes() {
  kc "$1" get nodes -o json | python3 -c 'import json, sys
print(" ".join(sorted(n["metadata"]["name"] for n in json.load(sys.stdin)["items"]
      if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]))))'
}
wait_for() { # seconds command... -> 0 once the command succeeds
  local until=$((SECONDS + $1)); shift
  while [ $SECONDS -lt $until ]; do "$@" >/dev/null 2>&1 && return 0; sleep 3; done
  return 1
}
all_ready() { [ "$(ready_nodes cp1)" = "$1" ]; }
deploy_available() { [ "$(kc cp1 get deploy "$1" -o jsonpath='{.status.availableReplicas}')" = "$2" ]; }
pods_running() { local p; for p in "$@"; do [ "$(kc cp1 get pod "$p" -o jsonpath='{.status.phase}')" = Running ] || return 1; done; }

part_ha() {
  local t
  # the mirror host also keeps the etcd backups (a site host outside the etcd members)
  write_groups cp1,cp2,cp3 w1,w2 haproxy "" mirror
  write_real_vars
  t=$SECONDS
  # GW_REAL_PROFILE_INSTALL=1 (bench/real_install.sh): the install with ansible.posix.profile_tasks, and its
  # slowest tasks printed (where the install's time goes)
  # (only then: an empty ANSIBLE_CALLBACKS_ENABLED makes ansible-playbook fail before it starts)
  local profile="" rc=0
  [ "${GW_REAL_PROFILE_INSTALL:-0}" = 1 ] && profile=ansible.posix.profile_tasks
  if [ -n "$profile" ]; then ANSIBLE_CALLBACKS_ENABLED=$profile PROFILE_TASKS_TASK_OUTPUT_LIMIT=25 play site.yml || rc=$?
  else play site.yml || rc=$?; fi
  if [ "$rc" -eq 0 ]; then
    log "ha: site.yml ok ($(( SECONDS - t ))s)"; else
    fail "ha: site.yml failed"; grep -B2 -A25 'fatal:\|FAILED!\|ERROR' "$WORK/last.log" | head -80; return 1; fi
  mark "ha-site.yml" "$t"
  cp "$WORK/last.log" "$WORK/site1.log"
  if [ -n "$profile" ]; then
    grep -E ' -+ +[0-9]+\.[0-9]+s$' "$WORK/site1.log" | tail -25 | sed -E 's/ -+ +/ /; s/^/install profile: /' \
      | while read -r line; do log "ha: $line"; done
  fi
  log "ha: kubeadm warnings: $(grep -o 'WARNING\]: kubeadm: .*' "$WORK/site1.log" | sort | uniq -c | head -5 | tr -s ' \n' ' ')"

  check "ha: 5 Nodes Ready (all at the end of site.yml)" all_ready "cp1 cp2 cp3 w1 w2"
  kc cp1 get nodes -o wide | sed 's/^/    /'
  local members
  members=$(etcdctl_pod cp1 member list -w json | python3 -c 'import json, sys
m = json.load(sys.stdin)["members"]
print(len(m), sum(1 for x in m if x.get("name") and not x.get("isLearner")), " ".join(sorted(x.get("name", "?") for x in m)))')
  log "ha: etcd members (count, started voters, names): $members"
  check "ha: etcdctl member list shows 3 started members cp1 cp2 cp3" [ "$members" = "3 3 cp1 cp2 cp3" ]
  check "ha: kubelets report $KUBE_VERSION" [ "$(kc cp1 get nodes -o jsonpath='{.items[*].status.nodeInfo.kubeletVersion}' | tr ' ' '\n' | sort -u)" = "$KUBE_VERSION" ]

  # a Deployment of the pause image, 4 replicas, spread over the workers
  local pause
  pause=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pause"])' "$MEDIA_INFO")
  kc cp1 apply -f - <<EOF >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: pause, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: pause}}
  template:
    metadata: {labels: {app: pause}}
    spec:
      # tainted control planes are not domains of the spread (Honor), so 2 per worker
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, nodeTaintsPolicy: Honor,
           labelSelector: {matchLabels: {app: pause}}}
      securityContext: {runAsNonRoot: true, runAsUser: 65535, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: pause
          image: "$pause"
          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
EOF
  t=$SECONDS
  check "ha: pause Deployment 4/4 available" wait_for 180 deploy_available pause 4
  mark "ha-deployment" "$t"
  local spread
  spread=$(kc cp1 get pods -l app=pause -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')
  log "ha: pause pods per node: $spread"
  check "ha: pause pods on both workers, 2 each" [ "$spread" = "w1=2 w2=2 " ]
  [ "$spread" = "w1=2 w2=2 " ] || pods_diag default

  # pod-to-pod traffic across nodes over the bridge CNI routes
  local bb ip2
  bb=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("busybox", ""))' "$MEDIA_INFO")
  [ -n "$bb" ] || bb=$(awk '/name: busybox/ { f = 1 } f && /image:/ { i = $2 } f && /tag:/ { print i ":" $2; exit }' "$ART/manifest.yml")
  for w in w1 w2; do
    kc cp1 run "bb-$w" --image="$bb" --restart=Never --overrides="{\"spec\":{\"nodeName\":\"$w\"}}" -- sleep 3600 >/dev/null
  done
  wait_for 120 pods_running bb-w1 bb-w2 || pods_diag default
  ip2=$(kc cp1 get pod bb-w2 -o jsonpath='{.status.podIP}')
  log "ha: ping from bb-w1 (w1) to bb-w2 (w2, $ip2)"
  check "ha: pod on w1 reaches pod on w2 ($ip2) over the bridge CNI routes" \
    kc cp1 exec bb-w1 -- busybox ping -c 3 -W 2 "$ip2"
  # bare pods (no controller) would rightly block a drain later (remove_node, upgrade): gone after the test
  kc cp1 delete pod bb-w1 bb-w2 --wait=false >/dev/null 2>&1

  # GW_REAL_RERUN=0 skips the re-run (and --check --diff): a run that is about a later part (CI keeps both)
  if [ "${GW_REAL_RERUN:-1}" != 1 ]; then log "ha: re-run and --check --diff skipped (GW_REAL_RERUN=0)"; return 0; fi
  t=$SECONDS
  if play site.yml; then
    mark "ha-rerun" "$t"
    check "ha: second run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else
    fail "ha: second run failed"; grep -A20 'fatal:' "$WORK/last.log" | head -40
  fi

  if [ "${GW_REAL_CHECK_DIFF:-1}" != 1 ]; then log "ha: --check --diff skipped (GW_REAL_CHECK_DIFF=0)"; return 0; fi
  t=$SECONDS
  if play site.yml --check --diff; then
    mark "ha-check-diff" "$t"
    check "ha: --check --diff on the installed cluster: changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else
    fail "ha: --check --diff failed"; grep -A20 'fatal:' "$WORK/last.log" | head -40
  fi
  check "ha: still 5 Nodes Ready" all_ready "cp1 cp2 cp3 w1 w2"
}

# A loop on w1 asks the API through w1's haproxy endpoint (localhost:8443, every control plane behind it)
# every 0.5 s until stopped, as a client would (GET its own Node with the kubelet's credentials: /readyz
# is meant to fail while an API server shuts down); prints "requests failed".
probe_start() {
  # shellcheck disable=SC2016  # expands on w1
  ssh_host w1 -- 'rm -f /root/probe.stop /root/probe.out; nohup sh -c '"'"'n=0; f=0; while [ ! -e /root/probe.stop ]; do
      n=$((n + 1)); kubectl --kubeconfig /etc/kubernetes/kubelet.conf --request-timeout=3s get --raw /api/v1/nodes/w1 >/dev/null 2>&1 || f=$((f + 1))
      echo "$n $f" > /root/probe.out; sleep 0.5; done'"'"' >/dev/null 2>&1 &'
}
probe_stop() { # -> "requests failed"
  ssh_host w1 -- 'touch /root/probe.stop; sleep 1; cat /root/probe.out'
}
served_fp() { # host -> sha256 fingerprint of the certificate its API server serves
  ssh_host "$1" -- "openssl s_client -connect 127.0.0.1:6443 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256" | cut -d= -f2
}
file_fp() { ssh_host "$1" -- openssl x509 -noout -fingerprint -sha256 -in "$2" | cut -d= -f2; }
port_closed() { ! ssh_host "$1" -- ss -ltn | grep -q ":$2 "; }
host_addr() { awk -v h="$1" '$0 ~ "^        " h ":" { f = 1 } f && /ansible_host:/ { print $2; exit }' "$INV"; }
api_ready_on() { # host -> its own API server answers /readyz (at its address: the serving certificate has no 127.0.0.1)
  local ip; ip=$(host_addr "$1")
  ssh_host "$1" -- kubectl --kubeconfig /etc/kubernetes/admin.conf --server "https://$ip:6443" get --raw /readyz >/dev/null 2>&1
}

part_rotation() {
  local t before after p rc h
  # 1. one control plane stopped before the start: the gate refuses, nothing changes
  before=$(for h in cp1 cp2 cp3; do file_fp "$h" /etc/kubernetes/pki/apiserver.crt; done | tr '\n' ' ')
  # shellcheck disable=SC2016  # expands on cp3
  ssh_host cp3 -- 'systemctl stop kubelet; for c in $(ctr -n k8s.io task ls -q); do ctr -n k8s.io task kill -s KILL "$c"; done' >/dev/null 2>&1
  wait_for 60 port_closed cp3 6443
  t=$SECONDS
  play playbooks/rotate_certs.yml -e rotate_certs_all=true; rc=$?
  mark "rotation-refused" "$t"
  check "rotation: cp3 stopped -> rotate_certs.yml refused (rc $rc)" [ "$rc" -ne 0 ]
  log "rotation: refusal: $(grep -o 'rotate_certs.yml refused before any change[^"]*' "$WORK/last.log" | head -1 | cut -c1-300)"
  check "rotation: the refusal names cp3's API server" grep -q "cp3's API server does not answer" "$WORK/last.log"
  after=$(for h in cp1 cp2 cp3; do file_fp "$h" /etc/kubernetes/pki/apiserver.crt; done | tr '\n' ' ')
  check "rotation: refused run changed no certificate" [ "$before" = "$after" ]
  ssh_host cp3 -- systemctl start kubelet
  check "rotation: cp3 back (API ready)" wait_for 240 api_ready_on cp3
  check "rotation: 5 Nodes Ready before the rotation" wait_for 120 all_ready "cp1 cp2 cp3 w1 w2"

  # 2. every leaf renewed, node by node, with the API probed through the endpoint all along
  before=$(for h in cp1 cp2 cp3; do served_fp "$h"; done | tr '\n' ' ')
  probe_start
  t=$SECONDS
  if play playbooks/rotate_certs.yml -e rotate_certs_all=true; then log "rotation: rotate_certs.yml ok ($(( SECONDS - t ))s)"; else
    fail "rotation: rotate_certs.yml failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; fi
  mark "rotation-renew-all" "$t"
  p=$(probe_stop)
  log "rotation: API probe through w1's endpoint during the renewal: ${p% *} requests, ${p#* } failed"
  PROBE_ROTATION=$p
  after=$(for h in cp1 cp2 cp3; do served_fp "$h"; done | tr '\n' ' ')
  for h in 1 2 3; do
    check "rotation: cp$h's API server serves a new certificate" [ "$(cut -d' ' -f$h <<<"$before")" != "$(cut -d' ' -f$h <<<"$after")" ]
  done
  check "rotation: 5 Nodes Ready after the rotation" wait_for 120 all_ready "cp1 cp2 cp3 w1 w2"
  t=$SECONDS
  if play playbooks/rotate_certs.yml; then
    mark "rotation-rerun" "$t"
    check "rotation: a second run (nothing due) changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "rotation: second run failed"; fi
}

# etcd-hosts ("" = stacked) key text -> 0 when the key's value is an encrypted envelope (k8s:enc:...) without the text
etcd_value_encrypted() {
  local f rc=1
  f=$(mktemp)
  if [ -n "$1" ]; then etcdctl_ext "${1%% *}" get --print-value-only "$2" > "$f"
  else etcdctl_pod cp1 get --print-value-only "$2" > "$f"; fi
  [ -s "$f" ] && [ "$(head -c 8 "$f")" = "k8s:enc:" ] && ! grep -aq -- "$3" "$f" && rc=0
  rm -f "$f"; return $rc
}
secret_data() { kc cp1 get secret "$1" -o jsonpath='{.data.token}' 2>/dev/null; }
cm_data() { kc cp1 get configmap "$1" -o jsonpath='{.data.note}' 2>/dev/null; }
part_dr() { dr_total_loss dr "cp1 cp2 cp3" "" "cp1 cp2 cp3 w1 w2"; }
# etcdctl on an external member host (its own client certificate from the etcd CA)
etcdctl_ext() { # host args...
  local h=$1; shift
  ssh_host "$h" -- ETCDCTL_API=3 etcdctl --endpoints="https://$(host_addr "$h"):2379" --cacert=/etc/kubernetes/pki/etcd/ca.crt \
    --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key "$@"
}
# members as "count started" from stacked (etcd pod on cp1) or external (first etcd host) etcd
dr_members() { # etcd-hosts (empty = stacked)
  local first=${1%% *}
  { if [ -n "$1" ]; then etcdctl_ext "$first" member list -w json; else etcdctl_pod cp1 member list -w json; fi; } | python3 -c 'import json, sys
m = json.load(sys.stdin)["members"]
print(len(m), sum(1 for x in m if x.get("name") and not x.get("isLearner")))'
}
# Total loss of every control plane (and, with external etcd, every etcd member): objects written before the
# backup read back through the API with their data after restore.yml, the one written after is gone, every
# Node Ready, the members all started, site.yml after it changed=0. Label for the messages, control planes,
# external etcd hosts ("" = stacked), every Node.
dr_total_loss() {
  local lbl=$1 cps=$2 etcd=$3 nodes=$4 t s1 c1 got h nmem
  nmem=$(wc -w <<<"${etcd:-$cps}")
  # objects written before the backup, one after it
  s1=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | cut -c1-24)
  c1="written before the backup $(date +%s)"
  kc cp1 create secret generic dr-before --from-literal=token="$s1" >/dev/null
  kc cp1 create configmap dr-before --from-literal=note="$c1" >/dev/null
  check "$lbl: the Secret is encrypted at rest in etcd (k8s:enc: value, no plain text)" \
    etcd_value_encrypted "$etcd" /registry/secrets/default/dr-before "$s1"
  t=$SECONDS
  if play playbooks/backup.yml; then log "$lbl: backup.yml ok ($(( SECONDS - t ))s): $(grep -o 'Backup by [^"]*' "$WORK/last.log" | head -1 | cut -c1-200)"; else
    fail "$lbl: backup.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  mark "$lbl-backup" "$t"
  kc cp1 create secret generic dr-after --from-literal=token=after-the-backup >/dev/null

  # total loss: kubelet stopped, containers gone, /etc/kubernetes, /var/lib/etcd, /etc/etcd wiped on every control
  # plane; external members: etcd stopped and the same directories wiped
  t=$SECONDS
  for h in $cps; do
    # shellcheck disable=SC2016  # expands on the host
    ssh_host "$h" -- 'systemctl stop kubelet; for c in $(ctr -n k8s.io task ls -q); do ctr -n k8s.io task kill -s KILL "$c"; done;
      sleep 2; rm -rf /etc/kubernetes /etc/etcd; find /var/lib/etcd -mindepth 1 -delete' >/dev/null 2>&1 &
  done
  for h in $etcd; do
    ssh_host "$h" -- 'systemctl stop etcd; rm -rf /etc/kubernetes /etc/etcd; find /var/lib/etcd -mindepth 1 -delete' >/dev/null 2>&1 &
  done
  wait_children
  check "$lbl: every control plane wiped (no /etc/kubernetes, API down)" bash -c "! $LAB ssh --name $NAME cp1 -- test -e /etc/kubernetes/pki/ca.crt"
  [ -z "$etcd" ] || check "$lbl: every etcd member wiped (no data dir content, etcd stopped)" \
    bash -c "for h in $etcd; do $LAB ssh --name $NAME \$h -- 'test -z \"\$(ls -A /var/lib/etcd)\" && ! systemctl is-active -q etcd' || exit 1; done"
  mark "$lbl-loss" "$t"
  t=$SECONDS
  if play playbooks/restore.yml -e groundwork_confirm=restore; then
    mark "$lbl-restore" "$t"
    log "$lbl: restore.yml ok ($(( SECONDS - t ))s)"
    log "$lbl: restored: $(grep -o 'keys [0-9]*[^"]*\|[0-9]* keys[^"]*' "$WORK/last.log" | head -3 | tr '\n' ' ' | cut -c1-300)"
  else
    fail "$lbl: restore.yml after the total loss"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80; return 1
  fi
  check "$lbl: API answers after the restore" wait_for 180 api_ready_on cp1
  got=$(secret_data dr-before | base64 -d 2>/dev/null)
  check "$lbl: the Secret written before the backup reads back with its data" [ "$got" = "$s1" ]
  check "$lbl: the ConfigMap written before the backup reads back" [ "$(cm_data dr-before)" = "$c1" ]
  check "$lbl: the Secret written after the backup is gone" bash -c "! $LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get secret dr-after >/dev/null 2>&1"
  check "$lbl: $(wc -w <<<"$nodes") Nodes Ready after the restore" wait_for 300 all_ready "$nodes"
  local members
  members=$(dr_members "$etcd")
  check "$lbl: etcd has $nmem started members after the restore (got $members)" [ "$members" = "$nmem $nmem" ]
  t=$SECONDS
  if play site.yml; then
    mark "$lbl-site-rerun" "$t"
    check "$lbl: site.yml after the restore changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else fail "$lbl: site.yml after the restore failed"; grep -A20 'fatal:' "$WORK/last.log" | head -40; fi
}
wait_children() { local p; for p in $(jobs -p); do [ "$p" = "${HTTP_PID:-}" ] || wait "$p"; done; }

# upgrade: the HA cluster was installed from the older media (GW_K8S_MEDIA_FROM, v1.33.2); the site receives
# the newer media, builds and serves its bundle, sets the new version in the inventory, runs upgrade.yml
part_upgrade() {
  local t from=$KUBE_VERSION p v
  # with part fault the upgrade is its last row (upgrade.yml killed on cp2 and resumed, same checks): a second
  # upgrade.yml here would be a no-op without a backup
  if [[ " $PARTS " == *" fault "* ]]; then log "upgrade: done by part fault (its upgrade.yml row)"; return 0; fi
  t=$SECONDS
  build_bundle "$MEDIA" || { fail "upgrade: bundle of $MEDIA"; return 1; }
  serve_mirror || { fail "upgrade: serving the new bundle"; return 1; }
  mark "upgrade-bundle+serve" "$t"
  log "upgrade: $from -> $KUBE_VERSION; the mirror serves the new bundle ($BUNDLE_INFO)"
  write_real_vars
  probe_start
  t=$SECONDS
  if play playbooks/upgrade.yml; then log "upgrade: upgrade.yml ok ($(( SECONDS - t ))s)"; else
    fail "upgrade: upgrade.yml failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80; fi
  mark "upgrade" "$t"
  p=$(probe_stop)
  log "upgrade: API probe through w1's endpoint during the upgrade: ${p% *} requests, ${p#* } failed"
  PROBE_UPGRADE=$p
  check "upgrade: a verified etcd backup was taken first" grep -q "Backup by " "$WORK/last.log"
  v=$(kc cp1 get nodes -o jsonpath='{.items[*].status.nodeInfo.kubeletVersion}' | tr ' ' '\n' | sort -u | tr '\n' ' ')
  check "upgrade: every kubelet reports $KUBE_VERSION (got $v)" [ "$v" = "$KUBE_VERSION " ]
  v=$(kc cp1 -n kube-system get pods -l component=kube-apiserver -o jsonpath='{.items[*].spec.containers[0].image}' | tr ' ' '\n' | sort -u | tr '\n' ' ')
  check "upgrade: every API server runs kube-apiserver:$KUBE_VERSION (got $v)" [ "$v" = "registry.k8s.io/kube-apiserver:$KUBE_VERSION " ]
  check "upgrade: 5 Nodes Ready, none cordoned" wait_for 120 all_ready "cp1 cp2 cp3 w1 w2"
  check "upgrade: no Node left unschedulable" [ -z "$(kc cp1 get nodes -o jsonpath='{.items[?(@.spec.unschedulable==true)].metadata.name}')" ]
  t=$SECONDS
  if play playbooks/upgrade.yml; then
    mark "upgrade-rerun" "$t"
    check "upgrade: a second upgrade.yml changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else fail "upgrade: second run failed"; grep -A20 'fatal:' "$WORK/last.log" | head -40; fi
}

etcd_names() { etcdctl_pod cp1 member list -w json | python3 -c 'import json, sys
m = json.load(sys.stdin)["members"]
print(" ".join(sorted(x.get("name") or "(unstarted)" for x in m)))'; }
# addremove (on the HA cluster): a worker and a control plane leave (remove_node.yml: drained, Node deleted,
# kubeadm reset; the control plane's stacked etcd member removed, quorum kept) and come back (add_node.yml)
part_addremove() {
  local t h
  for h in w2 cp3; do
    t=$SECONDS
    if play playbooks/remove_node.yml --limit "$h" -e groundwork_confirm=remove_node; then
      mark "addremove-remove-$h" "$t"; log "addremove: remove_node.yml $h ok ($(( SECONDS - t ))s)"
    else fail "addremove: remove_node.yml $h"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
    check "addremove: $h's Node is gone" bash -c "! $LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get node $h >/dev/null 2>&1"
    if [ "$h" = cp3 ]; then
      check "addremove: etcd members after cp3 left: cp1 cp2 (got $(etcd_names))" [ "$(etcd_names)" = "cp1 cp2" ]
    fi
    check "addremove: the API still answers with $h gone" api_ready_on cp1
    t=$SECONDS
    if play playbooks/add_node.yml --limit "$h"; then
      mark "addremove-add-$h" "$t"; log "addremove: add_node.yml $h ok ($(( SECONDS - t ))s)"
      check "addremove: add_node.yml touched only $h" [ -z "$(grep -E '^(cp[0-9]|w[0-9]) ' "$WORK/last.log" | grep -v "^$h " | grep -E 'changed=[1-9]')" ]
    else fail "addremove: add_node.yml $h"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  done
  check "addremove: 5 Nodes Ready again" wait_for 180 all_ready "cp1 cp2 cp3 w1 w2"
  check "addremove: etcd members cp1 cp2 cp3 again (got $(etcd_names))" [ "$(etcd_names)" = "cp1 cp2 cp3" ]
}

# single: one host is the whole cluster (no endpoint proxy), from the same mirror
part_single() {
  local t
  write_groups cp1 "" none "" ""
  write_real_vars
  if [ "${GW_REAL_FRESH_CHECK:-1}" = 1 ]; then
    # check mode on a FRESH host (issue 16): rc 0, and nothing below /etc, /usr, /var/lib, /opt changed
    t=$SECONDS
    ssh_host cp1 -- touch /run/gw-fresh-check.stamp
    if play site.yml --check --diff; then
      mark "single-fresh-check" "$t"
      local newer
      newer=$(ssh_host cp1 -- find /etc /usr /var/lib /opt -xdev -newer /run/gw-fresh-check.stamp \
        -not -path '/var/lib/systemd/*' -not -path '/var/lib/apt/lists/*' -not -path '/var/lib/dpkg/*' 2>/dev/null | head -20)
      check "single: site.yml --check --diff on the fresh host changed no file (changed: ${newer:-none})" [ -z "$newer" ]
      log "single: --check --diff on the fresh host: rc 0, $(changed_sum) task(s) would change ($(( SECONDS - t ))s)"
    else
      fail "single: site.yml --check --diff on the fresh host failed"
      grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60
    fi
  fi
  t=$SECONDS
  if play site.yml; then mark "single-site.yml" "$t"; log "single: site.yml ok ($(( SECONDS - t ))s)"; else
    fail "single: site.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  check "single: cp1 Ready" wait_for 120 all_ready "cp1"
  kc cp1 create deployment one --image="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pause"])' "$MEDIA_INFO")" >/dev/null
  check "single: a workload runs on the single host" wait_for 120 deploy_available one 1
  t=$SECONDS
  if play site.yml; then mark "single-rerun" "$t"; check "single: re-run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "single: re-run failed"; fi
}

# external: 3 external etcd members (systemd units, etcd from the mirror) + 1 control plane + 1 worker
part_external() {
  local t n
  # the mirror host keeps the etcd backups (site.yml sets them up), for the total loss below
  write_groups cp1 w1 none e1,e2,e3 mirror
  write_real_vars
  t=$SECONDS
  if play site.yml; then mark "external-site.yml" "$t"; log "external: site.yml ok ($(( SECONDS - t ))s)"; else
    fail "external: site.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  check "external: cp1 and w1 Ready" wait_for 120 all_ready "cp1 w1"
  n=$(ssh_host e1 -- "ETCDCTL_API=3 etcdctl --endpoints=https://$(host_addr e1):2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key member list -w json" 2>/dev/null \
      | python3 -c 'import json, sys; m = json.load(sys.stdin)["members"]; print(len([x for x in m if x.get("name") and not x.get("isLearner")]))')
  check "external: 3 started etcd members (got ${n:-none})" [ "${n:-0}" = 3 ]
  check "external: the API server stores in the external members" bash -c "$LAB ssh --name $NAME cp1 -- grep -q -- '--etcd-servers=https://' /etc/kubernetes/manifests/kube-apiserver.yaml && ! $LAB ssh --name $NAME cp1 -- test -e /etc/kubernetes/manifests/etcd.yaml"
  t=$SECONDS
  if play site.yml; then mark "external-rerun" "$t"; check "external: re-run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "external: re-run failed"; fi
  # total loss of the control plane and of every external member, restored from the bundle (GW_REAL_EXTERNAL_DR=0 skips)
  [ "${GW_REAL_EXTERNAL_DR:-1}" = 0 ] || dr_total_loss external-dr cp1 "e1 e2 e3" "cp1 w1"
}

# ca (on the HA cluster): the CA rotation's phases 1 (trust old + new) and 2 (reissue everything from the new CAs,
# service-account key switched) with the API probe loop; then phase 3 (retire the old CA) must be refused while
# tokens signed with the old service-account key may still be in use (rotate_ca_sa_grace_seconds, default 3900 s:
# pods' projected tokens live up to an hour) — the lab does not wait that long; 5 Nodes Ready, new CA on cp1
part_ca() {
  local t p before after ph
  before=$(ssh_host cp1 -- openssl x509 -noout -fingerprint -sha256 -in /etc/kubernetes/pki/ca.crt | cut -d= -f2)
  ssh_host cp1 -- cat /etc/kubernetes/pki/ca.crt > "$WORK/ca-old.crt"
  probe_start
  t=$SECONDS
  check "ca: a client CSR is signed before the rotation" csr_signed 0
  for ph in 1 2; do
    if play playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=$ph; then log "ca: phase $ph ok ($(( SECONDS - t ))s)"; else
      fail "ca: rotate_ca.yml phase $ph failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80; break; fi
    # ca.crt is two certificates now: controller-manager signs with ca-signer.crt (one), so CSRs (joins) go on
    check "ca: a client CSR is signed after phase $ph (ca.crt a bundle)" csr_signed "$ph"
  done
  mark "ca-phases-1-2" "$t"
  p=$(probe_stop)
  log "ca: API probe through w1's endpoint during phases 1-2: ${p% *} requests, ${p#* } failed"
  PROBE_CA=$p
  after=$(ssh_host cp1 -- openssl x509 -noout -fingerprint -sha256 -in /etc/kubernetes/pki/ca.crt | cut -d= -f2)
  check "ca: cp1 signs with a new cluster CA" [ -n "$after" ] && [ "$before" != "$after" ]
  check "ca: 5 Nodes Ready after phase 2" wait_for 180 all_ready "cp1 cp2 cp3 w1 w2"
  check "ca: every kube-controller-manager Ready after phase 2 (it signs CSRs; one certificate in its signing file)" \
    wait_for 180 controllers_ready
  play playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=3
  check "ca: phase 3 refused within the service-account grace period" grep -q "tokens signed with the old key may still be in use" "$WORK/last.log"
  t=$SECONDS
  if play playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=2; then
    mark "ca-phase2-rerun" "$t"
    check "ca: phase 2 again changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "ca: phase 2 re-run failed"; fi
  ca_phase3 "$after"
}

# Phase 3 (retire the old CAs and the old service-account key). The lab does not wait the hour-long grace
# (rotate_ca_sa_grace_seconds, 3900 s: the kubelet re-signs projected tokens within their one-hour life): the
# pods that call the API with a token (kube-proxy) get new tokens first, then phase 3 runs with no grace.
proxy_ready() { [ "$(kc cp1 -n kube-system get ds kube-proxy -o jsonpath='{.status.numberReady}')" = "$1" ]; }
ca_phase3() { # fingerprint of the new cluster CA
  local new=$1 t p n
  kc cp1 -n kube-system delete pod -l k8s-app=kube-proxy --wait=true >/dev/null
  check "ca: kube-proxy pods recreated (tokens from the new key)" wait_for 180 proxy_ready 5
  probe_start
  t=$SECONDS
  if play playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=3 -e rotate_ca_sa_grace_seconds=0; then
    mark "ca-phase-3" "$t"; log "ca: phase 3 ok ($(( SECONDS - t ))s)"
  else fail "ca: rotate_ca.yml phase 3 failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80; fi
  p=$(probe_stop)
  log "ca: API probe through w1's endpoint during phase 3: ${p% *} requests, ${p#* } failed"
  PROBE_CA3=$p
  n=$(ssh_host cp1 -- "grep -c 'BEGIN CERTIFICATE' /etc/kubernetes/pki/ca.crt")  # one string: ssh joins words
  check "ca: cp1's ca.crt holds one CA after phase 3 (got ${n:-none})" [ "${n:-0}" = 1 ]
  check "ca: ... the new one" [ "$(ssh_host cp1 -- openssl x509 -noout -fingerprint -sha256 -in /etc/kubernetes/pki/ca.crt | cut -d= -f2)" = "$new" ]
  ssh_host cp1 -- cat /etc/kubernetes/pki/apiserver.crt > "$WORK/apiserver-new.crt"
  check "ca: the old CA no longer verifies the API server's certificate" \
    bash -c "! openssl verify -CAfile '$WORK/ca-old.crt' '$WORK/apiserver-new.crt' >/dev/null 2>&1"
  check "ca: 5 Nodes Ready after phase 3" wait_for 180 all_ready "cp1 cp2 cp3 w1 w2"
  check "ca: kube-proxy Ready on 5 nodes after phase 3" wait_for 120 proxy_ready 5
  check "ca: a client CSR is signed after phase 3" csr_signed 3
  check "ca: every kube-controller-manager Ready after phase 3" wait_for 180 controllers_ready
  n=$(kc cp1 -n kube-system logs -l k8s-app=kube-proxy --since=3m --tail=-1 2>/dev/null | grep -c Unauthorized)
  check "ca: kube-proxy had no Unauthorized answer after phase 3 (got ${n:-none})" [ "${n:-1}" = 0 ]
  t=$SECONDS
  if play playbooks/rotate_ca.yml -e groundwork_confirm=rotate_ca -e rotate_ca_phase=3 -e rotate_ca_sa_grace_seconds=0; then
    mark "ca-phase3-rerun" "$t"
    check "ca: phase 3 again changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "ca: phase 3 re-run failed"; fi
}

T0=$SECONDS
log "media: $MEDIA"
# the one disk every lab node shares (kubelet's eviction and image GC measure it): what a failure may need to know
log "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), disk / $(df -h --output=size,used,avail,pcent / | tail -1 | tr -s ' '), memory available $(awk '/MemAvailable/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)"
t=$SECONDS
FIRST_MEDIA=$MEDIA
if [[ " $PARTS " == *" upgrade "* ]]; then
  # the HA cluster is installed from the older media, then upgraded to $MEDIA
  MEDIA_FROM=${GW_K8S_MEDIA_FROM:-$(dirname "$MEDIA")/v1.33.2}
  if [ ! -s "$MEDIA_FROM/SHA256SUMS" ]; then echo "70-real: FAIL: part upgrade needs the older media at $MEDIA_FROM (GW_K8S_MEDIA_FROM)"; exit 1; fi
  FIRST_MEDIA=$MEDIA_FROM
fi
log "media for the install: $FIRST_MEDIA"
build_bundle "$FIRST_MEDIA" || { echo "70-real: FAIL: media -> artifacts -> bundle"; exit 1; }
log "media -> artifacts dir ${T_MEDIA}s ($MEDIA_INFO); bundle ${T_BUNDLE}s ($BUNDLE_INFO)"
mark "media+bundle" "$t"

# Plug-in parts: tests/scenarios/70-real/parts/NAME.sh defines part_NAME; it runs on the real cluster that
# is up at that point (part ha's 3+2, or part single's one host: GW_SCENARIO_PARTS="single,oidc"), with
# CLUSTER=ha|single telling it which. Each plug-in file says what it checks in its header.
for f in "$HERE"/parts/*.sh; do [ -e "$f" ] || continue
  # shellcheck disable=SC1090
  . "$f"; done
HA_UP=0
CLUSTER=
for part in $PARTS; do
  t=$SECONDS
  case $part in
    ha)
      log "part ha: lab up"
      # GW_REAL_HA_SPARE=1 (bench/real_install.sh): one more fresh host, w3, in no group until part speed adds it
      lab_up "cp1,cp2,cp3,w1,w2,mirror${GW_REAL_HA_SPARE:+,w3}" || { fail "lab up"; continue; }
      mark "ha-lab-up" "$t"; t=$SECONDS
      serve_mirror || { fail "ha: mirror serve"; continue; }
      mark "ha-mirror-serve" "$t"
      log "ha: the mirror serves the bundle (${T_SERVE}s)"
      part_ha && HA_UP=1 && CLUSTER=ha ;;
    single|external)
      # a cluster of its own: the HA lab (if any) goes first
      [ -n "$CLUSTER" ] && lab_down; HA_UP=0; CLUSTER=
      if [ "$part" = single ]; then lab_up cp1,mirror || { fail "lab up"; continue; }
      else lab_up e1,e2,e3,cp1,w1,mirror || { fail "lab up"; continue; }; fi
      mark "$part-lab-up" "$t"; t=$SECONDS
      serve_mirror || { fail "$part: mirror serve"; continue; }
      mark "$part-mirror-serve" "$t"
      # single's cluster stays up for the plug-in parts after it (lab_down at the end or at the next lab)
      if [ "$part" = single ]; then part_single && CLUSTER=single
      else "part_$part"; [ "${GW_KEEP_LAB:-0}" = 1 ] || lab_down; fi ;;
    upgrade|rotation|ca|dr|addremove)
      # on the HA cluster of part ha (GW_SCENARIO_PARTS="ha upgrade rotation dr")
      if [ "$HA_UP" = 1 ]; then log "part $part (on the HA cluster)"; "part_$part"; else fail "$part: needs part ha (installed) before it"; fi ;;
    *)
      if declare -F "part_$part" >/dev/null; then
        if [ -n "$CLUSTER" ]; then log "part $part (on the $CLUSTER cluster)"; "part_$part"
        else fail "$part: needs a real cluster (part ha or single) before it"; fi
      else fail "unknown part $part"; fi ;;
  esac
done
[ "${GW_KEEP_LAB:-0}" = 1 ] || lab_down

log "timings: ${timings[*]}"
[ -z "${PROBE_ROTATION:-}" ] || log "API probe during rotate_certs.yml (requests failed): $PROBE_ROTATION"
[ -z "${PROBE_UPGRADE:-}" ] || log "API probe during upgrade.yml (requests failed): $PROBE_UPGRADE"
[ -z "${PROBE_CA:-}" ] || log "API probe during rotate_ca.yml (requests failed): $PROBE_CA"
[ -z "${PROBE_CA3:-}" ] || log "API probe during rotate_ca.yml phase 3 (requests failed): $PROBE_CA3"
if [ ${#failures[@]} -gt 0 ]; then
  log "FAILED (${#failures[@]}): $(printf '%s; ' "${failures[@]}")"
  exit 1
fi
log "PASS in $((SECONDS - T0))s"
