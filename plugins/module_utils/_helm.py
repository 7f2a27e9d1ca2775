# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Helm (v3 and v4) as a runner: argv lists, JSON output, one decision whether a release changes.

Helm 4 removed flags kubernetes.core.helm 6.x still passes (``helm list --all``) and no longer puts the
chart into ``helm status -o json``; this runner uses what both versions have: ``list --filter ^NAME$
-o json`` with explicit status flags, ``get values -o json``, ``upgrade --install``, ``uninstall``.
"""

from __future__ import annotations

import json
import re

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._runner import Runner

LIST_STATUS_FLAGS = ["--deployed", "--failed", "--pending", "--superseded", "--uninstalling"]


def base(kubeconfig, namespace):
    out = ["--namespace", namespace]
    if kubeconfig:
        out += ["--kubeconfig", kubeconfig]
    return out


def list_argv(name, namespace, kubeconfig=None):
    return ["list", "--filter", "^%s$" % re.escape(name), "--output", "json"] + LIST_STATUS_FLAGS + base(kubeconfig, namespace)


def values_argv(name, namespace, kubeconfig=None):
    return ["get", "values", name, "--output", "json"] + base(kubeconfig, namespace)


def upgrade_argv(name, namespace, chart, version, repo_url, values_file, kubeconfig=None, wait=True, timeout="5m",
                 create_namespace=True):
    argv = ["upgrade", name, chart, "--install", "--version", version, "--repo", repo_url, "--values", values_file,
            "--reset-values", "--timeout", timeout, "--output", "json"]
    if create_namespace:
        argv.append("--create-namespace")
    if wait:
        argv.append("--wait")
    return argv + base(kubeconfig, namespace)


def uninstall_argv(name, namespace, kubeconfig=None, wait=True, timeout="5m"):
    argv = ["uninstall", name, "--timeout", timeout]
    if wait:
        argv.append("--wait")
    return argv + base(kubeconfig, namespace)


def parse_list(text, name):
    try:
        rows = json.loads(text or "[]") or []
    except ValueError:
        raise GroundworkError("helm list printed no JSON: %s" % (text or "")[:300])
    for r in rows:
        if r.get("name") == name:
            return {"chart": r.get("chart"), "status": r.get("status"), "revision": int(r.get("revision") or 0),
                    "app_version": r.get("app_version")}
    return None


def parse_values(text):
    text = (text or "").strip()
    if text in ("", "null"):
        return {}
    try:
        return json.loads(text) or {}
    except ValueError:
        raise GroundworkError("helm get values printed no JSON: %s" % text[:300])


def decide(current, state, chart=None, version=None, values=None):
    """One decision: None (nothing to do), 'install', 'upgrade' or 'uninstall'; plus the reasons."""
    if state == "absent":
        return ("uninstall", ["installed"]) if current else (None, [])
    if current is None:
        return "install", ["not installed"]
    reasons = []
    want = "%s-%s" % (chart, version)
    if current["chart"] != want:
        reasons.append("chart %s -> %s" % (current["chart"], want))
    if current.get("values", {}) != (values or {}):
        reasons.append("values differ")
    if current["status"] != "deployed":
        reasons.append("status %s" % current["status"])
    return ("upgrade", reasons) if reasons else (None, [])


class Helm:
    def __init__(self, binary, run_command, kubeconfig=None):
        self.runner = Runner(binary, run_command=run_command, env={"HELM_NO_PLUGINS": "1"})
        self.kubeconfig = kubeconfig

    def current(self, name, namespace):
        rc, out, err = self.runner.run(list_argv(name, namespace, self.kubeconfig))
        cur = parse_list(out, name)
        if cur is not None:
            cur["values"] = parse_values(self.runner.run(values_argv(name, namespace, self.kubeconfig))[1])
        return cur

    def run(self, args, data=None):
        return self.runner.run(args, data=data)
