# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the lab's local artifacts directory: what a site would receive on media, built here.

  python3 tests/airgap/make_lab_artifacts.py [OUT]     (default tests/lab/artifacts)

Upstream release layouts, filled with Debian's binaries (the real ones are not reachable here):
  etcd-vX-linux-amd64.tar.gz         etcd, etcdctl (Debian etcd-server / etcd-client)
  containerd-X-linux-amd64.tar.gz    bin/containerd, bin/containerd-shim-runc-v2, bin/ctr (Debian containerd)
  runc.amd64                         Debian runc
  cni-plugins-linux-amd64-vX.tgz     ./bridge ./host-local ./loopback ./portmap ... (Debian containernetworking-plugins)
  kubeadm kubelet kubectl            the test doubles tests/doubles/fake_* under their real names
  images/busybox.oci.tar             busybox-static as an OCI archive (tests/lab/files/mkimage.py)
  sources.yml, manifest.yml          the lab's reviewed input and its manifest (gen-manifest.py --from-dir)
Versions are the Debian packages' own. Tarballs are deterministic (sorted, mtime 0, root owner),
so rebuilding gives the same sha256 and a bundle re-run copies nothing.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "lab", "artifacts")
ARCH = "amd64"
IMAGE = "docker.io/library/busybox"


def deb_version(pkg):
    v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True, check=True).stdout
    return v.split(":")[-1].split("+")[0].split("~")[0].split("-")[0]


def add(tar, name, path=None, data=None, mode=0o755, kind=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname, ti.mode, ti.type = 0, 0, 0, "root", "root", mode, kind
    if kind == tarfile.DIRTYPE:
        tar.addfile(ti)
        return
    if data is None:
        with open(path, "rb") as f:
            data = f.read()
    ti.size = len(data)
    tar.addfile(ti, io.BytesIO(data))


def write_tar(out, members, gz):
    """members: [(name, source path or None for a dir)]; deterministic gzip (mtime 0)."""
    tmp = out + ".tmp"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, src in members:
            add(tar, name, src, kind=tarfile.DIRTYPE if src is None else tarfile.REGTYPE)
    data = raw.getvalue()
    if gz:
        import gzip

        data = gzip.compress(data, compresslevel=6, mtime=0)
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)


def same_or_copy(src, dest, mode=0o755):
    if os.path.exists(dest):
        with open(src, "rb") as a, open(dest, "rb") as b:
            if a.read() == b.read():
                return
    shutil.copyfile(src, dest + ".tmp")
    os.chmod(dest + ".tmp", mode)
    os.replace(dest + ".tmp", dest)


def busybox_image(out):
    target = os.path.join(out, "images", "busybox.oci.tar")
    if os.path.exists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "-q", "busybox-static"], cwd=tmp, check=True, capture_output=True)
        deb = [f for f in os.listdir(tmp) if f.endswith(".deb")][0]
        subprocess.run(["dpkg-deb", "-x", os.path.join(tmp, deb), os.path.join(tmp, "x")], check=True)
        version = deb.split("_")[1].split("%3a")[-1].split("-")[0]
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "lab", "files", "mkimage.py"),
                        os.path.join(tmp, "x", "bin", "busybox"), target + ".tmp", "%s:%s" % (IMAGE, version)],
                       check=True, capture_output=True)
        os.replace(target + ".tmp", target)
        with open(os.path.join(out, "images", "busybox.tag"), "w") as f:
            f.write(version + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, ".gitignore"), "w") as f:
        f.write("# built by tests/airgap/make_lab_artifacts.py\n*\n")
    etcd_v = "v" + deb_version("etcd-server")
    ctd_v = deb_version("containerd")
    runc_v = "v" + deb_version("runc")
    cni_v = "v" + deb_version("containernetworking-plugins")

    etcd_dir = "etcd-%s-linux-%s" % (etcd_v, ARCH)
    write_tar(os.path.join(OUT, etcd_dir + ".tar.gz"),
              [(etcd_dir, None), (etcd_dir + "/etcd", "/usr/bin/etcd"), (etcd_dir + "/etcdctl", "/usr/bin/etcdctl")], gz=True)
    write_tar(os.path.join(OUT, "containerd-%s-linux-%s.tar.gz" % (ctd_v, ARCH)),
              [("bin", None)] + [("bin/" + b, "/usr/bin/" + b) for b in ("containerd", "containerd-shim-runc-v2", "ctr")], gz=True)
    same_or_copy("/usr/sbin/runc", os.path.join(OUT, "runc." + ARCH))
    plugins = sorted(os.listdir("/usr/lib/cni"))
    write_tar(os.path.join(OUT, "cni-plugins-linux-%s-%s.tgz" % (ARCH, cni_v)),
              [(".", None)] + [("./" + p, "/usr/lib/cni/" + p) for p in plugins], gz=True)
    doubles = {}
    for name in ("kubeadm", "kubelet", "kubectl"):
        src = os.path.join(ROOT, "tests", "doubles", "fake_" + name)
        if os.path.isfile(src):
            same_or_copy(src, os.path.join(OUT, name))
            doubles[name] = "v1.35.0-alpha.1"
        else:
            print("note: %s not found; the lab manifest has no %s" % (src, name), file=sys.stderr)
    busybox_image(OUT)
    with open(os.path.join(OUT, "images", "busybox.tag")) as f:
        busybox_tag = f.read().strip()

    with open(os.path.join(ROOT, "artifacts", "sources.yml")) as f:
        sources = yaml.safe_load(f)
    sources["architectures"] = [ARCH]
    files = dict(doubles)
    files.update({"etcd": etcd_v, "containerd": ctd_v, "runc": runc_v, "cni-plugins": cni_v})
    sources["releases"] = {"1.35": {
        "kubernetes_version": "v1.35.0",
        "files": files,
        "images": {"busybox": "%s:%s" % (IMAGE, busybox_tag)},
    }}
    sources["packages"] = {"debian": {"mirror": ["nginx", "docker-registry", "skopeo", "python3-cryptography"], "node": ["socat"]}}
    with open(os.path.join(OUT, "sources.yml"), "w") as f:
        f.write("# Lab input of gen-manifest.py (written by tests/airgap/make_lab_artifacts.py)\n")
        yaml.safe_dump(sources, f, sort_keys=False)
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-manifest.py"), "--sources", os.path.join(OUT, "sources.yml"),
                    "--from-dir", OUT, "--out", os.path.join(OUT, "manifest.yml")], check=True)
    print(OUT)


if __name__ == "__main__":
    main()
