# -*- coding: utf-8 -*-
"""groundwork.k8s.cert_renewal through ansible-playbook on a real PKI dir made with the openssl CLI:
check mode writes nothing, the first run renews (changed), the second does not; openssl checks the result."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcd_helpers as h  # noqa: E402
from test_etcd_ca_rotation import make_member_pki  # noqa: E402

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")


def _openssl_text(path):
    return subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName,extendedKeyUsage",
                           "-in", path], capture_output=True, text=True, check=True).stdout


def _days(path):
    end = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", path], capture_output=True, text=True,
                         check=True).stdout.strip().split("=", 1)[1]
    out = subprocess.run(["date", "-d", end, "+%s"], capture_output=True, text=True, check=True).stdout
    return (int(out) - int(subprocess.run(["date", "+%s"], capture_output=True, text=True, check=True).stdout)) // 86400


def _tree(path):
    d = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for f in sorted(files):
            with open(os.path.join(root, f), "rb") as fh:
                d.update(f.encode() + fh.read())
    return d.hexdigest()


def _run(work, args, check=False):
    play = [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "renew", "groundwork.k8s.cert_renewal": args, "register": "r"}]}]
    rc, out, results = h.ansible_playbook(json.dumps(play), work, check=check, diff=check)
    assert rc == 0, out[-3000:]
    return results[0][1]


def test_cert_renewal_twice_and_check_mode():
    work = tempfile.mkdtemp(prefix="gw-renew-")
    try:
        make_member_pki(work, ["m1"])
        pki = os.path.join(work, "m1", "pki")
        args = {"pki_dir": pki, "kubeconfig_dir": os.path.join(work, "m1", "kube"), "threshold_days": 60,
                "backup_root": os.path.join(work, "backup")}
        before = {n: _openssl_text(os.path.join(pki, n)) for n in ("etcd/peer.crt", "apiserver-etcd-client.crt")}
        tree = _tree(pki)
        r = _run(work, args, check=True)
        assert r["changed"] and len(r["renewed"]) == 4 and r["backup_dir"] is None
        assert _tree(pki) == tree and not os.path.exists(args["backup_root"])
        renewed = ("etcd/server.crt", "etcd/peer.crt", "etcd/healthcheck-client.crt", "apiserver-etcd-client.crt")
        assert set(r["diff"]["after"]) == {os.path.join(pki, p) for p in renewed}
        r = _run(work, args)
        assert r["changed"] and r["restart"] == ["etcd", "kube-apiserver"]
        for name, text in before.items():
            path = os.path.join(pki, name)
            assert _openssl_text(path) == text                        # same subject, SANs, EKU
            assert _days(path) >= 364
            assert subprocess.run(["openssl", "verify", "-CAfile", os.path.join(pki, "etcd", "ca.crt"), path],
                                  capture_output=True, check=False).returncode == 0
        key = os.path.join(pki, "etcd", "peer.key")
        assert oct(os.stat(key).st_mode & 0o777) == "0o600"
        assert os.path.exists(os.path.join(r["backup_dir"], key.lstrip("/")))
        again = _run(work, args)
        assert not again["changed"] and again["renewed"] == []
        bad = dict(args, validity_days=30)
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"groundwork.k8s.cert_renewal": bad}]}]
        rc, out, _results = h.ansible_playbook(json.dumps(play), work)
        assert rc != 0 and "validity_days (30) must be larger than threshold_days (60)" in out
    finally:
        shutil.rmtree(work, ignore_errors=True)
