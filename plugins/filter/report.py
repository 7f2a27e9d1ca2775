# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: report_data
short_description: The cluster report of playbooks/report.yml - gather, build, render
version_added: 0.1.0
description:
  - C(report_data) collects what C(playbooks/report.yml) registered on every host and on the first
    control plane (facts, tool versions, M(groundwork.k8s.pki_info), backup and DR-drill status
    files, backup bundles, installed artifacts, Nodes, etcd members) into one dict.
  - C(report_model) turns that dict into the report (topology, certificates, backups, artifacts,
    warnings); C(report_html) renders the report as one self-contained HTML page (inline CSS and
    SVG charts, no script, nothing fetched from the network).
positional: _input, hosts
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The hosts the first play read.
    type: list
    elements: str
    required: true
  api_host:
    description: The host the API and etcd were read from (its registered C(report_api_*) and C(report_etcd)).
    type: str
  extra:
    description: C(cluster), C(now), C(inventory_version), C(api_endpoint_inventory), C(etcd_hosts), C(manifest).
    type: dict
author:
  - Groundwork maintainers (@groundwork)
"""

EXAMPLES = r"""
- name: The report, as data and as HTML
  ansible.builtin.set_fact:
    report: "{{ hostvars | groundwork.k8s.report_data(groups['all'], api_host='cp1', extra={}) | groundwork.k8s.report_model }}"
    report_page: "{{ report | groundwork.k8s.report_html }}"
"""

RETURN = r"""
_value:
  description: C(report_data) and C(report_model) return a dict, C(report_html) a string.
  type: raw
"""

import base64

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.module_utils import _report
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def _get(hv, key, default=None):
    value = hv.get(key, default) if hv is not None else default
    return default if value is None else value


def _host(hv):
    setup = _get(hv, "report_setup", {})
    reachable = bool(setup) and not setup.get("unreachable") and not setup.get("failed")
    facts = _get(hv, "ansible_facts", {})
    versions = {}
    for r in _get(hv, "report_versions", {}).get("results", []) or []:
        if r.get("rc") == 0 and not r.get("skipped"):
            versions[r.get("item", {}).get("name") if isinstance(r.get("item"), dict) else r.get("item")] = r.get("stdout", "")
    status = []
    for r in _get(hv, "report_status", {}).get("results", []) or []:
        if r.get("content") and not r.get("failed"):
            item = r.get("item") or {}
            status.append({"path": item.get("path") or r.get("source"), "mtime": item.get("mtime"),
                           "content": base64.b64decode(r["content"]).decode("utf-8", "replace")})
    bundles = [{"path": f.get("path"), "size": f.get("size"), "mtime": f.get("mtime")}
               for f in _get(hv, "report_bundles", {}).get("files", []) or []]
    installed = []
    res = _get(hv, "report_installed", {})
    if res and not res.get("skipped") and res.get("cmd"):
        sums = {}
        for line in (res.get("stdout") or "").splitlines():
            digest, _sep, path = line.partition("  ")
            if path:
                sums[path] = digest
        for dest in list(res["cmd"])[2:]:
            installed.append({"dest": dest, "exists": dest in sums, "sha256": sums.get(dest)})
    return {
        "address": _get(hv, "ansible_host"), "groups": [g for g in _get(hv, "group_names", []) if g != "all"],
        "reachable": reachable,
        "facts": {k: facts.get(k) for k in ("distribution", "distribution_version", "kernel", "architecture")},
        "versions": versions,
        "certificates": _get(hv, "cert_report_info", {}).get("certificates", []) if reachable else [],
        "status_files": status, "backup_files": bundles, "installed": installed,
    }


def report_data(hostvars, hosts, api_host=None, extra=None):
    """Everything the playbook read, as the dict :func:`_report.build` takes."""
    extra = dict(extra or {})
    data = {k: extra.get(k) for k in ("cluster", "now", "inventory_version", "api_endpoint_inventory", "etcd_hosts", "manifest")}
    data["hosts"] = {h: _host(hostvars[h] if h in hostvars else None) for h in hosts}
    hv = hostvars[api_host] if api_host and api_host in hostvars else {}
    api = {}
    nodes = _get(hv, "report_api_nodes")
    if nodes is not None:
        api["nodes"] = nodes
    else:
        api["error"] = "no Node list from %s: %s" % (api_host or "no control plane", (_get(hv, "report_api", {}).get("results") or [{}])[0]
                                                     .get("stderr") or (_get(hv, "report_api", {}).get("results") or [{}])[0].get("msg") or "not read")
    for r in _get(hv, "report_api", {}).get("results", []) or []:
        what = r.get("item", {}).get("what") if isinstance(r.get("item"), dict) else None
        if r.get("rc") != 0:
            continue
        if what == "version":
            doc = _report._loads(r.get("stdout")) or {}
            api["server_version"] = (doc.get("serverVersion") or {}).get("gitVersion")
        elif what == "kubeadm-config":
            doc = _report._loads(r.get("stdout")) or {}
            text = (doc.get("data") or {}).get("ClusterConfiguration", "")
            for line in text.splitlines():
                if line.startswith("controlPlaneEndpoint:"):
                    api["control_plane_endpoint"] = line.split(":", 1)[1].strip().strip("'\"")
    data["api"] = api
    etcd = _get(hv, "report_etcd_info", {})
    raw = _get(hv, "report_etcd_raw", {})
    if etcd and not etcd.get("skipped") and not etcd.get("failed"):
        data["etcd"] = dict(etcd, source="etcd_member_info")
    elif raw and not raw.get("skipped"):
        outs = {r.get("item", {}).get("what"): r for r in raw.get("results", []) or []}
        bad = [r for r in outs.values() if r.get("rc") != 0]
        data["etcd"] = ({"error": "; ".join((r.get("stderr") or r.get("msg") or "failed")[-300:] for r in bad), "source": "etcdctl"}
                        if bad else {"member_list": outs.get("member list", {}).get("stdout"),
                                     "endpoint_status": outs.get("endpoint status", {}).get("stdout"),
                                     "source": "etcdctl in the etcd static pod"})
    elif etcd.get("failed"):
        data["etcd"] = {"error": etcd.get("msg"), "source": "etcd_member_info"}
    else:
        data["etcd"] = {"error": "not read (no control plane or etcd member answered)"}
    return data


def report_model(data, options=None):
    try:
        return _report.build(data, options)
    except GroundworkError as exc:
        raise AnsibleFilterError(exc.msg)


def report_html(model):
    return _report.render_html(model)


class FilterModule(object):
    """Cluster report filters."""

    def filters(self):
        return {"report_data": report_data, "report_model": report_model, "report_html": report_html}
