# -*- coding: utf-8 -*-
"""The filter as Ansible calls it: through FilterModule, rendered by a real Templar."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.filter.topology import FilterModule


def test_filter_is_registered_and_returns_errors_and_plan():
    topology = FilterModule().filters()["topology"]
    groups = {"all": ["a"], "kube_control_plane": ["a"], "kube_node": []}
    result = topology(groups, {"a": {"ansible_host": "127.0.0.1"}})
    assert result["errors"] == []
    assert result["plan"]["topology"] == "single_host"


@pytest.mark.parametrize("groups,hostvars", [("kube_control_plane", {}), ({}, "a")])
def test_filter_refuses_wrong_inputs(groups, hostvars):
    with pytest.raises(AnsibleFilterError, match="groups and hostvars"):
        FilterModule().filters()["topology"](groups, hostvars)


def test_node_subnet_filter():
    from ansible_collections.groundwork.k8s.plugins.filter.node_subnet import FilterModule as NodeSubnet
    node_subnet = NodeSubnet().filters()["node_subnet"]
    assert node_subnet("10.244.0.0/16", 24, 2) == "10.244.2.0/24"
    with pytest.raises(AnsibleFilterError, match="out of range"):
        node_subnet("10.244.0.0/16", 24, 256)
