#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kubeadm_token
short_description: Ensure a kubeadm bootstrap token for joins (reused while valid)
version_added: 0.1.0
description:
  - Runs on a control plane. With O(state=present) it reuses a bootstrap token that carries O(description), the
    O(usages) and O(groups) needed for joins, and has at least O(min_ttl) left; otherwise it creates one (the token
    value is generated here and passed to C(kubeadm token create), never scraped from output).
  - Returns the token and a RV(join) dictionary (API endpoint, token, CA public key pin) ready for
    M(groundwork.k8s.kubeadm_join). B(Set no_log on the task), the token is a credential.
  - With O(state=absent) it deletes the tokens with O(description), or the one given in O(token).
  - Tokens are listed with C(kubeadm token list -o json), which prints concatenated JSON objects.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode a token that would be created is returned but does not exist.
  diff_mode:
    support: full
    details:
      - The diff shows token IDs and expiry, never secrets.
  idempotent:
    support: full
    details:
      - Idempotent while a reusable token exists, i.e. for O(ttl) minus O(min_ttl).
options:
  state:
    description: Whether a usable token should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Marks the tokens this module manages; only those are reused or deleted.
    type: str
    default: groundwork join
  ttl:
    description: Lifetime of a new token, seconds or a duration such as C(2h) or C(90m).
    type: str
    default: 2h
  min_ttl:
    description: A token is reused only with at least this much time left (a join can take minutes).
    type: str
    default: 30m
  usages:
    description: Token usages.
    type: list
    elements: str
    default: [authentication, signing]
  groups:
    description: Extra groups of the token.
    type: list
    elements: str
    default: [system:bootstrappers:kubeadm:default-node-token]
  token:
    description: With O(state=absent), the token (or only its ID) to delete.
    type: str
  kubeconfig:
    description: Admin kubeconfig on the node.
    type: path
    default: /etc/kubernetes/admin.conf
  api_server_endpoint:
    description: C(host:port) that joining nodes use (the control-plane endpoint); goes into RV(join).
    type: str
  ca_cert_path:
    description: Cluster CA certificate; its public key pin goes into RV(join).
    type: path
    default: /etc/kubernetes/pki/ca.crt
  kubeadm_binary:
    description: The kubeadm executable.
    type: path
    default: kubeadm
seealso:
  - module: groundwork.k8s.kubeadm_join
"""

EXAMPLES = r"""
- name: A join token from the first control plane
  groundwork.k8s.kubeadm_token:
    api_server_endpoint: "{{ groundwork_control_plane_endpoint }}"
  delegate_to: "{{ groups['kube_control_plane'][0] }}"
  run_once: true
  no_log: true
  register: join_token

- name: Remove our join tokens
  groundwork.k8s.kubeadm_token:
    state: absent
"""

RETURN = r"""
token:
  description: The token (C(id.secret)). A credential.
  type: str
  returned: state=present
token_id:
  description: The public part of the token.
  type: str
  returned: state=present
expires:
  description: Expiry (RFC 3339), or null for a token that never expires.
  type: str
  returned: state=present
reused:
  description: An existing token was reused.
  type: bool
  returned: state=present
join:
  description: C(api_server_endpoint), C(token) and C(ca_cert_hashes) for M(groundwork.k8s.kubeadm_join).
  type: dict
  returned: state=present and O(api_server_endpoint) given
deleted:
  description: IDs of the tokens deleted.
  type: list
  elements: str
  returned: state=absent
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import Kubeadm, token_action


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            description=dict(type="str", default="groundwork join"),
            ttl=dict(type="str", default="2h"),
            min_ttl=dict(type="str", default="30m"),
            usages=dict(type="list", elements="str", default=["authentication", "signing"]),
            groups=dict(type="list", elements="str", default=["system:bootstrappers:kubeadm:default-node-token"]),
            token=dict(type="str", no_log=True),
            kubeconfig=dict(type="path", default="/etc/kubernetes/admin.conf"),
            api_server_endpoint=dict(type="str"),
            ca_cert_path=dict(type="path", default="/etc/kubernetes/pki/ca.crt"),
            kubeadm_binary=dict(type="path", default="kubeadm"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    kubeadm = Kubeadm(p["kubeadm_binary"], run_command=module.run_command)
    ca_pem = None
    try:
        if p["state"] == "present" and p["api_server_endpoint"]:
            try:
                with open(p["ca_cert_path"]) as f:
                    ca_pem = f.read()
            except OSError as exc:
                raise GroundworkError("cannot read the cluster CA %s: %s" % (p["ca_cert_path"], exc))
        result = token_action(p, kubeadm, module.check_mode, ca_pem=ca_pem)
    except ToolError as exc:
        module.fail_json(msg=exc.msg, rc=exc.rc, stderr=exc.stderr)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
