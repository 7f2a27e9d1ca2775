#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pki_info
short_description: Every certificate and kubeconfig client certificate on a host, with days left
version_added: 0.1.0
description:
  - Reads every C(*.crt) below O(pki_dir) and every C(*.conf) kubeconfig in O(kubeconfig_dir) (embedded client
    certificate, or the file it points at, such as the kubelet's rotated C(kubelet-client-current.pem)).
  - Returns subject, SANs, issuer, not-before, not-after and whole days left for each, sorted by expiry (soonest
    first). Never returns key material. Missing directories give an empty list.
author:
  - Groundwork maintainers (@groundwork)
requirements:
  - cryptography >= 38 (Debian 12 python3-cryptography) and PyYAML on the target host
extends_documentation_fragment:
  - groundwork.k8s.attributes
  - groundwork.k8s.attributes.INFO_MODULE
options:
  pki_dir:
    description: kubeadm's certificatesDir.
    type: path
    default: /etc/kubernetes/pki
  kubeconfig_dir:
    description: Directory of the kubeconfig files; empty to skip them.
    type: path
    default: /etc/kubernetes
seealso:
  - module: groundwork.k8s.cluster_pki
"""

EXAMPLES = r"""
- name: Read the certificates of this host
  groundwork.k8s.pki_info:
  register: pki

- name: Show what expires within 30 days
  ansible.builtin.debug:
    msg: "{{ pki.certificates | selectattr('days_left', 'defined') | selectattr('days_left', 'lt', 30) | map(attribute='name') }}"
"""

RETURN = r"""
certificates:
  description: One entry per certificate, soonest expiry first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: kubeadm-style name (C(apiserver), C(etcd/peer)) or the kubeconfig file name (C(admin.conf)).
      type: str
    path:
      description: File it was read from.
      type: str
    source:
      description: C(file), C(kubeconfig) or C(kubeconfig (<client certificate file>)).
      type: str
    subject:
      description: RFC 4514 subject.
      type: str
    issuer:
      description: RFC 4514 issuer.
      type: str
    sans:
      description: SANs as C(DNS:name) and C(IP:address).
      type: list
      elements: str
    not_before:
      description: ISO 8601 UTC.
      type: str
    not_after:
      description: ISO 8601 UTC.
      type: str
    days_left:
      description: Whole days until not_after (negative when expired).
      type: int
    is_ca:
      description: Whether it is a CA certificate.
      type: bool
    server:
      description: For kubeconfigs, the API server URL.
      type: str
    error:
      description: Why the certificate could not be read (C(missing) or a parse error); other fields are absent then.
      type: str
  sample: [{"name": "apiserver", "path": "/etc/kubernetes/pki/apiserver.crt", "subject": "CN=kube-apiserver",
            "issuer": "CN=kubernetes", "sans": ["DNS:cp1", "IP:10.96.0.1"], "not_after": "2027-11-21T21:03:53+00:00",
            "days_left": 364, "is_ca": false}]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pki_dir=dict(type="path", default="/etc/kubernetes/pki"),
            kubeconfig_dir=dict(type="path", default="/etc/kubernetes"),
        ),
        supports_check_mode=True,
    )
    if _pki.CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=_pki.CRYPTOGRAPHY_IMPORT_ERROR)
    if _pki.YAML_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=_pki.YAML_IMPORT_ERROR)
    try:
        rows = _pki.scan(module.params["pki_dir"], module.params["kubeconfig_dir"])
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    module.exit_json(changed=False, certificates=rows)


if __name__ == "__main__":
    main()
