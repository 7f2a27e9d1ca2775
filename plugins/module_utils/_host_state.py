# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Read-only host state the prerequisites role needs, in one call: which kernel features are absent and
which swap areas are active. Plain functions over a file reader, so tests need no host."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def _read(path):
    with open(path, "r", errors="replace") as f:
        return f.read()


def absent_features(features, exists=os.path.exists, read=_read):
    """Names of the features not present on this host, in the given order.

    A feature is {name, present_path[, present_pattern]}: present when ``present_path`` exists and, with a
    pattern, when the file's text matches it (multi-line: ``^``/``$`` per line), e.g. overlay in
    /proc/filesystems, br_netfilter as /proc/sys/net/bridge."""
    absent = []
    for f in features:
        name, path = f.get("name"), f.get("present_path")
        if not name or not path:
            raise GroundworkError("prerequisites_kernel_modules: each entry needs name and present_path (got %r)" % (f,))
        if not exists(path):
            absent.append(name)
            continue
        pattern = f.get("present_pattern")
        if pattern:
            try:
                rx = re.compile(pattern, re.MULTILINE)
            except re.error as exc:
                raise GroundworkError("prerequisites_kernel_modules: %s has a bad present_pattern %r: %s"
                                      % (name, pattern, exc))
            if not rx.search(read(path)):
                absent.append(name)
    return absent


def parse_swaps(text):
    """/proc/swaps -> [{'path', 'type'}] of the active swap areas (the first line is the header)."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            out.append({"path": parts[0], "type": parts[1]})
    return out


def _sha256(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for buf in iter(lambda: f.read(chunk), b""):
            h.update(buf)
    return h.hexdigest()


def stale_files(files, stat=os.stat, sha256=_sha256):
    """Paths of ``files`` ({path or dest, checksum 'sha256:HEX' or HEX[, mode '0755', uid, gid]}) that are missing, differ
    from their sha256, or have another mode/owner: what an install task must (re)write. A checksum in another
    algorithm cannot be judged here: that file is reported stale (the install task checks it itself)."""
    out = []
    for f in files:
        path = f.get("path") or f.get("dest")
        if not path:
            raise GroundworkError("files: each entry needs a path (got %r)" % (f.get("name") or f,))
        algo, dummy, want = str(f.get("checksum") or "").rpartition(":")
        try:
            st = stat(path)
        except OSError:
            out.append(path)
            continue
        if algo not in ("", "sha256") or not want:
            out.append(path)
            continue
        mode = f.get("mode")
        if mode is not None and (st.st_mode & 0o7777) != int(str(mode), 8):
            out.append(path)
        elif (f.get("uid") is not None and st.st_uid != f["uid"]) or (f.get("gid") is not None and st.st_gid != f["gid"]):
            out.append(path)
        elif sha256(path) != want.lower():
            out.append(path)
    return out


def _sysctl_value(value):
    """A sysctl value as ansible.posix.sysctl compares it: booleans as 1/0, whitespace runs as one space."""
    text = str(value).strip()
    if text.lower() in ("yes", "true", "on"):
        return "1"
    if text.lower() in ("no", "false", "off"):
        return "0"
    return " ".join(text.split())


def parse_sysctl_file(text):
    """key -> value of a sysctl.d file (the last line of a key wins; '#' and ';' lines are comments)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, dummy, value = line.partition("=")
        out[key.strip()] = " ".join(value.split())
    return out


def stale_sysctls(sysctls, sysctl_file, exists=os.path.exists, read=_read):
    """Keys of ``sysctls`` (key -> value) whose live value (/proc/sys) or whose line in ``sysctl_file`` differs
    from the wanted one: what ansible.posix.sysctl (sysctl_set, state present) would change. A key the kernel
    does not have is stale (the sysctl task then says why)."""
    in_file = parse_sysctl_file(read(sysctl_file)) if exists(sysctl_file) else {}
    out = []
    for key, value in sysctls.items():
        want = _sysctl_value(value)
        live_path = "/proc/sys/" + str(key).replace(".", "/")
        live = " ".join(read(live_path).split()) if exists(live_path) else None
        if live != want or in_file.get(key) != want:
            out.append(key)
    return out


FSTAB_SWAP = re.compile(r"^([^#\s]+\s+\S+\s+swap\s+.*)$", re.MULTILINE)


def fstab_swap_lines(fstab="/etc/fstab", exists=os.path.exists, read=_read):
    """The active (not commented) swap lines of ``fstab`` - the pattern the prerequisites role comments out."""
    return FSTAB_SWAP.findall(read(fstab)) if exists(fstab) else []


def stale_archives(archives, stat=os.stat, sha256=_sha256, read=_read):
    """Names of ``archives`` whose members are not installed as recorded.

    An archive is {name, sha256 (of the archive), stamp (path of the record written after its members were
    installed), members: [{dest, mode}]}. The record (JSON: archive_sha256, members: {dest: {sha256}})
    was written from the installed files right after they were extracted from the sha256-checked archive.
    An archive is stale when the record is missing or unreadable, is for another archive sha256 or another
    set of destinations, or when any member's file is missing, is not root's, has another mode than the
    manifest's, or another sha256 than recorded: then the install steps run for it (fetch, check, unpack,
    copy) as on a fresh host."""
    out = []
    for a in archives:
        name, stamp = a.get("name"), a.get("stamp")
        if not name or not stamp:
            raise GroundworkError("archives: each entry needs name and stamp (got %r)" % (a,))
        try:
            record = json.loads(read(stamp))
        except (OSError, ValueError):
            out.append(name)
            continue
        members = a.get("members") or []
        recorded = record.get("members") if isinstance(record, dict) else None
        if (not isinstance(recorded, dict) or record.get("archive_sha256") != a.get("sha256")
                or sorted(recorded) != sorted(m.get("dest") for m in members)):
            out.append(name)
            continue
        # each member as an installed file: root's, the manifest's mode, the recorded sha256
        installed = [{"path": m.get("dest"), "checksum": (recorded.get(m.get("dest")) or {}).get("sha256"),
                      "mode": m.get("mode"), "uid": 0, "gid": 0} for m in members]
        if stale_files(installed, stat=stat, sha256=sha256):
            out.append(name)
    return out


def read_files(paths, read=_read, exists=os.path.exists, limit=1 << 20):
    """path -> text of each small file (None when it does not exist); a file larger than ``limit`` is refused."""
    out = {}
    for path in paths:
        if not exists(path):
            out[path] = None
            continue
        text = read(path)
        if len(text) > limit:
            raise GroundworkError("read: %s is larger than %d bytes; read it with slurp" % (path, limit))
        out[path] = text
    return out


def _run(argv, timeout=30):
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, "", "%s: not found" % argv[0]
    except OSError as exc:
        return 126, "", "%s: %s" % (argv[0], exc.strerror or exc)
    except subprocess.TimeoutExpired:
        return 124, "", "%s: no answer in %d s" % (argv[0], timeout)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


def run_commands(commands, run=_run, exists=os.path.exists):
    """name -> {rc, stdout, stderr, skipped} of read-only commands ({argv: [...], if_exists: path}); a command whose
    ``if_exists`` path is absent is not run (skipped true); a missing program is rc 127, not an error."""
    out = {}
    for name, spec in (commands or {}).items():
        argv = (spec or {}).get("argv")
        if not argv or not isinstance(argv, list):
            raise GroundworkError("commands: %s needs argv (a list)" % name)
        cond = spec.get("if_exists")
        if cond and not exists(cond):
            out[name] = {"rc": None, "stdout": "", "stderr": "", "skipped": True}
            continue
        rc, stdout, stderr = run([str(a) for a in argv])
        out[name] = {"rc": rc, "stdout": stdout.rstrip("\n"), "stderr": stderr.rstrip("\n"), "skipped": False}
    return out


def host_state(features, swaps_path="/proc/swaps", exists=os.path.exists, read=_read, files=(), paths=(),
               sysctls=None, sysctl_file=None, fstab=None, archives=(), read_paths=(), commands=None, run=_run):
    swaps = parse_swaps(read(swaps_path)) if exists(swaps_path) else []
    out = {"absent_features": absent_features(features, exists, read), "swap_areas": swaps,
           "stale_files": stale_files(files) if files else [],
           "existing_paths": [p for p in paths if os.path.lexists(p)]}
    if sysctls:
        if not sysctl_file:
            raise GroundworkError("sysctls: the sysctl_file they are kept in is needed too")
        out["stale_sysctls"] = stale_sysctls(sysctls, sysctl_file, exists, read)
    if fstab:
        out["fstab_swap_lines"] = fstab_swap_lines(fstab, exists, read)
    if archives:
        out["stale_archives"] = stale_archives(archives, read=read)
    if read_paths:
        out["contents"] = read_files(read_paths, read=read, exists=exists)
    if commands:
        out["commands"] = run_commands(commands, run=run, exists=exists)
    return out
