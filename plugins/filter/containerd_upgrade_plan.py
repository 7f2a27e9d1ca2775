# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: containerd_upgrade_plan
short_description: Which nodes a rolling containerd upgrade would touch, or why it is refused
version_added: 0.1.0
description:
  - Takes what C(playbooks/upgrade_containerd.yml) read before any change - each node's containerd version
    (C(ctr version) of the daemon, else C(containerd --version)), the API's Node list and the artifact
    manifest's containerd version - and returns the plan.
  - Refused (C(errors) not empty) unless every node is a Ready Node of the cluster, every version was read,
    and no node would be downgraded or skip a major version.
positional: _input
options:
  _input:
    description:
      - C(target) (the manifest's containerd version), C(versions) (node name -> version text),
        C(api_nodes) (parsed C(kubectl get nodes -o json)), C(names) (the inventory's nodes, in order).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Plan
  ansible.builtin.set_fact:
    plan: "{{ {'target': '2.1.9', 'names': ['cp1', 'w1'], 'versions': {'cp1': '1.6.20', 'w1': '2.1.9'},
               'api_nodes': nodes_json} | groundwork.k8s.containerd_upgrade_plan }}"
"""

RETURN = r"""
_value:
  description: C(target), C(upgrade) (names, in order), C(done), C(versions) (name -> x.y.z), C(errors), C(msg).
  type: dict
"""

from ansible_collections.groundwork.k8s.plugins.module_utils import _containerd_upgrade as U


def containerd_upgrade_plan(data):
    names = list(data.get("names") or [])
    api = U.nodes_from_api(data.get("api_nodes") or {}, names)
    versions = data.get("versions") or {}
    nodes = [dict(api[n], name=n, version=versions.get(n, "")) for n in names]
    return U.plan(nodes, data.get("target") or "")


def containerd_version(text):
    """``containerd --version`` / ``ctr version`` text or a manifest version -> ``x.y.z`` ('' when there is none)."""
    v = U.parse_version(text)
    return U.show(v) if v else ""


class FilterModule(object):
    """groundwork.k8s containerd upgrade filters."""

    def filters(self):
        return {"containerd_upgrade_plan": containerd_upgrade_plan, "containerd_version": containerd_version}
