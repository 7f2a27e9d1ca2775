# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/_noop_report.py: the no-op summary and the add-one-worker check (issue #20), on callback output
shaped like ansible.posix.json's."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
REPORT = os.path.join(ROOT, "bench", "_noop_report.py")


def _callback(path, tasks, stats):
    """tasks: [(name, {host: result})] -> an ansible.posix.json-like file (with a line before the JSON)."""
    span = {"start": "2026-12-07T10:00:00.000000Z", "end": "2026-12-07T10:00:01.500000Z"}
    doc = {"plays": [{"play": {"name": "p", "duration": span},
                      "tasks": [{"task": {"name": n, "duration": span}, "hosts": h} for n, h in tasks]}],
           "stats": stats}
    with open(path, "w") as f:
        f.write("[WARNING]: a line before the JSON, with {{ braces }}\n" + json.dumps(doc, indent=4) + "\nrc=0 after it\n")
    return path


def _run(tmp_path, add_tasks, add_stats, *extra):
    noop = _callback(str(tmp_path / "rerun.json"), [("r : check", {"cp1": {"changed": False}, "w1": {"changed": False}})],
                     {"cp1": {"changed": 0}, "w1": {"changed": 0}})
    add = _callback(str(tmp_path / "add.json"), add_tasks, add_stats)
    out = str(tmp_path / "res.json")
    r = subprocess.run([sys.executable, REPORT, "--bench", "t", "--label", "no-op", "--hosts", "2", "--out", out,
                        "--add-node", "w2:41.5:" + add, *extra, "12.5:" + noop], capture_output=True, text=True, check=False)
    with open(out) as f:
        return r, json.load(f)


def test_add_node_that_touched_only_the_new_worker_is_equivalent(tmp_path):
    tasks = [("node_join : token", {"w2": {"changed": True, "_ansible_delegated_vars": {"ansible_delegated_host": "cp1"}}}),
             ("node_join : join", {"w2": {"changed": True}}),
             ("cni : files", {"w2": {"results": [{"changed": False}, {"skipped": True}]}})]
    r, doc = _run(tmp_path, tasks, {"w2": {"changed": 2}}, "--spare")
    assert r.returncode == 0, r.stdout + r.stderr
    assert doc["equivalent"] is True
    head = {h["name"]: h for h in doc["headlines"]}["add one worker: add_node.yml [t]"]
    assert head["value"] == 41.5 and head["target"] == 45.0 and head["met"] is True
    assert doc["add_node"]["changed_results_by_target"] == {"cp1": 1, "w2": 1}   # the token is made on cp1
    assert doc["add_node"]["task_executions"] == 3                               # the skipped item is not a run
    assert any("spare fresh host w2" in n for n in doc["notes"])


def test_no_spare_note_without_spare(tmp_path):
    r, doc = _run(tmp_path, [("node_join : join", {"w2": {"changed": True}})], {"w2": {"changed": 1}})
    assert r.returncode == 0 and not any("spare" in n for n in doc["notes"])


def test_add_node_that_changed_another_host_is_not_equivalent(tmp_path):
    tasks = [("node_join : join", {"w2": {"changed": True}, "w1": {"changed": True}})]
    r, doc = _run(tmp_path, tasks, {"w2": {"changed": 1}, "w1": {"changed": 1}})
    assert r.returncode == 1
    assert doc["equivalent"] is False and "'w1': 1" in doc["equivalence"]
