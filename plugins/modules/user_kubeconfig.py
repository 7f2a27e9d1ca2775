#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module is implemented as an action plugin (plugins/action/user_kubeconfig.py): it writes on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: user_kubeconfig
short_description: Write a short-lived client-certificate kubeconfig for a user on the controller
version_added: 0.2.0
description:
  - Runs against a control plane that holds the cluster CA (C(ca.key)) and writes the kubeconfig on the
    B(controller) at O(path), mode 0600 from the first byte (temp file + atomic rename).
  - The private key is made on the controller; only its public key goes to the control plane, where
    M(groundwork.k8s.client_certificate) signs it (the CA key never leaves the control plane, the user key never
    leaves the controller, neither appears in task arguments or results).
  - The certificate has CN=O(user) and O=O(groups), clientAuth, valid for O(validity_hours). The server and cluster
    name are those of the control plane's C(admin.conf) unless O(server) is given; C(admin.conf) itself is never
    handed out.
  - A kubeconfig already at O(path) is kept when it is for the same user, groups, server, cluster and CA and does not
    expire within O(renew_within_hours); otherwise (or with O(force)) a new key and certificate are issued.
  - Revocation is RBAC removal (Kubernetes has no revocation list for client certificates); remove the user's or
    group's bindings (role M(groundwork.k8s.access)); the certificate then authenticates but is authorised for
    nothing until it expires. Hence C(system:masters) is refused unless O(allow_system_masters).
author:
  - Groundwork maintainers (@groundwork)
requirements:
  - cryptography >= 38 and PyYAML on the controller and on the control plane
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is signed or written; changed says whether a kubeconfig would be issued.
  diff_mode:
    support: full
    details:
      - The diff holds user, groups, server, cluster, expiry and serial, never key material.
  idempotent:
    support: full
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
options:
  path:
    description: Where the kubeconfig goes on the controller (parent directories are created 0755).
    type: path
    required: true
  user:
    description: User name (certificate CN), as RBAC bindings name it.
    type: str
    required: true
  groups:
    description: Groups (certificate O), as RBAC bindings name them.
    type: list
    elements: str
    default: []
  validity_hours:
    description: Validity of the certificate in hours, at most 744 (31 days).
    type: float
    default: 8
  renew_within_hours:
    description: An existing kubeconfig that expires within this many hours is reissued.
    type: float
    default: 1
  force:
    description: Issue a new key and certificate even when the existing kubeconfig is still good.
    type: bool
    default: false
  server:
    description: API server URL written in the kubeconfig (default the server of the control plane's C(admin.conf)).
    type: str
  key_type:
    description: Type of the new private key.
    type: str
    choices: [rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384]
    default: ecdsa256
  pki_dir:
    description: kubeadm's certificatesDir on the control plane.
    type: path
    default: /etc/kubernetes/pki
  admin_kubeconfig:
    description: The control plane's admin kubeconfig, read for its server and cluster name.
    type: path
    default: /etc/kubernetes/admin.conf
  allow_system_masters:
    description: Allow the group C(system:masters) (bypasses RBAC; revocable only by rotating the cluster CA).
    type: bool
    default: false
seealso:
  - module: groundwork.k8s.client_certificate
"""

EXAMPLES = r"""
- name: A 4-hour kubeconfig for alice as a platform admin, on the controller
  groundwork.k8s.user_kubeconfig:
    path: "{{ playbook_dir }}/kubeconfigs/alice.conf"
    user: alice
    groups: [platform-admins]
    validity_hours: 4
    server: https://api.example.internal:6443
"""

RETURN = r"""
path:
  description: The kubeconfig on the controller.
  returned: always
  type: str
action:
  description: V(created), V(renewed) or V(unchanged).
  returned: always
  type: str
reasons:
  description: Why a kubeconfig was issued.
  returned: always
  type: list
  elements: str
kubeconfig:
  description: User, groups, server, cluster, expiry (C(not_after), C(expires_in)) and serial of the kubeconfig at
    O(path) after the run (in check mode, of the one there before; empty when none).
  returned: always
  type: dict
"""
