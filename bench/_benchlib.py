# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by the bench scripts: run the ways interleaved (A B A B, the order flipped every round so
neither way always runs on a warmer cache), summarise (median, min, max, spread), compare medians, and
write one JSON result file into bench/results/ that bench/run-all renders.

A result file:
  {"bench": NAME, "time": UTC ISO, "machine": {...}, "rounds": N,
   "ways": {WAY: {"times": [...], "median": s, "min": s, "max": s, "spread": (max-min)/median}},
   "equivalent": true|false, "equivalence": "what was compared",
   "headlines": [{"name": ..., "value": x, "unit": "x"|"s", "target": t, "better": "lower"|"higher",
                  "met": bool}],
   "status": "ok"|"SKIPPED"|"FAILED", "notes": [...]}
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.environ.get("GW_BENCH_RESULTS") or os.path.join(HERE, "results")


def summary(times):
    med = statistics.median(times)
    return {"times": [round(t, 4) for t in times], "median": round(med, 4), "min": round(min(times), 4),
            "max": round(max(times), 4), "spread": round((max(times) - min(times)) / med, 3) if med else 0.0}


def interleave(ways, rounds, warmup=True):
    """ways: list of (name, fn(round) -> result). Returns ({name: [seconds]}, {name: [result]})."""
    if warmup:
        for dummy, fn in ways:
            fn(-1)
    times = {name: [] for name, dummy in ways}
    outs = {name: [] for name, dummy in ways}
    for r in range(rounds):
        order = ways if r % 2 == 0 else list(reversed(ways))
        for name, fn in order:
            t = time.perf_counter()
            out = fn(r)
            times[name].append(time.perf_counter() - t)
            outs[name].append(out)
    return times, outs


def headline(name, value, target=None, better="lower", unit="x"):
    met = None
    if target is not None and value is not None:
        met = value <= target if better == "lower" else value >= target
    return {"name": name, "value": None if value is None else round(value, 3), "unit": unit, "target": target,
            "better": better, "met": met}


def ratio(ways, a, b):
    return ways[a]["median"] / ways[b]["median"] if ways[b]["median"] else None


def machine():
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpus": os.cpu_count(), "loadavg": load, "python": platform.python_version(), "node": platform.node()}


def write(bench, ways, headlines, equivalent, equivalence, rounds, status="ok", notes=(), extra=None):
    os.makedirs(RESULTS, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    doc = {"bench": bench, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine(), "rounds": rounds,
           "ways": ways, "equivalent": equivalent, "equivalence": equivalence, "headlines": headlines,
           "status": status, "notes": list(notes)}
    if extra:
        doc.update(extra)
    path = os.path.join(RESULTS, "%s-%s.json" % (bench, now.strftime("%Y%m%dT%H%M%SZ")))
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    return path


def report(bench, ways, headlines, equivalent, path):
    print("== %s" % bench)
    for name, s in ways.items():
        print("  %-48s median %8.3f s  [%.3f .. %.3f]  spread %4.0f%%  n=%d"
              % (name, s["median"], s["min"], s["max"], 100 * s["spread"], len(s["times"])))
    for h in headlines:
        tgt = "" if h["target"] is None else "  target %s %s%s -> %s" % (
            "<=" if h["better"] == "lower" else ">=", h["target"], h["unit"], "met" if h["met"] else "NOT met")
        print("  %-48s %8s%s%s" % (h["name"], "n/a" if h["value"] is None else "%.2f" % h["value"], h["unit"], tgt))
    print("  equivalent results: %s" % equivalent)
    print("  -> %s" % path)


def skipped(bench, why, headlines=()):
    path = write(bench, {}, [headline(h, None, t, b) for h, t, b in headlines], None, "", 0, status="SKIPPED",
                 notes=[why])
    print("== %s: SKIPPED (%s) -> %s" % (bench, why, path))
    return path
