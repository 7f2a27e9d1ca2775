# -*- coding: utf-8 -*-
"""Issue 17 item 2: a node's step is recorded done only after its restart and health gate passed.

Pure decisions (_rotation) and the node flows (_rotation_host) for a run killed at every point
between writing the files and recording the step: the re-run must restart what is owed and converge.
"""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.groundwork.k8s.plugins.filter.restart_plan import restart_plan
from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as R
from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation_host as H
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

from test_rotation_host import NOW, _rot, node  # noqa: F401  pylint: disable=unused-import,import-error

PODS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
ALL_CP = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]


# ------------------------------------------------------------------ pure: restarts owed, commit
def test_restarts_for_files_counts_keys_as_their_certificate():
    assert R.restarts_for_files(["/p/apiserver.key"]) == ["kube-apiserver"]
    assert R.restarts_for_files(["/p/sa.key"]) == ["kube-apiserver", "kube-controller-manager"]
    assert R.restarts_for_files(["/p/etcd/ca.key", "/k/kubelet.conf"]) == ["etcd", "kube-apiserver", "kubelet"]
    assert R.restarts_for_files([]) == []


def test_merge_restarts_orders_and_refuses_unknown():
    assert R.merge_restarts(["kubelet", "etcd"], None, ["kube-apiserver", "etcd"]) == ["etcd", "kube-apiserver", "kubelet"]
    with pytest.raises(GroundworkError, match="unknown component"):
        R.merge_restarts(["kube-proxy"])


def test_owed_restarts_of_new_old_and_legacy_documents():
    assert R.owed_restarts(None) == []
    doc = R.begin(R.new_state("r1", ["ca"], NOW), "trusted", NOW)
    assert R.owed_restarts(doc) == []
    legacy = dict(doc)
    del legacy["restart"]
    assert R.owed_restarts(legacy) == list(R.COMPONENT_ORDER)          # unknown: restart everything once
    done = R.finish(doc, NOW)
    legacy_done = dict(done)
    del legacy_done["restart"]
    assert R.owed_restarts(legacy_done) == []                         # nothing in progress: nothing owed


def test_owe_restarts_accumulates_and_returns_same_doc_when_nothing_new():
    doc = R.begin(R.new_state("r1", ["ca"], NOW), "reissued", NOW)
    d1 = R.owe_restarts(doc, ["/p/apiserver.crt"])
    assert d1["restart"] == ["kube-apiserver"] and doc["restart"] == []
    assert R.owe_restarts(d1, ["/p/apiserver.key"]) is d1
    d2 = R.owe_restarts(d1, ["/k/scheduler.conf", "/p/etcd/server.crt"])
    assert d2["restart"] == ["etcd", "kube-apiserver", "kube-scheduler"]


def test_apply_then_commit_only_when_applied():
    doc = R.begin(R.new_state("r1", ["ca"], NOW), "trusted", NOW)
    with pytest.raises(GroundworkError, match="not applied on this node yet"):
        R.commit_action(doc, "trusted", "r1")
    applied = R.mark_applied(R.owe_restarts(doc, ["/p/ca.crt"]), ["kubelet"])
    assert applied["applied"] and applied["phase"] == "none"
    assert applied["restart"] == ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"]
    # applied but not recorded: the cluster plan still sees the node in its old phase, phase in progress
    assert R.transition(applied, "trusted", "r1", ["ca"])[0] == "resume"
    assert R.cluster_summary({"cp1": applied})["in_progress"] == {"cp1": {"phase": "trusted", "done": 0}}
    assert R.commit_action(applied, "trusted", "r1") == "commit"
    done = R.finish(applied, NOW)
    assert (done["phase"], done["in_progress"], done["applied"], done["restart"]) == ("trusted", None, False, [])
    assert R.commit_action(done, "trusted", "r1") == "noop"
    assert R.transition(done, "trusted", "r1", ["ca"])[0] == "noop"
    with pytest.raises(GroundworkError, match="not 'r2'"):
        R.commit_action(done, "trusted", "r2")
    with pytest.raises(GroundworkError, match="no CA rotation state"):
        R.commit_action(None, "trusted", "r1")
    with pytest.raises(GroundworkError, match="call begin"):
        R.mark_applied(done)
    # the next phase starts with nothing owed
    assert R.begin(done, "reissued", NOW)["restart"] == [] and not R.begin(done, "reissued", NOW)["applied"]


def test_renewal_record_accumulates_until_commit():
    r1 = R.renewal_record(None, ["kube-apiserver"], "/b/1", NOW)
    assert r1 == {"version": 1, "started": "2026-11-21T12:00:00Z", "restart": ["kube-apiserver"], "backup_dirs": ["/b/1"]}
    r2 = R.renewal_record(r1, ["etcd"], "/b/2", "2026-11-22T00:00:00Z")
    assert r2["started"] == r1["started"] and r2["restart"] == ["etcd", "kube-apiserver"]
    assert r2["backup_dirs"] == ["/b/1", "/b/2"]
    assert R.owed_restarts(r2) == ["etcd", "kube-apiserver"]


# ------------------------------------------------------------------ pure: static pod restart plan
def test_restart_plan_plain_restart():
    p = R.static_pod_restart_plan(["kube-apiserver", "kubelet"], ALL_CP, [], PODS)
    assert p == {"move_out": ["kube-apiserver"], "interrupted": [], "wait": ["kube-apiserver"],
                 "move_back": ["kube-apiserver"], "conflicts": []}


def test_restart_plan_finishes_what_an_interrupted_run_left_paused():
    # killed after moving apiserver, controller-manager and scheduler out: they are not in staticPodPath
    p = R.static_pod_restart_plan(["kube-apiserver", "kube-controller-manager", "kube-scheduler"], ["etcd"],
                                  ["kube-apiserver", "kube-controller-manager", "kube-scheduler"], PODS)
    assert p["move_out"] == [] and p["interrupted"] == ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert p["wait"] == ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert p["move_back"] == p["interrupted"]
    # nothing owed (a run whose state was recorded by an older version): still moved back
    p = R.static_pod_restart_plan([], ["etcd"], ["kube-apiserver"], PODS)
    assert p["move_back"] == ["kube-apiserver"] and p["move_out"] == []
    # an unknown manifest left there goes back too (it is not ours to keep out), without a port to wait on
    p = R.static_pod_restart_plan([], [], ["my-sidecar"], PODS)
    assert p["move_back"] == ["my-sidecar"] and p["wait"] == []


def test_restart_plan_nothing_to_do_and_conflicts():
    assert R.static_pod_restart_plan([], ALL_CP, [], PODS)["move_back"] == []
    assert R.static_pod_restart_plan(["etcd", "kubelet"], ["kube-apiserver"], [], PODS)["move_back"] == []  # external etcd
    p = R.static_pod_restart_plan(["kube-apiserver"], ALL_CP, ["kube-apiserver"], PODS)
    assert p["conflicts"] == ["kube-apiserver"] and "kube-apiserver" not in p["move_out"]


def test_restart_plan_filter():
    assert restart_plan(["kube-scheduler"], ["kube-scheduler"], None, PODS)["move_out"] == ["kube-scheduler"]


# ------------------------------------------------------------------ node: CA phase killed after apply
def _state(n):
    return json.loads(H.read_bytes(n.state_path()))


def test_ca_phase_apply_kill_resume_commit(node):  # noqa: F811
    r = _rot(node, generate=True).run("trusted", step="apply")
    owed = r["restart"]
    assert "kube-apiserver" in owed and "etcd" in owed and r["committed"] is False
    doc = _state(node)
    assert (doc["phase"], doc["in_progress"], doc["applied"], doc["restart"]) == ("none", "trusted", True, owed)
    # the controller dies here (before the restart / the gate); the re-run: nothing to write, same restarts
    r2 = _rot(node).run("trusted", step="apply")
    assert (r2["action"], r2["files"], r2["restart"], r2["changed"]) == ("resume", [], owed, False)
    assert _state(node)["phase"] == "none"
    # gate passed: commit; a second commit and a re-run are no-ops
    c = _rot(node).run("trusted", step="commit")
    assert (c["action"], c["phase"], c["changed"]) == ("commit", "trusted", True)
    assert _state(node)["phase"] == "trusted" and _state(node)["in_progress"] is None
    assert not _rot(node).run("trusted", step="commit")["changed"]
    r3 = _rot(node).run("trusted", step="apply")
    assert (r3["action"], r3["restart"]) == ("noop", [])
    begun = [e["phase"] for e in _state(node)["history"] if e["event"] == "begin"]
    assert begun == ["trusted"]                                      # resumed, not begun again


def test_commit_before_apply_refused(node):  # noqa: F811
    _rot(node, generate=True).run("trusted")
    with pytest.raises(GroundworkError, match="not applied"):
        _rot(node).run("reissued", step="commit")


def test_reissue_killed_between_file_and_marker_still_owes_its_restart(node, monkeypatch):  # noqa: F811
    _rot(node, generate=True).run("trusted")
    # phase 2 killed right after apiserver.crt was written, before its "done" marker
    real_write = H.Node.write

    def dying(self, path, content, mode=None):
        changed = real_write(self, path, content, mode)
        if path.endswith("/apiserver.crt"):
            raise KeyboardInterrupt("controller killed")
        return changed
    monkeypatch.setattr(H.Node, "write", dying)
    with pytest.raises(KeyboardInterrupt):
        _rot(node).run("reissued", step="apply")
    monkeypatch.setattr(H.Node, "write", real_write)
    doc = _state(node)
    assert doc["in_progress"] == "reissued" and not doc.get("applied")
    assert node.path("apiserver.crt") not in doc["done"]
    assert "kube-apiserver" in doc["restart"]                         # owed before the file was written
    r = _rot(node).run("reissued", step="apply")
    # apiserver.crt is already from the new CA (not rewritten) and its restart is still returned
    assert node.path("apiserver.crt") not in r["files"]
    assert r["restart"][:2] == ["etcd", "kube-apiserver"]
    _rot(node).run("reissued", step="commit")
    assert _state(node)["phase"] == "reissued"


def test_retired_keeps_staged_material_until_commit(node):  # noqa: F811
    for phase in ("trusted", "reissued"):
        _rot(node, generate=(phase == "trusted")).run(phase)
    _rot(node).run("retired", step="apply")
    assert os.path.isdir(os.path.join(node.state_dir, "new"))          # a resumed apply still needs it
    r = _rot(node).run("retired", step="apply")
    assert r["action"] == "resume" and r["restart"]
    _rot(node).run("retired", step="commit")
    assert not os.path.exists(os.path.join(node.state_dir, "new"))
    assert not os.path.exists(os.path.join(node.state_dir, "old"))


def test_check_mode_apply_writes_no_state(node):  # noqa: F811
    r = _rot(node, generate=True, check_mode=True).run("trusted", step="apply")
    assert r["changed"] and r["restart"] and not os.path.exists(node.state_path())


def test_unknown_step_refused(node):  # noqa: F811
    with pytest.raises(GroundworkError, match="step must be"):
        _rot(node).run("trusted", step="later")
    with pytest.raises(GroundworkError, match="step must be"):
        H.renew_leaves(node, step="later")


# ------------------------------------------------------------------ node: renewal killed after apply
def test_renewal_apply_record_resume_commit(node):  # noqa: F811
    record_path = os.path.join(node.state_dir, H.RENEWAL_RECORD)
    r = H.renew_leaves(node, threshold_days=60, now=NOW, step="apply")
    assert r["renewed"] and r["pending"] and not r["committed"]
    assert r["restart"] == ["etcd", "kube-apiserver", "kube-scheduler"]
    record = json.loads(H.read_bytes(record_path))
    assert record["restart"] == r["restart"] and record["backup_dirs"] == [r["backup_dir"]]
    # killed before the restart: the re-run renews nothing (all valid) but still owes the restarts
    r2 = H.renew_leaves(node, threshold_days=60, now=NOW, step="apply")
    assert r2["renewed"] == [] and r2["pending"] and r2["restart"] == r["restart"] and not r2["changed"]
    c = H.renew_leaves(node, step="commit")
    assert c["changed"] and not os.path.exists(record_path)
    assert not H.renew_leaves(node, step="commit")["changed"]
    r3 = H.renew_leaves(node, threshold_days=60, now=NOW, step="apply")
    assert (r3["renewed"], r3["pending"], r3["restart"]) == ([], False, [])


def test_renewal_written_before_any_certificate(node, monkeypatch):  # noqa: F811
    record_path = os.path.join(node.state_dir, H.RENEWAL_RECORD)

    def dying(self, path, content, mode=None):
        assert os.path.exists(record_path)                            # the record comes first
        raise KeyboardInterrupt("controller killed")
    monkeypatch.setattr(H.Node, "write", dying)
    with pytest.raises(KeyboardInterrupt):
        H.renew_leaves(node, threshold_days=60, now=NOW, step="apply")


def test_renewal_all_step_and_check_mode_keep_no_record(node):  # noqa: F811
    record_path = os.path.join(node.state_dir, H.RENEWAL_RECORD)
    H.renew_leaves(node, threshold_days=60, now=NOW, check_mode=True, step="apply")
    assert not os.path.exists(record_path)
    H.renew_leaves(node, threshold_days=60, now=NOW, step="apply")
    # step all (the module's default) takes over what is owed and leaves nothing behind
    r = H.renew_leaves(node, threshold_days=60, now=NOW, step="all")
    assert r["restart"] == ["etcd", "kube-apiserver", "kube-scheduler"] and r["committed"]
    assert not os.path.exists(record_path)


def test_renewal_nothing_due_writes_no_record(node):  # noqa: F811
    r = H.renew_leaves(node, threshold_days=30, now=NOW, step="apply")
    assert (r["renewed"], r["pending"], r["changed"]) == ([], False, False)
    assert not os.path.exists(os.path.join(node.state_dir, H.RENEWAL_RECORD))
