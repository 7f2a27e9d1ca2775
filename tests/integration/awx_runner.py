# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a Groundwork playbook through ansible-runner the way AWX does, and summarise its events.

The private data directory is laid out as AWX lays it out for a job:

    <pdd>/project/                  the project checkout (files git would ship)
    <pdd>/project/collections/ansible_collections/groundwork/k8s
                                    the collection, installed from its built tarball (as a
                                    project update installs collections/requirements.yml)
    <pdd>/inventory/hosts           an executable inventory script printing JSON (as AWX writes)
    <pdd>/env/extravars             survey answers + template extra variables
    <pdd>/env/ssh_key               the machine credential's private key (runner loads it into ssh-agent)
    <pdd>/env/settings              runner settings (timeouts, output)
    <pdd>/env/envvars               ANSIBLE_* variables AWX sets for a job
    <pdd>/env/cmdline               e.g. ``-u root`` (the machine credential's user)
    <pdd>/artifacts/<ident>/        written by ansible-runner (job_events/, rc, status, stdout)

Used by tests/integration/test_ansible_runner.py and tests/scenarios/60-awx-runner/run.sh.
As a command (inside the lab's controller namespace: ``lab ctl -- python awx_runner.py ...``)
it builds the directory, runs one playbook and prints the summary as JSON.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import stat
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)

INVENTORY_SCRIPT = '''#! /usr/bin/env python3
# -*- coding: utf-8 -*-
# Written like AWX writes a job's inventory: a script that prints the inventory as JSON.
import json
import sys

DATA = json.loads(%r)

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--host":
        print(json.dumps(DATA["_meta"]["hostvars"].get(sys.argv[2], {})))
    else:
        print(json.dumps(DATA))
'''


def _tool(name):
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else shutil.which(name)


def project_files(root=ROOT):
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=root, check=True, capture_output=True, text=True).stdout.split("\0")
    return [rel for rel in listed if rel and os.path.isfile(os.path.join(root, rel))
            and not os.path.islink(os.path.join(root, rel))]


def build_project(pdd, root=ROOT):
    """<pdd>/project: the checkout, with the collection installed from its tarball under collections/."""
    project = os.path.join(pdd, "project")
    for rel in project_files(root):
        dest = os.path.join(project, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(root, rel), dest)
    dist = os.path.join(pdd, "dist")
    os.makedirs(dist, exist_ok=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(project, "collections"))
    subprocess.run([_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", dist, project],
                   check=True, capture_output=True, text=True, cwd=dist, env=env)
    tarball = [os.path.join(dist, f) for f in os.listdir(dist) if f.endswith(".tar.gz")][0]
    subprocess.run([_tool("ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force",
                    "-p", os.path.join(project, "collections"), tarball],
                   check=True, capture_output=True, text=True, cwd=dist, env=env)
    return project


def awx_inventory(groups, hostvars, all_vars=None):
    """The JSON an AWX inventory script prints: {group: {hosts, vars, children}, _meta: {hostvars}}."""
    data = {"all": {"children": sorted(groups) + ["ungrouped"], "vars": dict(all_vars or {})},
            "ungrouped": {"hosts": []},
            "_meta": {"hostvars": {h: dict(v) for h, v in hostvars.items()}}}
    for group, hosts in groups.items():
        data[group] = {"hosts": list(hosts)}
    grouped = {h for hosts in groups.values() for h in hosts}
    data["ungrouped"]["hosts"] = sorted(set(hostvars) - grouped)
    return data


def write_private_data_dir(pdd, inventory, extravars, ssh_key=None, cmdline="", settings=None, envvars=None):
    """inventory/hosts, env/* as AWX writes them; the project must already be in <pdd>/project."""
    os.makedirs(os.path.join(pdd, "inventory"), exist_ok=True)
    os.makedirs(os.path.join(pdd, "env"), exist_ok=True)
    script = os.path.join(pdd, "inventory", "hosts")
    with open(script, "w", encoding="utf-8") as f:
        f.write(INVENTORY_SCRIPT % json.dumps(inventory, sort_keys=True))
    os.chmod(script, stat.S_IRWXU)
    project = os.path.join(pdd, "project")
    env = {
        # what AWX sets for every job (subset), pointing at the project's collections
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(project, "collections"),
        "ANSIBLE_ROLES_PATH": os.path.join(project, "roles"),
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(pdd, "cp"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(pdd, "tmp"),
        "AWX_PRIVATE_DATA_DIR": pdd,
        "JOB_ID": "1",
        "PATH": BIN + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
    }
    env.update(envvars or {})
    files = {
        "extravars": extravars,
        "envvars": env,
        "settings": dict({"job_timeout": 900, "idle_timeout": 600, "pexpect_timeout": 5,
                          "suppress_ansible_output": True}, **(settings or {})),
    }
    for name, data in files.items():
        with open(os.path.join(pdd, "env", name), "w", encoding="utf-8") as f:
            yaml.safe_dump(data, f, default_flow_style=False)
    if cmdline:
        with open(os.path.join(pdd, "env", "cmdline"), "w", encoding="utf-8") as f:
            f.write(cmdline)
    if ssh_key:
        path = os.path.join(pdd, "env", "ssh_key")
        with open(path, "w", encoding="utf-8") as f:
            f.write(ssh_key if ssh_key.endswith("\n") else ssh_key + "\n")
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def summarise(runner, seconds):
    """Counts of job events, changed results, failures and the playbook_on_stats data."""
    counts = collections.Counter()
    changed, censored, failures, stats_event, tasks, changed_tasks = 0, 0, [], None, [], []
    for event in runner.events:
        name = event.get("event")
        counts[name] += 1
        data = event.get("event_data") or {}
        if name == "playbook_on_task_start":
            tasks.append(data.get("task"))
        if name == "runner_on_ok" and "censored" in (data.get("res") or {}):
            # no_log: the event hides the whole result, "changed" included (AWX shows such a
            # task as ok; only playbook_on_stats counts it as changed)
            censored += 1
        if name == "runner_on_ok" and (data.get("res") or {}).get("changed"):
            # ansible-runner has no separate "changed" event: AWX reads res.changed
            changed += 1
            changed_tasks.append("%s: %s" % (data.get("host"), data.get("task")))
        if name in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            res = data.get("res") or {}
            failures.append({"event": name, "host": data.get("host"), "task": data.get("task"),
                             "msg": str(res.get("msg", ""))[:400], "stderr": str(res.get("stderr", ""))[-400:]})
        if name == "playbook_on_stats":
            stats_event = {k: data.get(k) for k in ("ok", "changed", "failures", "dark", "skipped", "rescued",
                                                    "ignored", "processed")}
    output = ""
    if not counts.get("playbook_on_start"):
        # the playbook never started (inventory, ssh-agent, syntax): keep what ansible said
        output = "".join(e.get("stdout", "") + "\n" for e in runner.events if e.get("stdout"))[-3000:]
    return {
        "output": output,
        "status": runner.status, "rc": runner.rc, "seconds": round(seconds, 1),
        "events": dict(counts), "runner_on_changed": changed, "censored_ok": censored, "failures": failures,
        "stats": runner.stats, "playbook_on_stats": stats_event, "tasks": tasks, "changed_tasks": changed_tasks,
    }


def run_job(pdd, playbook, ident="job", timeout=900):
    """ansible_runner.run on <pdd> (project/<playbook>), returns summarise(...)."""
    import ansible_runner  # pylint: disable=import-outside-toplevel
    start = time.monotonic()
    runner = ansible_runner.run(private_data_dir=pdd, playbook=playbook, ident=ident, quiet=True,
                                timeout=timeout)
    return summarise(runner, time.monotonic() - start)


def groups_from_spec(spec):
    """'kube_control_plane=cp1;kube_node=w1,w2' -> {group: [hosts]}."""
    groups = {}
    for part in filter(None, spec.split(";")):
        group, _sep, hosts = part.partition("=")
        groups[group.strip()] = [h for h in hosts.split(",") if h]
    return groups


def lab_inventory(path, groups):
    """An AWX inventory from the lab's inventory.yml: the lab's hosts placed in Groundwork's groups.
    The lab's per-host key file is dropped: the key travels as env/ssh_key, as an AWX credential."""
    lab = yaml.safe_load(open(path, encoding="utf-8"))["all"]["children"]["lab"]
    hosts = lab["hosts"]
    wanted = {h for hs in groups.values() for h in hs}
    missing = wanted - set(hosts)
    if missing:
        raise SystemExit("hosts %s are not in the lab inventory %s" % (sorted(missing), path))
    hostvars = {}
    for name in sorted(wanted):
        hv = dict(hosts[name])
        hv.pop("ansible_ssh_private_key_file", None)
        hv.pop("ansible_user", None)          # the machine credential's user comes from cmdline (-u)
        hostvars[name] = hv
    key_file = hosts[sorted(wanted)[0]].get("ansible_ssh_private_key_file")
    return awx_inventory(groups, hostvars, lab.get("vars")), key_file


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run a playbook through ansible-runner with an AWX-style private data dir")
    parser.add_argument("--pdd", required=True, help="private data dir to create (must not exist, or --reuse)")
    parser.add_argument("--reuse", action="store_true", help="keep an existing project/ (only rewrite inventory and env)")
    parser.add_argument("--playbook", required=True, help="path inside the project, e.g. playbooks/backup.yml")
    parser.add_argument("--lab-inventory", required=True, help="tests/lab/.state/NAME/inventory.yml")
    parser.add_argument("--groups", required=True, help="kube_control_plane=cp1;kube_node=w1")
    parser.add_argument("--extravars", default="{}", help="JSON dict (survey answers and template extra vars)")
    parser.add_argument("--group-vars", default="{}", help="JSON dict of inventory variables for all hosts")
    parser.add_argument("--user", default="root")
    parser.add_argument("--ident", default="job")
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args(argv)

    pdd = os.path.abspath(args.pdd)
    if not (args.reuse and os.path.isdir(os.path.join(pdd, "project"))):
        build_project(pdd)
    inventory, key_file = lab_inventory(args.lab_inventory, groups_from_spec(args.groups))
    inventory["all"]["vars"].update(json.loads(args.group_vars))
    key = open(key_file, encoding="utf-8").read() if key_file else None
    shutil.rmtree(os.path.join(pdd, "artifacts", args.ident), ignore_errors=True)
    write_private_data_dir(pdd, inventory, json.loads(args.extravars), ssh_key=key, cmdline="-u %s" % args.user)
    summary = run_job(pdd, args.playbook, ident=args.ident, timeout=args.timeout)
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
