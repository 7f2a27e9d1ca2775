#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_pki
short_description: Ensure the kubeadm certificate set of one host (CAs, SA keys, leaf certificates)
version_added: 0.1.0
description:
  - Writes the certificates and keys a kubeadm control plane or etcd member needs, in kubeadm's paths
    and with kubeadm's profiles (subjects, SANs, key usages, validity, issuer), before kubeadm runs;
    kubeadm then uses what exists.
  - CAs (C(ca), C(front-proxy-ca), C(etcd/ca)) are created only when absent. A CA on disk is never
    replaced, not even by a different CA passed in; that fails with a message (rotation is a separate
    playbook).
  - A leaf is (re)issued only when it is missing, its subject, SANs or usages differ from what is asked
    now, it is not signed by the current CA, its key does not match or has another type, it expires within
    O(renew_threshold_days), or it is listed in O(force_renew). Renewals keep a sound private key.
  - When a CA certificate exists but its key is neither on disk nor passed in (external CA mode), due or
    missing leaves are reported in RV(due_external) and a warning, never issued.
  - Every input is validated and every target checked for writability before the first byte is written.
    Private keys are written 0600 from the first byte through a temp file and an atomic move.
author:
  - Groundwork maintainers (@groundwork)
requirements:
  - cryptography >= 38 on the target host (Debian 12 python3-cryptography)
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows certificate summaries (subject, SANs, issuer, validity, fingerprint), never key material.
  idempotent:
    support: full
options:
  pki_dir:
    description: kubeadm's certificatesDir.
    type: path
    default: /etc/kubernetes/pki
  profile:
    description:
      - Which set this host gets.
      - V(control_plane) is C(ca), C(front-proxy-ca), C(sa.key)/C(sa.pub), C(apiserver), C(apiserver-kubelet-client),
        C(front-proxy-client) (a control plane with external etcd).
      - V(etcd) is C(etcd/ca), C(etcd/server), C(etcd/peer), C(etcd/healthcheck-client) (an external etcd member).
      - V(both) is the whole kubeadm set with stacked etcd, including C(apiserver-etcd-client).
      - V(etcd_client) is C(etcd/ca.crt) and C(apiserver-etcd-client) for a control plane with external etcd;
        the etcd CA must be passed in O(etcd_ca) and its key is used in memory only, never written.
    type: str
    choices: [control_plane, etcd, both, etcd_client]
    default: both
  node_name:
    description: The node name (kubeadm C(nodeRegistration.name)); CN and SAN of the etcd certificates, SAN of apiserver.
    type: str
  advertise_address:
    description: The IP address the API server and etcd advertise; a SAN of apiserver and the etcd certificates.
    type: str
  control_plane_endpoint:
    description: C(host:port) of the API (load balancer, VIP or DNS name); its host is a SAN of apiserver.
    type: str
  service_subnet:
    description: The service CIDR; its first address (C(kubernetes.default)) is a SAN of apiserver.
    type: str
    default: 10.96.0.0/12
  dns_domain:
    description: The cluster DNS domain (C(kubernetes.default.svc.<dns_domain>)).
    type: str
    default: cluster.local
  apiserver_cert_extra_sans:
    description:
      - Extra SANs of apiserver (kubeadm C(apiServer.certSANs)). IP addresses and DNS names; a prefix C(IP:) or C(DNS:)
        forces the kind. A malformed entry fails the task before anything is written.
    type: list
    elements: str
    default: []
  etcd_cert_extra_sans:
    description: Extra SANs of etcd/server and etcd/peer (kubeadm C(etcd.local.serverCertSANs)/C(peerCertSANs)).
    type: list
    elements: str
    default: []
  key_type:
    description: Key type of new keys (kubeadm C(encryptionAlgorithm)). A leaf with another key type is reissued.
    type: str
    choices: [rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384]
    default: rsa2048
  validity_days:
    description: Validity of leaf certificates (kubeadm C(certificateValidityPeriod)).
    type: int
    default: 365
  ca_validity_days:
    description: Validity of CAs created here (kubeadm C(caCertificateValidityPeriod)).
    type: int
    default: 3650
  renew_threshold_days:
    description: A leaf that expires within this many days is renewed.
    type: int
    default: 30
  force_renew:
    description: Leaves to renew now whatever their state (for example V(apiserver), V(etcd-peer)). CAs cannot be listed.
    type: list
    elements: str
    default: []
  ca:
    description:
      - The cluster CA to use instead of creating one (bring your own CA, or the CA of the first control plane).
      - O(ca.cert) may be a chain (an intermediate CA followed by its issuers); the first certificate must match
        O(ca.key). The whole chain is written to C(ca.crt).
      - Without O(ca.key) the CA is external (leaves signed by it are reported, not issued).
    type: dict
    suboptions:
      cert:
        description: PEM certificate (or chain) of the CA.
        type: str
        required: true
      key:
        description: PEM private key of the CA.
        type: str
  front_proxy_ca:
    description: The front-proxy CA, same format as O(ca).
    type: dict
    suboptions:
      cert:
        description: PEM certificate (or chain) of the CA.
        type: str
        required: true
      key:
        description: PEM private key of the CA.
        type: str
  etcd_ca:
    description: The etcd CA, same format as O(ca).
    type: dict
    suboptions:
      cert:
        description: PEM certificate (or chain) of the CA.
        type: str
        required: true
      key:
        description: PEM private key of the CA.
        type: str
  sa_key:
    description: PEM private key for service account tokens (C(sa.key)), shared by every control plane.
    type: str
notes:
  - Nothing secret is returned or shown in diffs; the keys in O(ca), O(front_proxy_ca), O(etcd_ca) and O(sa_key) are C(no_log).
seealso:
  - module: groundwork.k8s.kubeconfig
  - module: groundwork.k8s.pki_info
"""

EXAMPLES = r"""
- name: First control plane with stacked etcd creates the CAs and its certificates
  groundwork.k8s.cluster_pki:
    profile: both
    node_name: cp1
    advertise_address: 10.250.0.2
    control_plane_endpoint: lb.example.internal:6443
    apiserver_cert_extra_sans: [10.250.0.10, api.example.internal]

- name: Another control plane gets the CAs of the first one
  groundwork.k8s.cluster_pki:
    profile: both
    node_name: cp2
    advertise_address: 10.250.0.4
    control_plane_endpoint: lb.example.internal:6443
    ca: {cert: "{{ ca_crt }}", key: "{{ ca_key }}"}
    front_proxy_ca: {cert: "{{ fp_crt }}", key: "{{ fp_key }}"}
    etcd_ca: {cert: "{{ etcd_crt }}", key: "{{ etcd_key }}"}
    sa_key: "{{ sa_key }}"
  no_log: true
"""

RETURN = r"""
certificates:
  description: What happened to each item (CAs, sa, leaves), keyed by kubeadm name.
  returned: always
  type: dict
  sample: {"apiserver": {"path": "/etc/kubernetes/pki/apiserver.crt", "action": "renewed",
           "reasons": ["SANs differ: missing ['DNS:api2.example'], unwanted []"]}}
written:
  description: Files written (in check mode, files that would be written).
  returned: always
  type: list
  elements: str
due_external:
  description: Leaves missing or due that were not issued because the CA key is not available (external CA mode).
  returned: always
  type: list
  elements: dict
ca_cert_hash:
  description: The discovery hash C(sha256:<hex>) of the cluster CA, when this profile includes it.
  returned: when the profile includes the cluster CA
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def _ca_option():
    return dict(type="dict", options=dict(cert=dict(type="str", required=True),
                                          key=dict(type="str", no_log=True)))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pki_dir=dict(type="path", default="/etc/kubernetes/pki"),
            profile=dict(type="str", default="both", choices=list(_pki.PROFILES)),
            node_name=dict(type="str"),
            advertise_address=dict(type="str"),
            control_plane_endpoint=dict(type="str"),
            service_subnet=dict(type="str", default="10.96.0.0/12"),
            dns_domain=dict(type="str", default="cluster.local"),
            apiserver_cert_extra_sans=dict(type="list", elements="str", default=[]),
            etcd_cert_extra_sans=dict(type="list", elements="str", default=[]),
            key_type=dict(type="str", default="rsa2048", choices=list(_pki.KEY_TYPES)),
            validity_days=dict(type="int", default=365),
            ca_validity_days=dict(type="int", default=3650),
            renew_threshold_days=dict(type="int", default=30),
            force_renew=dict(type="list", elements="str", default=[]),
            ca=_ca_option(),
            front_proxy_ca=_ca_option(),
            etcd_ca=_ca_option(),
            sa_key=dict(type="str", no_log=True),
        ),
        supports_check_mode=True,
    )
    if _pki.CRYPTOGRAPHY_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=_pki.CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        plan = _pki.plan_cluster_pki(module.params)
        _pki.apply_writes(plan.writes, check_mode=module.check_mode)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    for warning in plan.warnings:
        module.warn(warning)
    result = dict(changed=plan.changed, certificates=plan.report, written=[w[0] for w in plan.writes],
                  due_external=plan.due_external, diff=dict(before=plan.before, after=plan.after))
    if "ca" in plan.cas:
        result["ca_cert_hash"] = _pki.ca_hash_of(plan)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
