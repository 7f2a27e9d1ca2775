#!/usr/bin/env bash
# Build the lab's cached Debian 12 root filesystem (used read-only as every host's overlay
# lower dir). Atomic: builds into a temp dir next to the cache and renames it into place,
# so an interrupted build never leaves a half-made cache. Usage: build-rootfs.sh DEST
# A plain server: no containerd, etcd or Kubernetes (those come from the project's mirror).
set -euo pipefail
DEST=$1
MIRROR=${GW_LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
INCLUDE=${GW_LAB_ROOTFS_PACKAGES:?}
parent=$(dirname "$DEST")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.build.XXXXXX")
chmod 0755 "$tmp"
cleanup() { rm -rf --one-file-system "$tmp"; }  # the log ($tmp.log) stays for a post-mortem
trap cleanup EXIT

# Two stages, so that the second (dpkg configuring everything) runs with a policy-rc.d that
# keeps postinst scripts from starting daemons, and with dpkg's unsafe-io (no fsync per
# file: 2-4 times faster on a busy disk; a crash means rebuilding anyway). Both go again below.
# In a private mount namespace: debootstrap mounts /proc and /sys in the target, and an
# interrupted build must not leave those mounts on the machine.
log=$tmp.log
# Own process group (setsid), in the background: an interrupted build stops debootstrap at
# once and removes its temp dir.
# shellcheck disable=SC2016  # the script's $1..$4 expand in the inner sh
setsid unshare -m --propagation private -- /bin/sh -ec '
  debootstrap --foreign --variant=minbase --include="$1" "$2" "$3" "$4"
  mkdir -p "$3/etc/dpkg/dpkg.cfg.d" "$3/usr/sbin"
  echo force-unsafe-io > "$3/etc/dpkg/dpkg.cfg.d/00-groundwork-lab-build"
  printf "#!/bin/sh\nexit 101\n" > "$3/usr/sbin/policy-rc.d"
  chmod 0755 "$3/usr/sbin/policy-rc.d"
  chroot "$3" /debootstrap/debootstrap --second-stage
' sh "$INCLUDE" "$SUITE" "$tmp" "$MIRROR" > "$log" 2>&1 &
stage=$!
trap 'kill -TERM -- -"$stage" 2>/dev/null; wait "$stage"; exit 143' TERM INT HUP
wait "$stage" || { tail -20 "$log" >&2; exit 1; }
trap - TERM INT HUP
rm -f "$tmp/etc/dpkg/dpkg.cfg.d/00-groundwork-lab-build"

# Every host makes its own identity: no machine-id, ssh host keys, hostname.
: > "$tmp/etc/machine-id"
rm -f "$tmp/var/lib/dbus/machine-id" "$tmp"/etc/ssh/ssh_host_*_key* "$tmp/etc/hostname"
# debootstrap leaves no /etc/hosts (etcd's unit cannot resolve localhost without one);
# `lab up` writes the full list into each host.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$tmp/etc/hosts"
# No name servers: the lab has none; hosts resolve through /etc/hosts only.
: > "$tmp/etc/resolv.conf"
# apt points nowhere usable: packages come from the project's mirror (groundwork_apt_repo_url).
printf '# Groundwork lab: no upstream repositories; the site mirror is added by the roles.\n' \
  > "$tmp/etc/apt/sources.list"
rm -rf "$tmp"/etc/apt/sources.list.d/* "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin \
  "$tmp"/var/cache/apt/archives/*.deb
# Power-off must not wait 90 s for pod scopes.
mkdir -p "$tmp/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultTimeoutStopSec=10s\n' > "$tmp/etc/systemd/system.conf.d/10-groundwork-lab.conf"
# Root logs in with the lab key only.
mkdir -p "$tmp/root/.ssh"
chmod 0700 "$tmp/root/.ssh"
mkdir -p "$tmp/etc/ssh/sshd_config.d"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n' \
  > "$tmp/etc/ssh/sshd_config.d/10-groundwork-lab.conf"
# Units that make no sense in a container host.
for u in getty@tty1.service systemd-timesyncd.service; do
  ln -sfn /dev/null "$tmp/etc/systemd/system/$u"
done
# The build's policy-rc.d goes: hosts start daemons like real hosts do.
rm -f "$tmp/usr/sbin/policy-rc.d"
printf '%s\n' "$INCLUDE" > "$tmp/etc/groundwork-lab-rootfs"
date -u +%FT%TZ >> "$tmp/etc/groundwork-lab-rootfs"

rm -rf --one-file-system "$DEST.old"
[ -e "$DEST" ] && mv "$DEST" "$DEST.old"
mv "$tmp" "$DEST"
trap - EXIT
mv "$log" "$DEST.build.log"
rm -rf --one-file-system "$DEST.old"
