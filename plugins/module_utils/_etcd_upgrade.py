# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Rolling upgrade of external etcd members, planned from what the members report.

etcd's upgrade rules (https://etcd.io/docs/v3.5/upgrades/upgrade_3_5/, upgrade_3_6/, upgrading-etcd/):

- a patch upgrade (3.5.x -> 3.5.y) or a minor upgrade of ONE minor (3.4 -> 3.5, 3.5 -> 3.6); skipping a
  minor is not supported; no downgrade (this playbook never goes back: restore a snapshot instead);
- one member at a time: stop, replace the binary, start, wait until it is healthy and caught up;
- the *cluster version* (``/version``'s ``etcdcluster``) is the lowest minor the members run: it moves to
  the new minor only when every member runs it (the leader decides, every few seconds);
- before 3.6 every 3.5 member must run 3.5.26 or later (the 3.6 guide; earlier patches have upgrade
  blockers).

The plan is computed again from the members on every run, so a stopped run is finished by running again,
and a finished one plans nothing. Facts relied on are recorded in ``tests/fixtures/etcd/upgrade-3.4-3.5``
(``etcd --version``, ``/version`` of 3.4.23 and 3.5.30).
"""

from __future__ import annotations

import json
import re
import ssl

from ansible.module_utils.urls import ConnectionError as UrlConnectionError, open_url

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")
# (target major, target minor) -> the lowest version every member must run before that minor upgrade
MIN_FROM = {(3, 6): (3, 5, 26)}
# Raft entries a restarted member may still be behind the leader and count as caught up (entries are
# applied in milliseconds; the two numbers come from two calls, so a busy cluster never shows 0).
DEFAULT_MAX_LAG = 50


def parse(text):
    """'v3.5.30' / '3.5.30' / '3.5.0' / '3.5' -> (3, 5, 30); None for anything else."""
    m = VERSION_RE.match(str(text or "").strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def show(version):
    return "%d.%d.%d" % version if version else "?"


def minor(version):
    return "%d.%d" % version[:2] if version else "?"


def parse_http_version(text):
    """``GET /version`` -> {'server': '3.4.23', 'cluster': '3.4.0'} (cluster is 'not_decided' early on)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GroundworkError("cannot parse etcd /version: %s: %r" % (exc, str(text)[:200]))
    return {"server": data.get("etcdserver"), "cluster": data.get("etcdcluster")}


def http_version(endpoint, cacert=None, cert=None, key=None, timeout=5.0, opener=None):
    """``/version`` of one client URL, with the client certificate etcdctl uses."""
    url = endpoint.rstrip("/") + "/version"
    if opener is None:
        def opener(u, t):
            resp = open_url(u, timeout=t, ca_path=cacert, client_cert=cert, client_key=key, validate_certs=True)
            try:
                return resp.read().decode("utf-8")
            finally:
                resp.close()
    try:
        return parse_http_version(opener(url, timeout))
    except (OSError, ssl.SSLError, UrlConnectionError) as exc:
        raise GroundworkError("cannot read %s: %s" % (url, exc))


def member_table(info):
    """Join etcd_member_info's member list, health and endpoint status into one row per member."""
    health = {h["endpoint"]: h for h in info.get("health") or []}
    status = {s["member_id"]: s for s in info.get("status") or []}
    leader = max((s.get("raft_index") or 0 for s in status.values() if s.get("is_leader")), default=None)
    rows = []
    for m in info.get("members") or []:
        st = status.get(m["id"]) or {}
        urls = m.get("client_urls") or []
        h = [health[u] for u in urls if u in health]
        applied = st.get("raft_applied_index", st.get("raft_index"))
        rows.append({
            "name": m.get("name") or "",
            "id_hex": m.get("id_hex"),
            "client_urls": urls,
            "started": bool(m.get("started")),
            "is_learner": bool(m.get("is_learner")),
            "healthy": bool(h) and all(x["health"] for x in h),
            "error": "; ".join(str(x.get("error")) for x in h if x.get("error")) or None,
            "version": st.get("version"),
            "is_leader": bool(st.get("is_leader")),
            "raft_index": st.get("raft_index"),
            "raft_applied_index": applied,
            # the statuses are read one endpoint after the other: a member read after the leader can be ahead
            "lag": max(0, leader - applied) if (leader is not None and applied is not None) else None,
        })
    return sorted(rows, key=lambda r: r["name"])


def _refuse(refusals, text):
    refusals.append(text)


def plan_upgrade(target, cluster_version, members, inventory_names, version_var="etcd_upgrade_version"):
    """What a rolling upgrade to ``target`` does, or why it is refused, before anything changes.

    ``members``: rows of ``member_table``; ``inventory_names``: the etcd names of the inventory's members,
    in the order the playbook visits them. Returns ``refusals`` (each names the fix; empty = go),
    ``upgrade`` (names still to upgrade, in that order), ``done``, ``kind`` (minor / patch / none) and
    the cluster version to expect once every member runs ``target``.
    """
    refusals = []
    tv = parse(target)
    plan = {"target": show(tv) if tv else str(target), "cluster_version": cluster_version, "kind": "none",
            "upgrade": [], "done": [], "refusals": refusals,
            "final_cluster_version": ("%d.%d.0" % tv[:2]) if tv else None}
    if not tv or tv[0] != 3:
        _refuse(refusals, "%s=%r is not an etcd 3.x version like 3.5.21: set it to the version of the binaries "
                          "the mirror (artifact manifest) or etcd_tarball_url/etcd_tarball_src provides"
                % (version_var, target))
        return plan
    by_name = {m["name"]: m for m in members}
    for name in inventory_names:
        if name not in by_name:
            _refuse(refusals, "%s is in the inventory but not a started member of the cluster: add it first "
                              "(playbooks/etcd.yml), or take it out of the inventory group" % name)
    for m in members:
        where = ", ".join(m["client_urls"]) or "no client URL"
        if not m["started"] or not m["name"]:
            _refuse(refusals, "a member (id %s) was added but never started: finish its join (playbooks/etcd.yml) or "
                              "remove it (etcdctl member remove %s)" % (m["id_hex"], m["id_hex"]))
            continue
        if m["name"] not in inventory_names:
            _refuse(refusals, "member %s (%s) is not in the inventory's etcd group: it would not be upgraded; add it "
                              "to the inventory or remove it from the cluster" % (m["name"], where))
        if m["is_learner"]:
            _refuse(refusals, "member %s is a learner: finish its join (playbooks/etcd.yml) first" % m["name"])
        if not m["healthy"] or not m["version"]:
            _refuse(refusals, "member %s (%s) is not healthy%s: bring it back (systemctl status etcd; journalctl -u "
                              "etcd on %s) or replace it (playbooks/replace_etcd_member.yml -e etcd_replace=%s), "
                              "then run again" % (m["name"], where, (" (%s)" % m["error"]) if m["error"] else "",
                                                  m["name"], m["name"]))
    if refusals:
        return plan
    cv = parse(cluster_version)
    if not cv:
        _refuse(refusals, "the cluster version is %r (not decided yet): wait until the members agree on one "
                          "(etcdctl endpoint status) and run again" % (cluster_version,))
        return plan
    running = {m["name"]: parse(m["version"]) for m in members}
    ahead = sorted(n for n, v in running.items() if v > tv)
    if ahead or tv[:2] < cv[:2]:
        _refuse(refusals, "%s=%s is older than what runs (%s; cluster version %s): etcd is not downgraded by "
                          "this playbook; set %s to %s or newer (to go back, restore a snapshot taken before the "
                          "upgrade: playbooks/restore.yml)"
                % (version_var, show(tv), ", ".join("%s %s" % (n, show(running[n])) for n in ahead) or "-",
                   minor(cv), version_var, show(max(running.values()))))
        return plan
    if tv[:2] > (cv[0], cv[1] + 1):
        _refuse(refusals, "%s=%s skips a minor version: the cluster version is %s and etcd upgrades one minor at a "
                          "time; upgrade to the newest %d.%d.x first, then to %s"
                % (version_var, show(tv), minor(cv), cv[0], cv[1] + 1, show(tv)))
        return plan
    odd = sorted(n for n, v in running.items() if v[:2] not in (cv[:2], tv[:2]))
    if odd:
        _refuse(refusals, "members %s run neither the cluster's minor %s nor the target's %s: fix them by hand "
                          "first" % (", ".join(odd), minor(cv), minor(tv)))
        return plan
    plan["kind"] = "minor" if tv[:2] != cv[:2] else ("patch" if any(v != tv for v in running.values()) else "none")
    floor = MIN_FROM.get(tv[:2])
    if plan["kind"] == "minor" and floor:
        low = sorted(n for n, v in running.items() if v[:2] == cv[:2] and v < floor)
        if low:
            _refuse(refusals, "etcd %s needs every member on %s or later first (etcd's upgrade guide: earlier patches "
                              "have upgrade blockers); %s run older: set %s to the newest %s.x, run this playbook, "
                              "then upgrade to %s" % (minor(tv), show(floor), ", ".join(low), version_var,
                                                      minor(floor), show(tv)))
            return plan
    plan["upgrade"] = [n for n in inventory_names if running.get(n) != tv]
    plan["done"] = [n for n in inventory_names if running.get(n) == tv]
    return plan


def member_ready(member, target, max_lag=DEFAULT_MAX_LAG):
    """(ready, why not) for a restarted member: healthy, runs ``target``, within ``max_lag`` of the leader."""
    if member is None:
        return False, "not in the member list"
    if not member["healthy"]:
        return False, "not healthy yet%s" % ((": %s" % member["error"]) if member["error"] else "")
    if parse(member["version"]) != parse(target):
        return False, "runs %s, not %s" % (member["version"], show(parse(target)))
    if member["lag"] is None:
        return False, "no raft index from the leader yet"
    if member["lag"] > max_lag:
        return False, "%d raft entries behind the leader" % member["lag"]
    return True, None


def binary_version(path, run_command):
    """``etcd --version`` of the binary on disk (what runs after the next restart); None when missing."""
    from ansible_collections.groundwork.k8s.plugins.module_utils._etcd import parse_version
    try:
        rc, out, err = run_command([path, "--version"], environ_update={"LC_ALL": "C", "LANG": "C"})
    except OSError:
        return None
    if rc != 0:
        return None
    try:
        return parse_version(out)["version"]
    except GroundworkError:
        return None


def read_state(etcd, target, inventory_names, member_name=None, etcd_binary=None, run_command=None,
               version_reader=None, max_lag=DEFAULT_MAX_LAG, version_var="etcd_upgrade_version"):
    """Everything the upgrade decides from, read from the members (nothing is changed).

    ``etcd``: an ``_etcd.Etcd``; ``version_reader(endpoint)`` -> parsed ``/version`` (default: over TLS
    with etcd's client certificate). Returns the plan plus this member's row and readiness.
    """
    info = etcd.cluster_info()
    rows = member_table(info)
    if version_reader is None:
        def version_reader(ep):
            return http_version(ep, etcd.cacert, etcd.cert, etcd.key)
    cluster_version, version_error = None, None
    for ep in info["healthy_endpoints"]:
        try:
            cluster_version = version_reader(ep)["cluster"]
            break
        except GroundworkError as exc:
            version_error = exc.msg
    plan = plan_upgrade(target, cluster_version, rows, list(inventory_names), version_var=version_var)
    if cluster_version is None and version_error:
        plan["refusals"].append("cannot read the cluster version: %s" % version_error)
    me = next((r for r in rows if r["name"] == member_name), None) if member_name else None
    ready, why = member_ready(me, target, max_lag) if member_name else (None, None)
    result = {
        "cluster_version": cluster_version,
        "healthy": info["healthy"] and all(r["healthy"] for r in rows),
        "leader_name": info.get("leader_name"),
        "members": rows,
        "plan": plan,
        "member": me,
        "ready": ready,
        "not_ready": why,
        "binary_version": None,
    }
    if etcd_binary and run_command is not None:
        result["binary_version"] = binary_version(etcd_binary, run_command)
    return result


def satisfied(state, want):
    """Whether a ``read_state`` result meets ``want`` (none / healthy / ready / cluster_version)."""
    if want == "healthy":
        return state["healthy"] and not state["plan"]["refusals"]
    if want == "ready":
        return bool(state["ready"])
    if want == "cluster_version":
        cv, final = parse(state["cluster_version"]), parse(state["plan"]["final_cluster_version"])
        return bool(cv and final and cv[:2] == final[:2])
    return True


def wait_state(read, want, timeout, interval=2.0, sleep=None, clock=None):
    """Call ``read()`` until its result meets ``want`` or ``timeout`` seconds pass; the last result, with
    ``waited`` (seconds) and ``reached``. A read that raises (a member restarting) counts as not reached."""
    import time
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    start = clock()
    state, error = None, None
    while True:
        try:
            state, error = read(), None
        except GroundworkError as exc:
            error = exc
        if state is not None and error is None and satisfied(state, want):
            state.update(waited=round(clock() - start, 1), reached=True, last_error=None)
            return state
        if clock() - start >= timeout:
            if state is None:
                raise error
            state.update(waited=round(clock() - start, 1), reached=False,
                         last_error=error.msg if error is not None else None)
            return state
        sleep(interval)
