# -*- coding: utf-8 -*-
"""site.yml refuses bad role inputs in preflight, before any host is contacted, naming the variable the user set.

The inventory's hosts point at 127.0.0.x port 1, where nothing listens: a task that reached a host would count
as UNREACHABLE. The bad case must fail in preflight's inventory step with every problem in one message and no
host contacted (unreachable 0, changed 0, no later play); the control case (the same inventory with valid values)
must get past that step and try the hosts, which proves the refusal came from the values.
"""
from __future__ import annotations

import os
import sys

from playbook_json import ROOT, run_playbook_json, task_name

SITE = os.path.join(ROOT, "playbooks", "site.yml")
STOP = "Stop on inventory problems (nothing has been changed on any host)"

INVENTORY = """all:
  vars:
    control_plane_cert_sans: {sans}
  children:
    kube_control_plane:
      hosts:
        cp1: {{ansible_host: 127.0.0.11, cni_plugin: {cni}}}
    kube_node:
      hosts:
        w1: {{ansible_host: 127.0.0.21, cni_plugin: {cni}}}
"""


def run_site(tmp_path, sans, cni, key_type):
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY.format(sans=sans, cni=cni))
    return run_playbook_json(["-i", inv, SITE, "-e", "ansible_port=1",
                              "-e", "ansible_python_interpreter=%s" % sys.executable,
                              "-e", "groundwork_pki_key_type=%s" % key_type], tmp_path / "tmp", timeout=180)


def failures(report):
    return [(task_name(t), h, r.get("msg")) for p in report["plays"] for t in p["tasks"]
            for h, r in t["hosts"].items() if r.get("failed")]


def test_bad_role_inputs_fail_in_preflight_naming_the_variable_set(tmp_path):
    proc, report = run_site(tmp_path, sans="api.example.com", cni="flannel", key_type="rsa1024")
    assert proc.returncode == 2, proc.stderr[-2000:]
    failed = failures(report)
    assert len(failed) == 1, failed
    task, _host, msg = failed[0]
    assert task == STOP
    assert msg[0] == "The inventory has 3 problem(s); no host was changed:", msg
    text = "\n".join(msg)
    assert ("groundwork_pki_key_type (feeds control_plane_key_type of role control_plane, pki_key_type of role pki): "
            "value rsa1024 is not one of rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384. Fix: set groundwork_pki_key_type "
            "to one of rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384, or remove it to use the default rsa2048.") in text
    assert ("cni_plugin (role cni): value flannel is not one of calico, bridge, none. Fix: set cni_plugin to one of "
            "calico, bridge, none, or remove it to use the default calico.") in text
    assert "control_plane_cert_sans (role control_plane): control_plane_cert_sans is a str, not a list. Fix: " in text
    # no host was contacted, nothing changed, no later play started
    for host, stats in report["stats"].items():
        assert stats["unreachable"] == 0 and stats["changed"] == 0, (host, stats)
    assert [p["play"]["name"] for p in report["plays"]] == ["Preflight"], [p["play"]["name"] for p in report["plays"]]
    names = [task_name(t) for p in report["plays"] for t in p["tasks"]]
    assert not [n for n in names if n.startswith("Gather the minimal fact subset")], names


def test_valid_role_inputs_pass_the_inventory_step(tmp_path):
    """Control: the same inventory with valid values gets past the inventory step and tries the hosts."""
    proc, report = run_site(tmp_path, sans="[api.example.com]", cni="bridge", key_type="ecdsa256")
    assert proc.returncode != 0  # port 1: the hosts cannot be reached
    assert not [f for f in failures(report) if f[0] == STOP], failures(report)
    checked = [t for p in report["plays"] for t in p["tasks"]
               if task_name(t) == "Check the role inputs against the roles' argument specs"]
    assert checked and "skipped" not in checked[0]["hosts"]["cp1"], checked
    assert all(stats["unreachable"] >= 1 for stats in report["stats"].values()), report["stats"]
