# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Backup bundles: a verified snapshot plus what a restore needs, encrypted at rest.

A bundle is ``<name>.tar.enc`` (openssl ``enc -aes-256-cbc -pbkdf2 -iter 200000 -salt``, the
key from a root-only file) with a sidecar ``<name>.tar.enc.json`` holding the snapshot's
non-secret metadata, the ciphertext's sha256 and an HMAC-SHA256 of the ciphertext (key derived
from the same passphrase with PBKDF2 and its own salt): encrypt-then-MAC, so a damaged or
tampered bundle is refused before openssl sees it. Only the Python standard library and the
openssl CLI are used, so the timer's script runs on any Debian host without extra packages.

Inside the tar: ``snapshot.db``, ``snapshot.db.json`` (metadata), ``MANIFEST.json`` (sha256 of
every file), and ``files/<absolute path>`` for the etcd CA and client certs, the cluster PKI,
the kubeadm config and the etcd config when present.

The receiving side (backup host, an SSH forced command) checks free space before it writes a
byte and refuses with a clear message when the disk is full.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

PBKDF2_ITER = 200000
BUNDLE_SUFFIX = ".tar.enc"
SIDECAR_SUFFIX = ".tar.enc.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
EXIT_DISK_FULL = 28


def read_key(path):
    with open(path, "rb") as f:
        key = f.read().strip()
    if len(key) < 16:
        raise GroundworkError("backup encryption key in %s is shorter than 16 bytes" % path)
    return key


def mac_key(passphrase, salt):
    return hashlib.pbkdf2_hmac("sha256", passphrase, salt, PBKDF2_ITER, 32)


def file_digests(path, key=None, salt=None):
    sha = hashlib.sha256()
    mac = hmac.new(mac_key(key, salt), digestmod=hashlib.sha256) if key else None
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * 1024 * 1024), b""):
            sha.update(chunk)
            if mac:
                mac.update(chunk)
    return sha.hexdigest(), (mac.hexdigest() if mac else None)


def _openssl(args, key_file, src, dst):
    argv = ["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-iter", str(PBKDF2_ITER), "-md", "sha256"] + args + [
        "-pass", "file:%s" % key_file, "-in", src, "-out", dst]
    proc = subprocess.run(argv, capture_output=True, env=dict(os.environ, LC_ALL="C"), check=False)
    if proc.returncode != 0:
        what = "decrypt" if "-d" in args else "encrypt"
        raise GroundworkError("openssl %s failed: %s" % (what, proc.stderr.decode("utf-8", "replace").strip()[-300:]))


def build_tar(tar_path, snapshot, metadata, extra_paths):
    """Write the plain tar (0600). ``extra_paths``: files or dirs copied as files/<abs path>."""
    manifest = {"snapshot": metadata, "files": {}}
    fd = os.open(tar_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(snapshot, arcname="snapshot.db")
        meta_bytes = (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode()
        _add_bytes(tar, "snapshot.db.json", meta_bytes)
        manifest["files"]["snapshot.db"] = metadata.get("sha256")
        for base in extra_paths:
            if not os.path.exists(base):
                continue
            walk = [(base, [], [""])] if os.path.isfile(base) else os.walk(base)
            for root, dummy, files in walk:
                for name in sorted(files):
                    full = os.path.join(root, name) if name else root
                    if not os.path.isfile(full):
                        continue
                    arc = "files" + os.path.abspath(full)
                    tar.add(full, arcname=arc)
                    with open(full, "rb") as f:
                        manifest["files"][arc] = hashlib.sha256(f.read()).hexdigest()
        _add_bytes(tar, "MANIFEST.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def _add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def make_bundle(out_dir, name, snapshot, metadata, extra_paths, key_file):
    """Encrypted bundle + sidecar in ``out_dir``; returns the sidecar dict."""
    if not NAME_RE.match(name):
        raise GroundworkError("bad bundle name %r" % name)
    key = read_key(key_file)
    bundle = os.path.join(out_dir, name + BUNDLE_SUFFIX)
    work = tempfile.mkdtemp(prefix=".groundwork-bundle-", dir=out_dir)
    try:
        plain = os.path.join(work, "bundle.tar")
        manifest = build_tar(plain, snapshot, metadata, extra_paths)
        enc = os.path.join(work, "bundle.tar.enc")
        _openssl(["-e", "-salt"], key_file, plain, enc)
        salt = os.urandom(16)
        sha, mac = file_digests(enc, key, salt)
        sidecar = {"format": 1, "bundle": os.path.basename(bundle), "snapshot": metadata,
                   "files": sorted(manifest["files"]), "cipher": "openssl enc -aes-256-cbc -pbkdf2 -iter %d -md sha256"
                   % PBKDF2_ITER, "sha256": sha, "hmac_sha256": mac, "hmac_salt": salt.hex(),
                   "size": os.path.getsize(enc)}
        os.chmod(enc, 0o600)
        os.replace(enc, bundle)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # our scratch dir (holds the plain tar)
    side = bundle[: -len(BUNDLE_SUFFIX)] + SIDECAR_SUFFIX
    tmp = side + ".tmp"
    with open(tmp, "w") as f:
        json.dump(sidecar, f, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, side)
    return sidecar


def open_bundle(bundle, key_file, out_dir, sidecar=None):
    """Check the HMAC, decrypt, unpack into ``out_dir`` and check every file's sha256.

    Returns the manifest. Raises GroundworkError naming what is wrong (wrong key, damaged file).
    """
    side_path = bundle[: -len(BUNDLE_SUFFIX)] + SIDECAR_SUFFIX
    if sidecar is None:
        try:
            with open(side_path) as f:
                sidecar = json.load(f)
        except FileNotFoundError:
            raise GroundworkError("bundle %s has no sidecar %s" % (bundle, side_path))
    if not os.path.isfile(bundle):
        raise GroundworkError("backup bundle %s does not exist (missing backup)" % bundle)
    key = read_key(key_file)
    sha, mac = file_digests(bundle, key, bytes.fromhex(sidecar["hmac_salt"]))
    if sha != sidecar["sha256"]:
        raise GroundworkError("bundle %s is damaged: sha256 %s, sidecar says %s" % (bundle, sha, sidecar["sha256"]))
    if not hmac.compare_digest(mac, sidecar["hmac_sha256"]):
        raise GroundworkError("bundle %s: HMAC mismatch - wrong groundwork_backup_encryption_key or tampered file"
                              % bundle)
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    plain = os.path.join(out_dir, ".bundle.tar")
    try:
        _openssl(["-d"], key_file, bundle, plain)
        with tarfile.open(plain) as tar:
            for member in tar.getmembers():
                if member.name.startswith("/") or ".." in member.name.split("/") or not (
                        member.isfile() or member.isdir()):
                    raise GroundworkError("bundle %s: unsafe member %r" % (bundle, member.name))
            tar.extractall(out_dir)  # nosec - members checked above
    finally:
        if os.path.exists(plain):
            os.unlink(plain)
    with open(os.path.join(out_dir, "MANIFEST.json")) as f:
        manifest = json.load(f)
    for arc, digest in manifest["files"].items():
        with open(os.path.join(out_dir, arc), "rb") as f:
            if digest and hashlib.sha256(f.read()).hexdigest() != digest:
                raise GroundworkError("bundle %s: %s does not match its manifest" % (bundle, arc))
    return manifest


def list_bundles(directory):
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(BUNDLE_SUFFIX))
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in names]


def prune_bundles(directory, keep):
    if keep < 1:
        raise GroundworkError("retention must keep at least 1 bundle")
    bundles = list_bundles(directory)
    victims = bundles[:-keep] if len(bundles) > keep else []
    for b in victims:
        for p in (b, b[: -len(BUNDLE_SUFFIX)] + SIDECAR_SUFFIX):
            if os.path.exists(p):
                os.unlink(p)
    return victims


# --------------------------------------------------------------------------- receiving side
def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def check_space(directory, size, reserve):
    """Raise when writing ``size`` bytes would leave less than ``reserve`` free."""
    avail = free_bytes(directory)
    if avail - size < reserve:
        raise GroundworkError("backup host disk full: %s has %d bytes free, the bundle needs %d plus a reserve of %d;"
                              " free space or lower the retention" % (directory, avail, size, reserve),
                              exit_code=EXIT_DISK_FULL)
    return avail


def receive(root, cluster, filename, size, stream, reserve, keep=None):
    """Store ``size`` bytes from ``stream`` as ``root/cluster/filename`` (atomic), space checked first."""
    for part in (cluster, filename):
        if not NAME_RE.match(part or ""):
            raise GroundworkError("refusing name %r" % part)
    if not (filename.endswith(BUNDLE_SUFFIX) or filename.endswith(SIDECAR_SUFFIX)):
        raise GroundworkError("refusing %r: only %s and %s files" % (filename, BUNDLE_SUFFIX, SIDECAR_SUFFIX))
    directory = os.path.join(root, cluster)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    check_space(directory, size, reserve)
    dest = os.path.join(directory, filename)
    tmp = os.path.join(directory, "." + filename + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    got = 0
    try:
        with os.fdopen(fd, "wb") as f:
            while got < size:
                buf = stream.read(min(4 * 1024 * 1024, size - got))
                if not buf:
                    break
                f.write(buf)
                got += len(buf)
            f.flush()
            os.fsync(f.fileno())
        if got != size:
            raise GroundworkError("short upload of %s: %d of %d bytes" % (filename, got, size))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    pruned = prune_bundles(directory, keep) if (keep and filename.endswith(SIDECAR_SUFFIX)) else []
    return {"stored": dest, "size": got, "pruned": [os.path.basename(p) for p in pruned]}
