# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Read-only host state the prerequisites role needs, in one call: which kernel features are absent and
which swap areas are active. Plain functions over a file reader, so tests need no host."""

from __future__ import annotations

import hashlib
import os
import re

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


def host_state(features, swaps_path="/proc/swaps", exists=os.path.exists, read=_read, files=(), paths=()):
    swaps = parse_swaps(read(swaps_path)) if exists(swaps_path) else []
    return {"absent_features": absent_features(features, exists, read), "swap_areas": swaps,
            "stale_files": stale_files(files) if files else [],
            "existing_paths": [p for p in paths if os.path.lexists(p)]}
