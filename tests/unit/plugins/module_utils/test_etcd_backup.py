# -*- coding: utf-8 -*-
"""Backup bundles: encrypt-then-MAC round trip, tamper and wrong-key refusal, receiver space check."""
from __future__ import annotations

import hashlib
import io
import json
import os

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd_backup as B
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


@pytest.fixture
def material(tmp_path):
    snap = tmp_path / "snap.db"
    body = os.urandom(8192)
    snap.write_bytes(body + hashlib.sha256(body).digest())
    pki = tmp_path / "pki" / "etcd"
    pki.mkdir(parents=True)
    (pki / "ca.crt").write_text("CERT")
    (pki / "ca.key").write_text("KEY")
    key = tmp_path / "key"
    key.write_text("a-very-secret-backup-key\n")
    out = tmp_path / "bundles"
    out.mkdir()
    meta = {"sha256": hashlib.sha256(snap.read_bytes()).hexdigest(), "revision": 7, "cluster_id_hex": "abc"}
    return {"snap": str(snap), "pki": str(tmp_path / "pki"), "key": str(key), "out": str(out), "meta": meta,
            "tmp": tmp_path, "missing": str(tmp_path / "nope.yaml")}


def test_round_trip(material):
    m = material
    side = B.make_bundle(m["out"], "c-1", m["snap"], m["meta"], [m["pki"], m["missing"]], m["key"])
    bundle = os.path.join(m["out"], side["bundle"])
    raw = open(bundle, "rb").read()
    assert raw.startswith(b"Salted__") and b"CERT" not in raw and b"KEY" not in raw
    assert oct(os.stat(bundle).st_mode & 0o777) == "0o600"
    assert not [f for f in os.listdir(m["out"]) if f.startswith(".groundwork-bundle-")]  # no plain tar left
    got = B.open_bundle(bundle, m["key"], str(m["tmp"] / "open"))
    assert got["snapshot"]["revision"] == 7
    opened = m["tmp"] / "open"
    assert (opened / "snapshot.db").read_bytes() == open(m["snap"], "rb").read()
    assert (opened / ("files" + m["pki"]) / "etcd" / "ca.key").read_text() == "KEY"
    assert json.load(open(bundle[: -len(B.BUNDLE_SUFFIX)] + B.SIDECAR_SUFFIX))["snapshot"]["cluster_id_hex"] == "abc"


@pytest.mark.parametrize("damage,msg", [("flip", "damaged"), ("key", "HMAC mismatch"), ("missing", "missing backup")])
def test_refusals(material, damage, msg):
    m = material
    side = B.make_bundle(m["out"], "c-1", m["snap"], m["meta"], [m["pki"]], m["key"])
    bundle = os.path.join(m["out"], side["bundle"])
    key = m["key"]
    if damage == "flip":
        data = bytearray(open(bundle, "rb").read())
        data[100] ^= 1
        open(bundle, "wb").write(bytes(data))
    elif damage == "key":
        key = str(m["tmp"] / "other")
        open(key, "w").write("another-key-of-enough-length")
    else:
        os.unlink(bundle)
    with pytest.raises(GroundworkError, match=msg):
        B.open_bundle(bundle, key, str(m["tmp"] / "open"))


def test_short_key_refused(material):
    open(material["key"], "w").write("short")
    with pytest.raises(GroundworkError, match="shorter than 16"):
        B.make_bundle(material["out"], "c-1", material["snap"], material["meta"], [], material["key"])


def test_receive_stores_and_prunes(tmp_path):
    for i in range(3):
        for suffix, data in ((B.BUNDLE_SUFFIX, b"x" * 100), (B.SIDECAR_SUFFIX, b"{}")):
            res = B.receive(str(tmp_path), "prod", "c-%d%s" % (i, suffix), len(data), io.BytesIO(data), reserve=0,
                            keep=2)
    assert sorted(os.listdir(tmp_path / "prod")) == ["c-1.tar.enc", "c-1.tar.enc.json", "c-2.tar.enc",
                                                     "c-2.tar.enc.json"]
    assert res["pruned"] == ["c-0.tar.enc"]


@pytest.mark.parametrize("cluster,name,size,msg", [
    ("prod", "x.tar.enc", 10 ** 18, "disk full"),
    ("../etc", "x.tar.enc", 1, "refusing name"),
    ("prod", "x.sh", 1, "only"),
    ("prod", "x.tar.enc", 5, "short upload"),
])
def test_receive_refuses(tmp_path, cluster, name, size, msg):
    with pytest.raises(GroundworkError, match=msg) as exc:
        B.receive(str(tmp_path), cluster, name, size, io.BytesIO(b"abc"), reserve=0)
    if msg == "disk full":
        assert exc.value.details["exit_code"] == B.EXIT_DISK_FULL
        assert not os.listdir(tmp_path / "prod")  # nothing written


def test_reserve_counts(tmp_path):
    free = B.free_bytes(str(tmp_path))
    with pytest.raises(GroundworkError, match="disk full"):
        B.check_space(str(tmp_path), 1, reserve=free)
    assert B.check_space(str(tmp_path), 1, reserve=0) > 0


# --------------------------------------------------------------------------- bundle contents (DR)
def test_bundle_files_first_source_wins_and_staged_dest(tmp_path):
    own = tmp_path / "own" / "pki" / "etcd"
    own.mkdir(parents=True)
    (own / "ca.crt").write_text("MEMBER-CA")
    staged = tmp_path / "staged" / "pki"
    (staged / "etcd").mkdir(parents=True)
    (staged / "etcd" / "ca.crt").write_text("STAGED-CA")
    (staged / "ca.key").write_text("CLUSTER-CA-KEY")
    dest = str(tmp_path / "own" / "pki")
    files = B.bundle_files([dest, {"src": str(staged), "dest": dest, "origin": "cp1"}, str(tmp_path / "none")])
    arcs = dict((arc, src) for src, arc in files)
    assert arcs["files" + dest + "/etcd/ca.crt"] == str(own / "ca.crt")  # the member's own file wins
    assert arcs["files" + dest + "/ca.key"] == str(staged / "ca.key")  # staged copy under the CP's path
    assert len(files) == 2


@pytest.mark.parametrize("entry", ["relative/path", {"src": "/a", "dest": "b"}, {"dest": "/x"}])
def test_bundle_sources_refuse_relative(entry):
    with pytest.raises(GroundworkError, match="absolute"):
        B.bundle_sources([entry])


def test_bundle_origin_per_source_when_member_and_staged_copy_share_a_path(material, tmp_path):
    """Issue 15: an external member bundles its own /etc/kubernetes/pki and the control plane's staged copy under the
    same path; each file keeps the host it came from, so the member's certificates come back on the member."""
    m = material
    own = tmp_path / "member-pki"
    (own / "etcd").mkdir(parents=True)
    for name in ("ca.crt", "ca.key", "server.crt", "server.key", "peer.crt", "healthcheck-client.crt"):
        (own / "etcd" / name).write_text("MEMBER-" + name)
    staged = tmp_path / "staged-pki"
    (staged / "etcd").mkdir(parents=True)
    (staged / "etcd" / "ca.crt").write_text("MEMBER-ca.crt")
    (staged / "ca.key").write_text("CLUSTER-CA-KEY")
    (staged / "apiserver-etcd-client.crt").write_text("APISERVER-ETCD-CLIENT")
    conf = tmp_path / "etc-etcd"
    conf.mkdir()
    (conf / "etcd.conf.yml").write_text("name: e1\n")
    pki = "/etc/kubernetes/pki"
    paths = [{"src": str(own), "dest": pki, "origin": "e1"}, {"src": str(conf), "dest": "/etc/etcd", "origin": "e1"},
             {"src": str(staged), "dest": pki, "origin": "cp1"}]
    entries = {arc: (src, origin) for src, arc, origin in B.bundle_entries(paths, "e1")}
    assert entries["files" + pki + "/etcd/server.crt"] == (str(own / "etcd" / "server.crt"), "e1")
    assert entries["files" + pki + "/etcd/ca.crt"] == (str(own / "etcd" / "ca.crt"), "e1")  # the member's own wins
    assert entries["files" + pki + "/ca.key"] == (str(staged / "ca.key"), "cp1")
    side = B.make_bundle(m["out"], "c-3", m["snap"], dict(m["meta"], member="e1"), paths, m["key"], "c", "v1.33.3")
    manifest = B.open_bundle(os.path.join(m["out"], side["bundle"]), m["key"], str(tmp_path / "open"))
    assert manifest["origins"]["files" + pki + "/etcd/server.key"] == "e1"
    assert manifest["origins"]["files" + pki + "/apiserver-etcd-client.crt"] == "cp1"
    plans = {h: sorted(p for a, p in B.putback_plan(manifest, h, k, pki, {})["put"])
             for h, k in (("e1", ["etcd"]), ("e2", ["etcd"]), ("cp1", ["control_plane"]))}
    assert plans["e1"] == sorted([pki + "/etcd/" + n for n in ("ca.crt", "ca.key", "server.crt", "server.key", "peer.crt",
                                                               "healthcheck-client.crt")] + ["/etc/etcd/etcd.conf.yml"])
    assert plans["e2"] == [pki + "/etcd/ca.crt", pki + "/etcd/ca.key"]  # its own leaves are made again from this CA
    assert plans["cp1"] == [pki + "/apiserver-etcd-client.crt", pki + "/ca.key", pki + "/etcd/ca.crt"]


@pytest.mark.parametrize("texts,want", [
    (["  image: registry.k8s.io/kube-apiserver:v1.35.1\n", "kubernetesVersion: v1.34.0"], "v1.35.1"),
    ([None, "apiVersion: x\nkubernetesVersion: 1.33.2\n"], "v1.33.2"),
    (["kubernetesVersion: \"v1.35.0\""], "v1.35.0"),
    (['{"spec": {"containers": [{"image": "registry.k8s.io/kube-apiserver:v1.35.2", "name": "x"}]}}'], "v1.35.2"),
    (['{"kind": "ClusterConfiguration", "kubernetesVersion": "v1.34.1"}'], "v1.34.1"),
    (["nothing here", ""], None),
])
def test_kubernetes_version(texts, want):
    assert B.kubernetes_version(texts) == want


def test_describe_lists_what_a_rebuild_needs():
    files = ["snapshot.db", "files/etc/kubernetes/pki/ca.key", "files/etc/kubernetes/pki/etcd/ca.key",
             "files/etc/kubernetes/pki/sa.key", "files/etc/kubernetes/pki/sa.pub",
             "files/etc/kubernetes/pki/front-proxy-ca.key", "files/etc/kubernetes/encryption/config.yaml",
             "files/etc/kubernetes/kubeadm-config.yaml", "files/etc/kubernetes/admin.conf",
             "files/etc/kubernetes/scheduler.conf"]
    d = B.describe({"revision": 9, "total_keys": 3, "cluster_id_hex": "ab"}, files, "c", "v1.35.0")
    assert d["contains"] == {"cluster_ca": True, "etcd_ca": True, "front_proxy_ca": True, "service_account_keys": True,
                             "encryption_config": True, "kubeadm_config": True,
                             "kubeconfigs": ["admin.conf", "scheduler.conf"]}
    assert (d["cluster_name"], d["kubernetes_version"], d["etcd_revision"], d["etcd_total_keys"]) == ("c", "v1.35.0", 9, 3)
    assert B.describe({}, ["snapshot.db"])["contains"]["encryption_config"] is False


PKI = "/etc/kubernetes/pki"
MANIFEST = {
    "files": {"snapshot.db": "s",
              "files" + PKI + "/ca.key": "k1", "files" + PKI + "/ca.crt": "c1", "files" + PKI + "/sa.key": "sa",
              "files" + PKI + "/apiserver.crt": "api", "files" + PKI + "/etcd/ca.key": "ek",
              "files" + PKI + "/etcd/ca.crt": "ec", "files" + PKI + "/etcd/peer.crt": "peer",
              "files/etc/kubernetes/encryption/config.yaml": "enc", "files/etc/kubernetes/admin.conf": "adm",
              "files/etc/etcd/cluster-ids.json": "ids", "files/etc/etcd/etcd.conf.yml": "conf"},
    "origins": {},
}


def _plan(origins, host, kinds, current=None):
    m = dict(MANIFEST, origins=origins)
    p = B.putback_plan(m, host, kinds, PKI, current)
    return sorted(path for arc, path in p["put"]), p


def test_putback_stacked_source_gets_everything():
    origins = {a: "cp1" for a in MANIFEST["files"] if a != "snapshot.db"}
    put, dummy = _plan(origins, "cp1", ["control_plane", "stacked"])
    assert put == sorted(a[len("files"):] for a in origins)


def test_putback_other_control_plane_gets_only_shared():
    origins = {a: "cp1" for a in MANIFEST["files"] if a != "snapshot.db"}
    put, dummy = _plan(origins, "cp2", ["control_plane", "stacked"])
    assert put == sorted([PKI + "/ca.crt", PKI + "/ca.key", PKI + "/etcd/ca.crt", PKI + "/etcd/ca.key", PKI + "/sa.key",
                          "/etc/etcd/cluster-ids.json", "/etc/kubernetes/encryption/config.yaml"])


def test_putback_external_member_and_control_plane():
    # bundle taken by e1: its own etcd files; the control plane's files staged from cp1
    origins = {a: ("e1" if "/etcd" in a else "cp1") for a in MANIFEST["files"] if a != "snapshot.db"}
    put, dummy = _plan(origins, "e1", ["etcd"])
    assert put == sorted([PKI + "/etcd/ca.crt", PKI + "/etcd/ca.key", PKI + "/etcd/peer.crt",
                          "/etc/etcd/cluster-ids.json", "/etc/etcd/etcd.conf.yml"])
    put, dummy = _plan(origins, "e2", ["etcd"])
    assert put == sorted([PKI + "/etcd/ca.crt", PKI + "/etcd/ca.key", "/etc/etcd/cluster-ids.json"])
    put, dummy = _plan(origins, "cp1", ["control_plane"])
    assert put == sorted([PKI + "/apiserver.crt", PKI + "/ca.crt", PKI + "/ca.key", PKI + "/etcd/ca.crt", PKI + "/sa.key",
                          "/etc/kubernetes/admin.conf", "/etc/kubernetes/encryption/config.yaml"])


def test_putback_own_files_and_cluster_ids_kept_not_refused():
    origins = {a: "cp1" for a in MANIFEST["files"] if a != "snapshot.db"}
    dummy, plan = _plan(origins, "cp1", ["control_plane", "stacked"],
                        {PKI + "/apiserver.crt": "renewed", "/etc/etcd/cluster-ids.json": "more-ids", PKI + "/sa.key": "other"})
    assert plan["kept"] == ["/etc/etcd/cluster-ids.json", PKI + "/apiserver.crt"]
    assert plan["differ"] == [PKI + "/sa.key"]


def test_putback_same_and_differ_are_not_put():
    origins = {a: "cp1" for a in MANIFEST["files"] if a != "snapshot.db"}
    put, plan = _plan(origins, "cp2", ["control_plane"], {PKI + "/ca.key": "k1", "/etc/kubernetes/encryption/config.yaml": "OTHER"})
    assert plan["same"] == [PKI + "/ca.key"]
    assert plan["differ"] == ["/etc/kubernetes/encryption/config.yaml"]
    assert "/etc/kubernetes/encryption/config.yaml" not in put and PKI + "/ca.key" not in put


@pytest.mark.parametrize("host,kinds,want", [
    # a bundle made before the fix labelled the member's etcd leaves with the control plane's name
    ("cp1", ["control_plane"], [PKI + "/apiserver.crt", PKI + "/ca.crt", PKI + "/ca.key", PKI + "/etcd/ca.crt", PKI + "/sa.key",
                                "/etc/kubernetes/admin.conf", "/etc/kubernetes/encryption/config.yaml"]),
    ("e1", ["etcd"], [PKI + "/etcd/ca.crt", PKI + "/etcd/ca.key", "/etc/etcd/cluster-ids.json", "/etc/etcd/etcd.conf.yml"]),
    ("e2", ["etcd"], [PKI + "/etcd/ca.crt", PKI + "/etcd/ca.key", "/etc/etcd/cluster-ids.json"]),
])
def test_putback_old_bundle_member_leaves_never_land_on_an_external_control_plane(host, kinds, want):
    origins = {a: ("e1" if a.startswith("files/etc/etcd/") else "cp1") for a in MANIFEST["files"] if a != "snapshot.db"}
    put, dummy = _plan(origins, host, kinds)
    assert put == sorted(want)


def test_round_trip_manifest_and_put_back(material, tmp_path):
    m = material
    enc = tmp_path / "enc"
    enc.mkdir()
    (enc / "config.yaml").write_text("SECRETS-KEY")
    pki_dest = "/etc/kubernetes/pki"
    paths = [{"src": m["pki"], "dest": pki_dest, "origin": "cp1"},
             {"src": str(enc), "dest": "/etc/kubernetes/encryption", "origin": "cp1"}]
    side = B.make_bundle(m["out"], "c-2", m["snap"], dict(m["meta"], member="e1"), paths, m["key"], "c", "v1.35.0")
    assert side["summary"]["contains"]["encryption_config"] and side["summary"]["kubernetes_version"] == "v1.35.0"
    out = tmp_path / "open"
    manifest = B.open_bundle(os.path.join(m["out"], side["bundle"]), m["key"], str(out))
    assert manifest["origins"]["files/etc/kubernetes/encryption/config.yaml"] == "cp1"
    # put back under a fake root: the plan maps to absolute paths, so rewrite them into tmp
    plan = B.putback_plan(manifest, "cp2", ["control_plane", "stacked"], pki_dest, {})
    assert sorted(p for a, p in plan["put"]) == sorted([pki_dest + "/etcd/ca.crt", pki_dest + "/etcd/ca.key",
                                                        "/etc/kubernetes/encryption/config.yaml"])
    root = str(tmp_path / "root")
    os.makedirs(root + "/etc/kubernetes/encryption")
    with open(root + "/etc/kubernetes/encryption/config.yaml", "w") as f:
        f.write("A-NEW-KEY")  # what a fresh install would have generated
    plan = B.put_back(str(out), manifest, "cp2", ["control_plane", "stacked"], pki_dest, root=root)
    assert plan["differ"] == ["/etc/kubernetes/encryption/config.yaml"]
    assert open(root + "/etc/kubernetes/encryption/config.yaml").read() == "A-NEW-KEY"  # not replaced unasked
    assert open(root + pki_dest + "/etcd/ca.key").read() == "KEY"
    assert oct(os.stat(root + pki_dest + "/etcd/ca.key").st_mode & 0o777) == oct(os.stat(m["pki"] + "/etcd/ca.key").st_mode & 0o777)
    again = B.put_back(str(out), manifest, "cp2", ["control_plane", "stacked"], pki_dest, root=root)
    assert again["put"] == [] and len(again["same"]) == 2
    B.put_back(str(out), manifest, "cp2", ["control_plane", "stacked"], pki_dest, replace=True, root=root)
    assert open(root + "/etc/kubernetes/encryption/config.yaml").read() == "SECRETS-KEY"
    assert open(root + "/etc/kubernetes/encryption/config.yaml.groundwork-pre-restore").read() == "A-NEW-KEY"
