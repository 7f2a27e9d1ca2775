#!/usr/bin/env bash
# Test helper (not the site mirror): a flat APT repository with the Debian packages the host
# roles install, for lab hosts that have no upstream sources.
#   lab-apt-repo.sh build          -> downloads the packages (and what the lab rootfs lacks of
#                                     their dependencies) into $REPO, writes Packages.gz
#   lab-apt-repo.sh serve LAB IP   -> serves $REPO over HTTP on IP:8080 inside the lab's
#                                     controller namespace; prints the server's pid
# The repository is signed like a site's (tests/helpers/sign-apt-repo.py, the product's signing code):
# `deb [signed-by=KEY] http://IP:8080 ./`, what groundwork_apt_repo_url + groundwork_apt_repo_key expect;
# the key is $REPO/groundwork-apt.asc.
set -euo pipefail
CACHE=${GW_LAB_CACHE:-/var/cache/groundwork-lab}
REPO=${GW_APT_REPO_DIR:-$CACHE/apt-hostroles}
# what the host roles install (prerequisites_packages includes python3-cryptography/python3-yaml for the PKI modules)
PACKAGES=(containerd runc containernetworking-plugins haproxy keepalived conntrack socat ethtool ebtables
          iptables ipset ca-certificates python3-cryptography python3-yaml busybox-static)

sign() {
  "$(dirname "$0")/../../.venv/bin/python" "$(dirname "$0")/sign-apt-repo.py" "$REPO" "$CACHE/apt-gnupg" >/dev/null
}

build() {
  local rootfs stamp want
  # the newest rootfs (the lab keeps one per recipe)
  rootfs=$(find "$CACHE" -maxdepth 1 -name 'rootfs-bookworm-*' -type d -printf '%T@ %p\n' 2>/dev/null | sort -rn | head -1 | cut -d' ' -f2-)
  [ -n "$rootfs" ] || { echo "no lab rootfs in $CACHE (tests/lab/lab build-rootfs)" >&2; exit 1; }
  want="${PACKAGES[*]}|$(basename "$rootfs")"
  stamp=$REPO/.built-for
  if [ -s "$REPO/Packages.gz" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    sign
    echo "apt repo: $REPO (cached, $(find "$REPO" -maxdepth 1 -name '*.deb' | wc -l) packages)"; return 0
  fi
  mkdir -p "$REPO/partial"
  # resolve against the lab rootfs' dpkg status: download what a fresh lab host would need
  if ! apt-get install -qq -y --download-only --no-install-recommends \
      -o Debug::NoLocking=1 -o Dir::State::status="$rootfs/var/lib/dpkg/status" \
      -o Dir::Cache::archives="$REPO" "${PACKAGES[@]}" >/dev/null; then
    apt-get update -qq -o Debug::NoLocking=1
    apt-get install -qq -y --download-only --no-install-recommends \
      -o Debug::NoLocking=1 -o Dir::State::status="$rootfs/var/lib/dpkg/status" \
      -o Dir::Cache::archives="$REPO" "${PACKAGES[@]}" >/dev/null
  fi
  (cd "$REPO" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null | gzip -9n > Packages.gz.tmp && mv Packages.gz.tmp Packages.gz)
  echo "$want" > "$stamp"
  sign
  echo "apt repo: $REPO ($(find "$REPO" -maxdepth 1 -name '*.deb' | wc -l) packages)"
}

serve() {
  local lab=${1:?lab name} ip=${2:?address} log
  log=$REPO/../apt-hostroles-$lab.log
  ip netns exec "$lab-ctl" setsid python3 -m http.server --bind "$ip" --directory "$REPO" 8080 \
    > "$log" 2>&1 < /dev/null &
  echo $!
}

case "${1:-}" in
  build) build ;;
  serve) shift; serve "$@" ;;
  *) echo "usage: $0 build | serve LAB IP" >&2; exit 2 ;;
esac
