#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ca_rotation
short_description: Move one node through a CA and service-account key rotation (trust, reissue, retire)
version_added: 0.1.0
description:
  - Rotates the cluster CA (C(ca)), the front-proxy CA, the etcd CA and the service-account key pair of one
    node in three phases, without downtime when the phases run on every node in turn
    (see C(playbooks/rotate_ca.yml)).
  - V(trusted) (phase 1) makes every trust file hold the old and the new CA (C(ca.crt), C(front-proxy-ca.crt),
    C(etcd/ca.crt), C(sa.pub), the C(certificate-authority-data) of the kubeconfigs), old first, because the
    old key still signs.
  - V(reissued) (phase 2) switches the signing keys (C(ca.key), C(sa.key)...) to the new ones, puts the new CA
    first in the bundles, and reissues every leaf certificate and kubeconfig client certificate signed by an
    old CA from the new one, cloning its profile (subject, SANs, usages) with a fresh key. Each finished file is
    recorded on the node, so an interrupted run continues where it stopped.
  - V(retired) (phase 3) removes the old CA and old service-account public key from every trust file, after
    checking that nothing on the node is still signed by the old CA, and deletes the staged keys.
  - The node's state lives on the node in C(<pki_dir>/.rotation/state.json) (never on the controller); the
    new CA material is staged in C(<pki_dir>/.rotation/new/) (keys 0600). A phase never runs backwards, never
    skips a phase, and a second rotation cannot start while one is unfinished.
  - Every file replaced is first copied to C(<backup_root>/<rotation_id>-<phase>/) with its absolute path.
  - Only the CAs whose certificate exists on the node take part (a worker holds only C(ca.crt), an external
    etcd member only C(etcd/ca.crt)). The cluster-wide order (phase N on every node before phase N+1) is
    the playbook's job.
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
      - The diff lists, per file, the certificates in a bundle or a certificate summary; never key material.
  idempotent:
    support: full
options:
  state:
    description:
      - The phase this node must reach. One phase at a time; a node already past it is left alone.
    type: str
    required: true
    choices: [trusted, reissued, retired]
  rotation_id:
    description:
      - Name of this rotation (letters, digits, C(.), C(_), C(-)). A rotation with another id can start
        only after the previous one is retired.
    type: str
    required: true
  cas:
    description: What to rotate. C(sa) is the service-account key pair.
    type: list
    elements: str
    choices: [ca, front-proxy-ca, etcd-ca, sa]
    default: [ca, front-proxy-ca, etcd-ca, sa]
  pki_dir:
    description: kubeadm's certificatesDir.
    type: path
    default: /etc/kubernetes/pki
  kubeconfig_dir:
    description: Directory of C(admin.conf), C(super-admin.conf), C(controller-manager.conf), C(scheduler.conf), C(kubelet.conf).
    type: path
    default: /etc/kubernetes
  backup_root:
    description: Where replaced files are copied (0700 directories, 0600 files).
    type: path
    default: /var/backups/groundwork/certs
  generate:
    description:
      - Create the new CAs and service-account key when none is staged on the node and none is given.
        Use it on one node only (the first control plane, or the first etcd member); the others get
        the same material through O(new_material).
    type: bool
    default: false
  new_material:
    description:
      - The new CA certificates and keys, keyed by V(ca), V(front-proxy-ca), V(etcd-ca), V(sa); each a dict
        with C(cert) (for V(sa), the public key PEM) and optionally C(key).
      - Staged on the node when nothing is staged yet; a different staged one is refused.
    type: dict
  stage_keys:
    description:
      - Write the new keys given in O(new_material) into the staging dir. V(false) on nodes that must never
        hold a CA key on disk (workers); the key is then used in memory to reissue the kubelet's client
        certificate and dropped.
    type: bool
    default: true
  ca_validity_days:
    description: Validity of generated CAs.
    type: int
    default: 3650
  leaf_validity_days:
    description: Validity of reissued leaves.
    type: int
    default: 365
  sa_grace_seconds:
    description:
      - Refuse V(retired) until this many seconds have passed since this node reached V(reissued), when C(sa)
        is rotated, so that tokens signed with the old service-account key have been refreshed by the kubelets
        (projected tokens are refreshed after 80% of their one-hour life).
    type: int
    default: 0
  step:
    description:
      - V(all) writes the files of the phase and records it done on the node at once.
      - V(apply) writes the files and leaves the phase in progress, marked applied, with the restarts it owes
        (recorded on the node before the files that need them). Re-running V(apply) on an applied node writes
        nothing and returns those restarts again in RV(restart), so a run interrupted before its restarts or
        health gate (controller killed, job cancelled) is finished by running the phase again.
      - V(commit) records the phase done; only on a node where it is applied (after the caller restarted
        what RV(restart) listed and the node passed its health gate). A node already in the phase is left alone.
    type: str
    choices: [all, apply, commit]
    default: all
notes:
  - The components that must restart to load the changed files are returned in RV(restart); the module
    does not restart anything (the playbook restarts one node at a time and checks its health).
seealso:
  - module: groundwork.k8s.cluster_pki
  - module: groundwork.k8s.pki_info
"""

EXAMPLES = r"""
- name: Phase 2 on a control plane, recorded done only after its restart and health gate
  groundwork.k8s.ca_rotation:
    state: reissued
    rotation_id: "2026-11"
    step: apply
  register: phase

# ... restart phase.restart, check health, then:
- name: Record phase 2 done on this node
  groundwork.k8s.ca_rotation:
    state: reissued
    rotation_id: "2026-11"
    step: commit

- name: Phase 1 on the first control plane creates the new CAs
  groundwork.k8s.ca_rotation:
    state: trusted
    rotation_id: "2026-11"
    generate: true

- name: Phase 1 on another node, with the material of the first one
  groundwork.k8s.ca_rotation:
    state: trusted
    rotation_id: "2026-11"
    new_material: "{{ rotation_material }}"
  no_log: true

- name: Phase 3 on an external etcd member
  groundwork.k8s.ca_rotation:
    state: retired
    rotation_id: "2026-11"
    cas: [etcd-ca]
"""

RETURN = r"""
phase:
  description: The node's phase after the run (V(none), V(trusted), V(reissued), V(retired)).
  returned: always
  type: str
phase_before:
  description: The node's phase before the run.
  returned: always
  type: str
action:
  description: V(noop), V(start), V(resume) (a phase interrupted earlier was continued) or V(commit).
  returned: always
  type: str
files:
  description: Files written (in check mode, files that would be written).
  returned: always
  type: list
  elements: str
restart:
  description:
    - Components to restart, in order (C(etcd), C(kube-apiserver), C(kube-controller-manager), C(kube-scheduler), C(kubelet)).
    - With O(step=apply), also those an earlier, interrupted run of the phase still owes.
  returned: always
  type: list
  elements: str
committed:
  description: Whether the phase is recorded done on the node after this run (V(false) after O(step=apply)).
  returned: always
  type: bool
present:
  description: The rotated items this node holds.
  returned: always
  type: list
  elements: str
backup_dir:
  description: Where the replaced files were copied.
  returned: when files changed
  type: str
state:
  description: The node's rotation state document (no key material).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation_host as H
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["trusted", "reissued", "retired"]),
            rotation_id=dict(type="str", required=True),
            cas=dict(type="list", elements="str", choices=["ca", "front-proxy-ca", "etcd-ca", "sa"],
                     default=["ca", "front-proxy-ca", "etcd-ca", "sa"]),
            pki_dir=dict(type="path", default="/etc/kubernetes/pki"),
            kubeconfig_dir=dict(type="path", default="/etc/kubernetes"),
            backup_root=dict(type="path", default="/var/backups/groundwork/certs"),
            generate=dict(type="bool", default=False),
            new_material=dict(type="dict", no_log=True),
            stage_keys=dict(type="bool", default=True),
            ca_validity_days=dict(type="int", default=3650),
            leaf_validity_days=dict(type="int", default=365),
            sa_grace_seconds=dict(type="int", default=0),
            step=dict(type="str", choices=["all", "apply", "commit"], default="all"),
        ),
        supports_check_mode=True,
    )
    if not H.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=H.CRYPTOGRAPHY_ERROR)
    p = module.params
    node = H.Node(p["pki_dir"], p["kubeconfig_dir"], backup_root=p["backup_root"], atomic_move=module.atomic_move)
    rotation = H.CaRotation(node, p["rotation_id"], p["cas"], new_material=p["new_material"], generate=p["generate"],
                            stage_keys=p["stage_keys"], ca_validity_days=p["ca_validity_days"],
                            leaf_validity_days=p["leaf_validity_days"], check_mode=module.check_mode)
    try:
        result = rotation.run(p["state"], sa_grace_seconds=p["sa_grace_seconds"], step=p["step"])
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    result.setdefault("diff", {"before": {}, "after": {}})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
