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


def bundle_sources(extra_paths):
    """Normalise ``extra_paths`` to ``[(src, dest)]``.

    An entry is a path (bundled under its own name) or ``{"src": staged copy, "dest": original path}``:
    an external etcd member bundles the control plane's files from a staged copy, under the paths
    they have on the control plane (where a restore puts them back).
    """
    out = []
    for entry in extra_paths or []:
        if isinstance(entry, dict):
            src, dest = entry.get("src"), entry.get("dest") or entry.get("src")
        else:
            src = dest = entry
        if not src or not os.path.isabs(src) or not os.path.isabs(dest):
            raise GroundworkError("bundle path %r: absolute src/dest needed" % (entry,))
        out.append((os.path.normpath(src), os.path.normpath(dest)))
    return out


def bundle_entries(extra_paths, default=None, exists=os.path.exists, isfile=os.path.isfile, walk=os.walk):
    """``[(file on disk, name in the bundle, host it came from)]`` for every regular file under ``extra_paths``.

    Missing paths are skipped (a kubeadm config or a kubeconfig may not exist on this host). The
    first source of a bundle name wins: a member's own files come before the staged control plane
    copy, so its own etcd certificates are never shadowed. The host is the ``origin`` of the entry
    that supplied the file (else ``default``): an external member's own ``/etc/kubernetes/pki`` and the
    control plane's staged copy of it have the same destination, so the origin cannot be told from
    the destination path alone (issue 15: the member's server/peer certificates were labelled as the
    control plane's and never came back on the member).
    """
    seen, out = set(), []
    for entry in extra_paths or []:
        origin = (entry.get("origin") if isinstance(entry, dict) else None) or default
        for src, dest in bundle_sources([entry]):
            if not exists(src):
                continue
            if isfile(src):
                pairs = [(src, dest)]
            else:
                pairs = []
                for root, dirs, files in walk(src):
                    dirs.sort()
                    for name in sorted(files):
                        full = os.path.join(root, name)
                        pairs.append((full, os.path.join(dest, os.path.relpath(full, src))))
            for full, target in pairs:
                arc = "files" + target
                if arc in seen or not isfile(full):
                    continue
                seen.add(arc)
                out.append((full, arc, origin))
    return out


def bundle_files(extra_paths, exists=os.path.exists, isfile=os.path.isfile, walk=os.walk):
    """``[(file on disk, name in the bundle)]`` of :func:`bundle_entries`."""
    return [(full, arc) for full, arc, dummy in bundle_entries(extra_paths, None, exists, isfile, walk)]


# YAML or JSON (a static pod manifest may be either)
_VERSION_RE = re.compile(r"""["']?kubernetesVersion["']?\s*:\s*["']?(v?[0-9][^"',\s}]*)""")
_IMAGE_RE = re.compile(r"""["']?image["']?\s*:\s*["']?[^"'\s]*/kube-apiserver:(v?[0-9][^"',\s}]*)""")


def kubernetes_version(texts):
    """The cluster's Kubernetes version from the kube-apiserver manifest (what runs) or a kubeadm config.

    ``texts``: contents in order of preference; the first that names a version wins, else None.
    """
    for text in texts:
        if not text:
            continue
        for rx in (_IMAGE_RE, _VERSION_RE):
            m = rx.search(text)
            if m:
                v = m.group(1)
                return v if v.startswith("v") else "v" + v
    return None


def describe(metadata, files, cluster=None, kubernetes_version_=None):
    """The manifest's summary: what the bundle is, without reading it (sidecar and MANIFEST.json)."""
    names = sorted(files)

    def has(suffix):
        return any(n.endswith(suffix) for n in names)

    return {
        "cluster_name": cluster or metadata.get("cluster_name"),
        "kubernetes_version": kubernetes_version_,
        "etcd_revision": metadata.get("revision"),
        "etcd_total_keys": metadata.get("total_keys"),
        "etcd_cluster_id": metadata.get("cluster_id_hex"),
        "member": metadata.get("member") or metadata.get("member_name"),
        "contains": {
            "cluster_ca": has("/pki/ca.key"),
            "etcd_ca": has("/pki/etcd/ca.key"),
            "front_proxy_ca": has("/pki/front-proxy-ca.key"),
            "service_account_keys": has("/pki/sa.key") and has("/pki/sa.pub"),
            "encryption_config": any("/encryption/" in n for n in names),
            "kubeadm_config": has("/kubeadm-config.yaml") or has("/kubeadm.yaml"),
            "kubeconfigs": sorted(os.path.basename(n) for n in names
                                  if n.startswith("files/etc/kubernetes/") and n.endswith(".conf")
                                  and n.count("/") == 3),
        },
    }


def build_tar(tar_path, snapshot, metadata, extra_paths, cluster=None, kubernetes_version_=None):
    """Write the plain tar (0600). ``extra_paths``: files or dirs copied as files/<abs path>."""
    manifest = {"snapshot": metadata, "files": {}, "origins": {}}
    fd = os.open(tar_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(snapshot, arcname="snapshot.db")
        meta_bytes = (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode()
        _add_bytes(tar, "snapshot.db.json", meta_bytes)
        manifest["files"]["snapshot.db"] = metadata.get("sha256")
        for full, arc, origin in bundle_entries(extra_paths, metadata.get("member")):
            tar.add(full, arcname=arc)
            with open(full, "rb") as f:
                manifest["files"][arc] = hashlib.sha256(f.read()).hexdigest()
            manifest["origins"][arc] = origin
        manifest["summary"] = describe(metadata, manifest["files"], cluster, kubernetes_version_)
        _add_bytes(tar, "MANIFEST.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def _add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def make_bundle(out_dir, name, snapshot, metadata, extra_paths, key_file, cluster=None, kubernetes_version_=None):
    """Encrypted bundle + sidecar in ``out_dir``; returns the sidecar dict."""
    if not NAME_RE.match(name):
        raise GroundworkError("bad bundle name %r" % name)
    key = read_key(key_file)
    bundle = os.path.join(out_dir, name + BUNDLE_SUFFIX)
    work = tempfile.mkdtemp(prefix=".groundwork-bundle-", dir=out_dir)
    try:
        plain = os.path.join(work, "bundle.tar")
        manifest = build_tar(plain, snapshot, metadata, extra_paths, cluster, kubernetes_version_)
        enc = os.path.join(work, "bundle.tar.enc")
        _openssl(["-e", "-salt"], key_file, plain, enc)
        salt = os.urandom(16)
        sha, mac = file_digests(enc, key, salt)
        sidecar = {"format": 1, "bundle": os.path.basename(bundle), "snapshot": metadata,
                   "files": sorted(manifest["files"]), "summary": manifest["summary"], "cipher": "openssl enc -aes-256-cbc -pbkdf2 -iter %d -md sha256"
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


# --------------------------------------------------------------------------- put back (restore)
# Files every control plane (or etcd member) shares, relative to the PKI dir: the CAs, the service
# account keys. A host gets them whatever host the bundle came from; any other file of the bundle
# (leaf certificates, kubeconfigs, kubeadm and etcd configuration) only on the host it came from.
SHARED_PKI = {
    "control_plane": ["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub",
                      "etcd/ca.crt"],
    "stacked": ["etcd/ca.key"],
    "etcd": ["etcd/ca.crt", "etcd/ca.key"],
}
SHARED_DIRS = {"control_plane": ["/etc/kubernetes/encryption"]}
SHARED_FILES = {"stacked": ["/etc/etcd/cluster-ids.json"], "etcd": ["/etc/etcd/cluster-ids.json"]}
# Put back when missing, never refused when different (each member keeps its own record).
SHARED_FILES_KEPT = ["/etc/etcd/cluster-ids.json"]


def putback_plan(manifest, host, kinds, pki_dir="/etc/kubernetes/pki", current=None):
    """What a restore puts back on ``host`` from an opened bundle.

    ``kinds``: subset of control_plane, stacked (a control plane that runs etcd), etcd (external member).
    ``current``: ``{path: sha256 or None}`` of what is on the host now. Returns ``{"put": [(arc, path)],
    "same": [path], "differ": [path], "kept": [path]}``: missing files are put back, equal ones left
    alone; a shared file (CA, sa key, Secrets encryption configuration) that exists with other content is
    reported in ``differ`` (a restore refuses it unless told to replace it: another CA or Secrets key than
    the snapshot's makes the restored cluster unusable); the host's own files that differ (newer leaf
    certificates or configuration) and the cluster-ID record are ``kept``.
    """
    current = current or {}
    shared = set()
    for kind in kinds:
        shared.update(os.path.join(pki_dir, n) for n in SHARED_PKI.get(kind, []))
        shared.update(SHARED_FILES.get(kind, []))
    dirs = [d for kind in kinds for d in SHARED_DIRS.get(kind, [])]
    origins = manifest.get("origins", {})
    plan = {"put": [], "same": [], "differ": [], "kept": []}
    for arc in sorted(manifest.get("files", {})):
        if not arc.startswith("files/"):
            continue
        path = arc[len("files"):]
        own = origins.get(arc) == host
        if own and "control_plane" not in kinds:
            # an external member takes back only its etcd files, never the control plane's
            own = path.startswith(pki_dir + "/etcd/") or path.startswith("/etc/etcd/")
        elif own and "stacked" not in kinds and path.startswith(pki_dir + "/etcd/"):
            # a control plane of external etcd has only the etcd CA certificate there (shared): any other file
            # under etcd/ is a member's (bundles made before issue 15 labelled a member's certificates as the
            # control plane's)
            own = False
        if not (own or path in shared or any(path.startswith(d + "/") for d in dirs)):
            continue
        have = current.get(path)
        if have is None:
            plan["put"].append((arc, path))
        elif have == manifest["files"][arc]:
            plan["same"].append(path)
        elif path in SHARED_FILES_KEPT or not (path in shared or any(path.startswith(d + "/") for d in dirs)):
            # this host's own certificates and configuration, or the cluster-ID record: the host's are newer
            plan["kept"].append(path)
        else:
            plan["differ"].append(path)
    return plan


def sha256_of(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None


def put_back(opened_dir, manifest, host, kinds, pki_dir="/etc/kubernetes/pki", replace=False, check=False, root=""):
    """Apply :func:`putback_plan` on this host. Missing files come back with the bundle's mode, owned by
    the owner of the directory they go into (the etcd user's dir on an external member). ``replace``:
    files with other content are moved aside (``<file>.groundwork-pre-restore``) and put back too.
    ``root``: prefix of every path on disk (tests)."""
    paths = [arc[len("files"):] for arc in manifest.get("files", {}) if arc.startswith("files/")]
    plan = putback_plan(manifest, host, kinds, pki_dir, {p: sha256_of(root + p) for p in paths})
    todo = list(plan["put"])
    if replace:
        todo += [("files" + p, p) for p in plan["differ"]]
    if check:
        return plan
    for arc, path in todo:
        src = os.path.join(opened_dir, arc)
        path = root + path
        parent = os.path.dirname(path)
        os.makedirs(parent, mode=0o755 if not parent.endswith(("/pki", "/etcd", "/encryption")) else 0o700,
                    exist_ok=True)
        st = os.stat(parent)
        mode = os.stat(src).st_mode & 0o777
        if os.path.exists(path):
            os.replace(path, path + ".groundwork-pre-restore")
        tmp = os.path.join(parent, ".%s.groundwork-put" % os.path.basename(path))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            shutil.copyfileobj(f, out)
            if os.geteuid() == 0:
                os.fchown(out.fileno(), st.st_uid, st.st_gid)
            os.fchmod(out.fileno(), mode)
        os.replace(tmp, path)
    plan["put"] = [p for a, p in todo]
    return plan


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


# --------------------------------------------------------------------------- run outcome (timer and backup.yml)
# A run whose snapshot was taken, verified and bundled on the member but whose off-node copy failed
# keeps the local files, says so in its status (result "local_only", offnode.result "failed") and
# exits EXIT_OFFNODE_FAILED, so the timer's unit fails (systemctl --failed) and backup.yml can name
# the backup host instead of a generic error.
EXIT_OFFNODE_FAILED = 3
METRICS_FILE = "/var/lib/node_exporter/textfile_collector/groundwork_etcd_backup.prom"
_RESULTS = ("ok", "local_only", "failed", "skipped")


def offnode_failed(status, host, error):
    """``status`` (of a run that kept a verified local bundle) after the copy to ``host`` failed; and the exit code."""
    out = dict(status, result="local_only", offnode={"host": host, "result": "failed", "error": error})
    return out, EXIT_OFFNODE_FAILED


def carry_forward(previous, status, now):
    """``status`` with ``last_local_ok``/``last_offnode_ok`` (epoch seconds) kept from ``previous`` or set now."""
    out = dict(status)
    prev = previous if isinstance(previous, dict) else {}
    local = prev.get("last_local_ok")
    offnode = prev.get("last_offnode_ok")
    if status.get("result") in ("ok", "local_only"):
        local = int(now)
    if status.get("result") == "ok" and (status.get("offnode") or {}).get("result", "ok") == "ok":
        offnode = int(now) if status.get("offnode") else offnode
    if local is not None:
        out["last_local_ok"] = local
    if offnode is not None:
        out["last_offnode_ok"] = offnode
    return out


def status_metrics(status, now):
    """Prometheus textfile-collector text for one run's status (see docs/backup-restore.md)."""
    result = status.get("result", "failed")
    offnode = status.get("offnode") or {}
    lines = [
        "# HELP groundwork_etcd_backup_result Result of the last run of the backup program on this member (1 = this result).",
        "# TYPE groundwork_etcd_backup_result gauge",
    ]
    for name in _RESULTS:
        lines.append('groundwork_etcd_backup_result{result="%s"} %d' % (name, 1 if result == name else 0))
    if offnode:
        lines += ["# HELP groundwork_etcd_backup_offnode_ok 1 when the last backup taken here was copied to the backup host.",
                  "# TYPE groundwork_etcd_backup_offnode_ok gauge",
                  'groundwork_etcd_backup_offnode_ok{host="%s"} %d' % (offnode.get("host", ""),
                                                                       1 if offnode.get("result", "ok") == "ok" else 0)]
    for key, help_text in (("last_local_ok", "Time of the last verified snapshot taken on this member."),
                           ("last_offnode_ok", "Time of the last bundle from this member stored on the backup host.")):
        if status.get(key) is not None:
            metric = "groundwork_etcd_backup_%s_timestamp_seconds" % key
            lines += ["# HELP %s %s" % (metric, help_text), "# TYPE %s gauge" % metric, "%s %d" % (metric, status[key])]
    lines += ["# HELP groundwork_etcd_backup_run_timestamp_seconds Time of the last run.",
              "# TYPE groundwork_etcd_backup_run_timestamp_seconds gauge",
              "groundwork_etcd_backup_run_timestamp_seconds %d" % int(now)]
    return "\n".join(lines) + "\n"
