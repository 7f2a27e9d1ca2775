# -*- coding: utf-8 -*-
"""Snapshot save and restore: through the groundwork.k8s modules vs raw etcdctl/etcdutl.

One etcd member (TLS, 127.0.0.1) is filled to >= 100 MB, then, in the same run and on the same db:
  raw save      etcdctl snapshot save                     (no verification at all)
  module save   etcd_snapshot via ansible-playbook         (save + appended-sha256 + status + trial restore
                                                            + metadata + prune), and with trial_restore=false
  lib save      the same code without Ansible (module_utils), to show what Ansible itself costs
  raw restore   etcdutl (3.5) / etcdctl (3.4) snapshot restore
  module restore etcd_restore via ansible-playbook (verify=true: appended sha256 + status before restoring)
Prints each time (best of --repeat) and the ratios module/raw.

  python3 bench/etcd_bench.py [--version 3.5|3.4] [--mb 110] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

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


def best(fn, repeat):
    times = []
    for i in range(repeat):
        t = time.monotonic()
        fn(i)
        times.append(time.monotonic() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="3.5", choices=["3.4", "3.5"])
    ap.add_argument("--mb", type=int, default=110)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if a.version == "3.5":
        bindir, why = h.etcd35_dir()
        if not bindir:
            sys.exit("etcd 3.5 unavailable: %s" % why)
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
        st = E.Etcd(**dict(conn)).endpoint_status()[0]
        print("etcd %s, db %.1f MB (%d MB of values written in %.1f s)"
              % (st["version"], st["db_size"] / 1e6, a.mb, fill_s))
        ctl = conn["etcdctl"]
        tls = ["--endpoints=" + c.endpoints[0], "--cacert", c.pki["cacert"], "--cert", c.pki["cert"], "--key",
               c.pki["key"], "--command-timeout=600s"]
        env = dict(os.environ, ETCDCTL_API="3", LC_ALL="C")
        d = os.path.join(work, "out")
        os.makedirs(d)

        def raw_save(i):
            subprocess.run([ctl] + tls + ["snapshot", "save", "%s/raw-%d.db" % (d, i)], check=True,
                           capture_output=True, env=env)

        def lib_save(i):
            E.Etcd(**conn).save_verified("%s/lib-%d.db" % (d, i), endpoint=c.endpoints[0])

        def mod(module, args):
            params = dict(conn)
            params.update(args)
            play = [{"hosts": "localhost", "gather_facts": False,
                     "tasks": [{"name": "t", "groundwork.k8s." + module: params}]}]
            rc, out, res = h.ansible_playbook(json.dumps(play), work, timeout=900)
            assert rc == 0 and not res[0][1].get("failed"), out[-2000:]
            return res[0][1]

        def mod_save(i):
            mod("etcd_snapshot", {"dest_dir": "%s/mod" % d, "keep": 2, "endpoint": c.endpoints[0]})

        def mod_save_nt(i):
            mod("etcd_snapshot", {"dest_dir": "%s/modnt" % d, "keep": 2, "endpoint": c.endpoints[0],
                                  "trial_restore": False})

        def noop(i):
            mod("etcd_member_info", {})

        results = {}
        results["raw save"] = best(raw_save, a.repeat)
        results["lib save (verified)"] = best(lib_save, a.repeat)
        results["module save (verified, trial restore)"] = best(mod_save, a.repeat)
        results["module save (no trial restore)"] = best(mod_save_nt, a.repeat)
        results["ansible-playbook + etcd_member_info (overhead)"] = best(noop, a.repeat)

        snap = "%s/raw-0.db" % d
        tool = conn["etcdutl"] or ctl
        ic = "m1=%s" % c.members[0]["peer"]

        def raw_restore(i):
            subprocess.run([tool, "snapshot", "restore", snap, "--data-dir", "%s/rr-%d" % (d, i), "--name", "m1",
                            "--initial-cluster", ic, "--initial-advertise-peer-urls", c.members[0]["peer"]],
                           check=True, capture_output=True, env=env)

        def mod_restore(i):
            mod("etcd_restore", {"snapshot": snap, "data_dir": "%s/mr-%d" % (d, i), "name": "m1", "initial_cluster": ic,
                                 "peer_urls": [c.members[0]["peer"]], "bump_revision": 0})

        results["raw restore"] = best(raw_restore, a.repeat)
        results["module restore (verify first)"] = best(mod_restore, a.repeat)

        print("%-50s %8s" % ("operation (best of %d)" % a.repeat, "seconds"))
        for k, v in results.items():
            print("%-50s %8.2f" % (k, v))
        print("ratios:")
        print("  module save (verified, trial restore) / raw save : %.2f" % (
            results["module save (verified, trial restore)"] / results["raw save"]))
        print("  module save (no trial restore) / raw save        : %.2f" % (
            results["module save (no trial restore)"] / results["raw save"]))
        print("  lib save (verified) / raw save                   : %.2f" % (
            results["lib save (verified)"] / results["raw save"]))
        print("  module restore (verify) / raw restore            : %.2f" % (
            results["module restore (verify first)"] / results["raw restore"]))
    finally:
        c.stop_all()
        h.cleanup_dir(work)


if __name__ == "__main__":
    main()
