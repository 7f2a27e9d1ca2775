# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: topology
short_description: Validate a Groundwork inventory and plan where everything goes
version_added: 0.1.0
author: Groundwork maintainers
description:
  - Reads the inventory groups (V(kube_control_plane), V(kube_node), V(etcd), V(mirror), V(backup))
    and the hosts' variables, and returns every problem found, each with what to change,
    plus the plan (topology, API endpoint, what runs where).
  - Checks an odd external etcd count (3, 5, 7; 1 only with O(groundwork_allow_single_etcd)), the quorum
    of stacked control planes, that more than one control plane has an API endpoint, unique node names
    and addresses, unknown groups (typos such as C(kube_control_planes)), supported Kubernetes
    versions, subnets, and that cluster-wide variables are the same on every host.
  - Runs on the controller only; it touches no host.
options:
  _input:
    description: The C(groups) magic variable.
    type: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable (or a dict of host name to its variables).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Validate the inventory
  ansible.builtin.set_fact:
    topology: "{{ groups | groundwork.k8s.topology(hostvars) }}"
  run_once: true

- name: Stop on any problem
  ansible.builtin.assert:
    that: topology.errors | length == 0
    fail_msg: "{{ topology.errors }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The result of the checks.
  type: dict
  contains:
    errors:
      description: One line per problem, each ending with C(Fix:) and what to change. Empty when the inventory is valid.
      type: list
      elements: str
    warnings:
      description: Things that work but deserve a look (an even count of stacked control planes, a pre-release version).
      type: list
      elements: str
    plan:
      description:
        - The plan, with keys C(topology) (V(single_host), V(two_hosts), V(single_control_plane), V(stacked_ha),
          V(external_etcd)), C(kubernetes_version), C(etcd_mode), C(etcd_members), C(etcd_failures_tolerated),
          C(api_endpoint_mode), C(control_plane_endpoint) (the resolved C(host:port) every node uses),
          C(first_control_plane), C(control_planes), C(workers), C(schedulable_control_planes), C(mirror),
          C(backup), C(hosts) (per host its address, node name and what it runs) and C(summary) (lines to print).
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils._topology import check


def topology(groups, hostvars):
    """Validate the inventory model; see DOCUMENTATION."""
    if not hasattr(groups, "get") or not hasattr(hostvars, "get"):
        raise AnsibleFilterError("topology expects the groups and hostvars magic variables: "
                                 "groups | groundwork.k8s.topology(hostvars)")
    return check(groups, hostvars)


class FilterModule(object):
    """Inventory topology checks."""

    def filters(self):
        return {"topology": topology}
