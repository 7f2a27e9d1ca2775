#!/usr/bin/env bash
# Shared by tests/scenarios/30-install/run.sh and bench/noop_site.sh: bring up a lab, serve what the
# nodes install (the site's APT packages, the kubeadm/kubelet/kubectl doubles) from the controller
# namespace, write the inventory groups and the lab's variables, run playbooks through the controller.
# Lab quirks live only here, as inventory variables (cgroupfs kubelet, restrict_oom_score_adj, ...).
# shellcheck disable=SC2034
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
LAB=$ROOT/tests/lab/lab
[ -x "$ROOT/.venv/bin/ansible-playbook" ] && export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.collections}
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_CONFIG=$ROOT/ansible.cfg
HTTP_PORT=${GW_KUBEADM_HTTP_PORT:-18080}
# The machine runs several labs at once: give hosts time to boot.
export GW_LAB_BOOT_TIMEOUT=${GW_LAB_BOOT_TIMEOUT:-240}
APT_CACHE=${GW_KUBEADM_APT_CACHE:-/var/cache/groundwork-lab/apt-kubeadm}
# Packages the host roles install (prerequisites, container_runtime, api_endpoint) and the Python kubernetes
# client kubernetes.core needs on the first control plane (upgrade.yml, remove_node.yml: roles/access python_libs).
APT_PACKAGES="containerd runc containernetworking-plugins conntrack socat ethtool ebtables ipset iptables haproxy keepalived ca-certificates python3-cryptography python3-yaml python3-kubernetes"

ctl() { "$LAB" ctl --name "$NAME" -- "$@"; }
ssh_host() { "$LAB" ssh --name "$NAME" "$@"; }

# The site's APT repository: the packages above and the dependencies the lab rootfs lacks (cached).
build_apt_repo() {
  mkdir -p "$APT_CACHE" && chmod 755 "$APT_CACHE"
  # scenarios run side by side in CI: one builds the cache, the others wait for it
  exec 7>"$APT_CACHE/../.apt-kubeadm.lock" && flock 7
  # rebuilt when the package list changes (the stamp holds the list it was built for)
  if [ ! -s "$APT_CACHE/Packages.gz" ] || [ "$(cat "$APT_CACHE/.packages" 2>/dev/null)" != "$APT_PACKAGES" ]; then
    local status deps p
    # what the lab rootfs already has is not needed on the mirror
    status=
    for p in /var/cache/groundwork-lab/rootfs-bookworm-*/var/lib/dpkg/status; do [ -f "$p" ] && status=$p; done
    # shellcheck disable=SC2086
    deps=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
             --no-enhances $APT_PACKAGES | awk '/^[a-z0-9]/ { print $1 }' | sort -u)
    if [ -n "$status" ]; then
      deps=$(comm -23 <(tr ' ' '\n' <<<"$deps" | sort -u) <(awk '/^Package:/ { print $2 }' "$status" | sort -u))
    fi
    for p in $deps; do
      ls "$APT_CACHE/${p}_"*.deb >/dev/null 2>&1 || (cd "$APT_CACHE" && apt-get download "$p" >/dev/null 2>&1) || true
    done
    (cd "$APT_CACHE" && dpkg-scanpackages -m . 2>/dev/null | gzip -9 > Packages.gz.new && mv Packages.gz.new Packages.gz)
    printf '%s' "$APT_PACKAGES" > "$APT_CACHE/.packages"
  fi
  # signed like a site's repository (the product's own signing code); the key is pinned in vars.yml
  "$ROOT/.venv/bin/python" "$ROOT/tests/helpers/sign-apt-repo.py" "$APT_CACHE" "$APT_CACHE/../apt-gnupg" >/dev/null \
    || { exec 7>&-; echo "signing the lab APT repository failed"; return 1; }
  exec 7>&-
  mkdir -p "$WORK/www"
  ln -sfn "$APT_CACHE" "$WORK/www/apt"
}

stage_doubles() {
  mkdir -p "$WORK/www/doubles"
  cp "$ROOT"/tests/doubles/fake_kubeadm "$ROOT"/tests/doubles/fake_kubelet "$ROOT"/tests/doubles/fake_kubectl "$WORK/www/doubles/"
}

# Stacked etcd for real (part stacked_restore): Debian's etcd stands in for the etcd image's binary
# (fake_kubelet runs the etcd manifest's command when it exists on the host), and an upstream-layout
# tarball of the same version gives the product its etcdctl (etcd.yml, role etcd tasks_from tools).
ETCD_BIN_DIR=${GW_KUBEADM_ETCD_BIN_DIR:-/usr/bin}
stage_etcd() {
  local d="$WORK/www/etcd" v
  if [ ! -x "$ETCD_BIN_DIR/etcd" ] || [ ! -x "$ETCD_BIN_DIR/etcdctl" ]; then echo "no etcd/etcdctl in $ETCD_BIN_DIR"; return 1; fi
  v=$("$ETCD_BIN_DIR/etcd" --version | awk '/^etcd Version:/ { print $3 }')
  mkdir -p "$d/etcd-v$v-linux-amd64"
  cp "$ETCD_BIN_DIR/etcd" "$d/etcd"
  for b in etcd etcdctl etcdutl; do [ -x "$ETCD_BIN_DIR/$b" ] && cp "$ETCD_BIN_DIR/$b" "$d/etcd-v$v-linux-amd64/"; done
  tar -C "$d" -czf "$d/etcd-v$v-linux-amd64.tar.gz" "etcd-v$v-linux-amd64" && rm -rf "${d:?}/etcd-v$v-linux-amd64"
  ETCD_TARBALL=etcd-v$v-linux-amd64.tar.gz
}

# etcd-vars.yml: what playbooks/etcd.yml, backup.yml and restore.yml need in the lab.
write_etcd_vars() {
  cat > "$WORK/etcd-vars.yml" <<EOF
etcd_binary_source: tarball
etcd_tarball_url: "http://$CTL_IP:$HTTP_PORT/etcd/$ETCD_TARBALL"
etcd_tarball_sha256: $(sha256sum "$WORK/www/etcd/$ETCD_TARBALL" | cut -d' ' -f1)
groundwork_backup_encryption_key: lab-only-backup-key-0123456789
# the lab's hosts share the machine's disk: a small reserve on the backup host
etcd_backup_remote_reserve_bytes: 1048576
EOF
}

# Lab step before site.yml: the etcd image's binary, placed on the control planes where
# fake_kubelet finds it (/usr/local/bin/etcd), served by the controller like the doubles.
etcd_image_binary() {
  cat > "$WORK/etcd-image.yml" <<EOF
- name: Lab - the etcd image's binary on the control planes (fake_kubelet runs the etcd static pod with it)
  hosts: kube_control_plane
  gather_facts: false
  tasks:
    - name: Fetch etcd
      ansible.builtin.get_url:
        url: "http://$CTL_IP:$HTTP_PORT/etcd/etcd"
        dest: /usr/local/bin/etcd
        checksum: "sha256:$(sha256sum "$WORK/www/etcd/etcd" | cut -d' ' -f1)"
        mode: "0755"
EOF
  play "$WORK/etcd-image.yml"
}

serve() {
  CTL_IP=$(awk '/groundwork_lab_controller_ip:/ { print $2 }' "$INV")
  ctl python3 -m http.server "$HTTP_PORT" --bind "$CTL_IP" --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
  HTTP_PID=$!
  for _ in $(seq 1 50); do grep -q Serving "$WORK/http.log" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

lab_up() { # hosts
  "$LAB" up --name "$NAME" --hosts "$1" >"$WORK/lab-up.log" 2>&1 || { cat "$WORK/lab-up.log"; return 1; }
  INV=$("$LAB" inventory --name "$NAME")
  serve
}

lab_down() {
  [ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
  HTTP_PID=
  "$LAB" down --name "$NAME" >/dev/null 2>&1
}

sha() { sha256sum "$WORK/www/doubles/$1" | cut -d' ' -f1; }

# groups.yml: <control planes> <workers> <endpoint mode> [etcd hosts] [backup host]
write_groups() {
  local cps=$1 workers=$2 mode=$3 etcd=${4:-} backup=${5:-} h endpoint
  case $mode in
    haproxy) endpoint="localhost:8443" ;;
    *) endpoint="" ;;
  esac
  {
    echo "all:"
    echo "  children:"
    echo "    kube_control_plane:"
    echo "      hosts:"
    for h in ${cps//,/ }; do echo "        $h: {}"; done
    echo "    kube_node:"
    echo "      hosts:"
    for h in ${workers//,/ }; do echo "        $h: {}"; done
    if [ -n "$etcd" ]; then
      echo "    etcd:"
      echo "      hosts:"
      for h in ${etcd//,/ }; do echo "        $h: {}"; done
    fi
    if [ -n "$backup" ]; then
      echo "    backup:"
      echo "      hosts:"
      for h in ${backup//,/ }; do echo "        $h: {}"; done
    fi
    echo "  vars:"
    echo "    groundwork_api_endpoint_mode: $mode"
    [ -n "$endpoint" ] && echo "    groundwork_control_plane_endpoint: \"$endpoint\""
  } > "$WORK/groups.yml"
  python3 - "$WORK/groups.yml" <<'EOF'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
out = []
for i, line in enumerate(lines):
    # an empty "hosts:" becomes "hosts: {}" (a group without hosts)
    if line.strip() == "hosts:" and (i + 1 == len(lines) or not lines[i + 1].startswith(" " * 8)):
        line += " {}"
    out.append(line)
open(p, "w").write("\n".join(out) + "\n")
EOF
}

# vars.yml: the lab's variables (quirks of this machine, and where the doubles come from).
write_vars() {
  local base="http://$CTL_IP:$HTTP_PORT"
  cat > "$WORK/vars.yml" <<EOF
groundwork_cluster_name: groundwork-lab
# The lab inventory puts every host in its own group "lab".
groundwork_extra_groups: [lab]
groundwork_apt_repo_url: "$base/apt"
groundwork_apt_repo_key: "{{ lookup('ansible.builtin.file', '$APT_CACHE/groundwork-apt.asc') }}"
# Kubernetes binaries: the doubles, installed where the real ones go (no double-specific code in roles).
kubernetes_binaries_source: url
kubernetes_binaries_files:
  - {name: kubeadm, url: "$base/doubles/fake_kubeadm", checksum: "sha256:$(sha fake_kubeadm)", dest: /usr/local/bin/kubeadm}
  - {name: kubelet, url: "$base/doubles/fake_kubelet", checksum: "sha256:$(sha fake_kubelet)", dest: /usr/local/bin/kubelet}
  - {name: kubectl, url: "$base/doubles/fake_kubectl", checksum: "sha256:$(sha fake_kubectl)", dest: /usr/local/bin/kubectl}
# cgroup v1 host without CAP_SYS_RESOURCE (MACHINE-NOTES): cgroupfs on both sides, no negative oom_score_adj.
container_runtime_systemd_cgroup: false
container_runtime_restrict_oom_score_adj: true
control_plane_kubelet_config: {cgroupDriver: cgroupfs, oomScoreAdj: 0, failCgroupV1: false}  # the lab is cgroup v1 (docs/day2.md opt-out)
control_plane_kube_proxy_config: {conntrack: {maxPerCore: 0}}
# No CNI images exist here: a plain bridge CNI.
cni_plugin: bridge
# No CoreDNS image exists here.
control_plane_skip_phases: [addon/coredns]
# Only net.* sysctls are writable in a lab host.
prerequisites_sysctls: {net.ipv4.ip_forward: 1, net.bridge.bridge-nf-call-iptables: 1}
# The kubelet double and the API server double are Python processes: preflight's port owner check
# would name them python3 on a re-run.
preflight_ports: []
# No NTP in the lab (the hosts share the machine's clock).
preflight_require_time_sync: false
# The kubeadm double has no dry-run rendering (init phase control-plane/kubelet-start --dry-run): site.yml's
# day-2 convergence is proven on the real lane (70-real part day2), not on the doubles.
control_plane_converge: false
EOF
}

play() { # playbook [args] -> output in $OUT (and $WORK/last.log), rc returned
  local pb=$1 rc; shift
  OUT=$(ctl ansible-playbook -i "$INV" -i "$WORK/groups.yml" -e "@$WORK/vars.yml" "$pb" "$@" 2>&1); rc=$?
  printf '%s\n' "$OUT" > "$WORK/last.log"
  return $rc
}
changed_sum() { awk '/ changed=/ { for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }' <<<"$OUT"; }
failed_sum() { awk '/ failed=/ { for (i = 1; i <= NF; i++) if ($i ~ /^(failed|unreachable)=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }' <<<"$OUT"; }
