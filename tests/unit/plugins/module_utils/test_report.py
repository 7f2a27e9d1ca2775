# -*- coding: utf-8 -*-
"""_report: the cluster report built and rendered from report_data's input for a one-node v1.33.3
cluster, and every warning it must raise, each from a copy of that data with one fault.
The input (tests/fixtures/report/constructed-single.json) is CONSTRUCTED in the shape report_data
produces (the lab recording, playbooks/report.yml -e report_keep_input=true on the 70-real single
cluster, writes report-input.json and is to replace it)."""
from __future__ import annotations

import datetime
import json
import os
import re
from html.parser import HTMLParser

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _report
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from conftest import FIXTURES  # tests/conftest.py

RECORDED = os.path.join(FIXTURES, "report", "constructed-single.json")
SECTIONS = ("warnings", "topology", "certificates", "backups", "artifacts")


def recorded():
    with open(RECORDED, encoding="utf-8") as f:
        return json.load(f)


class Page(HTMLParser):
    """What a reader sees: sections and their item counts, hosts, etcd members, chart bars, external references."""

    def __init__(self):
        super().__init__()
        self.sections, self.hosts, self.members, self.bars, self.external = {}, set(), set(), {}, []
        self.chart = None
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "section":
            self.sections[a["id"]] = int(a.get("data-items") or 0)
        if "host" in cls:
            self.hosts.add(a.get("data-host"))
        if "etcd-member" in cls:
            self.members.add(a.get("data-member"))
        if tag == "svg" and "cert-chart" in cls:
            self.chart = a["data-host"]
            self.bars[self.chart] = []
        if tag == "rect" and "bar" in cls and self.chart:
            self.bars[self.chart].append((a["data-name"], float(a["width"]), cls[1]))
        if tag in ("script", "link", "img", "iframe") or any(a.get(k) for k in ("src", "href")):
            self.external.append((tag, a))

    def handle_endtag(self, tag):
        if tag == "svg":
            self.chart = None

    def handle_data(self, data):
        self.text.append(data)


def page_of(model):
    p = Page()
    p.feed(_report.render_html(model))
    return p


def warnings_of(model, level=None):
    return [w["message"] for w in model["warnings"] if level in (None, w["level"])]


# --------------------------------------------------------------------------- the recorded cluster
def test_recorded_cluster_every_section_has_data():
    data = recorded()
    model = _report.build(data)
    t = model["topology"]
    assert [h["name"] for h in t["hosts"] if h["node"]] == ["cp1"]
    cp1 = t["hosts"][0]
    assert cp1["node"]["ready"] and cp1["kubelet"] == "v1.33.3" and cp1["kubeadm"] == "v1.33.3"
    assert cp1["os"].startswith("Debian") and cp1["containerd"]
    assert t["server_version"] == "v1.33.3" and t["api_endpoint"]
    assert [m["name"] for m in t["etcd"]["members"]] == ["cp1"] and t["etcd"]["leader"] == "cp1"
    assert model["certificates"]["count"] >= 10
    kubelet = next(f for f in model["artifacts"]["files"] if f["name"] == "kubelet")
    assert kubelet["hosts"]["cp1"][0]["state"] == "match"
    assert model["artifacts"]["images"] and all(i["digest"].startswith("sha256:") for i in model["artifacts"]["images"])
    # the single lab has no backup host: no backup, drill never -- and that is what the report says
    assert model["backups"]["summary"]["latest"] is None and model["backups"]["summary"]["drill"] is None
    assert model["counts"]["critical"] == 0
    assert any("no etcd backup was ever taken" in w for w in warnings_of(model, "warning"))
    assert "no DR drill recorded (never)" in warnings_of(model, "info")

    page = page_of(model)
    assert set(page.sections) == set(SECTIONS)
    assert all(page.sections[s] > 0 for s in SECTIONS), page.sections
    assert page.hosts == {"cp1"} and page.members == {"cp1"}
    assert len(page.bars["cp1"]) == model["certificates"]["count"]
    assert all(width >= 2 for _name, width, _cls in page.bars["cp1"])
    text = " ".join(page.text)
    assert "never" in text and "v1.33.3" in text


def test_page_is_self_contained():
    html = _report.render_html(_report.build(recorded()))
    page = Page()
    page.feed(html)
    assert page.external == []
    assert "url(" not in html and "@import" not in html
    # the only URL is the SVG namespace (an identifier, never fetched)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"} | set(
        re.findall(r"https://[0-9.]+:2379", html)) | set(re.findall(r"https://[0-9.a-z-]+:\d+", html))


def test_model_is_json_and_deterministic():
    a = _report.build(recorded())
    b = _report.build(recorded())
    assert json.loads(json.dumps(a)) == a == b
    assert _report.render_html(a) == _report.render_html(b)


# --------------------------------------------------------------------------- one fault each -> its warning
def _cert(data, name):
    return next(r for r in data["hosts"]["cp1"]["certificates"] if r.get("name") == name)


def _set_days(data, name, days):
    row = _cert(data, name)
    now = _report.parse_time(data["now"])
    row["not_after"] = (now + datetime.timedelta(days=days, hours=1)).isoformat()
    row["days_left"] = days


def _backup_status(age_hours, result="ok", verified=True):
    def make(data):
        now = _report.parse_time(data["now"])
        t = int((now - datetime.timedelta(hours=age_hours)).timestamp())
        status = {"result": result, "member": "cp1", "started": _report.iso(now),
                  "metadata": {"db_size": 2 * 1024 * 1024, "total_keys": 800, "revision": 1200,
                               "verified": {"appended_sha256": True, "status": True, "trial_restore": verified}},
                  "offnode": {"host": "mirror", "result": "ok"}, "last_local_ok": t, "last_offnode_ok": t}
        if result == "failed":
            status = {"result": "failed", "error": "no healthy etcd member: no backup possible", "started": _report.iso(now)}
        data["hosts"]["cp1"]["status_files"].append({"path": "/var/lib/groundwork/etcd-backup/last.json",
                                                     "content": json.dumps(status)})
    return make


def _drill(ok):
    def make(data):
        now = _report.parse_time(data["now"])
        doc = {"ok": ok, "finished": int(now.timestamp()) - 3600, "seconds": 12.5, "keys": 700}
        if not ok:
            doc["error"] = "the Secret does not decrypt"
        data["hosts"]["cp1"]["status_files"].append({"path": "/var/lib/groundwork/dr-drill.json", "content": json.dumps(doc)})
    return make


def _drill_prom(data):
    now = _report.parse_time(data["now"])
    data["hosts"]["cp1"]["status_files"].append({
        "path": "/var/lib/node_exporter/textfile_collector/groundwork_dr_drill.prom",
        "content": "# HELP x\ngroundwork_dr_drill_last_success_timestamp_seconds %d\ngroundwork_dr_drill_last_result 1\n"
                   % (int(now.timestamp()) - 7200)})


def _not_ready(data):
    data["api"]["nodes"][0]["ready"] = "False"


def _cordoned(data):
    data["api"]["nodes"][0]["unschedulable"] = True


def _kubelet_skew(data):
    data["api"]["server_version"] = "v1.34.0"


def _inventory_skew(data):
    data["inventory_version"] = "v1.33.2"


def _node_not_in_inventory(data):
    data["api"]["nodes"].append(dict(data["api"]["nodes"][0], name="w9"))


def _unreachable(data):
    data["hosts"]["cp1"]["reachable"] = False


def _wrong_kubelet(data):
    for i in data["hosts"]["cp1"]["installed"]:
        if i["dest"] == "/usr/local/bin/kubelet":
            i["sha256"] = "0" * 64


def _no_leader(data):
    st = json.loads(data["etcd"]["endpoint_status"])
    for e in st:
        e["Status"]["leader"] = 0
    data["etcd"]["endpoint_status"] = json.dumps(st)


def _etcd_down(data):
    data["etcd"] = {"error": "context deadline exceeded", "source": "etcdctl"}


def _api_down(data):
    data["api"] = {"error": "no Node list from cp1: connection refused"}


FAULTS = [
    # fault, level, words in the warning
    (lambda d: _set_days(d, "apiserver", 20), "warning", "apiserver (/etc/kubernetes/pki/apiserver.crt) on cp1 expires in 20 days"),
    (lambda d: _set_days(d, "apiserver", 3), "critical", "expires in 3 days"),
    (lambda d: _set_days(d, "admin.conf", -2), "critical", "admin.conf (/etc/kubernetes/admin.conf) on cp1 EXPIRED 2 days ago"),
    (_backup_status(72), "warning", "the newest verified backup is stale: 3.0 d old (by cp1), more than 48 h"),
    (_backup_status(2, verified=False), "critical", "is not fully verified"),
    (_backup_status(2, result="failed"), "critical", "last backup run on cp1: failed - no healthy etcd member"),
    (_drill(False), "critical", "the last DR drill"),
    (_not_ready, "critical", "Node cp1 is NotReady"),
    (_cordoned, "warning", "Node cp1 is cordoned"),
    (_kubelet_skew, "warning", "version skew: cp1's kubelet is v1.33.3, the API server runs v1.34.0"),
    (_inventory_skew, "warning", "the inventory's groundwork_kubernetes_version is v1.33.2, the API server runs v1.33.3"),
    (_node_not_in_inventory, "warning", "Node w9 is in the API but not in the inventory"),
    (_unreachable, "critical", "cp1 did not answer (unreachable)"),
    (_wrong_kubelet, "critical", "/usr/local/bin/kubelet on cp1 is not the manifest's kubelet v1.33.3"),
    (_no_leader, "critical", "etcd has no leader"),
    (_etcd_down, "critical", "etcd could not be read: context deadline exceeded"),
    (_api_down, "critical", "the API could not be read: no Node list from cp1: connection refused"),
]


@pytest.mark.parametrize("fault,level,words", FAULTS, ids=[f[2][:50] for f in FAULTS])
def test_each_fault_is_a_warning(fault, level, words):
    healthy = _report.build(recorded())
    assert not any(words in w for w in warnings_of(healthy))
    data = recorded()
    fault(data)
    model = _report.build(data)
    assert any(words in w for w in warnings_of(model, level)), model["warnings"]
    page = page_of(model)  # the page still renders every section
    assert set(page.sections) == set(SECTIONS)
    assert words.split(" (")[0][:30] in " ".join(page.text)


@pytest.mark.parametrize("maker,age_text,verified", [
    (_backup_status(5), "5.0 h", True),
    (_backup_status(0.5), "30 min", True),
])
def test_backup_shown_with_age_size_verified(maker, age_text, verified):
    data = recorded()
    maker(data)
    model = _report.build(data)
    s = model["backups"]["summary"]
    assert s["by"] == "cp1" and s["size"] == 2 * 1024 * 1024 and s["verified"] is verified
    text = " ".join(page_of(model).text)
    assert age_text + " old" in text and "2.0 MiB" in text


@pytest.mark.parametrize("maker,result", [(_drill(True), "ok"), (_drill_prom, "ok"), (_drill(False), "failed")])
def test_drill_read_from_json_or_metric(maker, result):
    data = recorded()
    maker(data)
    drill = _report.build(data)["backups"]["summary"]["drill"]
    assert drill["result"] == result and drill["time"].startswith(data["now"][:4])
    assert "no DR drill recorded" not in " ".join(warnings_of(_report.build(data)))


def test_chart_bar_colours_follow_expiry():
    data = recorded()
    _set_days(data, "apiserver", 20)
    _set_days(data, "admin.conf", 3)
    bars = {name: cls for name, _w, cls in page_of(_report.build(data)).bars["cp1"]}
    assert bars["apiserver"] == "warning" and bars["admin.conf"] == "critical" and bars["ca"] == "ca"


@pytest.mark.parametrize("options,msg", [
    ({"cert_warn_days": "soon"}, "report option cert_warn_days must be a whole number, got 'soon': set report_cert_warn_days"),
    ({"backup_max_age_hours": None}, None),
])
def test_options(options, msg):
    if msg:
        with pytest.raises(GroundworkError, match=re.escape(msg)):
            _report.build(recorded(), options)
    else:
        assert _report.build(recorded(), options)["options"]["backup_max_age_hours"] == 48


def test_thresholds_are_options():
    data = recorded()
    _set_days(data, "apiserver", 20)
    assert not any("apiserver" in w for w in warnings_of(_report.build(data, {"cert_warn_days": 10})))


@pytest.mark.parametrize("text,expected", [
    ("Kubernetes v1.33.3", "v1.33.3"), ("v1.33.3\n", "v1.33.3"),
    ("containerd github.com/containerd/containerd v1.6.20 2806fc1", "v1.6.20"), ("", None), ("no version", None),
])
def test_version_of(text, expected):
    assert _report.version_of(text) == expected
