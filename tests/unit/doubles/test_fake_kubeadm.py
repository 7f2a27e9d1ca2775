# -*- coding: utf-8 -*-
"""fake_kubeadm follows the recorded kubeadm contract: same stdout/stderr messages, same exit codes.

Runs the doubles as programs (FAKE_KUBE_ROOT = a temp dir for every node path) against a fake API
server (fake_kubelet's) on 127.0.0.1 with a freshly made CA, so discovery, JWS and pinning are real.
"""
from __future__ import annotations

import base64
import datetime
import importlib.machinery
import importlib.util
import ipaddress
import json
import os
import re
import subprocess
import sys
import threading

import pytest

from conftest import FIXTURES, ROOT  # noqa: F401  (tests/conftest.py)

cryptography = pytest.importorskip("cryptography")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

DOUBLES = os.path.join(ROOT, "tests", "doubles")
FIX = os.path.join(FIXTURES, "kubeadm")
KUBEADM = os.path.join(DOUBLES, "fake_kubeadm")


def run(args, root=None):
    env = dict(os.environ, LC_ALL="C")
    if root:
        env["FAKE_KUBE_ROOT"] = str(root)
    p = subprocess.run([sys.executable, KUBEADM] + args, capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=60, check=False)
    return p.returncode, p.stdout, p.stderr


def fixture(*parts):
    with open(os.path.join(FIX, *parts)) as f:
        return f.read()


def without_host_lines(text):
    """Drop lines that depend on the machine running the test (cgroup version, kubelet unit, ports)."""
    return [x for x in text.splitlines() if "WARNING" not in x and "Port-" not in x]


# ------------------------------------------------------------------------------------ version
@pytest.mark.parametrize("args,stdout_file", [
    (["version", "-o", "json"], "version-json.stdout"),
    (["version", "-o", "short"], "version-short.stdout"),
    (["version"], "version-plain.stdout"),
])
def test_version(args, stdout_file):
    rc, out, err = run(args)
    assert (rc, out, err) == (0, fixture("version", stdout_file), "")


# ------------------------------------------------------------------------------------ validate
@pytest.mark.parametrize("name,rc", [
    ("valid", 0), ("v1beta3-cluster-config", 0),
    ("invalid-unknown-field", 1), ("invalid-advertise-address", 1), ("invalid-values", 1),
])
def test_config_validate(name, rc):
    got = run(["config", "validate", "--config", os.path.join(FIX, "validate", name + ".yaml")])
    want_out = fixture("validate", name + ".stdout") if rc == 0 else ""
    want_err = fixture("validate", name + ".stderr") if rc else ""
    assert got == (rc, want_out, want_err)


@pytest.mark.parametrize("cfg", ["cluster-init.yaml", "groundwork-lab-rsa.yaml", "groundwork-lab-ecdsa-p256.yaml",
                                 "join-worker-w1.yaml", "join-control-plane-cp2.yaml"])
def test_recorded_configs_validate(cfg):
    assert run(["config", "validate", "--config", os.path.join(FIX, "configs", cfg)]) == (0, "ok\n", "")


# ------------------------------------------------------------------------------------ a cluster
def make_cert(subject_cn, issuer=None, ca=False, sans=(), org=None):
    key = ec.generate_private_key(ec.SECP256R1())
    name = [x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]
    if org:
        name.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    subject = x509.Name(name)
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer[0].subject if issuer else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(s)) for s in sans]),
                            critical=False)
    cert = b.sign(issuer[1] if issuer else key, hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    kpem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
    return cert, key, pem, kpem


def write(path, text, mode=0o600):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def kubeconfig(server, ca_pem, cert_pem, key_pem):
    def b(s):
        return base64.b64encode(s.encode()).decode()
    return ("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: %s\n  name: k\n"
            "contexts:\n- context:\n    cluster: k\n    user: a\n  name: a@k\ncurrent-context: a@k\nkind: Config\n"
            "users:\n- name: a\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n"
            % (b(ca_pem), server, b(cert_pem), b(key_pem)))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A first control plane: PKI on disk, the fake API server on 127.0.0.1:<free port>, cluster-info and a token."""
    cp1 = tmp_path_factory.mktemp("cp1")
    ca = make_cert("kubernetes", ca=True)
    api = make_cert("kube-apiserver", issuer=ca[:2], sans=["127.0.0.1"])
    admin = make_cert("kubernetes-admin", issuer=ca[:2], org="kubeadm:cluster-admins")
    pki = str(cp1) + "/etc/kubernetes/pki"
    write(pki + "/ca.crt", ca[2], 0o644)
    write(pki + "/apiserver.crt", api[2], 0o644)
    write(pki + "/apiserver.key", api[3])
    os.environ["FAKE_KUBE_ROOT"] = str(cp1)
    loader = importlib.machinery.SourceFileLoader("fake_kubelet_t", os.path.join(DOUBLES, "fake_kubelet"))
    spec = importlib.util.spec_from_loader("fake_kubelet_t", loader)
    kubelet = importlib.util.module_from_spec(spec)
    loader.exec_module(kubelet)
    del os.environ["FAKE_KUBE_ROOT"]
    srv = kubelet.serve_apiserver({"secure-port": "0", "bind-address": "127.0.0.1",
                                   "tls-cert-file": pki + "/apiserver.crt", "tls-private-key-file": pki + "/apiserver.key",
                                   "client-ca-file": pki + "/ca.crt", "advertise-address": "127.0.0.1"})
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    endpoint = "127.0.0.1:%d" % port
    write(str(cp1) + "/etc/kubernetes/admin.conf", kubeconfig("https://" + endpoint, ca[2], admin[2], admin[3]))
    adm = str(cp1) + "/etc/kubernetes/admin.conf"
    # cluster-info as kubeadm's bootstrap-token phase writes it
    ci = json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "", "cluster": {
        "certificate-authority-data": base64.b64encode(ca[2].encode()).decode(), "server": "https://" + endpoint}}]})
    state = {"configmaps": {"kube-public/cluster-info": {"kind": "ConfigMap", "metadata": {"name": "cluster-info"},
                                                         "data": {"kubeconfig": ci}},
                            "kube-system/kubeadm-config": {"data": {"ClusterConfiguration": json.dumps(
                                {"kind": "ClusterConfiguration", "networking": {}})}},
                            "kube-system/kubelet-config": {"data": {"kubelet": "{}"}}},
             "secrets": {}, "nodes": {}, "rv": 1}
    write(str(cp1) + "/var/lib/fake-kube-apiserver/state.json", json.dumps(state))
    rc, out, err = run(["token", "create", "abcdef.0123456789abcdef", "--kubeconfig", adm])
    assert (rc, out, err) == (0, "abcdef.0123456789abcdef\n", "")
    from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import ca_cert_hash
    yield {"endpoint": endpoint, "admin": adm, "hash": ca_cert_hash(ca[2]), "root": cp1}
    srv.shutdown()


def join_config(tmp_path, endpoint, token, hashes, timeout=None, control_plane=False):
    doc = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "JoinConfiguration",
           "discovery": {"bootstrapToken": {"apiServerEndpoint": endpoint, "token": token, "caCertHashes": hashes}},
           "nodeRegistration": {"name": "w1", "ignorePreflightErrors": ["Port-10250"]}}
    if timeout:
        doc["timeouts"] = {"discovery": timeout}
    if control_plane:
        doc["controlPlane"] = {"localAPIEndpoint": {"advertiseAddress": "127.0.0.1", "bindPort": 6443}}
    path = tmp_path / "join.yaml"
    path.write_text(json.dumps(doc))
    return str(path)


def error_line(stderr):
    return [x for x in stderr.splitlines() if x.startswith("error: ")]


def test_join_wrong_hash_fails_at_once_with_recorded_message(cluster, tmp_path):
    node = tmp_path / "w1"
    rc, out, err = run(["join", "--config", join_config(tmp_path, cluster["endpoint"], "abcdef.0123456789abcdef",
                                                        ["sha256:" + "0" * 64])], root=node)
    want = fixture("cluster", "w1", "join-wrong-ca-cert-hash.stderr").replace(
        "sha256:c99143f1b5624a948a58977513451547913036ffd324f0e13dfb07cdd2af85cb", cluster["hash"])
    assert rc == 1
    assert out == fixture("cluster", "w1", "join-wrong-ca-cert-hash.stdout")
    assert without_host_lines(err) == without_host_lines(want)
    assert not os.path.exists(node / "etc/kubernetes/kubelet.conf")  # nothing written (as recorded)


def test_join_malformed_hash(cluster, tmp_path):
    rc, out, err = run(["join", cluster["endpoint"], "--token", "abcdef.0123456789abcdef",
                        "--discovery-token-ca-cert-hash", "sha256:1234"], root=tmp_path / "w1")
    assert rc == 1
    assert out == fixture("cluster", "w1", "join-malformed-ca-cert-hash.stdout")
    assert without_host_lines(err) == without_host_lines(fixture("cluster", "w1", "join-malformed-ca-cert-hash.stderr"))


def test_join_unknown_token_retries_until_discovery_timeout(cluster, tmp_path):
    rc, out, err = run(["join", "--config", join_config(tmp_path, cluster["endpoint"], "0fixt0.0123456789abcdef",
                                                        [cluster["hash"]], timeout="2s")], root=tmp_path / "w2")
    assert rc == 1
    assert out == fixture("cluster", "w2", "join-nonexistent-token.stdout")
    assert without_host_lines(err) == without_host_lines(fixture("cluster", "w2", "join-nonexistent-token.stderr"))


def test_join_rerun_on_joined_worker_fails_in_preflight(cluster, tmp_path):
    node = tmp_path / "w1"
    write(str(node) + "/etc/kubernetes/kubelet.conf", "x")
    write(str(node) + "/etc/kubernetes/pki/ca.crt", "x", 0o644)
    rc, out, err = run(["join", "--config", os.path.join(FIX, "configs", "join-worker-w1.yaml")], root=node)
    assert rc == 1
    assert out == fixture("cluster", "w1", "kubeadm-join-rerun.stdout")
    assert without_host_lines(err) == without_host_lines(fixture("cluster", "w1", "kubeadm-join-rerun.stderr"))


def test_control_plane_join_rerun(tmp_path):
    node = tmp_path / "cp2"
    write(str(node) + "/etc/kubernetes/kubelet.conf", "x")
    rc, out, err = run(["join", "--config", os.path.join(FIX, "configs", "join-control-plane-cp2.yaml")], root=node)
    assert rc == 1
    assert without_host_lines(err) == without_host_lines(fixture("cluster", "cp2", "kubeadm-join-control-plane-rerun.stderr"))


def test_init_rerun_fails_in_preflight(tmp_path):
    node = tmp_path / "cp1"
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        write("%s/etc/kubernetes/manifests/%s.yaml" % (node, comp), "{}")
    write(str(node) + "/var/lib/etcd/member/snap/db", "x")
    rc, out, err = run(["init", "--config", os.path.join(FIX, "configs", "cluster-init.yaml"),
                        "--skip-phases=addon/coredns"], root=node)
    assert rc == 1
    assert out == fixture("cluster", "cp1", "kubeadm-init-rerun.stdout")
    assert without_host_lines(err) == without_host_lines(fixture("cluster", "cp1", "kubeadm-init-rerun.stderr"))


@pytest.mark.parametrize("args,bad", [
    (["init", "--config", "CFG", "--pod-network-cidr=10.0.0.0/16", "--kubernetes-version", "v1.35.0"],
     "[kubernetes-version pod-network-cidr]"),
    (["join", "--config", "CFG", "--token", "abcdef.0123456789abcdef", "--discovery-token-ca-cert-hash", "sha256:00"],
     "[discovery-token-ca-cert-hash token]"),
    (["join", "--config", "CFG", "--patches", "/etc/kubernetes/patches"], "[patches]"),
    (["reset", "--config", "CFG", "--force"], "[force]"),
    (["reset", "--config", "CFG", "-f"], "[force]"),
])
def test_config_cannot_be_mixed_with_other_flags(tmp_path, args, bad):
    """Real kubeadm (ValidateMixedArguments) allows --config only with a fixed list of flags and --skip-*."""
    cfg = os.path.join(FIX, "configs", "cluster-init.yaml")
    rc, out, err = run([cfg if a == "CFG" else a for a in args], root=tmp_path)
    assert (rc, out) == (1, "")
    assert err.splitlines() == ["error: can not mix '--config' with arguments " + bad,
                                "To see the stack trace of this error execute with --v=5 or higher"]


def test_config_with_allowed_flags_gets_past_the_flag_check(tmp_path):
    cfg = os.path.join(FIX, "configs", "cluster-init.yaml")
    rc, out, err = run(["config", "validate", "--config", cfg], root=tmp_path)
    assert (rc, out) == (0, "ok\n")
    rc, out, err = run(["init", "--config", cfg, "--skip-phases=addon/coredns", "--ignore-preflight-errors=all",
                        "--dry-run", "--v=5"], root=tmp_path / "missing-pki")
    assert "can not mix" not in err and out.startswith("[init] Using Kubernetes version")


def test_token_list_is_concatenated_json_and_delete(cluster):
    adm = cluster["admin"]
    assert run(["token", "create", "ghijkl.0123456789abcdef", "--ttl", "2h", "--description", "fixture token",
                "--kubeconfig", adm])[0] == 0
    rc, out, err = run(["token", "list", "-o", "json", "--kubeconfig", adm])
    assert rc == 0 and err == ""
    assert out.startswith("{\n    \"kind\": \"BootstrapToken\"") and "}\n{\n" in out  # {...}{...}, not an array
    from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import parse_token_list
    toks = parse_token_list(out)
    assert [t["token"] for t in toks] == ["abcdef.0123456789abcdef", "ghijkl.0123456789abcdef"]
    assert toks[1]["description"] == "fixture token" and set(toks[1]) == set(
        json.loads(fixture("cluster", "cp1", "token-list-json.stdout").split("\n}\n")[0] + "\n}"))
    assert run(["token", "delete", "ghijkl", "--kubeconfig", adm]) == (0, 'bootstrap token "ghijkl" deleted\n', "")
    assert run(["token", "delete", "zzzzzz", "--kubeconfig", adm]) == (1, "", fixture("cluster", "cp1", "token-delete-nonexistent.stderr"))


def test_reset_removes_what_kubeadm_removes(tmp_path):
    node = tmp_path / "w1"
    write(str(node) + "/etc/kubernetes/kubelet.conf", "x")
    write(str(node) + "/etc/kubernetes/pki/ca.crt", "x", 0o644)
    write(str(node) + "/var/lib/kubelet/config.yaml", "x", 0o644)
    write(str(node) + "/etc/cni/net.d/10-lab.conflist", "x", 0o644)
    rc, out, err = run(["reset", "--force"], root=node)
    assert rc == 0
    assert out == fixture("reset", "w1-kubeadm-reset.stdout")
    assert [re.sub(r"^W\S+ \S+ +\d+ ", "", x) for x in err.splitlines()] == \
        [re.sub(r"^W\S+ \S+ +\d+ ", "", x) for x in fixture("reset", "w1-kubeadm-reset.stderr").splitlines()]
    assert os.listdir(node / "etc/kubernetes") == ["pki"] and os.listdir(node / "etc/kubernetes/pki") == []
    assert os.listdir(node / "var/lib/kubelet") == []
    assert os.path.exists(node / "etc/cni/net.d/10-lab.conflist")  # left behind, as recorded
    assert run(["reset", "--force"], root=node)[0] == 0  # again: still 0


def test_control_plane_reset_reads_its_node_object_first(cluster, tmp_path):
    """Real kubeadm reset gets the node's registration from its Node object; when that is gone it warns,
    has no config (so it cannot remove the stacked etcd member) and only empties the etcd data dir."""
    def cp2_node(root):
        with open(cluster["admin"]) as f:
            write(str(root) + "/etc/kubernetes/admin.conf", f.read())
        write(str(root) + "/etc/kubernetes/manifests/kube-apiserver.yaml", "{}")
        write(str(root) + "/etc/kubernetes/manifests/etcd.yaml", json.dumps({"spec": {"containers": [{"command": [
            "etcd", "--name=cp2", "--data-dir=/var/lib/etcd"]}]}}))
        write(str(root) + "/var/lib/etcd/member/snap/db", "x")
    loader = importlib.machinery.SourceFileLoader("fake_kubeadm_r", KUBEADM)
    spec = importlib.util.spec_from_loader("fake_kubeadm_r", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    api = mod.API.from_kubeconfig(cluster["admin"])

    gone = tmp_path / "gone"
    cp2_node(gone)
    rc, out, err = run(["reset", "--force"], root=gone)
    assert rc == 0
    assert 'Unable to fetch the kubeadm-config ConfigMap from cluster: failed to get node registration: failed to ' \
           'get corresponding node: nodes "cp2" not found' in err
    assert "No kubeadm config, using etcd pod spec to get data directory" in err
    assert "Reading configuration" not in out and "Deleted contents of the etcd data directory: /var/lib/etcd" in out
    assert os.listdir(gone / "var/lib/etcd") == []

    assert api.call("POST", "/api/v1/nodes", mod.node_object("cp2", "127.0.0.1", True))[0] < 300
    try:
        there = tmp_path / "there"
        cp2_node(there)
        rc, out, err = run(["reset", "--force"], root=there)
        assert rc == 0 and "Unable to fetch" not in err and "No kubeadm config" not in err
        assert out.splitlines()[:3] == fixture("reset", "cp2-kubeadm-reset.stdout").splitlines()[:3]
    finally:
        api.call("DELETE", "/api/v1/nodes/cp2")


# ------------------------------------------------------------------------------------ upgrade
def kubeadm_at(tmp_path, version):
    """The double as a binary of another release (the lab stages it the same way)."""
    with open(KUBEADM) as f:
        text = f.read()
    assert '\nVERSION = "v1.35.0-alpha.1"\n' in text
    path = tmp_path / ("kubeadm-" + version)
    path.write_text(text.replace('\nVERSION = "v1.35.0-alpha.1"\n', '\nVERSION = "%s"\n' % version))
    path.chmod(0o755)
    return str(path)


def set_cluster_version(cluster, version):
    sys.path.insert(0, DOUBLES)
    loader = importlib.machinery.SourceFileLoader("fake_kubeadm_t", KUBEADM)
    spec = importlib.util.spec_from_loader("fake_kubeadm_t", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    mod.ROOT = str(cluster["root"])
    api = mod.API.from_kubeconfig("/etc/kubernetes/admin.conf")
    status, cm = api.call("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
    cfg = json.loads(cm["data"]["ClusterConfiguration"])
    before = dict(cfg)
    cfg["kubernetesVersion"] = version
    mod.put_cm(api, "kube-system", "kubeadm-config", {"ClusterConfiguration": json.dumps(cfg)})
    return api, mod, before


@pytest.fixture
def upgradable(cluster, tmp_path):
    """cp1 at v1.35.0 (kubeadm-config + the recorded manifests re-tagged), restored afterwards."""
    mdir = str(cluster["root"]) + "/etc/kubernetes/manifests"
    os.makedirs(mdir, exist_ok=True)
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        write(os.path.join(mdir, comp + ".yaml"),
              fixture("cluster", "cp1", "files", "manifests", comp + ".yaml").replace("v1.35.0-alpha.1", "v1.35.0"))
    api, mod, before = set_cluster_version(cluster, "v1.35.0")
    yield {"mdir": mdir, "api": api}
    mod.put_cm(api, "kube-system", "kubeadm-config", {"ClusterConfiguration": json.dumps(before)})
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        os.unlink(os.path.join(mdir, comp + ".yaml"))


def run_bin(binary, args, root):
    env = dict(os.environ, LC_ALL="C", FAKE_KUBE_ROOT=str(root))
    p = subprocess.run([sys.executable, binary] + args, capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=60, check=False)
    return p.returncode, p.stdout, p.stderr


def test_upgrade_apply_enforces_kubeadms_version_policy(cluster, upgradable, tmp_path):
    new = kubeadm_at(tmp_path, "v1.35.1")
    before = open(os.path.join(upgradable["mdir"], "kube-apiserver.yaml")).read()
    rc, out, err = run_bin(new, ["upgrade", "apply", "v1.37.0", "--yes"], cluster["root"])
    assert rc == 1 and "kubeadm can upgrade only 1 minor version at a time" in err and "fatal errors" in err
    rc, out, err = run_bin(new, ["upgrade", "apply", "v1.35.2", "--yes"], cluster["root"])
    assert rc == 1 and 'is higher than the kubeadm version "v1.35.1"' in err and "--force" in err
    # no --yes and no terminal: kubeadm asks, reads nothing, does not proceed
    rc, out, err = run_bin(new, ["upgrade", "apply", "v1.35.1"], cluster["root"])
    assert rc == 1 and "won't proceed; the user didn't answer (Y|y)" in err
    assert open(os.path.join(upgradable["mdir"], "kube-apiserver.yaml")).read() == before


def test_product_upgrade_drives_the_double(cluster, upgradable, tmp_path):
    """_upgrade.upgrade_action against fake_kubeadm at v1.35.1: manifests re-tagged (old ones kept),
    kubeadm-config at the new version, record written; a second run runs nothing; then `upgrade node`."""
    from ansible_collections.groundwork.k8s.plugins.module_utils import _kubeadm as kk
    from ansible_collections.groundwork.k8s.plugins.module_utils import _upgrade as uu
    root = str(cluster["root"])
    new = kubeadm_at(tmp_path, "v1.35.1")
    adm = kk.Kubeadm(new, env={"FAKE_KUBE_ROOT": root})

    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def wr(path, data, mode):
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
    p = {"mode": "apply", "version": "v1.35.1", "kubeconfig": "/etc/kubernetes/admin.conf", "etcd_upgrade": False,
         "certificate_renewal": True, "patches_dir": None, "ignore_preflight_errors": [], "allow_prerelease": False,
         "kubelet_versions": ["v1.35.0"], "manifest_dir": upgradable["mdir"], "record_path": str(tmp_path / "rec.json")}
    res = uu.upgrade_action(p, adm, False, read, wr)
    assert res["changed"] and res["control_plane_versions"] == {c: "v1.35.1" for c in uu.CONTROL_PLANE}
    assert any("SUCCESS! A control plane node of your cluster was upgraded to \"v1.35.1\"" in x for x in res["stdout_lines"])
    status, cm = upgradable["api"].call("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")
    assert json.loads(cm["data"]["ClusterConfiguration"])["kubernetesVersion"] == "v1.35.1"
    backups = [d for d in os.listdir(root + "/etc/kubernetes/tmp") if d.startswith("kubeadm-backup-manifests-")]
    kept = os.path.join(root, "etc/kubernetes/tmp", backups[-1], "kube-apiserver.yaml")
    assert backups and "kube-apiserver:v1.35.0" in open(kept).read()
    assert oct(os.stat(os.path.join(upgradable["mdir"], "kube-apiserver.yaml")).st_mode & 0o777) == "0o600"
    # second run: already there, kubeadm not run
    res = uu.upgrade_action(p, kk.Kubeadm("/nonexistent/kubeadm"), False, read, wr)
    assert not res["changed"]
    # another control plane still at v1.35.0: `upgrade node` brings it to kubeadm-config's version
    for comp in uu.CONTROL_PLANE:
        path = os.path.join(upgradable["mdir"], comp + ".yaml")
        write(path, open(path).read().replace("v1.35.1", "v1.35.0"))
    os.unlink(str(tmp_path / "rec.json"))
    res = uu.upgrade_action(dict(p, mode="node"), adm, False, read, wr)
    assert res["changed"] and res["control_plane_versions"] == {c: "v1.35.1" for c in uu.CONTROL_PLANE}
    # an old kubeadm refuses `upgrade node` on a control plane of a newer cluster (kubeadm's own check)
    for comp in uu.CONTROL_PLANE:
        path = os.path.join(upgradable["mdir"], comp + ".yaml")
        write(path, open(path).read().replace("v1.35.1", "v1.35.0"))
    rc, out, err = run_bin(kubeadm_at(tmp_path, "v1.35.0"), ["upgrade", "node"], root)
    assert rc == 1 and 'higher than the kubeadm version "v1.35.0"' in err
