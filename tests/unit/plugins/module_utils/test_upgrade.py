# -*- coding: utf-8 -*-
"""_upgrade: kubeadm's version policy before anything changes, what a node runs, decisions, argv."""
from __future__ import annotations

import datetime
import json
import os

import pytest

from conftest import FIXTURES
from ansible_collections.groundwork.k8s.plugins.module_utils import _kubeadm as k
from ansible_collections.groundwork.k8s.plugins.module_utils import _upgrade as u
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError

MANIFESTS = os.path.join(FIXTURES, "kubeadm", "cluster", "cp1", "files", "manifests")
NOW = datetime.datetime(2026, 11, 22, 10, 0, 0, tzinfo=datetime.timezone.utc)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def test_recorded_manifests_give_the_version_kubeadm_wrote():
    got = u.control_plane_versions(MANIFESTS, read)
    assert got == {c: "v1.35.0-alpha.1" for c in u.CONTROL_PLANE}
    # etcd's manifest carries etcd's own version, never the cluster's
    assert u.manifest_version(read(os.path.join(MANIFESTS, "etcd.yaml"))).startswith("3.")


@pytest.mark.parametrize("image,tag", [
    ("registry.k8s.io/kube-apiserver:v1.35.0", "v1.35.0"),
    ("10.0.0.5:5000/kube-apiserver:v1.35.1", "v1.35.1"),
    ("10.0.0.5:5000/kube-apiserver", None),
    ("registry.k8s.io/kube-apiserver:v1.35.0@sha256:" + "a" * 64, "v1.35.0"),
])
def test_image_tag(image, tag):
    assert u.image_tag(image) == tag


def test_manifest_version_reads_json_documents_too():
    text = json.dumps({"spec": {"containers": [{"name": "kube-apiserver", "image": "r/kube-apiserver:v1.35.2"}]}}, indent=2)
    assert u.manifest_version(text) == "v1.35.2"


@pytest.mark.parametrize("current,target,ok", [
    ("v1.35.0", "v1.35.1", True),        # patch
    ("v1.35.3", "v1.36.0", True),        # next minor
    ("v1.35.0", "v1.35.0", True),        # same: nothing to do, not an error
    ("v1.35.0-alpha.1", "v1.35.0", True),
    ("v1.35.0", "v1.37.0", False),       # skips a minor
    ("v1.35.2", "v1.35.1", False),       # downgrade
    ("v1.35.0", "v1.34.9", False),
    ("v1.35.0", "v2.0.0", False),
    ("v1.35.0", "1.35.1", True),         # the v is optional
])
def test_policy(current, target, ok):
    assert (u.policy_problems(current, target) == []) is ok


def test_policy_messages_say_what_to_do():
    (msg,) = u.policy_problems("v1.35.0", "v1.37.0")
    assert "one minor version at a time" in msg and "v1.36.x first" in msg
    (msg,) = u.policy_problems("v1.35.2", "v1.35.1")
    assert "downgrades are not supported" in msg and "restore.yml" in msg
    (msg,) = u.policy_problems("v1.35.0", "latest")
    assert "vMAJOR.MINOR.PATCH" in msg
    (msg,) = u.policy_problems("v1.35.0", "v1.36.0-rc.1")
    assert "upgrade_allow_prerelease" in msg
    assert u.policy_problems("v1.35.0", "v1.36.0-rc.1", allow_prerelease=True) == []
    (msg,) = u.policy_problems("v1.35.0", "v1.35.1", kubeadm_version="v1.35.0")
    assert "kubeadm on this node is v1.35.0" in msg
    # kubelets may lag 3 minors behind the target, not 4
    assert u.policy_problems("v1.35.0", "v1.36.0", kubelet_versions=["v1.33.4", "v1.35.0"]) == []
    (msg,) = u.policy_problems("v1.35.0", "v1.36.0", kubelet_versions=["v1.32.9", "v1.35.0", ""])
    assert "v1.32.9" in msg and "upgrade those nodes first" in msg


def test_node_decision():
    cp_old = {c: "v1.35.0" for c in u.CONTROL_PLANE}
    cp_new = {c: "v1.35.1" for c in u.CONTROL_PLANE}
    assert u.node_decision("apply", "v1.35.1", cp_old, None)[0] == "run"
    assert u.node_decision("apply", "v1.35.1", cp_new, None)[0] == "none"
    # a half-upgraded control plane (one manifest behind) is not done
    half = dict(cp_new, **{"kube-scheduler": "v1.35.0"})
    action, msg = u.node_decision("node", "v1.35.1", half, {"version": "v1.35.1"})
    assert action == "run" and "kube-scheduler (v1.35.0)" in msg
    assert u.node_decision("node", "v1.35.1", {}, None)[0] == "run"
    assert u.node_decision("node", "v1.35.1", {}, {"version": "v1.35.0"})[0] == "run"
    assert u.node_decision("node", "v1.35.1", {}, {"version": "v1.35.1"})[0] == "none"
    with pytest.raises(GroundworkError, match="first control plane"):
        u.node_decision("apply", "v1.35.1", {}, None)


def test_kubeadm_args():
    p = {"mode": "apply", "version": "v1.35.1", "kubeconfig": "/etc/kubernetes/admin.conf", "etcd_upgrade": False,
         "certificate_renewal": True, "patches_dir": "/etc/kubernetes/patches", "ignore_preflight_errors": [],
         "allow_prerelease": False}
    assert u.kubeadm_args(p) == ["upgrade", "apply", "v1.35.1", "--yes", "--kubeconfig", "/etc/kubernetes/admin.conf",
                                 "--etcd-upgrade=false", "--certificate-renewal=true", "--patches", "/etc/kubernetes/patches"]
    p.update(mode="node", patches_dir=None, ignore_preflight_errors=["Swap"], etcd_upgrade=True)
    assert u.kubeadm_args(p) == ["upgrade", "node", "--etcd-upgrade=true", "--certificate-renewal=true",
                                 "--ignore-preflight-errors=Swap"]


class Recorder(object):
    def __init__(self, replies):
        self.replies = list(replies)
        self.calls = []

    def __call__(self, argv, environ_update=None, data=None):
        self.calls.append(argv)
        return self.replies.pop(0)


def params(tmp_path, **kw):
    p = {"mode": "apply", "version": "v1.35.1", "kubeconfig": "/etc/kubernetes/admin.conf", "etcd_upgrade": True,
         "certificate_renewal": True, "patches_dir": None, "ignore_preflight_errors": [], "allow_prerelease": False,
         "kubelet_versions": [], "current_version": None, "manifest_dir": str(tmp_path / "manifests"),
         "record_path": str(tmp_path / "record.json")}
    p.update(kw)
    return p


def manifests_at(tmp_path, version):
    d = tmp_path / "manifests"
    d.mkdir(exist_ok=True)
    for c in u.CONTROL_PLANE:
        with open(os.path.join(MANIFESTS, c + ".yaml")) as f:
            (d / (c + ".yaml")).write_text(f.read().replace("v1.35.0-alpha.1", version))


def writer(tmp_path):
    def write(path, data, mode):
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
    return write


def test_check_mode_refuses_before_any_command(tmp_path):
    manifests_at(tmp_path, "v1.35.0")
    rec = Recorder([])
    res = u.upgrade_action(params(tmp_path, mode="check"), k.Kubeadm("kubeadm", run_command=rec), False, read, None)
    assert res["current_version"] == "v1.35.0" and res["upgrade_needed"] and not res["changed"]
    with pytest.raises(GroundworkError, match="nothing changed.*one minor version at a time") as exc:
        u.upgrade_action(params(tmp_path, mode="check", version="v1.37.0"), k.Kubeadm("kubeadm", run_command=rec),
                         False, read, None)
    assert exc.value.details["current_version"] == "v1.35.0"
    assert rec.calls == []   # nothing was run


def test_apply_runs_kubeadm_once_and_records(tmp_path):
    manifests_at(tmp_path, "v1.35.0")

    def kubeadm_double(argv, environ_update=None, data=None):
        calls.append(argv)
        if argv[1] == "version":
            return 0, json.dumps({"clientVersion": {"gitVersion": "v1.35.1"}}), ""
        manifests_at(tmp_path, "v1.35.1")   # what a successful upgrade apply leaves
        return 0, '[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "v1.35.1".\n', ""
    calls = []
    p = params(tmp_path)
    # check mode: says it would change, runs nothing (the target kubeadm is not installed in check mode), writes nothing
    res = u.upgrade_action(p, k.Kubeadm("kubeadm", run_command=kubeadm_double), True, read, writer(tmp_path), now=NOW)
    assert res["changed"] and calls == [] and not (tmp_path / "record.json").exists()
    # ... but still refuses what the policy refuses
    with pytest.raises(GroundworkError, match="one minor version at a time"):
        u.upgrade_action(dict(p, version="v1.37.0"), k.Kubeadm("kubeadm", run_command=kubeadm_double), True, read, None)
    calls.clear()
    res = u.upgrade_action(p, k.Kubeadm("kubeadm", run_command=kubeadm_double), False, read, writer(tmp_path), now=NOW)
    assert res["changed"] and calls[1][1:4] == ["upgrade", "apply", "v1.35.1"]
    rec = json.loads((tmp_path / "record.json").read_text())
    assert rec["version"] == "v1.35.1" and rec["previous"]["control_plane_versions"]["kube-apiserver"] == "v1.35.0"
    assert oct((tmp_path / "record.json").stat().st_mode & 0o777) == "0o644"
    calls.clear()
    res = u.upgrade_action(p, k.Kubeadm("kubeadm", run_command=kubeadm_double), False, read, writer(tmp_path), now=NOW)
    assert not res["changed"] and calls == []   # second run: nothing runs


def test_apply_refuses_a_kubeadm_that_is_not_the_target(tmp_path):
    manifests_at(tmp_path, "v1.35.0")
    rec = Recorder([(0, json.dumps({"clientVersion": {"gitVersion": "v1.35.0"}}), "")])
    with pytest.raises(GroundworkError, match="install the target's kubeadm first"):
        u.upgrade_action(params(tmp_path), k.Kubeadm("kubeadm", run_command=rec), False, read, writer(tmp_path))
    assert len(rec.calls) == 1 and not (tmp_path / "record.json").exists()


def test_kubeadm_failure_carries_its_error_and_records_nothing(tmp_path):
    manifests_at(tmp_path, "v1.35.0")
    rec = Recorder([(0, json.dumps({"clientVersion": {"gitVersion": "v1.35.1"}}), ""),
                    (1, "", "error: error execution phase preflight: [upgrade/version] FATAL: boom\n")])
    with pytest.raises(ToolError, match="kubeadm upgrade apply failed: error execution phase preflight"):
        u.upgrade_action(params(tmp_path), k.Kubeadm("kubeadm", run_command=rec), False, read, writer(tmp_path))
    assert not (tmp_path / "record.json").exists()


def test_exit_zero_without_new_manifests_is_an_error(tmp_path):
    manifests_at(tmp_path, "v1.35.0")
    rec = Recorder([(0, json.dumps({"clientVersion": {"gitVersion": "v1.35.1"}}), ""), (0, "ok\n", "")])
    with pytest.raises(GroundworkError, match="exited 0 but the control-plane manifests run"):
        u.upgrade_action(params(tmp_path), k.Kubeadm("kubeadm", run_command=rec), False, read, writer(tmp_path))


def test_worker_node_upgrade_is_recorded_once(tmp_path):
    rec = Recorder([(0, json.dumps({"clientVersion": {"gitVersion": "v1.35.1"}}), ""), (0, "done\n", "")])
    p = params(tmp_path, mode="node")
    res = u.upgrade_action(p, k.Kubeadm("kubeadm", run_command=rec), False, read, writer(tmp_path), now=NOW)
    assert res["changed"] and rec.calls[1][1:3] == ["upgrade", "node"] and res["control_plane_versions"] == {}
    res = u.upgrade_action(p, k.Kubeadm("kubeadm", run_command=Recorder([])), False, read, writer(tmp_path), now=NOW)
    assert not res["changed"] and "already upgraded" in res["msg"]
