# -*- coding: utf-8 -*-
"""Secrets encryption key rotation (issue 18): one configuration's steps, the plan over every control plane,
the rewrite's outcome. Key material never appears in what is printed (errors, lines)."""
from __future__ import annotations

import base64

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _enckey as E
from ansible_collections.groundwork.k8s.plugins.module_utils import _kubeadm
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

KA = base64.b64encode(b"a" * 32).decode()
KN = base64.b64encode(b"n" * 32).decode()
KX = base64.b64encode(b"x" * 32).decode()


def cfg(*keys, provider="aescbc", material=None):
    material = material or {"key1": KA, "key2": KN}
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": ["secrets"],
                           "providers": [{provider: {"keys": [{"name": k, "secret": material[k]} for k in keys]}},
                                         {"identity": {}}]}]}


def names(config):
    return [k["name"] for k in config["resources"][0]["providers"][0]["aescbc"]["keys"]]


def test_summarize_the_projects_own_configuration():
    s = E.summarize(_kubeadm.encryption_config(KA))
    assert (s["provider"], s["names"], s["secrets"]) == ("aescbc", ["key1"], {"key1": KA})


@pytest.mark.parametrize("config,needle", [
    ({"kind": "Other"}, "not an EncryptionConfiguration"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["configmaps"], "providers": [{"identity": {}}]}]},
     "no resources entry covers secrets"),
    ({"kind": "EncryptionConfiguration",
      "resources": [{"resources": ["secrets"], "providers": [{"identity": {}}, cfg("key1")["resources"][0]["providers"][0]]}]},
     "identity is the first provider"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": [{"kms": {"name": "k"}}]}]},
     "rotated in the KMS plugin"),
    ({"kind": "EncryptionConfiguration", "resources": [{"resources": ["secrets"], "providers": [{"aescbc": {"keys": []}}]}]},
     "has no keys"),
])
def test_summarize_refuses(config, needle):
    with pytest.raises(GroundworkError) as exc:
        E.summarize(config)
    assert needle in exc.value.msg


# (start keys, step, through) -> keys after, or the error's text
@pytest.mark.parametrize("start,step,through,want", [
    (["key1"], "add", False, ["key1", "key2"]),
    (["key1", "key2"], "add", False, ["key1", "key2"]),          # idempotent
    (["key2", "key1"], "add", False, ["key2", "key1"]),          # already past it
    (["key2"], "add", False, ["key2"]),
    (["key1", "key2"], "promote", False, ["key2", "key1"]),
    (["key2", "key1"], "promote", False, ["key2", "key1"]),
    (["key1"], "promote", False, "needs step add done first"),
    (["key1"], "promote", True, ["key2", "key1"]),               # check mode: the steps before assumed
    (["key2", "key1"], "remove", False, ["key2"]),
    (["key2"], "remove", False, ["key2"]),
    (["key1", "key2"], "remove", False, "needs step promote done first"),
    (["key1"], "remove", True, ["key2"]),
    (["key1", "other"], "add", False, "expected the keys of the rotation from key1 to key2"),
])
def test_apply_step(start, step, through, want):
    material = {"key1": KA, "key2": KN, "other": KX}
    config = cfg(*start, material=material)
    if isinstance(want, str):
        with pytest.raises(GroundworkError) as exc:
            E.apply_step(config, step, "key1", "key2", KN, through=through)
        assert want in exc.value.msg and KA not in exc.value.msg and KN not in exc.value.msg
        return
    out, before, after = E.apply_step(config, step, "key1", "key2", KN, through=through)
    assert before == start and after == want and names(out) == want
    # the key material of each name is kept; identity stays behind the keyed provider
    assert all(k["secret"] == material[k["name"]] for k in out["resources"][0]["providers"][0]["aescbc"]["keys"])
    assert out["resources"][0]["providers"][1] == {"identity": {}}
    assert names(config) == start  # input untouched


def test_add_keeps_the_material_a_file_already_has():
    out, _b, _a = E.apply_step(cfg("key1", "key2"), "promote", "key1", "key2", KX)
    assert {k["name"]: k["secret"] for k in out["resources"][0]["providers"][0]["aescbc"]["keys"]} == {"key1": KA, "key2": KN}


@pytest.mark.parametrize("secret,provider,ok", [
    (KN, "aescbc", True), (KN, "secretbox", True), (base64.b64encode(b"s" * 16).decode(), "secretbox", False),
    (base64.b64encode(b"s" * 16).decode(), "aesgcm", True), ("not base64!", "aescbc", False),
])
def test_check_secret(secret, provider, ok):
    if ok:
        E.check_secret(secret, provider)
    else:
        with pytest.raises(GroundworkError):
            E.check_secret(secret, provider)


def test_new_secret_is_32_random_bytes():
    assert base64.b64decode(E.new_secret()) != base64.b64decode(E.new_secret())
    assert len(base64.b64decode(E.new_secret())) == 32
    assert E.new_secret(lambda n: b"\x01" * n) == base64.b64encode(b"\x01" * 32).decode()


@pytest.mark.parametrize("name,ok", [("key-20261206", True), ("k1", True), ("", False), ("a:b", False), ("-x", False),
                                     ("x" * 64, False)])
def test_key_names(name, ok):
    if ok:
        E.check_key_name(name)
    else:
        with pytest.raises(GroundworkError) as exc:
            E.check_key_name(name)
        assert "rotate_encryption_key_name" in exc.value.msg


# --------------------------------------------------------------------------- plan
def info(*keys, provider="aescbc", record=None, material=None, error=""):
    material = material or {"key1": KA, "key2": KN}
    if error:
        return {"error": error, "keys": [], "secrets": {}, "record": record or {}}
    return {"error": "", "provider": provider, "keys": list(keys), "secrets": {k: material[k] for k in keys},
            "record": record or {}}


ROT = {"old": "key1", "new": "key2", "state": "rotating"}
DONE = {"old": "key1", "new": "key2", "state": "done"}
H = ["cp1", "cp2", "cp3"]


@pytest.mark.parametrize("infos,requested,want", [
    # a fresh rotation
    ({h: info("key1") for h in H}, "key2", dict(old="key1", new="key2", start=True, rewrite=True, done=False)),
    # nothing to do: the asked name is the only key everywhere (the re-run after a rotation)
    ({h: info("key2", record=DONE) for h in H}, "key2", dict(new="key2", start=False, done=True)),
    # another name rotates again, from key2
    ({h: info("key2", record=DONE) for h in H}, "key3", dict(old="key2", new="key3", start=True, done=False)),
    # record written, nothing added yet: starts over (the record is rewritten with the name asked now)
    ({h: info("key1", record=ROT) for h in H}, "key9", dict(old="key1", new="key9", start=True)),
    # stopped in step 1 (cp1 has both keys)
    ({"cp1": info("key1", "key2", record=ROT), "cp2": info("key1", record=ROT), "cp3": info("key1", record=ROT)},
     "key2", dict(old="key1", new="key2", start=False, rewrite=True, levels={"cp1": 1, "cp2": 0, "cp3": 0})),
    # stopped in step 2; a different name asked: the rotation in progress is finished first
    ({"cp1": info("key2", "key1", record=ROT), "cp2": info("key1", "key2", record=ROT), "cp3": info("key1", "key2", record=ROT)},
     "key7", dict(old="key1", new="key2", rewrite=True, levels={"cp1": 2, "cp2": 1, "cp3": 1})),
    # stopped in step 4: the rewrite was done before the first removal
    ({"cp1": info("key2", record=ROT), "cp2": info("key2", "key1", record=ROT), "cp3": info("key2", "key1", record=ROT)},
     "key2", dict(old="key1", new="key2", rewrite=False, levels={"cp1": 3, "cp2": 2, "cp3": 2})),
    # every file done, the record still open: close it
    ({h: info("key2", record=ROT) for h in H}, "key-x", dict(old="key1", new="key2", done=False, rewrite=False, start=False)),
])
def test_plan(infos, requested, want):
    p = E.plan(infos, H, requested)
    assert p["errors"] == []
    for k, v in want.items():
        assert p[k] == v, k
    text = " ".join(p["lines"])
    assert KA not in text and KN not in text


@pytest.mark.parametrize("infos,needle", [
    ({"cp1": info("key1"), "cp2": info(error="/etc/kubernetes/encryption/config.yaml does not exist"), "cp3": info("key1")},
     "cp2: /etc/kubernetes/encryption/config.yaml does not exist"),
    ({"cp1": info("key1"), "cp2": info("key1", provider="secretbox"), "cp3": info("key1")}, "different providers"),
    ({"cp1": info("key1"), "cp2": info("key1", material={"key1": KX}), "cp3": info("key1")},
     "key key1 has different key material on cp1 and cp2"),
    # two keys and no record: which one is new cannot be told
    ({"cp1": info("key1", "key2"), "cp2": info("key1"), "cp3": info("key1")}, "no rotation record"),
    # a step skipped: cp1 has only the new key while cp3 has only the old one
    ({"cp1": info("key2", record=ROT), "cp2": info("key2", "key1", record=ROT), "cp3": info("key1", record=ROT)},
     "more than one step apart"),
    ({"cp1": info("key1", "key2", "key3", material={"key1": KA, "key2": KN, "key3": KX}), "cp2": info("key1"),
      "cp3": info("key1")}, "cp1 has 3 keys"),
])
def test_plan_refuses(infos, needle):
    p = E.plan(infos, H, "key2")
    assert any(needle in e for e in p["errors"]), p["errors"]
    assert not any(KA in e or KN in e or KX in e for e in p["errors"])


def test_plan_refuses_a_bad_name_before_anything():
    p = E.plan({h: info("key1") for h in H}, H, "bad:name")
    assert p["errors"] and "rotate_encryption_key_name" in p["errors"][0]


def test_chosen_secret_resumes_with_the_key_on_the_control_planes():
    infos = {"cp1": info("key1", "key2", record=ROT), "cp2": info("key1"), "cp3": info("key1")}
    assert E.chosen_secret(infos, H, "key2") == KN
    fresh = E.chosen_secret({h: info("key1") for h in H}, H, "key2", random=lambda n: b"z" * n)
    assert fresh == base64.b64encode(b"z" * 32).decode()


# --------------------------------------------------------------------------- rewrite
def test_secret_batches_by_namespace():
    items = [{"metadata": {"namespace": ns, "name": "s%d" % i}} for i, ns in enumerate(["b", "a", "a", "a"])]
    batches, total = E.secret_batches({"items": items}, batch=2)
    assert total == 4
    assert [(ns, len(doc["items"])) for ns, doc in batches] == [("a", 2), ("a", 1), ("b", 1)]
    assert all(doc["kind"] == "List" for _ns, doc in batches)


def test_classify_replace():
    out = "secret/a replaced\nsecret/b replaced\n"
    err = ('Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on secrets "c": '
           'the object has been modified; please apply your changes to the latest version and try again\n'
           'Error from server (NotFound): error when replacing "STDIN": secrets "d" not found\n'
           'Error from server (Forbidden): error when replacing "STDIN": secrets "e" is forbidden: nope\n')
    r = E.classify_replace("ns1", out, err)
    assert (r["replaced"], r["conflict"], r["gone"], r["failed"]) == (2, 1, 1, 1)
    assert r["errors"][0].startswith("ns1: Error from server (Forbidden)")


@pytest.mark.parametrize("mtime,started,want", [(100.0, 90.0, True), (100.0, 130.5, False), (100.0, None, True)])
def test_restart_needed(mtime, started, want):
    assert E.restart_needed(mtime, started) is want


def test_process_start():
    line = "1234 (kube-apiserver) S 1 1234 1234 0 -1 4194560 1 0 0 0 5 3 0 0 20 0 12 0 25000 0 0"
    assert E.process_start(line, 1_000_000, 100) == 1_000_000 + 250.0
