#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kubeadm_init
short_description: Initialise the first control plane with kubeadm, once
version_added: 0.1.0
description:
  - Writes the kubeadm configuration (v1beta4 InitConfiguration, ClusterConfiguration and component configurations,
    given as data) to O(config_path) with mode 0600, validates it with C(kubeadm config validate) and runs
    C(kubeadm init --config) on a node that is not initialised yet.
  - A node is initialised when C(admin.conf) exists in O(kubeconfig_dir) B(and) C(kube-apiserver.yaml) exists in
    O(manifest_dir). C(admin.conf) alone is not enough, because the PKI role writes it before kubeadm runs.
  - On an initialised node nothing runs and the module reports C(changed=false); when the configuration given differs
    from the one the node was initialised with, RV(config_drift) is true (kubeadm init does not reconfigure a running
    cluster, that is an upgrade).
  - kubeadm's output is returned with bootstrap token secrets replaced by C(<redacted>).
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
      - The diff shows the configuration file and whether the node is initialised.
  idempotent:
    support: full
options:
  config:
    description:
      - The kubeadm configuration documents, in order (InitConfiguration, ClusterConfiguration, KubeletConfiguration,
        KubeProxyConfiguration). Rendered as a multi-document stream.
    type: list
    elements: dict
    required: true
  config_path:
    description: Where the configuration is kept on the node.
    type: path
    default: /etc/kubernetes/kubeadm-config.yaml
  kubeconfig_dir:
    description: kubeadm's kubeconfig directory.
    type: path
    default: /etc/kubernetes
  manifest_dir:
    description: kubeadm's static pod manifest directory.
    type: path
    default: /etc/kubernetes/manifests
  skip_phases:
    description: Phases passed to C(--skip-phases), for example C(addon/coredns) where no CoreDNS image exists.
    type: list
    elements: str
    default: []
  validate:
    description: Run C(kubeadm config validate) on the configuration before C(kubeadm init).
    type: bool
    default: true
  kubeadm_binary:
    description: The kubeadm executable.
    type: path
    default: kubeadm
notes:
  - Certificates and kubeconfig files are expected to exist already (module M(groundwork.k8s.cluster_pki) and
    M(groundwork.k8s.kubeconfig)); kubeadm then uses them as they are.
seealso:
  - module: groundwork.k8s.kubeadm_join
  - module: groundwork.k8s.kubeadm_token
"""

EXAMPLES = r"""
- name: Initialise the first control plane
  groundwork.k8s.kubeadm_init:
    config: "{{ control_plane_kubeadm_config }}"
    skip_phases: [addon/coredns]
"""

RETURN = r"""
initialised:
  description: Whether the node is initialised after the task.
  type: bool
  returned: always
config_path:
  description: Where the configuration is.
  type: str
  returned: always
config_drift:
  description: The node was already initialised with a configuration other than the one given.
  type: bool
  returned: when the node was already initialised
stdout_lines:
  description: kubeadm's output, token secrets redacted.
  type: list
  elements: str
  returned: when kubeadm init ran
stderr_lines:
  description: kubeadm's warnings, token secrets redacted.
  type: list
  elements: str
  returned: when kubeadm init ran
kubeadm_warnings:
  description:
    - kubeadm's warnings (preflight checks, klog warnings such as an existing kubeconfig with another API server
      URL), secrets redacted; each is also shown as an Ansible warning.
  type: list
  elements: str
  returned: when kubeadm init ran
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import write_atomic
from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import Kubeadm, init_action


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="list", elements="dict", required=True),
            config_path=dict(type="path", default="/etc/kubernetes/kubeadm-config.yaml"),
            kubeconfig_dir=dict(type="path", default="/etc/kubernetes"),
            manifest_dir=dict(type="path", default="/etc/kubernetes/manifests"),
            skip_phases=dict(type="list", elements="str", default=[]),
            validate=dict(type="bool", default=True),
            kubeadm_binary=dict(type="path", default="kubeadm"),
        ),
        supports_check_mode=True,
    )
    kubeadm = Kubeadm(module.params["kubeadm_binary"], run_command=module.run_command)

    def write(path, data, mode):
        write_atomic(path, data, mode=mode, atomic_move=module.atomic_move)

    try:
        result = init_action(module.params, kubeadm, module.check_mode, write)
    except ToolError as exc:
        module.fail_json(msg=exc.msg, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    if result.get("config_drift"):
        module.warn("%s differs from the configuration given, but the cluster is already initialised: kubeadm init "
                    "does not reconfigure it (that is an upgrade)" % module.params["config_path"])
    for warning in result.get("kubeadm_warnings") or []:
        module.warn("kubeadm: " + warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
