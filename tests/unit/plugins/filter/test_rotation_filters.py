# -*- coding: utf-8 -*-
"""The rotation_plan and restarts_for filters (tables)."""
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.filter.restarts_for import restarts_for
from ansible_collections.groundwork.k8s.plugins.filter.rotation_plan import rotation_plan
from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as R


def _doc(phase, rid="r1", in_progress=None):
    doc = R.new_state(rid, ["ca", "sa"], "2026-11-21T00:00:00Z")
    doc.update(phase=phase, in_progress=in_progress)
    return doc


@pytest.mark.parametrize("states, phase, given, expected_id, resuming, phases, first", [
    ({"cp1": None, "cp2": None}, "1", "", "gen", False, ["trusted"], {"phase": "trusted", "todo": ["cp1", "cp2"]}),
    ({"cp1": None, "cp2": None}, "all", "mine", "mine", False, ["trusted", "reissued", "retired"],
     {"phase": "trusted", "todo": ["cp1", "cp2"]}),
    # an unfinished rotation is resumed under its own id, whatever is given
    ({"cp1": _doc("reissued"), "cp2": _doc("trusted", in_progress="reissued")}, "2", "other", "r1", True, ["reissued"],
     {"phase": "reissued", "todo": ["cp2"]}),
    ({"cp1": _doc("reissued"), "cp2": _doc("trusted")}, "all", "", "r1", True, ["reissued", "retired"],
     {"phase": "reissued", "todo": ["cp2"]}),
    # a finished rotation: re-running without an id does nothing; a new id starts a new one
    ({"cp1": _doc("retired"), "cp2": _doc("retired")}, "all", "", "r1", False, [], {}),
    ({"cp1": _doc("retired"), "cp2": _doc("retired")}, "1", "", "r1", False, ["trusted"], {"phase": "trusted", "todo": []}),
    ({"cp1": _doc("retired"), "cp2": _doc("retired")}, "1", "r2", "r2", False, ["trusted"],
     {"phase": "trusted", "todo": ["cp1", "cp2"]}),
    # w2 joined after r1 finished (no state): re-running phase 3 or all of r1 does nothing instead of refusing w2
    ({"cp1": _doc("retired"), "w2": None}, "3", "", "r1", False, ["retired"], {"phase": "retired", "todo": []}),
    ({"cp1": _doc("retired"), "w2": None}, "all", "", "r1", False, [], {}),
    # ... and a new rotation includes it from phase 1
    ({"cp1": _doc("retired"), "w2": None}, "1", "r2", "r2", False, ["trusted"], {"phase": "trusted", "todo": ["cp1", "w2"]}),
])
def test_rotation_plan(states, phase, given, expected_id, resuming, phases, first):
    plan = rotation_plan(states, phase, given, "gen")
    assert (plan["rotation_id"], plan["resuming"], plan["phases"], plan["first"]) == (expected_id, resuming, phases, first)


@pytest.mark.parametrize("states, phase, message", [
    ({"cp1": _doc("trusted"), "cp2": None}, "2", "cp2: phase none, needs trusted first"),
    ({"cp1": _doc("trusted", rid="a"), "cp2": _doc("trusted", rid="b")}, "2", "more than one unfinished rotation"),
    ({"cp1": None}, "5", "unknown CA rotation phase"),
])
def test_rotation_plan_refuses(states, phase, message):
    with pytest.raises(AnsibleFilterError, match=message):
        rotation_plan(states, phase, "x")


@pytest.mark.parametrize("paths, expected", [
    (["/etc/kubernetes/pki/apiserver.key"], ["kube-apiserver"]),
    (["/etc/kubernetes/pki/etcd/ca.key"], ["etcd", "kube-apiserver"]),
    (["/etc/kubernetes/pki/front-proxy-ca.key"], ["kube-apiserver", "kube-controller-manager"]),
    (["/etc/kubernetes/pki/sa.key"], ["kube-apiserver", "kube-controller-manager"]),
    (["/etc/kubernetes/admin.conf"], []),
    ([], []),
])
def test_restarts_for(paths, expected):
    assert restarts_for(paths) == expected
