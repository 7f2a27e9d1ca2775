# -*- coding: utf-8 -*-
"""Tables for the pure rotation rules: renewal plans, phase transitions, resume, bundles."""
from __future__ import annotations

import base64

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as R
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

NOW = "2026-11-21T12:00:00Z"


def _block(label, payload):
    body = base64.b64encode(payload).decode()
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, body, label)


OLD = _block("CERTIFICATE", b"old-ca-der")
NEW = _block("CERTIFICATE", b"new-ca-der")
ROOT = _block("CERTIFICATE", b"offline-root-der")
OLD_PUB = _block("PUBLIC KEY", b"old-sa")
NEW_PUB = _block("PUBLIC KEY", b"new-sa")


# --------------------------------------------------------------------------- renewal plan
ROWS = [
    {"host": "cp1", "path": "/etc/kubernetes/pki/apiserver.crt", "not_after": "2026-12-01T12:00:00Z"},   # 10 d
    {"host": "cp1", "path": "/etc/kubernetes/pki/etcd/peer.crt", "not_after": "2027-11-21T12:00:00Z"},     # 365 d
    {"host": "cp1", "path": "/etc/kubernetes/pki/ca.crt", "not_after": "2026-11-22T12:00:00Z", "is_ca": True},
    {"host": "cp1", "path": "/var/lib/kubelet/pki/kubelet-client-current.pem", "not_after": "2026-11-22T00:00:00Z"},
    {"host": "cp2", "path": "/etc/kubernetes/admin.conf", "not_after": "2026-11-20T12:00:00Z"},            # expired
    {"host": "cp2", "path": "/etc/kubernetes/pki/front-proxy-client.crt", "not_after": "2026-12-21T12:00:00Z"},  # 30 d
]


@pytest.mark.parametrize("threshold, renew_all, include_kubelet, renew, skip", [
    (30, False, False, ["admin.conf", "apiserver.crt", "front-proxy-client.crt"], ["ca.crt", "kubelet-client-current.pem"]),
    (29, False, False, ["admin.conf", "apiserver.crt"], ["ca.crt", "kubelet-client-current.pem"]),
    (0, False, False, ["admin.conf"], ["ca.crt", "kubelet-client-current.pem"]),
    (0, True, False, ["admin.conf", "apiserver.crt", "front-proxy-client.crt", "peer.crt"],
     ["ca.crt", "kubelet-client-current.pem"]),
    (1, False, True, ["admin.conf", "kubelet-client-current.pem"], ["ca.crt"]),
    (400, False, False, ["admin.conf", "apiserver.crt", "front-proxy-client.crt", "peer.crt"],
     ["ca.crt", "kubelet-client-current.pem"]),
])
def test_plan_renewal(threshold, renew_all, include_kubelet, renew, skip):
    plan = R.plan_renewal(ROWS, threshold, renew_all, now=NOW, include_kubelet=include_kubelet)
    assert [r["path"].rsplit("/", 1)[1] for r in plan["renew"]] == renew  # soonest first
    assert sorted(r["path"].rsplit("/", 1)[1] for r in plan["skip"]) == sorted(skip)
    assert len(plan["renew"]) + len(plan["keep"]) + len(plan["skip"]) == len(ROWS)


def test_plan_renewal_reasons_and_days():
    plan = R.plan_renewal(ROWS, 30, now=NOW)
    by = {r["path"].rsplit("/", 1)[1]: r for k in plan for r in plan[k]}
    assert by["admin.conf"]["reason"] == "expired" and by["admin.conf"]["days_left"] == -1
    assert by["apiserver.crt"]["days_left"] == 10
    assert by["front-proxy-client.crt"]["reason"] == "expires within 30 days"
    assert by["peer.crt"]["reason"] == "valid beyond 30 days"


@pytest.mark.parametrize("rows, threshold", [([{"path": "x"}], 30), (ROWS, -1), (ROWS, None)])
def test_plan_renewal_refuses_bad_input(rows, threshold):
    with pytest.raises(GroundworkError):
        R.plan_renewal(rows, threshold, now=NOW)


@pytest.mark.parametrize("value, expected", [
    ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z"),
    ("2026-01-02T04:04:05+01:00", "2026-01-02T03:04:05Z"),
    (0, "1970-01-01T00:00:00Z"),
    ("2026-01-02 03:04:05", "2026-01-02T03:04:05Z"),
])
def test_parse_time(value, expected):
    assert R.iso(value) == expected


@pytest.mark.parametrize("paths, expected", [
    (["/etc/kubernetes/pki/apiserver.crt"], ["kube-apiserver"]),
    (["/etc/kubernetes/pki/etcd/ca.crt"], ["etcd", "kube-apiserver"]),
    (["/etc/kubernetes/pki/etcd/peer.crt", "/etc/kubernetes/scheduler.conf"], ["etcd", "kube-scheduler"]),
    (["/etc/kubernetes/pki/ca.crt"], ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"]),
    (["/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/etcd/healthcheck-client.crt"], []),
    (["/etc/kubernetes/pki/front-proxy-ca.crt"], ["kube-apiserver", "kube-controller-manager"]),
    (["/etc/kubernetes/pki/sa.key"], ["kube-apiserver", "kube-controller-manager"]),
])
def test_restarts_for(paths, expected):
    assert R.restarts_for(paths) == expected


def test_format_report_aligns():
    lines = R.format_report([{"host": "cp1", "path": "/a", "not_after": "x", "days_left": 3, "reason": "r"}])
    assert lines[0].split() == ["host", "path", "not_after", "days_left", "reason"]
    assert lines[1].split() == ["cp1", "/a", "x", "3", "r"]


# --------------------------------------------------------------------------- bundles
@pytest.mark.parametrize("phase, old, new, expected", [
    ("none", [OLD], [NEW], [OLD]),
    ("trusted", [OLD], [NEW], [OLD, NEW]),
    ("1", [OLD], [NEW], [OLD, NEW]),
    ("reissued", [OLD], [NEW], [NEW, OLD]),
    ("retired", [OLD], [NEW], [NEW]),
    ("trusted", [OLD, ROOT], [NEW], [OLD, ROOT, NEW]),       # an intermediate's chain stays until retired
    ("reissued", [OLD, ROOT], [NEW, ROOT], [NEW, ROOT, OLD]),  # shared root listed once
    ("trusted", [OLD, NEW], [NEW], [OLD, NEW]),              # re-run: no duplicate
    ("trusted", [OLD_PUB], [NEW_PUB], [OLD_PUB, NEW_PUB]),     # sa.pub
    ("retired", [OLD_PUB], [NEW_PUB], [NEW_PUB]),
])
def test_desired_trust(phase, old, new, expected):
    assert R.desired_trust(phase, old, new) == "".join(expected)


def test_bundle_normalises_wrapping_and_dedupes():
    rewrapped = OLD.replace("\n", "\r\n").replace("-----\r\n", "-----\n  ")
    assert R.bundle(OLD + rewrapped, NEW) == OLD + NEW
    assert R.block_fingerprint(OLD) == R.block_fingerprint(rewrapped)
    assert R.pem_blocks(OLD + NEW + OLD_PUB, "PUBLIC KEY") == [OLD_PUB]


@pytest.mark.parametrize("phase, signer", [("none", "old"), ("trusted", "old"), ("reissued", "new"), ("retired", "new")])
def test_signer_in(phase, signer):
    assert R.signer_in(phase) == signer


# --------------------------------------------------------------------------- state machine
CAS = ["ca", "etcd-ca", "front-proxy-ca", "sa"]


def _doc(phase, rid="r1", in_progress=None, done=()):
    doc = R.new_state(rid, CAS, NOW)
    doc.update(phase=phase, in_progress=in_progress, done=list(done))
    return doc


@pytest.mark.parametrize("doc, target, rid, action, phase_after", [
    (None, "trusted", "r1", "start", "none"),
    (None, "1", "r1", "start", "none"),
    (_doc("none", in_progress="trusted"), "trusted", "r1", "resume", "none"),
    (_doc("trusted"), "trusted", "r1", "noop", "trusted"),
    (_doc("trusted"), "reissued", "r1", "start", "trusted"),
    (_doc("trusted", in_progress="reissued", done=["/a"]), "reissued", "r1", "resume", "trusted"),
    (_doc("reissued"), "trusted", "r1", "noop", "reissued"),    # never backwards
    (_doc("reissued"), "retired", "r1", "start", "reissued"),
    (_doc("retired"), "retired", "r1", "noop", "retired"),
    (_doc("retired", rid="r0"), "trusted", "r1", "start", "none"),  # a finished rotation; a new one starts
])
def test_transition(doc, target, rid, action, phase_after):
    got_action, got = R.transition(doc, target, rid, CAS, NOW)
    assert (got_action, got["phase"], got["rotation_id"]) == (action, phase_after, rid)


@pytest.mark.parametrize("doc, target, rid, cas, message", [
    (None, "reissued", "r1", CAS, "run phase trusted (1) first"),
    (None, "retired", "r1", CAS, "run phase trusted (1) first"),
    (_doc("trusted"), "retired", "r1", CAS, "run phase reissued (2) first"),
    (_doc("trusted", rid="r0"), "trusted", "r1", CAS, "rotation 'r0' is unfinished"),
    (_doc("trusted"), "reissued", "r1", ["ca"], "cannot change it"),
    (None, "trusted", "bad id!", CAS, "rotation_id must be"),
    (None, "trusted", "r1", ["kubelet-ca"], "unknown: kubelet-ca"),
    (None, "none", "r1", CAS, "not a phase to run"),
    (None, "4", "r1", CAS, "unknown CA rotation phase"),
])
def test_transition_refuses(doc, target, rid, cas, message):
    with pytest.raises(GroundworkError, match=message.replace("(", r"\(").replace(")", r"\)")):
        R.transition(doc, target, rid, cas, NOW)


def test_resume_after_interruption_continues_where_it_stopped():
    items = ["/pki/apiserver.crt", "/pki/etcd/peer.crt", "/pki/etcd/server.crt", "/etc/kubernetes/admin.conf"]
    doc = R.begin(_doc("trusted"), "reissued", NOW)
    doc = R.mark_done(doc, items[0])
    doc = R.mark_done(doc, items[1])
    doc = R.mark_done(doc, items[1])  # marking twice is harmless
    # ... the run dies here; the next run reads the document back from the node
    action, doc2 = R.transition(doc, "reissued", "r1", CAS)
    assert action == "resume"
    assert R.pending(doc2, items) == items[2:]
    for item in R.pending(doc2, items):
        doc2 = R.mark_done(doc2, item)
    done = R.finish(doc2, NOW)
    assert (done["phase"], done["in_progress"], done["done"], done["reissued_at"]) == ("reissued", None, [], NOW)
    assert [h["event"] for h in done["history"]] == ["begin", "done"]
    assert R.transition(done, "reissued", "r1", CAS)[0] == "noop"


@pytest.mark.parametrize("call", [lambda: R.mark_done(_doc("trusted"), "/x"), lambda: R.finish(_doc("trusted"))])
def test_markers_need_a_phase_in_progress(call):
    with pytest.raises(GroundworkError, match="in progress"):
        call()


@pytest.mark.parametrize("doc, now, grace, blocked", [
    (_doc("trusted"), NOW, 0, True),
    (dict(_doc("reissued"), reissued_at="2026-11-21T11:30:00Z"), NOW, 3600, True),
    (dict(_doc("reissued"), reissued_at="2026-11-21T10:30:00Z"), NOW, 3600, False),
    (dict(_doc("reissued"), reissued_at="2026-11-21T11:59:00Z"), NOW, 0, False),
])
def test_retire_blockers(doc, now, grace, blocked):
    assert bool(R.retire_blockers(doc, now, grace)) is blocked


def _fp(doc, fp):
    return dict(doc, fingerprints={"ca": fp})


@pytest.mark.parametrize("states, target, todo, error", [
    ({"cp1": None, "cp2": None, "cp3": None}, "trusted", ["cp1", "cp2", "cp3"], None),
    ({"cp1": _doc("trusted"), "cp2": None, "cp3": None}, "trusted", ["cp2", "cp3"], None),
    ({"cp1": _doc("trusted"), "cp2": None, "cp3": None}, "reissued", None, "cp2: phase none, needs trusted first"),
    ({"cp1": _doc("reissued"), "cp2": _doc("trusted"), "cp3": _doc("trusted")}, "reissued", ["cp2", "cp3"], None),
    ({"cp1": _doc("reissued"), "cp2": _doc("trusted", in_progress="reissued", done=["/a"]), "cp3": _doc("trusted")},
     "reissued", ["cp2", "cp3"], None),  # resume: the interrupted node is still to do
    ({"cp1": _doc("reissued"), "cp2": _doc("reissued"), "cp3": _doc("trusted")}, "retired", None,
     "cp3: phase trusted, needs reissued first"),
    ({"cp1": _doc("retired"), "cp2": _doc("retired"), "cp3": _doc("retired")}, "retired", [], None),
    ({"cp1": _doc("trusted", rid="r0"), "cp2": None}, "trusted", None, "unfinished rotation 'r0'"),
    ({"cp1": _doc("retired", rid="r0"), "cp2": None}, "trusted", ["cp1", "cp2"], None),
    ({"cp1": _fp(_doc("trusted"), "aa"), "cp2": _fp(_doc("trusted"), "bb")}, "reissued", None, "disagree on the new ca"),
])
def test_check_cluster_transition(states, target, todo, error):
    if error:
        with pytest.raises(GroundworkError, match=error):
            R.check_cluster_transition(states, target, "r1")
    else:
        assert R.check_cluster_transition(states, target, "r1") == todo


@pytest.mark.parametrize("requested, states, expected", [
    ("all", {"cp1": None}, ["trusted", "reissued", "retired"]),
    ("all", {"cp1": _doc("trusted"), "cp2": _doc("reissued")}, ["reissued", "retired"]),
    ("all", {"cp1": _doc("retired")}, []),
    ("2", {"cp1": _doc("retired")}, ["reissued"]),
    ("retired", {}, ["retired"]),
])
def test_phases_to_run(requested, states, expected):
    assert R.phases_to_run(requested, states, "r1") == expected


def test_cluster_summary_counts_phases():
    s = R.cluster_summary({"a": None, "b": _doc("trusted", in_progress="reissued", done=["/x"]), "c": _doc("retired")})
    assert (s["none"], s["trusted"], s["retired"]) == (["a"], ["b"], ["c"])
    assert s["in_progress"] == {"b": {"phase": "reissued", "done": 1}}
    assert s["rotation_ids"] == ["r1"]


@pytest.mark.parametrize("doc", [{"version": 9}, {"version": 1, "phase": "none"}, "x",
                                 dict(_doc("trusted"), phase="sideways")])
def test_check_state_refuses(doc):
    with pytest.raises(GroundworkError):
        R.check_state(doc)


def test_signer_blocker_reads_the_manifest_flag():
    from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as Rot
    bundle_flag = "    - --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt\n"
    assert Rot.signing_cert_flag(bundle_flag) == "/etc/kubernetes/pki/ca.crt"
    assert "ca-signer.crt + ca.key" in Rot.signer_blocker(bundle_flag, "/etc/kubernetes/pki/ca.crt")
    assert Rot.signer_blocker(bundle_flag.replace("ca.crt", "ca-signer.crt"), "/etc/kubernetes/pki/ca.crt") is None
    assert Rot.signer_blocker("", "/etc/kubernetes/pki/ca.crt") is None  # no manifest (worker, etcd member)
    assert Rot.restarts_for(["/etc/kubernetes/pki/ca-signer.crt"]) == ["kube-controller-manager"]


def test_joined_after_counts_nodes_without_state_retired_only_in_a_finished_rotation():
    done = R.new_state("r1", ["ca"], "2026-11-21T00:00:00Z")
    done.update(phase="retired", history=[{"event": "done", "phase": "retired"}])
    mid = dict(done, phase="reissued")
    out = R.joined_after({"cp1": done, "w2": None}, "r1")
    assert out["w2"]["phase"] == "retired" and out["w2"]["rotation_id"] == "r1" and out["w2"]["history"] == []
    assert out["cp1"] is done and done["history"]  # the input is not changed
    # an unfinished rotation, another id (a new rotation), or no state at all: nothing changes
    assert R.joined_after({"cp1": mid, "w2": None}, "r1")["w2"] is None
    assert R.joined_after({"cp1": done, "w2": None}, "r2")["w2"] is None
    assert R.joined_after({"cp1": None, "w2": None}, "r1") == {"cp1": None, "w2": None}
