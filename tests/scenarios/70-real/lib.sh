#!/usr/bin/env bash
# The real lane's shared steps (tests/scenarios/70-real): received Kubernetes media -> the site's local
# artifacts dir -> bundle (mirror.yml --tags build) -> lab with a mirror host -> mirror.yml --tags serve ->
# the inventory an air-gapped site writes (docs/airgap.md) plus the lab's own limits as variables.
# Sourced after tests/scenarios/30-install/lib.sh (ctl, ssh_host, play, changed_sum, write_groups).
# shellcheck disable=SC2034,SC2153  # WORK, NAME, INV: set by the sourcing script
MEDIA=${GW_K8S_MEDIA:-$(cd "$ROOT/.." && pwd)/shared/k8s/v1.33.3}
RWORK=${GW_REAL_WORK:-/var/tmp/groundwork-real}
ART=$RWORK/art

# 0 when the media is there; otherwise prints why and returns 1 (the caller reports SKIPPED)
media_present() {
  if [ ! -d "$MEDIA" ]; then echo "no Kubernetes media at $MEDIA (set GW_K8S_MEDIA to a directory of NAME.xz + SHA256SUMS)"; return 1; fi
  if [ ! -s "$MEDIA/SHA256SUMS" ]; then echo "$MEDIA has no SHA256SUMS"; return 1; fi
  return 0
}

# [media] -> artifacts dir -> bundle tarball (both cached per media in $RWORK; a re-run copies nothing).
# Sets ART, BUNDLE (tarball), KUBE_VERSION, ETCD_IMAGE_TAG, MEDIA_INFO, T_MEDIA, T_BUNDLE, BUNDLE_INFO.
# mirror.yml --tags build: artifacts dir $1 -> bundle dir/state in $2, tarball $3 (log $2/build.log); the
# signing keys are the run's own (RWORK). Callers hold the build lock.
mirror_build() {
  ansible-playbook -i localhost, "$ROOT/playbooks/mirror.yml" --tags build \
    -e "mirror_source_dir=$1" -e "groundwork_artifact_manifest=$1/manifest.yml" \
    -e "mirror_build_dir=$2/bundle" -e "mirror_build_state_dir=$2/bundle.state" \
    -e "mirror_build_tarball=$3" -e "mirror_build_signing_key=$RWORK/bundle-signing.key" \
    -e "mirror_build_apt_signing_home=$RWORK/apt-gnupg" \
    -e "ansible_python_interpreter=$ROOT/.venv/bin/python" > "$2/build.log" 2>&1
}

build_bundle() {
  local media=${1:-$MEDIA} t=$SECONDS out tag
  tag=$(basename "$media")
  ART=$RWORK/$tag/art
  BUNDLE=$RWORK/$tag/groundwork-bundle.tar
  mkdir -p "$RWORK/$tag"
  exec 8>"$RWORK/.build.lock" && flock 8
  # media without pause (v1.33.2) take it from the default media (pause does not follow patch releases)
  out=$(GW_PAUSE_MEDIA=$MEDIA "$ROOT/.venv/bin/python" "$ROOT/tests/airgap/make_real_media.py" "$media" "$ART") || { exec 8>&-; return 1; }
  MEDIA_INFO=$out
  KUBE_VERSION=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["kubernetes_version"])' "$out")
  ETCD_IMAGE_TAG=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["etcd_image_tag"])' "$out")
  T_MEDIA=$((SECONDS - t)); t=$SECONDS
  mirror_build "$ART" "$RWORK/$tag" "$BUNDLE"
  local rc=$?
  exec 8>&-
  T_BUNDLE=$((SECONDS - t))
  [ $rc -eq 0 ] || { tail -30 "$RWORK/$tag/build.log"; return 1; }
  BUNDLE_INFO="$(du -sh "$BUNDLE" | cut -f1) bundle, $(grep -o 'copied [0-9]*, already present [0-9]*' "$RWORK/$tag/build.log" | tail -1)"
}

# the mirror host serves the bundle; the site CA is copied into the inventory's files/ (docs/airgap.md)
serve_mirror() {
  local t=$SECONDS
  MIRROR_IP=$(awk '/^        mirror:/ { f = 1 } f && /ansible_host:/ { print $2; exit }' "$INV")
  mkdir -p "$WORK/inv/files"
  cat > "$WORK/inv/mirror.yml" <<EOF
all:
  children:
    mirror: {hosts: {mirror: {}}}
EOF
  ctl ansible-playbook -i "$INV" -i "$WORK/inv/mirror.yml" "$ROOT/playbooks/mirror.yml" --tags serve \
    -e "mirror_serve_bundle_tarball=$BUNDLE" -e "mirror_serve_signing_pubkey=$RWORK/bundle-signing.key.pub" \
    > "$WORK/serve.log" 2>&1 || { tail -30 "$WORK/serve.log"; return 1; }
  ssh_host mirror -- cat /etc/groundwork/mirror-pki/ca.crt > "$WORK/inv/files/site-mirror-ca.crt" || return 1
  # the site APT key, pinned from the build machine's bundle (docs/airgap.md), not fetched from the mirror
  cp "$(dirname "$BUNDLE")/bundle/apt/groundwork-apt.asc" "$WORK/inv/files/groundwork-apt.asc" || return 1
  T_SERVE=$((SECONDS - t))
}

# single cluster: the mirror host becomes the backup host (site.yml installs the backup timer and program), as
# part ha has it. $1 names the part in the log lines and the timing mark.
single_backup_host() {
  local part=$1 t
  write_groups cp1 "" none "" mirror
  write_real_vars
  t=$SECONDS
  if play site.yml; then mark "$part-site-backups" "$t"; log "$part: site.yml with a backup host ok (changed=$(changed_sum))"
  else fail "$part: site.yml with the backup host"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -40; return 1; fi
}

# vars.yml: the documented air-gap variables (inventories/airgapped_edge) + the lab's limits
write_real_vars() {
  cat > "$WORK/vars.yml" <<EOF
groundwork_cluster_name: groundwork-real
groundwork_kubernetes_version: $KUBE_VERSION
groundwork_extra_groups: [lab]
# --- the air-gap switch, as docs/airgap.md and inventories/airgapped_edge set it
groundwork_artifact_manifest: $ART/manifest.yml
groundwork_mirror_url: http://$MIRROR_IP:8080
groundwork_registry_mirror: $MIRROR_IP:5000
groundwork_apt_repo_url: http://$MIRROR_IP:8080/apt
groundwork_apt_repo_key: "{{ lookup('ansible.builtin.file', '$WORK/inv/files/groundwork-apt.asc') }}"
container_runtime_source: mirror
container_runtime_registry_fallback_to_upstream: false
container_runtime_registry_ca: "{{ lookup('ansible.builtin.file', '$WORK/inv/files/site-mirror-ca.crt') }}"
# --- the lab's limits (MACHINE-NOTES): cgroup v1 without CAP_SYS_RESOURCE, net.* sysctls only,
# no NTP, no CoreDNS image (lab limit, not a product default), bridge CNI, Debian's etcd 3.5 image
container_runtime_artifacts: [containerd, runc, cni-plugins]
container_runtime_crictl_from_mirror: false
container_runtime_systemd_cgroup: false
container_runtime_restrict_oom_score_adj: true
# kubelets evict only below 1% of the shared disk (see LAB_EVICTION below; part day2 repeats this mapping)
control_plane_kubelet_config: {cgroupDriver: cgroupfs, oomScoreAdj: 0, evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}}
control_plane_kube_proxy_config: {conntrack: {maxPerCore: 0}}
prerequisites_sysctls: {net.ipv4.ip_forward: 1, net.bridge.bridge-nf-call-iptables: 1}
preflight_require_time_sync: false
cni_plugin: bridge
control_plane_skip_phases: [addon/coredns]
control_plane_etcd_image_tag: "$ETCD_IMAGE_TAG"
# --- backups on (site.yml sets them up when a backup host exists): the mirror host keeps them here
groundwork_backup_encryption_key: lab-only-real-lane-backup-key-0123456789
etcd_backup_remote_reserve_bytes: 1048576
EOF
}

# LAB_EVICTION - the lab's KubeletConfiguration (write_real_vars; part day2 repeats it). Every lab node shares the
# host's one disk: kubelet's default hard eviction (nodefs.available<10%, imagefs.available<15%) measures that whole
# disk, so a build machine with a fuller disk puts every node in DiskPressure - pods stay Pending, a pod bound to a
# node fails admission. A lab limit, not a product default: the thresholds are 1% (memory as kubelet's default).

# why pods do not run: node conditions other than Ready that are True, taints, allocatable; every pod that is
# not Running with its phase, reason and message; the events of the namespace (last 15)
pods_diag() { # namespace
  local ns=${1:-default}
  kc cp1 get nodes -o json | python3 -c 'import json, sys
for n in json.load(sys.stdin)["items"]:
    conds = [c["type"] + "=" + c["status"] for c in n["status"].get("conditions", []) if (c["type"] == "Ready") != (c["status"] == "True")]
    taints = [t["key"] + ":" + t["effect"] for t in n["spec"].get("taints", [])]
    alloc = n["status"].get("allocatable", {})
    print("[70-real] diag: node %s conditions %s taints %s allocatable cpu=%s memory=%s pods=%s ephemeral=%s" % (
        n["metadata"]["name"], conds or "ok", taints or "none", alloc.get("cpu"), alloc.get("memory"), alloc.get("pods"),
        alloc.get("ephemeral-storage")))'
  kc cp1 -n "$ns" get pods -o json | python3 -c 'import json, sys
for p in json.load(sys.stdin)["items"]:
    st = p.get("status", {})
    if st.get("phase") == "Running":
        continue
    conds = ["%s=%s %s" % (c["type"], c["status"], c.get("message", "")) for c in st.get("conditions", []) if c["status"] != "True"]
    print("[70-real] diag: pod %s node=%s phase=%s reason=%s message=%s %s" % (p["metadata"]["name"], p["spec"].get("nodeName", ""),
        st.get("phase"), st.get("reason", ""), st.get("message", "")[:300], "; ".join(conds)[:300]))'
  kc cp1 -n "$ns" get events --sort-by=.lastTimestamp 2>/dev/null | tail -15 | sed 's/^/[70-real] diag: event /'
}

etcdctl_pod() { # host args...
  local h=$1; shift
  ssh_host "$h" -- kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system exec "etcd-$h" -- etcdctl \
    --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt \
    --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key "$@"
}
# every kube-controller-manager Ready (it signs the CSRs a joining node needs and runs every controller)
controllers_ready_list() {
  kc cp1 -n kube-system get pods -l component=kube-controller-manager -o json | python3 -c 'import json, sys
for p in json.load(sys.stdin)["items"]:
    r = [c["status"] for c in p["status"].get("conditions", []) if c["type"] == "Ready"]
    print("%s=%s" % (p["spec"]["nodeName"], r[0] if r else "?"), end=" ")'
}
# A client CSR is signed by controller-manager's csrsigning within 60 s and verifies against cp1's ca.crt:
# the proof a node could join now (kubelet TLS bootstrap is such a CSR). $1: a name suffix.
csr_signed() {
  local n=gw-csr-check-$1 d ok=1 i crt=
  d=$(mktemp -d)
  openssl req -new -newkey rsa:2048 -nodes -keyout "$d/k" -subj "/CN=$n" -out "$d/r" 2>/dev/null || { rm -rf "$d"; return 1; }
  kc cp1 delete csr "$n" --ignore-not-found >/dev/null 2>&1
  kc cp1 apply -f - >/dev/null <<CSR || { rm -rf "$d"; return 1; }
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $n}
spec:
  request: $(base64 -w0 < "$d/r")
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 600
  usages: [client auth]
CSR
  kc cp1 certificate approve "$n" >/dev/null || { rm -rf "$d"; return 1; }
  for i in $(seq 60); do
    crt=$(kc cp1 get csr "$n" -o jsonpath='{.status.certificate}' 2>/dev/null)
    [ -n "$crt" ] && break; sleep 1
  done
  if [ -n "$crt" ]; then
    base64 -d <<<"$crt" > "$d/c"; ssh_host cp1 -- cat /etc/kubernetes/pki/ca.crt > "$d/ca"
    openssl verify -CAfile "$d/ca" "$d/c" >/dev/null 2>&1 && ok=0
  fi
  kc cp1 delete csr "$n" --ignore-not-found >/dev/null 2>&1
  rm -rf "$d"; return $ok
}
controllers_ready() { local l; l=$(controllers_ready_list); [ -n "$l" ] && ! grep -q '=False\|=?' <<<"$l"; }
# kubectl on a host as admin; arguments quoted for the remote shell (jsonpath, JSON overrides)
kc() { local h=$1; shift; ssh_host "$h" -- "$(printf '%q ' kubectl --kubeconfig /etc/kubernetes/admin.conf "$@")"; }
