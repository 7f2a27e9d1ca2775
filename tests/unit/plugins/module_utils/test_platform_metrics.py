# -*- coding: utf-8 -*-
"""Issue 19 part 3: platform facts of a node as textfile-collector metrics (module_utils/_platform_metrics.py)."""
from __future__ import annotations

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _platform_metrics as M


@pytest.mark.parametrize("text, want", [
    ("Kubernetes v1.33.3\n", "v1.33.3"),
    ("v1.33.3\n", "v1.33.3"),
    ('kubeadm version: &version.Info{Major:"1", Minor:"33", GitVersion:"v1.33.3", GitCommit:"x"}', "v1.33.3"),
    ("Kubernetes v1.34.0-rc.1", "v1.34.0-rc.1"),
    ("", None),
    ("command not found", None),
])
def test_parse_version(text, want):
    assert M.parse_version(text) == want


def test_version_metrics_leave_out_missing_tools():
    lines = M.version_metrics({"kubelet": "v1.33.3", "kubeadm": None})
    assert lines[2:] == ['groundwork_component_version_info{component="kubelet",version="v1.33.3"} 1']
    assert lines[1] == "# TYPE groundwork_component_version_info gauge"


@pytest.mark.parametrize("state, phase, pending", [
    (None, 0, 0),
    ({"phase": "none", "rotation_id": "r1", "in_progress": "trusted"}, 0, 1),
    ({"phase": "trusted", "rotation_id": "r1"}, 1, 1),
    ({"phase": "reissued", "rotation_id": "r1", "in_progress": None}, 2, 1),
    ({"phase": "retired", "rotation_id": "r1"}, 3, 0),
    ({"phase": "bogus"}, 0, 0),
])
def test_rotation_metrics(state, phase, pending):
    text = "\n".join(M.rotation_metrics(state))
    rid = (state or {}).get("rotation_id") or ""
    assert 'groundwork_ca_rotation_phase{rotation_id="%s"} %d' % (rid, phase) in text
    assert ("groundwork_ca_rotation_pending{" in text) and text.rstrip().endswith(" %d" % pending)


@pytest.mark.parametrize("status, bundle, want, absent", [
    # a verified run: verification ok, snapshot and bundle sizes
    ({"result": "ok", "metadata": {"db_size": 20480}}, 9000,
     ["groundwork_etcd_backup_last_verification_ok 1", 'groundwork_etcd_backup_last_size_bytes{what="snapshot"} 20480',
      'groundwork_etcd_backup_last_size_bytes{what="bundle"} 9000'], []),
    # kept locally (off-node copy failed): the snapshot itself was verified
    ({"result": "local_only", "metadata": {"db_size": 1}}, None, ["groundwork_etcd_backup_last_verification_ok 1"],
     ['what="bundle"']),
    # verification (or the snapshot) failed: nothing was kept
    ({"result": "failed", "error": "sha256 mismatch"}, None, ["groundwork_etcd_backup_last_verification_ok 0"],
     ["groundwork_etcd_backup_last_size_bytes"]),
    # another member takes the backups: no verdict from this one
    ({"result": "skipped"}, None, [], ["groundwork_etcd_backup_last_verification_ok"]),
    # backups expected, none run yet: only the interval
    (None, None, ["groundwork_etcd_backup_interval_seconds 86400"], ["verification_ok"]),
])
def test_backup_metrics(status, bundle, want, absent):
    text = "\n".join(M.backup_metrics(status, 86400, bundle))
    assert "groundwork_etcd_backup_interval_seconds 86400" in text
    for line in want:
        assert line in text.splitlines()
    for part in absent:
        assert part not in text


ETCD_METRICS = """# HELP etcd_mvcc_db_total_size_in_bytes Total size of the underlying database physically allocated in bytes.
# TYPE etcd_mvcc_db_total_size_in_bytes gauge
etcd_mvcc_db_total_size_in_bytes 2.5e+06
etcd_mvcc_db_total_size_in_use_in_bytes 1.2e+06
etcd_mvcc_db_total_size_in_bytes_extra 7
etcd_server_quota_backend_bytes 2.147483648e+09
"""


def test_etcd_metrics_from_a_members_metrics():
    text = "\n".join(M.etcd_metrics("cp1", "https://10.0.0.1:2379", True, ETCD_METRICS))
    labels = '{endpoint="https://10.0.0.1:2379",member="cp1"}'
    assert "groundwork_etcd_member_healthy%s 1" % labels in text
    assert "groundwork_etcd_db_size_bytes%s 2500000" % labels in text
    assert "groundwork_etcd_db_size_in_use_bytes%s 1200000" % labels in text
    assert "groundwork_etcd_db_quota_bytes%s 2147483648" % labels in text


def test_etcd_down_is_a_zero_and_no_sizes():
    text = "\n".join(M.etcd_metrics("cp2", "https://10.0.0.2:2379", False, ""))
    assert 'groundwork_etcd_member_healthy{endpoint="https://10.0.0.2:2379",member="cp2"} 0' in text
    assert "db_size" not in text


@pytest.mark.parametrize("body, want", [('{"health":"true","reason":""}', True), ('{"health":"false"}', False),
                                        ("not json", False), ("[]", False)])
def test_etcd_health(body, want):
    assert M.etcd_health(body) is want


def test_prom_value_matches_whole_names_only():
    assert M.prom_value("a_b_c 3\na_b 2\n", "a_b") == 2.0
    assert M.prom_value('a_b{x="1"} 4\n', "a_b") == 4.0
    assert M.prom_value("# HELP a_b x\n", "a_b") is None


def test_render_ends_with_the_collectors_time_and_escapes_labels():
    text = M.render([M.version_metrics({"kubelet": 'v1"2'})], 1700000000.7)
    assert text.endswith("groundwork_platform_metrics_timestamp_seconds 1700000000\n")
    assert 'version="v1\\"2"' in text
