#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kubeadm_reconfigure
short_description: Converge an installed node's static pod manifests and kubelet configuration to the kubeadm configuration
version_added: 0.1.0
description:
  - Renders the files kubeadm would write for O(config) with kubeadm's own dry run
    (C(kubeadm init phase control-plane all --dry-run), C(kubeadm init phase kubelet-start --dry-run), into a private
    temporary directory through C(KUBEADM_INIT_DRYRUN_DIR); kubeadm patches named in the configuration apply), compares
    each with the node's file as data and writes only the ones that differ, atomically.
  - Writing a static pod manifest makes the kubelet replace that pod; a new C(config.yaml) needs a kubelet restart. Neither
    is waited for here; the caller restarts and gates (role C(groundwork.k8s.control_plane), C(tasks_from=converge)).
  - Nothing else changes (certificates, kubeconfigs, etcd's manifest, C(kubeadm-flags.env)). Each run is idempotent;
    a node whose files already match reports C(changed=false).
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
      - One diff per changed file, the node's file before and kubeadm's rendering after.
  idempotent:
    support: full
options:
  config:
    description:
      - The kubeadm configuration documents for this node (what the C(groundwork.k8s.kubeadm_init_config) filter returns),
        with this node's own name and advertise address.
    type: list
    elements: dict
    required: true
  components:
    description:
      - What to converge on this node. C(kubelet) is the kubelet's C(config.yaml).
    type: list
    elements: str
    choices: [kube-apiserver, kube-controller-manager, kube-scheduler, kubelet]
    required: true
  manifest_dir:
    description: The kubelet's staticPodPath.
    type: path
    default: /etc/kubernetes/manifests
  kubelet_config:
    description: The kubelet configuration file kubeadm writes.
    type: path
    default: /var/lib/kubelet/config.yaml
  record_path:
    description:
      - Where the node keeps the kubeadm configuration it runs with (C(kubeadm init) wrote it on the first control plane);
        rewritten (mode 0600) when O(config) differs, so C(kubeadm init phase upload-config) can use it. Empty keeps none.
    type: path
    default: ""
  kubeadm_binary:
    description: The kubeadm binary (v1beta4 configuration, Kubernetes >= 1.31).
    type: path
    default: kubeadm
  render_only:
    description:
      - Only render the files for O(components) and return them as RV(rendered); read and write nothing, always
        C(changed=false). A control plane renders a worker's kubelet configuration this way (kubeadm's dry run needs the
        cluster CA key, which a worker does not have).
    type: bool
    default: false
  rendered:
    description:
      - Component -> file text rendered elsewhere (RV(rendered) of a O(render_only) run on a control plane), used instead
        of running kubeadm on this node. Must hold every one of O(components).
    type: dict
"""

EXAMPLES = r"""
- name: Static pod manifests and kubelet config of this control plane follow the inventory
  groundwork.k8s.kubeadm_reconfigure:
    config: "{{ control_plane_kubeadm_config }}"
    components: [kube-apiserver, kube-controller-manager, kube-scheduler, kubelet]
    kubeadm_binary: /usr/local/bin/kubeadm
  register: reconfigured

- name: Only the kubelet configuration of a worker
  groundwork.k8s.kubeadm_reconfigure:
    config: "{{ worker_kubeadm_config }}"
    components: [kubelet]

- name: A worker's kubelet configuration, rendered on the first control plane (it has the CA key)
  groundwork.k8s.kubeadm_reconfigure:
    config: "{{ worker_kubeadm_config }}"
    components: [kubelet]
    render_only: true
    kubeadm_binary: /usr/local/bin/kubeadm
  delegate_to: cp1
  register: worker_rendered

- name: Written on the worker when it differs
  groundwork.k8s.kubeadm_reconfigure:
    config: "{{ worker_kubeadm_config }}"
    components: [kubelet]
    rendered: "{{ worker_rendered.rendered }}"
"""

RETURN = r"""
components:
  description: The components whose file was (or, in check mode, would be) rewritten.
  type: list
  elements: str
  returned: always
  sample: [kube-apiserver, kubelet]
record_changed:
  description: Whether O(record_path) was (or would be) rewritten.
  type: bool
  returned: always
rendered:
  description: Component -> the rendered file text (O(render_only) only).
  type: dict
  returned: when O(render_only=true)
paths:
  description: Component -> file written, for the changed ones.
  type: dict
  returned: always
  sample: {kube-apiserver: /etc/kubernetes/manifests/kube-apiserver.yaml}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._day2 import reconfigure_action
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import read_bytes, write_atomic
from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import Kubeadm


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="list", elements="dict", required=True),
            components=dict(type="list", elements="str", required=True,
                            choices=["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"]),
            manifest_dir=dict(type="path", default="/etc/kubernetes/manifests"),
            kubelet_config=dict(type="path", default="/var/lib/kubelet/config.yaml"),
            record_path=dict(type="path", default=""),
            kubeadm_binary=dict(type="path", default="kubeadm"),
            render_only=dict(type="bool", default=False),
            rendered=dict(type="dict"),
        ),
        mutually_exclusive=[("render_only", "rendered")],
        supports_check_mode=True,
    )
    kubeadm = Kubeadm(module.params["kubeadm_binary"], run_command=module.run_command)

    def read(path):
        data = read_bytes(path)
        return None if data is None else data.decode("utf-8", "replace")

    def write(path, data, mode):
        write_atomic(path, data, mode=mode, atomic_move=module.atomic_move)

    try:
        result = reconfigure_action(module.params, kubeadm, module.check_mode, read, write)
    except ToolError as exc:
        module.fail_json(msg=exc.msg, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
