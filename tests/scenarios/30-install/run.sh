#!/usr/bin/env bash
# Scenario 30 — install with site.yml on the lab (issue #5). Real containerd, haproxy, systemd and SSH;
# only kubeadm/kubelet/kubectl are the doubles from tests/doubles (served like any site file).
#   HA        3 control planes (stacked etcd) + 2 workers behind local haproxy (localhost:8443);
#             a second run reports changed=0; the API lists 5 Ready nodes; files and modes as kubeadm's
#   single    1 host (control plane, no endpoint proxy); second run changed=0; upgrade to v1.35.1 without
#             drain, second upgrade run changed=0 (GW_UPGRADE_SINGLE=0 skips it)
#   bad join  then a spare host joins it with a wrong CA hash -> fails at once with kubeadm's message
#             naming the real pin, writes nothing; an unknown token fails with kubeadm's message
#   add/remove then add_node.yml --limit the spare host (joins as a worker, Ready), remove_node.yml refusals
#             (first control plane, no confirmation) change nothing, remove_node.yml takes it out (drained, Node
#             deleted, kubeadm reset, CNI files gone), second removal changed=0
#             then (GW_UPGRADE, default 1) upgrade.yml to v1.35.1 (upgrade.sh): refusals first (two minors
#             ahead; no backup program), nothing changed; then cp1 apply, cp2/cp3 node, the workers; every node
#             drained, new kubelet, uncordoned, Ready; second run changed=0; old binaries refused afterwards
#   stacked_restore (only when named in GW_SCENARIO_PARTS) cp1 with a REAL stacked etcd (Debian's etcd
#             as the image's binary, run by fake_kubelet) + backup host bk: etcd.yml, N keys, backup.yml,
#             M keys, refusals, loss (manifest out, db overwritten, manifest back: crash loop),
#             restore.yml -> the N keys, none of the M, healthy, manifest back, old data moved aside
# Prints the time of each phase. Env: GW_LAB_NAME (default kubeadm), GW_SCENARIO_PARTS (default "ha single"),
# GW_RERUN_PARTS: the parts whose install is run a second time (default "ha single").
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
NAME=${GW_LAB_NAME:-kubeadm}
PARTS=${GW_SCENARIO_PARTS:-ha single}
SITE=${GW_SITE_PLAYBOOK:-site.yml}
WORK=$(mktemp -d /tmp/gw-install.XXXXXX)
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/scenarios/30-install/upgrade.sh
. "$HERE/upgrade.sh"
cd "$ROOT" || exit 1

log() { printf '[30-install] %s\n' "$*"; }
failures=()
fail() { failures+=("$*"); log "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then log "ok: $what"; else fail "$what"; fi; }
timings=()
mark() { timings+=("$1 $(( SECONDS - $2 ))s"); }
cleanup() { lab_down; rm -rf "$WORK"; }
trap cleanup EXIT

nodes_json() { ssh_host "$1" -- kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o json; }
ready_nodes() { # host -> "name name ..." of Ready nodes
  nodes_json "$1" | python3 -c 'import json, sys
print(" ".join(sorted(n["metadata"]["name"] for n in json.load(sys.stdin)["items"]
      if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]))))'
}
mode_of() { ssh_host "$1" -- stat -c %a "$2" 2>/dev/null; }

install_twice() { # label
  local label=$1 t=$SECONDS
  if play "$SITE"; then log "$label install ok ($(( SECONDS - t ))s)"; else
    fail "$label install failed"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  mark "$label-install" "$t"
  # kubeadm (the double checks as kubeadm does) took our certificates and kubeconfigs as it would make them
  check "$label: no kubeadm warning about our kubeconfigs" [ -z "$(grep 'exists already but has' "$WORK/last.log")" ]
  log "$label: kubeadm warnings shown: $(grep -o 'WARNING\]: kubeadm: .*' "$WORK/last.log" | sort | uniq -c | head -5 | tr -s ' \n' ' ')"
  if [[ " ${GW_RERUN_PARTS-ha single} " != *" $label "* ]]; then
    log "$label second run skipped (GW_RERUN_PARTS=${GW_RERUN_PARTS-})"; return 0
  fi
  t=$SECONDS
  if play "$SITE"; then
    mark "$label-rerun" "$t"
    check "$label second run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else
    fail "$label second run failed"; grep -A20 'fatal:' "$WORK/last.log" | head -40
  fi
}

bad_joins() { # spare host
  local h=$1 real t=$SECONDS
  ssh_host cp1 -- cat /etc/kubernetes/pki/ca.crt > "$WORK/ca.crt"
  real="sha256:$(openssl x509 -in "$WORK/ca.crt" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)"

  cat > "$WORK/badjoin.yml" <<EOP
- name: Binaries on the spare host
  hosts: $h
  become: true
  roles: [groundwork.k8s.kubernetes_binaries]
- name: Joins that must fail
  hosts: $h
  become: true
  gather_facts: false
  tasks:
    - name: Token from the first control plane
      groundwork.k8s.kubeadm_token:
        api_server_endpoint: "{{ hostvars['cp1'].ansible_host }}:6443"
        kubeadm_binary: /usr/local/bin/kubeadm
      delegate_to: cp1
      no_log: true
      register: tok
    - name: Join with a wrong CA hash
      groundwork.k8s.kubeadm_join:
        api_server_endpoint: "{{ tok.join.api_server_endpoint }}"
        token: "{{ tok.join.token }}"
        ca_cert_hashes: ["sha256:{{ '0' * 64 }}"]
        node_name: $h
        kubeadm_binary: /usr/local/bin/kubeadm
      register: wrong
      ignore_errors: true
    - name: Join with an unknown token (discovery retries until its timeout)
      groundwork.k8s.kubeadm_join:
        api_server_endpoint: "{{ tok.join.api_server_endpoint }}"
        token: 0fixt0.0123456789abcdef
        ca_cert_hashes: "{{ tok.join.ca_cert_hashes }}"
        node_name: $h
        discovery_timeout: 3s
        kubeadm_binary: /usr/local/bin/kubeadm
      register: unknown
      ignore_errors: true
    - name: Results
      ansible.builtin.copy:
        dest: /root/badjoin-results.json
        content: "{{ {'wrong': wrong.msg, 'unknown': unknown.msg} | to_json }}"
        mode: "0600"
EOP
  play "$WORK/badjoin.yml"
  ssh_host "$h" -- cat /root/badjoin-results.json > "$WORK/badjoin-results.json"
  local want_wrong="kubeadm join failed: error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"$real\" are pinned"
  local want_unknown="kubeadm join failed: error execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID \"0fixt0\""
  check "wrong CA hash fails with kubeadm's message naming the real pin" \
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r["wrong"] != sys.argv[2])' "$WORK/badjoin-results.json" "$want_wrong"
  check "unknown token fails with kubeadm's message" \
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r["unknown"] != sys.argv[2])' "$WORK/badjoin-results.json" "$want_unknown"
  log "bad join messages: $(cat "$WORK/badjoin-results.json")"
  check "nothing written by the failed joins" [ -z "$(ssh_host "$h" -- ls /etc/kubernetes/kubelet.conf /etc/kubernetes/pki/ca.crt 2>/dev/null)" ]
  mark "bad-joins" "$t"
}

# add_node.yml brings a worker in (touching only it), remove_node.yml takes it out again (drain, Node
# deleted, kubeadm reset, CNI files gone); the refusals change nothing; second removal changed=0.
add_remove() { # spare host (binaries installed by bad_joins)
  local h=$1 t=$SECONDS
  write_groups cp1 "$h" none
  if play playbooks/add_node.yml --limit "$h"; then
    mark "add-node" "$t"
    check "add_node.yml: $h joined, 2 Ready nodes" [ "$(ready_nodes cp1)" = "cp1 $h" ]
    check "add_node.yml touched only $h" [ -z "$(grep -E '^cp1 .* changed=[1-9]' "$WORK/last.log")" ]
  else
    fail "add_node.yml $h"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return
  fi
  if play playbooks/remove_node.yml --limit cp1 -e groundwork_confirm=remove_node; then
    fail "remove_node.yml on the first control plane was not refused"
  fi
  if play playbooks/remove_node.yml --limit "$h"; then
    fail "remove_node.yml without groundwork_confirm was not refused"
  fi
  check "refusals removed nothing" [ "$(ready_nodes cp1)" = "cp1 $h" ]
  # what kube-proxy and a CNI plugin leave in the firewall (no kube-proxy runs here: made by hand), and a
  # rule of the site's own that the reset must keep
  ssh_host "$h" -- 'iptables -t nat -N KUBE-SERVICES && iptables -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES &&
    iptables -t nat -A KUBE-SERVICES -d 10.96.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 10.250.0.2:6443 &&
    iptables -N CNI-FORWARD && iptables -A FORWARD -j CNI-FORWARD && ip6tables -N KUBE-FIREWALL && ip6tables -A INPUT -j KUBE-FIREWALL &&
    iptables -N SITE-KEEP && iptables -A SITE-KEEP -p tcp --dport 22 -j ACCEPT && iptables -A INPUT -j SITE-KEEP' ||
    fail "iptables rules for the reset test"
  t=$SECONDS
  if play playbooks/remove_node.yml --limit "$h" -e groundwork_confirm=remove_node; then
    mark "remove-node" "$t"
    check "remove_node.yml: $h gone from the API" [ "$(nodes_json cp1 | python3 -c 'import json, sys; print(" ".join(n["metadata"]["name"] for n in json.load(sys.stdin)["items"]))')" = cp1 ]
    check "remove_node.yml: $h reset (no kubelet.conf, kubelet stopped, /etc/cni/net.d empty, no cni0)" \
      [ "$(ssh_host "$h" -- 'ls /etc/kubernetes/kubelet.conf /sys/class/net/cni0 2>/dev/null; ls -A /etc/cni/net.d; systemctl is-active kubelet')" = inactive ]
    check "remove_node.yml: KUBE-*/CNI-* chains and jumps gone (IPv4, IPv6), the site's own rule kept" \
      [ "$(ssh_host "$h" -- 'iptables-save; ip6tables-save' | grep -cE '(KUBE|CNI)-')/$(ssh_host "$h" -- iptables -S INPUT | grep -c 'j SITE-KEEP')" = 0/1 ]
  else
    fail "remove_node.yml $h"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return
  fi
  if play playbooks/remove_node.yml --limit "$h" -e groundwork_confirm=remove_node; then
    check "remove_node.yml second run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else
    fail "remove_node.yml second run"
  fi
}

ha() {
  local t=$SECONDS
  lab_up cp1,cp2,cp3,w1,w2 || { fail "lab up"; return; }
  write_groups cp1,cp2,cp3 w1,w2 haproxy
  write_vars
  mark "lab-up+prepare" "$t"
  install_twice ha || return
  check "5 Ready nodes in the API" [ "$(ready_nodes cp2)" = "cp1 cp2 cp3 w1 w2" ]
  check "worker kubelet.conf 600" [ "$(mode_of w1 /etc/kubernetes/kubelet.conf)" = 600 ]
  check "worker pki/ca.crt 644" [ "$(mode_of w1 /etc/kubernetes/pki/ca.crt)" = 644 ]
  check "control-plane manifests 600, dir 700" [ "$(mode_of cp3 /etc/kubernetes/manifests/kube-apiserver.yaml)$(mode_of cp3 /etc/kubernetes/manifests)" = 600700 ]
  check "kubelet config 644" [ "$(mode_of cp2 /var/lib/kubelet/config.yaml)" = 644 ]
  check "encryption config 600, one key on every control plane" \
    [ "$(for h in cp1 cp2 cp3; do ssh_host $h -- sha256sum /etc/kubernetes/encryption/config.yaml | cut -c1-64; done | sort -u | wc -l)$(mode_of cp3 /etc/kubernetes/encryption/config.yaml)" = 1600 ]
  check "join token file removed" [ -z "$(ssh_host w2 -- ls /etc/kubernetes/.kubeadm-join.yaml 2>/dev/null)" ]
  if [ "${GW_UPGRADE:-1}" != 0 ]; then upgrade_ha; else log "upgrade skipped (GW_UPGRADE=0)"; fi
  lab_down
}

single() {
  local t=$SECONDS
  lab_up cp1,w3 || { fail "lab up (single)"; return; }
  write_groups cp1 "" none
  write_vars
  mark "single-lab-up+prepare" "$t"
  install_twice single || return
  check "single node Ready" [ "$(ready_nodes cp1)" = "cp1" ]
  bad_joins w3
  add_remove w3
  write_groups cp1 "" none
  if [ "${GW_UPGRADE_SINGLE:-1}" = 1 ]; then upgrade_single; else log "single upgrade skipped (GW_UPGRADE_SINGLE=0)"; fi
  lab_down
}

# --------------------------------------------------------------------------- stacked etcd, for real
# Part stacked_restore (not in the default PARTS: 351 s measured): cp1 (stacked etcd: Debian's etcd binary
# as the image's, run by fake_kubelet from kubeadm's manifest) + bk (backup host).
ETCDCTL="ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key"
count_keys() { # host prefix -> count ("" when etcd does not answer)
  ssh_host "$1" -- "$ETCDCTL --command-timeout=5s get $2 --prefix --keys-only --limit=1 -w json" 2>/dev/null \
    | python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("count", 0))
except ValueError: pass'
}
put_keys() { # host prefix n: transactions of 100 puts
  # (grep reads all of the output: with pipefail, grep -q exiting early can SIGPIPE ssh and fail a txn that worked)
  local h=$1 prefix=$2 n=$3 i
  for ((i = 0; i < n; i += 100)); do
    python3 -c "import sys; p, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(); [print('put %s%06d v' % (p, j)) for j in range(a, b)]; print(); print()" "$prefix" "$i" "$(( i + 100 < n ? i + 100 : n ))" \
      | ssh_host "$h" -- "$ETCDCTL --command-timeout=30s txn" | grep SUCCESS >/dev/null || return 1
  done
}
etcd_healthy() { ssh_host "$1" -- "$ETCDCTL --command-timeout=5s endpoint health" 2>&1 | grep "is healthy" >/dev/null; }
# "open" / "closed" (anything else: the host did not answer, and neither check passes)
etcd_port() { ssh_host "$1" -- "if [ -n \"\$(ss -Hltn 'sport = :2379')\" ]; then echo open; else echo closed; fi" 2>/dev/null; }
etcd_exits() { ssh_host "$1" -- "journalctl -u kubelet -o cat | grep -c 'container etcd exited'" 2>/dev/null || true; }
# the process listening on 2379 is etcd and a child of the kubelet unit's main process
etcd_is_kubelet_child() {
  # shellcheck disable=SC2016
  ssh_host "$1" -- 'p=$(ss -Hltnp "sport = :2379" | grep -o "pid=[0-9]*" | head -1 | cut -d= -f2); [ -n "$p" ] &&
    [ "$(readlink /proc/$p/exe)" = /usr/local/bin/etcd ] && [ "$(ps -o ppid= -p $p | tr -d " ")" = "$(systemctl show -p MainPID --value kubelet)" ]'
}
aside_db_sha() { # host -> sha256 of snap/db in the moved-aside data dir(s)
  # shellcheck disable=SC2016
  ssh_host "$1" -- 'for d in /var/lib/etcd.groundwork-old-* /var/lib/etcd/.groundwork.groundwork-old-*; do
    [ -f "$d/member/snap/db" ] && sha256sum "$d/member/snap/db" | cut -c1-64; [ -f "$d/snap/db" ] && sha256sum "$d/snap/db" | cut -c1-64; done' 2>/dev/null
}

stacked_restore() {
  local t=$SECONDS t0=$SECONDS N=${GW_STACKED_N:-300} M=${GW_STACKED_M:-40} n m i exits0 corrupt
  stage_etcd || { fail "staging etcd"; return; }
  lab_up cp1,bk || { fail "lab up (stacked_restore)"; return; }
  write_groups cp1 "" none "" bk
  write_vars
  write_etcd_vars
  etcd_image_binary || { fail "etcd binary on the lab host"; tail -20 "$WORK/last.log"; return; }
  mark "stacked-lab-up+prepare" "$t"

  t=$SECONDS
  if ! play "$SITE" -e "@$WORK/etcd-vars.yml"; then fail "stacked install failed"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return; fi
  mark "stacked-install" "$t"
  t=$SECONDS
  if ! play playbooks/etcd.yml -e "@$WORK/etcd-vars.yml"; then
    fail "etcd.yml (etcdctl + backups on the control plane)"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return
  fi
  mark "stacked-etcd.yml" "$t"
  # second run: the client tools, the backups and the cluster-ID record change nothing
  t=$SECONDS
  if play playbooks/etcd.yml -e "@$WORK/etcd-vars.yml"; then
    check "etcd.yml again on the stacked control plane: changed=$(changed_sum)" [ "$(changed_sum)" = 0 ]
    [ "$(changed_sum)" = 0 ] || grep -B1 '^changed:' "$WORK/last.log" | head -20
  else
    fail "etcd.yml second run"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40
  fi
  mark "stacked-etcd.yml again" "$t"
  check "real etcd, run by the kubelet from kubeadm's manifest, is healthy" etcd_healthy cp1
  check "the process on 2379 is /usr/local/bin/etcd, child of the kubelet" etcd_is_kubelet_child cp1

  t=$SECONDS
  put_keys cp1 /stk/n/ "$N" || fail "writing $N keys"
  mark "stacked-put-N" "$t"
  t=$SECONDS
  play playbooks/backup.yml -e "@$WORK/etcd-vars.yml" || { fail "backup.yml"; grep -A20 'fatal:' "$WORK/last.log" | head -40; }
  mark "stacked-backup" "$t"
  check "one encrypted bundle on the backup host" [ "$(ssh_host bk -- "ls /var/backups/groundwork/etcd/groundwork-lab/ | grep -c 'tar.enc\$'")" = 1 ]
  put_keys cp1 /stk/m/ "$M" || fail "writing $M keys"
  check "$((N + M)) keys before the loss" [ "$(count_keys cp1 /stk/)" = $((N + M)) ]

  t=$SECONDS
  play playbooks/restore.yml -e "@$WORK/etcd-vars.yml" && fail "restore without confirmation accepted"
  check "restore without confirmation refused with what to do" grep -q "groundwork_confirm=restore" "$WORK/last.log"
  play playbooks/restore.yml -e "@$WORK/etcd-vars.yml" -e groundwork_confirm=restore && fail "restore of a healthy cluster accepted"
  check "restore of a healthy stacked etcd refused" grep -q "healthy and have quorum" "$WORK/last.log"
  check "refusals stopped nothing: manifest in place, $((N + M)) keys" \
    [ "$(ssh_host cp1 -- ls /etc/kubernetes/manifests/etcd.yaml 2>/dev/null)$(count_keys cp1 /stk/)" = "/etc/kubernetes/manifests/etcd.yaml$((N + M))" ]
  mark "stacked-refusals" "$t"

  # the loss: the manifest leaves the dir (the kubelet stops etcd), the database is overwritten,
  # the manifest comes back (the kubelet starts etcd, which crash-loops on the corrupt data)
  t=$SECONDS
  ssh_host cp1 -- mv /etc/kubernetes/manifests/etcd.yaml /root/etcd.yaml
  for i in $(seq 1 40); do [ "$(etcd_port cp1)" = closed ] && break; sleep 0.5; done
  check "manifest moved out of the dir: the kubelet stopped etcd" [ "$(etcd_port cp1)" = closed ]
  exits0=$(etcd_exits cp1)
  corrupt=$(ssh_host cp1 -- 'head -c 1048576 /dev/urandom > /var/lib/etcd/member/snap/db && sha256sum /var/lib/etcd/member/snap/db | cut -c1-64')
  ssh_host cp1 -- mv /root/etcd.yaml /etc/kubernetes/manifests/etcd.yaml
  for i in $(seq 1 40); do [ "$(etcd_exits cp1)" -ge $((exits0 + 2)) ] && break; sleep 0.5; done
  check "manifest back: the kubelet starts etcd again and restarts it as it crashes ($(( $(etcd_exits cp1) - exits0 )) exits)" \
    [ "$(etcd_exits cp1)" -ge $((exits0 + 2)) ]
  check "etcd unhealthy after the loss (no key readable)" [ -z "$(count_keys cp1 /stk/)" ]
  mark "stacked-loss" "$t"

  t=$SECONDS
  if play playbooks/restore.yml -e "@$WORK/etcd-vars.yml" -e groundwork_confirm=restore; then
    mark "stacked-restore" "$t"
    n=$(count_keys cp1 /stk/n/); m=$(count_keys cp1 /stk/m/)
    check "after the restore: $n of the $N keys (want all), $m of the $M later ones (want 0)" [ "$n:$m" = "$N:0" ]
    check "etcd healthy after the restore" etcd_healthy cp1
    check "etcd run by the kubelet again" etcd_is_kubelet_child cp1
    check "manifest back in place, nothing left beside it" \
      [ "$(ssh_host cp1 -- 'ls /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.groundwork-restore' 2>/dev/null)" = /etc/kubernetes/manifests/etcd.yaml ]
    check "the corrupt data dir moved aside, not deleted" grep -qx "${corrupt:-no-sha}" <<<"$(aside_db_sha cp1)"
    check "cluster ID recorded" ssh_host cp1 -- test -s /etc/etcd/cluster-ids.json
    log "stacked restore: $n of $N keys back, $m of $M later keys; moved aside: $(ssh_host cp1 -- 'ls -d /var/lib/etcd.groundwork-old-* /var/lib/etcd/.groundwork.groundwork-old-*' 2>/dev/null | tr '\n' ' ')"
  else
    fail "restore.yml (stacked)"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60
  fi
  mark "stacked_restore-total" "$t0"
  lab_down
}

t=$SECONDS
if ! { build_apt_repo && stage_doubles; }; then fail "staging the site files"; exit 1; fi
mark "stage" "$t"
for part in $PARTS; do "$part"; done

log "timings: ${timings[*]}"
if [ ${#failures[@]} -gt 0 ]; then log "${#failures[@]} failure(s): ${failures[*]}"; exit 1; fi
log "all checks passed"
