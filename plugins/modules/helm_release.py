#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: helm_release
short_description: Install, upgrade or uninstall one Helm release from a chart repository (Helm 3 and 4)
version_added: 0.1.0
description:
  - Reads the release (C(helm list -o json), C(helm get values -o json)) and decides once whether anything changes
    - not installed, another chart version, other values or a release not C(deployed) - then runs
    C(helm upgrade --install --reset-values) with the values as a file, or C(helm uninstall).
  - Written because C(kubernetes.core.helm) 6.x passes C(helm list --all), which Helm 4 removed (measured with
    Helm 4.1.4 from the artifact manifest); it uses only what Helm 3 and 4 both have.
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
      - Chart, status and user values before and after (values may hold secrets - use no_log on such tasks).
  idempotent:
    support: full
options:
  name:
    description: Release name.
    type: str
    required: true
  namespace:
    description: Release namespace.
    type: str
    default: default
  state:
    description: V(present) installs or upgrades; V(absent) uninstalls.
    type: str
    choices: [present, absent]
    default: present
  chart:
    description: Chart name in O(repo_url). Required with V(present).
    type: str
  version:
    description: Exact chart version. Required with V(present).
    type: str
  repo_url:
    description: Chart repository URL (the site mirror's C(<mirror>/charts)). Required with V(present).
    type: str
  values:
    description: The chart's values (replace all earlier user values).
    type: dict
    default: {}
  binary:
    description: Path of helm.
    type: path
    default: /usr/local/bin/helm
  kubeconfig:
    description: Kubeconfig helm uses.
    type: path
  create_namespace:
    description: Create the namespace when missing.
    type: bool
    default: true
  wait:
    description: Wait until the release's resources are ready (or gone).
    type: bool
    default: true
  timeout:
    description: How long to wait (Go duration).
    type: str
    default: 5m
"""

EXAMPLES = r"""
- name: metrics-server from the site mirror
  groundwork.k8s.helm_release:
    name: metrics-server
    namespace: kube-system
    chart: metrics-server
    version: 3.13.0
    repo_url: http://mirror.example:8080/charts
    values: {args: [--kubelet-insecure-tls]}
    kubeconfig: /etc/kubernetes/admin.conf
"""

RETURN = r"""
action:
  description: What was (or would be) done - V(install), V(upgrade), V(uninstall) or null.
  returned: always
  type: str
reasons:
  description: Why it changes.
  returned: always
  type: list
  elements: str
release:
  description: The release after the run (chart, status, revision), or null when absent.
  returned: always
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.groundwork.k8s.plugins.module_utils import _helm
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import write_atomic


def _show(cur):
    if not cur:
        return "(not installed)\n"
    return json.dumps({"chart": cur["chart"], "status": cur["status"], "values": cur.get("values", {})}, indent=2, sort_keys=True) + "\n"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="default"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            chart=dict(type="str"),
            version=dict(type="str"),
            repo_url=dict(type="str"),
            values=dict(type="dict", default={}),
            binary=dict(type="path", default="/usr/local/bin/helm"),
            kubeconfig=dict(type="path"),
            create_namespace=dict(type="bool", default=True),
            wait=dict(type="bool", default=True),
            timeout=dict(type="str", default="5m"),
        ),
        required_if=[("state", "present", ("chart", "version", "repo_url"))],
        supports_check_mode=True,
    )
    p = module.params
    helm = _helm.Helm(p["binary"], module.run_command, p["kubeconfig"])
    try:
        cur = helm.current(p["name"], p["namespace"])
        action, reasons = _helm.decide(cur, p["state"], p["chart"], p["version"], p["values"])
        after = None if p["state"] == "absent" else {"chart": "%s-%s" % (p["chart"], p["version"]), "status": "deployed",
                                                     "values": p["values"]}
        diff = {"before": _show(cur), "after": _show(after), "before_header": "%s/%s" % (p["namespace"], p["name"]),
                "after_header": "%s/%s" % (p["namespace"], p["name"])}
        if action and not module.check_mode:
            if action == "uninstall":
                helm.run(_helm.uninstall_argv(p["name"], p["namespace"], p["kubeconfig"], p["wait"], p["timeout"]))
            else:
                vfile = os.path.join(module.tmpdir, "values.json")
                write_atomic(vfile, json.dumps(p["values"]).encode(), mode=0o600)
                helm.run(_helm.upgrade_argv(p["name"], p["namespace"], p["chart"], p["version"], p["repo_url"], vfile,
                                            p["kubeconfig"], p["wait"], p["timeout"], p["create_namespace"]))
            cur = helm.current(p["name"], p["namespace"])
        elif action is None:
            pass
        release = None if cur is None else {k: cur[k] for k in ("chart", "status", "revision")}
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(changed=action is not None, action=action, reasons=reasons, release=release, diff=diff)


if __name__ == "__main__":
    main()
