# -*- coding: utf-8 -*-
"""Real etcd clusters for tests: TLS on 127.0.0.1, unique high ports, always killed.

Used by tests/integration/test_etcd_real.py and bench/etcd_bench.py.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))
import sid_debs  # noqa: E402  (Debian sid packages, unpacked)

ETCD35_CACHE = os.environ.get("GW_ETCD35_DIR") or os.path.expanduser("~/.cache/groundwork/etcd-3.5")


def run(argv, **kw):
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    env = dict(os.environ, LC_ALL="C")
    env.update(kw.pop("env", {}))
    check = kw.pop("check")
    return subprocess.run(argv, env=env, check=check, **kw)


def make_pki(d):
    """CA, one server/peer cert (SAN IP:127.0.0.1, DNS:localhost), one client cert."""
    os.makedirs(d, exist_ok=True)

    def o(*a):
        return run(["openssl"] + list(a), cwd=d)

    o("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
      "-out", "ca.crt", "-days", "2", "-subj", "/CN=etcd-ca")
    for name, cn, eku in (("server", "etcd-member", "serverAuth,clientAuth"),
                          ("client", "healthcheck-client", "clientAuth")):
        o("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
          "-out", name + ".csr", "-subj", "/CN=" + cn)
        ext = os.path.join(d, name + ".ext")
        with open(ext, "w") as f:
            f.write("extendedKeyUsage=%s\nkeyUsage=digitalSignature,keyEncipherment\n" % eku)
            if name == "server":
                f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        o("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
          "-out", name + ".crt", "-days", "2", "-extfile", ext)
    for k in os.listdir(d):
        if k.endswith(".key"):
            os.chmod(os.path.join(d, k), 0o600)
    return {"cacert": os.path.join(d, "ca.crt"), "cert": os.path.join(d, "client.crt"),
            "key": os.path.join(d, "client.key"), "dir": d}


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    return lo, hi


def free_port_block(n):
    """n consecutive free ports (bind-tested) outside the kernel's ephemeral range: a port in that range can
    be taken by any outgoing connection (etcdctl, ansible, the lab beside) between this test and the etcd
    that listens on it later (a CI run lost a learner that way: it never started, never caught up)."""
    lo, hi = _ephemeral_range()
    bottom, top = (10000, lo - 1) if lo - 10000 > 4 * n else (hi + 1, 65535)
    for dummy in range(200):
        base = bottom + (os.getpid() * 7 + int(time.time() * 1000)) % (top - bottom - n)
        ports = [base + i for i in range(n)]
        ok = True
        for p in ports:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return ports
        time.sleep(0.01)
    raise RuntimeError("no free ports")


def etcd35_dir():
    """Directory with etcd/etcdctl/etcdutl 3.5 from the Debian sid package (dpkg -x, never installed).

    Downloads with apt-get and a temporary sources list once; returns None with the reason when refused.
    """
    bindir = os.path.join(ETCD35_CACHE, "root", "usr", "bin")
    if all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("etcd", "etcdctl", "etcdutl")):
        return bindir, None
    os.makedirs(ETCD35_CACHE, exist_ok=True)
    # the integration tests and the lab drills may ask at the same time: one downloads, one waits
    with open(os.path.join(ETCD35_CACHE, ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("etcd", "etcdctl", "etcdutl")):
            return bindir, None
        return _download_etcd35(bindir)


def _download_etcd35(bindir):
    try:
        sid_debs.fetch(ETCD35_CACHE, ["etcd-server", "etcd-client"])
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        return None, "etcd 3.5 download from Debian sid refused: %s" % (getattr(exc, "stderr", "") or exc)
    if not os.access(os.path.join(bindir, "etcdutl"), os.X_OK):
        return None, "the sid etcd package has no etcdutl"
    return bindir, None


class Cluster:
    """N etcd members on 127.0.0.1 with TLS (client and peer), each a child process."""

    def __init__(self, workdir, bindir="/usr/bin", n=3, token="groundwork-test"):
        self.workdir = workdir
        self.bindir = bindir
        self.token = token
        self.pki = make_pki(os.path.join(workdir, "pki"))
        ports = free_port_block(3 * n + 6)
        self.spare_ports = ports[3 * n:]
        self.members = []
        for i in range(n):
            self.members.append(self._member("m%d" % (i + 1), ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]))
        self.procs = {}

    def _member(self, name, client, peer, metrics):
        return {"name": name, "client": "https://127.0.0.1:%d" % client, "peer": "https://127.0.0.1:%d" % peer,
                "metrics": "http://127.0.0.1:%d" % metrics, "data_dir": os.path.join(self.workdir, name + ".etcd")}

    def add_spare(self, name):
        c, p, m = self.spare_ports[:3]
        self.spare_ports = self.spare_ports[3:]
        mem = self._member(name, c, p, m)
        self.members.append(mem)
        return mem

    @property
    def endpoints(self):
        return [m["client"] for m in self.members]

    def initial_cluster(self, members=None):
        return ",".join("%s=%s" % (m["name"], m["peer"]) for m in sorted(members or self.members,
                                                                         key=lambda m: m["name"]))

    def conn(self):
        return {"endpoints": self.endpoints, "cacert": self.pki["cacert"], "cert": self.pki["cert"],
                "key": self.pki["key"], "etcdctl": os.path.join(self.bindir, "etcdctl"),
                "etcdutl": os.path.join(self.bindir, "etcdutl") if os.path.exists(
                    os.path.join(self.bindir, "etcdutl")) else ""}

    def start(self, member, state="new", initial_cluster=None):
        pk = self.pki["dir"]
        argv = [os.path.join(self.bindir, "etcd"), "--name", member["name"], "--data-dir", member["data_dir"],
                "--listen-client-urls", member["client"], "--advertise-client-urls", member["client"],
                "--listen-peer-urls", member["peer"], "--initial-advertise-peer-urls", member["peer"],
                "--listen-metrics-urls", member["metrics"],
                "--initial-cluster", initial_cluster or self.initial_cluster(),
                "--initial-cluster-state", state, "--initial-cluster-token", self.token,
                "--cert-file", pk + "/server.crt", "--key-file", pk + "/server.key", "--client-cert-auth",
                "--trusted-ca-file", pk + "/ca.crt", "--peer-cert-file", pk + "/server.crt",
                "--peer-key-file", pk + "/server.key", "--peer-client-cert-auth",
                "--peer-trusted-ca-file", pk + "/ca.crt", "--heartbeat-interval", "100",
                "--election-timeout", "1000", "--quota-backend-bytes", str(4 * 1024 ** 3)]
        log = open(os.path.join(self.workdir, member["name"] + ".log"), "ab")
        env = dict(os.environ, LC_ALL="C", ETCD_UNSUPPORTED_ARCH="")
        self.procs[member["name"]] = subprocess.Popen(argv, stdout=log, stderr=log, env=env,
                                                      start_new_session=True)
        log.close()

    def log_tails(self, lines=15):
        """The last lines of every member's log (for a failure message)."""
        out = []
        for m in self.members:
            path = os.path.join(self.workdir, m["name"] + ".log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append("--- %s.log\n%s" % (m["name"], "".join(f.readlines()[-lines:])))
        return "\n".join(out)

    def start_all(self, state="new"):
        for m in self.members:
            self.start(m, state)
        self.wait_healthy()

    def stop(self, member, sig=signal.SIGTERM):
        p = self.procs.pop(member["name"], None)
        if p and p.poll() is None:
            os.killpg(p.pid, sig)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)

    def stop_all(self, sig=signal.SIGKILL):
        for m in list(self.members):
            self.stop(m, sig)
        for name in list(self.procs):
            self.stop({"name": name}, signal.SIGKILL)

    def ctl(self, *args, endpoints=None, check=True):
        argv = [os.path.join(self.bindir, "etcdctl"), "--endpoints=" + ",".join(endpoints or self.endpoints),
                "--cacert", self.pki["cacert"], "--cert", self.pki["cert"], "--key", self.pki["key"],
                "--dial-timeout=2s", "--command-timeout=10s"] + list(args)
        return run(argv, env={"ETCDCTL_API": "3"}, check=check, timeout=60)

    def wait_healthy(self, timeout=40, endpoints=None):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            r = self.ctl("endpoint", "health", "-w", "json", endpoints=endpoints, check=False)
            if r.returncode == 0:
                return
            last = r.stderr[-400:]
            time.sleep(0.5)
        raise AssertionError("etcd not healthy in %ss: %s" % (timeout, last))

    def put_keys(self, prefix, n, start=0):
        # one etcdctl txn per batch keeps this fast
        batch = 100
        for i in range(start, start + n, batch):
            ops = "".join('put %s%06d "v%d"\n' % (prefix, j, j) for j in range(i, min(i + batch, start + n)))
            r = subprocess.run([os.path.join(self.bindir, "etcdctl"), "--endpoints=" + self.endpoints[0],
                                "--cacert", self.pki["cacert"], "--cert", self.pki["cert"], "--key",
                                self.pki["key"], "txn"], input="\n" + ops + "\n\n", capture_output=True, text=True,
                               env=dict(os.environ, ETCDCTL_API="3"), timeout=60, check=True)
            assert "SUCCESS" in r.stdout, r.stdout + r.stderr

    def count_keys(self, prefix, endpoints=None):
        r = self.ctl("get", prefix, "--prefix", "--keys-only", "--limit=1", "-w", "json", endpoints=endpoints)
        return json.loads(r.stdout).get("count", 0)


def ansible_playbook(playbook_yaml, workdir, extra_env=None, check=False, diff=False, timeout=300):
    """Run a playbook on localhost with the venv's ansible; returns (rc, stdout, parsed json results)."""
    path = os.path.join(workdir, "play-%d.yml" % int(time.time() * 1e6))
    with open(path, "w") as f:
        f.write(playbook_yaml)
    env = dict(os.environ)
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"), "ANSIBLE_STDOUT_CALLBACK": "json",
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg")})
    env.update(extra_env or {})
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=%s" % sys.executable, path]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT, check=False)
    try:
        data = json.loads(p.stdout)
    except ValueError:
        data = {}
    results = []
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            results.append((task["task"]["name"], task["hosts"].get("localhost", {})))
    return p.returncode, p.stdout + p.stderr, results


def cleanup_dir(path):
    shutil.rmtree(path, ignore_errors=True)


def tmpdir(prefix="gw-etcd-"):
    return tempfile.mkdtemp(prefix=prefix)
