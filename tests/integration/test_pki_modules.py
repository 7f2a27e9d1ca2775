# -*- coding: utf-8 -*-
"""PKI modules and role as real Ansible tasks on localhost (ansible-playbook in a tmp dir), and a
real 3-member etcd cluster with mutual TLS on certificates from groundwork.k8s.pki.

Every run is checked against the files on disk (hashes, modes, openssl), not only what the
module reported.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcd_helpers as h  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
PY = sys.executable  # the venv's python: explicit interpreter for localhost (pyenv shims)


def _env(**extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_LOCAL_TEMP="/tmp/.gw-pki-ansible-tmp", LC_ALL="C.UTF-8")
    env.update(extra)
    return env


def playbook(workdir, plays, inventory=None, args=(), env=None, json_out=True, timeout=420):
    """Run ansible-playbook on ``plays`` (list) in ``workdir``; returns (rc, results or raw text)."""
    path = os.path.join(workdir, "play-%d.yml" % random.randint(0, 10 ** 9))
    with open(path, "w") as f:
        yaml.safe_dump(plays, f, sort_keys=False)
    inv = os.path.join(workdir, "hosts.yml")
    with open(inv, "w") as f:
        yaml.safe_dump(inventory or {"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": PY}}}}, f)
    cfg = os.path.join(workdir, "ansible.cfg")
    with open(cfg, "w") as f:
        f.write("[defaults]\n")  # nothing from the checkout's ansible.cfg or the user's
    extra = {"ANSIBLE_CONFIG": cfg}
    if not json_out:
        extra["ANSIBLE_STDOUT_CALLBACK"] = "default"
    extra.update(env or {})
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", inv, path] + list(args), cwd=workdir,
                          env=_env(**extra), capture_output=True, text=True, timeout=timeout, check=False)
    if not json_out:
        return proc.returncode, proc.stdout + proc.stderr
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("ansible-playbook output is not JSON:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))


def task_result(out, name, host="localhost"):
    for play in out["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == name and host in task["hosts"]:
                return task["hosts"][host]
    raise AssertionError("no result for task %r on %s" % (name, host))


def stats(out):
    return out["stats"]


def tree(root):
    """{relative path: (sha256, mode)} of every file below ``root``."""
    files = {}
    for dirpath, dummy, names in os.walk(root):
        for name in names:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                files[os.path.relpath(p, root)] = (hashlib.sha256(f.read()).hexdigest(), stat.S_IMODE(os.stat(p).st_mode))
    return files


def openssl(*args):
    return subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=60, check=False)


def verify_chains(pki):
    """openssl verify for every leaf against the CA that must have signed it."""
    pairs = {"apiserver": "ca", "apiserver-kubelet-client": "ca", "front-proxy-client": "front-proxy-ca",
             "apiserver-etcd-client": "etcd/ca", "etcd/server": "etcd/ca", "etcd/peer": "etcd/ca",
             "etcd/healthcheck-client": "etcd/ca"}
    checked = 0
    for leaf, ca in pairs.items():
        if not os.path.exists(os.path.join(pki, leaf + ".crt")):
            continue
        proc = openssl("verify", "-CAfile", os.path.join(pki, ca + ".crt"), os.path.join(pki, leaf + ".crt"))
        assert proc.returncode == 0 and proc.stdout.strip().endswith(": OK"), (leaf, proc.stdout, proc.stderr)
        checked += 1
    return checked


def key_bodies(*roots):
    """The base64 lines of every private key on disk (what must never appear in output)."""
    bodies = set()
    for root in roots:
        for dirpath, dummy, names in os.walk(root):
            for name in names:
                p = os.path.join(dirpath, name)
                with open(p, "rb") as f:
                    data = f.read()
                if name.endswith(".conf"):
                    doc = yaml.safe_load(data)
                    import base64
                    data = base64.b64decode(doc["users"][0]["user"].get("client-key-data", "") or b"")
                if b"PRIVATE KEY" in data:
                    bodies.update(line for line in data.decode().splitlines()[1:-1] if len(line) > 40)
    return bodies


PARAMS = {"node_name": "cp1", "advertise_address": "10.250.0.2", "control_plane_endpoint": "lb.example.internal:6443",
          "apiserver_cert_extra_sans": ["10.250.0.10", "api.example.internal"], "profile": "both"}


def _pki_task(pki, name="pki", **over):
    return {"name": name, "groundwork.k8s.cluster_pki": dict(PARAMS, pki_dir=pki, **over), "register": "r"}


def _play(*tasks):
    return [{"name": "pki", "hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}]


# ---------------------------------------------------------------- cluster_pki

def test_cluster_pki_changed_then_not_check_diff_and_san_change(tmp_path):
    work, pki = str(tmp_path), str(tmp_path / "pki")
    rc, out = playbook(work, _play(_pki_task(pki)))
    assert rc == 0
    first = task_result(out, "pki")
    # 22 kubeadm files + ca-signer.crt (the controller-manager's signing certificate: the first of ca.crt)
    assert first["changed"] is True and len(first["written"]) == 23
    on_disk = tree(pki)
    assert len(on_disk) == 23 and "ca-signer.crt" in on_disk
    with open(os.path.join(pki, "ca.crt")) as ca, open(os.path.join(pki, "ca-signer.crt")) as signer:
        assert signer.read() == ca.read()
    for rel, (dummy, mode) in on_disk.items():
        assert mode == (0o600 if rel.endswith((".key", "sa.pub")) else 0o644), rel
    assert verify_chains(pki) == 7
    assert first["ca_cert_hash"] == "sha256:" + hashlib.sha256(subprocess.run(
        "openssl x509 -in %s/ca.crt -noout -pubkey | openssl pkey -pubin -outform der" % pki, shell=True,
        capture_output=True, check=True).stdout).hexdigest()

    rc, out = playbook(work, _play(_pki_task(pki)))
    assert rc == 0 and task_result(out, "pki")["changed"] is False
    assert tree(pki) == on_disk

    # check mode + diff with a new SAN: predicts apiserver only, writes nothing
    sans = PARAMS["apiserver_cert_extra_sans"] + ["api2.example.internal"]
    rc, out = playbook(work, _play(_pki_task(pki, apiserver_cert_extra_sans=sans)), args=["--check", "--diff"])
    res = task_result(out, "pki")
    assert rc == 0 and res["changed"] is True
    assert res["written"] == [os.path.join(pki, "apiserver.crt")]
    assert tree(pki) == on_disk
    diff = res["diff"]
    assert "DNS:api2.example.internal" in diff["after"]["apiserver"]["sans"]
    assert "DNS:api2.example.internal" not in diff["before"]["apiserver"]["sans"]
    assert "PRIVATE KEY" not in json.dumps(res)

    # the real run reissues only apiserver.crt (same key), every other file untouched
    rc, out = playbook(work, _play(_pki_task(pki, apiserver_cert_extra_sans=sans)))
    res = task_result(out, "pki")
    assert rc == 0 and res["changed"] is True and res["written"] == [os.path.join(pki, "apiserver.crt")]
    after = tree(pki)
    assert {k for k in after if after[k] != on_disk[k]} == {"apiserver.crt"}
    assert "DNS:api2.example.internal" in openssl("x509", "-in", os.path.join(pki, "apiserver.crt"), "-noout",
                                                  "-ext", "subjectAltName").stdout
    assert verify_chains(pki) == 7
    rc, out = playbook(work, _play(_pki_task(pki, apiserver_cert_extra_sans=sans)))
    assert task_result(out, "pki")["changed"] is False


@pytest.mark.parametrize("over, message", [
    ({"apiserver_cert_extra_sans": ["10.250.0.300"]}, "malformed IP address in apiserver SANs: '10.250.0.300'"),
    ({"key_type": "rsa1024"}, "value of key_type must be one of: rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384"),
    ({"pki_dir": "/etc/hostname/pki"}, "cannot write /etc/hostname/pki/ca.crt: /etc/hostname is not a directory"),
], ids=["bad-ip-san", "bad-key-type", "unwritable"])
def test_cluster_pki_bad_input_fails_clearly_and_writes_nothing(tmp_path, over, message):
    pki = str(tmp_path / "pki")
    task = _pki_task(pki)
    task["groundwork.k8s.cluster_pki"].update(over)
    rc, out = playbook(str(tmp_path), _play(task))
    res = task_result(out, "pki")
    assert rc != 0 and res["failed"] is True
    assert message in res["msg"]
    assert not os.path.exists(pki)


def test_ca_mismatch_given_fails_and_writes_nothing(tmp_path):
    src = str(tmp_path / "src")
    rc, dummy = playbook(str(tmp_path), _play(_pki_task(src, profile="control_plane")))
    assert rc == 0
    other = str(tmp_path / "other")
    rc, dummy = playbook(str(tmp_path), _play(_pki_task(other, profile="control_plane")))
    with open(os.path.join(src, "ca.crt")) as f1, open(os.path.join(other, "ca.key")) as f2:
        bad = {"cert": f1.read(), "key": f2.read()}
    target = str(tmp_path / "target")
    rc, out = playbook(str(tmp_path), _play(_pki_task(target, profile="control_plane", ca=bad)))
    res = task_result(out, "pki")
    assert rc != 0 and "the CA certificate (CN=kubernetes) and the CA private key do not match" in res["msg"]
    assert not os.path.exists(target)
    assert bad["key"].splitlines()[1] not in json.dumps(out)


# ---------------------------------------------------------------- kubeconfig and pki_info

def test_kubeconfig_and_pki_info(tmp_path):
    work, pki = str(tmp_path / "kc"), str(tmp_path / "kc" / "pki")
    kc = {"name": "kc", "groundwork.k8s.kubeconfig": {
        "pki_dir": pki, "kubeconfig_dir": work, "cluster_name": "groundwork-lab", "node_name": "cp1",
        "control_plane_endpoint": "lb.example.internal:6443", "advertise_address": "10.250.0.2"}, "register": "k"}
    info = {"name": "info", "groundwork.k8s.pki_info": {"pki_dir": pki, "kubeconfig_dir": work}, "register": "i"}
    os.makedirs(work)
    rc, out = playbook(str(tmp_path), _play(_pki_task(pki), kc, info))
    assert rc == 0 and task_result(out, "kc")["changed"] is True
    confs = sorted(glob.glob(os.path.join(work, "*.conf")))
    assert [os.path.basename(c) for c in confs] == [
        "admin.conf", "controller-manager.conf", "kubelet.conf", "scheduler.conf", "super-admin.conf"]
    for conf in confs:
        assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
        doc = yaml.safe_load(open(conf))
        import base64
        cert = os.path.join(work, os.path.basename(conf) + ".pem")
        with open(cert, "wb") as f:
            f.write(base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]))
        assert openssl("verify", "-CAfile", os.path.join(pki, "ca.crt"), cert).returncode == 0
        os.unlink(cert)
    rows = task_result(out, "info")["certificates"]
    assert len(rows) == 15 and task_result(out, "info")["changed"] is False
    assert [r["not_after"] for r in rows] == sorted(r["not_after"] for r in rows)
    assert {r["name"]: r["days_left"] for r in rows}["apiserver"] == 364
    before = tree(work)
    rc, out = playbook(str(tmp_path), _play(_pki_task(pki), kc))
    assert rc == 0 and task_result(out, "kc")["changed"] is False
    # check mode: a new endpoint would rewrite admin/super-admin; nothing on disk changes
    kc2 = json.loads(json.dumps(kc))
    kc2["groundwork.k8s.kubeconfig"]["control_plane_endpoint"] = "api.example.internal:6443"
    rc, out = playbook(str(tmp_path), _play(kc2), args=["--check", "--diff"])
    res = task_result(out, "kc")
    assert rc == 0 and res["changed"] is True
    assert sorted(os.path.basename(p) for p in res["written"]) == ["admin.conf", "super-admin.conf"]
    assert tree(work) == before


# ---------------------------------------------------------------- role, -vvv, report

def _inventory(root, cps=("cp1", "cp2", "cp3"), etcds=(), etcd_address=None):
    hosts = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": PY,
                              "groundwork_cluster_name": "groundwork-lab",
                              "groundwork_control_plane_endpoint": "lb.example.internal:6443"},
                     "children": {"kube_control_plane": {"hosts": {}}}}}
    for i, name in enumerate(cps):
        hosts["all"]["children"]["kube_control_plane"]["hosts"][name] = {
            "ansible_host": "10.250.0.%d" % (2 + i), "pki_dir": os.path.join(root, name, "pki"),
            "pki_kubeconfig_dir": os.path.join(root, name)}
    if etcds:
        hosts["all"]["children"]["etcd"] = {"hosts": {}}
        for i, name in enumerate(etcds):
            hosts["all"]["children"]["etcd"]["hosts"][name] = {
                "ansible_host": etcd_address or "10.250.1.%d" % (2 + i), "pki_dir": os.path.join(root, name, "pki")}
    return hosts


def _role_plays(*profiles):
    groups = {"control_plane": "kube_control_plane", "etcd": "etcd"}
    return [{"name": "pki " + p, "hosts": groups[p], "gather_facts": False,
             "roles": [{"role": "groundwork.k8s.pki", "pki_profile": p}]} for p in profiles]


def test_role_three_control_planes_stacked_vvv_and_report(tmp_path):
    work = str(tmp_path)
    inv = _inventory(work)
    rc, text = playbook(work, _role_plays("control_plane"), inventory=inv, args=["-vvv"], json_out=False)
    assert rc == 0, text[-4000:]
    bodies = key_bodies(*(os.path.join(work, h) for h in ("cp1", "cp2", "cp3")))
    assert len(bodies) > 100
    leaked = [b for b in bodies if b in text]
    assert leaked == [], "private key material in -vvv output"
    assert "PRIVATE KEY" not in text
    # shared material identical everywhere, own leaves different, every chain verifies
    for shared in ("ca.crt", "ca.key", "front-proxy-ca.key", "etcd/ca.key", "sa.key", "sa.pub"):
        assert len({tree(os.path.join(work, h, "pki"))[shared] for h in ("cp1", "cp2", "cp3")}) == 1, shared
    assert len({tree(os.path.join(work, h, "pki"))["apiserver.key"] for h in ("cp1", "cp2", "cp3")}) == 3
    for h in ("cp1", "cp2", "cp3"):
        assert verify_chains(os.path.join(work, h, "pki")) == 7
        assert "IP Address:10.250.0.%d" % (2 + ("cp1", "cp2", "cp3").index(h)) in openssl(
            "x509", "-in", os.path.join(work, h, "pki", "etcd", "peer.crt"), "-noout", "-ext", "subjectAltName").stdout
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(work, "cp1", "*.conf"))) == [
        "admin.conf", "controller-manager.conf", "kubelet.conf", "scheduler.conf", "super-admin.conf"]
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(work, "cp2", "*.conf"))) == [
        "admin.conf", "controller-manager.conf", "scheduler.conf"]
    before = {h: tree(os.path.join(work, h)) for h in ("cp1", "cp2", "cp3")}
    rc, out = playbook(work, _role_plays("control_plane"), inventory=inv)
    assert rc == 0 and all(s["changed"] == 0 for s in stats(out).values()), stats(out)
    assert {h: tree(os.path.join(work, h)) for h in ("cp1", "cp2", "cp3")} == before
    # cluster-wide report
    report_dir = os.path.join(work, "report")
    rc, text = playbook(work, [{"import_playbook": os.path.join(ROOT, "playbooks", "cert_report.yml")}], inventory=inv,
                        env={"GW_CERT_REPORT_DIR": report_dir}, json_out=False)
    assert rc == 0, text[-3000:]
    rows = json.load(open(os.path.join(report_dir, "cert-report.json")))
    assert len(rows) == 3 * 13 + 2  # 10 certs + 3 kubeconfigs per host, kubelet/super-admin on cp1
    assert [r["not_after"] for r in rows] == sorted(r["not_after"] for r in rows)
    table = open(os.path.join(report_dir, "cert-report.txt")).read()
    assert table.splitlines()[0].split() == ["HOST", "NAME", "DAYS_LEFT", "NOT_AFTER", "SUBJECT", "ISSUER"]
    assert "41 certificate(s) on 3 host(s)" in table and "41 certificate(s) on 3 host(s)" in text
    # the expiry check fails the run (after writing the report) when something is due
    rc, text = playbook(work, [{"import_playbook": os.path.join(ROOT, "playbooks", "cert_report.yml")}], inventory=inv,
                        env={"GW_CERT_REPORT_DIR": report_dir}, args=["-e", "cert_report_fail_days=400"],
                        json_out=False)
    assert rc != 0 and "32 certificate(s) expire within 400 days: " in text


# ---------------------------------------------------------------- a real etcd cluster on these certificates


@pytest.mark.skipif(not (shutil.which("etcd") and shutil.which("etcdctl")), reason="Debian etcd not installed")
def test_real_etcd_cluster_with_mutual_tls(tmp_path):
    work = str(tmp_path)
    members = ("etcd1", "etcd2", "etcd3")
    # All members share 127.0.0.1 here; peer connections leave from 127.0.0.1, which the etcd
    # profile puts in every server/peer certificate anyway (MACHINE-NOTES).
    inv = _inventory(work, cps=("cp1",), etcds=members, etcd_address="127.0.0.1")
    inv["all"]["vars"]["groundwork_etcd_mode"] = "external"
    rc, out = playbook(work, _role_plays("control_plane", "etcd"), inventory=inv)
    assert rc == 0, json.dumps(out)[-3000:]
    rc, out = playbook(work, _role_plays("control_plane", "etcd"), inventory=inv)
    assert rc == 0 and all(s["changed"] == 0 for s in stats(out).values()), stats(out)
    cp_pki = os.path.join(work, "cp1", "pki")
    assert not os.path.exists(os.path.join(cp_pki, "etcd", "ca.key"))  # etcd CA key stays on etcd hosts
    assert not os.path.exists(os.path.join(cp_pki, "etcd", "server.crt"))

    ports = h.free_port_block(6)
    client = {m: ports[i] for i, m in enumerate(members)}
    peer = {m: ports[3 + i] for i, m in enumerate(members)}
    initial = ",".join("%s=https://127.0.0.1:%d" % (m, peer[m]) for m in members)
    procs = []
    try:
        for m in members:
            d = os.path.join(work, m, "pki", "etcd")
            log = open(os.path.join(work, m + ".log"), "w")
            procs.append(subprocess.Popen([
                "etcd", "--name", m, "--data-dir", os.path.join(work, m, "data"),
                "--listen-client-urls", "https://127.0.0.1:%d" % client[m],
                "--advertise-client-urls", "https://127.0.0.1:%d" % client[m],
                "--listen-peer-urls", "https://127.0.0.1:%d" % peer[m],
                "--initial-advertise-peer-urls", "https://127.0.0.1:%d" % peer[m],
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", "gw-pki-%d" % ports[0],
                "--cert-file", os.path.join(d, "server.crt"), "--key-file", os.path.join(d, "server.key"),
                "--client-cert-auth", "--trusted-ca-file", os.path.join(d, "ca.crt"),
                "--peer-cert-file", os.path.join(d, "peer.crt"), "--peer-key-file", os.path.join(d, "peer.key"),
                "--peer-client-cert-auth", "--peer-trusted-ca-file", os.path.join(d, "ca.crt"),
                "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        endpoints = ",".join("https://127.0.0.1:%d" % client[m] for m in members)
        hc = os.path.join(work, "etcd1", "pki", "etcd")

        def health(cert, key, cacert):
            return subprocess.run(["etcdctl", "--endpoints", endpoints, "--cacert", cacert, "--cert", cert, "--key", key,
                                   "--command-timeout=5s", "endpoint", "health"], capture_output=True, text=True,
                                  timeout=30, env=dict(os.environ, ETCDCTL_API="3"), check=False)
        deadline = time.time() + 60
        while True:
            proc = health(os.path.join(hc, "healthcheck-client.crt"), os.path.join(hc, "healthcheck-client.key"),
                          os.path.join(hc, "ca.crt"))
            if proc.returncode == 0 or time.time() > deadline:
                break
            time.sleep(1)
        logs = "".join(open(os.path.join(work, m + ".log")).read()[-1500:] for m in members)
        assert proc.returncode == 0, proc.stdout + proc.stderr + logs
        assert (proc.stdout + proc.stderr).count("is healthy") == 3
        # the control plane's apiserver-etcd-client (issued on cp1 by the etcd profile) is accepted too
        proc = health(os.path.join(cp_pki, "apiserver-etcd-client.crt"), os.path.join(cp_pki, "apiserver-etcd-client.key"),
                      os.path.join(cp_pki, "etcd", "ca.crt"))
        assert proc.returncode == 0 and (proc.stdout + proc.stderr).count("is healthy") == 3, proc.stderr
        # a client certificate from another CA is refused
        proc = health(os.path.join(cp_pki, "apiserver-kubelet-client.crt"),
                      os.path.join(cp_pki, "apiserver-kubelet-client.key"), os.path.join(hc, "ca.crt"))
        assert proc.returncode != 0
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
