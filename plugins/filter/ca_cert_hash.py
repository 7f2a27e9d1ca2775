# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: ca_cert_hash
short_description: kubeadm discovery hash of a CA certificate
version_added: 0.1.0
description:
  - Returns C(sha256:<hex>), the SHA-256 of the CA certificate's DER-encoded SubjectPublicKeyInfo, which is what
    C(kubeadm join --discovery-token-ca-cert-hash) pins and C(kubeadm token create --print-join-command) prints.
  - Accepts a PEM certificate (the first one of a bundle is hashed) or the base64 of one (a kubeconfig's
    C(certificate-authority-data)).
positional: _input
options:
  _input:
    description: PEM text of the CA certificate, or base64 of it.
    type: str
    required: true
requirements:
  - cryptography on the controller
author:
  - Groundwork maintainers
"""

EXAMPLES = r"""
- name: Pin the CA when joining
  ansible.builtin.set_fact:
    join_ca_hash: "{{ (ca_slurp.content | b64decode) | groundwork.k8s.ca_cert_hash }}"
"""

RETURN = r"""
_value:
  description: The hash, C(sha256:) followed by 64 lowercase hex digits.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def ca_cert_hash(pem):
    """kubeadm's discovery hash of a CA certificate."""
    if _pki.CRYPTOGRAPHY_IMPORT_ERROR:
        raise AnsibleFilterError("ca_cert_hash needs the Python library cryptography on the controller")
    try:
        return _pki.ca_cert_hash(pem)
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg)


class FilterModule(object):
    """groundwork.k8s PKI filters."""

    def filters(self):
        return {"ca_cert_hash": ca_cert_hash}
