# -*- coding: utf-8 -*-
"""Tables over the rolling containerd upgrade's plan (_containerd_upgrade) and its filter, with the version
texts of the containerd builds the lab runs (Debian bookworm 1.6.20, Debian sid 2.1.9) and an upstream one."""
from __future__ import annotations

import pytest

from ansible_collections.groundwork.k8s.plugins.filter.containerd_upgrade_plan import containerd_upgrade_plan, containerd_version
from ansible_collections.groundwork.k8s.plugins.module_utils import _containerd_upgrade as U

BOOKWORM = "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
SID = "containerd github.com/containerd/containerd/v2 2.1.9+unknown"
UPSTREAM = "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376"
# `ctr version` of a 1.6 daemon after the playbook's split('Server:') | last
CTR_SERVER = "\n  Version:  1.6.20~ds1\n  Revision: 1.6.20~ds1-1+deb12u3\n  UUID: 5b1c7c6e-0000\n"


@pytest.mark.parametrize("text, want", [
    (BOOKWORM, (1, 6, 20)),
    (SID, (2, 1, 9)),
    (UPSTREAM, (2, 1, 4)),
    (CTR_SERVER, (1, 6, 20)),
    ("2.1.9", (2, 1, 9)),
    ("v2.0.5", (2, 0, 5)),
    ("", None),
    (None, None),
    ("containerd github.com/containerd/containerd/v2", None),  # "/v2" is not a version
])
def test_parse_version(text, want):
    assert U.parse_version(text) == want


@pytest.mark.parametrize("version, schema", [((1, 6, 20), 2), ((1, 7, 24), 2), ((2, 0, 0), 3), ((2, 1, 9), 3), (None, 2)])
def test_config_schema(version, schema):
    assert U.config_schema(version) == schema


def node(name, version=BOOKWORM, ready=True, known=True):
    return {"name": name, "version": version, "ready": ready, "known": known}


@pytest.mark.parametrize("nodes, target, upgrade, done, error", [
    # 1.6 -> 2.1 on every node, in inventory order
    ([node("cp1"), node("w1")], "2.1.9", ["cp1", "w1"], [], None),
    # a stopped run: cp1 done, w1 left
    ([node("cp1", SID), node("w1")], "2.1.9", ["w1"], ["cp1"], None),
    # finished: nothing to do
    ([node("cp1", SID), node("w1", SID)], "2.1.9", [], ["cp1", "w1"], None),
    # a patch or minor upgrade within 2.x
    ([node("cp1", UPSTREAM)], "2.1.9", ["cp1"], [], None),
    ([node("cp1")], "1.7.24", ["cp1"], [], None),
    # refusals
    ([node("cp1"), node("w1", ready=False)], "2.1.9", [], [], "w1 is not Ready"),
    ([node("cp1"), node("w9", known=False)], "2.1.9", [], [], "w9 is not a Node of the cluster"),
    ([node("cp1", SID)], "1.6.20", [], [], "cp1 runs containerd 2.1.9, newer than the target 1.6.20"),
    ([node("cp1")], "3.0.0", [], [], "skips a major version; upgrade to the newest 2.x first"),
    ([node("cp1", "ctr: failed to dial")], "2.1.9", [], [], "cp1: containerd's version could not be read"),
    ([node("cp1")], "", [], [], "the artifact manifest's containerd has no version"),
])
def test_plan(nodes, target, upgrade, done, error):
    p = U.plan(nodes, target)
    if error:
        assert any(error in e for e in p["errors"]), p["errors"]
        assert p["msg"].startswith("upgrade_containerd.yml refused before any change: ")
    else:
        assert p["errors"] == []
        assert (p["upgrade"], p["done"]) == (upgrade, done)


def test_plan_messages():
    p = U.plan([node("cp1"), node("w1", SID)], "2.1.9")
    assert p["msg"] == "containerd 2.1.9 on cp1, one node at a time (cp1 1.6.20)"
    assert p["versions"] == {"cp1": "1.6.20", "w1": "2.1.9"}
    assert U.plan([node("cp1", SID)], "2.1.9")["msg"] == "every node runs containerd 2.1.9: nothing to upgrade"


def api(*nodes):
    return {"items": [{"metadata": {"name": n}, "status": {"conditions": [{"type": "Ready", "status": s}]}} for n, s in nodes]}


@pytest.mark.parametrize("api_nodes, want_upgrade, error", [
    (api(("cp1", "True"), ("w1", "True")), ["cp1", "w1"], None),
    (api(("cp1", "True"), ("w1", "Unknown")), [], "w1 is not Ready"),
    (api(("cp1", "True")), [], "w1 is not a Node of the cluster"),
])
def test_filter(api_nodes, want_upgrade, error):
    p = containerd_upgrade_plan({"target": "2.1.9", "names": ["cp1", "w1"],
                                 "versions": {"cp1": CTR_SERVER, "w1": BOOKWORM}, "api_nodes": api_nodes})
    if error:
        assert any(error in e for e in p["errors"]), p["errors"]
    else:
        assert p["upgrade"] == want_upgrade and p["errors"] == []


@pytest.mark.parametrize("text, want", [(BOOKWORM, "1.6.20"), (SID, "2.1.9"), (UPSTREAM, "2.1.4"), ("v2.1.9", "2.1.9"),
                                        ("skipped, since /etc/kubernetes/kubelet.conf does not exist", ""), ("", "")])
def test_containerd_version_filter(text, want):
    assert containerd_version(text) == want
