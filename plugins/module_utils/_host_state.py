# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Read-only host state the prerequisites role needs, in one call: which kernel features are absent and
which swap areas are active. Plain functions over a file reader, so tests need no host."""

from __future__ import annotations

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


def host_state(features, swaps_path="/proc/swaps", exists=os.path.exists, read=_read):
    swaps = parse_swaps(read(swaps_path)) if exists(swaps_path) else []
    return {"absent_features": absent_features(features, exists, read), "swap_areas": swaps}
