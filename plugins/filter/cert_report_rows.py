# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cert_report_rows
short_description: Merge pki_info results of many hosts into one list sorted by expiry
version_added: 0.1.0
description:
  - Takes C(hostvars) and a list of hosts; each host's registered C(cert_report_info) (a
    M(groundwork.k8s.pki_info) result) contributes its certificates, each tagged with C(host).
  - Rows are sorted soonest expiry first; unreadable or missing certificates come first of all.
positional: _input, hosts
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: Hosts to include (hosts without C(cert_report_info) are skipped).
    type: list
    elements: str
    required: true
  key:
    description: Name of the registered pki_info result in each host's variables.
    type: str
    default: cert_report_info
author:
  - Groundwork maintainers (@groundwork)
"""

EXAMPLES = r"""
- name: All certificates of the play, soonest expiry first
  ansible.builtin.set_fact:
    rows: "{{ hostvars | groundwork.k8s.cert_report_rows(groups['all']) }}"
"""

RETURN = r"""
_value:
  description: pki_info rows with C(host) added.
  type: list
  elements: dict
"""

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki


def cert_report_rows(hostvars, hosts, key="cert_report_info"):
    """One sorted list of every host's pki_info rows."""
    per_host = {}
    for host in hosts:
        result = hostvars[host].get(key) if host in hostvars else None
        if result and "certificates" in result:
            per_host[host] = result["certificates"]
    return _pki.report_rows(per_host)


class FilterModule(object):
    """Certificate report filters."""

    def filters(self):
        return {"cert_report_rows": cert_report_rows}
