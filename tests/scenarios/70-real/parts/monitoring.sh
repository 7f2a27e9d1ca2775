#!/usr/bin/env bash
# Part monitoring (issue 19 part 3; on the cluster that is up, `single` is enough): playbooks/monitoring.yml
# puts node exporter + the platform facts timer on every node and Prometheus + Alertmanager on the mirror host,
# all from the bundle's APT repository. Checks, through Prometheus' HTTP API on the mirror host:
#   - every target up == 1 (node exporters, each API server and etcd member with the PKI's client certificates,
#     Prometheus, Alertmanager), and the platform facts are there (cert days left per file, kubelet/kubeadm
#     version = the release, etcd member healthy with its DB size and quota, CA-rotation phase)
#   - promtool check rules on the mirror host (the bundle's promtool) passes
#   - a re-run of monitoring.yml changed=0
#   - backups: the mirror host becomes the backup host (site.yml), backup.yml takes a real verified backup ->
#     verification ok + snapshot and bundle sizes as metrics; then the backup is made stale the way a real one looks
#     (last.json and the backup program's own textfile as its own code writes them for a run three days ago) ->
#     GroundworkEtcdBackupStale fires
#   - one certificate swapped for a short-lived one (front-proxy-client.crt re-signed by its CA for 3 days, same
#     key and subject) -> GroundworkCertificateExpiresCritical fires for that path and reaches Alertmanager; the
#     original put back -> the alert resolves
# shellcheck disable=SC2034  # WORK, INV, OUT: from run.sh
PROMQ_PY='import sys, urllib.request
base, path = ("http://127.0.0.1:9093", sys.argv[1][3:]) if sys.argv[1].startswith("am:") else ("http://127.0.0.1:9090", sys.argv[1])
sys.stdout.write(urllib.request.urlopen(base + path, timeout=10).read().decode())'
promq() { ssh_host mirror -- "$(printf '%q ' python3 -c "$PROMQ_PY" "$1")"; }
# every active target up; prints "jobs: job=up/total ..." and returns 1 unless all are up and all five jobs are there
mon_targets_up() {
  promq /api/v1/targets | python3 -c 'import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
jobs = {}
for x in t:
    j = jobs.setdefault(x["labels"]["job"], [0, 0]); j[1] += 1; j[0] += x["health"] == "up"
print("jobs: " + " ".join("%s=%d/%d" % (k, v[0], v[1]) for k, v in sorted(jobs.items())))
bad = [x["scrapeUrl"] + ": " + x.get("lastError", "") for x in t if x["health"] != "up"]
if bad: print("down: " + "; ".join(bad))
sys.exit(0 if not bad and {"node", "apiserver", "etcd", "prometheus", "alertmanager"} <= set(jobs) else 1)'
}
# PromQL instant query -> "labels value" lines
mon_query() {
  promq "/api/v1/query?query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")" | python3 -c 'import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    m = r["metric"]; print(",".join("%s=%s" % kv for kv in sorted(m.items()) if kv[0] != "__name__"), r["value"][1])'
}
# alert NAME firing in Prometheus (with label=value pairs); "am" as first arg asks Alertmanager instead
mon_alert_firing() {
  local src=prom; [ "$1" = am ] && { src=am; shift; }
  local path=/api/v1/alerts; [ $src = am ] && path=am:/api/v2/alerts
  promq "$path" | python3 -c 'import json, sys
src, name, want = sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
d = json.load(sys.stdin)
alerts = d["data"]["alerts"] if src == "prom" else d
ok = [a for a in alerts if a["labels"].get("alertname") == name and all(a["labels"].get(k) == v for k, v in want.items())
      and (a.get("state") == "firing" if src == "prom" else a["status"]["state"] == "active")]
for a in ok: print(src, name, a["labels"], a.get("annotations", {}).get("summary", ""))
sys.exit(0 if ok else 1)' "$src" "$@"
}
mon_has() { [ -n "$(mon_query "$1")" ]; }
mon_value_is() { [ "$(mon_query "$1" | awk '{print $NF}')" = "$2" ]; }
mon_all_up() { [ -z "$(mon_query 'up != 1')" ] && [ -n "$(mon_query 'up == 1')" ]; }
mon_alert_gone() { ! mon_alert_firing "$@" >/dev/null 2>&1; }

part_monitoring() {
  local t q pki=/etc/kubernetes/pki cluster=groundwork-real
  local mon_args=(-i "$WORK/inv/mirror.yml" -e monitoring_scrape_interval=10s -e monitoring_evaluation_interval=10s
                  -e platform_metrics_interval=30s)
  t=$SECONDS
  if play playbooks/monitoring.yml "${mon_args[@]}"; then mark "monitoring-install" "$t"; log "monitoring: monitoring.yml ok ($(( SECONDS - t ))s)"; else
    fail "monitoring: monitoring.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  check "monitoring: prometheus, alertmanager and node exporter come from the bundle's APT repository" \
    bash -c "$LAB ssh --name $NAME mirror -- apt-cache policy prometheus | grep -q 'file:/' && $LAB ssh --name $NAME cp1 -- dpkg -s prometheus-node-exporter >/dev/null"
  check "monitoring: promtool check rules on the mirror host (the bundle's promtool)" \
    bash -c "$LAB ssh --name $NAME mirror -- promtool check rules /etc/prometheus/groundwork.rules.yml | grep -q SUCCESS"
  t=$SECONDS
  check "monitoring: every target up == 1 (node, apiserver and etcd with client certificates, prometheus, alertmanager)" \
    wait_for 180 mon_targets_up
  mark "monitoring-targets-up" "$t"
  log "monitoring: $(mon_targets_up | tr '\n' ' ')"
  log "monitoring: up: $(mon_query up | tr '\n' ';')"
  # the role masks the services before their first install, so Prometheus never runs the package's default
  # configuration (node at localhost:9100, down): no series of up may be 0, not even one left from a first start
  check "monitoring: up == 1 for every series of up (no series left from the package's default configuration)" wait_for 30 mon_all_up
  check "monitoring: certificate days left per file from cp1" wait_for 60 mon_has 'groundwork_cert_expiry_seconds{node="cp1"}'
  q=$(mon_query "count(groundwork_cert_expiry_seconds{node=\"cp1\"})"); log "monitoring: cert files on cp1: $q"
  check "monitoring: cp1's certificates as metrics (count > 10)" [ "${q##* }" -gt 10 ] 2>/dev/null
  q=$(mon_query "groundwork_component_version_info{node=\"cp1\"}"); log "monitoring: versions: $(tr '\n' ';' <<<"$q")"
  check "monitoring: kubelet and kubeadm versions of cp1 are $KUBE_VERSION" \
    [ "$(grep -c "version=$KUBE_VERSION 1" <<<"$q")" = 2 ]
  q=$(mon_query 'groundwork_etcd_member_healthy'); log "monitoring: etcd health: $q"
  check "monitoring: cp1's etcd member healthy (1)" [ "${q##* }" = 1 ]
  q=$(mon_query 'groundwork_etcd_db_size_bytes / on (node) groundwork_etcd_db_quota_bytes'); log "monitoring: etcd DB size / quota: $q"
  check "monitoring: etcd DB size and quota known (0 < ratio < 1)" python3 -c 'import sys; v = float(sys.argv[1]); sys.exit(0 if 0 < v < 1 else 1)' "${q##* }"
  q=$(mon_query 'groundwork_ca_rotation_phase'); log "monitoring: CA rotation phase: $q"
  check "monitoring: CA-rotation phase reported (0, none)" [ "${q##* }" = 0 ]
  check "monitoring: apiserver's own metrics scraped (apiserver_request_total)" [ -n "$(mon_query 'sum(apiserver_request_total{job="apiserver"})')" ]
  check "monitoring: etcd's own metrics scraped (etcd_server_has_leader == 1)" [ "$(mon_query 'etcd_server_has_leader{job="etcd"}' | awk '{print $2}')" = 1 ]

  t=$SECONDS
  if play playbooks/monitoring.yml "${mon_args[@]}"; then mark "monitoring-rerun" "$t"
    check "monitoring: re-run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else fail "monitoring: re-run failed"; grep -A20 'fatal:' "$WORK/last.log" | head -40; fi

  # --- a short-lived certificate: front-proxy-client.crt re-signed by its CA for 3 days (same key, same subject)
  ssh_host cp1 -- "cp $pki/front-proxy-client.crt /root/front-proxy-client.crt.orig && \
    openssl x509 -x509toreq -in $pki/front-proxy-client.crt -signkey $pki/front-proxy-client.key -out /root/fpc.csr 2>/dev/null && \
    openssl x509 -req -in /root/fpc.csr -CA $pki/front-proxy-ca.crt -CAkey $pki/front-proxy-ca.key -CAcreateserial -days 3 \
      -out /root/fpc.crt 2>/dev/null && cp /root/fpc.crt $pki/front-proxy-client.crt && systemctl start groundwork-cert-check.service"
  log "monitoring: cp1 front-proxy-client.crt now $(ssh_host cp1 -- openssl x509 -noout -enddate -in $pki/front-proxy-client.crt)"
  t=$SECONDS
  check "monitoring: GroundworkCertificateExpiresCritical fires for front-proxy-client.crt on cp1" \
    wait_for 150 mon_alert_firing GroundworkCertificateExpiresCritical node=cp1 path=$pki/front-proxy-client.crt
  mark "monitoring-cert-alert" "$t"
  mon_alert_firing GroundworkCertificateExpiresCritical node=cp1 | sed 's/^/    /'
  check "monitoring: ... and reaches Alertmanager" wait_for 90 mon_alert_firing am GroundworkCertificateExpiresCritical node=cp1
  check "monitoring: no other certificate alert (the rest of the PKI is valid for > 30 d)" \
    [ "$(mon_query 'ALERTS{alertname=~"GroundworkCertificate.*",alertstate="firing"}' | grep -vc front-proxy-client)" = 0 ]
  ssh_host cp1 -- "cp /root/front-proxy-client.crt.orig $pki/front-proxy-client.crt && systemctl start groundwork-cert-check.service"
  check "monitoring: the original certificate back -> the alert resolves" \
    wait_for 150 mon_alert_gone GroundworkCertificateExpiresCritical node=cp1

  # --- backups: the mirror host keeps them (as in part ha); a real verified backup, then a stale one
  if ! grep -q '^    backup:' "$WORK/groups.yml"; then
    write_groups "$(awk '/^    kube_control_plane:/ { f = 1; next } f && /^        [a-z0-9]+:/ { sub(":", "", $1); printf "%s%s", s, $1; s = "," } f && /^    [a-z]/ { exit }' "$WORK/groups.yml")" "" none "" mirror
    t=$SECONDS
    if play site.yml; then mark "monitoring-site-backups" "$t"; log "monitoring: site.yml with a backup host ok ($(( SECONDS - t ))s)"; else
      fail "monitoring: site.yml with a backup host"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
    play playbooks/monitoring.yml "${mon_args[@]}" || { fail "monitoring: monitoring.yml with backups"; return 1; }
  fi
  t=$SECONDS
  if play playbooks/backup.yml; then mark "monitoring-backup" "$t"; else
    fail "monitoring: backup.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  ssh_host cp1 -- systemctl start groundwork-platform-metrics.service
  check "monitoring: last backup verified (groundwork_etcd_backup_last_verification_ok 1)" \
    wait_for 90 mon_value_is 'groundwork_etcd_backup_last_verification_ok{node="cp1"}' 1
  q=$(mon_query 'groundwork_etcd_backup_last_size_bytes{node="cp1"}'); log "monitoring: backup sizes: $(tr '\n' ';' <<<"$q")"
  check "monitoring: snapshot and bundle sizes of the last backup (> 0)" [ "$(awk '$2 > 0' <<<"$q" | wc -l)" = 2 ]
  check "monitoring: no stale-backup alert after a fresh backup" mon_alert_gone GroundworkEtcdBackupStale
  # stale: the status and textfile of a run three days ago, written by the backup program's own code on cp1
  # shellcheck disable=SC2016
  ssh_host cp1 -- 'python3 - <<"PY"
import json, sys, time
sys.path.insert(0, "/usr/local/lib/groundwork")
from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd_backup as B
p = "/var/lib/groundwork/etcd-backup/last.json"
s = json.load(open(p))
then = int(time.time()) - 3 * 86400
s["last_local_ok"] = then
if "last_offnode_ok" in s: s["last_offnode_ok"] = then
open(p, "w").write(json.dumps(s, indent=2, sort_keys=True))
open(B.METRICS_FILE, "w").write(B.status_metrics(s, then))
PY'
  log "monitoring: cp1's backup textfile now: $(ssh_host cp1 -- grep -h last_local_ok_timestamp /var/lib/node_exporter/textfile_collector/groundwork_etcd_backup.prom | grep -v '^#')"
  t=$SECONDS
  check "monitoring: GroundworkEtcdBackupStale fires for $cluster" wait_for 150 mon_alert_firing GroundworkEtcdBackupStale cluster=$cluster
  mark "monitoring-backup-alert" "$t"
  mon_alert_firing GroundworkEtcdBackupStale | sed 's/^/    /'
  check "monitoring: no verification alert (the last verification passed)" mon_alert_gone GroundworkEtcdBackupVerificationFailed
}
