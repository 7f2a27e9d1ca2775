# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Groundwork playbooks through ansible-runner, with a private data dir laid out as AWX lays it
out (tests/integration/awx_runner.py): project/ with the collection installed from its tarball
under project/collections, inventory/hosts as an AWX inventory script, env/extravars (the
survey's example answers), env/ssh_key, env/settings, env/envvars, env/cmdline.

Localhost (always): preflight as a job; every dangerous playbook refuses to run without the
right groundwork_confirm, with one failed event from the check and nothing reached or
changed; awx/configure.yml plans exactly the templates whose playbooks exist.

Lab (when GW_AWX_LAB names a running lab, as tests/scenarios/60-awx-runner/run.sh does):
site.yml (or its preflight while install roles are missing), backup.yml and cert_report.yml
run inside the lab's controller namespace (`lab ctl`) over SSH with the key from env/ssh_key;
their job events are counted and checked against playbook_on_stats. Playbooks that have not
landed yet are skipped by name, and run as soon as they exist.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import awx_runner as A  # noqa: E402  pylint: disable=wrong-import-position

_SPEC = importlib.util.spec_from_file_location("groundwork_awx_validate", os.path.join(ROOT, "awx", "validate.py"))
V = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(V)

DATA = V.load_templates(ROOT)
LAB = os.environ.get("GW_AWX_LAB", "")
LAB_TOOL = os.path.join(ROOT, "tests", "lab", "lab")
RESULTS = os.environ.get("GW_AWX_RESULTS", "")   # the scenario collects the numbers here


def survey_answers(key):
    """The survey's example answers (what an operator would type), as AWX puts them in extravars."""
    return {q["variable"]: q["example"] for q in DATA["job_templates"][key].get("survey") or []}


def record(name, summary):
    if RESULTS:
        with open(RESULTS, "a", encoding="utf-8") as f:
            f.write(json.dumps({"job": name, **{k: v for k, v in summary.items() if k != "tasks"}}) + "\n")


def check_events(summary):
    """The events AWX would store agree with themselves and with playbook_on_stats."""
    events, stats = summary["events"], summary["playbook_on_stats"]
    assert events.get("playbook_on_start") == 1
    assert events.get("playbook_on_stats") == 1, "no playbook_on_stats event"
    assert stats == {k: summary["stats"][k] for k in stats}, "playbook_on_stats differs from runner.stats"
    # meta tasks (end_host, end_play...) send ok/skipped events that the stats do not count
    assert events.get("runner_on_ok", 0) >= sum(stats["ok"].values())
    assert events.get("runner_on_skipped", 0) >= sum(stats["skipped"].values())
    # a no_log result reaches the events censored, "changed" included: only the stats count it
    assert summary["runner_on_changed"] <= sum(stats["changed"].values()) <= (
        summary["runner_on_changed"] + summary["censored_ok"])
    assert events.get("runner_on_failed", 0) >= sum(stats["failures"].values())
    assert events.get("runner_on_unreachable", 0) == sum(stats["dark"].values())
    assert events.get("playbook_on_task_start", 0) >= 1


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    """One project copy (+ collection from its tarball) shared by the localhost jobs."""
    base = tmp_path_factory.mktemp("awx-project")
    A.build_project(str(base))
    return str(base / "project")


def private_data_dir(tmp_path, project):
    pdd = tmp_path / "pdd"
    pdd.mkdir()
    os.symlink(project, str(pdd / "project"))
    return str(pdd)


LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


# ------------------------------------------------------------------ localhost
def test_preflight_job_on_localhost(tmp_path, project_dir):
    pdd = private_data_dir(tmp_path, project_dir)
    inventory = A.awx_inventory({"kube_control_plane": ["localhost"]}, {"localhost": LOCAL})
    # survey answers + the template's extra variables (host checks would inspect this machine)
    extravars = dict(survey_answers("preflight"), preflight_check_hosts=False)
    A.write_private_data_dir(pdd, inventory, extravars)
    summary = A.run_job(pdd, "playbooks/preflight.yml", ident="preflight")
    record("localhost preflight", summary)
    assert summary["status"] == "successful" and summary["rc"] == 0, summary["failures"]
    check_events(summary)
    assert summary["events"]["runner_on_ok"] > 0
    assert summary["runner_on_changed"] == 0, "preflight changed something"
    # the roles ran from the collection installed in project/collections (as AWX's project update does)
    events_dir = os.path.join(pdd, "artifacts", "preflight", "job_events")
    paths = set()
    for name in os.listdir(events_dir):
        data = json.load(open(os.path.join(events_dir, name), encoding="utf-8")).get("event_data", {})
        if data.get("task_path"):
            paths.add(data["task_path"])
    role_dir = os.path.join(pdd, "project", "collections", "ansible_collections", "groundwork", "k8s", "roles",
                            "preflight")
    assert paths and all(os.path.realpath(p.rsplit(":", 1)[0]).startswith(os.path.realpath(role_dir)) for p in paths
                         if "/roles/" in p), paths
    # runner recorded the command AWX would have run
    command = json.load(open(os.path.join(pdd, "artifacts", "preflight", "command"), encoding="utf-8"))
    assert command["command"][0].endswith("ansible-playbook") and "playbooks/preflight.yml" in command["command"]


DANGEROUS = [k for k in V.dangerous_playbooks(DATA)
             if os.path.exists(os.path.join(ROOT, DATA["job_templates"][k]["playbook"]))]


@pytest.mark.parametrize("answer", [None, "no", "site"])
@pytest.mark.parametrize("key", DANGEROUS)
def test_dangerous_playbook_refuses_without_confirmation(tmp_path, project_dir, key, answer):
    """Hosts point at 127.0.0.1 port 1 where nothing listens: a task that got past the check would
    show up as unreachable. The job must fail on the confirmation check alone."""
    pdd = private_data_dir(tmp_path, project_dir)
    unreachable = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
                   "ansible_python_interpreter": "/usr/bin/python3"}
    hosts = {"cp1": unreachable, "cp2": unreachable, "cp3": unreachable, "w1": unreachable}
    inventory = A.awx_inventory({"kube_control_plane": ["cp1", "cp2", "cp3"], "kube_node": ["w1"], "etcd": []}, hosts)
    extravars = {} if answer is None else {"groundwork_confirm": answer}
    A.write_private_data_dir(pdd, inventory, extravars, cmdline="-u root")
    summary = A.run_job(pdd, DATA["job_templates"][key]["playbook"], ident="refuse", timeout=300)
    record("localhost %s refuses (%s)" % (key, answer), summary)
    assert summary["status"] == "failed" and summary["rc"] != 0
    check_events(summary)
    assert summary["events"].get("runner_on_unreachable", 0) == 0, summary["failures"]
    assert summary["runner_on_changed"] == 0
    assert summary["failures"], "the job failed without a failed event"
    for failure in summary["failures"]:
        assert failure["event"] == "runner_on_failed"
        assert "groundwork_confirm=%s" % key in failure["msg"] or key in failure["msg"], failure


def test_configure_plans_templates_for_present_playbooks(tmp_path, project_dir):
    pdd = private_data_dir(tmp_path, project_dir)
    inventory = A.awx_inventory({}, {"localhost": LOCAL})
    plan_file = str(tmp_path / "plan.json")
    A.write_private_data_dir(pdd, inventory, {"groundwork_awx_render_to": plan_file})
    summary = A.run_job(pdd, "awx/configure.yml", ident="configure")
    assert summary["status"] == "successful", summary["failures"]
    check_events(summary)
    plan = json.load(open(plan_file, encoding="utf-8"))
    present = sorted(k for k, t in DATA["job_templates"].items() if os.path.exists(os.path.join(ROOT, t["playbook"])))
    assert sorted(t["key"] for t in plan["job_templates"]) == present
    assert sorted(plan["not_created"]) == sorted(set(DATA["job_templates"]) - set(present))
    for template in plan["job_templates"]:
        survey = json.load(open(V.survey_path(ROOT, template["key"]), encoding="utf-8"))
        assert template["survey_spec"] == survey
        assert template["survey_enabled"] == bool(survey["spec"])
        assert "Groundwork SSH" in template["credentials"]
    workflow_ready = all(n["template"] in present for n in DATA["workflow"]["nodes"])
    assert bool(plan["workflow_nodes"]) == workflow_ready
    if workflow_ready:
        assert [n["identifier"] for n in plan["workflow_nodes"]] == [n["identifier"] for n in DATA["workflow"]["nodes"]]
        for node, nxt in zip(plan["workflow_nodes"], plan["workflow_nodes"][1:]):
            assert node["related"]["success_nodes"] == [{"identifier": nxt["identifier"]}]
            assert node["unified_job_template"]["type"] == "job_template"
    assert {s["unified_job_template"] for s in plan["schedules"]} == {
        DATA["job_templates"][s["template"]]["name"] for s in DATA["schedules"] if s["template"] in present}


# ------------------------------------------------------------------ lab
def lab_inventory_path():
    return os.path.join(ROOT, "tests", "lab", ".state", LAB, "inventory.yml")


needs_lab = pytest.mark.skipif(not LAB or not os.path.exists(lab_inventory_path()),
                               reason="no lab: set GW_AWX_LAB to a running lab (tests/scenarios/60-awx-runner)")


def site_playbook():
    """site.yml once every role it runs exists; until then its preflight part."""
    override = os.environ.get("GW_AWX_SITE_PLAYBOOK")
    if override:
        return override
    walk = V.walk_playbook(ROOT, os.path.join(ROOT, "playbooks", "site.yml"))
    return "playbooks/site.yml" if not walk.missing else "playbooks/preflight.yml"


# The order of the workflow: install, backup set-up (etcd.yml: timers, program, backup host), backup, report.
LAB_JOBS = [
    ("site", "install"),
    ("etcd", "backup set-up"),
    ("backup", "backup"),
    ("cert_report", "certificate report"),
    ("upgrade", "upgrade"),
]


def run_in_lab(tmp_path, playbook, extravars, ident, group_vars=None):
    # GW_AWX_LAB_GROUPS_<JOB> overrides the groups for one job (e.g. the install without the etcd group)
    groups = os.environ.get("GW_AWX_LAB_GROUPS_" + ident.split("-")[0].upper(),
                            os.environ.get("GW_AWX_LAB_GROUPS", "kube_control_plane=cp1;kube_node=w1"))
    pdd = os.environ.get("GW_AWX_LAB_PDD") or str(tmp_path / "pdd")
    argv = [LAB_TOOL, "ctl", "--name", LAB, "--", sys.executable, os.path.join(HERE, "awx_runner.py"),
            "--pdd", pdd, "--reuse", "--playbook", playbook, "--lab-inventory", lab_inventory_path(),
            "--groups", groups, "--extravars", json.dumps(extravars), "--ident", ident,
            "--group-vars", json.dumps(group_vars or json.loads(os.environ.get("GW_AWX_LAB_VARS", "{}")))]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@needs_lab
@pytest.mark.parametrize("key,label", LAB_JOBS, ids=[job[0] for job in LAB_JOBS])
def test_lab_job(tmp_path, key, label):
    template = DATA["job_templates"][key]
    playbook = site_playbook() if key == "site" else template["playbook"]
    if not os.path.exists(os.path.join(ROOT, playbook)):
        pytest.skip("%s has not landed yet" % playbook)
    extravars = dict(survey_answers(key), **json.loads(os.environ.get("GW_AWX_LAB_EXTRAVARS", "{}")))
    group_vars = None
    if key == "upgrade":
        # the inventory carries the new version and binaries (docs/upgrade.md), the survey the target
        if not os.environ.get("GW_AWX_LAB_UPGRADE_VARS"):
            pytest.skip("no upgrade binaries staged (GW_AWX_LAB_UPGRADE_VARS)")
        group_vars = dict(json.loads(os.environ.get("GW_AWX_LAB_VARS", "{}")),
                          **json.loads(os.environ["GW_AWX_LAB_UPGRADE_VARS"]))
        assert extravars["upgrade_version"] == group_vars["groundwork_kubernetes_version"]
    summary = run_in_lab(tmp_path, playbook, extravars, ident=key, group_vars=group_vars)
    record("lab %s (%s)" % (label, playbook), summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "tasks"}, sort_keys=True))
    assert summary["status"] == "successful" and summary["rc"] == 0, summary["failures"]
    check_events(summary)
    assert summary["events"].get("runner_on_ok", 0) > 0
    assert summary["events"].get("runner_on_failed", 0) == 0
    hosts = set(summary["stats"]["processed"])
    assert hosts, "no host processed"
    if key == "upgrade":
        # a verified backup was taken first, by one etcd member, then cp1 was upgraded
        changed = summary["changed_tasks"]
        backups = [t for t in changed if t.endswith("Take a verified, encrypted backup and copy it off the node")]
        assert len(backups) == 1 and backups[0].startswith("e"), changed
        assert "cp1: Kubeadm upgrade (apply on the first control plane, node on every other node)" in changed, changed
        assert changed.index(backups[0]) < changed.index("cp1: Kubeadm upgrade (apply on the first control plane, "
                                                         "node on every other node)")
    if key in ("site", "etcd") and os.environ.get("GW_AWX_RERUN", "1") != "0":
        # converging again changes nothing (the second run of every playbook reports changed=0)
        again = run_in_lab(tmp_path, playbook, extravars, ident=key + "-again")
        record("lab %s again (%s)" % (label, playbook), again)
        assert again["status"] == "successful", again["failures"]
        check_events(again)
        assert again["runner_on_changed"] == 0, again["tasks"][:50]


@needs_lab
def test_lab_dangerous_refusal_over_ssh(tmp_path):
    """The same refusal with real, reachable hosts: nothing changes on them."""
    key = next((k for k in ("reset", "restore", "rotate_ca") if k in DANGEROUS), None)
    if key is None:
        pytest.skip("no dangerous playbook has landed yet")
    summary = run_in_lab(tmp_path, DATA["job_templates"][key]["playbook"], {"groundwork_confirm": "yes"},
                         ident="refuse-" + key)
    record("lab %s refuses" % key, summary)
    assert summary["status"] == "failed"
    check_events(summary)
    assert summary["runner_on_changed"] == 0 and summary["events"].get("runner_on_unreachable", 0) == 0
    assert all(key in f["msg"] for f in summary["failures"]), summary["failures"]


def test_inventory_script_is_what_ansible_reads(tmp_path):
    """inventory/hosts is an executable script (as AWX writes it) that ansible-inventory parses."""
    pdd = str(tmp_path)
    inventory = A.awx_inventory({"kube_control_plane": ["cp1"], "kube_node": ["w1"]},
                                {"cp1": {"ansible_host": "127.0.0.2"}, "w1": {"ansible_host": "127.0.0.3"},
                                 "spare": {}}, {"groundwork_cluster_name": "edge", "flag": True, "none": None})
    A.write_private_data_dir(pdd, inventory, {"x": 1}, ssh_key="KEY", cmdline="-u root")
    out = subprocess.run([os.path.join(A.BIN, "ansible-inventory"), "-i", os.path.join(pdd, "inventory", "hosts"),
                          "--list"], capture_output=True, text=True, check=True, cwd=pdd).stdout
    parsed = json.loads(out)
    assert parsed["kube_control_plane"]["hosts"] == ["cp1"]
    assert parsed["_meta"]["hostvars"]["w1"]["ansible_host"] == "127.0.0.3"
    assert parsed["_meta"]["hostvars"]["cp1"]["groundwork_cluster_name"] == "edge"
    assert parsed["_meta"]["hostvars"]["cp1"]["flag"] is True and parsed["_meta"]["hostvars"]["cp1"]["none"] is None
    assert "spare" in parsed["ungrouped"]["hosts"]
    assert oct(os.stat(os.path.join(pdd, "env", "ssh_key")).st_mode & 0o777) == "0o600"
    assert yaml.safe_load(open(os.path.join(pdd, "env", "extravars"), encoding="utf-8")) == {"x": 1}
    assert open(os.path.join(pdd, "env", "cmdline"), encoding="utf-8").read() == "-u root"
