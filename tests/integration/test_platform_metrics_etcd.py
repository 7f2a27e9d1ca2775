# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform metrics program (role platform_metrics) against a real TLS etcd member (Debian's etcd on
127.0.0.1, client certificates required): health 1, DB size and quota from the member's own /metrics; the
member stopped -> health 0 and no sizes. Run as the node's unit runs it (python3 PROGRAM --config FILE)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import etcd_helpers as h

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = os.path.join(ROOT, "roles", "platform_metrics", "files", "groundwork-platform-metrics")


@pytest.fixture
def member():
    work = h.tmpdir("gw-pm-")
    c = h.Cluster(work, n=1)
    try:
        c.start_all()
        yield c
    finally:
        c.stop_all()
        h.cleanup_dir(work)


def _gather(c, tmp_path):
    m = c.members[0]
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"textfile": str(tmp_path / "p.prom"), "tools": {}, "timeout": 5,
                                "rotation_state": str(tmp_path / "none"), "backup_status": str(tmp_path / "none"),
                                "etcd": {"member": m["name"], "endpoint": m["client"], "ca": c.pki["cacert"],
                                         "cert": c.pki["cert"], "key": c.pki["key"]}}))
    res = subprocess.run([sys.executable, PROGRAM, "--config", str(conf)], capture_output=True, text=True, check=False,
                         env=dict(os.environ, GROUNDWORK_LIB=os.path.join(ROOT, ".collections")))
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "p.prom").read_text().splitlines()
    labels = '{endpoint="%s",member="%s"}' % (m["client"], m["name"])
    return {ln.split(labels)[0]: float(ln.rsplit(" ", 1)[1]) for ln in lines if labels in ln}, res.stderr


def test_real_member_health_and_db_size(member, tmp_path):
    got = _gather(member, tmp_path)[0]
    assert got["groundwork_etcd_member_healthy"] == 1
    assert got["groundwork_etcd_db_size_bytes"] > 0
    assert got["groundwork_etcd_db_quota_bytes"] == 4 * 1024 ** 3  # --quota-backend-bytes of the helper
    member.stop(member.members[0])
    got, err = _gather(member, tmp_path)
    assert got == {"groundwork_etcd_member_healthy": 0}
    assert "/health" in err  # the reason is in the unit's journal
