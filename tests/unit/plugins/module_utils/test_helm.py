# -*- coding: utf-8 -*-
"""_helm: the exact argv per action (Helm 3 and 4 both accept them) and the one decision."""
from __future__ import annotations

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _helm
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

KC = "/etc/kubernetes/admin.conf"


@pytest.mark.parametrize("argv, expect", [
    (_helm.list_argv("hello", "gw", KC),
     ["list", "--filter", "^hello$", "--output", "json", "--deployed", "--failed", "--pending", "--superseded",
      "--uninstalling", "--namespace", "gw", "--kubeconfig", KC]),
    (_helm.list_argv("a.b", "gw"), ["list", "--filter", "^a\\.b$", "--output", "json", "--deployed", "--failed", "--pending",
                                    "--superseded", "--uninstalling", "--namespace", "gw"]),
    (_helm.values_argv("hello", "gw", KC), ["get", "values", "hello", "--output", "json", "--namespace", "gw", "--kubeconfig", KC]),
    (_helm.upgrade_argv("hello", "gw", "gw-hello", "0.2.0", "http://m:8080/charts", "/tmp/v.json", KC),
     ["upgrade", "hello", "gw-hello", "--install", "--version", "0.2.0", "--repo", "http://m:8080/charts", "--values",
      "/tmp/v.json", "--reset-values", "--timeout", "5m", "--output", "json", "--create-namespace", "--wait",
      "--namespace", "gw", "--kubeconfig", KC]),
    (_helm.upgrade_argv("hello", "gw", "c", "1.0.0", "r", "/v", None, wait=False, timeout="1m", create_namespace=False),
     ["upgrade", "hello", "c", "--install", "--version", "1.0.0", "--repo", "r", "--values", "/v", "--reset-values",
      "--timeout", "1m", "--output", "json", "--namespace", "gw"]),
    (_helm.uninstall_argv("hello", "gw", KC), ["uninstall", "hello", "--timeout", "5m", "--wait", "--namespace", "gw", "--kubeconfig", KC]),
])
def test_argv(argv, expect):
    assert "--all" not in argv  # Helm 4 removed it (kubernetes.core.helm 6.x still passes it)
    assert argv == expect


CUR = {"chart": "gw-hello-0.1.0", "status": "deployed", "revision": 1, "values": {"message": "one"}}


@pytest.mark.parametrize("current, state, chart, version, values, action", [
    (None, "present", "gw-hello", "0.1.0", {}, "install"),
    (CUR, "present", "gw-hello", "0.1.0", {"message": "one"}, None),
    (CUR, "present", "gw-hello", "0.2.0", {"message": "one"}, "upgrade"),
    (CUR, "present", "gw-hello", "0.1.0", {"message": "two"}, "upgrade"),
    (dict(CUR, status="failed"), "present", "gw-hello", "0.1.0", {"message": "one"}, "upgrade"),
    (CUR, "absent", None, None, None, "uninstall"),
    (None, "absent", None, None, None, None),
])
def test_decide(current, state, chart, version, values, action):
    assert _helm.decide(current, state, chart, version, values)[0] == action


@pytest.mark.parametrize("text, expect", [("null\n", {}), ("", {}), ('{"a": 1}', {"a": 1})])
def test_parse_values(text, expect):
    assert _helm.parse_values(text) == expect


def test_parse_list():
    text = ('[{"name":"hello2","chart":"x-1"},{"name":"hello","namespace":"gw","revision":"2","status":"deployed",'
            '"chart":"gw-hello-0.2.0","app_version":"0.2.0"}]')
    assert _helm.parse_list(text, "hello") == {"chart": "gw-hello-0.2.0", "status": "deployed", "revision": 2, "app_version": "0.2.0"}
    assert _helm.parse_list("[]", "hello") is None
    with pytest.raises(GroundworkError, match="no JSON"):
        _helm.parse_list("Error", "hello")
