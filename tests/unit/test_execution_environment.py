# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment (execution-environment.yml, ansible-builder v3).

No image can be built here (no container registry), so this checks everything up to the
build: `ansible-builder create` on a staged copy with a freshly built collection tarball, the
context it writes (Containerfile, _build/requirements.txt, requirements.yml, bindep.txt, the
tarball), what ansible-builder's own introspection reads from the installed collection, and
that every pin matches what the tests here run with.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
EE = yaml.safe_load(open(os.path.join(ROOT, "execution-environment.yml"), encoding="utf-8"))
GALAXY = yaml.safe_load(open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8"))


def _pins(path):
    pins = {}
    for line in open(path, encoding="utf-8"):
        line = line.split("#")[0].strip()
        if line:
            name, _sep, version = line.partition("==")
            pins[name.lower()] = version
    return pins


REQUIREMENTS = _pins(os.path.join(ROOT, "requirements.txt"))
EE_REQUIREMENTS = _pins(os.path.join(ROOT, "meta", "ee-requirements.txt"))


def _tool(name):
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else shutil.which(name)


def _installed_collection_version(fqcn):
    namespace, name = fqcn.split(".")
    for base in sys.path:
        manifest = os.path.join(base, "ansible_collections", namespace, name, "MANIFEST.json")
        if os.path.exists(manifest):
            return json.load(open(manifest, encoding="utf-8"))["collection_info"]["version"]
    return None


def _satisfies(version, constraint):
    from packaging.specifiers import SpecifierSet
    return version in SpecifierSet(constraint.replace(" ", ""))


# ------------------------------------------------------------------ the definition
def test_schema_version_and_base_image():
    assert EE["version"] == 3
    assert EE["images"]["base_image"]["name"]
    assert EE["dependencies"]["python"] == "meta/ee-requirements.txt"
    assert EE["dependencies"]["system"] == "bindep.txt"


@pytest.mark.parametrize("key,package", [("ansible_core", "ansible-core"), ("ansible_runner", "ansible-runner")])
def test_core_and_runner_pinned_as_in_requirements(key, package):
    assert EE["dependencies"][key]["package_pip"] == "%s==%s" % (package, REQUIREMENTS[package])


@pytest.mark.parametrize("package", sorted(EE_REQUIREMENTS))
def test_runtime_python_pins_match_requirements(package):
    assert EE_REQUIREMENTS[package] == REQUIREMENTS[package]


@pytest.mark.parametrize("package", ["cryptography", "kubernetes", "jmespath"])
def test_runtime_python_deps_listed(package):
    assert package in EE_REQUIREMENTS


def test_no_test_tools_in_the_ee():
    assert not {"pytest", "molecule", "ansible-lint", "ansible-builder"} & set(EE_REQUIREMENTS)


@pytest.mark.parametrize("fqcn,constraint", sorted(GALAXY["dependencies"].items()))
def test_collection_dependencies_in_ee_at_tested_versions(fqcn, constraint):
    pinned = {c["name"]: c["version"] for c in EE["dependencies"]["galaxy"]["collections"]}
    assert fqcn in pinned, "galaxy.yml depends on %s but the EE does not install it" % fqcn
    assert _satisfies(pinned[fqcn], constraint)
    assert pinned[fqcn] == _installed_collection_version(fqcn), "EE pins a version the tests do not run"


def _used_collections():
    """Collections named by FQCN in roles, playbooks and awx/configure.yml's neighbours."""
    used = {}
    pattern = re.compile(r"^\s*-?\s*([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*:", re.M)
    # task files only: defaults and vars hold data keys such as net.ipv4.ip_forward or registry.k8s.io
    files = (glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
             + glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml"))
             + glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))
    for path in files:
        for fqcn in pattern.findall(open(path, encoding="utf-8").read()):
            used.setdefault(fqcn, os.path.relpath(path, ROOT))
    return used


def test_every_collection_the_roles_use_is_in_the_ee():
    pinned = {c["name"] for c in EE["dependencies"]["galaxy"]["collections"]}
    used = _used_collections()
    assert "ansible.builtin" in used  # the scan finds something
    missing = {c: where for c, where in used.items()
               if c not in pinned | {"ansible.builtin", "ansible.legacy", "groundwork.k8s"}}
    assert missing == {}


def test_collection_metadata_points_at_runtime_lists():
    meta = yaml.safe_load(open(os.path.join(ROOT, "meta", "execution-environment.yml"), encoding="utf-8"))
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "bindep.txt"}
    for path in meta["dependencies"].values():
        assert os.path.exists(os.path.join(ROOT, path))
    ignored = GALAXY.get("build_ignore", [])
    for path in ("meta/execution-environment.yml", "meta/ee-requirements.txt", "bindep.txt"):
        assert path not in ignored


def test_bindep_lines_are_valid():
    profile = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*( \[[a-z0-9:!. _-]+\])?$")
    names = []
    for line in open(os.path.join(ROOT, "bindep.txt"), encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#"):
            assert profile.match(line), line
            names.append(line.split()[0])
    for needed in ("openssh-clients", "openssh-client", "openssl", "rsync", "etcd-client"):
        assert needed in names


# ------------------------------------------------------------------ ansible-builder create
@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """Stage the EE files with a freshly built tarball, run `ansible-builder create`."""
    stage = tmp_path_factory.mktemp("ee")
    for rel in ("execution-environment.yml", "bindep.txt", "meta/ee-requirements.txt", "meta/execution-environment.yml"):
        os.makedirs(os.path.dirname(str(stage / rel)), exist_ok=True)
        shutil.copy(os.path.join(ROOT, rel), str(stage / rel))
    dist = stage / "build" / "dist"
    dist.mkdir(parents=True)
    # Build from the files git would ship (as scripts/sanity.sh copies them): the working tree
    # also holds lab state and other engineers' scratch files that come and go mid-build.
    src = stage / "src"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout.split("\0")
    for rel in filter(None, listed):
        if os.path.isfile(os.path.join(ROOT, rel)) and not os.path.islink(os.path.join(ROOT, rel)):
            os.makedirs(os.path.dirname(str(src / rel)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), str(src / rel))
    done = subprocess.run([_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(dist),
                           str(src)], capture_output=True, text=True, cwd=str(stage), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    ctx = stage / "context"
    done = subprocess.run([_tool("ansible-builder"), "create", "-f", str(stage / "execution-environment.yml"),
                           "-c", str(ctx), "--output-filename", "Containerfile", "-v", "3"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"stage": stage, "ctx": ctx, "log": done.stdout + done.stderr}


def test_create_writes_containerfile(context):
    text = (context["ctx"] / "Containerfile").read_text()
    assert text.startswith('ARG EE_BASE_IMAGE="%s"' % EE["images"]["base_image"]["name"])
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        REQUIREMENTS["ansible-core"], REQUIREMENTS["ansible-runner"]) in text
    # the galaxy stage installs the deps, then our tarball offline
    galaxy = text.index("FROM base AS galaxy")
    deps = text.index("-r requirements.yml --collections-path", galaxy)
    ours = text.index("collection install --offline --collections-path /usr/share/ansible/collections "
                      "/build/collections/groundwork-k8s-*.tar.gz", deps)
    assert ours < text.index("FROM base AS builder")
    assert "introspect.py introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in text
    assert "No matches" not in context["log"], context["log"]


def test_create_copies_requirement_files(context):
    build = context["ctx"] / "_build"
    assert _pins(str(build / "requirements.txt")) == EE_REQUIREMENTS
    assert (build / "bindep.txt").read_text() == open(os.path.join(ROOT, "bindep.txt"), encoding="utf-8").read()
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert galaxy["collections"] == EE["dependencies"]["galaxy"]["collections"]


def test_create_ships_the_collection_tarball(context):
    tarballs = glob.glob(str(context["ctx"] / "_build" / "collections" / "groundwork-k8s-*.tar.gz"))
    assert [os.path.basename(t) for t in tarballs] == ["groundwork-k8s-%s.tar.gz" % GALAXY["version"]]
    names = set(tarfile.open(tarballs[0]).getnames())
    for rel in ("meta/execution-environment.yml", "meta/ee-requirements.txt", "bindep.txt", "meta/runtime.yml"):
        assert rel in names, rel
    assert not any(n.startswith((".venv/", ".collections/", "build/")) for n in names)


def test_builder_introspection_reads_the_collection(context, tmp_path):
    """What the builder stage runs: introspect.py over the installed collections."""
    tarball = glob.glob(str(context["ctx"] / "_build" / "collections" / "groundwork-k8s-*.tar.gz"))[0]
    installed = tmp_path / "collections"
    # --force and a neutral cwd: the checkout's ansible.cfg already finds groundwork.k8s
    subprocess.run([_tool("ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force",
                    "-p", str(installed), tarball], check=True, capture_output=True, text=True, cwd=str(tmp_path))
    assert (installed / "ansible_collections" / "groundwork" / "k8s" / "MANIFEST.json").exists()
    build = context["ctx"] / "_build"
    out_pip, out_bindep = tmp_path / "pip.txt", tmp_path / "bindep.txt"
    done = subprocess.run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(installed),
                           "--user-pip", str(build / "requirements.txt"), "--user-bindep", str(build / "bindep.txt"),
                           "--write-pip", str(out_pip), "--write-bindep", str(out_bindep)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    data = yaml.safe_load(done.stdout)
    pip = out_pip.read_text()
    # the collection's run-time list, not the repository's requirements.txt (pytest, molecule...)
    assert "cryptography==%s  # from collection groundwork.k8s" % REQUIREMENTS["cryptography"] in pip
    assert "pytest" not in pip and "molecule" not in pip
    assert "openssl [platform:rpm platform:dpkg]  # from collection groundwork.k8s" in out_bindep.read_text()
    assert data["python"] and data["system"]
