#!/usr/bin/env bash
# Scenario 20 — etcd drills on the lab (issue #4), with etcd 3.4 (bookworm, etcdctl restore path)
# and etcd 3.5 (sid package, etcdutl path), each on a fresh lab of 3 etcd hosts + 1 backup host:
#   install  playbooks/etcd.yml (role etcd, serial 1, real systemd, SSH); re-run reports changed=0
#   drill 1  write N keys, backup.yml, write M more, destroy every member's data, restore.yml
#            (refusals first: no confirm, healthy cluster, truncated snapshot) -> N keys, 3 healthy members
#   drill 2  kill and wipe e3 while a writer runs, replace_etcd_member.yml -> no write failed
#            (quorum never lost), no key lost, 3 voting members
#   timer    the timer fires (every 10 s here) and leaves verified, pruned, off-node, encrypted bundles;
#            a full backup host is refused with a clear error
# The etcd binaries are packed in the upstream tarball layout (etcd-vX-linux-amd64/{etcd,etcdctl,
# etcdutl}) from the Debian packages and given to the role as etcd_tarball_src.
# Env: GW_ETCD_VERSIONS (default "3.4 3.5"), GW_LAB_NAME (default etcd), GW_ETCD_RERUN=0 skips the
# re-run (CI checks it on one version only: the playbook's code path does not depend on the version).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LAB=$ROOT/tests/lab/lab
NAME=${GW_LAB_NAME:-etcd}
VERSIONS=${GW_ETCD_VERSIONS:-3.4 3.5}
N=300 M=40
cd "$ROOT" || exit 1
[ -x "$ROOT/.venv/bin/ansible-playbook" ] && export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.collections}
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_CONFIG=$ROOT/ansible.cfg

WORK=$(mktemp -d /tmp/gw-etcd-drills.XXXXXX)
log() { printf '[20-etcd-drills] %s\n' "$*"; }
failures=()
fail() { failures+=("$*"); log "FAIL: $*"; }
timings=()
T0=$SECONDS
mark() { timings+=("$1 $(( SECONDS - $2 ))s"); }
cleanup() { "$LAB" down --name "$NAME" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT

# ---------------------------------------------------------------- binaries as upstream tarballs
pack() { # version bindir -> tarball path
  local v=$1 bindir=$2 d="$WORK/etcd-v$1-linux-amd64"
  mkdir -p "$d"
  for b in etcd etcdctl etcdutl; do [ -x "$bindir/$b" ] && cp "$bindir/$b" "$d/"; done
  tar -C "$WORK" -czf "$WORK/etcd-v$v-linux-amd64.tar.gz" "etcd-v$v-linux-amd64"
  echo "$WORK/etcd-v$v-linux-amd64.tar.gz"
}
bindir_for() {
  case $1 in
    3.4) echo /usr/bin ;;
    3.5) python3 -c "import sys; sys.path.insert(0, '$ROOT/tests/integration'); import etcd_helpers as h
d, why = h.etcd35_dir(); print(d or ''); sys.stderr.write(why or '')" ;;
  esac
}

ssh_host() { "$LAB" ssh --name "$NAME" "$@"; }
ctl() { "$LAB" ctl --name "$NAME" -- "$@"; }
play() { # playbook [args] -> output in $OUT, rc returned
  local pb=$1; shift
  OUT=$(ctl ansible-playbook -i "$INV" -i "$WORK/groups.yml" -e "@$WORK/vars.yml" "$pb" "$@" 2>&1)
}
changed_sum() { awk '/ changed=/ { for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }' <<<"$OUT"; }
ETCDCTL="ETCDCTL_API=3 /usr/local/bin/etcdctl --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key"
count_keys() { # host prefix
  ssh_host "$1" -- "$ETCDCTL --endpoints=\$(cat /etc/groundwork/endpoints) get $2 --prefix --keys-only --limit=1 -w json" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))'
}
put_keys() { # host prefix n: transactions of 100 puts
  local h=$1 prefix=$2 n=$3 i
  for ((i = 0; i < n; i += 100)); do
    python3 -c "import sys; p, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(); [print('put %s%06d v' % (p, j)) for j in range(a, b)]; print(); print()" "$prefix" "$i" "$(( i + 100 < n ? i + 100 : n ))" \
      | ssh_host "$h" -- "$ETCDCTL --endpoints=\$(cat /etc/groundwork/endpoints) --command-timeout=30s txn" | grep -c SUCCESS >/dev/null || return 1
  done
}

# The PKI modules need cryptography and PyYAML on the hosts and this scenario's lab has no APT
# mirror: wheels from PyPI (cached), unpacked on the hosts before the playbooks.
# shellcheck source=tests/helpers/etcd-lab-wheels.sh
. "$ROOT/tests/helpers/etcd-lab-wheels.sh"
prepare_hosts() {
  write_prepare_play
  play "$WORK/prepare.yml"
}

run_version() {
  local v=$1 t bindir tarball sha
  log "===== etcd $v ====="
  bindir=$(bindir_for "$v")
  if [ -z "$bindir" ]; then fail "etcd $v binaries unavailable"; return; fi
  tarball=$(pack "$v" "$bindir"); sha=$(sha256sum "$tarball" | cut -d' ' -f1)

  t=$SECONDS
  "$LAB" down --name "$NAME" >/dev/null 2>&1
  "$LAB" up --name "$NAME" --hosts e1,e2,e3,bk >/dev/null || { fail "$v: lab up"; return; }
  INV=$("$LAB" inventory --name "$NAME")
  mark "$v lab up" "$t"
  cat > "$WORK/groups.yml" <<EOF
all:
  children:
    etcd:
      hosts: {e1: {}, e2: {}, e3: {}}
    backup:
      hosts: {bk: {}}
EOF
  cat > "$WORK/vars.yml" <<EOF
etcd_binary_source: tarball
etcd_tarball_src: $tarball
etcd_tarball_sha256: $sha
# lab quirk: the machine's RLIMIT_NOFILE hard limit is 20000 (no CAP_SYS_RESOURCE)
etcd_limit_nofile: 16384
groundwork_backup_encryption_key: lab-only-backup-key-0123456789
groundwork_cluster_name: drill
etcd_backup_schedule: "*:*:0/10"
etcd_backup_keep: 2
etcd_backup_remote_keep: 2
etcd_backup_remote_reserve_bytes: 1048576
EOF

  prepare_hosts || { fail "$v: preparing the hosts"; echo "$OUT" | tail -20; return; }
  # ---- install, then re-run: changed=0
  t=$SECONDS
  if ! play playbooks/etcd.yml; then fail "$v: etcd.yml"; echo "$OUT" | tail -40; return; fi
  mark "$v install" "$t"
  for h in e1 e2 e3; do  # endpoints for the checks below
    ssh_host "$h" -- "mkdir -p /etc/groundwork && python3 -c 'import json; print(\",\".join(json.load(open(\"/etc/groundwork/etcd-backup.json\"))[\"endpoints\"]))' > /etc/groundwork/endpoints"
  done
  t=$SECONDS
  if [ "${GW_ETCD_RERUN:-1}" != 0 ]; then
    play playbooks/etcd.yml || fail "$v: etcd.yml re-run failed"
    [ "$(changed_sum)" = 0 ] || { fail "$v: re-run changed=$(changed_sum)"; grep -B3 'changed:' <<<"$OUT" | head -30; }
    mark "$v re-run (changed=$(changed_sum))" "$t"
  else
    log "$v: re-run skipped (GW_ETCD_RERUN=0)"
  fi
  local members
  members=$(ssh_host e1 -- "$ETCDCTL --endpoints=\$(cat /etc/groundwork/endpoints) member list" | grep -c started)
  [ "$members" = 3 ] || fail "$v: $members started members after install"
  ssh_host e1 -- "$ETCDCTL --endpoints=\$(cat /etc/groundwork/endpoints) endpoint status -w table" | sed 's/^/    /'

  # ---- drill 1: total loss
  t=$SECONDS
  ssh_host e1 -- systemctl stop groundwork-etcd-backup.timer  # on-demand backups only during the drill
  ssh_host e2 -- systemctl stop groundwork-etcd-backup.timer; ssh_host e3 -- systemctl stop groundwork-etcd-backup.timer
  put_keys e1 /drill/n/ $N || fail "$v: writing N keys"
  play playbooks/backup.yml || { fail "$v: backup.yml"; echo "$OUT" | tail -30; }
  play playbooks/backup.yml -e etcd_backup_remote_reserve_bytes=1000000000000000 \
    && fail "$v: backup to a full backup host accepted" \
    || grep -q "disk full" <<<"$OUT" || { fail "$v: full backup host refused without a clear error"; grep -m3 "msg" <<<"$OUT"; }
  put_keys e1 /drill/m/ $M
  [ "$(count_keys e1 /drill/)" = $((N + M)) ] || fail "$v: expected $((N + M)) keys before the loss"
  play playbooks/restore.yml && fail "$v: restore without confirmation accepted"
  grep -q "groundwork_confirm=restore" <<<"$OUT" || fail "$v: no clear refusal without confirmation"
  play playbooks/restore.yml -e groundwork_confirm=restore && fail "$v: restore of a healthy cluster accepted"
  grep -q "healthy and have quorum" <<<"$OUT" || fail "$v: no clear refusal of a healthy cluster"
  ssh_host e1 -- "f=\$(ls /var/backups/groundwork/etcd/snapshots/*.db | tail -1); head -c \$(( \$(stat -c %s \$f) - 16 )) \$f > /root/trunc.db; cp \$f.json /root/trunc.db.json"
  play playbooks/restore.yml -e groundwork_confirm=restore -e etcd_restore_force=true -e etcd_restore_snapshot=/root/trunc.db \
    && fail "$v: truncated snapshot accepted"
  grep -Eq "truncated|damaged|corrupt" <<<"$OUT" || { fail "$v: truncated snapshot refused without a clear error"; grep -m3 "msg" <<<"$OUT"; }
  [ "$(ssh_host e1 -- systemctl is-active etcd)" = active ] || fail "$v: etcd stopped by a refused restore"
  for h in e1 e2 e3; do ssh_host "$h" -- "systemctl kill -s KILL etcd; systemctl stop etcd; rm -rf /var/lib/etcd/member"; done
  if play playbooks/restore.yml -e groundwork_confirm=restore; then
    local n m
    n=$(count_keys e2 /drill/n/); m=$(count_keys e2 /drill/m/)
    if [ "$n" != $N ] || [ "$m" != 0 ]; then fail "$v: after restore $n N-keys (want $N), $m M-keys (want 0)"; fi
    members=$(ssh_host e3 -- "$ETCDCTL --endpoints=\$(cat /etc/groundwork/endpoints) endpoint health" 2>&1 | grep -c "is healthy")
    [ "$members" = 3 ] || fail "$v: $members healthy members after restore"
    log "$v drill 1: $n of $N keys back, $m of the $M later keys (expected 0), $members healthy members"
  else
    fail "$v: restore.yml"; echo "$OUT" | tail -40
  fi
  mark "$v drill 1 (total loss)" "$t"

  # ---- drill 2: one member lost while writes continue
  t=$SECONDS
  ssh_host e1 -- "rm -f /root/writer.*; nohup sh -c 'i=0; while [ ! -e /root/writer.stop ]; do
      r=FAIL; for t in 1 2 3; do if $ETCDCTL --endpoints=\$(cat /etc/groundwork/endpoints | cut -d, -f1,2) --command-timeout=5s put /drill/w/\$i x >/dev/null 2>>/root/writer.err; then r=ok; break; fi; sleep 1; done; echo \$r >> /root/writer.log
      i=\$((i+1)); sleep 0.2; done' >/dev/null 2>&1 &"
  sleep 2
  ssh_host e3 -- "systemctl kill -s KILL etcd; systemctl stop etcd; rm -rf /var/lib/etcd/member"
  play playbooks/replace_etcd_member.yml -e etcd_replace=e3 || { fail "$v: replace_etcd_member.yml"; echo "$OUT" | tail -40; }
  sleep 2
  ssh_host e1 -- "touch /root/writer.stop"; sleep 1
  local okw failw keys
  okw=$(ssh_host e1 -- "grep -c ok /root/writer.log"); failw=$(ssh_host e1 -- "grep -c FAIL /root/writer.log || true")
  keys=$(count_keys e3 /drill/w/)
  [ "$failw" = 0 ] || fail "$v: $failw writes failed during the replacement (quorum lost?)"
  [ "$keys" -ge "$okw" ] || fail "$v: $keys keys on the new member, $okw writes succeeded"
  [ "$(count_keys e3 /drill/n/)" = $N ] || fail "$v: N keys not all on the replaced member"
  members=$(ssh_host e1 -- "$ETCDCTL --endpoints=\$(cat /etc/groundwork/endpoints) member list" | grep -c "started, e.*false")
  [ "$members" = 3 ] || fail "$v: $members voting members after replacement"
  log "$v drill 2: $okw writes ok, $failw failed during the replacement; $keys keys on the new e3; $members voting members"
  mark "$v drill 2 (member replaced)" "$t"

  # ---- the timer: verified, pruned, off-node, encrypted
  t=$SECONDS
  for h in e1 e2 e3; do ssh_host "$h" -- systemctl start groundwork-etcd-backup.timer; done
  local runs=0 i
  for i in $(seq 1 12); do
    sleep 5
    runs=$(ssh_host e1 -- "journalctl -u groundwork-etcd-backup.service -o cat --since '-5min' | grep -c 'groundwork-etcd-backup: ok'" || true)
    [ "${runs:-0}" -ge 3 ] && break
  done
  [ "${runs:-0}" -ge 3 ] || fail "$v: the timer made ${runs:-0} backups in 60 s (want >= 3)"
  # count once no backup is under way: between a bundle's upload and its sidecar's (which prunes)
  # the backup host briefly holds keep + 1 bundles
  for h in e1 e2 e3; do
    ssh_host "$h" -- "systemctl stop groundwork-etcd-backup.timer; for i in \$(seq 1 60); do
      case \$(systemctl show -p ActiveState --value groundwork-etcd-backup.service) in activating|deactivating) sleep 1 ;; *) break ;; esac; done"
  done
  local remote
  remote=$(ssh_host bk -- "ls /var/backups/groundwork/etcd/drill/ | grep -c 'tar.enc\$'")
  [ "$remote" = 2 ] || fail "$v: $remote bundles on the backup host (retention 2)"
  ssh_host bk -- "head -c 8 \$(ls /var/backups/groundwork/etcd/drill/*.tar.enc | tail -1)" | grep -c Salted__ >/dev/null \
    || fail "$v: the off-node bundle is not openssl-encrypted"
  ssh_host e1 -- "! grep -a -q 'drill/n/' /var/backups/groundwork/etcd/bundles/*.tar.enc" || fail "$v: plaintext keys visible in a bundle"
  ssh_host e1 -- "b=\$(ls /var/backups/groundwork/etcd/bundles/*.tar.enc | tail -1); rm -rf /root/open; python3 /usr/local/sbin/groundwork-etcd-backup open --bundle \$b --out /root/open >/dev/null \
    && test -s /root/open/snapshot.db && test -s /root/open/files/etc/kubernetes/pki/etcd/ca.crt" || fail "$v: latest bundle does not open with the key"
  log "$v timer: $runs backups by the timer, $remote bundles kept off-node (encrypted, openable)"
  mark "$v timer" "$t"
  "$LAB" down --name "$NAME" >/dev/null 2>&1
}

get_wheels || { log "cannot download the cryptography wheels"; exit 1; }
for v in $VERSIONS; do run_version "$v"; done

log "timings:"; printf '    %s\n' "${timings[@]}" "total $((SECONDS - T0))s"
if [ ${#failures[@]} -gt 0 ]; then
  log "${#failures[@]} failure(s):"; printf '    %s\n' "${failures[@]}"
  exit 1
fi
log "PASS"
