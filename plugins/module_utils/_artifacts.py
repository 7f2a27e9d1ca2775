# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""The artifact manifest: schema checks, selection, sha256 streaming and verification plans.

Pure functions: no Ansible, no network unless a ``fetch`` callable is handed in. The schema
is documented in ``docs/airgap.md``; ``validate_manifest`` is its executable form.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.groundwork.k8s.plugins.module_utils import _addons
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

SCHEMA_VERSION = 1
CHUNK = 1024 * 1024
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
ARCHES = ("amd64", "arm64", "ppc64le", "s390x")
ARCHIVE_FORMATS = ("tar.gz", "tgz", "tar", "zip")  # zip: members may be nested (a!b!c), see _addons.extract_nested
MACHINE_TO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                   "ppc64le": "ppc64le", "s390x": "s390x"}
SUMS_FILE = "MANIFEST.sha256"
OCI_REF_ANNOTATION = "org.opencontainers.image.ref.name"


# --------------------------------------------------------------------------- hashing
def sha256_file(path, chunk=CHUNK):
    """Stream ``path`` through sha256; return the hex digest."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def sha256_stream(reader, chunk=CHUNK):
    """Hash a file-like object (an HTTP response) without holding it in memory.

    Returns (hex digest, size in bytes).
    """
    h = hashlib.sha256()
    size = 0
    while True:
        block = reader.read(chunk)
        if not block:
            break
        size += len(block)
        h.update(block)
    return h.hexdigest(), size


# --------------------------------------------------------------------------- schema
def _err(errors, where, msg):
    errors.append("%s: %s" % (where, msg))


def _check_mode(errors, where, mode):
    if not isinstance(mode, str) or not re.match(r"^0[0-7]{3}$", mode):
        _err(errors, where, "mode must be a quoted octal string like '0755' (got %r)" % (mode,))


def _check_file(errors, where, entry):
    if not isinstance(entry, dict):
        _err(errors, where, "must be a mapping")
        return
    for key in ("name", "version", "arch", "url", "filename", "path"):
        if not isinstance(entry.get(key), str) or not entry.get(key):
            _err(errors, where, "'%s' is required (a non-empty string)" % key)
    name = entry.get("name")
    if isinstance(name, str) and not NAME_RE.match(name):
        _err(errors, where, "name %r must match %s" % (name, NAME_RE.pattern))
    if entry.get("arch") not in ARCHES and isinstance(entry.get("arch"), str):
        _err(errors, where, "arch %r is not one of %s" % (entry.get("arch"), ", ".join(ARCHES)))
    path = entry.get("path")
    if isinstance(path, str) and (path.startswith("/") or ".." in path.split("/")):
        _err(errors, where, "path %r must be relative and stay inside the bundle" % path)
    _check_sha(errors, where, entry)
    has_install = "install" in entry
    has_archive = "archive" in entry
    if has_install == has_archive:
        _err(errors, where, "exactly one of 'install' (a single file) or 'archive' (members) is required")
    if has_install:
        inst = entry["install"]
        if not isinstance(inst, dict) or not str(inst.get("dest", "")).startswith("/"):
            _err(errors, where, "install.dest must be an absolute path")
        else:
            _check_mode(errors, where + ".install", inst.get("mode"))
    if has_archive:
        arc = entry["archive"]
        if not isinstance(arc, dict):
            _err(errors, where, "archive must be a mapping")
            return
        if arc.get("format") not in ARCHIVE_FORMATS:
            _err(errors, where, "archive.format must be one of %s" % ", ".join(ARCHIVE_FORMATS))
        members = arc.get("members")
        if not isinstance(members, list) or not members:
            _err(errors, where, "archive.members must be a non-empty list")
            return
        for j, m in enumerate(members):
            mw = "%s.archive.members[%d]" % (where, j)
            if not isinstance(m, dict) or not m.get("member") or not str(m.get("dest", "")).startswith("/"):
                _err(errors, mw, "needs 'member' (path inside the archive) and an absolute 'dest'")
                continue
            if str(m["member"]).startswith("/") or ".." in str(m["member"]).split("/"):
                _err(errors, mw, "member %r must be a relative path inside the archive" % m["member"])
            _check_mode(errors, mw, m.get("mode"))


def _check_sha(errors, where, entry):
    sha = entry.get("sha256")
    if sha is None:
        if not entry.get("todo"):
            _err(errors, where, "sha256 is null: a 'todo' saying why and how to fill it is required")
    elif not isinstance(sha, str) or not SHA256_RE.match(sha):
        _err(errors, where, "sha256 must be 64 lowercase hex characters or null (got %r)" % (sha,))


def _check_image(errors, where, entry):
    if not isinstance(entry, dict):
        _err(errors, where, "must be a mapping")
        return
    for key in ("name", "image", "tag"):
        if not isinstance(entry.get(key), str) or not entry.get(key):
            _err(errors, where, "'%s' is required (a non-empty string)" % key)
    image = entry.get("image")
    if isinstance(image, str) and ("." not in image.split("/")[0] or ":" in image.split("/")[-1]):
        _err(errors, where, "image %r must be a full repository (registry host/path) without a tag" % image)
    digest = entry.get("digest")
    if digest is None:
        if not entry.get("todo"):
            _err(errors, where, "digest is null: a 'todo' saying why and how to fill it is required")
    elif not isinstance(digest, str) or not DIGEST_RE.match(digest):
        _err(errors, where, "digest must look like sha256:<64 hex> or be null (got %r)" % (digest,))


def validate_manifest(manifest):
    """Return a list of human-readable schema errors (empty when the manifest is valid)."""
    errors = []
    if not isinstance(manifest, dict):
        return ["manifest: must be a mapping (is the file YAML?)"]
    if manifest.get("schema_version") != SCHEMA_VERSION:
        _err(errors, "schema_version", "must be %d (got %r)" % (SCHEMA_VERSION, manifest.get("schema_version")))
    releases = manifest.get("releases")
    if not isinstance(releases, dict) or not releases:
        _err(errors, "releases", "must map Kubernetes minors ('1.35') to releases")
        releases = {}
    for minor, rel in releases.items():
        rw = "releases[%s]" % minor
        if not re.match(r"^\d+\.\d+$", str(minor)):
            _err(errors, rw, "key must be a Kubernetes minor like '1.35' (quoted)")
        if not isinstance(rel, dict):
            _err(errors, rw, "must be a mapping")
            continue
        kv = rel.get("kubernetes_version")
        if not isinstance(kv, str) or kube_minor(kv) != str(minor):
            _err(errors, rw, "kubernetes_version %r does not belong to minor %s" % (kv, minor))
        seen = set()
        for i, f in enumerate(rel.get("files") or []):
            _check_file(errors, "%s.files[%d]" % (rw, i), f)
            if isinstance(f, dict):
                key = (f.get("name"), f.get("arch"))
                if key in seen:
                    _err(errors, "%s.files[%d]" % (rw, i), "duplicate file %s/%s" % key)
                seen.add(key)
        names = set()
        for i, img in enumerate(rel.get("images") or []):
            _check_image(errors, "%s.images[%d]" % (rw, i), img)
            if isinstance(img, dict):
                if img.get("name") in names:
                    _err(errors, "%s.images[%d]" % (rw, i), "duplicate image name %s" % img.get("name"))
                names.add(img.get("name"))
        charts = set()
        for i, chart in enumerate(rel.get("charts") or []):
            _addons.check_chart(errors, "%s.charts[%d]" % (rw, i), chart, _check_image)
            if isinstance(chart, dict):
                if (chart.get("name"), chart.get("version")) in charts:
                    _err(errors, "%s.charts[%d]" % (rw, i), "duplicate chart %s %s" % (chart.get("name"), chart.get("version")))
                charts.add((chart.get("name"), chart.get("version")))
    packages = manifest.get("packages", {})
    if not isinstance(packages, dict):
        _err(errors, "packages", "must map a distro family (debian, redhat) to {group: [package names]}")
    else:
        for family, groups in packages.items():
            if not isinstance(groups, dict):
                _err(errors, "packages[%s]" % family, "must map groups (mirror, node) to lists of package names")
                continue
            for group, pkgs in groups.items():
                if not isinstance(pkgs, list) or not all(isinstance(p, str) and p for p in pkgs):
                    _err(errors, "packages[%s][%s]" % (family, group), "must be a list of package names")
    return errors


def packages_for(manifest, family, groups=None):
    """Sorted unique package names of a distro family, for some groups (all when None)."""
    fam = (manifest.get("packages") or {}).get(family) or {}
    names = set()
    for group, pkgs in fam.items():
        if groups is None or group in groups:
            names.update(pkgs)
    return sorted(names)


def load_manifest(text_or_data):
    """Parse (when given text) and validate; raise GroundworkError listing every schema error."""
    data = text_or_data
    if isinstance(text_or_data, (str, bytes)):
        import yaml  # only the controller side parses text; modules receive data

        try:
            data = yaml.safe_load(text_or_data)
        except yaml.YAMLError as exc:
            raise GroundworkError("artifact manifest is not valid YAML: %s" % exc)
    errors = validate_manifest(data)
    if errors:
        raise GroundworkError("artifact manifest is invalid:\n  " + "\n  ".join(errors), errors=errors)
    return data


# --------------------------------------------------------------------------- selection
def kube_minor(version):
    """'v1.35.2' -> '1.35'; None when it does not look like a Kubernetes version."""
    m = re.match(r"^v?(\d+)\.(\d+)(\.\d+)?([-+].*)?$", str(version or ""))
    return "%s.%s" % (m.group(1), m.group(2)) if m else None


def normalize_arch(arch):
    """Map Ansible's ansible_architecture (x86_64, aarch64) to release arch names (amd64, arm64)."""
    a = MACHINE_TO_ARCH.get(str(arch))
    if a is None:
        raise GroundworkError("architecture %r is not supported: one of %s" % (arch, ", ".join(sorted(MACHINE_TO_ARCH))))
    return a


def _plain_version(version):
    """'v1.35.0' and '1.35.0' are the same version: compare without the leading 'v'."""
    return str(version or "").strip().lstrip("v")


def manifest_versions(manifest):
    """The Kubernetes versions the manifest has releases for, newest minor first."""
    releases = manifest.get("releases") or {}
    minors = sorted(releases, key=lambda k: tuple(int(x) if x.isdigit() else 0 for x in str(k).split(".")), reverse=True)
    return [str((releases[m] or {}).get("kubernetes_version")) for m in minors]


def version_not_in_manifest(manifest, kubernetes_version, context=""):
    """The refusal text when ``kubernetes_version`` is not exactly a release's ``kubernetes_version``.

    Empty string when it is. The binaries and images of a release are those of one exact version:
    taking the release of the minor for another patch would install that patch's binaries while
    kubeadm is configured for the requested one.
    """
    want = _plain_version(kubernetes_version)
    releases = manifest.get("releases") or {}
    for rel in releases.values():
        if isinstance(rel, dict) and _plain_version(rel.get("kubernetes_version")) == want and want:
            return ""
    have = manifest_versions(manifest)
    minor = kube_minor(kubernetes_version)
    same_minor = (releases.get(minor) or {}).get("kubernetes_version") if minor else None
    why = (" (its release %s is %s: the binaries and images of %s would be installed while kubeadm is set up for %s)"
           % (minor, same_minor, same_minor, kubernetes_version)) if same_minor else ""
    return ("Kubernetes %s is not in the artifact manifest%s; the manifest has: %s.%s Fix: set "
            "groundwork_kubernetes_version to one of %s, or add the release to artifacts/sources.yml and regenerate "
            "the manifest with scripts/gen-manifest.py (then rebuild the site mirror with playbooks/mirror.yml if "
            "you use one)."
            % (kubernetes_version, why, ", ".join(have) or "none", (" " + context) if context else "",
               ", ".join(have) or "(none)"))


def release_for(manifest, kubernetes_version, exact=True):
    """Return the release mapping of the manifest for ``kubernetes_version``.

    ``exact`` (the default, for everything that installs or checks artifacts): the release whose
    ``kubernetes_version`` is exactly the requested one, else GroundworkError naming the versions the
    manifest has. ``exact=False`` takes the release of the same minor (only for names that do not
    change within a minor, such as the pause image reference).
    """
    minor = kube_minor(kubernetes_version)
    releases = manifest.get("releases") or {}
    rel = releases.get(minor) if minor else None
    if rel is None and not exact:
        raise GroundworkError("the artifact manifest has no release for Kubernetes %s (minor %s); it has: %s"
                              % (kubernetes_version, minor, ", ".join(sorted(str(k) for k in releases)) or "none"))
    if exact:
        problem = version_not_in_manifest(manifest, kubernetes_version)
        if problem:
            raise GroundworkError(problem, have=manifest_versions(manifest))
        want = _plain_version(kubernetes_version)
        rel = [r for r in releases.values() if isinstance(r, dict) and _plain_version(r.get("kubernetes_version")) == want][0]
    return rel


def select_files(manifest, kubernetes_version, arch, names=None):
    """The file entries a run needs: ``names`` (all when None) for one architecture.

    Raises GroundworkError naming every requested artifact the manifest does not have.
    """
    rel = release_for(manifest, kubernetes_version)
    arch = normalize_arch(arch)
    by_name = {}
    for f in rel.get("files") or []:
        if f.get("arch") == arch:
            by_name[f["name"]] = f
    if names is None:
        return [by_name[n] for n in sorted(by_name)]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise GroundworkError("not in the artifact manifest for Kubernetes %s/%s: %s (known: %s)"
                              % (kubernetes_version, arch, ", ".join(unknown), ", ".join(sorted(by_name)) or "none"),
                              unknown=unknown)
    return [by_name[n] for n in names]


def select_images(manifest, kubernetes_version, names=None, exact=True):
    """The image entries of the release (``exact``: see ``release_for``); ``names`` all when None."""
    rel = release_for(manifest, kubernetes_version, exact=exact)
    images = {i["name"]: i for i in rel.get("images") or []}
    if names is None:
        return [images[n] for n in sorted(images)]
    unknown = [n for n in names if n not in images]
    if unknown:
        raise GroundworkError("images not in the artifact manifest for Kubernetes %s: %s"
                              % (kubernetes_version, ", ".join(unknown)), unknown=unknown)
    return [images[n] for n in names]


def image_ref(image):
    """'registry.k8s.io/pause' + tag -> 'registry.k8s.io/pause:3.10' (the OCI layout ref name)."""
    return "%s:%s" % (image["image"], image["tag"])


def registry_repo(image):
    """The repository on the site registry: the upstream path without its registry host.

    containerd's hosts.toml mirrors keep the path, so registry.k8s.io/pause is pulled from
    <mirror>/v2/pause/... and docker.io/library/busybox from <mirror>/v2/library/busybox/...
    """
    return image["image"].split("/", 1)[1]


def install_plan(entries):
    """Flatten file entries to what lands on a host: [{name, dest, mode, member}]."""
    plan = []
    for e in entries:
        if "install" in e:
            plan.append({"name": e["name"], "dest": e["install"]["dest"], "mode": e["install"]["mode"], "member": None})
        else:
            for m in e["archive"]["members"]:
                plan.append({"name": e["name"], "dest": m["dest"], "mode": m["mode"], "member": m["member"]})
    return plan


# --------------------------------------------------------------------------- what a run installs
# The defaults of the roles that install from the manifest. tests/unit checks them against the roles'
# defaults/main.yml, so preflight and the install cannot disagree about what comes from the manifest.
ROLE_DEFAULTS = {
    "kubernetes_binaries_source": "mirror",
    "kubernetes_binaries_artifacts": ["kubeadm", "kubelet", "kubectl"],
    "container_runtime_source": "packages",
    "container_runtime_artifacts": ["containerd", "runc", "cni-plugins", "crictl"],
}
DEFAULT_KUBERNETES_VERSION = "v1.35.0"


def _bool(value, default=False):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def _hv(hostvars, host):
    try:
        return hostvars.get(host) or {}
    except (KeyError, TypeError):
        return {}


def _adder(files, why):
    def add(names, reason):
        for n in names or []:
            if n not in files:
                files.append(n)
                why[n] = reason
    return add


def run_needs(groups, hostvars, hosts=None):
    """What each host installs from the artifact manifest in a site.yml run, decided as the roles decide.

    Returns {host: {"files": [names], "images": bool, "mirror_url": str, "why": {name: reason}}} for every
    host (of ``hosts``, all inventory hosts when None) that installs something from the manifest:

    * control planes and workers: kubeadm/kubelet/kubectl with ``kubernetes_binaries_source: mirror`` (the
      default); containerd/runc/cni-plugins/crictl with ``container_runtime_source: mirror``, or crictl alone
      with ``container_runtime_crictl_from_mirror`` (default: a mirror URL is set); the release's images
      with ``groundwork_registry_mirror`` (the site registry serves the manifest's images);
    * etcd members, and stacked control planes when backups are installed: etcd with
      ``etcd_binary_source: artifacts`` (default when a mirror URL is set).
    """
    cps = list(groups.get("kube_control_plane") or [])
    workers = list(groups.get("kube_node") or [])
    etcd = list(groups.get("etcd") or [])
    backup = list(groups.get("backup") or [])
    wanted = set(hosts) if hosts is not None else None
    out = {}
    everyone = []
    for h in cps + workers + etcd:
        if h not in everyone:
            everyone.append(h)
    for host in everyone:
        if wanted is not None and host not in wanted:
            continue
        hv = _hv(hostvars, host)
        mirror_url = str(hv.get("groundwork_mirror_url") or "")
        files, why = [], {}
        add = _adder(files, why)

        images = False
        if host in cps or host in workers:
            kbs = str(hv.get("kubernetes_binaries_source") or ROLE_DEFAULTS["kubernetes_binaries_source"])
            if kbs == "mirror":
                add(hv.get("kubernetes_binaries_artifacts") or ROLE_DEFAULTS["kubernetes_binaries_artifacts"],
                    "kubernetes_binaries_source: mirror")
            crs = str(hv.get("container_runtime_source") or ROLE_DEFAULTS["container_runtime_source"])
            if crs == "mirror":
                add(hv.get("container_runtime_artifacts") or ROLE_DEFAULTS["container_runtime_artifacts"],
                    "container_runtime_source: mirror")
            elif _bool(hv.get("container_runtime_crictl_from_mirror"), default=bool(mirror_url)):
                add(["crictl"], "container_runtime_crictl_from_mirror")
            images = bool(hv.get("groundwork_registry_mirror"))
        etcd_source = str(hv.get("etcd_binary_source") or ("artifacts" if mirror_url else "tarball"))
        stacked_tools = (host in cps and not etcd and _bool(hv.get("groundwork_backups"), default=True) and bool(backup)
                         and str(hv.get("groundwork_etcd_mode") or "stacked") == "stacked")
        if (host in etcd or stacked_tools) and etcd_source == "artifacts":
            add(["etcd"], "etcd_binary_source: artifacts")
        if files or images:
            out[host] = {"files": files, "images": images, "mirror_url": mirror_url, "why": why}
    return out


def _entries_for(rel, names, arch):
    by_name = {f.get("name"): f for f in rel.get("files") or [] if f.get("arch") == arch}
    return [by_name[n] for n in names if n in by_name], [n for n in names if n not in by_name]


def run_plan(manifest, kubernetes_version, needs, arches=None):
    """Check the manifest against what the run installs from it (``needs`` from ``run_needs``).

    Without ``arches`` (the inventory step, before any host is contacted): ``errors`` holds the refusal
    when the run installs anything from the manifest and ``kubernetes_version`` is not exactly one of its
    releases. With ``arches`` ({host: architecture}, after the read-only fact gathering) it also names every
    file (and, with a registry mirror, every image) the run would install whose sha256/digest is null, or
    that the manifest lacks for the host's architecture, and lists per host the upstream URLs to probe
    (``upstream``: hosts without a mirror URL fetch from them).

    Returns {"uses_manifest": bool, "errors": [str], "upstream": {host: [{"name", "url"}]}}.
    """
    out = {"uses_manifest": bool(needs), "errors": [], "upstream": {}}
    if not needs:
        return out
    hosts = sorted(needs)
    names = sorted({n for h in hosts for n in needs[h]["files"]})
    if any(needs[h]["images"] for h in hosts):
        names.append("the images (groundwork_registry_mirror)")
    problem = version_not_in_manifest(manifest, kubernetes_version, "This run installs %s from it on %s."
                                      % (", ".join(names), ", ".join(hosts)))
    if problem:
        out["errors"].append(problem)
        return out
    if arches is None:
        return out
    rel = release_for(manifest, kubernetes_version)
    unchecked = {}   # (kind, name, version, arch) -> {"todo": str, "hosts": [..]}
    absent = {}      # (name, arch) -> [hosts]
    for host in sorted(needs):
        if host not in arches:
            continue  # unreachable: reported by the host checks
        need = needs[host]
        try:
            arch = normalize_arch(arches[host])
        except GroundworkError as exc:
            out["errors"].append("%s: %s" % (host, exc.msg))
            continue
        entries, missing = _entries_for(rel, need["files"], arch)
        for n in missing:
            absent.setdefault((n, arch), []).append(host)
        for e in entries:
            if e.get("sha256") is None:
                key = ("file", e["name"], e.get("version"), arch)
                unchecked.setdefault(key, {"todo": e.get("todo") or "", "hosts": []})["hosts"].append(host)
        if need["images"]:
            for img in rel.get("images") or []:
                if img.get("digest") is None:
                    key = ("image", img["name"], img.get("tag"), None)
                    unchecked.setdefault(key, {"todo": img.get("todo") or "", "hosts": []})["hosts"].append(host)
        if not need["mirror_url"]:
            out["upstream"][host] = [{"name": e["name"], "url": e["url"]} for e in entries]
    for (name, arch), hosts in sorted(absent.items()):
        out["errors"].append("The artifact manifest's release %s has no %s for %s (needed on %s). Fix: add it to "
                             "artifacts/sources.yml (architectures, files) and regenerate the manifest with "
                             "scripts/gen-manifest.py." % (rel.get("kubernetes_version"), name, arch, ", ".join(hosts)))
    if unchecked:
        by_todo = {}
        for (kind, name, version, arch), info in sorted(unchecked.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][3]))):
            label = ("%s %s %s" % (name, version, arch)) if kind == "file" else ("image %s:%s" % (name, version))
            by_todo.setdefault(info["todo"], []).append("%s (%s)" % (label, ", ".join(info["hosts"])))
        parts = ["%s [manifest todo: %s]" % ("; ".join(labels), todo or "none given") for todo, labels in by_todo.items()]
        out["errors"].append(
            "The artifact manifest has no checksum for %d artifact(s) this run would install from it, and nothing is "
            "installed unchecked: %s. Fix: on a machine that reaches dl.k8s.io, GitHub and registry.k8s.io, run "
            "`python3 scripts/gen-manifest.py` (it reads the upstream checksum files and image digests), review the "
            "diff and commit artifacts/manifest.yml (or point groundwork_artifact_manifest at such a manifest); for "
            "media received on site, `python3 scripts/gen-manifest.py --from-dir DIR`. See docs/install.md "
            "(connected installs) and docs/airgap.md." % (len(unchecked), "; ".join(parts)))
    return out


def upstream_problems(results):
    """Refusals for upstream URLs that did not answer a HEAD request with 2xx.

    ``results``: [{"host", "name", "url", "status" (int or None), "msg"}] -> [str], one per URL (hosts grouped).
    """
    bad = {}
    for r in results:
        status = r.get("status")
        try:
            ok = 200 <= int(status) < 300
        except (TypeError, ValueError):
            ok = False
        if ok:
            continue
        detail = ("HTTP %s" % status) if status not in (None, -1, "") else (
            re.sub(r"^Status code was -?\d+ and not \[[^\]]*\]: ", "", str(r.get("msg") or "")) or "no answer")
        key = (r["name"], r["url"], detail)
        bad.setdefault(key, []).append(r["host"])
    out = []
    for (name, url, detail), hosts in sorted(bad.items()):
        out.append("%s cannot fetch %s from %s (%s), and no groundwork_mirror_url is set. Fix: let the hosts reach "
                   "it (proxy, firewall, DNS), or serve a site mirror (docs/airgap.md) and set groundwork_mirror_url."
                   % (", ".join(sorted(hosts)), name, url, detail))
    return out


# --------------------------------------------------------------------------- verification
def _result(kind, entry, status, detail=""):
    out = {"kind": kind, "name": entry["name"], "status": status, "detail": detail,
           "arch": entry.get("arch"), "version": entry.get("version") or entry.get("tag")}
    if kind == "image":
        out.update(image=entry["image"], tag=entry["tag"], repository=registry_repo(entry))
    return out


def check_file_entry(entry, actual_sha, size=None):
    """Compare one file entry with what was found. ``actual_sha`` None means not found."""
    if entry.get("sha256") is None:
        return _result("file", entry, "unverifiable",
                       "the manifest has no sha256 for it (%s)" % (entry.get("todo") or "todo"))
    if actual_sha is None:
        return _result("file", entry, "missing", entry["path"])
    if actual_sha != entry["sha256"]:
        return _result("file", entry, "mismatched", "sha256 %s, manifest says %s" % (actual_sha, entry["sha256"]))
    return _result("file", entry, "ok", "%s bytes" % size if size is not None else "")


def bundle_file_status(bundle_dir, entry):
    """Status of a file entry inside an unpacked bundle directory."""
    path = os.path.join(bundle_dir, entry["path"])
    if not os.path.isfile(path):
        return check_file_entry(entry, None)
    return check_file_entry(entry, sha256_file(path), os.path.getsize(path))


def http_file_status(base_url, entry, fetch):
    """Status of a file entry on the HTTP mirror. ``fetch(url)`` returns (status, reader or None)."""
    if entry.get("sha256") is None:
        return check_file_entry(entry, None)
    url = base_url.rstrip("/") + "/" + entry["path"]
    status, reader = fetch(url)
    if status == 404 or reader is None:
        return check_file_entry(entry, None)
    if status != 200:
        return _result("file", entry, "missing", "%s answered HTTP %s" % (url, status))
    digest, size = sha256_stream(reader)
    return check_file_entry(entry, digest, size)


def oci_index(layout_dir):
    """{ref name: manifest descriptor} of an OCI image layout (empty when absent)."""
    path = os.path.join(layout_dir, "index.json")
    try:
        with open(path, "rb") as f:
            index = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise GroundworkError("%s is not valid JSON: %s" % (path, exc))
    refs = {}
    for desc in index.get("manifests") or []:
        ref = (desc.get("annotations") or {}).get(OCI_REF_ANNOTATION)
        if ref:
            refs[ref] = desc
    return refs


def _oci_blob(layout_dir, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(layout_dir, "blobs", algo, hexd)


def _oci_blob_ok(layout_dir, digest):
    path = _oci_blob(layout_dir, digest)
    return os.path.isfile(path) and "sha256:" + sha256_file(path) == digest


def oci_image_status(layout_dir, image, refs=None):
    """Status of an image inside an OCI layout: the ref exists, its digest is the manifest's,
    and every blob it references (manifests, configs, layers) is present with that sha256."""
    refs = oci_index(layout_dir) if refs is None else refs
    desc = refs.get(image_ref(image))
    if desc is None:
        return _result("image", image, "missing", image_ref(image))
    if image.get("digest") and desc.get("digest") != image["digest"]:
        return _result("image", image, "mismatched", "digest %s, manifest says %s" % (desc.get("digest"), image["digest"]))
    todo = [desc]
    bad = []
    while todo:
        d = todo.pop()
        if not _oci_blob_ok(layout_dir, d["digest"]):
            bad.append(d["digest"])
            continue
        if d.get("mediaType", "").endswith(("manifest.v1+json", "image.index.v1+json", "manifest.list.v2+json",
                                            "manifest.v2+json")):
            with open(_oci_blob(layout_dir, d["digest"]), "rb") as f:
                doc = json.load(f)
            todo.extend(doc.get("manifests") or [])
            if doc.get("config"):
                todo.append(doc["config"])
            todo.extend(doc.get("layers") or [])
    if bad:
        return _result("image", image, "mismatched", "blobs missing or corrupt: %s" % ", ".join(bad[:5]))
    if image.get("digest") is None:
        return _result("image", image, "unverifiable", "present as %s but the manifest has no digest (%s)"
                       % (desc.get("digest"), image.get("todo") or "todo"))
    return _result("image", image, "ok", desc.get("digest"))


MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def registry_image_status(registry_url, image, head):
    """Status of an image on the site registry. ``head(url, headers)`` returns (status, headers dict).

    The tag must resolve to the manifest's digest (Docker-Content-Digest) — a re-tagged or
    rebuilt image is a mismatch, not a pass.
    """
    url = "%s/v2/%s/manifests/%s" % (registry_url.rstrip("/"), registry_repo(image), image["tag"])
    status, headers = head(url, {"Accept": MANIFEST_ACCEPT})
    if status == 404 or status is None:
        return _result("image", image, "missing", url)
    if status != 200:
        return _result("image", image, "missing", "%s answered HTTP %s" % (url, status))
    got = {k.lower(): v for k, v in (headers or {}).items()}.get("docker-content-digest")
    if image.get("digest") is None:
        return _result("image", image, "unverifiable", "registry has %s but the manifest has no digest" % got)
    if got != image["digest"]:
        return _result("image", image, "mismatched", "registry has %s, manifest says %s" % (got, image["digest"]))
    return _result("image", image, "ok", got)


def summarize(results):
    """Group results by status: {'ok': [...names], 'missing': [...], 'mismatched': [...], 'unverifiable': [...]}.

    Names are prefixed by kind for images (``image:pause``) so a file and an image with the
    same name stay distinguishable; files of another arch carry ``/arch``.
    """
    out = {"ok": [], "missing": [], "mismatched": [], "unverifiable": []}
    arches = {r["arch"] for r in results if r["kind"] == "file"}
    for r in results:
        label = r["name"] if r["kind"] == "file" else "image:" + r["name"]
        if r["kind"] == "file" and len(arches) > 1:
            label += "/" + r["arch"]
        out[r["status"]].append(label)
    return out


def problems_message(summary, where):
    parts = []
    for status in ("missing", "mismatched", "unverifiable"):
        if summary[status]:
            parts.append("%s: %s" % (status, ", ".join(summary[status])))
    if not parts:
        return ""
    return "artifacts not usable from %s -> %s" % (where, "; ".join(parts))


# --------------------------------------------------------------------------- sums file
def parse_sums(text):
    """Parse sha256sum output ('<hex>  <path>' or '<hex> *<path>') to [(hex, path)]."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = re.match(r"^([0-9a-f]{64}) [ *](.+)$", line)
        if not m:
            raise GroundworkError("%s line %d is not '<sha256>  <path>': %r" % (SUMS_FILE, n, line[:120]))
        path = m.group(2)
        if path.startswith("/") or ".." in path.split("/"):
            raise GroundworkError("%s line %d: path %r leaves the bundle" % (SUMS_FILE, n, path))
        rows.append((m.group(1), path))
    return rows


def format_sums(rows):
    return "".join("%s  %s\n" % (h, p) for h, p in sorted(rows, key=lambda r: r[1]))


def verify_sums(bundle_dir, rows, workers=None):
    """Check every (sha256, path) under ``bundle_dir`` in parallel (hashlib releases the GIL).

    Returns {'ok': n, 'missing': [paths], 'mismatched': [paths]}.
    """
    workers = workers or min(8, (os.cpu_count() or 2) * 2)

    def one(row):
        want, rel = row
        path = os.path.join(bundle_dir, rel)
        if not os.path.isfile(path):
            return "missing", rel
        return ("ok" if sha256_file(path) == want else "mismatched"), rel

    out = {"ok": 0, "missing": [], "mismatched": []}
    # Biggest first keeps the workers busy to the end.
    ordered = sorted(rows, key=lambda r: -_size(os.path.join(bundle_dir, r[1])))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for status, rel in pool.map(one, ordered):
            if status == "ok":
                out["ok"] += 1
            else:
                out[status].append(rel)
    out["missing"].sort()
    out["mismatched"].sort()
    return out


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def walk_bundle(bundle_dir, exclude=(SUMS_FILE, SUMS_FILE + ".sig")):
    """Relative paths of every regular file in the bundle (sorted), except the sums files."""
    found = []
    for root, dirs, files in os.walk(bundle_dir):
        dirs.sort()
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), bundle_dir)
            if rel in exclude or name.endswith(".part"):
                continue
            found.append(rel)
    return sorted(found)


# --------------------------------------------------------------------------- signature
def verify_signature(pub_pem, data, sig_b64, run=None):
    """True when ``sig_b64`` (base64) is an ed25519 signature of ``data`` by ``pub_pem``.

    Uses python cryptography when importable; else ``openssl pkeyutl -verify -rawin`` through
    ``run(argv)`` -> rc (hosts without python3-cryptography, such as a fresh mirror host).
    """
    import base64
    import binascii

    if isinstance(pub_pem, str):
        pub_pem = pub_pem.encode()
    try:
        sig = base64.b64decode(sig_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        if run is None:
            raise GroundworkError("cannot verify the bundle signature: neither python cryptography nor a runner for openssl")
        return _openssl_verify(pub_pem, data, sig, run)
    try:
        pub = serialization.load_pem_public_key(pub_pem)
    except ValueError as exc:
        raise GroundworkError("signing public key is not a PEM public key: %s" % exc)
    try:
        pub.verify(sig, data)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _openssl_verify(pub_pem, data, sig, run):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, content in (("pub.pem", pub_pem), ("data", data), ("sig", sig)):
            paths[name] = os.path.join(tmp, name)
            with open(paths[name], "wb") as f:
                f.write(content)
        rc = run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths["pub.pem"], "-rawin",
                  "-in", paths["data"], "-sigfile", paths["sig"]])
    return rc == 0
