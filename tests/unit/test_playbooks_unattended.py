# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every playbook runs unattended (DESIGN decision 7): no pause, no vars_prompt, anywhere a
playbook reaches (its plays, imported playbooks, roles, role dependencies, included task files).
Dangerous playbooks (restore, reset, rotate_ca) check groundwork_confirm == their name before
any task that can change something. Playbooks are picked up from playbooks/ as they land."""
from __future__ import annotations

import glob
import importlib.util
import os
import textwrap

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SPEC = importlib.util.spec_from_file_location("groundwork_awx_validate", os.path.join(ROOT, "awx", "validate.py"))
V = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(V)

PLAYBOOKS = V.playbook_files(ROOT)
DANGEROUS = [k for k in V.DANGEROUS_DEFAULT if os.path.exists(os.path.join(ROOT, "playbooks", k + ".yml"))]
ROLE_TASK_FILES = sorted(
    p for pattern in ("roles/*/tasks/**/*.yml", "roles/*/handlers/**/*.yml")
    for p in glob.glob(os.path.join(ROOT, pattern), recursive=True))


def _rel(path):
    return os.path.relpath(path, ROOT)


def test_playbooks_exist():
    assert PLAYBOOKS, "no playbook found under playbooks/"


@pytest.mark.parametrize("path", PLAYBOOKS, ids=[_rel(p) for p in PLAYBOOKS])
def test_playbook_never_prompts(path):
    walk = V.walk_playbook(ROOT, path)
    assert walk.prompts == []
    # the walk really went through tasks (so an empty result means something)
    assert walk.tasks or walk.entries, "%s: nothing found to run" % _rel(path)


@pytest.mark.parametrize("path", ROLE_TASK_FILES, ids=[_rel(p) for p in ROLE_TASK_FILES])
def test_role_task_file_never_pauses(path):
    # Also task files no playbook reaches yet (included with a templated name, say).
    walk = V.Walk(ROOT)
    walk.walk_tasks(yaml.safe_load(open(path, encoding="utf-8")) or [], _rel(path), os.path.dirname(path))
    assert walk.prompts == []


@pytest.mark.parametrize("key", DANGEROUS)
def test_dangerous_playbook_checks_confirm_first(key):
    assert V.confirm_check_problems(ROOT, key, os.path.join(ROOT, "playbooks", key + ".yml")) == []


def test_dangerous_list_matches_contract():
    text = open(os.path.join(ROOT, "CONTRIBUTING.md"), encoding="utf-8").read()
    line = [ln for ln in text.splitlines() if "`groundwork_confirm`" in ln][0]
    for key in V.DANGEROUS_DEFAULT:
        assert "`%s`" % key in line


# ------------------------------------------------------------------ the checker itself (tables)
def _write(tmp_path, files):
    for rel, body in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
    return str(tmp_path)


ASSERT_OK = """
        - name: Refuse to run without confirmation
          ansible.builtin.assert:
            that: groundwork_confirm | default('') == 'reset'
            fail_msg: "run with -e groundwork_confirm=reset"
"""
ROLE_WIPE = {"roles/wipe/tasks/main.yml": """
    - name: Wipe
      ansible.builtin.command: kubeadm reset -f
      changed_when: true
"""}


@pytest.mark.parametrize("playbook,extra,fragment", [
    # assert in pre_tasks of the first play: fine
    ("""
    - hosts: all
      gather_facts: false
      pre_tasks:%s
      roles: [wipe]
    """ % ASSERT_OK, ROLE_WIPE, None),
    # a first play on localhost that only checks: fine
    ("""
    - hosts: localhost
      gather_facts: false
      tasks:%s
    - hosts: all
      roles: [groundwork.k8s.wipe]
    """ % ASSERT_OK, ROLE_WIPE, None),
    # roles run before tasks: the check in tasks comes too late
    ("""
    - hosts: all
      roles: [wipe]
      tasks:%s
    """ % ASSERT_OK, ROLE_WIPE, "runs before groundwork_confirm"),
    # a change before the check
    ("""
    - hosts: all
      tasks:
        - name: Stop kubelet
          ansible.builtin.systemd_service: {name: kubelet, state: stopped}%s
    """ % ASSERT_OK, {}, "runs before groundwork_confirm"),
    # checked, but not against the playbook's name
    ("""
    - hosts: all
      tasks:
        - name: Check
          ansible.builtin.assert:
            that: groundwork_confirm is defined
    """, {}, "not with 'reset'"),
    # never checked
    ("""
    - hosts: all
      tasks:
        - name: Look
          ansible.builtin.debug: {msg: hi}
    """, {}, "never checked"),
    # the check inside an imported playbook and a role's first task file
    ("""
    - ansible.builtin.import_playbook: guard.yml
    - hosts: all
      roles: [wipe]
    """, dict(ROLE_WIPE, **{"playbooks/guard.yml": """
    - hosts: all
      gather_facts: false
      tasks:
        - name: Guard
          ansible.builtin.include_role:
            name: groundwork.k8s.guard
    """, "roles/guard/tasks/main.yml": ASSERT_OK}), None),
])
def test_confirm_check_table(tmp_path, playbook, extra, fragment):
    root = _write(tmp_path, dict(extra, **{"playbooks/reset.yml": playbook}))
    problems = V.confirm_check_problems(root, "reset", os.path.join(root, "playbooks", "reset.yml"))
    if fragment is None:
        assert problems == []
    else:
        assert len(problems) == 1 and fragment in problems[0], problems


@pytest.mark.parametrize("files,expected", [
    ({"playbooks/p.yml": "- hosts: all\n  vars_prompt:\n    - name: x\n      prompt: X?\n"}, "vars_prompt"),
    ({"playbooks/p.yml": "- hosts: all\n  tasks:\n    - ansible.builtin.pause: {minutes: 1}\n"}, "ansible.builtin.pause"),
    ({"playbooks/p.yml": "- hosts: all\n  roles: [r]\n",
      "roles/r/tasks/main.yml": "- ansible.builtin.import_tasks: wait.yml\n",
      "roles/r/tasks/wait.yml": "- block:\n    - pause:\n        prompt: go?\n"}, "uses pause"),
    ({"playbooks/p.yml": "- hosts: all\n  roles: [r]\n",
      "roles/r/meta/main.yml": "dependencies: [d]\n",
      "roles/r/tasks/main.yml": "- ansible.builtin.debug: {msg: x}\n",
      "roles/d/tasks/main.yml": "- ansible.legacy.pause: {seconds: 5}\n"}, "ansible.legacy.pause"),
    ({"playbooks/p.yml": "- hosts: all\n  tasks:\n    - ansible.builtin.debug: {msg: x}\n"}, None),
])
def test_prompt_detection_table(tmp_path, files, expected):
    root = _write(tmp_path, files)
    prompts = V.walk_playbook(root, os.path.join(root, "playbooks", "p.yml")).prompts
    if expected is None:
        assert prompts == []
    else:
        assert len(prompts) == 1 and expected in prompts[0], prompts
