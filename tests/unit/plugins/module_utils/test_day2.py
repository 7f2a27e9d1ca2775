# -*- coding: utf-8 -*-
"""Day 2: version guard, runtime policy per version, convergence through kubeadm's dry run (tables)."""
from __future__ import annotations

import os

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _day2 as D
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import Kubeadm, render_init

REAL_KUBEADM = os.environ.get("GW_REAL_KUBEADM", "/tmp/hday2/kubeadm")


@pytest.mark.parametrize("target, cps, kubelets, expect", [
    # a new cluster: nothing runs yet
    ("v1.33.3", {}, {}, []),
    ("v1.33.3", {"cp1": "v1.33.3", "cp2": "v1.33.3"}, {"cp1": "v1.33.3", "w1": "v1.33.3"}, []),
    ("1.33.3", {"cp1": "v1.33.3"}, {}, []),
    # a new version in the inventory: upgrade.yml's job
    ("v1.34.0", {"cp1": "v1.33.3"}, {}, ["but the cluster runs v1.33.3", "run playbooks/upgrade.yml"]),
    # an older one: a downgrade
    ("v1.33.2", {"cp1": "v1.33.3"}, {}, ["set groundwork_kubernetes_version: v1.33.3", "downgrade is not supported"]),
    # an interrupted upgrade
    ("v1.33.3", {"cp1": "v1.33.3", "cp2": "v1.33.2"}, {}, ["run different versions", "finish it with playbooks/upgrade.yml"]),
    # a kubelet left behind
    ("v1.33.3", {"cp1": "v1.33.3"}, {"w1": "v1.33.2"}, ["w1 v1.33.2", "finish the upgrade"]),
    ("latest", {"cp1": "v1.33.3"}, {}, ["is not a version"]),
])
def test_version_guard(target, cps, kubelets, expect):
    problems = D.version_guard(target, cps, kubelets)
    if not expect:
        assert problems == []
    else:
        assert len(problems) == 1
        for text in expect:
            assert text in problems[0]


@pytest.mark.parametrize("target, cgroup_v2, containerd, fail_v1, n_problems, n_notes, text", [
    ("v1.33.3", False, "1.6.20", None, 0, 0, None),
    ("v1.34.2", False, "1.7.24", None, 0, 0, None),
    ("v1.35.0", True, "2.1.4", None, 0, 0, None),
    ("v1.35.0", False, "2.1.4", None, 1, 0, "failCgroupV1: false"),
    ("v1.35.0", False, "2.1.4", True, 1, 0, "cgroup v2"),
    ("v1.35.0", False, "2.1.4", False, 0, 1, "documented opt-out"),
    ("v1.35.0", True, "1.7.24", None, 0, 1, "last release that supports"),
    ("v1.36.0", True, "1.7.24", None, 1, 0, "needs containerd >= 2.0"),
    ("v1.36.0", True, None, None, 0, 0, None),
    ("v1.36.1", False, "1.6.20", False, 1, 1, "needs containerd >= 2.0"),
])
def test_runtime_policy(target, cgroup_v2, containerd, fail_v1, n_problems, n_notes, text):
    problems, notes = D.runtime_policy(target, cgroup_v2, containerd, fail_v1)
    assert (len(problems), len(notes)) == (n_problems, n_notes)
    if text:
        assert text in " ".join(problems + notes)


@pytest.mark.parametrize("current, rendered, same", [
    (None, "a: 1\n", False),
    ("a: 1\nb: [x]\n", "b:\n- x\na: 1\n", True),
    ('{"a": 1}', "a: 1\n", True),
    ("a: 1\n", "a: 2\n", False),
    ("a: [unclosed\n", "a: [unclosed\n", True),
])
def test_same(current, rendered, same):
    assert D.same(current, rendered) is same


class FakeKubeadm:
    """Records argv/env and writes what kubeadm's dry run would into KUBEADM_INIT_DRYRUN_DIR."""

    binary = "kubeadm"

    def __init__(self, files):
        self.files, self.calls = files, []

    def run(self, args, check=True, data=None, env=None):
        self.calls.append((list(args), dict(env or {})))
        out = env["KUBEADM_INIT_DRYRUN_DIR"]
        names = ["kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"] if "control-plane" in args else ["config.yaml"]
        for n in names:
            with open(os.path.join(out, n), "w") as f:
                f.write(self.files[n])
        return 0, "", ""


def _node(tmp_path, files):
    man = tmp_path / "manifests"
    man.mkdir()
    for n, text in files.items():
        if n != "config.yaml":
            (man / n).write_text(text)
    (tmp_path / "config.yaml").write_text(files["config.yaml"])
    return {"manifest_dir": str(man), "kubelet_config": str(tmp_path / "config.yaml"), "record_path": str(tmp_path / "rec.yaml")}


def _io(tmp_path):
    written = []

    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write(path, data, mode):
        written.append((os.path.basename(path), mode))
        with open(path, "wb") as f:
            f.write(data)
    return read, write, written


NODE = {"kube-apiserver.yaml": "spec: {containers: [{command: [kube-apiserver, --a=1]}]}\n",
        "kube-controller-manager.yaml": "spec: {x: 1}\n", "kube-scheduler.yaml": "spec: {y: 1}\n",
        "config.yaml": "kind: KubeletConfiguration\nmaxPods: 110\n"}


@pytest.mark.parametrize("rendered_changes, check_mode, expect_components, expect_written", [
    ({}, False, [], [("rec.yaml", 0o600)]),
    ({"kube-apiserver.yaml": "spec: {containers: [{command: [kube-apiserver, --a=2]}]}\n"}, False,
     ["kube-apiserver"], [("kube-apiserver.yaml", 0o600), ("rec.yaml", 0o600)]),
    ({"config.yaml": "kind: KubeletConfiguration\nmaxPods: 150\n"}, False, ["kubelet"], [("config.yaml", 0o644), ("rec.yaml", 0o600)]),
    ({"config.yaml": "kind: KubeletConfiguration\nmaxPods: 150\n"}, True, ["kubelet"], []),
    # same data, other formatting: nothing to do
    ({"config.yaml": "maxPods: 110\nkind: KubeletConfiguration\n"}, False, [], [("rec.yaml", 0o600)]),
])
def test_reconfigure_action(tmp_path, rendered_changes, check_mode, expect_components, expect_written):
    p = _node(tmp_path, NODE)
    p.update(config=[{"kind": "InitConfiguration"}], components=list(D.CONTROL_PLANE) + ["kubelet"])
    read, write, written = _io(tmp_path)
    kubeadm = FakeKubeadm(dict(NODE, **rendered_changes))
    res = D.reconfigure_action(p, kubeadm, check_mode, read, write)
    assert res["components"] == expect_components
    assert written == expect_written
    assert res["changed"] is bool(expect_components or written or (check_mode and res["record_changed"]))
    assert [c[0][:4] for c in kubeadm.calls] == [["init", "phase", "control-plane", "all"], ["init", "phase", "kubelet-start", "--config"]]
    assert all(c[0][-1] == "--dry-run" for c in kubeadm.calls)
    # second run: converged
    if not check_mode:
        res2 = D.reconfigure_action(p, FakeKubeadm(dict(NODE, **rendered_changes)), False, read, write)
        assert res2["changed"] is False and res2["components"] == []


def test_reconfigure_refuses_a_node_without_manifests(tmp_path):
    read, write, _files = _io(tmp_path)
    p = {"manifest_dir": str(tmp_path), "kubelet_config": str(tmp_path / "c"), "config": [], "components": ["kube-apiserver"]}
    with pytest.raises(GroundworkError, match="not an installed control plane"):
        D.reconfigure_action(p, FakeKubeadm(NODE), False, read, write)


def test_reconfigure_unknown_component(tmp_path):
    read, write, _files = _io(tmp_path)
    with pytest.raises(GroundworkError, match="unknown"):
        D.reconfigure_action({"components": ["etcd"], "manifest_dir": "", "kubelet_config": "", "config": []},
                             FakeKubeadm(NODE), False, read, write)


@pytest.mark.skipif(not os.access(REAL_KUBEADM, os.X_OK), reason="real kubeadm v1.33.3 not unpacked (GW_REAL_KUBEADM)")
def test_render_with_real_kubeadm():
    """The real kubeadm's dry run: an extra arg of the inventory is in the rendered manifest, maxPods in config.yaml."""
    docs = render_init({"node_name": "cp1", "advertise_address": "10.1.1.1", "kubernetes_version": "v1.33.3",
                        "control_plane_endpoint": "localhost:8443", "apiserver_extra_args": {"audit-log-maxage": "7"},
                        "kubelet_config": {"maxPods": 150}})
    out = D.render(Kubeadm(REAL_KUBEADM), docs, list(D.CONTROL_PLANE) + ["kubelet"])
    assert "- --audit-log-maxage=7" in out["kube-apiserver"]
    assert "- --advertise-address=10.1.1.1" in out["kube-apiserver"]
    assert "maxPods: 150" in out["kubelet"]
    assert set(out) == {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}


def test_render_only_returns_the_texts_and_touches_nothing(tmp_path):
    """A control plane renders a worker's kubelet configuration: nothing read or written, the text returned."""
    read, write, written = _io(tmp_path)
    p = {"manifest_dir": str(tmp_path / "absent"), "kubelet_config": str(tmp_path / "absent.yaml"),
         "config": [{"kind": "InitConfiguration"}], "components": ["kubelet"], "render_only": True}
    kubeadm = FakeKubeadm(dict(NODE, **{"config.yaml": "kind: KubeletConfiguration\nmaxPods: 150\n"}))
    res = D.reconfigure_action(p, kubeadm, False, read, write)
    assert res["changed"] is False and written == [] and res["components"] == []
    assert res["rendered"] == {"kubelet": "kind: KubeletConfiguration\nmaxPods: 150\n"}
    assert [c[0][:3] for c in kubeadm.calls] == [["init", "phase", "kubelet-start"]]


@pytest.mark.parametrize("check_mode", [False, True])
def test_rendered_elsewhere_is_written_without_kubeadm(tmp_path, check_mode):
    """A worker writes what the control plane rendered; kubeadm never runs on the worker; a re-run is converged."""
    p = _node(tmp_path, NODE)
    read, write, written = _io(tmp_path)
    new = "kind: KubeletConfiguration\nmaxPods: 150\n"
    p.update(config=[{"kind": "JoinConfiguration"}], components=["kubelet"], record_path="", rendered={"kubelet": new})
    kubeadm = FakeKubeadm(NODE)
    res = D.reconfigure_action(p, kubeadm, check_mode, read, write)
    assert kubeadm.calls == []
    assert res["components"] == ["kubelet"] and res["changed"] is True
    assert res["diff"][0]["after"] == new and "maxPods: 110" in res["diff"][0]["before"]
    assert written == ([] if check_mode else [("config.yaml", 0o644)])
    if not check_mode:
        again = D.reconfigure_action(p, kubeadm, False, read, write)
        assert again["changed"] is False and kubeadm.calls == []


def test_rendered_must_hold_every_component(tmp_path):
    p = _node(tmp_path, NODE)
    read, write, _written = _io(tmp_path)
    p.update(config=[], components=["kubelet"], rendered={"kube-apiserver": "x"})
    with pytest.raises(GroundworkError, match="rendered: no text for kubelet"):
        D.reconfigure_action(p, FakeKubeadm(NODE), False, read, write)
