# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: addon_plan
short_description: Check the inventory's add-ons against the artifact manifest's charts
version_added: 0.1.0
description:
  - Takes the add-on list (C(addons_releases)) and returns one item per add-on with C(name), C(chart),
    C(version), C(namespace), C(values), C(state) and C(images) (the chart's images pinned by digest).
  - Fails naming every bad item, the variable to set and the fix, before anything changes - a chart or version
    the manifest lacks, a chart or image without a checksum, a bad name, namespace or state, duplicates.
author:
  - Groundwork maintainers (@groundwork)
positional: manifest, kubernetes_version
options:
  _input:
    description: The add-on list.
    type: list
    elements: dict
    required: true
  manifest:
    description: The artifact manifest (data).
    type: dict
    required: true
  kubernetes_version:
    description: Kubernetes version of the cluster; its release's charts are the ones offered.
    type: str
    required: true
  var:
    description: Name of the variable the list came from (used in messages).
    type: str
    default: addons_releases
"""

EXAMPLES = r"""
- name: Add-ons to apply
  ansible.builtin.set_fact:
    plan: "{{ addons_releases | groundwork.k8s.addon_plan(manifest, 'v1.33.3') }}"
"""

RETURN = r"""
_value:
  description: One dict per add-on (name, chart, version, namespace, values, state, images).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _addons
from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def addon_plan(releases, manifest, kubernetes_version, var="addons_releases"):
    try:
        rel = A.release_for(A.load_manifest(manifest), kubernetes_version)
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg)
    plan, errors = _addons.plan_releases(releases, rel, var)
    if errors:
        raise AnsibleFilterError("add-ons refused (nothing was changed):\n- " + "\n- ".join(errors))
    return plan


class FilterModule(object):
    def filters(self):
        return {"addon_plan": addon_plan}
