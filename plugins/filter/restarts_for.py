# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: restarts_for
short_description: The control-plane components to restart after some PKI files changed
version_added: 0.1.0
description:
  - Maps changed kubeadm files (C(apiserver.crt), C(etcd/peer.crt), C(scheduler.conf), C(ca.crt)...) to the
    components that load them, in restart order (C(etcd), C(kube-apiserver), C(kube-controller-manager),
    C(kube-scheduler), C(kubelet)). Key files count as their certificate.
options:
  _input:
    description: Paths of the changed files.
    type: list
    elements: str
    required: true
author:
  - Groundwork maintainers (@groundwork)
"""

EXAMPLES = r"""
- name: Components to restart
  ansible.builtin.debug:
    msg: "{{ ['/etc/kubernetes/pki/apiserver.key'] | groundwork.k8s.restarts_for }}"
"""

RETURN = r"""
_value:
  description: Component names, in restart order.
  type: list
  elements: str
"""

import re

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as R


def restarts_for(paths):
    """Components to restart after ``paths`` changed (``x.key`` counts as ``x.crt``)."""
    return R.restarts_for([p if p.endswith("sa.key") else re.sub(r"\.key$", ".crt", p) for p in paths or []])


class FilterModule(object):
    """Rotation helpers."""

    def filters(self):
        return {"restarts_for": restarts_for}
