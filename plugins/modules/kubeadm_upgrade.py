#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kubeadm_upgrade
short_description: Check and run a kubeadm Kubernetes version upgrade on one node, once
version_added: 0.2.0
description:
  - O(mode=check) (first control plane, before any binary changes) reads the cluster's version from the
    C(kube-apiserver) static pod manifest and refuses a target that kubeadm's version policy refuses, with what to
    fix; nothing is run or written.
  - O(mode=apply) runs C(kubeadm upgrade apply VERSION --yes) on the first control plane; O(mode=node) runs
    C(kubeadm upgrade node) on every other node (control planes and workers), after the first control plane.
  - Both first check that the node's kubeadm is the target version (install it first), and that the policy allows the
    upgrade.
  - Idempotent. A control plane is done when every control-plane manifest runs the target tag; a worker is done when
    its upgrade record (O(record_path), written after a successful run) names the target.
  - Draining, the kubelet binary and its restart are the playbook's (C(playbooks/upgrade.yml)), as in the kubeadm
    upgrade procedure.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the control-plane image tags and the recorded version, before and after.
  idempotent:
    support: full
options:
  version:
    description: Target Kubernetes version, C(vMAJOR.MINOR.PATCH).
    type: str
    required: true
  mode:
    description: What to do on this node.
    type: str
    required: true
    choices: [check, apply, node]
  current_version:
    description: The cluster's version for O(mode=check) when this node has no C(kube-apiserver) manifest.
    type: str
  kubelet_versions:
    description: Kubelet versions of the cluster's nodes (from the Node objects); too old ones refuse the upgrade.
    type: list
    elements: str
    default: []
  allow_prerelease:
    description: Allow a pre-release target (passes C(--allow-experimental-upgrades)).
    type: bool
    default: false
  etcd_upgrade:
    description: C(--etcd-upgrade) (stacked etcd only; kubeadm leaves external etcd alone).
    type: bool
    default: true
  certificate_renewal:
    description: C(--certificate-renewal) (kubeadm renews the leaf certificates of the components it upgrades).
    type: bool
    default: true
  patches_dir:
    description: C(--patches) directory (the same patches as at install).
    type: path
  ignore_preflight_errors:
    description: Names of kubeadm preflight checks to ignore.
    type: list
    elements: str
    default: []
  kubeconfig:
    description: Admin kubeconfig for O(mode=apply).
    type: path
    default: /etc/kubernetes/admin.conf
  manifest_dir:
    description: Static pod manifest directory.
    type: path
    default: /etc/kubernetes/manifests
  record_path:
    description: The node's upgrade record (JSON, 0644, no secrets). C(kubeadm reset) removes it with C(/var/lib/kubelet).
    type: path
    default: /var/lib/kubelet/groundwork-upgrade.json
  kubeadm_binary:
    description: The kubeadm executable.
    type: path
    default: kubeadm
seealso:
  - module: groundwork.k8s.kubeadm_init
"""

EXAMPLES = r"""
- name: Refuse a target kubeadm would refuse, before anything changes
  groundwork.k8s.kubeadm_upgrade:
    version: v1.35.1
    mode: check

- name: Upgrade the first control plane
  groundwork.k8s.kubeadm_upgrade:
    version: v1.35.1
    mode: apply
    kubeadm_binary: /usr/local/bin/kubeadm

- name: Upgrade another node
  groundwork.k8s.kubeadm_upgrade:
    version: v1.35.1
    mode: node
    kubeadm_binary: /usr/local/bin/kubeadm
"""

RETURN = r"""
version:
  description: The target version, normalised.
  type: str
  returned: always
  sample: v1.35.1
current_version:
  description: The cluster's version before the upgrade.
  type: str
  returned: mode=check
upgrade_needed:
  description: The cluster is not at the target yet.
  type: bool
  returned: mode=check
control_plane_versions:
  description: Image tag of each control-plane manifest on this node (empty on a worker).
  type: dict
  returned: always
record:
  description: What was written to O(record_path).
  type: dict
  returned: when kubeadm ran
stdout_lines:
  description: The last 40 lines of kubeadm's output.
  type: list
  elements: str
  returned: when kubeadm ran
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import write_atomic
from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import Kubeadm
from ansible_collections.groundwork.k8s.plugins.module_utils._upgrade import upgrade_action


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            version=dict(type="str", required=True),
            mode=dict(type="str", required=True, choices=["check", "apply", "node"]),
            current_version=dict(type="str"),
            kubelet_versions=dict(type="list", elements="str", default=[]),
            allow_prerelease=dict(type="bool", default=False),
            etcd_upgrade=dict(type="bool", default=True),
            certificate_renewal=dict(type="bool", default=True),
            patches_dir=dict(type="path"),
            ignore_preflight_errors=dict(type="list", elements="str", default=[]),
            kubeconfig=dict(type="path", default="/etc/kubernetes/admin.conf"),
            manifest_dir=dict(type="path", default="/etc/kubernetes/manifests"),
            record_path=dict(type="path", default="/var/lib/kubelet/groundwork-upgrade.json"),
            kubeadm_binary=dict(type="path", default="kubeadm"),
        ),
        supports_check_mode=True,
    )
    kubeadm = Kubeadm(module.params["kubeadm_binary"], run_command=module.run_command)

    def write(path, data, mode):
        write_atomic(path, data, mode=mode, atomic_move=module.atomic_move)

    try:
        result = upgrade_action(module.params, kubeadm, module.check_mode, _read, write)
    except ToolError as exc:
        module.fail_json(msg=exc.msg, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
