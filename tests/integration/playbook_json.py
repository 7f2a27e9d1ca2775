# -*- coding: utf-8 -*-
"""Run ansible-playbook from the checkout with the JSON callback and return its parsed report.

The integration tests that drive a playbook (preflight refusals, role inputs, the air-gap plays) share this:
the collection from the checkout's .collections, the checkout's ansible.cfg, the ``ansible.posix.json``
stdout callback, a per-test local temp dir. ``args`` is everything after ``ansible-playbook``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run_playbook_json(args, local_temp, timeout=120):
    """-> (CompletedProcess, report dict); the test fails when ansible-playbook printed no JSON."""
    env = dict(os.environ)
    env.update({
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCAL_TEMP": str(local_temp),
        "ANSIBLE_NOCOLOR": "1",
    })
    argv = [os.path.join(BIN, "ansible-playbook")] + [str(a) for a in args]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        pytest.fail("no JSON from ansible-playbook (rc %s): %s %s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc, report


def task_name(task):
    """Task name without the ``role : `` prefix Ansible adds."""
    return task["task"]["name"].split(" : ")[-1]
