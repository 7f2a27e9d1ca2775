#!/usr/bin/env bash
# Part enckey (issue 18, "Encryption key rotation"; GW_SCENARIO_PARTS=single,enckey or ha,enckey): the mirror host
# becomes the backup host (site.yml installs the backups), Secrets are written before the rotation and, by a
# background writer on cp1 (one every ~0.5 s, failed writes counted), during it; rotate_encryption_key.yml runs in
# three stages: stopped after step 1 (new key second) -> backup.yml + dr_drill.yml decrypt a Secret written before
# (old key) with the bundled configuration; stopped after step 2 (new key first) -> a Secret written now (new key),
# backup + drill decrypt it; then to the end. Checked: every Secret written before/during/after reads back through
# the API with its data; the old key name is in no control plane's configuration; every Secret in etcd is stored
# with k8s:enc:<provider>:v1:<new key>:; the bundle of the playbook's final backup decrypts a Secret written before
# the rotation with the new key; a re-run changed=0; --check --diff of another rotation changes no file.
# shellcheck disable=SC2154  # WORK, CLUSTER, LAB, NAME: set by run.sh
enc_play() { local rc=0; play "$@" || rc=$?; cat "$WORK/last.log" >> "$WORK/enc-all.log"; return $rc; }
enc_cps() { if [ "$CLUSTER" = ha ]; then echo "cp1 cp2 cp3"; else echo cp1; fi; }
enc_keys() { # host -> key names of the provider that encrypts Secrets, in order
  ssh_host "$1" -- cat /etc/kubernetes/encryption/config.yaml | python3 -c 'import sys, yaml
c = yaml.safe_load(sys.stdin)
p = next(r for r in c["resources"] if "secrets" in r["resources"])["providers"][0]
(kind, body), = p.items()
print(kind, " ".join(k["name"] for k in body["keys"]))'
}
enc_all_keys() { local h; for h in $(enc_cps); do printf '%s=%s;' "$h" "$(enc_keys "$h")"; done; }
enc_same_everywhere() { # "provider names..." -> every control plane has exactly these
  local h; for h in $(enc_cps); do [ "$(enc_keys "$h")" = "$1" ] || return 1; done
}
enc_drill() { # secret (ns/name) expected-key-name expected-token label
  local rep sha want kn
  enc_play playbooks/backup.yml || { fail "enckey: backup.yml ($4)"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -30; return 1; }
  enc_play playbooks/dr_drill.yml -e dr_drill_secret="$1" || { fail "enckey: dr_drill.yml ($4)"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -30; return 1; }
  rep=$(ssh_host mirror -- cat /var/lib/groundwork/dr-drill.json 2>/dev/null)
  sha=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"]["data_sha256"].get("token", ""))' "$rep" 2>/dev/null)
  kn=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1])["secret"]; print(s["provider"], s["key_name"])' "$rep" 2>/dev/null)
  want=$(printf '%s' "$3" | sha256sum | cut -d' ' -f1)
  log "enckey: drill ($4): bundle $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["bundle"])' "$rep" 2>/dev/null), $1 stored with ${kn:-?}"
  check "enckey: a backup taken $4 decrypts $1 (stored with key $2) with its bundled configuration" \
    bash -c "[ '$sha' = '$want' ] && [ '${kn#* }' = '$2' ]"
}
enc_writer_start() {
  # shellcheck disable=SC2016  # expands on cp1
  ssh_host cp1 -- 'rm -f /root/enc.stop /root/enc.ok /root/enc.out; nohup sh -c '"'"'n=0; f=0; while [ ! -e /root/enc.stop ]; do
      n=$((n + 1))
      if kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout=5s create secret generic enc-during-$n --from-literal=token=during-$n >/dev/null 2>&1
      then echo enc-during-$n >> /root/enc.ok; else f=$((f + 1)); fi
      echo "$n $f" > /root/enc.out; sleep 0.5; done'"'"' >/dev/null 2>&1 &'
}
enc_writer_stop() { ssh_host cp1 -- 'touch /root/enc.stop; sleep 2; cat /root/enc.out'; }
enc_readback() { # -> "checked bad" over every Secret named in $WORK/enc-expected (name token per line)
  kc cp1 get secrets -n default -o json > "$WORK/enc-secrets.json" 2>/dev/null
  python3 - "$WORK/enc-secrets.json" "$WORK/enc-expected" <<'EOF'
import base64, json, sys
have = {s["metadata"]["name"]: base64.b64decode(s.get("data", {}).get("token", "")).decode() for s in json.load(open(sys.argv[1]))["items"]}
bad = checked = 0
for line in open(sys.argv[2]):
    name, token = line.split()
    checked += 1
    if have.get(name) != token:
        bad += 1
        print("unreadable or wrong: %s" % name, file=sys.stderr)
print(checked, bad)
EOF
}
enc_etcd_prefixes() { # -> "total with-new-key" over every Secret in etcd
  etcdctl_pod cp1 get --prefix /registry/secrets/ -w json 2>/dev/null | python3 -c 'import base64, json, sys
kvs = json.load(sys.stdin).get("kvs", [])
want = ("k8s:enc:" + sys.argv[1] + ":v1:" + sys.argv[2] + ":").encode()
print(len(kvs), sum(1 for kv in kvs if base64.b64decode(kv["value"]).startswith(want)))' "$1" "$2"
}

part_enckey() {
  local t h before old new prov p n tok got rc sums1 sums2
  [ "$CLUSTER" = single ] || [ "$CLUSTER" = ha ] || { fail "enckey: needs a real cluster"; return 1; }
  # the mirror host keeps the backups (site.yml installs the timer and program), as part drdrill does (part ha has it)
  if [ "$CLUSTER" = single ]; then
    single_backup_host enckey || return 1
  fi
  : > "$WORK/enc-all.log"

  before=$(enc_keys cp1); prov=${before%% *}; old=${before#* }
  log "enckey: before: $(enc_all_keys)"
  check "enckey: one key before the rotation (got '$before')" [ "$(wc -w <<<"$old")" -eq 1 ]
  : > "$WORK/enc-expected"
  for n in 1 2 3 4 5; do
    tok=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | cut -c1-24)
    kc cp1 create secret generic "enc-before-$n" --from-literal=token="$tok" >/dev/null && echo "enc-before-$n $tok" >> "$WORK/enc-expected"
  done
  enc_writer_start

  # stage 1: the new key second everywhere; a backup now reads what was written before (old key)
  t=$SECONDS
  if enc_play playbooks/rotate_encryption_key.yml -e rotate_encryption_key_stop_after=add; then mark "enckey-step1" "$t"
  else fail "enckey: rotate_encryption_key.yml (stop after add)"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; enc_writer_stop; return 1; fi
  new=$(enc_keys cp1); new=${new##* }
  log "enckey: after step 1: $(enc_all_keys) (${new} new)"
  check "enckey: step 1: every control plane has [$old, $new]" enc_same_everywhere "$prov $old $new"
  enc_drill "default/enc-before-1" "$old" "$(awk '$1 == "enc-before-1" { print $2 }' "$WORK/enc-expected")" "after step 1"

  # stage 2: the new key first everywhere; a Secret written now is stored with it, and a backup reads it
  t=$SECONDS
  if enc_play playbooks/rotate_encryption_key.yml -e rotate_encryption_key_stop_after=promote; then mark "enckey-step2" "$t"
  else fail "enckey: rotate_encryption_key.yml (resumed, stop after promote)"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; enc_writer_stop; return 1; fi
  log "enckey: after step 2: $(enc_all_keys)"
  check "enckey: step 2: every control plane has [$new, $old]" enc_same_everywhere "$prov $new $old"
  tok=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | cut -c1-24)
  kc cp1 create secret generic enc-mid --from-literal=token="$tok" >/dev/null && echo "enc-mid $tok" >> "$WORK/enc-expected"
  enc_drill "default/enc-mid" "$new" "$tok" "after step 2"

  # to the end: rewrite, old key removed, final backup
  t=$SECONDS
  if enc_play playbooks/rotate_encryption_key.yml; then mark "enckey-rest" "$t"
  else fail "enckey: rotate_encryption_key.yml (resumed to the end)"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; fi
  log "enckey: $(grep -o '[0-9]* Secrets found[^"]*' "$WORK/last.log" | head -1)"
  p=$(enc_writer_stop)
  log "enckey: background writer during the rotation: ${p% *} writes, ${p#* } failed$([ "$CLUSTER" = single ] && echo ' (single host: its only API server restarts 3 times)')"
  ssh_host cp1 -- cat /root/enc.ok 2>/dev/null | while read -r n; do echo "$n during-${n#enc-during-}"; done >> "$WORK/enc-expected"
  tok=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | cut -c1-24)
  kc cp1 create secret generic enc-after --from-literal=token="$tok" >/dev/null && echo "enc-after $tok" >> "$WORK/enc-expected"

  log "enckey: after: $(enc_all_keys)"
  check "enckey: every control plane has only [$new]" enc_same_everywhere "$prov $new"
  for h in $(enc_cps); do
    check "enckey: $h's configuration does not name the old key $old" bash -c "! $LAB ssh --name $NAME $h -- grep -qw -- '$old' /etc/kubernetes/encryption/config.yaml"
  done
  got=$(enc_readback)
  log "enckey: read back through the API: ${got% *} Secrets (5 before, $(wc -l < "$WORK/enc-expected") expected), ${got#* } unreadable or wrong"
  check "enckey: every Secret written before, during and after reads back with its data (got $got)" \
    bash -c "[ '${got#* }' = 0 ] && [ '${got% *}' -ge 8 ]"
  got=$(enc_etcd_prefixes "$prov" "$new")
  log "enckey: etcd: ${got% *} Secrets, ${got#* } stored as k8s:enc:$prov:v1:$new:"
  check "enckey: every Secret in etcd is encrypted with the new key (got $got)" bash -c "[ '${got% *}' -gt 0 ] && [ '${got% *}' = '${got#* }' ]"
  # the playbook's own final backup: its bundle decrypts a Secret written before the rotation, now with the new key
  if enc_play playbooks/dr_drill.yml -e dr_drill_secret=default/enc-before-2; then
    got=$(ssh_host mirror -- cat /var/lib/groundwork/dr-drill.json | python3 -c 'import json,sys; s=json.load(sys.stdin)["secret"]; print(s["key_name"], s["data_sha256"].get("token", ""))')
    tok=$(awk '$1 == "enc-before-2" { print $2 }' "$WORK/enc-expected")
    check "enckey: the final bundle decrypts enc-before-2, stored with $new (got ${got%% *})" \
      [ "$got" = "$new $(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)" ]
  else fail "enckey: dr_drill.yml on the final bundle"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -30; fi

  t=$SECONDS
  if enc_play playbooks/rotate_encryption_key.yml -e rotate_encryption_key_name="$new"; then
    mark "enckey-rerun" "$t"; check "enckey: a re-run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "enckey: re-run"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -30; fi
  # check mode of another rotation: says which key names it would add and remove, changes no file
  sums1=$(for h in $(enc_cps); do ssh_host "$h" -- sha256sum /etc/kubernetes/encryption/config.yaml /etc/kubernetes/encryption/rotation.json; done)
  rc=0; enc_play playbooks/rotate_encryption_key.yml --check --diff -e rotate_encryption_key_name=key-check || rc=$?
  sums2=$(for h in $(enc_cps); do ssh_host "$h" -- sha256sum /etc/kubernetes/encryption/config.yaml /etc/kubernetes/encryption/rotation.json; done)
  check "enckey: --check --diff of a rotation to key-check: rc 0, no file changed" bash -c "[ $rc = 0 ] && [ '$sums1' = '$sums2' ]"
  check "enckey: --check --diff names the keys, never key material" bash -c "grep -q 'aescbc keys: key-check, $new' '$WORK/last.log' || grep -q '$prov keys: key-check' '$WORK/last.log'"
  # no key material in any output of this part's runs (the new key read from cp1's configuration)
  ssh_host cp1 -- cat /etc/kubernetes/encryption/config.yaml | python3 -c 'import sys, yaml
c = yaml.safe_load(sys.stdin)
p = next(r for r in c["resources"] if "secrets" in r["resources"])["providers"][0]
print("\n".join(k["secret"] for body in p.values() for k in body["keys"]))' > "$WORK/enc-key"
  check "enckey: the key is in no output of the rotation, backup and drill runs ($(wc -l < "$WORK/enc-all.log") lines)" \
    bash -c "[ -s '$WORK/enc-key' ] && ! grep -qF -f '$WORK/enc-key' '$WORK/enc-all.log'"
  rm -f "$WORK/enc-key"
  t=$SECONDS
  if play site.yml; then mark "enckey-site-rerun" "$t"; check "enckey: site.yml after the rotation changed=0 and keeps the key (got $(changed_sum))" \
    bash -c "[ $(changed_sum) -eq 0 ] && [ \"\$($LAB ssh --name $NAME cp1 -- grep -c -- '$new' /etc/kubernetes/encryption/config.yaml)\" = 1 ]"
  else fail "enckey: site.yml after the rotation"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -30; fi
}
