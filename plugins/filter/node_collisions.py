# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: node_collisions
short_description: Hosts whose name is a Node object owned by another machine
version_added: 0.1.0
description:
  - A Node belongs to the machine whose address (or machine ID) it reports. Returns one entry per host whose
    inventory name is an existing Node of another machine, with a message naming the fix. Preflight refuses
    such hosts; C(reset.yml) never deletes such a Node.
positional: _input
options:
  _input:
    description: C(kubectl get nodes -o json) (text or data).
    type: raw
    required: true
  hosts:
    description:
      - Inventory name -> C(address) (ansible_host) and C(machine_id) (/etc/machine-id), or a list of
        C(name), C(address), C(machine_id) dicts.
    type: raw
    required: true
author:
  - Groundwork maintainers
"""

EXAMPLES = r"""
- name: Collisions
  ansible.builtin.set_fact:
    clash: "{{ nodes.stdout | groundwork.k8s.node_collisions({'w1': {'address': '10.0.0.21', 'machine_id': mid}}) }}"
"""

RETURN = r"""
_value:
  description: C(host), C(address), C(node_addresses), C(node_machine_id), C(msg) per colliding host.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _dr


def node_collisions(nodes, hosts):
    try:
        return _dr.node_collisions(nodes, hosts)
    except (ValueError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("node_collisions: cannot read the Node list: %s" % exc)


class FilterModule(object):
    """groundwork.k8s disaster-recovery filters."""

    def filters(self):
        return {"node_collisions": node_collisions}
