# -*- coding: utf-8 -*-
"""_kubeadm: rendering compared with the recorded configs, tokens, versions, pinning, decisions, argv."""
from __future__ import annotations

import base64
import datetime
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import FIXTURES, ROOT
from ansible_collections.groundwork.k8s.plugins.module_utils import _kubeadm as k
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError

FIX = os.path.join(FIXTURES, "kubeadm")
NOW = datetime.datetime(2026, 11, 21, 22, 0, 0, tzinfo=datetime.timezone.utc)


def fixture(*parts):
    with open(os.path.join(FIX, *parts)) as f:
        return f.read()


def docs(name):
    return [d for d in yaml.safe_load_all(fixture("configs", name)) if d]


LAB_INPUTS = {
    "node_name": "cp1", "advertise_address": "10.250.0.2", "bind_port": 6443,
    "cri_socket": "unix:///run/containerd/containerd.sock",
    "kubelet_extra_args": {"cgroup-root": "/lab-cp1", "node-ip": "10.250.0.2"},
    "patches_dir": "/etc/kubernetes/patches", "cluster_name": "groundwork-lab",
    "kubernetes_version": "v1.35.0-alpha.1", "control_plane_endpoint": "lb.example.internal:6443",
    "cert_sans": ["10.250.0.10", "api.example.internal"], "service_subnet": "10.96.0.0/12",
    "pod_subnet": "10.244.0.0/16", "dns_domain": "cluster.local",
    "etcd": {"mode": "stacked", "image_tag": "3.4.23-0"},
    "kubelet_config": {"cgroupDriver": "cgroupfs", "oomScoreAdj": 0},
    "kube_proxy_config": {"oomScoreAdj": 0, "conntrack": {"maxPerCore": 0}},
}


def test_render_init_matches_the_recorded_lab_config():
    init, cluster, kubelet, proxy = k.render_init(LAB_INPUTS)
    want = docs("cluster-init.yaml")
    assert init == want[0]
    for key in ("apiVersion", "kind", "clusterName", "kubernetesVersion", "controlPlaneEndpoint", "networking"):
        assert cluster[key] == want[1][key], key
    assert cluster["apiServer"]["certSANs"] == want[1]["apiServer"]["certSANs"]
    assert cluster["etcd"]["local"]["imageTag"] == want[1]["etcd"]["local"]["imageTag"]
    assert {k_: kubelet[k_] for k_ in want[2]} == want[2]
    assert proxy["conntrack"] == want[3]["conntrack"] and proxy["mode"] == "iptables"


def test_render_init_hardening():
    cluster, kubelet = k.render_init(LAB_INPUTS)[1:3]
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert args["enable-admission-plugins"] == "NodeRestriction"
    assert args["audit-policy-file"] == "/etc/kubernetes/audit/policy.yaml"
    assert args["audit-log-path"].startswith("/var/log/kubernetes/audit/")
    assert args["encryption-provider-config"] == "/etc/kubernetes/encryption/config.yaml"
    assert args["admission-control-config-file"] == "/etc/kubernetes/admission/admission.yaml"
    assert args["profiling"] == "false"
    assert args["authentication-config"] == "/etc/kubernetes/authentication/config.yaml"
    mounts = {v["mountPath"]: v["readOnly"] for v in cluster["apiServer"]["extraVolumes"]}
    assert mounts == {"/etc/kubernetes/audit": True, "/var/log/kubernetes/audit": False,
                      "/etc/kubernetes/encryption": True, "/etc/kubernetes/admission": True,
                      "/etc/kubernetes/authentication": True}
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authorization"]["mode"] == "Webhook"


def test_render_init_external_etcd_and_overrides():
    p = dict(LAB_INPUTS, etcd={"mode": "external", "endpoints": ["https://10.250.0.7:2379"]},
             apiserver_extra_args={"profiling": "true", "v": "2"}, key_type="ecdsa256",
             hardening={"audit": False, "encryption": False, "pod_security": False, "authentication_config": False})
    cluster = k.render_init(p)[1]
    assert cluster["etcd"] == {"external": {"endpoints": ["https://10.250.0.7:2379"],
                                            "caFile": "/etc/kubernetes/pki/etcd/ca.crt",
                                            "certFile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
                                            "keyFile": "/etc/kubernetes/pki/apiserver-etcd-client.key"}}
    assert cluster["encryptionAlgorithm"] == "ECDSA-P256"
    assert cluster["apiServer"]["extraArgs"] == [{"name": "enable-admission-plugins", "value": "NodeRestriction"},
                                                 {"name": "profiling", "value": "true"}, {"name": "v", "value": "2"}]
    assert cluster["apiServer"]["extraVolumes"] == []


# OIDC: --authentication-config (and its directory, mounted so a rewritten file reaches the pod) from install on
# every version that reads it without a feature gate (v1.30+), so issuers are added later without a restart.
@pytest.mark.parametrize("version,hardening,want", [
    ("v1.33.3", {}, True),
    ("v1.30.0", {}, True),
    ("v1.35.0", {}, True),
    ("v1.29.9", {}, False),
    ("v1.33.3", {"authentication_config": False}, False),
])
def test_render_init_authentication_config(version, hardening, want):
    cluster = k.render_init(dict(LAB_INPUTS, kubernetes_version=version, hardening=hardening))[1]
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    vols = {v["name"]: v for v in cluster["apiServer"]["extraVolumes"]}
    assert ("authentication-config" in args) is want
    if want:
        assert args["authentication-config"] == "/etc/kubernetes/authentication/config.yaml"
        assert vols["authentication-config"] == {"name": "authentication-config", "hostPath": "/etc/kubernetes/authentication",
                                                 "mountPath": "/etc/kubernetes/authentication", "readOnly": True,
                                                 "pathType": "DirectoryOrCreate"}
    else:
        assert "authentication-config" not in vols


@pytest.mark.parametrize("p,msg", [
    (dict(LAB_INPUTS, etcd={"mode": "external", "endpoints": []}), "external etcd needs"),
    (dict(LAB_INPUTS, etcd={"mode": "raft"}), "etcd mode"),
    (dict(LAB_INPUTS, key_type="rsa1024"), "unknown key type"),
    (dict(LAB_INPUTS, kubelet_extra_args=["x"]), "extra args"),
])
def test_render_init_refuses(p, msg):
    with pytest.raises(GroundworkError, match=msg):
        k.render_init(p)


JOIN = {"api_server_endpoint": "lb.example.internal:6443", "token": "nhg95e.iar37r2mrxolygjj",
        "ca_cert_hashes": ["sha256:c99143f1b5624a948a58977513451547913036ffd324f0e13dfb07cdd2af85cb"],
        "node_name": "w1", "cri_socket": "unix:///run/containerd/containerd.sock",
        "kubelet_extra_args": {"cgroup-root": "/lab-w1", "node-ip": "10.250.0.3"}}


def test_render_join_matches_recorded_worker_and_control_plane():
    assert k.render_join(JOIN) == docs("join-worker-w1.yaml")
    cp = dict(JOIN, node_name="cp2", control_plane=True, advertise_address="10.250.0.4",
              certificate_key="d09878d0784456b114d2923958b3584fc66d7ef2a665b321c9b4ac55a4ac0a99",
              kubelet_extra_args={"cgroup-root": "/lab-cp2", "node-ip": "10.250.0.4"}, patches_dir="/etc/kubernetes/patches")
    assert k.render_join(cp) == docs("join-control-plane-cp2.yaml")


@pytest.mark.parametrize("change,msg", [
    ({"ca_cert_hashes": []}, "always pins"),
    ({"ca_cert_hashes": ["sha256:1234"]}, "not sha256"),
    ({"token": "abc.def"}, "token must match"),
    ({"api_server_endpoint": "lb.example.internal"}, "host:port"),
])
def test_render_join_refuses(change, msg):
    with pytest.raises(GroundworkError, match=msg):
        k.render_join(dict(JOIN, **change))


def test_ignore_preflight_errors_rendered_in_init_and_join():
    init = k.render_init(dict(LAB_INPUTS, ignore_preflight_errors=["HTTPProxyCIDR", "Port-10250"]))[0]
    assert init["nodeRegistration"]["ignorePreflightErrors"] == ["HTTPProxyCIDR", "Port-10250"]
    join = k.render_join(dict(JOIN, ignore_preflight_errors=["HTTPProxyCIDR"]))[0]
    assert join["nodeRegistration"]["ignorePreflightErrors"] == ["HTTPProxyCIDR"]
    assert "ignorePreflightErrors" not in k.render_join(JOIN)[0]["nodeRegistration"]


@pytest.mark.parametrize("names", [["all"], ["ALL"], ["HTTPProxyCIDR", "all"], ["bad name"], [""]])
def test_ignore_preflight_errors_refuses_all_and_non_names(names):
    with pytest.raises(GroundworkError, match="refused: name each kubeadm preflight check"):
        k.render_join(dict(JOIN, ignore_preflight_errors=names))


@pytest.mark.parametrize("kind", ["init", "join"])
def test_rendered_configs_pass_kubeadm_validate_in_the_double(tmp_path, kind):
    """The recorded kubeadm accepts these shapes; the double checks strict fields and values the same way."""
    rendered = k.render_init(LAB_INPUTS) if kind == "init" else k.render_join(JOIN)
    path = tmp_path / "c.yaml"
    path.write_text(k.dump_docs(rendered))
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "doubles", "fake_kubeadm"), "config", "validate",
                        "--config", str(path)], capture_output=True, text=True, check=False)
    assert (p.returncode, p.stdout, p.stderr) == (0, "ok\n", "")
    assert list(yaml.safe_load_all(path.read_text())) == rendered  # JSON documents are valid YAML


def test_hardening_documents():
    key = base64.b64encode(b"k" * 32).decode()
    enc = k.encryption_config(key)
    assert enc["resources"][0]["providers"][0]["aescbc"]["keys"][0]["secret"] == key
    assert enc["resources"][0]["providers"][-1] == {"identity": {}}
    with pytest.raises(GroundworkError, match="32 bytes"):
        k.encryption_config(base64.b64encode(b"short").decode())
    adm = k.admission_config("restricted", ["kube-system"])
    assert adm["plugins"][0]["configuration"]["defaults"]["enforce"] == "restricted"
    assert k.audit_policy()["rules"][-1] == {"level": "Metadata"}


# ------------------------------------------------------------------------------ pinning
@pytest.mark.parametrize("pem_file", ["rsa-2048/certs/ca.crt", "ecdsa-p256/certs/ca.crt"])
def test_ca_cert_hash_matches_openssl(pem_file):
    pem = fixture("pki", *pem_file.split("/"))
    p1 = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=pem, capture_output=True, text=True, check=True)
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=p1.stdout.encode(),
                         capture_output=True, check=True).stdout
    import hashlib
    assert k.ca_cert_hash(pem) == "sha256:" + hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("order", [("rsa-2048", "ecdsa-p256"), ("ecdsa-p256", "rsa-2048")])
def test_ca_cert_hashes_pin_every_ca_of_a_rotation_bundle(order):
    # phase 1 (old + new) and phase 2 (new + old) of a CA rotation: both pinned, in file order, no repeats
    pems = [fixture("pki", name, "certs", "ca.crt") for name in order]
    pems = [p.decode() if isinstance(p, bytes) else p for p in pems]
    assert k.ca_cert_hashes(pems[0] + pems[1] + pems[0]) == [k.ca_cert_hash(pems[0]), k.ca_cert_hash(pems[1])]
    assert k.ca_cert_hashes(pems[1]) == [k.ca_cert_hash(pems[1])]
    with pytest.raises(k.GroundworkError, match="no PEM"):
        k.ca_cert_hashes("not a certificate")


def test_ca_cert_hash_of_the_recorded_cluster_is_the_recorded_pin():
    data = re.search(r"certificate-authority-data: (\S+)", fixture("cluster", "api", "cm-cluster-info.stdout")).group(1)
    pin = re.search(r"--discovery-token-ca-cert-hash (\S+)", fixture("cluster", "cp1", "token-create-print-join-command.stdout")).group(1)
    assert k.ca_cert_hash(base64.b64decode(data)) == pin


# ------------------------------------------------------------------------------ tokens
def test_parse_token_list_concatenated_objects():
    toks = k.parse_token_list(fixture("cluster", "cp1", "token-list-json.stdout"))
    assert [t["token"][:6] for t in toks] == ["036kg5", "190tx2", "ei2yv3", "nhg95e"]
    assert toks[0]["description"] == "fixture token" and "description" not in toks[1]
    assert k.parse_token_list("") == [] and k.parse_token_list("[{\"token\": \"a\"}]") == [{"token": "a"}]
    with pytest.raises(GroundworkError, match="cannot parse"):
        k.parse_token_list("{\"a\": 1}{broken")


TOKS = [
    {"token": "aaaaaa.aaaaaaaaaaaaaaaa", "description": "groundwork join", "expires": "2026-11-21T22:10:00Z",
     "usages": ["authentication", "signing"], "groups": [k.TOKEN_GROUP]},
    {"token": "bbbbbb.bbbbbbbbbbbbbbbb", "description": "groundwork join", "expires": "2026-11-21T23:30:00Z",
     "usages": ["authentication", "signing"], "groups": [k.TOKEN_GROUP]},
    {"token": "cccccc.cccccccccccccccc", "description": "other", "expires": "2026-11-22T23:30:00Z",
     "usages": ["authentication", "signing"], "groups": [k.TOKEN_GROUP]},
    {"token": "dddddd.dddddddddddddddd", "description": "groundwork join", "expires": "2026-11-22T23:30:00Z",
     "usages": ["signing"], "groups": [k.TOKEN_GROUP]},
]


@pytest.mark.parametrize("min_ttl,want", [(0, "bbbbbb"), (1800, "bbbbbb"), (5400, "bbbbbb"), (5401, None)])
def test_pick_reusable_token(min_ttl, want):
    got = k.pick_reusable_token(TOKS, "groundwork join", min_ttl, NOW)
    assert (got["token"][:6] if got else None) == want


@pytest.mark.parametrize("text,secs", [("2h", 7200), ("30m", 1800), ("1h30m0s", 5400), ("90", 90), (45, 45)])
def test_duration_seconds(text, secs):
    assert k.duration_seconds(text) == secs


def test_new_token_format_and_redaction():
    t = k.new_token()
    assert k.TOKEN_RE.match(t)
    assert k.redact("kubeadm join x --token %s --x" % t) == "kubeadm join x --token %s.<redacted> --x" % t[:6]


# ------------------------------------------------------------------------------ versions, errors, decisions
@pytest.mark.parametrize("text,want", [
    (None, "v1.35.0-alpha.1"), ("v1.35.0-alpha.1\n", "v1.35.0-alpha.1"), ("v1.34.2", "v1.34.2"), ("1.33.0", "v1.33.0"),
])
def test_parse_version(text, want):
    text = fixture("version", "version-json.stdout") if text is None else text
    assert k.parse_version(text)["version"] == want


@pytest.mark.parametrize("stderr_file,want", [
    ("w1/join-wrong-ca-cert-hash.stderr", "none of the public keys"),
    ("w1/join-malformed-ca-cert-hash.stderr", "expected a 32 byte SHA-256 hash, found 2 bytes"),
    ("w2/join-nonexistent-token.stderr", 'could not find a JWS signature in the cluster-info ConfigMap for token ID "0fixt0"'),
    ("w1/kubeadm-join-rerun.stderr", "preflight checks failed"),
])
def test_kubeadm_error_is_kubeadm_own_line(stderr_file, want):
    assert want in k.kubeadm_error(fixture("cluster", *stderr_file.split("/")))


@pytest.mark.parametrize("kubelet_conf,registered,cp,manifest,action", [
    (False, None, False, False, "join"), (False, True, False, False, "join"),
    (True, True, False, False, "none"), (True, None, False, False, "none"),
    (True, False, False, False, "fail"), (True, True, True, False, "fail"), (True, True, True, True, "none"),
])
def test_join_decision(kubelet_conf, registered, cp, manifest, action):
    assert k.join_decision(kubelet_conf, registered, cp, manifest)[0] == action


def test_initialised_needs_admin_conf_and_manifest():
    assert not k.initialised({"admin_conf": True, "apiserver_manifest": False})
    assert k.initialised({"admin_conf": True, "apiserver_manifest": True})


# ------------------------------------------------------------------------------ actions with a recorder
class Recorder(object):
    def __init__(self, replies):
        self.replies = list(replies)
        self.calls = []

    def __call__(self, argv, environ_update=None, data=None):
        self.calls.append(argv)
        assert environ_update["LC_ALL"] == "C"
        return self.replies.pop(0)


def test_token_action_reuses_then_creates():
    listing = "".join(json.dumps(t, indent=4) + "\n" for t in TOKS)
    rec = Recorder([(0, listing, "")])
    p = {"state": "present", "description": "groundwork join", "ttl": "2h", "min_ttl": "30m",
         "usages": ["authentication", "signing"], "groups": [k.TOKEN_GROUP], "kubeconfig": "/etc/kubernetes/admin.conf",
         "api_server_endpoint": "lb:6443"}
    pem = fixture("pki", "rsa-2048", "certs", "ca.crt")
    res = k.token_action(p, k.Kubeadm("kubeadm", run_command=rec), False, now=NOW, ca_pem=pem)
    assert res["changed"] is False and res["reused"] and res["token_id"] == "bbbbbb"
    assert res["join"]["ca_cert_hashes"] == [k.ca_cert_hash(pem)]
    assert rec.calls == [["kubeadm", "token", "list", "-o", "json", "--kubeconfig", "/etc/kubernetes/admin.conf"]]
    rec = Recorder([(0, listing, ""), (0, "x\n", "")])
    res = k.token_action(dict(p, min_ttl="100m"), k.Kubeadm("kubeadm", run_command=rec), False, now=NOW)
    assert res["changed"] and not res["reused"]
    assert rec.calls[1][:3] == ["kubeadm", "token", "create"] and rec.calls[1][3] == res["token"]
    assert rec.calls[1][4:] == ["--ttl", "7200s", "--description", "groundwork join", "--usages", "authentication,signing",
                                "--groups", k.TOKEN_GROUP, "--kubeconfig", "/etc/kubernetes/admin.conf"]
    rec = Recorder([(0, listing, "")])
    res = k.token_action(dict(p, min_ttl="100m"), k.Kubeadm("kubeadm", run_command=rec), True, now=NOW)
    assert res["changed"] and len(rec.calls) == 1  # check mode: listed, nothing created


def test_token_action_absent():
    listing = "".join(json.dumps(t) for t in TOKS)
    rec = Recorder([(0, listing, ""), (0, "", "")])
    p = {"state": "absent", "description": "groundwork join", "kubeconfig": "/a", "token": None}
    res = k.token_action(p, k.Kubeadm("kubeadm", run_command=rec), False, now=NOW)
    assert res["deleted"] == ["aaaaaa", "bbbbbb", "dddddd"]
    assert rec.calls[1] == ["kubeadm", "token", "delete", "aaaaaa", "bbbbbb", "dddddd", "--kubeconfig", "/a"]


def join_params(tmp_path, **kw):
    p = dict(JOIN, control_plane=False, bind_port=6443, discovery_timeout="5m0s", skip_phases=[], node_registered=None,
             kubelet_conf=str(tmp_path / "kubelet.conf"), manifest_dir=str(tmp_path / "manifests"),
             config_path=str(tmp_path / "join.yaml"))
    p.update(kw)
    return p


def test_join_action_surfaces_kubeadm_message_and_removes_the_token_file(tmp_path):
    rec = Recorder([(1, fixture("cluster", "w1", "join-wrong-ca-cert-hash.stdout"),
                     fixture("cluster", "w1", "join-wrong-ca-cert-hash.stderr"))])
    written = {}

    def write(path, data, mode):
        written[path] = (data, mode)
        with open(path, "wb") as f:
            f.write(data)
    with pytest.raises(ToolError, match="none of the public keys"):
        k.join_action(join_params(tmp_path), k.Kubeadm("kubeadm", run_command=rec), False, write, os.unlink)
    assert rec.calls == [["kubeadm", "join", "--config", str(tmp_path / "join.yaml")]]
    assert not (tmp_path / "join.yaml").exists()
    data, mode = list(written.values())[0]
    assert mode == 0o600 and json.loads(data)["discovery"]["bootstrapToken"]["caCertHashes"] == JOIN["ca_cert_hashes"]


def test_join_action_already_joined_is_not_changed(tmp_path):
    (tmp_path / "kubelet.conf").write_text("x")
    rec = Recorder([])
    res = k.join_action(join_params(tmp_path, node_registered=True), k.Kubeadm("kubeadm", run_command=rec), False,
                        None, None)
    assert res["changed"] is False and rec.calls == []
    with pytest.raises(GroundworkError, match="no Node object"):
        k.join_action(join_params(tmp_path, node_registered=False), k.Kubeadm("kubeadm", run_command=rec), False, None, None)


def test_init_action_runs_once(tmp_path):
    p = {"config": k.render_init(LAB_INPUTS), "config_path": str(tmp_path / "kubeadm.yaml"),
         "kubeconfig_dir": str(tmp_path), "manifest_dir": str(tmp_path / "manifests"), "skip_phases": ["addon/coredns"],
         "validate": True}

    def write(path, data, mode):
        with open(path, "wb") as f:
            f.write(data)
    assert k.init_action(p, k.Kubeadm("kubeadm", run_command=Recorder([])), True, write)["changed"]
    assert not os.path.exists(p["config_path"])  # check mode wrote nothing
    rec = Recorder([(0, "ok\n", ""), (0, "[bootstrap-token] Using token: abcdef.0123456789abcdef\n", "")])
    res = k.init_action(p, k.Kubeadm("kubeadm", run_command=rec), False, write)
    assert res["changed"] and rec.calls[0] == ["kubeadm", "config", "validate", "--config", p["config_path"]]
    assert rec.calls[1] == ["kubeadm", "init", "--config", p["config_path"], "--skip-phases=addon/coredns"]
    assert res["stdout_lines"] == ["[bootstrap-token] Using token: abcdef.<redacted>"]
    (tmp_path / "admin.conf").write_text("x")
    os.makedirs(p["manifest_dir"])
    (tmp_path / "manifests" / "kube-apiserver.yaml").write_text("x")
    res = k.init_action(p, k.Kubeadm("kubeadm", run_command=Recorder([])), False, write)
    assert res["changed"] is False and res["config_drift"] is False


# ------------------------------------------------------------------------------ kubeadm's warnings, surfaced
def test_kubeadm_warnings_from_recorded_init():
    assert k.kubeadm_warnings(fixture("cluster", "cp1", "kubeadm-init.stderr")) == [
        "preflight SystemVerification: cgroups v1 support is in maintenance mode, please migrate to cgroups v2",
        "preflight Service-kubelet: kubelet service is not enabled, please run 'systemctl enable kubelet.service'",
        "[kubelet-start] WARNING: unable to stop the kubelet service momentarily: [exit status 1]",
        "[kubelet-start] WARNING: unable to start the kubelet service: [failed to reload systemd: exit status 1]",
        "[kubelet-start] WARNING: unable to restart the kubelet service momentarily: [failed to reload systemd: exit "
        "status 1]"]


def test_kubeadm_warnings_skip_etcd_client_retries_and_keep_the_kubeconfig_warning():
    stderr = fixture("cluster", "cp2", "kubeadm-join-control-plane.stderr") + (
        'W1014 15:59:53.929922   19002 kubeconfig.go:249] a kubeconfig file "/etc/kubernetes/scheduler.conf" exists '
        'already but has an unexpected API Server URL: expected: https://10.250.0.4:6443, got: '
        'https://lb.example.internal:6443\n')
    found = k.kubeadm_warnings(stderr)
    assert not [w for w in found if "retrying of unary invoker" in w]
    assert found[-1].startswith('a kubeconfig file "/etc/kubernetes/scheduler.conf" exists already but has an '
                                'unexpected API Server URL')
    assert len(found) == len(set(found))


def test_kubeadm_warnings_redact_tokens():
    found = k.kubeadm_warnings("W1121 21:05:18.928602   24978 token.go:1] token abcdef.0123456789abcdef expires\n")
    assert found and "0123456789abcdef" not in found[0]


def test_schedulable_control_plane_registers_without_taints():
    # single host / control planes only: taints [] (kubeadm then adds no control-plane taint); unset: kubeadm's default
    assert k.render_init(dict(LAB_INPUTS, taints=[]))[0]["nodeRegistration"]["taints"] == []
    assert "taints" not in k.render_init(LAB_INPUTS)[0]["nodeRegistration"]
    cp = dict(JOIN, node_name="cp2", control_plane=True, advertise_address="10.250.0.4", taints=[])
    assert k.render_join(cp)[0]["nodeRegistration"]["taints"] == []


@pytest.mark.parametrize("extra, dns, proxy", [
    ({}, False, False),
    ({"skip_phases": ["addon/coredns"]}, True, False),
    ({"skip_phases": ["addon/kube-proxy"]}, False, True),
    ({"skip_phases": ["addon"]}, True, True),
    ({"skip_phases": ["preflight"], "dns_disabled": True}, True, False),
])
def test_skipped_addon_phases_are_recorded_as_disabled_addons(extra, dns, proxy):
    # kubeadm upgrade apply reads the ClusterConfiguration kept in the cluster: an addon skipped at init but not
    # marked disabled made the real v1.33.2 -> v1.33.3 upgrade pull coredns:v1.12.0 in its preflight
    cluster = k.render_init(dict(LAB_INPUTS, **extra))[1]
    assert cluster.get("dns", {}).get("disabled", False) is dns
    assert cluster.get("proxy", {}).get("disabled", False) is proxy


def test_render_init_signing_pair_is_the_one_certificate_file():
    """controller-manager must not sign with ca.crt (a bundle during a CA rotation: v1.33 exits)."""
    cm = {a["name"]: a["value"] for a in
          k.render_init(dict(LAB_INPUTS, ca_signer_file="/etc/kubernetes/pki/ca-signer.crt"))[1]["controllerManager"]["extraArgs"]}
    assert cm["cluster-signing-cert-file"] == "/etc/kubernetes/pki/ca-signer.crt"
    assert cm["cluster-signing-key-file"] == "/etc/kubernetes/pki/ca.key"
    assert cm["profiling"] == "false"
    # an external CA (no ca.key): kubeadm's defaults; a user's own flag still wins
    assert "cluster-signing-cert-file" not in {a["name"] for a in
                                               k.render_init(dict(LAB_INPUTS, ca_signer_file=""))[1]["controllerManager"]["extraArgs"]}
    mine = k.render_init(dict(LAB_INPUTS, ca_signer_file="/etc/kubernetes/pki/ca-signer.crt",
                              controller_manager_extra_args={"cluster-signing-cert-file": "/srv/mine.crt"}))[1]
    assert {a["name"]: a["value"] for a in mine["controllerManager"]["extraArgs"]}["cluster-signing-cert-file"] == "/srv/mine.crt"
