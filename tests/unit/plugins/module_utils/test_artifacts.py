# -*- coding: utf-8 -*-
from __future__ import annotations

import copy
import hashlib
import io
import json
import os

import pytest
import yaml

from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SHA_A = hashlib.sha256(b"a").hexdigest()
SHA_B = hashlib.sha256(b"b").hexdigest()


def manifest():
    return {
        "schema_version": 1,
        "releases": {
            "1.35": {
                "kubernetes_version": "v1.35.0",
                "files": [
                    {"name": "runc", "version": "v1.3.3", "arch": "amd64", "url": "https://x.invalid/runc.amd64",
                     "filename": "runc.amd64", "path": "files/runc/v1.3.3/amd64/runc.amd64", "sha256": SHA_A,
                     "install": {"dest": "/usr/local/sbin/runc", "mode": "0755"}},
                    {"name": "etcd", "version": "v3.6.6", "arch": "amd64", "url": "https://x.invalid/etcd.tar.gz",
                     "filename": "etcd.tar.gz", "path": "files/etcd/v3.6.6/amd64/etcd.tar.gz", "sha256": SHA_B,
                     "archive": {"format": "tar.gz", "members": [
                         {"member": "etcd-v3.6.6-linux-amd64/etcd", "dest": "/usr/local/bin/etcd", "mode": "0755"}]}},
                    {"name": "kubeadm", "version": "v1.35.0", "arch": "amd64", "url": "https://x.invalid/kubeadm",
                     "filename": "kubeadm", "path": "files/kubeadm/v1.35.0/amd64/kubeadm", "sha256": None,
                     "todo": "checksum not computed", "install": {"dest": "/usr/local/bin/kubeadm", "mode": "0755"}},
                ],
                "images": [
                    {"name": "pause", "image": "registry.k8s.io/pause", "tag": "3.10.1", "digest": "sha256:" + SHA_A},
                ],
            }
        },
        "packages": {"debian": {"mirror": ["nginx", "skopeo"], "node": ["socat", "nginx"]}},
    }


def mutate(path, value):
    m = manifest()
    cur = m
    for k in path[:-1]:
        cur = cur[k]
    if value is KeyError:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return m


F0 = ("releases", "1.35", "files", 0)
F1 = ("releases", "1.35", "files", 1)
I0 = ("releases", "1.35", "images", 0)


@pytest.mark.parametrize("path,value,expect", [
    (("schema_version",), 2, "schema_version: must be 1"),
    (("releases",), {}, "releases: must map"),
    (F0 + ("sha256",), "ABC", "sha256 must be 64 lowercase hex"),
    (F0 + ("sha256",), SHA_A.upper(), "sha256 must be 64 lowercase hex"),
    (F0 + ("sha256",), None, "a 'todo' saying why"),
    (F0 + ("name",), "Bad Name", "name 'Bad Name' must match"),
    (F0 + ("arch",), "x86_64", "arch 'x86_64' is not one of"),
    (F0 + ("path",), "../etc/passwd", "must be relative and stay inside"),
    (F0 + ("path",), "/abs", "must be relative"),
    (F0 + ("url",), KeyError, "'url' is required"),
    (F0 + ("install",), KeyError, "exactly one of 'install'"),
    (F0 + ("install", "dest"), "relative/runc", "install.dest must be an absolute path"),
    (F0 + ("install", "mode"), 755, "mode must be a quoted octal string"),
    (F1 + ("archive", "format"), "zip", "archive.format must be one of"),
    (F1 + ("archive", "members"), [], "archive.members must be a non-empty list"),
    (F1 + ("archive", "members"), [{"member": "../x", "dest": "/x", "mode": "0755"}], "must be a relative path inside the archive"),
    (I0 + ("digest",), "sha256:abc", "digest must look like sha256"),
    (I0 + ("digest",), None, "a 'todo' saying why"),
    (I0 + ("image",), "pause", "must be a full repository"),
    (I0 + ("image",), "registry.k8s.io/pause:3.10", "must be a full repository"),
    (("releases", "1.35", "kubernetes_version"), "v1.34.0", "does not belong to minor 1.35"),
    (("packages",), {"debian": ["nginx"]}, "must map groups"),
])
def test_schema_errors(path, value, expect):
    errors = A.validate_manifest(mutate(path, value))
    assert any(expect in e for e in errors), errors
    with pytest.raises(GroundworkError, match="artifact manifest is invalid"):
        A.load_manifest(mutate(path, value))


def test_valid_manifest_and_duplicates():
    assert A.validate_manifest(manifest()) == []
    m = manifest()
    m["releases"]["1.35"]["files"].append(copy.deepcopy(m["releases"]["1.35"]["files"][0]))
    assert any("duplicate file runc/amd64" in e for e in A.validate_manifest(m))


def test_committed_manifest_is_valid_and_generated_from_sources():
    with open(os.path.join(ROOT, "artifacts", "manifest.yml")) as f:
        m = A.load_manifest(f.read())
    with open(os.path.join(ROOT, "artifacts", "sources.yml")) as f:
        sources = yaml.safe_load(f)
    assert set(m["releases"]) == set(sources["releases"])
    for minor, rel in sources["releases"].items():
        names = {e["name"] for e in m["releases"][minor]["files"]}
        assert names == set(rel["files"])
    # No checksum was invented: every entry has a real sha256 or a todo that says why not.
    for rel in m["releases"].values():
        for e in rel["files"]:
            assert e["sha256"] is not None or "not computed" in e["todo"]


@pytest.mark.parametrize("text,err", [("a: [", "not valid YAML"), ("- 1\n", "must be a mapping")])
def test_load_manifest_text_errors(text, err):
    with pytest.raises(GroundworkError, match=err):
        A.load_manifest(text)


@pytest.mark.parametrize("version,minor", [("v1.35.0", "1.35"), ("1.34.2", "1.34"), ("v1.35.0-rc.1", "1.35"),
                                           ("v1.35", "1.35"), ("latest", None), ("", None)])
def test_kube_minor(version, minor):
    assert A.kube_minor(version) == minor


@pytest.mark.parametrize("arch,want", [("x86_64", "amd64"), ("aarch64", "arm64"), ("amd64", "amd64")])
def test_normalize_arch(arch, want):
    assert A.normalize_arch(arch) == want


def test_normalize_arch_unknown():
    with pytest.raises(GroundworkError, match="mips"):
        A.normalize_arch("mips")


def test_select_files_and_errors():
    m = manifest()
    assert [e["name"] for e in A.select_files(m, "v1.35.0", "x86_64", ["runc", "etcd"])] == ["runc", "etcd"]
    assert [e["name"] for e in A.select_files(m, "v1.35.3", "amd64")] == ["etcd", "kubeadm", "runc"]
    with pytest.raises(GroundworkError, match="not in the artifact manifest.*: crictl, foo"):
        A.select_files(m, "v1.35.0", "amd64", ["runc", "crictl", "foo"])
    with pytest.raises(GroundworkError, match="no release for Kubernetes v1.36.0.*it has: 1.35"):
        A.select_files(m, "v1.36.0", "amd64", ["runc"])
    assert A.select_files(m, "v1.35.0", "arm64") == []


def test_packages_for():
    m = manifest()
    assert A.packages_for(m, "debian") == ["nginx", "skopeo", "socat"]
    assert A.packages_for(m, "debian", ["node"]) == ["nginx", "socat"]
    assert A.packages_for(m, "redhat") == []


def test_install_plan():
    plan = A.install_plan(A.select_files(manifest(), "v1.35.0", "amd64", ["runc", "etcd"]))
    assert plan == [
        {"name": "runc", "dest": "/usr/local/sbin/runc", "mode": "0755", "member": None},
        {"name": "etcd", "dest": "/usr/local/bin/etcd", "mode": "0755", "member": "etcd-v3.6.6-linux-amd64/etcd"},
    ]


@pytest.mark.parametrize("data", [b"", b"a", b"x" * (A.CHUNK + 17)])
def test_sha256_file_and_stream(tmp_path, data):
    p = tmp_path / "f"
    p.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert A.sha256_file(str(p)) == want
    assert A.sha256_file(str(p), chunk=7) == want
    assert A.sha256_stream(io.BytesIO(data)) == (want, len(data))


def _bundle(tmp_path, content):
    """A bundle holding runc and etcd files with the given contents (None = absent)."""
    m = manifest()
    for entry, data in zip(m["releases"]["1.35"]["files"], content):
        if data is not None:
            p = tmp_path / entry["path"]
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    return m


@pytest.mark.parametrize("content,status", [
    ((b"a", b"b", b"k"), {"runc": "ok", "etcd": "ok", "kubeadm": "unverifiable"}),
    ((b"A", b"b", None), {"runc": "mismatched", "etcd": "ok", "kubeadm": "unverifiable"}),
    ((None, b"bb", None), {"runc": "missing", "etcd": "mismatched", "kubeadm": "unverifiable"}),
])
def test_bundle_file_status_plan(tmp_path, content, status):
    m = _bundle(tmp_path, content)
    results = [A.bundle_file_status(str(tmp_path), e) for e in A.select_files(m, "v1.35.0", "amd64")]
    assert {r["name"]: r["status"] for r in results} == status
    summary = A.summarize(results)
    msg = A.problems_message(summary, "bundle")
    for name, st in status.items():
        assert name in summary[st]
        if st != "ok":
            assert name in msg


class FakeHTTP:
    def __init__(self, files=None, heads=None):
        self.files = files or {}
        self.heads = heads or {}
        self.urls = []

    def fetch(self, url):
        self.urls.append(url)
        if url in self.files:
            return 200, io.BytesIO(self.files[url])
        return 404, None

    def head(self, url, headers):
        self.urls.append(url)
        assert "application/vnd.oci.image.index.v1+json" in headers["Accept"]
        return self.heads.get(url, (404, {}))


def test_http_file_status():
    m = manifest()
    base = "http://mirror:8080/"
    http = FakeHTTP({"http://mirror:8080/files/runc/v1.3.3/amd64/runc.amd64": b"a",
                     "http://mirror:8080/files/etcd/v3.6.6/amd64/etcd.tar.gz": b"b tampered"})
    res = {r["name"]: r["status"] for r in (A.http_file_status(base, e, http.fetch) for e in A.select_files(m, "v1.35.0", "amd64"))}
    assert res == {"runc": "ok", "etcd": "mismatched", "kubeadm": "unverifiable"}
    # An entry without a checksum is not even fetched.
    assert not any("kubeadm" in u for u in http.urls)


@pytest.mark.parametrize("head,status", [
    ((200, {"Docker-Content-Digest": "sha256:" + SHA_A}), "ok"),
    ((200, {"docker-content-digest": "sha256:" + SHA_B}), "mismatched"),
    ((404, {}), "missing"),
    ((500, {}), "missing"),
])
def test_registry_image_status(head, status):
    img = manifest()["releases"]["1.35"]["images"][0]
    http = FakeHTTP(heads={"https://mirror:5000/v2/pause/manifests/3.10.1": head})
    assert A.registry_image_status("https://mirror:5000", img, http.head)["status"] == status


@pytest.mark.parametrize("image,repo", [("registry.k8s.io/pause", "pause"), ("docker.io/library/busybox", "library/busybox"),
                                        ("registry.k8s.io/coredns/coredns", "coredns/coredns")])
def test_registry_repo(image, repo):
    assert A.registry_repo({"image": image}) == repo


def _blob(layout, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    p = layout / "blobs" / "sha256" / digest.split(":")[1]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return digest


def _oci_layout(layout, ref):
    layer = _blob(layout, b"layer-bytes")
    config = _blob(layout, b"{}")
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 11}]}).encode()
    mdig = _blob(layout, man)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdig, "size": len(man),
         "annotations": {A.OCI_REF_ANNOTATION: ref}}]}))
    return mdig, layer


def test_oci_image_status(tmp_path):
    img = {"name": "busybox", "image": "docker.io/library/busybox", "tag": "1.35.0", "digest": None, "todo": "t"}
    assert A.oci_image_status(str(tmp_path), img)["status"] == "missing"
    mdig, layer = _oci_layout(tmp_path, "docker.io/library/busybox:1.35.0")
    assert A.oci_image_status(str(tmp_path), img)["status"] == "unverifiable"
    img["digest"] = mdig
    assert A.oci_image_status(str(tmp_path), img)["status"] == "ok"
    other = dict(img, digest="sha256:" + SHA_A)
    assert A.oci_image_status(str(tmp_path), other)["status"] == "mismatched"
    # One byte changed in a layer blob: the image is no longer whole.
    blob = tmp_path / "blobs" / "sha256" / layer.split(":")[1]
    blob.write_bytes(b"Layer-bytes")
    r = A.oci_image_status(str(tmp_path), img)
    assert r["status"] == "mismatched" and layer in r["detail"]


def test_sums_roundtrip_and_verify(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_bytes(b"a")
    (tmp_path / "y").write_bytes(b"b")
    (tmp_path / "z").write_bytes(b"z")
    rows = [(SHA_A, "d/x"), (SHA_B, "y"), (SHA_A, "z"), (SHA_A, "gone")]
    text = A.format_sums(rows)
    assert A.parse_sums(text) == sorted(rows, key=lambda r: r[1])
    out = A.verify_sums(str(tmp_path), A.parse_sums(text), workers=2)
    assert out == {"ok": 2, "missing": ["gone"], "mismatched": ["z"]}
    assert A.walk_bundle(str(tmp_path)) == ["d/x", "y", "z"]


@pytest.mark.parametrize("line,err", [("nothex  f", "is not '<sha256>  <path>'"), (SHA_A + "  ../etc/passwd", "leaves the bundle"),
                                      (SHA_A + "  /etc/passwd", "leaves the bundle")])
def test_parse_sums_errors(line, err):
    with pytest.raises(GroundworkError, match=err):
        A.parse_sums(line + "\n")
