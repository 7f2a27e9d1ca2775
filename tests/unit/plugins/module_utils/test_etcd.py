# -*- coding: utf-8 -*-
"""Tables over the recorded etcdctl 3.4/3.5 and etcdutl 3.5 outputs (fixtures/etcd) and the argv
of every operation. No etcd needed: a recorder stands in for run_command."""
from __future__ import annotations

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd as E
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from conftest import FIXTURES  # tests/conftest.py

FX = os.path.join(FIXTURES, "etcd")


def fx(rel):
    with open(os.path.join(FX, rel), encoding="utf-8") as f:
        return f.read()


STACKED = "kubeadm-stacked-3.4.23"
STANDALONE = "standalone-3.5.30"


# ---------------------------------------------------------------- member list
@pytest.mark.parametrize("rel,cluster_hex,ids_hex,names,learners", [
    (STACKED + "/etcdctl-3.4/member-list-json.stdout", "bb85311b41e69572",
     ["f5abe2ad387df315", "d8c3f62f89629b9a"], ["cp1", "cp2"], []),
    (STACKED + "/etcdctl-3.5/member-list-json.stdout", "bb85311b41e69572",
     ["f5abe2ad387df315", "d8c3f62f89629b9a"], ["cp1", "cp2"], []),
    (STACKED + "/etcdctl-3.4/member-list-json-after-cp2-reset.stdout", "bb85311b41e69572",
     ["f5abe2ad387df315"], ["cp1"], []),
    (STANDALONE + "/etcdctl-3.5/member-list-json.stdout", "3af7124936d056ba",
     ["e2dd886f8acb3d5b", "358a783420a86dca", "5b31e88df3f9452b"], ["cp1", "cp2", "cp3"], []),
    (STANDALONE + "/etcdctl-3.4/member-list-json.stdout", "3af7124936d056ba",
     ["e2dd886f8acb3d5b", "358a783420a86dca", "5b31e88df3f9452b"], ["cp1", "cp2", "cp3"], []),
    (STANDALONE + "/etcdctl-3.5/member-list-one-member-down-json.stdout", "3af7124936d056ba",
     ["e2dd886f8acb3d5b", "358a783420a86dca", "5b31e88df3f9452b"], ["cp1", "cp2", "cp3"], []),
    (STANDALONE + "/etcdctl-3.5/member-list-with-unstarted-learner-json.stdout", "3af7124936d056ba",
     ["e2dd886f8acb3d5b", "358a783420a86dca", "5b31e88df3f9452b", "f056f6fcb99e2b96"],
     ["cp1", "cp2", "cp3", ""], ["f056f6fcb99e2b96"]),
])
def test_member_list_json(rel, cluster_hex, ids_hex, names, learners):
    got = E.parse_member_list(fx(rel))
    assert got["cluster_id_hex"] == cluster_hex
    assert int(cluster_hex, 16) == got["cluster_id"]
    assert [m["id_hex"] for m in got["members"]] == ids_hex
    assert [m["name"] for m in got["members"]] == names
    assert [m["id_hex"] for m in got["members"] if m["is_learner"]] == learners
    for m in got["members"]:
        assert isinstance(m["id"], int) and "%x" % m["id"] == m["id_hex"]
        assert m["started"] == (m["name"] != "")


@pytest.mark.parametrize("json_rel,simple_rel", [
    (STACKED + "/etcdctl-3.4/member-list-json.stdout", STACKED + "/etcdctl-3.4/member-list-simple.stdout"),
    (STACKED + "/etcdctl-3.5/member-list-json.stdout", STACKED + "/etcdctl-3.5/member-list-simple.stdout"),
    (STANDALONE + "/etcdctl-3.5/member-list-json.stdout", STANDALONE + "/etcdctl-3.5/member-list-simple.stdout"),
])
def test_ids_are_exact_64_bit(json_rel, simple_rel):
    """The hex IDs we compute equal the ones etcdctl prints itself; floats would lose digits."""
    simple = sorted(line.split(",")[0] for line in fx(simple_rel).strip().splitlines())
    ours = sorted(m["id_hex"] for m in E.parse_member_list(fx(json_rel))["members"])
    assert ours == simple
    big = [m["id"] for m in E.parse_member_list(fx(json_rel))["members"] if m["id"] > 2 ** 53]
    assert big, "fixture should contain IDs above 2^53"
    assert all(int(float(i)) != i or i % 2 ** 11 == 0 for i in big)  # float would round them


@pytest.mark.parametrize("rel", [
    STANDALONE + "/etcdctl-3.5/member-list-json-hex.stdout",
    STANDALONE + "/etcdctl-3.5/member-list-with-unstarted-learner-json-hex.stdout",
])
def test_member_list_hex_spelling(rel):
    dec = E.parse_member_list(fx(rel.replace("-hex", "")))
    got = E.parse_member_list(fx(rel), hex_keys=True)
    assert got["cluster_id"] == dec["cluster_id"]
    assert [(m["id"], m["client_urls"]) for m in got["members"]] == [(m["id"], m["client_urls"]) for m in
                                                                     dec["members"]]


# ---------------------------------------------------------------- endpoint status / health
@pytest.mark.parametrize("rel,n,leader_hex,version", [
    (STACKED + "/etcdctl-3.4/endpoint-status-json.stdout", 2, "f5abe2ad387df315", "3.4.23"),
    (STACKED + "/etcdctl-3.4/endpoint-status-cluster-json.stdout", 2, "f5abe2ad387df315", "3.4.23"),
    (STACKED + "/etcdctl-3.5/endpoint-status-json.stdout", 2, "f5abe2ad387df315", "3.4.23"),
    (STACKED + "/etcdctl-3.5/endpoint-status-cluster-json.stdout", 2, "f5abe2ad387df315", "3.4.23"),
    (STANDALONE + "/etcdctl-3.5/endpoint-status-json.stdout", 3, "5b31e88df3f9452b", "3.5.30"),
    (STANDALONE + "/etcdctl-3.4/endpoint-status-json.stdout", 3, "5b31e88df3f9452b", "3.5.30"),
    (STANDALONE + "/etcdctl-3.5/endpoint-status-cluster-json.stdout", 3, "5b31e88df3f9452b", "3.5.30"),
    (STANDALONE + "/etcdctl-3.5/endpoint-status-one-member-down-json.stdout", 2, "e2dd886f8acb3d5b", "3.5.30"),
])
def test_endpoint_status(rel, n, leader_hex, version):
    got = E.parse_endpoint_status(fx(rel))
    assert len(got) == n
    assert {s["leader_hex"] for s in got} == {leader_hex}
    assert sum(s["is_leader"] for s in got) == 1
    assert {s["version"] for s in got} == {version}
    assert all(s["member_id_hex"] == "%x" % s["member_id"] for s in got)


@pytest.mark.parametrize("rel,healthy,unhealthy", [
    (STACKED + "/etcdctl-3.4/endpoint-health-json.stdout", 2, []),
    (STACKED + "/etcdctl-3.5/endpoint-health-json.stdout", 2, []),
    (STACKED + "/etcdctl-3.4/endpoint-health-one-down-json.stdout", 2, ["https://10.250.0.9:2379"]),
    (STACKED + "/etcdctl-3.5/endpoint-health-one-down-json.stdout", 2, ["https://10.250.0.9:2379"]),
    (STANDALONE + "/etcdctl-3.5/endpoint-health-json.stdout", 3, []),
    (STANDALONE + "/etcdctl-3.5/endpoint-health-cluster-json.stdout", 3, []),
    (STANDALONE + "/etcdctl-3.4/endpoint-health-json.stdout", 3, []),
    (STANDALONE + "/etcdctl-3.5/endpoint-health-one-member-down-json.stdout", 2, ["https://127.0.0.1:22379"]),
])
def test_endpoint_health(rel, healthy, unhealthy):
    got = E.parse_endpoint_health(fx(rel))
    assert sum(h["health"] for h in got) == healthy
    assert [h["endpoint"] for h in got if not h["health"]] == unhealthy
    assert [h["endpoint"] for h in got] == sorted(h["endpoint"] for h in got)


# ---------------------------------------------------------------- snapshot status / versions / member add
@pytest.mark.parametrize("rel,revision,keys", [
    ("snapshot-files/etcdctl-3.4/snapshot-status-json.stdout", 695, 707),
    ("snapshot-files/etcdctl-3.5/snapshot-status-json.stdout", 695, 707),
    ("snapshot-files/etcdutl-3.5/snapshot-status-json.stdout", 695, 707),
    ("snapshot-files/etcdctl-3.4/snapshot-status-truncated-16-bytes.stdout", 695, 707),
    ("snapshot-files/etcdutl-3.5/snapshot-status-truncated-16-bytes.stdout", 695, 707),
    (STANDALONE + "/etcdctl-3.4/snapshot-status-json.stdout", 2, 10),
    (STANDALONE + "/etcdutl-3.5/snapshot-status-json.stdout", None, None),
])
def test_snapshot_status(rel, revision, keys):
    got = E.parse_snapshot_status(fx(rel))
    if revision is not None:
        assert (got["revision"], got["total_keys"]) == (revision, keys)
    assert got["hash_hex"] == "%08x" % got["hash"]


def test_snapshot_status_simple_matches_json_hash():
    got = E.parse_snapshot_status(fx("snapshot-files/etcdutl-3.5/snapshot-status-json.stdout"))
    assert fx("snapshot-files/etcdutl-3.5/snapshot-status-simple.stdout").startswith(got["hash_hex"])


@pytest.mark.parametrize("rel,version,api", [
    (STACKED + "/etcdctl-3.4/version.stdout", "3.4.23", "3.4"),
    (STACKED + "/etcdctl-3.5/version.stdout", "3.5.30", "3.5"),
    ("snapshot-files/etcdutl-3.5/version.stdout", "3.5.30", "3.5"),
])
def test_versions(rel, version, api):
    got = E.parse_version(fx(rel))
    assert (got["version"], got["api"]) == (version, api)


def test_member_add_output():
    got = E.parse_member_add(fx(STANDALONE + "/etcdctl-3.5/member-add-learner.stdout"))
    assert got["id_hex"] == "f056f6fcb99e2b96" and got["cluster_id_hex"] == "3af7124936d056ba"
    assert got["env"]["ETCD_INITIAL_CLUSTER_STATE"] == "existing"
    assert "cp4=https://127.0.0.1:32380" in got["env"]["ETCD_INITIAL_CLUSTER"]


@pytest.mark.parametrize("rel,panic", [
    ("snapshot-files/etcdctl-3.4/snapshot-status-truncated-half.stderr", True),
    ("snapshot-files/etcdctl-3.5/snapshot-status-truncated-half.stderr", True),
    ("snapshot-files/etcdutl-3.5/snapshot-status-truncated-half.stderr", True),
    ("snapshot-files/etcdutl-3.5/snapshot-status-missing-file.stderr", False),
    ("snapshot-files/etcdctl-3.5/snapshot-status-json.stderr", False),
])
def test_panic_detection(rel, panic):
    assert E.is_panic(fx(rel)) == panic


# ---------------------------------------------------------------- argv of every operation
class Recorder:
    """Stands in for run_command: records argv+env, answers from a table of (match, rc, out, err)."""

    def __init__(self, answers=()):
        self.calls = []
        self.answers = list(answers)

    def __call__(self, argv, environ_update=None, data=None):
        self.calls.append((argv, dict(environ_update or {})))
        joined = " ".join(argv)
        for match, rc, out, err in self.answers:
            if match in joined:
                return rc, out, err
        return 0, "", ""


TLS = ["--endpoints=https://127.0.0.1:2379,https://127.0.0.1:12379", "--cacert=/p/ca.crt", "--cert=/p/c.crt",
       "--key=/p/c.key", "--dial-timeout=5s", "--command-timeout=15s"]


def etcd(rec, etcdutl=""):
    return E.Etcd(["https://127.0.0.1:2379", "https://127.0.0.1:12379"], "/p/ca.crt", "/p/c.crt", "/p/c.key",
                  etcdctl="/bin/etcdctl", etcdutl=etcdutl, run_command=rec)


@pytest.mark.parametrize("call,argv", [
    (lambda e: e.member_list(), ["/bin/etcdctl"] + TLS + ["member", "list", "-w", "json"]),
    (lambda e: e.endpoint_status(), ["/bin/etcdctl"] + TLS + ["endpoint", "status", "-w", "json"]),
    (lambda e: e.endpoint_health(), ["/bin/etcdctl"] + TLS + ["endpoint", "health", "-w", "json"]),
    (lambda e: e.member_add_learner("e4", ["https://10.0.0.4:2380"]),
     ["/bin/etcdctl"] + TLS + ["member", "add", "e4", "--peer-urls=https://10.0.0.4:2380", "--learner"]),
    (lambda e: e.member_promote(17318300982406163350),
     ["/bin/etcdctl"] + TLS + ["member", "promote", "f056f6fcb99e2b96"]),
    (lambda e: e.member_remove("0358a783420a86dc"), ["/bin/etcdctl"] + TLS + ["member", "remove", "358a783420a86dc"]),
    (lambda e: e.snapshot_save("https://127.0.0.1:12379", "/b/s.db"),
     ["/bin/etcdctl", "--endpoints=https://127.0.0.1:12379", "--cacert=/p/ca.crt", "--cert=/p/c.crt",
      "--key=/p/c.key", "--dial-timeout=5s", "--command-timeout=600s", "snapshot", "save", "/b/s.db"]),
    (lambda e: e.snapshot_status("/b/s.db"), ["/bin/etcdctl", "snapshot", "status", "/b/s.db", "-w", "json"]),
])
def test_argv_etcdctl(call, argv):
    answers = [("member list", 0, fx(STANDALONE + "/etcdctl-3.5/member-list-json.stdout"), ""),
               ("endpoint status", 0, fx(STANDALONE + "/etcdctl-3.5/endpoint-status-json.stdout"), ""),
               ("endpoint health", 0, fx(STANDALONE + "/etcdctl-3.5/endpoint-health-json.stdout"), ""),
               ("member add", 0, fx(STANDALONE + "/etcdctl-3.5/member-add-learner.stdout"), ""),
               ("snapshot status", 0, fx("snapshot-files/etcdctl-3.4/snapshot-status-json.stdout"), "")]
    rec = Recorder(answers)
    call(etcd(rec))
    assert rec.calls[0][0] == argv
    assert rec.calls[0][1]["ETCDCTL_API"] == "3" and rec.calls[0][1]["LC_ALL"] == "C"


@pytest.mark.parametrize("etcdutl,help_rel,tool,bump", [
    ("", "snapshot-files/etcdctl-3.4/snapshot-restore-help.stdout", "/bin/etcdctl", False),
    ("/bin/etcdutl", "snapshot-files/etcdutl-3.5/snapshot-restore-help.stdout", "/bin/etcdutl", True),
])
def test_restore_argv(etcdutl, help_rel, tool, bump):
    rec = Recorder([("--help", 0, fx(help_rel), "")])
    e = etcd(rec, etcdutl)
    e.restore_into("/b/s.db", "/var/lib/etcd.groundwork-restoring", "e1",
                   "e1=https://10.0.0.1:2380,e2=https://10.0.0.2:2380", ["https://10.0.0.1:2380"], "tok",
                   bump_revision=1000000000)
    want = [tool, "snapshot", "restore", "/b/s.db", "--data-dir=/var/lib/etcd.groundwork-restoring", "--name=e1",
            "--initial-cluster=e1=https://10.0.0.1:2380,e2=https://10.0.0.2:2380",
            "--initial-advertise-peer-urls=https://10.0.0.1:2380", "--initial-cluster-token=tok"]
    if bump:
        want += ["--bump-revision=1000000000", "--mark-compacted"]
    assert rec.calls[-1][0] == want


def test_status_panic_is_corrupt():
    rec = Recorder([("snapshot status", 2, "", fx("snapshot-files/etcdctl-3.4/snapshot-status-truncated-half.stderr"))])
    with pytest.raises(GroundworkError, match="corrupt or unreadable: panic: freepages"):
        etcd(rec).snapshot_status("/b/half.db")


def test_health_rc1_still_parsed():
    rec = Recorder([("endpoint health", 1, fx(STACKED + "/etcdctl-3.4/endpoint-health-one-down-json.stdout"),
                     fx(STACKED + "/etcdctl-3.4/endpoint-health-one-down-json.stderr"))])
    got = etcd(rec).endpoint_health()
    assert [h["health"] for h in got] == [True, True, False]


def test_health_nothing_printed_raises():
    rec = Recorder([("endpoint health", 1, "", "Error: context deadline exceeded")])
    with pytest.raises(ToolError):
        etcd(rec).endpoint_health()


@pytest.mark.parametrize("errs,result", [
    (["can only promote a learner member which is in sync with leader"] * 2 + [None], True),
    (["etcdserver: can only promote a learner member which is not a learner"], False),
])
def test_promote_retries_bounded(errs, result):
    seq = iter(errs)

    def run(argv, environ_update=None, data=None):
        e = next(seq)
        return (0, "promoted", "") if e is None else (1, "", "Error: etcdserver: " + e)

    t = [0.0]
    got = etcd(run).promote_until_synced(1, timeout=10, interval=1, sleep=lambda s: t.__setitem__(0, t[0] + s),
                                         clock=lambda: t[0])
    assert got is result


def test_promote_times_out():
    def run(argv, environ_update=None, data=None):
        return 1, "", fx(STANDALONE + "/etcdctl-3.5/member-promote-unstarted-learner.stderr")

    t = [0.0]
    with pytest.raises(GroundworkError, match="did not catch up"):
        etcd(run).promote_until_synced(1, timeout=5, interval=1, sleep=lambda s: t.__setitem__(0, t[0] + s),
                                       clock=lambda: t[0])


# ---------------------------------------------------------------- membership plans
MEMBERS = E.parse_member_list(fx(STANDALONE + "/etcdctl-3.5/member-list-with-unstarted-learner-json.stdout"))["members"]


@pytest.mark.parametrize("state,name,peers,mid,promote,want", [
    ("present", "cp1", ["https://127.0.0.1:2380"], None, True, "none"),
    ("present", "cp4", ["https://127.0.0.1:32380"], None, True, "promote"),   # the unstarted learner, by peer URL
    ("present", "cp4", ["https://127.0.0.1:32380"], None, False, "none"),
    ("present", "cp5", ["https://127.0.0.1:42380"], None, False, "add"),
    ("present", "cp5", ["https://127.0.0.1:42380"], None, True, "add+promote"),
    ("absent", "cp3", [], None, True, "remove"),
    ("absent", None, [], "358a783420a86dca", True, "remove"),
    ("absent", "gone", [], None, True, "none"),
])
def test_plan_member(state, name, peers, mid, promote, want):
    assert E.plan_member(MEMBERS, state, name, peers, mid, promote)[0] == want


@pytest.mark.parametrize("state,name,peers,msg", [
    ("present", "cp1", ["https://127.0.0.1:9"], "changing peer URLs is not supported"),
    ("present", "cp2", ["https://127.0.0.1:2380"], "belong to member cp1"),
])
def test_plan_member_refuses(state, name, peers, msg):
    with pytest.raises(GroundworkError, match=msg):
        E.plan_member(MEMBERS, state, name, peers)


def test_refuse_removing_last_voter():
    one = E.parse_member_list(fx(STACKED + "/etcdctl-3.4/member-list-json-after-cp2-reset.stdout"))["members"]
    with pytest.raises(GroundworkError, match="last voting member"):
        E.plan_member(one, "absent", "cp1")


@pytest.mark.parametrize("count,single,ok", [(3, False, True), (5, False, True), (7, False, True), (1, True, True),
                                             (1, False, False), (2, False, False), (4, False, False),
                                             (6, True, False), (9, False, False), (0, False, False)])
def test_member_count(count, single, ok):
    if ok:
        E.check_member_count(count, single)
    else:
        with pytest.raises(GroundworkError, match="3, 5 or 7"):
            E.check_member_count(count, single)


def test_initial_cluster_string():
    assert E.initial_cluster_string({"b": "https://b:2380", "a": "https://a:2380"}) == \
        "a=https://a:2380,b=https://b:2380"
    with pytest.raises(GroundworkError, match="duplicate"):
        E.initial_cluster_string([{"name": "a", "peer_url": "x"}, {"name": "a", "peer_url": "y"}])


# ---------------------------------------------------------------- files: appended hash, prune, data dirs
def snapshot_like(body):
    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize("content,ok,reason", [
    (snapshot_like(b"\x01" * 8192), True, "ok"),
    (snapshot_like(b"\x01" * 8192)[:-16], False, "truncated"),
    (snapshot_like(b"\x01" * 8192)[:4096], False, "truncated"),
    (b"\x01" * 8192 + b"\x00" * 32, False, "corrupt"),
    (b"", False, "truncated"),
])
def test_appended_hash(tmp_path, content, ok, reason):
    p = tmp_path / "s.db"
    p.write_bytes(content)
    got = E.file_hashes(str(p), chunk=1000)  # small chunks: the tail split across reads
    assert got["appended_hash_ok"] is ok and reason in got["appended_hash_reason"]
    assert got["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize("n,keep,pruned", [(0, 3, 0), (3, 3, 0), (5, 3, 2), (5, 1, 4)])
def test_prune(tmp_path, n, keep, pruned):
    base = datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc)
    names = []
    for i in range(n):
        p = tmp_path / E.snapshot_name(now=base + datetime.timedelta(hours=i))
        p.write_bytes(b"x")
        (tmp_path / (p.name + ".json")).write_text("{}")
        names.append(p.name)
    (tmp_path / "unrelated.db").write_bytes(b"x")
    victims = E.prune(str(tmp_path), keep)
    assert [os.path.basename(v) for v in victims] == names[:pruned]
    left = sorted(f for f in os.listdir(tmp_path) if f.startswith("etcd-snapshot-") and f.endswith(".db"))
    assert left == names[pruned:]
    assert (tmp_path / "unrelated.db").exists()
    assert not any((tmp_path / (v + ".json")).exists() for v in names[:pruned])


def test_prune_refuses_zero():
    with pytest.raises(GroundworkError):
        E.plan_prune(["a"], 0)


def test_snapshot_plan_max_age(tmp_path):
    now = datetime.datetime(2026, 11, 21, 12, tzinfo=datetime.timezone.utc)
    p = tmp_path / E.snapshot_name(now=now - datetime.timedelta(minutes=10))
    p.write_bytes(b"x")
    (tmp_path / (p.name + ".json")).write_text(json.dumps({"created": (now - datetime.timedelta(minutes=10))
                                                           .strftime("%Y-%m-%dT%H:%M:%SZ")}))
    assert not E.snapshot_plan(str(tmp_path), max_age=3600, now=now)["take"]
    assert E.snapshot_plan(str(tmp_path), max_age=60, now=now)["take"]
    assert E.snapshot_plan(str(tmp_path), max_age=0, now=now)["take"]


def _mk(path, files):
    for f in files:
        full = os.path.join(path, f)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fh:
            fh.write("x")


@pytest.mark.parametrize("files,kind", [
    (None, "absent"), ([], "empty"), (["member/snap/db", "member/wal/0.wal"], "member"),
    (["member/snap/db"], "half-restored"), (["random"], "other"),
])
def test_classify_data_dir(tmp_path, files, kind):
    d = str(tmp_path / "etcd")
    if files is not None:
        os.makedirs(d)
        _mk(d, files)
    assert E.classify_data_dir(d) == kind


def test_restore_moves_aside_never_deletes(tmp_path):
    d = str(tmp_path / "etcd")
    _mk(d, ["member/snap/db", "member/wal/0.wal"])
    _mk(d + ".groundwork-restoring", ["member/snap/db"])

    class FakeEtcd:
        def restore_into(self, snap, data_dir, *a):
            _mk(data_dir, ["member/snap/db", "member/wal/0.wal"])
            return ["etcdutl", "snapshot", "restore", snap]

    done = E.restore_member(FakeEtcd(), "/s.db", d, "e1", "e1=x", ["x"], "t", marker={"snapshot_sha256": "a"})
    kinds = sorted(m["kind"] for m in done["moved"])
    assert kinds == ["half-restored", "member"]
    for m in done["moved"]:
        assert os.path.exists(os.path.join(m["to"], "member", "snap", "db"))
    assert E.classify_data_dir(d) == "member"
    assert not E.restore_wanted(d, {"snapshot_sha256": "a"})
    assert E.restore_wanted(d, {"snapshot_sha256": "b"})


def test_failed_restore_leaves_no_half_dir(tmp_path):
    d = str(tmp_path / "etcd")
    _mk(d, ["member/snap/db", "member/wal/0.wal"])

    class Failing:
        def restore_into(self, snap, data_dir, *a):
            _mk(data_dir, ["member/snap/db"])  # what etcd leaves behind (fixtures: failed-restore-leftovers)
            raise ToolError("Error: snapshot missing hash but --skip-hash-check=false", rc=1,
                            stderr=fx("snapshot-files/etcdutl-3.5/snapshot-restore-truncated-16-bytes.stderr"))

    with pytest.raises(ToolError):
        E.restore_member(Failing(), "/s.db", d, "e1", "e1=x", ["x"], "t")
    assert not os.path.exists(d + ".groundwork-restoring")
    aside = sorted(os.listdir(tmp_path))
    assert any("groundwork-old" in a for a in aside) and any("groundwork-failed-restore" in a for a in aside)


def test_check_snapshot_foreign_and_missing(tmp_path):
    p = tmp_path / "s.db"
    p.write_bytes(snapshot_like(b"\x01" * 4096))
    (tmp_path / "s.db.json").write_text(json.dumps({"cluster_id_hex": "3af7124936d056ba"}))
    with pytest.raises(GroundworkError, match="from cluster 3af7124936d056ba, not this cluster"):
        E.check_snapshot(None, str(p), expected_cluster_ids=["bb85311b41e69572"])
    with pytest.raises(GroundworkError, match="missing backup"):
        E.check_snapshot(None, str(tmp_path / "nope.db"))
    with pytest.raises(GroundworkError, match="no snapshot"):
        E.check_snapshot(None, dest_dir=str(tmp_path / "empty"))


class _CountingEtcd(E.Etcd):
    """Status and trial restore answered without etcdutl; counts the calls."""

    def __init__(self, status_error=None, trial_error=None):
        super().__init__(etcdctl="etcdctl")
        self.calls = []
        self.status_error, self.trial_error = status_error, trial_error

    def snapshot_status(self, path):
        self.calls.append("status")
        if self.status_error:
            raise self.status_error
        return {"hash": 1, "hash_hex": "1", "revision": 7, "total_keys": 3, "total_size": 4096}

    def restore_into(self, snapshot, data_dir, *a, **k):
        self.calls.append("trial:" + os.path.dirname(os.path.dirname(data_dir)))
        if self.trial_error:
            raise self.trial_error
        return []


@pytest.mark.parametrize("checks,meta,calls,status", [
    ("full", {"verified": {"status": True}}, ["status", "trial"], True),
    # a copy of a snapshot verified in full at save time: one read, no status, no trial restore
    ("hash", {"verified": {"status": True}, "revision": 9, "total_keys": 5}, [], "recorded"),
    # nothing recorded to compare with: the full checks run
    ("hash", None, ["status", "trial"], True),
])
def test_check_snapshot_checks(tmp_path, checks, meta, calls, status):
    body = snapshot_like(b"\x02" * 8192)
    p = tmp_path / "s.db"
    p.write_bytes(body)
    if meta is not None:
        meta["sha256"] = hashlib.sha256(body).hexdigest()
        (tmp_path / "s.db.json").write_text(json.dumps(meta))
    etcd = _CountingEtcd()
    got = E.check_snapshot(etcd, str(p), checks=checks)
    assert sorted(c.split(":")[0] for c in etcd.calls) == sorted(calls)
    assert got["verified"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert str(got["verified"]["status"]).startswith(str(status)) or got["verified"]["status"] is status
    if checks == "hash" and meta:
        assert got["verified"]["revision"] == 9 and got["verified"]["trial_restore"] is False


def test_check_snapshot_hash_refuses_other_bytes(tmp_path):
    body = snapshot_like(b"\x02" * 8192)
    p = tmp_path / "s.db"
    p.write_bytes(body)
    (tmp_path / "s.db.json").write_text(json.dumps({"sha256": "0" * 64, "verified": {"status": True}}))
    with pytest.raises(GroundworkError, match="differs from the recorded"):
        E.check_snapshot(_CountingEtcd(), str(p), checks="hash")


@pytest.mark.parametrize("content,status_error,trial_error,match", [
    # the appended hash is reported before status' and the trial restore's failures (checks run together)
    (snapshot_like(b"\x03" * 8192)[:-16], GroundworkError("snapshot x is corrupt or unreadable: panic"),
     ToolError("restore failed", rc=1, stderr="Error: snapshot missing hash"), "truncated"),
    (snapshot_like(b"\x03" * 8192), GroundworkError("corrupt or unreadable: panic"),
     ToolError("restore failed", rc=1, stderr="Error: x"), "corrupt or unreadable"),
    (snapshot_like(b"\x03" * 8192), None, ToolError("restore failed", rc=1, stderr="Error: bad page"),
     "failed a trial restore: Error: bad page"),
])
def test_verify_snapshot_reports_in_order(tmp_path, content, status_error, trial_error, match):
    p = tmp_path / "s.db"
    p.write_bytes(content)
    etcd = _CountingEtcd(status_error, trial_error)
    with pytest.raises(GroundworkError, match=match):
        etcd.verify_snapshot(str(p), workdir=str(tmp_path))
    assert sorted(c.split(":")[0] for c in etcd.calls) == ["status", "trial"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".groundwork-verify-")]


@pytest.mark.parametrize("free,size,want", [
    (10 << 30, 137 << 20, "shm"),   # room on tmpfs: the trial restore goes there (no fsync to disk)
    (200 << 20, 137 << 20, "work"),  # not two copies + margin: the snapshot's own dir, as before
])
def test_scratch_parent(tmp_path, monkeypatch, free, size, want):
    shm = tmp_path / "shm"
    shm.mkdir()

    class St:
        f_bavail, f_frsize = free // 4096, 4096

    monkeypatch.setattr(E.os, "statvfs", lambda p: St())
    got = E.scratch_parent(size, workdir=str(tmp_path / "work"), shm=str(shm))
    assert got == str(tmp_path / want)


# ------------------------------------------------------------------ refused endpoints, without etcdctl
def test_tcp_refused_real_sockets():
    """A port where nothing listens is refused at once; a listening one is not; other failures are not judged."""
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    open_port = srv.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        assert E.tcp_refused("https://127.0.0.1:%d" % open_port) is None
        reason = E.tcp_refused("https://127.0.0.1:%d" % closed_port)
        assert reason and "refused" in reason and str(closed_port) in reason
        assert E.tcp_refused("https://no-such-host.invalid:2379") is None   # left to etcdctl
        assert E.tcp_refused("") is None
    finally:
        srv.close()


def test_endpoint_health_skips_refused_endpoints():
    """Refused endpoints are reported down without etcdctl; etcdctl is asked only about the others."""
    rec = Recorder([("endpoint health", 1,
                     '[{"endpoint":"https://127.0.0.1:2379","health":true,"took":"2ms"}]', "")])
    e = E.Etcd(["https://127.0.0.1:2379", "https://127.0.0.1:12379"], "/p/ca.crt", "/p/c.crt", "/p/c.key",
               etcdctl="/bin/etcdctl", etcdutl="", run_command=rec,
               probe=lambda ep: "connection refused" if ep.endswith(":12379") else None)
    health = e.endpoint_health()
    assert [(h["endpoint"], h["health"]) for h in health] == [
        ("https://127.0.0.1:12379", False), ("https://127.0.0.1:2379", True)]
    assert health[0]["error"] == "connection refused"
    assert [a for a in rec.calls[0][0] if a.startswith("--endpoints=")] == ["--endpoints=https://127.0.0.1:2379"]


def test_endpoint_health_all_refused_runs_nothing():
    rec = Recorder([("version", 0, "etcdctl version: 3.4.23\nAPI version: 3.4\n", "")])
    e = E.Etcd(["https://127.0.0.1:2379"], etcdctl="/bin/etcdctl", etcdutl="", run_command=rec,
               probe=lambda ep: "connection refused")
    info = e.cluster_info()
    assert info["healthy_endpoints"] == [] and info["members"] == [] and not info["healthy"]
    assert [argv[1:] for argv, _env in rec.calls] == [["version"]]


# ---------------------------------------------------------------- membership changes refused before proposing
# stderr of real etcdctl 3.4.23 `member add --learner`, seconds after a 3-member cluster lost a member and
# removed it (tests/integration/test_etcd_real.py on a fast machine): etcd's strict reconfiguration check.
UNHEALTHY = ('{"level":"warn","ts":"2026-12-06T02:42:49.600Z","caller":"clientv3/retry_interceptor.go:62",'
             '"msg":"retrying of unary invoker failed","target":"endpoint://client-bed7eb59/127.0.0.1:40605",'
             '"attempt":0,"error":"rpc error: code = Unavailable desc = etcdserver: unhealthy cluster"}\n'
             'Error: etcdserver: unhealthy cluster\n')


def _clock():
    t = [0.0]
    return t, (lambda s: t.__setitem__(0, t[0] + s)), (lambda: t[0])


@pytest.mark.parametrize("call", ["add", "remove"])
def test_membership_change_retries_only_the_unhealthy_refusal(call):
    calls = []

    def run(argv, environ_update=None, data=None):
        calls.append(argv)
        if len(calls) <= 3:
            return 1, "", UNHEALTHY
        return 0, fx(STANDALONE + "/etcdctl-3.5/member-add-learner.stdout") if call == "add" else "removed", ""

    t, sleep, clock = _clock()
    e = etcd(run)
    if call == "add":
        got = e.member_add_learner("e4", ["https://10.0.0.4:2380"], sleep=sleep, clock=clock)
        assert got["id_hex"] == "f056f6fcb99e2b96" and got["env"]["ETCD_NAME"] == "cp4"
    else:
        e.member_remove("0358a783420a86dc", sleep=sleep, clock=clock)
    assert len(calls) == 4 and len({tuple(c) for c in calls}) == 1 and t[0] == 3


def test_membership_change_gives_up_with_what_to_do():
    calls = []

    def run(argv, environ_update=None, data=None):
        calls.append(argv)
        return 1, "", UNHEALTHY

    t, sleep, clock = _clock()
    with pytest.raises(GroundworkError, match="member add e4: etcd kept refusing .* remove a lost member first"):
        etcd(run).member_add_learner("e4", ["https://10.0.0.4:2380"], sleep=sleep, clock=clock)
    assert t[0] == E.Etcd.reconfig_timeout and len(calls) == E.Etcd.reconfig_timeout + 1


def test_membership_change_other_errors_fail_at_once():
    calls = []

    def run(argv, environ_update=None, data=None):
        calls.append(argv)
        return 1, "", "Error: etcdserver: Peer URLs already exists\n"

    t, sleep, clock = _clock()
    with pytest.raises(ToolError, match="member add e4 failed: Error: etcdserver: Peer URLs already exists"):
        etcd(run).member_add_learner("e4", ["https://10.0.0.4:2380"], sleep=sleep, clock=clock)
    assert len(calls) == 1 and t[0] == 0
