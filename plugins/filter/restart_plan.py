# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: restart_plan
short_description: How to restart a node's static pods by moving manifests, finishing what an interrupted run left paused
version_added: 0.1.0
description:
  - Given the components owed a restart and the manifests found in the kubelet's staticPodPath and in the
    paused dir, returns C(move_out) (manifests to pause now), C(interrupted) (left paused by an earlier run
    that was killed or cancelled, moved back too), C(wait) (pods whose port must close first), C(move_back)
    and C(conflicts) (a manifest in both dirs, where nothing may be moved until someone decides which is right).
options:
  _input:
    description: Components owed a restart (C(etcd), C(kube-apiserver), C(kube-controller-manager), C(kube-scheduler), C(kubelet)).
    type: list
    elements: str
    required: true
  running:
    description: Names (without C(.yaml)) of the manifests in staticPodPath.
    type: list
    elements: str
    required: true
  paused:
    description: Names (without C(.yaml)) of the manifests in the paused dir.
    type: list
    elements: str
    required: true
  pods:
    description: The static pods whose port tells when they stopped.
    type: list
    elements: str
    required: true
author:
  - Groundwork maintainers (@groundwork)
"""

EXAMPLES = r"""
- name: Restart plan
  ansible.builtin.debug:
    msg: >-
      {{ ['kube-apiserver', 'kubelet'] | groundwork.k8s.restart_plan(['kube-apiserver', 'etcd'], ['kube-scheduler'],
                                                                    ['kube-apiserver', 'kube-scheduler']) }}
"""

RETURN = r"""
_value:
  description: C(move_out), C(interrupted), C(wait), C(move_back), C(conflicts) (lists of pod names).
  type: dict
"""

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as R


def restart_plan(restart, running, paused, pods):
    """See DOCUMENTATION."""
    return R.static_pod_restart_plan(restart or [], running or [], paused or [], pods or [])


class FilterModule(object):
    """Rotation helpers."""

    def filters(self):
        return {"restart_plan": restart_plan}
