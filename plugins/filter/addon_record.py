# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: addon_record
short_description: What the add-ons record keeps after a run
version_added: 0.1.0
description:
  - From the add-on plan (filter C(groundwork.k8s.addon_plan)), the earlier record and the add-ons pruned in this
    run, returns the sorted list of installed add-ons (C(key), C(name), C(namespace), C(chart), C(version)) - the
    ones present now plus earlier ones neither removed (C(state=absent)) nor pruned.
author:
  - Groundwork maintainers (@groundwork)
positional: previous, pruned
options:
  _input:
    description: The add-on plan.
    type: list
    elements: dict
    required: true
  previous:
    description: The earlier record.
    type: list
    elements: dict
    required: true
  pruned:
    description: Add-ons removed in this run because they left the inventory.
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: The new record
  ansible.builtin.set_fact:
    record: "{{ plan | groundwork.k8s.addon_record(previous, []) }}"
"""

RETURN = r"""
_value:
  description: The installed add-ons, sorted by C(namespace/name).
  type: list
  elements: dict
"""

from ansible_collections.groundwork.k8s.plugins.module_utils import _addons


def addon_record(plan, previous, pruned):
    return _addons.record(plan, previous, pruned)


class FilterModule(object):
    def filters(self):
        return {"addon_record": addon_record}
