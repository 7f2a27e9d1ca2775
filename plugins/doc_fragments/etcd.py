# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Connection options of the etcd_* modules; the argument spec is CONNECTION_ARGSPEC in _etcd_module.py."""

    DOCUMENTATION = r"""
options:
  endpoints:
    description:
      - Client URLs of the etcd members, for example C(https://10.0.0.11:2379).
      - External etcd uses the members' addresses; stacked etcd the control planes' addresses.
    type: list
    elements: str
    default: []
  cacert:
    description:
      - CA bundle that signed the members' server certificates.
      - C(/etc/kubernetes/pki/etcd/ca.crt) for both external members and stacked etcd (kubeadm's layout).
    type: path
  cert:
    description:
      - Client certificate (for stacked etcd C(/etc/kubernetes/pki/etcd/healthcheck-client.crt)).
    type: path
  key:
    description:
      - Private key of O(cert).
    type: path
  etcdctl:
    description:
      - Path or name of C(etcdctl) (v3 API; 3.4 or newer).
    type: str
    default: etcdctl
  etcdutl:
    description:
      - Path of C(etcdutl) (3.5 and newer). When unset it is looked for beside O(etcdctl);
        an empty string forces the C(etcdctl) (3.4) code path.
      - Snapshot status and restore use C(etcdutl) when present, C(etcdctl) otherwise.
    type: str
  dial_timeout:
    description: etcdctl C(--dial-timeout).
    type: str
    default: 5s
  command_timeout:
    description: etcdctl C(--command-timeout) for short commands (snapshot save has its own).
    type: str
    default: 15s
"""
