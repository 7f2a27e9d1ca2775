# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: artifact_plan
short_description: What a run installs from the artifact manifest, and why the manifest cannot serve it
version_added: 0.1.0
description:
  - Decides, from the inventory as the roles do (C(kubernetes_binaries_source), C(container_runtime_source),
    C(container_runtime_crictl_from_mirror), C(etcd_binary_source), C(groundwork_registry_mirror), backups on
    stacked control planes), which artifacts each host would install from the manifest.
  - Refuses a O(kubernetes_version) that is not exactly the C(kubernetes_version) of a manifest release, when
    anything comes from the manifest.
  - With O(arches), also refuses every needed file (and image, with a registry mirror) whose checksum is null,
    by name with the manifest's C(todo), and lists the upstream URLs each host without a mirror fetches from.
  - Used by role C(groundwork.k8s.preflight) before any host changes.
author:
  - Groundwork maintainers (@groundwork)
positional: groups, hostvars, hosts, kubernetes_version, arches
options:
  _input:
    description: The artifact manifest (data).
    type: dict
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
  hosts:
    description: The hosts of the run (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  kubernetes_version:
    description: The run's C(groundwork_kubernetes_version).
    type: str
    required: true
  arches:
    description: Host name to its architecture (Ansible's or the release's names); omit for the inventory step.
    type: dict
"""

EXAMPLES = r"""
- name: Refuse a version the manifest does not have
  ansible.builtin.set_fact:
    plan: "{{ manifest | groundwork.k8s.artifact_plan(groups, hostvars, ansible_play_hosts_all, 'v1.35.0') }}"
"""

RETURN = r"""
_value:
  description: C(uses_manifest) (bool), C(needs) (host to C({files, images, mirror_url, why})), C(errors) (list of
    refusals, each with its fix) and C(upstream) (host to C([{name, url}]), only with O(arches)).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def artifact_plan(manifest, groups, hostvars, hosts, kubernetes_version, arches=None):
    try:
        manifest = A.load_manifest(manifest)
        needs = A.run_needs(groups, hostvars, list(hosts))
        plan = A.run_plan(manifest, kubernetes_version, needs, dict(arches) if arches is not None else None)
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg)
    plan["needs"] = needs
    return plan


def artifact_upstream_problems(registered):
    """Refusals for the HEAD probes of upstream URLs: ``registered`` maps a host to its registered
    ``ansible.builtin.uri`` loop result (items ``{name, url}``); skipped or absent results count as none."""
    flat = []
    for host, reg in (registered or {}).items():
        if not isinstance(reg, dict):
            continue
        for r in reg.get("results") or []:
            if not isinstance(r, dict) or r.get("skipped") or not isinstance(r.get("item"), dict):
                continue
            flat.append({"host": host, "name": r["item"].get("name"), "url": r["item"].get("url"),
                         "status": r.get("status"), "msg": r.get("msg")})
    return A.upstream_problems(flat)


class FilterModule(object):
    def filters(self):
        return {"artifact_plan": artifact_plan, "artifact_upstream_problems": artifact_upstream_problems}
