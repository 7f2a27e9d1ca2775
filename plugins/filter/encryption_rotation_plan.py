# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: encryption_rotation_plan
short_description: What a Secrets encryption key rotation still has to do, from what each control plane holds
version_added: 0.1.0
description:
  - Input is hostvars; each control plane's C(info) result of M(groundwork.k8s.encryption_key) is read from the variable
    named by O(var). Returns C(errors) (refusals, naming keys by name), C(old), C(new), C(provider), C(done), C(start),
    C(rewrite), C(levels) (host -> 0 only the old key, 1 old first, 2 new first, 3 only the new key), C(hosts)
    (host -> key names) and C(lines) (what to print). Never key material.
  - With O(secret=true) it returns instead the new key's material (base64) - the one a control plane already holds
    (a resumed run) or 32 fresh random bytes. Use it only in C(no_log) tasks.
options:
  _input:
    description: hostvars.
    type: dict
    required: true
  hosts:
    description: The control planes.
    type: list
    elements: str
    required: true
  requested:
    description: Name for the new key.
    type: str
    required: true
  var:
    description: Name of the registered C(info) result on each host.
    type: str
    default: encryption_rotation_info
  secret:
    description: Return the new key's material instead of the plan.
    type: bool
    default: false
author:
  - Groundwork maintainers (@groundwork)
"""

EXAMPLES = r"""
- name: Plan
  ansible.builtin.set_fact:
    encryption_rotation_plan: "{{ hostvars | groundwork.k8s.encryption_rotation_plan(groups['kube_control_plane'], 'key-20261206') }}"
"""

RETURN = r"""
_value:
  description: The plan (or, with O(secret=true), the new key's material).
  type: raw
"""

from ansible_collections.groundwork.k8s.plugins.module_utils import _enckey as E


def encryption_rotation_plan(hostvars, hosts, requested, var="encryption_rotation_info", secret=False):
    """See DOCUMENTATION."""
    infos = {h: (hostvars.get(h) or {}).get(var) or {} for h in hosts}
    p = E.plan(infos, list(hosts), requested)
    if secret:
        return E.chosen_secret(infos, list(hosts), p["new"])
    return p


class FilterModule(object):
    """Secrets encryption key rotation."""

    def filters(self):
        return {"encryption_rotation_plan": encryption_rotation_plan}
