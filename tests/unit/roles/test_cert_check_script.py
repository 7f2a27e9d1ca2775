# -*- coding: utf-8 -*-
"""The cert_check role's script, with cryptography and with the openssl CLI fallback."""
from __future__ import annotations

import base64
import importlib.machinery
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "roles", "cert_check", "files", "groundwork-cert-check.py")


def _load(block_cryptography):
    saved = {k: v for k, v in sys.modules.items() if k == "cryptography" or k.startswith("cryptography.")}
    if block_cryptography:
        for k in saved:
            del sys.modules[k]
        sys.modules["cryptography"] = None  # import fails
    try:
        loader = importlib.machinery.SourceFileLoader("gw_cert_check_%d" % block_cryptography, SCRIPT)
        spec = importlib.util.spec_from_loader(loader.name, loader)
        mod = importlib.util.module_from_spec(spec)
        loader.exec_module(mod)
        return mod
    finally:
        if block_cryptography:
            del sys.modules["cryptography"]
            sys.modules.update(saved)


def _cert(path, days, cn):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(path) + ".key", "-out", str(path), "-days", str(days), "-subj", "/CN=" + cn],
                   check=True, capture_output=True)


@pytest.fixture
def tree(tmp_path):
    pki, kube = tmp_path / "pki", tmp_path / "kube"
    (pki / "etcd").mkdir(parents=True)
    (pki / ".rotation").mkdir()
    kube.mkdir()
    _cert(pki / "apiserver.crt", 10, "kube-apiserver")
    _cert(pki / "etcd" / "peer.crt", 200, "cp1")
    _cert(pki / ".rotation" / "ignored.crt", 1, "staged")
    _cert(tmp_path / "admin.pem", 5, "kubernetes-admin")
    data = base64.b64encode((tmp_path / "admin.pem").read_bytes()).decode()
    (kube / "admin.conf").write_text("users:\n- name: a\n  user:\n    client-certificate-data: %s\n" % data)
    (kube / "other.conf").write_text("no certificate here\n")
    return {"pki_dir": str(pki), "kubeconfig_dir": str(kube), "extra_paths": [], "threshold_days": 30,
            "textfile": str(tmp_path / "tf" / "groundwork_certs.prom")}


@pytest.mark.parametrize("block", [False, True])
def test_metrics_and_log_line(tree, block, capsys, tmp_path):
    mod = _load(block)
    assert mod.PARSER == ("openssl" if block else "cryptography")
    rows, errors = mod.check(tree)
    days = {os.path.basename(r["path"]): r["seconds_left"] // 86400 for r in rows}
    assert days == {"apiserver.crt": 9, "peer.crt": 199, "admin.conf": 4} and errors == []
    cfg = tmp_path / "cfg.json"
    cfg.write_text(__import__("json").dumps(tree))
    assert mod.main(["--config", str(cfg)]) == 0
    text = open(tree["textfile"]).read()
    assert 'groundwork_cert_expiry_seconds{path="%s/apiserver.crt"}' % tree["pki_dir"] in text
    assert 'groundwork_cert_expiring{path="%s/etcd/peer.crt",threshold_days="30"} 0' % tree["pki_dir"] in text
    assert "groundwork_cert_check_errors 0" in text and "ignored" not in text
    out = capsys.readouterr().out
    assert out.startswith("<4>groundwork-cert-check: 2 of 3 certificates expire within 30 days")
    assert out.index("admin.conf") < out.index("apiserver.crt")  # soonest first


def test_unreadable_certificate_is_counted(tree):
    mod = _load(False)
    with open(os.path.join(tree["pki_dir"], "broken.crt"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    rows, errors = mod.check(tree)
    assert [os.path.basename(e["path"]) for e in errors] == ["broken.crt"] and len(rows) == 3
    assert "groundwork_cert_check_errors 1" in mod.metrics(rows, errors, tree, 0)


@pytest.mark.parametrize("block", [False, True])
def test_json_and_quoted_kubeconfigs_are_read(tree, block, tmp_path):
    """kubelet.conf written as JSON (the kubeadm double writes it so on joined nodes; client-go may too)
    and a quoted YAML value are checked like any kubeconfig, not skipped."""
    import json
    mod = _load(block)
    data = base64.b64encode((tmp_path / "admin.pem").read_bytes()).decode()
    kube = tree["kubeconfig_dir"]
    with open(os.path.join(kube, "kubelet.conf"), "w") as f:
        user = {"client-certificate": "kubelet-client.pem", "client-key": "kubelet-client.pem"}
        json.dump({"apiVersion": "v1", "kind": "Config", "users": [{"name": "system:node:w1", "user": user}]}, f)
    _cert(tmp_path / "kube" / "kubelet-client.pem", 3, "system:node:w1")
    with open(os.path.join(kube, "quoted.conf"), "w") as f:
        f.write('users:\n- name: q\n  user:\n    client-certificate-data: "%s"\n' % data)
    with open(os.path.join(kube, "broken.conf"), "w") as f:
        f.write("{not json")
    rows, errors = mod.check(tree)
    days = {os.path.basename(r["path"]): r["seconds_left"] // 86400 for r in rows}
    assert days["kubelet.conf"] == 2 and days["quoted.conf"] == 4
    assert [os.path.basename(e["path"]) for e in errors] == ["broken.conf"]
