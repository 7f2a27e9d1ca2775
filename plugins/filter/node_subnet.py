# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: node_subnet
short_description: The n-th subnet of a given size inside a network
version_added: 0.1.0
author: Groundwork maintainers
description:
  - Returns the O(index)-th (0-based) subnet of prefix length O(prefix) inside the input network,
    for example one pod subnet per node for the plain bridge CNI.
  - Fails when the network is malformed, the prefix does not fit, or the index is out of range.
options:
  _input:
    description: The network in CIDR notation (host bits zero).
    type: str
    required: true
  prefix:
    description: Prefix length of each subnet.
    type: int
    required: true
  index:
    description: Which subnet, counting from 0.
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Pod subnet of the fourth node
  ansible.builtin.debug:
    msg: "{{ '10.244.0.0/16' | groundwork.k8s.node_subnet(24, 3) }}"  # 10.244.3.0/24
"""

RETURN = r"""
_value:
  description: The subnet in CIDR notation.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils._topology import nth_subnet


def node_subnet(network, prefix, index):
    """The index-th /prefix subnet of network; see DOCUMENTATION."""
    try:
        return nth_subnet(network, prefix, index)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("node_subnet: %s" % exc) from exc


class FilterModule(object):
    """Per-node address planning."""

    def filters(self):
        return {"node_subnet": node_subnet}
