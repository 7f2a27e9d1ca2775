# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshot save and restore: Groundwork's verified ways vs raw etcdctl/etcdutl, interleaved, same db.

One etcd member (TLS, 127.0.0.1) is filled to >= --mb MB, then the ways run in alternating order:
  save
    raw                etcdctl snapshot save                    (no verification at all)
    verified           Etcd.save_verified(trial_restore=True): what the backup timer's program runs (the
                       same module_utils, no Ansible) - save + sha256 + appended-sha256 check + status +
                       trial restore + metadata
    verified, no trial the same without the trial restore (etcd_snapshot trial_restore=false)
    module             etcd_snapshot through ansible-playbook (the above + Ansible's start-up)
  restore of 3 members from one file (each member has its own copy, as after playbooks/restore.yml's fetch)
    raw                3 x etcdutl snapshot restore
    groundwork         the first copy verified in full (status, trial restore), the others by sha256 against
                       the metadata (check_snapshot checks=hash), then 3 x restore_member
Equivalence: every saved file's `snapshot status` (revision, KV hash, keys) equals raw's; every restored
member's db has raw's revision and KV hash. Writes bench/results/etcd-<stamp>.json.

  python3 bench/etcd_bench.py [--mb 110] [--rounds 5] [--version 3.5|3.4] [--no-module]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

import _benchlib as B  # noqa: E402
import etcd_helpers as h  # noqa: E402
from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd as E  # noqa: E402


def fill(c, mb):
    """Write ``mb`` MB of 100 KB values in transactions of 10 puts."""
    value = "x" * (100 * 1024)
    n = mb * 10
    ctl = os.path.join(c.bindir, "etcdctl")
    for start in range(0, n, 10):
        ops = "".join("put /bench/%06d %s\n" % (i, value) for i in range(start, min(start + 10, n)))
        subprocess.run([ctl, "--endpoints=" + c.endpoints[0], "--cacert", c.pki["cacert"], "--cert", c.pki["cert"],
                        "--key", c.pki["key"], "--command-timeout=60s", "txn"], input="\n" + ops + "\n\n", text=True,
                       capture_output=True, check=True, env=dict(os.environ, ETCDCTL_API="3"), timeout=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="3.5", choices=["3.4", "3.5"])
    ap.add_argument("--mb", type=int, default=110)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-module", action="store_true", help="leave out the ansible-playbook way")
    a = ap.parse_args()
    if a.version == "3.5":
        bindir, why = h.etcd35_dir()
        if not bindir:
            B.skipped("etcd", "etcd 3.5 unavailable: %s" % why,
                      [("verified save / raw save", 2.0, "lower")])
            return
    else:
        bindir = "/usr/bin"
    work = h.tmpdir("gw-etcd-bench-")
    c = h.Cluster(work, bindir=bindir, n=1)
    try:
        c.start_all()
        t = time.monotonic()
        fill(c, a.mb)
        fill_s = time.monotonic() - t
        conn = c.conn()
        etcd = E.Etcd(**dict(conn))
        st = etcd.endpoint_status()[0]
        print("etcd %s, db %.1f MB (%d MB of values written in %.1f s)"
              % (st["version"], st["db_size"] / 1e6, a.mb, fill_s))
        ctl = conn["etcdctl"]
        tool = conn["etcdutl"] or ctl
        tls = ["--endpoints=" + c.endpoints[0], "--cacert", c.pki["cacert"], "--cert", c.pki["cert"], "--key",
               c.pki["key"], "--command-timeout=600s"]
        env = dict(os.environ, ETCDCTL_API="3", LC_ALL="C")
        d = os.path.join(work, "out")
        os.makedirs(d)

        def status(path):
            s = etcd.snapshot_status(path)
            return {k: s[k] for k in ("revision", "hash", "total_keys")}

        def fresh(name):
            path = os.path.join(d, name)
            for p in (path, path + ".json"):
                if os.path.exists(p):
                    os.unlink(p)
            return path

        def raw_save(r):
            path = fresh("raw.db")
            subprocess.run([ctl] + tls + ["snapshot", "save", path], check=True, capture_output=True, env=env)
            return path

        def verified(r):
            return os.path.join(d, etcd.save_verified(fresh("verified.db"), endpoint=c.endpoints[0])["file"])

        def verified_nt(r):
            return os.path.join(d, etcd.save_verified(fresh("verified-nt.db"), endpoint=c.endpoints[0],
                                                      trial_restore=False)["file"])

        def module(r):
            params = dict(conn)
            params.update({"dest_dir": os.path.join(d, "mod"), "keep": 1, "endpoint": c.endpoints[0]})
            play = [{"hosts": "localhost", "gather_facts": False,
                     "tasks": [{"name": "t", "groundwork.k8s.etcd_snapshot": params}]}]
            rc, out, res = h.ansible_playbook(json.dumps(play), work, timeout=900)
            assert rc == 0 and not res[0][1].get("failed"), out[-2000:]
            return res[0][1]["path"]

        save_ways = [("raw etcdctl snapshot save", raw_save), ("verified save (timer's code, trial restore)", verified),
                     ("verified save, no trial restore", verified_nt)]
        if not a.no_module:
            save_ways.append(("etcd_snapshot module (ansible-playbook)", module))
        times, outs = B.interleave(save_ways, a.rounds)
        want = status(outs["raw etcdctl snapshot save"][-1])
        saved = {n: status(outs[n][-1]) for n, dummy in save_ways}
        eq_save = all(v == want for v in saved.values())
        notes = ["%s: %s" % (n, v) for n, v in saved.items() if v != want]

        # ---- restore of 3 members, each from its own copy
        src = verified(0)
        copies = []
        for i in range(3):
            cp = os.path.join(d, "copy%d.db" % i)
            shutil.copyfile(src, cp)
            shutil.copyfile(src + ".json", cp + ".json")
            copies.append(cp)
        ic = "m1=%s" % c.members[0]["peer"]
        peer = c.members[0]["peer"]

        def clean_restores(prefix):
            for n in os.listdir(d):
                if n.startswith(prefix):
                    shutil.rmtree(os.path.join(d, n))

        def raw_restore(r):
            clean_restores("rr-")
            out = []
            for i, cp in enumerate(copies):
                dd = os.path.join(d, "rr-%d" % i)
                subprocess.run([tool, "snapshot", "restore", cp, "--data-dir", dd, "--name", "m1", "--initial-cluster",
                                ic, "--initial-advertise-peer-urls", peer], check=True, capture_output=True, env=env)
                out.append(dd)
            return out

        def ours_restore(r):
            clean_restores("gr-")
            out = []
            for i, cp in enumerate(copies):
                E.check_snapshot(etcd, cp, checks="full" if i == 0 else "hash")
                dd = os.path.join(d, "gr-%d" % i)
                E.restore_member(etcd, cp, dd, "m1", ic, [peer], "etcd-cluster", bump_revision=0)
                out.append(dd)
            return out

        restore_ways = [("raw 3 x etcdutl snapshot restore", raw_restore),
                        ("groundwork: full check once, hash x2, restore x3", ours_restore)]
        rtimes, routs = B.interleave(restore_ways, a.rounds)
        times.update(rtimes)
        # a restored db holds the new membership too: compared with raw's restored db, not the snapshot
        db = [status(os.path.join(dd, "member", "snap", "db")) for n, dummy in restore_ways for dd in routs[n][-1]]
        eq_restore = all(x == db[0] for x in db) and db[0]["revision"] == want["revision"]

        ways = {n: B.summary(t) for n, t in times.items()}
        raw = "raw etcdctl snapshot save"
        heads = [B.headline("verified save (trial restore) / raw save",
                            B.ratio(ways, "verified save (timer's code, trial restore)", raw), 2.0),
                 B.headline("verified save, no trial restore / raw save",
                            B.ratio(ways, "verified save, no trial restore", raw), 2.0),
                 B.headline("verified restore x3 / raw restore x3",
                            B.ratio(ways, "groundwork: full check once, hash x2, restore x3",
                                    "raw 3 x etcdutl snapshot restore"), 2.0)]
        if not a.no_module:
            heads.insert(1, B.headline("etcd_snapshot via ansible-playbook / raw save",
                                       B.ratio(ways, "etcd_snapshot module (ansible-playbook)", raw), None))
        eq = eq_save and eq_restore
        if not eq_restore:
            notes.append("restored dbs: %s" % db)
        path = B.write("etcd", ways, heads, eq, "snapshot status (revision, KV hash, keys) of every saved file equals "
                       "the raw snapshot's (%s); every restored member's db (3 raw, 3 ours) has the same status, at "
                       "the snapshot's revision" % want, a.rounds, notes=notes,
                       extra={"db_bytes": st["db_size"], "etcd_version": st["version"]})
        B.report("etcd", ways, heads, eq, path)
        for n in notes:
            print("  note: %s" % n)
    finally:
        c.stop_all()
        h.cleanup_dir(work)


if __name__ == "__main__":
    main()
