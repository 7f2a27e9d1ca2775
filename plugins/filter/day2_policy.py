# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: day2_policy
short_description: Version guard and per-version host policy (cgroup v1, containerd 1.x) for preflight
version_added: 0.1.0
description:
  - C(version_guard) - given the inventory's target version, the versions of the installed control planes' kube-apiserver manifests and the
    C(kubelet --version) of joined nodes, returns the problems (with their fix) that make preflight refuse the run before
    any binary changes. An empty dict of control-plane versions is a new cluster (nothing to guard).
  - C(runtime_policy) - target version, C(cgroup_v2) (bool), containerd version, C(fail_cgroup_v1) -> C({problems, notes}).
    Kubernetes >= 1.35 refuses cgroup v1 unless the kubelet configuration says C(failCgroupV1=false) (then a note);
    containerd 1.x is refused from 1.36 and noted for 1.35.
positional: _input
options:
  _input:
    description: The target version (C(groundwork_kubernetes_version)).
    type: str
    required: true
  cp_versions:
    description: Host to the version its kube-apiserver manifest runs.
    type: dict
    required: true
  kubelet_versions:
    description: Host to its kubelet's version (joined nodes only).
    type: dict
    required: true
  playbook:
    description: The playbook's name in the messages.
    type: str
    default: site.yml
author:
  - Groundwork maintainers (@groundwork)
"""

EXAMPLES = r"""
- name: Refuse another version than the cluster's
  ansible.builtin.assert:
    that: _problems | length == 0
    fail_msg: "{{ _problems }}"
  vars:
    _problems: "{{ 'v1.34.1' | groundwork.k8s.version_guard({'cp1': 'v1.33.3'}, {'w1': 'v1.33.3'}) }}"
"""

RETURN = r"""
_value:
  description: The problems, each naming the versions and the fix (empty when the run may go on).
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils._day2 import runtime_policy, version_guard
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def _version_guard(target, cp_versions, kubelet_versions, playbook="site.yml"):
    try:
        return version_guard(target, dict(cp_versions or {}), dict(kubelet_versions or {}), playbook)
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg)


def _runtime_policy(target, cgroup_v2, containerd_version=None, fail_cgroup_v1=None):
    problems, notes = runtime_policy(target, cgroup_v2, containerd_version or None, fail_cgroup_v1)
    return {"problems": problems, "notes": notes}


class FilterModule(object):
    def filters(self):
        return {"version_guard": _version_guard, "runtime_policy": _runtime_policy}
