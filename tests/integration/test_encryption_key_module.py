# -*- coding: utf-8 -*-
"""groundwork.k8s.encryption_key through ansible-playbook on a real EncryptionConfiguration file (the one the
control_plane role writes): check mode writes nothing and shows key names; each step changes once, then not;
a step out of order is refused; the file stays 0600; the key material is in no output of the steps."""
from __future__ import annotations

import base64
import json
import os
import stat
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcd_helpers as h  # noqa: E402

from ansible_collections.groundwork.k8s.plugins.module_utils import _kubeadm  # noqa: E402

OLD = base64.b64encode(b"o" * 32).decode()
NEW = base64.b64encode(os.urandom(32)).decode()


def _run(work, args, check=False):
    play = [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "step", "groundwork.k8s.encryption_key": args, "register": "r"}]}]
    rc, out, results = h.ansible_playbook(json.dumps(play), work, check=check, diff=True)
    return rc, out, (results[0][1] if results else {})


def _names(path):
    with open(path) as f:
        c = yaml.safe_load(f)
    return [k["name"] for k in c["resources"][0]["providers"][0]["aescbc"]["keys"]]


def test_steps_check_mode_idempotence_and_order():
    work = tempfile.mkdtemp(prefix="gw-enckey-")
    try:
        cfg = os.path.join(work, "config.yaml")
        rec = os.path.join(work, "rotation.json")
        with open(cfg, "w") as f:
            yaml.safe_dump(_kubeadm.encryption_config(OLD), f)
        os.chmod(cfg, 0o600)
        base = {"path": cfg, "record_path": rec, "old": "key1", "new": "key2"}
        outputs = []

        rc, out, r = _run(work, {"step": "info", "path": cfg, "record_path": rec})
        assert rc == 0 and r["keys"] == ["key1"] and r["provider"] == "aescbc" and r["error"] == ""

        # out of order: promote before add is refused, nothing written
        before = open(cfg).read()
        rc, out, r = _run(work, dict(base, step="promote"))
        assert rc != 0 and "needs step add done first" in out
        assert open(cfg).read() == before

        # check mode of the whole way: names in the diff, nothing written
        rc, out, r = _run(work, dict(base, step="remove", secret=NEW), check=True)
        outputs.append(out)
        assert rc == 0 and r["changed"] and r["keys"] == ["key2"]
        assert r["diff"]["before"] == "aescbc keys: key1\n" and r["diff"]["after"] == "aescbc keys: key2\n"
        assert open(cfg).read() == before and not os.path.exists(rec)

        rc, out, r = _run(work, dict(base, step="record"))
        assert rc == 0 and r["changed"] and json.load(open(rec))["state"] == "rotating"
        for step, want in (("add", ["key1", "key2"]), ("promote", ["key2", "key1"]), ("remove", ["key2"])):
            args = dict(base, step=step, secret=NEW) if step == "add" else dict(base, step=step)
            rc, out, r = _run(work, args)
            outputs.append(out)
            assert rc == 0 and r["changed"] and r["keys"] == want and _names(cfg) == want, out[-2000:]
            assert r["diff"]["after"] == "aescbc keys: %s\n" % ", ".join(want)
            assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
            rc, out, r = _run(work, args)
            outputs.append(out)
            assert rc == 0 and not r["changed"], step
        with open(cfg) as f:
            keys = yaml.safe_load(f)["resources"][0]["providers"][0]["aescbc"]["keys"]
        assert keys == [{"name": "key2", "secret": NEW}]
        rc, out, r = _run(work, dict(base, step="finish"))
        assert rc == 0 and r["changed"] and json.load(open(rec))["state"] == "done"
        assert stat.S_IMODE(os.stat(rec).st_mode) == 0o600
        assert not any(NEW in o or OLD in o for o in outputs)
    finally:
        h.cleanup_dir(work)
