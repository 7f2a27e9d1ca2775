#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: artifact_verify
short_description: Verify that every artifact a run needs is on the mirror or in a bundle, with the right sha256
version_added: 0.1.0
description:
  - Reads the Groundwork artifact manifest (see C(docs/airgap.md)) and checks the files, images
    a run needs, either on the site mirror (files over HTTP from O(mirror_url), images from the
    registry at O(registry_url)) or in an unpacked bundle directory O(bundle_dir).
  - Each file is streamed through sha256 and compared with the manifest. Each image tag must
    resolve to the manifest's digest; in a bundle every blob of the image is checked too.
  - Returns the names of every missing, mismatched and unverifiable artifact (an entry whose
    checksum the manifest does not have is never trusted) and fails listing them, unless
    O(fail_on_problems=false).
  - Makes no changes.
author:
  - Groundwork maintainers (@groundwork)
extends_documentation_fragment:
  - groundwork.k8s.attributes
  - groundwork.k8s.attributes.INFO_MODULE
options:
  manifest:
    description:
      - The artifact manifest as data (for example C(lookup('file', groundwork_artifact_manifest) | from_yaml)).
    type: dict
    required: true
  kubernetes_version:
    description: Kubernetes version of the run; the manifest must have a release of exactly this version.
    type: str
    required: true
  architectures:
    description: Architectures whose files are needed (V(amd64), V(arm64), or Ansible's V(x86_64), V(aarch64)).
    type: list
    elements: str
    default: [amd64]
  files:
    description: Names of the files needed. Omit for every file of the release; V([]) for none.
    type: list
    elements: str
  images:
    description: Names of the images needed. Omit for every image of the release; V([]) for none.
    type: list
    elements: str
  mirror_url:
    description: Base URL of the HTTP file mirror (the bundle's root). Mutually exclusive with O(bundle_dir).
    type: str
  registry_url:
    description:
      - URL of the site registry (V(https://mirror:5000)). Required with O(mirror_url) when images are checked.
    type: str
  bundle_dir:
    description: An unpacked bundle directory on the target. Mutually exclusive with O(mirror_url).
    type: path
  check_sums:
    description: With O(bundle_dir), also check every line of the bundle's C(MANIFEST.sha256).
    type: bool
    default: false
  signing_pubkey:
    description:
      - With O(check_sums), the ed25519 public key (PEM text) the bundle must be signed with; C(MANIFEST.sha256.sig)
        is then required and checked (python cryptography, or C(openssl pkeyutl) when it is missing).
    type: str
  ca_path:
    description: CA certificate that signed the registry's and mirror's TLS certificates.
    type: path
  ca_content:
    description:
      - The same CA as PEM text, for a host that has no copy of it yet (a fresh air-gapped node before the
        container runtime role wrote the site CA). Written to the module's temporary directory for the run.
    type: str
  validate_certs:
    description: Verify TLS certificates of the mirror and registry.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each HTTP request.
    type: int
    default: 30
  fail_on_problems:
    description: Fail (listing every name) when anything is missing, mismatched or unverifiable.
    type: bool
    default: true
notes:
  - Images are looked up on the registry under their upstream path without the registry host
    (C(registry.k8s.io/pause) as C(pause), C(docker.io/library/busybox) as C(library/busybox)),
    which is where containerd's C(hosts.toml) mirrors ask for them.
"""

EXAMPLES = r"""
- name: Everything this run needs is on the mirror
  groundwork.k8s.artifact_verify:
    manifest: "{{ lookup('ansible.builtin.file', groundwork_artifact_manifest) | from_yaml }}"
    kubernetes_version: "{{ groundwork_kubernetes_version }}"
    files: [etcd, containerd, runc, cni-plugins]
    images: [pause]
    mirror_url: http://mirror:8080
    registry_url: https://mirror:5000
    ca_path: /etc/groundwork/mirror-ca.crt

- name: Check an unpacked bundle, every file of its sha256 list too
  groundwork.k8s.artifact_verify:
    manifest: "{{ lookup('ansible.builtin.file', '/srv/groundwork/bundle/manifest.yml') | from_yaml }}"
    kubernetes_version: v1.35.0
    bundle_dir: /srv/groundwork/bundle
    check_sums: true
"""

RETURN = r"""
missing:
  description: Names of artifacts not found (images as C(image:NAME); files of several arches as C(NAME/ARCH)).
  returned: always
  type: list
  elements: str
  sample: [etcd, "image:pause"]
mismatched:
  description: Names of artifacts found with another sha256 or digest.
  returned: always
  type: list
  elements: str
unverifiable:
  description: Names of artifacts whose checksum the manifest does not have (C(sha256 null)); never trusted.
  returned: always
  type: list
  elements: str
ok:
  description: Names of artifacts found with the right checksum.
  returned: always
  type: list
  elements: str
results:
  description: One entry per artifact with C(kind), C(name), C(arch), C(version), C(status) and C(detail).
  returned: always
  type: list
  elements: dict
signature:
  description: C(ed25519 verified) when O(signing_pubkey) was given and the signature verified.
  returned: when signing_pubkey and check_sums
  type: str
sums:
  description: With O(check_sums), counts and paths from C(MANIFEST.sha256) (C(ok), C(missing), C(mismatched)).
  returned: when check_sums
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError

from ansible_collections.groundwork.k8s.plugins.module_utils import _artifacts as A
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def _http(module, method):
    p = module.params

    def call(url, headers=None):
        try:
            resp = open_url(url, method=method, headers=headers or {}, timeout=p["timeout"],
                            validate_certs=p["validate_certs"], ca_path=p["ca_path"])
        except HTTPError as exc:
            return exc.code, None
        except (URLError, OSError) as exc:
            raise GroundworkError("cannot reach %s: %s" % (url, exc))
        if method == "HEAD":
            return resp.getcode(), dict(resp.headers.items())
        return resp.getcode(), resp

    return call


def main():
    module = AnsibleModule(
        argument_spec=dict(
            manifest=dict(type="dict", required=True),
            kubernetes_version=dict(type="str", required=True),
            architectures=dict(type="list", elements="str", default=["amd64"]),
            files=dict(type="list", elements="str"),
            images=dict(type="list", elements="str"),
            mirror_url=dict(type="str"),
            registry_url=dict(type="str"),
            bundle_dir=dict(type="path"),
            check_sums=dict(type="bool", default=False),
            signing_pubkey=dict(type="str"),
            ca_path=dict(type="path"),
            ca_content=dict(type="str"),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
            fail_on_problems=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("mirror_url", "bundle_dir"), ("ca_path", "ca_content")],
        required_one_of=[("mirror_url", "bundle_dir")],
        supports_check_mode=True,
    )
    p = module.params
    if p["ca_content"]:
        if "-----BEGIN CERTIFICATE-----" not in p["ca_content"]:
            module.fail_json(msg="ca_content is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line)")
        p["ca_path"] = os.path.join(module.tmpdir, "registry-ca.crt")
        with open(p["ca_path"], "w") as f:
            f.write(p["ca_content"])
    result = dict(changed=False, ok=[], missing=[], mismatched=[], unverifiable=[], results=[])
    try:
        manifest = A.load_manifest(p["manifest"])
        entries = []
        for arch in p["architectures"]:
            entries.extend(A.select_files(manifest, p["kubernetes_version"], arch, p["files"]))
        images = A.select_images(manifest, p["kubernetes_version"], p["images"])
        results = []
        if p["bundle_dir"]:
            where = p["bundle_dir"]
            if not os.path.isdir(where):
                raise GroundworkError("bundle directory %s does not exist" % where)
            results.extend(A.bundle_file_status(where, e) for e in entries)
            layout = os.path.join(where, "images", "oci")
            refs = A.oci_index(layout)
            results.extend(A.oci_image_status(layout, i, refs) for i in images)
            if p["check_sums"]:
                sums_path = os.path.join(where, A.SUMS_FILE)
                if not os.path.isfile(sums_path):
                    raise GroundworkError("%s is missing: not a Groundwork bundle, or an incomplete one" % sums_path)
                with open(sums_path, "rb") as f:
                    sums_bytes = f.read()
                if p["signing_pubkey"]:
                    sig_path = sums_path + ".sig"
                    if not os.path.isfile(sig_path):
                        raise GroundworkError("%s is missing: the bundle is not signed" % sig_path)
                    with open(sig_path) as f:
                        sig = f.read()
                    if not A.verify_signature(p["signing_pubkey"], sums_bytes, sig,
                                              run=lambda argv: module.run_command(argv)[0]):
                        raise GroundworkError("%s does not verify with the pinned signing key: the bundle was "
                                              "changed or signed by another key" % sig_path)
                    result["signature"] = "ed25519 verified"
                result["sums"] = A.verify_sums(where, A.parse_sums(sums_bytes.decode()))
        else:
            where = p["mirror_url"]
            get = _http(module, "GET")
            results.extend(A.http_file_status(where, e, get) for e in entries)
            if images:
                if not p["registry_url"]:
                    raise GroundworkError("images are needed (%s) but registry_url is not set"
                                          % ", ".join(i["name"] for i in images))
                head = _http(module, "HEAD")
                results.extend(A.registry_image_status(p["registry_url"], i, head) for i in images)
    except GroundworkError as exc:
        module.fail_json(msg=exc.msg, **result)
    result.update(A.summarize(results))
    result["results"] = results
    msg = A.problems_message(result, where)
    sums = result.get("sums")
    if sums and (sums["missing"] or sums["mismatched"]):
        msg = (msg + "; " if msg else "") + "%s: missing %s, mismatched %s" % (
            A.SUMS_FILE, ", ".join(sums["missing"]) or "none", ", ".join(sums["mismatched"]) or "none")
    if msg and p["fail_on_problems"]:
        module.fail_json(msg=msg, **result)
    result["msg"] = msg or "all %d artifacts verified in %s" % (len(results), where)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
