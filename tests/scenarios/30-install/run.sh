#!/usr/bin/env bash
# Scenario 30 — install with site.yml on the lab (issue #5). Real containerd, haproxy, systemd and SSH;
# only kubeadm/kubelet/kubectl are the doubles from tests/doubles (served like any site file).
#   HA        3 control planes (stacked etcd) + 2 workers behind local haproxy (localhost:8443);
#             a second run reports changed=0; the API lists 5 Ready nodes; files and modes as kubeadm's
#   single    1 host (control plane, no endpoint proxy); second run changed=0
#   bad join  then a spare host joins it with a wrong CA hash -> fails at once with kubeadm's message
#             naming the real pin, writes nothing; an unknown token fails with kubeadm's message
# Prints the time of each phase. Env: GW_LAB_NAME (default kubeadm), GW_SCENARIO_PARTS (default "ha single").
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
NAME=${GW_LAB_NAME:-kubeadm}
PARTS=${GW_SCENARIO_PARTS:-ha single}
SITE=${GW_SITE_PLAYBOOK:-site.yml}
WORK=$(mktemp -d /tmp/gw-install.XXXXXX)
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$HERE/lib.sh"
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

ha() {
  local t=$SECONDS
  lab_up cp1,cp2,cp3,w1,w2 || { fail "lab up"; return; }
  write_groups cp1,cp2,cp3 w1,w2 haproxy
  write_vars
  prepare_python || { fail "python libraries"; tail -20 "$WORK/last.log"; return; }
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
  lab_down
}

single() {
  local t=$SECONDS
  lab_up cp1,w3 || { fail "lab up (single)"; return; }
  write_groups cp1 "" none
  write_vars
  prepare_python || { fail "python libraries"; return; }
  mark "single-lab-up+prepare" "$t"
  install_twice single || return
  check "single node Ready" [ "$(ready_nodes cp1)" = "cp1" ]
  bad_joins w3
  lab_down
}

t=$SECONDS
if ! { build_apt_repo && build_wheels && stage_doubles; }; then fail "staging the site files"; exit 1; fi
mark "stage" "$t"
for part in $PARTS; do "$part"; done

log "timings: ${timings[*]}"
if [ ${#failures[@]} -gt 0 ]; then log "${#failures[@]} failure(s): ${failures[*]}"; exit 1; fi
log "all checks passed"
