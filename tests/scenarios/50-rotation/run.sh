#!/usr/bin/env bash
# Scenario 50 — certificate rotation on the lab (issue #7).
# 3 control planes that are also the 3 external etcd members (real Debian etcd 3.4) + 1 worker,
# installed by site.yml with 2-day leaves (pki_validity_days: 2; the kubeadm binaries are the doubles).
#   renew     rotate_certs.yml renews every due leaf node by node behind the health gate; openssl shows
#             365 days left everywhere; a second run changes nothing on the nodes
#   gate      cp2's etcd client port is blocked (iptables) and a renew-all run starts: cp1 is renewed,
#             cp2 fails its gate, the run stops, cp3 is untouched (fingerprints compared)
#   ca        rotate_ca.yml phase 1; phase 2 interrupted at cp2 (same gate trick) and resumed; phase 3;
#             afterwards every trust file holds only the new CAs and nothing verifies against the old ones
# Prints the time of each phase. Env: GW_LAB_NAME (default rotate).
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
cleanup() { lab_down; rm -rf "$WORK"; }
trap cleanup EXIT
PKI=/etc/kubernetes/pki
node_changed() { # changed= summed over the nodes (the controller's report files excluded)
  awk '/ changed=/ && $1 != "localhost" { for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }' <<<"$OUT"
}
fp() { ssh_host "$1" -- openssl x509 -noout -fingerprint -sha256 -in "$2" | cut -d= -f2; }
days_left() { # host cert -> whole days
  local end; end=$(ssh_host "$1" -- openssl x509 -noout -enddate -in "$2" | cut -d= -f2)
  echo $(( ($(date -d "$end" +%s) - $(date +%s)) / 86400 ))
}
block_etcd() { ssh_host "$1" -- iptables -I INPUT -p tcp --dport 2379 -j REJECT; }
unblock_etcd() { ssh_host "$1" -- iptables -D INPUT -p tcp --dport 2379 -j REJECT; }
etcd_tarball() {
  local d="$WORK/etcd-v3.4-linux-amd64"
  mkdir -p "$d" && cp /usr/bin/etcd /usr/bin/etcdctl "$d/"
  tar -C "$WORK" -czf "$WORK/etcd-v3.4-linux-amd64.tar.gz" "etcd-v3.4-linux-amd64"
}

# lib.sh's prepare_python puts one wheel name per line into its YAML and fetches $0 (the shell's name): ours.
prepare_python() {
  local wheels; wheels=$(find "$WORK/www/wheels" -name '*.whl' -printf '%f ')
  cat > "$WORK/prepare.yml" <<EOP
- name: Lab - Python libraries for the PKI modules (not on Debian 12 in the needed version)
  hosts: all
  gather_facts: false
  tasks:
    - name: Install the wheels
      ansible.builtin.shell: |
        set -e
        cd /tmp && for w in $wheels; do
          python3 -c "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" \\
            "http://$CTL_IP:$HTTP_PORT/wheels/\$w" "/tmp/\$w"
          python3 -m zipfile -e "/tmp/\$w" /usr/local/lib/python3.11/dist-packages/
        done
      args:
        creates: /usr/local/lib/python3.11/dist-packages/cryptography
EOP
  play "$WORK/prepare.yml"
}

lab_vars() {
  write_vars
  sed -i '/^control_plane_kubelet_config:/d' "$WORK/vars.yml"
  cat >> "$WORK/vars.yml" <<EOV
# --- scenario 50: short-lived leaves, external etcd on the control planes, the doubles' health ports
pki_validity_days: 2
groundwork_extra_groups: [lab]
etcd_binary_source: tarball
etcd_tarball_src: $WORK/etcd-v3.4-linux-amd64.tar.gz
etcd_tarball_sha256: $(sha256sum "$WORK/etcd-v3.4-linux-amd64.tar.gz" | cut -d" " -f1)
control_plane_kubelet_config: {cgroupDriver: cgroupfs, oomScoreAdj: 0, rotateCertificates: true}
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
  prepare_python || { fail "python libraries"; tail -20 "$WORK/last.log"; return 1; }
  mark "lab-up+prepare" "$t"; t=$SECONDS
  # site.yml's etcd play has no serial 1 (the etcd role needs it: members join one by one): etcd first.
  cat > "$WORK/etcd.yml" <<EOP
- name: External etcd, one member at a time
  hosts: etcd
  become: true
  serial: 1
  roles: [groundwork.k8s.etcd]
EOP
  if ! play "$WORK/etcd.yml"; then fail "etcd install"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40; return 1; fi
  mark "etcd" "$t"; t=$SECONDS
  if ! play site.yml; then fail "install"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  mark "install" "$t"
  check "leaves issued short (cp2 apiserver: $(days_left cp2 $PKI/apiserver.crt) days)" [ "$(days_left cp2 $PKI/apiserver.crt)" -le 2 ]
}

renew() {
  local t=$SECONDS h
  if ! play playbooks/rotate_certs.yml; then fail "rotate_certs"; grep -B2 -A30 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  mark "rotate_certs (3 nodes)" "$t"
  log "renew order: $(grep -o 'TASK \[Renew, restart, check health\]\|^ok: \[cp[0-9]\]\|^changed: \[cp[0-9]\]' "$WORK/last.log" | grep -o 'cp[0-9]' | uniq | tr '\n' ' ')"
  for h in cp1 cp2 cp3; do
    for c in apiserver.crt etcd/peer.crt etcd/server.crt apiserver-etcd-client.crt front-proxy-client.crt; do
      [ "$(days_left $h $PKI/$c)" -ge 364 ] || fail "$h $c not renewed ($(days_left $h $PKI/$c) days)"
    done
  done
  check "every leaf on cp1-3 now has 364+ days" true
  check "a backup dir exists on cp3" ssh_host cp3 -- test -d /var/backups/groundwork/certs
  t=$SECONDS
  play playbooks/rotate_certs.yml || fail "rotate_certs second run"
  mark "rotate_certs second run" "$t"
  check "second run changes nothing on the nodes (changed=$(node_changed))" [ "$(node_changed)" -eq 0 ]
}

gate() {
  local t=$SECONDS before3 rc
  before3=$(fp cp3 $PKI/apiserver.crt)
  block_etcd cp2
  play playbooks/rotate_certs.yml -e rotate_certs_all=true -e cert_rotation_health_retries=5; rc=$?
  unblock_etcd cp2
  mark "gate run (stopped)" "$t"
  check "the run failed" [ "$rc" -ne 0 ]
  check "the gate failed on cp2" grep -q 'FAILED - RETRYING: \[cp2\]: Health of cp2\|fatal: \[cp2\]' "$WORK/last.log"
  check "cp1 was renewed before the stop" grep -q 'changed: \[cp1\]' "$WORK/last.log"
  check "cp3 untouched (same apiserver cert)" [ "$before3" = "$(fp cp3 $PKI/apiserver.crt)" ]
}

ca() {
  local t=$SECONDS h rc
  ssh_host cp1 -- cat $PKI/ca.crt > "$WORK/old-pki-ca.crt"
  ssh_host cp1 -- cat $PKI/etcd/ca.crt > "$WORK/old-etcd-ca.crt"
  ssh_host cp1 -- cat $PKI/front-proxy-ca.crt > "$WORK/old-pki-front-proxy-ca.crt"
  for c in old-pki-ca.crt old-etcd-ca.crt old-pki-front-proxy-ca.crt; do
    grep -q BEGIN "$WORK/$c" || fail "could not read $c"
  done
  local C=(-e groundwork_confirm=rotate_ca -e rotate_ca_sa_grace_seconds=0)
  play playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=1 || { fail "CA phase 1"; grep -A30 'fatal:' "$WORK/last.log" | head -50; return 1; }
  mark "CA phase 1" "$t"; t=$SECONDS
  check "phase 1: cp3 ca.crt holds 2 CAs" [ "$(ssh_host cp3 -- grep -c BEGIN.CERT $PKI/ca.crt)" = 2 ]
  block_etcd cp2
  play playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=2 -e cert_rotation_health_retries=5; rc=$?
  unblock_etcd cp2
  mark "CA phase 2 (interrupted at cp2)" "$t"; t=$SECONDS
  check "phase 2 interrupted" [ "$rc" -ne 0 ]
  check "cp3 still in phase trusted" ssh_host cp3 -- grep -q phase....trusted $PKI/.rotation/state.json
  play playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=2 || { fail "CA phase 2 resume"; grep -A30 'fatal:' "$WORK/last.log" | head -50; return 1; }
  mark "CA phase 2 resumed" "$t"; t=$SECONDS
  check "resume said so" grep -q 'resuming' "$WORK/last.log"
  play playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=3 || { fail "CA phase 3"; grep -A30 'fatal:' "$WORK/last.log" | head -50; return 1; }
  mark "CA phase 3" "$t"
  for h in cp1 cp2 cp3 w1; do
    [ "$(ssh_host $h -- grep -c BEGIN.CERT $PKI/ca.crt)" = 1 ] || fail "$h ca.crt still a bundle"
    ssh_host $h -- cat $PKI/ca.crt > "$WORK/new-ca.crt"
    cmp -s "$WORK/new-ca.crt" "$WORK/old-pki-ca.crt" && fail "$h still has the old CA"
  done
  for h in cp1 cp2 cp3; do
    ssh_host $h -- cat $PKI/apiserver.crt $PKI/etcd/peer.crt $PKI/front-proxy-client.crt > "$WORK/leaves-$h.pem"
    for pair in "apiserver.crt old-pki-ca.crt" "etcd/peer.crt old-etcd-ca.crt" "front-proxy-client.crt old-pki-front-proxy-ca.crt"; do
      # shellcheck disable=SC2086  # two words on purpose
      set -- $pair
      ssh_host $h -- cat "$PKI/$1" > "$WORK/leaf.pem"
      openssl verify -CAfile "$WORK/$2" "$WORK/leaf.pem" >/dev/null 2>&1 && fail "$h $1 verifies against the old CA"
      ssh_host $h -- cat "$PKI/$(dirname "$1")/$( [ "$1" = front-proxy-client.crt ] && echo front-proxy-ca.crt || echo ca.crt)" > "$WORK/cur-ca.pem"
      openssl verify -CAfile "$WORK/cur-ca.pem" "$WORK/leaf.pem" >/dev/null 2>&1 || fail "$h $1 does not verify against the new CA"
    done
  done
  check "nothing on cp1-3/w1 trusts or is signed by the old CAs" true
  play playbooks/rotate_ca.yml "${C[@]}" -e rotate_ca_phase=all || fail "CA re-run"
  check "re-running all phases changes nothing on the nodes (changed=$(node_changed))" [ "$(node_changed)" -eq 0 ]
}

t=$SECONDS
if ! { build_apt_repo && build_wheels && stage_doubles && etcd_tarball; }; then fail "staging the site files"; exit 1; fi
mark "stage" "$t"
if install; then
  renew && gate
  ca
fi
log "timings: ${timings[*]}"
if [ ${#failures[@]} -gt 0 ]; then log "${#failures[@]} failure(s): ${failures[*]}"; exit 1; fi
log "all checks passed"
