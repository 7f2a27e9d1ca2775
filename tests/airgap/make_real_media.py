# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn received Kubernetes media into a site's local artifacts directory (the real lane's input).

  python3 tests/airgap/make_real_media.py MEDIA OUT

MEDIA is a directory like ../shared/k8s/v1.33.3: NAME.xz for kubeadm, kubelet, kubectl, kube-apiserver,
kube-controller-manager, kube-scheduler, kube-proxy, pause, and SHA256SUMS of the uncompressed files.
Every binary is checked against SHA256SUMS before it is used (a mismatch stops here, naming it).

OUT receives what gen-manifest.py --from-dir and mirror.yml --tags build take, as a site would have it:
  kubeadm kubelet kubectl                    the media's binaries (upstream file names)
  images/<name>.oci.tar                       control-plane images built from the media's binaries:
                                              kube-apiserver, kube-controller-manager, kube-scheduler
                                              (the binary in /usr/local/bin), kube-proxy (plus Debian's
                                              iptables, nft and legacy, with their libraries), pause
                                              (/pause), etcd (Debian's etcd 3.5 package), busybox
                                              (the lab's workload image)
  etcd/containerd/runc/cni-plugins           Debian's binaries in upstream layouts (make_lab_artifacts)
  sources.yml, manifest.yml                   the release of the media's minor from artifacts/sources.yml
                                              with the lab's versions; its manifest (--from-dir)
Images are deterministic (mtime 0, sorted): rebuilding gives the same digests, so a bundle re-run copies
nothing. Prints one line of JSON: version, release, etcd image tag, timings.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import make_lab_artifacts as L  # noqa: E402  (Debian binaries in upstream layouts)

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
KUBE = ("kubeadm", "kubelet", "kubectl")
IMAGE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "pause")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def die(msg):
    print("make_real_media: " + msg, file=sys.stderr)
    sys.exit(1)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unpack_media(media, work, names=KUBE + IMAGE_BINARIES):
    """MEDIA/NAME.xz -> WORK/NAME, each checked against SHA256SUMS (of the uncompressed files)."""
    sums = {}
    try:
        with open(os.path.join(media, "SHA256SUMS")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    sums[parts[1].lstrip("*")] = parts[0]
    except OSError as exc:
        die("%s: no SHA256SUMS (%s)" % (media, exc))
    out = {}
    for name in names:
        src = os.path.join(media, name + ".xz")
        dest = os.path.join(work, name)
        if name == "pause" and name not in sums and os.environ.get("GW_PAUSE_MEDIA"):
            # pause does not follow Kubernetes patch releases: media without it (v1.33.2) borrow another's
            other = os.environ["GW_PAUSE_MEDIA"]
            sub = os.path.join(work, "from-" + os.path.basename(os.path.normpath(other)))
            os.makedirs(sub, exist_ok=True)
            out[name] = unpack_media(other, sub, ("pause",))[name]
            continue
        if name not in sums:
            die("%s: SHA256SUMS has no line for %s (for pause: set GW_PAUSE_MEDIA to media that has it)" % (media, name))
        if not (os.path.isfile(dest) and sha256(dest) == sums[name]):
            if not os.path.isfile(src):
                die("%s missing in the media %s" % (name + ".xz", media))
            with lzma.open(src) as fi, open(dest + ".tmp", "wb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
            os.chmod(dest + ".tmp", 0o755)
            got = sha256(dest + ".tmp")
            if got != sums[name]:
                os.unlink(dest + ".tmp")
                die("%s: sha256 %s of the uncompressed file is not %s from SHA256SUMS (damaged media)" % (name, got, sums[name]))
            os.replace(dest + ".tmp", dest)
        out[name] = dest
    return out


# ---------------------------------------------------------------- OCI images (deterministic)
def _ti(name, kind=tarfile.REGTYPE, mode=0o644, size=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def layer(entries):
    """entries: {path in image: ("file", host path) | ("link", target) | ("data", bytes) | ("dir", None)}"""
    dirs = set()
    for p in entries:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    for p, (kind, _val) in entries.items():
        if kind == "dir":
            dirs.add(p)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in sorted(dirs):
            t.addfile(_ti(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755))
        for p in sorted(entries):
            kind, val = entries[p]
            if kind == "dir":
                continue
            if kind == "link":
                t.addfile(_ti(p, tarfile.SYMTYPE, 0o777, link=val))
                continue
            if kind == "file":
                with open(val, "rb") as f:
                    data = f.read()
                mode = os.stat(val).st_mode & 0o777
            else:
                data, mode = val, 0o644
            t.addfile(_ti(p, mode=mode, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def _blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


def write_image(out, ref, entries, config):
    """One-layer OCI archive (oci-layout tar) named ref; returns the manifest digest."""
    lay = layer(entries)
    lay_d, lay_n = _blob(lay)
    cfg = json.dumps({"architecture": ARCH, "os": "linux", "config": config,
                      "rootfs": {"type": "layers", "diff_ids": [lay_d]}}, sort_keys=True).encode()
    cfg_d, cfg_n = _blob(cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg_n},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": lay_d, "size": lay_n}]},
                     sort_keys=True).encode()
    man_d, man_n = _blob(man)
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man_d, "size": man_n,
                                       "platform": {"architecture": ARCH, "os": "linux"},
                                       "annotations": {"io.containerd.image.name": ref,
                                                       "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1]}}]},
                       sort_keys=True).encode()
    tmp = out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as t:
        for d in ("blobs", "blobs/sha256"):
            t.addfile(_ti(d, tarfile.DIRTYPE, 0o755))
        files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
        files += [("blobs/sha256/" + _blob(d)[0][7:], d) for d in (lay, cfg, man)]
        for name, data in files:
            t.addfile(_ti(name, size=len(data)), io.BytesIO(data))
    os.replace(tmp, out)
    return man_d


BASE = {"etc/passwd": ("data", b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"),
        "etc/group": ("data", b"root:x:0:\nnogroup:x:65534:\n"),
        "tmp": ("dir", None), "var/run": ("dir", None), "var/lib": ("dir", None)}


def libs_of(paths):
    """Shared libraries (and the loader) the given ELF files need, from ldd, resolved to real files."""
    found = {}
    for p in paths:
        res = subprocess.run(["ldd", p], capture_output=True, text=True, check=False)
        for line in res.stdout.splitlines():
            parts = line.split()
            cand = parts[2] if "=>" in parts and len(parts) > 2 else (parts[0] if parts and parts[0].startswith("/") else None)
            if cand and os.path.isfile(cand):
                rel = cand.lstrip("/")
                if rel.split("/")[0] in ("lib", "lib64", "bin", "sbin"):
                    rel = "usr/" + rel  # merged /usr: the top-level names are links in the image
                found[rel] = ("file", os.path.realpath(cand))
    return found


def iptables_entries():
    """Debian's iptables (nft and legacy), its xtables extensions and libraries; iptables = nft (Debian's default)."""
    entries = {}
    listing = subprocess.run(["dpkg", "-L", "iptables"], capture_output=True, text=True, check=True).stdout.split()
    elves = []
    for p in listing:
        if "/share/" in p or p.startswith("/etc") or not os.path.lexists(p) or os.path.isdir(p):
            continue
        if os.path.islink(p):
            target = os.readlink(p)
            if target.startswith("/etc/alternatives/"):
                continue
            entries[p.lstrip("/")] = ("link", target)
        else:
            entries[p.lstrip("/")] = ("file", p)
            if p.endswith(".so") or "/sbin/" in p:
                elves.append(p)
    for name in ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"):
        entries["usr/sbin/" + name] = ("link", "xtables-nft-multi")
    return with_libs(entries, elves)


def with_libs(entries, elves):
    """entries plus the shared libraries the ELF files (host paths) need, in a merged-/usr layout."""
    entries = dict(entries)
    entries.update(libs_of(elves))
    # merged /usr: the loader path in every ELF is /lib64/ld-linux-x86-64.so.2
    entries["lib"] = ("link", "usr/lib")
    entries["lib64"] = ("link", "usr/lib64")
    entries["sbin"] = ("link", "usr/sbin")
    entries["bin"] = ("link", "usr/bin")
    loader = [k for k in entries if os.path.basename(k).startswith("ld-linux")]
    for k in loader:
        entries["usr/lib64/" + os.path.basename(k)] = entries[k]
    return entries


def etcd_binaries():
    """etcd/etcdctl/etcdutl 3.5 from Debian (the integration tests' cache of the sid package)."""
    import etcd_helpers  # tests/integration

    bindir, why = etcd_helpers.etcd35_dir()
    if bindir is None:
        die("etcd 3.5 for the etcd image: " + why)
    version = subprocess.run([os.path.join(bindir, "etcd"), "--version"], capture_output=True, text=True, check=True).stdout
    version = [ln.split()[-1] for ln in version.splitlines() if ln.startswith("etcd Version:")][0]
    return bindir, version


def _entry_key(v):
    kind, val = v
    if kind == "file":
        return sha256(val)
    if kind == "data":
        return hashlib.sha256(val).hexdigest()
    return val


def build_images(out, bins, kube_version, etcd_bindir, etcd_version, pause_tag):
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    refs = {}
    cfg = {"Env": [PATH_ENV], "WorkingDir": "/"}
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        refs[name] = ("registry.k8s.io/%s:%s" % (name, kube_version),
                      dict(BASE, **{"usr/local/bin/" + name: ("file", bins[name])}), dict(cfg, Entrypoint=["/usr/local/bin/" + name]))
    proxy = dict(BASE, **iptables_entries())
    proxy["usr/local/bin/kube-proxy"] = ("file", bins["kube-proxy"])
    refs["kube-proxy"] = ("registry.k8s.io/kube-proxy:%s" % kube_version, proxy, dict(cfg, Entrypoint=["/usr/local/bin/kube-proxy"]))
    refs["pause"] = ("registry.k8s.io/pause:%s" % pause_tag, {"pause": ("file", bins["pause"])},
                     {"Entrypoint": ["/pause"], "User": "65535:65535", "WorkingDir": "/"})
    etcd_bins = [os.path.join(etcd_bindir, b) for b in ("etcd", "etcdctl", "etcdutl")]
    # Debian builds etcd dynamically linked (libc): its libraries go into the image too
    etcd = with_libs(dict(BASE, **{"usr/local/bin/" + os.path.basename(b): ("file", b) for b in etcd_bins}), etcd_bins)
    etcd["var/lib/etcd"] = ("dir", None)
    refs["etcd"] = ("registry.k8s.io/etcd:%s-0" % etcd_version, etcd, dict(cfg, Cmd=["/usr/local/bin/etcd"]))
    done = {}
    for name, (ref, entries, config) in refs.items():
        target = os.path.join(out, "images", name + ".oci.tar")
        stamp = target + ".ref"
        key = json.dumps([ref, sorted((k, v[0], _entry_key(v)) for k, v in entries.items()), config])
        key = hashlib.sha256(key.encode()).hexdigest()
        if not (os.path.isfile(target) and os.path.isfile(stamp) and open(stamp).read() == key):
            write_image(target, ref, entries, config)
            with open(stamp, "w") as f:
                f.write(key)
        done[name] = ref
    L.busybox_image(out)
    with open(os.path.join(out, "images", "busybox.tag")) as f:
        done["busybox"] = "%s:%s" % (L.IMAGE, f.read().strip())
    return done


def main():
    if len(sys.argv) != 3:
        die("usage: make_real_media.py MEDIA OUT")
    media, out = sys.argv[1:3]
    t0 = time.time()
    os.makedirs(os.path.join(out, ".media"), exist_ok=True)
    with open(os.path.join(out, ".gitignore"), "w") as f:
        f.write("# built by tests/airgap/make_real_media.py\n*\n")
    bins = unpack_media(media, os.path.join(out, ".media"))
    kube_version = subprocess.run([bins["kubeadm"], "version", "-o", "short"], capture_output=True, text=True, check=True).stdout.strip()
    minor = ".".join(kube_version.lstrip("v").split(".")[:2])
    for name in KUBE:
        L.same_or_copy(bins[name], os.path.join(out, name))
    t_unpack = time.time() - t0

    with open(os.path.join(ROOT, "artifacts", "sources.yml")) as f:
        sources = yaml.safe_load(f)
    release = (sources.get("releases") or {}).get(minor)
    if not release:
        die("artifacts/sources.yml has no release %r for the media's kubeadm %s: add it (reviewed input)" % (minor, kube_version))
    pause_ref = release.get("images", {}).get("pause", "registry.k8s.io/pause:3.10")
    pause_tag = pause_ref.rsplit(":", 1)[1]

    etcd_bindir, etcd_version = etcd_binaries()
    t1 = time.time()
    images = build_images(out, bins, kube_version, etcd_bindir, etcd_version, pause_tag)
    t_images = time.time() - t1

    # Debian's runtime pieces in upstream layouts; etcd's tarball from the same 3.5 binaries as its image
    ctd_v = L.deb_version("containerd")
    runc_v = "v" + L.deb_version("runc")
    cni_v = "v" + L.deb_version("containernetworking-plugins")
    etcd_v = "v" + etcd_version
    etcd_dir = "etcd-%s-linux-%s" % (etcd_v, ARCH)
    L.write_tar(os.path.join(out, etcd_dir + ".tar.gz"),
                [(etcd_dir, None)] + [(etcd_dir + "/" + b, os.path.join(etcd_bindir, b)) for b in ("etcd", "etcdctl", "etcdutl")], gz=True)
    L.write_tar(os.path.join(out, "containerd-%s-linux-%s.tar.gz" % (ctd_v, ARCH)),
                [("bin", None)] + [("bin/" + b, "/usr/bin/" + b) for b in ("containerd", "containerd-shim-runc-v2", "ctr")], gz=True)
    L.same_or_copy("/usr/sbin/runc", os.path.join(out, "runc." + ARCH))
    plugins = sorted(os.listdir("/usr/lib/cni"))
    L.write_tar(os.path.join(out, "cni-plugins-linux-%s-%s.tgz" % (ARCH, cni_v)),
                [(".", None)] + [("./" + p, "/usr/lib/cni/" + p) for p in plugins], gz=True)

    # the media's own patch release (a site receives v1.33.2 and later v1.33.3 for an upgrade): the
    # Kubernetes binaries at the media's version, the rest of the release as artifacts/sources.yml has it
    files = {name: kube_version for name in KUBE}
    files.update({"etcd": etcd_v, "containerd": ctd_v, "runc": runc_v, "cni-plugins": cni_v})
    # what the lab cannot have: no CoreDNS image (the coredns addon is skipped in the lab)
    lab_images = dict(images)
    sources["architectures"] = [ARCH]
    sources["releases"] = {minor: {"kubernetes_version": kube_version, "files": files, "images": lab_images}}
    sources["packages"] = {"debian": sources["packages"]["debian"]}
    with open(os.path.join(out, "sources.yml"), "w") as f:
        f.write("# Real lane input of gen-manifest.py (written by tests/airgap/make_real_media.py from %s)\n" % media)
        yaml.safe_dump(sources, f, sort_keys=False)
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-manifest.py"), "--sources", os.path.join(out, "sources.yml"),
                    "--from-dir", out, "--out", os.path.join(out, "manifest.yml")], check=True, stdout=subprocess.DEVNULL)
    print(json.dumps({"kubernetes_version": kube_version, "release": minor, "etcd_version": etcd_version,
                      "etcd_image_tag": images["etcd"].rsplit(":", 1)[1], "pause": images["pause"], "busybox": images["busybox"],
                      "unpack_s": round(t_unpack, 1), "images_s": round(t_images, 1), "total_s": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
