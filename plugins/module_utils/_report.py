# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""The cluster report (playbooks/report.yml) as plain functions.

:func:`build` turns what the playbook read (per host: facts, versions, pki_info rows, backup and
drill status files, backup bundles, installed artifacts; from the API: Nodes, server version,
kubeadm's ClusterConfiguration; etcd members; the artifact manifest in use) into one report
model (JSON-able). :func:`render_html` renders the model as one self-contained HTML page:
inline CSS, charts as inline SVG drawn here from the data, no script, nothing fetched.
Missing data is reported (``never``, ``unreachable``), never invented.
"""

from __future__ import annotations

import datetime
import html
import json
import re

from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

SCHEMA = 1
DEFAULT_OPTIONS = {
    "cert_warn_days": 30,        # a certificate expiring sooner is a warning
    "cert_critical_days": 7,     # ... and sooner than this, critical
    "backup_max_age_hours": 48,  # newest verified backup older than this is stale (2 daily intervals)
    "chart_days": 800,           # the certificate timeline shows now - 30 d .. now + chart_days
}
LEVELS = ("critical", "warning", "info")
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)([-+.][0-9A-Za-z.-]+)?")


# --------------------------------------------------------------------------- small helpers
def parse_time(value):
    """ISO 8601 text or epoch seconds -> aware UTC datetime (None when absent or unreadable)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
    text = str(value).strip()
    if re.match(r"^\d+(\.\d+)?$", text):
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    text = text.replace("Z", "+00:00")
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def version_of(text):
    """The first ``vX.Y.Z`` in a tool's output (``Kubernetes v1.33.3`` -> ``v1.33.3``); None when absent."""
    m = _VERSION_RE.search(text or "")
    return "v%s.%s.%s%s" % (m.group(1), m.group(2), m.group(3), m.group(4) or "") if m else None


def minor_of(version):
    m = _VERSION_RE.search(version or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def human_bytes(n):
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024
    return "?"


def human_age(hours):
    if hours is None:
        return "never"
    if hours < 1:
        return "%d min" % max(0, round(hours * 60))
    if hours < 48:
        return "%.1f h" % hours
    return "%.1f d" % (hours / 24.0)


def _hours_between(now, then):
    return None if then is None else round((now - then).total_seconds() / 3600.0, 2)


def _loads(text):
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return None


# --------------------------------------------------------------------------- sections
def _warn(warnings, level, section, message, host=None):
    warnings.append({"level": level, "section": section, "host": host, "message": message})


def node_roles(labels):
    roles = sorted(k.split("/", 1)[1] for k in (labels or {}) if k.startswith("node-role.kubernetes.io/"))
    return [r for r in roles if r] or ["worker"]


def _etcd_model(etcd):
    """Members and leader from an etcd_member_info result, or from raw ``etcdctl -w json`` outputs
    (``member_list``, ``endpoint_status``: the etcd static pod's etcdctl when the host has none)."""
    etcd = etcd or {}
    if etcd.get("error"):
        return {"source": etcd.get("source"), "error": etcd["error"], "members": [], "leader": None}
    if "members" in etcd and isinstance(etcd["members"], list):  # etcd_member_info
        status = {s.get("member_id_hex") or s.get("id_hex"): s for s in etcd.get("status") or []}
        health = {h.get("endpoint"): h.get("health") for h in etcd.get("health") or []}
        members = []
        for m in etcd["members"]:
            st = status.get(m.get("id_hex")) or {}
            urls = m.get("client_urls") or []
            members.append({"name": m.get("name") or "(not started)", "id_hex": m.get("id_hex"),
                            "is_learner": bool(m.get("is_learner")), "started": bool(m.get("started", True)),
                            "client_urls": urls, "healthy": any(health.get(u) for u in urls) if health else None,
                            "db_size": st.get("db_size"), "version": st.get("version")})
        leader = etcd.get("leader_name")
        for m in members:
            m["is_leader"] = bool(leader) and m["name"] == leader
        return {"source": etcd.get("source", "etcd_member_info"), "members": members, "leader": leader,
                "cluster_id_hex": etcd.get("cluster_id_hex"), "healthy": etcd.get("healthy"),
                "quorum": etcd.get("quorum")}
    # raw outputs of the etcd pod's etcdctl: parsed by _etcd (as etcd_member_info does), then the same path
    try:
        ml = _etcd.parse_member_list(etcd.get("member_list") or "{}")
        status = _etcd.parse_endpoint_status(etcd.get("endpoint_status") or "[]")
    except (GroundworkError, ValueError, TypeError) as exc:
        return {"source": etcd.get("source"), "error": "unreadable etcdctl output: %s" % exc, "members": [], "leader": None}
    leaders = {st["leader"] for st in status if st.get("leader")}
    voters = sum(1 for m in ml["members"] if not m["is_learner"])
    info = {"members": ml["members"], "status": status, "cluster_id_hex": ml["cluster_id_hex"],
            "health": [{"endpoint": st["endpoint"], "health": True} for st in status],
            "healthy": bool(status) and len(status) == len(ml["members"]),
            "leader_name": next((m["name"] for m in ml["members"] if len(leaders) == 1 and m["id"] in leaders), None),
            "quorum": voters // 2 + 1 if voters else None, "source": etcd.get("source", "etcdctl")}
    return _etcd_model(info)


def topology(data, warnings):
    api = data.get("api") or {}
    nodes = {n["name"]: n for n in api.get("nodes") or [] if n.get("name")}
    server_version = version_of(api.get("server_version"))
    hosts = []
    for name, h in sorted((data.get("hosts") or {}).items()):
        facts = h.get("facts") or {}
        versions = {k: version_of(v) for k, v in (h.get("versions") or {}).items()}
        node = nodes.get(name)
        entry = {
            "name": name, "address": h.get("address"), "groups": sorted(h.get("groups") or []),
            "reachable": h.get("reachable", True),
            "os": " ".join(x for x in (facts.get("distribution"), facts.get("distribution_version")) if x) or None,
            "kernel": facts.get("kernel"), "arch": facts.get("architecture"),
            "kubelet": versions.get("kubelet"), "kubeadm": versions.get("kubeadm"),
            "containerd": versions.get("containerd"), "node": None,
        }
        if node:
            entry["node"] = {"ready": node.get("ready") == "True", "roles": node_roles(node.get("labels")),
                             "kubelet": node.get("kubelet"), "os_image": node.get("os_image"),
                             "runtime": node.get("runtime"), "unschedulable": bool(node.get("unschedulable"))}
        hosts.append(entry)
        if not entry["reachable"]:
            _warn(warnings, "critical", "topology", "%s did not answer (unreachable): nothing read from it" % name, name)
            continue
        is_node = bool(set(entry["groups"]) & {"kube_control_plane", "kube_node"})
        if is_node and api.get("nodes") is not None and not node:
            _warn(warnings, "warning", "topology", "%s is in the inventory but has no Node in the API" % name, name)
        if node and not entry["node"]["ready"]:
            _warn(warnings, "critical", "topology", "Node %s is NotReady (Ready=%s)" % (name, node.get("ready") or "Unknown"), name)
        if node and entry["node"]["unschedulable"]:
            _warn(warnings, "warning", "topology", "Node %s is cordoned (unschedulable)" % name, name)
        for tool in ("kubelet", "kubeadm"):
            v = entry[tool]
            if is_node and server_version and v and v != server_version:
                _warn(warnings, "warning", "topology", "version skew: %s's %s is %s, the API server runs %s"
                      % (name, tool, v, server_version), name)
    inventory_hosts = set(data.get("hosts") or {})
    for name in sorted(set(nodes) - inventory_hosts):
        n = nodes[name]
        hosts.append({"name": name, "address": None, "groups": [], "reachable": None, "os": None, "kernel": None,
                      "arch": None, "kubelet": None, "kubeadm": None, "containerd": None,
                      "node": {"ready": n.get("ready") == "True", "roles": node_roles(n.get("labels")),
                               "kubelet": n.get("kubelet"), "os_image": n.get("os_image"), "runtime": n.get("runtime"),
                               "unschedulable": bool(n.get("unschedulable"))}})
        _warn(warnings, "warning", "topology", "Node %s is in the API but not in the inventory" % name, name)
        if n.get("ready") != "True":
            _warn(warnings, "critical", "topology", "Node %s is NotReady" % name, name)
    if api.get("error"):
        _warn(warnings, "critical", "topology", "the API could not be read: %s" % api["error"])
    inv_version = data.get("inventory_version")
    if inv_version and server_version and inv_version != server_version:
        _warn(warnings, "warning", "topology", "version skew: the inventory's groundwork_kubernetes_version is %s, the "
              "API server runs %s (run playbooks/upgrade.yml, or set the inventory to what runs)" % (inv_version, server_version))
    etcd = _etcd_model(data.get("etcd"))
    if etcd.get("error"):
        _warn(warnings, "critical", "topology", "etcd could not be read: %s" % etcd["error"])
    else:
        if etcd["members"] and not etcd["leader"]:
            _warn(warnings, "critical", "topology", "etcd has no leader")
        for m in etcd["members"]:
            if m["healthy"] is False:
                _warn(warnings, "critical", "topology", "etcd member %s does not answer" % m["name"], m["name"])
            if m["is_learner"]:
                _warn(warnings, "warning", "topology", "etcd member %s is still a learner" % m["name"], m["name"])
    return {"api_endpoint": api.get("control_plane_endpoint") or data.get("api_endpoint_inventory"),
            "server_version": server_version, "inventory_version": inv_version, "hosts": hosts, "etcd": etcd,
            "nodes_total": len(nodes), "nodes_ready": sum(1 for n in nodes.values() if n.get("ready") == "True")}


def _cert_state(row, opts):
    if "error" in row:
        return "error"
    days = row.get("days_left")
    if days is None:
        return "error"
    if days < 0:
        return "expired"
    if days < opts["cert_critical_days"]:
        return "critical"
    if days < opts["cert_warn_days"]:
        return "warning"
    return "ca" if row.get("is_ca") else "ok"


def certificates(data, opts, warnings, now):
    by_host = {}
    for host, h in sorted((data.get("hosts") or {}).items()):
        rows = []
        for r in h.get("certificates") or []:
            row = {k: r.get(k) for k in ("name", "path", "source", "subject", "issuer", "not_before", "not_after",
                                         "days_left", "is_ca", "error") if r.get(k) is not None}
            row["state"] = _cert_state(r, opts)
            rows.append(row)
            label = "%s %s" % (row.get("name"), "(%s)" % row["path"] if row.get("path") else "")
            if row["state"] == "error":
                _warn(warnings, "warning", "certificates", "%s on %s cannot be read: %s" % (label, host, row.get("error")), host)
            elif row["state"] == "expired":
                _warn(warnings, "critical", "certificates", "%s on %s EXPIRED %d days ago" % (label, host, -row["days_left"]), host)
            elif row["state"] in ("critical", "warning"):
                _warn(warnings, row["state"], "certificates", "%s on %s expires in %d days (%s): renew with "
                      "playbooks/rotate_certs.yml" % (label, host, row["days_left"], row.get("not_after")), host)
        rows.sort(key=lambda r: (r["state"] != "error", r.get("not_after") or "", r.get("name") or ""))
        if rows:
            by_host[host] = rows
    all_rows = [r for rows in by_host.values() for r in rows if r.get("days_left") is not None]
    soonest = min(all_rows, key=lambda r: r["days_left"]) if all_rows else None
    return {"hosts": by_host, "count": sum(len(v) for v in by_host.values()),
            "soonest": {"days_left": soonest["days_left"], "name": soonest.get("name"),
                        "host": next(h for h, rs in by_host.items() if soonest in rs)} if soonest else None}


_PROM_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_prom(text):
    """Prometheus text exposition -> [(name, labels text, float value)] (comments skipped)."""
    out = []
    for line in (text or "").splitlines():
        m = _PROM_LINE.match(line.strip())
        if m and not line.startswith("#"):
            try:
                out.append((m.group(1), m.group(2) or "", float(m.group(3))))
            except ValueError:
                continue
    return out


def _drill_from(path, content, mtime):
    """One DR-drill record from a JSON status file or a textfile metric (whatever the drill writes)."""
    if path.endswith(".prom"):
        t, result = None, None
        for name, labels, value in parse_prom(content):
            if "drill" not in name:
                continue
            if name.endswith("timestamp_seconds") and value > 0:
                t = max(t or 0, value)
            elif "result" in name and ('"ok"' in labels or '"success"' in labels) and value == 1:
                result = "ok"
            elif "result" in name and value == 1 and labels:
                result = result or labels.split('"')[1]
            elif "result" in name and not labels:  # groundwork_dr_drill_last_result: 1 passed, 0 failed
                result = "ok" if value == 1 else "failed"
            elif name.endswith(("_success", "_ok")):
                result = "ok" if value == 1 else "failed"
        if t is None and result is None:
            return None
        return {"time": iso(parse_time(t)) if t else None, "result": result, "source": path}
    doc = _loads(content)
    if not isinstance(doc, dict):
        return None
    t = None
    for key in ("finished", "ended", "completed", "time", "timestamp", "last_ok", "started", "created"):
        t = parse_time(doc.get(key))
        if t:
            break
    result = doc.get("result") or doc.get("status")
    if result is None and "ok" in doc:
        result = "ok" if doc["ok"] else "failed"
    return {"time": iso(t or parse_time(mtime)), "result": str(result) if result is not None else None,
            "seconds": doc.get("seconds"), "keys": doc.get("keys"), "bundle": doc.get("bundle"),
            "error": doc.get("error"), "source": path}


def backups(data, opts, warnings, now):
    members, bundles, drills = [], [], []
    for host, h in sorted((data.get("hosts") or {}).items()):
        for f in h.get("status_files") or []:
            path, content = f.get("path", ""), f.get("content")
            if path.endswith("etcd-backup/last.json"):
                st = _loads(content) or {}
                meta = st.get("metadata") or {}
                ver = meta.get("verified") or {}
                last_ok = parse_time(st.get("last_local_ok"))
                offnode = st.get("offnode") or {}
                members.append({
                    "host": host, "result": st.get("result"), "last_run": st.get("started"),
                    "last_ok": iso(last_ok), "age_hours": _hours_between(now, last_ok),
                    "last_offnode_ok": iso(parse_time(st.get("last_offnode_ok"))),
                    "offnode_host": offnode.get("host"), "offnode_result": offnode.get("result"),
                    "snapshot_size": meta.get("db_size"), "total_keys": meta.get("total_keys"),
                    "revision": meta.get("revision"),
                    "verified": (all(ver.values()) if ver else None) if st.get("result") in ("ok", "local_only") else None,
                    "trial_restore": ver.get("trial_restore"),
                    "note": st.get("error") or st.get("reason")})
            elif "drill" in path:
                d = _drill_from(path, content, f.get("mtime"))
                if d:
                    d["host"] = host
                    drills.append(d)
        for b in h.get("backup_files") or []:
            t = parse_time(b.get("mtime"))
            bundles.append({"host": host, "path": b.get("path"), "size": b.get("size"), "time": iso(t),
                            "age_hours": _hours_between(now, t),
                            "offnode": host not in (data.get("etcd_hosts") or [])})
    bundles.sort(key=lambda b: b.get("time") or "", reverse=True)
    takers = [m for m in members if m["last_ok"]]
    latest = max(takers, key=lambda m: m["last_ok"]) if takers else None
    newest_offnode = next((b for b in bundles if b["offnode"]), None)
    drill = max(drills, key=lambda d: d.get("time") or "") if drills else None
    summary = {
        "latest": latest["last_ok"] if latest else None,
        "age_hours": latest["age_hours"] if latest else None,
        "size": (latest["snapshot_size"] if latest else None),
        "verified": latest["verified"] if latest else None,
        "by": latest["host"] if latest else None,
        "offnode": ({"host": newest_offnode["host"], "time": newest_offnode["time"], "size": newest_offnode["size"]}
                    if newest_offnode else
                    {"host": latest["offnode_host"], "time": latest["last_offnode_ok"], "size": None}
                    if latest and latest["last_offnode_ok"] else None),
        "drill": drill,
    }
    if not members and not bundles:
        _warn(warnings, "warning", "backups", "no etcd backup was ever taken (no status on any member, no bundle): "
              "put a host in group backup, set groundwork_backup_encryption_key, run site.yml then playbooks/backup.yml")
    elif latest is None:
        _warn(warnings, "critical", "backups", "no successful etcd backup recorded on any member")
    else:
        if latest["age_hours"] is not None and latest["age_hours"] > opts["backup_max_age_hours"]:
            _warn(warnings, "warning", "backups", "the newest verified backup is stale: %s old (by %s), more than %d h"
                  % (human_age(latest["age_hours"]), latest["host"], opts["backup_max_age_hours"]), latest["host"])
        if latest["verified"] is False:
            _warn(warnings, "critical", "backups", "the newest backup (by %s) is not fully verified" % latest["host"],
                  latest["host"])
    for m in members:
        if m["result"] in ("failed", "local_only"):
            _warn(warnings, "critical" if m["result"] == "failed" else "warning", "backups",
                  "last backup run on %s: %s%s" % (m["host"], m["result"], (" - " + str(m["note"])[:200]) if m["note"] else ""),
                  m["host"])
    if drill is None:
        _warn(warnings, "info", "backups", "no DR drill recorded (never)")
    elif drill.get("result") not in (None, "ok", "success", "passed"):
        _warn(warnings, "critical", "backups", "the last DR drill (%s on %s) result: %s" % (drill.get("time"), drill["host"],
                                                                                            drill.get("result")), drill["host"])
    return {"members": members, "bundles": bundles[:20], "bundle_count": len(bundles), "summary": summary}


def _arch(facts_arch):
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(facts_arch or "", facts_arch)


def artifacts(data, warnings):
    man = data.get("manifest") or {}
    release = man.get("release") or {}
    files = []
    for f in release.get("files") or []:
        targets = []
        if (f.get("install") or {}).get("dest"):
            targets.append({"dest": f["install"]["dest"], "member": None})
        for mem in (f.get("archive") or {}).get("members") or []:
            if mem.get("dest"):
                targets.append({"dest": mem["dest"], "member": mem.get("member")})
        entry = {"name": f.get("name"), "version": f.get("version"), "arch": f.get("arch"), "sha256": f.get("sha256"),
                 "filename": f.get("filename"), "archive": bool(f.get("archive")), "targets": targets, "hosts": {}}
        if f.get("sha256") is None:
            _warn(warnings, "warning", "artifacts", "manifest entry %s %s (%s) has no checksum: %s" % (
                f.get("name"), f.get("version"), f.get("arch"), f.get("todo") or "fill it with scripts/gen-manifest.py"))
        files.append(entry)
    index = {}
    for e in files:
        for t in e["targets"]:
            index.setdefault(t["dest"], []).append((e, t))
    for host, h in sorted((data.get("hosts") or {}).items()):
        arch = _arch((h.get("facts") or {}).get("architecture"))
        for inst in h.get("installed") or []:
            for e, t in index.get(inst.get("dest"), []):
                if arch and e["arch"] and e["arch"] != arch:
                    continue
                if not inst.get("exists"):
                    continue
                if t["member"] is None:
                    state = "match" if inst.get("sha256") == e["sha256"] else "differs"
                    if state == "differs" and e["sha256"]:
                        _warn(warnings, "critical", "artifacts", "%s on %s is not the manifest's %s %s (sha256 %s, manifest %s)"
                              % (t["dest"], host, e["name"], e["version"], (inst.get("sha256") or "?")[:12], e["sha256"][:12]), host)
                else:
                    state = "from archive"
                e["hosts"].setdefault(host, []).append({"dest": t["dest"], "sha256": inst.get("sha256"), "state": state})
    if man.get("path") and not release:
        _warn(warnings, "warning", "artifacts", "the manifest %s has no release for groundwork_kubernetes_version=%s: "
              "nothing installed can be checked against it" % (man.get("path"), data.get("inventory_version") or "(unset)"))
    installed_any = [e for e in files if e["hosts"]]
    images = [{"name": i.get("name"), "ref": "%s:%s" % (i.get("image"), i.get("tag")), "digest": i.get("digest")}
              for i in release.get("images") or []]
    for i in images:
        if not i["digest"]:
            _warn(warnings, "warning", "artifacts", "manifest image %s is not pinned by digest" % i["ref"])
    return {"manifest": man.get("path"), "kubernetes_version": release.get("kubernetes_version"),
            "files": installed_any if installed_any else files, "files_in_release": len(files),
            "images": images, "error": man.get("error")}


def build(data, options=None):
    """The report model from the data report.yml read (see the module docstring)."""
    if not isinstance(data, dict):
        raise GroundworkError("report data must be a dict, got %s" % type(data).__name__)
    opts = dict(DEFAULT_OPTIONS)
    opts.update({k: v for k, v in (options or {}).items() if v is not None})
    for key in DEFAULT_OPTIONS:
        try:
            opts[key] = int(opts[key])
        except (TypeError, ValueError):
            raise GroundworkError("report option %s must be a whole number, got %r: set report_%s" % (key, opts[key], key))
    now = parse_time(data.get("now")) or datetime.datetime.now(datetime.timezone.utc)
    warnings = []
    model = {"schema": SCHEMA, "generated": iso(now), "cluster": data.get("cluster") or "kubernetes", "options": opts}
    model["topology"] = topology(data, warnings)
    model["certificates"] = certificates(data, opts, warnings, now)
    model["backups"] = backups(data, opts, warnings, now)
    model["artifacts"] = artifacts(data, warnings)
    warnings.sort(key=lambda w: (LEVELS.index(w["level"]), w["section"], w.get("host") or "", w["message"]))
    model["warnings"] = warnings
    model["counts"] = {lvl: sum(1 for w in warnings if w["level"] == lvl) for lvl in LEVELS}
    return model


# --------------------------------------------------------------------------- HTML
def e(value):
    return html.escape("" if value is None else str(value), quote=True)


_COLORS = {"ok": "#2e7d32", "ca": "#1565c0", "warning": "#ef6c00", "critical": "#c62828", "expired": "#6a1b1b",
           "error": "#757575"}


def cert_chart_svg(host, rows, now, opts):
    """Inline SVG timeline of one host's certificates: a bar per certificate from notBefore to notAfter
    on a common axis (now - 30 d .. now + chart_days), today and the warning window marked."""
    now = parse_time(now)
    t0 = now - datetime.timedelta(days=30)
    t1 = now + datetime.timedelta(days=opts["chart_days"])
    span = (t1 - t0).total_seconds()
    label_w, right_w, width, row_h, top = 250, 170, 1100, 18, 28
    plot_w = width - label_w - right_w
    height = top + row_h * max(1, len(rows)) + 8

    def x(dt):
        frac = (dt - t0).total_seconds() / span
        return label_w + max(0.0, min(1.0, frac)) * plot_w

    out = ['<svg xmlns="http://www.w3.org/2000/svg" class="cert-chart" data-host="%s" width="%d" height="%d" '
           'viewBox="0 0 %d %d" role="img" aria-label="certificate expiry timeline of %s">'
           % (e(host), width, height, width, height, e(host))]
    out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" class="warnzone" fill="#fff3e0"/>'
               % (x(now), top - 6, x(now + datetime.timedelta(days=opts["cert_warn_days"])) - x(now), height - top + 2))
    # month ticks on the axis, labelled every quarter
    tick = datetime.datetime(t0.year, t0.month, 1, tzinfo=datetime.timezone.utc)
    while tick <= t1:
        if tick >= t0:
            tx = x(tick)
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>' % (tx, top - 6, tx, height - 4))
            if tick.month in (1, 4, 7, 10):
                out.append('<text x="%.1f" y="%d" class="tick">%s</text>' % (tx + 2, top - 10, tick.strftime("%Y-%m")))
        tick = datetime.datetime(tick.year + (tick.month // 12), tick.month % 12 + 1, 1, tzinfo=datetime.timezone.utc)
    for i, r in enumerate(rows):
        y = top + i * row_h
        name = r.get("name") or "?"
        out.append('<text x="%d" y="%d" class="lbl">%s</text>' % (label_w - 6, y + 12, e(name[:38])))
        nb, na = parse_time(r.get("not_before")), parse_time(r.get("not_after"))
        if not na:
            out.append('<text x="%d" y="%d" class="err">unreadable: %s</text>' % (label_w + 4, y + 12, e(r.get("error"))))
            continue
        bx0, bx1 = x(nb or t0), x(na)
        color = _COLORS.get(r["state"], "#555")
        out.append('<rect class="bar %s" data-name="%s" x="%.1f" y="%d" width="%.1f" height="%d" rx="2" fill="%s">'
                   '<title>%s: %s .. %s (%s days left)</title></rect>'
                   % (e(r["state"]), e(name), bx0, y + 3, max(2.0, bx1 - bx0), row_h - 6, color, e(name),
                      e(r.get("not_before")), e(r.get("not_after")), e(r.get("days_left"))))
        if na > t1:
            out.append('<text x="%.1f" y="%d" class="more">&#8594;</text>' % (bx1 - 12, y + 13))
        out.append('<text x="%d" y="%d" class="days %s">%s d &#183; %s</text>'
                   % (width - right_w + 6, y + 12, e(r["state"]), e(r.get("days_left")), e((r.get("not_after") or "")[:10])))
    nx = x(now)
    out.append('<line class="today" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-width="1.5"/>'
               % (nx, top - 6, nx, height - 4))
    out.append('<text x="%.1f" y="%d" class="tick">today</text>' % (nx + 3, height - 6))
    out.append("</svg>")
    return "".join(out)


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212121;background:#fafafa}
header{background:#263238;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;font-size:22px}
header .meta{opacity:.8}main{padding:8px 24px 32px}section{background:#fff;border:1px solid #e0e0e0;
border-radius:6px;margin:16px 0;padding:12px 16px}h2{margin:4px 0 10px;font-size:18px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f5f5f5;font-weight:600}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #e0e0e0;border-radius:6px;padding:8px 14px;min-width:150px}
.card .v{font-size:20px;font-weight:600}.card .k{color:#616161;font-size:12px}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;color:#fff}
.critical,.expired{color:#c62828}.warning{color:#ef6c00}.info{color:#1565c0}.ok{color:#2e7d32}
.pill.critical{background:#c62828;color:#fff}.pill.warning{background:#ef6c00;color:#fff}.pill.info{background:#1565c0;color:#fff}
.pill.ok{background:#2e7d32;color:#fff}.pill.bad{background:#c62828;color:#fff}.pill.none{background:#9e9e9e;color:#fff}
svg.cert-chart{display:block;max-width:100%;height:auto;margin:4px 0 10px}svg text{font:11px system-ui,sans-serif;fill:#424242}
svg text.lbl{text-anchor:end}svg text.err{fill:#c62828}svg text.days.warning,svg text.days.critical,svg text.days.expired{fill:#c62828;font-weight:600}
ul.warnings{padding-left:18px}ul.warnings li{margin:3px 0}details summary{cursor:pointer;color:#1565c0}
footer{color:#757575;padding:0 24px 24px;font-size:12px}
"""


def _pill(ok, yes="yes", no="no", none="unknown"):
    if ok is None:
        return '<span class="pill none">%s</span>' % e(none)
    return '<span class="pill %s">%s</span>' % ("ok" if ok else "bad", e(yes if ok else no))


def _table(headers, rows, cls=""):
    out = ['<table class="%s"><thead><tr>' % cls + "".join("<th>%s</th>" % e(h) for h in headers) + "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>" + "".join("<td>%s</td>" % c for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _section_warnings(m):
    ws = m["warnings"]
    items = "".join('<li class="%s" data-level="%s"><span class="pill %s">%s</span> <b>%s</b> %s</li>'
                    % (e(w["level"]), e(w["level"]), e(w["level"]), e(w["level"]), e(w["section"]), e(w["message"]))
                    for w in ws)
    body = '<ul class="warnings">%s</ul>' % items if ws else '<p class="ok">No warnings.</p>'
    return ('<section id="warnings" data-items="%d"><h2>Warnings (%d critical, %d warning, %d info)</h2>%s</section>'
            % (len(ws), m["counts"]["critical"], m["counts"]["warning"], m["counts"]["info"], body))


def _section_topology(m):
    t = m["topology"]
    cards = ('<div class="cards"><div class="card"><div class="k">API endpoint</div><div class="v mono" id="api-endpoint">%s</div></div>'
             '<div class="card"><div class="k">API server version</div><div class="v">%s</div></div>'
             '<div class="card"><div class="k">Nodes Ready</div><div class="v">%d / %d</div></div>'
             '<div class="card"><div class="k">etcd leader</div><div class="v" id="etcd-leader">%s</div></div></div>'
             % (e(t["api_endpoint"] or "unknown"), e(t["server_version"] or "unknown"), t["nodes_ready"], t["nodes_total"],
                e(t["etcd"].get("leader") or "none")))
    rows = []
    for h in t["hosts"]:
        n = h["node"] or {}
        ready = _pill(n.get("ready"), "Ready", "NotReady", "no Node") if h["node"] else _pill(None, none="no Node")
        if h["reachable"] is False:
            ready = '<span class="pill bad">unreachable</span>'
        rows.append(['<b class="host" data-host="%s">%s</b>' % (e(h["name"]), e(h["name"])), '<span class="mono">%s</span>' % e(h["address"]),
                     e(", ".join(h["groups"])), e(", ".join(n.get("roles") or [])), ready, e(h["os"] or n.get("os_image")),
                     e(h["kernel"]), e(h["arch"]), e(h["kubelet"] or n.get("kubelet")), e(h["kubeadm"]), e(h["containerd"] or n.get("runtime"))])
    hosts = _table(["host", "address", "inventory groups", "node roles", "status", "OS", "kernel", "arch", "kubelet",
                    "kubeadm", "containerd"], rows, "hosts")
    et = t["etcd"]
    if et.get("error"):
        etcd = '<p class="critical">etcd could not be read: %s</p>' % e(et["error"])
    else:
        erows = [['<b class="etcd-member" data-member="%s">%s</b>%s' % (e(x["name"]), e(x["name"]), " &#9733; leader" if x["is_leader"] else ""),
                  '<span class="mono">%s</span>' % e(x["id_hex"]), e(", ".join(x["client_urls"])),
                  _pill(x["healthy"], "healthy", "down"), "learner" if x["is_learner"] else "voter",
                  e(human_bytes(x["db_size"]) if x.get("db_size") is not None else ""), e(x.get("version"))]
                 for x in et["members"]]
        etcd = _table(["member", "ID", "client URLs", "health", "kind", "DB size", "version"], erows, "etcd") + (
            '<p>cluster ID <code>%s</code>, quorum %s, read with %s</p>' % (e(et.get("cluster_id_hex")), e(et.get("quorum")), e(et.get("source"))))
    return ('<section id="topology" data-items="%d"><h2>Topology</h2>%s<h3>Hosts</h3>%s<h3>etcd members</h3>%s</section>'
            % (len(t["hosts"]), cards, hosts, etcd))


def _section_certificates(m):
    c = m["certificates"]
    parts = []
    for host, rows in c["hosts"].items():
        trs = [[e(r.get("name")), '<span class="mono">%s</span>' % e(r.get("path")), e(r.get("subject")), e(r.get("not_after")),
                '<span class="%s">%s</span>' % (e(r["state"]), e(r.get("days_left") if r.get("days_left") is not None else r.get("error")))]
               for r in rows]
        parts.append('<h3>%s <small>(%d certificates)</small></h3>%s<details><summary>table</summary>%s</details>'
                     % (e(host), len(rows), cert_chart_svg(host, rows, m["generated"], m["options"]),
                        _table(["name", "path", "subject", "not after", "days left"], trs, "certs")))
    soon = c["soonest"]
    lead = ('<p>%d certificates on %d hosts; soonest: <b>%s</b> on %s in <b>%s days</b>. Bars run from notBefore to notAfter; '
            'the black line is today, the shaded band the next %d days.</p>'
            % (c["count"], len(c["hosts"]), e(soon["name"]), e(soon["host"]), e(soon["days_left"]), m["options"]["cert_warn_days"])
            if soon else '<p class="warning">No certificate was read.</p>')
    return '<section id="certificates" data-items="%d"><h2>Certificate expiry</h2>%s%s</section>' % (c["count"], lead, "".join(parts))


def _section_backups(m):
    b = m["backups"]
    s = b["summary"]
    drill = s["drill"]
    offnode = "none"
    if s["offnode"]:
        size = s["offnode"]["size"]
        offnode = "%s, %s" % (s["offnode"]["host"], human_bytes(size) if size is not None else s["offnode"]["time"])
    drill_text = "never" if not drill else "%s (%s)" % (drill.get("time") or "?", drill.get("result") or "?")
    cards = ('<div class="cards"><div class="card"><div class="k">newest verified backup</div><div class="v" id="backup-age">%s</div>'
             '<div class="k">%s%s</div></div>'
             '<div class="card"><div class="k">snapshot size</div><div class="v">%s</div></div>'
             '<div class="card"><div class="k">verified</div><div class="v">%s</div></div>'
             '<div class="card"><div class="k">off-node copy</div><div class="v">%s</div></div>'
             '<div class="card"><div class="k">last DR drill</div><div class="v" id="dr-drill">%s</div></div></div>'
             % (e(human_age(s["age_hours"]) + (" old" if s["age_hours"] is not None else "")), e(s["latest"] or "no backup"),
                e(" by " + s["by"]) if s["by"] else "", e(human_bytes(s["size"]) if s["size"] is not None else "-"),
                _pill(s["verified"], none="-"),
                e(offnode), e(drill_text)))
    mrows = [[e(x["host"]), e(x["result"]), e(x["last_run"]), e(x["last_ok"] or "never"), e(human_age(x["age_hours"])),
              e(human_bytes(x["snapshot_size"]) if x["snapshot_size"] is not None else ""), _pill(x["verified"], none="-"),
              e("%s: %s" % (x["offnode_host"], x["offnode_result"]) if x["offnode_host"] else ""), e(x["note"])]
             for x in b["members"]]
    brows = [[e(x["host"]), '<span class="mono">%s</span>' % e(x["path"]), e(human_bytes(x["size"])), e(x["time"]),
              e(human_age(x["age_hours"])), "off-node" if x["offnode"] else "on member"] for x in b["bundles"]]
    members = _table(["member", "last result", "last run", "last ok", "age", "snapshot", "verified", "off-node copy", "note"],
                     mrows, "backup-members") if mrows else "<p>No backup status on any etcd member (never).</p>"
    bundles = _table(["host", "bundle", "size", "time", "age", "where"], brows, "bundles") if brows else "<p>No backup bundle found.</p>"
    return ('<section id="backups" data-items="%d"><h2>Backups</h2>%s<h3>Members</h3>%s<h3>Bundles (newest first, %d in all)</h3>%s</section>'
            % (len(b["members"]) + len(b["bundles"]) + 1, cards, members, b["bundle_count"], bundles))


def _section_artifacts(m):
    a = m["artifacts"]
    if a.get("error"):
        return '<section id="artifacts" data-items="0"><h2>Artifacts</h2><p class="critical">%s</p></section>' % e(a["error"])
    frows = []
    for f in a["files"]:
        inst = "<br>".join("%s: %s %s" % (e(h), '<span class="%s">%s</span>' % ("ok" if x["state"] == "match" else (
            "critical" if x["state"] == "differs" else "info"), e(x["state"])), '<span class="mono">%s</span>' % e(x["dest"]))
            for h, xs in sorted(f["hosts"].items()) for x in xs) or "not installed on a reported host"
        frows.append([e(f["name"]), e(f["version"]), e(f["arch"]), '<span class="mono">%s</span>' % e(f["sha256"] or "null"), inst])
    irows = [[e(i["name"]), '<span class="mono">%s</span>' % e(i["ref"]), '<span class="mono">%s</span>' % e(i["digest"] or "not pinned")]
             for i in a["images"]]
    return ('<section id="artifacts" data-items="%d"><h2>Artifacts in use</h2><p>Manifest <code>%s</code>, release %s '
            '(%d files in the release). "match": the installed file has the manifest&#39;s sha256; "from archive": '
            'installed from an archive whose own sha256 the manifest pins.</p><h3>Files</h3>%s<h3>Images</h3>%s</section>'
            % (len(a["files"]) + len(a["images"]), e(a["manifest"]), e(a["kubernetes_version"]), a["files_in_release"],
               _table(["name", "version", "arch", "sha256 (manifest)", "installed"], frows, "files"),
               _table(["name", "image", "digest"], irows, "images")))


def render_html(model):
    """The report model as one self-contained HTML page (inline CSS and SVG; no script, no external URL)."""
    c = model["counts"]
    status = "critical" if c["critical"] else ("warning" if c["warning"] else "ok")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cluster report - %s</title>"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>%s</style></head><body>"
            "<header><h1>Cluster report: %s</h1><div class=\"meta\">generated %s &#183; <span class=\"pill %s\" id=\"status\">%s</span> "
            "&#183; %d critical, %d warning, %d info</div></header><main>%s%s%s%s%s</main>"
            "<footer>groundwork.k8s playbooks/report.yml &#183; report schema %d &#183; the same data: report.json</footer>"
            "</body></html>\n"
            % (e(model["cluster"]), _CSS, e(model["cluster"]), e(model["generated"]), status, status, c["critical"],
               c["warning"], c["info"], _section_warnings(model), _section_topology(model), _section_certificates(model),
               _section_backups(model), _section_artifacts(model), model["schema"]))
