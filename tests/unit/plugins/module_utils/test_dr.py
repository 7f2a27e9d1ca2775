# -*- coding: utf-8 -*-
"""Disaster recovery (issue 15): the one-cluster verdict, Node ownership, Secret decryption, drill metrics."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _dr
from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd_backup as B
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


# ---------------------------------------------------------------- one cluster, always
@pytest.mark.parametrize("local,others,endpoint,etcd,refuse,evidence", [
    # a fresh install: nothing anywhere
    ({}, [{"host": "cp2"}, {"host": "cp3"}], {"url": "https://localhost:8443", "status": -1}, [], False, []),
    # this host runs the cluster already: never refused, whatever the others say
    ({"apiserver_manifest": True}, [{"host": "cp2", "apiserver_manifest": True}], {"status": 200}, [], False, []),
    # cp1 wiped beside cp2/cp3
    ({}, [{"host": "cp2", "apiserver_manifest": True, "etcd_member": True}, {"host": "cp3"}],
     {"url": "https://localhost:8443", "status": -1}, [], True, ["control plane cp2 has"]),
    # only the endpoint answers (an unauthenticated request is still an API server)
    ({}, [], {"url": "https://10.0.0.10:6443", "status": 401}, [], True, ["an API server answers at https://10.0.0.10:6443"]),
    # admin.conf alone is no evidence (role pki writes it on every control plane before kubeadm init)
    ({}, [{"host": "cp2", "admin_conf": True}, {"host": "cp3", "admin_conf": True}], None, [], False, []),
    # an unreachable control plane is no evidence
    ({}, [{"host": "cp2", "unreachable": True, "apiserver_manifest": True}], None, [], False, []),
    # external etcd holding Kubernetes keys
    ({}, [], None, [{"host": "e1", "registry_keys": True}, {"host": "e2", "registry_keys": False}], True, ["etcd member e1"]),
])
def test_one_cluster_verdict(local, others, endpoint, etcd, refuse, evidence):
    v = _dr.one_cluster_verdict("cp1", local, others, endpoint, etcd)
    assert v["refuse"] is refuse
    assert len(v["evidence"]) == len(evidence)
    for e, want in zip(v["evidence"], evidence):
        assert e.startswith(want)
    if refuse:
        assert "replace_control_plane.yml -e replace_node=cp1" in v["msg"] and "restore.yml" in v["msg"]
        assert "Nothing was changed" in v["msg"]


def test_others_from_stat_results_groups_by_host_and_skips_unreachable():
    res = [{"item": ["cp2", "/etc/kubernetes/manifests/kube-apiserver.yaml"], "stat": {"exists": True}},
           {"item": ["cp2", "/etc/kubernetes/admin.conf"], "stat": {"exists": False}},
           {"item": ["cp2", "/var/lib/etcd/member"], "stat": {"exists": True}},
           {"item": ["cp3", "/etc/kubernetes/manifests/kube-apiserver.yaml"], "unreachable": True}]
    assert _dr.others_from_stat_results(res) == [
        {"host": "cp2", "apiserver_manifest": True, "etcd_member": True}, {"host": "cp3", "unreachable": True}]
    assert _dr.one_cluster_verdict("cp1", {}, _dr.others_from_stat_results(res))["refuse"]
    assert not _dr.one_cluster_verdict("cp1", {}, _dr.others_from_stat_results(res[3:]))["refuse"]


def test_etcd_from_command_results():
    res = [{"item": "e1", "stdout": "/registry/namespaces/kube-system\n"}, {"item": "e2", "stdout": ""},
           {"item": "e3", "unreachable": True}]
    assert _dr.etcd_from_command_results(res) == [{"host": "e1", "registry_keys": True},
                                                  {"host": "e2", "registry_keys": False}]


# ---------------------------------------------------------------- Node ownership
def node(name, addrs, mid):
    return {"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addrs]
                                                   + [{"type": "Hostname", "address": name}],
                                                   "nodeInfo": {"machineID": mid}}}


NODES = {"items": [node("w1", ["10.0.0.21"], "aaa"), node("w2", ["10.0.0.22"], "bbb"), node("w4", ["127.0.0.1"], "")]}


@pytest.mark.parametrize("hosts,colliding", [
    ({"w1": {"address": "10.0.0.21", "machine_id": "zzz"}}, []),          # same address (rebuilt disk, same machine)
    ({"w1": {"address": "10.0.0.99", "machine_id": "aaa\n"}}, []),        # same machine, new address
    ({"w3": {"address": "10.0.0.23", "machine_id": "ccc"}}, []),          # no Node of that name
    ({"w2": {"address": "10.0.0.30", "machine_id": "ddd"}}, ["w2"]),      # another machine owns Node w2
    ({"w2": {"address": "10.0.0.30", "machine_id": ""}, "w1": {"address": "10.0.0.21"}}, ["w2"]),
    # a Node without a machine ID (the kubeadm doubles' workers report 127.0.0.1): nothing proves another machine
    ({"w4": {"address": "10.0.0.24", "machine_id": "eee"}}, []),
])
def test_node_collisions(hosts, colliding):
    got = _dr.node_collisions(NODES, hosts)
    assert [c["host"] for c in got] == colliding
    for c in got:
        assert "belongs to another machine" in c["msg"] and "10.0.0.22" in c["msg"] and "bbb" in c["msg"]
        assert "remove_node.yml --limit w2" in c["msg"]


def test_node_collisions_takes_text_and_a_list_of_identities():
    hosts = [{"name": "w2", "address": "10.0.0.30", "machine_id": "x"}, {"name": "w1", "address": "10.0.0.21"}]
    assert [c["host"] for c in _dr.node_collisions(json.dumps(NODES), hosts)] == ["w2"]
    assert _dr.node_collisions("", hosts) == []
    # reset.yml's form: one Node or nothing (kubectl get node NAME --ignore-not-found)
    one = '{"items": [' + json.dumps(NODES["items"][1]) + ']}'
    assert [c["host"] for c in _dr.node_collisions(one, {"w2": {"address": "10.0.0.30"}})] == ["w2"]
    assert _dr.node_collisions(one, {"w2": {"address": "10.0.0.22"}}) == []


# ---------------------------------------------------------------- Secrets as the API server stores them
def pb_len(num, payload):
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def stored_secret(name, ns, data):
    meta = pb_len(1, name.encode()) + pb_len(3, ns.encode())
    body = pb_len(1, meta) + b"".join(pb_len(2, pb_len(1, k.encode()) + pb_len(2, v)) for k, v in data.items())
    unknown = pb_len(1, pb_len(1, b"v1") + pb_len(2, b"Secret")) + pb_len(2, body) + pb_len(4, b"application/vnd.kubernetes.protobuf")
    return b"k8s\x00" + unknown


def test_decode_secret_returns_hashes_not_values():
    got = _dr.decode_secret(stored_secret("dr-drill", "default", {"token": b"s3cret", "ca.crt": b"x" * 300}))
    assert got == {"name": "dr-drill", "namespace": "default",
                   "data_sha256": {"token": hashlib.sha256(b"s3cret").hexdigest(),
                                   "ca.crt": hashlib.sha256(b"x" * 300).hexdigest()}}
    assert "s3cret" not in json.dumps(got)


def test_decode_secret_refuses_garbage():
    with pytest.raises(GroundworkError, match="wrong key"):
        _dr.decode_secret(os.urandom(64))


def enc_config(provider, name, key):
    return {"kind": "EncryptionConfiguration", "resources": [
        {"resources": ["secrets"], "providers": [{provider: {"keys": [{"name": name, "secret": base64.b64encode(key).decode()}]}},
                                                 {"identity": {}}]}]}


def aescbc_value(key, name, plain):
    cryptography = pytest.importorskip("cryptography.hazmat.primitives.ciphers")
    from cryptography.hazmat.primitives import padding
    iv = os.urandom(16)
    p = padding.PKCS7(128).padder()
    enc = cryptography.Cipher(cryptography.algorithms.AES(key), cryptography.modes.CBC(iv)).encryptor()
    return b"k8s:enc:aescbc:v1:" + name.encode() + b":" + iv + enc.update(p.update(plain) + p.finalize()) + enc.finalize()


def secretbox_value(key, name, plain):
    nacl = pytest.importorskip("nacl.secret")
    box = nacl.SecretBox(key).encrypt(plain)
    return b"k8s:enc:secretbox:v1:" + name.encode() + b":" + box.nonce + box.ciphertext


@pytest.mark.parametrize("provider,make", [("aescbc", aescbc_value), ("secretbox", secretbox_value)])
def test_decrypt_value_round_trip(provider, make):
    key = os.urandom(32)
    plain = stored_secret("s", "default", {"token": b"value"})
    got = _dr.decrypt_value(make(key, "key1", plain), enc_config(provider, "key1", key))
    assert got == (provider, "key1", plain)


@pytest.mark.parametrize("provider,make", [("aescbc", aescbc_value), ("secretbox", secretbox_value)])
def test_decrypt_value_wrong_key_is_an_error_or_garbage(provider, make):
    plain = stored_secret("s", "default", {"token": b"value"})
    value = make(os.urandom(32), "key1", plain)
    try:
        _provider, _key, got = _dr.decrypt_value(value, enc_config(provider, "key1", os.urandom(32)))
    except GroundworkError:
        return
    with pytest.raises(GroundworkError):
        _dr.decode_secret(got)


def test_decrypt_value_names_a_missing_key_and_reads_identity():
    key = os.urandom(32)
    with pytest.raises(GroundworkError, match="does not have"):
        _dr.decrypt_value(b"k8s:enc:aescbc:v1:key2:" + os.urandom(32), enc_config("aescbc", "key1", key))
    assert _dr.decrypt_value(b"k8s\x00plain", enc_config("aescbc", "key1", key)) == ("identity", "", b"k8s\x00plain")
    with pytest.raises(GroundworkError, match="no identity"):
        _dr.decrypt_value(b"k8s\x00plain", {"resources": [{"resources": ["secrets"], "providers": [
            {"aescbc": {"keys": [{"name": "k", "secret": base64.b64encode(key).decode()}]}}]}]})


def test_secretbox_matches_the_reference_on_many_lengths():
    nacl = pytest.importorskip("nacl.secret")
    for n in (0, 1, 15, 16, 17, 63, 64, 65, 200):
        key, msg = os.urandom(32), os.urandom(n)
        box = nacl.SecretBox(key).encrypt(msg)
        assert _dr.secretbox_open(box.ciphertext, box.nonce, key) == msg
    tampered = bytearray(box.ciphertext)
    tampered[-1] ^= 1
    with pytest.raises(GroundworkError, match="authentication failed"):
        _dr.secretbox_open(bytes(tampered), box.nonce, key)


# ---------------------------------------------------------------- metrics
def test_drill_metrics_success_then_failure_keeps_the_last_success():
    ok = _dr.drill_metrics({"ok": True, "keys": 812}, 1700000000)
    assert "groundwork_dr_drill_last_result 1\n" in ok
    assert "groundwork_dr_drill_last_success_timestamp_seconds 1700000000\n" in ok
    assert "groundwork_dr_drill_keys 812\n" in ok
    bad = _dr.drill_metrics({"ok": False, "error": "HMAC mismatch"}, 1700009999, ok)
    assert "groundwork_dr_drill_last_result 0\n" in bad
    assert "groundwork_dr_drill_last_success_timestamp_seconds 1700000000\n" in bad
    assert "groundwork_dr_drill_keys 812\n" in bad
    first_bad = _dr.drill_metrics({"ok": False}, 1700009999, "")
    assert first_bad.count("\ngroundwork_") + first_bad.startswith("groundwork_") <= 1
    assert "groundwork_dr_drill_last_result 0" in first_bad and "last_success" not in first_bad


def test_newest_bundle(tmp_path):
    with pytest.raises(GroundworkError, match="no backup bundle"):
        _dr.newest_bundle(str(tmp_path))
    for n in ("c-20261201T020000Z.tar.enc", "c-20261203T020000Z.tar.enc", "c-20261203T020000Z.tar.enc.json"):
        (tmp_path / n).write_bytes(b"x")
    assert _dr.newest_bundle(str(tmp_path)).endswith("c-20261203T020000Z.tar.enc")


# ---------------------------------------------------------------- the drill end to end against a real etcd
# (skipped where there is no etcd binary): a real etcd holds a Secret encrypted as the API server's aescbc
# provider writes it, a real snapshot goes into a real encrypted bundle, and run_drill restores it into a
# throwaway etcd, counts, and decrypts the Secret (sha256 of its value).
ETCD, ETCDCTL = shutil.which("etcd"), shutil.which("etcdctl")
needs_etcd = pytest.mark.skipif(not (ETCD and ETCDCTL), reason="no etcd/etcdctl binary here")


def ctl(endpoint, *args, data=None):
    return subprocess.run([ETCDCTL, "--endpoints=" + endpoint] + list(args), input=data, capture_output=True, check=True,
                          env=dict(os.environ, ETCDCTL_API="3")).stdout


@pytest.fixture
def bundle(tmp_path):
    key = os.urandom(32)
    client, peer = "http://127.0.0.1:%d" % _dr.free_port(), "http://127.0.0.1:%d" % _dr.free_port()
    proc = subprocess.Popen([ETCD, "--name=src", "--data-dir=%s" % (tmp_path / "src"), "--listen-client-urls=" + client,
                             "--advertise-client-urls=" + client, "--listen-peer-urls=" + peer,
                             "--initial-advertise-peer-urls=" + peer, "--initial-cluster=src=" + peer],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _attempt in range(50):
            if subprocess.run([ETCDCTL, "--endpoints=" + client, "endpoint", "health"], capture_output=True,
                              env=dict(os.environ, ETCDCTL_API="3"), check=False).returncode == 0:
                break
            time.sleep(0.2)
        plain = stored_secret("dr-drill", "default", {"token": b"written-before-the-backup"})
        value = aescbc_value(key, "key1", plain)
        # etcdctl put takes the value as an argument: binary through a tiny Python client is overkill, so the
        # value goes in base64-free via the v3 JSON gateway
        body = json.dumps({"key": base64.b64encode(b"/registry/secrets/default/dr-drill").decode(),
                           "value": base64.b64encode(value).decode()}).encode()
        for path in ("/v3/kv/put", "/v3beta/kv/put"):
            try:
                urllib.request.urlopen(urllib.request.Request(client + path, data=body), timeout=5).read()
                break
            except Exception:  # pylint: disable=broad-except
                continue
        for i in range(20):
            ctl(client, "put", "/registry/configmaps/default/cm%d" % i, "v%d" % i)
        snap = str(tmp_path / "snap.db")
        ctl(client, "snapshot", "save", snap)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    keyfile = tmp_path / "key"
    keyfile.write_text("drill-test-key-0123456789")
    os.chmod(keyfile, 0o600)
    out = tmp_path / "bundles"
    out.mkdir()
    B.make_bundle(str(out), "c-20261206T020000Z", snap, {"revision": 22}, [], str(keyfile))
    return {"dir": str(out), "keyfile": str(keyfile), "config": enc_config("aescbc", "key1", key)}


def opener(config):
    yaml = pytest.importorskip("yaml")

    def open_bundle(bundle, key_file, out_dir):
        manifest = B.open_bundle(bundle, key_file, out_dir)
        d = os.path.join(out_dir, "files", "etc", "kubernetes", "encryption")
        os.makedirs(d)
        with open(os.path.join(d, "config.yaml"), "w") as f:
            yaml.safe_dump(config, f)
        return manifest
    return open_bundle


@needs_etcd
def test_drill_restores_counts_and_decrypts(bundle, tmp_path):
    drill = _dr.Drill(ETCD, ETCDCTL, "/nonexistent/etcdutl")
    yaml = pytest.importorskip("yaml")
    rep = _dr.run_drill(drill, bundle["dir"], bundle["keyfile"], "default/dr-drill", str(tmp_path),
                        open_bundle=opener(bundle["config"]), load_yaml=yaml.safe_load)
    assert rep["ok"] and rep["keys"] == 21 and rep["revision"] >= 22
    assert rep["secret"]["provider"] == "aescbc" and rep["secret"]["name"] == "dr-drill"
    assert rep["secret"]["data_sha256"] == {"token": hashlib.sha256(b"written-before-the-backup").hexdigest()}
    assert not [n for n in os.listdir(tmp_path) if n.startswith("groundwork-dr-drill.")]  # cleaned up


@needs_etcd
def test_drill_with_another_encryption_key_fails(bundle, tmp_path):
    drill = _dr.Drill(ETCD, ETCDCTL, "/nonexistent/etcdutl")
    yaml = pytest.importorskip("yaml")
    with pytest.raises(GroundworkError):
        _dr.run_drill(drill, bundle["dir"], bundle["keyfile"], "", str(tmp_path),
                      open_bundle=opener(enc_config("aescbc", "key1", os.urandom(32))), load_yaml=yaml.safe_load)
