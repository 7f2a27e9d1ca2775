# -*- coding: utf-8 -*-
"""Air-gap bundle on this machine: build from a local directory, verify, install from it.

Real parts: ansible-playbook, skopeo (oci-archive -> OCI layout), sha256sum, openssl (signature),
an HTTP mirror on 127.0.0.1. OS packages are left to the lab scenario (they need apt's network).
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading

import pytest
import yaml

from playbook_json import run_playbook_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MKIMAGE = os.path.join(ROOT, "tests", "lab", "files", "mkimage.py")

pytestmark = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")


def run_play(tmp, play_text, extra_vars, check=False):
    play = tmp / ("play-%s.yml" % hashlib.sha256(play_text.encode()).hexdigest()[:8])
    play.write_text(play_text)
    varsfile = tmp / "vars.json"
    varsfile.write_text(json.dumps(extra_vars))
    argv = ["-i", "localhost,", "-c", "local", play,
            "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@%s" % varsfile]
    if check:
        argv.append("--check")
    proc, report = run_playbook_json(argv, tmp / "ansible-tmp", timeout=300)
    return proc.returncode, report


def results(report, name_part):
    out = []
    for play in report["plays"]:
        for task in play["tasks"]:
            if name_part in task["task"]["name"]:
                out.extend(task["hosts"].values())
    return out


def stats(report):
    return report["stats"]["localhost"]


def failures(report):
    msgs = []
    for play in report["plays"]:
        for task in play["tasks"]:
            for res in task["hosts"].values():
                if res.get("failed"):
                    msgs.append(str(res.get("msg")))
                for item in res.get("results", []):
                    if isinstance(item, dict) and item.get("failed"):
                        msgs.append(str(item.get("msg")))
    return msgs


def det_tar_gz(path, members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o755, 0
            t.addfile(ti, io.BytesIO(data))
    import gzip

    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A local artifacts dir (what arrives on media), its sources and generated manifest."""
    tmp = tmp_path_factory.mktemp("airgap")
    src = tmp / "media"
    (src / "images").mkdir(parents=True)
    runc = b"#!/bin/sh\necho runc 9.9.9\n" + os.urandom(2 * 1024 * 1024)
    (src / "runc.amd64").write_bytes(runc)
    det_tar_gz(src / "etcd-v9.9.9-linux-amd64.tar.gz", [
        ("etcd-v9.9.9-linux-amd64/etcd", b"#!/bin/sh\necho etcd 9.9.9\n"),
        ("etcd-v9.9.9-linux-amd64/etcdctl", b"#!/bin/sh\necho etcdctl 9.9.9\n"),
        ("etcd-v9.9.9-linux-amd64/README.md", b"not installed\n"),
    ])
    payload = tmp / "payload"
    payload.write_bytes(b"\x7fELF not really busybox\n" * 100)
    subprocess.run([sys.executable, MKIMAGE, str(payload), str(src / "images" / "busybox.oci.tar"),
                    "docker.io/library/busybox:9.9"], check=True, capture_output=True)
    root = tmp / "root"
    sources = {
        "schema_version": 1,
        "architectures": ["amd64"],
        "templates": {
            "runc": {"url": "https://github.com/opencontainers/runc/releases/download/{version}/runc.{arch}",
                     "install": {"dest": str(root / "sbin" / "runc"), "mode": "0755"}},
            "etcd": {"url": "https://github.com/etcd-io/etcd/releases/download/{version}/etcd-{version}-linux-{arch}.tar.gz",
                     "archive": {"format": "tar.gz", "members": [
                         {"member": "etcd-{version}-linux-{arch}/etcd", "dest": str(root / "bin" / "etcd"), "mode": "0755"},
                         {"member": "etcd-{version}-linux-{arch}/etcdctl", "dest": str(root / "bin" / "etcdctl"), "mode": "0750"}]}},
        },
        "releases": {"1.35": {"kubernetes_version": "v1.35.0", "files": {"runc": "v9.9.9", "etcd": "v9.9.9"},
                              "images": {"busybox": "docker.io/library/busybox:9.9"}}},
        "packages": {"debian": {"mirror": ["nginx"]}},
    }
    (tmp / "sources.yml").write_text(yaml.safe_dump(sources))
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-manifest.py"), "--sources", str(tmp / "sources.yml"),
                    "--from-dir", str(src), "--out", str(tmp / "manifest.yml")], check=True, capture_output=True)
    return {"tmp": tmp, "src": src, "manifest": tmp / "manifest.yml", "root": root, "runc": runc}


BUILD = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: groundwork.k8s.mirror_build
"""


def build_vars(site, bundle):
    return {"mirror_source_dir": str(site["src"]), "groundwork_artifact_manifest": str(site["manifest"]),
            "mirror_build_dir": str(bundle), "mirror_build_state_dir": str(bundle) + ".state",
            "mirror_build_tarball": str(bundle) + ".tar", "mirror_build_signing_key": str(bundle) + ".key",
            "mirror_build_packages": False}


@pytest.fixture(scope="module")
def built(site):
    bundle = site["tmp"] / "bundle"
    rc, first = run_play(site["tmp"], BUILD, build_vars(site, bundle))
    assert rc == 0, failures(first)
    return {"bundle": bundle, "first": first}


def test_build_copies_everything_then_nothing(site, built):
    bundle = built["bundle"]
    res = results(built["first"], "Build the bundle")[0]
    assert res["changed"] is True
    assert sorted(res["copied"]) == sorted(["etcd", "runc", "image:busybox", "manifest.json", "tarball"])
    # Real state: the file is the media's, the sums file passes sha256sum -c, the tarball matches its .sha256.
    assert (bundle / "files/runc/v9.9.9/amd64/runc.amd64").read_bytes() == site["runc"]
    subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST.sha256"], cwd=bundle, check=True)
    subprocess.run(["sha256sum", "--quiet", "-c", os.path.basename(str(bundle)) + ".tar.sha256"], cwd=bundle.parent, check=True)
    # The signature verifies with openssl and the public key written beside the signing key.
    sig = bundle.parent / "sig.bin"
    import base64

    sig.write_bytes(base64.b64decode((bundle / "MANIFEST.sha256.sig").read_text()))
    subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(bundle) + ".key.pub", "-rawin",
                    "-in", str(bundle / "MANIFEST.sha256"), "-sigfile", str(sig)], check=True, capture_output=True)
    assert oct(os.stat(str(bundle) + ".key").st_mode & 0o777) == "0o600"

    mtime = os.stat(str(bundle) + ".tar").st_mtime_ns
    rc, second = run_play(site["tmp"], BUILD, build_vars(site, bundle))
    assert rc == 0, failures(second)
    res = results(second, "Build the bundle")[0]
    assert res["changed"] is False and res["copied"] == [] and res["present"] == 3
    assert stats(second)["changed"] == 0
    assert os.stat(str(bundle) + ".tar").st_mtime_ns == mtime  # the tarball was not rewritten


def test_check_mode_then_resume_copies_only_what_is_missing(site, built):
    bundle = built["bundle"]
    target = bundle / "files/etcd/v9.9.9/amd64/etcd-v9.9.9-linux-amd64.tar.gz"
    target.unlink()
    rc, report = run_play(site["tmp"], BUILD, build_vars(site, bundle), check=True)
    assert rc == 0, failures(report)
    res = results(report, "Build the bundle")[0]
    assert res["changed"] is True and res["copied"] == ["etcd"]
    assert not target.exists()  # check mode changed nothing
    rc, report = run_play(site["tmp"], BUILD, build_vars(site, bundle))
    assert rc == 0, failures(report)
    res = results(report, "Build the bundle")[0]
    assert res["copied"][0] == "etcd" and "runc" not in res["copied"] and "image:busybox" not in res["copied"]
    assert target.exists()


VERIFY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: verify
      groundwork.k8s.artifact_verify:
        manifest: "{{ lookup('ansible.builtin.file', manifest_path) | from_yaml }}"
        kubernetes_version: v1.35.0
        bundle_dir: "{{ bundle_dir | default(omit) }}"
        mirror_url: "{{ mirror_url | default(omit) }}"
        images: "{{ images | default(omit) }}"
        check_sums: "{{ check_sums | default(false) }}"
        signing_pubkey: "{{ lookup('ansible.builtin.file', pubkey) if pubkey is defined else omit }}"
"""


@pytest.fixture
def copy_of_bundle(site, built, tmp_path):
    dest = tmp_path / "bundle"
    shutil.copytree(built["bundle"], dest)
    return dest


def flip_one_byte(path, offset=100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_passes_on_a_good_bundle(site, built):
    rc, report = run_play(site["tmp"], VERIFY, {"manifest_path": str(site["manifest"]), "bundle_dir": str(built["bundle"]),
                                                "check_sums": True, "pubkey": str(built["bundle"]) + ".key.pub"})
    assert rc == 0, failures(report)
    res = results(report, "verify")[0]
    assert sorted(res["ok"]) == ["etcd", "image:busybox", "runc"]
    assert res["signature"] == "ed25519 verified" and res["sums"]["mismatched"] == [] and res["changed"] is False


def test_tampered_file_and_missing_image_are_named(site, built, copy_of_bundle):
    flip_one_byte(copy_of_bundle / "files/runc/v9.9.9/amd64/runc.amd64")
    index = copy_of_bundle / "images/oci/index.json"
    doc = json.loads(index.read_text())
    doc["manifests"] = []
    index.write_text(json.dumps(doc))
    rc, report = run_play(site["tmp"], VERIFY, {"manifest_path": str(site["manifest"]), "bundle_dir": str(copy_of_bundle),
                                                "check_sums": True})
    assert rc != 0
    res = results(report, "verify")[0]
    assert res["mismatched"] == ["runc"] and res["missing"] == ["image:busybox"] and res["ok"] == ["etcd"]
    assert "missing: image:busybox" in res["msg"] and "mismatched: runc" in res["msg"]
    assert "files/runc/v9.9.9/amd64/runc.amd64" in res["msg"]  # the sums file names the path too


def test_changed_sums_file_fails_the_signature(site, built, copy_of_bundle):
    sums = copy_of_bundle / "MANIFEST.sha256"
    sums.write_text(sums.read_text().replace("runc.amd64", "runc.amd64 ", 1))
    rc, report = run_play(site["tmp"], VERIFY, {"manifest_path": str(site["manifest"]), "bundle_dir": str(copy_of_bundle),
                                                "check_sums": True, "pubkey": str(built["bundle"]) + ".key.pub", "images": []})
    assert rc != 0
    assert "does not verify with the pinned signing key" in results(report, "verify")[0]["msg"]


@pytest.fixture
def http_mirror(copy_of_bundle):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(copy_of_bundle))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield copy_of_bundle, "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


def test_http_mirror_verify_names_the_tampered_and_missing_files(site, http_mirror):
    bundle, url = http_mirror
    v = {"manifest_path": str(site["manifest"]), "mirror_url": url, "images": []}
    rc, report = run_play(site["tmp"], VERIFY, v)
    assert rc == 0, failures(report)
    assert sorted(results(report, "verify")[0]["ok"]) == ["etcd", "runc"]
    flip_one_byte(bundle / "files/runc/v9.9.9/amd64/runc.amd64", offset=2 * 1024 * 1024)
    (bundle / "files/etcd/v9.9.9/amd64/etcd-v9.9.9-linux-amd64.tar.gz").unlink()
    rc, report = run_play(site["tmp"], VERIFY, v)
    assert rc != 0
    res = results(report, "verify")[0]
    assert res["mismatched"] == ["runc"] and res["missing"] == ["etcd"]


INSTALL = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: install
      ansible.builtin.include_role:
        name: groundwork.k8s.artifacts
        tasks_from: install
      vars:
        artifacts_install: [runc, etcd]
        artifacts_arch: amd64
"""


def test_artifacts_role_installs_from_the_mirror_twice(site, built, tmp_path):
    v = {"groundwork_artifact_manifest": str(site["manifest"]), "groundwork_mirror_url": "file://%s" % built["bundle"],
         "artifacts_cache_dir": str(tmp_path / "cache")}
    rc, first = run_play(site["tmp"], INSTALL, v)
    assert rc == 0, failures(first)
    assert stats(first)["changed"] > 0
    root = site["root"]
    assert (root / "sbin/runc").read_bytes() == site["runc"]
    assert (root / "bin/etcd").read_bytes() == b"#!/bin/sh\necho etcd 9.9.9\n"
    assert oct(os.stat(root / "bin/etcdctl").st_mode & 0o777) == "0o750"
    assert not (root / "bin/README.md").exists()
    rc, second = run_play(site["tmp"], INSTALL, v)
    assert rc == 0, failures(second)
    assert stats(second)["changed"] == 0


def test_artifacts_role_refuses_a_tampered_mirror_file(site, copy_of_bundle, tmp_path):
    flip_one_byte(copy_of_bundle / "files/runc/v9.9.9/amd64/runc.amd64")
    v = {"groundwork_artifact_manifest": str(site["manifest"]), "groundwork_mirror_url": "file://%s" % copy_of_bundle,
         "artifacts_cache_dir": str(tmp_path / "cache"), "artifacts_install": ["runc"]}
    dest = site["root"] / "sbin/runc"
    if dest.exists():
        dest.unlink()
    rc, report = run_play(site["tmp"], INSTALL.replace("artifacts_install: [runc, etcd]", "artifacts_install: [runc]"), v)
    assert rc != 0
    assert any("checksum" in m.lower() for m in failures(report)), failures(report)
    assert not dest.exists()


def test_null_checksum_is_refused_by_build_and_install(site, tmp_path):
    manifest = yaml.safe_load(site["manifest"].read_text())
    entry = manifest["releases"]["1.35"]["files"][0]
    entry["sha256"], entry["todo"] = None, "checksum not computed: test"
    bad = tmp_path / "manifest.yml"
    bad.write_text(yaml.safe_dump(manifest))
    v = build_vars(site, tmp_path / "bundle")
    v["groundwork_artifact_manifest"] = str(bad)
    rc, report = run_play(site["tmp"], BUILD, v)
    assert rc != 0
    assert any("no checksum for: %s/amd64" % entry["name"] in m for m in failures(report)), failures(report)
    assert not (tmp_path / "bundle" / "files").exists()
    rc, report = run_play(site["tmp"], INSTALL, {"groundwork_artifact_manifest": str(bad), "groundwork_mirror_url": "file:///nonexistent"})
    assert rc != 0
    assert any("refusing artifacts without a sha256" in m and entry["name"] in m for m in failures(report)), failures(report)
