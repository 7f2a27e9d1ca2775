# -*- coding: utf-8 -*-
"""Issue 17 item 5: a run whose off-node copy failed keeps its verified local backup and says so."""
from __future__ import annotations

from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd_backup as B

OK_LOCAL = {"started": "2026-11-21T12:00:00Z", "member": "cp1", "result": "ok", "bundle": "/var/lib/x.tar.enc",
            "snapshot": "/var/lib/x.db"}


def test_offnode_failed_keeps_local_result_and_names_host():
    status, rc = B.offnode_failed(OK_LOCAL, "bk1", "ssh: connect to host bk1 port 22: No route to host")
    assert rc == B.EXIT_OFFNODE_FAILED == 3
    assert status["result"] == "local_only" and status["bundle"] == OK_LOCAL["bundle"]
    assert status["offnode"] == {"host": "bk1", "result": "failed", "error": "ssh: connect to host bk1 port 22: No route to host"}
    assert OK_LOCAL["result"] == "ok"                                   # input not modified


def test_carry_forward_timestamps():
    ok = dict(OK_LOCAL, offnode={"host": "bk1", "result": "ok"})
    s1 = B.carry_forward(None, ok, 1000)
    assert (s1["last_local_ok"], s1["last_offnode_ok"]) == (1000, 1000)
    s2 = B.carry_forward(s1, B.offnode_failed(OK_LOCAL, "bk1", "down")[0], 2000)
    assert (s2["last_local_ok"], s2["last_offnode_ok"]) == (2000, 1000)  # local yes, off-node still the old one
    s3 = B.carry_forward(s2, {"result": "failed", "error": "no healthy etcd member"}, 3000)
    assert (s3["last_local_ok"], s3["last_offnode_ok"]) == (2000, 1000)
    s4 = B.carry_forward(s3, {"result": "skipped"}, 4000)
    assert (s4["last_local_ok"], s4["last_offnode_ok"]) == (2000, 1000)
    s5 = B.carry_forward("garbage", OK_LOCAL, 5000)                      # no target: no off-node time
    assert s5["last_local_ok"] == 5000 and "last_offnode_ok" not in s5


def test_status_metrics_local_only():
    status = B.carry_forward({"last_offnode_ok": 1000}, B.offnode_failed(OK_LOCAL, "bk1", "down")[0], 2000)
    text = B.status_metrics(status, 2000)
    assert 'groundwork_etcd_backup_result{result="local_only"} 1' in text
    assert 'groundwork_etcd_backup_result{result="ok"} 0' in text
    assert 'groundwork_etcd_backup_offnode_ok{host="bk1"} 0' in text
    assert "groundwork_etcd_backup_last_local_ok_timestamp_seconds 2000" in text
    assert "groundwork_etcd_backup_last_offnode_ok_timestamp_seconds 1000" in text
    assert text.endswith("groundwork_etcd_backup_run_timestamp_seconds 2000\n")
    for line in text.splitlines():                                     # exposition format: HELP/TYPE or name value
        assert line.startswith("# ") or len(line.rsplit(" ", 1)) == 2


def test_status_metrics_ok_and_failed():
    ok = B.status_metrics(dict(OK_LOCAL, offnode={"host": "bk1", "result": "ok"}), 10)
    assert 'groundwork_etcd_backup_offnode_ok{host="bk1"} 1' in ok and 'result="ok"} 1' in ok
    failed = B.status_metrics({"result": "failed"}, 10)
    assert 'result="failed"} 1' in failed and "offnode_ok" not in failed
