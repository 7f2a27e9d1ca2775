#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_renewal
short_description: Renew the leaf certificates and kubeconfig client certificates of one node that are due
version_added: 0.1.0
description:
  - Makes sure no leaf certificate in O(pki_dir) and no client certificate embedded in the kubeconfigs of
    O(kubeconfig_dir) expires within O(threshold_days) (or renews all of them with O(renew_all)).
  - A due certificate is reissued with its own profile (subject, SANs, key usages, extended key usages),
    a fresh key of the same type and O(validity_days) of validity, signed by the CA that signed it (the
    first certificate of C(ca.crt), C(front-proxy-ca.crt) or C(etcd/ca.crt), with its key). Unlike
    M(groundwork.k8s.cluster_pki), it needs no inventory data, so it renews exactly what is there.
  - CAs are never renewed here (see C(playbooks/rotate_ca.yml)); the kubelet's own certificates in
    C(/var/lib/kubelet/pki) are left to the kubelet (C(rotateCertificates)).
  - Every file it replaces is first copied to a new timestamped directory under O(backup_root)
    (0700, files 0600, absolute paths kept) that C(playbooks/restore_certs.yml) can put back.
  - A due certificate whose CA key is not on the node (external CA mode) is reported in RV(due_external),
    not renewed.
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
      - The diff shows certificate summaries (subject, issuer, serial, not-after, fingerprint), never keys.
  idempotent:
    support: full
    details:
      - Renewed certificates are valid for O(validity_days); a second run renews nothing as long as
        O(validity_days) is larger than O(threshold_days).
options:
  pki_dir:
    description: kubeadm's certificatesDir.
    type: path
    default: /etc/kubernetes/pki
  kubeconfig_dir:
    description: Directory of C(admin.conf), C(super-admin.conf), C(controller-manager.conf), C(scheduler.conf), C(kubelet.conf).
    type: path
    default: /etc/kubernetes
  threshold_days:
    description: Renew what expires within this many days (expired certificates always).
    type: int
    default: 30
  renew_all:
    description: Renew every leaf whatever its expiry.
    type: bool
    default: false
  validity_days:
    description: Validity of renewed certificates (kubeadm C(certificateValidityPeriod)).
    type: int
    default: 365
  backup_root:
    description: Parent of the timestamped backup directories.
    type: path
    default: /var/backups/groundwork/certs
  step:
    description:
      - V(all) renews and is done; the caller restarts what RV(restart) lists.
      - V(apply) first writes a record of the restarts the renewal owes (C(<pki_dir>/.rotation/renewal.json),
        before any certificate), renews, and leaves the record there. A record left by an earlier run (one
        that did not get to restart and pass its health gate, because the controller was killed, the job cancelled or the gate failed)
        adds its restarts to RV(restart) even when nothing is due any more, so re-running converges.
      - V(commit) deletes the record; run it after the restarts and the health gate passed.
    type: str
    choices: [all, apply, commit]
    default: all
seealso:
  - module: groundwork.k8s.pki_info
  - module: groundwork.k8s.ca_rotation
"""

EXAMPLES = r"""
- name: Renew what expires within 30 days
  groundwork.k8s.cert_renewal:
    threshold_days: 30
  register: renewal

- name: Renew everything now
  groundwork.k8s.cert_renewal:
    renew_all: true
"""

RETURN = r"""
renewed:
  description: The certificates renewed (in check mode, that would be), soonest expiry first.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/kubernetes/pki/apiserver.crt", "not_after": "2026-11-30T10:00:00Z", "days_left": 8,
            "reason": "expires within 30 days", "ca": "ca"}]
due_external:
  description: Due certificates not renewed because their CA key is not on this node.
  returned: always
  type: list
  elements: dict
kept:
  description: Certificates valid beyond the threshold.
  returned: always
  type: list
  elements: dict
skipped:
  description: CAs and kubelet-managed certificates (never renewed here).
  returned: always
  type: list
  elements: dict
written:
  description: Files written (in check mode, files that would be written).
  returned: always
  type: list
  elements: str
restart:
  description:
    - Components to restart so they load the new files, in order.
    - With O(step=apply), also those owed by an earlier run that did not pass its gate (RV(pending)).
  returned: always
  type: list
  elements: str
pending:
  description: With O(step=apply), a renewal record is on the node (commit it after the restarts and the health gate).
  returned: always
  type: bool
committed:
  description: Whether nothing is left owed on the node after this run (V(false) after O(step=apply)).
  returned: always
  type: bool
record:
  description: The renewal record (owed restarts, backup dirs, start time) read or written by this run, or null.
  returned: always
  type: dict
backup_dir:
  description: Where the replaced files were copied (null when nothing changed or in check mode).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation_host as H
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pki_dir=dict(type="path", default="/etc/kubernetes/pki"),
            kubeconfig_dir=dict(type="path", default="/etc/kubernetes"),
            threshold_days=dict(type="int", default=30),
            renew_all=dict(type="bool", default=False),
            validity_days=dict(type="int", default=365),
            backup_root=dict(type="path", default="/var/backups/groundwork/certs"),
            step=dict(type="str", choices=["all", "apply", "commit"], default="all"),
        ),
        supports_check_mode=True,
    )
    if not H.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=H.CRYPTOGRAPHY_ERROR)
    p = module.params
    if p["validity_days"] <= p["threshold_days"] and not p["renew_all"]:
        module.fail_json(msg="validity_days (%d) must be larger than threshold_days (%d), or every run would renew again"
                         % (p["validity_days"], p["threshold_days"]))
    node = H.Node(p["pki_dir"], p["kubeconfig_dir"], backup_root=p["backup_root"], atomic_move=module.atomic_move)
    try:
        result = H.renew_leaves(node, p["threshold_days"], p["renew_all"], p["validity_days"], module.check_mode,
                                step=p["step"])
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    for row in result["due_external"]:
        module.warn("%s is due (%s) but cannot be renewed here: %s" % (row["path"], row["not_after"], row["reason"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
