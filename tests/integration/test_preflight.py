# -*- coding: utf-8 -*-
"""The preflight play refuses bad inventories before any host is touched.

Each bad inventory under tests/inventories/ is run through playbooks/preflight.yml followed by
a play that would write a marker file. Every host is pointed at 127.0.0.x port 1, where nothing
listens: a task that reached a host would show up as UNREACHABLE. The test asserts that
the run fails, that the message names the fix, that no host was reached and that the later
play never ran.
"""
from __future__ import annotations

import os
import sys

import pytest

from playbook_json import ROOT, run_playbook_json, task_name

PLAY = os.path.join(ROOT, "tests", "integration", "files", "preflight_then_change.yml")


def run_preflight(inventory, tmp_path, *extra):
    return run_playbook_json(["-i", inventory, PLAY, "-e", "ansible_port=1",
                              "-e", "ansible_python_interpreter=%s" % sys.executable,
                              "-e", "marker_dir=%s" % tmp_path] + list(extra), tmp_path / "tmp")


def failure_messages(report):
    out = []
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed"):
                    msg = res.get("msg")
                    out.append((task_name(task), host, msg if isinstance(msg, list) else [msg]))
    return out


BAD = [
    ("bad_even_etcd", ["Group 'etcd' has 4 members, an even count", "Fix: use an odd number of etcd hosts: "
                       "remove one (3) or add one (5)"]),
    ("bad_ha_no_endpoint", ["3 control planes (HA) but no API endpoint", "Fix: set groundwork_api_endpoint_mode: haproxy"]),
    ("bad_duplicate_ip", ["Hosts cp1, w2 share the address 127.0.0.11", "Fix: give each host its own ansible_host"]),
    ("bad_unknown_group", ["Unknown inventory group 'kube_control_planes' (host(s) cp2, cp3 are in it)",
                           "Fix: rename group 'kube_control_planes' to 'kube_control_plane'"]),
    ("bad_version_not_in_manifest", ["Kubernetes v1.33.4 is not in the artifact manifest (its release 1.33 is v1.33.3",
                                     "the manifest has: v1.35.0, v1.34.2, v1.33.3.",
                                     "Fix: set groundwork_kubernetes_version to one of v1.35.0, v1.34.2, v1.33.3, or add "
                                     "the release to artifacts/sources.yml and regenerate the manifest with "
                                     "scripts/gen-manifest.py"]),
]


@pytest.mark.parametrize("name,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_inventory_fails_in_preflight_before_any_host(name, expected, tmp_path):
    proc, report = run_preflight(os.path.join(ROOT, "tests", "inventories", name), tmp_path)
    assert proc.returncode == 2, proc.stderr
    failures = failure_messages(report)
    assert len(failures) == 1, failures
    task, _host, msg = failures[0]
    assert task == "Stop on inventory problems (nothing has been changed on any host)"
    text = "\n".join(msg)
    for fragment in expected:
        assert fragment in text, text
    # no host was reached: every task so far ran on the controller
    for host, stats in report["stats"].items():
        assert stats["unreachable"] == 0, (host, stats)
        assert stats["changed"] == 0, (host, stats)
    # only the inventory step ran; the host checks and the later play did not
    names = [task_name(t) for p in report["plays"] for t in p["tasks"]]
    assert not [n for n in names if n.startswith("Gather the minimal fact subset")], names
    assert "Write the marker file" not in names
    assert os.listdir(tmp_path) == ["tmp"] or not [f for f in os.listdir(tmp_path) if f != "tmp"]


def test_valid_inventory_passes_inventory_step_then_reaches_hosts(tmp_path):
    """The control case: a valid inventory gets past the inventory step, and the first host
    check then tries to reach the hosts (port 1: unreachable). Proves the bad cases fail for
    their inventory, not for some other reason."""
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "all:\n  children:\n    kube_control_plane:\n      hosts:\n        cp1: {ansible_host: 127.0.0.11}\n"
        "    kube_node:\n      hosts:\n        w1: {ansible_host: 127.0.0.21}\n")
    proc, report = run_preflight(str(inv), tmp_path)
    assert proc.returncode != 0
    assert failure_messages(report) == [] or all(
        not t.startswith("Stop on inventory problems") for t, _h, _m in failure_messages(report))
    assert all(stats["unreachable"] == 1 for stats in report["stats"].values()), report["stats"]
    plan = [t for p in report["plays"] for t in p["tasks"] if task_name(t) == "Print the plan"]
    assert plan and "topology: two_hosts, Kubernetes v1.35.0" in plan[0]["hosts"]["cp1"]["msg"]


SHIPPED = [
    ("sample", "topology: stacked_ha, Kubernetes v1.35.0", "API endpoint: localhost:8443 (mode haproxy)"),
    ("single_host", "topology: single_host, Kubernetes v1.35.0", "API endpoint: 192.0.2.11:6443 (mode none)"),
    ("two_hosts", "topology: two_hosts, Kubernetes v1.35.0", "API endpoint: 192.0.2.11:6443 (mode none)"),
]


@pytest.mark.parametrize("name,topology,endpoint", SHIPPED, ids=[s[0] for s in SHIPPED])
def test_shipped_inventories_pass_inventory_checks(name, topology, endpoint, tmp_path):
    """The inventories in inventories/ are valid. Host checks are off: their documentation
    addresses (192.0.2.0/24) are never contacted."""
    proc, report = run_preflight(os.path.join(ROOT, "inventories", name, "hosts.yml"), tmp_path,
                                 "-e", "preflight_check_hosts=false")
    assert proc.returncode == 0, proc.stdout[-3000:]
    plan = [t for p in report["plays"] for t in p["tasks"] if task_name(t) == "Print the plan"]
    first = sorted(plan[0]["hosts"])[0]
    lines = plan[0]["hosts"][first]["msg"]
    assert lines[0] == topology and lines[1] == endpoint, lines
    for host, stats in report["stats"].items():
        assert stats["unreachable"] == 0, (host, stats)
        # the later play ran (the marker file, written on the controller): preflight let it through
        assert (tmp_path / host).is_file()
