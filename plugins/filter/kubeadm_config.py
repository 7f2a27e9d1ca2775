# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: kubeadm_config
short_description: kubeadm v1beta4 configuration and control-plane hardening files as data
version_added: 0.1.0
description:
  - C(kubeadm_init_config) turns the control_plane role's inputs (a dict) into the list of documents
    InitConfiguration, ClusterConfiguration, KubeletConfiguration, KubeProxyConfiguration (stacked or external
    etcd; NodeRestriction, profiling off, audit policy and log, encryption of Secrets at rest, Pod Security
    admission defaults).
  - C(kubeadm_join_config) renders a JoinConfiguration (the CA hash is required).
  - C(kubeadm_audit_policy), C(kubeadm_admission_config) and C(kubeadm_encryption_config) return the files the API
    server reads.
positional: _input
options:
  _input:
    description: The inputs (dict) or, for C(kubeadm_encryption_config), the base64 of a 32-byte key.
    type: raw
    required: true
author:
  - Groundwork maintainers
"""

EXAMPLES = r"""
- name: Render the kubeadm configuration
  ansible.builtin.set_fact:
    kubeadm_docs: "{{ {'node_name': 'cp1', 'advertise_address': '10.0.0.2', 'kubernetes_version': 'v1.35.0'} | groundwork.k8s.kubeadm_init_config }}"
"""

RETURN = r"""
_value:
  description: A list of documents (init, join) or one document (the hardening files).
  type: raw
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _kubeadm
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def _wrap(func):
    def inner(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GroundworkError as exc:
            raise AnsibleFilterError(exc.msg)
    return inner


def kubeadm_init_config(params):
    return _kubeadm.render_init(dict(params))


def kubeadm_join_config(params):
    return _kubeadm.render_join(dict(params))


def kubeadm_audit_policy(_unused=None):
    return _kubeadm.audit_policy()


def kubeadm_admission_config(level="baseline", exempt_namespaces=("kube-system",)):
    return _kubeadm.admission_config(level, exempt_namespaces)


def kubeadm_encryption_config(key_b64):
    return _kubeadm.encryption_config(key_b64)


class FilterModule(object):
    def filters(self):
        return {
            "kubeadm_init_config": _wrap(kubeadm_init_config),
            "kubeadm_join_config": _wrap(kubeadm_join_config),
            "kubeadm_audit_policy": _wrap(kubeadm_audit_policy),
            "kubeadm_admission_config": _wrap(kubeadm_admission_config),
            "kubeadm_encryption_config": _wrap(kubeadm_encryption_config),
        }
