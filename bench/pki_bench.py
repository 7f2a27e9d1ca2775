# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time the whole kubeadm PKI of a 3-control-plane cluster (stacked etcd), the ways interleaved (A B C D,
then D C B A, ...), a fresh directory each time:

  module      role groundwork.k8s.pki (cluster_pki + kubeconfig modules) through ansible-playbook, 3 local hosts
  kubeadm     real kubeadm v1.33.3 from the media (/work/shared/k8s/v1.33.3/kubeadm.xz, sha256 checked):
              `kubeadm init phase certs all` + `kubeconfig` phases per host (CAs made on cp1, copied to cp2/cp3
              as kubeadm's docs say); no media -> that way is SKIPPED
  crypto      community.crypto, one task (module run) per file: key, CSR, certificate; copy for kubeconfigs
  openssl     a bash script of openssl CLI calls producing the same files
  library     the module_utils alone (no Ansible)

Per control plane: ca, front-proxy-ca, etcd/ca (made on cp1, copied to cp2/cp3), sa.key/sa.pub,
7 leaves, kubeconfigs (5 on cp1, 3 on the others) - 22 PKI files + kubeconfigs per host, RSA-2048.
Equivalence: every way's leaves verify against their CA on every host, the kubeconfig counts match, and the
module's and kubeadm's apiserver certificates carry the same SANs. Writes bench/results/pki-<stamp>.json.

  python bench/pki_bench.py [--rounds N] [--skip-crypto] [--media DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import _benchlib as B  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.groundwork.k8s.plugins.module_utils import _pki  # noqa: E402  pylint: disable=wrong-import-position

HOSTS = {"cp1": "10.250.0.2", "cp2": "10.250.0.3", "cp3": "10.250.0.4"}
ENDPOINT = "lb.example.internal"
EXTRA = ["10.250.0.10", "api.example.internal"]


def env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
                PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_NOCOLOR="1", LC_ALL="C.UTF-8",
                ANSIBLE_HOST_KEY_CHECKING="0")


def inventory(work, group="kube_control_plane"):
    lines = ["all:", "  vars:", "    ansible_connection: local", "    ansible_python_interpreter: %s" % sys.executable,
             "    groundwork_cluster_name: bench", "    groundwork_control_plane_endpoint: %s:6443" % ENDPOINT,
             "    groundwork_etcd_mode: stacked", "  children:", "    %s:" % group, "      hosts:"]
    for h, ip in HOSTS.items():
        lines.append("        %s: {ansible_host: %s, pki_dir: %s/%s/pki, pki_kubeconfig_dir: %s/%s}" % (h, ip, work, h, work, h))
    path = os.path.join(work, "hosts.yml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(work, "ansible.cfg"), "w") as f:
        f.write("[defaults]\nforks = 5\n")
    return path


def run_playbook(work, text):
    inv = inventory(work)
    play = os.path.join(work, "play.yml")
    with open(play, "w") as f:
        f.write(text)
    t0 = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", inv, play], cwd=work, capture_output=True,
                          text=True, env=dict(env(), ANSIBLE_CONFIG=os.path.join(work, "ansible.cfg")), check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit("playbook failed:\n" + proc.stdout[-4000:] + proc.stderr[-2000:])
    return elapsed


def count_files(work):
    return sum(len(files) for dummy, dummy2, files in os.walk(work))


# ---------------------------------------------------------------- 1. our module (through the role)

MODULE_PLAY = """
- name: PKI through groundwork.k8s.pki
  hosts: kube_control_plane
  gather_facts: false
  roles:
    - role: groundwork.k8s.pki
      pki_profile: control_plane
      pki_apiserver_cert_extra_sans: %s
""" % EXTRA


def bench_module(work):
    return run_playbook(work, MODULE_PLAY)


def bench_library(work):
    t0 = time.perf_counter()
    shared = {}
    for i, (host, ip) in enumerate(HOSTS.items()):
        pki = os.path.join(work, host, "pki")
        params = dict(pki_dir=pki, profile="both", node_name=host, advertise_address=ip,
                      control_plane_endpoint=ENDPOINT + ":6443", apiserver_cert_extra_sans=EXTRA, **shared)
        _pki.apply_writes(_pki.plan_cluster_pki(params).writes)
        names = list(_pki.KUBECONFIGS) if i == 0 else ["admin", "controller-manager", "scheduler"]
        _pki.apply_writes(_pki.plan_kubeconfigs(dict(params, kubeconfig_dir=os.path.join(work, host), names=names,
                                                     cluster_name="bench")).writes)
        if i == 0:
            def read(p, pki=pki):
                with open(os.path.join(pki, p)) as f:
                    return f.read()
            shared = {"ca": {"cert": read("ca.crt"), "key": read("ca.key")},
                      "front_proxy_ca": {"cert": read("front-proxy-ca.crt"), "key": read("front-proxy-ca.key")},
                      "etcd_ca": {"cert": read("etcd/ca.crt"), "key": read("etcd/ca.key")}, "sa_key": read("sa.key")}
    return time.perf_counter() - t0


# ---------------------------------------------------------------- 2. openssl CLI

def _leaves(host, ip):
    """(path, subject, ca, eku, sans) for one host, as kubeadm makes them."""
    names = sorted([host, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local", ENDPOINT, "api.example.internal"])
    api_sans = ",".join(["DNS:" + d for d in names] + ["IP:10.96.0.1", "IP:" + ip, "IP:10.250.0.10"])
    etcd_sans = "DNS:%s,DNS:localhost,IP:%s,IP:127.0.0.1,IP:::1" % (host, ip)
    return [
        ("apiserver", "/CN=kube-apiserver", "ca", "serverAuth", api_sans),
        ("apiserver-kubelet-client", "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client", "ca", "clientAuth", ""),
        ("front-proxy-client", "/CN=front-proxy-client", "front-proxy-ca", "clientAuth", ""),
        ("etcd/server", "/CN=" + host, "etcd/ca", "serverAuth,clientAuth", etcd_sans),
        ("etcd/peer", "/CN=" + host, "etcd/ca", "serverAuth,clientAuth", etcd_sans),
        ("etcd/healthcheck-client", "/CN=kube-etcd-healthcheck-client", "etcd/ca", "clientAuth", ""),
        ("apiserver-etcd-client", "/CN=kube-apiserver-etcd-client", "etcd/ca", "clientAuth", ""),
    ]


def _kc_users(host, first):
    users = [("admin", "/O=kubeadm:cluster-admins/CN=kubernetes-admin", "lb"),
             ("controller-manager", "/CN=system:kube-controller-manager", "local"),
             ("scheduler", "/CN=system:kube-scheduler", "local")]
    if first:
        users += [("super-admin", "/O=system:masters/CN=kubernetes-super-admin", "lb"),
                  ("kubelet", "/O=system:nodes/CN=system:node:" + host, "local")]
    return users


def openssl_script(work):
    out = ["set -euo pipefail", "umask 077", "cd %s" % work]
    leaf_ext = ("keyUsage=critical,digitalSignature,keyEncipherment\\nextendedKeyUsage=%s\\n"
                "basicConstraints=critical,CA:FALSE\\nauthorityKeyIdentifier=keyid\\n")
    first = "cp1"
    p1 = "%s/%s/pki" % (work, first)
    out.append("mkdir -p %s/etcd" % p1)
    for ca, cn in (("ca", "kubernetes"), ("front-proxy-ca", "front-proxy-ca"), ("etcd/ca", "etcd-ca")):
        out.append("openssl genrsa -traditional -out %s/%s.key 2048 2>/dev/null" % (p1, ca))
        out.append("openssl req -x509 -new -key {p}/{ca}.key -subj /CN={cn} -days 3650 -set_serial 0x$(openssl rand -hex 8)"
                   " -addext 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign'"
                   " -addext 'basicConstraints=critical,CA:TRUE' -addext 'subjectKeyIdentifier=hash'"
                   " -addext 'subjectAltName=DNS:{cn}' -out {p}/{ca}.crt".format(p=p1, ca=ca, cn=cn))
        out.append("chmod 644 %s/%s.crt" % (p1, ca))
    out.append("openssl genrsa -traditional -out %s/sa.key 2048 2>/dev/null" % p1)
    out.append("openssl rsa -in %s/sa.key -pubout -out %s/sa.pub 2>/dev/null" % (p1, p1))
    for host, ip in HOSTS.items():
        p = "%s/%s/pki" % (work, host)
        if host != first:
            out.append("mkdir -p %s/etcd" % p)
            for f in ("ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key",
                      "sa.key", "sa.pub"):
                out.append("cp -p %s/%s %s/%s" % (p1, f, p, f))
        items = [(path, subj, ca, eku, sans, p + "/" + path) for path, subj, ca, eku, sans in _leaves(host, ip)]
        items += [("kc-" + name, subj, "ca", "clientAuth", "", "%s/%s/kc-%s" % (work, host, name))
                  for name, subj, dummy in _kc_users(host, host == first)]
        for dummy, subj, ca, eku, sans, base in items:
            ext = leaf_ext % eku + ("subjectAltName=%s\\n" % sans if sans else "")
            out.append("openssl genrsa -traditional -out %s.key 2048 2>/dev/null" % base)
            out.append("openssl req -new -key {b}.key -subj '{s}' | openssl x509 -req -CA {p}/{ca}.crt -CAkey {p}/{ca}.key"
                       " -set_serial 0x$(openssl rand -hex 8) -days 365 -extfile <(printf '{e}') -out {b}.crt 2>/dev/null"
                       .format(b=base, s=subj, p=p, ca=ca, e=ext))
            out.append("chmod 644 %s.crt" % base)
        for name, dummy, where in _kc_users(host, host == first):
            server = "https://%s:6443" % (ENDPOINT if where == "lb" else ip)
            user = "system:node:%s" % host if name == "kubelet" else {
                "admin": "kubernetes-admin", "super-admin": "kubernetes-super-admin",
                "controller-manager": "system:kube-controller-manager", "scheduler": "system:kube-scheduler"}[name]
            b = "%s/%s/kc-%s" % (work, host, name)
            out.append(
                "printf 'apiVersion: v1\\nclusters:\\n- cluster:\\n    certificate-authority-data: %%s\\n    server: {srv}\\n"
                "  name: bench\\ncontexts:\\n- context:\\n    cluster: bench\\n    user: {u}\\n  name: {u}@bench\\n"
                "current-context: {u}@bench\\nkind: Config\\nusers:\\n- name: {u}\\n  user:\\n"
                "    client-certificate-data: %%s\\n    client-key-data: %%s\\n' \"$(base64 -w0 {p}/ca.crt)\""
                " \"$(base64 -w0 {b}.crt)\" \"$(base64 -w0 {b}.key)\" > {w}/{h}/{n}.conf && rm {b}.crt {b}.key"
                .format(srv=server, u=user, p=p, b=b, w=work, h=host, n=name))
    return "\n".join(out) + "\n"


def bench_openssl(work):
    script = os.path.join(work, "pki.sh")
    with open(script, "w") as f:
        f.write(openssl_script(work))
    t0 = time.perf_counter()
    subprocess.run(["bash", script], check=True, capture_output=True)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- 3. community.crypto, one task per file

def crypto_play(work):
    """Three plays: CAs on cp1, CA copies on cp2/cp3, leaves and kubeconfigs everywhere (hosts in parallel)."""
    leaves = {h: [dict(path=p, cn=s.split("CN=")[1], o=(s.split("/O=")[1].split("/")[0] if "/O=" in s else ""),
                       ca=ca, eku=eku.split(","), sans=[x for x in sans.split(",") if x])
                  for p, s, ca, eku, sans in _leaves(h, ip)]
              for h, ip in HOSTS.items()}
    kcs = {h: [dict(name=n, cn=s.split("CN=")[1], o=(s.split("/O=")[1].split("/")[0] if "/O=" in s else ""),
                    server="https://%s:6443" % (ENDPOINT if w == "lb" else HOSTS[h]))
               for n, s, w in _kc_users(h, h == "cp1")] for h in HOSTS}
    import json
    return """
- name: CAs and service-account key on the first control plane
  hosts: cp1
  gather_facts: false
  tasks:
    - name: Directories
      ansible.builtin.file: {path: "{{ pki_dir }}/etcd", state: directory, mode: "0755"}
    - name: CA keys
      community.crypto.openssl_privatekey: {path: "{{ pki_dir }}/{{ item }}.key", type: RSA, size: 2048, format: pkcs1, mode: "0600"}
      loop: [ca, front-proxy-ca, etcd/ca, sa]
    - name: CA CSRs
      community.crypto.openssl_csr_pipe:
        privatekey_path: "{{ pki_dir }}/{{ item.0 }}.key"
        common_name: "{{ item.1 }}"
        subject_alt_name: ["DNS:{{ item.1 }}"]
        basic_constraints: ["CA:TRUE"]
        basic_constraints_critical: true
        key_usage: [digitalSignature, keyEncipherment, keyCertSign]
        key_usage_critical: true
        create_subject_key_identifier: true
      loop: [[ca, kubernetes], [front-proxy-ca, front-proxy-ca], [etcd/ca, etcd-ca]]
      register: ca_csr
    - name: CA certificates
      community.crypto.x509_certificate:
        path: "{{ pki_dir }}/{{ item.item.0 }}.crt"
        csr_content: "{{ item.csr }}"
        privatekey_path: "{{ pki_dir }}/{{ item.item.0 }}.key"
        provider: selfsigned
        selfsigned_not_after: +3650d
        mode: "0644"
      loop: "{{ ca_csr.results }}"
      loop_control: {label: "{{ item.item.0 }}"}
    - name: SA public key
      community.crypto.openssl_publickey: {path: "{{ pki_dir }}/sa.pub", privatekey_path: "{{ pki_dir }}/sa.key", mode: "0600"}

- name: Copy the CAs to the other control planes
  hosts: cp2:cp3
  gather_facts: false
  tasks:
    - name: Directories
      ansible.builtin.file: {path: "{{ pki_dir }}/etcd", state: directory, mode: "0755"}
    - name: CA files
      ansible.builtin.copy:
        src: "{{ hostvars.cp1.pki_dir }}/{{ item }}"
        dest: "{{ pki_dir }}/{{ item }}"
        remote_src: true
        mode: preserve
      loop: [ca.crt, ca.key, front-proxy-ca.crt, front-proxy-ca.key, etcd/ca.crt, etcd/ca.key, sa.key, sa.pub]

- name: Leaves and kubeconfig client certificates on every control plane
  hosts: kube_control_plane
  gather_facts: false
  vars:
    leaves_by_host: %s
    kcs_by_host: %s
  tasks:
    - name: Leaf keys
      community.crypto.openssl_privatekey: {path: "{{ pki_dir }}/{{ item.path }}.key", type: RSA, size: 2048, format: pkcs1, mode: "0600"}
      loop: "{{ leaves_by_host[inventory_hostname] }}"
      loop_control: {label: "{{ item.path }}"}
    - name: Leaf CSRs
      community.crypto.openssl_csr_pipe:
        privatekey_path: "{{ pki_dir }}/{{ item.path }}.key"
        common_name: "{{ item.cn }}"
        organization_name: "{{ item.o or omit }}"
        subject_alt_name: "{{ item.sans or omit }}"
        basic_constraints: ["CA:FALSE"]
        basic_constraints_critical: true
        key_usage: [digitalSignature, keyEncipherment]
        key_usage_critical: true
        extended_key_usage: "{{ item.eku }}"
        create_subject_key_identifier: false
      loop: "{{ leaves_by_host[inventory_hostname] }}"
      loop_control: {label: "{{ item.path }}"}
      register: leaf_csr
    - name: Leaf certificates
      community.crypto.x509_certificate:
        path: "{{ pki_dir }}/{{ item.item.path }}.crt"
        csr_content: "{{ item.csr }}"
        provider: ownca
        ownca_path: "{{ pki_dir }}/{{ item.item.ca }}.crt"
        ownca_privatekey_path: "{{ pki_dir }}/{{ item.item.ca }}.key"
        ownca_not_after: +365d
        mode: "0644"
      loop: "{{ leaf_csr.results }}"
      loop_control: {label: "{{ item.item.path }}"}
    - name: Kubeconfig client keys
      community.crypto.openssl_privatekey: {path: "{{ pki_kubeconfig_dir }}/{{ item.name }}.key", type: RSA, size: 2048, format: pkcs1, mode: "0600"}
      loop: "{{ kcs_by_host[inventory_hostname] }}"
      loop_control: {label: "{{ item.name }}"}
    - name: Kubeconfig client CSRs
      community.crypto.openssl_csr_pipe:
        privatekey_path: "{{ pki_kubeconfig_dir }}/{{ item.name }}.key"
        common_name: "{{ item.cn }}"
        organization_name: "{{ item.o or omit }}"
        basic_constraints: ["CA:FALSE"]
        basic_constraints_critical: true
        key_usage: [digitalSignature, keyEncipherment]
        key_usage_critical: true
        extended_key_usage: [clientAuth]
      loop: "{{ kcs_by_host[inventory_hostname] }}"
      loop_control: {label: "{{ item.name }}"}
      register: kc_csr
    - name: Kubeconfig client certificates
      community.crypto.x509_certificate:
        path: "{{ pki_kubeconfig_dir }}/{{ item.item.name }}.crt"
        csr_content: "{{ item.csr }}"
        provider: ownca
        ownca_path: "{{ pki_dir }}/ca.crt"
        ownca_privatekey_path: "{{ pki_dir }}/ca.key"
        ownca_not_after: +365d
        mode: "0600"
      loop: "{{ kc_csr.results }}"
      loop_control: {label: "{{ item.item.name }}"}
    - name: Kubeconfig files
      ansible.builtin.copy:
        dest: "{{ pki_kubeconfig_dir }}/{{ item.name }}.conf"
        mode: "0600"
        content: |
          apiVersion: v1
          clusters:
          - cluster:
              certificate-authority-data: {{ lookup('ansible.builtin.file', pki_dir ~ '/ca.crt') | b64encode }}
              server: {{ item.server }}
            name: bench
          contexts:
          - context:
              cluster: bench
              user: {{ item.cn }}
            name: {{ item.cn }}@bench
          current-context: {{ item.cn }}@bench
          kind: Config
          users:
          - name: {{ item.cn }}
            user:
              client-certificate-data: {{ lookup('ansible.builtin.file', pki_kubeconfig_dir ~ '/' ~ item.name ~ '.crt') | b64encode }}
              client-key-data: {{ lookup('ansible.builtin.file', pki_kubeconfig_dir ~ '/' ~ item.name ~ '.key') | b64encode }}
      loop: "{{ kcs_by_host[inventory_hostname] }}"
      loop_control: {label: "{{ item.name }}"}
      no_log: true
""" % (json.dumps(leaves), json.dumps(kcs))


def bench_crypto(work):
    return run_playbook(work, crypto_play(work))


def verify(work, what):
    """Sanity of each result: the same leaves exist and verify against their CA on every host."""
    for host in HOSTS:
        pki = os.path.join(work, host, "pki")
        for path, dummy, ca, dummy2, dummy3 in _leaves(host, HOSTS[host]):
            proc = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(pki, ca + ".crt"),
                                   os.path.join(pki, path + ".crt")], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit("%s: %s/%s does not verify: %s" % (what, host, path, proc.stdout + proc.stderr))
        confs = [f for f in os.listdir(os.path.join(work, host)) if f.endswith(".conf")]
        if len(confs) != (5 if host == "cp1" else 3):
            raise SystemExit("%s: %s has kubeconfigs %s" % (what, host, confs))


# ---------------------------------------------------------------- 4. real kubeadm from the media

def kubeadm_binary(media, cache="/var/tmp/gw-bench-kubeadm"):
    """(path, None) of kubeadm unpacked from the media (sha256 from SHA256SUMS checked), or (None, why)."""
    xz, sums = os.path.join(media, "kubeadm.xz"), os.path.join(media, "SHA256SUMS")
    if not (os.path.isfile(xz) and os.path.isfile(sums)):
        return None, "no %s (and SHA256SUMS): the Kubernetes media is absent" % xz
    with open(sums) as f:
        want = dict(reversed(line.split()) for line in f if line.strip()).get("kubeadm")
    path = os.path.join(cache, want or "x", "kubeadm")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with lzma.open(xz) as src, open(path + ".part", "wb") as dst:
            shutil.copyfileobj(src, dst)
        with open(path + ".part", "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        if got != want:
            return None, "kubeadm from %s has sha256 %s, SHA256SUMS says %s" % (xz, got, want)
        os.chmod(path + ".part", 0o755)
        os.replace(path + ".part", path)
    return path, None


KUBEADM_CONFIG = """apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: %(ip)s, bindPort: 6443}
nodeRegistration: {name: %(host)s}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: bench
kubernetesVersion: v1.33.3
controlPlaneEndpoint: "%(endpoint)s:6443"
certificatesDir: %(pki)s
apiServer: {certSANs: %(sans)s}
"""


def bench_kubeadm(kubeadm):
    def run(work):
        t0 = time.perf_counter()
        first = None
        for host, ip in HOSTS.items():
            pki = os.path.join(work, host, "pki")
            os.makedirs(pki)
            cfg = os.path.join(work, host + ".yaml")
            with open(cfg, "w") as f:
                f.write(KUBEADM_CONFIG % {"ip": ip, "host": host, "endpoint": ENDPOINT, "pki": pki,
                                          "sans": "[%s]" % ", ".join(EXTRA)})
            if first:  # the shared CAs and SA key, as kubeadm's HA guide copies them
                os.makedirs(os.path.join(pki, "etcd"))
                for f in ("ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt",
                          "etcd/ca.key", "sa.key", "sa.pub"):
                    shutil.copy2(os.path.join(first, f), os.path.join(pki, f))
            kc = os.path.join(work, host)
            subprocess.run([kubeadm, "init", "phase", "certs", "all", "--config", cfg], check=True,
                           capture_output=True)
            phases = ["all"] if not first else ["admin", "controller-manager", "scheduler"]
            for ph in phases:
                subprocess.run([kubeadm, "init", "phase", "kubeconfig", ph, "--config", cfg, "--kubeconfig-dir", kc],
                               check=True, capture_output=True)
            first = first or pki
        return time.perf_counter() - t0
    return run


def apiserver_sans(work, host="cp1"):
    out = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                          os.path.join(work, host, "pki", "apiserver.crt")], capture_output=True, text=True,
                         check=True).stdout
    return sorted(x.strip() for x in out.splitlines()[-1].split(","))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-crypto", action="store_true")
    parser.add_argument("--media", default=os.environ.get("GW_K8S_MEDIA", "/work/shared/k8s/v1.33.3"))
    args = parser.parse_args()
    notes = []
    kubeadm, why = kubeadm_binary(args.media)
    if not kubeadm:
        notes.append("kubeadm way SKIPPED: %s" % why)
        print("kubeadm: SKIPPED (%s)" % why)
    fns = [("module (role groundwork.k8s.pki, ansible-playbook)", bench_module)]
    if kubeadm:
        fns.append(("real kubeadm v1.33.3 (init phase certs/kubeconfig)", bench_kubeadm(kubeadm)))
    if not args.skip_crypto:
        fns.append(("community.crypto, task per file", bench_crypto))
    fns += [("openssl CLI script", bench_openssl), ("library (_pki, no Ansible)", bench_library)]
    sans = {}

    def way(name, fn):
        def run(r):
            work = tempfile.mkdtemp(prefix="gw-pki-bench-")
            try:
                t = fn(work)
                verify(work, name)
                sans[name] = apiserver_sans(work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            return t
        return run

    # the timed part is each way's own (its directory set-up and checks are outside the clock)
    ways = [(n, way(n, f)) for n, f in fns]
    dummy, outs = B.interleave(ways, args.rounds, warmup=False)
    summ = {n: B.summary(outs[n]) for n, dummy in fns}
    mod = fns[0][0]
    heads = []
    if kubeadm:
        heads.append(B.headline("PKI module via Ansible / real kubeadm", B.ratio(summ, mod, fns[1][0]), 0.6))
    else:
        heads.append(B.headline("PKI module via Ansible / real kubeadm", None, 0.6))
    if not args.skip_crypto:
        heads.append(B.headline("PKI module via Ansible / community.crypto",
                                B.ratio(summ, mod, "community.crypto, task per file"), 1.0))
    heads.append(B.headline("PKI module via Ansible / library alone", B.ratio(summ, mod, "library (_pki, no Ansible)"),
                            None))
    eq = all(v == sans[mod] for k, v in sans.items() if k.startswith(("real kubeadm", "library")))
    notes.append("apiserver SANs (module): %s" % " ".join(sans[mod]))
    for k, v in sans.items():
        if v != sans[mod]:
            notes.append("apiserver SANs differ (%s): %s" % (k, " ".join(v)))
    path = B.write("pki", summ, heads, eq, "every way: each leaf verifies against its CA on cp1-3, 5/3/3 "
                   "kubeconfigs; the module's, kubeadm's and the library's apiserver SANs are the same", args.rounds,
                   notes=notes, extra={"load_before": os.getloadavg()})
    B.report("pki", summ, heads, eq, path)
    for n in notes:
        print("  note: %s" % n)


if __name__ == "__main__":
    main()
