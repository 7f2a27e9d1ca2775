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
