# -*- coding: utf-8 -*-
"""CA rotation on one node's files (real keys and certificates in a temp dir, no root)."""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import stat
import subprocess

import pytest

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation as R
from ansible_collections.groundwork.k8s.plugins.module_utils import _rotation_host as H
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

NOW = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.timezone.utc)
KUBECONFIG = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://lb.example.internal:6443
  name: groundwork-lab
contexts:
- context:
    cluster: groundwork-lab
    user: kubernetes-admin
  name: kubernetes-admin@groundwork-lab
current-context: kubernetes-admin@groundwork-lab
kind: Config
users:
- name: kubernetes-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
"""


def _name(cn, org=None):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2026, 1, 1)).not_valid_after(datetime.datetime(2036, 1, 1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.KeyUsage(True, True, False, False, False, True, False, False, False), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), False)
            .sign(key, H.hashes.SHA256()))
    return cert, key


def _leaf(ca, ca_key, cn, org=None, sans=(), server=False, days=365):
    key = ec.generate_private_key(ec.SECP256R1())
    eku = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    b = (x509.CertificateBuilder().subject_name(_name(cn, org)).issuer_name(ca.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(datetime.datetime(2026, 1, 1))
         .not_valid_after(datetime.datetime(2026, 1, 1) + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
         .add_extension(x509.ExtendedKeyUsage(eku), False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), False)
    return b.sign(ca_key, H.hashes.SHA256()), key


def _write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


@pytest.fixture
def node(tmp_path):
    pki, kc = str(tmp_path / "pki"), str(tmp_path / "kube")
    cas = {}
    for name, (crt, key) in R.CA_FILES.items():
        cert, k = _ca({"ca": "kubernetes", "front-proxy-ca": "front-proxy-ca", "etcd-ca": "etcd-ca"}[name])
        cas[name] = (cert, k)
        _write(os.path.join(pki, crt), H.cert_pem(cert))
        _write(os.path.join(pki, key), H.key_pem(k), 0o600)
    sa = ec.generate_private_key(ec.SECP256R1())
    _write(os.path.join(pki, "sa.key"), H.key_pem(sa), 0o600)
    _write(os.path.join(pki, "sa.pub"), H.public_pem(sa.public_key()))
    leaves = {
        "apiserver": ("ca", "kube-apiserver", None, [x509.DNSName("kubernetes"), x509.IPAddress(ipaddress.ip_address("10.96.0.1"))], True),
        "apiserver-kubelet-client": ("ca", "kube-apiserver-kubelet-client", "kubeadm:cluster-admins", [], False),
        "front-proxy-client": ("front-proxy-ca", "front-proxy-client", None, [], False),
        "apiserver-etcd-client": ("etcd-ca", "kube-apiserver-etcd-client", None, [], False),
        "etcd/server": ("etcd-ca", "cp1", None, [x509.DNSName("cp1"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], True),
        "etcd/peer": ("etcd-ca", "cp1", None, [x509.DNSName("cp1"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], True),
        "etcd/healthcheck-client": ("etcd-ca", "kube-etcd-healthcheck-client", None, [], False),
    }
    for rel, (ca, cn, org, sans, server) in leaves.items():
        cert, k = _leaf(cas[ca][0], cas[ca][1], cn, org, sans, server)
        _write(os.path.join(pki, rel + ".crt"), H.cert_pem(cert))
        _write(os.path.join(pki, rel + ".key"), H.key_pem(k), 0o600)
    for conf, cn, org in (("admin.conf", "kubernetes-admin", "kubeadm:cluster-admins"),
                          ("scheduler.conf", "system:kube-scheduler", None)):
        cert, k = _leaf(cas["ca"][0], cas["ca"][1], cn, org)
        text = KUBECONFIG.format(ca=H.b64(H.cert_pem(cas["ca"][0])), cert=H.b64(H.cert_pem(cert)), key=H.b64(H.key_pem(k)))
        _write(os.path.join(kc, conf), text, 0o600)
    n = H.Node(pki_dir=pki, kubeconfig_dir=kc, backup_root=str(tmp_path / "backup"))
    n.old = {name: c for name, (c, _k) in cas.items()}
    n.old_sa = H.public_pem(sa.public_key())
    return n


def _rot(node, **kw):
    kw.setdefault("now", NOW)
    return H.CaRotation(node, "r1", ["ca", "etcd-ca", "front-proxy-ca", "sa"], **kw)


def _trust(node, rel):
    return [H.fingerprint(c) for c in H.load_certs(H.read_bytes(node.path(rel)))]


def _openssl_verify(ca_path, cert_path):
    return subprocess.run(["openssl", "verify", "-CAfile", ca_path, cert_path], capture_output=True, check=False).returncode == 0


def test_three_phases_with_interruption(node, tmp_path, monkeypatch):
    old_fp = {n: H.fingerprint(c) for n, c in node.old.items()}
    snapshot = {p: H.read_bytes(p) for p, _k in node.leaves()}

    # phase 1: check mode first (nothing written), then for real, then a no-op re-run
    r = _rot(node, generate=True, check_mode=True).run("trusted")
    assert r["changed"] and not os.path.exists(node.state_dir)
    assert {p: H.read_bytes(p) for p, _k in node.leaves()} == snapshot
    r = _rot(node, generate=True).run("trusted")
    assert r["changed"] and r["phase"] == "trusted"
    assert "kube-apiserver" in r["restart"] and "etcd" in r["restart"]
    new_fp = r["state"]["fingerprints"]
    for name, (crt, _k) in R.CA_FILES.items():
        assert _trust(node, crt) == [old_fp[name], new_fp[name]]          # old first: old key still signs
    assert len(H.load_public_keys(H.read_bytes(node.path("sa.pub")))) == 2
    assert {p: H.read_bytes(p) for p, _k in node.leaves()} == snapshot  # phase 1 reissues nothing
    assert oct(stat.S_IMODE(os.stat(node.staged("ca", "key")).st_mode)) == "0o600"
    assert not _rot(node).run("trusted")["changed"]
    with pytest.raises(GroundworkError, match="run phase reissued"):
        _rot(node).run("retired")

    # phase 2, interrupted after two items
    real = H.CaRotation.reissue_item
    calls = []

    def dying(self, item, cas):
        if len(calls) == 2:
            raise KeyboardInterrupt("power cut")
        calls.append(item)
        return real(self, item, cas)
    monkeypatch.setattr(H.CaRotation, "reissue_item", dying)
    with pytest.raises(KeyboardInterrupt):
        _rot(node).run("reissued")
    doc = json.loads(H.read_bytes(node.state_path()))
    assert (doc["phase"], doc["in_progress"], doc["done"]) == ("trusted", "reissued", calls)
    monkeypatch.setattr(H.CaRotation, "reissue_item", real)
    resumed = []

    def counting(self, item, cas):
        resumed.append(item)
        return real(self, item, cas)
    monkeypatch.setattr(H.CaRotation, "reissue_item", counting)
    r = _rot(node).run("reissued")
    assert r["action"] == "resume" and r["phase"] == "reissued"
    assert not set(resumed) & set(calls)                                  # done items are not redone
    monkeypatch.setattr(H.CaRotation, "reissue_item", real)
    for name, (crt, key) in R.CA_FILES.items():
        assert _trust(node, crt) == [new_fp[name], old_fp[name]]          # new first: new key signs
    new_cas = {n: H.load_certs(H.read_bytes(node.path(c)))[0] for n, (c, _k) in R.CA_FILES.items()}
    for path, _k in node.leaves():
        cert = H.load_certs(H.read_bytes(path))[0]
        assert any(H.signed_by(cert, c) for c in new_cas.values()), path
        before = H.load_certs(snapshot[path])[0]
        assert cert.subject == before.subject
        assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage) == \
            before.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    san = H.load_certs(H.read_bytes(node.path("apiserver.crt")))[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert "10.96.0.1" in str(san.value)
    admin = H.kubeconfig_fields(H.read_bytes(os.path.join(node.kubeconfig_dir, "admin.conf")).decode())
    assert H.signed_by(H.load_certs(H.unb64(admin["client-certificate-data"]))[0], new_cas["ca"])
    assert not _rot(node).run("reissued")["changed"]

    # phase 3: retire; afterwards nothing trusts or is signed by the old CAs
    r = _rot(node).run("retired")
    assert r["changed"] and r["phase"] == "retired"
    for name, (crt, _k) in R.CA_FILES.items():
        assert _trust(node, crt) == [new_fp[name]]
        _write(str(tmp_path / ("old-%s.pem" % name)), H.cert_pem(node.old[name]))
    assert len(H.load_public_keys(H.read_bytes(node.path("sa.pub")))) == 1
    assert node.old_sa not in H.read_bytes(node.path("sa.pub")).decode()
    issuer = {"apiserver": "ca", "front-proxy-client": "front-proxy-ca", "etcd/peer": "etcd-ca"}
    for rel, name in issuer.items():
        assert not _openssl_verify(str(tmp_path / ("old-%s.pem" % name)), node.path(rel + ".crt"))
        assert _openssl_verify(node.path(R.CA_FILES[name][0]), node.path(rel + ".crt"))
    admin = H.kubeconfig_fields(H.read_bytes(os.path.join(node.kubeconfig_dir, "admin.conf")).decode())
    assert [H.fingerprint(c) for c in H.load_certs(H.unb64(admin["certificate-authority-data"]))] == [new_fp["ca"]]
    assert not os.path.exists(os.path.join(node.state_dir, "new"))        # staged keys gone
    assert not _rot(node).run("retired")["changed"]
    # backups: every replaced file is kept, keys 0600
    backed = H.backup_manifest(os.path.join(node.backup_root, "r1-reissued"))
    assert node.path("apiserver.key") in backed and node.path("ca.key") in backed


def test_second_node_takes_the_staged_material(node, tmp_path):
    first = _rot(node, generate=True).run("trusted")
    material = {n: {"cert": (H.read_bytes(node.staged(n, "pub" if n == "sa" else "crt")) or b"").decode(),
                    "key": H.read_bytes(node.staged(n, "key")).decode()} for n in first["present"]}
    with pytest.raises(GroundworkError, match="different new ca"):
        other = dict(material, ca={"cert": H.cert_pem(_ca("kubernetes")[0])})
        _rot(node, new_material=other).run("reissued")
    assert _rot(node, new_material=material).run("reissued")["phase"] == "reissued"


def test_phase_two_without_new_key_refuses(node):
    _rot(node, generate=True).run("trusted")
    os.unlink(node.staged("ca", "key"))
    with pytest.raises(GroundworkError, match="new ca key is needed"):
        _rot(node).run("reissued")


def test_no_material_and_no_generate_refuses(node):
    with pytest.raises(GroundworkError, match="no new .* staged"):
        _rot(node).run("trusted")


@pytest.mark.parametrize("days", [30, 365])
def test_reissue_clones_profile(days):
    ca, ca_key = _ca("kubernetes")
    old = _leaf(ca, ca_key, "kube-apiserver", sans=[x509.DNSName("kubernetes")], server=True, days=10)[0]
    new, key = H.reissue(old, ca, ca_key, days, NOW)
    assert new.subject == old.subject and H.signed_by(new, ca)
    assert (H.not_after(new) - NOW).days == days
    assert new.public_key().public_numbers() != old.public_key().public_numbers()
    assert new.extensions.get_extension_for_class(x509.SubjectAlternativeName) == \
        old.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_kubeconfig_set_keeps_other_lines():
    text = KUBECONFIG.format(ca="AAA", cert="BBB", key="CCC")
    out = H.kubeconfig_set(text, {"certificate-authority-data": "ZZZ"})
    assert H.kubeconfig_fields(out) == {"certificate-authority-data": "ZZZ", "client-certificate-data": "BBB",
                                        "client-key-data": "CCC"}
    assert out.replace("ZZZ", "AAA") == text
    with pytest.raises(GroundworkError):
        H.kubeconfig_set("apiVersion: v1\n", {"client-key-data": "x"})


def test_kubeconfig_quoted_and_json_forms():
    quoted = KUBECONFIG.format(ca='"AAA"', cert="'BBB'", key="CCC")
    assert H.kubeconfig_fields(quoted)["certificate-authority-data"] == "AAA"
    out = H.kubeconfig_set(quoted, {"certificate-authority-data": "ZZZ", "client-certificate-data": "YYY"})
    assert out == quoted.replace('"AAA"', '"ZZZ"').replace("'BBB'", "'YYY'")
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "c", "cluster": {"certificate-authority-data": "AAA", "server": "https://x:6443"}}],
           "users": [{"name": "u", "user": {"client-certificate": "/p/cur.pem", "client-key": "/p/cur.pem"}}]}
    text = json.dumps(doc, indent=2) + "\n"
    assert H.kubeconfig_fields(text) == {"certificate-authority-data": "AAA", "client-certificate": "/p/cur.pem",
                                         "client-key": "/p/cur.pem"}
    out = H.kubeconfig_set(text, {"certificate-authority-data": "ZZZ"})
    assert out == text.replace("AAA", "ZZZ")                                # same layout, only the value
    with pytest.raises(GroundworkError, match="lacks client-certificate-data"):
        H.kubeconfig_set(text, {"client-certificate-data": "x"})
    # a credential in a form this code cannot place is an error, never a skipped file
    with pytest.raises(GroundworkError, match="cannot read certificate-authority-data"):
        H.kubeconfig_fields("clusters:\n- cluster:\n    certificate-authority-data:\n      AAA\n")


def test_json_kubeconfig_and_client_pem_follow_the_phases(node, tmp_path):
    """A kubelet.conf in JSON pointing at kubelet-client-current.pem (a joined node's form)."""
    ca = node.old["ca"]
    ca_key = H.load_key(H.read_bytes(node.path("ca.key")))
    cert, key = _leaf(ca, ca_key, "system:node:w1", "system:nodes")
    pem = str(tmp_path / "kubelet-pki" / "kubelet-client-current.pem")
    _write(pem, H.cert_pem(cert) + H.key_pem(key), 0o600)
    conf = os.path.join(node.kubeconfig_dir, "kubelet.conf")
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "default-cluster", "cluster": {"certificate-authority-data": H.b64(H.cert_pem(ca)),
                                                                "server": "https://localhost:8443"}}],
           "users": [{"name": "default-auth", "user": {"client-certificate": pem, "client-key": pem}}]}
    _write(conf, json.dumps(doc, indent=2) + "\n", 0o600)

    def ca_data():
        data = json.loads(H.read_bytes(conf))["clusters"][0]["cluster"]["certificate-authority-data"]
        return [H.fingerprint(c) for c in H.load_certs(H.unb64(data))]

    old = H.fingerprint(ca)
    new = _rot(node, generate=True).run("trusted")["state"]["fingerprints"]["ca"]
    assert ca_data() == [old, new]
    r = _rot(node).run("reissued")
    assert conf in r["files"] and pem in r["files"] and "kubelet" in r["restart"]
    assert ca_data() == [new, old]
    new_ca = H.load_certs(H.read_bytes(node.path("ca.crt")))[0]
    client = H.load_certs(H.read_bytes(pem))[0]
    assert H.signed_by(client, new_ca) and client.subject == cert.subject
    assert H.load_key(H.read_bytes(pem)) is not None                      # cert + key, as the kubelet keeps it
    _rot(node).run("retired")
    assert ca_data() == [new]
    assert json.loads(H.read_bytes(conf))["users"] == doc["users"]         # the rest of the document is kept


def test_renew_leaves_threshold_backup_and_second_run(node):
    # leaves of the fixture expire 2027-01-01 (365 d after 2026-01-01); NOW is 2026-11-21: 41 days left
    snapshot = {p: H.read_bytes(p) for p, _k in node.leaves()}
    assert not H.renew_leaves(node, threshold_days=30, now=NOW)["changed"]
    check = H.renew_leaves(node, threshold_days=60, check_mode=True, now=NOW)
    assert check["changed"] and check["backup_dir"] is None
    assert {p: H.read_bytes(p) for p, _k in node.leaves()} == snapshot
    r = H.renew_leaves(node, threshold_days=60, now=NOW)
    renewed = sorted(x["path"].rsplit("/", 1)[1] for x in r["renewed"])
    assert renewed == sorted(["admin.conf", "apiserver-etcd-client.crt", "apiserver-kubelet-client.crt", "apiserver.crt",
                              "front-proxy-client.crt", "healthcheck-client.crt", "peer.crt", "scheduler.conf",
                              "server.crt"])
    assert r["restart"] == ["etcd", "kube-apiserver", "kube-scheduler"]
    cas = {n: H.load_certs(H.read_bytes(node.path(c)))[0] for n, (c, _k) in R.CA_FILES.items()}
    for path, key in node.leaves():
        cert = H.load_certs(H.read_bytes(path))[0]
        assert (H.not_after(cert) - NOW).days == 365
        assert any(H.signed_by(cert, c) for c in cas.values())
        old = H.load_certs(snapshot[path])[0]
        assert cert.subject == old.subject and cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage) == \
            old.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    backed = H.backup_manifest(r["backup_dir"])
    assert node.path("apiserver.crt") in backed and node.path("apiserver.key") in backed
    assert oct(stat.S_IMODE(os.stat(r["backup_dir"]).st_mode)) == "0o700"
    assert not H.renew_leaves(node, threshold_days=60, now=NOW)["changed"]           # second run
    # and the backup puts the originals back
    restored = H.restore_backup(r["backup_dir"])
    assert node.path("apiserver.crt") in restored
    assert {p: H.read_bytes(p) for p, _k in node.leaves()} == snapshot
    assert H.restore_backup(r["backup_dir"]) == []


def test_renew_leaves_reports_external_ca(node):
    os.unlink(node.path("front-proxy-ca.key"))
    r = H.renew_leaves(node, threshold_days=60, now=NOW)
    assert [x["path"].rsplit("/", 1)[1] for x in r["due_external"]] == ["front-proxy-client.crt"]
    assert "CA key not on this node" in r["due_external"][0]["reason"]
    assert node.path("front-proxy-client.crt") not in r["written"]


# ------------------------------------------------------------------ putting a backup back
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


@needs_root
def test_write_atomic_keeps_owner_and_group(tmp_path):
    p = tmp_path / "peer.key"
    p.write_bytes(b"old")
    os.chown(str(p), 65534, 65534)
    H.write_atomic(str(p), b"new", 0o600)
    st = os.stat(str(p))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o600)
    assert p.read_bytes() == b"new"
    fresh = tmp_path / "fresh.key"
    H.write_atomic(str(fresh), b"x", 0o600)
    assert os.stat(str(fresh)).st_uid == 0


@needs_root
def test_restore_backup_keeps_live_mode_and_owner(tmp_path):
    """etcd reads its keys as the etcd user: a put-back must not make them root's (50-rotation found it)."""
    live = tmp_path / "etc" / "pki" / "etcd"
    live.mkdir(parents=True)
    key, crt = live / "peer.key", live / "peer.crt"
    key.write_bytes(b"KEY1")
    crt.write_bytes(b"CRT1")
    os.chmod(str(key), 0o600)
    os.chown(str(key), 65534, 65534)
    os.chmod(str(crt), 0o644)
    node = H.Node(str(tmp_path / "etc" / "pki"), str(tmp_path / "etc"), backup_root=str(tmp_path / "backups"))
    node.backup_dir = H.new_backup_dir(node.backup_root, "renew")
    node.write(str(key), b"KEY2")
    node.write(str(crt), b"CRT2")
    assert os.stat(str(key)).st_uid == 65534                                   # renewal kept the owner too
    assert H.restore_backup(node.backup_dir, check_mode=True) == sorted([str(crt), str(key)])
    assert key.read_bytes() == b"KEY2"                                         # check mode wrote nothing
    assert H.restore_backup(node.backup_dir) == sorted([str(crt), str(key)])
    assert key.read_bytes() == b"KEY1" and crt.read_bytes() == b"CRT1"
    kst, cst = os.stat(str(key)), os.stat(str(crt))
    assert (kst.st_uid, kst.st_gid, stat.S_IMODE(kst.st_mode)) == (65534, 65534, 0o600)
    assert (cst.st_uid, stat.S_IMODE(cst.st_mode)) == (0, 0o644)               # not the backup copy's 0600
    assert H.restore_backup(node.backup_dir) == []                             # idempotent
    # the module passes the manifest it already listed: the same files, no second walk
    files = H.backup_manifest(node.backup_dir)
    assert files == sorted([str(crt), str(key)])
    key.write_bytes(b"KEY3")
    assert H.restore_backup(node.backup_dir, files=files) == [str(key)] and key.read_bytes() == b"KEY1"
    key.write_bytes(b"KEY4")
    assert H.restore_backup(node.backup_dir, files=[str(crt)]) == []           # only what it is given
    assert key.read_bytes() == b"KEY4"


def test_find_backup(tmp_path):
    root = tmp_path / "certs"
    with pytest.raises(H.GroundworkError, match="does not exist"):
        H.find_backup(str(root), "latest")
    root.mkdir()
    with pytest.raises(H.GroundworkError, match="is empty"):
        H.find_backup(str(root), "latest")
    for name, mtime in (("20261120T100000Z-renew", 1000), ("ca-20261121T100000Z-trusted", 3000),
                        ("20261122T100000Z-renew", 2000)):
        d = root / name / "etc"
        d.mkdir(parents=True)
        (d / "f").write_text(name)
        os.utime(str(root / name), (mtime, mtime))
    assert H.find_backup(str(root), "latest") == str(root / "ca-20261121T100000Z-trusted")
    assert H.find_backup(str(root), "20261120T100000Z-renew") == str(root / "20261120T100000Z-renew")
    with pytest.raises(H.GroundworkError, match="there are: 20261120T100000Z-renew, 20261122T100000Z-renew, ca-"):
        H.find_backup(str(root), "20260101T000000Z-renew")
    for bad in ("../etc", "/etc", ".."):
        with pytest.raises(H.GroundworkError, match="not a path"):
            H.find_backup(str(root), bad)
    with pytest.raises(H.GroundworkError, match="no backup given"):
        H.find_backup(str(root), "")
    (root / "empty").mkdir()
    with pytest.raises(H.GroundworkError, match="holds no files"):
        H.find_backup(str(root), "empty")


def _signer(node):
    return [H.fingerprint(c) for c in H.load_certs(H.read_bytes(node.path(R.SIGNER_FILE)))]


def test_signer_file_is_one_certificate_matching_ca_key_in_every_phase(node):
    """controller-manager's --cluster-signing-cert-file (ca-signer.crt) must be one certificate (v1.33 exits on two)."""
    _write(node.path(R.SIGNER_FILE), H.cert_pem(node.old["ca"]))
    old_fp = H.fingerprint(node.old["ca"])
    r = _rot(node, generate=True).run("trusted")
    assert _signer(node) == [old_fp]                                      # old key still signs: unchanged
    assert node.path(R.SIGNER_FILE) not in r["files"]
    assert node.path(R.SIGNER_FILE) not in [p for p, _k in node.leaves()]  # never reissued as a leaf
    r = _rot(node).run("reissued")
    new_fp = r["state"]["fingerprints"]["ca"]
    assert _signer(node) == [new_fp] and _trust(node, "ca.crt")[0] == new_fp
    assert node.path(R.SIGNER_FILE) in r["files"] and "kube-controller-manager" in r["restart"]
    signer = H.load_certs(H.read_bytes(node.path(R.SIGNER_FILE)))[0]
    key = H.load_key(H.read_bytes(node.path("ca.key")))
    assert H.public_fingerprint(signer.public_key()) == H.public_fingerprint(key.public_key())
    r = _rot(node).run("retired")
    assert _signer(node) == [new_fp] and node.path(R.SIGNER_FILE) not in r["files"]


def test_phase_one_refused_while_controller_manager_signs_with_the_bundle_file(node):
    manifest = os.path.join(node.kubeconfig_dir, "manifests", "kube-controller-manager.yaml")
    _write(manifest, "spec:\n  containers:\n  - command:\n    - kube-controller-manager\n"
                     "    - --cluster-signing-cert-file=%s\n" % node.path("ca.crt"))
    before = {p: H.read_bytes(p) for p in (node.path("ca.crt"), node.path("ca.key"))}
    with pytest.raises(GroundworkError, match="run site.yml first"):
        _rot(node, generate=True).run("trusted")
    assert {p: H.read_bytes(p) for p in before} == before and not os.path.exists(node.state_path())
    _write(manifest, "    - --cluster-signing-cert-file=%s\n" % node.path(R.SIGNER_FILE))
    assert _rot(node, generate=True).run("trusted")["phase"] == "trusted"
