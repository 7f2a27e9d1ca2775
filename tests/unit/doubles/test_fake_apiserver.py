# -*- coding: utf-8 -*-
"""The fake API server (fake_kubelet) answers the real Python kubernetes client and kubernetes.core's modules
as the Kubernetes API does: discovery, nodes get/list/patch/delete, pods list by spec.nodeName, eviction,
pod get/delete, with the API's status codes and object shapes. fake_kubectl reads and writes the same state.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys

import pytest

# the fixture "cluster": a first control plane with the fake API server
from test_fake_kubeadm import DOUBLES, ROOT, cluster, run_bin  # noqa: F401  pylint: disable=unused-import

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s_client, config as k8s_config, dynamic  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402


def load_kubeadm():
    loader = importlib.machinery.SourceFileLoader("fake_kubeadm_api", os.path.join(DOUBLES, "fake_kubeadm"))
    spec = importlib.util.spec_from_loader("fake_kubeadm_api", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def node(name):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                   "nodeInfo": {
                "architecture": "amd64", "bootID": "b", "containerRuntimeVersion": "containerd://2.0",
                "kernelVersion": "6.1", "kubeProxyVersion": "", "kubeletVersion": "v1.35.0", "machineID": "m",
                "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12", "systemUUID": "s"}}}


def pod(name, node_name, owner=None, ns="default", mirror=False):
    meta = {"name": name, "namespace": ns, "labels": {"app": name}}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": name + "-owner", "uid": "u-" + name}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "pause"}]},
            "status": {"phase": "Running"}}


@pytest.fixture()
def api(cluster):  # noqa: F811
    c = k8s_config.new_client_from_config(config_file=cluster["admin"])
    v1 = k8s_client.CoreV1Api(c)
    for n in ("fa1", "fa2"):
        try:
            v1.delete_node(n)
        except ApiException:
            pass
        v1.create_node(node(n))
    yield v1, c
    for n in ("fa1", "fa2"):
        try:
            v1.delete_node(n)
        except ApiException:
            pass
    for p in v1.list_pod_for_all_namespaces().items:
        v1.delete_namespaced_pod(p.metadata.name, p.metadata.namespace)


def test_discovery_and_dynamic_client(api):
    v1, c = api
    dyn = dynamic.DynamicClient(c)
    nodes = dyn.resources.get(api_version="v1", kind="Node")
    assert not nodes.namespaced
    names = [n.metadata.name for n in nodes.get().items]
    assert {"fa1", "fa2"} <= set(names)
    assert dyn.resources.get(api_version="v1", kind="Pod").namespaced
    assert dyn.version["kubernetes"]["gitVersion"].startswith("v1.")


def test_node_get_missing_is_404_not_found(api):
    v1 = api[0]
    with pytest.raises(ApiException) as exc:
        v1.read_node("nope")
    assert (exc.value.status, exc.value.reason) == (404, "Not Found")
    assert json.loads(exc.value.body)["reason"] == "NotFound"


def test_cordon_uncordon_patch(api, cluster):  # noqa: F811
    v1 = api[0]
    assert v1.read_node("fa1").spec.unschedulable is None
    out = v1.patch_node("fa1", {"spec": {"unschedulable": True}})
    assert out.spec.unschedulable is True
    rv = out.metadata.resource_version
    # fake_kubectl sees the same node
    rc, text, err = run_bin(os.path.join(DOUBLES, "fake_kubectl"),
                            ["--kubeconfig", "/etc/kubernetes/admin.conf", "get", "node", "fa1", "-o", "json"], cluster["root"])
    assert rc == 0 and json.loads(text)["spec"]["unschedulable"] is True, err
    # false is omitted, as the API omits it
    out = v1.patch_node("fa1", {"spec": {"unschedulable": False}})
    assert out.spec.unschedulable is None and out.metadata.resource_version != rv
    # JSON patch (RFC 6902), and a content type the API does not take (415)
    adm = load_kubeadm().API.from_kubeconfig(cluster["admin"])
    st, body = adm.call("PATCH", "/api/v1/nodes/fa1", [{"op": "add", "path": "/metadata/labels/x", "value": "y"}],
                        content_type="application/json-patch+json")
    assert st == 200 and v1.read_node("fa1").metadata.labels["x"] == "y"
    st, body = adm.call("PATCH", "/api/v1/nodes/fa1", {"spec": {}}, content_type="application/json")
    assert (st, body["reason"]) == (415, "UnsupportedMediaType")


def test_kubectl_cordon_and_drain_use_the_api(api, cluster):  # noqa: F811
    v1 = api[0]
    kubectl = os.path.join(DOUBLES, "fake_kubectl")
    v1.create_namespaced_pod("default", pod("web", "fa2", owner="ReplicaSet"))
    v1.create_namespaced_pod("kube-system", pod("ds", "fa2", owner="DaemonSet", ns="kube-system"))
    rc, out, err = run_bin(kubectl, ["--kubeconfig", "/etc/kubernetes/admin.conf", "drain", "fa2"], cluster["root"])
    assert rc == 1 and "cannot delete" in err  # a DaemonSet pod without --ignore-daemonsets
    rc, out, err = run_bin(kubectl, ["--kubeconfig", "/etc/kubernetes/admin.conf", "drain", "fa2", "--ignore-daemonsets"],
                           cluster["root"])
    assert rc == 0, err
    assert "evicting pod default/web" in out
    assert v1.read_node("fa2").spec.unschedulable is True
    assert [p.metadata.name for p in v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=fa2").items] == ["ds"]
    rc, out, err = run_bin(kubectl, ["--kubeconfig", "/etc/kubernetes/admin.conf", "uncordon", "fa2"], cluster["root"])
    assert rc == 0 and v1.read_node("fa2").spec.unschedulable is None


def test_kubectl_patch_configmap_merge(api, cluster):  # noqa: F811
    """cert_rotation's cluster-info update: kubectl -n kube-public patch configmap cluster-info --type merge -p JSON."""
    v1 = api[0]
    kubectl = os.path.join(DOUBLES, "fake_kubectl")
    base = ["--kubeconfig", "/etc/kubernetes/admin.conf", "-n", "default"]
    v1.create_namespaced_config_map("default", {"metadata": {"name": "pc"}, "data": {"a": "1", "b": "2"}})
    try:
        patch = json.dumps({"data": {"a": "9", "b": None}})
        rc, out, err = run_bin(kubectl, base + ["patch", "configmap", "pc", "--type", "merge", "-p", patch], cluster["root"])
        assert (rc, out.strip()) == (0, "configmap/pc patched"), err
        assert v1.read_namespaced_config_map("pc", "default").data == {"a": "9"}
        rc, out, err = run_bin(kubectl, base + ["patch", "configmap", "pc", "--type", "merge", "-p", patch], cluster["root"])
        assert (rc, out.strip()) == (0, "configmap/pc patched (no change)"), err
        rc, out, err = run_bin(kubectl, base + ["patch", "configmap", "nope", "--type", "merge", "-p", patch], cluster["root"])
        assert rc == 1 and 'configmaps "nope" not found' in err
        rc, out, err = run_bin(kubectl, base + ["patch", "configmap", "pc", "--type", "merge", "-p", "{bad"], cluster["root"])
        assert rc == 1 and "unable to parse" in err
    finally:
        v1.delete_namespaced_config_map("pc", "default")


def test_pods_by_node_eviction_and_delete(api):
    v1, c = api
    v1.create_namespaced_pod("default", pod("a", "fa1", owner="ReplicaSet"))
    v1.create_namespaced_pod("kube-system", pod("b", "fa1", mirror=True, ns="kube-system"))
    v1.create_namespaced_pod("default", pod("c", "fa2", owner="ReplicaSet"))
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_pod("default", pod("a", "fa1"))
    assert exc.value.status == 409
    on1 = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=fa1").items
    assert sorted((p.metadata.namespace, p.metadata.name) for p in on1) == [("default", "a"), ("kube-system", "b")]
    assert [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=c").items] == ["c"]
    body = k8s_client.V1Eviction(metadata=k8s_client.V1ObjectMeta(name="a", namespace="default"))
    v1.create_namespaced_pod_eviction("a", "default", body)
    with pytest.raises(ApiException) as exc:
        v1.read_namespaced_pod("a", "default")
    assert exc.value.reason == "Not Found"
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_pod_eviction("a", "default", body)
    assert exc.value.status == 404
    gone = v1.delete_namespaced_pod("c", "default")
    assert gone.metadata.name == "c"  # pods' DELETE answers with the Pod
    st = v1.delete_node("fa2")
    st = st if isinstance(st, dict) else c.sanitize_for_serialization(st)
    assert (st["kind"], st["status"], st["details"]["name"]) == ("Status", "Success", "fa2")


def test_kubernetes_core_modules_against_the_double(api, cluster, tmp_path):  # noqa: F811
    """k8s_info + json_query, k8s_drain (cordon, evict, idempotent), uncordon and k8s state=absent, as the playbooks
    call them, with the changed each reports."""
    v1 = api[0]
    v1.create_namespaced_pod("default", pod("w", "fa1", owner="ReplicaSet"))
    v1.create_namespaced_pod("kube-system", pod("m", "fa1", mirror=True, ns="kube-system"))
    pb = tmp_path / "pb.yml"
    kc = cluster["admin"]
    pb.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/kubernetes.core.k8s: {kubeconfig: %s}
  tasks:
    - kubernetes.core.k8s_info: {kind: Node}
      register: nodes
    - ansible.builtin.assert:
        that: nodes.resources | community.general.json_query(q) | sort == ['fa1', 'fa2']
      vars:
        q: "[?status.conditions[?type=='Ready' && status=='True']].metadata.name"
    - kubernetes.core.k8s_drain:
        name: fa1
        delete_options: {ignore_daemonsets: true, delete_emptydir_data: true, wait_timeout: 30, wait_sleep: 1}
      register: d1
    - kubernetes.core.k8s_drain:
        name: fa1
        delete_options: {ignore_daemonsets: true, delete_emptydir_data: true, wait_timeout: 30, wait_sleep: 1}
      register: d2
    - kubernetes.core.k8s_drain: {name: fa1, state: uncordon}
      register: u1
    - kubernetes.core.k8s_drain: {name: fa1, state: uncordon}
      register: u2
    - kubernetes.core.k8s: {kind: Node, name: fa2, state: absent}
      check_mode: true
      register: a0
    - kubernetes.core.k8s: {kind: Node, name: fa2, state: absent}
      register: a1
    - kubernetes.core.k8s: {kind: Node, name: fa2, state: absent}
      register: a2
    - ansible.builtin.copy:
        dest: %s
        content: "{{ {'d1': d1.changed, 'd2': d2.changed, 'u1': u1.changed, 'u2': u2.changed, 'a0': a0.changed,
                      'a1': a1.changed, 'a2': a2.changed, 'warn': d1.warnings | default([])} | to_json }}"
""" % (kc, tmp_path / "out.json"))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    env.pop("FAKE_KUBE_ROOT", None)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(pb),
                           "-e", "ansible_python_interpreter=" + sys.executable],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    got = json.loads((tmp_path / "out.json").read_text())
    warn = got.pop("warn")
    assert got == {"d1": True, "d2": False, "u1": True, "u2": False, "a0": True, "a1": True, "a2": False}
    assert any("mirror" in w for w in warn)
    # the ReplicaSet pod was evicted, the mirror pod stays, fa2 is gone (check mode did not delete it: a1 did)
    assert [p.metadata.name for p in v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=fa1").items] == ["m"]
    assert "fa2" not in [n.metadata.name for n in v1.list_node().items]
