# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bundle verification: Groundwork's code vs `sha256sum -c`, on the same files, in one run.

  python3 bench/bundle_verify_bench.py [BUNDLE_DIR] [--rounds N]

BUNDLE_DIR holds MANIFEST.sha256 (default: the lab scenario's bundle, else one is made:
64 MiB of random files). Each round runs, in alternating order and with a warm page cache:
  sha256sum -c          coreutils, one process, one file after another
  groundwork (1 thread) _artifacts.verify_sums(workers=1)
  groundwork (N threads) _artifacts.verify_sums() as artifact_verify(check_sums) runs it
Prints the median, spread and ratio to sha256sum (sha256sum's median / ours: >= 1 means as fast or faster);
every way must verify every file in every run (that is the equivalence). Writes
bench/results/bundle_verify-<stamp>.json.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A  # noqa: E402
import _benchlib as B  # noqa: E402

DEFAULT = "/var/tmp/groundwork-airgap/bundle"


def make_bundle(path):
    os.makedirs(os.path.join(path, "files"), exist_ok=True)
    rows = []
    sizes = [32 << 20, 16 << 20, 8 << 20] + [1 << 20] * 8
    for i, size in enumerate(sizes):
        rel = "files/f%02d" % i
        with open(os.path.join(path, rel), "wb") as f:
            f.write(os.urandom(size))
        rows.append((A.sha256_file(os.path.join(path, rel)), rel))
    with open(os.path.join(path, A.SUMS_FILE), "w") as f:
        f.write(A.format_sums(rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", nargs="?")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    tmp = None
    bundle = args.bundle or (DEFAULT if os.path.isfile(os.path.join(DEFAULT, A.SUMS_FILE)) else None)
    if bundle is None:
        tmp = tempfile.TemporaryDirectory()
        bundle = tmp.name
        make_bundle(bundle)
    with open(os.path.join(bundle, A.SUMS_FILE)) as f:
        rows = A.parse_sums(f.read())
    total = sum(os.path.getsize(os.path.join(bundle, row[1])) for row in rows)

    def sha256sum():
        subprocess.run(["sha256sum", "--quiet", "--strict", "-c", A.SUMS_FILE], cwd=bundle, check=True,
                       env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")})

    def ours(workers=None):
        def run():
            out = A.verify_sums(bundle, rows, workers=workers)
            if out["missing"] or out["mismatched"] or out["ok"] != len(rows):
                raise SystemExit("groundwork verification failed: %s" % out)
        return run

    threads = "groundwork, %d threads" % min(8, (os.cpu_count() or 2) * 2)
    cases = [("sha256sum -c", sha256sum), ("groundwork, 1 thread", ours(1)), (threads, ours())]
    # warm-up (page cache) is interleave's first pass; every call raises unless every file verified
    times, dummy = B.interleave([(name, lambda r, fn=fn: fn()) for name, fn in cases], args.rounds)
    ways = {name: B.summary(t) for name, t in times.items()}
    heads = [B.headline("bundle verify: sha256sum time / groundwork time", B.ratio(ways, "sha256sum -c", threads),
                        1.0, "higher"),
             B.headline("bundle verify: sha256sum time / groundwork 1 thread",
                        B.ratio(ways, "sha256sum -c", "groundwork, 1 thread"), None, "higher")]
    path = B.write("bundle_verify", ways, heads, True, "every way verified all %d files (%.1f MiB) in every run"
                   % (len(rows), total / 2**20), args.rounds, extra={"bundle": bundle, "bytes": total})
    print("bundle %s: %d files, %.1f MiB, cpus %d" % (bundle, len(rows), total / 2**20, os.cpu_count() or 0))
    B.report("bundle_verify", ways, heads, True, path)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
