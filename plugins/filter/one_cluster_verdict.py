# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: one_cluster_verdict
short_description: Would this first control plane create a second cluster?
version_added: 0.1.0
description:
  - Takes what a first control plane found before creating CAs or running C(kubeadm init) - its own state, the
    other control planes' files, the API endpoint's answer and the external etcd members' keys - and returns
    C(refuse), the C(evidence) and a message naming the fix (join instead, or restore).
positional: _input
options:
  _input:
    description:
      - C(host), C(local) (C(apiserver_manifest)), C(endpoint) (C(url), C(status)); the other control planes as
        C(others) or as C(stat_results) (a looped C(stat) over C([host, path]) pairs); the external members as
        C(etcd) or as C(etcd_results) (a looped C(etcdctl get /registry/namespaces/kube-system --keys-only)).
    type: dict
    required: true
author:
  - Groundwork maintainers
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    verdict: "{{ {'host': inventory_hostname, 'local': {'apiserver_manifest': false}, 'others': [],
                  'endpoint': {'url': 'https://localhost:8443', 'status': 401}} | groundwork.k8s.one_cluster_verdict }}"
"""

RETURN = r"""
_value:
  description: C(refuse) (bool), C(evidence) (list of str), C(msg) (str).
  type: dict
"""

from ansible_collections.groundwork.k8s.plugins.module_utils import _dr


def one_cluster_verdict(data):
    others = list(data.get("others") or [])
    if data.get("stat_results"):
        others += _dr.others_from_stat_results(data["stat_results"])
    etcd = list(data.get("etcd") or [])
    if data.get("etcd_results"):
        etcd += _dr.etcd_from_command_results(data["etcd_results"])
    return _dr.one_cluster_verdict(data.get("host", ""), data.get("local") or {}, others, data.get("endpoint"), etcd)


class FilterModule(object):
    """groundwork.k8s disaster-recovery filters."""

    def filters(self):
        return {"one_cluster_verdict": one_cluster_verdict}
