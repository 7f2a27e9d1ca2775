#!/usr/bin/env bash
# Scenario 35-dr: disaster recovery of a stacked control plane (issue 15), with the doubles and a REAL
# stacked etcd (Debian's etcd as the image's binary, run by fake_kubelet), as 30-install's stacked_restore.
#   - site.yml refuses a backup host without groundwork_backup_encryption_key (visible fix), and a backup
#     host that is an etcd member; with the key it installs the scheduled backups itself (no etcd.yml);
#   - N keys, backup.yml: the bundle holds the PKI, the Secrets encryption configuration, the kubeadm
#     configuration, the kubeconfigs and a summary; M more keys;
#   - total loss: /etc/kubernetes, /var/lib/etcd and /etc/etcd removed from the control plane;
#   - restore.yml: files put back (same CA, sa key and Secrets key as before), control plane installed
#     again, etcd restored with the API server stopped, API server ready -> the N keys, none of the M.
# Part external (cp1 + one external member e1 + bk): the bundle taken by e1 carries cp1's files (staged
# copy); cp1's /etc/kubernetes and e1's data are lost; restore.yml restores etcd, then installs cp1 again
# with the same CA, sa key and Secrets key.
# Part external_total (cp1 + e1,e2,e3 + bk): /etc/etcd, /etc/kubernetes and /var/lib/etcd emptied on every member
# and cp1; restore.yml gives each member its configuration and own certificates back before etcd starts.
# Uses tests/scenarios/30-install/lib.sh (lab, doubles, inventory). Env: GW_LAB_NAME (default dr),
# GW_DR_PARTS (default "stacked external external_total"), GW_KEEP_LAB=1 keeps the last lab.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
NAME=${GW_LAB_NAME:-dr}
WORK=$(mktemp -d /tmp/gw-dr.XXXXXX)
# shellcheck source=tests/scenarios/30-install/lib.sh
. "$ROOT/tests/scenarios/30-install/lib.sh"
cd "$ROOT" || exit 1
log() { printf '[35-dr] %s\n' "$*"; }
failures=()
fail() { failures+=("$*"); log "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then log "ok: $what"; else fail "$what"; fi; }
timings=()
mark() { timings+=("$1 $(( SECONDS - $2 ))s"); }
cleanup() { if [ "${GW_KEEP_LAB:-0}" = 1 ]; then log "lab kept: $NAME, work dir $WORK"; else lab_down; rm -rf "$WORK"; fi; }
trap cleanup EXIT

ETCDCTL="ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key"
count_keys() { # host prefix -> count ("" when etcd does not answer)
  ssh_host "$1" -- "$ETCDCTL --command-timeout=5s get $2 --prefix --keys-only --limit=1 -w json" 2>/dev/null \
    | python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("count", 0))
except ValueError: pass'
}
put_keys() { # host prefix n
  local h=$1 prefix=$2 n=$3 i
  for ((i = 0; i < n; i += 100)); do
    python3 -c "import sys; p, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(); [print('put %s%06d v' % (p, j)) for j in range(a, b)]; print(); print()" "$prefix" "$i" "$(( i + 100 < n ? i + 100 : n ))" \
      | ssh_host "$h" -- "$ETCDCTL --command-timeout=30s txn" | grep SUCCESS >/dev/null || return 1
  done
}
etcd_port() { ssh_host "$1" -- "if [ -n \"\$(ss -Hltn 'sport = :2379')\" ]; then echo open; else echo closed; fi" 2>/dev/null; }
shas() { # [nokey]: without the etcd CA key (external etcd: not on the control plane)
  if [ "${1:-}" = nokey ]; then ssh_host cp1 -- 'cd /etc/kubernetes && sha256sum encryption/config.yaml pki/ca.key pki/sa.key pki/front-proxy-ca.key' 2>/dev/null
  else ssh_host cp1 -- 'cd /etc/kubernetes && sha256sum encryption/config.yaml pki/ca.key pki/sa.key pki/front-proxy-ca.key pki/etcd/ca.key' 2>/dev/null; fi
}

stacked() {
  local t=$SECONDS t0=$SECONDS n m side before
  lab_up cp1,bk || { fail "lab up"; return; }
  write_groups cp1 "" none "" bk
  write_vars
  write_etcd_vars
  etcd_image_binary || { fail "etcd binary on the lab host"; tail -20 "$WORK/last.log"; return; }
  mark "lab-up+prepare" "$t"

  # refusals before anything changes: a backup host that is an etcd member, a missing key
  t=$SECONDS
  write_groups cp1 "" none "" cp1
  play playbooks/preflight.yml -e preflight_check_hosts=false -e "@$WORK/etcd-vars.yml" && fail "backup host = etcd member accepted"
  check "backup host that is an etcd member refused with the reason" grep -q "its copies would not be off-node\|would not be off-node" "$WORK/last.log"
  write_groups cp1 "" none "" bk
  play site.yml && fail "site.yml without the backup key accepted"
  check "missing key refused, visibly, naming the fix" grep -q "openssl rand -base64 32" "$WORK/last.log"
  check "the refusal is not hidden" [ -z "$(grep -i 'output has been hidden' "$WORK/last.log")" ]
  check "nothing installed by the refused run" [ -z "$(ssh_host cp1 -- ls /etc/kubernetes/manifests 2>/dev/null)" ]
  mark "refusals" "$t"

  t=$SECONDS
  if ! play site.yml -e "@$WORK/etcd-vars.yml"; then fail "site.yml with backups"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return; fi
  mark "install(with backups)" "$t"
  check "site.yml set up the backup timer on cp1" ssh_host cp1 -- systemctl is-active --quiet groundwork-etcd-backup.timer
  check "site.yml set up the receiver on bk" ssh_host bk -- test -s /var/lib/gwbackup/.ssh/authorized_keys

  t=$SECONDS
  put_keys cp1 /dr/n/ "$N" || fail "writing $N keys"
  play playbooks/backup.yml -e "@$WORK/etcd-vars.yml" || { fail "backup.yml"; grep -A20 'fatal:' "$WORK/last.log" | head -40; }
  mark "backup" "$t"
  check "backup.yml says who took it" grep -q "Backup by cp1: " "$WORK/last.log"
  side=$(ssh_host bk -- "cat \$(ls /var/backups/groundwork/etcd/groundwork-lab/*.tar.enc.json | tail -1)")
  log "bundle summary: $(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["summary"], sort_keys=True))' "$side" 2>&1)"
  check "bundle has the Secrets encryption config, every CA, sa keys, kubeadm config, the 4 kubeconfigs, version" summary_ok "$side"
  put_keys cp1 /dr/m/ "$M" || fail "writing $M keys"
  before=$(shas)
  check "$((N + M)) keys before the loss" [ "$(count_keys cp1 /dr/)" = $((N + M)) ]

  # total loss of the control plane's state
  t=$SECONDS
  ssh_host cp1 -- rm -rf /etc/kubernetes
  for _ in $(seq 1 60); do [ "$(etcd_port cp1)" = closed ] && break; sleep 0.5; done
  check "etcd stopped once its manifest was gone" [ "$(etcd_port cp1)" = closed ]
  ssh_host cp1 -- 'rm -rf /var/lib/etcd/* /etc/etcd'
  mark "loss" "$t"

  t=$SECONDS
  if play playbooks/restore.yml -e "@$WORK/etcd-vars.yml" -e groundwork_confirm=restore; then
    mark "restore(total loss)" "$t"
    n=$(count_keys cp1 /dr/n/); m=$(count_keys cp1 /dr/m/)
    check "after the restore: $n of the $N keys (want all), $m of the $M later ones (want 0)" [ "$n:$m" = "$N:0" ]
    check "the same Secrets key, CAs and sa key as before the loss" [ "$(shas)" = "$before" ]
    check "API server manifest in place, none left aside" \
      [ "$(ssh_host cp1 -- 'ls /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/kube-apiserver.yaml.groundwork-restore' 2>/dev/null)" = /etc/kubernetes/manifests/kube-apiserver.yaml ]
    check "the API server answers" ssh_host cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes
    grep -o 'file(s) put back[^"]*' "$WORK/last.log" | head -3 | while read -r l; do log "put back: ${l:0:300}"; done
  else
    fail "restore.yml after the total loss"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80
  fi
  mark "stacked-total" "$t0"
  lab_down
}

external() {
  # external etcd: one member (e1) with the control plane cp1 and the backup host bk. The member that takes
  # the backups has no /etc/kubernetes: the bundle carries the staged copy of cp1's files.
  local t t0=$SECONDS n m side before
  t=$SECONDS
  lab_up cp1,e1,bk || { fail "lab up (external)"; return; }
  write_groups cp1 "" none e1 bk
  write_vars
  write_etcd_vars
  cat >> "$WORK/etcd-vars.yml" <<EOV
groundwork_allow_single_etcd: true
etcd_allow_single_member: true
# lab quirk: the machine's RLIMIT_NOFILE hard limit is 20000 (no CAP_SYS_RESOURCE)
etcd_limit_nofile: 16384
EOV
  # no lab APT step any more: site.yml configures the site repository on the etcd members too (the lab's own
  # source for the same URL with another key made apt refuse both)
  mark "external-lab-up" "$t"
  t=$SECONDS
  if ! play site.yml -e "@$WORK/etcd-vars.yml"; then fail "external: site.yml"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return; fi
  mark "external-install" "$t"
  check "external: cp1's files staged on e1" ssh_host e1 -- test -s /etc/groundwork/etcd-backup-control-plane/etc/kubernetes/encryption/config.yaml
  t=$SECONDS
  put_keys_e e1 /dr/n/ "$N" || fail "external: writing $N keys"
  play playbooks/backup.yml -e "@$WORK/etcd-vars.yml" || { fail "external: backup.yml"; grep -A20 'fatal:' "$WORK/last.log" | head -40; }
  mark "external-backup" "$t"
  side=$(ssh_host bk -- "cat \$(ls /var/backups/groundwork/etcd/groundwork-lab/*.tar.enc.json | tail -1)")
  log "external bundle summary: $(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["summary"], sort_keys=True))' "$side" 2>&1)"
  check "external: bundle by e1 has cp1's Secrets config, CAs, sa keys, kubeadm config, kubeconfigs" summary_ok "$side"
  put_keys_e e1 /dr/m/ "$M" || fail "external: writing $M keys"
  before=$(shas)
  # total loss: the control plane's state and etcd's data
  t=$SECONDS
  ssh_host cp1 -- rm -rf /etc/kubernetes
  ssh_host e1 -- 'systemctl stop etcd; rm -rf /var/lib/etcd/*'
  mark "external-loss" "$t"
  t=$SECONDS
  if play playbooks/restore.yml -e "@$WORK/etcd-vars.yml" -e groundwork_confirm=restore; then
    mark "external-restore" "$t"
    n=$(count_keys_e e1 /dr/n/); m=$(count_keys_e e1 /dr/m/)
    check "external: after the restore $n of the $N keys (want all), $m of the $M later ones (want 0)" [ "$n:$m" = "$N:0" ]
    check "external: the same Secrets key, CAs and sa key on cp1 as before the loss" [ "$(shas nokey)" = "$(grep -v etcd/ca.key <<<"$before")" ]
    check "external: the API server answers" ssh_host cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes
  else
    fail "external: restore.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80
  fi
  mark "external-total" "$t0"
  lab_down
}

external_total() {
  # external etcd, total loss (issue 15): three members e1..e3, control plane cp1, backup host bk. Every member and
  # the control plane lose /etc/etcd, /etc/kubernetes and /var/lib/etcd (as 70-real's dr_total_loss); restore.yml
  # must give each member its own configuration and server/peer/healthcheck certificates back before etcd starts.
  local t t0=$SECONDS n m side before h
  t=$SECONDS
  lab_up cp1,e1,e2,e3,bk || { fail "lab up (external_total)"; return; }
  write_groups cp1 "" none e1,e2,e3 bk
  write_vars
  write_etcd_vars
  cat >> "$WORK/etcd-vars.yml" <<EOV
# lab quirk: the machine's RLIMIT_NOFILE hard limit is 20000 (no CAP_SYS_RESOURCE)
etcd_limit_nofile: 16384
EOV
  # no lab APT step: site.yml configures the site repository on the etcd members too
  mark "xtotal-lab-up" "$t"
  t=$SECONDS
  if ! play site.yml -e "@$WORK/etcd-vars.yml"; then fail "external_total: site.yml"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return; fi
  mark "xtotal-install" "$t"
  t=$SECONDS
  put_keys_e e1 /dr/n/ "$N" || fail "external_total: writing $N keys"
  play playbooks/backup.yml -e "@$WORK/etcd-vars.yml" || { fail "external_total: backup.yml"; grep -A20 'fatal:' "$WORK/last.log" | head -40; }
  mark "xtotal-backup" "$t"
  side=$(ssh_host bk -- "cat \$(ls /var/backups/groundwork/etcd/groundwork-lab/*.tar.enc.json | tail -1)")
  log "external_total bundle: $(python3 -c 'import json,sys; d = json.loads(sys.argv[1]); print("by", d["snapshot"].get("member"), json.dumps(d["summary"]["contains"], sort_keys=True))' "$side" 2>&1)"
  put_keys_e e1 /dr/m/ "$M" || fail "external_total: writing $M keys"
  before=$(shas nokey)
  # total loss: etcd stopped, /etc/etcd, /etc/kubernetes and /var/lib/etcd emptied on every member and control plane
  t=$SECONDS
  for h in e1 e2 e3 cp1; do
    ssh_host "$h" -- 'systemctl stop etcd 2>/dev/null; rm -rf /etc/kubernetes /etc/etcd; rm -rf /var/lib/etcd/*'
  done
  mark "xtotal-loss" "$t"
  t=$SECONDS
  if play playbooks/restore.yml -e "@$WORK/etcd-vars.yml" -e groundwork_confirm=restore; then
    mark "xtotal-restore" "$t"
    for h in e1 e2 e3; do
      n=$(count_keys_e "$h" /dr/n/); m=$(count_keys_e "$h" /dr/m/)
      check "external_total: $h serves $n of the $N keys (want all), $m of the $M later ones (want 0)" [ "$n:$m" = "$N:0" ]
      check "external_total: $h has its own server certificate back (its address in the SANs)" \
        ssh_host "$h" -- "openssl x509 -noout -ext subjectAltName -in /etc/kubernetes/pki/etcd/server.crt | grep -q \"\$(hostname -I | cut -d' ' -f1)\""
    done
    check "external_total: one cluster ID on every member" [ "$(for h in e1 e2 e3; do ssh_host "$h" -- "$ETCDCTL_E endpoint status -w json" 2>/dev/null \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["cluster_id"])'; done | sort -u | wc -l)" = 1 ]
    check "external_total: the same Secrets key, CAs and sa key on cp1 as before the loss" [ "$(shas nokey)" = "$before" ]
    check "external_total: the API server answers" ssh_host cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes
    t=$SECONDS
    play playbooks/restore.yml -e "@$WORK/etcd-vars.yml" -e groundwork_confirm=restore
    check "external_total: a second restore.yml is refused while the restored cluster has quorum" grep -q "members are healthy and have quorum" "$WORK/last.log"
    mark "xtotal-rerun" "$t"
  else
    fail "external_total: restore.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80
    for h in e1 e2 e3; do log "$h etcd journal:"; ssh_host "$h" -- journalctl -u etcd --no-pager -n 15 2>&1 | sed 's/^/    /'; done
  fi
  mark "external_total" "$t0"
  [ "${GW_KEEP_LAB:-0}" = 1 ] || lab_down
}

ETCDCTL_E="ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://\$(hostname -I | cut -d' ' -f1):2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key"
count_keys_e() {
  ssh_host "$1" -- "$ETCDCTL_E --command-timeout=5s get $2 --prefix --keys-only --limit=1 -w json" 2>/dev/null \
    | python3 -c 'import json,sys
try: print(json.load(sys.stdin).get("count", 0))
except ValueError: pass'
}
put_keys_e() {
  local h=$1 prefix=$2 n=$3 i
  for ((i = 0; i < n; i += 100)); do
    python3 -c "import sys; p, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(); [print('put %s%06d v' % (p, j)) for j in range(a, b)]; print(); print()" "$prefix" "$i" "$(( i + 100 < n ? i + 100 : n ))" \
      | ssh_host "$h" -- "$ETCDCTL_E --command-timeout=30s txn" | grep SUCCESS >/dev/null || return 1
  done
}

summary_ok() { # sidecar JSON: the bundle holds what a rebuilt control plane needs
  python3 - "$1" <<'EOP'
import json, sys
s = json.loads(sys.argv[1])["summary"]
c = s["contains"]
ok = all(c[k] for k in ("cluster_ca", "etcd_ca", "front_proxy_ca", "service_account_keys", "encryption_config",
                        "kubeadm_config"))
ok = ok and c["kubeconfigs"] == ["admin.conf", "controller-manager.conf", "scheduler.conf", "super-admin.conf"]
ok = ok and bool(s["kubernetes_version"]) and s["cluster_name"] == "groundwork-lab" and bool(s["etcd_total_keys"])
sys.exit(0 if ok else 1)
EOP
}

N=${GW_DR_N:-200} M=${GW_DR_M:-30}
PARTS=${GW_DR_PARTS:-stacked external external_total}
t0=$SECONDS
t=$SECONDS
if ! { build_apt_repo && stage_doubles && stage_etcd; }; then fail "staging the site files"; exit 1; fi
mark "stage" "$t"
for part in $PARTS; do "$part"; done
mark "total" "$t0"
log "timings: ${timings[*]}"
if [ ${#failures[@]} -gt 0 ]; then log "${#failures[@]} failure(s): ${failures[*]}"; exit 1; fi
log "all checks passed"
