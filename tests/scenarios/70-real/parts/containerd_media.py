# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site's artifacts directory with a newer containerd (part containerd of tests/scenarios/70-real).

  python3 containerd_media.py ART OUT

ART is the artifacts directory make_real_media.py wrote (Debian bookworm's containerd 1.6 in the upstream
layout). OUT gets the same files (hard links: nothing in ART is written) plus Debian sid's containerd 2.x
package's binaries in the upstream layout (containerd-<v>-linux-<arch>.tar.gz: bin/containerd,
bin/containerd-shim-runc-v2, bin/ctr), and a sources.yml/manifest.yml whose release names that containerd:
what a site does to upgrade containerd (new version in sources.yml, manifest regenerated from the files it
received). sid's containerd depends on libc6 >= 2.34 and runc: it runs on bookworm (libc 2.36) with bookworm's
runc 1.1.5 (sid's runc needs libc6 >= 2.38, so runc stays). The package is fetched once with apt-get and a
temporary sources list (never installed) and cached in ~/.cache/groundwork/containerd-2. Prints one line of JSON.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
sys.path.insert(0, os.path.join(ROOT, "tests", "airgap"))
import make_lab_artifacts as L  # noqa: E402  (deterministic tar writer)
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))
import sid_debs  # noqa: E402  (Debian sid packages, unpacked)

CACHE = os.environ.get("GW_CONTAINERD2_DIR") or os.path.expanduser("~/.cache/groundwork/containerd-2")
BINS = ("containerd", "containerd-shim-runc-v2", "ctr")


def die(msg):
    print("containerd_media: " + msg, file=sys.stderr)
    sys.exit(1)


def sid_containerd():
    """-> (bin dir, upstream version) of Debian sid's containerd package (dpkg -x, never installed)."""
    bindir = os.path.join(CACHE, "root", "usr", "bin")
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not all(os.access(os.path.join(bindir, b), os.X_OK) for b in BINS):
            debs = [d for d in sid_debs.fetch(CACHE, ["containerd"]) if os.path.basename(d).startswith("containerd_")]
            if len(debs) != 1:
                die("expected one containerd .deb in %s, found %s" % (CACHE, debs))
    out = subprocess.run([os.path.join(bindir, "containerd"), "--version"], capture_output=True, text=True, check=True).stdout
    # "containerd github.com/containerd/containerd/v2 2.1.9+unknown"
    version = out.split()[2].lstrip("v").split("+")[0].split("~")[0]
    if not version.startswith("2."):
        die("sid's containerd is %s, not 2.x" % version)
    return bindir, version


def main():
    if len(sys.argv) != 3:
        die("usage: containerd_media.py ART OUT")
    art, out = sys.argv[1:3]
    bindir, version = sid_containerd()
    with open(os.path.join(art, "sources.yml")) as f:
        sources = yaml.safe_load(f)
    (minor, release), = sources["releases"].items()
    before = release["files"]["containerd"]
    arch = sources["architectures"][0]
    if os.path.isdir(out):
        shutil.rmtree(out)
    # hard links of everything but the two files written here (and the old containerd, which the manifest drops)
    shutil.copytree(art, out, copy_function=os.link,
                    ignore=lambda d, names: [n for n in names if d == art and n in ("sources.yml", "manifest.yml")])
    L.write_tar(os.path.join(out, "containerd-%s-linux-%s.tar.gz" % (version, arch)),
                [("bin", None)] + [("bin/" + b, os.path.join(bindir, b)) for b in BINS], gz=True)
    release["files"]["containerd"] = version
    with open(os.path.join(out, "sources.yml"), "w") as f:
        f.write("# Real lane, part containerd: %s with containerd %s (Debian sid) instead of %s\n" % (art, version, before))
        yaml.safe_dump(sources, f, sort_keys=False)
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-manifest.py"), "--sources", os.path.join(out, "sources.yml"),
                    "--from-dir", out, "--out", os.path.join(out, "manifest.yml")], check=True, stdout=subprocess.DEVNULL)
    print(json.dumps({"release": minor, "containerd_before": before, "containerd": version, "art": out}))


if __name__ == "__main__":
    main()
