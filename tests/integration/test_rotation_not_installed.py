# -*- coding: utf-8 -*-
"""rotate_ca.yml's read and plan (playbooks/_rotate_ca_read.yml) through ansible-playbook, with local hosts that
each have their own PKI directory: a host of the inventory that holds no rotation state and neither the cluster
CA nor the etcd CA (reset by remove_node.yml and still listed, or never installed) is left out of the plan and
named; the phase play's host pattern excludes it; a first control plane without its CA is refused, naming it.
Found by the real lane's part fault: a worker that had left was rotated in phase 1 without any trust material
(state 'trusted', no .rotation/old), joined, and phase 2 then failed on it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CA = open(os.path.join(ROOT, "tests", "fixtures", "kubeadm", "pki", "rsa-2048", "certs", "ca.crt")).read()


def _run(tmp, hosts, phase="1"):
    """hosts: name -> (group, files under its pki dir); returns (rc, stdout)."""
    inv = {"all": {"children": {"kube_control_plane": {"hosts": {}}, "kube_node": {"hosts": {}}, "etcd": {"hosts": {}}}}}
    for name, (group, files) in hosts.items():
        pki = tmp / name / "pki"
        pki.mkdir(parents=True)
        for rel, text in files.items():
            (pki / rel).parent.mkdir(parents=True, exist_ok=True)
            (pki / rel).write_text(text)
        inv["all"]["children"][group]["hosts"][name] = {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "groundwork_pki_dir": str(pki)}
    (tmp / "inv.yml").write_text(yaml.safe_dump(inv))
    play = [{"import_playbook": os.path.join(ROOT, "playbooks", "_rotate_ca_read.yml")},
            {"hosts": "localhost", "gather_facts": False, "tasks": [
                {"name": "PLAN", "ansible.builtin.debug": {"msg": "PLAN={{ rotate_ca_plan | to_json }}"}}]},
            {"name": "PHASE HOSTS",
             "hosts": "{{ 'kube_control_plane:kube_node' ~ (hostvars['localhost'].rotate_ca_plan.not_installed"
                      " | map('regex_replace', '^', ':!') | join('')) }}",
             "gather_facts": False, "tasks": [{"ansible.builtin.debug": {"msg": "IN-PHASE"}}]}]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    p = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", str(tmp / "inv.yml"),
                        "-e", "rotate_ca_phase=" + phase, str(tmp / "play.yml")],
                       capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    return p.returncode, p.stdout + p.stderr


def _plan(out):
    line = next(ln for ln in out.splitlines() if '"msg": "PLAN=' in ln)
    return json.loads(json.loads("{" + line.strip().rstrip(",") + "}")["msg"][len("PLAN="):])


def test_a_listed_host_that_is_not_in_the_cluster_is_left_out(tmp_path):
    rc, out = _run(tmp_path, {"cp1": ("kube_control_plane", {"ca.crt": CA}), "w1": ("kube_node", {"ca.crt": CA}),
                              "w2": ("kube_node", {})})
    assert rc == 0, out[-3000:]
    plan = _plan(out)
    assert plan["not_installed"] == ["w2"]
    assert sorted(plan["first"]["todo"]) == ["cp1", "w1"] and plan["first"]["phase"] == "trusted"


def test_phase_play_excludes_the_host_and_an_etcd_member_counts_by_its_etcd_ca(tmp_path):
    rc, out = _run(tmp_path, {"cp1": ("kube_control_plane", {"ca.crt": CA}), "e1": ("etcd", {"etcd/ca.crt": CA}),
                              "w2": ("kube_node", {})})
    assert rc == 0, out[-3000:]
    assert _plan(out)["not_installed"] == ["w2"]
    phase_part = out.split("PLAY [PHASE HOSTS]", 1)[1]
    assert "ok: [cp1]" in phase_part and "ok: [w2]" not in phase_part


def test_first_control_plane_without_its_ca_is_refused_naming_it(tmp_path):
    rc, out = _run(tmp_path, {"cp1": ("kube_control_plane", {}), "cp2": ("kube_control_plane", {"ca.crt": CA})})
    assert rc != 0
    assert "cp1 holds no rotation state and neither the cluster CA nor the etcd CA" in out
    assert "Nothing was changed" in out
