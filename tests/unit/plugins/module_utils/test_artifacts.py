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
    (F1 + ("archive", "format"), "rar", "archive.format must be one of"),
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
    assert [e["name"] for e in A.select_files(m, "1.35.0", "amd64")] == ["etcd", "kubeadm", "runc"]
    with pytest.raises(GroundworkError, match="not in the artifact manifest.*: crictl, foo"):
        A.select_files(m, "v1.35.0", "amd64", ["runc", "crictl", "foo"])
    with pytest.raises(GroundworkError, match="Kubernetes v1.36.0 is not in the artifact manifest; the manifest has: v1.35.0"):
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


# --------------------------------------------------------------------------- exact version, run plan
def two_releases():
    m = manifest()
    rel = copy.deepcopy(m["releases"]["1.35"])
    rel["kubernetes_version"] = "v1.33.3"
    m["releases"]["1.33"] = rel
    return m


@pytest.mark.parametrize("version", ["v1.35.0", "1.35.0", "v1.33.3"])
def test_version_in_manifest(version):
    m = two_releases()
    assert A.version_not_in_manifest(m, version) == ""
    assert A.release_for(m, version)["kubernetes_version"] == "v" + version.lstrip("v")


def test_version_of_another_patch_is_refused_naming_the_versions_and_the_fix():
    m = two_releases()
    msg = A.version_not_in_manifest(m, "v1.33.4")
    assert msg.startswith("Kubernetes v1.33.4 is not in the artifact manifest (its release 1.33 is v1.33.3: the "
                          "binaries and images of v1.33.3 would be installed while kubeadm is set up for v1.33.4)")
    assert "the manifest has: v1.35.0, v1.33.3." in msg
    assert "Fix: set groundwork_kubernetes_version to one of v1.35.0, v1.33.3, or add the release to " \
           "artifacts/sources.yml and regenerate the manifest with scripts/gen-manifest.py" in msg
    # every consumer of the release refuses it: install (artifact_select), verify, bundle
    with pytest.raises(GroundworkError, match="Kubernetes v1.33.4 is not in the artifact manifest") as err:
        A.select_files(m, "v1.33.4", "amd64", ["runc"])
    assert err.value.details["have"] == ["v1.35.0", "v1.33.3"]
    with pytest.raises(GroundworkError, match="v1.33.4 is not in the artifact manifest"):
        A.select_images(m, "v1.33.4")
    # a reference name only (the pause image) may come from the minor's release
    assert A.select_images(m, "v1.33.4", ["pause"], exact=False)[0]["tag"] == "3.10.1"
    assert A.release_for(m, "v1.33.4", exact=False)["kubernetes_version"] == "v1.33.3"


def test_version_of_an_unknown_minor_and_garbage():
    m = two_releases()
    assert "Kubernetes v1.34.0 is not in the artifact manifest; the manifest has: v1.35.0, v1.33.3." \
        in A.version_not_in_manifest(m, "v1.34.0")
    assert A.version_not_in_manifest(m, "")
    assert A.version_not_in_manifest(m, "latest")


@pytest.mark.parametrize("role,key", [("kubernetes_binaries", "kubernetes_binaries_source"),
                                      ("kubernetes_binaries", "kubernetes_binaries_artifacts"),
                                      ("container_runtime", "container_runtime_source"),
                                      ("container_runtime", "container_runtime_artifacts")])
def test_role_defaults_are_the_roles_own(role, key):
    """run_needs decides as the roles do: its defaults are the roles' defaults."""
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as f:
        defaults = yaml.safe_load(f)
    assert A.ROLE_DEFAULTS[key] == defaults[key]


def test_etcd_and_crictl_defaults_follow_the_mirror_url():
    for role, key, text in [("etcd", "etcd_binary_source", "'artifacts' if (groundwork_mirror_url"),
                            ("container_runtime", "container_runtime_crictl_from_mirror", "groundwork_mirror_url")]:
        with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as f:
            assert text in str(yaml.safe_load(f)[key])


GROUPS = {"kube_control_plane": ["cp1"], "kube_node": ["w1"], "etcd": [], "backup": []}


def test_run_needs_defaults_connected():
    # connected defaults: kubeadm/kubelet/kubectl from the manifest (upstream URLs), containerd from packages
    needs = A.run_needs(GROUPS, {"cp1": {}, "w1": {}})
    assert needs == {h: {"files": ["kubeadm", "kubelet", "kubectl"], "images": False, "mirror_url": "",
                         "why": {n: "kubernetes_binaries_source: mirror" for n in ("kubeadm", "kubelet", "kubectl")}}
                     for h in ("cp1", "w1")}


def test_run_needs_url_and_packages_use_nothing_from_the_manifest():
    hv = {h: {"kubernetes_binaries_source": "url"} for h in ("cp1", "w1")}
    assert A.run_needs(GROUPS, hv) == {}
    # the lab's upgrade target (not in any manifest) is then not refused
    assert A.run_plan(manifest(), "v1.37.0", A.run_needs(GROUPS, hv)) == {"uses_manifest": False, "errors": [], "upstream": {}}


def test_run_needs_airgapped_everything():
    groups = {"kube_control_plane": ["cp1"], "kube_node": ["w1"], "etcd": ["e1"], "backup": ["b1"]}
    common = {"groundwork_mirror_url": "http://m:8080", "groundwork_registry_mirror": "m:5000"}
    hv = {"cp1": dict(common, container_runtime_source="mirror"), "w1": dict(common), "e1": dict(common), "b1": {}}
    needs = A.run_needs(groups, hv)
    assert needs["cp1"]["files"] == ["kubeadm", "kubelet", "kubectl", "containerd", "runc", "cni-plugins", "crictl"]
    assert needs["w1"]["files"] == ["kubeadm", "kubelet", "kubectl", "crictl"]
    assert needs["w1"]["why"]["crictl"] == "container_runtime_crictl_from_mirror"
    assert needs["e1"] == {"files": ["etcd"], "images": False, "mirror_url": "http://m:8080",
                           "why": {"etcd": "etcd_binary_source: artifacts"}}
    assert needs["cp1"]["images"] and "b1" not in needs
    # stacked etcd with backups: etcdctl on the control planes comes from the manifest too
    stacked = A.run_needs({"kube_control_plane": ["cp1"], "backup": ["b1"]}, {"cp1": common})
    assert "etcd" in stacked["cp1"]["files"]
    off = A.run_needs({"kube_control_plane": ["cp1"], "backup": ["b1"]}, {"cp1": dict(common, groundwork_backups="false")})
    assert "etcd" not in off["cp1"]["files"]
    # only the play's hosts
    assert set(A.run_needs(groups, hv, hosts=["w1"])) == {"w1"}


def test_run_plan_refuses_another_patch_before_anything_else():
    needs = A.run_needs(GROUPS, {"cp1": {}, "w1": {}})
    plan = A.run_plan(two_releases(), "v1.33.4", needs, {"cp1": "x86_64", "w1": "x86_64"})
    assert len(plan["errors"]) == 1 and plan["upstream"] == {}
    assert plan["errors"][0].startswith("Kubernetes v1.33.4 is not in the artifact manifest (its release 1.33 is v1.33.3")
    assert "the manifest has: v1.35.0, v1.33.3. This run installs kubeadm, kubectl, kubelet from it on cp1, w1. Fix: " \
        in plan["errors"][0]


def test_run_plan_inventory_step_passes_an_exact_version():
    needs = A.run_needs(GROUPS, {"cp1": {}, "w1": {}})
    assert A.run_plan(manifest(), "v1.35.0", needs) == {"uses_manifest": True, "errors": [], "upstream": {}}


def test_run_plan_names_null_checksums_with_their_todo_and_lists_upstream_urls():
    m = manifest()
    kubelet = dict(m["releases"]["1.35"]["files"][2], name="kubelet", todo="other reason",
                   url="https://x.invalid/kubelet", path="files/kubelet/v1.35.0/amd64/kubelet")
    m["releases"]["1.35"]["files"].append(kubelet)
    hv = {"cp1": {"kubernetes_binaries_artifacts": ["kubeadm", "kubelet"]},
          "w1": {"kubernetes_binaries_artifacts": ["kubeadm"], "groundwork_mirror_url": "http://m:8080",
                 "container_runtime_crictl_from_mirror": False}}
    plan = A.run_plan(m, "v1.35.0", A.run_needs(GROUPS, hv), {"cp1": "x86_64", "w1": "amd64"})
    assert len(plan["errors"]) == 1, plan["errors"]
    msg = plan["errors"][0]
    assert msg.startswith("The artifact manifest has no checksum for 2 artifact(s) this run would install from it, "
                          "and nothing is installed unchecked: kubeadm v1.35.0 amd64 (cp1, w1) [manifest todo: checksum "
                          "not computed]; kubelet v1.35.0 amd64 (cp1) [manifest todo: other reason]. Fix: on a machine "
                          "that reaches dl.k8s.io, GitHub and registry.k8s.io, run `python3 scripts/gen-manifest.py`")
    # w1 has a mirror: it downloads nothing upstream
    assert plan["upstream"] == {"cp1": [{"name": "kubeadm", "url": "https://x.invalid/kubeadm"},
                                        {"name": "kubelet", "url": "https://x.invalid/kubelet"}]}


def test_run_plan_with_checksums_and_images():
    m = manifest()
    hv = {h: {"kubernetes_binaries_source": "url", "container_runtime_source": "mirror",
              "container_runtime_artifacts": ["runc"], "groundwork_registry_mirror": "m:5000"} for h in ("cp1", "w1")}
    needs = A.run_needs(GROUPS, hv)
    plan = A.run_plan(m, "v1.35.0", needs, {"cp1": "x86_64"})   # w1 unreachable: left to the host checks
    assert plan == {"uses_manifest": True, "errors": [], "upstream": {"cp1": [{"name": "runc", "url": "https://x.invalid/runc.amd64"}]}}
    m["releases"]["1.35"]["images"][0].update(digest=None, todo="digest not computed")
    plan = A.run_plan(m, "v1.35.0", needs, {"cp1": "x86_64", "w1": "x86_64"})
    assert "image pause:3.10.1 (cp1, w1) [manifest todo: digest not computed]" in plan["errors"][0]


def test_run_plan_artifact_missing_for_an_arch_and_unknown_arch():
    needs = A.run_needs(GROUPS, {h: {"kubernetes_binaries_artifacts": ["runc"]} for h in ("cp1", "w1")})
    plan = A.run_plan(manifest(), "v1.35.0", needs, {"cp1": "aarch64", "w1": "mips"})
    assert plan["errors"][0] == "w1: architecture 'mips' is not supported: one of aarch64, amd64, arm64, ppc64le, s390x, x86_64"
    assert plan["errors"][1].startswith("The artifact manifest's release v1.35.0 has no runc for arm64 (needed on cp1).")


def test_shipped_manifest_refuses_a_connected_default_install():
    """The committed manifest has no checksums: a default connected install is refused by name, before any change."""
    with open(os.path.join(ROOT, "artifacts", "manifest.yml")) as f:
        m = A.load_manifest(f.read())
    needs = A.run_needs(GROUPS, {"cp1": {}, "w1": {}})
    assert A.run_plan(m, "v1.33.3", needs)["errors"] == []
    assert "the manifest has: v1.35.0, v1.34.2, v1.33.3" in A.run_plan(m, "v1.33.4", needs)["errors"][0]
    plan = A.run_plan(m, "v1.35.0", needs, {"cp1": "x86_64", "w1": "x86_64"})
    assert "kubeadm v1.35.0 amd64 (cp1, w1); kubectl v1.35.0 amd64 (cp1, w1); kubelet v1.35.0 amd64 (cp1, w1)" in plan["errors"][0]
    assert [u["url"] for u in plan["upstream"]["cp1"]] == ["https://dl.k8s.io/release/v1.35.0/bin/linux/amd64/" + n
                                                           for n in ("kubeadm", "kubelet", "kubectl")]


@pytest.mark.parametrize("results,want", [
    ([{"host": "cp1", "name": "kubeadm", "url": "https://u/kubeadm", "status": 200}], []),
    ([{"host": "w1", "name": "kubeadm", "url": "https://u/kubeadm", "status": 404},
      {"host": "cp1", "name": "kubeadm", "url": "https://u/kubeadm", "status": 404}],
     ["cp1, w1 cannot fetch kubeadm from https://u/kubeadm (HTTP 404), and no groundwork_mirror_url is set. Fix: let the "
      "hosts reach it (proxy, firewall, DNS), or serve a site mirror (docs/airgap.md) and set groundwork_mirror_url."]),
    ([{"host": "cp1", "name": "etcd", "url": "https://g/etcd.tgz", "status": -1,
       "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno -3] Temporary failure in name resolution>"}],
     ["cp1 cannot fetch etcd from https://g/etcd.tgz (Request failed: <urlopen error [Errno -3] Temporary failure in "
      "name resolution>), and no groundwork_mirror_url is set. Fix: let the hosts reach it (proxy, firewall, DNS), or "
      "serve a site mirror (docs/airgap.md) and set groundwork_mirror_url."]),
])
def test_upstream_problems(results, want):
    assert A.upstream_problems(results) == want
