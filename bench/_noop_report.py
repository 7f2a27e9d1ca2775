# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Summarise no-op site.yml re-runs (bench/noop_site.sh, bench/real_install.sh) from the ansible.posix.json
callback output: wall time median/spread, changed total (must be 0), task executions per host, and where
the time goes — per role and the slowest tasks (the callback's per-task start/end, so a task's time is
the slowest host's). Writes one bench result file (bench/_benchlib.py format).

  python3 bench/_noop_report.py --install S --hosts 5 --target 30 --out FILE WALL:JSON [WALL:JSON ...]
    [--add-node HOST:WALL:JSON [--add-label WHAT] [--spare]]   one add_node.yml --limit HOST (issue #20: adding
                                  one worker <= 45 s, touching only it): its wall time is a headline, and the
                                  result is only "equivalent" when no other host reported a change (the
                                  callback's per-host stats, as the PLAY RECAP shows them); --spare: HOST was
                                  a fresh spare in the lab during the install and re-runs (said in the notes)
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _benchlib as B  # noqa: E402


def ts(s):
    return datetime.datetime.strptime(s.replace("Z", ""), "%Y-%m-%dT%H:%M:%S.%f")


def load(path):
    """The callback's JSON object: it starts on a line of its own (warnings before it may hold braces) and
    anything printed after it is ignored."""
    with open(path) as f:
        text = f.read()
    start = 0 if text.startswith("{") else text.index("\n{") + 1
    return json.JSONDecoder().raw_decode(text, start)[0]


def analyse(data):
    """-> (task executions per host, changed tasks, seconds per role, per task, per play, changed results per
    host). A delegated result counts for the host it ran on."""
    runs, changed, changed_on = collections.Counter(), 0, collections.Counter()
    per_role, per_task, per_play = collections.Counter(), collections.Counter(), []
    for play in data["plays"]:
        p = play["play"]
        per_play.append((p["name"], (ts(p["duration"]["end"]) - ts(p["duration"]["start"])).total_seconds()
                         if p["duration"].get("end") else 0.0))
        for task in play["tasks"]:
            t = task["task"]
            d = t.get("duration") or {}
            secs = (ts(d["end"]) - ts(d["start"])).total_seconds() if d.get("end") else 0.0
            name = t["name"]
            role = name.split(" : ", 1)[0] if " : " in name else "(play: %s)" % p["name"][:40]
            per_role[role] += secs
            per_task[name] += secs
            for host, res in task["hosts"].items():
                for r in res.get("results") or [res]:
                    if r.get("skipped"):
                        continue
                    target = (r.get("_ansible_delegated_vars") or {}).get("ansible_delegated_host") or host
                    runs[target] += 1
                    changed_on[target] += bool(r.get("changed"))
                changed += bool(res.get("changed"))
    return runs, changed, per_role, per_task, per_play, +changed_on


def add_node_report(spec):
    """HOST:WALL:JSON -> (wall, host, {other host: changed}, {target: changed results}, tasks run, slowest)."""
    host, wall, path = spec.split(":", 2)
    data = load(path)
    others = {h: st.get("changed", 0) for h, st in sorted(data.get("stats", {}).items()) if h != host}
    runs, _changed, _roles, per_task, _plays, by_target = analyse(data)
    slowest = [[k, round(v, 2)] for k, v in per_task.most_common(12)]
    return float(wall), host, others, dict(by_target), sum(runs.values()), slowest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--install", default="null")
    ap.add_argument("--hosts", type=int, default=5)
    ap.add_argument("--target", type=float, default=30.0)
    ap.add_argument("--bench", default="noop_site")
    ap.add_argument("--label", default="no-op site.yml (5 hosts, doubles)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--install-target", type=float, default=None)
    ap.add_argument("--add-node", default=None, help="HOST:WALL:JSON of one add_node.yml --limit HOST")
    ap.add_argument("--add-target", type=float, default=45.0)
    ap.add_argument("--add-label", default="add one worker", help="what was added (fresh host, removed one)")
    ap.add_argument("--spare", action="store_true", help="the --add-node host was a fresh spare in the lab")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    walls, changed_all, last = [], [], None
    for item in a.runs:
        wall, path = item.split(":", 1)
        walls.append(float(wall))
        last = analyse(load(path))
        changed_all.append(last[1])
    runs, dummy, per_role, per_task, per_play, dummy = last
    ways = {a.label: B.summary(walls)}
    med = ways[a.label]["median"]
    heads = [B.headline("%s, median" % a.label, med, a.target, "lower", "s")]
    install = None if a.install in ("null", "") else float(a.install)
    if install is not None:
        ways["install (first site.yml)"] = B.summary([install])
        heads.append(B.headline("install: first site.yml", install, a.install_target, "lower", "s"))
    doc_extra = {
        "changed_per_run": changed_all,
        "task_executions_per_host": dict(sorted(runs.items())),
        "per_role_seconds": {k: round(v, 2) for k, v in per_role.most_common()},
        "slowest_tasks": [[k, round(v, 2)] for k, v in per_task.most_common(25)],
        "per_play_seconds": [[k, round(v, 2)] for k, v in per_play],
        "tasks_total": sum(runs.values()),
    }
    ok = all(c == 0 for c in changed_all)
    equivalence = "every re-run reported changed=0 (got %s)" % changed_all
    if a.add_node:
        wall, host, others, by_target, tasks, slowest = add_node_report(a.add_node)
        label = "%s: add_node.yml [%s]" % (a.add_label, a.bench)
        ways[label] = B.summary([wall])
        heads.append(B.headline(label, wall, a.add_target, "lower", "s"))
        touched = sorted(h for h, c in others.items() if c)
        ok = ok and not touched
        equivalence += "; add_node.yml changed no host but %s (other hosts' changed: %s)" % (host, others)
        if a.spare:
            a.note.append("the lab had a spare fresh host %s (in no group) during install and re-runs: preflight "
                          "(hosts: all) read it too, then add_node.yml --limit %s added it" % (host, host))
        doc_extra["add_node"] = {"host": host, "seconds": wall, "other_hosts_changed": others,
                                 "changed_results_by_target": by_target, "task_executions": tasks,
                                 "slowest_tasks": slowest}
    B.RESULTS = os.path.dirname(os.path.abspath(a.out))
    path = B.write(a.bench, ways, heads, ok, equivalence, len(walls),
                   notes=a.note, extra=doc_extra)
    os.replace(path, a.out)
    B.report(a.bench, ways, heads, ok, a.out)
    if a.add_node:
        add = doc_extra["add_node"]
        print("  add_node.yml --limit %s: %.1f s, %d task executions; changed results by target host: %s; "
              "other hosts' changed (recap): %s" % (add["host"], add["seconds"], add["task_executions"],
                                                    add["changed_results_by_target"], add["other_hosts_changed"]))
        for k, v in add["slowest_tasks"]:
            print("    %7.2f s  %s" % (v, k))
    per_host = " ".join("%s=%d" % kv for kv in sorted(runs.items()))
    print("  task executions per host: %s (total %d)" % (per_host, sum(runs.values())))
    print("  per play (last re-run):")
    for k, v in per_play:
        print("    %7.2f s  %s" % (v, k))
    print("  per role (last re-run, sum of task wall times):")
    for k, v in per_role.most_common(14):
        print("    %7.2f s  %s" % (v, k))
    print("  slowest tasks (last re-run):")
    for k, v in per_task.most_common(25):
        print("    %7.2f s  %s" % (v, k))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
