# -*- coding: utf-8 -*-
"""Real etcd (3.4 from Debian bookworm; 3.5 from the sid package, extracted) driven through the
groundwork.k8s etcd modules by ansible-playbook on localhost: a 3-member TLS cluster on 127.0.0.1.

Covers: member info with exact 64-bit IDs, snapshot save/verify/metadata/prune (twice: changed,
then not), corrupt/truncated/foreign/missing snapshots refused, total-loss restore of every member
(old dirs moved aside, half-restored leftovers handled, idempotent), member replacement through a
learner with quorum checked throughout. Every etcd started is killed by the fixture finalizer.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import time

import pytest

import etcd_helpers as h


def _versions():
    out = [pytest.param("3.4", id="etcd-3.4")]
    out.append(pytest.param("3.5", id="etcd-3.5"))
    return out


@pytest.fixture(params=_versions())
def cluster(request):
    if request.param == "3.4":
        if not os.access("/usr/bin/etcd", os.X_OK):
            pytest.skip("etcd 3.4 (Debian etcd-server) is not installed")
        bindir = "/usr/bin"
    else:
        bindir, reason = h.etcd35_dir()
        if not bindir:
            pytest.skip(reason)
    work = h.tmpdir()
    c = h.Cluster(work, bindir=bindir)
    c.version = request.param
    request.addfinalizer(lambda: h.cleanup_dir(work))
    request.addfinalizer(c.stop_all)  # runs first: kill every member even when the test failed
    c.start_all()
    return c


class Mod:
    """Runs one groundwork.k8s module task through ansible-playbook; returns its result dict."""

    def __init__(self, cluster):
        self.c = cluster

    def __call__(self, module, args, check=False, diff=False, conn=True, expect_fail=False):
        params = dict(self.c.conn()) if conn else {}
        params.update(args)
        play = [{"hosts": "localhost", "gather_facts": False,
                 "tasks": [{"name": "t", "groundwork.k8s." + module: params}]}]
        rc, out, results = h.ansible_playbook(json.dumps(play), self.c.workdir, check=check, diff=diff)
        assert results, out[-3000:]
        res = results[0][1]
        if expect_fail:
            assert res.get("failed"), res
        else:
            assert not res.get("failed"), "%s\n%s" % (res.get("msg", res), self.c.log_tails())
        return res


def _hex_ids_from_etcdctl(c):
    r = c.ctl("member", "list")  # simple output: hex IDs as etcd prints them
    return sorted(line.split(",")[0].strip() for line in r.stdout.strip().splitlines())


def test_etcd_lifecycle(cluster):
    c = cluster
    mod = Mod(c)
    t0 = time.monotonic()
    c.put_keys("/drill/n/", 200)

    # ---- member info: exact 64-bit IDs, leader, quorum
    info = mod("etcd_member_info", {"require_healthy": True})
    assert info["healthy"] and len(info["members"]) == 3 and info["quorum"] == 2
    assert sorted(m["id_hex"] for m in info["members"]) == _hex_ids_from_etcdctl(c)
    assert all(int(m["id_hex"], 16) == m["id"] for m in info["members"])
    assert info["leader_name"] in {"m1", "m2", "m3"}
    assert info["versions"]["restore_tool"] == ("etcdutl" if c.version == "3.5" else "etcdctl")

    # ---- snapshot: check mode writes nothing, then save (changed), prune, max_age idempotence
    snaps = os.path.join(c.workdir, "snaps")
    res = mod("etcd_snapshot", {"dest_dir": snaps, "keep": 2}, check=True, diff=True)
    assert res["changed"] and not os.path.exists(snaps)
    first = mod("etcd_snapshot", {"dest_dir": snaps, "keep": 2})
    assert first["changed"] and os.path.isfile(first["path"])
    meta = json.load(open(first["path"] + ".json"))
    assert meta["sha256"] == h.run(["sha256sum", first["path"]]).stdout.split()[0]
    assert meta["cluster_id_hex"] == info["cluster_id_hex"] and meta["total_keys"] >= 200
    assert meta["verified"] == {"appended_sha256": True, "status": True, "trial_restore": True}
    assert meta["etcd_version"].startswith(c.version)
    assert oct(os.stat(first["path"]).st_mode & 0o777) == "0o600"
    again = mod("etcd_snapshot", {"dest_dir": snaps, "keep": 2, "max_age": 3600})
    assert not again["changed"] and again["path"] == first["path"]
    for dummy in range(2):
        last = mod("etcd_snapshot", {"dest_dir": snaps, "keep": 2})
    assert last["changed"] and len(last["pruned"]) == 1
    left = sorted(f for f in os.listdir(snaps) if f.endswith(".db"))
    assert len(left) == 2 and os.path.basename(first["path"]) not in left
    assert not [f for f in os.listdir(snaps) if "groundwork-verify" in f or ".part" in f]
    snap = last["path"]

    # ---- snapshot_info: good, and every kind of bad input refused with a clear message
    ok = mod("etcd_snapshot_info", {"path": snap, "expected_cluster_ids": [info["cluster_id_hex"]],
                                    "require_metadata": True})
    assert not ok["changed"] and ok["verified"]["trial_restore"] and ok["verified"]["revision"] > 0
    data = open(snap, "rb").read()
    bad = {
        "trunc16.db": (data[:-16], "truncated"),
        "half.db": (data[: len(data) // 2], "truncated"),
        "flipped.db": (data[:4096] + bytes([data[4096] ^ 0xFF]) + data[4097:], "corrupt"),
    }
    for name, (content, word) in bad.items():
        p = os.path.join(c.workdir, name)
        with open(p, "wb") as f:
            f.write(content)
        res = mod("etcd_snapshot_info", {"path": p}, expect_fail=True)
        assert word in res["msg"], res["msg"]
    # status alone passes the 16-byte truncation (recorded behaviour) - our check does not
    tool = c.conn()["etcdutl"] or c.conn()["etcdctl"]
    assert h.run([tool, "snapshot", "status", os.path.join(c.workdir, "trunc16.db"), "-w", "json"],
                 env={"ETCDCTL_API": "3"}).returncode == 0
    res = mod("etcd_snapshot_info", {"path": os.path.join(c.workdir, "nope.db")}, expect_fail=True)
    assert "does not exist" in res["msg"]
    res = mod("etcd_snapshot_info", {"path": snap, "expected_cluster_ids": ["deadbeefdeadbeef"]}, expect_fail=True)
    assert "from cluster %s" % info["cluster_id_hex"] in res["msg"]

    # ---- write M keys after the backup: they must be gone after the restore
    c.put_keys("/drill/m/", 50)
    assert c.count_keys("/drill/") == 250

    # ---- total loss: stop every member, restore every member from the one snapshot
    c.stop_all(signal.SIGKILL)
    ic = c.initial_cluster()
    # a corrupt snapshot is refused before anything is moved
    res = mod("etcd_restore", {"snapshot": os.path.join(c.workdir, "trunc16.db"), "data_dir": c.members[0]["data_dir"],
                               "name": "m1", "initial_cluster": ic, "peer_urls": [c.members[0]["peer"]],
                               "initial_cluster_token": c.token}, expect_fail=True)
    assert os.path.isdir(os.path.join(c.members[0]["data_dir"], "member", "wal"))
    # leftover of a failed attempt for m1: member/snap/db without wal
    leftover = c.members[0]["data_dir"] + ".groundwork-restoring"
    os.makedirs(os.path.join(leftover, "member", "snap"))
    shutil.copy(os.path.join(c.workdir, "half.db"), os.path.join(leftover, "member", "snap", "db"))
    for m in c.members:
        args = {"snapshot": snap, "data_dir": m["data_dir"], "name": m["name"], "initial_cluster": ic,
                "peer_urls": [m["peer"]], "initial_cluster_token": c.token}
        chk = mod("etcd_restore", args, check=True, diff=True)
        assert chk["changed"] and os.path.isdir(os.path.join(m["data_dir"], "member", "wal"))
        res = mod("etcd_restore", args)
        assert res["changed"] and res["tool"] == ("etcdutl" if c.version == "3.5" else "etcdctl")
        kinds = sorted(x["kind"] for x in res["moved_aside"])
        assert kinds == (["half-restored", "member"] if m["name"] == "m1" else ["member"]), res["moved_aside"]
        for x in res["moved_aside"]:
            assert os.path.isdir(x["to"])  # moved aside, never deleted
        assert not res["changed"] or not os.path.exists(m["data_dir"] + ".groundwork-restoring")
        assert not mod("etcd_restore", args)["changed"]  # marker: same snapshot, same cluster
    for m in c.members:
        c.start(m)
    c.wait_healthy(60)
    assert c.count_keys("/drill/n/") == 200 and c.count_keys("/drill/m/") == 0
    after = mod("etcd_member_info", {"require_healthy": True})
    assert len(after["members"]) == 3 and after["cluster_id_hex"] == info["cluster_id_hex"]
    revs = [s["revision"] for s in after["status"]]
    if after["versions"]["etcdutl"] and res.get("bump_revision"):
        assert min(revs) > 1000000000, revs  # --bump-revision --mark-compacted took effect
    c.put_keys("/drill/after/", 10)

    # ---- one member lost: kill and wipe m3, remove it, add m4 as learner, start, promote
    m3 = c.members[2]
    c.stop(m3, signal.SIGKILL)
    shutil.rmtree(m3["data_dir"])
    c.members.remove(m3)
    live = [m["client"] for m in c.members]
    # m3 may have been the leader: quorum (2 of 3) is kept, but the survivors need an election
    # first. The checks below start once they answer, and must then never fail.
    c.wait_healthy(60, endpoints=live)
    quorum_checks = []

    def quorum_ok():
        r = c.ctl("put", "/drill/q/%d" % len(quorum_checks), "x", endpoints=live, check=False)
        quorum_checks.append(r.returncode == 0)

    quorum_ok()
    conn = {"endpoints": live}
    rm = mod("etcd_member", dict(conn, state="absent", name="m3"), diff=True)
    assert rm["changed"] and rm["operation"] == "remove" and len(rm["members"]) == 2
    assert not mod("etcd_member", dict(conn, state="absent", name="m3"))["changed"]
    quorum_ok()
    m4 = c.add_spare("m4")
    add = mod("etcd_member", dict(conn, name="m4", peer_urls=[m4["peer"]], promote=False))
    assert add["changed"] and add["operation"] == "add" and add["member"]["is_learner"]
    assert "m4=%s" % m4["peer"] in add["initial_cluster"]
    quorum_ok()
    c.start(m4, state="existing", initial_cluster=add["initial_cluster"])
    pro = mod("etcd_member", dict(conn, name="m4", peer_urls=[m4["peer"]], promote_timeout=60))
    assert pro["changed"] and pro["operation"] == "promote" and not pro["member"]["is_learner"]
    again = mod("etcd_member", dict(conn, name="m4", peer_urls=[m4["peer"]]))
    assert not again["changed"] and again["operation"] == "none"
    quorum_ok()
    c.wait_healthy(30)
    final = mod("etcd_member_info", {"require_healthy": True})
    assert sorted(m["name"] for m in final["members"]) == ["m1", "m2", "m4"]
    assert all(not m["is_learner"] for m in final["members"])
    assert all(quorum_checks), quorum_checks
    assert c.count_keys("/drill/n/", endpoints=[m4["client"]]) == 200
    assert c.count_keys("/drill/after/", endpoints=[m4["client"]]) == 10
    print("etcd %s lifecycle: %.1f s" % (c.version, time.monotonic() - t0))


def test_even_member_count_and_learner_errors(cluster):
    """Bad input to etcd_member: renaming a member's peer URLs, removing the last voter is refused."""
    mod = Mod(cluster)
    res = mod("etcd_member", {"name": "m1", "peer_urls": ["https://127.0.0.1:1"]}, expect_fail=True)
    assert "changing peer URLs is not supported" in res["msg"]
