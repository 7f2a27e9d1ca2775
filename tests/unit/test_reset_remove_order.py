# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""reset.yml / remove_node.yml drive `kubeadm reset` the way real kubeadm needs it.

Real kubeadm reset on a control plane reads the node's registration from its Node object
(GetNodeRegistration: "failed to get corresponding node") before its remove-etcd-member phase;
when that read fails it only wipes /var/lib/etcd and leaves the stacked etcd member in the
cluster. So a control plane's Node object may only be deleted after `kubeadm reset` ran there.
The `when` conditions are evaluated with Jinja2 for a control plane and for a worker."""
from __future__ import annotations

import json
import os

import jinja2
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tasks(name):
    with open(os.path.join(ROOT, "playbooks", name), encoding="utf-8") as f:
        plays = [p for p in yaml.safe_load(f) if "tasks" in p]
    # the play that does the work (remove_node.yml starts with its confirmation and the gate)
    return max(plays, key=lambda p: len(p["tasks"]))["tasks"]


def argv(task):
    return [str(a) for a in (task.get("ansible.builtin.command") or {}).get("argv") or []]


def deletes_node(task):
    """kubectl delete node ..., or kubernetes.core.k8s with kind Node and state absent."""
    a = argv(task)
    k8s = task.get("kubernetes.core.k8s") or {}
    return ("delete" in a and "node" in a) or (k8s.get("kind") == "Node" and k8s.get("state") == "absent")


def runs_kubeadm_reset(task):
    a = argv(task)
    return "reset" in a and "--force" in a


def when_true(task, variables):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["from_json"] = json.loads
    env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes", "on")
    conds = task.get("when") or []
    conds = [conds] if isinstance(conds, str) else conds
    return all(env.from_string("{% if " + str(c) + " %}1{% endif %}").render(**variables) == "1" for c in conds)


def test_reset_runs_kubeadm_reset_before_it_deletes_the_node_object():
    ts = tasks("reset.yml")
    reset_at = [i for i, t in enumerate(ts) if runs_kubeadm_reset(t)]
    delete_at = [i for i, t in enumerate(ts) if deletes_node(t)]
    assert reset_at and delete_at
    assert max(reset_at) < min(delete_at), "the Node object is deleted before kubeadm reset reads it"


def test_remove_node_keeps_a_control_planes_node_object_for_kubeadm_reset():
    ts = tasks("remove_node.yml")
    delete = [t for t in ts if deletes_node(t)]
    assert delete, "remove_node.yml no longer deletes a worker's Node object"
    nodes = json.dumps({"items": [{"metadata": {"name": n}} for n in ("cp1", "cp2", "w1")]})
    common = {"groups": {"kube_control_plane": ["cp1", "cp2"], "kube_node": ["w1"]},
              "_remove_nodes": {"stdout": nodes}, "_remove_known": True}
    for t in delete:
        assert not when_true(t, dict(common, inventory_hostname="cp2")), t["name"]
    # a worker (even an unreachable one: the task is delegated) is still deleted here
    assert any(when_true(t, dict(common, inventory_hostname="w1")) for t in delete)
    # and the imported reset.yml deletes the control plane's Node after kubeadm reset
    with open(os.path.join(ROOT, "playbooks", "remove_node.yml"), encoding="utf-8") as f:
        plays = yaml.safe_load(f)
    assert any(p.get("ansible.builtin.import_playbook") == "reset.yml" for p in plays)


def test_reset_empties_the_cni_configuration_directory():
    # kubeadm reset leaves /etc/cni/net.d (fixtures/kubeadm/reset/*-state-after-reset.txt and its own
    # "does not perform cleanup of CNI plugin configuration"); reset.yml removes its files, keeps the dir.
    with open(os.path.join(ROOT, "playbooks", "reset.yml"), encoding="utf-8") as f:
        play = yaml.safe_load(f)[0]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    ts = play["tasks"]
    finds = [t for t in ts if "ansible.builtin.find" in t
             and env.from_string(str(t["ansible.builtin.find"]["paths"])).render(**play["vars"]) == "/etc/cni/net.d"]
    assert finds, "reset.yml does not look at /etc/cni/net.d"
    reg = finds[0]["register"]
    removes = [t for t in ts if (t.get("ansible.builtin.file") or {}).get("state") == "absent"
               and reg in str(t.get("loop", ""))]
    assert removes and ts.index(removes[0]) > ts.index(finds[0])
    assert not any((t.get("ansible.builtin.file") or {}).get("path") == "/etc/cni/net.d" for t in ts)
    assert max(i for i, t in enumerate(ts) if runs_kubeadm_reset(t)) < ts.index(finds[0])
