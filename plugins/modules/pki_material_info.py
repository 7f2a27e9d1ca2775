#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pki_material_info
short_description: Read the shared CA and service-account files of a PKI directory in one call
version_added: 0.1.0
description:
  - Reads the named files below O(pki_dir) (the CA certificates and keys and C(sa.key) that every control
    plane shares) and returns their content, so a role can hand them to M(groundwork.k8s.cluster_pki) on the
    other hosts with one round trip instead of a C(stat) and a C(slurp) per file.
  - B(The result holds private keys.) Use it only on a task with C(no_log=true), and never register it
    where it may be printed.
  - Only regular files directly named in O(files) are read; names may not leave O(pki_dir).
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
  - groundwork.k8s.attributes.INFO_MODULE
options:
  pki_dir:
    description: kubeadm's certificatesDir.
    type: path
    default: /etc/kubernetes/pki
  files:
    description: Paths relative to O(pki_dir), such as C(ca.crt), C(ca.key), C(etcd/ca.key), C(sa.key).
    type: list
    elements: str
    required: true
seealso:
  - module: groundwork.k8s.cluster_pki
  - module: groundwork.k8s.pki_info
"""

EXAMPLES = r"""
- name: Read the CA material of the first control plane
  groundwork.k8s.pki_material_info:
    files: [ca.crt, ca.key, front-proxy-ca.crt, front-proxy-ca.key, sa.key]
  register: shared
  delegate_to: cp1
  run_once: true
  no_log: true
"""

RETURN = r"""
material:
  description: Content (text) of each file that exists, by its name in O(files).
  returned: success
  type: dict
  sample: {"ca.crt": "-----BEGIN CERTIFICATE-----\n..."}
missing:
  description: Names in O(files) that do not exist.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pki_dir=dict(type="path", default="/etc/kubernetes/pki"),
            files=dict(type="list", elements="str", required=True),
        ),
        supports_check_mode=True,
    )
    try:
        material, missing = _pki.read_material(module.params["pki_dir"], module.params["files"])
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    module.exit_json(changed=False, material=material, missing=missing)


if __name__ == "__main__":
    main()
