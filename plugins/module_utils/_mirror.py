# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Building the air-gap bundle: files, images (skopeo), a Debian repo, the signed sha256 list.

Everything is resumable and idempotent: a file already in the bundle with the manifest's
sha256 is not copied again; an image already in the OCI layout with its digest is not
copied again; a .deb already present is not downloaded again; the sums, signature and
tarball are rewritten only when their content would change.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile

from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import read_bytes, write_atomic

STAMP_DIR = ".groundwork-state"
OCI_DIR = "images/oci"
APT_DIR = "apt"


# --------------------------------------------------------------------------- stamps
class HashCache:
    """sha256 of bundle files keyed by (size, mtime_ns): re-runs do not re-read unchanged files.

    Kept outside the bundle tree (``state_dir``); a file whose size or mtime changed is hashed again.
    """

    def __init__(self, state_dir):
        self.path = os.path.join(state_dir, "hashes.json")
        self.data = {}
        raw = read_bytes(self.path)
        if raw:
            try:
                self.data = json.loads(raw.decode())
            except ValueError:
                self.data = {}
        self.dirty = False

    def sha256(self, path):
        st = os.stat(path)
        key = os.path.abspath(path)
        rec = self.data.get(key)
        if rec and rec[0] == st.st_size and rec[1] == st.st_mtime_ns:
            return rec[2]
        digest = A.sha256_file(path)
        self.data[key] = [st.st_size, st.st_mtime_ns, digest]
        self.dirty = True
        return digest

    def remember(self, path, digest):
        st = os.stat(path)
        self.data[os.path.abspath(path)] = [st.st_size, st.st_mtime_ns, digest]
        self.dirty = True

    def save(self):
        if self.dirty:
            write_atomic(self.path, json.dumps(self.data, sort_keys=True).encode(), mode=0o644)
            self.dirty = False


# --------------------------------------------------------------------------- files
def copy_verified(src_reader, dest, want_sha):
    """Stream ``src_reader`` to ``dest.part`` hashing on the way; move into place only when the
    sha256 is the manifest's. Returns the digest; raises GroundworkError on a mismatch."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    part = dest + ".part"
    h = hashlib.sha256()
    with open(part, "wb") as out:
        while True:
            block = src_reader.read(A.CHUNK)
            if not block:
                break
            h.update(block)
            out.write(block)
    digest = h.hexdigest()
    if digest != want_sha:
        os.unlink(part)
        raise GroundworkError("sha256 %s, manifest says %s" % (digest, want_sha))
    os.chmod(part, 0o644)
    os.replace(part, dest)
    return digest


def source_candidates(source_dir, entry):
    """Where a file entry may sit in a local source directory: bundle layout, then flat name."""
    return [os.path.join(source_dir, entry["path"]), os.path.join(source_dir, entry["filename"])]


def sync_file(bundle_dir, entry, cache, source_dir=None, opener=None):
    """Put one file entry into the bundle. Returns 'present', 'copied' or raises GroundworkError.

    ``opener(url)`` returns a readable response (upstream downloads); unused with ``source_dir``.
    """
    if not entry.get("sha256"):
        raise GroundworkError("%s %s/%s: the manifest has no sha256 (%s)"
                              % (entry["name"], entry["version"], entry["arch"], entry.get("todo") or "todo"))
    dest = os.path.join(bundle_dir, entry["path"])
    if os.path.isfile(dest) and cache.sha256(dest) == entry["sha256"]:
        return "present"
    try:
        if source_dir:
            src = next((c for c in source_candidates(source_dir, entry) if os.path.isfile(c)), None)
            if src is None:
                raise GroundworkError("not found in %s" % source_dir)
            with open(src, "rb") as reader:
                digest = copy_verified(reader, dest, entry["sha256"])
        else:
            if opener is None:
                raise GroundworkError("no source directory and no downloader")
            reader = opener(entry["url"])
            try:
                digest = copy_verified(reader, dest, entry["sha256"])
            finally:
                reader.close()
    except GroundworkError as exc:
        raise GroundworkError("%s (%s): %s" % (entry["name"], entry["filename"], exc.msg), name=entry["name"])
    cache.remember(dest, digest)
    return "copied"


# --------------------------------------------------------------------------- images
def image_source(image, source_dir=None):
    """skopeo source reference: the local oci-archive when a source dir is used, else the registry."""
    if source_dir:
        path = os.path.join(source_dir, "images", image["name"] + ".oci.tar")
        if not os.path.isfile(path):
            raise GroundworkError("image %s: %s not found" % (image["name"], path), name=image["name"])
        return "oci-archive:" + path
    return "docker://" + A.image_ref(image)


def skopeo_copy_argv(image, bundle_dir, source_dir=None, skopeo="skopeo"):
    layout = os.path.join(bundle_dir, OCI_DIR)
    return [skopeo, "--insecure-policy", "copy", "--quiet", "--preserve-digests",
            image_source(image, source_dir), "oci:%s:%s" % (layout, A.image_ref(image))]


# --------------------------------------------------------------------------- apt
_DEP_RE = re.compile(r"^ ([ |])(PreDepends|Depends): (.+)$")


def parse_apt_depends(text):
    """Parse `apt-cache depends` output to {package: [[alternative, ...], ...]}.

    An alternative is a package name, or ('virtual', name, [providers]) for ``<name>``;
    a ``|Depends`` line is OR-ed with the line after it.
    """
    graph = {}
    current = None
    group = []
    last = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = line.strip()
            graph.setdefault(current, [])
            group, last = [], None
            continue
        m = _DEP_RE.match(line)
        if m and current is not None:
            name = m.group(3).strip()
            last = ("virtual", name[1:-1], []) if name.startswith("<") else name
            group.append(last)
            if m.group(1) != "|":
                graph[current].append(group)
                group = []
        elif line.startswith("    ") and isinstance(last, tuple):
            last[2].append(line.strip())
    return graph


def _pick(group, have):
    """The package that satisfies an OR-group: one already chosen, else the first real one."""
    flat = []
    for alt in group:
        if isinstance(alt, tuple):
            flat.extend(alt[2])
        else:
            flat.append(alt)
    for name in flat:
        if name in have:
            return None
    return flat[0] if flat else None


APT_DEPENDS = ["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts",
               "--no-breaks", "--no-replaces", "--no-enhances"]


def apt_closure(roots, run, exclude=()):
    """Dependency closure of ``roots`` following the first alternative of each OR-group,
    stopping at ``exclude`` (what every target already has). ``run(argv)`` -> stdout."""
    chosen = set()
    frontier = sorted(set(roots))
    have = set(exclude)
    while frontier:
        graph = parse_apt_depends(run(APT_DEPENDS + frontier))
        missing = [r for r in frontier if r not in graph]
        if missing:
            raise GroundworkError("apt does not know these packages: %s (apt-get update?)" % ", ".join(missing))
        chosen.update(frontier)
        have.update(frontier)
        nxt = set()
        for pkg in frontier:
            for group in graph[pkg]:
                dep = _pick(group, have | nxt)
                if dep:
                    nxt.add(dep)
        frontier = sorted(nxt - have)
    return sorted(chosen - set(exclude))


def parse_control_blocks(text):
    """Split Debian control-format text into a list of {field: value} (continuation lines kept)."""
    blocks = []
    cur = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
            cur, key = {}, None
            continue
        if line[0] in " \t" and key:
            cur[key] += "\n" + line
            continue
        key, _sep, value = line.partition(":")
        cur[key] = value.strip()
    if cur:
        blocks.append(cur)
    return blocks


def base_system(run):
    """Packages every Debian system has: Essential/required ones and their closure."""
    names = set()
    for listing in run(["apt-get", "indextargets", "--format", "$(FILENAME)", "Created-By: Packages"]).split():
        for block in parse_control_blocks(run(["/usr/lib/apt/apt-helper", "cat-file", listing])):
            if block.get("Essential") == "yes" or block.get("Priority") == "required":
                names.add(block.get("Package"))
    names.discard(None)
    return set(apt_closure(sorted(names), run))


def deb_filename(block):
    """What `apt-get download` names a package file: name_version_arch.deb, ':' as %3a."""
    return "%s_%s_%s.deb" % (block["Package"], block["Version"].replace(":", "%3a"), block["Architecture"])


def packages_index(apt_dir, run, cache):
    """A `Packages` file for every .deb in ``apt_dir`` (what dpkg-scanpackages writes), in Python.

    Fields come from `dpkg-deb --field`; Filename, Size, SHA256 and MD5sum are computed here.
    """
    stanzas = []
    for name in sorted(os.listdir(apt_dir)):
        if not name.endswith(".deb"):
            continue
        path = os.path.join(apt_dir, name)
        control = run(["dpkg-deb", "--field", path]).rstrip("\n")
        with open(path, "rb") as f:
            md5 = hashlib.md5(f.read()).hexdigest()  # noqa: S324 (apt's index format wants it)
        stanzas.append("%s\nFilename: ./%s\nSize: %d\nMD5sum: %s\nSHA256: %s\n"
                       % (control, name, os.path.getsize(path), md5, cache.sha256(path)))
    return "\n".join(stanzas)


def write_if_changed(path, content, mode=0o644):
    """Write bytes only when different; return True when written."""
    if read_bytes(path) == content:
        return False
    write_atomic(path, content, mode=mode)
    return True


def write_apt_index(apt_dir, run, cache):
    """Packages and Packages.gz (deterministic gzip); returns True when they changed."""
    text = packages_index(apt_dir, run, cache).encode()
    changed = write_if_changed(os.path.join(apt_dir, "Packages"), text)
    if changed or not os.path.exists(os.path.join(apt_dir, "Packages.gz")):
        write_atomic(os.path.join(apt_dir, "Packages.gz"), gzip.compress(text, mtime=0), mode=0o644)
        changed = True
    return changed


# --------------------------------------------------------------------------- signed APT repository
APT_KEY_FILE = "groundwork-apt.asc"
APT_KEY_UID = "Groundwork site APT repository <apt@groundwork.invalid>"


def apt_indexes(apt_dir):
    """The index files of a flat repository that exist (Packages and/or Packages.gz), sorted."""
    return [n for n in ("Packages", "Packages.gz") if os.path.isfile(os.path.join(apt_dir, n))]


def apt_index_entries(apt_dir):
    """{name: (sha256, size)} for the Release file. apt looks up the uncompressed ``Packages`` in Release even when
    only ``Packages.gz`` is served ("does not seem to provide it" otherwise), so it is listed from the gz's content."""
    out = {}
    for name in apt_indexes(apt_dir):
        with open(os.path.join(apt_dir, name), "rb") as f:
            data = f.read()
        out[name] = (hashlib.sha256(data).hexdigest(), len(data))
        if name == "Packages.gz" and "Packages" not in out:
            raw = gzip.decompress(data)
            out["Packages"] = (hashlib.sha256(raw).hexdigest(), len(raw))
    return out


def apt_release(apt_dir, date):
    """The `Release` file of the flat repository in ``apt_dir``: sizes and SHA256 of its indexes.

    ``date`` is an RFC 2822 date (the time the index last changed: apt refuses dates in the future only).
    """
    lines = ["Origin: Groundwork", "Label: Groundwork site mirror", "Date: %s" % date, "SHA256:"]
    entries = apt_index_entries(apt_dir)
    if not entries:
        raise GroundworkError("no Packages index in %s to sign" % apt_dir)
    for name in sorted(entries):
        lines.append(" %s %d %s" % (entries[name][0], entries[name][1], name))
    return ("\n".join(lines) + "\n").encode()


def release_indexes(release):
    """The ``SHA256:`` entries of a Release text: {name: (sha256, size)}."""
    out, inside = {}, False
    for line in release.decode().splitlines():
        if line.startswith("SHA256:"):
            inside = True
            continue
        if inside and line.startswith(" "):
            digest, size, name = line.split()
            out[name] = (digest, int(size))
        else:
            inside = False
    return out


def release_current(apt_dir, release):
    """True when an existing Release still describes the Packages files on disk."""
    if release is None:
        return False
    return release_indexes(release) == apt_index_entries(apt_dir)


def gpg_argv(gnupg_home, *args):
    return ["gpg", "--homedir", gnupg_home, "--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback",
            "--passphrase", ""] + list(args)


def apt_signing_key(gnupg_home, run):
    """Fingerprint of the site APT key in ``gnupg_home`` (created when absent) and its armored public key."""
    if not os.path.isdir(gnupg_home):
        os.makedirs(gnupg_home, mode=0o700)
    os.chmod(gnupg_home, 0o700)
    listing = run(gpg_argv(gnupg_home, "--with-colons", "--list-secret-keys"))
    fprs = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if not fprs:
        run(gpg_argv(gnupg_home, "--quick-gen-key", APT_KEY_UID, "ed25519", "sign", "never"))
        listing = run(gpg_argv(gnupg_home, "--with-colons", "--list-secret-keys"))
        fprs = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if not fprs:
        raise GroundworkError("gpg made no signing key in %s" % gnupg_home)
    pub = run(gpg_argv(gnupg_home, "--armor", "--export", fprs[0]))
    return fprs[0], pub.encode() if isinstance(pub, str) else pub


def sign_apt_repo(apt_dir, gnupg_home, run, now):
    """Release + InRelease + Release.gpg for ``apt_dir`` and the public key beside them.

    Re-signs only when the Release no longer matches the indexes, a signature file is missing, or gpgv
    rejects it; returns (changed, fingerprint).
    """
    fpr, pub = apt_signing_key(gnupg_home, run)
    changed = write_if_changed(os.path.join(apt_dir, APT_KEY_FILE), pub)
    rel_path = os.path.join(apt_dir, "Release")
    release = read_bytes(rel_path)
    if not release_current(apt_dir, release):
        release = apt_release(apt_dir, now)
        write_atomic(rel_path, release, mode=0o644)
        changed = True
    inrelease, detached = os.path.join(apt_dir, "InRelease"), os.path.join(apt_dir, "Release.gpg")
    good = False
    if not changed and os.path.isfile(inrelease) and os.path.isfile(detached):
        try:
            run(gpg_argv(gnupg_home, "--verify", inrelease))
            run(gpg_argv(gnupg_home, "--verify", detached, rel_path))
            good = True
        except GroundworkError:
            good = False
    if not good:
        for out in (inrelease, detached):
            tmp = out + ".tmp"
            mode = "--clearsign" if out == inrelease else "--detach-sign"
            run(gpg_argv(gnupg_home, "--local-user", fpr, "--armor", "--digest-algo", "SHA256", mode,
                         "--output", tmp, rel_path))
            os.chmod(tmp, 0o644)
            os.replace(tmp, out)
        changed = True
    return changed, fpr


# --------------------------------------------------------------------------- sums, signature, tarball
def bundle_sums(bundle_dir, cache):
    rows = [(cache.sha256(os.path.join(bundle_dir, rel)), rel)
            for rel in A.walk_bundle(bundle_dir) if not rel.startswith(STAMP_DIR + "/")]
    return A.format_sums(rows)


def load_or_create_signing_key(path):
    """An ed25519 private key (PEM, 0600). Created when absent. Returns (key, public PEM bytes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = read_bytes(path)
    if raw is None:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        write_atomic(path, pem, mode=0o600)
    else:
        key = serialization.load_pem_private_key(raw, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise GroundworkError("%s is not an ed25519 private key" % path)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pub


def sign(key, data):
    return base64.b64encode(key.sign(data)) + b"\n"


verify_signature = A.verify_signature


def write_tarball(bundle_dir, tarball):
    """An uncompressed tar of the bundle (binaries and images do not compress), deterministic
    order and owners; written to a temp name and moved into place. Returns its sha256."""
    tmp = tarball + ".part"
    top = os.path.basename(os.path.normpath(bundle_dir))

    def clean(ti):
        if ti.name.split("/")[1:2] == [STAMP_DIR]:
            return None
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as t:
        for root, dirs, files in os.walk(bundle_dir):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".part"):
                    continue
                full = os.path.join(root, name)
                t.add(full, arcname=os.path.join(top, os.path.relpath(full, bundle_dir)), filter=clean)
    os.replace(tmp, tarball)
    digest = A.sha256_file(tarball)
    write_atomic(tarball + ".sha256", ("%s  %s\n" % (digest, os.path.basename(tarball))).encode(), mode=0o644)
    return digest


def remove_tree(path):
    if os.path.isdir(path):
        shutil.rmtree(path)


# --------------------------------------------------------------------------- apt plan (cached)
def apt_lists_fingerprint(run):
    """Changes whenever `apt-get update` brings new package lists."""
    parts = []
    for listing in sorted(run(["apt-get", "indextargets", "--format", "$(FILENAME)", "Created-By: Packages"]).split()):
        try:
            st = os.stat(listing)
            parts.append("%s:%d:%d" % (listing, st.st_size, st.st_mtime_ns))
        except OSError:
            parts.append(listing)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def apt_plan(roots, run, state_dir):
    """[{Package, Version, Architecture, SHA256, filename}] of the closure of ``roots`` minus the
    base system, cached in ``state_dir`` until the package lists or the roots change."""
    key = hashlib.sha256(("%s|%s" % (",".join(sorted(roots)), apt_lists_fingerprint(run))).encode()).hexdigest()
    path = os.path.join(state_dir, "apt-plan.json")
    raw = read_bytes(path)
    if raw:
        try:
            cached = json.loads(raw.decode())
            if cached.get("key") == key:
                return cached["packages"]
        except ValueError:
            pass
    names = apt_closure(roots, run, exclude=base_system(run))
    packages = []
    for block in parse_control_blocks(run(["apt-cache", "show", "--no-all-versions"] + names)):
        if block.get("Package") in names:
            packages.append({"Package": block["Package"], "Version": block["Version"],
                             "Architecture": block["Architecture"], "SHA256": block.get("SHA256"),
                             "filename": deb_filename(block)})
    write_atomic(path, json.dumps({"key": key, "packages": packages}, sort_keys=True).encode(), mode=0o644)
    return packages
