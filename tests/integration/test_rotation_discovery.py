# -*- coding: utf-8 -*-
"""Discovery during a CA rotation: role cert_rotation's cluster_info tasks through ansible-playbook, with a kubectl
stand-in that keeps the kube-public cluster-info ConfigMap in a file. In each phase's bundle (old + new, new + old,
new) the ConfigMap ends up carrying exactly this node's ca.crt, a second run changes nothing, and the hashes a join
pins (kubeadm_token: every CA of the first control plane's ca.crt) match a CA of cluster-info as kubeadm checks them
(any pin against any CA). The real join after each phase is the real lane's part fault."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKI = os.path.join(ROOT, "tests", "fixtures", "kubeadm", "pki")
sys.path.insert(0, os.path.join(ROOT, ".collections"))
from ansible_collections.groundwork.k8s.plugins.module_utils import _kubeadm as K  # noqa: E402

OLD = open(os.path.join(PKI, "rsa-2048", "certs", "ca.crt")).read()
NEW = open(os.path.join(PKI, "ecdsa-p256", "certs", "ca.crt")).read()

KUBECTL = r'''#!/usr/bin/env python3
import json, sys
store = sys.argv[0] + ".json"
args = sys.argv[1:]
cm = json.load(open(store))
if "patch" in args:
    patch = json.loads(args[-1])
    cm["data"].update(patch["data"])
    json.dump(cm, open(store, "w"))
    print("configmap/cluster-info patched")
else:
    print(json.dumps(cm))
'''


def _cm(ca_pem):
    kubeconfig = yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "", "cluster": {
        "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(), "server": "https://10.0.0.1:6443"}}],
        "contexts": None, "current-context": "", "preferences": {}, "users": None})
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": "signature"}}


def _run(tmp):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "ansible.builtin.include_role": {"name": "groundwork.k8s.cert_rotation", "tasks_from": "cluster_info"},
        "vars": {"cert_rotation_kubectl": str(tmp / "kubectl"), "cert_rotation_pki_dir": str(tmp / "pki"),
                 "cert_rotation_kubeconfig_dir": str(tmp)}}]}]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    p = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        "-e", "ansible_python_interpreter=" + sys.executable, str(tmp / "play.yml")],
                       capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    return int(p.stdout.rsplit("changed=", 1)[1].split()[0])


def _cluster_info_cas(tmp):
    cm = json.load(open(str(tmp / "kubectl") + ".json"))
    assert cm["data"]["jws-kubeconfig-abcdef"] == "signature"  # the other keys are left alone (the signer re-signs)
    kc = yaml.safe_load(cm["data"]["kubeconfig"])
    assert kc["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:6443"
    return base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()


@pytest.mark.parametrize("phase, bundle", [("trusted", OLD + NEW), ("reissued", NEW + OLD), ("retired", NEW)])
def test_cluster_info_follows_the_first_control_planes_bundle(tmp_path, phase, bundle):
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_text(bundle)
    (tmp_path / "kubectl").write_text(KUBECTL)
    (tmp_path / "kubectl").chmod(0o755)
    before = OLD if phase == "trusted" else (OLD + NEW if phase == "reissued" else NEW + OLD)
    (tmp_path / "kubectl.json").write_text(json.dumps(_cm(before)))
    pins_before = K.ca_cert_hashes(before)
    assert _run(tmp_path) == 1
    assert _cluster_info_cas(tmp_path) == bundle
    assert _run(tmp_path) == 0
    # kubeadm join: accepted when any pinned hash matches any CA in cluster-info
    pins = K.ca_cert_hashes(bundle)
    cas = set(K.ca_cert_hashes(_cluster_info_cas(tmp_path)))
    assert set(pins) <= cas
    if phase == "retired":
        # the old CA is gone from discovery: a join pinning only the old CA is refused, as it must be
        assert K.ca_cert_hash(OLD) not in cas and K.ca_cert_hash(OLD) in pins_before
