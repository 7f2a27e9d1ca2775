# -*- coding: utf-8 -*-
"""_user_cert: short-lived user certificates signed by a cluster CA, and when a kubeconfig is reissued."""
from __future__ import annotations

import datetime
import subprocess

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki, _user_cert
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

NOW = datetime.datetime(2026, 1, 10, 12, 0, tzinfo=datetime.timezone.utc)
SERVER = "https://10.0.0.1:6443"


@pytest.fixture(scope="module")
def ca():
    key = _pki.generate_key("rsa2048")
    return _pki.make_ca("kubernetes", key, NOW - datetime.timedelta(days=1)), key


def _kubeconfig(ca, user="alice", groups=("platform-admins",), hours=8, now=NOW, server=SERVER):
    cert_ca, ca_key = ca
    key = _pki.generate_key("ecdsa256")
    cert = _user_cert.issue(user, tuple(sorted(groups)), _pki.public_pem(key), cert_ca, ca_key, now, hours)
    return _pki.render_kubeconfig("kubernetes", server, user, _pki.cert_pem(cert_ca), _pki.cert_pem(cert),
                                  _pki.key_pem(key)), cert


def test_issued_certificate_is_a_short_lived_client_cert(ca, tmp_path):
    data, cert = _kubeconfig(ca, groups=("platform-admins", "dev"), hours=4)
    assert _user_cert.identity_of(cert) == ("alice", ("dev", "platform-admins"))
    assert _pki.not_after(cert) - NOW == datetime.timedelta(hours=4)
    assert _pki.not_before(cert) == NOW - datetime.timedelta(minutes=5)
    desc = _pki.describe(cert, NOW)
    assert desc["ext_key_usage"] == ["clientAuth"] and desc["basic_constraints"] == "CA:FALSE (critical)"
    # openssl agrees the chain is good for client auth
    (tmp_path / "ca.crt").write_bytes(_pki.cert_pem(ca[0]))
    (tmp_path / "u.crt").write_bytes(_pki.cert_pem(cert))
    out = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-attime", str(int(NOW.timestamp())),
                          "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / "u.crt")], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("user,groups,needle", [
    ("", [], "non-empty"),
    ("system:admin", [], "system:"),
    ("alice", ["system:masters"], "bypasses RBAC"),
    ("alice", ["system:nodes"], "assigned by Kubernetes"),
])
def test_identities_that_rbac_cannot_revoke_are_refused(user, groups, needle):
    with pytest.raises(GroundworkError, match=needle):
        _user_cert.check_identity(user, groups)


def test_system_masters_only_when_asked():
    assert _user_cert.check_identity("breakglass", ["system:masters"], True) == ("system:masters",)


@pytest.mark.parametrize("hours", [0, -1, 745, "x"])
def test_validity_is_bounded(hours):
    with pytest.raises(GroundworkError):
        _user_cert.check_validity(hours)


def test_cert_outliving_the_ca_is_refused(ca):
    key = _pki.generate_key("ecdsa256")
    with pytest.raises(GroundworkError, match="CA expires"):
        _user_cert.issue("a", (), _pki.public_pem(key), ca[0], ca[1], NOW + datetime.timedelta(days=3649), 48)


def test_reissue_reasons(ca):
    data = _kubeconfig(ca)[0]
    bundle = _pki.cert_pem(ca[0])
    args = ("alice", ("platform-admins",), SERVER, "kubernetes", bundle, ca[0], 1)
    assert _user_cert.needs_issue(data, *args, now=NOW) == []
    assert _user_cert.needs_issue(None, *args, now=NOW) == ["kubeconfig missing"]
    assert "expires in" in _user_cert.needs_issue(data, *args, now=NOW + datetime.timedelta(hours=7, minutes=1))[0]
    other = ("alice", ("dev",)) + args[2:]
    assert "identity is" in _user_cert.needs_issue(data, *other, now=NOW)[0]
    moved = args[:2] + ("https://lb:6443",) + args[3:]
    assert "server is" in _user_cert.needs_issue(data, *moved, now=NOW)[0]
    new_ca = _pki.make_ca("kubernetes", _pki.generate_key("rsa2048"), NOW)
    rotated = args[:4] + (_pki.cert_pem(new_ca), new_ca, 1)
    reasons = _user_cert.needs_issue(data, *rotated, now=NOW)
    assert "not signed by the current cluster CA" in reasons
    assert _user_cert.needs_issue(b"garbage: [", *args, now=NOW)


def test_summary_has_no_key_material(ca):
    data = _kubeconfig(ca)[0]
    s = _user_cert.existing_summary(data, NOW)
    assert s["user"] == "alice" and s["groups"] == ["platform-admins"] and s["expires_in"] == "0d 8h00m"
    assert "PRIVATE" not in str(s)
