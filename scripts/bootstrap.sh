#!/usr/bin/env bash
# Install everything Groundwork's controller side, its tests and its lab need on a
# fresh Debian 12 machine (run as root). Safe to re-run: each step is skipped when done.
#   - Debian packages (lab: debootstrap, systemd-nspawn; real parts: etcd, containerd,
#     nginx, docker-registry, skopeo, haproxy, keepalived, openssh)
#   - a Python venv at .venv with requirements.txt
#   - .collections/ansible_collections/groundwork/k8s -> this checkout
#   - the get-pip stand-in ansible-test needs offline
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

APT_PACKAGES=(
  debootstrap systemd-container iproute2 iptables nftables openssh-client openssh-server
  etcd-server etcd-client containerd runc containernetworking-plugins
  nginx docker-registry skopeo haproxy keepalived openssl rsync git curl
  python3-venv tcpdump shellcheck
)

log() { printf '[bootstrap] %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # policy-rc.d keeps postinst scripts from starting daemons on the machine itself:
  # the lab hosts run them, the machine does not.
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ "$had_policy" = 1 ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  [ "$had_policy" = 1 ] || rm -f /usr/sbin/policy-rc.d
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/ansible-playbook ] || ! cmp -s requirements.txt .venv/.requirements.txt; then
  log "python venv .venv ($($PY --version))"
  $PY -m venv .venv
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/pip install -q -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/ansible-playbook --version >/dev/null
  cp requirements.txt .venv/.requirements.txt
fi

# The collection, as Ansible finds it: .collections/ansible_collections/groundwork/k8s
mkdir -p .collections/ansible_collections/groundwork
ln -sfn "$ROOT" .collections/ansible_collections/groundwork/k8s

# ansible-test bootstraps pip in its venvs from a script it downloads from a host that
# is not reachable here; give it a local stand-in that runs pip from the PyPI wheel.
PIP_VER=24.2
CACHE=~/.ansible/test/cache
if [ ! -s "$CACHE/get_pip_${PIP_VER//./_}.py" ]; then
  mkdir -p "$CACHE"
  .venv/bin/pip download -q --no-deps -d "$CACHE" "pip==$PIP_VER"
  cat > "$CACHE/get_pip_${PIP_VER//./_}.py" <<PYEOF
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pip-${PIP_VER}-py3-none-any.whl"))
from pip._internal.cli.main import main
sys.exit(main(["install"] + [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]))
PYEOF
fi
log "ready: $(.venv/bin/ansible --version 2>/dev/null | sed -n 1p)"
