#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kubeconfig
short_description: Ensure kubeadm's kubeconfig files with embedded client certificates
version_added: 0.1.0
description:
  - Writes C(admin.conf), C(super-admin.conf), C(controller-manager.conf), C(scheduler.conf) and C(kubelet.conf) as
    kubeadm writes them (same layout, cluster name, context C(<user>@<cluster>), embedded CA and client certificate
    and key), mode 0600, signed by the cluster CA in O(pki_dir).
  - C(admin.conf) and C(super-admin.conf) point at O(control_plane_endpoint); C(controller-manager.conf),
    C(scheduler.conf) and C(kubelet.conf) at this node's O(advertise_address) (as kubeadm v1.35 does).
  - A file is rewritten when it is missing, its server, cluster name or embedded CA differ; its client certificate
    is reissued when it is missing, its subject differs, it is not signed by the current CA, its key does not match,
    or it expires within O(renew_threshold_days). A C(kubelet.conf) whose client certificate is a file (rotated by the
    kubelet) is left alone.
  - Without C(ca.key) (external CA mode) due files are reported in RV(due_external), never invented.
author:
  - Groundwork maintainers (@groundwork)
requirements:
  - cryptography >= 38 (Debian 12 python3-cryptography) and PyYAML on the target host
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows server, cluster and client certificate summaries, never key material.
  idempotent:
    support: full
options:
  kubeconfig_dir:
    description: Where the files go.
    type: path
    default: /etc/kubernetes
  pki_dir:
    description: kubeadm's certificatesDir holding C(ca.crt) and C(ca.key).
    type: path
    default: /etc/kubernetes/pki
  names:
    description: Which files (without C(.conf)). Joined control planes have no C(super-admin.conf) in kubeadm.
    type: list
    elements: str
    choices: [admin, super-admin, controller-manager, scheduler, kubelet]
    default: [admin, super-admin, controller-manager, scheduler, kubelet]
  cluster_name:
    description: kubeadm clusterName (the cluster entry and context names).
    type: str
    default: kubernetes
  control_plane_endpoint:
    description: C(host:port) of the API for C(admin.conf) and C(super-admin.conf).
    type: str
  advertise_address:
    description: This node's API address for the local components' kubeconfigs.
    type: str
  bind_port:
    description: API server port used with O(advertise_address), and with an endpoint without a port.
    type: int
    default: 6443
  node_name:
    description: Node name; the kubelet's user is C(system:node:<node_name>). Required for V(kubelet).
    type: str
  key_type:
    description: Key type of new client keys.
    type: str
    choices: [rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384]
    default: rsa2048
  validity_days:
    description: Validity of the client certificates.
    type: int
    default: 365
  renew_threshold_days:
    description: A client certificate that expires within this many days is renewed.
    type: int
    default: 30
  force_renew:
    description: Files (without C(.conf)) whose client certificate is renewed now.
    type: list
    elements: str
    default: []
seealso:
  - module: groundwork.k8s.cluster_pki
"""

EXAMPLES = r"""
- name: Kubeconfigs of the first control plane
  groundwork.k8s.kubeconfig:
    cluster_name: groundwork-lab
    control_plane_endpoint: lb.example.internal:6443
    advertise_address: 10.250.0.2
    node_name: cp1

- name: Joined control planes get no super-admin.conf
  groundwork.k8s.kubeconfig:
    names: [admin, controller-manager, scheduler, kubelet]
    cluster_name: groundwork-lab
    control_plane_endpoint: lb.example.internal:6443
    advertise_address: 10.250.0.4
    node_name: cp2
"""

RETURN = r"""
kubeconfigs:
  description: What happened to each file, keyed by name.
  returned: always
  type: dict
  sample: {"admin": {"path": "/etc/kubernetes/admin.conf", "action": "created", "reasons": ["kubeconfig missing"],
                     "server": "https://lb.example.internal:6443"}}
written:
  description: Files written (in check mode, files that would be written).
  returned: always
  type: list
  elements: str
due_external:
  description: Files missing or due that were not written because C(ca.key) is absent (external CA mode).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def main():
    names = list(_pki.KUBECONFIGS)
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig_dir=dict(type="path", default="/etc/kubernetes"),
            pki_dir=dict(type="path", default="/etc/kubernetes/pki"),
            names=dict(type="list", elements="str", choices=names, default=names),
            cluster_name=dict(type="str", default="kubernetes"),
            control_plane_endpoint=dict(type="str"),
            advertise_address=dict(type="str"),
            bind_port=dict(type="int", default=6443),
            node_name=dict(type="str"),
            key_type=dict(type="str", default="rsa2048", choices=list(_pki.KEY_TYPES)),
            validity_days=dict(type="int", default=365),
            renew_threshold_days=dict(type="int", default=30),
            force_renew=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    if _pki.CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=_pki.CRYPTOGRAPHY_IMPORT_ERROR)
    if _pki.YAML_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=_pki.YAML_IMPORT_ERROR)
    try:
        plan = _pki.plan_kubeconfigs(module.params)
        _pki.apply_writes(plan.writes, check_mode=module.check_mode)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    for warning in plan.warnings:
        module.warn(warning)
    module.exit_json(changed=plan.changed, kubeconfigs=plan.report, written=[w[0] for w in plan.writes],
                     due_external=plan.due_external, diff=dict(before=plan.before, after=plan.after))


if __name__ == "__main__":
    main()
