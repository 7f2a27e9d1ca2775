#!/usr/bin/env bash
# Scenario 25 — rolling upgrade of external etcd 3.4 -> 3.5 with a write loop (issue #18), real etcd:
# 3 members (e1-e3) installed by playbooks/etcd.yml from Debian bookworm's etcd 3.4.23, upgraded by
# playbooks/upgrade_etcd.yml to Debian trixie's etcd 3.5.16 (both packed as upstream tarballs,
# etcd-vX.Y.Z-linux-amd64.tar.gz, given to the role as etcd_tarball_src + sha256), backup host bk.
#   refusals   etcd.yml with the 3.5 binaries (members keep their version outside upgrade_etcd.yml), a
#              skipped minor (3.6), a member down: refused, nothing changed (members still 3.4.23)
#   check      --check with the 3.5 tarball names the three members, changes nothing
#   upgrade    a writer on bk (its own etcdctl, all three endpoints, one put at a time, up to 3 tries) runs
#              throughout; the first upgrade run is killed once e1 runs 3.5 (a stop in the middle), the
#              re-run finishes it; writes counted (first-try failures, retried, failed) and every key read back
#   after      3 members on 3.5.16, cluster version 3.5.0 (read from /version on a member), a backup was
#              taken first; re-run changed=0 (no backup); etcd.yml with the 3.5 inventory changed=0;
#              a downgrade to 3.4.23 refused; --check changed=0
# Env: GW_LAB_NAME (default etcup), GW_ETCD_UPGRADE_RECORD=DIR (copy the mixed-version outputs there).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
LAB=$ROOT/tests/lab/lab
NAME=${GW_LAB_NAME:-etcup}
N=200
cd "$ROOT" || exit 1
[ -x "$ROOT/.venv/bin/ansible-playbook" ] && export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.collections}
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_CONFIG=$ROOT/ansible.cfg
# one line per message (the yaml result format folds long ones), so the checks below can grep them
export ANSIBLE_CALLBACK_RESULT_FORMAT=json

WORK=$(mktemp -d /tmp/gw-etcd-upgrade.XXXXXX)
log() { printf '[25-etcd-upgrade] %s\n' "$*"; }
failures=()
fail() { failures+=("$*"); log "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then log "ok: $what"; else fail "$what"; fi; }
timings=()
T0=$SECONDS
mark() { timings+=("$1 $(( SECONDS - $2 ))s"); }
cleanup() { [ -n "${UPGRADE_PID:-}" ] && kill -- -"$UPGRADE_PID" 2>/dev/null; "$LAB" down --name "$NAME" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT

ssh_host() { "$LAB" ssh --name "$NAME" "$@"; }
ctl() { "$LAB" ctl --name "$NAME" -- "$@"; }
play() { # vars-file playbook [args] -> output in $OUT, rc returned
  local vars=$1 pb=$2; shift 2
  OUT=$(ctl ansible-playbook -i "$INV" -i "$WORK/groups.yml" -e "@$vars" "$pb" "$@" 2>&1)
}
changed_sum() { awk '/ changed=/ { for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) { split($i, a, "="); s += a[2] } } END { print s + 0 }' <<<"$OUT"; }

# ---------------------------------------------------------------- binaries as upstream tarballs
TRIXIE=${GW_LAB_CACHE:-/var/cache/groundwork-lab}/etcd-trixie
trixie_etcd() { # Debian trixie's etcd-server/etcd-client unpacked (dpkg -x, never installed), cached
  [ -x "$TRIXIE/root/usr/bin/etcdutl" ] && return 0
  mkdir -p "$TRIXIE/etc" "$TRIXIE/apt/lists/partial" "$TRIXIE/apt/cache/archives/partial"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > "$TRIXIE/etc/trixie.sources"
  local o=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$TRIXIE/etc" -o "Dir::State::Lists=$TRIXIE/apt/lists"
           -o "Dir::Cache=$TRIXIE/apt/cache")
  ( cd "$TRIXIE" && flock .lock sh -c "apt-get ${o[*]} update -q >/dev/null && apt-get ${o[*]} download etcd-server etcd-client >/dev/null 2>&1 \
      && for d in etcd-server_*.deb etcd-client_*.deb; do dpkg -x \"\$d\" root; done" ) && [ -x "$TRIXIE/root/usr/bin/etcdutl" ]
}
pack() { # bindir -> tarball named after the version its etcd reports
  local bindir=$1 v d
  v=$("$bindir/etcd" --version | awk '/^etcd Version:/ { print $3 }')
  d="$WORK/etcd-v$v-linux-amd64"
  mkdir -p "$d"
  for b in etcd etcdctl etcdutl; do [ -x "$bindir/$b" ] && cp "$bindir/$b" "$d/"; done
  tar -C "$WORK" -czf "$d.tar.gz" "etcd-v$v-linux-amd64"
  echo "$d.tar.gz"
}
# shellcheck source=tests/helpers/etcd-lab-wheels.sh
. "$ROOT/tests/helpers/etcd-lab-wheels.sh"

get_wheels || { log "cannot download the cryptography wheels"; exit 1; }
trixie_etcd || { log "cannot get Debian trixie's etcd 3.5 packages"; exit 1; }
OLD_TGZ=$(pack /usr/bin); NEW_TGZ=$(pack "$TRIXIE/root/usr/bin")
OLD_V=$(basename "$OLD_TGZ" | sed -E 's/^etcd-v([0-9.]+)-.*/\1/'); NEW_V=$(basename "$NEW_TGZ" | sed -E 's/^etcd-v([0-9.]+)-.*/\1/')
log "from $OLD_V ($OLD_TGZ) to $NEW_V ($NEW_TGZ)"

t=$SECONDS
"$LAB" down --name "$NAME" >/dev/null 2>&1
"$LAB" up --name "$NAME" --hosts e1,e2,e3,bk >/dev/null || { log "lab up failed"; exit 1; }
INV=$("$LAB" inventory --name "$NAME")
mark "lab up" "$t"
cat > "$WORK/groups.yml" <<EOF
all:
  children:
    etcd:
      hosts: {e1: {}, e2: {}, e3: {}}
    backup:
      hosts: {bk: {}}
EOF
common_vars() { # tarball
  cat <<EOF
etcd_binary_source: tarball
etcd_tarball_src: $1
etcd_tarball_sha256: $(sha256sum "$1" | cut -d' ' -f1)
# lab quirk: the machine's RLIMIT_NOFILE hard limit is 20000 (no CAP_SYS_RESOURCE)
etcd_limit_nofile: 16384
groundwork_backup_encryption_key: lab-only-backup-key-0123456789
groundwork_cluster_name: upgrade
etcd_backup_keep: 3
etcd_backup_remote_keep: 3
etcd_backup_remote_reserve_bytes: 1048576
EOF
}
common_vars "$OLD_TGZ" > "$WORK/old.yml"
common_vars "$NEW_TGZ" > "$WORK/new.yml"

write_prepare_play
play "$WORK/old.yml" "$WORK/prepare.yml" || { log "preparing the hosts failed"; echo "$OUT" | tail -20; exit 1; }

# ---------------------------------------------------------------- install 3.4
t=$SECONDS
play "$WORK/old.yml" playbooks/etcd.yml || { fail "etcd.yml ($OLD_V)"; echo "$OUT" | tail -40; exit 1; }
mark "install $OLD_V (etcd.yml)" "$t"

# the writer's client: bk with its own etcdctl 3.4 and the health-check client certificate
addr() { awk -v h="$1" '$0 ~ "^        " h ":" { f = 1 } f && /ansible_host:/ { print $2; exit }' "$INV"; }
EPS=""
for h in e1 e2 e3; do EPS="$EPS${EPS:+,}https://$(addr "$h"):2379"; done
ssh_host bk -- "mkdir -p /root/w" </dev/null
ssh_host bk -- "cat > /root/w/etcdctl && chmod 755 /root/w/etcdctl" < /usr/bin/etcdctl
for f in ca.crt healthcheck-client.crt healthcheck-client.key; do
  ssh_host e1 -- cat "/etc/kubernetes/pki/etcd/$f" | ssh_host bk -- "cat > /root/w/$f && chmod 600 /root/w/$f"
done
CTL="ETCDCTL_API=3 /root/w/etcdctl --endpoints=$EPS --cacert=/root/w/ca.crt --cert=/root/w/healthcheck-client.crt --key=/root/w/healthcheck-client.key"
versions() { # "e1=3.4.23 e2=... e3=..." as each member reports it (endpoint status)
  ssh_host bk -- "$CTL endpoint status -w json" 2>/dev/null | python3 -c '
import json, sys
m = {s["Endpoint"]: s["Status"]["version"] for s in json.load(sys.stdin)}
print(" ".join("%s=%s" % (h, m.get(e, "down")) for h, e in zip(("e1", "e2", "e3"), sys.argv[1].split(","))))' "$EPS"
}
cluster_version() { # from /version on e1, with the member's client certificate
  ssh_host e1 -- "python3 -c 'import ssl, urllib.request as u
c = ssl.create_default_context(cafile=\"/etc/kubernetes/pki/etcd/ca.crt\")
c.load_cert_chain(\"/etc/kubernetes/pki/etcd/healthcheck-client.crt\", \"/etc/kubernetes/pki/etcd/healthcheck-client.key\")
print(u.urlopen(\"${EPS%%,*}/version\", context=c, timeout=5).read().decode())'"
}
all_old="e1=$OLD_V e2=$OLD_V e3=$OLD_V"; all_new="e1=$NEW_V e2=$NEW_V e3=$NEW_V"
log "members: $(versions); /version: $(cluster_version)"
check "installed: every member runs $OLD_V" [ "$(versions)" = "$all_old" ]

# keys written before the upgrade
for ((k = 0; k < N; k += 100)); do  # etcd takes at most 128 operations per transaction
  python3 -c "import sys; print(); [print('put /up/before/%04d v%d' % (i, i)) for i in range($k, min($k + 100, $N))]; print(); print()" \
    | ssh_host bk -- "$CTL --command-timeout=30s txn" | grep -q SUCCESS || fail "writing keys $k.. before the upgrade"
done

# ---------------------------------------------------------------- refusals, nothing changed
t=$SECONDS
play "$WORK/new.yml" playbooks/upgrade_etcd.yml -e etcd_upgrade_version=3.6.6
check "refused: a skipped minor (3.4 -> 3.6)" grep -q "skips a minor version: the cluster version is 3.4" <<<"$OUT"
play "$WORK/new.yml" playbooks/etcd.yml
check "refused: etcd.yml with the $NEW_V binaries on members with data (names upgrade_etcd.yml)" \
  grep -q "runs etcd $OLD_V and this run would install $NEW_V.*playbooks/upgrade_etcd.yml" <<<"$OUT"
ssh_host e3 -- systemctl stop etcd
play "$WORK/new.yml" playbooks/upgrade_etcd.yml
check "refused: member e3 down, named with the fix" grep -q "member e3 (https://.*) is not healthy.*etcd_replace=e3" <<<"$OUT"
grep -q "Backup by" <<<"$OUT" && fail "a refused run took a backup"
ssh_host e3 -- systemctl start etcd
sleep 2
check "after the refusals every member still runs $OLD_V (got $(versions))" [ "$(versions)" = "$all_old" ]
mark "refusals" "$t"

# ---------------------------------------------------------------- check mode
t=$SECONDS
play "$WORK/new.yml" playbooks/upgrade_etcd.yml --check; rc=$?
check "check mode: rc 0 (got $rc)" [ "$rc" = 0 ]
grep -o "Would upgrade etcd minor: [^;]*" <<<"$OUT" | head -1 | sed 's/^/    /'
check "check mode names the three members and the target" grep -q "Would upgrade etcd minor: e1 $OLD_V.*e2 $OLD_V.*e3 $OLD_V.* -> $NEW_V" <<<"$OUT"
check "check mode changed=0 (got $(changed_sum))" [ "$(changed_sum)" = 0 ]
check "check mode changed nothing (got $(versions))" [ "$(versions)" = "$all_old" ]
mark "check mode" "$t"

# ---------------------------------------------------------------- the writer
ssh_host bk -- "rm -rf /root/w/log; nohup sh -c 'i=0; while [ ! -e /root/w/stop ]; do
    r=FAIL; for t in 1 2 3; do
      if $CTL --command-timeout=5s put /up/w/\$i \$i >/dev/null 2>>/root/w/err; then r=ok\$t; break; fi
      echo \"\$(date +%T.%N | cut -c1-12) try \$t of put \$i failed\" >> /root/w/err; sleep 1
    done
    echo \"\$i \$r \$(date +%T)\" >> /root/w/log; i=\$((i+1)); sleep 0.1; done' >/dev/null 2>&1 &" </dev/null
sleep 3

# ---------------------------------------------------------------- upgrade, stopped in the middle
t=$SECONDS
# setsid: the run gets a process group of its own, stopped as a whole like an operator's Ctrl-C
setsid bash -c "'$LAB' ctl --name '$NAME' -- ansible-playbook -i '$INV' -i '$WORK/groups.yml' -e '@$WORK/new.yml' playbooks/upgrade_etcd.yml > '$WORK/run1.log' 2>&1" &
UPGRADE_PID=$!
stopped=no
for _ in $(seq 1 600); do
  v=$(versions)
  case $v in "e1=$NEW_V "*) kill -TERM -- -"$UPGRADE_PID" 2>/dev/null; stopped=yes; break ;; esac
  kill -0 "$UPGRADE_PID" 2>/dev/null || break
  sleep 0.5
done
wait "$UPGRADE_PID" 2>/dev/null; UPGRADE_PID=""
log "first run stopped ($stopped) once e1 ran $NEW_V: members $(versions)"
grep -m1 -o 'Backup by [^"]*' "$WORK/run1.log" | sed 's/^/    /'
if grep -q "Backup by" "$WORK/run1.log"; then log "ok: a verified backup was taken before the first member stopped"
else fail "no verified backup before the upgrade"; tail -30 "$WORK/run1.log"; fi
now=$(versions)
# shellcheck disable=SC2016 # the arguments are expanded by the inner bash
check "the first run was stopped in the middle (e1 on $NEW_V, e3 still on $OLD_V: $now)" \
  bash -c '[ "$1" = yes ] && [[ "$2" == *"e3=$3"* ]]' _ "$stopped" "$now" "$OLD_V"
mid_cv=$(cluster_version)
log "mixed cluster: $(versions); /version: $mid_cv"
check "mixed cluster keeps cluster version 3.4" grep -q '"etcdcluster":"3.4.0"' <<<"$mid_cv"
if [ -n "${GW_ETCD_UPGRADE_RECORD:-}" ]; then
  mkdir -p "$GW_ETCD_UPGRADE_RECORD"
  ssh_host bk -- "$CTL endpoint status -w json" > "$GW_ETCD_UPGRADE_RECORD/endpoint-status-mixed-json.stdout" 2>/dev/null
  ssh_host bk -- "$CTL member list -w json" > "$GW_ETCD_UPGRADE_RECORD/member-list-mixed-json.stdout" 2>/dev/null
  ssh_host bk -- "$CTL endpoint health -w json" > "$GW_ETCD_UPGRADE_RECORD/endpoint-health-mixed-json.stdout" 2>/dev/null
  printf '%s\n' "$mid_cv" > "$GW_ETCD_UPGRADE_RECORD/http-version-mixed-e1.json"
fi
mark "upgrade run 1 (stopped after e1)" "$t"

t=$SECONDS
if play "$WORK/new.yml" playbooks/upgrade_etcd.yml; then
  grep -E "Upgrading etcd|runs $NEW_V already|runs $NEW_V, healthy|etcd cluster version" <<<"$OUT" | sed 's/^ *"msg": //; s/^/    /'
else
  fail "upgrade_etcd.yml re-run (finishing)"; echo "$OUT" | tail -40
fi
check "the re-run left e1 alone" grep -q "e1: runs $NEW_V already, left alone" <<<"$OUT"
mark "upgrade run 2 (finishes e2, e3)" "$t"
sleep 3
ssh_host bk -- "touch /root/w/stop"; sleep 2

# ---------------------------------------------------------------- writes and read-back
stats=$(ssh_host bk -- "awk '{ n++; s[\$2]++ } END { printf \"%d %d %d %d %d\", n, s[\"ok1\"], s[\"ok2\"], s[\"ok3\"], s[\"FAIL\"] }' /root/w/log")
read -r wn w1 w2 w3 wf <<<"$stats"
log "writes during the upgrade: $wn puts, $w1 ok at the first try, $((w2 + w3)) ok after a retry ($w2 at the 2nd, $w3 at the 3rd), $wf failed 3 times"
ssh_host bk -- "cat /root/w/err 2>/dev/null" | grep -v '^$' | head -12 | sed 's/^/    writer: /'
missing=$(ssh_host bk -- "$CTL get /up/ --prefix -w json" | python3 -c '
import base64, json, sys
kv = {base64.b64decode(k["key"]).decode(): base64.b64decode(k["value"]).decode() for k in json.load(sys.stdin).get("kvs", [])}
log = [ln.split() for ln in open(sys.argv[1])]
want = {"/up/w/%s" % i: i for i, r, _ in log if r.startswith("ok")}
want.update({"/up/before/%04d" % i: "v%d" % i for i in range(int(sys.argv[2]))})
bad = [k for k, v in want.items() if kv.get(k) != v]
print(len(want), len(bad), " ".join(sorted(bad)[:5]))' <(ssh_host bk -- cat /root/w/log) "$N")
read -r nwant nbad badkeys <<<"$missing"
log "read back: $nwant keys expected (the $N written before + every acknowledged put), $nbad missing or wrong ${badkeys:-}"
check "every acknowledged write is readable after the upgrade" [ "${nbad:-1}" = 0 ]
check "writes went on during the upgrade (got $wn)" [ "${wn:-0}" -ge 20 ]
check "no write failed 3 times in a row (got $wf)" [ "${wf:-1}" = 0 ]

# ---------------------------------------------------------------- after
end_cv=$(cluster_version)
log "members: $(versions); /version: $end_cv"
check "every member runs $NEW_V" [ "$(versions)" = "$all_new" ]
check "cluster version 3.5.0" grep -q '"etcdcluster":"3.5.0"' <<<"$end_cv"
check "the playbook reported cluster version 3.5.0" grep -q "etcd cluster version 3.5.0" <<<"$OUT"
t=$SECONDS
play "$WORK/new.yml" playbooks/upgrade_etcd.yml || { fail "upgrade_etcd.yml re-run after the upgrade"; echo "$OUT" | tail -30; }
check "re-run: changed=0 (got $(changed_sum))" [ "$(changed_sum)" = 0 ]
check "re-run: nothing to upgrade, no backup taken" bash -c "grep -q 'nothing to upgrade' <<<\"\$0\" && ! grep -q 'Backup by' <<<\"\$0\"" "$OUT"
mark "re-run after the upgrade" "$t"
t=$SECONDS
play "$WORK/new.yml" playbooks/etcd.yml || fail "etcd.yml with the $NEW_V inventory"
check "etcd.yml with the $NEW_V inventory: changed=0 (got $(changed_sum))" [ "$(changed_sum)" = 0 ]
grep -B2 "changed:" <<<"$OUT" | grep TASK | head -5 | sed 's/^/    /'
mark "etcd.yml re-run" "$t"
play "$WORK/old.yml" playbooks/upgrade_etcd.yml
check "refused: a downgrade to $OLD_V" grep -q "etcd_upgrade_version=$OLD_V is older than what runs" <<<"$OUT"
play "$WORK/new.yml" playbooks/upgrade_etcd.yml --check
check "--check after the upgrade: changed=0 (got $(changed_sum))" [ "$(changed_sum)" = 0 ]
check "after the refusals every member still runs $NEW_V" [ "$(versions)" = "$all_new" ]

log "timings:"; printf '    %s\n' "${timings[@]}" "total $((SECONDS - T0))s"
if [ ${#failures[@]} -gt 0 ]; then
  log "${#failures[@]} failure(s):"; printf '    %s\n' "${failures[@]}"
  exit 1
fi
log "PASS"
