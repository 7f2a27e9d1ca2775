# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render bench/results/*.json (bench/_benchlib.py format) as one self-contained HTML page: per headline
(a ratio or a time, with its target) a small inline-SVG chart of its value over time, then per bench the
latest run's ways (median, min..max, spread), whether both sides produced equivalent results, and notes.
No scripts, no external files.

  python3 bench/dashboard.py [RESULTS_DIR] [-o RESULTS_DIR/index.html]
"""
from __future__ import annotations

import argparse
import collections
import glob
import html
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def load(results):
    docs = []
    for p in sorted(glob.glob(os.path.join(results, "*.json"))):
        try:
            with open(p) as f:
                d = json.load(f)
        except ValueError:
            continue
        if isinstance(d, dict) and "bench" in d and "headlines" in d:
            d["_file"] = os.path.basename(p)
            docs.append(d)
    docs.sort(key=lambda d: d["time"])
    return docs


def chart(points, target, unit, better, w=360, h=120, pad=28):
    """points: [(label, value)] in time order -> inline SVG."""
    vals = [v for dummy, v in points if v is not None] + ([target] if target is not None else [])
    if not vals:
        return "<svg width='%d' height='%d'><text x='8' y='20'>no data (skipped)</text></svg>" % (w, h)
    hi = max(vals) * 1.15 or 1.0
    n = max(len(points), 2)

    def xy(i, v):
        return pad + (w - 2 * pad) * i / (n - 1), h - pad - (h - 2 * pad) * v / hi

    parts = ["<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' role='img'>" % (w, h),
             "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#999'/>" % (pad, h - pad, w - pad, h - pad),
             "<text x='2' y='%d' font-size='10'>0</text>" % (h - pad),
             "<text x='2' y='%d' font-size='10'>%.3g</text>" % (pad, hi)]
    if target is not None:
        dummy, ty = xy(0, target)
        parts.append("<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#c60' stroke-dasharray='4 3'/>"
                     % (pad, ty, w - pad, ty))
        parts.append("<text x='%d' y='%.1f' font-size='10' fill='#c60'>target %s %g%s</text>"
                     % (w - pad - 90, ty - 3, "&lt;=" if better == "lower" else "&gt;=", target, unit))
    pts = [(xy(i, v), v, lab) for i, (lab, v) in enumerate(points) if v is not None]
    if len(pts) > 1:
        parts.append("<polyline fill='none' stroke='#36c' stroke-width='2' points='%s'/>"
                     % " ".join("%.1f,%.1f" % p for p, dummy, dummy2 in pts))
    for (x, y), v, lab in pts:
        ok = target is None or (v <= target if better == "lower" else v >= target)
        parts.append("<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'><title>%s: %.3g%s</title></circle>"
                     % (x, y, "#2a2" if ok else "#d22", html.escape(lab), v, unit))
    if pts:
        (x, y), v, dummy = pts[-1]
        parts.append("<text x='%.1f' y='%.1f' font-size='11' font-weight='bold'>%.2f%s</text>"
                     % (min(x + 5, w - 40), max(y - 5, 10), v, unit))
    parts.append("</svg>")
    return "".join(parts)


def render(docs):
    series = collections.OrderedDict()
    for d in docs:
        for hd in d["headlines"]:
            s = series.setdefault(hd["name"], {"points": [], "target": hd["target"], "unit": hd["unit"],
                                               "better": hd["better"]})
            s["points"].append((d["time"], hd["value"]))
            s["target"] = hd["target"]
    latest = collections.OrderedDict()
    for d in docs:
        latest[d["bench"]] = d
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>Groundwork benches</title><style>",
           "body{font:14px sans-serif;margin:20px;max-width:1200px}h2{margin-top:28px}"
           ".cards{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #ddd;padding:8px;border-radius:4px}"
           "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}"
           "td:first-child,th:first-child{text-align:left}.ok{color:#2a2}.bad{color:#d22}.skip{color:#888}",
           "</style></head><body><h1>Groundwork benches</h1>",
           "<p>From the JSON files in bench/results/ (bench/run-all). Every bench interleaves its ways (A B, B A, ...)"
           " on the same machine in the same run; a ratio is the ratio of medians. Machine: 2 shared CPUs, other work"
           " running: read the ratios, and the spread.</p><h2>Headlines over time</h2><div class='cards'>"]
    for name, s in series.items():
        last = next((v for dummy, v in reversed(s["points"]) if v is not None), None)
        met = None if last is None or s["target"] is None else (
            last <= s["target"] if s["better"] == "lower" else last >= s["target"])
        cls = "skip" if last is None else ("ok" if met or met is None else "bad")
        out.append("<div class='card'><div class='%s'><b>%s</b></div>%s</div>"
                   % (cls, html.escape(name), chart(s["points"], s["target"], s["unit"], s["better"])))
    out.append("</div><h2>Latest run of each bench</h2>")
    for b, d in latest.items():
        eq = d.get("equivalent")
        out.append("<h3>%s <small>%s, load %s, status %s, equivalent results: <span class='%s'>%s</span></small></h3>"
                   % (html.escape(b), d["time"], html.escape(str((d.get("machine") or {}).get("loadavg"))),
                      html.escape(d.get("status", "")), "ok" if eq else ("skip" if eq is None else "bad"),
                      html.escape(str(eq))))
        if d.get("ways"):
            out.append("<table><tr><th>way</th><th>median s</th><th>min</th><th>max</th><th>spread</th><th>n</th></tr>")
            for w, s in d["ways"].items():
                out.append("<tr><td>%s</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.0f%%</td><td>%d</td></tr>"
                           % (html.escape(w), s["median"], s["min"], s["max"], 100 * s["spread"], len(s["times"])))
            out.append("</table>")
        out.append("<ul>")
        for hd in d["headlines"]:
            val = "n/a" if hd["value"] is None else "%.2f%s" % (hd["value"], hd["unit"])
            tgt = "" if hd["target"] is None else " (target %s %g%s: %s)" % (
                "<=" if hd["better"] == "lower" else ">=", hd["target"], hd["unit"],
                "met" if hd["met"] else "not met" if hd["met"] is False else "n/a")
            out.append("<li>%s: <b>%s</b>%s</li>" % (html.escape(hd["name"]), val, html.escape(tgt)))
        if d.get("equivalence"):
            out.append("<li>compared: %s</li>" % html.escape(d["equivalence"]))
        for n in d.get("notes") or []:
            out.append("<li>%s</li>" % html.escape(n))
        if d.get("per_role_seconds"):
            out.append("<li>per role (s): %s</li>" % html.escape(", ".join(
                "%s %.1f" % kv for kv in list(d["per_role_seconds"].items())[:10])))
        if d.get("task_executions_per_host"):
            out.append("<li>task executions per host: %s</li>" % html.escape(" ".join(
                "%s=%s" % kv for kv in d["task_executions_per_host"].items())))
        out.append("<li>file: %s</li></ul>" % html.escape(d["_file"]))
    out.append("</body></html>")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="?", default=os.environ.get("GW_BENCH_RESULTS") or os.path.join(HERE, "results"))
    ap.add_argument("-o", "--out")
    a = ap.parse_args()
    out = a.out or os.path.join(a.results, "index.html")
    docs = load(a.results)
    with open(out, "w") as f:
        f.write(render(docs))
    print("dashboard: %s (%d result files)" % (out, len(docs)))


if __name__ == "__main__":
    main()
