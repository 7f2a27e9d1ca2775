#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: client_certificate
short_description: Sign a short-lived user client certificate with the cluster CA
version_added: 0.2.0
description:
  - Runs on a control plane. Signs O(public_key) with C(ca.key) in O(pki_dir) as a client certificate for
    O(user) (CN) and O(groups) (O), valid for O(validity_hours) from now (notBefore 5 minutes back).
    The private key never comes here; it stays where the kubeconfig is written (see M(groundwork.k8s.user_kubeconfig)).
  - Without O(public_key) it only returns the CA bundle and the server and cluster name of O(admin_kubeconfig).
  - Refuses C(system:*) users and groups; C(system:masters) only with O(allow_system_masters), because such a
    certificate bypasses RBAC and cannot be revoked by removing bindings (only by rotating the cluster CA).
  - Nothing is recorded on the host; Kubernetes has no revocation list for client certificates, so revoke access by
    removing the user's or group's RBAC bindings.
author:
  - Groundwork maintainers (@groundwork)
requirements:
  - cryptography >= 38 and PyYAML on the target host
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is signed; RV(certificate) is not returned.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Each run with O(public_key) issues a new certificate (a new serial); M(groundwork.k8s.user_kubeconfig) decides
        whether one is needed.
options:
  pki_dir:
    description: kubeadm's certificatesDir holding C(ca.crt) and C(ca.key).
    type: path
    default: /etc/kubernetes/pki
  admin_kubeconfig:
    description: Kubeconfig whose server and cluster name are returned (read only, never handed out).
    type: path
    default: /etc/kubernetes/admin.conf
  user:
    description: User name (certificate CN).
    type: str
    required: true
  groups:
    description: Group names (certificate O).
    type: list
    elements: str
    default: []
  public_key:
    description: PEM public key to sign. Without it nothing is signed.
    type: str
  validity_hours:
    description: Validity of the certificate, at most 744 (31 days).
    type: float
    default: 8
  allow_system_masters:
    description: Allow the group C(system:masters) (bypasses RBAC; revocable only by CA rotation).
    type: bool
    default: false
seealso:
  - module: groundwork.k8s.user_kubeconfig
"""

EXAMPLES = r"""
- name: CA bundle and API server of the cluster
  groundwork.k8s.client_certificate:
    user: alice
  register: ca_info

- name: Sign a public key for alice in platform-admins for 4 hours
  groundwork.k8s.client_certificate:
    user: alice
    groups: [platform-admins]
    public_key: "{{ alice_public_key }}"
    validity_hours: 4
"""

RETURN = r"""
certificate:
  description: The signed certificate (PEM). Not returned in check mode or without O(public_key).
  returned: when signed
  type: str
ca:
  description: The cluster CA bundle (C(ca.crt), PEM).
  returned: always
  type: str
server:
  description: The server of O(admin_kubeconfig), null when it cannot be read.
  returned: always
  type: str
cluster:
  description: The cluster name of O(admin_kubeconfig), null when it cannot be read.
  returned: always
  type: str
not_after:
  description: Expiry of the signed certificate (ISO 8601, UTC).
  returned: when signed
  type: str
serial:
  description: Serial number of the signed certificate (hex).
  returned: when signed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki, _user_cert
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pki_dir=dict(type="path", default="/etc/kubernetes/pki"),
            admin_kubeconfig=dict(type="path", default="/etc/kubernetes/admin.conf"),
            user=dict(type="str", required=True),
            groups=dict(type="list", elements="str", default=[]),
            public_key=dict(type="str"),
            validity_hours=dict(type="float", default=8),
            allow_system_masters=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if _pki.CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=_pki.CRYPTOGRAPHY_IMPORT_ERROR)
    if _pki.YAML_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=_pki.YAML_IMPORT_ERROR)
    p = module.params
    sign = bool(p["public_key"]) and not module.check_mode
    try:
        groups = _user_cert.check_identity(p["user"], p["groups"], p["allow_system_masters"])
        hours = _user_cert.check_validity(p["validity_hours"])
        now = _pki.utcnow()
        certs, key, bundle = _user_cert.read_ca(p["pki_dir"], need_key=bool(p["public_key"]), now=now)
        server, cluster = _user_cert.admin_server(p["admin_kubeconfig"])
        out = dict(ca=bundle.decode("ascii"), server=server, cluster=cluster)
        if sign:
            cert = _user_cert.issue(p["user"], groups, p["public_key"], certs[0], key, now, hours)
            out.update(certificate=_pki.cert_pem(cert).decode("ascii"), not_after=_pki.not_after(cert).isoformat(),
                       serial="%x" % cert.serial_number)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    module.exit_json(changed=bool(p["public_key"]), **out)


if __name__ == "__main__":
    main()
