# -*- coding: utf-8 -*-
"""fake_kubelet runs the etcd static pod for real when the binary exists (restartPolicy Always,
SIGTERM then SIGKILL on removal), and fake_kubeadm's init writes the recorded etcd flags."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import shutil
import signal
import socket
import threading
import time
import urllib.request

import pytest

from conftest import FIXTURES, ROOT  # noqa: F401  (tests/conftest.py)

DOUBLES = os.path.join(ROOT, "tests", "doubles")
FIX = os.path.join(FIXTURES, "kubeadm")


def load(name):
    loader = importlib.machinery.SourceFileLoader(name + "_t", os.path.join(DOUBLES, name))
    spec = importlib.util.spec_from_loader(name + "_t", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


kubelet = load("fake_kubelet")
kubeadm = load("fake_kubeadm")


def wait(cond, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie is not alive
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def pids(path):
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_init_writes_the_recorded_etcd_flags():
    docs = kubeadm.load_docs(os.path.join(FIX, "configs", "cluster-init.yaml"))
    cluster = next(d for d in docs if d["kind"] == "ClusterConfiguration")
    mans = kubeadm.manifests(cluster, "10.250.0.2", 6443, "cp1", True, "/etc/kubernetes/pki", first_member=True)
    recorded = kubeadm.load_docs(os.path.join(FIX, "cluster", "cp1", "files", "manifests", "etcd.yaml"))[0]
    assert mans["etcd"]["spec"]["containers"][0]["command"] == recorded["spec"]["containers"][0]["command"]
    joined = kubeadm.manifests(cluster, "10.250.0.4", 6443, "cp2", True, "/etc/kubernetes/pki")
    assert not any(a.startswith("--initial-cluster") for a in joined["etcd"]["spec"]["containers"][0]["command"])


def test_no_binary_holds_the_ports():
    port = free_port()
    command = ["no-such-etcd-binary-here", "--listen-client-urls=https://127.0.0.1:%d" % port]
    man = {"spec": {"containers": [{"name": "etcd", "command": command}]}}
    servers = kubelet.pod_servers("etcd", man, "n1")
    assert len(servers) == 1 and not isinstance(servers[0], kubelet.PodProcess)
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    servers[0].shutdown()


def pod(tmp_path, script, grace=None):
    spec = {"containers": [{"name": "etcd", "command": ["sh", "-c", script]}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    os.environ["FAKE_KUBE_ROOT"] = str(tmp_path)
    try:
        proc = kubelet.pod_servers("etcd", {"metadata": {"namespace": "kube-system"}, "spec": spec}, "n1")[0]
    finally:
        del os.environ["FAKE_KUBE_ROOT"]
    assert isinstance(proc, kubelet.PodProcess)
    threading.Thread(target=proc.serve_forever, daemon=True).start()
    return proc


def test_container_restarted_after_exit_and_stopped_on_removal(tmp_path):
    f = tmp_path / "pids"
    proc = pod(tmp_path, "echo $$ >> %s; echo started; exec sleep 60" % f)
    assert wait(lambda: len(pids(f)) == 1)
    first = pids(f)[0]
    os.kill(first, signal.SIGKILL)
    assert wait(lambda: len(pids(f)) == 2, 10), "not restarted after a 1 s back-off"
    second = pids(f)[1]
    assert proc.restarts == 1
    t = time.time()
    proc.shutdown()
    assert time.time() - t < 5 and not alive(second)
    time.sleep(1.5)
    assert len(pids(f)) == 2, "restarted after shutdown"
    logs = sorted(os.listdir(tmp_path / "var/log/pods/kube-system_etcd-n1/etcd"))
    assert logs == ["0.log", "1.log"]


def test_sigkill_after_the_grace_period(tmp_path):
    f = tmp_path / "pids"
    proc = pod(tmp_path, "trap '' TERM; echo $$ >> %s; while :; do sleep 0.1; done" % f, grace=1)
    assert wait(lambda: len(pids(f)) == 1)
    t = time.time()
    proc.shutdown()
    assert 0.9 < time.time() - t < 5 and not alive(pids(f)[0])


@pytest.mark.skipif(not shutil.which("etcd"), reason="no etcd binary")
def test_real_etcd_serves_and_stops(tmp_path):
    client, peer = free_port(), free_port()
    man = {"metadata": {"namespace": "kube-system"}, "spec": {"containers": [{"name": "etcd", "command": [
        "etcd", "--name=n1", "--data-dir=%s/data" % tmp_path,
        "--listen-client-urls=http://127.0.0.1:%d" % client, "--advertise-client-urls=http://127.0.0.1:%d" % client,
        "--listen-peer-urls=http://127.0.0.1:%d" % peer, "--initial-advertise-peer-urls=http://127.0.0.1:%d" % peer,
        "--initial-cluster=n1=http://127.0.0.1:%d" % peer]}]}}
    os.environ["FAKE_KUBE_ROOT"] = str(tmp_path)
    try:
        proc = kubelet.pod_servers("etcd", man, "n1")[0]
    finally:
        del os.environ["FAKE_KUBE_ROOT"]
    threading.Thread(target=proc.serve_forever, daemon=True).start()

    def healthy():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % client, timeout=1) as r:
                return json.load(r)["health"] == "true"
        except OSError:
            return False
    assert wait(healthy, 20)
    proc.shutdown()
    assert not healthy() and proc.proc.returncode is not None
