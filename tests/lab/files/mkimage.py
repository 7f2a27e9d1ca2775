"""Build a tiny OCI image archive (oci-layout tar) from a static busybox binary.

usage: mkimage.py BUSYBOX OUT.tar IMAGE_NAME
Single uncompressed layer: /bin/busybox plus applet links, /etc/passwd. Deterministic (mtime 0),
so the digest is the same on every machine for the same busybox. `ctr image import` names it
from the io.containerd.image.name annotation.
"""
import hashlib
import io
import json
import platform
import sys
import tarfile

APPLETS = ["sh", "echo", "cat", "hostname", "ls", "id", "sleep", "uname", "wc", "test", "grep"]
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def tarinfo(name, kind=tarfile.REGTYPE, mode=0o644, size=0, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, 0
    return ti


def layer(busybox):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in ["bin", "etc", "dev", "proc", "sys", "tmp", "root"]:
            t.addfile(tarinfo(d, tarfile.DIRTYPE, 0o755))
        with open(busybox, "rb") as f:
            data = f.read()
        t.addfile(tarinfo("bin/busybox", mode=0o755, size=len(data)), io.BytesIO(data))
        for a in APPLETS:
            t.addfile(tarinfo("bin/" + a, tarfile.SYMTYPE, 0o777, link="busybox"))
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        t.addfile(tarinfo("etc/passwd", size=len(passwd)), io.BytesIO(passwd))
    return buf.getvalue()


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


def main():
    busybox, out, name = sys.argv[1:4]
    lay = layer(busybox)
    lay_digest, lay_size = blob(lay)
    config = json.dumps({
        "architecture": ARCH, "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [lay_digest]},
    }, sort_keys=True).encode()
    cfg_digest, cfg_size = blob(config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": cfg_digest, "size": cfg_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": lay_digest, "size": lay_size}],
    }, sort_keys=True).encode()
    man_digest, man_size = blob(manifest)
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": man_digest, "size": man_size,
            "platform": {"architecture": ARCH, "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]},
        }],
    }, sort_keys=True).encode()
    files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
    for d in (lay, config, manifest):
        files.append(("blobs/sha256/" + blob(d)[0].split(":")[1], d))
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        for d in ["blobs", "blobs/sha256"]:
            t.addfile(tarinfo(d, tarfile.DIRTYPE, 0o755))
        for fname, data in files:
            t.addfile(tarinfo(fname, size=len(data)), io.BytesIO(data))
    print(man_digest)


if __name__ == "__main__":
    main()
