# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""etcd without Ansible: one runner for etcdctl/etcdutl, parsers, snapshot, verify, restore.

Used by the etcd_* modules and by the backup timer's script (copied to the hosts), so the
timer and the playbooks run the same code. Facts this code relies on (recorded in
``fixtures/etcd``):

- IDs (member, cluster, leader) are unsigned 64-bit decimals in ``-w json``: Python's json
  parses them as exact ``int`` (never float); each is also given as etcd's hex spelling.
- ``endpoint health`` simple output goes to stderr on 3.4 and stdout on 3.5: we only use
  ``-w json`` (stdout on both), and parse it even when etcdctl exits 1 (one endpoint down).
- ``snapshot status`` does not check the sha256 etcd appends to a snapshot (a file missing
  its last 16 bytes passes) and panics on a half file: verification therefore checks the
  appended sha256 itself, treats any non-zero exit as corrupt, and does a trial restore.
- A failed ``snapshot restore`` leaves ``member/snap/db`` behind without ``member/wal``:
  restore never writes into the final data dir; it restores into a sibling temp dir and
  renames it, and moves any leftover or old dir aside (never deletes it).
- ``endpoint health`` against an endpoint where nothing listens does not fail fast: the
  client keeps redialling until the command timeout (about 10 s each time a fresh member is
  looked for). A refused TCP connect is final, so such endpoints are reported down without
  asking etcdctl (``tcp_refused``); any other outcome (timeout, filtered) is left to etcdctl.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._runner import Runner, subprocess_run

HASH_SIZE = 32  # sha256 appended by the server to every snapshot stream
PAGE_ALIGN = 512  # etcd's restore: a snapshot "has hash" when size % 512 == 32
METADATA_SUFFIX = ".json"
SNAPSHOT_PREFIX = "etcd-snapshot-"
SNAPSHOT_RE = re.compile(r"(?P<ts>\d{8}T\d{6}(?:\d{6})?Z)\.db$")
RESTORE_MARKER_SUFFIX = ".groundwork-restore.json"
DEFAULT_BUMP_REVISION = 1000000000


# --------------------------------------------------------------------------- parsing
def loads(text):
    """Parse etcdctl JSON keeping 64-bit integers exact (int, never float)."""
    try:
        return json.loads(text, parse_int=int)
    except ValueError as exc:
        raise GroundworkError("cannot parse etcd JSON output: %s: %r" % (exc, text[:300]))


def id_hex(value):
    """etcd's spelling of an ID: lower-case hex without padding (types.ID.String)."""
    if value is None:
        return None
    if isinstance(value, str):
        return "%x" % int(value, 16)
    return "%x" % int(value)


def id_int(value):
    """An ID given as int, decimal string or hex string (etcd's spelling) -> int."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.match(r"^[0-9]+$", text) and len(text) > 16:
        return int(text)
    return int(text, 16)


def parse_version(text):
    """`etcdctl version` / `etcdutl version` / `etcd --version` -> {'version', 'api', 'major_minor'}."""
    m = re.search(r"(?:etcdctl|etcdutl|etcd) [Vv]ersion:\s*(\d+)\.(\d+)\.(\d+)", text)
    if not m:
        raise GroundworkError("cannot find a version in %r" % text[:200])
    api = re.search(r"API version:\s*(\S+)", text)
    version = "%s.%s.%s" % m.groups()
    return {"version": version, "api": api.group(1) if api else None,
            "major_minor": (int(m.group(1)), int(m.group(2)))}


def _member(raw, hex_keys=False):
    mid = raw.get("ID")
    mid = id_int(mid) if hex_keys else mid
    client = raw.get("clientURLs", raw.get("clientURLS")) or []
    name = raw.get("name") or ""
    return {
        "id": mid,
        "id_hex": id_hex(mid),
        "name": name,
        "peer_urls": list(raw.get("peerURLs") or []),
        "client_urls": list(client),
        "is_learner": bool(raw.get("isLearner", False)),
        # an added member that never started has no name and no client URLs
        "started": bool(name) or bool(client),
    }


def parse_member_list(text, hex_keys=False):
    """`member list -w json` (decimal, or ``--hex`` with the ``clientURLS`` spelling)."""
    data = loads(text)
    header = data.get("header") or {}
    cid = header.get("cluster_id")
    cid = id_int(cid) if (hex_keys and cid is not None) else cid
    members = [_member(m, hex_keys) for m in data.get("members") or []]
    return {
        "cluster_id": cid,
        "cluster_id_hex": id_hex(cid),
        "members": sorted(members, key=lambda m: (m["name"] or "~", m["id"])),
    }


def parse_endpoint_status(text):
    """`endpoint status -w json` -> list of per-endpoint dicts (dead endpoints are absent)."""
    out = []
    for item in loads(text or "[]"):
        st = item.get("Status") or {}
        hd = st.get("header") or {}
        out.append({
            "endpoint": item.get("Endpoint"),
            "cluster_id": hd.get("cluster_id"),
            "cluster_id_hex": id_hex(hd.get("cluster_id")),
            "member_id": hd.get("member_id"),
            "member_id_hex": id_hex(hd.get("member_id")),
            "revision": hd.get("revision"),
            "raft_term": st.get("raftTerm", hd.get("raft_term")),
            "version": st.get("version"),
            "db_size": st.get("dbSize"),
            "db_size_in_use": st.get("dbSizeInUse"),
            "leader": st.get("leader"),
            "leader_hex": id_hex(st.get("leader")),
            "is_leader": st.get("leader") is not None and st.get("leader") == hd.get("member_id"),
            "is_learner": bool(st.get("isLearner", False)),
            "raft_index": st.get("raftIndex"),
            "raft_applied_index": st.get("raftAppliedIndex"),
            "errors": list(st.get("errors") or []),
        })
    return sorted(out, key=lambda s: s["endpoint"] or "")


def parse_endpoint_health(text):
    """`endpoint health -w json` -> list sorted by endpoint (etcd prints in completion order)."""
    out = []
    for item in loads(text or "[]"):
        out.append({"endpoint": item.get("endpoint"), "health": bool(item.get("health")),
                    "took": item.get("took"), "error": item.get("error")})
    return sorted(out, key=lambda h: h["endpoint"] or "")


def parse_snapshot_status(text):
    """`snapshot status -w json` (same from etcdctl 3.4/3.5 and etcdutl)."""
    data = loads(text)
    for key in ("hash", "revision", "totalKey", "totalSize"):
        if key not in data:
            raise GroundworkError("snapshot status output lacks %r: %r" % (key, text[:200]))
    return {"hash": data["hash"], "hash_hex": "%08x" % data["hash"], "revision": data["revision"],
            "total_keys": data["totalKey"], "total_size": data["totalSize"]}


def parse_member_add(text):
    """`member add` -> {'id', 'id_hex', 'cluster_id_hex', 'env': {ETCD_NAME: ...}}."""
    m = re.search(r"Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)", text)  # IDs are space-padded to 16
    if not m:
        raise GroundworkError("unexpected member add output: %r" % text[:300])
    env = dict(re.findall(r'^(ETCD_[A-Z_]+)="(.*)"$', text, re.M))
    return {"id": int(m.group(1), 16), "id_hex": m.group(1), "cluster_id_hex": m.group(2), "env": env}


def is_panic(stderr):
    return "panic:" in (stderr or "") or "goroutine " in (stderr or "")


def initial_cluster_string(members):
    """[{'name','peer_url'}] or {name: url} -> 'a=https://...,b=https://...' (sorted by name)."""
    if isinstance(members, dict):
        pairs = sorted(members.items())
    else:
        pairs = sorted((m["name"], m["peer_url"]) for m in members)
    names = [pair[0] for pair in pairs]
    if len(set(names)) != len(names):
        raise GroundworkError("duplicate member names in initial cluster: %s" % names)
    return ",".join("%s=%s" % (n, u) for n, u in pairs)


def check_member_count(count, allow_single=False):
    """Odd 3/5/7 (1 only when explicitly allowed, for a lab). Raise with what to fix."""
    if count == 1 and allow_single:
        return
    if count not in (3, 5, 7):
        hint = "1 is allowed only with the lab switch" if count == 1 else "an even count adds no fault tolerance"
        raise GroundworkError("etcd needs 3, 5 or 7 members, got %d (%s): fix the etcd group" % (count, hint))


# --------------------------------------------------------------------------- files
def file_hashes(path, chunk=4 * 1024 * 1024):
    """One read and one hash pass: sha256 of the whole file, and whether etcd's appended sha256 matches.

    The body is a prefix of the file, so the whole file's sha256 is the body's hash state (copied)
    fed the 32-byte tail: one sha256 pass over the data instead of two.
    Returns {'sha256', 'size', 'appended_hash_ok', 'appended_hash_reason'}.
    """
    size = os.path.getsize(path)
    body = hashlib.sha256()
    has_hash = size % PAGE_ALIGN == HASH_SIZE and size > HASH_SIZE
    body_len = size - HASH_SIZE if has_hash else size
    seen = 0
    tail = b""
    with open(path, "rb") as f:
        while True:
            buf = f.read(chunk)
            if not buf:
                break
            take = max(0, min(len(buf), body_len - seen))
            if take == len(buf):
                body.update(buf)
            else:
                if take:
                    body.update(buf[:take])
                tail += buf[take:]
            seen += len(buf)
    whole = body.copy()
    whole.update(tail)
    if not has_hash:
        ok, reason = False, ("no sha256 appended (size %d is not 512*n+32): the file is truncated or not a "
                             "snapshot saved from a live member" % size)
    elif body.digest() != tail[-HASH_SIZE:]:
        ok, reason = False, "the sha256 appended by etcd does not match the content: the file is corrupt"
    else:
        ok, reason = True, "ok"
    return {"sha256": whole.hexdigest(), "size": size, "appended_hash_ok": ok, "appended_hash_reason": reason}


def scratch_parent(size, workdir=None, shm="/dev/shm", margin=64 << 20):
    """Where a trial restore goes: tmpfs (``shm``) when it has room for two copies of the db plus a
    margin (restore writes db + WAL; fsync there costs nothing and nothing reaches the disk),
    else ``workdir`` (the snapshot's own dir, as before)."""
    try:
        st = os.statvfs(shm)
        if os.access(shm, os.W_OK) and st.f_bavail * st.f_frsize > 2 * size + margin:
            return shm
    except OSError:
        pass
    return workdir


def metadata_path(snapshot_path):
    return snapshot_path + METADATA_SUFFIX


def read_metadata(snapshot_path):
    try:
        with open(metadata_path(snapshot_path)) as f:
            return loads(f.read())
    except FileNotFoundError:
        return None


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def snapshot_name(prefix=SNAPSHOT_PREFIX, now=None):
    now = now or utcnow()
    return "%s%s.db" % (prefix, now.strftime("%Y%m%dT%H%M%S%fZ"))


def list_snapshots(directory, prefix=SNAPSHOT_PREFIX):
    """Snapshots named ``<prefix><UTC timestamp>.db`` in ``directory``, oldest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    out = [n for n in names if n.startswith(prefix) and n.endswith(".db") and SNAPSHOT_RE.search(n[len(prefix):])]
    return [os.path.join(directory, n) for n in sorted(out)]


def plan_prune(snapshots, keep):
    """Oldest first list -> the ones to delete so that ``keep`` remain (keep >= 1)."""
    if keep < 1:
        raise GroundworkError("retention must keep at least 1 snapshot, got %d" % keep)
    return snapshots[:-keep] if len(snapshots) > keep else []


def prune(directory, keep, prefix=SNAPSHOT_PREFIX, dry_run=False):
    victims = plan_prune(list_snapshots(directory, prefix), keep)
    if not dry_run:
        for path in victims:
            for p in (path, metadata_path(path)):
                if os.path.exists(p):
                    os.unlink(p)
    return victims


# --------------------------------------------------------------------------- the tools
def tcp_refused(endpoint, timeout=1.0):
    """The reason when nothing listens at the endpoint's host:port (connection refused), else None.

    Only a refusal counts: a timeout, an unreachable network or a name that does not resolve is
    left for etcdctl to judge (it may still get through, or say more).
    """
    m = re.match(r"^(?:[a-z]+://)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?", endpoint or "")
    if not m:
        return None
    host, port = m.group(1).strip("[]"), int(m.group(2) or 2379)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "connection refused at %s:%d (nothing listens there)" % (host, port)
    except OSError:
        return None


class Etcd:
    """etcdctl (v3 API) and, when present, etcdutl; same code for 3.4 and 3.5+.

    ``endpoints`` are client URLs; ``cacert``/``cert``/``key`` the client TLS files
    (kubeadm's layout, external members and stacked alike: /etc/kubernetes/pki/etcd/...).
    """

    def __init__(self, endpoints=None, cacert=None, cert=None, key=None, etcdctl="etcdctl", etcdutl=None,
                 run_command=subprocess_run, dial_timeout="5s", command_timeout="15s", probe=None):
        self.endpoints = list(endpoints or [])
        # probe(endpoint) -> reason when the endpoint refuses connections (tcp_refused), or None
        self.probe = probe
        self.cacert, self.cert, self.key = cacert, cert, key
        self.dial_timeout, self.command_timeout = dial_timeout, command_timeout
        self.ctl = Runner(etcdctl, run_command, env={"ETCDCTL_API": "3"})
        self._etcdutl_arg = etcdutl
        self._run_command = run_command
        self._utl = None
        self._versions = {}
        self._restore_help = None

    # ---- argv
    def global_args(self, endpoints=None, command_timeout=None):
        args = ["--endpoints=%s" % ",".join(endpoints if endpoints is not None else self.endpoints)]
        for flag, value in (("--cacert", self.cacert), ("--cert", self.cert), ("--key", self.key)):
            if value:
                args.append("%s=%s" % (flag, value))
        args += ["--dial-timeout=%s" % self.dial_timeout,
                 "--command-timeout=%s" % (command_timeout or self.command_timeout)]
        return args

    def _ctl_json(self, args, endpoints=None, check=True, command_timeout=None):
        argv = self.global_args(endpoints, command_timeout) + list(args) + ["-w", "json"]
        return self.ctl.run(argv, check=check)

    # ---- versions
    def etcdutl_path(self):
        """etcdutl when given, or found beside etcdctl; None on 3.4 (it does not exist)."""
        if self._etcdutl_arg == "":
            return None
        if self._etcdutl_arg:
            return self._etcdutl_arg
        ctl = self.ctl.binary
        candidates = []
        if os.sep in ctl:
            candidates.append(os.path.join(os.path.dirname(ctl), "etcdutl"))
        else:
            candidates += [os.path.join(d, "etcdutl") for d in os.environ.get("PATH", "").split(os.pathsep) if d]
        for c in candidates:
            if os.path.isfile(c) and os.access(c, os.X_OK):
                return c
        return None

    @property
    def utl(self):
        if self._utl is None:
            path = self.etcdutl_path()
            self._utl = Runner(path, self._run_command) if path else False
        return self._utl or None

    def versions(self):
        """{'etcdctl': '3.4.23', 'etcdutl': '3.5.30' or None, 'restore_tool': 'etcdutl'|'etcdctl'}."""
        if not self._versions:
            dummy, out, dummy2 = self.ctl.run(["version"])
            ctl = parse_version(out)
            utl = None
            if self.utl:
                dummy, uout, dummy2 = self.utl.run(["version"])
                utl = parse_version(uout)
            self._versions = {
                "etcdctl": ctl["version"], "etcdctl_api": ctl["api"],
                "etcdutl": utl["version"] if utl else None,
                "restore_tool": "etcdutl" if utl else "etcdctl",
            }
        return self._versions

    def offline_tool(self):
        """The runner for snapshot status/restore: etcdutl when present, else etcdctl (3.4)."""
        return self.utl or self.ctl

    def supports_bump_revision(self):
        if self._restore_help is None:
            dummy, out, err = self.offline_tool().run(["snapshot", "restore", "--help"], check=False)
            self._restore_help = out + err
        return "--bump-revision" in self._restore_help and "--mark-compacted" in self._restore_help

    # ---- cluster state
    def member_list(self, endpoints=None):
        dummy, out, dummy2 = self._ctl_json(["member", "list"], endpoints)
        return parse_member_list(out)

    def endpoint_health(self, endpoints=None):
        """Never raises for unhealthy endpoints (rc 1 with JSON); raises when nothing parses.

        With a ``probe``, endpoints that refuse connections are reported down without etcdctl
        (it would wait the whole command timeout for them); etcdctl checks the others.
        """
        endpoints = list(endpoints if endpoints is not None else self.endpoints)
        refused = {}
        if self.probe is not None:
            for ep in endpoints:
                reason = self.probe(ep)
                if reason:
                    refused[ep] = reason
        down = [{"endpoint": ep, "health": False, "took": None, "error": refused[ep]}
                for ep in endpoints if ep in refused]
        asked = [ep for ep in endpoints if ep not in refused]
        if not asked:
            return sorted(down, key=lambda h: h["endpoint"] or "")
        rc, out, err = self._ctl_json(["endpoint", "health"], asked, check=False)
        if not out.strip():
            raise ToolError("etcdctl endpoint health printed nothing (rc=%s): %s" % (rc, err.strip()[-500:]),
                            rc=rc, stdout=out, stderr=err)
        return sorted(parse_endpoint_health(out) + down, key=lambda h: h["endpoint"] or "")

    def endpoint_status(self, endpoints=None):
        """Reachable endpoints only (etcdctl leaves dead ones out and exits 1)."""
        rc, out, err = self._ctl_json(["endpoint", "status"], endpoints, check=False)
        if not out.strip():
            return []
        return parse_endpoint_status(out)

    def cluster_info(self):
        """Members, health, status, leader, quorum, in one dict (what etcd_member_info returns)."""
        health = self.endpoint_health()
        healthy = [h["endpoint"] for h in health if h["health"]]
        status = self.endpoint_status(healthy) if healthy else []
        members = self.member_list(healthy) if healthy else None
        info = {
            "endpoints": list(self.endpoints),
            "health": health,
            "healthy_endpoints": healthy,
            "status": status,
            "healthy": bool(health) and all(h["health"] for h in health),
            "members": members["members"] if members else [],
            "cluster_id": members["cluster_id"] if members else None,
            "cluster_id_hex": members["cluster_id_hex"] if members else None,
            "leader": None, "leader_hex": None, "leader_name": None,
            "versions": self.versions(),
            "server_version": status[0]["version"] if status else None,
        }
        leaders = {s["leader"] for s in status if s["leader"]}
        if len(leaders) == 1:
            leader = leaders.pop()
            info["leader"], info["leader_hex"] = leader, id_hex(leader)
            for m in info["members"]:
                if m["id"] == leader:
                    info["leader_name"] = m["name"]
        voters = [m for m in info["members"] if not m["is_learner"]]
        info["voting_members"] = len(voters)
        info["quorum"] = len(voters) // 2 + 1 if voters else None
        return info

    def pick_snapshot_endpoint(self, prefer_follower=True):
        """One healthy endpoint (a follower when one is healthy: spares the leader)."""
        health = self.endpoint_health()
        healthy = [h["endpoint"] for h in health if h["health"]]
        if not healthy:
            raise GroundworkError("no healthy etcd endpoint among %s: cannot take a snapshot" % self.endpoints,
                                  health=health)
        if prefer_follower and len(healthy) > 1:
            for s in self.endpoint_status(healthy):
                if not s["is_leader"] and not s["is_learner"]:
                    return s["endpoint"], s
        status = self.endpoint_status([healthy[0]])
        return healthy[0], (status[0] if status else {})

    # ---- membership
    # etcd's strict reconfiguration check refuses a member add or remove *before proposing it* with
    # "etcdserver: unhealthy cluster" while the leader has not been connected to every voting member
    # for its health interval (5 s): right after an election or a member removal on a healthy
    # cluster, and for as long as a voting member is down. Only that refusal is retried (nothing
    # was proposed, so a retry cannot apply a change twice), within ``reconfig_timeout`` seconds.
    reconfig_timeout = 30
    reconfig_interval = 1

    def _reconfigure(self, argv, what, sleep=time.sleep, clock=time.monotonic):
        deadline = clock() + self.reconfig_timeout
        while True:
            rc, out, err = self.ctl.run(argv, check=False)
            if rc == 0:
                return out
            if "unhealthy cluster" not in err:
                raise ToolError("%s failed: %s" % (what, err.strip()[-500:]), argv=argv, rc=rc, stdout=out, stderr=err)
            if clock() >= deadline:
                raise GroundworkError(
                    "%s: etcd kept refusing the membership change for %ss with 'etcdserver: unhealthy cluster' (its "
                    "leader is not connected to every voting member): start the members that are down, or remove a "
                    "lost member first (playbooks/replace_etcd_member.yml), then run again" % (what, self.reconfig_timeout))
            sleep(self.reconfig_interval)

    def member_add_learner(self, name, peer_urls, sleep=time.sleep, clock=time.monotonic):
        argv = self.global_args() + ["member", "add", name, "--peer-urls=%s" % ",".join(peer_urls), "--learner"]
        return parse_member_add(self._reconfigure(argv, "member add %s" % name, sleep, clock))

    def member_promote(self, member_id):
        argv = self.global_args() + ["member", "promote", id_hex(member_id)]
        return self.ctl.run(argv, check=False)

    def member_remove(self, member_id, sleep=time.sleep, clock=time.monotonic):
        argv = self.global_args() + ["member", "remove", id_hex(member_id)]
        self._reconfigure(argv, "member remove %s" % id_hex(member_id), sleep, clock)

    def promote_until_synced(self, member_id, timeout=120, interval=2, sleep=time.sleep, clock=time.monotonic):
        """Promote a learner, retrying while it catches up; bounded by ``timeout`` seconds."""
        deadline = clock() + timeout
        while True:
            rc, out, err = self.member_promote(member_id)
            if rc == 0:
                return True
            if "not found" in err and "member" in err:
                raise GroundworkError("learner %s is not a member any more" % id_hex(member_id))
            if "not a learner" in err or "is not a learner" in err:
                return False  # promoted meanwhile
            # "rpc not supported for learner": the client picked the learner's own endpoint
            if not any(s in err for s in ("in sync with leader", "not ready", "not supported for learner")):
                raise ToolError("member promote %s failed: %s" % (id_hex(member_id), err.strip()[-500:]),
                                rc=rc, stdout=out, stderr=err)
            if clock() >= deadline:
                raise GroundworkError("learner %s did not catch up with the leader within %ss: is it running "
                                      "and reachable on its peer URL?" % (id_hex(member_id), timeout))
            sleep(interval)

    # ---- snapshots
    def snapshot_save_argv(self, endpoint, path, command_timeout="600s"):
        return self.global_args([endpoint], command_timeout) + ["snapshot", "save", path]

    def snapshot_save(self, endpoint, path, command_timeout="600s"):
        self.ctl.run(self.snapshot_save_argv(endpoint, path, command_timeout))

    def snapshot_status_argv(self, path):
        return ["snapshot", "status", path, "-w", "json"]

    def snapshot_status(self, path):
        """Status via etcdutl (3.5+) or etcdctl (3.4). A panic or rc != 0 means corrupt."""
        rc, out, err = self.offline_tool().run(self.snapshot_status_argv(path), check=False)
        if rc != 0 or is_panic(err):
            first = (err.strip().splitlines() or ["rc=%s" % rc])
            lines = [ln for ln in first if ln.startswith(("panic:", "Error:"))] or first[-1:]
            raise GroundworkError("snapshot %s is corrupt or unreadable: %s" % (path, lines[0]), rc=rc)
        return parse_snapshot_status(out)

    def restore_argv(self, snapshot, data_dir, name, initial_cluster, peer_urls, token, bump_revision=0):
        args = ["snapshot", "restore", snapshot, "--data-dir=%s" % data_dir, "--name=%s" % name,
                "--initial-cluster=%s" % initial_cluster,
                "--initial-advertise-peer-urls=%s" % ",".join(peer_urls),
                "--initial-cluster-token=%s" % token]
        if bump_revision and self.supports_bump_revision():
            args += ["--bump-revision=%d" % bump_revision, "--mark-compacted"]
        return args

    def restore_into(self, snapshot, data_dir, name, initial_cluster, peer_urls, token, bump_revision=0):
        argv = self.restore_argv(snapshot, data_dir, name, initial_cluster, peer_urls, token, bump_revision)
        self.offline_tool().run(argv)
        return argv

    def verify_snapshot(self, path, trial_restore=True, expected_sha256=None, workdir=None, status=True):
        """Everything we know to check; raises GroundworkError when corrupt.

        1. exists, not empty; 2. our sha256 (against ``expected_sha256``/metadata when given);
        3. the sha256 etcd appended (catches truncation that ``status`` misses);
        4. ``snapshot status`` (panic/rc != 0 = corrupt); 5. a trial restore into a scratch dir
        (tmpfs when it has room: see ``scratch_parent``).
        2+3 are one read of the file; 4 and 5 are separate processes that run at the same time as
        that read. Errors are still reported in the order above (the cheapest, most specific first).
        ``status=False`` (only with ``expected_sha256``: a copy of a file verified in full before)
        checks 1-3: the same bytes as the verified file, and etcd's own hash over them.
        """
        if not os.path.isfile(path):
            raise GroundworkError("snapshot %s does not exist" % path)
        if os.path.getsize(path) == 0:
            raise GroundworkError("snapshot %s is empty" % path)
        if not status and not expected_sha256:
            raise GroundworkError("verify_snapshot: status=False needs expected_sha256 (a fully verified copy's hash)")
        jobs = {}
        pool = None
        if status or trial_restore:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        tmp = None
        try:
            if status:
                jobs["status"] = pool.submit(self._status_result, path)
            if trial_restore:
                tmp = tempfile.mkdtemp(prefix=".groundwork-verify-",
                                       dir=scratch_parent(os.path.getsize(path), workdir))
                jobs["trial"] = pool.submit(self._trial_result, path, tmp)
            hashes = file_hashes(path)
            done = {k: f.result() for k, f in jobs.items()}
        finally:
            if pool:
                pool.shutdown(wait=True)
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)  # our own scratch dir, never user data
        if expected_sha256 and hashes["sha256"] != expected_sha256:
            raise GroundworkError("snapshot %s: sha256 %s differs from the recorded %s: the file changed or is "
                                  "damaged" % (path, hashes["sha256"], expected_sha256))
        if not hashes["appended_hash_ok"]:
            raise GroundworkError("snapshot %s: %s" % (path, hashes["appended_hash_reason"]))
        result = {}
        if status:
            if isinstance(done["status"], Exception):
                raise done["status"]
            result.update(done["status"])
        result.update({"sha256": hashes["sha256"], "size": hashes["size"], "appended_hash_ok": True,
                       "status": bool(status), "trial_restore": False})
        if trial_restore:
            if isinstance(done["trial"], ToolError):
                raise GroundworkError("snapshot %s failed a trial restore: %s"
                                      % (path, done["trial"].stderr.strip()[-300:]))
            if isinstance(done["trial"], Exception):
                raise done["trial"]
            result["trial_restore"] = True
        return result

    def _status_result(self, path):
        try:
            return self.snapshot_status(path)
        except Exception as exc:  # pylint: disable=broad-except  # re-raised in order by verify_snapshot
            return exc

    def _trial_result(self, path, tmp):
        try:
            self.restore_into(path, os.path.join(tmp, "data"), "verify", "verify=http://127.0.0.1:1",
                              ["http://127.0.0.1:1"], "groundwork-verify")
            return None
        except Exception as exc:  # pylint: disable=broad-except  # re-raised in order by verify_snapshot
            return exc

    def save_verified(self, dest, endpoint=None, trial_restore=True, command_timeout="600s", atomic_move=None):
        """Save from one healthy member to ``dest`` (temp name, verified, then renamed) + metadata."""
        directory = os.path.dirname(os.path.abspath(dest))
        if endpoint is None:
            endpoint, status = self.pick_snapshot_endpoint()
        else:
            st = self.endpoint_status([endpoint])
            status = st[0] if st else {}
        tmp = os.path.join(directory, ".%s.part-groundwork" % os.path.basename(dest))
        if os.path.exists(tmp):
            os.unlink(tmp)
        started = time.monotonic()
        try:
            self.snapshot_save(endpoint, tmp, command_timeout)
            os.chmod(tmp, 0o600)
            verified = self.verify_snapshot(tmp, trial_restore=trial_restore, workdir=directory)
        except Exception:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        meta = {
            "format": 1,
            "file": os.path.basename(dest),
            "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endpoint": endpoint,
            "cluster_id": status.get("cluster_id"),
            "cluster_id_hex": status.get("cluster_id_hex"),
            "member_id_hex": status.get("member_id_hex"),
            "etcd_version": status.get("version"),
            "revision": verified["revision"],
            "total_keys": verified["total_keys"],
            "total_size": verified["total_size"],
            "db_size": verified["size"],
            "hash": verified["hash"],
            "hash_hex": verified["hash_hex"],
            "sha256": verified["sha256"],
            "tools": self.versions(),
            "verified": {"appended_sha256": True, "status": True, "trial_restore": verified["trial_restore"]},
            "seconds": round(time.monotonic() - started, 3),
        }
        write_json(metadata_path(dest), meta)
        if atomic_move:
            atomic_move(tmp, dest)
        else:
            os.replace(tmp, dest)
        os.chmod(dest, 0o600)
        return meta


def write_json(path, data, mode=0o600):
    from ansible_collections.groundwork.k8s.plugins.module_utils._io import write_atomic

    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), mode=mode)


# --------------------------------------------------------------------------- data dirs
def classify_data_dir(path):
    """'absent' | 'empty' | 'member' (wal + snap: a real member) | 'half-restored' | 'other'."""
    if not os.path.lexists(path):
        return "absent"
    if not os.path.isdir(path):
        return "other"
    if not os.listdir(path):
        return "empty"
    wal = os.path.isdir(os.path.join(path, "member", "wal")) and os.listdir(os.path.join(path, "member", "wal"))
    snap = os.path.isdir(os.path.join(path, "member", "snap"))
    if wal and snap:
        return "member"
    if snap and not wal:
        return "half-restored"
    return "other"


def aside_path(path, tag, now=None):
    now = now or utcnow()
    base = "%s.groundwork-%s-%s" % (path.rstrip("/"), tag, now.strftime("%Y%m%dT%H%M%SZ"))
    cand, n = base, 1
    while os.path.lexists(cand):
        n += 1
        cand = "%s.%d" % (base, n)
    return cand


def restore_marker_path(data_dir):
    return data_dir.rstrip("/") + RESTORE_MARKER_SUFFIX


def restore_wanted(data_dir, marker_want):
    """The restore marker matches and the data dir is a member dir -> nothing to do."""
    try:
        with open(restore_marker_path(data_dir)) as f:
            have = loads(f.read())
    except (FileNotFoundError, GroundworkError):
        return True
    same = all(have.get(k) == v for k, v in marker_want.items())
    return not (same and classify_data_dir(data_dir) == "member")


def plan_restore(data_dir):
    """What restore will do with the existing dirs: list of (path, kind, aside_to)."""
    moves = []
    staging = data_dir.rstrip("/") + ".groundwork-restoring"
    if os.path.lexists(staging):
        moves.append((staging, "half-restored", aside_path(data_dir, "failed-restore")))
    kind = classify_data_dir(data_dir)
    if kind == "half-restored":
        moves.append((data_dir, kind, aside_path(data_dir, "failed-restore")))
    elif kind in ("member", "other"):
        moves.append((data_dir, kind, aside_path(data_dir, "old")))
    elif kind == "empty":
        moves.append((data_dir, kind, None))  # an empty dir is removed with rmdir (nothing to keep)
    return moves


def _chown_tree(path, uid, gid):
    for root, dirs, files in os.walk(path):
        os.lchown(root, uid, gid)
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)


def restore_member(etcd, snapshot, data_dir, name, initial_cluster, peer_urls, token,
                   bump_revision=DEFAULT_BUMP_REVISION, marker=None, owner=None):
    """Restore ``snapshot`` for one member. Old/half dirs are moved aside, never deleted.

    Restores into ``<data_dir>.groundwork-restoring`` then renames it to ``data_dir``, so a
    failure never leaves a half-restored ``data_dir``. When ``data_dir`` is a mount point
    (a dedicated etcd disk) it cannot be renamed: its ``member`` dir is moved aside inside
    it and the restore is staged inside it too. ``owner`` is (uid, gid) for the new tree.
    Returns {'moved': [...], 'argv': [...]}.
    """
    data_dir = data_dir.rstrip("/")
    if os.path.ismount(data_dir):
        return _restore_in_mount(etcd, snapshot, data_dir, name, initial_cluster, peer_urls, token,
                                 bump_revision, marker, owner)
    moves = plan_restore(data_dir)
    moved = []
    for src, kind, dst in moves:
        if dst is None:
            os.rmdir(src)
        else:
            os.rename(src, dst)
            moved.append({"from": src, "to": dst, "kind": kind})
    parent = os.path.dirname(data_dir) or "/"
    os.makedirs(parent, exist_ok=True)
    staging = data_dir + ".groundwork-restoring"
    try:
        argv = etcd.restore_into(snapshot, staging, name, initial_cluster, peer_urls, token, bump_revision)
    except ToolError:
        if os.path.lexists(staging):
            dst = aside_path(data_dir, "failed-restore")
            os.rename(staging, dst)
            moved.append({"from": staging, "to": dst, "kind": "half-restored"})
        raise
    os.chmod(staging, 0o700)
    if owner:
        _chown_tree(staging, *owner)
    os.rename(staging, data_dir)
    if marker is not None:
        write_json(restore_marker_path(data_dir), marker, mode=0o644)
    return {"moved": moved, "argv": argv}


def _restore_in_mount(etcd, snapshot, data_dir, name, initial_cluster, peer_urls, token, bump_revision,
                      marker, owner):
    moved = []
    staging = os.path.join(data_dir, ".groundwork-restoring")
    member = os.path.join(data_dir, "member")
    for src, kind in ((staging, "half-restored"), (member, classify_data_dir(data_dir))):
        if os.path.lexists(src):
            dst = aside_path(os.path.join(data_dir, ".groundwork"), "failed-restore" if kind == "half-restored"
                             else "old")
            os.rename(src, dst)
            moved.append({"from": src, "to": dst, "kind": kind})
    try:
        argv = etcd.restore_into(snapshot, staging, name, initial_cluster, peer_urls, token, bump_revision)
    except ToolError:
        if os.path.lexists(staging):
            dst = aside_path(os.path.join(data_dir, ".groundwork"), "failed-restore")
            os.rename(staging, dst)
            moved.append({"from": staging, "to": dst, "kind": "half-restored"})
        raise
    if owner:
        _chown_tree(staging, *owner)
    os.rename(os.path.join(staging, "member"), member)
    os.rmdir(staging)
    os.chmod(data_dir, 0o700)
    if marker is not None:
        write_json(restore_marker_path(data_dir), marker, mode=0o644)
    return {"moved": moved, "argv": argv}


# --------------------------------------------------------------------------- module glue
CONNECTION_ARGSPEC = {
    "endpoints": {"type": "list", "elements": "str", "default": []},
    "cacert": {"type": "path"},
    "cert": {"type": "path"},
    "key": {"type": "path", "no_log": False},
    "etcdctl": {"type": "str", "default": "etcdctl"},
    "etcdutl": {"type": "str"},
    "dial_timeout": {"type": "str", "default": "5s"},
    "command_timeout": {"type": "str", "default": "15s"},
}


def connection_argspec(**extra):
    spec = {k: dict(v) for k, v in CONNECTION_ARGSPEC.items()}
    spec.update(extra)
    return spec


def etcd_from_params(params, run_command=subprocess_run):
    return Etcd(endpoints=params.get("endpoints"), cacert=params.get("cacert"), cert=params.get("cert"),
                key=params.get("key"), etcdctl=params.get("etcdctl") or "etcdctl", etcdutl=params.get("etcdutl"),
                run_command=run_command, dial_timeout=params.get("dial_timeout") or "5s",
                command_timeout=params.get("command_timeout") or "15s", probe=tcp_refused)


def module_runner(module):
    """AnsibleModule.run_command with the argv contract of _runner.subprocess_run."""
    def run(argv, environ_update=None, data=None):
        return module.run_command(argv, environ_update=environ_update, data=data, check_rc=False)
    return run


def fail(module, exc, **result):
    details = dict(getattr(exc, "details", {}) or {})
    result.update({k: v for k, v in details.items() if k not in ("msg",)})
    module.fail_json(msg=getattr(exc, "msg", str(exc)), **result)


def find_member(members, name=None, peer_urls=None, member_id=None):
    """The member matching ``member_id``, else ``peer_urls`` (unstarted learners have no name), else name."""
    if member_id is not None:
        want = id_int(member_id)
        return next((m for m in members if m["id"] == want), None)
    if peer_urls:
        for m in members:
            if set(m["peer_urls"]) & set(peer_urls):
                return m
    if name:
        return next((m for m in members if m["name"] == name), None)
    return None


def plan_member(members, state, name=None, peer_urls=None, member_id=None, promote=True):
    """Decide what etcd_member does: ('none'|'add'|'promote'|'add+promote'|'remove', member or None)."""
    found = find_member(members, name, peer_urls, member_id)
    if state == "absent":
        if found is None:
            return "none", None
        voters = [m for m in members if not m["is_learner"]]
        if not found["is_learner"] and len(voters) == 1:
            who = found["name"] or found["id_hex"]
            raise GroundworkError("refusing to remove %s: it is the last voting member" % who)
        return "remove", found
    if not peer_urls:
        raise GroundworkError("peer_urls is required for state=present")
    if found is None:
        other = find_member(members, name=name) if name else None
        if other is not None:
            raise GroundworkError("a member named %s exists with peer URLs %s, not %s: remove it first "
                                  "(state=absent) to replace it" % (name, other["peer_urls"], peer_urls))
        return ("add+promote" if promote else "add"), None
    if name and found["name"] and found["name"] != name:
        raise GroundworkError("peer URLs %s belong to member %s, not %s" % (peer_urls, found["name"], name))
    if sorted(found["peer_urls"]) != sorted(peer_urls):
        raise GroundworkError("member %s has peer URLs %s, not %s: changing peer URLs is not supported; "
                              "replace the member" % (found["name"] or found["id_hex"], found["peer_urls"], peer_urls))
    if found["is_learner"] and promote:
        return "promote", found
    return "none", found


def snapshot_plan(dest_dir, path=None, prefix=SNAPSHOT_PREFIX, keep=7, max_age=0, now=None, taking=True):
    """What etcd_snapshot will do, without doing it.

    Returns {'take': bool, 'target', 'current', 'current_metadata', 'prune', 'before', 'after'}.
    """
    now = now or utcnow()
    existing = list_snapshots(dest_dir, prefix) if dest_dir else []
    plan = {"take": False, "target": None, "current": None, "current_metadata": None}
    if path:
        meta = read_metadata(path) if os.path.exists(path) else None
        if meta and meta.get("verified", {}).get("trial_restore") is not None and taking:
            plan.update(current=path, current_metadata=meta)
        else:
            plan.update(take=taking, target=path)
            if not taking:
                plan.update(current=path, current_metadata=meta)
    else:
        if not dest_dir:
            raise GroundworkError("dest_dir or path is required")
        newest = existing[-1] if existing else None
        meta = read_metadata(newest) if newest else None
        fresh = False
        if newest and meta and max_age > 0:
            created = datetime.datetime.strptime(meta.get("created", "1970-01-01T00:00:00Z"),
                                                 "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
            fresh = (now - created).total_seconds() < max_age
        if fresh:
            plan.update(current=newest, current_metadata=meta)
        else:
            plan.update(take=taking, target=os.path.join(dest_dir, snapshot_name(prefix, now)))
    after = list(existing)
    if plan["take"] and dest_dir and os.path.dirname(plan["target"]) == dest_dir.rstrip("/"):
        after.append(plan["target"])
    prune_list = plan_prune(after, keep) if (keep and dest_dir) else []
    plan["prune"] = prune_list
    plan["before"] = [os.path.basename(p) for p in existing]
    plan["after"] = [os.path.basename(p) for p in after if p not in prune_list]
    return plan


def check_snapshot(etcd, path=None, dest_dir=None, prefix=SNAPSHOT_PREFIX, trial_restore=True,
                   require_metadata=False, expected_cluster_ids=(), checks="full"):
    """Verify an existing snapshot (etcd_snapshot_info). Raises GroundworkError with what is wrong.

    ``checks='hash'``: when the metadata records the sha256 of the file as it was verified in full
    at save time, one read proves these are the same bytes (and etcd's appended sha256 holds); status
    and trial restore are not repeated and revision/keys come from the metadata. Without a recorded
    sha256 the full checks run."""
    if not path:
        found = list_snapshots(dest_dir, prefix)
        if not found:
            raise GroundworkError("no snapshot %s*.db in %s: nothing to verify or restore" % (prefix, dest_dir))
        path = found[-1]
    if not os.path.exists(path):
        raise GroundworkError("snapshot %s does not exist (missing backup)" % path)
    meta = read_metadata(path)
    if require_metadata and not meta:
        raise GroundworkError("snapshot %s has no metadata file %s" % (path, metadata_path(path)))
    expected = [id_hex(id_int(c)) for c in expected_cluster_ids or [] if str(c).strip()]
    if expected:
        have = (meta or {}).get("cluster_id_hex")
        if not have:
            raise GroundworkError("snapshot %s has no recorded cluster ID: cannot prove it belongs to this cluster "
                                  "(%s)" % (path, ", ".join(expected)))
        if have not in expected:
            raise GroundworkError("snapshot %s is from cluster %s, not this cluster (%s): refusing it"
                                  % (path, have, ", ".join(expected)), cluster_id_hex=have)
    recorded = (meta or {}).get("sha256")
    if checks == "hash" and recorded and (meta.get("verified") or {}).get("status"):
        verified = etcd.verify_snapshot(path, trial_restore=False, expected_sha256=recorded, status=False)
        for k in ("revision", "total_keys", "total_size", "hash", "hash_hex"):
            verified[k] = meta.get(k)
        verified["status"] = "recorded (same sha256 as the snapshot verified at save time)"
        return {"path": path, "verified": verified, "metadata": meta, "cluster_id_hex": meta.get("cluster_id_hex")}
    verified = etcd.verify_snapshot(path, trial_restore=trial_restore, expected_sha256=recorded,
                                    workdir=_scratch_dir(path))
    if meta and meta.get("revision") is not None and meta["revision"] != verified["revision"]:
        raise GroundworkError("snapshot %s: revision %s differs from the metadata's %s"
                              % (path, verified["revision"], meta["revision"]))
    return {"path": path, "verified": verified, "metadata": meta or {},
            "cluster_id_hex": (meta or {}).get("cluster_id_hex")}


def _scratch_dir(path):
    d = os.path.dirname(os.path.abspath(path))
    return d if os.access(d, os.W_OK) else None


def restore_plan(data_dir, marker_want, force=False):
    """{'restore': bool, 'data_dir_kind', 'moves': [(path, kind, aside_to)]} for etcd_restore."""
    kind = classify_data_dir(data_dir)
    wanted = force or restore_wanted(data_dir, marker_want)
    return {"restore": wanted, "data_dir_kind": kind, "moves": plan_restore(data_dir) if wanted else []}
