#!/usr/bin/env bash
# Part drguard (issue 15, on the HA cluster of part ha: 3 stacked control planes, 2 workers, backup host = mirror):
#   drill     a Secret written, backup.yml, dr_drill.yml on the backup host: the newest bundle restored into a
#             throwaway etcd, keys/revision counted, the Secret decrypted with the bundled encryption config (the
#             sha256 of its value equals the one written); metrics 1 + keys; a wrong key fails the drill and
#             writes result 0 while keeping the last success time
#   collide   an inventory whose w2 is another machine (the mirror host's address): preflight refuses it before
#             any change; reset.yml --limit w2 leaves the existing Node w2 (same UID, Ready) untouched
#   guard     cp1 (the first control plane) wiped (kubelet stopped, containers killed, /etc/kubernetes, /etc/etcd,
#             /var/lib/etcd emptied) beside the running cp2+cp3: site.yml refused in preflight, no file written
#             on cp1, no host play ran, cp2's CA unchanged
#   replace   the documented path: inventory with cp2 first, replace_control_plane.yml -e replace_node=cp1 brings
#             cp1 back as a member; site.yml after it; one cluster ID on every etcd member, 3 started members,
#             one CA hash on all 5 nodes, 5 Nodes Ready
# Needs CLUSTER=ha. Prints the time of each step.
# shellcheck disable=SC2154  # WORK, NAME, INV, LAB, CLUSTER, MIRROR_IP: set by run.sh / lib.sh

drg_inv_collide() { # an inventory without the mirror host, whose w2 is at the mirror's address
  "$ROOT/.venv/bin/python" - "$INV" "$WORK/collide-inv.yml" "$MIRROR_IP" <<'EOF'
import sys, yaml
src, dst, ip = sys.argv[1:4]
inv = yaml.safe_load(open(src))
def walk(g):
    hosts = g.get("hosts") or {}
    hosts.pop("mirror", None)
    if "w2" in hosts:
        hosts["w2"] = dict(hosts["w2"] or {}, ansible_host=ip)
    for c in (g.get("children") or {}).values():
        walk(c or {})
walk(inv["all"])
yaml.safe_dump(inv, open(dst, "w"))
EOF
  cat > "$WORK/collide-groups.yml" <<'EOF'
all:
  children:
    kube_control_plane: {hosts: {cp1: {}, cp2: {}, cp3: {}}}
    kube_node: {hosts: {w1: {}, w2: {}}}
  vars:
    groundwork_api_endpoint_mode: haproxy
    groundwork_control_plane_endpoint: "localhost:8443"
    groundwork_backups: false
EOF
}
drg_play_collide() { # playbook args... (the collision inventory)
  local pb=$1 rc; shift
  OUT=$(ctl ansible-playbook -i "$WORK/collide-inv.yml" -i "$WORK/collide-groups.yml" -e "@$WORK/vars.yml" "$pb" "$@" 2>&1); rc=$?
  printf '%s\n' "$OUT" > "$WORK/last.log"
  return $rc
}
drg_logged() { tr -s ' \n' ' ' < "$WORK/last.log" | grep -qF "$1"; }  # a phrase in the last log, line wraps ignored
drg_same() { [ -n "$1" ] && [ "$1" = "$2" ]; }  # non-empty and equal
drg_sha_all() { local h; for h in "$@"; do ssh_host "$h" -- sha256sum /etc/kubernetes/pki/ca.crt 2>/dev/null | cut -d' ' -f1; done | sort -u | tr '\n' ' '; }
drg_cluster_ids() { local h; for h in cp1 cp2 cp3; do
  ssh_host "$h" -- "ETCDCTL_API=3 etcdctl --endpoints=https://$(host_addr "$h"):2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key endpoint status -w json" 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["Status"]["header"]["cluster_id"])'; done | sort -u | tr '\n' ' '; }

# the drill (also part drdrill on the single cluster): a Secret, backup.yml, dr_drill.yml, checks; a wrong key
drg_drill() {
  local t rep sha want keys
  s1=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | cut -c1-24)
  kc cp1 create secret generic dr-drill --from-literal=token="$s1" >/dev/null
  t=$SECONDS
  play playbooks/backup.yml || { fail "drguard: backup.yml"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40; }
  mark "drguard-backup" "$t"; t=$SECONDS
  if play playbooks/dr_drill.yml -e dr_drill_secret=default/dr-drill; then
    mark "drguard-drill" "$t"
    log "drguard: $(grep -o 'DR drill PASSED[^"]*' "$WORK/last.log" | head -1)"
  else fail "drguard: dr_drill.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -50; fi
  rep=$(ssh_host mirror -- cat /var/lib/groundwork/dr-drill.json 2>/dev/null)
  want=$(printf '%s' "$s1" | sha256sum | cut -d' ' -f1)
  sha=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret"]["data_sha256"].get("token", ""))' "$rep" 2>/dev/null)
  keys=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["keys"])' "$rep" 2>/dev/null)
  log "drguard: drill report: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["bundle"], "keys", r["keys"], "revision", r["revision"], r["secret"]["provider"], r["seconds"], "s")' "$rep" 2>/dev/null)"
  check "drguard: the drill decrypted dr-drill: sha256 of its token equals what was written" drg_same "$sha" "$want"
  check "drguard: the drill counted keys (got ${keys:-none})" [ "${keys:-0}" -gt 100 ]
  ssh_host mirror -- cat /var/lib/node_exporter/textfile_collector/groundwork_dr_drill.prom > "$WORK/drill1.prom" 2>/dev/null
  check "drguard: metrics: last_result 1 and keys $keys" bash -c "grep -qx 'groundwork_dr_drill_last_result 1' '$WORK/drill1.prom' && grep -qx 'groundwork_dr_drill_keys $keys' '$WORK/drill1.prom'"
  if play playbooks/dr_drill.yml -e groundwork_backup_encryption_key=wrong-key-wrong-key-wrong-key; then
    fail "drguard: the drill passed with a wrong key"
  fi
  ssh_host mirror -- cat /var/lib/node_exporter/textfile_collector/groundwork_dr_drill.prom > "$WORK/drill2.prom" 2>/dev/null
  check "drguard: a wrong key fails the drill: last_result 0, last success time kept" bash -c "grep -qx 'groundwork_dr_drill_last_result 0' '$WORK/drill2.prom' && [ \"\$(grep ^groundwork_dr_drill_last_success '$WORK/drill1.prom')\" = \"\$(grep ^groundwork_dr_drill_last_success '$WORK/drill2.prom')\" ]"
  grep -o 'DR drill FAILED[^"]*' "$WORK/last.log" | head -1 | sed 's/^/    /'

}

part_drguard() {
  local t uid1 uid2 ca_before ca_after n ids
  s1=
  [ "$CLUSTER" = ha ] || { fail "drguard: needs the HA cluster (GW_SCENARIO_PARTS=ha,drguard)"; return 1; }

  drg_drill || return 1

  # ---- a host named like another machine's Node
  drg_inv_collide
  uid1=$(kc cp1 get node w2 -o jsonpath='{.metadata.uid}')
  t=$SECONDS
  if drg_play_collide playbooks/preflight.yml; then fail "drguard: preflight accepted w2 at another machine's address"; fi
  mark "drguard-collide-preflight" "$t"
  check "drguard: preflight names the collision (Node w2 belongs to another machine)" drg_logged "a Node named w2 already exists and belongs to another machine"
  check "drguard: preflight changed nothing (changed=0)" [ "$(changed_sum)" -eq 0 ]
  t=$SECONDS
  drg_play_collide playbooks/reset.yml --limit w2 -e groundwork_confirm=reset || { fail "drguard: reset.yml --limit w2 (collision)"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40; }
  mark "drguard-collide-reset" "$t"
  check "drguard: reset.yml kept the Node of another machine (said so)" drg_logged "Not deleting Node w2"
  uid2=$(kc cp1 get node w2 -o jsonpath='{.metadata.uid}')
  check "drguard: Node w2 untouched by the reset (uid $uid1 = $uid2)" drg_same "$uid1" "$uid2"
  check "drguard: w2 still Ready" wait_for 60 all_ready "cp1 cp2 cp3 w1 w2"

  # ---- the first control plane wiped beside the running cluster: refused before any file is written
  ca_before=$(drg_sha_all cp2 cp3 w1 w2)
  # shellcheck disable=SC2016  # expands on the host
  ssh_host cp1 -- 'systemctl stop kubelet; for c in $(ctr -n k8s.io task ls -q); do ctr -n k8s.io task kill -s KILL "$c"; done;
    sleep 2; rm -rf /etc/kubernetes /etc/etcd; find /var/lib/etcd -mindepth 1 -delete' >/dev/null 2>&1
  t=$SECONDS
  if play site.yml; then fail "drguard: site.yml with a wiped first control plane was not refused"; fi
  mark "drguard-guard" "$t"
  check "drguard: refused: one cluster, always (names the running cluster and the fix)" drg_logged "One cluster, always: cp1 would create new CAs"
  grep -o 'One cluster, always: [^"]*' "$WORK/last.log" | head -1 | cut -c1-400 | sed 's/^/    /'
  check "drguard: refused in preflight (no host play ran)" bash -c "! grep -q 'TASK \[groundwork.k8s.prerequisites' '$WORK/last.log'"
  check "drguard: no file written on cp1 (/etc/kubernetes absent)" bash -c "! $LAB ssh --name $NAME cp1 -- test -e /etc/kubernetes"
  check "drguard: the API still answers on cp2" api_ready_on cp2

  # ---- the documented path: a running control plane leads, replace_control_plane.yml brings cp1 back
  write_groups cp2,cp3,cp1 w1,w2 haproxy "" mirror
  t=$SECONDS
  if play playbooks/replace_control_plane.yml -e replace_node=cp1 -e groundwork_confirm=replace_control_plane; then
    mark "drguard-replace" "$t"; log "drguard: replace_control_plane.yml cp1 ok ($(( SECONDS - t ))s)"
  else fail "drguard: replace_control_plane.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; fi
  check "drguard: replace changed no other node" [ -z "$(grep -E '^(cp2|cp3|w1|w2) ' "$WORK/last.log" | grep -E 'changed=[1-9]' | grep -v '^cp2 ')" ]
  t=$SECONDS
  if play site.yml; then mark "drguard-site-after" "$t"; log "drguard: site.yml after the replacement ok, changed=$(changed_sum)"
  else fail "drguard: site.yml after the replacement"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -40; fi
  check "drguard: 5 Nodes Ready with cp1 replaced" wait_for 240 all_ready "cp1 cp2 cp3 w1 w2"
  n=$(etcdctl_pod cp2 member list -w json | python3 -c 'import json, sys
m = json.load(sys.stdin)["members"]
print(len(m), sum(1 for x in m if x.get("name") and not x.get("isLearner")), " ".join(sorted(x.get("name", "?") for x in m)))')
  check "drguard: etcd members: 3 started voters cp1 cp2 cp3 (got $n)" [ "$n" = "3 3 cp1 cp2 cp3" ]
  ids=$(drg_cluster_ids)
  log "drguard: etcd cluster IDs seen by cp1 cp2 cp3: $ids"
  check "drguard: one cluster ID on every etcd member" [ "$(wc -w <<<"$ids")" -eq 1 ]
  ca_after=$(drg_sha_all cp1 cp2 cp3 w1 w2)
  log "drguard: CA sha256 on the 5 nodes: $ca_after"
  check "drguard: one CA hash on every node, the cluster's own" drg_same "$ca_after" "$ca_before"
  check "drguard: exactly one CA hash (got $(wc -w <<<"$ca_after"))" [ "$(wc -w <<<"$ca_after")" -eq 1 ]
  check "drguard: the Secret written before still reads back" [ "$(kc cp2 get secret dr-drill -o jsonpath='{.data.token}' | base64 -d)" = "$s1" ]
}
