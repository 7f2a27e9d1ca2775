# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fake_kubeadm checks an existing PKI the way kubeadm does, so a lab run proves our PKI would pass real kubeadm.

init: every leaf must chain to its CA (signature and validity period: runCertPhase -> VerifyCertChain); an existing
kubeconfig must embed the cluster CA (else an error), a server URL other than kubeadm's is a warning.
join --control-plane: every leaf must be signed by its CA and carry every SAN kubeadm would give it on that node.
The PKI under test is written by the product's own module_utils (_pki), then spoiled one file at a time.
"""

from __future__ import annotations

import datetime
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT  # noqa: F401  (tests/conftest.py)

pytest.importorskip("cryptography")
from ansible_collections.groundwork.k8s.plugins.module_utils import _pki  # noqa: E402

KUBEADM = os.path.join(ROOT, "tests", "doubles", "fake_kubeadm")
LAB = dict(advertise_address="10.250.0.2", node_name="cp1", control_plane_endpoint="lb.example.internal:6443",
           service_subnet="10.96.0.0/12", dns_domain="cluster.local", cluster_name="kubernetes",
           apiserver_cert_extra_sans=["10.250.0.10", "api.example.internal"], key_type="ecdsa256")
NOW = datetime.datetime.now(datetime.timezone.utc)


def make_pki(root, **over):
    params = dict(LAB, pki_dir=str(root) + "/etc/kubernetes/pki", kubeconfig_dir=str(root) + "/etc/kubernetes",
                  profile="both", **over)
    _pki.apply_writes(_pki.plan_cluster_pki(params, now=NOW).writes)
    _pki.apply_writes(_pki.plan_kubeconfigs(params, now=NOW).writes)
    return params


def init_config(root):
    doc = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration",
           "localAPIEndpoint": {"advertiseAddress": "10.250.0.2", "bindPort": 6443},
           "nodeRegistration": {"name": "cp1", "ignorePreflightErrors": ["all"]},
           "timeouts": {"kubeletHealthCheck": "1s"}}
    cluster = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
               "kubernetesVersion": "v1.35.0", "controlPlaneEndpoint": "lb.example.internal:6443",
               "apiServer": {"certSANs": ["10.250.0.10", "api.example.internal"]}}
    path = os.path.join(str(root), "init.json")
    with open(path, "w") as f:
        f.write(json.dumps(doc) + "\n---\n" + json.dumps(cluster) + "\n")
    return path


def run_init(root):
    env = dict(os.environ, LC_ALL="C", FAKE_KUBE_ROOT=str(root))
    p = subprocess.run([sys.executable, KUBEADM, "init", "--config", init_config(root)], capture_output=True,
                       text=True, env=env, stdin=subprocess.DEVNULL, timeout=60, check=False)
    return p.returncode, p.stdout, p.stderr


def error_of(stderr):
    return [x for x in stderr.splitlines() if x.startswith("error: ")]


def reissue(root, name, now=NOW, days=365, ca=None, **over):
    """Write leaf ``name`` (a _pki.LEAVES name) again, from CA ``ca`` (cert, key) or with other dates or params."""
    ca_cert, ca_key = ca or (None, None)
    spec = _pki.leaf_spec(name, dict(LAB, **over))
    pki = str(root) + "/etc/kubernetes/pki/"
    if ca_cert is None:
        ca_path = pki + _pki.CAS[spec["ca"]][0]
        with open(ca_path + ".crt", "rb") as f:
            ca_cert = _pki.load_certs(f.read())[0]
        with open(ca_path + ".key", "rb") as f:
            ca_key = _pki.load_key(f.read())
    key = _pki.generate_key("ecdsa256")
    cert = _pki.issue_leaf(spec, key, ca_cert, ca_key, now, days)
    _pki.apply_writes([(pki + spec["path"] + ".crt", _pki.cert_pem(cert), 0o644),
                       (pki + spec["path"] + ".key", _pki.key_pem(key), 0o600)])


def foreign_ca():
    key = _pki.generate_key("ecdsa256")
    return _pki.make_ca("kubernetes", key, NOW), key


# ------------------------------------------------------------------------------------------------ init
def test_our_pki_passes_kubeadms_checks_without_a_warning(tmp_path):
    make_pki(tmp_path)
    rc, out, err = run_init(tmp_path)
    for name in ("apiserver", "apiserver-kubelet-client", "front-proxy-client", "etcd/server", "etcd/peer",
                 "etcd/healthcheck-client", "apiserver-etcd-client"):
        assert "[certs] Using existing %s certificate and key on disk" % name in out
    for name in ("admin", "super-admin", "kubelet", "controller-manager", "scheduler"):
        assert '[kubeconfig] Using existing kubeconfig file: "/etc/kubernetes/%s.conf"' % name in out
    assert "unexpected API Server URL" not in err
    # past certs and kubeconfig: it stopped where this test has no kubelet
    assert rc == 1 and error_of(err) == ["error: error execution phase wait-control-plane: failed while waiting for "
                                         "the kubelet: kubelet is not healthy after 1s"]


def test_leaf_from_another_ca_fails_certs_phase_before_any_manifest(tmp_path):
    make_pki(tmp_path)
    reissue(tmp_path, "apiserver", ca=foreign_ca())
    rc, out, err = run_init(tmp_path)
    assert rc == 1
    assert error_of(err) == ["error: error execution phase certs/apiserver: [certs] certificate apiserver not signed by "
                             "CA certificate ca: failed to verify certificate: x509: certificate signed by unknown "
                             "authority"]
    assert not os.path.exists(str(tmp_path) + "/etc/kubernetes/manifests")


def test_expired_leaf_fails_with_gos_message(tmp_path):
    make_pki(tmp_path)
    reissue(tmp_path, "front-proxy-client", now=NOW - datetime.timedelta(days=3), days=1)
    rc, out, err = run_init(tmp_path)
    [line] = error_of(err)
    assert rc == 1 and line.startswith("error: error execution phase certs/front-proxy-client: [certs] certificate "
                                       "front-proxy-client not signed by CA certificate front-proxy-ca: failed to "
                                       "verify certificate: x509: certificate has expired or is not yet valid: "
                                       "current time ")
    assert " is after %s" % (NOW - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M") in line


def test_kubeconfig_with_another_ca_is_an_error(tmp_path):
    make_pki(tmp_path)
    other = tmp_path / "other"
    make_pki(other)
    os.replace(str(other) + "/etc/kubernetes/admin.conf", str(tmp_path) + "/etc/kubernetes/admin.conf")
    rc, out, err = run_init(tmp_path)
    assert rc == 1 and error_of(err) == ['error: error execution phase kubeconfig/admin: a kubeconfig file '
                                         '"/etc/kubernetes/admin.conf" exists already but has got the wrong CA cert']


def test_kubeconfig_with_another_server_is_only_a_warning(tmp_path):
    make_pki(tmp_path)
    other = tmp_path / "other"
    # the same CA, scheduler.conf pointing at the load balancer (kubeadm wants the local API server)
    for n in ("ca.crt", "ca.key"):
        with open(str(tmp_path) + "/etc/kubernetes/pki/" + n, "rb") as f:
            _pki.apply_writes([(str(other) + "/etc/kubernetes/pki/" + n, f.read(), 0o600)])
    params = dict(LAB, pki_dir=str(other) + "/etc/kubernetes/pki", kubeconfig_dir=str(other) + "/etc/kubernetes",
                  advertise_address=None, names=["scheduler"])
    _pki.apply_writes(_pki.plan_kubeconfigs(params, now=NOW).writes)
    os.replace(str(other) + "/etc/kubernetes/scheduler.conf", str(tmp_path) + "/etc/kubernetes/scheduler.conf")
    rc, out, err = run_init(tmp_path)
    assert ('a kubeconfig file "/etc/kubernetes/scheduler.conf" exists already but has an unexpected API Server URL: '
            'expected: https://10.250.0.2:6443, got: https://lb.example.internal:6443') in err
    assert '[kubeconfig] Using existing kubeconfig file: "/etc/kubernetes/scheduler.conf"' in out
    assert "wait-control-plane" in error_of(err)[0]


# ------------------------------------------------------------------------------------------------ join
@pytest.fixture()
def double(tmp_path, monkeypatch):
    """fake_kubeadm loaded as a module with its root at tmp_path (join's certs phase, called directly)."""
    monkeypatch.setenv("FAKE_KUBE_ROOT", str(tmp_path))
    loader = importlib.machinery.SourceFileLoader("fake_kubeadm_t", KUBEADM)
    spec = importlib.util.spec_from_loader("fake_kubeadm_t", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


CLUSTER = {"controlPlaneEndpoint": "lb.example.internal:6443", "networking": {"serviceSubnet": "10.96.0.0/12"},
           "apiServer": {"certSANs": ["10.250.0.10", "api.example.internal"]}}


def join_certs(double, node, address, cluster=None):
    double.join_existing_certs("/etc/kubernetes/pki", True, cluster or CLUSTER, node, address)


def test_join_accepts_the_pki_we_make_for_that_node(tmp_path, double, capsys):
    make_pki(tmp_path, node_name="cp2", advertise_address="10.250.0.4")
    join_certs(double, "cp2", "10.250.0.4")
    out = capsys.readouterr().out
    assert '[certs] Using the existing "apiserver" certificate and key' in out
    assert '[certs] Using the existing "etcd/peer" certificate and key' in out


def test_join_refuses_another_nodes_serving_certificate(tmp_path, double):
    make_pki(tmp_path)  # cp1's certificates copied to cp2
    with pytest.raises(double.Fail) as e:
        join_certs(double, "cp2", "10.250.0.4")
    assert e.value.msg == (
        "error execution phase control-plane-prepare/certs: error creating PKI assets: certificate apiserver is "
        "invalid: x509: certificate is valid for api.example.internal, cp1, kubernetes, kubernetes.default, "
        "kubernetes.default.svc, kubernetes.default.svc.cluster.local, lb.example.internal, not cp2")


def test_join_refuses_a_certificate_missing_a_configured_san(tmp_path, double):
    make_pki(tmp_path, node_name="cp2", advertise_address="10.250.0.4")
    cluster = dict(CLUSTER, apiServer={"certSANs": ["10.250.0.10", "api.example.internal", "10.250.0.99"]})
    with pytest.raises(double.Fail) as e:
        join_certs(double, "cp2", "10.250.0.4", cluster)
    assert e.value.msg.endswith("certificate apiserver is invalid: x509: certificate is valid for 10.96.0.1, "
                                "10.250.0.4, 10.250.0.10, not 10.250.0.99")


def test_join_refuses_an_etcd_certificate_from_another_ca(tmp_path, double):
    make_pki(tmp_path, node_name="cp2", advertise_address="10.250.0.4")
    reissue(tmp_path, "etcd-server", ca=foreign_ca(), node_name="cp2", advertise_address="10.250.0.4")
    with pytest.raises(double.Fail) as e:
        join_certs(double, "cp2", "10.250.0.4")
    assert e.value.msg == ("error execution phase control-plane-prepare/certs: error creating PKI assets: certificate "
                           "etcd/server is not signed by corresponding CA")


def test_join_takes_an_expired_leaf_as_kubeadm_does(tmp_path, double):
    """kubeadm's join checks only the signature (CheckSignatureFrom) of an existing leaf, not its dates."""
    make_pki(tmp_path, node_name="cp2", advertise_address="10.250.0.4")
    reissue(tmp_path, "apiserver-kubelet-client", now=NOW - datetime.timedelta(days=3), days=1, node_name="cp2",
            advertise_address="10.250.0.4")
    join_certs(double, "cp2", "10.250.0.4")


@pytest.mark.parametrize("dns,ips,host,want", [
    (["a.example"], [], "A.Example.", None),
    (["*.example"], [], "x.example", None),
    (["*.example"], [], "x.y.example", "x509: certificate is valid for *.example, not x.y.example"),
    ([], [], "cp1", "x509: certificate is not valid for any names, but wanted to match cp1"),
    (["cp1"], [], "10.0.0.1", "x509: cannot validate certificate for 10.0.0.1 because it doesn't contain any IP SANs"),
    (["cp1"], ["::1"], "::1", None),
])
def test_verify_hostname_is_gos(double, dns, ips, host, want):
    import ipaddress
    assert double.verify_hostname(dns, [ipaddress.ip_address(i) for i in ips], host) == want
