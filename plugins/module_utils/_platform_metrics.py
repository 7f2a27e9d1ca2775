# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Platform facts of one node as Prometheus textfile-collector text (docs/monitoring.md).

Pure functions: the node program ``groundwork-platform-metrics`` (role platform_metrics) gathers the raw
facts (tool versions, the CA-rotation state file, the etcd backup status file, the local etcd member's
``/health`` and ``/metrics``) and these turn them into metric lines, so unit tests call them directly.
Metric names are a contract with the alert rules (roles/monitoring/files/groundwork.rules.yml) and
with other writers of the same textfile directory (cert_check, etcd_backup, the DR drill).
"""

from __future__ import annotations

import re

# The DR drill writes these two (its own .prom file); listed here so the rules and docs share one spelling.
DR_DRILL_SUCCESS_TIMESTAMP = "groundwork_dr_drill_last_success_timestamp_seconds"
DR_DRILL_RESULT = "groundwork_dr_drill_last_result"

ROTATION_PHASES = ("none", "trusted", "reissued", "retired")
_VERSION = re.compile(r"v?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)")


def escape(value):
    """A label value as the exposition format wants it."""
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels):
    if not labels:
        return ""
    return "{" + ",".join('%s="%s"' % (k, escape(v)) for k, v in sorted(labels.items())) + "}"


def _num(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value != int(value):
        return repr(value)
    return "%d" % int(value)


def gauge(name, help_text, samples):
    """Lines of one gauge; ``samples`` is a list of (labels dict or None, value). No samples: no lines."""
    if not samples:
        return []
    lines = ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name]
    lines += ["%s%s %s" % (name, _labels(labels), _num(value)) for labels, value in samples]
    return lines


def parse_version(text):
    """'Kubernetes v1.33.3' / 'v1.33.3' / 'kubeadm version: &version.Info{GitVersion:"v1.33.3", ...}' -> 'v1.33.3'."""
    if not text:
        return None
    m = re.search(r'GitVersion:"(v[^"]+)"', text) or _VERSION.search(text)
    if not m:
        return None
    v = m.group(1)
    return v if v.startswith("v") else "v" + v


def version_metrics(versions):
    """{'kubelet': 'v1.33.3', 'kubeadm': ...} -> one info gauge; a tool that is missing is left out."""
    samples = [({"component": name, "version": v}, 1) for name, v in sorted(versions.items()) if v]
    return gauge("groundwork_component_version_info",
                 "Version of a Kubernetes tool installed on this node (value always 1).", samples)


def rotation_metrics(state):
    """The CA-rotation state document of this node (/etc/kubernetes/pki/.rotation/state.json) or None."""
    if not isinstance(state, dict):
        phase, in_progress, rid = "none", "", ""
    else:
        phase = state.get("phase") if state.get("phase") in ROTATION_PHASES else "none"
        in_progress = state.get("in_progress") or ""
        rid = state.get("rotation_id") or ""
    pending = 1 if (in_progress or phase in ("trusted", "reissued")) else 0
    lines = gauge("groundwork_ca_rotation_phase",
                  "Last completed CA-rotation phase on this node: 0 none, 1 trusted, 2 reissued, 3 retired.",
                  [({"rotation_id": rid}, ROTATION_PHASES.index(phase))])
    lines += gauge("groundwork_ca_rotation_pending",
                   "1 while a CA rotation is unfinished on this node (phase 1 or 2 done, or a phase in progress).",
                   [({"rotation_id": rid, "in_progress": in_progress}, pending)])
    return lines


def backup_metrics(status, interval_seconds, bundle_size=None):
    """The etcd backup program's status (last.json) -> verification result and size of the last run.

    The timestamps and result of each run are the backup program's own metrics (groundwork_etcd_backup.prom);
    this adds what an operator also needs: whether the last snapshot was verified, its sizes, and the interval
    the alert rules compare the last backup's age with.
    """
    lines = gauge("groundwork_etcd_backup_interval_seconds",
                  "Expected time between two backups (alerts fire when the last one is older than twice this).",
                  [(None, int(interval_seconds))])
    if not isinstance(status, dict):
        return lines
    result = status.get("result")
    if result in ("ok", "local_only", "failed"):
        # ok and local_only both mean the snapshot passed verification (status, hash, trial restore);
        # a run that failed at or before verification kept nothing
        lines += gauge("groundwork_etcd_backup_last_verification_ok",
                       "1 when the last backup run on this member produced a verified snapshot, 0 when it failed.",
                       [(None, 1 if result in ("ok", "local_only") else 0)])
    meta = status.get("metadata") or {}
    samples = []
    if isinstance(meta.get("db_size"), (int, float)):
        samples.append(({"what": "snapshot"}, meta["db_size"]))
    if bundle_size is not None:
        samples.append(({"what": "bundle"}, bundle_size))
    lines += gauge("groundwork_etcd_backup_last_size_bytes",
                   "Size of the last verified snapshot and of its encrypted bundle.", samples)
    return lines


def prom_value(text, name):
    """First sample value of metric ``name`` (any labels) in exposition text, or None."""
    for line in (text or "").splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            try:
                return float(line.rsplit(None, 1)[1])
            except (IndexError, ValueError):
                return None
    return None


def etcd_metrics(member, endpoint, healthy, metrics_text):
    """This node's etcd member: health (``/health``) and DB size/quota (from its ``/metrics``)."""
    labels = {"member": member, "endpoint": endpoint}
    lines = gauge("groundwork_etcd_member_healthy",
                  "1 when this node's etcd member answers /health with health true.",
                  [(labels, 1 if healthy else 0)])
    size = prom_value(metrics_text, "etcd_mvcc_db_total_size_in_bytes")
    in_use = prom_value(metrics_text, "etcd_mvcc_db_total_size_in_use_in_bytes")
    quota = prom_value(metrics_text, "etcd_server_quota_backend_bytes")
    lines += gauge("groundwork_etcd_db_size_bytes", "Size of this member's database file.",
                   [(labels, size)] if size is not None else [])
    lines += gauge("groundwork_etcd_db_size_in_use_bytes", "Part of the database file in use (the rest is freed by defrag).",
                   [(labels, in_use)] if in_use is not None else [])
    lines += gauge("groundwork_etcd_db_quota_bytes", "This member's backend quota (writes stop at it: NOSPACE alarm).",
                   [(labels, quota)] if quota is not None else [])
    return lines


def etcd_health(body):
    """etcd's /health body ({"health":"true"}) -> bool."""
    import json
    try:
        return str(json.loads(body).get("health")).lower() == "true"
    except (ValueError, AttributeError):
        return False


def render(sections, now):
    """The whole file: every section's lines, then the collector's own run time."""
    lines = []
    for section in sections:
        lines += section
    lines += gauge("groundwork_platform_metrics_timestamp_seconds", "Time the platform metrics were last gathered.",
                   [(None, int(now))])
    return "\n".join(lines) + "\n"
