# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Debian sid packages for the tests, unpacked (``dpkg -x``), never installed.

``fetch(cache, packages)`` downloads ``packages`` with apt-get and a temporary sources list (sid, main,
signed by the Debian archive keyring) into ``cache`` and unpacks every .deb into ``cache/root``. Used by
tests/integration/etcd_helpers.py (etcd 3.5) and the real lane's part containerd (containerd 2.x). The
caller holds its own lock and decides when a download is needed.
"""

from __future__ import annotations

import os
import subprocess

SOURCES = ("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: sid\nComponents: main\n"
           "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")


def fetch(cache, packages, timeout=300):
    """Download ``packages`` from sid into ``cache`` and unpack them into ``cache/root``; -> the .deb paths.

    Raises subprocess.CalledProcessError / TimeoutExpired / OSError when apt-get or dpkg fails.
    """
    os.makedirs(os.path.join(cache, "etc"), exist_ok=True)
    for sub in ("lists/partial", "cache/archives/partial"):
        os.makedirs(os.path.join(cache, "apt", sub), exist_ok=True)
    with open(os.path.join(cache, "etc", "sid.sources"), "w", encoding="utf-8") as f:
        f.write(SOURCES)
    opts = ["-o", "Dir::Etc::SourceList=/dev/null", "-o", "Dir::Etc::SourceParts=%s/etc" % cache,
            "-o", "Dir::State::Lists=%s/apt/lists" % cache, "-o", "Dir::Cache=%s/apt/cache" % cache]
    subprocess.run(["apt-get"] + opts + ["update", "-q"], check=True, timeout=timeout, capture_output=True, text=True)
    subprocess.run(["apt-get"] + opts + ["download"] + list(packages), cwd=cache, check=True, timeout=timeout,
                   capture_output=True, text=True)
    debs = sorted(os.path.join(cache, d) for d in os.listdir(cache) if d.endswith(".deb"))
    for deb in debs:
        subprocess.run(["dpkg", "-x", deb, os.path.join(cache, "root")], check=True, capture_output=True, text=True)
    return debs
