#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mirror_bundle
short_description: Build the air-gap bundle - files, images, a Debian repo and a signed sha256 list
version_added: 0.1.0
description:
  - Builds (or brings up to date) one bundle directory from the Groundwork artifact manifest, on a
    connected machine or from a local directory of artifacts (media, a lab).
  - C(files/...) every selected file, copied or downloaded to a C(.part) file, moved into place only when its sha256 is the manifest's.
  - C(charts/) the selected Helm chart archives and a chart repository index (C(index.yaml), made from
    each archive's C(Chart.yaml) and the manifest's sha256); their images go into the OCI layout too.
  - C(images/oci) one OCI image layout holding every selected image, copied with C(skopeo copy --preserve-digests)
    from its registry or from O(source_dir)C(/images/NAME.oci.tar); each must end up with the manifest's digest.
  - C(apt/) the Debian packages of the manifest with their dependency closure (first alternative of each
    OR-group, minus what every Debian system has), fetched with C(apt-get download), checked against apt's
    sha256, with a C(Packages) index written in Python (no C(dpkg-dev) needed).
  - C(MANIFEST.sha256) (C(sha256sum -c) format) of every file, its ed25519 signature C(MANIFEST.sha256.sig) when
    O(signing_key) is set, and optionally one tarball of the bundle.
  - Resumable and idempotent - what is already there with the right checksum is not copied again, and a
    re-run with nothing changed reports no change.
  - Refuses, naming them, every selected artifact whose checksum the manifest does not have.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  manifest:
    description: The artifact manifest as data.
    type: dict
    required: true
  dest:
    description: The bundle directory.
    type: path
    required: true
  state_dir:
    description: Where the build keeps its hash cache and apt plan (outside the bundle). Defaults to O(dest)C(.state).
    type: path
  releases:
    description: Kubernetes minors (C(1.35)) to include. Omit for every release of the manifest.
    type: list
    elements: str
  architectures:
    description: Architectures whose files are included.
    type: list
    elements: str
    default: [amd64]
  files:
    description: Names of files to include. Omit for all; V([]) for none.
    type: list
    elements: str
  images:
    description: Names of images to include. Omit for all; V([]) for none.
    type: list
    elements: str
  charts:
    description:
      - Names of Helm charts of the selected releases to include (with the images each runs). Omit for all;
        V([]) for none. The charts go to C(charts/) with a chart repository C(charts/index.yaml).
    type: list
    elements: str
  packages:
    description: Include the manifest's OS packages (Debian family) and their dependencies as an apt repo.
    type: bool
    default: true
  package_groups:
    description: Package groups of the manifest to include (V(mirror), V(node)). Omit for all.
    type: list
    elements: str
  source_dir:
    description:
      - Take files, images and packages from this local directory instead of upstream. Files are looked up
        at their bundle path, then by upstream file name; images as C(images/NAME.oci.tar) (oci-archive);
        packages as C(apt/FILE.deb) (missing ones still come from apt).
    type: path
  apt_signing_home:
    description:
      - GnuPG home directory holding the site's APT signing key (an ed25519 OpenPGP key made there with C(gpg) when
        absent). The bundle's APT repository then gets C(Release), C(InRelease) and C(Release.gpg) signed by it, and its
        armored public key as C(apt/groundwork-apt.asc). Nodes pin that key (C(groundwork_apt_repo_key)) and use the
        repository with C(signed-by), never C(trusted=yes).
      - Unset leaves the repository unsigned (only for bundles without packages).
    type: path
  signing_key:
    description:
      - ed25519 private key (PEM) that signs C(MANIFEST.sha256); created (0600) when absent, with its public
        key beside it as C(.pub). Omit for an unsigned bundle (sha256 list only).
    type: path
  tarball:
    description: Also write the bundle as this (uncompressed) tar file, with C(.sha256) beside it.
    type: path
  skopeo:
    description: Path of the skopeo binary.
    type: path
    default: skopeo
  timeout:
    description: Seconds to wait on each upstream download.
    type: int
    default: 60
requirements:
  - skopeo (images), apt-get and dpkg-deb (packages), python cryptography (signing)
notes:
  - Only the Debian family is built as a repo; the manifest's C(redhat) packages are not fetched yet.
  - Packages are fetched for the build machine's Debian release and architecture.
"""

EXAMPLES = r"""
- name: Build the bundle from the internet
  groundwork.k8s.mirror_bundle:
    manifest: "{{ lookup('ansible.builtin.file', groundwork_artifact_manifest) | from_yaml }}"
    dest: /var/lib/groundwork/bundle
    releases: ["1.35"]
    signing_key: /etc/groundwork/bundle-signing.key
    tarball: /var/lib/groundwork/groundwork-bundle.tar

- name: Build it from media received on site
  groundwork.k8s.mirror_bundle:
    manifest: "{{ lookup('ansible.builtin.file', '/media/release/manifest.yml') | from_yaml }}"
    dest: /var/lib/groundwork/bundle
    source_dir: /media/release
"""

RETURN = r"""
apt_public_key:
  description: Path of the armored public key of the signed APT repository in the bundle (pin it on the nodes).
  returned: when O(apt_signing_home) is set and the bundle has packages
  type: str
apt_key_fingerprint:
  description: OpenPGP fingerprint of the site APT signing key.
  returned: when O(apt_signing_home) is set and the bundle has packages
  type: str
copied:
  description: Names of the files, images (C(image:NAME)) and packages (C(deb:FILE)) copied in this run.
  returned: always
  type: list
  elements: str
present:
  description: How many artifacts were already in place with the right checksum.
  returned: always
  type: int
refused:
  description: Names of selected artifacts the manifest has no checksum for (the run fails when not empty).
  returned: always
  type: list
  elements: str
packages:
  description: File names of the .deb files in the bundle's apt repo.
  returned: always
  type: list
  elements: str
sums_changed:
  description: Whether C(MANIFEST.sha256) was (or would be) rewritten.
  returned: always
  type: bool
signed:
  description: Whether C(MANIFEST.sha256.sig) exists and matches the current list.
  returned: always
  type: bool
tarball_sha256:
  description: sha256 of the tarball.
  returned: when tarball is set
  type: str
"""

import email.utils
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.groundwork.k8s.plugins.module_utils import _addons
from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils import _mirror as M
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import read_bytes, write_atomic
from ansible_collections.groundwork.k8s.plugins.module_utils._runner import Runner


def build(module):
    p = module.params
    check = module.check_mode
    manifest = A.load_manifest(p["manifest"])
    dest = p["dest"]
    state_dir = p["state_dir"] or dest.rstrip("/") + ".state"
    res = dict(changed=False, copied=[], present=0, refused=[], packages=[], sums_changed=False, signed=False)

    def run(argv):
        return Runner(argv[0], run_command=module.run_command).run(argv[1:])[1]

    releases = p["releases"] or sorted(manifest["releases"])
    entries, images, charts = [], {}, {}
    for minor in releases:
        if minor not in manifest["releases"]:
            raise GroundworkError("the manifest has no release %s; it has: %s" % (minor, ", ".join(sorted(manifest["releases"]))))
        kv = manifest["releases"][minor]["kubernetes_version"]
        for arch in p["architectures"]:
            entries.extend(A.select_files(manifest, kv, arch, p["files"]))
        for img in A.select_images(manifest, kv, p["images"]):
            images[A.image_ref(img)] = img
        rel = manifest["releases"][minor]
        known = {c["name"] for c in _addons.charts_of(rel)}
        unknown = sorted(set(p["charts"] or []) - known)
        if unknown:
            raise GroundworkError("charts not in release %s of the manifest: %s (known: %s)"
                                  % (minor, ", ".join(unknown), ", ".join(sorted(known)) or "none"))
        for c in _addons.charts_of(rel):
            if p["charts"] is None or c["name"] in p["charts"]:
                charts[c["path"]] = c
        for img in _addons.chart_images(rel, p["charts"]):
            images[A.image_ref(img)] = img
    res["refused"] = sorted(set(["%s/%s" % (e["name"], e["arch"]) for e in entries if not e.get("sha256")]
                                + ["chart:%s-%s" % (c["name"], c["version"]) for c in charts.values() if not c.get("sha256")]
                                + ["image:" + i["name"] for i in images.values() if not i.get("digest")]))
    if res["refused"]:
        raise GroundworkError("the manifest has no checksum for: %s - fill them (scripts/gen-manifest.py on a "
                              "connected machine, or --from-dir) before building a bundle" % ", ".join(res["refused"]),
                              refused=res["refused"])
    if not check:
        for d in (dest, state_dir):
            os.makedirs(d, exist_ok=True)
    cache = M.HashCache(state_dir)

    # Files
    opener = None if p["source_dir"] else (lambda url: open_url(url, timeout=p["timeout"]))
    for e in entries:
        target = os.path.join(dest, e["path"])
        if os.path.isfile(target) and cache.sha256(target) == e["sha256"]:
            res["present"] += 1
            continue
        if not check:
            M.sync_file(dest, e, cache, p["source_dir"], opener)
        res["copied"].append(e["name"] if len(p["architectures"]) == 1 else "%s/%s" % (e["name"], e["arch"]))

    # Helm charts and the chart repository index
    index_charts = []
    for path in sorted(charts):
        c = dict(charts[path], arch="chart")
        target = os.path.join(dest, path)
        if os.path.isfile(target) and cache.sha256(target) == c["sha256"]:
            res["present"] += 1
        else:
            if not check:
                M.sync_file(dest, c, cache, p["source_dir"], opener)
            res["copied"].append("chart:%s-%s" % (c["name"], c["version"]))
        if not check:
            index_charts.append((c, _addons.chart_metadata(read_bytes(target))))
    if index_charts:
        index = _addons.chart_index(index_charts)
        if M.write_if_changed(os.path.join(dest, "charts", "index.yaml"),
                              yaml_dump(index).encode()):
            res["copied"].append("chart index")

    # Images
    layout = os.path.join(dest, M.OCI_DIR)
    for ref in sorted(images):
        img = images[ref]
        if A.oci_image_status(layout, img)["status"] == "ok":
            res["present"] += 1
            continue
        argv = M.skopeo_copy_argv(img, dest, p["source_dir"], p["skopeo"])
        if not check:
            os.makedirs(layout, exist_ok=True)
            Runner(argv[0], run_command=module.run_command).run(argv[1:])
            after = A.oci_image_status(layout, img)
            if after["status"] != "ok":
                raise GroundworkError("image %s after copy: %s (%s)" % (img["name"], after["status"], after["detail"]))
        res["copied"].append("image:" + img["name"])

    # Debian packages
    roots = A.packages_for(manifest, "debian", p["package_groups"]) if p["packages"] else []
    apt_dir = os.path.join(dest, M.APT_DIR)
    if roots:
        plan = M.apt_plan(roots, run, state_dir if os.path.isdir(state_dir) else module.tmpdir)
        wanted = {pkg["filename"]: pkg for pkg in plan}
        res["packages"] = sorted(wanted)
        if not check:
            os.makedirs(apt_dir, exist_ok=True)
        have = set(os.listdir(apt_dir)) if os.path.isdir(apt_dir) else set()
        for fname in sorted(wanted):
            pkg = wanted[fname]
            path = os.path.join(apt_dir, fname)
            if fname in have and cache.sha256(path) == pkg["SHA256"]:
                res["present"] += 1
                continue
            res["copied"].append("deb:" + fname)
            if check:
                continue
            local = os.path.join(p["source_dir"], M.APT_DIR, fname) if p["source_dir"] else None
            if local and os.path.isfile(local) and A.sha256_file(local) == pkg["SHA256"]:
                with open(local, "rb") as reader:
                    M.copy_verified(reader, path, pkg["SHA256"])
            else:
                _apt_download(module, apt_dir, pkg)
                got = cache.sha256(path) if os.path.isfile(path) else None
                if got != pkg["SHA256"]:
                    raise GroundworkError("deb:%s: sha256 %s, apt says %s" % (fname, got, pkg["SHA256"]))
        stale = sorted(f for f in have if f.endswith(".deb") and f not in wanted)
        for f in stale:
            res["copied"].append("removed deb:" + f)
            if not check:
                os.unlink(os.path.join(apt_dir, f))
        if not check and M.write_apt_index(apt_dir, run, cache):
            res["copied"].append("apt index")
        if p["apt_signing_home"] and not check:
            apt_changed, res["apt_key_fingerprint"] = M.sign_apt_repo(
                apt_dir, p["apt_signing_home"], run, email.utils.formatdate(usegmt=True))
            if apt_changed:
                res["copied"].append("apt Release signature")
            res["apt_public_key"] = os.path.join(apt_dir, M.APT_KEY_FILE)

    if check:
        res["changed"] = bool(res["copied"]) or not os.path.isfile(os.path.join(dest, A.SUMS_FILE))
        return res

    # The manifest the bundle was built from (JSON is YAML), then the sums, signature, tarball.
    if M.write_if_changed(os.path.join(dest, "manifest.json"),
                          (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()):
        res["copied"].append("manifest.json")
    sums = M.bundle_sums(dest, cache).encode()
    cache.save()
    sums_path = os.path.join(dest, A.SUMS_FILE)
    res["sums_changed"] = M.write_if_changed(sums_path, sums)
    sig_path = sums_path + ".sig"
    if p["signing_key"]:
        key, pub = M.load_or_create_signing_key(p["signing_key"])
        M.write_if_changed(p["signing_key"] + ".pub", pub)
        sig = read_bytes(sig_path)
        if sig is None or not M.verify_signature(pub, sums, sig):
            write_atomic(sig_path, M.sign(key, sums), mode=0o644)
            res["sums_changed"] = True
        res["signed"] = True
        res["public_key"] = p["signing_key"] + ".pub"
    if p["tarball"]:
        tb = p["tarball"]
        if res["sums_changed"] or res["copied"] or not os.path.isfile(tb) or not os.path.isfile(tb + ".sha256"):
            res["tarball_sha256"] = M.write_tarball(dest, tb)
            res["copied"].append("tarball")
        else:
            res["tarball_sha256"] = read_bytes(tb + ".sha256").decode().split()[0]
    res["changed"] = bool(res["copied"]) or res["sums_changed"]
    return res


def yaml_dump(data):
    """index.yaml as JSON (valid YAML; Helm reads it): no PyYAML needed where the bundle is built."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _apt_download(module, apt_dir, pkg):
    argv = ["apt-get", "download", "-q", "%s=%s" % (pkg["Package"], pkg["Version"])]
    rc, out, err = module.run_command(argv, cwd=apt_dir, environ_update={"LC_ALL": "C"})
    if rc != 0:
        raise GroundworkError("apt-get download %s=%s failed: %s" % (pkg["Package"], pkg["Version"], (err or out).strip()[-500:]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            manifest=dict(type="dict", required=True),
            dest=dict(type="path", required=True),
            state_dir=dict(type="path"),
            releases=dict(type="list", elements="str"),
            architectures=dict(type="list", elements="str", default=["amd64"]),
            files=dict(type="list", elements="str"),
            images=dict(type="list", elements="str"),
            charts=dict(type="list", elements="str"),
            packages=dict(type="bool", default=True),
            package_groups=dict(type="list", elements="str"),
            source_dir=dict(type="path"),
            signing_key=dict(type="path", no_log=False),
            apt_signing_home=dict(type="path"),
            tarball=dict(type="path"),
            skopeo=dict(type="path", default="skopeo"),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    try:
        result = build(module)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
