#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kubeadm_join
short_description: Join a worker or a control plane to a kubeadm cluster, once, with the CA pinned
version_added: 0.1.0
description:
  - Renders a v1beta4 JoinConfiguration (bootstrap-token discovery with the CA public key B(always) pinned through
    O(ca_cert_hashes)), writes it to a 0600 file that is removed right after, and runs C(kubeadm join --config).
  - A node has joined when C(kubelet.conf) exists; with O(node_registered) (the Node object as seen through the API)
    the module also tells a node of another or a reset cluster (kubelet.conf but no Node) and fails with what to do.
    A node that joined as a worker but is asked to be a control plane fails too.
  - On failure the message is kubeadm's own (wrong CA hash, malformed hash, unknown token after the discovery
    timeout, preflight errors).
  - Control planes use the shared certificates the PKI role placed, so no O(certificate_key) is needed.
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
      - The diff shows whether the node is joined and as what; never the token.
  idempotent:
    support: full
options:
  api_server_endpoint:
    description: C(host:port) of the API (the control-plane endpoint).
    type: str
    required: true
  token:
    description: Bootstrap token (C(id.secret)), for example from M(groundwork.k8s.kubeadm_token).
    type: str
    required: true
  ca_cert_hashes:
    description: CA public key pins, C(sha256:<64 hex>). At least one; joins without a pin are refused.
    type: list
    elements: str
    required: true
  node_name:
    description: Node name.
    type: str
    required: true
  control_plane:
    description: Join as a control-plane instance.
    type: bool
    default: false
  advertise_address:
    description: API server advertise address of this control plane.
    type: str
  bind_port:
    description: API server port of this control plane.
    type: int
    default: 6443
  certificate_key:
    description: Only for clusters that use C(--upload-certs); Groundwork places shared certificates itself.
    type: str
  cri_socket:
    description: CRI socket.
    type: str
    default: unix:///run/containerd/containerd.sock
  kubelet_extra_args:
    description: Extra kubelet flags (name to value).
    type: dict
    default: {}
  patches_dir:
    description: kubeadm patches directory.
    type: path
  skip_phases:
    description: Join phases to skip.
    type: list
    elements: str
    default: []
  taints:
    description:
      - The node's taints at registration (C(nodeRegistration.taints)). V([]) registers a control plane without
        kubeadm's control-plane taint; unset keeps kubeadm's default.
    type: list
    elements: dict
  ignore_preflight_errors:
    description:
      - kubeadm preflight checks whose errors are shown as warnings (C(nodeRegistration.ignorePreflightErrors)),
        e.g. V(HTTPProxyCIDR) on kubeadm builds that fail it (upstream kubernetes#135013). V(all) is refused.
    type: list
    elements: str
    default: []
  discovery_timeout:
    description: How long discovery retries (Go duration); kubeadm's default is C(5m0s).
    type: str
    default: 5m0s
  node_registered:
    description: Whether the API has a Node object with O(node_name); leave unset when unknown.
    type: bool
  kubelet_conf:
    description: The node's kubelet kubeconfig.
    type: path
    default: /etc/kubernetes/kubelet.conf
  manifest_dir:
    description: Static pod manifest directory.
    type: path
    default: /etc/kubernetes/manifests
  config_path:
    description: Temporary location of the JoinConfiguration (it holds the token and is removed after the run).
    type: path
    default: /etc/kubernetes/.kubeadm-join.yaml
  kubeadm_binary:
    description: The kubeadm executable.
    type: path
    default: kubeadm
seealso:
  - module: groundwork.k8s.kubeadm_token
  - module: groundwork.k8s.kubeadm_init
"""

EXAMPLES = r"""
- name: Join a worker
  groundwork.k8s.kubeadm_join:
    api_server_endpoint: "{{ join_token.join.api_server_endpoint }}"
    token: "{{ join_token.join.token }}"
    ca_cert_hashes: "{{ join_token.join.ca_cert_hashes }}"
    node_name: "{{ inventory_hostname }}"
"""

RETURN = r"""
msg:
  description: What was decided.
  type: str
  returned: always
control_plane:
  description: Joined as a control plane.
  type: bool
  returned: always
stdout_lines:
  description: kubeadm's output (token secrets redacted).
  type: list
  elements: str
  returned: when kubeadm join ran
kubeadm_warnings:
  description:
    - kubeadm's warnings (preflight checks, klog warnings such as an existing kubeconfig with another API server
      URL), secrets redacted; each is also shown as an Ansible warning.
  type: list
  elements: str
  returned: when kubeadm join ran
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import write_atomic
from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import Kubeadm, join_action


def main():
    module = AnsibleModule(
        argument_spec=dict(
            api_server_endpoint=dict(type="str", required=True),
            token=dict(type="str", required=True, no_log=True),
            ca_cert_hashes=dict(type="list", elements="str", required=True),
            node_name=dict(type="str", required=True),
            control_plane=dict(type="bool", default=False),
            advertise_address=dict(type="str"),
            bind_port=dict(type="int", default=6443),
            certificate_key=dict(type="str", no_log=True),
            cri_socket=dict(type="str", default="unix:///run/containerd/containerd.sock"),
            kubelet_extra_args=dict(type="dict", default={}),
            patches_dir=dict(type="path"),
            skip_phases=dict(type="list", elements="str", default=[]),
            ignore_preflight_errors=dict(type="list", elements="str", default=[]),
            taints=dict(type="list", elements="dict"),
            discovery_timeout=dict(type="str", default="5m0s"),
            node_registered=dict(type="bool"),
            kubelet_conf=dict(type="path", default="/etc/kubernetes/kubelet.conf"),
            manifest_dir=dict(type="path", default="/etc/kubernetes/manifests"),
            config_path=dict(type="path", default="/etc/kubernetes/.kubeadm-join.yaml"),
            kubeadm_binary=dict(type="path", default="kubeadm"),
        ),
        required_if=[("control_plane", True, ["advertise_address"])],
        supports_check_mode=True,
    )
    kubeadm = Kubeadm(module.params["kubeadm_binary"], run_command=module.run_command)

    def write(path, data, mode):
        write_atomic(path, data, mode=mode, atomic_move=module.atomic_move)

    def remove(path):
        if os.path.exists(path):
            os.unlink(path)

    try:
        result = join_action(module.params, kubeadm, module.check_mode, write, remove)
    except ToolError as exc:
        module.fail_json(msg=exc.msg, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    for warning in result.get("kubeadm_warnings") or []:
        module.warn("kubeadm: " + warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
