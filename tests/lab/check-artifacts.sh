#!/usr/bin/env bash
# Fetch what tests/lab/check.yml puts into a lab host, on the machine (the lab has no way
# out): Debian's containerd and runc .debs (apt-get download) and a tiny OCI image built here
# from busybox-static. Cached; atomic. Usage: check-artifacts.sh [DIR]  (prints DIR)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${1:-${GW_LAB_CACHE:-/var/cache/groundwork-lab}/check}
PACKAGES=(containerd runc busybox-static)
IMAGE=docker.io/groundwork/lab-busybox:1
if [ -f "$DIR/ready" ]; then echo "$DIR"; exit 0; fi
mkdir -p "$(dirname "$DIR")"
tmp=$(mktemp -d "$DIR.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs" "$tmp/x"
(cd "$tmp/debs" && apt-get download -q "${PACKAGES[@]}" >/dev/null 2>"$tmp/apt.err") || {
  # the lists may be missing on a fresh machine
  apt-get update -q >/dev/null
  (cd "$tmp/debs" && apt-get download -q "${PACKAGES[@]}" >/dev/null)
}
dpkg-deb -x "$tmp"/debs/busybox-static_*.deb "$tmp/x"
python3 "$HERE/files/mkimage.py" "$tmp/x/bin/busybox" "$tmp/busybox-oci.tar" "$IMAGE" > "$tmp/image.digest"
echo "$IMAGE" > "$tmp/image.name"
rm -rf "$tmp/x" "$tmp"/debs/busybox-static_*.deb "$tmp/apt.err"
chmod 0755 "$tmp"
touch "$tmp/ready"
rm -rf "$DIR"
mv "$tmp" "$DIR"
trap - EXIT
echo "$DIR"
