# -*- coding: utf-8 -*-
"""Calico and a chart through manifest -> bundle, offline: the bundle carries Calico's manifest and images
(by the manifest's digests) and the chart repository; the rendered Calico is what the inventory asks for.

Real parts: gen-manifest.py --from-dir, ansible-playbook with the mirror_build role (module mirror_bundle,
skopeo into the OCI layout), the calico_manifest filter on the bundle's own files. Calico's real images cannot
be fetched here: the images are small ones named as upstream names them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.groundwork.k8s.plugins.filter.calico_manifest import calico_manifest
from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "airgap"))
from test_airgap import BUILD, MKIMAGE, ROOT, build_vars, failures, results, run_play  # noqa: E402
from test_airgap import pytestmark as _AIRGAP_MARK  # noqa: E402
import make_test_chart  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "plugins", "module_utils"))
from test_addons import CALICO  # noqa: E402

pytestmark = _AIRGAP_MARK

CALICO_REFS = {"calico-node": "docker.io/calico/node:v3.30.3", "calico-cni": "docker.io/calico/cni:v3.30.3",
               "calico-kube-controllers": "docker.io/calico/kube-controllers:v3.30.3"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("addons")
    src = tmp / "media"
    (src / "images").mkdir(parents=True)
    (src / "charts").mkdir()
    (src / "calico.yaml").write_text(CALICO)
    for name, ref in CALICO_REFS.items():
        payload = tmp / name
        payload.write_bytes(("not really %s\n" % name).encode() * 50)
        subprocess.run([sys.executable, MKIMAGE, str(payload), str(src / "images" / (name + ".oci.tar")), ref],
                       check=True, capture_output=True)
    (src / "charts" / "gw-hello-0.1.0.tgz").write_bytes(make_test_chart.chart_bytes("gw-hello", "0.1.0", CALICO_REFS["calico-node"]))
    with open(os.path.join(ROOT, "artifacts", "sources.yml")) as f:
        reviewed = yaml.safe_load(f)
    sources = {"schema_version": 1, "architectures": ["amd64"],
               "templates": {"calico": dict(reviewed["templates"]["calico"],
                                            install={"dest": str(tmp / "root" / "calico.yaml"), "mode": "0644"})},
               "charts": {"gw-hello": {"url": "https://charts.example.invalid/gw-hello-{version}.tgz",
                                       "images": {"0.1.0": {"calico-node": CALICO_REFS["calico-node"]}}}},
               "releases": {"1.33": {"kubernetes_version": "v1.33.3", "files": {"calico": "v3.30.3"},
                                     "images": dict(CALICO_REFS), "charts": {"gw-hello": "0.1.0"}}}}
    (tmp / "sources.yml").write_text(yaml.safe_dump(sources))
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-manifest.py"), "--sources", str(tmp / "sources.yml"),
                    "--from-dir", str(src), "--out", str(tmp / "manifest.yml")], check=True, capture_output=True)
    return {"tmp": tmp, "src": src, "manifest": tmp / "manifest.yml"}


def test_bundle_carries_calico_and_the_chart_then_nothing(site):
    bundle = site["tmp"] / "bundle"
    extra = dict(build_vars(site, bundle), mirror_build_charts=["gw-hello"])
    rc, first = run_play(site["tmp"], BUILD, extra)
    assert rc == 0, failures(first)
    manifest = yaml.safe_load(site["manifest"].read_text())
    rel = manifest["releases"]["1.33"]
    # Calico's manifest file, by the manifest's sha256
    calico = [f for f in rel["files"] if f["name"] == "calico"][0]
    assert calico["path"] == "files/calico/v3.30.3/amd64/calico.yaml"
    assert A.sha256_file(str(bundle / calico["path"])) == calico["sha256"]
    # every Calico image in the OCI layout with the manifest's digest
    for img in rel["images"]:
        assert A.oci_image_status(str(bundle / "images" / "oci"), img)["status"] == "ok", img
    # the chart repository: archive + index, both in the signed sums
    index = json.loads((bundle / "charts" / "index.yaml").read_text())
    assert index["entries"]["gw-hello"][0]["digest"] == rel["charts"][0]["sha256"]
    sums = (bundle / "MANIFEST.sha256").read_text()
    assert "charts/gw-hello-0.1.0.tgz" in sums and "charts/index.yaml" in sums and calico["path"] in sums
    # re-run: nothing copied
    rc, second = run_play(site["tmp"], BUILD, extra)
    assert rc == 0 and results(second, "Build the bundle")[0]["changed"] is False


def test_rendered_calico_from_the_bundle_is_what_the_inventory_asks(site):
    bundle = site["tmp"] / "bundle"
    if not (bundle / "manifest.json").exists():
        pytest.skip("needs the bundle of the test before")
    manifest = json.loads((bundle / "manifest.json").read_text())
    text = (bundle / "files/calico/v3.30.3/amd64/calico.yaml").read_text()
    out = [d for d in yaml.safe_load_all(calico_manifest(text, "10.10.0.0/16", manifest, "v1.33.3", {}, 26)) if d]
    digests = {A.image_ref(i): i["digest"] for i in manifest["releases"]["1.33"]["images"]}
    seen = set()
    for d in out:
        spec = (d.get("spec") or {}).get("template", {}).get("spec", {})
        for c in spec.get("initContainers", []) + spec.get("containers", []):
            ref, digest = c["image"].split("@")
            assert digests[ref] == digest
            seen.add(ref)
            if c["name"] == "calico-node":
                env = {e["name"]: e.get("value") for e in c["env"]}
                assert env["CALICO_IPV4POOL_CIDR"] == "10.10.0.0/16" and env["CALICO_IPV4POOL_BLOCK_SIZE"] == "26"
    assert seen == set(CALICO_REFS.values())
    # the layout holds each under the name containerd asks the mirror for (hosts.toml keeps the path)
    assert sorted(A.registry_repo(i) for i in manifest["releases"]["1.33"]["images"]) == \
        ["calico/cni", "calico/kube-controllers", "calico/node"]
