#!/usr/bin/env bash
# 70-real plug-in part "report" (issue 19 part 4): playbooks/report.yml on the real cluster that is up
# (single or ha), then the page it wrote is opened in headless Chromium inside the lab's controller
# namespace (no route out: the page must need nothing from the network) and the rendered DOM must show
# every section with this cluster's data: its Node names, its etcd members and leader, certificate rows,
# an SVG timeline with bars per node, the installed kubelet matching the manifest. The same run with
# --check changes nothing; a cordoned Node shows up as a warning in the next report (and is uncordoned).
# Screenshot and DOM are kept under tests/output/report/. Chromium missing and not installable: SKIPPED.
#   GW_SCENARIO_PARTS=single,report tests/scenarios/70-real/run.sh
# shellcheck disable=SC2154  # ROOT, WORK, CLUSTER, log, check, fail, play, changed_sum, kc, ctl: from run.sh

report_nodes() { # the Node names of the cluster that is up, sorted
  if [ "$CLUSTER" = ha ]; then echo "cp1 cp2 cp3 w1 w2"; else echo "cp1"; fi
}

report_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  log "report: chromium missing; installing it (apt-get install chromium)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >"$WORK/report-apt.log" 2>&1
  command -v chromium >/dev/null 2>&1
}

# report.json -> "ok" or what is missing (the data the playbook read from this cluster)
report_json_check() { # json nodes...
  python3 - "$@" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); nodes = sys.argv[2].split()
t = m["topology"]; bad = []
hosts = {h["name"]: h for h in t["hosts"]}
for n in nodes:
    h = hosts.get(n) or {}
    if not (h.get("node") or {}).get("ready"): bad.append("%s not a Ready Node in the report" % n)
    if not (h.get("kubelet") or "").startswith("v1."): bad.append("%s: no kubelet version" % n)
    if not h.get("os"): bad.append("%s: no OS" % n)
    if len(m["certificates"]["hosts"].get(n, [])) < 5: bad.append("%s: fewer than 5 certificates" % n)
cps = [n for n in nodes if n.startswith("cp")]
if sorted(x["name"] for x in t["etcd"]["members"]) != sorted(cps): bad.append("etcd members %s" % t["etcd"]["members"])
if t["etcd"]["leader"] not in cps: bad.append("etcd leader %r" % t["etcd"]["leader"])
if not t["server_version"] or not t["api_endpoint"]: bad.append("server version/API endpoint missing")
kubelet = [f for f in m["artifacts"]["files"] if f["name"] == "kubelet"]
if not kubelet or any(x["state"] != "match" for n in nodes for x in kubelet[0]["hosts"].get(n, [{"state": "absent"}])):
    bad.append("kubelet not reported as matching the manifest on every node")
if not m["artifacts"]["images"]: bad.append("no images")
if m["backups"]["summary"]["drill"] is None and "never" not in json.dumps(m["warnings"]): bad.append("drill not 'never'")
print("ok" if not bad else "; ".join(bad))
EOF
}

# rendered DOM -> "ok" or what is missing
report_dom_check() { # dom-file nodes...
  python3 - "$@" <<'EOF'
import sys
from html.parser import HTMLParser
dom = open(sys.argv[1], encoding="utf-8").read(); nodes = sys.argv[2].split()

class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.sections = {}; self.hosts = set(); self.members = set(); self.bars = {}
        self.chart = None; self.external = []; self.cert_rows = 0; self.in_certs = False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section": self.sections[a.get("id")] = int(a.get("data-items") or 0)
        if "host" in (a.get("class") or "").split() and a.get("data-host"): self.hosts.add(a["data-host"])
        if "etcd-member" in (a.get("class") or "").split(): self.members.add(a.get("data-member"))
        if tag == "svg" and "cert-chart" in (a.get("class") or ""): self.chart = a.get("data-host"); self.bars.setdefault(self.chart, 0)
        if tag == "rect" and "bar" in (a.get("class") or "").split() and self.chart: self.bars[self.chart] += 1
        if tag == "table" and "certs" in (a.get("class") or "").split(): self.in_certs = True
        if tag == "tr" and self.in_certs: self.cert_rows += 1
        for k in ("src", "href"):
            if a.get(k) and not a[k].startswith(("#", "data:")): self.external.append(a[k])
        if tag in ("link", "script", "iframe", "img") : self.external.append(tag)
    def handle_endtag(self, tag):
        if tag == "svg": self.chart = None
        if tag == "table": self.in_certs = False
p = P(); p.feed(dom); bad = []
for s in ("warnings", "topology", "certificates", "backups", "artifacts"):
    if p.sections.get(s, 0) < 1: bad.append("section %s empty or missing (%s)" % (s, p.sections.get(s)))
for n in nodes:
    if n not in p.hosts: bad.append("host %s not in the hosts table" % n)
    if p.bars.get(n, 0) < 5: bad.append("%s's certificate chart has %d bars" % (n, p.bars.get(n, 0)))
cps = {n for n in nodes if n.startswith("cp")}
if p.members != cps: bad.append("etcd members in the page %s" % sorted(p.members))
if p.cert_rows < 5 * len(nodes): bad.append("only %d certificate rows" % p.cert_rows)
if p.external: bad.append("fetches from outside the page: %s" % p.external[:5])
if "url(" in dom or "@import" in dom: bad.append("CSS refers to a URL")
print("ok" if not bad else "; ".join(bad))
print("sections=%s bars=%s members=%s cert_rows=%d" % (p.sections, p.bars, sorted(p.members), p.cert_rows), file=sys.stderr)
EOF
}

part_report() {
  local t dir out nodes res height=2600
  nodes=$(report_nodes)
  [ "$CLUSTER" = ha ] && height=6000
  dir=$WORK/report
  out=$ROOT/tests/output/report
  mkdir -p "$out"
  t=$SECONDS
  if play playbooks/report.yml -e "report_dir=$dir" -e report_keep_input=true; then log "report: report.yml ok ($(( SECONDS - t ))s)"; else
    fail "report: report.yml failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  mark "report-run" "$t"
  check "report: report.yml changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  grep -A12 'TASK \[Summary\]' "$WORK/last.log" | grep -o "Report: .*\|'[a-z]*: .*" | sed 's/^/    /'
  cp "$dir/report.json" "$dir/report.html" "$dir/report-input.json" "$out/" 2>/dev/null
  res=$(report_json_check "$dir/report.json" "$nodes")
  check "report: report.json has this cluster's data ($res)" [ "$res" = ok ]
  check "report: no critical warning on the healthy cluster" python3 -c 'import json,sys; m = json.load(open(sys.argv[1]))
sys.exit(1 if m["counts"]["critical"] else 0)' "$dir/report.json"

  if report_chromium; then
    t=$SECONDS
    # inside the lab's controller namespace: no route out, so a page that fetched anything would show it
    ctl timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
      --window-size="1280,$height" --screenshot="$out/report.png" "file://$dir/report.html" >"$WORK/chromium.log" 2>&1
    ctl timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --dump-dom \
      "file://$dir/report.html" >"$out/report.dom.html" 2>>"$WORK/chromium.log"
    mark "report-chromium" "$t"
    check "report: Chromium's screenshot written ($(stat -c %s "$out/report.png" 2>/dev/null || echo 0) bytes)" \
      python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.exit(0 if d[:8] == b"\x89PNG\r\n\x1a\n" and len(d) > 20000 else 1)' "$out/report.png"
    res=$(report_dom_check "$out/report.dom.html" "$nodes" 2>"$WORK/dom.txt")
    log "report: rendered DOM: $(cat "$WORK/dom.txt")"
    check "report: the page rendered by Chromium shows every section with the lab's data ($res)" [ "$res" = ok ]
  else
    log "report: SKIPPED the browser check: chromium is not installed and apt-get install chromium failed ($(tail -1 "$WORK/report-apt.log"))"
  fi

  t=$SECONDS
  if play playbooks/report.yml -e "report_dir=$dir-check" --check; then
    check "report: --check changed=0 (got $(changed_sum)) and still writes the report" \
      bash -c "[ $(changed_sum) -eq 0 ] && [ -s '$dir-check/report.html' ]"
  else fail "report: --check run failed"; grep -A20 'fatal:' "$WORK/last.log" | head -30; fi
  mark "report-check" "$t"

  # a real problem shows up: cp1 cordoned -> the next report warns about it (then uncordoned)
  kc cp1 cordon cp1 >/dev/null
  if play playbooks/report.yml -e "report_dir=$dir-cordon"; then
    check "report: a cordoned Node is a warning in the report" grep -q 'Node cp1 is cordoned' "$dir-cordon/report.json"
  else fail "report: run with cp1 cordoned failed"; fi
  kc cp1 uncordon cp1 >/dev/null
}
