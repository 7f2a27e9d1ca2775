# -*- coding: utf-8 -*-
"""The platform_metrics role's program, run as its unit runs it (python3 PROGRAM --config FILE), with the
collection's module_utils as the nodes have them; tools, the rotation state and the backup status are files here."""
from __future__ import annotations

import json
import socket
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROGRAM = os.path.join(ROOT, "roles", "platform_metrics", "files", "groundwork-platform-metrics")
LIB = os.path.join(ROOT, ".collections")  # holds ansible_collections/groundwork/k8s -> this checkout


def _tool(path, text):
    path.write_text("#!/bin/sh\necho '%s'\n" % text)
    path.chmod(0o755)
    return str(path)


def _run(tmp_path, **cfg):
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps(cfg))
    return subprocess.run([sys.executable, PROGRAM, "--config", str(conf)], capture_output=True, text=True,
                          env=dict(os.environ, GROUNDWORK_LIB=LIB), check=False)


def test_program_writes_the_textfile(tmp_path):
    bundle = tmp_path / "b.tar.enc"
    bundle.write_bytes(b"x" * 1234)
    (tmp_path / "last.json").write_text(json.dumps({"result": "ok", "bundle": str(bundle), "metadata": {"db_size": 4096}}))
    (tmp_path / "state.json").write_text(json.dumps({"phase": "trusted", "rotation_id": "r7"}))
    out = tmp_path / "groundwork_platform.prom"
    res = _run(tmp_path, textfile=str(out), backup_status=str(tmp_path / "last.json"),
               rotation_state=str(tmp_path / "state.json"), backup_interval_seconds=3600,
               tools={"kubelet": [_tool(tmp_path / "kubelet", "Kubernetes v1.33.3")],
                      "kubeadm": [_tool(tmp_path / "kubeadm", "v1.33.3")],
                      "missing": [str(tmp_path / "nope")]})
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    for line in ['groundwork_component_version_info{component="kubeadm",version="v1.33.3"} 1',
                 'groundwork_component_version_info{component="kubelet",version="v1.33.3"} 1',
                 'groundwork_ca_rotation_phase{rotation_id="r7"} 1',
                 "groundwork_etcd_backup_interval_seconds 3600",
                 "groundwork_etcd_backup_last_verification_ok 1",
                 'groundwork_etcd_backup_last_size_bytes{what="bundle"} 1234',
                 'groundwork_etcd_backup_last_size_bytes{what="snapshot"} 4096']:
        assert line in text.splitlines(), line
    assert 'component="missing"' not in text
    assert oct(out.stat().st_mode & 0o777) == "0o644"


def test_unreachable_etcd_member_is_reported_unhealthy(tmp_path):
    # a member that refuses connections: healthy 0, no sizes, the run itself succeeds
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    # any readable CA/cert/key files do: the connection is refused before TLS
    out = tmp_path / "p.prom"
    ca = tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(ca), "-days", "1", "-subj", "/CN=t"], check=True, capture_output=True)
    res = _run(tmp_path, textfile=str(out), tools={}, rotation_state=str(tmp_path / "none"),
               backup_status=str(tmp_path / "none.json"), timeout=3,
               etcd={"member": "cp1", "endpoint": "https://127.0.0.1:%d" % port, "ca": str(ca), "cert": str(ca),
                     "key": str(tmp_path / "k.pem")})
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert 'groundwork_etcd_member_healthy{endpoint="https://127.0.0.1:%d",member="cp1"} 0' % port in text
    assert "groundwork_etcd_db_size_bytes" not in text
    assert "groundwork_etcd_backup" not in text  # not a backup member, no status: no backup metrics
