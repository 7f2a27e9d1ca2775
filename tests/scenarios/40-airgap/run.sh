#!/usr/bin/env bash
# Air-gapped install with zero egress (issue 6):
#  1. make the lab's local artifacts dir (Debian binaries in upstream layouts, kubeadm doubles, busybox image)
#  2. build the bundle from it on this machine (twice: the second run copies nothing)
#  3. lab up; egress counters in every lab namespace (controller + hosts)
#  4. serve the bundle from the lab's mirror host (nginx, registry with a site CA, apt repo) from the
#     bundle alone, run from the controller namespace (no route out of the lab); once
#  5. preflight: every artifact on the mirror; install containerd + runc + CNI + etcd + kubeadm/kubelet/kubectl
#     on w1 from the mirror, containerd's registry mirror without upstream fallback, pull the image through it
#  6. a tampered file (one byte) and a missing image each stop preflight with their names
#  7. counters: no packet to a destination outside the lab (also read and printed before any teardown)
# Two lab hosts (w1, mirror). Lab name: $GW_AIRGAP_LAB, else $GW_LAB_NAME, else "airgap".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$ROOT/.collections"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_FORCE_COLOR=0
NAME=${GW_AIRGAP_LAB:-${GW_LAB_NAME:-airgap}}
LAB="$ROOT/tests/lab/lab"
WORK=${GW_AIRGAP_WORK:-/var/tmp/groundwork-$NAME}
ART="$ROOT/tests/lab/artifacts"
PY=$ROOT/.venv/bin/python
export GW_AIRGAP_WORK=$WORK
mkdir -p "$WORK"
T0=$SECONDS
say() { printf '\n[40-airgap %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
fail() { printf '[40-airgap] FAIL: %s\n' "$*" >&2; exit 1; }
recap() { # log -> "changed failed" of the PLAY RECAP lines, summed
  awk '/ : ok=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "changed") c += kv[2]; if (kv[1] == "failed") f += kv[2] } }
       END { print c + 0, f + 0 }' "$1"
}

say "1. local artifacts dir"
python3 tests/airgap/make_lab_artifacts.py "$ART" >/dev/null
BUILD_VARS=(-e "mirror_source_dir=$ART" -e "groundwork_artifact_manifest=$ART/manifest.yml"
  -e "mirror_build_dir=$WORK/bundle" -e "mirror_build_state_dir=$WORK/bundle.state"
  -e "mirror_build_tarball=$WORK/groundwork-bundle.tar" -e "mirror_build_signing_key=$WORK/bundle-signing.key"
  -e "mirror_build_apt_signing_home=$WORK/apt-gnupg" -e "ansible_python_interpreter=$PY")

say "2. build the bundle (connected machine; OS packages through apt)"
t=$SECONDS
ansible-playbook -i localhost, playbooks/mirror.yml --tags build "${BUILD_VARS[@]}" > "$WORK/build1.log" 2>&1 \
  || { tail -40 "$WORK/build1.log"; fail "build"; }
B1=$((SECONDS - t)); t=$SECONDS
ansible-playbook -i localhost, playbooks/mirror.yml --tags build "${BUILD_VARS[@]}" > "$WORK/build2.log" 2>&1 \
  || { tail -40 "$WORK/build2.log"; fail "build (second run)"; }
B2=$((SECONDS - t))
read -r c2 _ < <(recap "$WORK/build2.log")
grep -q 'copied 0,' "$WORK/build2.log" || fail "second build copied something: $(grep -o 'copied [0-9]*[^"]*' "$WORK/build2.log")"
[ "$c2" = 0 ] || fail "second build reported changed=$c2"
echo "build: first ${B1}s, second ${B2}s (changed=0, copied 0); $(grep -o 'copied [0-9]*, already present [0-9]*, [0-9]* packages' "$WORK/build2.log")"
echo "bundle: $(du -sh "$WORK/groundwork-bundle.tar" | cut -f1), sha256 $(cut -c1-16 "$WORK/groundwork-bundle.tar.sha256")…, signed ed25519"

say "3. lab up"
NS=("$NAME-ctl" "$NAME-w1" "$NAME-mirror")
COUNTING=0
egress() { # total packets to non-lab destinations over all namespaces (per namespace on stderr)
  local ns n total=0
  for ns in "${NS[@]}"; do
    n=$(ip netns exec "$ns" iptables -L OUTPUT -v -n -x | awk '$3 == "GW_EGRESS" { print $1 }')
    printf '  %-16s %s packets to non-lab destinations\n' "$ns" "${n:-?}" >&2
    total=$((total + ${n:-0}))
  done
  echo "$total"
}
teardown() { # the counters are read before the lab (and they with it) goes away
  if [ "$COUNTING" = 1 ]; then
    local out
    out=$(egress 2>&1)
    echo "[40-airgap] egress at teardown: total $(tail -n 1 <<<"$out") ($(head -n -1 <<<"$out" | sed 's/ packets.*//' | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'))"
  fi
  "$LAB" down --name "$NAME" >/dev/null 2>&1 || true
}
trap teardown EXIT
"$LAB" up --name "$NAME" --hosts w1,mirror > "$WORK/lab-up.log" 2>&1 || { tail -20 "$WORK/lab-up.log"; fail "lab up"; }
INV=$("$LAB" inventory --name "$NAME")
SUBNET=$(awk '/groundwork_lab_subnet:/ { print $2 }' "$INV")
# Egress counters: a default route to an unused lab address makes any attempt to reach the
# outside produce a packet (otherwise the kernel refuses before a packet exists); OUTPUT counts
# and drops every packet not for the lab or loopback. The bridge has no uplink either way.
SINK=${SUBNET%.0/24}.254
for ns in "${NS[@]}"; do
  ip netns exec "$ns" ip route replace default via "$SINK" dev "$(ip netns exec "$ns" ip -o link show | awk -F': ' '$2 !~ /^lo/ { sub(/@.*/, "", $2); print $2; exit }')"
  ip netns exec "$ns" iptables -N GW_EGRESS 2>/dev/null || ip netns exec "$ns" iptables -F GW_EGRESS
  ip netns exec "$ns" iptables -A GW_EGRESS -j LOG --log-prefix "gw-egress $ns: "
  ip netns exec "$ns" iptables -A GW_EGRESS -j DROP
  ip netns exec "$ns" iptables -I OUTPUT 1 ! -o lo ! -d "$SUBNET" -j GW_EGRESS
done
# The counter works: a probe from the controller namespace is counted (then reset).
ip netns exec "$NAME-ctl" python3 -c 'import socket; s=socket.socket(); s.settimeout(1)
try: s.connect(("192.0.2.1", 443))
except OSError: pass' || true
probe=$(ip netns exec "$NAME-ctl" iptables -L OUTPUT -v -n -x | awk '$3 == "GW_EGRESS" { print $1 }')
[ "${probe:-0}" -ge 1 ] || fail "egress counter did not count a probe to 192.0.2.1 (counter broken)"
for ns in "${NS[@]}"; do ip netns exec "$ns" iptables -Z OUTPUT; done
COUNTING=1
echo "egress counter proven: probe to 192.0.2.1 counted $probe packet(s); counters reset"

# Scenario groups and variables on top of the lab inventory. The controller resolves no lab
# names (it uses the machine's /etc/hosts), so the mirror is given by address.
MIRROR_IP=$(awk '/^        mirror:/ { f = 1 } f && /ansible_host:/ { print $2; exit }' "$INV")
cat > "$WORK/site.yml" <<YML
all:
  children:
    mirror: {hosts: {mirror: {}}}
    kube_node: {hosts: {w1: {}}}
  vars:
    groundwork_kubernetes_version: v1.35.0
    groundwork_artifact_manifest: $ART/manifest.yml
    groundwork_mirror_url: http://$MIRROR_IP:8080
    groundwork_registry_mirror: $MIRROR_IP:5000
    groundwork_apt_repo_url: http://$MIRROR_IP:8080/apt
    groundwork_apt_repo_key: "{{ lookup('ansible.builtin.file', '$WORK/bundle/apt/groundwork-apt.asc') }}"
    mirror_serve_bundle_tarball: $WORK/groundwork-bundle.tar
    mirror_serve_signing_pubkey: $WORK/bundle-signing.key.pub
YML
ctl() { "$LAB" ctl --name "$NAME" -- env PATH="$PATH" ANSIBLE_COLLECTIONS_PATH="$ANSIBLE_COLLECTIONS_PATH" \
  ANSIBLE_CONFIG="$ANSIBLE_CONFIG" ANSIBLE_FORCE_COLOR=0 "$@"; }

say "4. serve the bundle from the mirror host (controller in the lab namespace)"
t=$SECONDS
ctl ansible-playbook -i "$INV" -i "$WORK/site.yml" playbooks/mirror.yml --tags serve > "$WORK/serve1.log" 2>&1 \
  || { tail -40 "$WORK/serve1.log"; fail "serve"; }
S1=$((SECONDS - t))
echo "serve: ${S1}s"

say "5. preflight + install on w1 from the mirror alone"
t=$SECONDS
ctl ansible-playbook -i "$INV" -i "$WORK/site.yml" tests/scenarios/40-airgap/install.yml > "$WORK/install1.log" 2>&1 \
  || { tail -40 "$WORK/install1.log"; fail "install"; }
I1=$((SECONDS - t))
# the report (ansible folds long messages over several lines)
awk '/installed on w1/ { f = 1 } f { printf "%s ", $0 } f && /.\x27$/ { exit }' "$WORK/install1.log" \
  | tr -s ' ' | sed 's/^ *msg: .//; s/. $//'; echo
echo "install: ${I1}s"
# no-fallback registry mirror: the mirror is the only host containerd may ask (the pull above used it)
HT=$("$LAB" ssh --name "$NAME" w1 -- cat /etc/containerd/certs.d/docker.io/hosts.toml)
if ! grep -qx "server = \"https://$MIRROR_IP:5000\"" <<<"$HT" || ! grep -qF "[host.\"https://$MIRROR_IP:5000\"]" <<<"$HT" \
  || grep -q 'docker\.io"' <<<"$HT"; then
  fail "docker.io hosts.toml is not the no-fallback form: $HT"
fi
echo "containerd docker.io hosts.toml: server and [host] are the mirror $MIRROR_IP:5000 only (no upstream fallback)"

total=$(egress)
[ "$total" = 0 ] || fail "$total packets to destinations outside the lab during serve + install"
echo "zero egress so far: 0 packets to non-lab destinations over serve + install"

say "6. tampered file and missing image stop preflight with their names"
RUNC_V=$(awk '/- name: runc/ { f = 1 } f && /version:/ { print $2; exit }' "$ART/manifest.yml")
printf X | "$LAB" ssh --name "$NAME" mirror -- dd of="/srv/groundwork/bundle/files/runc/$RUNC_V/amd64/runc.amd64" \
  bs=1 seek=4096 conv=notrunc status=none
"$LAB" ssh --name "$NAME" mirror -- rm -rf /var/lib/docker-registry/docker/registry/v2/repositories/library/busybox
if ctl ansible-playbook -i "$INV" -i "$WORK/site.yml" tests/scenarios/40-airgap/preflight.yml > "$WORK/tamper.log" 2>&1; then
  fail "preflight passed with a tampered runc and a missing image"
fi
msg=$(grep -o 'artifacts not usable from[^"]*' "$WORK/tamper.log" | head -1)
echo "preflight refused: $msg"
[[ $msg == *"missing: image:busybox"* && $msg == *"mismatched: runc"* ]] || fail "preflight did not name both: $msg"

say "7. egress"
total=$(egress)
[ "$total" = 0 ] || { dmesg 2>/dev/null | grep gw-egress | tail -5; fail "$total packets to destinations outside the lab"; }
echo "zero egress: 0 packets to non-lab destinations in ${NS[*]} over serve + install + preflight"
printf '\n40-airgap: PASS in %ss (build %ss/%ss, serve %ss, install %ss), egress 0 packets\n' "$((SECONDS - T0))" "$B1" "$B2" "$S1" "$I1"
