# -*- coding: utf-8 -*-
"""_pki against the recorded kubeadm PKI (fixtures/kubeadm/pki) and its refusals."""
from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import stat
import subprocess

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from conftest import FIXTURES  # tests/conftest.py

PKI_FIXTURES = os.path.join(FIXTURES, "kubeadm", "pki")
NOW = datetime.datetime(2026, 11, 21, 21, 3, 53, tzinfo=datetime.timezone.utc)

# The config the fixtures were recorded with (fixtures/kubeadm/configs/groundwork-lab-*.yaml).
LAB = dict(node_name="cp1", advertise_address="10.250.0.2", control_plane_endpoint="lb.example.internal:6443",
           service_subnet="10.96.0.0/12", dns_domain="cluster.local", cluster_name="groundwork-lab",
           apiserver_cert_extra_sans=["10.250.0.10", "api.example.internal"])

FIELDS = ("subject", "issuer", "issuer_cn", "self_signed", "sans", "key_usage", "ext_key_usage", "basic_constraints",
          "key", "signature_algorithm", "extensions")

KUBECONFIG_ROWS = {"admin": "admin.conf (user kubernetes-admin)",
                   "controller-manager": "controller-manager.conf (user system:kube-controller-manager)",
                   "kubelet": "kubelet.conf (user system:node:cp1)",
                   "scheduler": "scheduler.conf (user system:kube-scheduler)",
                   "super-admin": "super-admin.conf (user kubernetes-super-admin)"}


def _generate(tmp_path, key_type, now=NOW, **extra):
    params = dict(LAB, pki_dir=str(tmp_path / "pki"), kubeconfig_dir=str(tmp_path), profile="both",
                  key_type=key_type, **extra)
    plan = _pki.plan_cluster_pki(params, now=now)
    _pki.apply_writes(plan.writes)
    kplan = _pki.plan_kubeconfigs(params, now=now)
    _pki.apply_writes(kplan.writes)
    return params, plan, kplan


def _load(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


@pytest.fixture(scope="module", params=[("rsa2048", "rsa-2048"), ("ecdsa256", "ecdsa-p256")], ids=["rsa", "ecdsa"])
def generated(request, tmp_path_factory):
    key_type, fixture_dir = request.param
    tmp = tmp_path_factory.mktemp(key_type)
    params = _generate(tmp, key_type)[0]
    with open(os.path.join(PKI_FIXTURES, fixture_dir, "summary.json")) as f:
        rows = json.load(f)
    return tmp, fixture_dir, rows, params


def test_every_fixture_certificate_matches_field_for_field(generated):
    tmp, dummy, rows, dummy2 = generated
    assert len(rows) == 15
    for row in rows:
        if row["source"] == "file":
            cert = _load(os.path.join(str(tmp), row["name"]))
        else:
            name = row["name"].split(".conf")[0]
            kc = _pki.parse_kubeconfig(open(os.path.join(str(tmp), name + ".conf"), "rb").read())
            cert = x509.load_pem_x509_certificate(kc["cert"])
        got = _pki.describe(cert, NOW)
        for field in FIELDS:
            assert got[field] == row[field], (row["name"], field)
        # Same clock: pki/ rows are exact; kubeadm wrote the kubeconfigs 1-2 s later.
        if row["source"] == "file":
            assert got["validity_seconds"] == row["validity_seconds"], row["name"]
            assert got["not_before"] == "2026-11-21T20:58:53+00:00"
        else:
            assert 0 <= row["validity_seconds"] - got["validity_seconds"] <= 5, row["name"]
        assert got["validity"] == row["validity"]
        assert 40 <= got["serial_bits"] <= 63


def test_leaf_aki_is_the_ca_ski_and_ca_has_no_aki(generated):
    tmp = generated[0]
    for ca, leaf in (("ca", "apiserver"), ("front-proxy-ca", "front-proxy-client"), ("etcd/ca", "etcd/peer")):
        ca_cert = _load(str(tmp / "pki" / (ca + ".crt")))
        leaf_cert = _load(str(tmp / "pki" / (leaf + ".crt")))
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        aki = leaf_cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == ski
        assert aki.authority_cert_issuer is None
        with pytest.raises(x509.ExtensionNotFound):
            leaf_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def test_files_and_modes_match_kubeadm(generated):
    tmp, fixture_dir, dummy, dummy2 = generated
    with open(os.path.join(PKI_FIXTURES, fixture_dir, "files.txt")) as f:
        expected = {}
        for line in f:
            if line.startswith("#") or line.startswith("d"):
                continue
            dummy_mode, octal, dummy_owner, path = line.split()
            expected[path[2:]] = int(octal, 8)
    # ours beside kubeadm's: controller-manager's one-certificate signing file (ca.crt can be a bundle)
    expected["pki/ca-signer.crt"] = 0o644
    for rel, mode in expected.items():
        assert stat.S_IMODE(os.stat(str(tmp / rel)).st_mode) == mode, rel
    # and nothing else
    ours = set()
    for root, dummy_dirs, files in os.walk(str(tmp)):
        ours.update(os.path.relpath(os.path.join(root, f), str(tmp)) for f in files)
    assert ours == set(expected)


def test_sa_pair_matches_key_type(generated):
    tmp, fixture_dir, dummy, dummy2 = generated
    from cryptography.hazmat.primitives import serialization
    ours = serialization.load_pem_public_key((tmp / "pki" / "sa.pub").read_bytes())
    theirs = serialization.load_pem_public_key(open(os.path.join(PKI_FIXTURES, fixture_dir, "certs", "sa.pub"), "rb").read())
    assert _pki.key_type_of(ours) == _pki.key_type_of(theirs)
    key = _pki.load_key((tmp / "pki" / "sa.key").read_bytes())
    assert _pki.public_pem(key) == (tmp / "pki" / "sa.pub").read_bytes()


@pytest.mark.parametrize("name", sorted(KUBECONFIG_ROWS))
def test_kubeconfig_layout_matches_kubeadm(generated, name):
    tmp, fixture_dir, dummy, dummy2 = generated
    ours_text = (tmp / (name + ".conf")).read_text()
    theirs_text = open(os.path.join(PKI_FIXTURES, fixture_dir, "kubeconfig", name + ".conf")).read()
    ours, theirs = yaml.safe_load(ours_text), yaml.safe_load(theirs_text)
    # identical except the base64 data (key redacted in the fixture, certs random)
    for doc in (ours, theirs):
        doc["clusters"][0]["cluster"]["certificate-authority-data"] = "X"
        doc["users"][0]["user"]["client-certificate-data"] = "X"
        doc["users"][0]["user"]["client-key-data"] = "X"
    assert ours == theirs
    # same key order and line layout as kubeadm writes
    assert [line.split(":")[0] for line in ours_text.splitlines()] == [
        line.split(":")[0] for line in theirs_text.splitlines()]
    ca = yaml.safe_load(ours_text)["clusters"][0]["cluster"]["certificate-authority-data"]
    assert base64.b64decode(ca) == (tmp / "pki" / "ca.crt").read_bytes()


def test_second_plan_changes_nothing(generated):
    params = generated[3]
    assert _pki.plan_cluster_pki(params, now=NOW).writes == []
    assert _pki.plan_kubeconfigs(params, now=NOW).writes == []


# ---------------------------------------------------------------- join hash

def test_hash_of_recorded_cluster_ca_equals_print_join_command():
    cluster = os.path.join(FIXTURES, "kubeadm", "cluster", "cp1")
    with open(os.path.join(cluster, "token-create-print-join-command.stdout")) as f:
        argv = f.read().split()
    expected = argv[argv.index("--discovery-token-ca-cert-hash") + 1]
    with open(os.path.join(cluster, "files", "kubeconfig", "admin.conf")) as f:
        ca_data = yaml.safe_load(f)["clusters"][0]["cluster"]["certificate-authority-data"]
    assert _pki.ca_cert_hash(base64.b64decode(ca_data)) == expected
    assert _pki.ca_cert_hash(ca_data) == expected  # base64 form as found in kubeconfigs
    assert expected == "sha256:c99143f1b5624a948a58977513451547913036ffd324f0e13dfb07cdd2af85cb"


# ---------------------------------------------------------------- specs

@pytest.mark.parametrize("extra, dns, ips", [
    ({}, ["api.example.internal", "cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
          "kubernetes.default.svc.cluster.local", "lb.example.internal"], ["10.96.0.1", "10.250.0.2", "10.250.0.10"]),
    ({"control_plane_endpoint": "10.250.0.100:6443", "apiserver_cert_extra_sans": []},
     ["cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
     ["10.96.0.1", "10.250.0.2", "10.250.0.100"]),
    ({"service_subnet": "10.32.0.0/16,fd00::/108", "dns_domain": "edge.local", "control_plane_endpoint": None,
      "apiserver_cert_extra_sans": ["IP:fd00::10", "DNS:Api.Example"]},
     ["api.example", "cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
      "kubernetes.default.svc.edge.local"], ["10.32.0.1", "10.250.0.2", "fd00::10"]),
])
def test_apiserver_sans(extra, dns, ips):
    spec = _pki.leaf_spec("apiserver", dict(LAB, **extra))
    assert list(spec["dns"]) == dns
    assert list(spec["ips"]) == ips


def test_etcd_sans_with_extra():
    spec = _pki.leaf_spec("etcd-peer", dict(LAB, node_name="etcd1", advertise_address="127.0.0.11",
                                            etcd_cert_extra_sans=["etcd1.example"]))
    assert spec["cn"] == "etcd1"
    assert list(spec["dns"]) == ["etcd1", "etcd1.example", "localhost"]
    assert list(spec["ips"]) == ["127.0.0.11", "127.0.0.1", "::1"]


@pytest.mark.parametrize("name, server", [("admin", "https://lb.example.internal:6443"),
                                          ("super-admin", "https://lb.example.internal:6443"),
                                          ("controller-manager", "https://10.250.0.2:6443"),
                                          ("scheduler", "https://10.250.0.2:6443"),
                                          ("kubelet", "https://10.250.0.2:6443")])
def test_kubeconfig_servers_as_kubeadm(name, server):
    assert _pki.kubeconfig_spec(name, LAB)["server"] == server


# ---------------------------------------------------------------- needs_issue

def _ca(now=NOW, key_type="ecdsa256", **kw):
    key = _pki.generate_key(key_type)
    return _pki.make_ca("kubernetes", key, now, **kw), key


@pytest.fixture(scope="module")
def ca_pair():
    return _ca()


def _leaf(ca_pair, name="apiserver", params=None, now=NOW, days=365, key=None):
    spec = _pki.leaf_spec(name, params or LAB)
    key = key or _pki.generate_key("rsa2048")
    return spec, _pki.issue_leaf(spec, key, ca_pair[0], ca_pair[1], now, days), key


def test_needs_issue_reasons(ca_pair):
    spec, cert, key = _leaf(ca_pair)
    other_ca = _ca()

    def ok(**kw):
        args = dict(cert=cert, key=key, spec=spec, ca_cert=ca_pair[0], key_type="rsa2048", threshold_days=30, now=NOW)
        args.update(kw)
        return _pki.needs_issue(**args)

    assert ok() == []
    assert ok(cert=None) == ["certificate missing"]
    assert ok(key=None) == ["private key missing"]
    assert ok(key=_pki.generate_key("rsa2048")) == ["private key does not match the certificate"]
    assert ok(key_type="ecdsa256") == ["key type is rsa2048, wanted ecdsa256"]
    changed = _pki.leaf_spec("apiserver", dict(LAB, apiserver_cert_extra_sans=["10.250.0.10"]))
    assert ok(spec=changed) == ["SANs differ: missing [], unwanted ['DNS:api.example.internal']"]
    assert ok(spec=dict(spec, cn="other"))[0].startswith("subject is CN=kube-apiserver, wanted CN=other")
    assert ok(spec=dict(spec, usages=("client",))) == ["extended key usage differs"]
    assert ok(ca_cert=other_ca[0]) == ["not signed by the current ca (issuer CN=kubernetes)"]
    assert ok(now=NOW + datetime.timedelta(days=340)) == ["expires in 25 days (renew threshold 30 days)"]
    assert ok(now=NOW + datetime.timedelta(days=340), threshold_days=20) == []
    assert ok(now=NOW + datetime.timedelta(days=366))[0].startswith("expired on 2027-11-21")


# ---------------------------------------------------------------- bad input: clear error, nothing written

def _pem(cert):
    return _pki.cert_pem(cert).decode()


def _keypem(key):
    return _pki.key_pem(key).decode()


def _no_keycertsign_ca():
    key = _pki.generate_key("rsa2048")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=100))
            .add_extension(x509.KeyUsage(**dict(_pki.CA_KEY_USAGE, key_cert_sign=False)), critical=True)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, _pki.hashes.SHA256()))
    return cert, key


def _bad_cases():
    good_cert, good_key = _ca()
    dummy, other_key = _ca()
    nks_cert, nks_key = _no_keycertsign_ca()
    old_cert, old_key = _ca(now=NOW - datetime.timedelta(days=40), validity_days=10)
    future_cert, future_key = _ca(now=NOW + datetime.timedelta(days=3))
    return [
        ("ca-key-mismatch", {"ca": {"cert": _pem(good_cert), "key": _keypem(other_key)}},
         "ca: the CA certificate (CN=kubernetes) and the CA private key do not match"),
        ("ca-without-keycertsign", {"ca": {"cert": _pem(nks_cert), "key": _keypem(nks_key)}},
         "ca: CA certificate CN=kubernetes lacks the keyCertSign key usage"),
        ("ca-expired", {"ca": {"cert": _pem(old_cert), "key": _keypem(old_key)}},
         "ca: CA certificate CN=kubernetes expired on"),
        ("ca-not-yet-valid", {"ca": {"cert": _pem(future_cert), "key": _keypem(future_key)}},
         "ca: CA certificate CN=kubernetes is not valid before"),
        ("malformed-ip-san", {"apiserver_cert_extra_sans": ["10.250.0.300"]},
         "malformed IP address in apiserver SANs: '10.250.0.300'"),
        ("malformed-ipv6-san", {"apiserver_cert_extra_sans": ["IP:fd00::zz"]},
         "malformed IP address in apiserver SANs: 'IP:fd00::zz'"),
        ("malformed-dns-san", {"apiserver_cert_extra_sans": ["bad_name.example"]},
         "malformed DNS name in apiserver SANs"),
        ("advertise-not-ip", {"advertise_address": "cp1.example"}, "advertise_address must be an IP address"),
        ("unknown-key-type", {"key_type": "rsa1024"},
         "unknown key type 'rsa1024': use one of rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384"),
        ("ca-not-a-certificate", {"ca": {"cert": "hello", "key": _keypem(good_key)}},
         "ca certificate is not a PEM certificate"),
        ("force-renew-a-ca", {"force_renew": ["ca"]}, "force_renew: unknown certificate(s) ca"),
    ]


@pytest.mark.parametrize("case, extra, message", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_input_clear_error_nothing_written(tmp_path, case, extra, message):
    params = dict(LAB, pki_dir=str(tmp_path / "pki"), profile="both", **extra)
    with pytest.raises(GroundworkError) as err:
        plan = _pki.plan_cluster_pki(params, now=NOW)
        _pki.apply_writes(plan.writes)
    assert message in err.value.msg
    assert "PRIVATE KEY" not in err.value.msg
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path_clear_error_nothing_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    params = dict(LAB, pki_dir=str(blocker / "pki"), profile="both")
    plan = _pki.plan_cluster_pki(params, now=NOW)
    with pytest.raises(GroundworkError) as err:
        _pki.apply_writes(plan.writes)
    assert err.value.msg == "cannot write %s/pki/ca.crt: %s is not a directory" % (blocker, blocker)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_readonly_dir_refused_before_any_write(tmp_path):
    ro = tmp_path / "ro"
    ro_etcd = ro / "etcd"
    ro_etcd.mkdir(parents=True)
    plan = _pki.plan_cluster_pki(dict(LAB, pki_dir=str(ro), profile="both"), now=NOW)
    # root ignores modes: make the directory immutable instead (also refused to root)
    locked = subprocess.run(["chattr", "+i", str(ro_etcd)], capture_output=True, check=False).returncode == 0 \
        if os.geteuid() == 0 and shutil.which("chattr") else False
    if not locked:
        os.chmod(str(ro_etcd), 0o555)
    try:
        if os.access(str(ro_etcd), os.W_OK):
            pytest.skip("cannot make a directory unwritable here")
        with pytest.raises(GroundworkError, match="directory %s is not writable" % ro_etcd):
            _pki.apply_writes(plan.writes)
        assert sorted(p.name for p in ro.iterdir()) == ["etcd"]  # ca.crt etc. were not written either
        assert list(ro_etcd.iterdir()) == []
    finally:
        if locked:
            subprocess.run(["chattr", "-i", str(ro_etcd)], check=True)
        os.chmod(str(ro_etcd), 0o755)


# ---------------------------------------------------------------- CA handling

def test_ca_is_never_replaced(tmp_path):
    _generate(tmp_path, "ecdsa256")
    other_cert, other_key = _ca()
    params = dict(LAB, pki_dir=str(tmp_path / "pki"), profile="both",
                  ca={"cert": _pem(other_cert), "key": _keypem(other_key)})
    with pytest.raises(GroundworkError, match="a CA is never replaced silently"):
        _pki.plan_cluster_pki(params, now=NOW)


def test_ca_key_on_disk_alone_is_refused(tmp_path):
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.key").write_bytes(_pki.key_pem(_pki.generate_key("ecdsa256")))
    with pytest.raises(GroundworkError, match="ca.key exists without ca.crt"):
        _pki.plan_cluster_pki(dict(LAB, pki_dir=str(tmp_path / "pki"), profile="control_plane"), now=NOW)


def test_second_host_gets_first_hosts_cas(tmp_path):
    first = tmp_path / "cp1"
    _generate(first, "ecdsa256")

    def read(path):
        return (first / "pki" / path).read_text()

    params = dict(LAB, node_name="cp2", advertise_address="10.250.0.4", pki_dir=str(tmp_path / "cp2"), profile="both",
                  ca={"cert": read("ca.crt"), "key": read("ca.key")},
                  front_proxy_ca={"cert": read("front-proxy-ca.crt"), "key": read("front-proxy-ca.key")},
                  etcd_ca={"cert": read("etcd/ca.crt"), "key": read("etcd/ca.key")}, sa_key=read("sa.key"))
    plan = _pki.plan_cluster_pki(params, now=NOW)
    _pki.apply_writes(plan.writes)
    for f in ("ca.crt", "ca.key", "front-proxy-ca.key", "etcd/ca.crt", "sa.key", "sa.pub"):
        assert (tmp_path / "cp2" / f).read_bytes() == (first / "pki" / f).read_bytes(), f
    assert _pki.describe(_load(str(tmp_path / "cp2" / "etcd" / "server.crt")))["subject"] == "CN=cp2"
    assert _pki.plan_cluster_pki(params, now=NOW).writes == []
    assert plan.report["ca"]["action"] == "written"


def test_changed_san_reissues_only_apiserver_and_keeps_key(tmp_path):
    params, dummy, dummy2 = _generate(tmp_path, "ecdsa256")
    before = {p: (tmp_path / "pki" / p).read_bytes() for p in ("apiserver.crt", "apiserver.key", "etcd/peer.crt")}
    params = dict(params, apiserver_cert_extra_sans=params["apiserver_cert_extra_sans"] + ["api2.example.internal"])
    plan = _pki.plan_cluster_pki(params, now=NOW)
    assert [w[0] for w in plan.writes] == [str(tmp_path / "pki" / "apiserver.crt")]
    assert plan.report["apiserver"]["action"] == "renewed"
    assert plan.before["apiserver"]["sans"] != plan.after["apiserver"]["sans"]
    _pki.apply_writes(plan.writes)
    assert (tmp_path / "pki" / "apiserver.crt").read_bytes() != before["apiserver.crt"]
    assert (tmp_path / "pki" / "apiserver.key").read_bytes() == before["apiserver.key"]
    assert "DNS:api2.example.internal" in _pki.describe(_load(str(tmp_path / "pki" / "apiserver.crt")))["sans"]


def test_threshold_and_force_renew(tmp_path):
    params, dummy, dummy2 = _generate(tmp_path, "ecdsa256")
    params["key_type"] = "ecdsa256"
    later = NOW + datetime.timedelta(days=350)
    plan = _pki.plan_cluster_pki(dict(params, renew_threshold_days=30), now=later)
    renewed = sorted(k for k, v in plan.report.items() if v["action"] == "renewed")
    assert renewed == sorted(set(_pki.PROFILES["both"]["leaves"]))
    plan = _pki.plan_cluster_pki(dict(params, force_renew=["etcd-peer"]), now=NOW)
    assert [w[0] for w in plan.writes] == [str(tmp_path / "pki" / "etcd" / "peer.crt")]
    assert plan.report["etcd-peer"]["reasons"] == ["renewal forced"]


def test_key_type_change_replaces_keys_not_cas(tmp_path):
    params, dummy, dummy2 = _generate(tmp_path, "rsa2048")
    plan = _pki.plan_cluster_pki(dict(params, key_type="ecdsa384"), now=NOW)
    written = sorted(os.path.relpath(w[0], str(tmp_path / "pki")) for w in plan.writes)
    assert "ca.crt" not in written and "sa.key" not in written
    assert "apiserver.key" in written
    assert plan.after["apiserver"]["key"] == "ECDSA secp384r1"
    # signed by the RSA CA, so the signature stays RSA
    assert plan.after["apiserver"]["signature_algorithm"] == "sha256WithRSAEncryption"


@pytest.mark.parametrize("key_type, desc, sig", [
    ("rsa3072", "RSA 3072", "sha256WithRSAEncryption"), ("rsa4096", "RSA 4096", "sha256WithRSAEncryption"),
    ("ecdsa384", "ECDSA secp384r1", "ecdsa-with-SHA384")])
def test_other_key_types(key_type, desc, sig):
    ca, key = _ca(key_type=key_type)
    d = _pki.describe(ca, NOW)
    assert (d["key"], d["signature_algorithm"]) == (desc, sig)


def test_intermediate_ca_chain(tmp_path):
    root_key = _pki.generate_key("ecdsa384")
    root = _pki.make_ca("offline-root", root_key, NOW - datetime.timedelta(days=30))
    inter_key = _pki.generate_key("rsa2048")
    spec = dict(cn="kubernetes", orgs=(), usages=(), dns=(), ips=())
    inter = (x509.CertificateBuilder().subject_name(_pki._name("kubernetes")).issuer_name(root.subject)
             .public_key(inter_key.public_key()).serial_number(99)
             .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=900))
             .add_extension(x509.KeyUsage(**_pki.CA_KEY_USAGE), critical=True)
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(inter_key.public_key()), critical=False)
             .sign(root_key, _pki.hashes.SHA384()))
    assert spec
    chain = _pem(inter) + _pem(root)
    params = dict(LAB, pki_dir=str(tmp_path / "pki"), profile="control_plane",
                  ca={"cert": chain, "key": _keypem(inter_key)})
    plan = _pki.plan_cluster_pki(params, now=NOW)
    _pki.apply_writes(plan.writes)
    assert (tmp_path / "pki" / "ca.crt").read_text() == chain
    leaf = _load(str(tmp_path / "pki" / "apiserver.crt"))
    assert _pki.issued_by(leaf, inter)
    assert _pki.plan_cluster_pki(params, now=NOW).writes == []
    # a chain whose links do not connect is refused
    bad = dict(params, pki_dir=str(tmp_path / "other"), ca={"cert": _pem(inter) + _pem(_ca()[0]),
                                                            "key": _keypem(inter_key)})
    with pytest.raises(GroundworkError, match="chain broken"):
        _pki.plan_cluster_pki(bad, now=NOW)
    # the intermediate alone (the chain to the offline root left out) is refused, naming the fix
    alone = dict(params, pki_dir=str(tmp_path / "alone"), ca={"cert": _pem(inter), "key": _keypem(inter_key)})
    with pytest.raises(GroundworkError, match="is an intermediate .* append the issuing CA certificates up to the"):
        _pki.plan_cluster_pki(alone, now=NOW)
    assert not (tmp_path / "alone").exists()


def test_external_ca_reports_due_and_invents_nothing(tmp_path):
    params, dummy, dummy2 = _generate(tmp_path, "ecdsa256")
    pki = tmp_path / "pki"
    os.unlink(str(pki / "ca.key"))
    os.unlink(str(pki / "apiserver.crt"))
    later = NOW + datetime.timedelta(days=350)
    plan = _pki.plan_cluster_pki(params, now=later)
    due = sorted(d["name"] for d in plan.due_external)
    assert due == ["apiserver", "apiserver-kubelet-client"]  # signed by ca; etcd/front-proxy CAs still have keys
    assert not any(w[0].startswith(str(pki / "apiserver.")) for w in plan.writes)
    assert plan.report["ca"]["external"] is True
    assert "external CA mode" in plan.warnings[0]
    kplan = _pki.plan_kubeconfigs(dict(params, kubeconfig_dir=str(tmp_path)), now=later)
    assert kplan.writes == []
    assert len(kplan.due_external) == 5


def test_external_ca_given_without_key(tmp_path):
    ca_cert, dummy = _ca()
    params = dict(LAB, pki_dir=str(tmp_path / "pki"), profile="control_plane", ca={"cert": _pem(ca_cert)})
    plan = _pki.plan_cluster_pki(params, now=NOW)
    written = sorted(os.path.relpath(w[0], str(tmp_path / "pki")) for w in plan.writes)
    assert "ca.crt" in written and "ca.key" not in written and "apiserver.crt" not in written
    assert sorted(d["name"] for d in plan.due_external) == ["apiserver", "apiserver-kubelet-client"]


def test_etcd_client_profile_never_stores_the_etcd_ca_key(tmp_path):
    ca_cert, ca_key = _ca()
    params = dict(LAB, pki_dir=str(tmp_path / "pki"), profile="etcd_client",
                  etcd_ca={"cert": _pem(ca_cert), "key": _keypem(ca_key)})
    plan = _pki.plan_cluster_pki(params, now=NOW)
    written = sorted(os.path.relpath(w[0], str(tmp_path / "pki")) for w in plan.writes)
    assert written == ["apiserver-etcd-client.crt", "apiserver-etcd-client.key", "etcd/ca.crt"]


def test_summaries_hold_no_key_material(tmp_path):
    dummy, plan, kplan = _generate(tmp_path, "ecdsa256")
    text = json.dumps([plan.report, plan.before, plan.after, kplan.report, kplan.before, kplan.after], default=str)
    assert "PRIVATE KEY" not in text and "BEGIN" not in text
    for content in (w[1] for w in plan.writes if w[2] == 0o600):
        body = content.decode().splitlines()[1]
        assert body not in text


def test_kubelet_conf_with_rotated_cert_is_left_alone(tmp_path):
    params, dummy, dummy2 = _generate(tmp_path, "ecdsa256")
    recorded = os.path.join(FIXTURES, "kubeadm", "cluster", "cp1", "files", "kubeconfig", "kubelet.conf")
    (tmp_path / "kubelet.conf").write_bytes(open(recorded, "rb").read())
    plan = _pki.plan_kubeconfigs(dict(params, names=["kubelet"]), now=NOW)
    assert plan.writes == []
    assert "rotated by the kubelet" in plan.report["kubelet"]["action"]


def test_kubeconfig_server_change_rewrites_without_new_cert(tmp_path):
    params, dummy, dummy2 = _generate(tmp_path, "ecdsa256")
    old = _pki.parse_kubeconfig((tmp_path / "admin.conf").read_bytes())
    plan = _pki.plan_kubeconfigs(dict(params, control_plane_endpoint="api.example.internal:8443"), now=NOW)
    assert [os.path.basename(w[0]) for w in plan.writes] == ["admin.conf", "super-admin.conf"]
    assert plan.report["admin"]["action"] == "rewritten"
    _pki.apply_writes(plan.writes)
    new = _pki.parse_kubeconfig((tmp_path / "admin.conf").read_bytes())
    assert new["server"] == "https://api.example.internal:8443" and new["cert"] == old["cert"]


def test_scan_sorted_by_expiry(tmp_path):
    _generate(tmp_path, "ecdsa256")
    rows = _pki.scan(str(tmp_path / "pki"), str(tmp_path), now=NOW)
    assert len(rows) == 15
    assert [r["not_after"] for r in rows] == sorted(r["not_after"] for r in rows)
    assert {r["name"] for r in rows if r["is_ca"]} == {"ca", "front-proxy-ca", "etcd/ca"}
    assert all(r["days_left"] in (364, 365, 3650) for r in rows)


# ------------------------------------------------------------------ shared material in one call
def test_read_material(tmp_path):
    (tmp_path / "etcd").mkdir()
    (tmp_path / "ca.crt").write_text("CERT\n")
    (tmp_path / "etcd" / "ca.key").write_text("KEY\n")
    material, missing = _pki.read_material(str(tmp_path), ["ca.crt", "ca.key", "etcd/ca.key"])
    assert material == {"ca.crt": "CERT\n", "etcd/ca.key": "KEY\n"} and missing == ["ca.key"]
    for bad in ("../x", "/etc/passwd", "", "etcd/../../x"):
        with pytest.raises(GroundworkError, match="relative"):
            _pki.read_material(str(tmp_path), [bad])
    os.symlink("/etc/hostname", str(tmp_path / "sa.key"))
    with pytest.raises(GroundworkError, match="outside"):
        _pki.read_material(str(tmp_path), ["sa.key"])
    with pytest.raises(GroundworkError, match="not a regular file"):
        _pki.read_material(str(tmp_path), ["etcd"])
    (tmp_path / "bin.key").write_bytes(b"\xff\xfe")
    with pytest.raises(GroundworkError, match="not PEM"):
        _pki.read_material(str(tmp_path), ["bin.key"])


def test_signer_file_is_the_first_certificate_of_ca_crt(tmp_path):
    """ca-signer.crt: exactly the CA's signing certificate, kept in step when ca.crt is a bundle."""
    params, plan, dummy = _generate(tmp_path, "ecdsa256")
    pki = tmp_path / "pki"
    assert (pki / "ca-signer.crt").read_bytes() == (pki / "ca.crt").read_bytes()
    assert plan.report["ca-signer"]["action"] == "created"
    # a rotation bundle (ca.crt = this CA + another): the signer stays the first alone
    other = _pki.make_ca("kubernetes", _pki.generate_key("ecdsa256"), NOW)
    (pki / "ca.crt").write_bytes((pki / "ca.crt").read_bytes() + _pki.cert_pem(other))
    assert _pki.plan_cluster_pki(params, now=NOW).writes == []
    # missing or stale: rewritten (0644), nothing else touched
    (pki / "ca-signer.crt").write_bytes(_pki.cert_pem(other))
    again = _pki.plan_cluster_pki(params, now=NOW)
    assert [(w[0], w[2]) for w in again.writes] == [(str(pki / "ca-signer.crt"), 0o644)]
    assert again.report["ca-signer"]["reasons"] == ["not the signing certificate of ca.crt"]
    assert _pki.load_certs(again.writes[0][1])[0] == _pki.load_certs((pki / "ca.crt").read_bytes())[0]


def test_no_signer_file_for_an_external_ca(tmp_path):
    key = _pki.generate_key("ecdsa256")
    ca = _pki.make_ca("kubernetes", key, NOW)
    params = dict(LAB, pki_dir=str(tmp_path / "pki"), kubeconfig_dir=str(tmp_path), profile="control_plane",
                  key_type="ecdsa256", ca={"cert": _pki.cert_pem(ca).decode()})
    plan = _pki.plan_cluster_pki(params, now=NOW)
    assert "ca-signer" not in plan.report
    assert not any(w[0].endswith("ca-signer.crt") for w in plan.writes)


def test_a_rotation_in_progress_is_left_alone(tmp_path):
    """site.yml between CA rotation phases: ca.crt old+new, sa.pub both keys (first matches the key) - no write."""
    params, dummy, dummy2 = _generate(tmp_path, "ecdsa256")
    pki = tmp_path / "pki"
    new_ca = _pki.make_ca("kubernetes", _pki.generate_key("ecdsa256"), NOW)
    new_fp = _pki.make_ca("front-proxy-ca", _pki.generate_key("ecdsa256"), NOW)
    (pki / "ca.crt").write_bytes((pki / "ca.crt").read_bytes() + _pki.cert_pem(new_ca))
    (pki / "front-proxy-ca.crt").write_bytes((pki / "front-proxy-ca.crt").read_bytes() + _pki.cert_pem(new_fp))
    (pki / "sa.pub").write_bytes((pki / "sa.pub").read_bytes() + _pki.public_pem(_pki.generate_key("ecdsa256")))
    assert _pki.plan_cluster_pki(params, now=NOW).writes == []
    # sa.pub whose first key is not sa.key's is put right
    (pki / "sa.pub").write_bytes(_pki.public_pem(_pki.generate_key("ecdsa256")) + (pki / "sa.pub").read_bytes())
    assert [w[0] for w in _pki.plan_cluster_pki(params, now=NOW).writes] == [str(pki / "sa.pub")]
