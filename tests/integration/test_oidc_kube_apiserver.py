# -*- coding: utf-8 -*-
"""The authentication configurations _oidc renders, read by the REAL kube-apiserver of the media
(GW_K8S_MEDIA, default ../shared/k8s/v1.33.3): accepted ones get past option validation and build their JWT
authenticators; what _oidc refuses (http issuer, a claim without prefix) kube-apiserver refuses too.
kube-apiserver is started with an unreachable etcd and stopped as soon as its log shows the outcome."""
from __future__ import annotations

import lzma
import os
import shutil
import socket
import subprocess
import time

import pytest
import yaml

from ansible_collections.groundwork.k8s.plugins.module_utils import _oidc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MEDIA = os.environ.get("GW_K8S_MEDIA") or os.path.join(os.path.dirname(ROOT), "shared", "k8s", "v1.33.3")
CACHE = os.environ.get("GW_OIDC_APISERVER_CACHE", "/var/tmp/groundwork-oidc-apiserver")
ACCEPTED = "Loaded"          # "Loaded N mutating admission controller(s)": past options and authentication set-up
REFUSED = "command failed"

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(MEDIA, "kube-apiserver.xz")),
                                reason="no Kubernetes media with kube-apiserver.xz at %s" % MEDIA)


@pytest.fixture(scope="module")
def apiserver():
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, "kube-apiserver")
    if not os.path.exists(path):
        tmp = path + ".%d" % os.getpid()
        with lzma.open(os.path.join(MEDIA, "kube-apiserver.xz")) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_with(apiserver, tmp_path, config_text, timeout=90):
    """-> ('accepted'|'refused', log text)"""
    cfg = tmp_path / "authn.yaml"
    cfg.write_text(config_text)
    key = tmp_path / "sa.key"
    if not key.exists():
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    argv = [apiserver, "--authentication-config=%s" % cfg, "--etcd-servers=http://127.0.0.1:1",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file=%s" % key, "--service-account-signing-key-file=%s" % key,
            "--cert-dir=%s" % (tmp_path / "certs"), "--bind-address=127.0.0.1", "--secure-port=%d" % _free_port()]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines, outcome, until = [], None, time.time() + timeout
    try:
        for line in proc.stderr:
            lines.append(line)
            if REFUSED in line:
                outcome = "refused"
                break
            if ACCEPTED in line:
                outcome = "accepted"
                break
            if time.time() > until:
                break
    finally:
        proc.kill()
        proc.wait()
    return outcome, "".join(lines)


def _render(issuers, tmp_path):
    ca = tmp_path / "ca.crt"
    if not ca.exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "ca.key"),
                        "-out", str(ca), "-subj", "/CN=idp-ca", "-days", "2"], check=True, capture_output=True)
    issuers = [dict(i, ca_file=str(ca)) if i.get("ca_file") == "CA" else i for i in issuers]
    config, errors = _oidc.authentication_config(issuers, "v1.33.3", "https://kubernetes.default.svc.cluster.local")
    assert errors == []
    return yaml.safe_dump(config, sort_keys=False)


RICH = {"name": "corp", "url": "https://127.0.0.1:1/realms/k8s", "audiences": ["kubernetes", "kubectl"], "ca_file": "CA",
        "username_claim": "email", "username_prefix": "", "groups_claim": "roles", "groups_prefix": "corp:",
        "uid_claim": "sub", "required_claims": {"hd": "example.com"}, "discovery_url": "https://127.0.0.1:2/d"}


@pytest.mark.parametrize("issuers", [
    [],
    [{"name": "lab", "url": "https://127.0.0.1:1", "audiences": ["kubernetes"]}],
    [RICH, {"name": "other", "url": "https://other.invalid", "audiences": ["kubernetes"], "groups_claim": ""}],
], ids=["no-issuer", "defaults", "two-issuers-every-field"])
def test_rendered_configurations_are_accepted(apiserver, tmp_path, issuers):
    outcome, log = run_with(apiserver, tmp_path, _render(issuers, tmp_path))
    assert outcome == "accepted", log[-3000:]
    if issuers:   # it built the JWT authenticators (which then try the unreachable URLs)
        assert "oidc" in log.lower(), log[-3000:]


@pytest.mark.parametrize("change,kube_says", [
    ({"issuer": {"url": "http://127.0.0.1:1", "audiences": ["kubernetes"]}}, "URL scheme must be https"),
    ({"claimMappings": {"username": {"claim": "sub"}}}, "prefix is required when claim is set"),
    ({"issuer": {"url": "https://127.0.0.1:1", "audiences": []}}, "audiences"),
])
def test_what_validation_refuses_kube_apiserver_refuses_too(apiserver, tmp_path, change, kube_says):
    """The rules _oidc.validate enforces before anything changes are kube-apiserver's own (it would not start)."""
    good = yaml.safe_load(_render([{"name": "lab", "url": "https://127.0.0.1:1", "audiences": ["kubernetes"]}], tmp_path))
    good["jwt"][0].update(change)
    outcome, log = run_with(apiserver, tmp_path, yaml.safe_dump(good))
    assert outcome == "refused", log[-3000:]
    assert kube_says in log
    bad = {"name": "lab", "url": "https://127.0.0.1:1", "audiences": ["kubernetes"]}
    if "issuer" in change:
        bad.update(url=change["issuer"]["url"], audiences=change["issuer"]["audiences"])
        assert _oidc.validate([bad])[1], "_oidc.validate accepts what kube-apiserver refuses"
